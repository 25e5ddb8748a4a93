/* SPDX-License-Identifier: MIT */
/* chat.c - the /api/chat route handler. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/admit.h"
#include "core/chat_api.h"
#include "core/config.h"
#include "core/quota.h"
#include "http/request.h"
#include "upstream/call.h"
#include "http/serve.h"

struct chat {
    struct sl_req *r;
    struct sl_chat_request in;
    struct sl_chat_result out;
    bool have_out;
    char *upstream_body;
    size_t upstream_len;
    struct sl_call *call;
};

/* Before the request is settled and logged: abandon a call still running (the client left)
 * and log what it had done. */
static void chat_stop(void *p)
{
    struct chat *c = p;
    struct sl_call_progress pr;

    if (!c->call)
        return;
    sl_call_cancel(c->call, &pr);
    c->call = NULL;
    c->r->attempts = pr.attempts;
    c->r->upstream_status = pr.status;
    snprintf(c->r->upstream_request_id, sizeof(c->r->upstream_request_id), "%s",
             pr.upstream_request_id);
}

static void chat_free(void *p)
{
    struct chat *c = p;

    sl_call_cancel(c->call, NULL);
    sl_chat_request_done(&c->in);
    sl_chat_result_done(&c->out);
    free(c->upstream_body);
    free(c);
}

/* A 2xx counts only if it is a usable chat.completion; keep the parse for the reply. */
static bool on_valid(const char *body, size_t len, void *arg)
{
    struct chat *c = arg;

    if (c->have_out) {
        sl_chat_result_done(&c->out);
        c->have_out = false;
    }
    c->have_out = sl_chat_parse_upstream(body, len, &c->out) == 0;
    return c->have_out;
}

static void reply_ok(struct chat *c)
{
    struct sl_req *r = c->r;
    char *json;
    size_t len;

    if (!c->out.model) {
        c->out.model = strdup(r->serve->cfg->model);
        if (!c->out.model) {
            sl_req_reply_busy(r, false);
            return;
        }
    }
    json = sl_chat_response_json(&c->out, &len);
    if (!json) {
        sl_req_reply_busy(r, false);
        return;
    }
    if (c->out.usage.present) {
        r->prompt_tokens = c->out.usage.prompt_tokens;
        r->completion_tokens = c->out.usage.completion_tokens;
        r->total_tokens = c->out.usage.total_tokens;
    }
    sl_req_reply(r, 200, "application/json", json, len);
    free(json);
    if (c->in.no_store)
        r->no_store = true;
    sl_req_log_prompt(r, c->in.user_message, c->in.user_message_len, c->out.text,
                      c->out.text_len);
}

static void on_done(const struct sl_call_result *res, void *arg)
{
    struct chat *c = arg;
    struct sl_req *r = c->r;

    c->call = NULL;
    r->attempts = res->attempts;
    /* Without usage from the upstream, a 2xx or a timeout may still have been billed. */
    r->charge_full = res->ok || (res->fail & SL_FAIL_TIMEOUT);
    r->upstream_status = res->status;
    snprintf(r->upstream_request_id, sizeof(r->upstream_request_id), "%s",
             res->upstream_request_id);
    if (res->ok && c->have_out)
        reply_ok(c);
    else
        sl_req_reply_detail(r, 502, "Provider unavailable");
    sl_req_free(r);
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

int sl_chat_prepare(struct sl_req *r, bool stream, struct sl_chat_request *in, char **body,
                    size_t *body_len)
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
    const char *raw;
    size_t len;
    int rc;

    r->model = cfg->model;
    raw = sl_req_body(r, &len);
    rc = sl_chat_parse(raw, len, in, &problem);
    if (rc == -EINVAL) {
        reply_problem(r, &problem);
        return rc;
    }
    if (rc == -E2BIG) {
        sl_req_reply_detail(r, 413, "Request body too large");
        return rc;
    }
    if (rc < 0 || !(*body = sl_chat_upstream_body(&up, in, body_len))) {
        sl_req_reply_busy(r, false);
        return rc < 0 ? rc : -ENOMEM;
    }
    sl_req_body_release(r);
    return 0;
}

/* The client hung up: chat_free() (through sl_req_free) cancels the upstream call, which
 * may already have cost tokens. */
static void on_client_gone(struct sl_req *r)
{
    r->charge_full = true;
    sl_req_free(r);
}

uint64_t sl_chat_reservation(const struct sl_config *cfg, const struct sl_chat_request *in)
{
    struct sl_quota_estimate e = {
        .prompt_bytes = in->user_message_len + (cfg->system_prompt ? strlen(cfg->system_prompt)
                                                                   : 0),
        .messages = cfg->system_prompt ? 2 : 1,
        .per_message_tokens = cfg->message_overhead_tokens,
        .n = 1,
        .max_tokens = cfg->max_tokens,
    };

    return sl_quota_estimate_tokens(&e);
}

/* Admitted: call the upstream. */
static void chat_start(struct sl_req *r)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct sl_call_spec spec = { 0 };
    struct chat *c = r->ctx;

    spec.path = "/chat/completions";
    spec.body = c->upstream_body;
    spec.body_len = c->upstream_len;
    spec.request_id = r->id;
    spec.model = cfg->model;
    spec.start_ms = r->start_ms;
    spec.metrics = r->serve->metrics;
    spec.breaker = r->serve->breaker;
    c->call = sl_call_start(r->serve->upstream, r->serve->base,
                            r->serve->retry, &spec, on_valid, on_done, c);
    if (!c->call || sl_req_watch_client(r, on_client_gone) < 0) {
        sl_req_reply_busy(r, false);
        sl_req_free(r);
    }
}

void sl_chat_handle(struct sl_req *r)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct chat *c;

    c = calloc(1, sizeof(*c));
    if (!c) {
        sl_req_reply_busy(r, false);
        sl_req_free(r);
        return;
    }
    c->r = r;
    r->ctx = c;
    r->ctx_stop = chat_stop;
    r->ctx_free = chat_free;
    if (sl_chat_prepare(r, false, &c->in, &c->upstream_body, &c->upstream_len) < 0) {
        sl_req_free(r);
        return;
    }
    sl_admit(r, false, sl_chat_reservation(cfg, &c->in), chat_start);
}
