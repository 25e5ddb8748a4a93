/* SPDX-License-Identifier: MIT */
/* worker.h - one worker process: after fork it builds its own event_base, evhttp on the
 * inherited listening sockets, and (as later modules land) its curl multi handle and Redis
 * connection, in that order, then runs the loop until the master tells it to drain.
 * SIGTERM from the master = drain: stop accepting, finish in-flight requests up to
 * shutdown_timeout_ms, exit 0.  A worker never calls exit() on a request path. */
#ifndef SL_WORKER_H
#define SL_WORKER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp_request;
struct sl_buf;
struct sl_budget;
struct sl_config;
struct sl_metrics;
struct sl_retry_policy;
struct sl_shm;
struct sl_tenant_sync;
struct sl_upstream;
struct sl_worker;

struct sl_worker_params {
    const struct sl_config *cfg;
    struct sl_shm *shm;
    int slot;                 /* this worker's slot in shm->workers */
    uint32_t generation;
    const int *fds;           /* listening sockets, borrowed */
    size_t nfds;
    int metrics_fd;           /* [metrics] listen, or -1 */
    int master_pid;
    const char *api_key;      /* upstream key, borrowed; NULL for a local upstream */
};

/* Runs the worker to completion; returns the process exit status. */
int sl_worker_run(const struct sl_worker_params *p);

/* For the request path. */
const struct sl_config *sl_worker_config(const struct sl_worker *w);
struct event_base *sl_worker_base(const struct sl_worker *w);
struct sl_upstream *sl_worker_upstream(const struct sl_worker *w);
struct sl_budget *sl_worker_budget(const struct sl_worker *w);
/* NULL without [redis] url. */
struct sl_tenant_sync *sl_worker_tenant_sync(const struct sl_worker *w);
const struct sl_retry_policy *sl_worker_retry_policy(const struct sl_worker *w);
bool sl_worker_is_draining(const struct sl_worker *w);
/* A reply was handed to evhttp; a drain waits until it has been written out.  Call
 * sl_worker_reply_abandoned() instead when the connection is dropped before that. */
void sl_worker_reply_queued(struct sl_worker *w, struct evhttp_request *req);
void sl_worker_reply_abandoned(struct sl_worker *w);
/* Bracket every request the worker dispatches, so a drain waits for it. */
void sl_worker_request_started(struct sl_worker *w);
unsigned sl_worker_inflight(const struct sl_worker *w);
int sl_worker_pid(const struct sl_worker *w);        /* cached: no getpid() per request */
/* The shared region (breaker, slots). */
struct sl_shm *sl_worker_shm(const struct sl_worker *w);
/* This worker's counters (in its shared-memory slot). */
struct sl_metrics *sl_worker_metrics(struct sl_worker *w);
/* Render /metrics for the whole server. */
int sl_worker_render_metrics(struct sl_worker *w, struct sl_buf *out);
void sl_worker_request_finished(struct sl_worker *w);
#endif /* SL_WORKER_H */
