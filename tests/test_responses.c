/* SPDX-License-Identifier: MIT */
/* Tests for responses.c: /v1/responses bodies (refusals, reservation, the exact upstream
 * bytes), Response objects, stream events and response ids. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/responses.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* Distinct values, so a reservation that mixes them up cannot come out right. */
#define OVERHEAD 7
#define IMAGE 300
#define CAP_41 1000
#define CAP_O3 200

#define ID "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10

/* Two models, built by hand: the [model.NAME] parsing is not what is under test. */
static struct sl_config *test_config(bool allow_background)
{
    struct sl_config *cfg = sl_config_new();

    cr_assert_not_null(cfg);
    free(cfg->models);
    cfg->models = calloc(2, sizeof(*cfg->models));
    cr_assert_not_null(cfg->models);
    snprintf(cfg->models[0].name, sizeof(cfg->models[0].name), "gpt-4.1");
    cfg->models[0].max_output_tokens = CAP_41;
    snprintf(cfg->models[1].name, sizeof(cfg->models[1].name), "o3-mini");
    cfg->models[1].max_output_tokens = CAP_O3;
    cfg->nmodels = 2;
    cfg->message_overhead_tokens = OVERHEAD;
    cfg->image_tokens = IMAGE;
    cfg->allow_background = allow_background;
    return cfg;
}

/* ---- accepted bodies ---- */

struct ok_case {
    char name[48];
    char body[600];
    char upstream[600]; /* "" = the client's bytes as they came */
    uint64_t items;     /* messages of the estimate */
    uint64_t images;
    uint64_t limit; /* max_output_tokens counted */
    bool stream, background, no_store;
    char previous[80];
};

ParameterizedTestParameters(responses_parse, accepted)
{
    static struct ok_case cases[] = {
        { "limit given", "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"max_output_tokens\":50}", "", 1,
          0, 50 },
        { "limit at the cap", "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"max_output_tokens\":1000}",
          "", 1, 0, CAP_41 },
        { "limit absent", "{\"model\":\"gpt-4.1\",\"input\":\"hi\"}",
          "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"max_output_tokens\":1000}", 1, 0, CAP_41 },
        { "the model's own cap", "{\"model\":\"o3-mini\",\"input\":\"hi\"}",
          "{\"model\":\"o3-mini\",\"input\":\"hi\",\"max_output_tokens\":200}", 1, 0, CAP_O3 },
        { "limit null", "{\"model\":\"gpt-4.1\",\"max_output_tokens\":null,\"input\":\"hi\"}",
          "{\"model\":\"gpt-4.1\",\"max_output_tokens\":1000,\"input\":\"hi\"}", 1, 0, CAP_41 },
        { "limit null, spaced",
          "{ \"max_output_tokens\" : null , \"model\":\"gpt-4.1\",\"input\":\"x\"}",
          "{ \"max_output_tokens\" : 1000 , \"model\":\"gpt-4.1\",\"input\":\"x\"}", 1, 0, CAP_41 },
        { "limit null, escaped key",
          "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"max\\u005foutput_tokens\":null}",
          "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"max\\u005foutput_tokens\":1000}", 1, 0,
          CAP_41 },
        { "whitespace before the last brace", "{\"model\":\"gpt-4.1\",\"input\":\"hi\" \n }\r\n",
          "{\"model\":\"gpt-4.1\",\"input\":\"hi\" \n ,\"max_output_tokens\":1000}\r\n", 1, 0,
          CAP_41 },
        { "whitespace first", " \t\n{\"model\":\"gpt-4.1\",\"input\":[]}",
          " \t\n{\"model\":\"gpt-4.1\",\"input\":[],\"max_output_tokens\":1000}", 0, 0, CAP_41 },
        { "nested limits do not count",
          "{\"model\":\"gpt-4.1\",\"input\":[{\"role\":\"user\",\"content\":\"hi\","
          "\"max_output_tokens\":null}],\"metadata\":{\"max_output_tokens\":\"7\"},"
          "\"text\":{\"format\":{\"max_output_tokens\":3}}}",
          "{\"model\":\"gpt-4.1\",\"input\":[{\"role\":\"user\",\"content\":\"hi\","
          "\"max_output_tokens\":null}],\"metadata\":{\"max_output_tokens\":\"7\"},"
          "\"text\":{\"format\":{\"max_output_tokens\":3}},\"max_output_tokens\":1000}",
          1, 0, CAP_41 },
        { "a key that only contains the name",
          "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"x_max_output_tokens\":null,"
          "\"max_output_tokens_x\":null}",
          "{\"model\":\"gpt-4.1\",\"input\":\"hi\",\"x_max_output_tokens\":null,"
          "\"max_output_tokens_x\":null,\"max_output_tokens\":1000}",
          1, 0, CAP_41 },
        { "unknown fields and number formats stay",
          "{\"model\":\"gpt-4.1\",\"temperature\":1.0E0,\"top_p\":0.50,\"x\":-0.0,"
          "\"input\":\"\\u00e9\\ud83d\\ude00\\u0000\",\"include\":[\"a\"],\"tools\":[{}]}",
          "{\"model\":\"gpt-4.1\",\"temperature\":1.0E0,\"top_p\":0.50,\"x\":-0.0,"
          "\"input\":\"\\u00e9\\ud83d\\ude00\\u0000\",\"include\":[\"a\"],\"tools\":[{}],"
          "\"max_output_tokens\":1000}",
          1, 0, CAP_41 },
        { "image and file parts",
          "{\"model\":\"gpt-4.1\",\"max_output_tokens\":10,\"input\":["
          "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},"
          "{\"type\":\"input_image\",\"image_url\":\"data:\"},"
          "{\"type\":\"input_file\",\"file_id\":\"file-1\"}]},"
          "{\"type\":\"input_image\",\"file_id\":\"file-2\"},"
          "{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":["
          "{\"type\":\"input_image\",\"image_url\":\"u\"}]},"
          "{\"role\":\"assistant\",\"content\":\"input_image\"},"
          "{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"t\"}]}]}",
          "", 5, 4, 10 },
        { "instructions count as a message",
          "{\"model\":\"gpt-4.1\",\"instructions\":\"Be brief.\",\"input\":[{\"role\":\"user\","
          "\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}],\"max_output_tokens\":9}",
          "", 3, 0, 9 },
        { "empty instructions do not",
          "{\"model\":\"gpt-4.1\",\"instructions\":\"\",\"input\":\"a\",\"max_output_tokens\":9}",
          "", 1, 0, 9 },
        { "null instructions do not",
          "{\"model\":\"gpt-4.1\",\"instructions\":null,\"input\":\"a\",\"max_output_tokens\":9}",
          "", 1, 0, 9 },
        { "flags",
          "{\"model\":\"gpt-4.1\",\"input\":\"a\",\"stream\":true,\"store\":false,"
          "\"background\":false,\"max_output_tokens\":9}",
          "", 1, 0, 9, true, false, true },
        { "null flags",
          "{\"model\":\"gpt-4.1\",\"input\":\"a\",\"stream\":null,\"store\":null,"
          "\"background\":null,\"max_output_tokens\":9}",
          "", 1, 0, 9 },
        { "stored, not streamed",
          "{\"model\":\"gpt-4.1\",\"input\":\"a\",\"stream\":false,"
          "\"store\":true,\"max_output_tokens\":9}",
          "", 1, 0, 9 },
        { "previous response",
          "{\"model\":\"gpt-4.1\",\"input\":\"a\",\"previous_response_id\":\"" ID "\","
          "\"max_output_tokens\":9}",
          "", 1, 0, 9, false, false, false, ID },
        { "previous response null",
          "{\"model\":\"gpt-4.1\",\"input\":\"a\",\"previous_response_id\":null,"
          "\"max_output_tokens\":9}",
          "", 1, 0, 9 },
    };
    return cr_make_param_array(struct ok_case, cases, NCASES(cases));
}

ParameterizedTest(struct ok_case *c, responses_parse, accepted)
{
    struct sl_config *cfg = test_config(false);
    const char *want = c->upstream[0] ? c->upstream : c->body;
    size_t len = strlen(c->body);
    struct sl_responses_request r;
    struct sl_v1_problem p = { 0 };

    cr_assert_eq(sl_responses_parse(c->body, len, cfg, &r, &p), 0, "%s: %s", c->name, p.message);
    cr_assert_eq(r.body_len, strlen(want), "%s: %s", c->name, r.body);
    cr_assert_eq(memcmp(r.body, want, r.body_len), 0, "%s: %s", c->name, r.body);
    cr_assert_eq(r.body[r.body_len], '\0');
    cr_assert_eq(r.reservation, len + OVERHEAD * c->items + IMAGE * c->images + c->limit,
                 "%s: reserved %llu", c->name, (unsigned long long)r.reservation);
    cr_assert_eq(r.stream, c->stream, "%s", c->name);
    cr_assert_eq(r.background, c->background, "%s", c->name);
    cr_assert_eq(r.no_store, c->no_store, "%s", c->name);
    cr_assert_str_eq(r.previous_response_id, c->previous, "%s", c->name);
    cr_assert_str_eq(r.model, strstr(c->body, "o3-mini") ? "o3-mini" : "gpt-4.1");
    sl_responses_request_done(&r);
    cr_assert_null(r.body);
    sl_config_free(cfg);
}

Test(responses_parse, background_when_allowed)
{
    static const char body[] = "{\"model\":\"gpt-4.1\",\"input\":\"a\",\"background\":true}";
    struct sl_config *cfg = test_config(true);
    struct sl_responses_request r;
    struct sl_v1_problem p = { 0 };

    cr_assert_eq(sl_responses_parse(body, strlen(body), cfg, &r, &p), 0, "%s", p.message);
    cr_assert(r.background);
    cr_assert_eq(r.reservation, strlen(body) + OVERHEAD + CAP_41);
    sl_responses_request_done(&r);
    sl_config_free(cfg);
}

/* The limit is filled in even when the body is not NUL-terminated where it ends. */
Test(responses_parse, reads_only_len_bytes)
{
    static const char body[] = "{\"model\":\"gpt-4.1\",\"input\":\"a\"}GARBAGE";
    static const char want[] = "{\"model\":\"gpt-4.1\",\"input\":\"a\",\"max_output_tokens\":1000}";
    struct sl_config *cfg = test_config(false);
    struct sl_responses_request r;
    struct sl_v1_problem p = { 0 };

    cr_assert_eq(sl_responses_parse(body, strlen(body) - 7, cfg, &r, &p), 0, "%s", p.message);
    cr_assert_str_eq(r.body, want);
    sl_responses_request_done(&r);
    sl_config_free(cfg);
}

/* ---- refusals ---- */

struct bad_case {
    char body[400];
    int status;
    char param[32]; /* "" for none */
    char code[32];
    char in_message[48]; /* a part of the message, "" for no check */
};

ParameterizedTestParameters(responses_parse, refused)
{
    static struct bad_case cases[] = {
        { "", 400, "", "invalid_json" },
        { "   ", 400, "", "invalid_json" },
        { "[]", 400, "", "invalid_json" },
        { "\"hi\"", 400, "", "invalid_json" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\"", 400, "", "invalid_json" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\"} x", 400, "", "invalid_json" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\"}{}", 400, "", "invalid_json" },
        { "{\"model\":\"gpt-4.1\",\"model\":\"gpt-4.1\",\"input\":\"x\"}", 400, "",
          "invalid_json" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max\\u005foutput_tokens\":1,"
          "\"max_output_tokens\":null}",
          400, "", "invalid_json" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"\xff\"}", 400, "", "invalid_json" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":99999999999999999999}", 400,
          "", "invalid_json" },
        { "{}", 400, "model", "missing_model" },
        { "{\"input\":\"x\"}", 400, "model", "missing_model" },
        { "{\"model\":null,\"input\":\"x\"}", 400, "model", "missing_model" },
        { "{\"model\":5,\"input\":\"x\"}", 400, "model", "missing_model" },
        { "{\"model\":\"gpt-4.1\\u0000\",\"input\":\"x\"}", 400, "model", "missing_model" },
        { "{\"model\":\"" X100 X10 X10 X10 "\",\"input\":\"x\"}", 400, "model", "missing_model" },
        { "{\"model\":\"gpt-4o\",\"input\":\"x\"}", 404, "model", "model_not_found", "`gpt-4o`" },
        { "{\"model\":\"\",\"input\":\"x\"}", 404, "model", "model_not_found" },
        { "{\"model\":\"GPT-4.1\",\"input\":\"x\"}", 404, "model", "model_not_found" },
        /* The model is checked first, whatever else is wrong. */
        { "{\"model\":\"gpt-4o\",\"stream\":1}", 404, "model", "model_not_found" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"stream\":\"true\"}", 400, "stream",
          "invalid_type", "a string" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"stream\":1}", 400, "stream", "invalid_type",
          "an integer" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"store\":0.0}", 400, "store", "invalid_type",
          "a decimal" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"store\":[]}", 400, "store", "invalid_type" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"background\":{}}", 400, "background",
          "invalid_type" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"background\":true}", 400, "background",
          "unsupported_parameter", "not enabled" },
        { "{\"model\":\"gpt-4.1\"}", 400, "input", "missing_required_parameter" },
        { "{\"model\":\"gpt-4.1\",\"input\":null}", 400, "input", "missing_required_parameter" },
        { "{\"model\":\"gpt-4.1\",\"input\":5}", 400, "input", "invalid_type" },
        { "{\"model\":\"gpt-4.1\",\"input\":{\"role\":\"user\"}}", 400, "input", "invalid_type" },
        { "{\"model\":\"gpt-4.1\",\"input\":true}", 400, "input", "invalid_type" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"instructions\":5}", 400, "instructions",
          "invalid_type" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"instructions\":[\"a\"]}", 400, "instructions",
          "invalid_type" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":0}", 400,
          "max_output_tokens", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":-5}", 400,
          "max_output_tokens", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":10.0}", 400,
          "max_output_tokens", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":1e2}", 400,
          "max_output_tokens", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":\"10\"}", 400,
          "max_output_tokens", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":true}", 400,
          "max_output_tokens", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":1001}", 400,
          "max_output_tokens", "max_output_tokens_too_large", "at most 1000" },
        { "{\"model\":\"o3-mini\",\"input\":\"x\",\"max_output_tokens\":201}", 400,
          "max_output_tokens", "max_output_tokens_too_large", "at most 200" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"max_output_tokens\":9223372036854775807}", 400,
          "max_output_tokens", "max_output_tokens_too_large", "at most 1000" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"previous_response_id\":\"abc\"}", 400,
          "previous_response_id", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"previous_response_id\":\"resp_\"}", 400,
          "previous_response_id", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"previous_response_id\":\"resp_a b\"}", 400,
          "previous_response_id", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"previous_response_id\":\"resp_a\\u0000\"}", 400,
          "previous_response_id", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"previous_response_id\":\"resp_" X10 X10 X10 X10
              X10 X10 X10 X10 X10 "xx\"}",
          400, "previous_response_id", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"previous_response_id\":5}", 400,
          "previous_response_id", "invalid_value" },
        { "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"previous_response_id\":\"msg_abc\"}", 400,
          "previous_response_id", "invalid_value" },
    };
    return cr_make_param_array(struct bad_case, cases, NCASES(cases));
}

ParameterizedTest(struct bad_case *c, responses_parse, refused)
{
    struct sl_config *cfg = test_config(false);
    struct sl_responses_request r;
    struct sl_v1_problem p = { 0 };

    memset(&r, 0x5a, sizeof(r));
    cr_assert_eq(sl_responses_parse(c->body, strlen(c->body), cfg, &r, &p), -EINVAL, "%s", c->body);
    cr_assert_eq(p.status, c->status, "%s: %d", c->body, p.status);
    if (c->param[0])
        cr_assert(p.param && strcmp(p.param, c->param) == 0, "%s: %s", c->body,
                  p.param ? p.param : "(null)");
    else
        cr_assert_null(p.param, "%s", c->body);
    cr_assert_str_eq(p.code, c->code, "%s", c->body);
    cr_assert_neq(p.message[0], '\0');
    cr_assert_not_null(strstr(p.message, c->in_message), "%s: %s", c->body, p.message);
    cr_assert_eq(r.reservation, 0x5a5a5a5a5a5a5a5aull, "out is written on success only");
    sl_config_free(cfg);
}

/* A body of n input items: "[0,0,...]" (the items themselves are opaque). */
static char *items_body(size_t n, size_t *len)
{
    static const char head[] = "{\"model\":\"gpt-4.1\",\"max_output_tokens\":1,\"input\":[";
    char *b = malloc(sizeof(head) + 2 * n + 2);
    size_t o = sizeof(head) - 1, i;

    cr_assert_not_null(b);
    memcpy(b, head, o);
    for (i = 0; i < n; i++) {
        b[o++] = '0';
        b[o++] = i + 1 < n ? ',' : ']';
    }
    b[o++] = '}';
    *len = o;
    return b;
}

Test(responses_parse, input_items_bound)
{
    struct sl_config *cfg = test_config(false);
    struct sl_responses_request r;
    struct sl_v1_problem p = { 0 };
    size_t len;
    char *body = items_body(SL_RESPONSES_INPUT_ITEMS_MAX, &len);

    cr_assert_eq(sl_responses_parse(body, len, cfg, &r, &p), 0, "%s", p.message);
    cr_assert_eq(r.reservation, len + (uint64_t)OVERHEAD * SL_RESPONSES_INPUT_ITEMS_MAX + 1);
    sl_responses_request_done(&r);
    free(body);
    body = items_body(SL_RESPONSES_INPUT_ITEMS_MAX + 1, &len);
    cr_assert_eq(sl_responses_parse(body, len, cfg, &r, &p), -EINVAL);
    cr_assert_str_eq(p.param, "input");
    cr_assert_str_eq(p.code, "array_above_max_length");
    free(body);
    sl_config_free(cfg);
}

/* ---- response ids ---- */

struct id_case {
    char id[120];
    bool valid;
};

ParameterizedTestParameters(responses_id, valid)
{
    static struct id_case cases[] = {
        { ID, true },
        { "resp_a", true },
        { "resp_A-z_9", true },
        { "resp_" X10 X10 X10 X10 X10 X10 X10 X10 X10 "x", true },   /* 96 bytes */
        { "resp_" X10 X10 X10 X10 X10 X10 X10 X10 X10 "xx", false }, /* 97 */
        { "resp_", false },
        { "resp", false },
        { "", false },
        { "Resp_abc", false },
        { "msg_abc", false },
        { "resp_a.b", false },
        { "resp_a/b", false },
        { "resp_a b", false },
        { "resp_\xc3\xa9", false },
        { " resp_a", false },
        { "resp_a\n", false },
    };
    return cr_make_param_array(struct id_case, cases, NCASES(cases));
}

ParameterizedTest(struct id_case *c, responses_id, valid)
{
    cr_assert_eq(sl_response_id_valid(c->id, strlen(c->id)), c->valid, "%s", c->id);
}

Test(responses_id, length_is_what_counts)
{
    cr_assert(sl_response_id_valid("resp_abc", 6));
    cr_assert_not(sl_response_id_valid("resp_a\0b", 8));
    cr_assert_not(sl_response_id_valid(NULL, 0));
}

/* ---- Response objects ---- */

struct answer_case {
    char body[700];
    int rc;
    char id[100];
    bool present;
    int64_t prompt, completion, total;
};

#define USAGE_FULL                                                                                 \
    "\"usage\":{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":12},"              \
    "\"output_tokens\":87,\"output_tokens_details\":{\"reasoning_tokens\":40},"                    \
    "\"total_tokens\":123}"

ParameterizedTestParameters(responses_answer, read)
{
    static struct answer_case cases[] = {
        { "{\"id\":\"" ID "\",\"object\":\"response\",\"created_at\":1741476542,"
          "\"status\":\"completed\",\"error\":null,\"model\":\"gpt-4.1-2025-04-14\","
          "\"output\":[{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\","
          "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\","
          "\"annotations\":[]}]}],\"parallel_tool_calls\":true,\"store\":true," USAGE_FULL
          ",\"user\":null,\"metadata\":{}}",
          0, ID, true, 36, 87, 123 },
        { "{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":10,\"output_tokens\":5,"
          "\"total_tokens\":3}}",
          0, "resp_1", true, 10, 5, 15 },
        { "{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":10,\"output_tokens\":5,"
          "\"total_tokens\":40}}",
          0, "resp_1", true, 10, 5, 40 },
        { "{\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}", 0, "", true, 10, 5, 15 },
        { "{\"usage\":{\"input_tokens\":10,\"output_tokens\":5,\"total_tokens\":-1}}", 0, "", true,
          10, 5, 15 },
        { "{\"usage\":{\"input_tokens\":10,\"output_tokens\":5,\"total_tokens\":\"99\"}}", 0, "",
          true, 10, 5, 15 },
        { "{\"usage\":{\"input_tokens\":0,\"output_tokens\":0,\"total_tokens\":0}}", 0, "", true, 0,
          0, 0 },
        /* The chat API's names are not the Responses API's. */
        { "{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}", 0, "",
          false },
        { "{\"usage\":{\"input_tokens\":10}}", 0, "", false },
        { "{\"usage\":{\"output_tokens\":10}}", 0, "", false },
        { "{\"usage\":{\"input_tokens\":-1,\"output_tokens\":5}}", 0, "", false },
        { "{\"usage\":{\"input_tokens\":1,\"output_tokens\":-5}}", 0, "", false },
        { "{\"usage\":{\"input_tokens\":1.0,\"output_tokens\":5}}", 0, "", false },
        { "{\"usage\":{\"input_tokens\":\"1\",\"output_tokens\":5}}", 0, "", false },
        { "{\"usage\":{\"input_tokens\":9223372036854775807,\"output_tokens\":1}}", 0, "", false },
        { "{\"usage\":{\"input_tokens\":9223372036854775806,\"output_tokens\":1}}", 0, "", true,
          INT64_MAX - 1, 1, INT64_MAX },
        { "{\"id\":\"resp_1\",\"usage\":null}", 0, "resp_1", false },
        { "{\"id\":\"resp_1\"}", 0, "resp_1", false },
        { "{\"usage\":[36,87]}", 0, "", false },
        { "{\"id\":\"chatcmpl-1\"}", 0, "", false },
        { "{\"id\":\"resp_\"}", 0, "", false },
        { "{\"id\":\"resp_a b\"}", 0, "", false },
        { "{\"id\":5}", 0, "", false },
        { "{\"id\":null}", 0, "", false },
        { "{\"id\":\"resp_" X10 X10 X10 X10 X10 X10 X10 X10 X10 "xx\"}", 0, "", false },
        { "{}", 0, "", false },
        { "", -EINVAL },
        { "[]", -EINVAL },
        { "null", -EINVAL },
        { "<html>Bad gateway</html>", -EINVAL },
        { "{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}", -EINVAL },
        { "{\"id\":\"resp_1\",\"id\":\"resp_2\"}", -EINVAL },
    };
    return cr_make_param_array(struct answer_case, cases, NCASES(cases));
}

ParameterizedTest(struct answer_case *c, responses_answer, read)
{
    struct sl_responses_answer a;

    memset(&a, 0x5a, sizeof(a));
    cr_assert_eq(sl_responses_answer_read(c->body, strlen(c->body), &a), c->rc, "%s", c->body);
    cr_assert_str_eq(a.id, c->id, "%s", c->body);
    cr_assert_eq(a.usage.present, c->present, "%s", c->body);
    cr_assert_eq(a.usage.prompt_tokens, c->prompt, "%s", c->body);
    cr_assert_eq(a.usage.completion_tokens, c->completion, "%s", c->body);
    cr_assert_eq(a.usage.total_tokens, c->total, "%s", c->body);
}

/* ---- stream events ---- */

struct event_case {
    char name[40];
    char data[1400];
    enum sl_responses_event_kind kind;
    int64_t seq;
    char id[100];
    bool present;
    int64_t prompt, completion, total;
};

#define RESPONSE_HEAD(status)                                                                      \
    "{\"id\":\"" ID "\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"" status    \
    "\",\"error\":null,\"incomplete_details\":null,\"instructions\":\"You are a helpful "          \
    "assistant.\",\"max_output_tokens\":null,\"model\":\"gpt-4.1-2025-04-14\","                    \
    "\"parallel_tool_calls\":true,\"previous_response_id\":null,\"reasoning\":{\"effort\":null,"   \
    "\"summary\":null},\"store\":true,\"temperature\":1.0,\"text\":{\"format\":{\"type\":"         \
    "\"text\"}},\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\","  \
    "\"user\":null,\"metadata\":{}"
#define OUTPUT_DONE                                                                                \
    "\"output\":[{\"id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type\":"       \
    "\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"          \
    "\"output_text\",\"text\":\"Hi there!\",\"annotations\":[]}]}]"

#define CREATED RESPONSE_HEAD("in_progress") ",\"output\":[],\"usage\":null}"

ParameterizedTestParameters(responses_event, read)
{
    static struct event_case cases[] = {
        { "response.created",
          "{\"type\":\"response.created\",\"response\":" CREATED ",\"sequence_number\":0}",
          SL_RESPONSES_EVENT_CREATED, 0, ID, false },
        { "response.in_progress",
          "{\"type\":\"response.in_progress\",\"response\":" CREATED ",\"sequence_number\":1}",
          SL_RESPONSES_EVENT_OTHER, 1, "", false },
        { "response.output_item.added",
          "{\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"msg_1\","
          "\"status\":\"in_progress\",\"type\":\"message\",\"role\":\"assistant\","
          "\"content\":[]},\"sequence_number\":2}",
          SL_RESPONSES_EVENT_OTHER, 2, "", false },
        { "response.output_text.delta",
          "{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,"
          "\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":[],\"sequence_number\":4}",
          SL_RESPONSES_EVENT_OTHER, 4, "", false },
        { "response.completed",
          "{\"type\":\"response.completed\",\"response\":" RESPONSE_HEAD(
              "completed") "," OUTPUT_DONE "," USAGE_FULL "},\"sequence_number\":9}",
          SL_RESPONSES_EVENT_TERMINAL, 9, ID, true, 36, 87, 123 },
        { "response.incomplete",
          "{\"type\":\"response.incomplete\",\"response\":{\"id\":\"" ID "\",\"object\":"
          "\"response\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
          "\"max_output_tokens\"},\"output\":[],\"usage\":{\"input_tokens\":5,"
          "\"output_tokens\":16,\"total_tokens\":21}},\"sequence_number\":7}",
          SL_RESPONSES_EVENT_TERMINAL, 7, ID, true, 5, 16, 21 },
        { "response.failed",
          "{\"type\":\"response.failed\",\"response\":{\"id\":\"" ID "\",\"object\":\"response\","
          "\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"The model "
          "failed to generate a response.\"},\"output\":[],\"usage\":null},"
          "\"sequence_number\":3}",
          SL_RESPONSES_EVENT_TERMINAL, 3, ID, false },
        { "response.failed",
          "{\"type\":\"response.failed\",\"response\":{\"id\":\"" ID "\",\"status\":\"failed\","
          "\"error\":{\"code\":\"server_error\",\"message\":\"m\"},\"usage\":{\"input_tokens\":"
          "50,\"output_tokens\":2,\"total_tokens\":52}},\"sequence_number\":3}",
          SL_RESPONSES_EVENT_TERMINAL, 3, ID, true, 50, 2, 52 },
        { "response.failed", "{\"type\":\"response.failed\",\"sequence_number\":3}",
          SL_RESPONSES_EVENT_TERMINAL, 3, "", false },
        { "response.completed", "{\"type\":\"response.completed\",\"response\":\"done\"}",
          SL_RESPONSES_EVENT_TERMINAL, -1, "", false },
        { "error",
          "{\"type\":\"error\",\"code\":\"ERR_SOMETHING\",\"message\":\"Something went wrong\","
          "\"param\":null,\"sequence_number\":1}",
          SL_RESPONSES_EVENT_ERROR, 1, "", false },
        /* The data's type wins over the name, both ways. */
        { "response.completed",
          "{\"type\":\"response.output_text.delta\",\"delta\":\"x\",\"sequence_number\":5}",
          SL_RESPONSES_EVENT_OTHER, 5, "", false },
        { "response.output_text.delta",
          "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"usage\":{"
          "\"input_tokens\":1,\"output_tokens\":2}}}",
          SL_RESPONSES_EVENT_TERMINAL, -1, "resp_1", true, 1, 2, 3 },
        { "", "{\"type\":\"error\",\"message\":\"m\"}", SL_RESPONSES_EVENT_ERROR, -1, "", false },
        { "", "{\"type\":\"response.\\u0063ompleted\",\"response\":{\"id\":\"resp_1\"}}",
          SL_RESPONSES_EVENT_TERMINAL, -1, "resp_1", false },
        { "", "{\"type\":\"response.completed\\u0000\"}", SL_RESPONSES_EVENT_OTHER, -1, "", false },
        { "", "{\"type\":\"\"}", SL_RESPONSES_EVENT_OTHER, -1, "", false },
        { "", "{\"type\":\"keepalive\"}", SL_RESPONSES_EVENT_OTHER, -1, "", false },
        /* No type: the name decides. */
        { "error", "{\"error\":{\"message\":\"m\",\"type\":\"server_error\"}}",
          SL_RESPONSES_EVENT_ERROR, -1, "", false },
        { "response.completed",
          "{\"response\":{\"id\":\"resp_9\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4,"
          "\"total_tokens\":7}},\"sequence_number\":12}",
          SL_RESPONSES_EVENT_TERMINAL, 12, "resp_9", true, 3, 4, 7 },
        { "response.created", "{\"response\":{\"id\":\"resp_9\"}}", SL_RESPONSES_EVENT_CREATED, -1,
          "resp_9", false },
        { "ping", "{}", SL_RESPONSES_EVENT_OTHER, -1, "", false },
        { "", "{\"error\":{\"message\":\"m\"}}", SL_RESPONSES_EVENT_ERROR, -1, "", false },
        { "", "{\"error\":\"m\"}", SL_RESPONSES_EVENT_ERROR, -1, "", false },
        { "", "{\"error\":null}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "", "{\"error\":false}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "", "{}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        /* A type that is not a string is garbage, whatever the name. */
        { "response.completed", "{\"type\":null,\"response\":{\"id\":\"resp_1\"}}",
          SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "error", "{\"type\":5}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "", "{\"type\":[\"error\"]}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        /* sequence_number: a non-negative integer, else unknown. */
        { "", "{\"type\":\"a\",\"sequence_number\":-3}", SL_RESPONSES_EVENT_OTHER, -1, "", false },
        { "", "{\"type\":\"a\",\"sequence_number\":1.5}", SL_RESPONSES_EVENT_OTHER, -1, "", false },
        { "", "{\"type\":\"a\",\"sequence_number\":\"4\"}", SL_RESPONSES_EVENT_OTHER, -1, "",
          false },
        { "", "{\"type\":\"a\",\"sequence_number\":9223372036854775807}", SL_RESPONSES_EVENT_OTHER,
          INT64_MAX, "", false },
        { "", "{\"type\":\"a\",\"sequence_number\":123456789012345678}", SL_RESPONSES_EVENT_OTHER,
          123456789012345678, "", false },
        /* Garbage. */
        { "response.completed", "", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "", "[DONE]", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "response.completed", "not json", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "error", "[{\"type\":\"error\"}]", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "error", "\"error\"", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "", "{\"type\":\"response.completed\",\"response\":{", SL_RESPONSES_EVENT_INVALID, -1, "",
          false },
        { "", "{\"type\":\"a\",\"type\":\"b\"}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "", "{\"type\":\"response.completed\"} {}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
        { "", "{\"type\":\"a\xff\"}", SL_RESPONSES_EVENT_INVALID, -1, "", false },
    };
    return cr_make_param_array(struct event_case, cases, NCASES(cases));
}

static void assert_event(const struct sl_responses_event *ev, const struct event_case *c,
                         const char *how)
{
    cr_assert_eq(ev->kind, c->kind, "%s %s: %s: kind %d", how, c->name, c->data, ev->kind);
    cr_assert_eq(ev->sequence_number, c->seq, "%s %s: %s: seq %lld", how, c->name, c->data,
                 (long long)ev->sequence_number);
    cr_assert_str_eq(ev->response.id, c->id, "%s %s: %s", how, c->name, c->data);
    cr_assert_eq(ev->response.usage.present, c->present, "%s %s: %s", how, c->name, c->data);
    cr_assert_eq(ev->response.usage.prompt_tokens, c->prompt, "%s: %s", how, c->data);
    cr_assert_eq(ev->response.usage.completion_tokens, c->completion, "%s: %s", how, c->data);
    cr_assert_eq(ev->response.usage.total_tokens, c->total, "%s: %s", how, c->data);
}

ParameterizedTest(struct event_case *c, responses_event, read)
{
    struct sl_responses_event ev;

    memset(&ev, 0x5a, sizeof(ev));
    cr_assert_eq(sl_responses_event_read(c->name, strlen(c->name), c->data, strlen(c->data), &ev),
                 0);
    assert_event(&ev, c, "read");
    memset(&ev, 0x5a, sizeof(ev));
    cr_assert_eq(
        sl_responses_event_read_tree(c->name, strlen(c->name), c->data, strlen(c->data), &ev), 0);
    assert_event(&ev, c, "tree");
}

Test(responses_event, name_and_data_may_be_null)
{
    struct sl_responses_event ev;

    cr_assert_eq(sl_responses_event_read(NULL, 0, "{\"error\":{}}", 12, &ev), 0);
    cr_assert_eq(ev.kind, SL_RESPONSES_EVENT_ERROR);
    cr_assert_eq(sl_responses_event_read(NULL, 0, NULL, 0, &ev), 0);
    cr_assert_eq(ev.kind, SL_RESPONSES_EVENT_INVALID);
    cr_assert_eq(ev.sequence_number, -1);
}

/* The name is read for its length only: no NUL needed, nothing past it. */
Test(responses_event, name_is_bounded)
{
    static const char name[] = "response.completedXYZ";
    static const char data[] = "{\"response\":{\"id\":\"resp_1\"}}";
    struct sl_responses_event ev;

    cr_assert_eq(sl_responses_event_read(name, 18, data, strlen(data), &ev), 0);
    cr_assert_eq(ev.kind, SL_RESPONSES_EVENT_TERMINAL);
    cr_assert_eq(sl_responses_event_read(name, 21, data, strlen(data), &ev), 0);
    cr_assert_eq(ev.kind, SL_RESPONSES_EVENT_OTHER);
}

/* Events far above the usual 16 KiB: a long delta, and a completed event that carries the
 * whole output before its usage. */
static char *big_event(const char *head, size_t n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);

    cr_assert_not_null(s);
    memcpy(s, head, hl);
    memset(s + hl, 'a', n);
    memcpy(s + hl + n, tail, tl + 1);
    *len = hl + n + tl;
    return s;
}

Test(responses_event, large_events)
{
    struct sl_responses_event ev;
    size_t len;
    char *s = big_event("{\"type\":\"response.output_text.delta\",\"delta\":\"", 1u << 20,
                        "\",\"sequence_number\":77}", &len);

    cr_assert_eq(sl_responses_event_read("", 0, s, len, &ev), 0);
    cr_assert_eq(ev.kind, SL_RESPONSES_EVENT_OTHER);
    cr_assert_eq(ev.sequence_number, 77);
    free(s);
    s = big_event("{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_big\",\"output\":"
                  "[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"",
                  1u << 20,
                  "\"}]}],\"usage\":{\"input_tokens\":9,\"output_tokens\":250000,"
                  "\"total_tokens\":250009}},\"sequence_number\":78}",
                  &len);
    cr_assert_eq(sl_responses_event_read("response.completed", 18, s, len, &ev), 0);
    cr_assert_eq(ev.kind, SL_RESPONSES_EVENT_TERMINAL);
    cr_assert_str_eq(ev.response.id, "resp_big");
    cr_assert(ev.response.usage.present);
    cr_assert_eq(ev.response.usage.total_tokens, 250009);
    free(s);
}

/* Found by fuzzing: jansson 2.14 accepts a raw NUL byte right after a number, and the body
 * would have gone upstream with it. */
Test(responses_parse, raw_nul_after_a_number)
{
    static const char body[] = "{\"model\":\"gpt-4.1\",\"input\":\"x\",\"top_p\":0.5\0 }";
    static const char answer[] = "{\"id\":\"resp_1\",\"n\":1\0}";
    static const char event[] = "{\"type\":\"a\",\"sequence_number\":1\0}";
    struct sl_config *cfg = test_config(false);
    struct sl_responses_request r;
    struct sl_responses_answer a;
    struct sl_responses_event ev;
    struct sl_v1_problem p = { 0 };

    cr_assert_eq(sl_responses_parse(body, sizeof(body) - 1, cfg, &r, &p), -EINVAL);
    cr_assert_str_eq(p.code, "invalid_json");
    cr_assert_eq(sl_responses_answer_read(answer, sizeof(answer) - 1, &a), -EINVAL);
    cr_assert_eq(sl_responses_event_read("", 0, event, sizeof(event) - 1, &ev), 0);
    cr_assert_eq(ev.kind, SL_RESPONSES_EVENT_INVALID);
    sl_config_free(cfg);
}
