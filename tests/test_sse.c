/* SPDX-License-Identifier: MIT */
/* test_sse.c - the SSE parser (split anywhere, every line ending, bounds), OpenAI chunk
 * readers, the include_usage rewrite and the event writer. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/openai.h"
#include "core/sse.h"
#include "core/v1_body.h"

#ifndef SL_TEST_DATA_DIR
#define SL_TEST_DATA_DIR "tests/data"
#endif

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define CANON_MAX (64u << 20)

/* ---- helpers ------------------------------------------------------------------------------ */

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *data;
    long n;

    snprintf(path, sizeof(path), "%s/sse/%s", SL_TEST_DATA_DIR, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert_gt(n, 0);
    rewind(f);
    data = malloc((size_t)n + 1);
    cr_assert_not_null(data);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

/* Append s with the bytes that would blur the record escaped, so tables can spell it. */
static void put_escaped(struct sl_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '\n': sl_buf_puts(b, "\\n"); break;
        case '\r': sl_buf_puts(b, "\\r"); break;
        case '\0': sl_buf_puts(b, "\\0"); break;
        case '\\': sl_buf_puts(b, "\\\\"); break;
        default: sl_buf_append(b, s + i, 1);
        }
    }
}

/* Every callback becomes one line: "M:event:id:data" or "C:::text". */
struct record {
    struct sl_buf out;
    unsigned messages, comments;
    unsigned stop_at; /* return stop_ret from the stop_at-th callback (1-based); 0 never */
    int stop_ret;
    unsigned calls;
};

static int on_event(const struct sl_sse_event *ev, void *arg)
{
    struct record *r = arg;

    cr_assert_eq(sl_buf_puts(&r->out, ev->kind == SL_SSE_MESSAGE ? "M:" : "C:"), 0);
    if (ev->kind == SL_SSE_MESSAGE) {
        r->messages++;
        cr_assert_eq(ev->data[ev->data_len], '\0', "message data is NUL-terminated");
        cr_assert_eq(ev->event[ev->event_len], '\0');
        put_escaped(&r->out, ev->event, ev->event_len);
        sl_buf_puts(&r->out, ":");
        put_escaped(&r->out, ev->id, ev->id_len);
    } else {
        r->comments++;
        sl_buf_puts(&r->out, ":");
    }
    sl_buf_puts(&r->out, ":");
    put_escaped(&r->out, ev->data, ev->data_len);
    sl_buf_puts(&r->out, "\n");
    r->calls++;
    return r->stop_at && r->calls == r->stop_at ? r->stop_ret : 0;
}

static void record_init(struct record *r)
{
    memset(r, 0, sizeof(*r));
    sl_buf_init(&r->out, CANON_MAX);
    sl_buf_puts(&r->out, "");
}

/* What parsing produced: the records, the first non-zero feed result, the partial flag. */
struct outcome {
    struct record rec;
    int ret;
    bool partial;
    uint64_t retry_ms;
    bool has_retry;
};

static void outcome_done(struct outcome *o)
{
    sl_buf_done(&o->rec.out);
}

/* Feed in pieces: cuts[] are increasing offsets inside (0, len). */
static void parse_cuts(const char *s, size_t len, const size_t *cuts, size_t ncuts, size_t max,
                       struct outcome *o)
{
    struct sl_sse_parser p;
    size_t from = 0;

    record_init(&o->rec);
    o->ret = 0;
    cr_assert_eq(sl_sse_parser_init(&p, max), 0);
    sl_sse_parser_report_comments(&p, true);
    for (size_t i = 0; i <= ncuts && o->ret == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;

        o->ret = sl_sse_feed(&p, s + from, to - from, on_event, &o->rec);
        if (o->ret == 0)
            cr_assert_eq(p.consumed, to - from);
        from = to;
    }
    o->partial = sl_sse_has_partial(&p);
    o->retry_ms = p.retry_ms;
    o->has_retry = p.has_retry;
    sl_sse_parser_done(&p);
}

static void parse_whole(const char *s, size_t len, size_t max, struct outcome *o)
{
    parse_cuts(s, len, NULL, 0, max, o);
}

static void parse_bytewise(const char *s, size_t len, size_t max, struct outcome *o)
{
    size_t *cuts = calloc(len ? len : 1, sizeof(*cuts));

    cr_assert_not_null(cuts);
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    parse_cuts(s, len, cuts, len ? len - 1 : 0, max, o);
    free(cuts);
}

static void assert_same(const struct outcome *want, const struct outcome *got, const char *how,
                        size_t at)
{
    cr_assert_eq(got->ret, want->ret, "%s %zu: ret %d, want %d", how, at, got->ret, want->ret);
    cr_assert_eq(got->partial, want->partial, "%s %zu: partial", how, at);
    cr_assert_eq(got->rec.out.len, want->rec.out.len, "%s %zu: records differ:\n%s\nwant:\n%s", how,
                 at, got->rec.out.data, want->rec.out.data);
    cr_assert_eq(memcmp(got->rec.out.data, want->rec.out.data, want->rec.out.len), 0,
                 "%s %zu: records differ:\n%s\nwant:\n%s", how, at, got->rec.out.data,
                 want->rec.out.data);
    cr_assert_eq(got->has_retry, want->has_retry, "%s %zu: retry", how, at);
    cr_assert_eq(got->retry_ms, want->retry_ms, "%s %zu: retry_ms", how, at);
}

/* Whole, byte by byte, cut in two at every offset, and in random pieces: all the same. */
static void assert_split_invariant(const char *s, size_t len, size_t max,
                                   const struct outcome *want)
{
    struct outcome o;
    uint32_t seed = 12345;

    parse_bytewise(s, len, max, &o);
    assert_same(want, &o, "bytewise", 0);
    outcome_done(&o);
    for (size_t k = 1; k < len; k++) {
        parse_cuts(s, len, &k, 1, max, &o);
        assert_same(want, &o, "cut at", k);
        outcome_done(&o);
    }
    for (int round = 0; round < 50; round++) {
        size_t cuts[4096], n = 0, at = 0;

        for (;;) {
            seed = seed * 1103515245u + 12345u;
            at += 1 + (seed >> 16) % 37;
            if (at >= len || n == NCASES(cuts))
                break;
            cuts[n++] = at;
        }
        parse_cuts(s, len, cuts, n, max, &o);
        assert_same(want, &o, "random round", (size_t)round);
        outcome_done(&o);
    }
}

enum ending { END_ASIS, END_LF, END_CRLF, END_CR };

/* Rewrite every line ending (CRLF, LF or CR) of s as the chosen one. */
static char *convert(const char *s, size_t len, enum ending e, size_t *out_len)
{
    static const char *const ends[] = { NULL, "\n", "\r\n", "\r" };
    char *out = malloc(len * 2 + 1);
    size_t o = 0;

    cr_assert_not_null(out);
    for (size_t i = 0; i < len; i++) {
        if (e == END_ASIS || (s[i] != '\r' && s[i] != '\n')) {
            out[o++] = s[i];
            continue;
        }
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
            i++;
        memcpy(out + o, ends[e], strlen(ends[e]));
        o += strlen(ends[e]);
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* ---- grammar, one behaviour per row -------------------------------------------------------- */

struct grammar_case {
    char name[48];
    char in[160];
    size_t in_len;  /* 0: strlen(in) */
    char want[200]; /* the records, as on_event() writes them */
    bool partial;
    size_t max; /* 0: 1 MiB */
    int ret;
};

ParameterizedTestParameters(sse_grammar, rows)
{
    static struct grammar_case cases[] = {
        { "one event", "data: a\n\n", 0, "M:::a\n", false, 0, 0 },
        { "no space after colon", "data:a\n\n", 0, "M:::a\n", false, 0, 0 },
        { "only one space stripped", "data:  a \n\n", 0, "M::: a \n", false, 0, 0 },
        { "tab is not stripped", "data:\ta\n\n", 0, "M:::\ta\n", false, 0, 0 },
        { "data lines joined with LF", "data: a\ndata: b\n\n", 0, "M:::a\\nb\n", false, 0, 0 },
        { "data with no colon is empty", "data\n\n", 0, "M:::\n", false, 0, 0 },
        { "two empty data lines", "data\ndata:\n\n", 0, "M:::\\n\n", false, 0, 0 },
        { "empty value", "data:\n\n", 0, "M:::\n", false, 0, 0 },
        { "colon in the value kept", "data: a:b: c\n\n", 0, "M:::a:b: c\n", false, 0, 0 },
        { "no data, no dispatch", "event: x\n\n", 0, "", false, 0, 0 },
        { "event type", "event: x\ndata: y\n\n", 0, "M:x::y\n", false, 0, 0 },
        { "event type resets after dispatch", "event: x\ndata: y\n\ndata: z\n\n", 0,
          "M:x::y\nM:::z\n", false, 0, 0 },
        { "event type resets without data", "event: x\n\ndata: z\n\n", 0, "M:::z\n", false, 0, 0 },
        { "last event type wins", "event: a\nevent: b\ndata: z\n\n", 0, "M:b::z\n", false, 0, 0 },
        { "event with no colon is empty", "event\ndata: z\n\n", 0, "M:::z\n", false, 0, 0 },
        { "id persists across events", "id: 7\ndata: y\n\ndata: z\n\n", 0, "M::7:y\nM::7:z\n",
          false, 0, 0 },
        { "id set in a block without data", "id: 7\n\ndata: z\n\n", 0, "M::7:z\n", false, 0, 0 },
        { "id with NUL ignored", "id: 1\n\nid: a\0b\ndata: z\n\n", 24, "M::1:z\n", false, 0, 0 },
        { "id with no colon clears", "id: 1\n\nid\ndata: z\n\n", 0, "M:::z\n", false, 0, 0 },
        { "comment", ": hi\ndata: a\n\n", 0, "C::: hi\nM:::a\n", false, 0, 0 },
        { "empty comment", ":\n\n", 0, "C:::\n", false, 0, 0 },
        { "comment inside an event", "data: a\n:x\ndata: b\n\n", 0, "C:::x\nM:::a\\nb\n", false, 0,
          0 },
        { "unknown field ignored", "foo: bar\ndata: a\n\n", 0, "M:::a\n", false, 0, 0 },
        { "field names are case sensitive", "DATA: a\n\n", 0, "", false, 0, 0 },
        { "space before the colon", "data : a\n\n", 0, "", false, 0, 0 },
        { "leading space in a field name", " data: a\n\n", 0, "", false, 0, 0 },
        { "CRLF", "data: a\r\n\r\n", 0, "M:::a\n", false, 0, 0 },
        { "CR", "data: a\r\r", 0, "M:::a\n", false, 0, 0 },
        { "mixed endings", "data: x\r\ndata: y\rdata: z\n\n", 0, "M:::x\\ny\\nz\n", false, 0, 0 },
        { "LF then CR is two endings", "data: a\n\rdata: b\n\n", 0, "M:::a\nM:::b\n", false, 0, 0 },
        { "CR CR LF", "data: a\r\r\ndata: b\n\n", 0, "M:::a\nM:::b\n", false, 0, 0 },
        { "extra blank lines", "\n\n\ndata: a\n\n\n\n", 0, "M:::a\n", false, 0, 0 },
        { "NUL in data kept", "data: a\0b\n\n", 11, "M:::a\\0b\n", false, 0, 0 },
        { "BOM stripped",
          "\xEF\xBB\xBF"
          "data: a\n\n",
          0, "M:::a\n", false, 0, 0 },
        { "only one BOM stripped",
          "\xEF\xBB\xBF\xEF\xBB\xBF"
          "data: a\n\n",
          0, "", false, 0, 0 },
        { "BOM later is data",
          "data: \xEF\xBB\xBF"
          "a\n\n",
          0,
          "M:::\xEF\xBB\xBF"
          "a\n",
          false, 0, 0 },
        { "half a BOM is text",
          "\xEF\xBB"
          "data: a\n\n",
          0, "", false, 0, 0 },
        { "half a BOM then a line", "\xEF\xBB\ndata: a\n\n", 0, "M:::a\n", false, 0, 0 },
        { "BOM alone", "\xEF\xBB\xBF", 0, "", false, 0, 0 },
        { "half a BOM at the end", "\xEF\xBB", 0, "", true, 0, 0 },
        { "BOM before a comment", "\xEF\xBB\xBF:c\n", 0, "C:::c\n", false, 0, 0 },
        { "UTF-8 passes through", "data: caf\xC3\xA9 \xF0\x9F\x98\x80\n\n", 0,
          "M:::caf\xC3\xA9 \xF0\x9F\x98\x80\n", false, 0, 0 },
        { "no line ending: partial", "data: a", 0, "", true, 0, 0 },
        { "no blank line: partial", "data: a\n", 0, "", true, 0, 0 },
        { "CR-ended line, no blank line", "data: a\r", 0, "", true, 0, 0 },
        { "field without data: partial", "event: x\n", 0, "", true, 0, 0 },
        { "comment only: not partial", ": ping\n", 0, "C::: ping\n", false, 0, 0 },
        { "complete after CRLF", "data: a\r\n\r", 0, "M:::a\n", false, 0, 0 },
        { "event then a cut", "data: a\n\nevent: e\n", 0, "M:::a\n", true, 0, 0 },
        { "empty stream", "", 0, "", false, 0, 0 },
        /* The bound: line + data + type + id. "data: " + 10 x is 16 bytes. */
        { "line at the bound", "data: xxxxxxxxxx\n\n", 0, "M:::xxxxxxxxxx\n", false, 16, 0 },
        { "line over the bound", "data: xxxxxxxxxxx\n\n", 0, "", true, 16, -E2BIG },
        { "partial line over the bound", "data: xxxxxxxxxxx", 0, "", true, 16, -E2BIG },
        { "accumulated data over the bound", "data: xxxx\ndata: xxxx\ndata: xxxx\n\n", 0, "", true,
          16, -E2BIG },
        { "events before the overflow kept", "data: a\n\ndata: xxxxxxxxxxxxxxxxxxxx\n\n", 0,
          "M:::a\n", true, 16, -E2BIG },
        { "comment over the bound", ": xxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 0, "", true, 16, -E2BIG },
        { "id counts against the bound", "id: xxxxxxxx\ndata: xxxxxxxx\n\n", 0, "", true, 20,
          -E2BIG },
    };
    return cr_make_param_array(struct grammar_case, cases, NCASES(cases));
}

ParameterizedTest(struct grammar_case *c, sse_grammar, rows)
{
    size_t len = c->in_len ? c->in_len : strlen(c->in);
    size_t max = c->max ? c->max : SL_SSE_DEFAULT_MAX_EVENT;
    struct outcome o;

    parse_whole(c->in, len, max, &o);
    cr_assert_eq(o.ret, c->ret, "%s: ret %d", c->name, o.ret);
    cr_assert_str_eq(o.rec.out.data, c->want, "%s", c->name);
    cr_assert_eq(o.partial, c->partial, "%s: partial", c->name);
    assert_split_invariant(c->in, len, max, &o);
    outcome_done(&o);
}

/* ---- specific behaviours ------------------------------------------------------------------ */

/* reliability.md D17: the CR of a CRLF ends one feed, the LF starts the next: ONE ending. */
Test(sse, crlf_split_between_feeds_is_one_line_ending)
{
    struct sl_sse_parser p;
    struct record r;

    record_init(&r);
    cr_assert_eq(sl_sse_parser_init(&p, 1024), 0);
    cr_assert_eq(sl_sse_feed(&p, "data: a\r", 8, on_event, &r), 0);
    cr_assert_eq(sl_sse_feed(&p, "\ndata: b\r", 9, on_event, &r), 0);
    cr_assert_eq(sl_sse_feed(&p, "\n", 1, on_event, &r), 0);
    cr_assert_eq(r.messages, 0, "a stray LF must not read as a blank line");
    cr_assert_eq(sl_sse_feed(&p, "\r", 1, on_event, &r), 0);
    cr_assert_eq(sl_sse_feed(&p, "\n", 1, on_event, &r), 0);
    cr_assert_str_eq(r.out.data, "M:::a\\nb\n");
    cr_assert_not(sl_sse_has_partial(&p));
    sl_sse_parser_done(&p);
    sl_buf_done(&r.out);
}

Test(sse, comments_are_counted_and_reported_only_on_request)
{
    static const char s[] = ": one\ndata: a\n\n: two\n";
    struct sl_sse_parser p;
    struct record r;

    record_init(&r);
    cr_assert_eq(sl_sse_parser_init(&p, 1024), 0);
    cr_assert_eq(sl_sse_feed(&p, s, strlen(s), on_event, &r), 0);
    cr_assert_str_eq(r.out.data, "M:::a\n");
    cr_assert_eq(p.comments, 2);
    cr_assert_eq(p.events, 1);
    sl_sse_parser_done(&p);
    sl_buf_done(&r.out);
}

Test(sse, zero_bound_is_refused)
{
    struct sl_sse_parser p;

    cr_assert_eq(sl_sse_parser_init(&p, 0), -EINVAL);
    sl_sse_parser_done(&p);
}

Test(sse, retry_field)
{
    struct outcome o;
    static const char s[] = "retry: 1500\nretry: 12x\nretry:\nretry: -5\ndata: a\n\n";

    parse_whole(s, strlen(s), 1024, &o);
    cr_assert(o.has_retry);
    cr_assert_eq(o.retry_ms, 1500);
    outcome_done(&o);
    parse_whole("retry: 99999999999999999999999\n", 31, 1024, &o);
    cr_assert(o.has_retry);
    cr_assert_eq(o.retry_ms, UINT64_MAX, "saturates");
    outcome_done(&o);
}

/* A non-zero callback result stops the feed at once; consumed lets the caller resume. */
Test(sse, callback_abort_and_resume)
{
    static const char s[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    struct sl_sse_parser p;
    struct record r;
    size_t off;

    record_init(&r);
    r.stop_at = 2;
    r.stop_ret = 42;
    cr_assert_eq(sl_sse_parser_init(&p, 1024), 0);
    cr_assert_eq(sl_sse_feed(&p, s, strlen(s), on_event, &r), 42);
    cr_assert_str_eq(r.out.data, "M:::1\nM:::2\n");
    off = p.consumed;
    cr_assert_eq(off, 18, "stopped right after the second blank line");
    r.stop_ret = -1;
    r.stop_at = 3;
    cr_assert_eq(sl_sse_feed(&p, s + off, strlen(s) - off, on_event, &r), -1,
                 "a negative callback value is returned too");
    cr_assert_str_eq(r.out.data, "M:::1\nM:::2\nM:::3\n");
    cr_assert_eq(p.consumed, strlen(s) - off);
    cr_assert_not(sl_sse_has_partial(&p));
    sl_sse_parser_done(&p);
    sl_buf_done(&r.out);
}

/* reliability.md D18: a 10 MiB line against a 1 MiB cap.  It fails, sticks, and the parser
 * never holds much more than the cap, however the bytes arrive. */
Test(sse, huge_event_fails_with_memory_bounded)
{
    const size_t max = 1u << 20, total = 10u << 20, step = 16384;
    char *big = malloc(total);
    struct sl_sse_parser p;
    size_t fed = 0;
    int r = 0;

    cr_assert_not_null(big);
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', total - 6);
    cr_assert_eq(sl_sse_parser_init(&p, max), 0);
    while (fed < total && r == 0) {
        size_t n = total - fed < step ? total - fed : step;

        r = sl_sse_feed(&p, big + fed, n, NULL, NULL);
        fed += n;
        cr_assert_leq(p.line.cap + p.data.cap + p.type.cap + p.id.cap, 2 * max + 64);
    }
    cr_assert_eq(r, -E2BIG);
    cr_assert_leq(fed, max + step, "detected as soon as the line passed the cap");
    cr_assert_eq(p.line.cap + p.data.cap, 0, "memory released on failure");
    cr_assert(sl_sse_has_partial(&p));
    cr_assert_eq(sl_sse_feed(&p, "\n\n", 2, NULL, NULL), -E2BIG, "sticky");
    sl_sse_parser_done(&p);

    /* One feed of it all: refused before anything is copied. */
    cr_assert_eq(sl_sse_parser_init(&p, max), 0);
    cr_assert_eq(sl_sse_feed(&p, big, total, NULL, NULL), -E2BIG);
    cr_assert_eq(p.line.cap, 0);
    sl_sse_parser_done(&p);

    /* Many small data lines that add up past the cap. */
    cr_assert_eq(sl_sse_parser_init(&p, max), 0);
    r = 0;
    fed = 0;
    while (r == 0 && fed < total) {
        r = sl_sse_feed(&p, "data: 0123456789abcdef0123456789\n", 33, NULL, NULL);
        fed += 33;
        cr_assert_leq(p.data.cap, 2 * max + 2);
    }
    cr_assert_eq(r, -E2BIG);
    /* Each line adds its 26 value bytes and an LF to the data; the 32-byte line that would
     * pass the cap is refused. */
    cr_assert_leq((fed / 33 - 1) * 27, max);
    cr_assert_gt((fed / 33 - 1) * 27 + 32, max);
    sl_sse_parser_done(&p);
    free(big);
}

/* A big event is served, then its memory goes back (thousands of streams share the host). */
Test(sse, big_event_memory_is_released_after_dispatch)
{
    const size_t n = 300000;
    char *s = malloc(n + 9);
    struct sl_sse_parser p;
    struct record r;

    cr_assert_not_null(s);
    memcpy(s, "data: ", 6);
    memset(s + 6, 'y', n);
    memcpy(s + 6 + n, "\n\n", 3);
    record_init(&r);
    cr_assert_eq(sl_sse_parser_init(&p, SL_SSE_DEFAULT_MAX_EVENT), 0);
    cr_assert_eq(sl_sse_feed(&p, s, 1000, on_event, &r), 0);
    cr_assert_eq(sl_sse_feed(&p, s + 1000, n + 8 - 1000, on_event, &r), 0);
    cr_assert_eq(r.messages, 1);
    cr_assert_eq(p.line.cap, 0);
    cr_assert_eq(p.data.cap, 0);
    cr_assert_eq(sl_sse_feed(&p, "data: z\n\n", 9, on_event, &r), 0);
    cr_assert_eq(r.messages, 2);
    sl_sse_parser_done(&p);
    sl_buf_done(&r.out);
    free(s);
}

Test(sse, reset_starts_a_new_stream)
{
    struct sl_sse_parser p;
    struct record r;

    record_init(&r);
    cr_assert_eq(sl_sse_parser_init(&p, 1024), 0);
    cr_assert_eq(sl_sse_feed(&p, "id: 3\ndata: half", 16, on_event, &r), 0);
    cr_assert(sl_sse_has_partial(&p));
    sl_sse_parser_reset(&p);
    cr_assert_not(sl_sse_has_partial(&p));
    cr_assert_eq(sl_sse_feed(&p,
                             "\xEF\xBB\xBF"
                             "data: new\n\n",
                             14, on_event, &r),
                 0);
    cr_assert_str_eq(r.out.data, "M:::new\n");
    sl_sse_parser_done(&p);
    sl_sse_parser_done(&p);
    sl_buf_done(&r.out);
}

/* ---- captured-style OpenAI streams ------------------------------------------------------- */

struct fixture_case {
    char file[32];
    unsigned messages;
    unsigned comments;
    char text[96];   /* the content deltas of choice 0, concatenated */
    char finish[16]; /* the last finish_reason seen; "" none */
    bool usage;
    long pt, ct, tt;
    unsigned usage_chunks; /* chunks that are the usage-only chunk */
    unsigned tool_chunks;  /* chunks with delta.tool_calls */
    int last_kind;         /* enum sl_openai_data_kind of the last message */
    char error[96];        /* error.message of an error chunk */
    bool partial;
};

ParameterizedTestParameters(sse_fixture, read)
{
    static struct fixture_case cases[] = {
        { "plain.sse", 10, 0,
          "Hello! Here\xE2\x80\x99s a line\nand caf\xC3\xA9 \xE2\x98\x95 \xF0\x9F\x98\x80.", "stop",
          false, 0, 0, 0, 0, 0, SL_OPENAI_DATA_DONE, "", false },
        { "usage.sse", 11, 0, "The capital of France is Paris.", "stop", true, 24, 8, 32, 1, 0,
          SL_OPENAI_DATA_DONE, "", false },
        { "tool_calls.sse", 16, 0, "", "tool_calls", true, 82, 17, 99, 1, 13, SL_OPENAI_DATA_DONE,
          "", false },
        { "error_midstream.sse", 5, 0, "Once upon a", "", false, 0, 0, 0, 0, 0,
          SL_OPENAI_DATA_ERROR,
          "The server had an error while processing your request. Sorry about that!", false },
        { "crlf_comments.sse", 9, 3, "Line one\r\nline two", "length", true, 11, 5, 16, 1, 0,
          SL_OPENAI_DATA_DONE, "", false },
        { "fields.sse", 4, 1, "", "", false, 0, 0, 0, 0, 0, SL_OPENAI_DATA_INVALID, "", false },
        { "truncated.sse", 3, 0, "Truncated", "", false, 0, 0, 0, 0, 0, SL_OPENAI_DATA_CHUNK, "",
          true },
    };
    return cr_make_param_array(struct fixture_case, cases, NCASES(cases));
}

struct reader {
    struct sl_buf text;
    char finish[16];
    struct sl_usage usage;
    unsigned messages, usage_chunks, tool_chunks;
    int last_kind;
    char error[96];
};

static int on_chunk(const struct sl_sse_event *ev, void *arg)
{
    struct reader *rd = arg;
    struct sl_openai_chunk c;

    cr_assert_eq(ev->kind, SL_SSE_MESSAGE);
    rd->messages++;
    cr_assert_eq(sl_openai_chunk_parse(ev->data, ev->data_len, &c), 0);
    cr_assert_eq(sl_openai_classify(ev->data, ev->data_len), c.kind);
    cr_assert_eq(sl_openai_is_usage_chunk(ev->data, ev->data_len), c.usage_only);
    rd->last_kind = c.kind;
    if (c.content)
        cr_assert_eq(sl_buf_append(&rd->text, c.content, c.content_len), 0);
    if (c.finish_reason)
        snprintf(rd->finish, sizeof(rd->finish), "%s", c.finish_reason);
    if (c.usage.present)
        rd->usage = c.usage;
    rd->usage_chunks += c.usage_only;
    rd->tool_chunks += c.tool_calls;
    if (c.kind == SL_OPENAI_DATA_ERROR && c.error_message)
        snprintf(rd->error, sizeof(rd->error), "%s", c.error_message);
    sl_openai_chunk_done(&c);
    return 0;
}

ParameterizedTest(struct fixture_case *c, sse_fixture, read)
{
    size_t len;
    char *s = read_fixture(c->file, &len);
    struct sl_sse_parser p;
    struct reader rd = { .last_kind = -1 };

    sl_buf_init(&rd.text, 1u << 20);
    sl_buf_puts(&rd.text, "");
    cr_assert_eq(sl_sse_parser_init(&p, SL_SSE_DEFAULT_MAX_EVENT), 0);
    cr_assert_eq(sl_sse_feed(&p, s, len, on_chunk, &rd), 0);
    cr_assert_eq(rd.messages, c->messages, "%s: %u events", c->file, rd.messages);
    cr_assert_eq(p.events, c->messages);
    cr_assert_eq(p.comments, c->comments, "%s: comments", c->file);
    cr_assert_str_eq(rd.text.data, c->text, "%s", c->file);
    cr_assert_str_eq(rd.finish, c->finish, "%s", c->file);
    cr_assert_eq(rd.usage.present, c->usage, "%s", c->file);
    cr_assert_eq(rd.usage.prompt_tokens, c->pt);
    cr_assert_eq(rd.usage.completion_tokens, c->ct);
    cr_assert_eq(rd.usage.total_tokens, c->tt);
    cr_assert_eq(rd.usage_chunks, c->usage_chunks, "%s", c->file);
    cr_assert_eq(rd.tool_chunks, c->tool_chunks, "%s", c->file);
    cr_assert_eq(rd.last_kind, c->last_kind, "%s: last kind %d", c->file, rd.last_kind);
    cr_assert_str_eq(rd.error, c->error);
    cr_assert_eq(sl_sse_has_partial(&p), c->partial, "%s: partial", c->file);
    sl_sse_parser_done(&p);
    sl_buf_done(&rd.text);
    free(s);
}

/* reliability.md D17: each fixture, with each line ending style, whole, byte by byte, cut in
 * two at every offset and in random pieces, gives the same events as the file as it is. */
struct split_case {
    char file[32];
    int ending;
};

ParameterizedTestParameters(sse_fixture, split_anywhere)
{
    static const char files[][32] = { "plain.sse",           "usage.sse",         "tool_calls.sse",
                                      "error_midstream.sse", "crlf_comments.sse", "fields.sse",
                                      "truncated.sse" };
    static struct split_case cases[NCASES(files) * 4];

    for (size_t f = 0; f < NCASES(files); f++) {
        for (int e = END_ASIS; e <= END_CR; e++) {
            memcpy(cases[f * 4 + (size_t)e].file, files[f], sizeof(files[f]));
            cases[f * 4 + (size_t)e].ending = e;
        }
    }
    return cr_make_param_array(struct split_case, cases, NCASES(cases));
}

ParameterizedTest(struct split_case *c, sse_fixture, split_anywhere)
{
    size_t len, clen;
    char *s = read_fixture(c->file, &len);
    char *conv = convert(s, len, (enum ending)c->ending, &clen);
    struct outcome want, got;

    parse_whole(s, len, SL_SSE_DEFAULT_MAX_EVENT, &want);
    cr_assert_eq(want.ret, 0);
    cr_assert_gt(want.rec.messages, 0);
    parse_whole(conv, clen, SL_SSE_DEFAULT_MAX_EVENT, &got);
    assert_same(&want, &got, "converted, whole", (size_t)c->ending);
    outcome_done(&got);
    assert_split_invariant(conv, clen, SL_SSE_DEFAULT_MAX_EVENT, &want);
    outcome_done(&want);
    free(conv);
    free(s);
}

/* The bound gives the same verdict, after the same events, however the stream is cut. */
Test(sse_fixture, overflow_is_split_invariant)
{
    size_t len, longest = 0, cur = 0;
    char *s = read_fixture("usage.sse", &len);
    struct outcome want;

    for (size_t i = 0; i < len; i++) {
        cur = s[i] == '\n' ? 0 : cur + 1;
        longest = cur > longest ? cur : longest;
    }
    parse_whole(s, len, longest - 1, &want);
    cr_assert_eq(want.ret, -E2BIG);
    cr_assert_eq(want.rec.messages, 9, "every event before the usage chunk");
    assert_split_invariant(s, len, longest - 1, &want);
    outcome_done(&want);
    free(s);
}

/* Stopping at every event and resuming from consumed loses and repeats nothing. */
Test(sse_fixture, resume_after_every_abort)
{
    size_t len;
    char *s = read_fixture("crlf_comments.sse", &len);
    struct outcome want;
    struct sl_sse_parser p;
    struct record r;

    parse_whole(s, len, SL_SSE_DEFAULT_MAX_EVENT, &want);
    for (size_t k = 1; k < len; k++) {
        size_t cuts[2] = { k, len }, from = 0;

        record_init(&r);
        cr_assert_eq(sl_sse_parser_init(&p, SL_SSE_DEFAULT_MAX_EVENT), 0);
        sl_sse_parser_report_comments(&p, true);
        for (size_t i = 0; i < 2; i++) {
            for (;;) {
                int ret;

                r.stop_at = r.calls + 1;
                r.stop_ret = 7;
                ret = sl_sse_feed(&p, s + from, cuts[i] - from, on_event, &r);
                from += p.consumed;
                if (ret == 0)
                    break;
                cr_assert_eq(ret, 7);
            }
            cr_assert_eq(from, cuts[i]);
        }
        cr_assert_str_eq(r.out.data, want.rec.out.data, "cut at %zu", k);
        sl_sse_parser_done(&p);
        sl_buf_done(&r.out);
    }
    outcome_done(&want);
    free(s);
}

Test(sse_fixture, fields_event_by_event)
{
    size_t len;
    char *s = read_fixture("fields.sse", &len);
    struct outcome o;

    parse_whole(s, len, SL_SSE_DEFAULT_MAX_EVENT, &o);
    cr_assert_eq(o.ret, 0);
    cr_assert_str_eq(o.rec.out.data,
                     "C::: generic SSE, not OpenAI\n"
                     "M:token:1:first line\\nsecond line, no space\\n\\n two spaces kept one\n"
                     "M::2:{\"a\":1}\n"
                     "M:usage:2:{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}\n"
                     "M:done:2:\n");
    cr_assert(o.has_retry);
    cr_assert_eq(o.retry_ms, 3000);
    cr_assert_not(o.partial);
    outcome_done(&o);
    free(s);
}

/* ---- chunk payloads ------------------------------------------------------------------------ */

struct chunk_case {
    char name[40];
    char data[240];
    size_t len; /* 0: strlen(data) */
    int kind;
    bool has_content;
    char content[24];
    size_t content_len; /* 0: strlen(content) */
    char finish[16];    /* "-": NULL */
    bool tool_calls;
    bool usage_only;
    bool usage;
    long pt, ct, tt;
    char err_msg[24]; /* "-": NULL */
    char err_type[24];
    char err_code[24];
};

#define CHUNK(choices) "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":" choices "}"
#define NOERR "-", "-", "-"

ParameterizedTestParameters(sse_chunk, parse)
{
    static struct chunk_case cases[] = {
        { "done", "[DONE]", 0, SL_OPENAI_DATA_DONE, false, "", 0, "-", false, false, false, 0, 0, 0,
          NOERR },
        { "done with a space is not done", "[DONE] ", 0, SL_OPENAI_DATA_INVALID, false, "", 0, "-",
          false, false, false, 0, 0, 0, NOERR },
        { "empty", "", 0, SL_OPENAI_DATA_INVALID, false, "", 0, "-", false, false, false, 0, 0, 0,
          NOERR },
        { "not JSON", "hello", 0, SL_OPENAI_DATA_INVALID, false, "", 0, "-", false, false, false, 0,
          0, 0, NOERR },
        { "truncated JSON", "{\"choices\":[", 0, SL_OPENAI_DATA_INVALID, false, "", 0, "-", false,
          false, false, 0, 0, 0, NOERR },
        { "array", "[1,2]", 0, SL_OPENAI_DATA_INVALID, false, "", 0, "-", false, false, false, 0, 0,
          0, NOERR },
        { "string", "\"x\"", 0, SL_OPENAI_DATA_INVALID, false, "", 0, "-", false, false, false, 0,
          0, 0, NOERR },
        { "content", CHUNK("[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]"),
          0, SL_OPENAI_DATA_CHUNK, true, "Hi", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "empty content",
          CHUNK("[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]"), 0,
          SL_OPENAI_DATA_CHUNK, true, "", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "null content", CHUNK("[{\"index\":0,\"delta\":{\"content\":null}}]"), 0,
          SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "content of the wrong type", CHUNK("[{\"index\":0,\"delta\":{\"content\":5}}]"), 0,
          SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "NUL in content", CHUNK("[{\"index\":0,\"delta\":{\"content\":\"a\\u0000b\"}}]"), 0,
          SL_OPENAI_DATA_CHUNK, true, "a\0b", 3, "-", false, false, false, 0, 0, 0, NOERR },
        { "escapes in content", CHUNK("[{\"delta\":{\"content\":\"\\n\\u00e9\\ud83d\\ude00\"}}]"),
          0, SL_OPENAI_DATA_CHUNK, true, "\n\xC3\xA9\xF0\x9F\x98\x80", 0, "-", false, false, false,
          0, 0, 0, NOERR },
        { "finish", CHUNK("[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]"), 0,
          SL_OPENAI_DATA_CHUNK, false, "", 0, "length", false, false, false, 0, 0, 0, NOERR },
        { "finish not a string", CHUNK("[{\"index\":0,\"delta\":{},\"finish_reason\":7}]"), 0,
          SL_OPENAI_DATA_CHUNK, false, "", 0, "", false, false, false, 0, 0, 0, NOERR },
        { "finish with a NUL", CHUNK("[{\"delta\":{},\"finish_reason\":\"st\\u0000op\"}]"), 0,
          SL_OPENAI_DATA_CHUNK, false, "", 0, "", false, false, false, 0, 0, 0, NOERR },
        { "choice 0 is found by index",
          CHUNK("[{\"index\":1,\"delta\":{\"content\":\"B\"}},"
                "{\"index\":0,\"delta\":{\"content\":\"A\"}}]"),
          0, SL_OPENAI_DATA_CHUNK, true, "A", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "another choice only", CHUNK("[{\"index\":1,\"delta\":{\"content\":\"B\"}}]"), 0,
          SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "tool calls",
          CHUNK("[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                "\"function\":{\"arguments\":\"{\\\"\"}}]}}]"),
          0, SL_OPENAI_DATA_CHUNK, false, "", 0, "-", true, false, false, 0, 0, 0, NOERR },
        { "refusal", CHUNK("[{\"index\":0,\"delta\":{\"refusal\":\"No\"}}]"), 0,
          SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "usage chunk",
          "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":"
          "7,\"total_tokens\":12}}",
          0, SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, true, true, 5, 7, 12, NOERR },
        { "usage without total",
          "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
          "\"completion_tokens\":7}}",
          0, SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, true, true, 5, 7, 12, NOERR },
        /* issue: a total below its parts was trusted, and settled */
        { "usage total below its parts",
          "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
          "\"completion_tokens\":7,\"total_tokens\":3}}",
          0, SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, true, true, 5, 7, 12, NOERR },
        { "usage negative",
          "{\"choices\":[],\"usage\":{\"prompt_tokens\":-5,"
          "\"completion_tokens\":7}}",
          0, SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, true, false, 0, 0, 0, NOERR },
        { "usage as strings",
          "{\"choices\":[],\"usage\":{\"prompt_tokens\":\"5\","
          "\"completion_tokens\":7}}",
          0, SL_OPENAI_DATA_CHUNK, false, "", 0, "-", false, true, false, 0, 0, 0, NOERR },
        { "usage null", CHUNK("[{\"index\":0,\"delta\":{\"content\":\"x\"}}],\"usage\":null"), 0,
          SL_OPENAI_DATA_CHUNK, true, "x", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "usage beside a choice",
          CHUNK("[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":"
                "{\"prompt_tokens\":1,\"completion_tokens\":2}"),
          0, SL_OPENAI_DATA_CHUNK, false, "", 0, "stop", false, false, true, 1, 2, 3, NOERR },
        { "empty choices, no usage", "{\"choices\":[]}", 0, SL_OPENAI_DATA_CHUNK, false, "", 0, "-",
          false, false, false, 0, 0, 0, NOERR },
        { "usage not an object", "{\"choices\":[],\"usage\":[]}", 0, SL_OPENAI_DATA_CHUNK, false,
          "", 0, "-", false, false, false, 0, 0, 0, NOERR },
        { "error object",
          "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\","
          "\"param\":null,\"code\":\"c1\"}}",
          0, SL_OPENAI_DATA_ERROR, false, "", 0, "-", false, false, false, 0, 0, 0, "boom",
          "server_error", "c1" },
        { "error with null code", "{\"error\":{\"message\":\"m\",\"type\":\"t\",\"code\":null}}", 0,
          SL_OPENAI_DATA_ERROR, false, "", 0, "-", false, false, false, 0, 0, 0, "m", "t", "-" },
        { "error as a string", "{\"error\":\"overloaded\"}", 0, SL_OPENAI_DATA_ERROR, false, "", 0,
          "-", false, false, false, 0, 0, 0, "overloaded", "-", "-" },
        { "error empty object", "{\"error\":{}}", 0, SL_OPENAI_DATA_ERROR, false, "", 0, "-", false,
          false, false, 0, 0, 0, NOERR },
        { "error null is no error", CHUNK("[],\"error\":null"), 0, SL_OPENAI_DATA_CHUNK, false, "",
          0, "-", false, false, false, 0, 0, 0, NOERR },
    };
    return cr_make_param_array(struct chunk_case, cases, NCASES(cases));
}

static void assert_opt_str(const char *got, const char *want, const char *what, const char *name)
{
    if (strcmp(want, "-") == 0)
        cr_assert_null(got, "%s: %s should be NULL", name, what);
    else
        cr_assert(got && strcmp(got, want) == 0, "%s: %s is \"%s\", want \"%s\"", name, what,
                  got ? got : "(null)", want);
}

ParameterizedTest(struct chunk_case *c, sse_chunk, parse)
{
    size_t len = c->len ? c->len : strlen(c->data);
    size_t clen = c->content_len ? c->content_len : strlen(c->content);
    struct sl_openai_chunk k;

    cr_assert_eq(sl_openai_chunk_parse(c->data, len, &k), 0);
    cr_assert_eq(k.kind, c->kind, "%s: kind %d", c->name, k.kind);
    cr_assert_eq(sl_openai_classify(c->data, len), c->kind);
    cr_assert_eq(k.content != NULL, c->has_content, "%s: content", c->name);
    if (c->has_content) {
        cr_assert_eq(k.content_len, clen, "%s", c->name);
        cr_assert_eq(memcmp(k.content, c->content, clen), 0, "%s", c->name);
    }
    assert_opt_str(k.finish_reason, c->finish, "finish_reason", c->name);
    cr_assert_eq(k.tool_calls, c->tool_calls, "%s", c->name);
    cr_assert_eq(k.usage_only, c->usage_only, "%s", c->name);
    cr_assert_eq(sl_openai_is_usage_chunk(c->data, len), c->usage_only, "%s", c->name);
    cr_assert_eq(k.usage.present, c->usage, "%s", c->name);
    cr_assert_eq(k.usage.prompt_tokens, c->pt);
    cr_assert_eq(k.usage.completion_tokens, c->ct);
    cr_assert_eq(k.usage.total_tokens, c->tt);
    assert_opt_str(k.error_message, c->err_msg, "error_message", c->name);
    assert_opt_str(k.error_type, c->err_type, "error_type", c->name);
    assert_opt_str(k.error_code, c->err_code, "error_code", c->name);
    if (strcmp(c->name, "refusal") == 0)
        cr_assert(k.refusal && k.refusal_len == 2 && memcmp(k.refusal, "No", 2) == 0);
    sl_openai_chunk_done(&k);
    sl_openai_chunk_done(&k);
}

/* ---- include_usage ------------------------------------------------------------------------- */

struct usage_case {
    char name[40];
    char body[200];
    int ret;
    bool changed;
    bool asked;
    char want[200]; /* the exact body sent upstream when changed */
};

ParameterizedTestParameters(sse_include_usage, rows)
{
    static struct usage_case cases[] = {
        { "no stream_options", "{\"model\":\"m\",\"stream\":true}", 0, true, false,
          "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}" },
        { "other stream_options keys kept",
          "{\"stream\":true,\"stream_options\":{\"include_obfuscation\":false},\"n\":2}", 0, true,
          false,
          "{\"stream\":true,\"stream_options\":{\"include_obfuscation\":false,"
          "\"include_usage\":true},\"n\":2}" },
        { "include_usage false replaced in place",
          "{\"stream_options\":{\"include_usage\":false,\"x\":1},\"stream\":true}", 0, true, false,
          "{\"stream_options\":{\"include_usage\":true,\"x\":1},\"stream\":true}" },
        { "include_usage null", "{\"stream\":true,\"stream_options\":{\"include_usage\":null}}", 0,
          true, false, "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}" },
        { "stream_options null", "{\"stream\":true,\"stream_options\":null,\"z\":0}", 0, true,
          false, "{\"stream\":true,\"stream_options\":{\"include_usage\":true},\"z\":0}" },
        { "client asked itself",
          "{\"stream\": true, \"stream_options\": {\"include_usage\": true}}", 0, false, true, "" },
        { "stream false", "{\"stream\":false,\"stream_options\":{\"include_usage\":false}}", 0,
          false, false, "" },
        { "stream absent", "{\"model\":\"m\"}", 0, false, false, "" },
        { "stream as a string", "{\"stream\":\"true\"}", 0, false, false, "" },
        { "stream false, odd options", "{\"stream\":false,\"stream_options\":7}", 0, false, false,
          "" },
        { "key order and values kept",
          "{\"z\":1,\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\\u0000\"}],"
          "\"stream\":true,\"temperature\":0.5,\"seed\":-9007199254740993,\"x\":null}",
          0, true, false,
          "{\"z\":1,\"messages\":[{\"role\":\"user\",\"content\":\"h\xC3\xA9\\u0000\"}],"
          "\"stream\":true,\"temperature\":0.5,\"seed\":-9007199254740993,\"x\":null,"
          "\"stream_options\":{\"include_usage\":true}}" },
        { "invalid JSON", "{\"stream\":true", -EINVAL, false, false, "" },
        { "not an object", "[{\"stream\":true}]", -EINVAL, false, false, "" },
        { "trailing garbage", "{\"stream\":true} x", -EINVAL, false, false, "" },
        { "duplicate keys", "{\"stream\":false,\"stream\":true}", -EINVAL, false, false, "" },
        { "stream_options a string", "{\"stream\":true,\"stream_options\":\"x\"}", -EINVAL, false,
          false, "" },
        { "include_usage a number", "{\"stream\":true,\"stream_options\":{\"include_usage\":1}}",
          -EINVAL, false, false, "" },
        { "integer beyond int64", "{\"stream\":true,\"seed\":99999999999999999999}", -EINVAL, false,
          false, "" },
        { "empty", "", -EINVAL, false, false, "" },
    };
    return cr_make_param_array(struct usage_case, cases, NCASES(cases));
}

/* The body without stream_options, for a semantic comparison. */
static json_t *without_options(const char *s, size_t len)
{
    json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, NULL);

    cr_assert_not_null(j);
    json_object_del(j, "stream_options");
    return j;
}

ParameterizedTest(struct usage_case *c, sse_include_usage, rows)
{
    char *out = (char *)"untouched";
    size_t out_len = 0;
    bool asked = !c->asked;
    json_t *a, *b;
    int r = sl_v1_include_usage(c->body, strlen(c->body), &out, &out_len, &asked);

    cr_assert_eq(r, c->ret, "%s: ret %d", c->name, r);
    if (r < 0) {
        cr_assert_null(out, "%s", c->name);
        cr_assert_eq(asked, !c->asked, "%s: written on success only", c->name);
        return;
    }
    cr_assert_eq(asked, c->asked, "%s: asked", c->name);
    if (!c->changed) {
        cr_assert_null(out, "%s: no rewrite", c->name);
        return;
    }
    cr_assert_not_null(out);
    cr_assert_eq(out_len, strlen(out));
    cr_assert_str_eq(out, c->want, "%s", c->name);
    a = without_options(c->body, strlen(c->body));
    b = without_options(out, out_len);
    cr_assert(json_equal(a, b), "%s: other fields changed", c->name);
    json_decref(a);
    json_decref(b);
    free(out);
}

Test(sse_include_usage, reals_read_back_the_same)
{
    static const char body[] = "{\"stream\":true,\"temperature\":0.7,\"top_p\":0.1,"
                               "\"presence_penalty\":1e-7,\"frequency_penalty\":2.0}";
    char *out;
    bool asked;
    json_t *a, *b, *full;

    cr_assert_eq(sl_v1_include_usage(body, strlen(body), &out, NULL, &asked), 0);
    cr_assert_not_null(out);
    a = without_options(body, strlen(body));
    b = without_options(out, strlen(out));
    cr_assert(json_equal(a, b), "%s", out);
    cr_assert(json_is_real(json_object_get(b, "frequency_penalty")), "2.0 stays a real");
    full = json_loads(out, 0, NULL);
    cr_assert(
        json_is_true(json_object_get(json_object_get(full, "stream_options"), "include_usage")));
    json_decref(full);
    json_decref(a);
    json_decref(b);
    free(out);
}

Test(sse_include_usage, tree_form)
{
    json_t *root = json_pack("{s:s, s:b}", "model", "m", "stream", 1);
    bool changed, asked;

    cr_assert_not_null(root);
    cr_assert_eq(sl_v1_include_usage_json(root, &changed, &asked), 0);
    cr_assert(changed);
    cr_assert_not(asked);
    cr_assert_eq(sl_v1_include_usage_json(root, &changed, &asked), 0);
    cr_assert_not(changed, "idempotent");
    cr_assert(asked, "it now asks itself");
    json_decref(root);
    root = json_array();
    cr_assert_eq(sl_v1_include_usage_json(root, &changed, &asked), -EINVAL);
    json_decref(root);
}

Test(sse_include_usage, body_over_the_backstop)
{
    char *out = NULL;
    bool asked;

    cr_assert_eq(sl_v1_include_usage("{}", (size_t)SL_V1_BODY_MAX + 1, &out, NULL, &asked), -E2BIG);
    cr_assert_null(out);
}

/* ---- the writer ---------------------------------------------------------------------------- */

struct write_case {
    char name[40];
    char ev[16]; /* "-": NULL */
    char data[48];
    size_t len; /* 0: strlen(data) */
    int ret;
    char want[160];
    size_t want_len;   /* 0: strlen(want) */
    char parsed[64];   /* what a client reads back as data (line breaks as LF) */
    size_t parsed_len; /* 0: strlen(parsed) */
};

ParameterizedTestParameters(sse_write, event)
{
    static struct write_case cases[] = {
        { "token", "token", "hello", 0, 0, "event: token\ndata: hello\n\n", 0, "hello", 0 },
        { "LF", "token", "a\nb", 0, 0, "event: token\ndata: a\ndata: b\n\n", 0, "a\nb", 0 },
        { "CRLF", "token", "a\r\nb", 0, 0, "event: token\ndata: a\ndata: b\n\n", 0, "a\nb", 0 },
        { "CR", "token", "a\rb", 0, 0, "event: token\ndata: a\ndata: b\n\n", 0, "a\nb", 0 },
        { "trailing LF", "token", "a\n", 0, 0, "event: token\ndata: a\ndata: \n\n", 0, "a\n", 0 },
        { "trailing CRLF", "token", "a\r\n", 0, 0, "event: token\ndata: a\ndata: \n\n", 0, "a\n",
          0 },
        { "trailing CR", "token", "a\r", 0, 0, "event: token\ndata: a\ndata: \n\n", 0, "a\n", 0 },
        { "leading LF", "token", "\na", 0, 0, "event: token\ndata: \ndata: a\n\n", 0, "\na", 0 },
        { "only a newline", "token", "\n", 0, 0, "event: token\ndata: \ndata: \n\n", 0, "\n", 0 },
        { "blank line inside", "token", "a\r\n\r\nb", 0, 0,
          "event: token\ndata: a\ndata: \ndata: b\n\n", 0, "a\n\nb", 0 },
        { "LF CR is two breaks", "token", "a\n\rb", 0, 0,
          "event: token\ndata: a\ndata: \ndata: b\n\n", 0, "a\n\nb", 0 },
        { "empty data", "done", "", 0, 0, "event: done\ndata: \n\n", 0, "", 0 },
        { "spaces kept", "token", " a ", 0, 0, "event: token\ndata:  a \n\n", 0, " a ", 0 },
        { "field-like text stays data", "token", "x\nevent: evil\nid: 1\n\ndata: y", 0, 0,
          "event: token\ndata: x\ndata: event: evil\ndata: id: 1\ndata: \ndata: data: y\n\n", 0,
          "x\nevent: evil\nid: 1\n\ndata: y", 0 },
        { "NUL kept", "token", "a\0b", 3, 0, "event: token\ndata: a\0b\n\n", 24, "a\0b", 3 },
        { "UTF-8", "token", "caf\xC3\xA9 \xF0\x9F\x98\x80", 0, 0,
          "event: token\ndata: caf\xC3\xA9 \xF0\x9F\x98\x80\n\n", 0, "caf\xC3\xA9 \xF0\x9F\x98\x80",
          0 },
        { "no event name", "-", "{\"x\":1}", 0, 0, "data: {\"x\":1}\n\n", 0, "{\"x\":1}", 0 },
        { "empty event name", "", "[DONE]", 0, 0, "data: [DONE]\n\n", 0, "[DONE]", 0 },
        { "name with LF", "to\nken", "a", 0, -EINVAL, "", 0, "", 0 },
        { "name with CR", "to\rken", "a", 0, -EINVAL, "", 0, "", 0 },
    };
    return cr_make_param_array(struct write_case, cases, NCASES(cases));
}

ParameterizedTest(struct write_case *c, sse_write, event)
{
    size_t len = c->len ? c->len : strlen(c->data);
    size_t want_len = c->want_len ? c->want_len : strlen(c->want);
    size_t plen = c->parsed_len ? c->parsed_len : strlen(c->parsed);
    const char *name = strcmp(c->ev, "-") == 0 ? NULL : c->ev;
    struct sl_buf b, want;
    struct outcome o;

    sl_buf_init(&b, 4096);
    cr_assert_eq(sl_buf_puts(&b, "prefix"), 0);
    cr_assert_eq(sl_sse_write_event(&b, name, c->data, len), c->ret, "%s", c->name);
    if (c->ret < 0) {
        cr_assert_str_eq(b.data, "prefix", "%s: left as it was", c->name);
        sl_buf_done(&b);
        return;
    }
    cr_assert_eq(b.len, 6 + want_len, "%s: %s", c->name, b.data + 6);
    cr_assert_eq(memcmp(b.data + 6, c->want, want_len), 0, "%s: %s", c->name, b.data + 6);

    /* What a client's parser reads back. */
    parse_whole(b.data + 6, b.len - 6, 4096, &o);
    sl_buf_init(&want, 1024);
    sl_buf_printf(&want, "M:%s::", name ? name : "");
    put_escaped(&want, c->parsed, plen);
    sl_buf_puts(&want, "\n");
    cr_assert_str_eq(o.rec.out.data, want.data, "%s", c->name);
    cr_assert_not(o.partial);
    outcome_done(&o);
    sl_buf_done(&want);
    sl_buf_done(&b);
}

Test(sse_write, all_or_nothing_at_the_ceiling)
{
    struct sl_buf b;

    sl_buf_init(&b, 31);
    cr_assert_eq(sl_buf_puts(&b, "x"), 0);
    cr_assert_eq(sl_sse_write_event(&b, "token", "a\nb\nc\nd", 7), -E2BIG);
    cr_assert_str_eq(b.data, "x");
    cr_assert_eq(b.len, 1);
    cr_assert_eq(sl_sse_write_event(&b, "token", "a\nb", 3), 0);
    cr_assert_str_eq(b.data, "xevent: token\ndata: a\ndata: b\n\n");
    cr_assert_eq(sl_sse_write_comment(&b, "ping", 4), -E2BIG);
    cr_assert_eq(b.len, 31);
    sl_buf_done(&b);
}

/* An event on one line is written in one piece: it fits to the last byte, or nothing of it
 * is written. */
Test(sse_write, one_line_all_or_nothing)
{
    static const char want[] = "xevent: token\ndata: abc\n\n";
    struct sl_buf b;

    sl_buf_init(&b, sizeof(want) - 2);
    cr_assert_eq(sl_buf_puts(&b, "x"), 0);
    cr_assert_eq(sl_sse_write_event(&b, "token", "abc", 3), -E2BIG);
    cr_assert_str_eq(b.data, "x");
    sl_buf_done(&b);
    sl_buf_init(&b, sizeof(want) - 1);
    cr_assert_eq(sl_buf_puts(&b, "x"), 0);
    cr_assert_eq(sl_sse_write_event(&b, "token", "abc", 3), 0);
    cr_assert_str_eq(b.data, want);
    cr_assert_eq(sl_sse_write_event(&b, NULL, "", 0), -E2BIG);
    cr_assert_str_eq(b.data, want);
    sl_buf_done(&b);
}

Test(sse_write, comment)
{
    struct sl_buf b;
    struct outcome o;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_sse_write_comment(&b, "ping", 4), 0);
    cr_assert_str_eq(b.data, ": ping\n\n");
    cr_assert_eq(sl_sse_write_comment(&b, "", 0), 0);
    cr_assert_str_eq(b.data, ": ping\n\n:\n\n");
    cr_assert_eq(sl_sse_write_comment(&b, "a\nb", 3), -EINVAL);
    cr_assert_eq(sl_sse_write_comment(&b, "a\rb", 3), -EINVAL);
    cr_assert_str_eq(b.data, ": ping\n\n:\n\n");
    parse_whole(b.data, b.len, 1024, &o);
    cr_assert_str_eq(o.rec.out.data, "C::: ping\nC:::\n");
    cr_assert_not(o.partial);
    outcome_done(&o);
    sl_buf_done(&b);
}

/* The /api/chat/stream sequence of SPEC §3.2, read back by the parser. */
Test(sse_write, stream_route_sequence)
{
    struct sl_buf b;
    struct outcome o;

    sl_buf_init(&b, 4096);
    cr_assert_eq(sl_sse_write_event(&b, "token", "Hello", 5), 0);
    cr_assert_eq(sl_sse_write_comment(&b, "ping", 4), 0);
    cr_assert_eq(sl_sse_write_event(&b, "token", " world\n", 7), 0);
    cr_assert_eq(sl_sse_write_event(&b, "usage", "{\"prompt_tokens\":1}", 19), 0);
    cr_assert_eq(sl_sse_write_event(&b, "done", "", 0), 0);
    parse_whole(b.data, b.len, 4096, &o);
    cr_assert_str_eq(o.rec.out.data, "M:token::Hello\nC::: ping\nM:token:: world\\n\n"
                                     "M:usage::{\"prompt_tokens\":1}\nM:done::\n");
    outcome_done(&o);
    sl_buf_done(&b);
}

/* ---- "usage": null stripped for a client that did not ask (issue: every relayed chunk
 * carried the "usage":null our include_usage had caused) ---- */

struct strip_case {
    char in[200];
    char out[200];
};

ParameterizedTestParameters(sse_strip, null_usage)
{
    static struct strip_case cases[] = {
        /* the fake's and OpenAI's chunks: last member */
        { "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],"
          "\"usage\":null}",
          "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}" },
        /* middle, first, only */
        { "{\"a\":1,\"usage\":null,\"b\":2}", "{\"a\":1,\"b\":2}" },
        { "{\"usage\":null,\"a\":1}", "{\"a\":1}" },
        { "{\"usage\":null}", "{}" },
        /* whitespace around it, as a pretty printer writes it */
        { "{ \"a\" : 1 , \"usage\" : null , \"b\" : 2 }", "{ \"a\" : 1  , \"b\" : 2 }" },
        { "{\n  \"usage\": null,\n  \"a\": 1\n}", "{\n  \"a\": 1\n}" },
        { "{\"a\":1,\"usage\":null }", "{\"a\":1 }" },
        /* twice (duplicate keys) */
        { "{\"usage\":null,\"usage\":null,\"a\":[]}", "{\"a\":[]}" },
        { "{\"a\":0,\"usage\":null,\"b\":1,\"usage\":null}", "{\"a\":0,\"b\":1}" },
        /* the comma it takes with it, whitespace on either side */
        { "{\"a\":1 ,\"usage\":null}", "{\"a\":1 }" },
        { "{\"usage\":null , \"a\":1}", "{\"a\":1}" },
        { "{ \"usage\" : null }", "{  }" },
        /* left alone: a usage object, nested nulls, other keys, strings that look like it */
        { "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}",
          "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}" },
        { "{\"choices\":[{\"usage\":null}],\"x\":{\"usage\":null}}",
          "{\"choices\":[{\"usage\":null}],\"x\":{\"usage\":null}}" },
        { "{\"usagex\":null,\"usag\":null,\"xusage\":null}",
          "{\"usagex\":null,\"usag\":null,\"xusage\":null}" },
        { "{\"a\":\"\\\"usage\\\":null\",\"b\":\",\\\"usage\\\":null}\"}",
          "{\"a\":\"\\\"usage\\\":null\",\"b\":\",\\\"usage\\\":null}\"}" },
        { "{\"usage\":\"null\"}", "{\"usage\":\"null\"}" },
        { "{\"usage\":false}", "{\"usage\":false}" },
        { "{\"u\\u0073age\":null}", "{\"u\\u0073age\":null}" },
        /* nested containers and escapes before it are skipped correctly */
        { "{\"a\":[{\"b\":\"]}\\\\\"},[1,{}]],\"usage\":null,\"c\":true}",
          "{\"a\":[{\"b\":\"]}\\\\\"},[1,{}]],\"c\":true}" },
        /* not an object: unchanged */
        { "[\"usage\",null]", "[\"usage\",null]" },
        { "", "" },
        { "{}", "{}" },
    };
    return cr_make_param_array(struct strip_case, cases, NCASES(cases));
}

ParameterizedTest(struct strip_case *c, sse_strip, null_usage)
{
    char buf[256];
    size_t n = strlen(c->in);
    json_t *before, *after;
    struct sl_openai_chunk k;
    struct sl_buf got;

    /* The strip the chunk's parse prepares, which the relay uses, says the same. */
    sl_buf_init(&got, sizeof(buf));
    cr_assert_eq(sl_openai_chunk_parse(c->in, n, &k), 0);
    cr_assert_eq(sl_openai_chunk_strip_null_usage(&k, c->in, n, &got), 0);
    cr_assert_str_eq(got.data ? got.data : "", c->out, "chunk, in: %s", c->in);
    sl_openai_chunk_done(&k);
    sl_buf_done(&got);
    memcpy(buf, c->in, n + 1);
    n = sl_openai_strip_null_usage(buf, n);
    buf[n] = '\0';
    cr_assert_str_eq(buf, c->out, "in: %s", c->in);
    /* Still the same JSON apart from the member. */
    before = json_loads(c->in, JSON_DECODE_ANY, NULL);
    after = json_loads(buf, JSON_DECODE_ANY, NULL);
    cr_assert_eq(before != NULL, after != NULL, "%s", buf);
    if (strcmp(c->in, c->out) != 0)
        json_object_del(before, "usage");
    if (before)
        cr_assert(json_equal(before, after), "%s -> %s", c->in, buf);
    json_decref(before);
    json_decref(after);
}

Test(sse_strip, the_chunk_reader_says_when_usage_is_null)
{
    static const char with[] = "{\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":null}";
    static const char without[] = "{\"choices\":[{\"index\":0,\"delta\":{}}]}";
    static const char object[] = "{\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
                                 "\"completion_tokens\":1}}";
    struct sl_openai_chunk k;

    cr_assert_eq(sl_openai_chunk_parse(with, strlen(with), &k), 0);
    cr_assert(k.usage_null);
    sl_openai_chunk_done(&k);
    cr_assert_eq(sl_openai_chunk_parse(without, strlen(without), &k), 0);
    cr_assert_not(k.usage_null);
    sl_openai_chunk_done(&k);
    cr_assert_eq(sl_openai_chunk_parse(object, strlen(object), &k), 0);
    cr_assert_not(k.usage_null);
    sl_openai_chunk_done(&k);
}
