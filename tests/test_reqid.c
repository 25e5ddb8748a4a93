/* SPDX-License-Identifier: MIT */
/* test_reqid.c - X-Request-ID acceptance rules and fresh ids. */
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "core/reqid.h"

/* Criterion runs each test in a fresh process image: parameters hold no pointers. */
struct reqid_case {
    char value[64];
    bool valid;
};

ParameterizedTestParameters(reqid, validity)
{
    static struct reqid_case cases[] = {
        { "abc", true },
        { "a", true },
        { "0f8fad5b-d9cb-469f-a165-70867728950e", true },
        { "!~:/@[]{}\"'", true }, /* every visible ASCII is allowed */
        { "", false },
        { "has space", false },
        { "tab\there", false },
        { "crlf\r\nX-Evil: 1", false },
        { "nul", true },
        { "caf\xc3\xa9", false }, /* non-ASCII */
        { "\x7f", false },
    };
    return cr_make_param_array(struct reqid_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct reqid_case *c, reqid, validity)
{
    cr_assert_eq(sl_reqid_is_valid(c->value), c->valid, "%s", c->value);
}

Test(reqid, length_limit_is_128)
{
    char s[200];

    memset(s, 'a', sizeof(s));
    s[128] = '\0';
    cr_assert(sl_reqid_is_valid(s));
    s[128] = 'a';
    s[129] = '\0';
    cr_assert_not(sl_reqid_is_valid(s));
    cr_assert_not(sl_reqid_is_valid(NULL));
}

Test(reqid, fresh_ids_are_32_hex_and_differ)
{
    char a[SL_REQID_MAX + 1], b[SL_REQID_MAX + 1];

    sl_reqid_new(a);
    sl_reqid_new(b);
    cr_assert_eq(strlen(a), 32);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 32);
    cr_assert_str_neq(a, b);
    cr_assert(sl_reqid_is_valid(a));
}

Test(reqid, pick_keeps_a_sane_value_and_replaces_others)
{
    char out[SL_REQID_MAX + 1];

    sl_reqid_pick("client-id-1", out);
    cr_assert_str_eq(out, "client-id-1");
    sl_reqid_pick("bad id", out);
    cr_assert_eq(strlen(out), 32);
    sl_reqid_pick(NULL, out);
    cr_assert_eq(strlen(out), 32);
}
