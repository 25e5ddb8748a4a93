/* SPDX-License-Identifier: MIT */
/* sse.c - the upstream SSE parser, OpenAI chunk readers, the include_usage rewrite and the
 * framing of sluice's own events. */
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

#define CHUNK_JSON_FLAGS JSON_ALLOW_NUL
#define BODY_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define BODY_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

static const unsigned char bom_bytes[3] = { 0xef, 0xbb, 0xbf };

/* The next CR or LF at or after a position, found with memchr() and remembered: a long line
 * costs two vectorised scans instead of a byte loop, and many short lines stay linear. */
struct breaks {
    const char *s;
    size_t n, lf, cr;                 /* the next of each at or after the last position */
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

static int field(struct sl_sse_parser *p, const char *name, size_t nlen, const char *v,
                 size_t vlen)
{
    int r;

    if (name_is(name, nlen, "data")) {
        if ((r = sl_buf_append(&p->data, v, vlen)) < 0)
            return r;
        return sl_buf_append(&p->data, "\n", 1);
    }
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

int sl_sse_feed(struct sl_sse_parser *p, const char *buf, size_t len, sl_sse_event_cb cb,
                void *arg)
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

/* ---- OpenAI chunk payloads ------------------------------------------------------------- */

static bool is_error_value(json_t *e)
{
    return e && !json_is_null(e) && !json_is_false(e);
}

static const char *str_of(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *choice_zero(json_t *choices)
{
    size_t i;
    json_t *c, *idx;

    json_array_foreach(choices, i, c) {
        idx = json_object_get(c, "index");
        if (json_is_object(c) && (!idx || (json_is_integer(idx) && json_integer_value(idx) == 0)))
            return c;
    }
    return NULL;
}

static void read_choice(json_t *choice, struct sl_sse_chunk *out)
{
    json_t *delta = json_object_get(choice, "delta");
    json_t *content = json_object_get(delta, "content");
    json_t *refusal = json_object_get(delta, "refusal");
    json_t *finish = json_object_get(choice, "finish_reason");
    json_t *tools = json_object_get(delta, "tool_calls");

    if (json_is_string(content)) {
        out->content = json_string_value(content);
        out->content_len = json_string_length(content);
    }
    if (json_is_string(refusal)) {
        out->refusal = json_string_value(refusal);
        out->refusal_len = json_string_length(refusal);
    }
    if (json_is_string(finish) && strlen(json_string_value(finish)) == json_string_length(finish))
        out->finish_reason = json_string_value(finish);
    else if (finish && !json_is_null(finish))
        out->finish_reason = "";
    out->tool_calls = json_is_array(tools) && json_array_size(tools) > 0;
}

static void read_error(json_t *e, struct sl_sse_chunk *out)
{
    if (json_is_string(e)) {
        out->error_message = json_string_value(e);
        return;
    }
    out->error_message = str_of(json_object_get(e, "message"));
    out->error_type = str_of(json_object_get(e, "type"));
    out->error_code = str_of(json_object_get(e, "code"));
}

static void chunk_clear(struct sl_sse_chunk *c)
{
    /* The inline string storage need not be cleared: nothing points into it any more. */
    memset(c, 0, offsetof(struct sl_sse_chunk, small));
}

/* ---- the one-pass reading ---- */

/* Where the decoded strings of one chunk go: the chunk's own bytes, or one allocation. */
struct strings {
    char *at;
    size_t left;
};

static size_t room_for(struct sl_json_span v)
{
    return sl_json_type_of(v) == SL_JSON_STRING ? v.len - 1 : 0;
}

/* json_string_value() of v, into the chunk's storage; NULL if v is not a string.  *len (if
 * not NULL) gets its length. */
static const char *take_str(struct strings *st, struct sl_json_span v, size_t *len)
{
    const char *s = st->at;
    size_t n;

    if (sl_json_type_of(v) != SL_JSON_STRING || !sl_json_str_decode(v, st->at, st->left, &n))
        return NULL;
    st->at += n + 1;
    st->left -= n + 1;
    if (len)
        *len = n;
    return s;
}

/* The spans read_choice() reads. */
struct choice_spans {
    struct sl_json_span content, refusal, finish, tools;
};

/* choice_zero(): the first object element whose "index" is absent or the integer 0; then
 * what read_choice() reads of it, each object walked once. */
static void choice_spans(struct sl_json_span choices, struct choice_spans *cs)
{
    static const char *const choice_names[] = { "index", "delta", "finish_reason" };
    static const char *const delta_names[] = { "content", "refusal", "tool_calls" };
    struct sl_json_span c, v[3], d[3];
    struct sl_json_iter it;
    int64_t idx;

    memset(cs, 0, sizeof(*cs));
    sl_json_iter_init(&it, choices);
    while (sl_json_next_element(&it, &c)) {
        if (sl_json_type_of(c) != SL_JSON_OBJECT)
            continue;
        sl_json_get_many(c, choice_names, v, 3);
        if (v[0].p && !(sl_json_int(v[0], &idx) && idx == 0))
            continue;
        cs->finish = v[2];
        if (sl_json_type_of(v[1]) != SL_JSON_OBJECT)
            return;
        sl_json_get_many(v[1], delta_names, d, 3);
        cs->content = d[0];
        cs->refusal = d[1];
        cs->tools = d[2];
        return;
    }
}

static int strings_init(struct strings *st, struct sl_sse_chunk *out, size_t need)
{
    if (need <= sizeof(out->small)) {
        st->at = out->small;
        st->left = sizeof(out->small);
        return 0;
    }
    if (!(out->strings = malloc(need)))
        return -ENOMEM;
    st->at = out->strings;
    st->left = need;
    return 0;
}

static int scan_choice(const struct choice_spans *cs, struct sl_sse_chunk *out)
{
    struct sl_json_iter it;
    struct sl_json_span first;
    struct strings st;
    const char *fin;
    size_t fin_len;

    if (strings_init(&st, out, room_for(cs->content) + room_for(cs->refusal) +
                               room_for(cs->finish)) < 0)
        return -ENOMEM;
    out->content = take_str(&st, cs->content, &out->content_len);
    out->refusal = take_str(&st, cs->refusal, &out->refusal_len);
    fin = take_str(&st, cs->finish, &fin_len);
    if (fin && strlen(fin) == fin_len)
        out->finish_reason = fin;
    else if (cs->finish.p && sl_json_type_of(cs->finish) != SL_JSON_NULL)
        out->finish_reason = "";
    sl_json_iter_init(&it, cs->tools);
    out->tool_calls = sl_json_type_of(cs->tools) == SL_JSON_ARRAY &&
                      sl_json_next_element(&it, &first);
    return 0;
}

/* read_error(): error.message / .type / .code, or error itself when it is a string. */
static int scan_error(struct sl_json_span e, struct sl_sse_chunk *out)
{
    static const char *const names[] = { "message", "type", "code" };
    struct sl_json_span v[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
    struct strings st;

    if (sl_json_type_of(e) == SL_JSON_STRING)
        v[0] = e;
    else if (sl_json_type_of(e) == SL_JSON_OBJECT)
        sl_json_get_many(e, names, v, 3);
    if (strings_init(&st, out, room_for(v[0]) + room_for(v[1]) + room_for(v[2])) < 0)
        return -ENOMEM;
    out->error_message = take_str(&st, v[0], NULL);
    out->error_type = take_str(&st, v[1], NULL);
    out->error_code = take_str(&st, v[2], NULL);
    return 0;
}

/* The tree path's reading without the tree; 1 when the scanner leaves the text to jansson. */
static int chunk_scan(const char *data, size_t len, struct sl_sse_chunk *out)
{
    static const char *const names[] = { "error", "choices", "usage" };
    struct sl_json_span root, v[3];
    struct choice_spans cs;
    enum sl_json_type et;
    int r;

    if (sl_json_scan(data, len, SL_JSON_ALLOW_NUL, &root, names, v, 3) != SL_JSON_OBJECT)
        return 1;
    et = sl_json_type_of(v[0]);
    if (v[0].p && et != SL_JSON_NULL && et != SL_JSON_FALSE) {
        out->kind = SL_SSE_DATA_ERROR;
        if ((r = scan_error(v[0], out)) < 0)
            chunk_clear(out);
        return r;
    }
    out->kind = SL_SSE_DATA_CHUNK;
    choice_spans(v[1], &cs);
    if ((r = scan_choice(&cs, out)) < 0) {
        chunk_clear(out);
        return r;
    }
    if (sl_json_type_of(v[2]) == SL_JSON_OBJECT)
        sl_chat_usage_scan(&v[2], &out->usage);
    out->usage_null = sl_json_type_of(v[2]) == SL_JSON_NULL;
    out->usage_only = sl_json_type_of(v[1]) == SL_JSON_ARRAY && sl_json_is_empty(v[1]) &&
                      sl_json_type_of(v[2]) == SL_JSON_OBJECT;
    return 0;
}

int sl_sse_chunk_parse(const char *data, size_t len, struct sl_sse_chunk *out)
{
    int r;

    chunk_clear(out);
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        out->kind = SL_SSE_DATA_DONE;
        return 0;
    }
    if (len == 0)
        return 0;
    if ((r = chunk_scan(data, len, out)) != 1)
        return r;
    return sl_sse_chunk_parse_tree(data, len, out);
}

/* ---- the tree reading ---- */

int sl_sse_chunk_parse_tree(const char *data, size_t len, struct sl_sse_chunk *out)
{
    json_error_t err;
    json_t *root, *choices, *usage, *e;

    chunk_clear(out);
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        out->kind = SL_SSE_DATA_DONE;
        return 0;
    }
    if (len == 0)
        return 0;
    root = json_loadb(data, len, CHUNK_JSON_FLAGS, &err);
    if (!root)
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : 0;
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    out->root = root;
    e = json_object_get(root, "error");
    if (is_error_value(e)) {
        out->kind = SL_SSE_DATA_ERROR;
        read_error(e, out);
        return 0;
    }
    out->kind = SL_SSE_DATA_CHUNK;
    choices = json_object_get(root, "choices");
    usage = json_object_get(root, "usage");
    read_choice(choice_zero(choices), out);
    if (json_is_object(usage))
        sl_chat_usage_parse(usage, &out->usage);
    out->usage_null = json_is_null(usage);
    out->usage_only = json_is_array(choices) && json_array_size(choices) == 0
                      && json_is_object(usage);
    return 0;
}

void sl_sse_chunk_done(struct sl_sse_chunk *c)
{
    json_decref(c->root);
    free(c->strings);
    chunk_clear(c);
}

enum sl_sse_data_kind sl_sse_classify(const char *data, size_t len)
{
    struct sl_sse_chunk c;
    enum sl_sse_data_kind k;

    (void)sl_sse_chunk_parse(data, len, &c);
    k = c.kind;
    sl_sse_chunk_done(&c);
    return k;
}

bool sl_sse_is_usage_chunk(const char *data, size_t len)
{
    struct sl_sse_chunk c;
    bool yes;

    (void)sl_sse_chunk_parse(data, len, &c);
    yes = c.kind == SL_SSE_DATA_CHUNK && c.usage_only;
    sl_sse_chunk_done(&c);
    return yes;
}

/* ---- stripping "usage": null --------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t i, size_t n)
{
    return sl_json_skip_string(s, i, n);
}

/* A value starting at s[i]: the index just past it (past the matching bracket for a
 * container), or n when it never ends. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    size_t depth = 0;

    while (i < n) {
        char ch = s[i];

        if (ch == '"') {
            i = skip_string(s, i, n);
            if (depth == 0)
                return i;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i;                 /* the enclosing object's end: a scalar ended */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' ||
                                  ch == '\r')) {
            return i;
        }
        i++;
    }
    return n;
}

static bool is_null_at(const char *s, size_t i, size_t n)
{
    size_t e = i + 4;

    return n >= e && memcmp(s + i, "null", 4) == 0 &&
           (e == n || s[e] == ',' || s[e] == '}' || s[e] == ' ' || s[e] == '\t' ||
            s[e] == '\n' || s[e] == '\r');
}

size_t sl_sse_strip_null_usage(char *json, size_t len)
{
    size_t i = skip_ws(json, 0, len), key, v, end, cut_from, cut_to;
    size_t comma = SIZE_MAX;          /* the comma before the current member, if any */

    if (i == len || json[i] != '{')
        return len;
    for (i++;;) {
        i = skip_ws(json, i, len);
        if (i == len || json[i] != '"')
            return len;               /* "}" of an empty object, or not JSON: done */
        key = i;
        i = skip_string(json, i, len);
        i = skip_ws(json, i, len);
        if (i == len || json[i] != ':')
            return len;
        v = skip_ws(json, i + 1, len);
        if (i - key >= 7 && memcmp(json + key, "\"usage\"", 7) == 0 &&
            skip_ws(json, key + 7, len) == i && is_null_at(json, v, len)) {
            end = v + 4;
            if (comma != SIZE_MAX) {
                cut_from = comma;         /* ,"usage":null */
                cut_to = end;
            } else {
                cut_from = key;           /* "usage":null, (the first member) */
                cut_to = skip_ws(json, end, len);
                if (cut_to < len && json[cut_to] == ',')
                    cut_to = skip_ws(json, cut_to + 1, len);
                else
                    cut_to = end;
            }
            memmove(json + cut_from, json + cut_to, len - cut_to);
            len -= cut_to - cut_from;
            i = cut_from;
            if (comma == SIZE_MAX)
                continue;                 /* the next member is now the first */
        } else {
            i = skip_value(json, v, len);
        }
        i = skip_ws(json, i, len);
        if (i == len || json[i] != ',')
            return len;
        comma = i++;
    }
}

/* ---- include_usage -------------------------------------------------------------------- */

int sl_sse_include_usage_json(json_t *root, bool *changed, bool *client_asked)
{
    json_t *opts, *inc;

    *changed = false;
    *client_asked = false;
    if (!json_is_object(root))
        return -EINVAL;
    if (!json_is_true(json_object_get(root, "stream")))
        return 0;
    opts = json_object_get(root, "stream_options");
    if (opts && !json_is_null(opts) && !json_is_object(opts))
        return -EINVAL;
    inc = json_object_get(opts, "include_usage");
    if (inc && !json_is_null(inc) && !json_is_boolean(inc))
        return -EINVAL;
    if (json_is_true(inc)) {
        *client_asked = true;
        return 0;
    }
    if (!json_is_object(opts)) {
        opts = json_object();
        if (!opts || json_object_set_new(root, "stream_options", opts))
            return -ENOMEM;
    }
    if (json_object_set_new(opts, "include_usage", json_true()))
        return -ENOMEM;
    *changed = true;
    return 0;
}

int sl_sse_include_usage(const char *body, size_t len, char **out, size_t *out_len,
                         bool *client_asked)
{
    json_error_t err;
    json_t *root;
    bool changed, asked;
    char *s = NULL;
    int r;

    *out = NULL;
    if (len > SL_SSE_REQUEST_BODY_MAX)
        return -E2BIG;
    if (len == 0)
        return -EINVAL;
    root = json_loadb(body, len, BODY_JSON_FLAGS, &err);
    if (!root)
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
    r = sl_sse_include_usage_json(root, &changed, &asked);
    if (r == 0 && changed) {
        s = json_dumps(root, BODY_DUMP_FLAGS);
        if (!s)
            r = -ENOMEM;
    }
    json_decref(root);
    if (r < 0)
        return r;
    *out = s;
    if (s && out_len)
        *out_len = strlen(s);
    *client_asked = asked;
    return 0;
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
        if ((r = sl_buf_append(b, "data: ", 6)) < 0
            || (r = sl_buf_append(b, data + i, e - i)) < 0
            || (r = sl_buf_append(b, "\n", 1)) < 0)
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

int sl_sse_write_event(struct sl_buf *b, const char *name, const char *data, size_t len)
{
    size_t start = b->len, nlen = name ? strlen(name) : 0;
    int r;

    if (has_break(name ? name : "", nlen))
        return -EINVAL;
    if (nlen > 0 && ((r = sl_buf_append(b, "event: ", 7)) < 0
                     || (r = sl_buf_append(b, name, nlen)) < 0
                     || (r = sl_buf_append(b, "\n", 1)) < 0))
        return undo(b, start, r);
    if ((r = put_data_lines(b, data ? data : "", data ? len : 0)) < 0
        || (r = sl_buf_append(b, "\n", 1)) < 0)
        return undo(b, start, r);
    return 0;
}

int sl_sse_write_comment(struct sl_buf *b, const char *text, size_t len)
{
    size_t start = b->len;
    int r;

    if (len > 0 && has_break(text, len))
        return -EINVAL;
    if ((r = sl_buf_append(b, ":", 1)) < 0
        || (len > 0 && ((r = sl_buf_append(b, " ", 1)) < 0
                        || (r = sl_buf_append(b, text, len)) < 0))
        || (r = sl_buf_append(b, "\n\n", 2)) < 0)
        return undo(b, start, r);
    return 0;
}
