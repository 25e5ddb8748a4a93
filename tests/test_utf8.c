/* SPDX-License-Identifier: MIT */
/* Tests for utf8.c: strict validation, decoding, White_Space and trimming. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* Parameters are plain data (Criterion copies them into the test process). */
struct count_case {
    char in[16];
    size_t len;
    long want;
};

ParameterizedTestParameters(utf8, count)
{
    static struct count_case cases[] = {
        { "", 0, 0 },
        { "a", 1, 1 },
        { "\x00", 1, 1 }, /* U+0000 is a code point */
        { "a\x00"
          "b",
          3, 3 },
        { "\x7F", 1, 1 },
        { "\xC2\x80", 2, 1 },         /* U+0080, smallest 2-byte */
        { "\xDF\xBF", 2, 1 },         /* U+07FF */
        { "\xE0\xA0\x80", 3, 1 },     /* U+0800, smallest 3-byte */
        { "\xED\x9F\xBF", 3, 1 },     /* U+D7FF, just below surrogates */
        { "\xEE\x80\x80", 3, 1 },     /* U+E000, just above */
        { "\xEF\xBF\xBF", 3, 1 },     /* U+FFFF */
        { "\xF0\x90\x80\x80", 4, 1 }, /* U+10000 */
        { "\xF4\x8F\xBF\xBF", 4, 1 }, /* U+10FFFF */
        { "h\xC3\xA9llo", 6, 5 },
        { "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10, 4 },
        /* overlongs */
        { "\xC0\x80", 2, -1 },
        { "\xC0\xAF", 2, -1 },
        { "\xC1\xBF", 2, -1 },
        { "\xE0\x80\x80", 3, -1 },
        { "\xE0\x9F\xBF", 3, -1 },
        { "\xF0\x80\x80\x80", 4, -1 },
        { "\xF0\x8F\xBF\xBF", 4, -1 },
        /* UTF-16 surrogates encoded as UTF-8 (CESU-8) */
        { "\xED\xA0\x80", 3, -1 },
        { "\xED\xAF\xBF", 3, -1 },
        { "\xED\xB0\x80", 3, -1 },
        { "\xED\xBF\xBF", 3, -1 },
        { "\xED\xA0\xBD\xED\xB8\x80", 6, -1 },
        /* above U+10FFFF, and 5/6-byte forms */
        { "\xF4\x90\x80\x80", 4, -1 },
        { "\xF5\x80\x80\x80", 4, -1 },
        { "\xF7\xBF\xBF\xBF", 4, -1 },
        { "\xF8\x88\x80\x80\x80", 5, -1 },
        { "\xFC\x84\x80\x80\x80\x80", 6, -1 },
        { "\xFE", 1, -1 },
        { "\xFF", 1, -1 },
        /* truncated */
        { "\xC3", 1, -1 },
        { "\xE2\x82", 2, -1 },
        { "\xF0\x9F\x98", 3, -1 },
        { "ab\xF0\x9F", 4, -1 },
        { "\xC3\xA9", 1, -1 }, /* len cuts a valid sequence */
        /* stray or broken continuation bytes */
        { "\x80", 1, -1 },
        { "\xBF", 1, -1 },
        { "a\x80"
          "b",
          3, -1 },
        { "\xC3\x28", 2, -1 },
        { "\xE2\x28\xA1", 3, -1 },
        { "\xE2\x82\x28", 3, -1 },
        { "\xF0\x9F\x28\x80", 4, -1 },
        { "\xF0\x9F\x98\x28", 4, -1 },
        { "\xC3\xA9\xC3", 3, -1 },
    };
    return cr_make_param_array(struct count_case, cases, NCASES(cases));
}

ParameterizedTest(struct count_case *c, utf8, count)
{
    cr_assert_eq(sl_utf8_count(c->in, c->len), (ssize_t)c->want, "input %02x.. len %zu",
                 (unsigned char)c->in[0], c->len);
}

Test(utf8, count_null_empty)
{
    cr_assert_eq(sl_utf8_count(NULL, 0), 0);
}

struct decode_case {
    char in[8];
    size_t len;
    int want_n;
    uint32_t want_cp;
};

ParameterizedTestParameters(utf8, decode)
{
    static struct decode_case cases[] = {
        { "A", 1, 1, 0x41 },
        { "\x00", 1, 1, 0 },
        { "\xC3\xA9xyz", 5, 2, 0xE9 },
        { "\xE2\x82\xAC", 3, 3, 0x20AC },
        { "\xF0\x9F\x98\x80", 4, 4, 0x1F600 },
        { "\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF },
        { "", 0, -1, 0 },
        { "\xF0\x9F\x98\x80", 3, -1, 0 },
        { "\xED\xA0\x80", 3, -1, 0 },
        { "\xC0\x80", 2, -1, 0 },
    };
    return cr_make_param_array(struct decode_case, cases, NCASES(cases));
}

ParameterizedTest(struct decode_case *c, utf8, decode)
{
    uint32_t cp = 0xDEADBEEF;

    cr_assert_eq(sl_utf8_decode(c->in, c->len, &cp), c->want_n);
    if (c->want_n > 0)
        cr_assert_eq(cp, c->want_cp);
    else
        cr_assert_eq(cp, 0xDEADBEEF, "cp must be untouched on failure");
}

/* The test's own encoder, the reference for the exhaustive checks below. */
static size_t encode(uint32_t cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

Test(utf8, every_scalar_value_round_trips)
{
    unsigned char b[4];
    uint32_t cp;

    for (uint32_t v = 0; v <= 0x10FFFF; v++) {
        size_t n;

        if (v >= 0xD800 && v <= 0xDFFF)
            continue;
        n = encode(v, b);
        cr_assert_eq(sl_utf8_decode((const char *)b, n, &cp), (int)n, "U+%04X", v);
        cr_assert_eq(cp, v);
        cr_assert_eq(sl_utf8_count((const char *)b, n), 1);
    }
}

/* Every 2- and 3-byte input, and every F0..F7 lead with continuation tails: exactly the
 * scalar values' encodings are accepted, nothing else. */
Test(utf8, exhaustive_acceptance_counts)
{
    unsigned char b[4], ref[4];
    unsigned long ok2 = 0, ok3 = 0, ok4 = 0;
    uint32_t cp;

    for (unsigned v = 0x8000; v <= 0xFFFF; v++) {
        b[0] = (unsigned char)(v >> 8);
        b[1] = (unsigned char)v;
        ok2 += sl_utf8_decode((const char *)b, 2, &cp) == 2;
    }
    for (unsigned v = 0xE00000; v <= 0xEFFFFF; v++) {
        b[0] = (unsigned char)(v >> 16);
        b[1] = (unsigned char)(v >> 8);
        b[2] = (unsigned char)v;
        if (sl_utf8_decode((const char *)b, 3, &cp) == 3) {
            ok3++;
            cr_assert(cp < 0xD800 || cp > 0xDFFF);
            cr_assert_eq(encode(cp, ref), 3);
            cr_assert_eq(memcmp(ref, b, 3), 0);
        }
    }
    for (unsigned b0 = 0xF0; b0 <= 0xF7; b0++) {
        for (unsigned tail = 0; tail < 64 * 64 * 64; tail++) {
            b[0] = (unsigned char)b0;
            b[1] = (unsigned char)(0x80 | (tail >> 12));
            b[2] = (unsigned char)(0x80 | ((tail >> 6) & 0x3F));
            b[3] = (unsigned char)(0x80 | (tail & 0x3F));
            ok4 += sl_utf8_decode((const char *)b, 4, &cp) == 4;
        }
    }
    cr_assert_eq(ok2, 0x800 - 0x80);
    cr_assert_eq(ok3, 0x10000 - 0x800 - 0x800);
    cr_assert_eq(ok4, 0x110000 - 0x10000);
}

struct space_case {
    uint32_t cp;
    bool want;
};

ParameterizedTestParameters(utf8, is_space)
{
    static struct space_case cases[] = {
        { 0x09, true },    { 0x0A, true },    { 0x0B, true },      { 0x0C, true },
        { 0x0D, true },    { 0x20, true },    { 0x85, true },      { 0xA0, true },
        { 0x1680, true },  { 0x2000, true },  { 0x2005, true },    { 0x200A, true },
        { 0x2028, true },  { 0x2029, true },  { 0x202F, true },    { 0x205F, true },
        { 0x3000, true },  { 0x00, false },   { 0x08, false },     { 0x0E, false },
        { 0x1C, false },   { 0x1F, false },   { 'a', false },      { 0x7F, false },
        { 0x84, false },   { 0x180E, false }, { 0x200B, false },   { 0x200C, false },
        { 0x2060, false }, { 0xFEFF, false }, { 0x10FFFF, false },
    };
    return cr_make_param_array(struct space_case, cases, NCASES(cases));
}

ParameterizedTest(struct space_case *c, utf8, is_space)
{
    cr_assert_eq(sl_utf8_is_space(c->cp), c->want, "U+%04X", c->cp);
}

struct trim_case {
    char in[32];
    size_t len;
    size_t want_off;
    size_t want_n;
};

ParameterizedTestParameters(utf8, trim)
{
    static struct trim_case cases[] = {
        { "hi", 2, 0, 2 },
        { "  hi  ", 6, 2, 2 },
        { "\t\n\v\f\r hi\r\n", 10, 6, 2 },
        { "  a  b  ", 8, 2, 4 },
        { "", 0, 0, 0 },
        { "     ", 5, 5, 0 },
        { "\xC2\xA0hi\xC2\xA0", 6, 2, 2 },        /* NBSP */
        { "\xC2\x85x", 3, 2, 1 },                 /* NEL */
        { "\xE3\x80\x80x\xE3\x80\x80", 7, 3, 1 }, /* ideographic space */
        { "\xE2\x80\xA8x\xE2\x80\xA9", 7, 3, 1 }, /* LS, PS */
        { "\xE1\x9A\x80\xE2\x80\x8A\xE2\x80\xAFx", 10, 9, 1 },
        { "\xE2\x80\x8Bx", 4, 0, 4 }, /* ZWSP is not White_Space */
        { "\xEF\xBB\xBFx", 4, 0, 4 }, /* nor is the BOM */
        { "\x1Cx\x1F", 3, 0, 3 },     /* nor U+001C..U+001F */
        { "x\x00 ", 3, 0, 2 },        /* NUL is kept */
        { "\xC3\xA9 ", 3, 0, 2 },
        { " \xF0\x9F\x98\x80 ", 6, 1, 4 },
        { "x \xC3", 3, 0, 3 }, /* invalid tail: stop there */
        { "\xFF x ", 4, 0, 3 },
        { " \x80 ", 3, 1, 1 },
        { "\xC2\xA0", 2, 2, 0 },
    };
    return cr_make_param_array(struct trim_case, cases, NCASES(cases));
}

ParameterizedTest(struct trim_case *c, utf8, trim)
{
    size_t off = 99;
    size_t n = sl_utf8_trim(c->in, c->len, &off);

    cr_assert_eq(off, c->want_off, "off %zu", off);
    cr_assert_eq(n, c->want_n, "n %zu", n);
}
