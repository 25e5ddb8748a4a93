/* SPDX-License-Identifier: MIT */
/* test_json_scan.c - the one-pass JSON validator and reader: strings scanned eight bytes at a
 * time must end, and be refused, exactly where a byte-by-byte reading says, whatever their
 * length and alignment; the validator's verdicts agree with jansson's, and the walk's with
 * the validator's. */
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

/* ---- the walk ------------------------------------------------------------------------------ */

/* Walk the value that comes next, entering every container: the walk's verdict. */
static bool walk_all(struct sl_json_walk *w)
{
    struct sl_json_span key;
    bool esc;
    int r;
    char open = sl_json_walk_peek(w);

    if (open != '{' && open != '[')
        return sl_json_walk_value(w, NULL);
    if (!sl_json_walk_enter(w, open))
        return false;
    while ((r = open == '{' ? sl_json_walk_member(w, &key, &esc) : sl_json_walk_element(w)) > 0)
        if (!walk_all(w))
            return false;
    return r == 0;
}

static bool walk_accepts(const char *s, size_t n, unsigned flags)
{
    struct sl_json_walk w;

    sl_json_walk_init(&w, s, n, flags);
    return walk_all(&w) && sl_json_walk_end(&w);
}

struct walk_case {
    char text[96];
    bool valid; /* sl_json_check()'s verdict, which the walk must give */
};

ParameterizedTestParameters(json_walk, verdicts)
{
    static struct walk_case cases[] = {
        { "{}", true },
        { "[]", true },
        { " \n{ \"a\" : [ 1 , { } , [ ] , \"x\" ] , \"b\" : null } \t", true },
        { "{\"a\":1,\"a\":2}", true }, /* duplicates: jansson keeps the last */
        { "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}", true },
        { "{\"a\":1,}", false }, /* trailing commas */
        { "[1,]", false },
        { "{,\"a\":1}", false },
        { "[,1]", false },
        { "{\"a\" 1}", false }, /* no colon */
        { "{\"a\":}", false },
        { "{\"a\":1 \"b\":2}", false }, /* no comma */
        { "[1 2]", false },
        { "{1:2}", false },      /* a key that is no string */
        { "{\"a\":1}}", false }, /* one close too many */
        { "{\"a\":[1}", false }, /* mismatched */
        { "{\"a\":1", false },   /* cut */
        { "{\"a\"", false },
        { "{", false },
        { "", false },
        { "   ", false },
        { "{}{}", false },  /* two roots */
        { "{} x", false },  /* garbage after */
        { "\"a\"", false }, /* a scalar root: jansson wants JSON_DECODE_ANY */
        { "1", false },
        { "null", false },
        { "{\"a\":tru}", false },
        { "{\"a\":01}", false },
        { "{\"a\":12345678901234567890}", false }, /* "not sure": left to jansson */
        { "{\"a\\u0000\":1}", false },             /* U+0000 in a key */
        { "{\"a\":\"\\u0000\"}", true },           /* in a value under ALLOW_NUL */
    };
    return cr_make_param_array(struct walk_case, cases, NCASES(cases));
}

ParameterizedTest(struct walk_case *c, json_walk, verdicts)
{
    size_t n = strlen(c->text);

    cr_assert_eq(sl_json_check(c->text, n, SL_JSON_ALLOW_NUL, NULL) != SL_JSON_NONE, c->valid,
                 "check: %s", c->text);
    cr_assert_eq(walk_accepts(c->text, n, SL_JSON_ALLOW_NUL), c->valid, "walk: %s", c->text);
    cr_assert_not(walk_accepts(c->text, n, SL_JSON_REJECT_DUPLICATES), "%s", c->text);
}

/* Nesting: as deep as sl_json_check() goes, whether the walk enters the levels or not. */
Test(json_walk, depth_bound)
{
    char text[2 * SL_JSON_MAX_DEPTH + 4];
    struct sl_json_walk w;
    size_t depth, k, n;

    for (depth = SL_JSON_MAX_DEPTH - 1; depth <= SL_JSON_MAX_DEPTH + 1; depth++) {
        for (k = 0, n = 0; k < depth; k++)
            text[n++] = '[';
        for (k = 0; k < depth; k++)
            text[n++] = ']';
        cr_assert_eq(walk_accepts(text, n, 0), depth <= SL_JSON_MAX_DEPTH);
        cr_assert_eq(sl_json_check(text, n, 0, NULL) != SL_JSON_NONE, depth <= SL_JSON_MAX_DEPTH);
        /* Only the root entered, the rest validated whole. */
        sl_json_walk_init(&w, text, n, 0);
        cr_assert(sl_json_walk_enter(&w, '['));
        cr_assert_eq(sl_json_walk_element(&w), 1);
        cr_assert_eq(sl_json_walk_value(&w, NULL) && sl_json_walk_element(&w) == 0 &&
                         sl_json_walk_end(&w),
                     depth <= SL_JSON_MAX_DEPTH);
    }
}

/* What the walk gives: keys with their quotes and whether they need decoding, values' spans,
 * and its position after each. */
Test(json_walk, keys_and_spans)
{
    static const char text[] = "{ \"a\\u0062\" : [1, 2] ,\"c\":\"d\" }";
    struct sl_json_walk w;
    struct sl_json_span key, v;
    bool esc;

    sl_json_walk_init(&w, text, strlen(text), 0);
    cr_assert_eq(sl_json_walk_peek(&w), '{');
    cr_assert_not(sl_json_walk_enter(&w, '['));
    cr_assert(sl_json_walk_enter(&w, '{'));
    cr_assert_eq(sl_json_walk_member(&w, &key, &esc), 1);
    cr_assert(esc);
    cr_assert_eq(key.len, 9);
    cr_assert_eq(memcmp(key.p, "\"a\\u0062\"", 9), 0);
    cr_assert(sl_json_str_eq(key, "ab", 2));
    cr_assert(sl_json_walk_value(&w, &v));
    cr_assert_eq(v.len, 6);
    cr_assert_eq(memcmp(v.p, "[1, 2]", 6), 0);
    cr_assert_eq(w.i, (size_t)(v.p + v.len - text));
    cr_assert_eq(sl_json_walk_member(&w, &key, &esc), 1);
    cr_assert_not(esc);
    cr_assert_eq(memcmp(key.p, "\"c\"", 3), 0);
    cr_assert(sl_json_walk_value(&w, &v));
    cr_assert_eq(memcmp(v.p, "\"d\"", 3), 0);
    cr_assert_eq(sl_json_walk_member(&w, &key, &esc), 0);
    cr_assert(sl_json_walk_end(&w));
    /* Nothing after the end: no second root, no value at the top. */
    cr_assert_not(sl_json_walk_enter(&w, '{'));
    cr_assert_not(sl_json_walk_value(&w, &v));
}

/* The root is entered, never passed as a value. */
Test(json_walk, root_is_entered)
{
    struct sl_json_walk w;

    sl_json_walk_init(&w, "{}", 2, 0);
    cr_assert_not(sl_json_walk_value(&w, NULL));
    cr_assert_not(sl_json_walk_end(&w));
    sl_json_walk_init(&w, NULL, 0, 0);
    cr_assert_eq(sl_json_walk_peek(&w), 0);
    cr_assert_not(sl_json_walk_enter(&w, '{'));
    cr_assert_not(sl_json_walk_end(&w));
}
