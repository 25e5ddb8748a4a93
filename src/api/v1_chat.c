/* SPDX-License-Identifier: MIT */
/* v1_chat.c - POST /v1/chat/completions, OpenAI-compatible (SPEC §3.3): the client's body is
 * forwarded as sent apart from the documented changes (model allow-list, max_tokens cap,
 * include_usage on streams), and the upstream's answer is relayed as it came, buffered or
 * streamed.  Errors take OpenAI's shape with all four fields. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/v1_chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/admit.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/json_scan.h"
#include "core/quota.h"
#include "http/request.h"
#include "core/openai.h"
#include "core/sse.h"
#include "http/stream.h"
#include "upstream/call.h"
#include "core/v1_body.h"
#include "http/serve.h"


struct v1 {
    struct sl_req *r;
    char model[128];
    char *body;                       /* what goes upstream (owned) */
    size_t body_len;
    bool stream;
    bool client_asked_usage;
    struct sl_call *call;
    struct sl_stream *out;
    struct sl_sse_parser parser;
    struct sl_buf ev;                 /* events of one feed, relayed together */
    struct sl_buf err;                /* the one error event a cut ends with, if the
                                       * upstream's own; else ours */
    struct sl_buf scratch;            /* a chunk being rewritten */
    struct sl_usage usage;
    bool done_seen, cut, paused;
    uint64_t reservation;             /* SPEC §4 upper bound, computed from the body */
};

/* Before the request is settled and logged: an upstream call still running is abandoned,
 * and what it had done goes into the log line. */
static void v1_stop(void *p)
{
    struct v1 *v = p;
    struct sl_call_progress pr;

    if (!v->call)
        return;
    sl_call_cancel(v->call, &pr);
    v->call = NULL;
    v->r->attempts = pr.attempts;
    v->r->upstream_status = pr.status;
    snprintf(v->r->upstream_request_id, sizeof(v->r->upstream_request_id), "%s",
             pr.upstream_request_id);
}

static void v1_free(void *p)
{
    struct v1 *v = p;

    sl_call_cancel(v->call, NULL);
    sl_stream_free(v->out);
    sl_sse_parser_done(&v->parser);
    sl_buf_done(&v->ev);
    sl_buf_done(&v->err);
    sl_buf_done(&v->scratch);
    free(v->body);
    free(v);
}

/* Parse and check the client's body; build the upstream one.  Answers on failure. */
static bool prepare(struct v1 *v, const struct sl_config *cfg)
{
    struct sl_v1_request req;
    struct sl_v1_problem p;
    const char *raw;
    size_t len;
    int rc;

    raw = sl_req_body(v->r, &len);
    rc = sl_v1_parse(raw, len, cfg, &req, &p);
    if (rc == -EINVAL) {
        sl_req_reply_openai_error(v->r, p.status, p.message, "invalid_request_error", p.param,
                                  p.code);
        sl_req_free(v->r);
        return false;
    }
    if (rc < 0) {
        sl_req_reply_busy(v->r, true);
        sl_req_free(v->r);
        return false;
    }
    snprintf(v->model, sizeof(v->model), "%s", req.model);
    v->r->model = v->model;
    v->stream = req.stream;
    v->client_asked_usage = req.client_asked_usage;
    v->reservation = req.reservation;
    v->body = req.body;           /* taken */
    v->body_len = req.body_len;
    sl_req_body_release(v->r);
    return true;
}

/* The answer goes to the client as it came: it only has to be a JSON object, whose usage
 * settles the reservation.  One pass without a tree; jansson decides what the scanner is
 * not sure of. */
static bool on_valid(const char *body, size_t len, void *arg)
{
    static const char *const usage_name[] = { "usage" };
    struct v1 *v = arg;
    struct sl_json_span root, usage;
    json_t *tree;
    bool ok;

    if (sl_json_scan(body, len, 0, &root, usage_name, &usage, 1) == SL_JSON_OBJECT) {
        sl_openai_usage_scan(usage.p ? &usage : NULL, &v->usage);
        return true;
    }
    tree = json_loadb(body, len, 0, NULL);
    ok = json_is_object(tree);
    sl_openai_usage_parse(json_object_get(tree, "usage"), &v->usage);
    json_decref(tree);
    return ok;
}

/* A stream that ended cleanly at the HTTP level is complete only with its [DONE]. */
static bool on_stream_valid(const char *body, size_t len, void *arg)
{
    struct v1 *v = arg;

    (void)body;
    (void)len;
    return v->done_seen && !sl_sse_has_partial(&v->parser);
}

static void record(struct v1 *v, const struct sl_call_result *res)
{
    struct sl_req *r = v->r;

    r->charge_full = res->ok || (res->fail & SL_FAIL_TIMEOUT) ||
                     (v->out && sl_stream_begun(v->out));
    r->attempts = res->attempts;
    r->upstream_status = res->status;
    snprintf(r->upstream_request_id, sizeof(r->upstream_request_id), "%s",
             res->upstream_request_id);
    if (v->usage.present) {
        r->prompt_tokens = v->usage.prompt_tokens;
        r->completion_tokens = v->usage.completion_tokens;
        r->total_tokens = v->usage.total_tokens;
    }
}

/* The upstream gave up.  Its client errors are the client's: relayed with their status, in
 * OpenAI's shape (sl_openai_error_for_client), a 429 with SPEC §4's waiting headers (the
 * upstream's own hint when it gave one; no retry for insufficient_quota).  Its key being
 * refused, its 5xx and our timeouts are the gateway's: 502. */
static void reply_failure(struct v1 *v, const struct sl_call_result *res)
{
    struct sl_req *r = v->r;
    char *fixed = NULL;
    size_t len = 0;

    if (res->status >= 400 && res->status < 500 && !(res->fail & SL_FAIL_AUTH)) {
        if (sl_openai_error_for_client(res->body, res->body_len, (int)res->status, &fixed,
                                 &len) < 0) {
            sl_req_reply_busy(r, true);
            return;
        }
        if (res->status == 429)
            sl_req_add_retry_headers(r, res->has_retry_after ? res->retry_after_ms : 1000,
                                     !(res->fail & SL_FAIL_QUOTA));
        sl_req_reply(r, (int)res->status, "application/json", fixed ? fixed : res->body,
                     fixed ? len : res->body_len);
        free(fixed);
        return;
    }
    sl_req_reply_openai_error(r, 502, "The upstream provider is unavailable.", "server_error",
                              NULL, "upstream_unavailable");
}

static void on_done_buffered(const struct sl_call_result *res, void *arg)
{
    struct v1 *v = arg;

    v->call = NULL;
    record(v, res);
    if (res->ok)
        sl_req_reply(v->r, 200, "application/json", res->body, res->body_len);
    else
        reply_failure(v, res);
    sl_req_free(v->r);
}

/* ---- streaming ---- */

/* SPEC §3.3: after the stream began, a failure is exactly one data: {"error": ...} event
 * (the upstream's own when it sent one, else ours), then a close without [DONE] and without
 * the terminating chunk.  why goes to the log line ("upstream" or "gateway"). */
static void cut(struct v1 *v, const char *why)
{
    static const char err[] =
        "data: {\"error\":{\"message\":\"The upstream stream ended before it was complete.\","
        "\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_cut\"}}\n\n";

    if (v->cut)
        return;
    v->cut = true;
    v->r->cut = why;
    if (v->ev.len)
        sl_stream_write(v->out, v->ev.data, v->ev.len);
    sl_buf_reset(&v->ev);
    if (v->err.len)
        sl_stream_abort(v->out, v->err.data, v->err.len);
    else
        sl_stream_abort(v->out, err, sizeof(err) - 1);
}

/* Relay one upstream event: its event name (if any), data, blank line.  Data that spans
 * several lines goes back out as several data: lines, never as bare lines. */
static int relay_event(struct v1 *v, const struct sl_sse_event *ev, const char *data,
                       size_t len)
{
    char name[64];

    if (ev->event_len >= sizeof(name))
        return -EPROTO;
    memcpy(name, ev->event, ev->event_len);
    name[ev->event_len] = '\0';
    return sl_sse_write_event(&v->ev, ev->event_len ? name : NULL, data, len);
}

/* The include_usage we asked for put "usage": null in every chunk; a client that did not
 * ask gets the chunk without it, every other byte as it came. */
static int relay_without_null_usage(struct v1 *v, const struct sl_sse_event *ev)
{
    int rc;

    sl_buf_reset(&v->scratch);
    if ((rc = sl_buf_append(&v->scratch, ev->data, ev->data_len)) < 0)
        return rc;
    v->scratch.len = sl_openai_strip_null_usage(v->scratch.data, v->scratch.len);
    v->scratch.data[v->scratch.len] = '\0';
    return relay_event(v, ev, v->scratch.data, v->scratch.len);
}

/* The upstream reported an error mid-stream: keep it, in OpenAI's shape, as the one error
 * event the cut sends (a body that is no OpenAI error gets ours instead). */
static int keep_upstream_error(struct v1 *v, const struct sl_sse_event *ev)
{
    char *fixed = NULL;
    size_t len = 0;
    int k, rc = 0;

    k = sl_openai_error_for_client(ev->data, ev->data_len, 200, &fixed, &len);
    if (k < 0)
        return -ENOMEM;
    sl_buf_reset(&v->err);
    if (k == 0)
        rc = sl_sse_write_event(&v->err, NULL, fixed ? fixed : ev->data,
                                fixed ? len : ev->data_len);
    free(fixed);
    if (rc < 0)
        sl_buf_reset(&v->err);
    return rc == -ENOMEM ? rc : -EPROTO;
}

static int relay_chunk(struct v1 *v, const struct sl_sse_event *ev,
                       const struct sl_openai_chunk *ch)
{
    if (ch->usage.present)
        v->usage = ch->usage;
    if (v->client_asked_usage)
        return relay_event(v, ev, ev->data, ev->data_len);
    /* The usage chunk exists because we asked for it; the client did not. */
    if (ch->usage_only)
        return 0;
    if (ch->usage_null)
        return relay_without_null_usage(v, ev);
    return relay_event(v, ev, ev->data, ev->data_len);
}

static int on_event(const struct sl_sse_event *ev, void *arg)
{
    struct v1 *v = arg;
    struct sl_openai_chunk ch;
    int rc = 0;

    if (ev->kind != SL_SSE_MESSAGE)
        return 0;
    if (sl_openai_chunk_parse(ev->data, ev->data_len, &ch) < 0)
        return -ENOMEM;
    /* The SDKs treat a named error event as a failure too. */
    if (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0 && ch.kind != SL_OPENAI_DATA_DONE)
        ch.kind = SL_OPENAI_DATA_ERROR;
    switch (ch.kind) {
    case SL_OPENAI_DATA_DONE:
        v->done_seen = true;
        rc = relay_event(v, ev, ev->data, ev->data_len);
        break;
    case SL_OPENAI_DATA_ERROR:
        rc = keep_upstream_error(v, ev);     /* then cut: no [DONE] follows */
        break;
    case SL_OPENAI_DATA_CHUNK:
        rc = relay_chunk(v, ev, &ch);
        break;
    default:
        rc = -EPROTO;
    }
    sl_openai_chunk_done(&ch);
    return rc;
}

static enum sl_call_data on_data(const char *data, size_t len, long status, void *arg)
{
    struct v1 *v = arg;
    int rc;

    if (v->cut)
        return SL_CALL_DATA_ABORT;
    if (!sl_stream_begun(v->out) && sl_stream_begin(v->out, "text/event-stream") < 0)
        return SL_CALL_DATA_ABORT;
    rc = sl_sse_feed(&v->parser, data, len, on_event, v);
    if (rc < 0) {
        /* Only running out of memory is ours; the rest is what the upstream sent. */
        cut(v, rc == -ENOMEM ? "gateway" : "upstream");
        return rc == -ENOMEM ? SL_CALL_DATA_ABORT : SL_CALL_DATA_BAD;
    }
    if (v->ev.len)
        sl_stream_write(v->out, v->ev.data, v->ev.len);
    sl_buf_reset(&v->ev);
    if (!v->done_seen && sl_stream_queued(v->out) > SL_STREAM_HIGH_WATER && v->call &&
        sl_call_transfer(v->call)) {
        v->paused = true;
        sl_upstream_pause(sl_call_transfer(v->call));
    }
    return SL_CALL_DATA_MORE;
}

static void on_drained(void *arg)
{
    struct v1 *v = arg;

    if (v->paused && v->call && sl_call_transfer(v->call)) {
        v->paused = false;
        sl_upstream_resume(sl_call_transfer(v->call));
    }
}

static void on_gone(void *arg)
{
    struct v1 *v = arg;

    if (!sl_stream_begun(v->out))
        v->r->status = 499;
    else if (!v->cut)
        v->r->cut = "client";
    if (v->call || sl_stream_begun(v->out))
        v->r->charge_full = true;
    sl_req_free(v->r);
}

static void on_done_stream(const struct sl_call_result *res, void *arg)
{
    struct v1 *v = arg;

    v->call = NULL;
    record(v, res);
    if (!sl_stream_begun(v->out)) {
        reply_failure(v, res);
        sl_req_free(v->r);
        return;
    }
    if (v->cut)
        return;
    if (res->ok) {                    /* on_stream_valid: [DONE] and nothing after it */
        sl_stream_end(v->out);
        sl_req_free(v->r);
        return;
    }
    cut(v, "upstream");
}

static void on_client_gone(struct sl_req *r)
{
    r->charge_full = true;
    sl_req_free(r);
}

/* Admitted: call the upstream, buffered or streamed. */
static void v1_start(struct sl_req *r)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct sl_call_spec spec = { 0 };
    struct v1 *v = r->ctx;

    spec.path = "/chat/completions";
    spec.body = v->body;
    spec.body_len = v->body_len;
    spec.request_id = r->id;
    spec.model = v->model;
    spec.start_ms = r->start_ms;
    spec.metrics = r->serve->metrics;
    spec.breaker = r->serve->breaker;
    if (v->stream) {
        if (sl_sse_parser_init(&v->parser, SL_SSE_DEFAULT_MAX_EVENT) < 0 ||
            !(v->out = sl_stream_new(r, on_gone, on_drained, v))) {
            sl_req_reply_busy(r, true);
            sl_req_free(r);
            return;
        }
        spec.on_data = on_data;
        spec.idle_timeout_ms = cfg->attempt_timeout_ms;
        spec.stream_timeout_ms = cfg->stream_timeout_ms;
    }
    v->call = sl_call_start(r->serve->upstream, r->serve->base,
                            r->serve->retry, &spec,
                            v->stream ? on_stream_valid : on_valid,
                            v->stream ? on_done_stream : on_done_buffered, v);
    if (!v->call || (!v->stream && sl_req_watch_client(r, on_client_gone) < 0)) {
        sl_req_reply_busy(r, true);
        sl_req_free(r);
    }
}

void sl_v1_chat_handle(struct sl_req *r)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct v1 *v = calloc(1, sizeof(*v));

    if (!v) {
        sl_req_reply_busy(r, true);
        sl_req_free(r);
        return;
    }
    v->r = r;
    r->ctx = v;
    r->ctx_stop = v1_stop;
    r->ctx_free = v1_free;
    sl_buf_init(&v->ev, 4u << 20);
    sl_buf_init(&v->err, SL_SSE_DEFAULT_MAX_EVENT * 2);
    sl_buf_init(&v->scratch, SL_SSE_DEFAULT_MAX_EVENT);
    if (!prepare(v, cfg))
        return;
    sl_admit(r, true, v->reservation, v1_start);
}
