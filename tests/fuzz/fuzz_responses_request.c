/* SPDX-License-Identifier: MIT */
/* fuzz_responses_request.c - libFuzzer target: a POST /v1/responses body through
 * sl_responses_parse() (src/core/responses.c), under a configuration that refuses background
 * responses and one that accepts them.  An accepted body goes upstream as one JSON object
 * whose members are the client's, max_output_tokens aside, which is an integer within the
 * model's cap (the client's own when it sent one, and then the bytes are the client's); the
 * reservation covers every byte of the body plus that limit; the upstream body is accepted
 * again, unchanged.  A refusal is a 400, or a 404 model_not_found, with a code and a message
 * that is valid UTF-8. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/responses.h"

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_config *cfgs[2]; /* background refused, accepted */

/* Short model names and a small cap, so that short inputs reach every check. */
static struct sl_config *new_config(bool allow_background)
{
    static const struct {
        const char *name;
        unsigned cap;
    } models[] = { { "m", 50 }, { "gpt-4.1", 32768 } };
    struct sl_config *cfg = sl_config_new();
    size_t i;

    if (!cfg)
        abort();
    free(cfg->models);
    cfg->models = calloc(2, sizeof(*cfg->models));
    if (!cfg->models)
        abort();
    for (i = 0; i < 2; i++) {
        snprintf(cfg->models[i].name, sizeof(cfg->models[i].name), "%s", models[i].name);
        cfg->models[i].max_output_tokens = models[i].cap;
    }
    cfg->nmodels = 2;
    cfg->allow_background = allow_background;
    return cfg;
}

/* Every member of the client's body is in the upstream's, equal, and nothing else is but
 * max_output_tokens. */
static void check_members(json_t *client, json_t *up)
{
    const char *k;
    json_t *v;

    json_object_foreach(client, k, v)
    {
        if (strcmp(k, "max_output_tokens") != 0 && !json_equal(v, json_object_get(up, k)))
            abort();
    }
    json_object_foreach(up, k, v)
    {
        if (strcmp(k, "max_output_tokens") != 0 && !json_object_get(client, k))
            abort();
    }
}

/* The upstream body needs no further change. */
static void check_again(const struct sl_config *cfg, const struct sl_responses_request *r)
{
    struct sl_responses_request again;
    struct sl_v1_problem p;
    int rc = sl_responses_parse(r->body, r->body_len, cfg, &again, &p);

    if (rc == -ENOMEM)
        return;
    if (rc != 0 || again.body_len != r->body_len || memcmp(again.body, r->body, r->body_len) != 0)
        abort();
    sl_responses_request_done(&again);
}

static void check_accepted(const struct sl_config *cfg, const uint8_t *data, size_t size,
                           const struct sl_responses_request *r)
{
    json_t *client = json_loadb((const char *)data, size, FLAGS, NULL);
    json_t *up = json_loadb(r->body, r->body_len, FLAGS, NULL);
    json_t *asked = json_object_get(client, "max_output_tokens");
    json_t *limit = json_object_get(up, "max_output_tokens");
    const struct sl_model_conf *m = sl_config_model(cfg, r->model);

    if (!client || !up || !m || strlen(r->body) != r->body_len)
        abort();
    check_members(client, up);
    if (strcmp(json_string_value(json_object_get(client, "model")), r->model) != 0)
        abort();
    if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
        json_integer_value(limit) > (json_int_t)m->max_output_tokens)
        abort();
    if (asked && !json_is_null(asked) &&
        (r->body_len != size || memcmp(r->body, data, size) != 0 || !json_equal(asked, limit)))
        abort();
    if (r->reservation < size + (uint64_t)json_integer_value(limit))
        abort();
    if (r->stream != json_is_true(json_object_get(client, "stream")) ||
        r->no_store != json_is_false(json_object_get(client, "store")) ||
        r->background != json_is_true(json_object_get(client, "background")) ||
        (r->background && !cfg->allow_background))
        abort();
    if (r->previous_response_id[0] &&
        !sl_response_id_valid(r->previous_response_id, strlen(r->previous_response_id)))
        abort();
    json_decref(client);
    json_decref(up);
    check_again(cfg, r);
}

static void check_refused(const struct sl_v1_problem *p)
{
    json_t *msg;

    if ((p->status != 400 && p->status != 404) || !p->code || !*p->code ||
        !memchr(p->message, '\0', sizeof(p->message)) || !p->message[0])
        abort();
    if ((p->status == 404) != (strcmp(p->code, "model_not_found") == 0))
        abort();
    /* The route puts the message in a JSON string. */
    msg = json_string(p->message);
    if (!msg)
        abort();
    json_decref(msg);
}

static int parse_one(const struct sl_config *cfg, const uint8_t *data, size_t size,
                     struct sl_v1_problem *p)
{
    struct sl_responses_request r;
    int rc;

    memset(p, 0, sizeof(*p));
    rc = sl_responses_parse((const char *)data, size, cfg, &r, p);
    if (rc == 0) {
        check_accepted(cfg, data, size, &r);
        sl_responses_request_done(&r);
    } else if (rc == -EINVAL) {
        check_refused(p);
    } else if (rc != -ENOMEM) {
        abort();
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_v1_problem refused, allowed;
    int a, b;

    if (!cfgs[0]) {
        cfgs[0] = new_config(false);
        cfgs[1] = new_config(true);
    }
    a = parse_one(cfgs[0], data, size, &refused);
    b = parse_one(cfgs[1], data, size, &allowed);
    if (a == -ENOMEM || b == -ENOMEM)
        return 0;
    /* Allowing background responses changes that one verdict and nothing else. */
    if (a == -EINVAL && strcmp(refused.code, "unsupported_parameter") == 0) {
        if (b == -EINVAL && strcmp(allowed.code, "unsupported_parameter") == 0)
            abort();
        return 0;
    }
    if (a != b || (a == -EINVAL && (strcmp(refused.code, allowed.code) != 0 ||
                                    strcmp(refused.message, allowed.message) != 0)))
        abort();
    return 0;
}
