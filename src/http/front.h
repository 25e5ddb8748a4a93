/* SPDX-License-Identifier: MIT */
/* front.h - the HTTP front of a worker: evhttp on the inherited listening sockets (and on
 * the [metrics] listener), with sluice's limits on what a client may send and how slowly.
 *
 * - Its own evconnlistener per socket, with an error callback: on EMFILE accepting pauses
 *   for 500 ms instead of spinning (libevent #71).
 * - A request head must be complete within client_timeout_ms of its first byte (nginx's
 *   client_header_timeout); evhttp's own timeout only measures inactivity, which every byte
 *   resets.  The body is then timed by evhttp's inactivity timeout.
 * - evhttp's own error replies are JSON (errors.h), and an Expect: 100-continue over
 *   max_body_bytes is refused at once.
 * - A chunked body may carry chunk extensions, which libevent 2.1 alone refuses; trailer
 *   fields never join the request's headers (chunk_watch.h).
 * Complete requests go to the dispatch callbacks it was given (the route tables). */
#ifndef SL_FRONT_H
#define SL_FRONT_H
#include <stdbool.h>
#include <stddef.h>

struct evhttp_connection;
struct evhttp_request;
struct sl_front;
struct sl_serve;

typedef void (*sl_front_dispatch_cb)(struct evhttp_request *ev, struct sl_serve *s);

/* After fork: evhttp on fds (and on metrics_fd unless it is -1), not accepting yet.  Requests
 * on fds go to dispatch, those on metrics_fd to dispatch_metrics.  NULL on failure. */
struct sl_front *sl_front_new(struct sl_serve *s, const int *fds, size_t nfds, int metrics_fd,
                              sl_front_dispatch_cb dispatch, sl_front_dispatch_cb dispatch_metrics);
/* Closes every connection (their requests are gone with them); NULL-safe. */
void sl_front_free(struct sl_front *f);
/* Start or stop accepting new connections (a drain stops for good). */
void sl_front_accept(struct sl_front *f, bool on);
/* A reply on evcon was written out: a kept-alive connection reads its next request head from
 * here on, under the head deadline again. */
void sl_front_next_request(struct evhttp_connection *evcon);
#endif /* SL_FRONT_H */
