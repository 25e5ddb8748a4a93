/* SPDX-License-Identifier: MIT */
/* v1_chat.c - POST /v1/chat/completions described for the relay core, OpenAI-compatible
 * (SPEC §3.3): the client's body is forwarded as sent apart from the documented changes
 * (model allow-list, max_tokens cap, include_usage on streams), and the upstream's answer is
 * relayed as it came, buffered or streamed.  Errors take OpenAI's shape with all four
 * fields. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/v1_chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/fmt.h"
#include "core/json_scan.h"
#include "core/openai.h"
#include "core/sse.h"
#include "core/v1_body.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/relay.h"

struct v1 {
    char model[128];
    bool client_asked_usage;
    struct sl_buf err;     /* the upstream's own error event, kept for the cut */
    struct sl_buf scratch; /* a chunk being rewritten */
};

static void v1_done(void *p)
{
    struct v1 *v = p;

    sl_buf_done(&v->err);
    sl_buf_done(&v->scratch);
}

/* Parse and check the client's body; build the upstream one.  Answers on failure. */
static int prepare(struct sl_req *r, void *state, const char *body, size_t len,
                   struct sl_relay_job *job)
{
    struct v1 *v = state;
    struct sl_v1_request req;
    struct sl_v1_problem p;
    int rc;

    sl_buf_init(&v->err, SL_SSE_DEFAULT_MAX_EVENT * 2);
    sl_buf_init(&v->scratch, SL_SSE_DEFAULT_MAX_EVENT);
    rc = sl_v1_parse(body, len, r->serve->cfg, &req, &p);
    if (rc == -EINVAL) {
        sl_req_reply_openai_error(r, p.status, p.message, "invalid_request_error", p.param, p.code);
        return rc;
    }
    if (rc < 0) {
        sl_req_reply_busy(r, true);
        return rc;
    }
    sl_fmt_copy(v->model, sizeof(v->model), req.model);
    v->client_asked_usage = req.client_asked_usage;
    job->model = v->model;
    job->stream = req.stream;
    job->reservation = req.reservation;
    job->body = req.body; /* taken */
    job->body_len = req.body_len;
    return 0;
}

/* ---- buffered ---- */

/* The answer goes to the client as it came: it only has to be a JSON object, whose usage
 * settles the reservation.  One pass without a tree; jansson decides what the scanner is
 * not sure of. */
static bool read_answer(void *state, const char *body, size_t len, struct sl_usage *usage)
{
    static const char *const usage_name[] = { "usage" };
    struct sl_json_span root, u;
    json_t *tree;
    bool ok;

    (void)state;
    if (sl_json_scan(body, len, 0, &root, usage_name, &u, 1) == SL_JSON_OBJECT) {
        sl_openai_usage_scan(u.p ? &u : NULL, usage);
        return true;
    }
    tree = json_loadb(body, len, 0, NULL);
    ok = json_is_object(tree);
    sl_openai_usage_parse(json_object_get(tree, "usage"), usage);
    json_decref(tree);
    return ok;
}

/* ---- streamed ---- */

/* The include_usage we asked for put "usage": null in every chunk; a client that did not
 * ask gets the chunk without it, every other byte as it came. */
static int relay_without_null_usage(struct v1 *v, struct sl_buf *out, const struct sl_sse_event *ev,
                                    const struct sl_openai_chunk *ch)
{
    int rc;

    sl_buf_reset(&v->scratch);
    if ((rc = sl_openai_chunk_strip_null_usage(ch, ev->data, ev->data_len, &v->scratch)) < 0)
        return rc;
    return sl_relay_write_event(out, ev, v->scratch.data, v->scratch.len);
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
        rc =
            sl_sse_write_event(&v->err, NULL, fixed ? fixed : ev->data, fixed ? len : ev->data_len);
    free(fixed);
    if (rc < 0)
        sl_buf_reset(&v->err);
    return rc == -ENOMEM ? rc : -EPROTO;
}

static int relay_chunk(struct v1 *v, const struct sl_sse_event *ev,
                       const struct sl_openai_chunk *ch, struct sl_relay_feed *feed)
{
    if (ch->usage.present)
        *feed->usage = ch->usage;
    if (v->client_asked_usage)
        return sl_relay_write_event(feed->out, ev, ev->data, ev->data_len);
    /* The usage chunk exists because we asked for it; the client did not. */
    if (ch->usage_only)
        return 0;
    if (ch->usage_null)
        return relay_without_null_usage(v, feed->out, ev, ch);
    return sl_relay_write_event(feed->out, ev, ev->data, ev->data_len);
}

static int on_event(void *state, const struct sl_sse_event *ev, struct sl_relay_feed *feed)
{
    struct v1 *v = state;
    struct sl_openai_chunk ch;
    int rc = 0;

    if (sl_openai_chunk_parse(ev->data, ev->data_len, &ch) < 0)
        return -ENOMEM;
    /* The SDKs treat a named error event as a failure too. */
    if (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0 && ch.kind != SL_OPENAI_DATA_DONE)
        ch.kind = SL_OPENAI_DATA_ERROR;
    switch (ch.kind) {
    case SL_OPENAI_DATA_DONE:
        feed->complete = true;
        rc = sl_relay_write_event(feed->out, ev, ev->data, ev->data_len);
        break;
    case SL_OPENAI_DATA_ERROR:
        rc = keep_upstream_error(v, ev); /* then cut: no [DONE] follows */
        break;
    case SL_OPENAI_DATA_CHUNK: rc = relay_chunk(v, ev, &ch, feed); break;
    default: rc = -EPROTO;
    }
    sl_openai_chunk_done(&ch);
    return rc;
}

/* SPEC §3.3: after the stream began, a failure is exactly one data: {"error": ...} event
 * (the upstream's own when it sent one, else ours), then a close without [DONE] and without
 * the terminating chunk. */
static void cut_event(void *state, enum sl_relay_cut why, struct sl_buf *out)
{
    static const char err[] =
        "data: {\"error\":{\"message\":\"The upstream stream ended before it was complete.\","
        "\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_stream_cut\"}}\n\n";
    struct v1 *v = state;

    (void)why;
    if (v->err.len)
        sl_buf_append(out, v->err.data, v->err.len);
    else
        sl_buf_append(out, err, sizeof(err) - 1);
}

const struct sl_relay_route sl_route_v1_chat = {
    .upstream_path = "/chat/completions",
    .prompt_field = "messages",
    .answer = SL_OPENAI_ANSWER_CHAT,
    .openai_errors = true,
    .guard_shape = SL_GUARD_SHAPE_CHAT,
    .state_size = sizeof(struct v1),
    .prepare = prepare,
    .read_answer = read_answer,
    .reply_answer = sl_relay_reply_as_is,
    .on_event = on_event,
    .cut_event = cut_event,
    .state_done = v1_done,
};
