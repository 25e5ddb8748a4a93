/* SPDX-License-Identifier: MIT */
/* serve.h - the serving context: what a request may reach while a worker serves it.
 *
 * A worker fills one struct sl_serve after fork and every request keeps a pointer to it
 * (r->serve), as h2o handlers get their context and nginx requests their configuration.
 * Every pointer is borrowed from the worker, which outlives all its requests; request code
 * reads the configuration and the shared tables through it and writes the counters below, and
 * never sees the worker process itself (daemon/worker.h is for process code only). */
#ifndef SL_SERVE_H
#define SL_SERVE_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/guard_policy.h"

struct event_base;
struct evhttp_request;
struct sl_auth_cache;
struct sl_breaker;
struct sl_budget;
struct sl_buf;
struct sl_config;
struct sl_metrics;
struct sl_ownership;
struct sl_retry_policy;
struct sl_tenant_sync;
struct sl_tenants;
struct sl_upstream;

struct sl_serve {
    const struct sl_config *cfg; /* immutable: a reload starts new workers */
    struct event_base *base;
    struct sl_metrics *metrics;               /* this worker's counters (its shared-memory slot) */
    struct sl_tenants *tenants;               /* the host's tenant table (shared memory) */
    struct sl_auth_cache *auth_cache;         /* this worker's keys matched lately; NULL = none */
    struct sl_breaker *breaker;               /* the upstream's circuit breaker (shared memory) */
    struct sl_budget *budget;                 /* reserve and settle: shared memory or Redis */
    struct sl_tenant_sync *tenant_sync;       /* the tenant table's copy from Redis; NULL
                                               * without [redis] url */
    struct sl_ownership *owners;              /* who created which response (SPEC §10) */
    struct sl_guard_counters *guard_counters; /* the input guard's (shared memory) */
    uint64_t guard_limit_logged[SL_GUARD_MAX_POLICIES]; /* bit i: policy's pattern i hit a
                                                         * bound, and that was logged */
    struct sl_upstream *upstream;                       /* libcurl multi on this loop */
    const struct sl_retry_policy *retry;
    int pid; /* cached: no getpid() per request */
    /* /metrics for the whole server: the process owns the region it sums.  0 or the
     * buffer's error. */
    int (*render_metrics)(void *owner, struct sl_buf *out);
    void *owner;

    /* Written by request code, read by the worker to drain. */
    bool draining;                    /* set by the worker: replies say Connection: close */
    unsigned inflight;                /* requests dispatched and not yet freed */
    unsigned inflight_peak;           /* the most at once since memory was last given back */
    unsigned unsent;                  /* replies handed to evhttp, not yet written out */
    uint64_t last_request_ms;         /* monotonic: when the last request was dispatched */
    _Atomic uint32_t *inflight_gauge; /* the worker's slot: in flight, for /metrics */
    _Atomic uint64_t *served;         /* the worker's slot: requests served */
};

/* Bracket every request the worker dispatches, so that a drain waits for it. */
void sl_serve_request_started(struct sl_serve *s);
void sl_serve_request_finished(struct sl_serve *s);
/* A reply was handed to evhttp; a drain waits until it has been written out.  Call
 * sl_serve_reply_abandoned() instead when the connection is dropped before that. */
void sl_serve_reply_queued(struct sl_serve *s, struct evhttp_request *req);
void sl_serve_reply_abandoned(struct sl_serve *s);
#endif /* SL_SERVE_H */
