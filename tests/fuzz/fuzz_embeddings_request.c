/* SPDX-License-Identifier: MIT */
/* fuzz_embeddings_request.c - libFuzzer target: a POST /v1/embeddings body through
 * sl_embeddings_parse(), and the same bytes as an answer through sl_embeddings_answer_read()
 * (src/core/embeddings.c).  An accepted body is one JSON object naming a configured model,
 * with an input of one of the four shapes, and a reservation that covers every byte of it
 * and an overhead per input; a refusal is a 400, or a 404 model_not_found, with a code and a
 * message that is valid UTF-8.  An answer's usage is either absent (all zero) or never
 * totals less than its prompt. */
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
#include "core/embeddings.h"

#define OVERHEAD 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_config *cfg;

static void setup(void)
{
    cfg = sl_config_new();
    if (!cfg)
        abort();
    free(cfg->models);
    cfg->models = calloc(1, sizeof(*cfg->models));
    if (!cfg->models)
        abort();
    snprintf(cfg->models[0].name, sizeof(cfg->models[0].name), "e");
    cfg->models[0].max_output_tokens = 1;
    cfg->nmodels = 1;
    cfg->message_overhead_tokens = OVERHEAD;
}

/* Inputs the upstream embeds, or 0 when input is none of the accepted shapes. */
static size_t inputs(json_t *in)
{
    json_t *first = json_array_get(in, 0);

    if (json_is_string(in))
        return json_string_length(in) > 0;
    if (!json_is_array(in) || json_array_size(in) == 0)
        return 0;
    /* The parser checked every element; the first tells which shape it was. */
    if (json_is_string(first) || json_is_array(first))
        return json_array_size(in);
    return json_is_integer(first) ? 1 : 0;
}

static void check_accepted(const uint8_t *data, size_t size, const struct sl_embeddings_request *r)
{
    json_t *root =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    size_t n = inputs(json_object_get(root, "input"));

    if (!json_is_object(root) || !sl_config_model(cfg, r->model) || n == 0 ||
        n > SL_EMBEDDINGS_INPUTS_MAX ||
        strcmp(json_string_value(json_object_get(root, "model")), r->model) != 0)
        abort();
    if (r->reservation != size + OVERHEAD * (uint64_t)n)
        abort();
    json_decref(root);
}

static void check_refused(const struct sl_v1_problem *p)
{
    json_t *msg;

    if ((p->status != 400 && p->status != 404) || !p->code || !*p->code ||
        !memchr(p->message, '\0', sizeof(p->message)) || !p->message[0])
        abort();
    if ((p->status == 404) != (strcmp(p->code, "model_not_found") == 0))
        abort();
    msg = json_string(p->message);
    if (!msg)
        abort();
    json_decref(msg);
}

static void check_answer(const uint8_t *data, size_t size)
{
    struct sl_usage u;
    int r = sl_embeddings_answer_read((const char *)data, size, &u);

    if (r != 0 && r != -EINVAL && r != -ENOMEM)
        abort();
    if (u.completion_tokens != 0 || (!u.present && (u.prompt_tokens || u.total_tokens)))
        abort();
    if (u.present && (r != 0 || u.prompt_tokens < 0 || u.total_tokens < u.prompt_tokens))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_embeddings_request req;
    struct sl_v1_problem problem;
    int r;

    if (!cfg)
        setup();
    memset(&problem, 0, sizeof(problem));
    r = sl_embeddings_parse((const char *)data, size, cfg, &req, &problem);
    if (r == 0)
        check_accepted(data, size, &req);
    else if (r == -EINVAL)
        check_refused(&problem);
    else if (r != -ENOMEM)
        abort();
    check_answer(data, size);
    return 0;
}
