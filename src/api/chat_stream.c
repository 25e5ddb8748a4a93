/* SPDX-License-Identifier: MIT */
/* chat_stream.c - POST /api/chat/stream: the upstream's SSE turned into token/usage/done
 * events as it arrives.  Until the upstream's stream begins, failures are retried and
 * answered as ordinary JSON errors; after that, a failure is an `event: error` and a cut
 * connection, never an `event: done`. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "api/admit.h"
#include "core/chat_api.h"
#include "core/config.h"
#include "http/request.h"
#include "core/openai.h"
#include "core/sse.h"
#include "http/stream.h"
#include "upstream/call.h"
#include "http/serve.h"

#define EVENT_BUF_MAX (4u << 20)

struct chat_stream {
    struct sl_req *r;
    struct sl_chat_request in;
    char *upstream_body;
    size_t upstream_len;
    struct sl_call *call;
    struct sl_stream *stream;
    struct sl_sse_parser parser;
    struct sl_buf out;
    struct sl_usage usage;
    bool done_seen;       /* the upstream said [DONE] */
    bool cut;             /* we sent event: error and are closing */
    bool paused;
};

/* Before the request is settled and logged: abandon a call still running (the client left)
 * and log what it had done. */
static void cs_stop(void *p)
{
    struct chat_stream *cs = p;
    struct sl_call_progress pr;

    if (!cs->call)
        return;
    sl_call_cancel(cs->call, &pr);
    cs->call = NULL;
    cs->r->attempts = pr.attempts;
    cs->r->upstream_status = pr.status;
    snprintf(cs->r->upstream_request_id, sizeof(cs->r->upstream_request_id), "%s",
             pr.upstream_request_id);
}

static void cs_free(void *p)
{
    struct chat_stream *cs = p;

    sl_call_cancel(cs->call, NULL);
    sl_stream_free(cs->stream);
    sl_sse_parser_done(&cs->parser);
    sl_buf_done(&cs->out);
    sl_chat_request_done(&cs->in);
    free(cs->upstream_body);
    free(cs);
}

static void flush_out(struct chat_stream *cs)
{
    if (cs->out.len)
        sl_stream_write(cs->stream, cs->out.data, cs->out.len);
    sl_buf_reset(&cs->out);
}

/* event: error, then close without event: done.  why goes to the log line. */
static void cut(struct chat_stream *cs, const char *detail, const char *why)
{
    struct sl_buf b;
    char json[256];

    if (cs->cut)
        return;
    cs->cut = true;
    cs->r->cut = why;
    flush_out(cs);
    snprintf(json, sizeof(json), "{\"detail\":\"%s\"}", detail);
    sl_buf_init(&b, 1024);
    sl_sse_write_event(&b, "error", json, strlen(json));
    sl_stream_abort(cs->stream, b.data, b.len);
    sl_buf_done(&b);
}

static int on_event(const struct sl_sse_event *ev, void *arg)
{
    struct chat_stream *cs = arg;
    struct sl_openai_chunk ch;
    char *usage;

    if (ev->kind != SL_SSE_MESSAGE)
        return 0;
    if (sl_openai_chunk_parse(ev->data, ev->data_len, &ch) < 0)
        return -ENOMEM;
    if (ch.kind == SL_OPENAI_DATA_DONE) {
        cs->done_seen = true;
    } else if (ch.kind == SL_OPENAI_DATA_ERROR || ch.kind == SL_OPENAI_DATA_INVALID ||
               (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0)) {
        sl_openai_chunk_done(&ch);
        return -EPROTO;
    } else {
        if (ch.content && ch.content_len)
            sl_sse_write_event(&cs->out, "token", ch.content, ch.content_len);
        else if (ch.refusal && ch.refusal_len)
            sl_sse_write_event(&cs->out, "token", ch.refusal, ch.refusal_len);
        if (ch.usage.present) {
            cs->usage = ch.usage;
            usage = sl_chat_usage_json(&ch.usage, NULL);
            if (usage) {
                sl_sse_write_event(&cs->out, "usage", usage, strlen(usage));
                free(usage);
            }
        }
    }
    sl_openai_chunk_done(&ch);
    return 0;
}

/* Inside libcurl's write callback: write to the client, never call into libcurl's multi. */
static enum sl_call_data on_data(const char *data, size_t len, long status, void *arg)
{
    struct chat_stream *cs = arg;
    int rc;

    if (cs->cut)
        return SL_CALL_DATA_ABORT;
    if (!sl_stream_begun(cs->stream) && sl_stream_begin(cs->stream, "text/event-stream") < 0)
        return SL_CALL_DATA_ABORT;
    rc = sl_sse_feed(&cs->parser, data, len, on_event, cs);
    flush_out(cs);
    if (rc == -ENOMEM) {
        cut(cs, "Server busy", "gateway");
        return SL_CALL_DATA_ABORT;
    }
    if (rc < 0) {
        /* An error event, invalid SSE or an event over the bound: the upstream failed. */
        cut(cs, rc == -EPROTO ? "Provider error" : "Provider stream invalid", "upstream");
        return SL_CALL_DATA_BAD;
    }
    if (cs->done_seen)
        return SL_CALL_DATA_MORE;
    if (sl_stream_queued(cs->stream) > SL_STREAM_HIGH_WATER && cs->call &&
        sl_call_transfer(cs->call)) {
        cs->paused = true;
        sl_upstream_pause(sl_call_transfer(cs->call));
    }
    return SL_CALL_DATA_MORE;
}

/* A stream that ended cleanly at the HTTP level is complete only with its [DONE]. */
static bool on_stream_valid(const char *body, size_t len, void *arg)
{
    struct chat_stream *cs = arg;

    (void)body;
    (void)len;
    return cs->done_seen && !sl_sse_has_partial(&cs->parser);
}

static void on_drained(void *arg)
{
    struct chat_stream *cs = arg;

    if (cs->paused && cs->call && sl_call_transfer(cs->call)) {
        cs->paused = false;
        sl_upstream_resume(sl_call_transfer(cs->call));
    }
}

/* The client left, or our cut finished closing: the request ends here. */
static void on_gone(void *arg)
{
    struct chat_stream *cs = arg;
    struct sl_req *r = cs->r;

    if (!sl_stream_begun(cs->stream))
        r->status = 499;          /* nginx's "client closed request" */
    else if (!cs->cut)
        r->cut = "client";
    /* Cut or abandoned: the upstream may have billed what it generated. */
    if (cs->call || sl_stream_begun(cs->stream))
        r->charge_full = true;
    sl_req_free(r);
}

static void on_done(const struct sl_call_result *res, void *arg)
{
    struct chat_stream *cs = arg;
    struct sl_req *r = cs->r;
    static const char done[] = "event: done\ndata: \n\n";

    cs->call = NULL;
    r->attempts = res->attempts;
    r->charge_full = sl_stream_begun(cs->stream) || (res->fail & SL_FAIL_TIMEOUT);
    r->upstream_status = res->status;
    snprintf(r->upstream_request_id, sizeof(r->upstream_request_id), "%s",
             res->upstream_request_id);
    if (cs->usage.present) {
        r->prompt_tokens = cs->usage.prompt_tokens;
        r->completion_tokens = cs->usage.completion_tokens;
        r->total_tokens = cs->usage.total_tokens;
    }
    if (!sl_stream_begun(cs->stream)) {
        sl_req_reply_detail(r, 502, "Provider unavailable");
        sl_req_free(r);
        return;
    }
    if (cs->cut)
        return;                   /* on_gone finishes once the connection is closed */
    if (res->ok) {                /* on_stream_valid: [DONE] and nothing after it */
        if (cs->in.no_store)
            r->no_store = true;
        sl_req_log_prompt(r, cs->in.user_message, cs->in.user_message_len, NULL, 0);
        sl_stream_write(cs->stream, done, sizeof(done) - 1);
        sl_stream_end(cs->stream);
        sl_req_free(r);
        return;
    }
    /* The upstream's stream broke off, or ended without [DONE]. */
    cut(cs, "Provider unavailable", "upstream");
}

/* Admitted: open the client's side and call the upstream. */
static void stream_start(struct sl_req *r)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct sl_call_spec spec = { 0 };
    struct chat_stream *cs = r->ctx;

    if (sl_sse_parser_init(&cs->parser, SL_SSE_DEFAULT_MAX_EVENT) < 0 ||
        !(cs->stream = sl_stream_new(r, on_gone, on_drained, cs))) {
        sl_req_reply_busy(r, false);
        sl_req_free(r);
        return;
    }
    spec.path = "/chat/completions";
    spec.body = cs->upstream_body;
    spec.body_len = cs->upstream_len;
    spec.request_id = r->id;
    spec.model = cfg->model;
    spec.start_ms = r->start_ms;
    spec.metrics = r->serve->metrics;
    spec.breaker = r->serve->breaker;
    spec.on_data = on_data;
    spec.idle_timeout_ms = cfg->attempt_timeout_ms;
    spec.stream_timeout_ms = cfg->stream_timeout_ms;
    cs->call = sl_call_start(r->serve->upstream, r->serve->base,
                             r->serve->retry, &spec, on_stream_valid, on_done,
                             cs);
    if (!cs->call) {
        sl_req_reply_busy(r, false);
        sl_req_free(r);
    }
}

void sl_chat_stream_handle(struct sl_req *r)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct chat_stream *cs = calloc(1, sizeof(*cs));

    if (!cs) {
        sl_req_reply_busy(r, false);
        sl_req_free(r);
        return;
    }
    cs->r = r;
    r->ctx = cs;
    r->ctx_stop = cs_stop;
    r->ctx_free = cs_free;
    sl_buf_init(&cs->out, EVENT_BUF_MAX);
    if (sl_chat_prepare(r, true, &cs->in, &cs->upstream_body, &cs->upstream_len) < 0) {
        sl_req_free(r);
        return;
    }
    sl_admit(r, false, sl_chat_reservation(cfg, &cs->in), stream_start);
}
