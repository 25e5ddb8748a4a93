/* SPDX-License-Identifier: MIT */
/* Tests for embeddings.c: /v1/embeddings bodies (refusals, reservation) and the answer's
 * usage. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/embeddings.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

#define OVERHEAD 7 /* not the default, so a reservation that ignores it shows */

static struct sl_config *test_config(void)
{
    struct sl_config *cfg = sl_config_new();

    cr_assert_not_null(cfg);
    free(cfg->models);
    cfg->models = calloc(1, sizeof(*cfg->models));
    cr_assert_not_null(cfg->models);
    snprintf(cfg->models[0].name, sizeof(cfg->models[0].name), "text-embedding-3-small");
    cfg->models[0].max_output_tokens = 100;
    cfg->nmodels = 1;
    cfg->message_overhead_tokens = OVERHEAD;
    cfg->image_tokens = 300;
    return cfg;
}

#define MODEL "\"model\":\"text-embedding-3-small\""

struct ok_case {
    char body[300];
    uint64_t items;
};

ParameterizedTestParameters(embeddings_parse, accepted)
{
    static struct ok_case cases[] = {
        { "{" MODEL ",\"input\":\"The food was delicious.\"}", 1 },
        { "{\"input\":\"a\"," MODEL ",\"encoding_format\":\"float\",\"dimensions\":256,"
          "\"user\":\"u\",\"x\":{\"max_output_tokens\":5}}",
          1 },
        { "{" MODEL ",\"input\":[\"a\",\"b\",\"c\"]}", 3 },
        { "{" MODEL ",\"input\":[\"\\u0000\"]}", 1 },
        /* One text already cut into tokens. */
        { "{" MODEL ",\"input\":[1212,318,257,1332,13]}", 1 },
        { "{" MODEL ",\"input\":[0]}", 1 },
        { "{" MODEL ",\"input\":[[1212,318],[257],[0,0,0]]}", 3 },
        { " {" MODEL ",\"input\":\"x\"} \n", 1 },
    };
    return cr_make_param_array(struct ok_case, cases, NCASES(cases));
}

ParameterizedTest(struct ok_case *c, embeddings_parse, accepted)
{
    struct sl_config *cfg = test_config();
    struct sl_embeddings_request r;
    struct sl_v1_problem p = { 0 };
    size_t len = strlen(c->body);

    cr_assert_eq(sl_embeddings_parse(c->body, len, cfg, &r, &p), 0, "%s: %s", c->body, p.message);
    cr_assert_str_eq(r.model, "text-embedding-3-small");
    cr_assert_eq(r.reservation, len + OVERHEAD * c->items, "%s: %llu", c->body,
                 (unsigned long long)r.reservation);
    sl_config_free(cfg);
}

struct bad_case {
    char body[300];
    int status;
    char param[16];
    char code[32];
};

ParameterizedTestParameters(embeddings_parse, refused)
{
    static struct bad_case cases[] = {
        { "", 400, "", "invalid_json" },
        { "[]", 400, "", "invalid_json" },
        { "{" MODEL ",\"input\":\"a\"", 400, "", "invalid_json" },
        { "{" MODEL "," MODEL ",\"input\":\"a\"}", 400, "", "invalid_json" },
        { "{" MODEL ",\"input\":\"a\",\"input\":\"b\"}", 400, "", "invalid_json" },
        { "{\"input\":\"a\"}", 400, "model", "missing_model" },
        { "{\"model\":[],\"input\":\"a\"}", 400, "model", "missing_model" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"a\"}", 404, "model", "model_not_found" },
        { "{\"model\":\"gpt-4.1\"}", 404, "model", "model_not_found" },
        { "{" MODEL "}", 400, "input", "missing_required_parameter" },
        { "{" MODEL ",\"input\":null}", 400, "input", "missing_required_parameter" },
        { "{" MODEL ",\"input\":5}", 400, "input", "invalid_type" },
        { "{" MODEL ",\"input\":{\"text\":\"a\"}}", 400, "input", "invalid_type" },
        { "{" MODEL ",\"input\":true}", 400, "input", "invalid_type" },
        { "{" MODEL ",\"input\":\"\"}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[\"a\",\"\"]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[\"a\",1]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[1,\"a\"]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[1,[2]]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[[2],1]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[[2],[\"a\"]]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[[2],[]]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[[2],[[3]]]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[1,-1]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[1,2.0]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[null]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[true]}", 400, "input", "invalid_value" },
        { "{" MODEL ",\"input\":[{}]}", 400, "input", "invalid_value" },
    };
    return cr_make_param_array(struct bad_case, cases, NCASES(cases));
}

ParameterizedTest(struct bad_case *c, embeddings_parse, refused)
{
    struct sl_config *cfg = test_config();
    struct sl_embeddings_request r;
    struct sl_v1_problem p = { 0 };

    memset(&r, 0x5a, sizeof(r));
    cr_assert_eq(sl_embeddings_parse(c->body, strlen(c->body), cfg, &r, &p), -EINVAL, "%s",
                 c->body);
    cr_assert_eq(p.status, c->status, "%s: %d", c->body, p.status);
    if (c->param[0])
        cr_assert(p.param && strcmp(p.param, c->param) == 0, "%s", c->body);
    else
        cr_assert_null(p.param, "%s", c->body);
    cr_assert_str_eq(p.code, c->code, "%s", c->body);
    cr_assert_neq(p.message[0], '\0');
    cr_assert_eq(r.reservation, 0x5a5a5a5a5a5a5a5aull, "out is written on success only");
    sl_config_free(cfg);
}

/* "[" item "," item ... "]" with n items. */
static char *array_body(const char *item, size_t n, size_t *len)
{
    static const char head[] = "{" MODEL ",\"input\":[";
    size_t il = strlen(item), o = sizeof(head) - 1, i;
    char *b = malloc(sizeof(head) + n * (il + 1) + 2);

    cr_assert_not_null(b);
    memcpy(b, head, o);
    for (i = 0; i < n; i++) {
        memcpy(b + o, item, il);
        o += il;
        b[o++] = i + 1 < n ? ',' : ']';
    }
    b[o++] = '}';
    *len = o;
    return b;
}

struct bound_case {
    char item[16];
    size_t n;
    int rc;
    uint64_t items; /* when accepted */
};

ParameterizedTestParameters(embeddings_parse, items_bound)
{
    static struct bound_case cases[] = {
        { "\"a\"", SL_EMBEDDINGS_INPUTS_MAX, 0, SL_EMBEDDINGS_INPUTS_MAX },
        { "\"a\"", SL_EMBEDDINGS_INPUTS_MAX + 1, -EINVAL },
        { "[7]", SL_EMBEDDINGS_INPUTS_MAX, 0, SL_EMBEDDINGS_INPUTS_MAX },
        { "[7]", SL_EMBEDDINGS_INPUTS_MAX + 1, -EINVAL },
        { "7", SL_EMBEDDINGS_INPUTS_MAX, 0, 1 },
        { "7", SL_EMBEDDINGS_INPUTS_MAX + 1, -EINVAL },
    };
    return cr_make_param_array(struct bound_case, cases, NCASES(cases));
}

ParameterizedTest(struct bound_case *c, embeddings_parse, items_bound)
{
    struct sl_config *cfg = test_config();
    struct sl_embeddings_request r;
    struct sl_v1_problem p = { 0 };
    size_t len;
    char *body = array_body(c->item, c->n, &len);

    cr_assert_eq(sl_embeddings_parse(body, len, cfg, &r, &p), c->rc, "%s x %zu", c->item, c->n);
    if (c->rc == 0) {
        cr_assert_eq(r.reservation, len + OVERHEAD * c->items);
    } else {
        cr_assert_str_eq(p.code, "array_above_max_length");
        cr_assert_str_eq(p.param, "input");
    }
    free(body);
    sl_config_free(cfg);
}

struct answer_case {
    char body[400];
    int rc;
    bool present;
    int64_t prompt, total;
};

ParameterizedTestParameters(embeddings_answer, read)
{
    static struct answer_case cases[] = {
        { "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":["
          "-0.006929283495992422,-0.005336422007530928,-4.547132266452536e-05]}],"
          "\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":5,"
          "\"total_tokens\":5}}",
          0, true, 5, 5 },
        { "{\"usage\":{\"prompt_tokens\":8}}", 0, true, 8, 8 },
        { "{\"usage\":{\"prompt_tokens\":8,\"total_tokens\":3}}", 0, true, 8, 8 },
        { "{\"usage\":{\"prompt_tokens\":8,\"total_tokens\":12}}", 0, true, 8, 12 },
        { "{\"usage\":{\"prompt_tokens\":8,\"total_tokens\":\"12\"}}", 0, true, 8, 8 },
        { "{\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}", 0, true, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":-1,\"total_tokens\":5}}", 0, false, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":1.0}}", 0, false, 0, 0 },
        { "{\"usage\":{\"prompt_tokens\":\"5\"}}", 0, false, 0, 0 },
        { "{\"usage\":{\"total_tokens\":5}}", 0, false, 0, 0 },
        { "{\"usage\":{\"input_tokens\":5}}", 0, false, 0, 0 },
        { "{\"usage\":null}", 0, false, 0, 0 },
        { "{\"usage\":5}", 0, false, 0, 0 },
        { "{}", 0, false, 0, 0 },
        { "", -EINVAL },
        { "[]", -EINVAL },
        { "<html></html>", -EINVAL },
        { "{\"usage\":{\"prompt_tokens\":5}", -EINVAL },
        { "{\"usage\":{\"prompt_tokens\":5,\"prompt_tokens\":1}}", -EINVAL },
    };
    return cr_make_param_array(struct answer_case, cases, NCASES(cases));
}

ParameterizedTest(struct answer_case *c, embeddings_answer, read)
{
    struct sl_usage u;

    memset(&u, 0x5a, sizeof(u));
    cr_assert_eq(sl_embeddings_answer_read(c->body, strlen(c->body), &u), c->rc, "%s", c->body);
    cr_assert_eq(u.present, c->present, "%s", c->body);
    cr_assert_eq(u.prompt_tokens, c->prompt, "%s", c->body);
    cr_assert_eq(u.completion_tokens, 0, "%s", c->body);
    cr_assert_eq(u.total_tokens, c->total, "%s", c->body);
}

/* jansson 2.14 accepts a raw NUL byte right after a number; the body goes upstream as it
 * came, so it must not. */
Test(embeddings_parse, raw_nul_after_a_number)
{
    static const char body[] = "{" MODEL ",\"input\":[1,2\0]}";
    static const char answer[] = "{\"usage\":{\"prompt_tokens\":5\0}}";
    struct sl_config *cfg = test_config();
    struct sl_embeddings_request r;
    struct sl_v1_problem p = { 0 };
    struct sl_usage u;

    cr_assert_eq(sl_embeddings_parse(body, sizeof(body) - 1, cfg, &r, &p), -EINVAL);
    cr_assert_str_eq(p.code, "invalid_json");
    cr_assert_eq(sl_embeddings_answer_read(answer, sizeof(answer) - 1, &u), -EINVAL);
    cr_assert_not(u.present);
    sl_config_free(cfg);
}
