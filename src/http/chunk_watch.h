/* SPDX-License-Identifier: MIT */
/* chunk_watch.h - chunked request bodies with chunk extensions, made readable to evhttp as
 * their bytes arrive, and trailer fields kept out of a request's headers.
 *
 * libevent 2.1 refuses a chunk-size line with an extension ("18;a=b"), as a body too large
 * (core/chunked.h says why and what changes).  From the head hook on, a chunked request's
 * body is followed through its connection's input buffer: the bytes already read when the
 * head completes, then each read, through an evbuffer callback that runs before evhttp is
 * handed those bytes.  Each delimiter of an extension becomes a space, in place, before
 * evhttp reads its line.  A chunk-size line evhttp will refuse as corrupt is announced to
 * errors.c, so its 413 becomes a 400.  Requests with a Content-Length cost one header look-up
 * in the head hook and nothing per byte.
 *
 * Trailer fields are never merged into the header section (RFC 9110 §6.5.1): a stock
 * libevent 2.1 adds them to the request's input headers, where they could stand in for a
 * header the client did not send in the head (Authorization, X-Request-ID), so they are
 * taken out again before the request is dispatched.  Debian's build already keeps them
 * apart. */
#ifndef SL_CHUNK_WATCH_H
#define SL_CHUNK_WATCH_H
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;
struct evkeyval;
struct evkeyvalq;
struct sl_chunk_watch;

/* One per HTTP front; NULL without memory. */
struct sl_chunk_watch *sl_chunk_watch_new(void);
/* Frees what followed the bodies; NULL-safe.  Their evbuffer callbacks are not removed, so
 * call it only once every connection is gone (after evhttp_free). */
void sl_chunk_watch_free(struct sl_chunk_watch *w);
/* From the head hook, once per request: when evhttp will read req's body as chunked, follow
 * it, under max_body (evhttp's limit for req's listener).  Without memory the body goes
 * unfollowed, as before this module. */
void sl_chunk_watch_start(struct sl_chunk_watch *w, struct evhttp_request *req, uint64_t max_body);
/* The whole of req is in, before it is dispatched: its trailer fields leave its headers and
 * its body is no longer followed. */
void sl_chunk_watch_end(struct sl_chunk_watch *w, struct evhttp_request *req);

/* The head section's end in a header list: the last field, and its value's length (a
 * trailer line that starts with a blank extends that value in a stock libevent). */
struct sl_head_end {
    struct evkeyval *last;
    size_t last_len;
};
/* Where the head section of h ends, now. */
void sl_head_end_mark(struct sl_head_end *e, struct evkeyvalq *h);
/* Every field added to h after e was marked is removed (freed), and the last field's value
 * cut back to its length then.  Does nothing if e's field is no longer in h. */
void sl_head_end_restore(const struct sl_head_end *e, struct evkeyvalq *h);
#endif /* SL_CHUNK_WATCH_H */
