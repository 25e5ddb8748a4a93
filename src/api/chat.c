/* SPDX-License-Identifier: MIT */
/* chat.c - POST /api/chat and /api/chat/stream described for the relay core: the
 * quickstart's body in, the configured model, system prompt and limits upstream, and the
 * quickstart's shapes out (a JSON answer, or token/usage/done events). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/chat_api.h"
#include "core/config.h"
#include "core/openai.h"
#include "core/quota.h"
#include "core/sse.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/relay.h"

struct chat {
    struct sl_chat_request in;
    struct sl_chat_result out; /* buffered: the upstream's answer, parsed */
    bool have_out;
};

static void chat_done(void *p)
{
    struct chat *c = p;

    sl_chat_request_done(&c->in);
    sl_chat_result_done(&c->out);
}

static void reply_problem(struct sl_req *r, const struct sl_chat_problem *p)
{
    char *json = sl_chat_problem_json(p);

    if (json) {
        sl_req_reply(r, 422, "application/json", json, strlen(json));
        free(json);
    } else {
        sl_req_reply_busy(r, false);
    }
}

/* SPEC §4 upper bound for an /api/chat request: prompt bytes (system + user), a fixed
 * overhead per message, and max_tokens. */
static uint64_t reservation(const struct sl_config *cfg, const struct sl_chat_request *in)
{
    struct sl_quota_estimate e = {
        .prompt_bytes =
            in->user_message_len + (cfg->system_prompt ? strlen(cfg->system_prompt) : 0),
        .messages = cfg->system_prompt ? 2 : 1,
        .per_message_tokens = cfg->message_overhead_tokens,
        .n = 1,
        .max_tokens = cfg->max_tokens,
    };

    return sl_quota_estimate_tokens(&e);
}

/* Validate the body (FastAPI-shaped 422s, 413) and build the upstream one. */
static int prepare(struct sl_req *r, struct chat *c, const char *body, size_t len,
                   struct sl_relay_job *job, bool stream)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct sl_chat_upstream_params up = {
        .model = cfg->model,
        .system_prompt = cfg->system_prompt,
        .max_tokens = cfg->max_tokens,
        .temperature = cfg->temperature,
        .stream = stream,
    };
    struct sl_chat_problem problem;
    int rc;

    rc = sl_chat_parse(body, len, &c->in, &problem);
    if (rc == -EINVAL) {
        reply_problem(r, &problem);
        return rc;
    }
    if (rc == -E2BIG) {
        sl_req_reply_detail(r, 413, "Request body too large");
        return rc;
    }
    if (rc < 0 || !(job->body = sl_chat_upstream_body(&up, &c->in, &job->body_len))) {
        sl_req_reply_busy(r, false);
        return rc < 0 ? rc : -ENOMEM;
    }
    if (c->in.no_store)
        r->no_store = true;
    job->model = cfg->model;
    job->stream = stream;
    job->reservation = reservation(cfg, &c->in);
    return 0;
}

static int prepare_buffered(struct sl_req *r, void *state, const char *body, size_t len,
                            struct sl_relay_job *job)
{
    return prepare(r, state, body, len, job, false);
}

static int prepare_stream(struct sl_req *r, void *state, const char *body, size_t len,
                          struct sl_relay_job *job)
{
    return prepare(r, state, body, len, job, true);
}

/* ---- /api/chat: one JSON answer ---- */

/* A 2xx counts only if it is a usable chat.completion; keep the parse for the reply. */
static bool read_answer(void *state, const char *body, size_t len, struct sl_usage *usage)
{
    struct chat *c = state;

    if (c->have_out) {
        sl_chat_result_done(&c->out);
        c->have_out = false;
    }
    c->have_out = sl_chat_parse_upstream(body, len, &c->out) == 0;
    if (c->have_out)
        *usage = c->out.usage;
    return c->have_out;
}

static void reply_answer(struct sl_req *r, void *state, const char *body, size_t len)
{
    struct chat *c = state;
    char *json;
    size_t n;

    (void)body;
    (void)len;
    if (!c->out.model && !(c->out.model = strdup(r->serve->cfg->model))) {
        sl_req_reply_busy(r, false);
        return;
    }
    json = sl_chat_response_json(&c->out, &n);
    if (!json) {
        sl_req_reply_busy(r, false);
        return;
    }
    sl_req_reply(r, 200, "application/json", json, n);
    free(json);
    sl_req_log_prompt(r, c->in.user_message, c->in.user_message_len, c->out.text, c->out.text_len);
}

/* ---- /api/chat/stream: token, usage and done events ---- */

static int on_event(void *state, const struct sl_sse_event *ev, struct sl_relay_feed *feed)
{
    struct sl_openai_chunk ch;
    char *usage;

    (void)state;
    if (sl_openai_chunk_parse(ev->data, ev->data_len, &ch) < 0)
        return -ENOMEM;
    if (ch.kind == SL_OPENAI_DATA_DONE) {
        feed->complete = true;
    } else if (ch.kind == SL_OPENAI_DATA_ERROR || ch.kind == SL_OPENAI_DATA_INVALID ||
               (ev->event_len == 5 && memcmp(ev->event, "error", 5) == 0)) {
        sl_openai_chunk_done(&ch);
        return -EPROTO;
    } else {
        if (ch.content && ch.content_len)
            sl_sse_write_event(feed->out, "token", ch.content, ch.content_len);
        else if (ch.refusal && ch.refusal_len)
            sl_sse_write_event(feed->out, "token", ch.refusal, ch.refusal_len);
        if (ch.usage.present) {
            *feed->usage = ch.usage;
            usage = sl_chat_usage_json(&ch.usage, NULL);
            if (usage) {
                sl_sse_write_event(feed->out, "usage", usage, strlen(usage));
                free(usage);
            }
        }
    }
    sl_openai_chunk_done(&ch);
    return 0;
}

static void end_stream(struct sl_req *r, void *state, struct sl_buf *out)
{
    static const char done[] = "event: done\ndata: \n\n";
    struct chat *c = state;

    sl_req_log_prompt(r, c->in.user_message, c->in.user_message_len, NULL, 0);
    sl_buf_append(out, done, sizeof(done) - 1);
}

/* event: error, never event: done. */
static void cut_event(void *state, enum sl_relay_cut why, struct sl_buf *out)
{
    static const char *const detail[] = {
        [SL_RELAY_CUT_NOMEM] = "Server busy",
        [SL_RELAY_CUT_UPSTREAM_ERROR] = "Provider error",
        [SL_RELAY_CUT_INVALID] = "Provider stream invalid",
        [SL_RELAY_CUT_ENDED] = "Provider unavailable",
    };
    char json[256];

    (void)state;
    snprintf(json, sizeof(json), "{\"detail\":\"%s\"}", detail[why]);
    sl_sse_write_event(out, "error", json, strlen(json));
}

/* The input guard masked the user's message upstream: the prompt log shows it as sent, the
 * last message of the body prepare() built. */
static void masked(void *state, const char *body, size_t len)
{
    struct chat *c = state;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *msgs = json_object_get(root, "messages");
    json_t *text = json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content");
    char *copy = json_is_string(text) ? strdup(json_string_value(text)) : NULL;

    if (copy) {
        free(c->in.user_message);
        c->in.user_message = copy;
        c->in.user_message_len = strlen(copy);
    }
    json_decref(root);
}

const struct sl_relay_route sl_route_api_chat = {
    .upstream_path = "/chat/completions",
    .openai_errors = false,
    .guard_shape = SL_GUARD_SHAPE_API_CHAT,
    .state_size = sizeof(struct chat),
    .prepare = prepare_buffered,
    .read_answer = read_answer,
    .reply_answer = reply_answer,
    .masked = masked,
    .state_done = chat_done,
};

const struct sl_relay_route sl_route_api_chat_stream = {
    .upstream_path = "/chat/completions",
    .openai_errors = false,
    .guard_shape = SL_GUARD_SHAPE_API_CHAT,
    .state_size = sizeof(struct chat),
    .prepare = prepare_stream,
    .on_event = on_event,
    .end_stream = end_stream,
    .cut_event = cut_event,
    .masked = masked,
    .state_done = chat_done,
};
