/* SPDX-License-Identifier: MIT */
/* Tests for openai_answer.c: the text of a buffered chat or Responses answer, as the prompt
 * log shows it, whole or not at all. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/openai.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define BIG ((size_t)1 << 20)

/* Strings as arrays: criterion copies the parameters into the process that runs the test. */
struct answer_case {
    char name[64];
    enum sl_openai_answer shape;
    char body[400];
    size_t max;
    int rc;
    char text[80];
    size_t text_len; /* 0: strlen(text) */
};

#define CHAT(msg) "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"message\":" msg "}]}"
#define RESP(content) "{\"id\":\"r1\",\"output\":[{\"type\":\"message\",\"content\":" content "}]}"

ParameterizedTestParameters(answer_text, table)
{
    static struct answer_case cases[] = {
        /* chat.completion */
        { "chat content", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"role\":\"assistant\",\"content\":\"Hello there\",\"refusal\":null}"), BIG, 0,
          "Hello there" },
        { "chat refusal", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I can't\"}"), BIG, 0,
          "I can't" },
        { "chat content and refusal", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"content\":\"a\",\"refusal\":\"b\"}"), BIG, 0, "a\nb" },
        { "chat escapes decoded", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"content\":\"q\\\"\\n\\u00e9\\ud83d\\ude00\"}"), BIG, 0,
          "q\"\n\xc3\xa9\xf0\x9f\x98\x80" },
        { "chat NUL kept", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"a\\u0000b\"}"), BIG, 0,
          "a\0b", 3 },
        { "chat n=2", SL_OPENAI_ANSWER_CHAT,
          "{\"choices\":[{\"message\":{\"content\":\"one\"}},{\"message\":{\"content\":\"two\"}}]}",
          BIG, 0, "one\ntwo" },
        { "chat empty content is there", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"\"}"), BIG, 0,
          "" },
        { "chat empty parts leave no separator", SL_OPENAI_ANSWER_CHAT,
          "{\"choices\":[{\"message\":{\"content\":\"\"}},{\"message\":{\"content\":\"x\"}},"
          "{\"message\":{\"content\":\"\"}}]}",
          BIG, 0, "x" },
        { "chat last duplicate wins", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"content\":\"first\",\"content\":\"last\"}"), BIG, 0, "last" },
        { "chat tool calls only", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"content\":null,\"tool_calls\":[{\"id\":\"t\"}]}"), BIG, -ENOENT, "" },
        { "chat content not a string", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"content\":[\"x\"],\"refusal\":7}"), BIG, -ENOENT, "" },
        { "chat no choices", SL_OPENAI_ANSWER_CHAT, "{\"id\":\"c1\"}", BIG, -ENOENT, "" },
        { "chat choices not an array", SL_OPENAI_ANSWER_CHAT,
          "{\"choices\":{\"message\":{\"content\":\"x\"}}}", BIG, -ENOENT, "" },
        { "chat message not an object", SL_OPENAI_ANSWER_CHAT,
          "{\"choices\":[{\"message\":\"x\"},7,null]}", BIG, -ENOENT, "" },
        { "chat text elsewhere is not read", SL_OPENAI_ANSWER_CHAT,
          "{\"content\":\"x\",\"choices\":[{\"delta\":{\"content\":\"y\"}}]}", BIG, -ENOENT, "" },
        { "chat exactly max", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"12345\"}"), 5, 0,
          "12345" },
        { "chat one past max", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"123456\"}"), 5, -E2BIG,
          "" },
        { "chat separator counts", SL_OPENAI_ANSWER_CHAT,
          CHAT("{\"content\":\"12\",\"refusal\":\"34\"}"), 4, -E2BIG, "" },
        { "chat escapes count as written", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"\\u00e9\"}"),
          5, -E2BIG, "" },
        { "chat max 0, empty text", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"\"}"), 0, 0, "" },
        /* response */
        { "responses output_text", SL_OPENAI_ANSWER_RESPONSES,
          RESP("[{\"type\":\"output_text\",\"text\":\"Hi!\",\"annotations\":[]}]"), BIG, 0, "Hi!" },
        { "responses refusal part", SL_OPENAI_ANSWER_RESPONSES,
          RESP("[{\"type\":\"refusal\",\"refusal\":\"No.\"}]"), BIG, 0, "No." },
        { "responses several parts and items", SL_OPENAI_ANSWER_RESPONSES,
          "{\"output\":[{\"type\":\"reasoning\",\"summary\":[]},"
          "{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"a\"},"
          "{\"type\":\"output_text\",\"text\":\"b\"}]},"
          "{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"c\"}]}]}",
          BIG, 0, "a\nb\nc" },
        { "responses other part types passed over", SL_OPENAI_ANSWER_RESPONSES,
          RESP("[{\"type\":\"input_text\",\"text\":\"no\"},{\"text\":\"untyped\"},"
               "{\"type\":\"output_text\",\"refusal\":\"wrong member\"},"
               "{\"type\":\"output_text\",\"text\":\"yes\"}]"),
          BIG, 0, "yes" },
        { "responses escaped type", SL_OPENAI_ANSWER_RESPONSES,
          RESP("[{\"type\":\"output\\u005ftext\",\"text\":\"t\"}]"), BIG, 0, "t" },
        { "responses background: no output", SL_OPENAI_ANSWER_RESPONSES,
          "{\"id\":\"r1\",\"status\":\"queued\",\"output\":[]}", BIG, -ENOENT, "" },
        { "responses function call only", SL_OPENAI_ANSWER_RESPONSES,
          "{\"output\":[{\"type\":\"function_call\",\"arguments\":\"{}\"}]}", BIG, -ENOENT, "" },
        { "responses content not an array", SL_OPENAI_ANSWER_RESPONSES,
          "{\"output\":[{\"content\":\"text\"}]}", BIG, -ENOENT, "" },
        { "responses past max", SL_OPENAI_ANSWER_RESPONSES,
          RESP("[{\"type\":\"output_text\",\"text\":\"abc\"},"
               "{\"type\":\"output_text\",\"text\":\"def\"}]"),
          6, -E2BIG, "" },
        { "responses output_text read as chat", SL_OPENAI_ANSWER_CHAT,
          RESP("[{\"type\":\"output_text\",\"text\":\"x\"}]"), BIG, -ENOENT, "" },
        /* not an answer */
        { "no shape", SL_OPENAI_ANSWER_NONE, CHAT("{\"content\":\"x\"}"), BIG, -ENOENT, "" },
        { "not JSON", SL_OPENAI_ANSWER_CHAT, "{\"choices\":[{\"message\":{\"content\":\"x\"}}]",
          BIG, -ENOENT, "" },
        { "an array", SL_OPENAI_ANSWER_CHAT, "[{\"choices\":[]}]", BIG, -ENOENT, "" },
        { "trailing bytes", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"x\"}") " x", BIG, -ENOENT,
          "" },
        { "invalid UTF-8", SL_OPENAI_ANSWER_CHAT, CHAT("{\"content\":\"\xff\"}"), BIG, -ENOENT,
          "" },
        { "empty", SL_OPENAI_ANSWER_CHAT, "", BIG, -ENOENT, "" },
    };

    return cr_make_param_array(struct answer_case, cases, NCASES(cases));
}

ParameterizedTest(struct answer_case *c, answer_text, table)
{
    char *text = (char *)"unset";
    size_t len = 99, want = c->text_len ? c->text_len : strlen(c->text);
    int rc = sl_openai_answer_text(c->body, strlen(c->body), c->shape, c->max, &text, &len);

    cr_assert_eq(rc, c->rc, "%s: %d, not %d", c->name, rc, c->rc);
    if (rc != 0) {
        cr_assert_null(text, "%s", c->name);
        cr_assert_eq(len, 0, "%s", c->name);
        return;
    }
    cr_assert_not_null(text, "%s", c->name);
    cr_assert_eq(len, want, "%s: %zu bytes, not %zu", c->name, len, want);
    cr_assert_eq(memcmp(text, c->text, want), 0, "%s: \"%s\"", c->name, text);
    cr_assert_eq(text[len], '\0', "%s", c->name);
    free(text);
}

/* The body need not be NUL-terminated, and nothing past len is read. */
Test(answer_text, reads_only_len_bytes)
{
    static const char body[] = CHAT("{\"content\":\"x\"}");
    size_t n = sizeof(body) - 1, len;
    char *copy = malloc(n), *text;

    cr_assert_not_null(copy);
    memcpy(copy, body, n);
    cr_assert_eq(sl_openai_answer_text(copy, n, SL_OPENAI_ANSWER_CHAT, BIG, &text, &len), 0);
    cr_assert_str_eq(text, "x");
    free(text);
    cr_assert_eq(sl_openai_answer_text(copy, n - 1, SL_OPENAI_ANSWER_CHAT, BIG, &text, &len),
                 -ENOENT);
    free(copy);
}
