/* SPDX-License-Identifier: MIT */
/* openai_chunk.c - reading chat.completion.chunk payloads: one pass without a tree, jansson for the
 * rest, and the "usage": null strip. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/openai.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/json_scan.h"

#define CHUNK_JSON_FLAGS JSON_ALLOW_NUL

/* What the parse found for sl_openai_chunk_strip_null_usage() (zero: not known, the tree
 * reading). */
enum { STRIP_UNKNOWN, STRIP_NONE, STRIP_ONE };

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

    json_array_foreach(choices, i, c)
    {
        idx = json_object_get(c, "index");
        if (json_is_object(c) && (!idx || (json_is_integer(idx) && json_integer_value(idx) == 0)))
            return c;
    }
    return NULL;
}

static void read_choice(json_t *choice, struct sl_openai_chunk *out)
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

static void read_error(json_t *e, struct sl_openai_chunk *out)
{
    if (json_is_string(e)) {
        out->error_message = json_string_value(e);
        return;
    }
    out->error_message = str_of(json_object_get(e, "message"));
    out->error_type = str_of(json_object_get(e, "type"));
    out->error_code = str_of(json_object_get(e, "code"));
}

static void chunk_clear(struct sl_openai_chunk *c)
{
    /* The inline string storage need not be cleared: nothing points into it any more. */
    memset(c, 0, offsetof(struct sl_openai_chunk, small));
}

/* ---- the one-pass reading ---- */

/* Where the decoded strings of one chunk go: the chunk's own bytes, or one allocation. */
struct strings {
    char *at;
    size_t left;
};

/* The first byte of a value of accepted text, which tells its type (apart from numbers); 0 for
 * none. */
static inline char lead(struct sl_json_span v)
{
    return v.p && v.len ? v.p[0] : 0;
}

static size_t room_for(struct sl_json_span v)
{
    return lead(v) == '"' ? v.len - 1 : 0;
}

/* json_string_value() of v, into the chunk's storage; NULL if v is not a string.  *len (if
 * not NULL) gets its length. */
static const char *take_str(struct strings *st, struct sl_json_span v, size_t *len)
{
    const char *s = st->at;
    size_t n;

    if (lead(v) != '"' || !sl_json_str_decode(v, st->at, st->left, &n))
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

/* What the walk reads of a chunk: the root members the reading needs (the last of each, as
 * jansson keeps them), choice_zero()'s choice, and the root "usage": null members that
 * sl_openai_strip_null_usage() would cut. */
struct chunk_spans {
    struct sl_json_span error, choices, usage;
    struct choice_spans choice;
    size_t prev_end; /* where the last root member's value ended */
    bool kept;       /* a root member the strip keeps came before */
    unsigned cuts;   /* the members it cuts; the first one's bytes: */
    size_t cut_from, cut_to;
};

#define KEY_IS(key, escaped, lit) key_is(key, escaped, lit, sizeof(lit) - 1)

static bool key_is(struct sl_json_span key, bool escaped, const char *name, size_t n)
{
    if (!escaped) /* the raw bytes are the decoded ones */
        return key.len == n + 2 && memcmp(key.p + 1, name, n) == 0;
    return sl_json_str_eq(key, name, n);
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* read_choice()'s delta: content, refusal and tool_calls when it is an object, else none
 * (the last "delta" wins whole). */
static bool walk_delta(struct sl_json_walk *w, struct choice_spans *cs)
{
    struct sl_json_span key, v;
    bool esc;
    int r;

    memset(&cs->content, 0, sizeof(cs->content));
    cs->refusal = cs->tools = cs->content;
    if (sl_json_walk_peek(w) != '{')
        return sl_json_walk_value(w, NULL);
    if (!sl_json_walk_enter(w, '{'))
        return false;
    while ((r = sl_json_walk_member(w, &key, &esc)) > 0) {
        if (!sl_json_walk_value(w, &v))
            return false;
        if (KEY_IS(key, esc, "content"))
            cs->content = v;
        else if (KEY_IS(key, esc, "refusal"))
            cs->refusal = v;
        else if (KEY_IS(key, esc, "tool_calls"))
            cs->tools = v;
    }
    return r == 0;
}

/* An object element of "choices": what read_choice() reads of it.  *zero: choice_zero()
 * would take it, its "index" absent or the integer 0. */
static bool walk_choice(struct sl_json_walk *w, struct choice_spans *cs, bool *zero)
{
    struct sl_json_span key, v, index = { NULL, 0 };
    int64_t idx;
    bool esc;
    int r;

    memset(cs, 0, sizeof(*cs));
    if (!sl_json_walk_enter(w, '{'))
        return false;
    while ((r = sl_json_walk_member(w, &key, &esc)) > 0) {
        if (KEY_IS(key, esc, "delta")) {
            if (!walk_delta(w, cs))
                return false;
            continue;
        }
        if (!sl_json_walk_value(w, &v))
            return false;
        if (KEY_IS(key, esc, "index"))
            index = v;
        else if (KEY_IS(key, esc, "finish_reason"))
            cs->finish = v;
    }
    *zero =
        !index.p || (index.len == 1 && index.p[0] == '0') || (sl_json_int(index, &idx) && idx == 0);
    return r == 0;
}

/* "choices": its span, and choice_zero()'s element read on the way. */
static bool walk_choices(struct sl_json_walk *w, struct chunk_spans *sp)
{
    struct choice_spans cs;
    bool chosen = false, zero;
    size_t at;
    int r;

    memset(&sp->choice, 0, sizeof(sp->choice));
    if (sl_json_walk_peek(w) != '[')
        return sl_json_walk_value(w, &sp->choices);
    at = w->i;
    if (!sl_json_walk_enter(w, '['))
        return false;
    while ((r = sl_json_walk_element(w)) > 0) {
        if (chosen || sl_json_walk_peek(w) != '{') {
            if (!sl_json_walk_value(w, NULL))
                return false;
            continue;
        }
        if (!walk_choice(w, &cs, &zero))
            return false;
        if (zero) {
            sp->choice = cs;
            chosen = true;
        }
    }
    sp->choices.p = w->s + at;
    sp->choices.len = w->i - at;
    return r == 0;
}

/* A root "usage": null that sl_openai_strip_null_usage() cuts, the walk just past the null:
 * the bytes it cuts with it.  After a member it keeps, from the comma before; as the first
 * member, up to the next member (or the null's end when none follows). */
static void note_null_usage(struct chunk_spans *sp, const struct sl_json_walk *w, size_t key_at)
{
    size_t from = key_at, to = w->i, next;

    if (sp->kept) {
        from = skip_ws(w->s, sp->prev_end, w->n);
    } else {
        next = skip_ws(w->s, w->i, w->n);
        if (next < w->n && w->s[next] == ',')
            to = skip_ws(w->s, next + 1, w->n);
    }
    if (sp->cuts++ == 0) {
        sp->cut_from = from;
        sp->cut_to = to;
    }
}

static bool walk_root_member(struct sl_json_walk *w, struct chunk_spans *sp,
                             struct sl_json_span key, bool esc)
{
    struct sl_json_span v;

    if (KEY_IS(key, esc, "choices")) {
        sp->kept = true;
        return walk_choices(w, sp);
    }
    if (!sl_json_walk_value(w, &v))
        return false;
    if (KEY_IS(key, esc, "usage")) {
        sp->usage = v;
        /* The strip knows only the plain spelling of the key. */
        if (!esc && lead(v) == 'n') {
            note_null_usage(sp, w, (size_t)(key.p - w->s));
            return true;
        }
    } else if (KEY_IS(key, esc, "error")) {
        sp->error = v;
    }
    sp->kept = true;
    return true;
}

/* The whole text, validated on the way: false when the walk is not sure of it. */
static bool walk_root(struct sl_json_walk *w, struct chunk_spans *sp)
{
    struct sl_json_span key;
    bool esc;
    int r;

    if (!sl_json_walk_enter(w, '{'))
        return false;
    while ((r = sl_json_walk_member(w, &key, &esc)) > 0) {
        if (!walk_root_member(w, sp, key, esc))
            return false;
        sp->prev_end = w->i;
    }
    return r == 0 && sl_json_walk_end(w);
}

static int strings_init(struct strings *st, struct sl_openai_chunk *out, size_t need)
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

static int scan_choice(const struct choice_spans *cs, struct sl_openai_chunk *out)
{
    struct strings st;
    const char *fin;
    size_t fin_len;

    if (strings_init(&st, out,
                     room_for(cs->content) + room_for(cs->refusal) + room_for(cs->finish)) < 0)
        return -ENOMEM;
    out->content = take_str(&st, cs->content, &out->content_len);
    out->refusal = take_str(&st, cs->refusal, &out->refusal_len);
    fin = take_str(&st, cs->finish, &fin_len);
    if (fin && strlen(fin) == fin_len)
        out->finish_reason = fin;
    else if (cs->finish.p && lead(cs->finish) != 'n')
        out->finish_reason = "";
    out->tool_calls = lead(cs->tools) == '[' && !sl_json_is_empty(cs->tools);
    return 0;
}

/* read_error(): error.message / .type / .code, or error itself when it is a string. */
static int scan_error(struct sl_json_span e, struct sl_openai_chunk *out)
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

/* The tree path's reading without the tree, in one walk; 1 when the walk leaves the text to
 * jansson. */
static int chunk_scan(const char *data, size_t len, struct sl_openai_chunk *out)
{
    struct sl_json_walk w;
    struct chunk_spans sp;
    int r;

    memset(&sp, 0, sizeof(sp));
    sl_json_walk_init(&w, data, len, SL_JSON_ALLOW_NUL);
    if (!walk_root(&w, &sp))
        return 1;
    if (lead(sp.error) && lead(sp.error) != 'n' && lead(sp.error) != 'f') {
        out->kind = SL_OPENAI_DATA_ERROR;
        if ((r = scan_error(sp.error, out)) < 0)
            chunk_clear(out);
        return r;
    }
    out->kind = SL_OPENAI_DATA_CHUNK;
    if ((r = scan_choice(&sp.choice, out)) < 0) {
        chunk_clear(out);
        return r;
    }
    if (lead(sp.usage) == '{')
        sl_openai_usage_scan(&sp.usage, &out->usage);
    out->usage_null = lead(sp.usage) == 'n';
    out->usage_only =
        lead(sp.choices) == '[' && sl_json_is_empty(sp.choices) && lead(sp.usage) == '{';
    out->strip = sp.cuts == 0 ? STRIP_NONE : sp.cuts == 1 ? STRIP_ONE : STRIP_UNKNOWN;
    out->strip_from = sp.cut_from;
    out->strip_to = sp.cut_to;
    return 0;
}

int sl_openai_chunk_parse(const char *data, size_t len, struct sl_openai_chunk *out)
{
    int r;

    chunk_clear(out);
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        out->kind = SL_OPENAI_DATA_DONE;
        return 0;
    }
    if (len == 0)
        return 0;
    if ((r = chunk_scan(data, len, out)) != 1)
        return r;
    return sl_openai_chunk_parse_tree(data, len, out);
}

/* ---- the tree reading ---- */

int sl_openai_chunk_parse_tree(const char *data, size_t len, struct sl_openai_chunk *out)
{
    json_error_t err;
    json_t *root, *choices, *usage, *e;

    chunk_clear(out);
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        out->kind = SL_OPENAI_DATA_DONE;
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
        out->kind = SL_OPENAI_DATA_ERROR;
        read_error(e, out);
        return 0;
    }
    out->kind = SL_OPENAI_DATA_CHUNK;
    choices = json_object_get(root, "choices");
    usage = json_object_get(root, "usage");
    read_choice(choice_zero(choices), out);
    if (json_is_object(usage))
        sl_openai_usage_parse(usage, &out->usage);
    out->usage_null = json_is_null(usage);
    out->usage_only =
        json_is_array(choices) && json_array_size(choices) == 0 && json_is_object(usage);
    return 0;
}

void sl_openai_chunk_done(struct sl_openai_chunk *c)
{
    json_decref(c->root);
    free(c->strings);
    chunk_clear(c);
}

enum sl_openai_data_kind sl_openai_classify(const char *data, size_t len)
{
    struct sl_openai_chunk c;
    enum sl_openai_data_kind k;

    (void)sl_openai_chunk_parse(data, len, &c);
    k = c.kind;
    sl_openai_chunk_done(&c);
    return k;
}

bool sl_openai_is_usage_chunk(const char *data, size_t len)
{
    struct sl_openai_chunk c;
    bool yes;

    (void)sl_openai_chunk_parse(data, len, &c);
    yes = c.kind == SL_OPENAI_DATA_CHUNK && c.usage_only;
    sl_openai_chunk_done(&c);
    return yes;
}

/* ---- stripping "usage": null --------------------------------------------------------- */

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
                return i; /* the enclosing object's end: a scalar ended */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 &&
                   (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
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
           (e == n || s[e] == ',' || s[e] == '}' || s[e] == ' ' || s[e] == '\t' || s[e] == '\n' ||
            s[e] == '\r');
}

size_t sl_openai_strip_null_usage(char *json, size_t len)
{
    size_t i = skip_ws(json, 0, len), key, v, end, cut_from, cut_to;
    size_t comma = SIZE_MAX; /* the comma before the current member, if any */

    if (i == len || json[i] != '{')
        return len;
    for (i++;;) {
        i = skip_ws(json, i, len);
        if (i == len || json[i] != '"')
            return len; /* "}" of an empty object, or not JSON: done */
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
                cut_from = comma; /* ,"usage":null */
                cut_to = end;
            } else {
                cut_from = key; /* "usage":null, (the first member) */
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
                continue; /* the next member is now the first */
        } else {
            i = skip_value(json, v, len);
        }
        i = skip_ws(json, i, len);
        if (i == len || json[i] != ',')
            return len;
        comma = i++;
    }
}

int sl_openai_chunk_strip_null_usage(const struct sl_openai_chunk *c, const char *data, size_t len,
                                     struct sl_buf *out)
{
    size_t start = out->len;
    int r;

    if (c->strip == STRIP_ONE)
        return (r = sl_buf_append(out, data, c->strip_from)) < 0
                   ? r
                   : sl_buf_append(out, data + c->strip_to, len - c->strip_to);
    if ((r = sl_buf_append(out, data, len)) < 0 || c->strip == STRIP_NONE)
        return r;
    out->len = start + sl_openai_strip_null_usage(out->data + start, len);
    out->data[out->len] = '\0';
    return 0;
}
