/* SPDX-License-Identifier: MIT */
/* relay_stream.c - the relay core's streamed answers: the upstream's SSE read as it arrives,
 * each event turned into the client's bytes by the route, backpressure both ways, and an end
 * that is either clean or a cut that cannot pass for complete.
 *
 * Until the upstream's stream begins, failures are retried and answered as ordinary JSON
 * errors; after that, a failure is the route's last event and a closed connection without
 * the terminating chunk (SPEC §3.2, §3.3). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/sse.h"
#include "upstream/call.h"
#include "http/request.h"
#include "http/serve.h"
#include "http/stream.h"
#include "api/relay_int.h"

/* The one event a cut ends with: an error event of the route's own, or the upstream's. */
#define LAST_EVENT_MAX (SL_SSE_DEFAULT_MAX_EVENT * 2)

static void flush(struct sl_relay *rl)
{
    if (rl->events.len)
        sl_stream_write(rl->out, rl->events.data, rl->events.len);
    sl_buf_reset(&rl->events);
}

/* The route's last event, then close without the terminating chunk.  who goes to the log
 * line's "cut": "upstream" (it failed or broke off) or "gateway" (our own failure). */
static void cut(struct sl_relay *rl, enum sl_relay_cut why, const char *who)
{
    struct sl_buf last;

    if (rl->cut)
        return;
    rl->cut = true;
    rl->r->cut = who;
    flush(rl);
    sl_buf_init(&last, LAST_EVENT_MAX);
    rl->route->cut_event(rl->state, why, &last);
    sl_stream_abort(rl->out, last.data, last.len);
    sl_buf_done(&last);
}

static int on_event(const struct sl_sse_event *ev, void *arg)
{
    struct sl_relay *rl = arg;
    struct sl_relay_feed feed = { .out = &rl->events, .usage = &rl->usage };
    int rc;

    if (ev->kind != SL_SSE_MESSAGE)
        return 0;
    rc = rl->route->on_event(rl->state, ev, &feed);
    if (feed.complete)
        rl->complete = true;
    sl_relay_note_created(rl);
    return rc;
}

/* Inside libcurl's write callback: write to the client, never call into libcurl's multi. */
static enum sl_call_data on_data(const char *data, size_t len, long status, void *arg)
{
    struct sl_relay *rl = arg;
    int rc;

    if (rl->cut)
        return SL_CALL_DATA_ABORT;
    if (!sl_stream_begun(rl->out) && sl_stream_begin(rl->out, "text/event-stream") < 0)
        return SL_CALL_DATA_ABORT;
    rc = sl_sse_feed(&rl->parser, data, len, on_event, rl);
    if (rc == -ENOMEM) {
        cut(rl, SL_RELAY_CUT_NOMEM, "gateway");
        return SL_CALL_DATA_ABORT;
    }
    if (rc < 0) {
        /* An error event, invalid SSE or an event over the bound: the upstream failed. */
        cut(rl, rc == -EPROTO ? SL_RELAY_CUT_UPSTREAM_ERROR : SL_RELAY_CUT_INVALID, "upstream");
        return SL_CALL_DATA_BAD;
    }
    flush(rl);
    if (!rl->complete && sl_stream_queued(rl->out) > SL_STREAM_HIGH_WATER && rl->call &&
        sl_call_transfer(rl->call)) {
        rl->paused = true;
        sl_upstream_pause(sl_call_transfer(rl->call));
    }
    return SL_CALL_DATA_MORE;
}

/* A stream that ended cleanly at the HTTP level is complete only with its terminal event,
 * and no half-sent event after it (whole events after it are relayed, and change nothing). */
static bool on_stream_valid(const char *body, size_t len, void *arg)
{
    struct sl_relay *rl = arg;

    (void)body;
    (void)len;
    return rl->complete && !sl_sse_has_partial(&rl->parser);
}

static void on_drained(void *arg)
{
    struct sl_relay *rl = arg;

    if (rl->paused && rl->call && sl_call_transfer(rl->call)) {
        rl->paused = false;
        sl_upstream_resume(sl_call_transfer(rl->call));
    }
}

/* The client left, or our cut finished closing: the request ends here. */
static void on_gone(void *arg)
{
    struct sl_relay *rl = arg;
    struct sl_req *r = rl->r;

    if (!sl_stream_begun(rl->out))
        r->status = 499; /* nginx's "client closed request" */
    else if (!rl->cut)
        r->cut = "client";
    /* Cut or abandoned: the upstream may have billed what it generated. */
    if (rl->call || sl_stream_begun(rl->out))
        rl->charge_full = true;
    sl_req_free(r);
}

static void on_done(const struct sl_call_result *res, void *arg)
{
    struct sl_relay *rl = arg;
    struct sl_req *r = rl->r;

    rl->call = NULL;
    sl_relay_record(rl, res);
    if (!sl_stream_begun(rl->out)) {
        sl_relay_reply_failure(rl, res);
        sl_req_free(r);
        return;
    }
    if (rl->cut)
        return; /* on_gone finishes once the connection is closed */
    /* The terminal event reached the client: the answer is whole, whatever the transport
     * did after it (a reset, no terminating chunk). */
    if (res->ok || (rl->complete && !sl_sse_has_partial(&rl->parser))) {
        if (rl->route->end_stream) {
            rl->route->end_stream(r, rl->state, &rl->events);
            flush(rl);
        }
        sl_stream_end(rl->out);
        sl_req_free(r);
        return;
    }
    /* The upstream's stream broke off, or ended without its terminal event. */
    cut(rl, SL_RELAY_CUT_ENDED, "upstream");
}

int sl_relay_write_event(struct sl_buf *out, const struct sl_sse_event *ev, const char *data,
                         size_t len)
{
    char name[64];

    if (ev->event_len >= sizeof(name))
        return -EPROTO;
    memcpy(name, ev->event, ev->event_len);
    name[ev->event_len] = '\0';
    return sl_sse_write_event(out, ev->event_len ? name : NULL, data, len);
}

void sl_relay_start_stream(struct sl_relay *rl)
{
    struct sl_req *r = rl->r;
    const struct sl_config *cfg = r->serve->cfg;
    struct sl_call_spec spec;

    if (sl_sse_parser_init(&rl->parser, SL_SSE_DEFAULT_MAX_EVENT) < 0 ||
        !(rl->out = sl_stream_new(r, on_gone, on_drained, rl))) {
        sl_req_reply_busy(r, rl->route->openai_errors);
        sl_req_free(r);
        return;
    }
    sl_relay_call_spec(rl, &spec);
    spec.on_data = on_data;
    /* Reasoning models think in silence: after the first byte the idle bound is
     * stream_idle_ms, not the attempt's (SPEC §10). */
    spec.idle_timeout_ms = cfg->stream_idle_ms;
    spec.stream_timeout_ms = cfg->stream_timeout_ms;
    rl->call = sl_call_start(r->serve->upstream, r->serve->base, r->serve->retry, &spec,
                             on_stream_valid, on_done, rl);
    if (!rl->call) {
        sl_req_reply_busy(r, rl->route->openai_errors);
        sl_req_free(r);
    }
}

void sl_relay_stream_done(struct sl_relay *rl)
{
    sl_stream_free(rl->out);
    rl->out = NULL;
    sl_sse_parser_done(&rl->parser);
    sl_buf_done(&rl->events);
}
