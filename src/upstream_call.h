/* SPDX-License-Identifier: MIT */
/* upstream_call.h - one logical upstream call: attempts, back-off and the request deadline.
 * Each attempt is a transfer (upstream.h); after a failed one the pure policy (retry.h)
 * decides whether and when to try again, and the wait is a libevent timer.  The caller gets
 * exactly one callback, or none if it cancels first.  Every attempt is logged with its
 * outcome, the upstream status and the upstream's request id. */
#ifndef SL_UPSTREAM_CALL_H
#define SL_UPSTREAM_CALL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "retry.h"
#include "upstream.h"

struct sl_breaker;
struct sl_call;

struct sl_call_result {
    bool ok;                  /* a 2xx the validator accepted */
    unsigned fail;            /* SL_FAIL_* of the last attempt when !ok */
    long status;              /* last upstream status, 0 if none */
    unsigned attempts;
    const char *body;         /* last attempt's body, borrowed for the callback; may be "" */
    size_t body_len;
    const char *upstream_request_id;   /* "" if none */
};

typedef void (*sl_call_done_cb)(const struct sl_call_result *res, void *arg);
/* Is a 2xx body usable?  Returning false makes the attempt a BAD_RESPONSE failure. */
typedef bool (*sl_call_valid_cb)(const char *body, size_t len, void *arg);

struct sl_call_spec {
    const char *path;
    const char *body;           /* borrowed until the callback or cancel */
    size_t body_len;
    const char *request_id;     /* sent upstream as X-Client-Request-Id, and logged */
    const char *model;          /* for the log */
    uint64_t start_ms;          /* when the client's request began (monotonic) */
    /* Streaming (see upstream.h): the 2xx body goes to on_data as it arrives; once any of
     * it has, a failure is final (SL_FAIL_BODY_SENT), since the client has seen bytes. */
    sl_transfer_data_cb on_data;
    uint64_t idle_timeout_ms;
    uint64_t stream_timeout_ms;  /* from start_ms: the whole stream at most */
    struct sl_metrics *metrics;  /* the worker's: one attempt counted per outcome */
    struct sl_breaker *breaker;  /* shared: every attempt reported, retries admitted by it */
};

struct sl_call *sl_call_start(struct sl_upstream *u, struct event_base *base,
                              const struct sl_retry_policy *policy,
                              const struct sl_call_spec *spec, sl_call_valid_cb valid,
                              sl_call_done_cb done, void *arg);
/* The attempt in progress (for pause/resume from the data callback), or NULL. */
struct sl_transfer *sl_call_transfer(struct sl_call *c);
/* Stop at once: the transfer is aborted, a pending back-off cancelled, no callback. */
void sl_call_cancel(struct sl_call *c);
#endif /* SL_UPSTREAM_CALL_H */
