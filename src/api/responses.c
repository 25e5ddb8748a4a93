/* SPDX-License-Identifier: MIT */
/* responses.c - POST /v1/responses described for the relay core (SPEC §10): the body goes
 * upstream as the client sent it (max_output_tokens filled in when absent), the answer comes
 * back as the upstream sent it, buffered or as its stream of named events, every event type
 * relayed whether the gateway knows it or not.  Usage settles from the buffered Response or
 * from the stream's terminal event; the id it creates is recorded as the tenant's, and a
 * previous_response_id must be one of the tenant's own. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/responses.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/fmt.h"
#include "core/responses.h"
#include "core/sse.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/relay.h"

struct resp {
    char model[SL_MODEL_NAME_MAX];
    char previous[SL_RESPONSE_ID_MAX + 1];
    char created[SL_RESPONSE_ID_MAX + 1];
    int64_t last_sequence; /* the last event's sequence_number, -1 before any */
    struct sl_buf err;     /* the upstream's own error event, kept for the cut */
};

static void resp_done(void *p)
{
    struct resp *s = p;

    sl_buf_done(&s->err);
}

static int prepare(struct sl_req *r, void *state, const char *body, size_t len,
                   struct sl_relay_job *job)
{
    struct resp *s = state;
    struct sl_responses_request req;
    struct sl_v1_problem p;
    int rc;

    s->last_sequence = -1;
    sl_buf_init(&s->err, SL_SSE_DEFAULT_MAX_EVENT * 2);
    rc = sl_responses_parse(body, len, r->serve->cfg, &req, &p);
    if (rc == -EINVAL) {
        sl_req_reply_openai_error(r, p.status, p.message, "invalid_request_error", p.param, p.code);
        return rc;
    }
    if (rc < 0) {
        sl_req_reply_busy(r, true);
        return rc;
    }
    sl_fmt_copy(s->model, sizeof(s->model), req.model);
    sl_fmt_copy(s->previous, sizeof(s->previous), req.previous_response_id);
    if (req.no_store)
        r->no_store = true;
    job->model = s->model;
    job->stream = req.stream;
    job->reservation = req.reservation;
    job->body = req.body; /* taken */
    job->body_len = req.body_len;
    if (s->previous[0]) {
        job->owned_id = s->previous;
        job->owned_param = "previous_response_id";
    }
    return 0;
}

/* A background response answers before it has run: no usage, so the core charges the
 * whole reservation (SPEC §10). */
static bool read_answer(void *state, const char *body, size_t len, struct sl_usage *usage)
{
    struct resp *s = state;
    struct sl_responses_answer a;

    if (sl_responses_answer_read(body, len, &a) < 0)
        return false;
    memcpy(s->created, a.id, sizeof(s->created));
    *usage = a.usage;
    return true;
}

/* The upstream gave up in the stream: its own error event is the one the client gets. */
static int keep_upstream_error(struct resp *s, const struct sl_sse_event *ev)
{
    int rc;

    sl_buf_reset(&s->err);
    rc = sl_relay_write_event(&s->err, ev, ev->data, ev->data_len);
    if (rc < 0)
        sl_buf_reset(&s->err);
    return rc == -ENOMEM ? rc : -EPROTO;
}

static int on_event(void *state, const struct sl_sse_event *ev, struct sl_relay_feed *feed)
{
    struct resp *s = state;
    struct sl_responses_event e;

    if (sl_responses_event_read(ev->event, ev->event_len, ev->data, ev->data_len, &e) < 0)
        return -ENOMEM;
    if (e.sequence_number >= 0)
        s->last_sequence = e.sequence_number;
    switch (e.kind) {
    case SL_RESPONSES_EVENT_INVALID: return -EPROTO;
    case SL_RESPONSES_EVENT_ERROR: return keep_upstream_error(s, ev);
    case SL_RESPONSES_EVENT_CREATED: memcpy(s->created, e.response.id, sizeof(s->created)); break;
    case SL_RESPONSES_EVENT_TERMINAL:
        /* Without usage the core charges the reservation in full. */
        if (e.response.usage.present)
            *feed->usage = e.response.usage;
        feed->complete = true;
        break;
    case SL_RESPONSES_EVENT_OTHER: break;
    }
    return sl_relay_write_event(feed->out, ev, ev->data, ev->data_len);
}

/* A cut stream ends with one error event: the upstream's own when it sent one, else ours,
 * shaped as the Responses API's error event (type, code, message, param, the next
 * sequence_number) and carrying an "error" object too, which the SDKs raise. */
static void cut_event(void *state, enum sl_relay_cut why, struct sl_buf *out)
{
    static const char msg[] = "The upstream stream ended before it was complete.";
    struct resp *s = state;
    char data[512];
    int n;

    (void)why;
    if (s->err.len) {
        sl_buf_append(out, s->err.data, s->err.len);
        return;
    }
    n = snprintf(data, sizeof(data),
                 "{\"type\":\"error\",\"code\":\"upstream_stream_cut\",\"message\":\"%s\","
                 "\"param\":null,\"sequence_number\":%" PRId64 ",\"error\":{\"type\":"
                 "\"server_error\",\"code\":\"upstream_stream_cut\",\"message\":\"%s\","
                 "\"param\":null}}",
                 msg, s->last_sequence + 1, msg);
    sl_sse_write_event(out, "error", data, (size_t)n);
}

static const char *created_id(void *state)
{
    struct resp *s = state;

    return s->created[0] ? s->created : NULL;
}

const struct sl_relay_route sl_route_v1_responses = {
    .upstream_path = "/responses",
    .prompt_field = "input",
    .answer = SL_OPENAI_ANSWER_RESPONSES,
    .openai_errors = true,
    .guard_shape = SL_GUARD_SHAPE_RESPONSES,
    .state_size = sizeof(struct resp),
    .prepare = prepare,
    .read_answer = read_answer,
    .reply_answer = sl_relay_reply_as_is,
    .on_event = on_event,
    .cut_event = cut_event,
    .created_id = created_id,
    .state_done = resp_done,
};
