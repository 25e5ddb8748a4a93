/* SPDX-License-Identifier: MIT */
/* fuzz_sse.c - libFuzzer target: the upstream SSE parser (fed whole, split at a position
 * taken from the input, and in pieces of 1 to 7 bytes, it must say the same), the OpenAI
 * chunk reader on every event and on the whole input (its one-pass reading field by field
 * against the jansson one), the include_usage rewrite, and the event writer read back. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/openai.h"
#include "core/sse.h"

/* Far above any input libFuzzer makes here, so a mismatch is never a ceiling artefact. */
#define RECORD_MAX (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a parse produced, as bytes to compare between two ways of feeding the same stream. */
struct record {
    struct sl_buf log;
};

static void put(struct sl_buf *b, const void *p, size_t n)
{
    if (sl_buf_append(b, &n, sizeof(n)) < 0 || sl_buf_append(b, p, n) < 0)
        abort();
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    return (!a && !b) || (a && b && an == bn && memcmp(a, b, an) == 0);
}

/* The strip a chunk's parse prepared gives what sl_openai_strip_null_usage() does. */
static void same_strip(const struct sl_openai_chunk *c, const char *data, size_t len)
{
    struct sl_buf got;
    char *want = malloc(len + 1);
    size_t n;

    if (!want)
        abort();
    memcpy(want, data, len);
    n = sl_openai_strip_null_usage(want, len);
    sl_buf_init(&got, RECORD_MAX);
    if (sl_openai_chunk_strip_null_usage(c, data, len, &got) != 0 || got.len != n ||
        (n && memcmp(got.data, want, n) != 0))
        abort();
    sl_buf_done(&got);
    free(want);
}

/* The one-pass chunk reader reads what the jansson reading does, field by field. */
static void same_chunk(const char *data, size_t len)
{
    struct sl_openai_chunk a, b;
    int ra = sl_openai_chunk_parse(data, len, &a), rb = sl_openai_chunk_parse_tree(data, len, &b);

    if (ra != 0 || rb != 0)
        abort();
    if (a.kind != b.kind || a.tool_calls != b.tool_calls || a.usage_only != b.usage_only ||
        a.usage_null != b.usage_null || a.usage.present != b.usage.present ||
        a.usage.prompt_tokens != b.usage.prompt_tokens ||
        a.usage.completion_tokens != b.usage.completion_tokens ||
        a.usage.total_tokens != b.usage.total_tokens ||
        !same_bytes(a.content, a.content_len, b.content, b.content_len) ||
        !same_bytes(a.refusal, a.refusal_len, b.refusal, b.refusal_len) ||
        !same_str(a.finish_reason, b.finish_reason) ||
        !same_str(a.error_message, b.error_message) || !same_str(a.error_type, b.error_type) ||
        !same_str(a.error_code, b.error_code))
        abort();
    if ((a.content && a.content[a.content_len] != '\0') ||
        (a.refusal && a.refusal[a.refusal_len] != '\0'))
        abort();
    same_strip(&a, data, len);
    same_strip(&b, data, len);
    sl_openai_chunk_done(&a);
    sl_openai_chunk_done(&b);
}

static int on_event(const struct sl_sse_event *ev, void *arg)
{
    struct record *rec = arg;
    struct sl_openai_chunk c;
    unsigned char kind = (unsigned char)ev->kind;

    put(&rec->log, &kind, 1);
    put(&rec->log, ev->event, ev->event_len);
    put(&rec->log, ev->id, ev->id_len);
    put(&rec->log, ev->data, ev->data_len);
    if (ev->kind != SL_SSE_MESSAGE)
        return 0;
    if (ev->data[ev->data_len] != '\0' || ev->event[ev->event_len] != '\0' ||
        ev->id[ev->id_len] != '\0')
        abort();
    if (sl_openai_chunk_parse(ev->data, ev->data_len, &c) != 0)
        abort();
    if (c.kind == SL_OPENAI_DATA_CHUNK && c.usage.present &&
        (c.usage.prompt_tokens < 0 || c.usage.completion_tokens < 0 || c.usage.total_tokens < 0))
        abort();
    if (c.content && c.content[c.content_len] != '\0')
        abort();
    sl_openai_chunk_done(&c);
    sl_openai_chunk_done(&c);
    return 0;
}

/* Feed data in pieces of at most step bytes after a first piece of split bytes (0: none),
 * and record everything the parser said. */
static void parse(const char *data, size_t size, size_t split, size_t step, size_t bound,
                  bool comments, struct record *rec)
{
    struct sl_sse_parser p;
    size_t off = 0, n;
    int r = 0;
    unsigned char tail[2];
    uint64_t counts[3];

    sl_buf_init(&rec->log, RECORD_MAX);
    if (sl_sse_parser_init(&p, bound) != 0)
        abort();
    sl_sse_parser_report_comments(&p, comments);
    if (split > 0) {
        r = sl_sse_feed(&p, data, split, on_event, rec);
        off = split;
    }
    while (r == 0 && off < size) {
        n = size - off < step ? size - off : step;
        r = sl_sse_feed(&p, data + off, n, on_event, rec);
        off += n;
    }
    /* Sticky errors stay sticky. */
    if (r != 0 && sl_sse_feed(&p, "\n\n", 2, on_event, rec) != r)
        abort();
    tail[0] = (unsigned char)-r;
    tail[1] = sl_sse_has_partial(&p);
    counts[0] = p.events;
    counts[1] = p.comments;
    counts[2] = p.has_retry ? p.retry_ms : UINT64_MAX;
    put(&rec->log, tail, sizeof(tail));
    put(&rec->log, counts, sizeof(counts));
    sl_sse_parser_done(&p);
    sl_sse_parser_done(&p);
}

static void same(const char *data, size_t size, size_t split, size_t step, size_t bound,
                 bool comments)
{
    struct record whole, pieces;

    parse(data, size, 0, size ? size : 1, bound, comments, &whole);
    parse(data, size, split, step, bound, comments, &pieces);
    if (whole.log.len != pieces.log.len ||
        memcmp(whole.log.data, pieces.log.data, whole.log.len) != 0)
        abort();
    sl_buf_done(&whole.log);
    sl_buf_done(&pieces.log);
}

/* The writer splits data at CRLF, LF and CR; the reader must give it back with LF breaks. */
struct written {
    const char *name;
    char *want;
    size_t want_len;
    unsigned events;
};

static int on_written(const struct sl_sse_event *ev, void *arg)
{
    struct written *w = arg;
    size_t nlen = w->name ? strlen(w->name) : 0;

    w->events++;
    if (ev->kind != SL_SSE_MESSAGE || ev->data_len != w->want_len ||
        memcmp(ev->data, w->want, w->want_len) != 0 || ev->event_len != nlen ||
        memcmp(ev->event, w->name ? w->name : "", nlen) != 0)
        abort();
    return 0;
}

static void round_trip(const char *name, const char *data, size_t len)
{
    struct sl_sse_parser p;
    struct written w = { .name = name };
    struct sl_buf out;
    size_t i;
    int r;

    sl_buf_init(&out, RECORD_MAX);
    r = sl_sse_write_event(&out, name, data, len);
    if (name && strpbrk(name, "\r\n")) {
        if (r != -EINVAL || out.len != 0)
            abort();
        sl_buf_done(&out);
        return;
    }
    if (r != 0)
        abort();
    w.want = malloc(len + 1);
    if (!w.want)
        abort();
    for (i = 0; i < len; i++) {
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            continue;
        w.want[w.want_len++] = data[i] == '\r' ? '\n' : data[i];
    }
    if (sl_sse_parser_init(&p, out.len + 1) != 0 ||
        sl_sse_feed(&p, out.data, out.len, on_written, &w) != 0 || w.events != 1 ||
        sl_sse_has_partial(&p))
        abort();
    sl_sse_parser_done(&p);
    free(w.want);
    sl_buf_done(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t split = 0, step = 1, bound = SL_SSE_DEFAULT_MAX_EVENT;
    const char *nul;
    char *name = NULL;

    if (size >= 2) {
        split = ((size_t)data[0] << 8 | data[1]) % (size + 1);
        step = 1 + data[size - 1] % 7;
        bound = 1 + (size_t)data[size - 2] * 3;
    }
    same(s, size, split, size ? size : 1, SL_SSE_DEFAULT_MAX_EVENT, size & 1);
    same(s, size, split, step, SL_SSE_DEFAULT_MAX_EVENT, true);
    same(s, size, split, step, bound, false);
    same_chunk(s, size);
    /* Up to the first NUL: the event name; the rest: its data. */
    nul = memchr(s, '\0', size);
    if (nul) {
        name = strdup(s);
        if (!name)
            abort();
        round_trip(name, nul + 1, size - (size_t)(nul + 1 - s));
        free(name);
    }
    round_trip(NULL, s, size);
    return 0;
}
