/* SPDX-License-Identifier: MIT */
/* metrics.h - Prometheus metrics.  Each worker owns one struct sl_metrics in its shared-memory
 * slot and is its only writer, so the hot path is a plain load and store, no lock and no
 * contention; /metrics sums every slot plus the totals the master folded in from workers that
 * exited, so a counter never goes down when a worker dies.  The scrape reads slots while
 * workers write them: each value is read atomically, so a scrape is a consistent-enough sum
 * (Prometheus only needs monotonic counters), and a seqlock around the master's fold keeps a
 * dying worker's counts from being seen twice or not at all. */
#ifndef SL_METRICS_H
#define SL_METRICS_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sl_buf;

enum sl_route_id {
    SL_ROUTE_HEALTHZ,
    SL_ROUTE_READYZ,
    SL_ROUTE_METRICS,
    SL_ROUTE_API_CHAT,
    SL_ROUTE_API_CHAT_STREAM,
    SL_ROUTE_V1_CHAT,
    SL_ROUTE_V1_RESPONSES,
    SL_ROUTE_V1_RESPONSE_OPS,
    SL_ROUTE_V1_EMBEDDINGS,
    SL_ROUTE_V1_MODELS,
    SL_ROUTE_ADMIN,
    SL_ROUTE_OTHER,
    SL_ROUTE_COUNT
};

enum sl_attempt_outcome {
    SL_OUTCOME_OK,
    SL_OUTCOME_TIMEOUT,
    SL_OUTCOME_CONNECT_ERROR,
    SL_OUTCOME_HTTP_ERROR,
    SL_OUTCOME_UPSTREAM_AUTH,
    SL_OUTCOME_INSUFFICIENT_QUOTA,
    SL_OUTCOME_BAD_RESPONSE,
    SL_OUTCOME_STREAM_CUT,
    SL_OUTCOME_CANCELLED,
    SL_OUTCOME_COUNT
};

enum sl_reject_reason {
    SL_REJECT_AUTH,
    SL_REJECT_RPM,
    SL_REJECT_TPM,
    SL_REJECT_BUDGET,
    SL_REJECT_BREAKER,
    SL_REJECT_INFLIGHT,
    SL_REJECT_REDIS,
    SL_REJECT_COUNT
};

enum sl_redis_op {
    SL_REDIS_OP_RESERVE,
    SL_REDIS_OP_SETTLE,
    SL_REDIS_OP_REPLAY,
    SL_REDIS_OP_SYNC,
    SL_REDIS_OP_ADMIN,
    SL_REDIS_OP_COUNT
};

/* Why a stream ended before its end (request.c's "cut" field): the upstream broke it, the
 * client left, or the gateway gave up on it (out of memory, its own limits). */
enum sl_cut_cause { SL_CUT_UPSTREAM, SL_CUT_CLIENT, SL_CUT_GATEWAY, SL_CUT_COUNT };

#define SL_METRICS_CODES 20   /* tracked status codes, see metrics.c, + "other" */
#define SL_METRICS_BUCKETS 17 /* finite histogram bounds, see metrics.c */

struct sl_histogram {
    _Atomic uint64_t bucket[SL_METRICS_BUCKETS + 1]; /* not cumulative; last = above all */
    _Atomic uint64_t sum_us;
};

struct sl_metrics {
    _Atomic uint64_t requests[SL_ROUTE_COUNT][SL_METRICS_CODES + 1];
    struct sl_histogram request_duration[SL_ROUTE_COUNT];
    _Atomic uint64_t attempts[SL_OUTCOME_COUNT];
    struct sl_histogram upstream_duration;
    _Atomic uint64_t tokens_prompt, tokens_completion;
    _Atomic uint64_t rejections[SL_REJECT_COUNT];
    _Atomic uint64_t redis_errors;
    _Atomic uint64_t redis_commands[SL_REDIS_OP_COUNT];
    _Atomic uint64_t redis_fallbacks; /* admissions decided without Redis */
    _Atomic uint64_t cuts[SL_ROUTE_COUNT][SL_CUT_COUNT];
};

/* One tenant's counters, in its record of the tenant table: every worker adds to them (one
 * atomic add per request), and a new tenant in a reused slot starts them at zero. */
struct sl_tenant_counters {
    _Atomic uint64_t requests[SL_METRICS_CODES + 1];
    _Atomic uint64_t tokens_prompt, tokens_completion;
};

/* Writers: only the slot's owner. */
void sl_metrics_request(struct sl_metrics *m, enum sl_route_id route, int status,
                        uint64_t duration_us);
void sl_metrics_attempt(struct sl_metrics *m, enum sl_attempt_outcome outcome,
                        uint64_t duration_us);
void sl_metrics_tokens(struct sl_metrics *m, int64_t prompt, int64_t completion);
void sl_metrics_reject(struct sl_metrics *m, enum sl_reject_reason reason);
void sl_metrics_redis(struct sl_metrics *m, enum sl_redis_op op);
void sl_metrics_cut(struct sl_metrics *m, enum sl_route_id route, enum sl_cut_cause cause);
/* Any worker, for the tenant that made a request. */
void sl_metrics_tenant(struct sl_tenant_counters *c, int status, int64_t prompt,
                       int64_t completion);
void sl_metrics_redis_error(struct sl_metrics *m);
void sl_metrics_redis_fallback(struct sl_metrics *m);

/* acc += from, value by value (acc is private to the caller; from may be live). */
void sl_metrics_add(struct sl_metrics *acc, struct sl_metrics *from);
/* The Prometheus text (format 0.0.4) of a sum of counters: requests, attempts, tokens,
 * rejections, Redis.  The process-wide gauges are written by daemon/metrics_render.c. */
void sl_metrics_write(struct sl_buf *out, struct sl_metrics *sum);
/* "# HELP" and "# TYPE" lines.  0 or the buffer's error. */
int sl_metrics_write_header(struct sl_buf *b, const char *name, const char *type, const char *help);
/* One series per status code seen: name{label="value",code="..."} count. */
void sl_metrics_write_by_code(struct sl_buf *b, const char *name, const char *label,
                              const char *value, _Atomic uint64_t *counts);
#endif /* SL_METRICS_H */
