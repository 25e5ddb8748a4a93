/* SPDX-License-Identifier: MIT */
/* call.c - the attempt loop around upstream transfers. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "upstream/call.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "core/breaker.h"
#include "core/clock.h"
#include "core/fmt.h"
#include "core/log.h"
#include "core/openai.h"
#include "core/rng.h"

struct sl_call {
    struct sl_upstream *u;
    const struct sl_retry_policy *policy;
    struct sl_call_spec spec;
    sl_call_valid_cb valid;
    sl_call_done_cb done;
    void *arg;
    struct sl_transfer *transfer;
    struct event *backoff;
    unsigned attempt;
    uint64_t attempt_start_ms;
    uint64_t attempt_start_us;
    /* An attempt that failed before any transfer began is reported from the loop, never
     * from inside sl_call_start(), so the caller always gets its handle first. */
    unsigned deferred_fail;
    struct sl_transfer_result deferred;
    bool streamed;       /* the client has seen bytes of this call */
    bool route_aborted;  /* the route stopped the transfer for its own reasons */
    bool upstream_fault; /* the route stopped it: the upstream's stream was bad */
    long last_status;    /* of the last finished attempt, for sl_call_cancel() */
    char last_request_id[SL_UPSTREAM_HDR_MAX];
};

static void attempt(struct sl_call *c);

static void call_free(struct sl_call *c)
{
    if (c->backoff)
        event_free(c->backoff);
    free(c);
}

static enum sl_attempt_outcome outcome_of(unsigned fail)
{
    if (fail == 0)
        return SL_OUTCOME_OK;
    if (fail & SL_FAIL_BODY_SENT)
        return SL_OUTCOME_STREAM_CUT;
    if (fail & SL_FAIL_TIMEOUT)
        return SL_OUTCOME_TIMEOUT;
    if (fail & SL_FAIL_CONNECT)
        return SL_OUTCOME_CONNECT_ERROR;
    if (fail & SL_FAIL_AUTH)
        return SL_OUTCOME_UPSTREAM_AUTH;
    if (fail & SL_FAIL_QUOTA)
        return SL_OUTCOME_INSUFFICIENT_QUOTA;
    if (fail & SL_FAIL_BAD_RESPONSE)
        return SL_OUTCOME_BAD_RESPONSE;
    return SL_OUTCOME_HTTP_ERROR;
}

static const char *outcome_name(unsigned outcome)
{
    static const char *const names[SL_OUTCOME_COUNT] = {
        "ok",           "timeout",       "connect_error",
        "http_error",   "upstream_auth", "insufficient_quota",
        "bad_response", "stream_cut",    "cancelled",
    };

    return names[outcome < SL_OUTCOME_COUNT ? outcome : SL_OUTCOME_HTTP_ERROR];
}

static void count_attempt(const struct sl_call *c, unsigned outcome)
{
    if (c->spec.metrics)
        sl_metrics_attempt(c->spec.metrics, (enum sl_attempt_outcome)outcome,
                           (sl_clock_mono_us() - c->attempt_start_us));
}

static void log_attempt(const struct sl_call *c, const struct sl_transfer_result *res,
                        unsigned fail, bool retry, uint64_t delay_ms)
{
    enum sl_log_level lvl = fail == 0               ? SL_LOG_DEBUG
                            : (fail & SL_FAIL_AUTH) ? SL_LOG_ERR
                                                    : SL_LOG_WARN;
    unsigned outcome = outcome_of(fail);
    struct sl_log_line *l = sl_log_begin(lvl, "upstream_attempt");

    count_attempt(c, outcome);
    sl_log_str(l, "request_id", c->spec.request_id);
    sl_log_str(l, "model", c->spec.model);
    sl_log_int(l, "attempt", c->attempt);
    sl_log_str(l, "outcome", outcome_name(outcome));
    sl_log_int(l, "upstream_status", res->status);
    sl_log_str(l, "upstream_request_id", res->request_id[0] ? res->request_id : NULL);
    sl_log_int(l, "latency_ms", (int64_t)(sl_clock_mono_ms() - c->attempt_start_ms));
    if (res->error)
        sl_log_str(l, "error", res->error);
    if (fail & SL_FAIL_AUTH)
        sl_log_str(l, "msg",
                   "the upstream refused the gateway's API key; check api_key_env, "
                   "api_key_file or the openai_api_key credential");
    if (fail)
        sl_log_bool(l, "retry", retry);
    if (retry)
        sl_log_int(l, "backoff_ms", (int64_t)delay_ms);
    sl_log_end(l);
}

static struct sl_retry_hint hint_of(const struct sl_transfer_result *res)
{
    return sl_retry_parse_hint(res->retry_after_ms[0] ? res->retry_after_ms : NULL,
                               res->retry_after[0] ? res->retry_after : NULL, (int64_t)time(NULL));
}

static void finish(struct sl_call *c, const struct sl_transfer_result *res, unsigned fail)
{
    struct sl_retry_hint hint = { .has_delay = false, .delay_ms = 0 };
    struct sl_call_result r = {
        .ok = fail == 0,
        .fail = fail,
        .status = res ? res->status : 0,
        .attempts = c->attempt,
        .body = res ? res->body : "",
        .body_len = res ? res->body_len : 0,
        .upstream_request_id = res ? res->request_id : "",
    };

    if (res && fail != SL_FAIL_NONE)
        hint = hint_of(res);
    r.has_retry_after = hint.has_delay;
    r.retry_after_ms = hint.delay_ms;
    c->done(&r, c->arg);
    call_free(c);
}

static unsigned classify(const struct sl_call *c, const struct sl_transfer_result *res)
{
    char code[64], type[64];

    /* Our own abort (the client went away, we ran out of memory) says nothing about the
     * upstream's health: no cause bit, so neither a retry nor a breaker failure. */
    if (c->route_aborted)
        return SL_FAIL_BODY_SENT;
    /* An error event or a broken stream mid-way is the upstream failing us. */
    if (c->upstream_fault)
        return SL_FAIL_BODY_SENT | SL_FAIL_BAD_RESPONSE;
    if (c->streamed && res->curl_code != CURLE_OK)
        return SL_FAIL_BODY_SENT | (res->timed_out ? SL_FAIL_TIMEOUT : SL_FAIL_CONNECT);
    if (res->curl_code != CURLE_OK) {
        if (res->too_large || res->bad_response)
            return SL_FAIL_BAD_RESPONSE;
        return res->timed_out ? SL_FAIL_TIMEOUT : SL_FAIL_CONNECT;
    }
    if (res->status >= 200 && res->status < 300) {
        if (c->valid &&
            !c->valid(c->streamed ? NULL : res->body, c->streamed ? 0 : res->body_len, c->arg))
            return SL_FAIL_BAD_RESPONSE | (c->streamed ? SL_FAIL_BODY_SENT : 0);
        return SL_FAIL_NONE;
    }
    sl_openai_error_code(res->body, res->body_len, code, sizeof(code), type, sizeof(type));
    return sl_retry_classify((int)res->status, code, type, 0);
}

static void on_transfer_done(const struct sl_transfer_result *res, void *arg)
{
    struct sl_call *c = arg;
    struct sl_retry_hint hint;
    uint64_t delay = 0, elapsed;
    unsigned fail;
    bool retry = false;

    fail = classify(c, res);
    c->transfer = NULL;
    c->last_status = res->status;
    sl_fmt_copy(c->last_request_id, sizeof(c->last_request_id), res->request_id);
    if (c->spec.breaker)
        sl_breaker_record(c->spec.breaker, !sl_retry_is_breaker_failure(fail, (int)res->status),
                          sl_clock_mono_ms());
    if (fail != SL_FAIL_NONE && !res->too_large) {
        hint = hint_of(res);
        /* SPEC §4: an upstream 429 that says how long pauses every worker's calls (for at
         * most the breaker's open_ms). */
        if (res->status == 429 && hint.has_delay && c->spec.breaker)
            sl_breaker_pause(c->spec.breaker, sl_clock_mono_ms(), hint.delay_ms);
        elapsed = sl_clock_mono_ms() - c->spec.start_ms;
        retry = sl_retry_should(c->policy, fail, (int)res->status, c->attempt, elapsed, hint,
                                sl_rng_u32(), &delay);
    }
    log_attempt(c, res, fail, retry, delay);
    if (!retry) {
        finish(c, res, fail);
        return;
    }
    struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000 };
    evtimer_add(c->backoff, &tv);
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    struct sl_call *c = arg;

    if (c->deferred_fail) {
        finish(c, &c->deferred, c->deferred_fail);
        return;
    }
    attempt(c);
}

static void fail_soon(struct sl_call *c, unsigned fail, int curl_code, const char *error)
{
    static const struct timeval now = { 0, 0 };

    memset(&c->deferred, 0, sizeof(c->deferred));
    c->deferred.curl_code = curl_code;
    c->deferred.timed_out = fail == SL_FAIL_TIMEOUT;
    c->deferred.body = "";
    c->deferred.error = error;
    c->deferred_fail = fail;
    evtimer_add(c->backoff, &now);
}

static bool on_data(const char *data, size_t len, long status, void *arg)
{
    struct sl_call *c = arg;

    c->streamed = true;
    switch (c->spec.on_data(data, len, status, c->arg)) {
    case SL_CALL_DATA_MORE: return true;
    case SL_CALL_DATA_BAD: c->upstream_fault = true; return false;
    default: c->route_aborted = true; return false;
    }
}

static void log_blocked(const struct sl_call *c, const char *reason, uint64_t wait_ms, bool retry,
                        uint64_t delay_ms)
{
    struct sl_log_line *l =
        sl_log_begin(retry ? SL_LOG_INFO : SL_LOG_WARN, "upstream_retry_blocked");

    sl_log_str(l, "request_id", c->spec.request_id);
    sl_log_str(l, "model", c->spec.model);
    sl_log_int(l, "attempt", c->attempt + 1);
    sl_log_str(l, "reason", reason);
    sl_log_int(l, "wait_ms", (int64_t)wait_ms);
    sl_log_bool(l, "retry", retry);
    if (retry)
        sl_log_int(l, "backoff_ms", (int64_t)delay_ms);
    sl_log_end(l);
}

/* A retry is due but the breaker refuses it.  Calls paused by another request's upstream 429
 * (the same upstream telling everyone to slow down) are waited out if the deadline allows:
 * our own back-off honoured our 429's hint, and a later 429 only moved the end.  An open
 * breaker is a verdict on the upstream's health, so the call fails at once.  True if a wait
 * was scheduled. */
static bool wait_for_breaker(struct sl_call *c, uint64_t now, uint64_t wait_ms)
{
    struct sl_breaker_snapshot snap;
    uint64_t delay = 0;
    bool paused, retry = false;

    sl_breaker_snapshot(c->spec.breaker, now, &snap);
    paused = snap.pause_remaining_ms > 0;
    if (paused)
        retry =
            sl_retry_wait_fits(c->policy, now - c->spec.start_ms, wait_ms, sl_rng_u32(), &delay);
    log_blocked(c, paused ? "paused" : "breaker_open", wait_ms, retry, delay);
    if (retry) {
        struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000 };

        evtimer_add(c->backoff, &tv);
    }
    return retry;
}

static void attempt(struct sl_call *c)
{
    uint64_t now = sl_clock_mono_ms(), wait_ms = 0;
    uint64_t budget = sl_retry_attempt_budget_ms(c->policy, now - c->spec.start_ms);
    struct sl_transfer_spec ts = {
        .path = c->spec.path,
        .method = c->spec.method,
        .body = c->spec.body,
        .body_len = c->spec.body_len,
        .request_id = c->spec.request_id,
        .timeout_ms = budget,
        .on_data = c->spec.on_data ? on_data : NULL,
        .idle_timeout_ms = c->spec.idle_timeout_ms,
        .stream_deadline_ms =
            c->spec.stream_timeout_ms ? c->spec.start_ms + c->spec.stream_timeout_ms : 0,
    };

    if (budget == 0) {
        fail_soon(c, SL_FAIL_TIMEOUT, CURLE_OPERATION_TIMEDOUT, "request deadline passed");
        return;
    }
    /* The first attempt was admitted with the request; a retry asks the breaker again. */
    if (c->attempt > 0 && c->spec.breaker && !sl_breaker_allow(c->spec.breaker, now, &wait_ms)) {
        if (!wait_for_breaker(c, now, wait_ms))
            fail_soon(c, SL_FAIL_CONNECT, CURLE_COULDNT_CONNECT, "circuit breaker open");
        return;
    }
    c->attempt++;
    c->attempt_start_ms = now;
    c->attempt_start_us = sl_clock_mono_us();
    c->transfer = sl_upstream_start(c->u, &ts, on_transfer_done, c);
    if (!c->transfer) {
        fail_soon(c, SL_FAIL_CONNECT, CURLE_OUT_OF_MEMORY, "could not start the transfer");
        log_attempt(c, &c->deferred, SL_FAIL_CONNECT, false, 0);
    }
}

struct sl_call *sl_call_start(struct sl_upstream *u, struct event_base *base,
                              const struct sl_retry_policy *policy, const struct sl_call_spec *spec,
                              sl_call_valid_cb valid, sl_call_done_cb done, void *arg)
{
    struct sl_call *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->u = u;
    c->policy = policy;
    c->spec = *spec;
    c->valid = valid;
    c->done = done;
    c->arg = arg;
    c->backoff = evtimer_new(base, on_backoff, c);
    if (!c->backoff) {
        free(c);
        return NULL;
    }
    attempt(c);
    return c;
}

struct sl_transfer *sl_call_transfer(struct sl_call *c)
{
    return c->transfer;
}

/* The gateway abandons the attempt in progress (its client left): no verdict on the upstream,
 * but the attempt happened and may have cost tokens, so it is logged and counted. */
static void log_cancelled(const struct sl_call *c, long status, const char *request_id)
{
    struct sl_log_line *l = sl_log_begin(SL_LOG_INFO, "upstream_attempt");

    count_attempt(c, SL_OUTCOME_CANCELLED);
    sl_log_str(l, "request_id", c->spec.request_id);
    sl_log_str(l, "model", c->spec.model);
    sl_log_int(l, "attempt", c->attempt);
    sl_log_str(l, "outcome", outcome_name(SL_OUTCOME_CANCELLED));
    sl_log_int(l, "upstream_status", status);
    sl_log_str(l, "upstream_request_id", request_id[0] ? request_id : NULL);
    sl_log_int(l, "latency_ms", (int64_t)(sl_clock_mono_ms() - c->attempt_start_ms));
    sl_log_bool(l, "streamed", c->streamed);
    sl_log_end(l);
}

void sl_call_cancel(struct sl_call *c, struct sl_call_progress *out)
{
    long status;
    const char *rid;

    if (!c)
        return;
    status = c->last_status;
    rid = c->last_request_id;
    if (c->transfer) {
        status = sl_transfer_status(c->transfer);
        rid = sl_transfer_request_id(c->transfer);
        log_cancelled(c, status, rid);
    }
    if (out) {
        out->attempts = c->attempt;
        out->status = status;
        sl_fmt_copy(out->upstream_request_id, sizeof(out->upstream_request_id), rid);
    }
    if (c->transfer)
        sl_upstream_cancel(c->transfer);
    evtimer_del(c->backoff);
    call_free(c);
}
