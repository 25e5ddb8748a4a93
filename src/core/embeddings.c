/* SPDX-License-Identifier: MIT */
/* embeddings.c - checking a POST /v1/embeddings body and reading its answer's usage. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/embeddings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/quota.h"

/* What an input array holds; every element must be of the first element's kind. */
enum input_kind { IN_STRING, IN_TOKEN, IN_TOKENS, IN_BAD };

/* The same checks and words as v1_body.c's. */
static int check_model(json_t *root, const struct sl_config *cfg, char *model,
                       struct sl_v1_problem *p)
{
    json_t *m = json_object_get(root, "model");

    if (!json_is_string(m) || json_string_length(m) >= SL_MODEL_NAME_MAX ||
        memchr(json_string_value(m), '\0', json_string_length(m)))
        return sl_v1_refuse(p, 400, "model", "missing_model",
                            "You must provide a model parameter.");
    memcpy(model, json_string_value(m), json_string_length(m) + 1);
    if (!sl_config_model(cfg, model))
        return sl_v1_refuse(p, 404, "model", "model_not_found",
                            "The model `%s` does not exist or you do not have access to it.",
                            model);
    return 0;
}

static bool is_token(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* A non-empty array of tokens: one tokenized input. */
static bool is_token_list(json_t *v)
{
    json_t *t;
    size_t i;

    if (!json_is_array(v) || json_array_size(v) == 0)
        return false;
    json_array_foreach(v, i, t)
    {
        if (!is_token(t))
            return false;
    }
    return true;
}

static enum input_kind kind_of(json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v) > 0 ? IN_STRING : IN_BAD;
    if (is_token(v))
        return IN_TOKEN;
    return is_token_list(v) ? IN_TOKENS : IN_BAD;
}

static int bad_input(struct sl_v1_problem *p)
{
    return sl_v1_refuse(p, 400, "input", "invalid_value",
                        "Invalid 'input': expected a non-empty string, or a non-empty array of "
                        "non-empty strings, of tokens, or of non-empty arrays of tokens.");
}

/* *items: the inputs the upstream embeds (an array of tokens is one text, already cut into
 * tokens), each with a message's overhead. */
static int check_array(json_t *in, uint64_t *items, struct sl_v1_problem *p)
{
    enum input_kind first;
    json_t *v;
    size_t i;

    if (json_array_size(in) == 0)
        return bad_input(p);
    if (json_array_size(in) > SL_EMBEDDINGS_INPUTS_MAX)
        return sl_v1_refuse(
            p, 400, "input", "array_above_max_length",
            "Invalid 'input': array too long. Expected an array with maximum length "
            "%d, but got an array with length %zu instead.",
            SL_EMBEDDINGS_INPUTS_MAX, json_array_size(in));
    first = kind_of(json_array_get(in, 0));
    json_array_foreach(in, i, v)
    {
        if (first == IN_BAD || kind_of(v) != first)
            return bad_input(p);
    }
    *items = first == IN_TOKEN ? 1 : json_array_size(in);
    return 0;
}

static int check_input(json_t *root, uint64_t *items, struct sl_v1_problem *p)
{
    json_t *in = json_object_get(root, "input");

    if (!in || json_is_null(in))
        return sl_v1_refuse(p, 400, "input", "missing_required_parameter",
                            "Missing required parameter: 'input'.");
    if (json_is_array(in))
        return check_array(in, items, p);
    if (!json_is_string(in))
        return sl_v1_refuse(p, 400, "input", "invalid_type",
                            "Invalid type for 'input': expected a string or an array.");
    if (json_string_length(in) == 0)
        return bad_input(p);
    *items = 1;
    return 0;
}

int sl_embeddings_parse(const char *raw, size_t len, const struct sl_config *cfg,
                        struct sl_embeddings_request *out, struct sl_v1_problem *problem)
{
    struct sl_embeddings_request v = { .reservation = 0 };
    struct sl_quota_estimate e = {
        .prompt_bytes = len,
        .per_message_tokens = cfg->message_overhead_tokens,
        .n = 1,
    };
    json_t *root;
    int r;

    root = sl_v1_load_object(raw, len, &r);
    if (r == -ENOMEM)
        return r;
    if (!root)
        r = sl_v1_refuse(problem, 400, NULL, "invalid_json",
                         "We could not parse the JSON body of your request.");
    else if ((r = check_model(root, cfg, v.model, problem)) == 0)
        r = check_input(root, &e.messages, problem);
    json_decref(root);
    if (r < 0)
        return r;
    /* Every byte of the body counts as a token (more than the text, never less; a token id
     * takes at least one digit and a comma), nothing for the output. */
    v.reservation = sl_quota_estimate_tokens(&e);
    *out = v;
    return 0;
}

/* Embeddings produce no output tokens: the total is believed when it is larger (it may
 * count what the prompt does not), never when it is smaller. */
static void usage_read(json_t *u, struct sl_usage *out)
{
    json_t *pt = json_object_get(u, "prompt_tokens"), *tt = json_object_get(u, "total_tokens");

    if (!json_is_integer(pt) || json_integer_value(pt) < 0)
        return;
    out->prompt_tokens = json_integer_value(pt);
    out->total_tokens = out->prompt_tokens;
    if (json_is_integer(tt) && json_integer_value(tt) > out->total_tokens)
        out->total_tokens = json_integer_value(tt);
    out->present = true;
}

int sl_embeddings_answer_read(const char *body, size_t len, struct sl_usage *usage)
{
    json_t *root;
    int r;

    memset(usage, 0, sizeof(*usage));
    root = sl_v1_load_object(body, len, &r);
    if (!root)
        return r;
    usage_read(json_object_get(root, "usage"), usage);
    json_decref(root);
    return 0;
}
