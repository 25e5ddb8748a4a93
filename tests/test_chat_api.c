/* SPDX-License-Identifier: MIT */
/* Tests for chat_api.c: /api/chat validation, the upstream body, and upstream answers. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/chat_api.h"
#include "core/config.h"
#include "core/v1_body.h"

#ifndef SL_TEST_DATA_DIR
#define SL_TEST_DATA_DIR "tests/data"
#endif

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define EMOJI "\xF0\x9F\x98\x80" /* U+1F600, four bytes */

/* Bodies too big for a parameter row are built at run time. */
enum gen {
    GEN_NONE,
    GEN_ASCII_2000, /* user_message of 2000 'a' */
    GEN_ASCII_2001,
    GEN_EMOJI_2000, /* 2000 raw four-byte code points */
    GEN_EMOJI_2001,
    GEN_EMOJI_ESC_2000, /* 2000 as \ud83d\ude00 escapes */
    GEN_EMOJI_ESC_2001,
    GEN_PADDED_2000, /* 2000 code points inside 300 stripped spaces each side */
    GEN_SPACES_3000, /* only whitespace, more than the maximum */
    GEN_DEEP_ARRAY,  /* 100,000 '[' */
    GEN_DEEP_OBJECT, /* 100,000 '{"a":' */
    GEN_DEEP_FIELD,  /* a valid user_message, then an unknown field nested 100,000 deep */
    GEN_CID_128,
    GEN_CID_129,
};

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_n(struct buf *b, const char *s, size_t times)
{
    for (size_t i = 0; i < times; i++)
        put(b, s, strlen(s));
}

static void user_message_of(struct buf *b, const char *unit, size_t times, size_t pad)
{
    puts_n(b, "{\"user_message\":\"", 1);
    puts_n(b, " ", pad);
    puts_n(b, unit, times);
    puts_n(b, " ", pad);
    puts_n(b, "\"}", 1);
}

static struct buf generate(enum gen g, const char *body, long len)
{
    struct buf b = { 0 };

    switch (g) {
    case GEN_NONE: put(&b, body, len < 0 ? strlen(body) : (size_t)len); break;
    case GEN_ASCII_2000:
    case GEN_ASCII_2001: user_message_of(&b, "a", g == GEN_ASCII_2000 ? 2000 : 2001, 0); break;
    case GEN_EMOJI_2000:
    case GEN_EMOJI_2001: user_message_of(&b, EMOJI, g == GEN_EMOJI_2000 ? 2000 : 2001, 0); break;
    case GEN_EMOJI_ESC_2000:
    case GEN_EMOJI_ESC_2001:
        user_message_of(&b, "\\ud83d\\ude00", g == GEN_EMOJI_ESC_2000 ? 2000 : 2001, 0);
        break;
    case GEN_PADDED_2000: user_message_of(&b, "b", 2000, 300); break;
    case GEN_SPACES_3000: user_message_of(&b, "", 0, 1500); break;
    case GEN_DEEP_ARRAY: puts_n(&b, "[", 100000); break;
    case GEN_DEEP_OBJECT: puts_n(&b, "{\"a\":", 100000); break;
    case GEN_DEEP_FIELD:
        puts_n(&b, "{\"user_message\":\"hi\",\"x\":", 1);
        puts_n(&b, "[", 100000);
        puts_n(&b, "]", 100000);
        puts_n(&b, "}", 1);
        break;
    case GEN_CID_128:
    case GEN_CID_129:
        puts_n(&b, "{\"user_message\":\"hi\",\"conversation_id\":\"", 1);
        puts_n(&b, "\xC3\xA9", g == GEN_CID_128 ? 128 : 129);
        puts_n(&b, "\"}", 1);
        break;
    }
    return b;
}

static json_t *load_json(const char *s)
{
    json_error_t err;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);

    cr_assert_not_null(j, "not JSON (%s): %s", err.text, s);
    return j;
}

/* ---- 422 cases ---------------------------------------------------------------------- */

struct bad_case {
    char name[48];
    char body[112];
    long len; /* -1: strlen(body) */
    enum gen gen;
    char type[24];
    char field[16]; /* "" for the whole body */
    long ctx;       /* expected ctx length limit, 0 for none */
};

ParameterizedTestParameters(chat_parse, refused)
{
    static struct bad_case cases[] = {
        { "empty body", "", 0, GEN_NONE, "missing", "", 0 },
        { "whitespace body", "  \n", -1, GEN_NONE, "json_invalid", "", 0 },
        { "open brace", "{", -1, GEN_NONE, "json_invalid", "", 0 },
        { "trailing comma", "{\"user_message\":\"hi\",}", -1, GEN_NONE, "json_invalid", "", 0 },
        { "single quotes", "{'user_message':'hi'}", -1, GEN_NONE, "json_invalid", "", 0 },
        { "not json", "user_message=hi", -1, GEN_NONE, "json_invalid", "", 0 },
        { "trailing garbage", "{\"user_message\":\"hi\"} x", -1, GEN_NONE, "json_invalid", "", 0 },
        { "two objects", "{\"user_message\":\"a\"}{}", -1, GEN_NONE, "json_invalid", "", 0 },
        { "BOM only", "\xEF\xBB\xBF", -1, GEN_NONE, "json_invalid", "", 0 },
        { "array body", "[{\"user_message\":\"hi\"}]", -1, GEN_NONE, "model_attributes_type", "",
          0 },
        { "string body", "\"hi\"", -1, GEN_NONE, "model_attributes_type", "", 0 },
        { "number body", "42", -1, GEN_NONE, "model_attributes_type", "", 0 },
        { "null body", "null", -1, GEN_NONE, "model_attributes_type", "", 0 },
        { "empty object", "{}", -1, GEN_NONE, "missing", "user_message", 0 },
        { "only conversation_id", "{\"conversation_id\":\"c1\"}", -1, GEN_NONE, "missing",
          "user_message", 0 },
        { "key is case-sensitive", "{\"User_Message\":\"hi\"}", -1, GEN_NONE, "missing",
          "user_message", 0 },
        { "null", "{\"user_message\":null}", -1, GEN_NONE, "string_type", "user_message", 0 },
        { "integer", "{\"user_message\":42}", -1, GEN_NONE, "string_type", "user_message", 0 },
        { "real", "{\"user_message\":1.5}", -1, GEN_NONE, "string_type", "user_message", 0 },
        { "bool", "{\"user_message\":true}", -1, GEN_NONE, "string_type", "user_message", 0 },
        { "array", "{\"user_message\":[\"hi\"]}", -1, GEN_NONE, "string_type", "user_message", 0 },
        { "object", "{\"user_message\":{\"text\":\"hi\"}}", -1, GEN_NONE, "string_type",
          "user_message", 0 },
        { "empty string", "{\"user_message\":\"\"}", -1, GEN_NONE, "string_too_short",
          "user_message", 1 },
        { "whitespace only", "{\"user_message\":\" \\t\\n\\r \"}", -1, GEN_NONE, "string_too_short",
          "user_message", 1 },
        { "unicode spaces only", "{\"user_message\":\"\\u00a0\\u3000\\u2028\\u0085\"}", -1,
          GEN_NONE, "string_too_short", "user_message", 1 },
        { "raw NBSP only", "{\"user_message\":\"\xC2\xA0\xC2\xA0\"}", -1, GEN_NONE,
          "string_too_short", "user_message", 1 },
        { "3000 spaces", "", -1, GEN_SPACES_3000, "string_too_short", "user_message", 1 },
        { "2001 ascii", "", -1, GEN_ASCII_2001, "string_too_long", "user_message", 2000 },
        { "2001 four-byte", "", -1, GEN_EMOJI_2001, "string_too_long", "user_message", 2000 },
        { "2001 escaped pairs", "", -1, GEN_EMOJI_ESC_2001, "string_too_long", "user_message",
          2000 },
        { "invalid byte", "{\"user_message\":\"a\xFF\"}", -1, GEN_NONE, "json_invalid", "", 0 },
        { "overlong slash", "{\"user_message\":\"\xC0\xAF\"}", -1, GEN_NONE, "json_invalid", "",
          0 },
        { "raw surrogate", "{\"user_message\":\"\xED\xA0\x80\"}", -1, GEN_NONE, "json_invalid", "",
          0 },
        { "truncated sequence", "{\"user_message\":\"\xE2\x82\"}", -1, GEN_NONE, "json_invalid", "",
          0 },
        { "above U+10FFFF", "{\"user_message\":\"\xF4\x90\x80\x80\"}", -1, GEN_NONE, "json_invalid",
          "", 0 },
        { "invalid byte in key", "{\"user_message\":\"hi\",\"\xFF\":1}", -1, GEN_NONE,
          "json_invalid", "", 0 },
        { "lone high surrogate", "{\"user_message\":\"\\ud800\"}", -1, GEN_NONE, "json_invalid", "",
          0 },
        { "lone low surrogate", "{\"user_message\":\"\\udc00\"}", -1, GEN_NONE, "json_invalid", "",
          0 },
        { "high then not low", "{\"user_message\":\"\\ud83dA\"}", -1, GEN_NONE, "json_invalid", "",
          0 },
        { "NUL escape", "{\"user_message\":\"a\\u0000b\"}", -1, GEN_NONE, "value_error",
          "user_message", 0 },
        { "NUL escape only", "{\"user_message\":\"\\u0000\"}", -1, GEN_NONE, "value_error",
          "user_message", 0 },
        { "raw NUL in string", "{\"user_message\":\"a\0b\"}", 22, GEN_NONE, "json_invalid", "", 0 },
        { "raw NUL after body", "{\"user_message\":\"ab\"}\0", 22, GEN_NONE, "json_invalid", "",
          0 },
        { "raw NUL before body", "\0{\"user_message\":\"ab\"}", 22, GEN_NONE, "json_invalid", "",
          0 },
        { "NUL in a key", "{\"user_message\":\"hi\",\"a\\u0000\":1}", -1, GEN_NONE, "json_invalid",
          "", 0 },
        { "raw control char", "{\"user_message\":\"a\x01\"}", -1, GEN_NONE, "json_invalid", "", 0 },
        { "duplicate key", "{\"user_message\":\"a\",\"user_message\":\"b\"}", -1, GEN_NONE,
          "json_invalid", "", 0 },
        { "duplicate unknown key", "{\"user_message\":\"a\",\"x\":1,\"x\":2}", -1, GEN_NONE,
          "json_invalid", "", 0 },
        { "100k nested arrays", "", -1, GEN_DEEP_ARRAY, "json_invalid", "", 0 },
        { "100k nested objects", "", -1, GEN_DEEP_OBJECT, "json_invalid", "", 0 },
        { "deep unknown field", "", -1, GEN_DEEP_FIELD, "json_invalid", "", 0 },
        { "integer overflow", "{\"user_message\":\"hi\",\"n\":18446744073709551616}", -1, GEN_NONE,
          "json_invalid", "", 0 },
        { "real overflow", "{\"user_message\":\"hi\",\"n\":1e400}", -1, GEN_NONE, "json_invalid",
          "", 0 },
        { "cid integer", "{\"user_message\":\"hi\",\"conversation_id\":42}", -1, GEN_NONE,
          "string_type", "conversation_id", 0 },
        { "cid array", "{\"user_message\":\"hi\",\"conversation_id\":[]}", -1, GEN_NONE,
          "string_type", "conversation_id", 0 },
        { "cid object", "{\"user_message\":\"hi\",\"conversation_id\":{}}", -1, GEN_NONE,
          "string_type", "conversation_id", 0 },
        { "cid false", "{\"user_message\":\"hi\",\"conversation_id\":false}", -1, GEN_NONE,
          "string_type", "conversation_id", 0 },
        { "cid 129", "", -1, GEN_CID_129, "string_too_long", "conversation_id", 128 },
        { "cid NUL", "{\"user_message\":\"hi\",\"conversation_id\":\"a\\u0000\"}", -1, GEN_NONE,
          "value_error", "conversation_id", 0 },
        { "both bad: first wins", "{\"conversation_id\":1,\"user_message\":1}", -1, GEN_NONE,
          "string_type", "user_message", 0 },
    };
    return cr_make_param_array(struct bad_case, cases, NCASES(cases));
}

/* The rendered 422 must be FastAPI's shape, with nothing but these members. */
static void check_problem_json(const struct sl_chat_problem *p, const struct bad_case *c)
{
    char *s = sl_chat_problem_json(p);
    json_t *j, *item, *loc, *ctx;

    cr_assert_not_null(s);
    j = load_json(s);
    cr_assert_eq(json_object_size(j), 1);
    cr_assert_eq(json_array_size(json_object_get(j, "detail")), 1);
    item = json_array_get(json_object_get(j, "detail"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(item, "type")), c->type);
    cr_assert_gt(json_string_length(json_object_get(item, "msg")), 0);
    loc = json_object_get(item, "loc");
    cr_assert_str_eq(json_string_value(json_array_get(loc, 0)), "body");
    cr_assert_eq(json_array_size(loc), c->field[0] ? 2u : 1u);
    if (c->field[0])
        cr_assert_str_eq(json_string_value(json_array_get(loc, 1)), c->field);
    ctx = json_object_get(item, "ctx");
    if (c->ctx) {
        const char *key = strcmp(c->type, "string_too_short") ? "max_length" : "min_length";

        cr_assert_eq(json_integer_value(json_object_get(ctx, key)), c->ctx);
    } else if (strcmp(c->type, "json_invalid") == 0) {
        cr_assert(json_is_string(json_object_get(ctx, "error")));
    } else {
        cr_assert_null(ctx);
    }
    cr_assert_eq(json_object_size(item), ctx ? 4u : 3u);
    json_decref(j);
    free(s);
}

ParameterizedTest(struct bad_case *c, chat_parse, refused, .timeout = 10)
{
    struct buf b = generate(c->gen, c->body, c->len);
    struct sl_chat_request r;
    struct sl_chat_problem p;

    memset(&r, 0xA5, sizeof(r));
    cr_assert_eq(sl_chat_parse(b.p, b.len, &r, &p), -EINVAL, "%s", c->name);
    cr_assert_str_eq(p.type, c->type, "%s: got %s", c->name, p.type);
    if (c->field[0])
        cr_assert_str_eq(p.loc_field, c->field, "%s", c->name);
    else
        cr_assert_null(p.loc_field, "%s", c->name);
    cr_assert_eq(r.user_message, (char *)(uintptr_t)0xA5A5A5A5A5A5A5A5ull,
                 "out must be untouched on failure");
    check_problem_json(&p, c);
    free(b.p);
}

/* ---- accepted bodies ----------------------------------------------------------------- */

struct ok_case {
    char name[48];
    char body[128];
    long len;
    enum gen gen;
    char want[40]; /* expected user_message, unless gen says otherwise */
    int cid;       /* 0: NULL, 1: want_cid */
    char want_cid[24];
    bool no_store;
};

ParameterizedTestParameters(chat_parse, accepted)
{
    static struct ok_case cases[] = {
        { "plain", "{\"user_message\":\"hi\"}", -1, GEN_NONE, "hi", 0, "", false },
        { "one char", "{\"user_message\":\"x\"}", -1, GEN_NONE, "x", 0, "", false },
        { "ascii stripped", "{\"user_message\":\" \\t\\n hi \\r\\n\"}", -1, GEN_NONE, "hi", 0, "",
          false },
        { "inner space kept", "{\"user_message\":\"  a  b  \"}", -1, GEN_NONE, "a  b", 0, "",
          false },
        { "unicode stripped", "{\"user_message\":\"\\u00a0\\u2003hi\\u3000\\u2029\"}", -1, GEN_NONE,
          "hi", 0, "", false },
        { "raw unicode stripped", "{\"user_message\":\"\xC2\xA0hi\xE2\x80\xA8\"}", -1, GEN_NONE,
          "hi", 0, "", false },
        { "ZWSP not stripped", "{\"user_message\":\"\\u200bhi\"}", -1, GEN_NONE, "\xE2\x80\x8Bhi",
          0, "", false },
        { "BOM char not stripped", "{\"user_message\":\"\\ufeffhi\"}", -1, GEN_NONE,
          "\xEF\xBB\xBFhi", 0, "", false },
        { "U+001C not stripped", "{\"user_message\":\"\\u001chi\"}", -1, GEN_NONE, "\x1Chi", 0, "",
          false },
        { "surrogate pair", "{\"user_message\":\"\\ud83d\\ude00\"}", -1, GEN_NONE, EMOJI, 0, "",
          false },
        { "escapes decoded", "{\"user_message\":\"a\\\"b\\\\c\\/d\\n\"}", -1, GEN_NONE, "a\"b\\c/d",
          0, "", false },
        { "BOM before body", "\xEF\xBB\xBF{\"user_message\":\"hi\"}", -1, GEN_NONE, "hi", 0, "",
          false },
        { "whitespace around body", "\r\n {\"user_message\":\"hi\"} \n", -1, GEN_NONE, "hi", 0, "",
          false },
        { "cid null", "{\"user_message\":\"hi\",\"conversation_id\":null}", -1, GEN_NONE, "hi", 0,
          "", false },
        { "cid empty", "{\"user_message\":\"hi\",\"conversation_id\":\"\"}", -1, GEN_NONE, "hi", 1,
          "", false },
        { "cid not stripped", "{\"user_message\":\"hi\",\"conversation_id\":\" c-1 \"}", -1,
          GEN_NONE, "hi", 1, " c-1 ", false },
        { "unknown fields",
          "{\"user_message\":\"hi\",\"model\":\"x\",\"stream\":true,"
          "\"a\":[1,{\"b\":null}],\"z\":\"\\u0000\"}",
          -1, GEN_NONE, "hi", 0, "", false },
        { "store false", "{\"user_message\":\"hi\",\"store\":false}", -1, GEN_NONE, "hi", 0, "",
          true },
        { "store true", "{\"store\":true,\"user_message\":\"hi\"}", -1, GEN_NONE, "hi", 0, "",
          false },
        { "store \"false\"", "{\"store\":\"false\",\"user_message\":\"hi\"}", -1, GEN_NONE, "hi", 0,
          "", false },
        { "store 0", "{\"store\":0,\"user_message\":\"hi\"}", -1, GEN_NONE, "hi", 0, "", false },
        { "store null", "{\"store\":null,\"user_message\":\"hi\"}", -1, GEN_NONE, "hi", 0, "",
          false },
        { "2000 ascii", "", -1, GEN_ASCII_2000, "", 0, "", false },
        { "2000 four-byte", "", -1, GEN_EMOJI_2000, "", 0, "", false },
        { "2000 escaped pairs", "", -1, GEN_EMOJI_ESC_2000, "", 0, "", false },
        { "2000 after stripping", "", -1, GEN_PADDED_2000, "", 0, "", false },
        { "cid 128", "", -1, GEN_CID_128, "hi", 1, "", false },
    };
    return cr_make_param_array(struct ok_case, cases, NCASES(cases));
}

static void expected_message(const struct ok_case *c, struct buf *want)
{
    switch (c->gen) {
    case GEN_ASCII_2000: puts_n(want, "a", 2000); break;
    case GEN_EMOJI_2000:
    case GEN_EMOJI_ESC_2000: puts_n(want, EMOJI, 2000); break;
    case GEN_PADDED_2000: puts_n(want, "b", 2000); break;
    default: puts_n(want, c->want, 1); break;
    }
}

ParameterizedTest(struct ok_case *c, chat_parse, accepted)
{
    struct buf b = generate(c->gen, c->body, c->len), want = { 0 };
    struct sl_chat_request r;
    struct sl_chat_problem p = { .type = "untouched" };

    cr_assert_eq(sl_chat_parse(b.p, b.len, &r, &p), 0, "%s: %s", c->name, p.type);
    cr_assert_str_eq(p.type, "untouched");
    expected_message(c, &want);
    cr_assert_eq(r.user_message_len, want.len, "%s: len %zu", c->name, r.user_message_len);
    cr_assert_eq(memcmp(r.user_message, want.p, want.len), 0, "%s", c->name);
    cr_assert_eq(r.user_message[r.user_message_len], '\0');
    if (c->gen == GEN_CID_128) {
        cr_assert_eq(strlen(r.conversation_id), 256);
    } else if (c->cid) {
        cr_assert_str_eq(r.conversation_id, c->want_cid, "%s", c->name);
    } else {
        cr_assert_null(r.conversation_id, "%s", c->name);
    }
    cr_assert_eq(r.no_store, c->no_store, "%s", c->name);
    sl_chat_request_done(&r);
    cr_assert_null(r.user_message);
    sl_chat_request_done(&r);
    free(b.p);
    free(want.p);
}

Test(chat_parse, body_over_ceiling_is_e2big)
{
    size_t n = SL_CHAT_BODY_MAX + 1;
    char *body = malloc(n);
    struct sl_chat_request r;
    struct sl_chat_problem p = { .type = "untouched" };

    cr_assert_not_null(body);
    memset(body, ' ', n);
    cr_assert_eq(sl_chat_parse(body, n, &r, &p), -E2BIG);
    cr_assert_str_eq(p.type, "untouched");
    free(body);
}

Test(chat_parse, null_body_with_zero_length)
{
    struct sl_chat_request r;
    struct sl_chat_problem p;

    cr_assert_eq(sl_chat_parse(NULL, 0, &r, &p), -EINVAL);
    cr_assert_str_eq(p.type, "missing");
    cr_assert_null(p.loc_field);
}

Test(chat_parse, request_done_on_zeroed)
{
    struct sl_chat_request r = { 0 };

    sl_chat_request_done(&r);
    cr_assert_null(r.conversation_id);
}

/* ---- rendering 422 bodies exactly -------------------------------------------------- */

struct render_case {
    char body[64];
    char want[200];
};

ParameterizedTestParameters(chat_problem, exact_json)
{
    static struct render_case cases[] = {
        { "{}", "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"user_message\"],"
                "\"msg\":\"Field required\"}]}" },
        { "{\"user_message\":7}", "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\","
                                  "\"user_message\"],\"msg\":\"Input should be a valid "
                                  "string\"}]}" },
        { "{\"user_message\":\" \"}", "{\"detail\":[{\"type\":\"string_too_short\",\"loc\":["
                                      "\"body\",\"user_message\"],\"msg\":\"String should "
                                      "have at least 1 character\",\"ctx\":{\"min_length\":1}"
                                      "}]}" },
        { "[]", "{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"],\"msg\":"
                "\"Input should be a valid dictionary or object to extract fields from\"}]}" },
        { "", "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\"],\"msg\":\"Field "
              "required\"}]}" },
    };
    return cr_make_param_array(struct render_case, cases, NCASES(cases));
}

ParameterizedTest(struct render_case *c, chat_problem, exact_json)
{
    struct sl_chat_request r;
    struct sl_chat_problem p;
    char *s;

    cr_assert_eq(sl_chat_parse(c->body, strlen(c->body), &r, &p), -EINVAL);
    s = sl_chat_problem_json(&p);
    cr_assert_str_eq(s, c->want);
    free(s);
}

Test(chat_problem, too_long_exact_json)
{
    struct buf b = generate(GEN_ASCII_2001, NULL, 0);
    struct sl_chat_request r;
    struct sl_chat_problem p;
    char *s;

    cr_assert_eq(sl_chat_parse(b.p, b.len, &r, &p), -EINVAL);
    s = sl_chat_problem_json(&p);
    cr_assert_str_eq(s, "{\"detail\":[{\"type\":\"string_too_long\",\"loc\":[\"body\","
                        "\"user_message\"],\"msg\":\"String should have at most 2000 "
                        "characters\",\"ctx\":{\"max_length\":2000}}]}");
    free(s);
    free(b.p);
}

/* jansson quotes the offending bytes in its error text; they must not reach the JSON raw. */
Test(chat_problem, json_invalid_ctx_is_printable)
{
    const char body[] = "{\"user_message\":\"\xFF\xFE\x01\"}";
    struct sl_chat_request r;
    struct sl_chat_problem p;
    char *s;

    cr_assert_eq(sl_chat_parse(body, sizeof(body) - 1, &r, &p), -EINVAL);
    for (const char *q = p.ctx_str; *q; q++)
        cr_assert(*q >= 0x20 && *q < 0x7F);
    cr_assert_str_eq(p.msg, "JSON decode error");
    s = sl_chat_problem_json(&p);
    cr_assert_not_null(s);
    free(s);
}

/* ---- the upstream request body -------------------------------------------------------- */

static void check_message(json_t *m, const char *role, const char *content, size_t len)
{
    json_t *c = json_object_get(m, "content");

    cr_assert_eq(json_object_size(m), 2);
    cr_assert_str_eq(json_string_value(json_object_get(m, "role")), role);
    cr_assert_eq(json_string_length(c), len);
    cr_assert_eq(memcmp(json_string_value(c), content, len), 0);
}

struct body_case {
    char system[48];
    bool sys_null;
    char user[48];
    unsigned max_tokens;
    double temperature;
    bool stream;
    char temp_text[24]; /* how temperature must appear in the text */
};

ParameterizedTestParameters(chat_upstream_body, fields)
{
    static struct body_case cases[] = {
        { "You are a concise and friendly assistant.", false, "Hello", 400, 0.3, false,
          "\"temperature\":0.3" },
        { "sys", false, "Hello", 400, 0.3, true, "\"temperature\":0.3" },
        { "", false, "only user", 1, 0.0, false, "\"temperature\":0.0" },
        { "", true, "null system", 4096, 2.0, true, "\"temperature\":2.0" },
        { "s\"q\"\n", false, "q\"uote\\ \n\t" EMOJI " \xE2\x80\xA8 </script>", 7, 0.7, false,
          "\"temperature\":0.7" },
        { "x", false, "1", 4294967295u, 1.25, false, "\"temperature\":1.25" },
    };
    return cr_make_param_array(struct body_case, cases, NCASES(cases));
}

ParameterizedTest(struct body_case *c, chat_upstream_body, fields)
{
    struct sl_chat_upstream_params p = {
        .model = "gpt-4o-mini",
        .system_prompt = c->sys_null ? NULL : c->system,
        .max_tokens = c->max_tokens,
        .temperature = c->temperature,
        .stream = c->stream,
    };
    struct sl_chat_request r = { .user_message = c->user, .user_message_len = strlen(c->user) };
    bool sys = !c->sys_null && c->system[0];
    size_t len = 0;
    char *s = sl_chat_upstream_body(&p, &r, &len);
    json_t *j, *msgs, *opts;

    cr_assert_not_null(s);
    cr_assert_eq(len, strlen(s));
    cr_assert_not_null(strstr(s, c->temp_text), "%s", s);
    j = load_json(s);
    cr_assert_eq(json_object_size(j), c->stream ? 6u : 4u, "%s", s);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "gpt-4o-mini");
    cr_assert(json_is_integer(json_object_get(j, "max_tokens")));
    cr_assert_eq(json_integer_value(json_object_get(j, "max_tokens")), c->max_tokens);
    cr_assert(json_is_real(json_object_get(j, "temperature")));
    cr_assert_eq(json_real_value(json_object_get(j, "temperature")), c->temperature);
    msgs = json_object_get(j, "messages");
    cr_assert_eq(json_array_size(msgs), sys ? 2u : 1u);
    if (sys)
        check_message(json_array_get(msgs, 0), "system", c->system, strlen(c->system));
    check_message(json_array_get(msgs, sys ? 1 : 0), "user", c->user, strlen(c->user));
    if (c->stream) {
        cr_assert(json_is_true(json_object_get(j, "stream")));
        opts = json_object_get(j, "stream_options");
        cr_assert_eq(json_object_size(opts), 1);
        cr_assert(json_is_true(json_object_get(opts, "include_usage")));
    } else {
        cr_assert_null(json_object_get(j, "stream"));
        cr_assert_null(json_object_get(j, "stream_options"));
    }
    json_decref(j);
    free(s);
}

Test(chat_upstream_body, exact_text)
{
    struct sl_chat_upstream_params p = {
        .model = "gpt-4o-mini",
        .system_prompt = "Be brief.",
        .max_tokens = 400,
        .temperature = 0.3,
        .stream = true,
    };
    struct sl_chat_request r = { .user_message = "Hi", .user_message_len = 2 };
    char *s = sl_chat_upstream_body(&p, &r, NULL);

    cr_assert_str_eq(s, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\","
                        "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
                        "\"max_tokens\":400,\"temperature\":0.3,\"stream\":true,"
                        "\"stream_options\":{\"include_usage\":true}}");
    free(s);
}

Test(chat_upstream_body, refuses_unusable_params)
{
    struct sl_chat_upstream_params ok = {
        .model = "m",
        .system_prompt = "s",
        .max_tokens = 1,
        .temperature = 0.5,
    };
    struct sl_chat_upstream_params p;
    struct sl_chat_request r = { .user_message = "hi", .user_message_len = 2 };
    struct sl_chat_request bad_utf8 = { .user_message = "\xFF", .user_message_len = 1 };
    struct sl_chat_request none = { 0 };
    size_t len = 12345;
    char *s;

    p = ok;
    p.model = NULL;
    cr_assert_null(sl_chat_upstream_body(&p, &r, &len));
    p.model = "";
    cr_assert_null(sl_chat_upstream_body(&p, &r, &len));
    p = ok;
    p.temperature = NAN;
    cr_assert_null(sl_chat_upstream_body(&p, &r, &len));
    p.temperature = INFINITY;
    cr_assert_null(sl_chat_upstream_body(&p, &r, &len));
    p = ok;
    p.system_prompt = "\xC0\xAF";
    cr_assert_null(sl_chat_upstream_body(&p, &r, &len));
    cr_assert_null(sl_chat_upstream_body(&ok, &bad_utf8, &len));
    cr_assert_null(sl_chat_upstream_body(&ok, &none, &len));
    cr_assert_eq(len, 12345, "len must be untouched on failure");
    s = sl_chat_upstream_body(&ok, &r, &len);
    cr_assert_not_null(s);
    free(s);
}

/* Whatever the client sent through sl_chat_parse() goes upstream byte for byte. */
Test(chat_upstream_body, parse_then_build_round_trip)
{
    const char body[] = "{\"user_message\":\"  caf\\u00e9 \\\"x\\\" \\ud83d\\ude00\\n  \"}";
    struct sl_chat_upstream_params p = { .model = "m", .max_tokens = 5, .temperature = 1 };
    struct sl_chat_request r;
    struct sl_chat_problem prob;
    json_t *j;
    char *s;

    cr_assert_eq(sl_chat_parse(body, sizeof(body) - 1, &r, &prob), 0);
    s = sl_chat_upstream_body(&p, &r, NULL);
    j = load_json(s);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "messages"), 0), "content")),
                     "caf\xC3\xA9 \"x\" " EMOJI);
    json_decref(j);
    free(s);
    sl_chat_request_done(&r);
}

/* ---- upstream answers, from captured-style fixtures ------------------------------------ */

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *data;
    long n;

    snprintf(path, sizeof(path), "%s/upstream/%s", SL_TEST_DATA_DIR, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    data = malloc((size_t)n + 1);
    cr_assert_not_null(data);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

struct upstream_case {
    char file[32];
    int ret;
    char text[96];
    size_t text_len; /* 0: strlen(text) */
    bool refusal;
    char model[28];
    char finish[16];
    bool usage;
    long pt, ct, tt;
    char id[48];
};

#define MINI "gpt-4o-mini-2024-07-18"

ParameterizedTestParameters(chat_upstream, fixtures)
{
    static struct upstream_case cases[] = {
        { "normal.json", 0, "Hello! How can I assist you today?", 0, false, MINI, "stop", true, 19,
          10, 29, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT" },
        { "length.json", 0,
          "The history of the printing press begins in the 15th century, "
          "when Johannes Gutenberg",
          0, false, MINI, "length", true, 27, 16, 43, "chatcmpl-C1xKq7ZbW0n3u4TTbgQv1yOqLx2Pz" },
        { "content_filter.json", 0, "I can describe the general", 0, false, MINI, "content_filter",
          true, 31, 5, 36, "chatcmpl-C2aa0Vf3y8kLwQmNq1Jd3Rr5sTtUu" },
        { "tool_calls.json", 0, "", 0, false, MINI, "tool_calls", true, 82, 21, 103,
          "chatcmpl-C3bT9x2mYq0Wk4Hh7Ll6Pp8Oo1Ii" },
        { "function_call.json", 0, "", 0, false, "gpt-3.5-turbo-0613", "tool_calls", true, 82, 18,
          100, "chatcmpl-8Ab1cD2eF3gH4iJ5kL6mN7oP8qR9s" },
        { "null_finish_reason.json", 0, "Sure, here it is.", 0, false, MINI, "stop", true, 12, 6,
          18, "chatcmpl-local-7f3c2a91" },
        { "unknown_finish_reason.json", 0, "The answer is", 0, false, MINI, "error", true, 14, 3,
          17, "chatcmpl-5d1b9f0e-3c2a-4e7d-9a41-0b6f2e8c7d15" },
        { "missing_usage.json", 0, "Paris is the capital of France.", 0, false, MINI, "stop", false,
          0, 0, 0, "chatcmpl-C4c0Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2" },
        { "refusal.json", 0, "I'm sorry, I can't assist with that request.", 0, true,
          "gpt-4o-2024-08-06", "stop", true, 45, 11, 56, "chatcmpl-C5dRf1Ua2Lb3Mc4Nd5Oe6Pf7Qg8" },
        { "extra_fields.json", 0,
          "Line one \"quoted\"\n\tTabbed </script> caf\xC3\xA9 " EMOJI " \xE2\x80\xA8 end", 0,
          false, MINI, "stop", true, 1024, 2048, 3072, "chatcmpl-C6eXt2Ra3Sb4Tc5Ud6Ve7Wf8Xg9" },
        { "wrong_type_usage.json", 0, "usage counts are strings", 0, false, MINI, "error", false, 0,
          0, 0, "chatcmpl-CAiZw6Ve7Wf8Xg9Yh0Zi1Aj2Bk3" },
        { "nul_in_content.json", 0, "a\0b", 3, false, MINI, "stop", true, 3, 2, 5,
          "chatcmpl-CDl2z9Yh0Zi1Aj2Bk3Cl4Dm5En6" },
        { "bad_gateway.html", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "truncated.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "wrong_type_content.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "wrong_type_choices.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "wrong_type_model.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "empty_choices.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "chunk_object.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "error_insufficient_quota.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
        { "error_server.json", -EBADMSG, "", 0, false, "", "", false, 0, 0, 0, "" },
    };
    return cr_make_param_array(struct upstream_case, cases, NCASES(cases));
}

/* The 200 body built from the result carries exactly the four members, correctly escaped. */
static void check_response(const struct sl_chat_result *r, const struct upstream_case *c,
                           size_t text_len)
{
    size_t len = 0;
    char *s = sl_chat_response_json(r, &len);
    json_t *j, *u, *t;

    cr_assert_not_null(s);
    cr_assert_eq(len, strlen(s));
    j = load_json(s);
    cr_assert_eq(json_object_size(j), 4, "%s", s);
    t = json_object_get(j, "text");
    cr_assert_eq(json_string_length(t), text_len);
    cr_assert_eq(memcmp(json_string_value(t), c->text, text_len), 0);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), c->model);
    cr_assert_str_eq(json_string_value(json_object_get(j, "finish_reason")), c->finish);
    u = json_object_get(j, "usage");
    cr_assert_eq(json_object_size(u), 3);
    cr_assert_eq(json_integer_value(json_object_get(u, "prompt_tokens")), c->pt);
    cr_assert_eq(json_integer_value(json_object_get(u, "completion_tokens")), c->ct);
    cr_assert_eq(json_integer_value(json_object_get(u, "total_tokens")), c->tt);
    json_decref(j);
    free(s);
}

ParameterizedTest(struct upstream_case *c, chat_upstream, fixtures)
{
    size_t len, text_len = c->text_len ? c->text_len : strlen(c->text);
    char *body = read_fixture(c->file, &len);
    struct sl_chat_result r;

    memset(&r, 0, sizeof(r));
    r.text = (char *)"untouched";
    cr_assert_eq(sl_chat_parse_upstream(body, len, &r), c->ret, "%s", c->file);
    if (c->ret < 0) {
        cr_assert_str_eq(r.text, "untouched", "out must be untouched on failure");
        free(body);
        return;
    }
    cr_assert_eq(r.text_len, text_len, "%s: %zu", c->file, r.text_len);
    cr_assert_eq(memcmp(r.text, c->text, text_len), 0, "%s", c->file);
    cr_assert_eq(r.text[text_len], '\0');
    cr_assert_eq(r.refusal, c->refusal);
    cr_assert_str_eq(r.model, c->model);
    cr_assert_str_eq(r.finish_reason, c->finish);
    cr_assert_eq(r.usage.present, c->usage, "%s", c->file);
    cr_assert_eq(r.usage.prompt_tokens, c->pt);
    cr_assert_eq(r.usage.completion_tokens, c->ct);
    cr_assert_eq(r.usage.total_tokens, c->tt);
    cr_assert_str_eq(r.upstream_id, c->id);
    check_response(&r, c, text_len);
    sl_chat_result_done(&r);
    cr_assert_null(r.text);
    sl_chat_result_done(&r);
    free(body);
}

/* Shapes no fixture covers, written inline. */
struct inline_case {
    char name[40];
    char body[200];
    int ret;
    char text[24];
    bool model_null;
    bool id_null;
    bool usage;
    long tt;
};

ParameterizedTestParameters(chat_upstream, inline_shapes)
{
    static struct inline_case cases[] = {
        { "empty", "", -EBADMSG, "", false, false, false, 0 },
        { "null", "null", -EBADMSG, "", false, false, false, 0 },
        { "array", "[]", -EBADMSG, "", false, false, false, 0 },
        { "string", "\"ok\"", -EBADMSG, "", false, false, false, 0 },
        { "message not object", "{\"choices\":[{\"message\":\"hi\"}]}", -EBADMSG, "", false, false,
          false, 0 },
        { "no message", "{\"choices\":[{\"text\":\"hi\"}]}", -EBADMSG, "", false, false, false, 0 },
        { "choice not object", "{\"choices\":[\"hi\"]}", -EBADMSG, "", false, false, false, 0 },
        { "object is not a string",
          "{\"object\":1,\"choices\":[{\"message\":{\"content\":"
          "\"x\"}}]}",
          -EBADMSG, "", false, false, false, 0 },
        { "minimal", "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}", 0, "x", true, true, false,
          0 },
        { "content absent", "{\"choices\":[{\"message\":{}}]}", 0, "", true, true, false, 0 },
        { "content wins over refusal",
          "{\"choices\":[{\"message\":{\"content\":\"c\","
          "\"refusal\":\"r\"}}]}",
          0, "c", true, true, false, 0 },
        { "refusal not a string",
          "{\"choices\":[{\"message\":{\"content\":null,"
          "\"refusal\":5}}]}",
          0, "", true, true, false, 0 },
        { "content bool", "{\"choices\":[{\"message\":{\"content\":false}}]}", -EBADMSG, "", false,
          false, false, 0 },
        { "model null", "{\"model\":null,\"choices\":[{\"message\":{\"content\":\"x\"}}]}", 0, "x",
          true, true, false, 0 },
        { "model with NUL",
          "{\"model\":\"a\\u0000b\",\"choices\":[{\"message\":{\"content\":"
          "\"x\"}}]}",
          -EBADMSG, "", false, false, false, 0 },
        { "id with space dropped",
          "{\"id\":\"a b\",\"choices\":[{\"message\":{\"content\":"
          "\"x\"}}]}",
          0, "x", true, true, false, 0 },
        { "id number dropped", "{\"id\":5,\"choices\":[{\"message\":{\"content\":\"x\"}}]}", 0, "x",
          true, true, false, 0 },
        { "total derived",
          "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
          "\"prompt_tokens\":4,\"completion_tokens\":6}}",
          0, "x", true, true, true, 10 },
        { "negative total derived",
          "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\""
          ":{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":-1}}",
          0, "x", true, true, true, 10 },
        { "usage null", "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":null}", 0, "x",
          true, true, false, 0 },
        { "usage overflow",
          "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
          "\"prompt_tokens\":9223372036854775807,\"completion_tokens\":1}}",
          0, "x", true, true, false, 0 },
        { "finish with NUL",
          "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
          "\"stop\\u0000\"}]}",
          0, "x", true, true, false, 0 },
    };
    return cr_make_param_array(struct inline_case, cases, NCASES(cases));
}

ParameterizedTest(struct inline_case *c, chat_upstream, inline_shapes)
{
    struct sl_chat_result r = { 0 };

    cr_assert_eq(sl_chat_parse_upstream(c->body, strlen(c->body), &r), c->ret, "%s", c->name);
    if (c->ret < 0)
        return;
    cr_assert_str_eq(r.text, c->text, "%s", c->name);
    cr_assert_eq(r.model == NULL, c->model_null, "%s", c->name);
    cr_assert_eq(r.upstream_id == NULL, c->id_null, "%s", c->name);
    cr_assert_eq(r.usage.present, c->usage, "%s", c->name);
    cr_assert_eq(r.usage.total_tokens, c->tt, "%s", c->name);
    if (strcmp(c->name, "finish with NUL") == 0)
        cr_assert_str_eq(r.finish_reason, "error");
    else
        cr_assert_str_eq(r.finish_reason, "stop");
    sl_chat_result_done(&r);
}

Test(chat_upstream, over_ceiling_is_e2big)
{
    size_t n = SL_CHAT_UPSTREAM_BODY_MAX + 1;
    char *body = calloc(1, n);
    struct sl_chat_result r;

    cr_assert_not_null(body);
    cr_assert_eq(sl_chat_parse_upstream(body, n, &r), -E2BIG);
    free(body);
}

/* ---- the one-pass reading against the jansson one ---------------------------------------- */

/* Both readings of body: the same return code and, on success, the same result. */
static void same_readings(const char *name, const char *body, size_t len, int want,
                          struct sl_chat_result *out)
{
    struct sl_chat_result a = { 0 }, b = { 0 };
    int ra = sl_chat_parse_upstream(body, len, &a);
    int rb = sl_chat_parse_upstream_tree(body, len, &b);

    cr_assert_eq(ra, rb, "%s: one pass %d, tree %d", name, ra, rb);
    cr_assert_eq(ra, want, "%s: %d", name, ra);
    if (ra == 0) {
        cr_assert_eq(a.text_len, b.text_len, "%s", name);
        cr_assert_eq(memcmp(a.text, b.text, a.text_len + 1), 0, "%s", name);
        cr_assert_eq(a.refusal, b.refusal, "%s", name);
        cr_assert_eq(a.model == NULL, b.model == NULL, "%s", name);
        if (a.model)
            cr_assert_str_eq(a.model, b.model, "%s", name);
        cr_assert_str_eq(a.finish_reason, b.finish_reason, "%s", name);
        cr_assert_eq(a.upstream_id == NULL, b.upstream_id == NULL, "%s", name);
        if (a.upstream_id)
            cr_assert_str_eq(a.upstream_id, b.upstream_id, "%s", name);
        cr_assert_eq(a.usage.present, b.usage.present, "%s", name);
        cr_assert_eq(a.usage.prompt_tokens, b.usage.prompt_tokens, "%s", name);
        cr_assert_eq(a.usage.completion_tokens, b.usage.completion_tokens, "%s", name);
        cr_assert_eq(a.usage.total_tokens, b.usage.total_tokens, "%s", name);
    }
    sl_chat_result_done(&b);
    if (out)
        *out = a;
    else
        sl_chat_result_done(&a);
}

struct reading_case {
    char name[40];
    char body[240];
    size_t len; /* 0: strlen(body) */
    int ret;
    char text[24];
    size_t text_len; /* 0: strlen(text) */
    bool refusal;
    char finish[16];
    char model[16]; /* "": NULL */
    char id[16];    /* "": NULL */
    bool usage;
    long pt, ct, tt;
};

#define MSG(m) "{\"choices\":[{\"message\":" m "}]}"
#define TEXT_X "{\"content\":\"x\"}"

ParameterizedTestParameters(chat_upstream, one_pass_reads_as_the_tree)
{
    static struct reading_case cases[] = {
        /* escapes */
        { "escapes", MSG("{\"content\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\"}"), 0, 0,
          "\xC3\xA9" EMOJI "\n\"\\/\b\f\r\t", 0, false, "stop", "", "", false, 0, 0, 0 },
        { "escaped NUL in content", MSG("{\"content\":\"a\\u0000b\\u0000\"}"), 0, 0, "a\0b\0", 4,
          false, "stop", "", "", false, 0, 0, 0 },
        { "lone surrogate", MSG("{\"content\":\"\\ud83d\"}"), 0, -EBADMSG },
        { "raw NUL in a string", "{\"choices\":[{\"message\":{\"content\":\"a\0\"}}]}", 36,
          -EBADMSG },
        { "invalid UTF-8", MSG("{\"content\":\"\xC3\x28\"}"), 0, -EBADMSG },
        { "escaped model and id",
          "{\"model\":\"gpt\\u002d4o\",\"id\":\"c\\u002d1\",\"choices\":"
          "[{\"message\":" TEXT_X "}]}",
          0, 0, "x", 0, false, "stop", "gpt-4o", "c-1" },
        { "id with escaped NUL dropped",
          "{\"id\":\"c\\u0000\",\"choices\":[{\"message\":" TEXT_X "}]}", 0, 0, "x", 0, false,
          "stop" },
        { "id with escaped tab dropped", "{\"id\":\"c\\t\",\"choices\":[{\"message\":" TEXT_X "}]}",
          0, 0, "x", 0, false, "stop" },
        { "id empty dropped", "{\"id\":\"\",\"choices\":[{\"message\":" TEXT_X "}]}", 0, 0, "x", 0,
          false, "stop" },
        { "escaped object",
          "{\"object\":\"chat\\u002ecompletion\",\"choices\":[{\"message\":" TEXT_X "}]}", 0, 0,
          "x", 0, false, "stop" },
        { "object up to a NUL",
          "{\"object\":\"chat.completion\\u0000x\",\"choices\":[{"
          "\"message\":" TEXT_X "}]}",
          0, 0, "x", 0, false, "stop" },
        { "object other",
          "{\"object\":\"chat.completion.chunk\",\"choices\":[{\"message\":" TEXT_X "}]}", 0,
          -EBADMSG },
        { "object escaped other",
          "{\"object\":\"chat\\u002echunk\",\"choices\":[{\"message\":" TEXT_X "}]}", 0, -EBADMSG },
        { "object null", "{\"object\":null,\"choices\":[{\"message\":" TEXT_X "}]}", 0, -EBADMSG },
        /* content, refusal, tool calls */
        { "null content, refusal", MSG("{\"content\":null,\"refusal\":\"no\"}"), 0, 0, "no", 0,
          true, "stop" },
        { "absent content, refusal", MSG("{\"refusal\":\"n\\u00f6\"}"), 0, 0, "n\xC3\xB6", 0, true,
          "stop" },
        { "null content, null refusal", MSG("{\"content\":null,\"refusal\":null}"), 0, 0, "", 0,
          false, "stop" },
        { "content array", MSG("{\"content\":[\"x\"]}"), 0, -EBADMSG },
        { "content number", MSG("{\"content\":1}"), 0, -EBADMSG },
        { "tool_calls",
          "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":"
          "\"call_1\",\"type\":\"function\"}]},\"finish_reason\":\"tool_calls\"}]}",
          0, 0, "", 0, false, "tool_calls" },
        { "duplicate content, last wins", MSG("{\"content\":\"a\",\"content\":\"b\"}"), 0, 0, "b",
          0, false, "stop" },
        { "duplicate content, last null",
          MSG("{\"content\":\"a\",\"content\":null,"
              "\"refusal\":\"r\"}"),
          0, 0, "r", 0, true, "stop" },
        /* choices */
        { "no choices", "{\"id\":\"x\"}", 0, -EBADMSG },
        { "empty choices", "{\"choices\":[]}", 0, -EBADMSG },
        { "choices object", "{\"choices\":{\"message\":" TEXT_X "}}", 0, -EBADMSG },
        { "choices null", "{\"choices\":null}", 0, -EBADMSG },
        { "first choice null", "{\"choices\":[null,{\"message\":" TEXT_X "}]}", 0, -EBADMSG },
        { "index is not read", "{\"choices\":[{\"index\":3,\"message\":" TEXT_X "}]}", 0, 0, "x", 0,
          false, "stop" },
        { "second choice ignored", "{\"choices\":[{\"message\":" TEXT_X "},{\"message\":1}]}", 0, 0,
          "x", 0, false, "stop" },
        { "duplicate choices, last wins", "{\"choices\":[],\"choices\":[{\"message\":" TEXT_X "}]}",
          0, 0, "x", 0, false, "stop" },
        /* finish_reason */
        { "finish function_call",
          "{\"choices\":[{\"message\":" TEXT_X ",\"finish_reason\":"
          "\"function_call\"}]}",
          0, 0, "x", 0, false, "tool_calls" },
        { "finish escaped",
          "{\"choices\":[{\"message\":" TEXT_X ",\"finish_reason\":"
          "\"len\\u0067th\"}]}",
          0, 0, "x", 0, false, "length" },
        { "finish number", "{\"choices\":[{\"message\":" TEXT_X ",\"finish_reason\":5}]}", 0, 0,
          "x", 0, false, "error" },
        { "finish object", "{\"choices\":[{\"message\":" TEXT_X ",\"finish_reason\":{}}]}", 0, 0,
          "x", 0, false, "error" },
        { "finish null", "{\"choices\":[{\"message\":" TEXT_X ",\"finish_reason\":null}]}", 0, 0,
          "x", 0, false, "stop" },
        { "finish with NUL",
          "{\"choices\":[{\"message\":" TEXT_X ",\"finish_reason\":"
          "\"stop\\u0000\"}]}",
          0, 0, "x", 0, false, "error" },
        /* model */
        { "model number", "{\"model\":1,\"choices\":[{\"message\":" TEXT_X "}]}", 0, -EBADMSG },
        { "model with NUL", "{\"model\":\"m\\u0000\",\"choices\":[{\"message\":" TEXT_X "}]}", 0,
          -EBADMSG },
        { "model empty", "{\"model\":\"\",\"choices\":[{\"message\":" TEXT_X "}]}", 0, 0, "x", 0,
          false, "stop", "" },
        /* usage */
        { "no usage", MSG(TEXT_X), 0, 0, "x", 0, false, "stop" },
        { "usage full",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{\"prompt_tokens\":"
          "3,\"completion_tokens\":4,\"total_tokens\":9}}",
          0, 0, "x", 0, false, "stop", "", "", true, 3, 4, 9 },
        { "usage total below the sum",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":1}}",
          0, 0, "x", 0, false, "stop", "", "", true, 3, 4, 7 },
        { "usage negative",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_tokens\":-3,\"completion_tokens\":4}}",
          0, 0, "x", 0, false, "stop" },
        { "usage reals",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_tokens\":3.0,\"completion_tokens\":4}}",
          0, 0, "x", 0, false, "stop" },
        { "usage strings",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_tokens\":\"3\",\"completion_tokens\":4}}",
          0, 0, "x", 0, false, "stop" },
        { "usage duplicates, last wins",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_tokens\":1,\"completion_tokens\":4,\"prompt_tokens\":2}}",
          0, 0, "x", 0, false, "stop", "", "", true, 2, 4, 6 },
        { "usage escaped key",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_t\\u006fkens\":1,\"completion_tokens\":4}}",
          0, 0, "x", 0, false, "stop", "", "", true, 1, 4, 5 },
        { "usage array", "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":[1,2]}", 0, 0, "x", 0,
          false, "stop" },
        { "usage overflow",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_tokens\":9223372036854775807,\"completion_tokens\":1}}",
          0, 0, "x", 0, false, "stop" },
        { "usage huge integer",
          "{\"choices\":[{\"message\":" TEXT_X "}],\"usage\":{"
          "\"prompt_tokens\":92233720368547758070,\"completion_tokens\":1}}",
          0, -EBADMSG },
        /* roots and framing */
        { "array root", "[" MSG(TEXT_X) "]", 0, -EBADMSG },
        { "string root", "\"x\"", 0, -EBADMSG },
        { "number root", "1", 0, -EBADMSG },
        { "null root", "null", 0, -EBADMSG },
        { "empty object", "{}", 0, -EBADMSG },
        { "trailing garbage", MSG(TEXT_X) "x", 0, -EBADMSG },
        { "second document", MSG(TEXT_X) "{}", 0, -EBADMSG },
        { "trailing NUL", MSG(TEXT_X) "\0", sizeof(MSG(TEXT_X)), -EBADMSG },
        { "trailing whitespace", "\n " MSG(TEXT_X) " \r\n\t", 0, 0, "x", 0, false, "stop" },
        { "BOM", "\xEF\xBB\xBF" MSG(TEXT_X), 0, -EBADMSG },
        { "truncated", "{\"choices\":[{\"message\":{\"content\":\"x\"}}", 0, -EBADMSG },
        { "unknown field deep",
          "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
          "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
          "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"
          "\"choices\":[{\"message\":" TEXT_X "}]}",
          0, 0, "x", 0, false, "stop" },
        { "unknown field big integer",
          "{\"x\":1234567890123456789,\"choices\":[{"
          "\"message\":" TEXT_X "}]}",
          0, 0, "x", 0, false, "stop" },
        { "unknown field escaped NUL", "{\"x\":\"\\u0000\",\"choices\":[{\"message\":" TEXT_X "}]}",
          0, 0, "x", 0, false, "stop" },
        { "NUL in a key", "{\"x\\u0000\":1,\"choices\":[{\"message\":" TEXT_X "}]}", 0, -EBADMSG },
    };
    return cr_make_param_array(struct reading_case, cases, NCASES(cases));
}

ParameterizedTest(struct reading_case *c, chat_upstream, one_pass_reads_as_the_tree)
{
    size_t len = c->len ? c->len : strlen(c->body);
    size_t text_len = c->text_len ? c->text_len : strlen(c->text);
    struct sl_chat_result r;

    same_readings(c->name, c->body, len, c->ret, &r);
    if (c->ret < 0)
        return;
    cr_assert_eq(r.text_len, text_len, "%s: %zu", c->name, r.text_len);
    cr_assert_eq(memcmp(r.text, c->text, text_len), 0, "%s", c->name);
    cr_assert_eq(r.refusal, c->refusal, "%s", c->name);
    cr_assert_str_eq(r.finish_reason, c->finish, "%s", c->name);
    if (c->model[0] || strcmp(c->name, "model empty") == 0)
        cr_assert_str_eq(r.model, c->model, "%s", c->name);
    else
        cr_assert_null(r.model, "%s", c->name);
    if (c->id[0])
        cr_assert_str_eq(r.upstream_id, c->id, "%s", c->name);
    else
        cr_assert_null(r.upstream_id, "%s", c->name);
    cr_assert_eq(r.usage.present, c->usage, "%s", c->name);
    cr_assert_eq(r.usage.prompt_tokens, c->pt, "%s", c->name);
    cr_assert_eq(r.usage.completion_tokens, c->ct, "%s", c->name);
    cr_assert_eq(r.usage.total_tokens, c->tt, "%s", c->name);
    sl_chat_result_done(&r);
}

/* {"model":M,"id":I,"choices":[{"message":{"content":"x"}}]} with M and I built from n copies
 * of a unit (an escape or a byte). */
static void model_id_body(struct buf *b, const char *munit, size_t mn, const char *iunit, size_t in)
{
    puts_n(b, "{\"model\":\"", 1);
    puts_n(b, munit, mn);
    puts_n(b, "\",\"id\":\"", 1);
    puts_n(b, iunit, in);
    puts_n(b, "\",\"choices\":[{\"message\":{\"content\":\"x\"}}]}", 1);
}

/* Limits counted in decoded bytes, with and without escapes, on both sides of each. */
Test(chat_upstream, one_pass_limits_in_decoded_bytes)
{
    static const struct {
        const char *munit, *iunit;
        size_t mn, in;
        int ret;
        bool keep_id;
    } rows[] = {
        { "a", "b", SL_CHAT_MODEL_MAX, SL_CHAT_UPSTREAM_ID_MAX, 0, true },
        { "a", "b", SL_CHAT_MODEL_MAX + 1, 1, -EBADMSG, false },
        { "a", "b", 1, SL_CHAT_UPSTREAM_ID_MAX + 1, 0, false },
        { "\\u0041", "\\u0042", SL_CHAT_MODEL_MAX, SL_CHAT_UPSTREAM_ID_MAX, 0, true },
        { "\\u0041", "\\u0042", SL_CHAT_MODEL_MAX + 1, 1, -EBADMSG, false },
        { "\\u0041", "\\u0042", 1, SL_CHAT_UPSTREAM_ID_MAX + 1, 0, false },
        { "\\u00e9", "\\u00e9", SL_CHAT_MODEL_MAX / 2, 1, 0, false },
        { "\\u00e9", "b", SL_CHAT_MODEL_MAX / 2 + 1, 1, -EBADMSG, false },
        { "\\ud83d\\ude00", "b", SL_CHAT_MODEL_MAX / 4, 1, 0, true },
        { "\\ud83d\\ude00", "b", SL_CHAT_MODEL_MAX / 4 + 1, 1, -EBADMSG, false },
        { "\\n", "b", SL_CHAT_MODEL_MAX, 1, 0, true },
    };

    for (size_t i = 0; i < NCASES(rows); i++) {
        struct buf b = { 0 };
        struct sl_chat_result r;
        char name[32];

        snprintf(name, sizeof(name), "row %zu", i);
        model_id_body(&b, rows[i].munit, rows[i].mn, rows[i].iunit, rows[i].in);
        same_readings(name, b.p, b.len, rows[i].ret, &r);
        if (rows[i].ret == 0)
            cr_assert_eq(r.upstream_id != NULL, rows[i].keep_id, "%s", name);
        sl_chat_result_done(&r);
        free(b.p);
    }
}

/* Every fixture reads the same both ways. */
Test(chat_upstream, one_pass_fixtures)
{
    static const char *const files[] = {
        "normal.json",
        "length.json",
        "content_filter.json",
        "tool_calls.json",
        "function_call.json",
        "null_finish_reason.json",
        "unknown_finish_reason.json",
        "missing_usage.json",
        "refusal.json",
        "extra_fields.json",
        "wrong_type_usage.json",
        "nul_in_content.json",
        "bad_gateway.html",
        "truncated.json",
        "wrong_type_content.json",
        "wrong_type_choices.json",
        "wrong_type_model.json",
        "empty_choices.json",
        "chunk_object.json",
        "error_insufficient_quota.json",
        "error_server.json",
    };

    for (size_t i = 0; i < NCASES(files); i++) {
        size_t len;
        char *body = read_fixture(files[i], &len);
        struct sl_chat_result r = { 0 };
        int want = sl_chat_parse_upstream_tree(body, len, &r);

        sl_chat_result_done(&r);
        same_readings(files[i], body, len, want, NULL);
        free(body);
    }
}

/* ---- finish_reason mapping ------------------------------------------------------------ */

struct finish_case {
    bool null;
    char in[32];
    char want[16];
};

ParameterizedTestParameters(chat_finish, mapping)
{
    static struct finish_case cases[] = {
        { true, "", "stop" },
        { false, "stop", "stop" },
        { false, "length", "length" },
        { false, "content_filter", "content_filter" },
        { false, "tool_calls", "tool_calls" },
        { false, "function_call", "tool_calls" },
        { false, "error", "error" },
        { false, "", "error" },
        { false, "Stop", "error" },
        { false, "stop ", "error" },
        { false, "end_turn", "error" },
        { false, "insufficient_system_resource", "error" },
        { false, "null", "error" },
    };
    return cr_make_param_array(struct finish_case, cases, NCASES(cases));
}

ParameterizedTest(struct finish_case *c, chat_finish, mapping)
{
    const char *got = sl_chat_finish_reason(c->null ? NULL : c->in);

    cr_assert_str_eq(got, c->want);
    cr_assert_eq(sl_chat_finish_reason(got), got, "idempotent on its own output");
}

/* ---- the 200 body ------------------------------------------------------------------- */

Test(chat_response, exact_json)
{
    struct sl_chat_result r = {
        .text = (char *)"Hi!",
        .text_len = 3,
        .model = (char *)"gpt-4o-mini-2024-07-18",
        .finish_reason = "stop",
        .usage = { .prompt_tokens = 10,
                   .completion_tokens = 5,
                   .total_tokens = 15,
                   .present = true },
    };
    size_t len;
    char *s = sl_chat_response_json(&r, &len);

    cr_assert_str_eq(s, "{\"text\":\"Hi!\",\"model\":\"gpt-4o-mini-2024-07-18\","
                        "\"finish_reason\":\"stop\",\"usage\":{\"prompt_tokens\":10,"
                        "\"completion_tokens\":5,\"total_tokens\":15}}");
    cr_assert_eq(len, strlen(s));
    free(s);
}

Test(chat_response, escaping)
{
    static const char text[] = "q\"b\\s/n\nt\tc\x01z\0e " EMOJI;
    struct sl_chat_result r = {
        .text = (char *)text,
        .text_len = sizeof(text) - 1,
        .model = (char *)"m\"1",
        .finish_reason = "stop",
    };
    char *s = sl_chat_response_json(&r, NULL);
    json_t *j;

    cr_assert_not_null(s);
    cr_assert_not_null(strstr(s, "q\\\"b\\\\s/n\\nt\\tc\\u0001z\\u0000e "), "%s", s);
    j = load_json(s);
    cr_assert_eq(json_string_length(json_object_get(j, "text")), sizeof(text) - 1);
    cr_assert_eq(memcmp(json_string_value(json_object_get(j, "text")), text, sizeof(text) - 1), 0);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "m\"1");
    json_decref(j);
    free(s);
}

Test(chat_response, defaults_keep_the_shape)
{
    struct sl_chat_result r = { .finish_reason = "bogus" };
    char *s = sl_chat_response_json(&r, NULL);

    cr_assert_str_eq(s, "{\"text\":\"\",\"model\":\"\",\"finish_reason\":\"error\",\"usage\":{"
                        "\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}");
    free(s);
    r.finish_reason = NULL;
    s = sl_chat_response_json(&r, NULL);
    cr_assert_not_null(strstr(s, "\"finish_reason\":\"stop\""));
    free(s);
}

Test(chat_response, invalid_utf8_text_is_refused)
{
    struct sl_chat_result r = { .text = (char *)"\xED\xA0\x80", .text_len = 3 };

    cr_assert_null(sl_chat_response_json(&r, NULL));
}

/* ---- the direct writers against json_dumps() ------------------------------------------- */

static void same_response_bytes(const struct sl_chat_result *r, const char *name)
{
    size_t len = 0, tlen = 0;
    char *a = sl_chat_response_json(r, &len), *b = sl_chat_response_json_tree(r, &tlen);

    cr_assert_eq(a == NULL, b == NULL, "%s", name);
    if (a) {
        cr_assert_eq(len, tlen, "%s", name);
        cr_assert_str_eq(a, b, "%s", name);
        cr_assert_eq(len, strlen(a), "%s", name);
    }
    free(a);
    free(b);
}

static void same_body_bytes(const struct sl_chat_upstream_params *p,
                            const struct sl_chat_request *r, const char *name)
{
    size_t len = 0, tlen = 0;
    char *a = sl_chat_upstream_body(p, r, &len), *b = sl_chat_upstream_body_tree(p, r, &tlen);

    cr_assert_eq(a == NULL, b == NULL, "%s", name);
    if (a) {
        cr_assert_eq(len, tlen, "%s", name);
        cr_assert_str_eq(a, b, "%s", name);
    }
    free(a);
    free(b);
}

struct text_case {
    char name[32];
    char s[48];
    size_t len; /* 0: strlen(s) */
};

static const struct text_case texts[] = {
    { "plain", "Hello! How can I assist you today?" },
    { "empty", "" },
    { "quotes and backslashes", "\"q\" \\b\\ \\\\ \\u0041" },
    { "short escapes", "\b\f\n\r\t" },
    { "other controls", "\x01\x02\x0b\x0e\x1a\x1b\x1f" },
    { "DEL and slash", "\x7f / </script>" },
    { "NULs", "a\0b\0", 4 },
    { "only a NUL", "", 1 },
    { "two-byte", "caf\xC3\xA9 \xC2\x80 \xDF\xBF" },
    { "three-byte", "\xE0\xA0\x80 \xE2\x80\xA8 \xE2\x80\xA9 \xEF\xBB\xBF \xEF\xBF\xBF" },
    { "four-byte", EMOJI " \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF" },
    { "surrogate", "\xED\xA0\x80" },
    { "overlong", "\xC0\xAF" },
    { "overlong three", "\xE0\x80\xAF" },
    { "above U+10FFFF", "\xF4\x90\x80\x80" },
    { "lone continuation", "a\x80" },
    { "truncated", "a\xE2\x80" },
    { "F5", "\xF5\x80\x80\x80" },
    { "FF", "\xFF" },
};

Test(chat_json_write, response_matches_json_dumps)
{
    static const char *const finishes[] = { NULL, "stop", "length", "function_call", "x" };

    for (size_t i = 0; i < NCASES(texts); i++) {
        const struct text_case *t = &texts[i];
        struct sl_chat_result r = {
            .text = (char *)t->s,
            .text_len = t->len ? t->len : strlen(t->s),
            .finish_reason = finishes[i % NCASES(finishes)],
            .usage = { .prompt_tokens = INT64_MAX,
                       .completion_tokens = -1,
                       .total_tokens = INT64_MIN,
                       .present = i & 1 },
        };

        same_response_bytes(&r, t->name);
        r.model = (char *)t->s;
        same_response_bytes(&r, t->name);
        r.text = NULL;
        same_response_bytes(&r, t->name);
    }
}

Test(chat_json_write, response_large_text_matches_json_dumps)
{
    struct buf b = { 0 };
    struct sl_chat_result r = { .model = (char *)"m", .finish_reason = "stop" };

    for (size_t i = 0; i < 5000; i++)
        put(&b, texts[i % NCASES(texts)].s, strlen(texts[i % NCASES(texts)].s));
    r.text = b.p;
    r.text_len = b.len;
    same_response_bytes(&r, "large, some invalid");
    b.len = 0;
    for (size_t i = 0; i < 5000; i++)
        put(&b, "\"\n" EMOJI "\x01", 8);
    r.text = b.p;
    r.text_len = b.len;
    same_response_bytes(&r, "large, valid");
    free(b.p);
}

Test(chat_json_write, upstream_body_matches_json_dumps)
{
    static const char *const models[] = { "gpt-4o-mini", "m\"\\/", "caf\xC3\xA9", "\xFF", "" };
    static const char *const prompts[] = { NULL, "", "You are helpful.\n", "\x01\xED\xA0\x80" };

    for (size_t i = 0; i < NCASES(texts); i++) {
        const struct text_case *t = &texts[i];
        struct sl_chat_request r = {
            .user_message = (char *)t->s,
            .user_message_len = t->len ? t->len : strlen(t->s),
        };

        for (size_t m = 0; m < NCASES(models); m++) {
            for (size_t s = 0; s < NCASES(prompts); s++) {
                struct sl_chat_upstream_params p = {
                    .model = models[m],
                    .system_prompt = prompts[s],
                    .max_tokens = (unsigned)(i * 977 + m),
                    .temperature = 0.7,
                    .stream = (i + m + s) & 1,
                };

                same_body_bytes(&p, &r, t->name);
                p.max_tokens = UINT32_MAX;
                p.system_prompt = t->s;
                same_body_bytes(&p, &r, t->name);
            }
        }
    }
}

/* Temperatures as %.15g writes them: integers gain ".0", exponents lose '+' and zeros. */
Test(chat_json_write, temperatures_match_json_dumps)
{
    static const double fixed[] = {
        0,
        -0.0,
        1,
        2,
        0.7,
        0.3,
        1.5,
        0.1 + 0.2,
        1e15,
        1e16,
        1e17,
        1e21,
        1e100,
        1e300,
        1e308,
        1.7976931348623157e308,
        5e-324,
        2.2250738585072014e-308,
        1e-5,
        1e-4,
        1e-7,
        0.0001234,
        123456789012345.0,
        1234567890123456.0,
        -3.25,
        -1e-300,
        100,
        1e5,
        1e-10,
        0.5e-100,
    };
    struct sl_chat_request r = { .user_message = (char *)"hi", .user_message_len = 2 };
    struct sl_chat_upstream_params p = { .model = "m", .max_tokens = 1 };
    uint64_t x = 0x9E3779B97F4A7C15u;
    char name[48];

    for (size_t i = 0; i < NCASES(fixed); i++) {
        p.temperature = fixed[i];
        snprintf(name, sizeof(name), "%.17g", fixed[i]);
        same_body_bytes(&p, &r, name);
    }
    for (int i = 0; i <= 2000; i++) {
        p.temperature = i / 1000.0;
        snprintf(name, sizeof(name), "%d/1000", i);
        same_body_bytes(&p, &r, name);
    }
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(&p.temperature, &x, sizeof(p.temperature));
        snprintf(name, sizeof(name), "bits %016llx", (unsigned long long)x);
        same_body_bytes(&p, &r, name);
    }
    p.temperature = NAN;
    same_body_bytes(&p, &r, "nan");
    p.temperature = INFINITY;
    same_body_bytes(&p, &r, "inf");
}

Test(chat_response, usage_json)
{
    struct sl_usage u = { 7, 8, 15, true };
    size_t len;
    char *s = sl_chat_usage_json(&u, &len);

    cr_assert_str_eq(s, "{\"prompt_tokens\":7,\"completion_tokens\":8,\"total_tokens\":15}");
    cr_assert_eq(len, strlen(s));
    free(s);
    u.present = false;
    s = sl_chat_usage_json(&u, NULL);
    cr_assert_str_eq(s, "{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}");
    free(s);
}

/* ---- upstream error codes ----------------------------------------------------------- */

struct errcode_case {
    char file[40]; /* fixture, or "" to use body */
    char body[96];
    size_t code_sz;
    char code[32];
    char type[32];
};

ParameterizedTestParameters(chat_upstream_error, code)
{
    static struct errcode_case cases[] = {
        { "error_insufficient_quota.json", "", 64, "insufficient_quota", "insufficient_quota" },
        { "error_rate_limit.json", "", 64, "rate_limit_exceeded", "tokens" },
        { "error_invalid_api_key.json", "", 64, "invalid_api_key", "invalid_request_error" },
        { "error_server.json", "", 64, "", "server_error" },
        { "bad_gateway.html", "", 64, "", "" },
        { "truncated.json", "", 64, "", "" },
        { "normal.json", "", 64, "", "" },
        { "error_insufficient_quota.json", "", 5, "insu", "insufficient_quota" },
        { "", "{\"error\":\"boom\"}", 64, "", "" },
        { "", "{\"error\":{\"code\":429,\"type\":null}}", 64, "", "" },
        { "", "{\"error\":{\"code\":\"a\\u0001\\u00e9b\",\"type\":\"t\"}}", 64, "a???b", "t" },
        { "", "[{\"error\":{\"code\":\"x\"}}]", 64, "", "" },
        { "", "", 64, "", "" },
    };
    return cr_make_param_array(struct errcode_case, cases, NCASES(cases));
}

ParameterizedTest(struct errcode_case *c, chat_upstream_error, code)
{
    char code[64], type[64];
    size_t len = strlen(c->body);
    char *body = c->file[0] ? read_fixture(c->file, &len) : NULL;

    memset(code, 'X', sizeof(code));
    memset(type, 'X', sizeof(type));
    sl_openai_error_code(body ? body : c->body, len, code, c->code_sz, type, sizeof(type));
    cr_assert_str_eq(code, c->code);
    cr_assert_str_eq(type, c->type);
    free(body);
}

Test(chat_upstream_error, zero_sized_buffers)
{
    static const char body[] = "{\"error\":{\"code\":\"c\",\"type\":\"t\"}}";
    char type[8];

    sl_openai_error_code(body, sizeof(body) - 1, NULL, 0, type, sizeof(type));
    cr_assert_str_eq(type, "t");
}

/* ---- usage: never charge less than the parts (issue: a total below prompt + completion
 * was trusted, so a tenant could be under-charged) ---- */

struct usage_case {
    char json[160];
    bool present;
    int64_t pt, ct, tt;
};

ParameterizedTestParameters(chat_usage, total_is_at_least_the_sum)
{
    static struct usage_case cases[] = {
        { "{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}", true, 10, 5, 15 },
        { "{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":1}", true, 10, 5, 15 },
        { "{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":0}", true, 10, 5, 15 },
        { "{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":-7}", true, 10, 5, 15 },
        { "{\"prompt_tokens\":10,\"completion_tokens\":5}", true, 10, 5, 15 },
        { "{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":\"99\"}", true, 10, 5,
          15 },
        { "{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":40}", true, 10, 5, 40 },
        { "{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}", true, 0, 0, 0 },
        { "{\"prompt_tokens\":10}", false, 0, 0, 0 },
        { "{\"prompt_tokens\":-1,\"completion_tokens\":5,\"total_tokens\":4}", false, 0, 0, 0 },
        { "null", false, 0, 0, 0 },
        { "[1,2]", false, 0, 0, 0 },
    };
    return cr_make_param_array(struct usage_case, cases, NCASES(cases));
}

ParameterizedTest(struct usage_case *c, chat_usage, total_is_at_least_the_sum)
{
    json_t *u = json_loads(c->json, JSON_DECODE_ANY, NULL);
    struct sl_usage got;
    struct sl_chat_result r;
    char body[512];

    cr_assert_not_null(u, "%s", c->json);
    sl_openai_usage_parse(u, &got);
    json_decref(u);
    cr_assert_eq(got.present, c->present, "%s", c->json);
    cr_assert_eq(got.prompt_tokens, c->pt, "%s", c->json);
    cr_assert_eq(got.completion_tokens, c->ct, "%s", c->json);
    cr_assert_eq(got.total_tokens, c->tt, "%s: total %lld", c->json, (long long)got.total_tokens);
    /* The same through the /api/chat answer mapping, which settles the budget. */
    snprintf(body, sizeof(body), "{\"choices\":[{\"message\":{\"content\":\"hi\"}}],\"usage\":%s}",
             c->json);
    cr_assert_eq(sl_chat_parse_upstream(body, strlen(body), &r), 0, "%s", body);
    cr_assert_eq(r.usage.present, c->present);
    cr_assert_eq(r.usage.total_tokens, c->tt, "%s", body);
    sl_chat_result_done(&r);
}

Test(chat_usage, null_usage_object_is_absent)
{
    struct sl_usage got;

    sl_openai_usage_parse(NULL, &got);
    cr_assert_not(got.present);
    cr_assert_eq(got.total_tokens, 0);
}

/* ---- /v1 bodies (v1_body.c) ---- */

static struct sl_config *v1_config(void)
{
    struct sl_config *cfg = sl_config_new();

    cr_assert_not_null(cfg);
    return cfg;
}

/* The SPEC §4 estimate for a body of len bytes, one message, no image, n = 1. */
static uint64_t v1_expected(const struct sl_config *cfg, size_t len, uint64_t max_tokens,
                            uint64_t n)
{
    return len + cfg->message_overhead_tokens + n * max_tokens;
}

struct v1_resv_case {
    char body[200];
    uint64_t limit; /* the completion limit the reservation must count */
    uint64_t n;
};

/* Issue: the estimate took max_tokens and ignored a larger max_completion_tokens, which the
 * upstream honours, so a tenant could spend past its budget. */
ParameterizedTestParameters(v1_body, reservation_counts_the_larger_limit)
{
    static struct v1_resv_case cases[] = {
        { "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"max_completion_tokens\":300,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          300, 1 },
        { "{\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":300,\"max_tokens\":10,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          300, 1 },
        { "{\"model\":\"gpt-4o-mini\",\"max_tokens\":300,\"max_completion_tokens\":10,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          300, 1 },
        { "{\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":250,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          250, 1 },
        { "{\"model\":\"gpt-4o-mini\",\"max_tokens\":20,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          20, 1 },
        { "{\"model\":\"gpt-4o-mini\",\"max_tokens\":null,\"max_completion_tokens\":30,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          30, 1 },
        { "{\"model\":\"gpt-4o-mini\",\"n\":3,\"max_tokens\":5,\"max_completion_tokens\":50,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          50, 3 },
    };
    return cr_make_param_array(struct v1_resv_case, cases, NCASES(cases));
}

ParameterizedTest(struct v1_resv_case *c, v1_body, reservation_counts_the_larger_limit)
{
    struct sl_config *cfg = v1_config();
    struct sl_v1_request req;
    struct sl_v1_problem p;

    cr_assert_eq(sl_v1_parse(c->body, strlen(c->body), cfg, &req, &p), 0, "%s: %s", c->body,
                 p.message);
    cr_assert_eq(req.reservation, v1_expected(cfg, strlen(c->body), c->limit, c->n),
                 "%s: reserved %llu", c->body, (unsigned long long)req.reservation);
    sl_v1_request_done(&req);
    sl_config_free(cfg);
}

Test(v1_body, a_missing_limit_reserves_the_injected_cap)
{
    static const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                               "\"content\":\"hi\"}]}";
    struct sl_config *cfg = v1_config();
    struct sl_v1_request req;
    struct sl_v1_problem p;

    cr_assert_eq(sl_v1_parse(body, strlen(body), cfg, &req, &p), 0);
    cr_assert_eq(req.reservation, v1_expected(cfg, strlen(body), cfg->max_tokens, 1));
    cr_assert_not_null(strstr(req.body, "\"max_tokens\":400"), "%s", req.body);
    sl_v1_request_done(&req);
    sl_config_free(cfg);
}

Test(v1_body, either_limit_over_the_cap_is_refused)
{
    static const char *const bodies[] = {
        "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"max_completion_tokens\":401,"
        "\"messages\":[]}",
        "{\"model\":\"gpt-4o-mini\",\"max_tokens\":401,\"max_completion_tokens\":10,"
        "\"messages\":[]}",
    };
    struct sl_config *cfg = v1_config();
    struct sl_v1_request req;
    struct sl_v1_problem p;

    for (size_t i = 0; i < NCASES(bodies); i++) {
        cr_assert_eq(sl_v1_parse(bodies[i], strlen(bodies[i]), cfg, &req, &p), -EINVAL);
        cr_assert_str_eq(p.code, "max_tokens_too_large");
    }
    sl_config_free(cfg);
}

/* A configuration whose models have caps of their own (SPEC §10): big above [upstream]
 * max_tokens (400), small below it; gpt-4o-mini has no section and keeps 400. */
static struct sl_config *v1_config_with_models(void)
{
    char path[] = "/tmp/sl_test_v1_body_XXXXXX";
    static const char text[] = "[model.big]\nmax_output_tokens = 2000\n"
                               "[model.small]\nmax_output_tokens = 50\n";
    char *envp[] = { NULL }, *errs = NULL;
    struct sl_config *cfg = NULL;
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    cr_assert_eq(sl_config_load(path, envp, &cfg, &errs), 0, "%s", errs ? errs : "");
    unlink(path);
    return cfg;
}

struct v1_cap_case {
    char body[160];
    int status;     /* 0 accepted, else the refusal's status */
    char code[32];  /* of the refusal */
    uint64_t limit; /* accepted: the completion limit reserved */
    char sent[32];  /* accepted: in the upstream body */
};

ParameterizedTestParameters(v1_body, the_cap_is_the_models)
{
    static struct v1_cap_case cases[] = {
        { "{\"model\":\"big\",\"messages\":[]}", 0, "", 2000, "\"max_tokens\":2000" },
        { "{\"model\":\"big\",\"max_tokens\":null,\"messages\":[]}", 0, "", 2000,
          "\"max_tokens\":2000" },
        { "{\"model\":\"big\",\"max_tokens\":1500,\"messages\":[]}", 0, "", 1500,
          "\"max_tokens\":1500" },
        { "{\"model\":\"big\",\"max_completion_tokens\":2000,\"messages\":[]}", 0, "", 2000,
          "\"max_completion_tokens\":2000" },
        { "{\"model\":\"big\",\"max_completion_tokens\":2001,\"messages\":[]}", 400,
          "max_tokens_too_large", 0, "" },
        { "{\"model\":\"small\",\"messages\":[]}", 0, "", 50, "\"max_tokens\":50" },
        { "{\"model\":\"small\",\"max_tokens\":51,\"messages\":[]}", 400, "max_tokens_too_large", 0,
          "" },
        { "{\"model\":\"small\",\"max_tokens\":10,\"max_completion_tokens\":51,\"messages\":[]}",
          400, "max_tokens_too_large", 0, "" },
        { "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", 0, "", 400, "\"max_tokens\":400" },
        { "{\"model\":\"gpt-4o-mini\",\"max_tokens\":401,\"messages\":[]}", 400,
          "max_tokens_too_large", 0, "" },
        { "{\"model\":\"gpt-4o\",\"messages\":[]}", 404, "model_not_found", 0, "" },
        { "{\"model\":\"bi\",\"messages\":[]}", 404, "model_not_found", 0, "" },
    };
    return cr_make_param_array(struct v1_cap_case, cases, NCASES(cases));
}

/* Both parse paths: the one-pass splice and the jansson tree it falls back on. */
ParameterizedTest(struct v1_cap_case *c, v1_body, the_cap_is_the_models)
{
    int (*const parse[])(const char *, size_t, const struct sl_config *, struct sl_v1_request *,
                         struct sl_v1_problem *) = { sl_v1_parse, sl_v1_parse_tree };
    struct sl_config *cfg = v1_config_with_models();
    struct sl_v1_request req;
    struct sl_v1_problem p;
    size_t len = strlen(c->body), i;

    for (i = 0; i < NCASES(parse); i++) {
        int r = parse[i](c->body, len, cfg, &req, &p);

        if (c->status) {
            cr_assert_eq(r, -EINVAL, "%s (path %zu)", c->body, i);
            cr_assert_eq(p.status, c->status, "%s (path %zu)", c->body, i);
            cr_assert_str_eq(p.code, c->code, "%s (path %zu)", c->body, i);
            continue;
        }
        cr_assert_eq(r, 0, "%s (path %zu): %s", c->body, i, p.message);
        cr_assert_eq(req.reservation, len + c->limit, "%s (path %zu): %llu", c->body, i,
                     (unsigned long long)req.reservation);
        cr_assert_not_null(strstr(req.body, c->sent), "%s (path %zu): %s", c->body, i, req.body);
        sl_v1_request_done(&req);
    }
    sl_config_free(cfg);
}

/* Issue: an upstream 4xx body was relayed unchecked, HTML and all, as application/json. */
struct v1_err_case {
    char body[200];
    int status;
    int want;      /* 0 kept, 1 replaced */
    char out[220]; /* "" = relayed as it came */
};

ParameterizedTestParameters(v1_body, upstream_error_bodies)
{
    static struct v1_err_case cases[] = {
        { "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,"
          "\"code\":null}}",
          400, 0, "" },
        { "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":\"n\","
          "\"code\":\"x\"},\"extra\":1}",
          400, 0, "" },
        { "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\"}}", 400, 0,
          "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,"
          "\"code\":null}}" },
        { "{\"error\":{\"message\":\"m\",\"code\":\"rate_limit_exceeded\"}}", 429, 0,
          "{\"error\":{\"message\":\"m\",\"code\":\"rate_limit_exceeded\","
          "\"type\":\"rate_limit_error\",\"param\":null}}" },
        { "{\"error\":{\"message\":\"m\",\"type\":\"t\",\"param\":5,\"code\":[]}}", 404, 0,
          "{\"error\":{\"message\":\"m\",\"type\":\"t\",\"param\":null,\"code\":null}}" },
        { "<html><body>Bad Gateway</body></html>", 400, 1,
          "{\"error\":{\"message\":\"The upstream provider refused the request.\","
          "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"upstream_error\"}}" },
        { "{\"error\":\"plain string\"}", 404, 1,
          "{\"error\":{\"message\":\"The upstream provider refused the request.\","
          "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"upstream_error\"}}" },
        { "{\"error\":{\"type\":\"x\"}}", 429, 1,
          "{\"error\":{\"message\":\"The upstream provider refused the request.\","
          "\"type\":\"rate_limit_error\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}" },
        { "{\"error\":{\"message\":\"m\",\"type\":", 400, 1, "" },
        { "", 400, 1, "" },
        { "[]", 400, 1, "" },
        { "{\"detail\":\"x\"}", 422, 1, "" },
        { "{\"error\":{\"message\":\"m\"},\"error\":{}}", 400, 1, "" }, /* duplicate keys */
    };
    return cr_make_param_array(struct v1_err_case, cases, NCASES(cases));
}

ParameterizedTest(struct v1_err_case *c, v1_body, upstream_error_bodies)
{
    char *out = (char *)"untouched";
    size_t len = 99;
    json_t *j, *e;
    int k = sl_openai_error_for_client(c->body, strlen(c->body), c->status, &out, &len);

    cr_assert_eq(k, c->want, "%s: %d", c->body, k);
    if (k == 0 && !c->out[0]) {
        cr_assert_null(out, "%s: rewritten as %s", c->body, out);
        cr_assert_eq(len, 0);
        return;
    }
    cr_assert_not_null(out, "%s", c->body);
    cr_assert_eq(len, strlen(out));
    if (c->out[0])
        cr_assert_str_eq(out, c->out, "%s", c->body);
    /* Whatever it is, it has OpenAI's shape with all four fields. */
    j = json_loads(out, 0, NULL);
    e = json_object_get(j, "error");
    cr_assert(json_is_string(json_object_get(e, "message")), "%s", out);
    cr_assert(json_is_string(json_object_get(e, "type")), "%s", out);
    cr_assert_not_null(json_object_get(e, "param"), "%s", out);
    cr_assert_not_null(json_object_get(e, "code"), "%s", out);
    json_decref(j);
    free(out);
}
