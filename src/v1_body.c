/* SPDX-License-Identifier: MIT */
/* v1_body.c - checking and rewriting a /v1/chat/completions body. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "v1_body.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "quota.h"
#include "sse.h"

static int refuse(struct sl_v1_problem *p, int status, const char *param, const char *code,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(struct sl_v1_problem *p, int status, const char *param, const char *code,
                  const char *fmt, ...)
{
    va_list ap;

    p->status = status;
    p->param = param;
    p->code = code;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool is_allowed(const struct sl_config *cfg, const char *model)
{
    size_t i;

    for (i = 0; i < cfg->nallowed_models; i++)
        if (strcmp(cfg->allowed_models[i], model) == 0)
            return true;
    return cfg->nallowed_models == 0 && strcmp(cfg->model, model) == 0;
}

/* max_tokens / max_completion_tokens: absent gets the cap, larger is refused. */
static int apply_token_cap(json_t *root, const struct sl_config *cfg, struct sl_v1_problem *p)
{
    static const char *const names[] = { "max_tokens", "max_completion_tokens" };
    bool seen = false;
    size_t i;

    for (i = 0; i < 2; i++) {
        json_t *t = json_object_get(root, names[i]);

        if (!t || json_is_null(t))
            continue;
        seen = true;
        if (!json_is_integer(t) || json_integer_value(t) < 1)
            return refuse(p, 400, names[i], "invalid_value",
                          "Invalid '%s': expected a positive integer.", names[i]);
        if (json_integer_value(t) > (json_int_t)cfg->max_tokens)
            return refuse(p, 400, names[i], "max_tokens_too_large",
                          "'%s' is %lld; this gateway allows at most %u.", names[i],
                          (long long)json_integer_value(t), cfg->max_tokens);
    }
    if (!seen && json_object_set_new(root, "max_tokens", json_integer(cfg->max_tokens)) < 0)
        return -ENOMEM;
    return 0;
}

/* The completion limit the upstream will honour: the larger of max_tokens and
 * max_completion_tokens (OpenAI reads the latter when both are sent; the larger bounds
 * either reading).  apply_token_cap() has checked both against the cap and injected the cap
 * when neither was sent. */
static uint64_t completion_limit(json_t *root, const struct sl_config *cfg)
{
    static const char *const names[] = { "max_tokens", "max_completion_tokens" };
    uint64_t limit = 0;
    size_t i;

    for (i = 0; i < 2; i++) {
        json_t *t = json_object_get(root, names[i]);

        if (json_is_integer(t) && json_integer_value(t) > 0 &&
            (uint64_t)json_integer_value(t) > limit)
            limit = (uint64_t)json_integer_value(t);
    }
    return limit ? limit : cfg->max_tokens;
}

/* SPEC §4's upper bound: every byte of the client's body counts as a prompt token (more than
 * the messages' text, never less), plus a fixed overhead per message and per image part,
 * plus n times the (capped) completion limit. */
static uint64_t estimate(json_t *root, size_t body_len, const struct sl_config *cfg)
{
    json_t *msgs = json_object_get(root, "messages"), *m, *part, *n;
    struct sl_quota_estimate e = {
        .prompt_bytes = body_len,
        .per_message_tokens = cfg->message_overhead_tokens,
        .image_tokens = cfg->image_tokens,
        .n = 1,
        .max_tokens = completion_limit(root, cfg),
    };
    size_t i, j;

    n = json_object_get(root, "n");
    if (json_is_integer(n) && json_integer_value(n) > 0)
        e.n = (uint64_t)json_integer_value(n);
    json_array_foreach(msgs, i, m) {
        json_t *content = json_object_get(m, "content");

        e.messages++;
        json_array_foreach(content, j, part) {
            const char *type = json_string_value(json_object_get(part, "type"));

            if (type && (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0))
                e.images++;
        }
    }
    return sl_quota_estimate_tokens(&e);
}

static int check(json_t *root, size_t len, const struct sl_config *cfg,
                 struct sl_v1_request *out, struct sl_v1_problem *p)
{
    json_t *model = json_object_get(root, "model"), *n = json_object_get(root, "n");
    bool changed = false;
    int r;

    if (!json_is_string(model) || json_string_length(model) >= sizeof(out->model) ||
        memchr(json_string_value(model), '\0', json_string_length(model)))
        return refuse(p, 400, "model", "missing_model", "You must provide a model parameter.");
    snprintf(out->model, sizeof(out->model), "%s", json_string_value(model));
    if (!is_allowed(cfg, out->model))
        return refuse(p, 404, "model", "model_not_found",
                      "The model `%.120s` does not exist or you do not have access to it.",
                      out->model);
    if (n && !json_is_null(n) &&
        (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > SL_V1_N_MAX))
        return refuse(p, 400, "n", "invalid_value",
                      "Invalid 'n': expected an integer from 1 to %d.", SL_V1_N_MAX);
    if ((r = apply_token_cap(root, cfg, p)) < 0)
        return r;
    out->reservation = estimate(root, len, cfg);
    out->stream = json_is_true(json_object_get(root, "stream"));
    r = sl_sse_include_usage_json(root, &changed, &out->client_asked_usage);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return refuse(p, 400, "stream_options", "invalid_value", "Invalid 'stream_options'.");
    out->body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!out->body)
        return -ENOMEM;
    out->body_len = strlen(out->body);
    return 0;
}

int sl_v1_parse(const char *raw, size_t len, const struct sl_config *cfg,
                struct sl_v1_request *out, struct sl_v1_problem *problem)
{
    struct sl_v1_request v = { 0 };
    json_error_t err;
    json_t *root;
    int r;

    root = json_loadb(raw ? raw : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        return refuse(problem, 400, NULL, "invalid_json",
                      "We could not parse the JSON body of your request.");
    }
    r = check(root, len, cfg, &v, problem);
    json_decref(root);
    if (r < 0) {
        free(v.body);
        return r;
    }
    *out = v;
    return 0;
}

/* ---- upstream error bodies ---- */

static const char *type_for(int status)
{
    if (status == 429)
        return "rate_limit_error";
    if (status == 401)
        return "authentication_error";
    if (status == 403)
        return "permission_error";
    if (status >= 500 || status < 400)
        return "server_error";
    return "invalid_request_error";
}

/* Our own error for a body that is not one: all four fields, the status's type. */
static char *synthesize(int status, size_t *out_len)
{
    json_t *root = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error",
                             "message", "The upstream provider refused the request.",
                             "type", type_for(status), "param",
                             "code", status == 429 ? "rate_limit_exceeded" : "upstream_error");
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(root);
    if (s)
        *out_len = strlen(s);
    return s;
}

/* Fill what an OpenAI error object lacks; true if e changed, -1 on OOM. */
static int complete_error(json_t *e, int status)
{
    static const char *const nullable[] = { "param", "code" };
    json_t *type = json_object_get(e, "type");
    int changed = 0;
    size_t i;

    if (!json_is_string(type)) {
        if (json_object_set_new(e, "type", json_string(type_for(status))) < 0)
            return -1;
        changed = 1;
    }
    for (i = 0; i < 2; i++) {
        json_t *v = json_object_get(e, nullable[i]);

        if (v && (json_is_null(v) || json_is_string(v)))
            continue;
        if (json_object_set_new(e, nullable[i], json_null()) < 0)
            return -1;
        changed = 1;
    }
    return changed;
}

int sl_v1_upstream_error(const char *body, size_t len, int status, char **out, size_t *out_len)
{
    json_t *root, *e;
    char *s = NULL;
    int changed;

    *out = NULL;
    *out_len = 0;
    root = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    e = json_object_get(root, "error");
    if (!json_is_object(root) || !json_is_object(e) ||
        !json_is_string(json_object_get(e, "message"))) {
        json_decref(root);
        *out = synthesize(status, out_len);
        return *out ? 1 : -ENOMEM;
    }
    changed = complete_error(e, status);
    if (changed > 0) {
        s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        changed = s ? changed : -1;
    }
    json_decref(root);
    if (changed < 0)
        return -ENOMEM;
    if (s) {
        *out = s;
        *out_len = strlen(s);
    }
    return 0;
}

void sl_v1_request_done(struct sl_v1_request *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}
