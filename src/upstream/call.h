/* SPDX-License-Identifier: MIT */
/* call.h - one logical upstream call: attempts, back-off and the request deadline.
 * Each attempt is a transfer (upstream.h); after a failed one the pure policy (retry.h)
 * decides whether and when to try again, and the wait is a libevent timer.  The caller gets
 * exactly one callback, or none if it cancels first.  Every attempt is logged with its
 * outcome, the upstream status and the upstream's request id, an abandoned one included.
 * A retry that finds calls paused (another request's upstream 429) waits the pause out when
 * the request deadline allows, rather than failing at once. */
#ifndef SL_UPSTREAM_CALL_H
#define SL_UPSTREAM_CALL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "core/retry.h"
#include "upstream/client.h"

struct sl_breaker;
struct sl_call;

struct sl_call_result {
    bool ok;       /* a 2xx the validator accepted */
    unsigned fail; /* SL_FAIL_* of the last attempt when !ok */
    long status;   /* last upstream status, 0 if none */
    unsigned attempts;
    const char *body; /* last attempt's body, borrowed for the callback; may be "" */
    size_t body_len;
    const char *upstream_request_id; /* "" if none */
    bool has_retry_after;            /* the last attempt's Retry-After / retry-after-ms, parsed */
    uint64_t retry_after_ms;
};

/* What a call had done when it was cancelled, for the request's log line. */
struct sl_call_progress {
    unsigned attempts; /* attempts started, a cancelled one included */
    long status;       /* the cancelled attempt's status so far, else the last one's */
    char upstream_request_id[SL_UPSTREAM_HDR_MAX];
};

typedef void (*sl_call_done_cb)(const struct sl_call_result *res, void *arg);
/* Is a 2xx answer usable?  Returning false makes the attempt a BAD_RESPONSE failure (it
 * counts against the breaker and is not retried).  For a streamed call it is asked with
 * (NULL, 0) once the transfer ended cleanly: was the stream complete ([DONE], no partial
 * event)? */
typedef bool (*sl_call_valid_cb)(const char *body, size_t len, void *arg);

/* The streaming route's verdict on each piece of a 2xx body (called as sl_transfer_data_cb
 * is, from inside libcurl's write callback).  Stopping ends the transfer; the attempt is then
 * final (the client has seen bytes) and counts for the breaker as the reason says. */
enum sl_call_data {
    SL_CALL_DATA_MORE = 0, /* go on */
    SL_CALL_DATA_ABORT,    /* the gateway stops (its client left, it ran out of memory):
                            * says nothing about the upstream, no breaker report */
    SL_CALL_DATA_BAD,      /* the upstream's stream is broken (invalid SSE, an event over
                            * the bound) or reported an error: an upstream failure */
};
typedef enum sl_call_data (*sl_call_data_cb)(const char *data, size_t len, long status, void *arg);

struct sl_call_spec {
    const char *path; /* query included */
    enum sl_upstream_method method;
    const char *body; /* borrowed until the callback or cancel */
    size_t body_len;
    const char *request_id; /* sent upstream as X-Client-Request-Id, and logged */
    const char *model;      /* for the log */
    uint64_t start_ms;      /* when the client's request began (monotonic) */
    /* Streaming (see upstream.h): the 2xx body goes to on_data as it arrives; once any of
     * it has, a failure is final (SL_FAIL_BODY_SENT), since the client has seen bytes. */
    sl_call_data_cb on_data;
    uint64_t idle_timeout_ms;
    uint64_t stream_timeout_ms; /* from start_ms: the whole stream at most */
    struct sl_metrics *metrics; /* the worker's: one attempt counted per outcome */
    struct sl_breaker *breaker; /* shared: every attempt reported, retries admitted by it */
};

struct sl_call *sl_call_start(struct sl_upstream *u, struct event_base *base,
                              const struct sl_retry_policy *policy, const struct sl_call_spec *spec,
                              sl_call_valid_cb valid, sl_call_done_cb done, void *arg);
/* The attempt in progress (for pause/resume from the data callback), or NULL. */
struct sl_transfer *sl_call_transfer(struct sl_call *c);
/* Stop at once: the transfer is aborted, a pending back-off cancelled, no callback.  An
 * attempt in progress is logged and counted with outcome "cancelled" (in the metrics as
 * stream_cut, the gateway's own abandonment).  *out (if not NULL) says what had been done.
 * NULL-safe. */
void sl_call_cancel(struct sl_call *c, struct sl_call_progress *out);
#endif /* SL_UPSTREAM_CALL_H */
