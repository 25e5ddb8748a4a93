/* SPDX-License-Identifier: MIT */
/* test_fmt.c - the request path's printf-free copy and decimals agree with snprintf. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/fmt.h"

Test(fmt, copy_cuts_and_terminates_as_snprintf_does)
{
    static const struct {
        const char *src;
        size_t size;
        const char *want;
        bool whole;
    } cases[] = {
        { "", 1, "", true },        { "a", 1, "", false },
        { "abc", 3, "ab", false },  { "abc", 4, "abc", true },
        { "abc", 64, "abc", true }, { "gpt-4o-mini", 8, "gpt-4o-", false },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dst[64], ref[64];

        memset(dst, 'x', sizeof(dst));
        cr_assert_eq(sl_fmt_copy(dst, cases[i].size, cases[i].src), cases[i].whole, "case %zu", i);
        cr_assert_str_eq(dst, cases[i].want, "case %zu", i);
        snprintf(ref, cases[i].size, "%s", cases[i].src);
        cr_assert_str_eq(dst, ref, "case %zu, as snprintf", i);
    }
}

Test(fmt, u64_writes_what_snprintf_writes)
{
    static const uint64_t cases[] = { 0,         1,       9,           10,          99,
                                      100,       1000000, 4294967295u, 4294967296u, UINT64_MAX - 1,
                                      UINT64_MAX };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[SL_FMT_U64_MAX], ref[32];
        size_t n = sl_fmt_u64(out, cases[i]);

        snprintf(ref, sizeof(ref), "%llu", (unsigned long long)cases[i]);
        cr_assert_str_eq(out, ref);
        cr_assert_eq(n, strlen(ref));
    }
}

/* What request.c wrote with snprintf before: the reference. */
static void go_duration_by_printf(char *out, size_t n, uint64_t ms)
{
    if (ms < 1000)
        snprintf(out, n, "%llums", (unsigned long long)ms);
    else if (ms < 60000)
        snprintf(out, n, "%llus", (unsigned long long)((ms + 999) / 1000));
    else
        snprintf(out, n, "%llum%llus", (unsigned long long)(ms / 60000),
                 (unsigned long long)((ms % 60000 + 999) / 1000));
}

Test(fmt, go_durations_as_openai_writes_them)
{
    static const struct {
        uint64_t ms;
        const char *want;
    } cases[] = {
        { 0, "0ms" },       { 20, "20ms" },        { 999, "999ms" },     { 1000, "1s" },
        { 1001, "2s" },     { 59999, "60s" },      { 60000, "1m0s" },    { 60001, "1m1s" },
        { 360000, "6m0s" }, { 3599999, "59m60s" }, { UINT64_MAX, NULL },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[SL_FMT_DURATION_MAX], ref[64];
        size_t n = sl_fmt_go_duration(out, cases[i].ms);

        go_duration_by_printf(ref, sizeof(ref), cases[i].ms);
        cr_assert_str_eq(out, ref, "%llu ms", (unsigned long long)cases[i].ms);
        cr_assert_eq(n, strlen(ref));
        if (cases[i].want)
            cr_assert_str_eq(out, cases[i].want);
    }
}
