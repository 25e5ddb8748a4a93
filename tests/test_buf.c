/* SPDX-License-Identifier: MIT */
/* test_buf.c - the bounded buffer and the JSON string escaper. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>

#include "core/buf.h"

Test(buf, append_respects_the_ceiling)
{
    struct sl_buf b;

    sl_buf_init(&b, 8);
    cr_assert_eq(sl_buf_puts(&b, "12345678"), 0);
    cr_assert_eq(sl_buf_puts(&b, "9"), -E2BIG);
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(b.data, "12345678");
    sl_buf_reset(&b);
    cr_assert_eq(sl_buf_printf(&b, "%d-%s", 42, "x"), 0);
    cr_assert_str_eq(b.data, "42-x");
    cr_assert_eq(sl_buf_printf(&b, "%s", "too long now"), -E2BIG);
    cr_assert_str_eq(b.data, "42-x");
    sl_buf_done(&b);
}

/* Reserving makes room under the same ceiling as appending, and changes nothing else. */
Test(buf, reserve_respects_the_ceiling)
{
    struct sl_buf b;

    sl_buf_init(&b, 8);
    cr_assert_eq(sl_buf_puts(&b, "123"), 0);
    cr_assert_eq(sl_buf_reserve(&b, 6), -E2BIG);
    cr_assert_eq(sl_buf_reserve(&b, SIZE_MAX), -E2BIG);
    cr_assert_eq(sl_buf_reserve(&b, 5), 0);
    cr_assert_eq(b.len, 3);
    cr_assert_str_eq(b.data, "123");
    cr_assert_geq(b.cap, 3 + 5 + 1);
    memcpy(b.data + b.len, "45678", 5);
    b.len += 5;
    b.data[b.len] = '\0';
    cr_assert_str_eq(b.data, "12345678");
    sl_buf_done(&b);
}

Test(buf, take_hands_over_the_bytes)
{
    struct sl_buf b;
    size_t len;
    char *p;

    sl_buf_init(&b, 100);
    sl_buf_puts(&b, "hello");
    p = sl_buf_take(&b, &len);
    cr_assert_eq(len, 5);
    cr_assert_str_eq(p, "hello");
    cr_assert_null(b.data);
    free(p);
}

/* Criterion runs each test in a fresh process image: parameters hold no pointers. */
struct esc_case {
    char in[16];
    size_t len;
    char want[48];
};

ParameterizedTestParameters(buf, json_escape)
{
    static struct esc_case cases[] = {
        { "plain", 5, "\"plain\"" },
        { "q\"b\\", 4, "\"q\\\"b\\\\\"" },
        { "a\nb\rc\td", 7, "\"a\\nb\\rc\\td\"" },
        { "\x01\x1f", 2, "\"\\u0001\\u001f\"" },
        { "nul\0x", 5, "\"nul\\u0000x\"" },
        { "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },
        { "\xff", 1, "\"\xef\xbf\xbd\"" },                 /* invalid byte -> U+FFFD */
        { "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" }, /* overlong */
        { "\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* surrogate */
        { "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },
        { "\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" }, /* truncated */
    };
    return cr_make_param_array(struct esc_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct esc_case *c, buf, json_escape)
{
    struct sl_buf b;
    json_error_t e;
    json_t *j;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_buf_json_str(&b, c->in, c->len), 0);
    cr_assert_str_eq(b.data, c->want);
    j = json_loads(b.data, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    cr_assert_not_null(j, "not valid JSON: %s (%s)", b.data, e.text);
    json_decref(j);
    sl_buf_done(&b);
}

Test(buf, json_escape_failure_leaves_buffer_intact)
{
    struct sl_buf b;

    sl_buf_init(&b, 10);
    sl_buf_puts(&b, "ab");
    cr_assert_eq(sl_buf_json_str(&b, "0123456789", 10), -E2BIG);
    cr_assert_eq(b.len, 2);
    cr_assert_str_eq(b.data, "ab");
    sl_buf_done(&b);
}
