/* SPDX-License-Identifier: MIT */
/* sse.c - the upstream SSE parser and the framing of sluice's own events. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/sse.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json_scan.h"

/* After an unusually large event, give its memory back rather than keep it for the life of
 * the stream: thousands of streams may be open at once and most events are small. */
#define SHRINK_ABOVE (64u << 10)

static const unsigned char bom_bytes[3] = { 0xef, 0xbb, 0xbf };

/* The next CR or LF at or after a position, found with memchr() and remembered: a long line
 * costs two vectorised scans instead of a byte loop, and many short lines stay linear. */
struct breaks {
    const char *s;
    size_t n, lf, cr; /* the next of each at or after the last position */
};

static size_t find_byte(const char *s, size_t from, size_t n, char c)
{
    const char *q = from < n ? memchr(s + from, c, n - from) : NULL;

    return q ? (size_t)(q - s) : n;
}

static void breaks_init(struct breaks *b, const char *s, size_t n)
{
    b->s = s;
    b->n = n;
    b->lf = find_byte(s, 0, n, '\n');
    b->cr = find_byte(s, 0, n, '\r');
}

static size_t next_break(struct breaks *b, size_t from)
{
    if (b->lf < from)
        b->lf = find_byte(b->s, from, b->n, '\n');
    if (b->cr < from)
        b->cr = find_byte(b->s, from, b->n, '\r');
    return b->lf < b->cr ? b->lf : b->cr;
}

/* ---- the parser ------------------------------------------------------------------------ */

int sl_sse_parser_init(struct sl_sse_parser *p, size_t max_event_bytes)
{
    memset(p, 0, sizeof(*p));
    if (max_event_bytes == 0)
        return -EINVAL;
    p->max_event_bytes = max_event_bytes;
    sl_buf_init(&p->line, max_event_bytes);
    sl_buf_init(&p->data, max_event_bytes);
    sl_buf_init(&p->type, max_event_bytes);
    sl_buf_init(&p->id, max_event_bytes);
    return 0;
}

void sl_sse_parser_done(struct sl_sse_parser *p)
{
    sl_buf_done(&p->line);
    sl_buf_done(&p->data);
    sl_buf_done(&p->type);
    sl_buf_done(&p->id);
}

void sl_sse_parser_reset(struct sl_sse_parser *p)
{
    size_t max = p->max_event_bytes;
    bool report = p->report_comments;
    struct sl_buf keep[4] = { p->line, p->data, p->type, p->id };

    memset(p, 0, sizeof(*p));
    p->max_event_bytes = max;
    p->report_comments = report;
    p->line = keep[0];
    p->data = keep[1];
    p->type = keep[2];
    p->id = keep[3];
    sl_buf_reset(&p->line);
    sl_buf_reset(&p->data);
    sl_buf_reset(&p->type);
    sl_buf_reset(&p->id);
}

void sl_sse_parser_report_comments(struct sl_sse_parser *p, bool on)
{
    p->report_comments = on;
}

bool sl_sse_has_partial(const struct sl_sse_parser *p)
{
    return p->error != 0 || p->pending || p->line.len > 0 || (!p->bom_done && p->bom > 0);
}

static size_t held(const struct sl_sse_parser *p)
{
    return p->line.len + p->data.len + p->type.len + p->id.len;
}

/* Would n more bytes of the current line pass the bound?  Checked before anything is copied,
 * and on the total line length whatever the feed boundaries, so the outcome does not depend
 * on how the stream was split. */
static bool too_big(const struct sl_sse_parser *p, size_t n)
{
    size_t h = held(p);

    return h > p->max_event_bytes || n > p->max_event_bytes - h;
}

static int fail(struct sl_sse_parser *p, int err)
{
    p->error = err;
    /* The stream is over; drop what it made us hold at once. */
    sl_buf_done(&p->line);
    sl_buf_done(&p->data);
    sl_buf_done(&p->type);
    sl_buf_done(&p->id);
    return err;
}

static const char *str_or_empty(const struct sl_buf *b)
{
    return b->data ? b->data : "";
}

static void shrink(struct sl_buf *b)
{
    if (b->cap > SHRINK_ABOVE)
        sl_buf_done(b);
    else
        sl_buf_reset(b);
}

static int dispatch(struct sl_sse_parser *p, sl_sse_event_cb cb, void *arg)
{
    struct sl_sse_event ev;
    int r = 0;

    p->pending = false;
    if (p->data.len == 0) {
        sl_buf_reset(&p->type);
        return 0;
    }
    p->data.len--; /* the LF after the last data line */
    p->data.data[p->data.len] = '\0';
    ev.kind = SL_SSE_MESSAGE;
    ev.event = str_or_empty(&p->type);
    ev.event_len = p->type.len;
    ev.data = p->data.data;
    ev.data_len = p->data.len;
    ev.id = str_or_empty(&p->id);
    ev.id_len = p->id.len;
    p->events++;
    if (cb)
        r = cb(&ev, arg);
    shrink(&p->data);
    sl_buf_reset(&p->type);
    return r;
}

static int comment(struct sl_sse_parser *p, const char *text, size_t len, sl_sse_event_cb cb,
                   void *arg)
{
    struct sl_sse_event ev;

    p->comments++;
    if (!p->report_comments || !cb)
        return 0;
    ev.kind = SL_SSE_COMMENT;
    ev.event = "";
    ev.event_len = 0;
    ev.data = text;
    ev.data_len = len;
    ev.id = str_or_empty(&p->id);
    ev.id_len = p->id.len;
    return cb(&ev, arg);
}

static int set_buf(struct sl_buf *b, const char *v, size_t n)
{
    sl_buf_reset(b);
    return sl_buf_append(b, v, n);
}

static void set_retry(struct sl_sse_parser *p, const char *v, size_t n)
{
    uint64_t ms = 0;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        /* An absurd value saturates; the caller clamps it to its own policy anyway. */
        ms = ms > (UINT64_MAX - 9) / 10 ? UINT64_MAX : ms * 10 + (uint64_t)(v[i] - '0');
    }
    p->retry_ms = ms;
    p->has_retry = true;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(name, want, n) == 0;
}

/* A data line's value and the LF that joins it to the next, in one reservation. */
static int put_data(struct sl_buf *b, const char *v, size_t n)
{
    int r;

    if ((r = sl_buf_reserve(b, n + 1)) < 0)
        return r;
    memcpy(b->data + b->len, v, n);
    b->len += n;
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
    return 0;
}

static int field(struct sl_sse_parser *p, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (name_is(name, nlen, "data"))
        return put_data(&p->data, v, vlen);
    if (name_is(name, nlen, "event"))
        return set_buf(&p->type, v, vlen);
    if (name_is(name, nlen, "id")) {
        if (memchr(v, '\0', vlen))
            return 0;
        return set_buf(&p->id, v, vlen);
    }
    if (name_is(name, nlen, "retry"))
        set_retry(p, v, vlen);
    return 0;
}

/* One complete line, without its ending.  Returns 0, a callback's value (> 0 or < 0 alike:
 * the caller cannot tell them apart, so it stops either way) or, from the buffers, -E2BIG or
 * -ENOMEM flagged by *buf_err. */
static int on_line(struct sl_sse_parser *p, const char *line, size_t n, sl_sse_event_cb cb,
                   void *arg, bool *buf_err)
{
    const char *colon, *v;
    size_t nlen, vlen;
    int r;

    if (n == 0)
        return dispatch(p, cb, arg);
    if (line[0] == ':')
        return comment(p, line + 1, n - 1, cb, arg);
    colon = memchr(line, ':', n);
    nlen = colon ? (size_t)(colon - line) : n;
    v = colon ? colon + 1 : line + n;
    vlen = n - nlen - (colon ? 1 : 0);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    p->pending = true;
    r = field(p, line, nlen, v, vlen);
    if (r < 0)
        *buf_err = true;
    return r;
}

/* The main loop over bytes that are past any BOM.  *used: bytes of buf consumed. */
static int scan(struct sl_sse_parser *p, const char *buf, size_t len, size_t *used,
                sl_sse_event_cb cb, void *arg)
{
    struct breaks br;
    size_t i = 0;
    int r = 0;

    breaks_init(&br, buf, len);

    while (i < len) {
        size_t start, n;
        const char *line;
        bool buf_err = false;

        if (p->after_cr) {
            p->after_cr = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        start = i;
        i = next_break(&br, i);
        n = i - start;
        if (too_big(p, n)) {
            r = fail(p, -E2BIG);
            break;
        }
        if (i == len) { /* the line goes on in a later feed */
            if (n > 0 && (r = sl_buf_append(&p->line, buf + start, n)) < 0)
                r = fail(p, r);
            break;
        }
        p->after_cr = buf[i] == '\r';
        i++;
        line = buf + start;
        if (p->line.len > 0) {
            if ((r = sl_buf_append(&p->line, line, n)) < 0) {
                r = fail(p, r);
                break;
            }
            line = p->line.data;
            n = p->line.len;
        }
        r = on_line(p, line, n, cb, arg, &buf_err);
        if (buf_err) {
            r = fail(p, r);
            break;
        }
        shrink(&p->line);
        if (r != 0)
            break;
    }
    *used = i;
    return r;
}

int sl_sse_feed(struct sl_sse_parser *p, const char *buf, size_t len, sl_sse_event_cb cb, void *arg)
{
    size_t i = 0, used;
    int r;

    p->consumed = 0;
    if (p->error)
        return p->error;
    /* WHATWG decodes the stream as UTF-8 and drops one leading BOM; it may arrive split. */
    while (!p->bom_done && i < len) {
        if ((unsigned char)buf[i] == bom_bytes[p->bom]) {
            i++;
            p->bom_done = ++p->bom == sizeof(bom_bytes);
            continue;
        }
        p->bom_done = true;
        /* Not a BOM after all: what matched is ordinary text (it holds no line ending, so
         * the replay dispatches nothing and cannot stop early). */
        if (p->bom > 0 && (r = scan(p, (const char *)bom_bytes, p->bom, &used, cb, arg)) != 0)
            return r;
    }
    r = scan(p, buf + i, len - i, &used, cb, arg);
    p->consumed = i + used;
    return r;
}

/* ---- framing ----------------------------------------------------------------------------- */

static bool has_break(const char *s, size_t n)
{
    return memchr(s, '\n', n) || memchr(s, '\r', n);
}

static int put_data_lines(struct sl_buf *b, const char *data, size_t len)
{
    struct breaks br;
    size_t i = 0, e;
    int r;

    breaks_init(&br, data, len);
    for (;;) {
        e = next_break(&br, i);
        if ((r = sl_buf_append(b, "data: ", 6)) < 0 ||
            (r = sl_buf_append(b, data + i, e - i)) < 0 || (r = sl_buf_append(b, "\n", 1)) < 0)
            return r;
        if (e == len)
            return 0;
        i = e + (data[e] == '\r' && e + 1 < len && data[e + 1] == '\n' ? 2 : 1);
    }
}

static int undo(struct sl_buf *b, size_t start, int r)
{
    b->len = start;
    if (b->data)
        b->data[start] = '\0';
    return r;
}

/* An event whose data holds no line break, the usual one: its bytes in one reservation. */
static int put_one_line_event(struct sl_buf *b, const char *name, size_t nlen, const char *data,
                              size_t len)
{
    size_t head = nlen > 0 ? 7 + nlen + 1 : 0;
    char *o;
    int r;

    if (len > SIZE_MAX - head - 8)
        return -E2BIG;
    if ((r = sl_buf_reserve(b, head + 6 + len + 2)) < 0)
        return r;
    o = b->data + b->len;
    if (nlen > 0) {
        memcpy(o, "event: ", 7);
        memcpy(o + 7, name, nlen);
        o[7 + nlen] = '\n';
        o += head;
    }
    memcpy(o, "data: ", 6);
    memcpy(o + 6, data, len);
    memcpy(o + 6 + len, "\n\n", 2);
    b->len += head + 6 + len + 2;
    b->data[b->len] = '\0';
    return 0;
}

int sl_sse_write_event(struct sl_buf *b, const char *name, const char *data, size_t len)
{
    size_t start = b->len, nlen = name ? strlen(name) : 0;
    int r;

    if (has_break(name ? name : "", nlen))
        return -EINVAL;
    if (!has_break(data ? data : "", data ? len : 0))
        return put_one_line_event(b, name, nlen, data ? data : "", data ? len : 0);
    if (nlen > 0 && ((r = sl_buf_append(b, "event: ", 7)) < 0 ||
                     (r = sl_buf_append(b, name, nlen)) < 0 || (r = sl_buf_append(b, "\n", 1)) < 0))
        return undo(b, start, r);
    if ((r = put_data_lines(b, data ? data : "", data ? len : 0)) < 0 ||
        (r = sl_buf_append(b, "\n", 1)) < 0)
        return undo(b, start, r);
    return 0;
}

int sl_sse_write_comment(struct sl_buf *b, const char *text, size_t len)
{
    size_t start = b->len;
    int r;

    if (len > 0 && has_break(text, len))
        return -EINVAL;
    if ((r = sl_buf_append(b, ":", 1)) < 0 ||
        (len > 0 &&
         ((r = sl_buf_append(b, " ", 1)) < 0 || (r = sl_buf_append(b, text, len)) < 0)) ||
        (r = sl_buf_append(b, "\n\n", 2)) < 0)
        return undo(b, start, r);
    return 0;
}
