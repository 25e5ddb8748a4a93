/* SPDX-License-Identifier: MIT */
/* test_chunked.c - the chunked-body reader (core/chunked.c): which bytes of a body become
 * spaces, where reading stops and why, the same however the bytes are split. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "core/chunked.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define DATA24 "abcdefghijklmnopqrstuvwx"

/* What reading a body gave: the bytes with the edits applied, how many were read, the end
 * state and the sum of the chunk sizes. */
struct outcome {
    char *out;
    size_t used;
    enum sl_chunked_state state;
    uint64_t body;
    int edits;
};

/* Feeds in[0..len) in the pieces that cuts[] (ascending offsets, ncuts of them) make, and
 * applies each edit to a copy, as the input buffer's reader does. */
static struct outcome read_body(const char *in, size_t len, uint64_t max_body, const size_t *cuts,
                                size_t ncuts)
{
    struct outcome o = { .out = malloc(len + 1) };
    struct sl_chunked c;
    size_t from = 0, piece, to, k;
    uint64_t at;

    cr_assert_not_null(o.out);
    memcpy(o.out, in, len);
    o.out[len] = '\0';
    sl_chunked_init(&c, max_body);
    for (piece = 0; piece <= ncuts; piece++) {
        to = piece < ncuts ? cuts[piece] : len;
        while (from < to && c.state == SL_CHUNKED_READING) {
            k = sl_chunked_feed(&c, in + from, to - from);
            from += k;
            cr_assert_eq(c.pos, from, "pos %llu after %zu bytes", (unsigned long long)c.pos, from);
            if (sl_chunked_take_edit(&c, &at)) {
                cr_assert_lt(at, from, "an edit at %llu, past the bytes read",
                             (unsigned long long)at);
                cr_assert(in[at] == ';' || in[at] == '\t', "an edit of byte 0x%02x at %llu",
                          (unsigned char)in[at], (unsigned long long)at);
                o.out[at] = ' ';
                o.edits++;
            } else if (k == 0) {
                break;
            }
        }
    }
    o.used = from;
    o.state = c.state;
    o.body = c.body;
    return o;
}

static struct outcome read_whole(const char *in, size_t len, uint64_t max_body)
{
    return read_body(in, len, max_body, NULL, 0);
}

/* ---- one behaviour per row ------------------------------------------------------------- */

struct row {
    char name[48];
    char in[200];
    size_t in_len; /* 0: strlen(in) */
    uint64_t max_body;
    char want[200];  /* the bytes read, after the edits */
    size_t want_len; /* 0: strlen(want) */
    enum sl_chunked_state state;
    uint64_t body;
};

#define M (1u << 20)
#define D SL_CHUNKED_DONE

static struct row rows[] = {
    /* issue 18: an extension and a trailer */
    { "extension and trailer", "18;ext=1\r\n" DATA24 "\r\n0\r\nX-Trailer: 1\r\n\r\n", 0, M,
      "18 ext=1\r\n" DATA24 "\r\n0\r\n", 0, D, 24 },
    { "no extension: untouched", "18\r\n" DATA24 "\r\n0\r\n\r\n", 0, M, "18\r\n" DATA24 "\r\n0\r\n",
      0, D, 24 },
    { "extension on the last chunk", "3\r\nabc\r\n0;final=yes\r\n\r\n", 0, M,
      "3\r\nabc\r\n0 final=yes\r\n", 0, D, 3 },
    { "only the first ';' changes", "5;a;b=\"x;y\"\r\nhello\r\n0\r\n\r\n", 0, M,
      "5 a;b=\"x;y\"\r\nhello\r\n0\r\n", 0, D, 5 },
    { "tab before ';' becomes a space", "5\t;a\r\nhello\r\n0\r\n", 0, M, "5 ;a\r\nhello\r\n0\r\n",
      0, D, 5 },
    { "tab and spaces before ';'", "5\t \t;a\r\nhello\r\n0\r\n", 0, M, "5  \t;a\r\nhello\r\n0\r\n",
      0, D, 5 },
    { "space before ';' is read already", "5 ;a\r\nhello\r\n0\r\n", 0, M, "5 ;a\r\nhello\r\n0\r\n",
      0, D, 5 },
    { "anything after a space", "5 \x01z\r\nhello\r\n0\r\n", 0, M, "5 \x01z\r\nhello\r\n0\r\n", 0,
      D, 5 },
    { "extension with tab and high bytes", "5;a=\"\t\xc3\xa9\"\r\nhello\r\n0\r\n", 0, M,
      "5 a=\"\t\xc3\xa9\"\r\nhello\r\n0\r\n", 0, D, 5 },
    { "chunk data is never read", "5;x\r\n;\t;\r\n\r\n0\r\n", 0, M, "5 x\r\n;\t;\r\n\r\n0\r\n", 0,
      D, 5 },
    { "several chunks", "1;a\r\nx\r\n2;b\r\nyz\r\n0\r\n", 0, M, "1 a\r\nx\r\n2 b\r\nyz\r\n0\r\n", 0,
      D, 3 },
    { "LF alone ends lines", "5;a\nhello\n0;b\n\n", 0, M, "5 a\nhello\n0 b\n", 0, D, 5 },
    { "empty lines are skipped", "5\r\nhello\r\n\r\n\n\r\n0\r\n", 0, M,
      "5\r\nhello\r\n\r\n\n\r\n0\r\n", 0, D, 5 },
    { "no line end after the data", "5\r\nhello0;z\r\n", 0, M, "5\r\nhello0 z\r\n", 0, D, 5 },
    { "hex in both cases", "1A;x\r\n" DATA24 "ab\r\n0\r\n", 0, M, "1A x\r\n" DATA24 "ab\r\n0\r\n",
      0, D, 26 },
    { "leading zeros", "0005;x\r\nhello\r\n000\r\n", 0, M, "0005 x\r\nhello\r\n000\r\n", 0, D, 5 },
    { "NUL after the digits ends them", "5\0zz\r\nhello\r\n0\r\n", 16, M, "5\0zz\r\nhello\r\n0\r\n",
      16, D, 5 },
    { "nothing after the last chunk is read", "0;e\r\nT: x;y\r\n\r\nPOST / HTTP/1.1\r\n", 0, M,
      "0 e\r\n", 0, D, 0 },
    /* lines evhttp refuses as corrupt */
    { "not a number", "zz\r\nhi\r\n0\r\n\r\n", 0, M, "zz\r\n", 0, SL_CHUNKED_MALFORMED, 0 },
    { "a letter after the digits", "5g\r\nhello\r\n", 0, M, "5g\r\n", 0, SL_CHUNKED_MALFORMED, 0 },
    { "a ';' and no digits", ";a\r\n", 0, M, ";a\r\n", 0, SL_CHUNKED_MALFORMED, 0 },
    { "control byte in an extension", "5;a\x01\r\nhello\r\n", 0, M, "5;a\x01\r\n", 0,
      SL_CHUNKED_MALFORMED, 0 },
    { "bare CR in an extension", "5;a\rb\r\nhello\r\n", 0, M, "5;a\rb\r\n", 0, SL_CHUNKED_MALFORMED,
      0 },
    { "bare CR after the digits", "5\rx\r\nhello\r\n", 0, M, "5\rx\r\n", 0, SL_CHUNKED_MALFORMED,
      0 },
    { "NUL in an extension", "5;a\0b\r\nhello\r\n", 14, M, "5;a\0b\r\n", 7, SL_CHUNKED_MALFORMED,
      0 },
    { "tab, then the line's end", "5\t\r\nhello\r\n", 0, M, "5\t\r\n", 0, SL_CHUNKED_MALFORMED, 0 },
    { "tab, then no ';'", "5\tx\r\nhello\r\n", 0, M, "5\tx\r\n", 0, SL_CHUNKED_MALFORMED, 0 },
    { "corrupt after good chunks", "1;a\r\nx\r\n2x\r\nyz\r\n", 0, M, "1 a\r\nx\r\n2x\r\n", 0,
      SL_CHUNKED_MALFORMED, 1 },
    { "x after two zeros", "00x5\r\nhello\r\n", 0, M, "00x5\r\n", 0, SL_CHUNKED_MALFORMED, 0 },
    /* lines strtoll() reads in ways not followed: evhttp alone decides */
    { "leading space", " 5\r\nhello\r\n", 0, M, " ", 0, SL_CHUNKED_LOST, 0 },
    { "leading tab", "\t5;a\r\nhello\r\n", 0, M, "\t", 0, SL_CHUNKED_LOST, 0 },
    { "plus sign", "+5;a\r\nhello\r\n", 0, M, "+", 0, SL_CHUNKED_LOST, 0 },
    { "minus sign", "-5\r\nhello\r\n", 0, M, "-", 0, SL_CHUNKED_LOST, 0 },
    { "0x prefix", "0x5;a\r\nhello\r\n", 0, M, "0x", 0, SL_CHUNKED_LOST, 0 },
    { "NUL first",
      "\0"
      "5\r\n",
      4, M, "\0", 1, SL_CHUNKED_LOST, 0 },
    { "a CR, not a line end, first", "\r\r\n", 0, M, "\r\r", 0, SL_CHUNKED_LOST, 0 },
    /* the body limit, on the declared sizes as evhttp counts them */
    { "exactly the limit", "a;x\r\n0123456789\r\n0\r\n", 0, 10, "a x\r\n0123456789\r\n0\r\n", 0, D,
      10 },
    { "one chunk over", "b;x\r\n0123456789a\r\n0\r\n", 0, 10, "b x\r\n", 0, SL_CHUNKED_TOO_LARGE,
      0 },
    { "the sum over", "5\r\nhello\r\n6;x\r\n", 0, 10, "5\r\nhello\r\n6 x\r\n", 0,
      SL_CHUNKED_TOO_LARGE, 5 },
    { "a size strtoll() saturates", "fffffffffffffffffffffff\r\n", 0, M,
      "fffffffffffffffffffffff\r\n", 0, SL_CHUNKED_TOO_LARGE, 0 },
    { "limit 0: the last chunk only", "0;x\r\n\r\n", 0, 0, "0 x\r\n", 0, D, 0 },
    { "limit 0: any data is over", "1\r\n", 0, 0, "1\r\n", 0, SL_CHUNKED_TOO_LARGE, 0 },
    /* incomplete: nothing changes before the line's end */
    { "extension without its line end", "5;a=1", 0, M, "5;a=1", 0, SL_CHUNKED_READING, 0 },
    { "extension up to its CR", "5;a=1\r", 0, M, "5;a=1\r", 0, SL_CHUNKED_READING, 0 },
    { "in the data", "5;a\r\nhel", 0, M, "5 a\r\nhel", 0, SL_CHUNKED_READING, 5 },
};

ParameterizedTestParameters(chunked, rows)
{
    return cr_make_param_array(struct row, rows, NCASES(rows));
}

static size_t in_len(const struct row *r)
{
    return r->in_len ? r->in_len : strlen(r->in);
}

static void assert_row(const struct row *r, const struct outcome *o, const char *how)
{
    size_t want_len = r->want_len ? r->want_len : strlen(r->want);

    cr_assert_eq(o->state, r->state, "%s (%s): state %d, not %d", r->name, how, o->state, r->state);
    cr_assert_eq(o->used, want_len, "%s (%s): read %zu bytes, not %zu", r->name, how, o->used,
                 want_len);
    cr_assert_eq(memcmp(o->out, r->want, want_len), 0, "%s (%s): read as '%.*s'", r->name, how,
                 (int)o->used, o->out);
    cr_assert_eq(o->body, r->body, "%s (%s): body %llu, not %llu", r->name, how,
                 (unsigned long long)o->body, (unsigned long long)r->body);
}

ParameterizedTest(struct row *r, chunked, rows)
{
    struct outcome o = read_whole(r->in, in_len(r), r->max_body);

    assert_row(r, &o, "whole");
    free(o.out);
}

/* Every way of cutting a row in two, and in three, reads the same. */
ParameterizedTestParameters(chunked, split_anywhere)
{
    return cr_make_param_array(struct row, rows, NCASES(rows));
}

ParameterizedTest(struct row *r, chunked, split_anywhere)
{
    size_t len = in_len(r), cuts[2];
    char how[64];

    for (cuts[0] = 0; cuts[0] <= len; cuts[0]++) {
        for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
            struct outcome o = read_body(r->in, len, r->max_body, cuts, 2);

            snprintf(how, sizeof(how), "cut at %zu and %zu", cuts[0], cuts[1]);
            assert_row(r, &o, how);
            free(o.out);
        }
    }
}

/* ---- lines and sizes at their bounds -------------------------------------------------- */

/* A chunk-size line of exactly n bytes before its CRLF: "5;" and 'a's. */
static char *line_of(size_t n)
{
    char *s = malloc(n + 16);

    cr_assert_not_null(s);
    memcpy(s, "5;", 2);
    memset(s + 2, 'a', n - 2);
    memcpy(s + n, "\r\nhello\r\n0\r\n", 13);
    return s;
}

Test(chunked, a_line_of_the_longest_length_is_rewritten)
{
    char *s = line_of(SL_CHUNKED_LINE_MAX);
    struct outcome o = read_whole(s, strlen(s), M);

    cr_assert_eq(o.state, D);
    cr_assert_eq(o.edits, 1);
    cr_assert_eq(o.out[1], ' ');
    free(o.out);
    free(s);
}

Test(chunked, a_longer_line_is_left_for_evhttp_to_refuse)
{
    char *s = line_of(SL_CHUNKED_LINE_MAX + 1);
    struct outcome o = read_whole(s, strlen(s), M);

    cr_assert_eq(o.state, SL_CHUNKED_MALFORMED);
    cr_assert_eq(o.edits, 0);
    cr_assert_eq(o.out[1], ';');
    cr_assert_eq(o.used, SL_CHUNKED_LINE_MAX + 3);
    free(o.out);
    free(s);
}

Test(chunked, leading_zeros_of_any_length_are_one_size)
{
    size_t n = 5000;
    char *s = malloc(n + 32);
    struct outcome o;

    cr_assert_not_null(s);
    memset(s, '0', n);
    strcpy(s + n, "5\r\nhello\r\n0\r\n");
    o = read_whole(s, strlen(s), M);
    cr_assert_eq(o.state, D);
    cr_assert_eq(o.body, 5);
    cr_assert_eq(o.edits, 0);
    free(o.out);
    free(s);
}

Test(chunked, a_large_chunk_is_skipped_by_count)
{
    static char body[70000];
    struct sl_chunked c;

    memcpy(body, "10000;big\r\n", 11); /* 65536 bytes of data */
    memset(body + 11, ';', 65536);
    memcpy(body + 11 + 65536, "\r\n0\r\n", 5);
    sl_chunked_init(&c, M);
    cr_assert_eq(sl_chunked_feed(&c, body, 11), 11);
    cr_assert(c.has_edit);
    /* Held until the edit is taken. */
    cr_assert_eq(sl_chunked_feed(&c, body + 11, 100), 0);
    uint64_t at;
    cr_assert(sl_chunked_take_edit(&c, &at));
    cr_assert_eq(at, 5);
    cr_assert_not(sl_chunked_take_edit(&c, &at));
    /* The data goes in one step, whatever it holds. */
    cr_assert_eq(sl_chunked_feed(&c, body + 11, 65536), 65536);
    cr_assert_eq(c.state, SL_CHUNKED_READING);
    cr_assert_eq(sl_chunked_feed(&c, body + 11 + 65536, 5), 5);
    cr_assert_eq(c.state, D);
    cr_assert_eq(c.body, 65536);
}

/* Data that arrives after a size line is counted without being read, and only data. */
Test(chunked, chunk_data_is_skipped_without_a_read_and_only_data)
{
    struct sl_chunked c;
    uint64_t at;

    sl_chunked_init(&c, M);
    cr_assert_eq(sl_chunked_feed(&c, "5;x\r\n", 5), 5);
    cr_assert_not(sl_chunked_skip(&c, 2), "skipped while an edit waits");
    cr_assert(sl_chunked_take_edit(&c, &at));
    cr_assert(sl_chunked_skip(&c, 3));
    cr_assert_not(sl_chunked_skip(&c, 3), "skipped past the chunk's 2 last bytes");
    cr_assert_eq(c.pos, 8);
    cr_assert_eq(sl_chunked_feed(&c, "ab\r\n0\r\n", 7), 7);
    cr_assert_eq(c.state, D);
    cr_assert_eq(c.body, 5);
    cr_assert_not(sl_chunked_skip(&c, 1), "skipped after the last chunk");
}

Test(chunked, one_byte_at_a_time_reads_as_whole)
{
    static const char in[] = "1a;x=\"q;\"\r\n" DATA24 "ab\r\n3\t;y\nxyz\n\r\n0;z\r\nT: 1\r\n\r\n";
    size_t len = sizeof(in) - 1, cuts[sizeof(in)];
    struct outcome whole = read_whole(in, len, M), bytes;

    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    bytes = read_body(in, len, M, cuts, len - 1);
    cr_assert_eq(whole.state, D);
    cr_assert_eq(whole.edits, 3);
    cr_assert_eq(bytes.state, whole.state);
    cr_assert_eq(bytes.used, whole.used);
    cr_assert_str_eq(bytes.out, whole.out);
    free(whole.out);
    free(bytes.out);
}
