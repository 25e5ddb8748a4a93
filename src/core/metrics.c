/* SPDX-License-Identifier: MIT */
/* metrics.c - per-worker counters and the Prometheus text of their sum. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/metrics.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"

static const int codes[SL_METRICS_CODES] = {
    200, 201, 204, 400, 401, 403, 404, 405, 408, 409,
    413, 422, 429, 431, 499, 500, 501, 502, 503, 504,
};

/* Upper bounds in µs: sub-millisecond gateway answers up to minute-long streams. */
static const uint64_t bounds_us[SL_METRICS_BUCKETS] = {
    500,    1000,    2500,    5000,    10000,    25000,    50000,    100000,   250000,
    500000, 1000000, 2500000, 5000000, 10000000, 20000000, 30000000, 60000000,
};
static const char *const bounds_txt[SL_METRICS_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5",    "1",     "2.5",    "5",     "10",   "20",    "30",   "60",
};

static const char *const route_names[SL_ROUTE_COUNT] = {
    "/healthz",         "/readyz",
    "/metrics",         "/api/chat",
    "/api/chat/stream", "/v1/chat/completions",
    "/v1/responses",    "/v1/responses/{id}",
    "/v1/embeddings",   "/v1/models",
    "/admin/v1",        "other",
};
static const char *const outcome_names[SL_OUTCOME_COUNT] = {
    "ok",           "timeout",       "connect_error",
    "http_error",   "upstream_auth", "insufficient_quota",
    "bad_response", "stream_cut",    "cancelled",
};
static const char *const cut_names[SL_CUT_COUNT] = { "upstream", "client", "gateway" };
static const char *const reject_names[SL_REJECT_COUNT] = {
    "auth", "rpm", "tpm", "budget", "breaker_open", "inflight", "redis",
};
static const char *const redis_op_names[SL_REDIS_OP_COUNT] = {
    "reserve", "settle", "replay", "sync", "admin",
};

/* Single writer: a relaxed load and store, no locked instruction on the hot path. */
static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static inline uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void observe(struct sl_histogram *h, uint64_t us)
{
    unsigned i = 0;

    while (i < SL_METRICS_BUCKETS && us > bounds_us[i])
        i++;
    bump(&h->bucket[i], 1);
    bump(&h->sum_us, us);
}

static unsigned code_index(int status)
{
    unsigned i;

    for (i = 0; i < SL_METRICS_CODES; i++)
        if (codes[i] == status)
            return i;
    return SL_METRICS_CODES;
}

void sl_metrics_request(struct sl_metrics *m, enum sl_route_id route, int status,
                        uint64_t duration_us)
{
    if (route >= SL_ROUTE_COUNT)
        route = SL_ROUTE_OTHER;
    bump(&m->requests[route][code_index(status)], 1);
    observe(&m->request_duration[route], duration_us);
}

void sl_metrics_attempt(struct sl_metrics *m, enum sl_attempt_outcome outcome, uint64_t duration_us)
{
    if (outcome < SL_OUTCOME_COUNT)
        bump(&m->attempts[outcome], 1);
    observe(&m->upstream_duration, duration_us);
}

void sl_metrics_tokens(struct sl_metrics *m, int64_t prompt, int64_t completion)
{
    if (prompt > 0)
        bump(&m->tokens_prompt, (uint64_t)prompt);
    if (completion > 0)
        bump(&m->tokens_completion, (uint64_t)completion);
}

void sl_metrics_reject(struct sl_metrics *m, enum sl_reject_reason reason)
{
    if (reason < SL_REJECT_COUNT)
        bump(&m->rejections[reason], 1);
}

void sl_metrics_redis(struct sl_metrics *m, enum sl_redis_op op)
{
    if (op < SL_REDIS_OP_COUNT)
        bump(&m->redis_commands[op], 1);
}

void sl_metrics_cut(struct sl_metrics *m, enum sl_route_id route, enum sl_cut_cause cause)
{
    if (route < SL_ROUTE_COUNT && cause < SL_CUT_COUNT)
        bump(&m->cuts[route][cause], 1);
}

/* Several writers: a real atomic add (one per request, and on the same tenant only). */
void sl_metrics_tenant(struct sl_tenant_counters *c, int status, int64_t prompt, int64_t completion)
{
    atomic_fetch_add_explicit(&c->requests[code_index(status)], 1, memory_order_relaxed);
    if (prompt > 0)
        atomic_fetch_add_explicit(&c->tokens_prompt, (uint64_t)prompt, memory_order_relaxed);
    if (completion > 0)
        atomic_fetch_add_explicit(&c->tokens_completion, (uint64_t)completion,
                                  memory_order_relaxed);
}

void sl_metrics_redis_error(struct sl_metrics *m)
{
    bump(&m->redis_errors, 1);
}

void sl_metrics_redis_fallback(struct sl_metrics *m)
{
    bump(&m->redis_fallbacks, 1);
}

void sl_metrics_add(struct sl_metrics *acc, struct sl_metrics *from)
{
    _Atomic uint64_t *a = (_Atomic uint64_t *)acc, *f = (_Atomic uint64_t *)from;
    size_t i, n = sizeof(*acc) / sizeof(uint64_t);

    /* struct sl_metrics is nothing but _Atomic uint64_t, so it can be walked as an array. */
    _Static_assert(sizeof(struct sl_metrics) % sizeof(uint64_t) == 0, "uint64 only");
    for (i = 0; i < n; i++)
        bump(&a[i], get(&f[i]));
}

int sl_metrics_write_header(struct sl_buf *b, const char *name, const char *type, const char *help)
{
    return sl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(struct sl_buf *b, const char *name, const char *label, struct sl_histogram *h)
{
    uint64_t cum = 0, sum_us = get(&h->sum_us);
    const char *sep = label[0] ? "," : "";
    unsigned i;

    for (i = 0; i < SL_METRICS_BUCKETS; i++) {
        cum += get(&h->bucket[i]);
        sl_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, label, sep, bounds_txt[i],
                      (unsigned long long)cum);
    }
    cum += get(&h->bucket[SL_METRICS_BUCKETS]);
    sl_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep,
                  (unsigned long long)cum);
    sl_buf_printf(b, "%s_sum%s%s%s %llu.%06llu\n", name, label[0] ? "{" : "", label,
                  label[0] ? "}" : "", (unsigned long long)(sum_us / 1000000),
                  (unsigned long long)(sum_us % 1000000));
    sl_buf_printf(b, "%s_count%s%s%s %llu\n", name, label[0] ? "{" : "", label, label[0] ? "}" : "",
                  (unsigned long long)cum);
}

static uint64_t hist_count(struct sl_histogram *h)
{
    uint64_t n = 0;
    unsigned i;

    for (i = 0; i <= SL_METRICS_BUCKETS; i++)
        n += get(&h->bucket[i]);
    return n;
}

void sl_metrics_write_by_code(struct sl_buf *b, const char *name, const char *label,
                              const char *value, _Atomic uint64_t *counts)
{
    for (unsigned c = 0; c <= SL_METRICS_CODES; c++) {
        uint64_t v = get(&counts[c]);
        char code[8];

        if (!v)
            continue;
        if (c < SL_METRICS_CODES)
            snprintf(code, sizeof(code), "%d", codes[c]);
        else
            snprintf(code, sizeof(code), "other");
        sl_buf_printf(b, "%s{%s=\"%s\",code=\"%s\"} %llu\n", name, label, value, code,
                      (unsigned long long)v);
    }
}

static void write_requests(struct sl_buf *b, struct sl_metrics *m)
{
    char label[96];
    unsigned r;

    sl_metrics_write_header(b, "sluice_requests_total", "counter",
                            "Requests answered, by route and status.");
    for (r = 0; r < SL_ROUTE_COUNT; r++)
        sl_metrics_write_by_code(b, "sluice_requests_total", "route", route_names[r],
                                 m->requests[r]);
    sl_metrics_write_header(b, "sluice_request_duration_seconds", "histogram",
                            "Time from a request's arrival to its end, by route.");
    for (r = 0; r < SL_ROUTE_COUNT; r++) {
        if (!hist_count(&m->request_duration[r]))
            continue;
        snprintf(label, sizeof(label), "route=\"%s\"", route_names[r]);
        histogram(b, "sluice_request_duration_seconds", label, &m->request_duration[r]);
    }
}

static void write_upstream(struct sl_buf *b, struct sl_metrics *m)
{
    unsigned i;

    sl_metrics_write_header(b, "sluice_upstream_attempts_total", "counter",
                            "Upstream attempts, by outcome (retries count once each).");
    for (i = 0; i < SL_OUTCOME_COUNT; i++)
        sl_buf_printf(b, "sluice_upstream_attempts_total{outcome=\"%s\"} %llu\n", outcome_names[i],
                      (unsigned long long)get(&m->attempts[i]));
    sl_metrics_write_header(b, "sluice_streams_cut_total", "counter",
                            "Streams that ended before their end, by route and by who cut them.");
    for (i = 0; i < SL_ROUTE_COUNT; i++)
        for (unsigned c = 0; c < SL_CUT_COUNT; c++)
            if (get(&m->cuts[i][c]))
                sl_buf_printf(b, "sluice_streams_cut_total{route=\"%s\",cause=\"%s\"} %llu\n",
                              route_names[i], cut_names[c],
                              (unsigned long long)get(&m->cuts[i][c]));
    sl_metrics_write_header(b, "sluice_upstream_duration_seconds", "histogram",
                            "Duration of one upstream attempt.");
    histogram(b, "sluice_upstream_duration_seconds", "", &m->upstream_duration);
    sl_metrics_write_header(b, "sluice_tokens_total", "counter",
                            "Tokens the upstream reported, by kind.");
    sl_buf_printf(b, "sluice_tokens_total{kind=\"prompt\"} %llu\n",
                  (unsigned long long)get(&m->tokens_prompt));
    sl_buf_printf(b, "sluice_tokens_total{kind=\"completion\"} %llu\n",
                  (unsigned long long)get(&m->tokens_completion));
    sl_metrics_write_header(b, "sluice_admission_rejections_total", "counter",
                            "Requests refused before any upstream call, by reason.");
    for (i = 0; i < SL_REJECT_COUNT; i++)
        sl_buf_printf(b, "sluice_admission_rejections_total{reason=\"%s\"} %llu\n", reject_names[i],
                      (unsigned long long)get(&m->rejections[i]));
    sl_metrics_write_header(b, "sluice_redis_errors_total", "counter",
                            "Failed or timed-out Redis commands.");
    sl_buf_printf(b, "sluice_redis_errors_total %llu\n", (unsigned long long)get(&m->redis_errors));
    sl_metrics_write_header(b, "sluice_redis_commands_total", "counter",
                            "Redis round trips, by what they were for.");
    for (i = 0; i < SL_REDIS_OP_COUNT; i++)
        sl_buf_printf(b, "sluice_redis_commands_total{op=\"%s\"} %llu\n", redis_op_names[i],
                      (unsigned long long)get(&m->redis_commands[i]));
    sl_metrics_write_header(
        b, "sluice_redis_fallbacks_total", "counter",
        "Admissions decided on this host's limits because Redis was out of reach.");
    sl_buf_printf(b, "sluice_redis_fallbacks_total %llu\n",
                  (unsigned long long)get(&m->redis_fallbacks));
}

void sl_metrics_write(struct sl_buf *out, struct sl_metrics *sum)
{
    write_requests(out, sum);
    write_upstream(out, sum);
}
