/* SPDX-License-Identifier: MIT */
/* test_json_scan.c - the one-pass JSON validator and reader: strings scanned eight bytes at a
 * time must end, and be refused, exactly where a byte-by-byte reading says, whatever their
 * length and alignment; the validator's verdicts agree with jansson's. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "core/json_scan.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_BODY 40 /* string lengths tried: 0..MAX_BODY bytes between the quotes */
#define MAX_LEAD 9  /* whitespace before the string, so it starts at every alignment */
#define BUF_MAX 128

/* ---- helpers ---------------------------------------------------------------------------- */

/* The reader's rule, one byte at a time: a backslash escapes the byte after it. */
static size_t slow_skip_string(const char *p, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return n;
}

/* A string of len bytes of filler with the bytes `at` put at offset k, quoted, after lead
 * spaces and a '[', then "]" (or nothing when open).  Returns the text's length; *start is
 * the opening quote's index. */
static size_t build(char *buf, size_t lead, size_t len, size_t k, const char *at, size_t at_len,
                    bool open, size_t *start)
{
    size_t o = 0, j;

    buf[o++] = '[';
    for (j = 0; j < lead; j++)
        buf[o++] = ' ';
    *start = o;
    buf[o++] = '"';
    for (j = 0; j < len; j++) {
        if (j == k) {
            memcpy(buf + o, at, at_len);
            o += at_len;
        }
        buf[o++] = (char)('a' + j % 26);
    }
    if (k == len) {
        memcpy(buf + o, at, at_len);
        o += at_len;
    }
    if (!open) {
        buf[o++] = '"';
        buf[o++] = ']';
    }
    return o;
}

static bool jansson_accepts(const char *s, size_t n, size_t flags)
{
    json_t *j = json_loadb(s, n, flags, NULL);
    bool ok = j != NULL;

    json_decref(j);
    return ok;
}

/* ---- the bytes that end or break a string, at every offset ------------------------------ */

/* Inline, not pointers: each test runs in a fresh process. */
struct byte_case {
    char bytes[16];
    size_t len;
    bool valid; /* as part of a string's content */
};

ParameterizedTestParameters(json_string, bytes)
{
    static struct byte_case cases[] = {
        { "\\\"", 2, true },            /* an escaped quote */
        { "\\\\", 2, true },            /* an escaped backslash */
        { "\\\\\\\"", 4, true },        /* both, back to back */
        { "\\n", 2, true },             /* a short escape */
        { "\\u00e9", 6, true },         /* a \u escape */
        { "\\ud83d\\ude00", 12, true }, /* a surrogate pair */
        { "\\ud83d", 6, false },        /* a lone high surrogate */
        { "\\x", 2, false },            /* an unknown escape */
        { "\\u0000", 6, true },         /* U+0000: valid in a value under ALLOW_NUL only */
        { "\x01", 1, false },           /* control bytes */
        { "\x1f", 1, false },
        { "\t", 1, false },
        { "\n", 1, false },
        { "\x00", 1, false },
        { " ", 1, true },        /* the first byte that is not a control */
        { "\x7f", 1, true },     /* DEL is not a control to JSON */
        { "\xc3\xa9", 2, true }, /* UTF-8: two, three and four bytes */
        { "\xe2\x82\xac", 3, true },
        { "\xf0\x9f\x98\x80", 4, true },
        { "\xc3", 1, false },         /* truncated */
        { "\xff", 1, false },         /* never in UTF-8 */
        { "\xc0\xaf", 2, false },     /* overlong */
        { "\xed\xa0\x80", 3, false }, /* a surrogate */
    };
    return cr_make_param_array(struct byte_case, cases, NCASES(cases));
}

ParameterizedTest(struct byte_case *c, json_string, bytes)
{
    char buf[BUF_MAX];
    size_t lead, len, k, n, start;
    bool nul = strcmp(c->bytes, "\\u0000") == 0;

    for (lead = 0; lead < MAX_LEAD; lead++) {
        for (len = 0; len <= MAX_BODY; len++) {
            for (k = 0; k <= len; k++) {
                n = build(buf, lead, len, k, c->bytes, c->len, false, &start);
                cr_assert_eq(sl_json_check(buf, n, SL_JSON_ALLOW_NUL, NULL) == SL_JSON_ARRAY,
                             c->valid, "%zu bytes, %s at %zu", len, c->bytes, k);
                cr_assert_eq(sl_json_check(buf, n, 0, NULL) == SL_JSON_ARRAY, c->valid && !nul,
                             "%zu bytes, %s at %zu without ALLOW_NUL", len, c->bytes, k);
                cr_assert_eq(c->valid, jansson_accepts(buf, n, JSON_ALLOW_NUL));
                /* The reader ends the string where the byte loop does, closed or not. */
                cr_assert_eq(sl_json_skip_string(buf, start, n), n - 1);
                cr_assert_eq(sl_json_skip_string(buf, start, n), slow_skip_string(buf, start, n));
                n = build(buf, lead, len, k, c->bytes, c->len, true, &start);
                cr_assert_eq(sl_json_skip_string(buf, start, n), slow_skip_string(buf, start, n),
                             "open: %zu bytes, %s at %zu", len, c->bytes, k);
                cr_assert_eq(sl_json_check(buf, n, SL_JSON_ALLOW_NUL, NULL), SL_JSON_NONE);
            }
        }
    }
}

/* A bare quote inside ends the string there: the reader stops at it, and the text after it
 * is no longer JSON. */
Test(json_string, bare_quote_ends_it_at_every_offset)
{
    char buf[BUF_MAX];
    size_t lead, len, k, n, start;

    for (lead = 0; lead < MAX_LEAD; lead++) {
        for (len = 0; len <= MAX_BODY; len++) {
            for (k = 0; k <= len; k++) {
                n = build(buf, lead, len, k, "\"", 1, false, &start);
                cr_assert_eq(sl_json_skip_string(buf, start, n), start + 1 + k + 1);
                cr_assert_eq(sl_json_check(buf, n, 0, NULL) == SL_JSON_ARRAY,
                             jansson_accepts(buf, n, 0), "%.*s", (int)n, buf);
            }
        }
    }
}

/* The text ends inside the string, at every length: nothing past the end is read (the
 * sanitizers would see it) and the answer is "no closing quote". */
Test(json_string, unterminated_at_every_length)
{
    char buf[BUF_MAX];
    size_t lead, len, cut, n, start;

    for (lead = 0; lead < MAX_LEAD; lead++) {
        for (len = 0; len <= MAX_BODY; len++) {
            n = build(buf, lead, len, len, "", 0, true, &start);
            for (cut = start + 1; cut <= n; cut++) {
                char *exact = malloc(cut);

                cr_assert_not_null(exact);
                memcpy(exact, buf, cut);
                cr_assert_eq(sl_json_skip_string(exact, start, cut), cut);
                cr_assert_eq(sl_json_check(exact, cut, 0, NULL), SL_JSON_NONE);
                free(exact);
            }
        }
    }
}

/* A backslash as the very last byte escapes nothing: no closing quote. */
Test(json_string, trailing_backslash)
{
    static const char *const texts[] = { "\"\\", "\"abcdefghijklmno\\", "\"abcdefg\\",
                                         "\"abcdefgh\\\\\\" };

    for (size_t t = 0; t < NCASES(texts); t++) {
        size_t n = strlen(texts[t]);

        cr_assert_eq(sl_json_skip_string(texts[t], 0, n), n, "%s", texts[t]);
        cr_assert_eq(sl_json_skip_string(texts[t], 0, n), slow_skip_string(texts[t], 0, n));
    }
    cr_assert_eq(sl_json_skip_string("\"", 1, 1), 1, "past the end: n");
}

/* Keys go through the same scan: a control byte or bad UTF-8 at any offset of a key is
 * refused, U+0000 in a key always. */
Test(json_string, keys_at_every_offset)
{
    static const struct {
        const char *bytes;
        bool valid;
    } keys[] = { { "\x01", false },
                 { "\xc3\xa9", true },
                 { "\\\"", true },
                 { "\\u0000", false },
                 { "\xff", false } };
    char buf[BUF_MAX];
    size_t len, k, o, j, t;

    for (t = 0; t < NCASES(keys); t++) {
        for (len = 0; len <= MAX_BODY; len++) {
            for (k = 0; k <= len; k++) {
                o = 0;
                buf[o++] = '{';
                buf[o++] = '"';
                for (j = 0; j <= len; j++) {
                    if (j == k) {
                        memcpy(buf + o, keys[t].bytes, strlen(keys[t].bytes));
                        o += strlen(keys[t].bytes);
                    }
                    if (j < len)
                        buf[o++] = 'k';
                }
                memcpy(buf + o, "\":1}", 4);
                o += 4;
                cr_assert_eq(sl_json_check(buf, o, SL_JSON_ALLOW_NUL, NULL) == SL_JSON_OBJECT,
                             keys[t].valid, "%.*s", (int)o, buf);
                cr_assert_eq(jansson_accepts(buf, o, JSON_ALLOW_NUL), keys[t].valid);
            }
        }
    }
}
