/* SPDX-License-Identifier: MIT */
/* v1_body.c - checking and rewriting a /v1/chat/completions body. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/v1_body.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/fmt.h"
#include "core/json_scan.h"
#include "core/quota.h"

#define BODY_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define BODY_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

int sl_v1_refuse(struct sl_v1_problem *p, int status, const char *param, const char *code,
                 const char *fmt, ...)
{
    va_list ap;

    p->status = status;
    p->param = param;
    p->code = code;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* jansson 2.14 takes a raw NUL byte right after a number for the end of its buffer and
 * accepts the text, so NULs are refused here: the bytes relayed must be the text jansson
 * validated. */
struct json_t *sl_v1_load_object(const char *s, size_t len, int *r)
{
    json_error_t err;
    json_t *root;

    *r = -EINVAL;
    if (len > 0 && memchr(s, '\0', len))
        return NULL;
    root = json_loadb(s ? s : "", len, BODY_JSON_FLAGS, &err);
    *r = 0;
    if (!root && json_error_code(&err) == json_error_out_of_memory)
        *r = -ENOMEM;
    else if (!json_is_object(root))
        *r = -EINVAL;
    if (*r < 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* max_tokens / max_completion_tokens: absent gets the model's cap, larger is refused. */
static int apply_token_cap(json_t *root, unsigned cap, struct sl_v1_problem *p)
{
    static const char *const names[] = { "max_tokens", "max_completion_tokens" };
    bool seen = false;
    size_t i;

    for (i = 0; i < 2; i++) {
        json_t *t = json_object_get(root, names[i]);

        if (!t || json_is_null(t))
            continue;
        seen = true;
        if (!json_is_integer(t) || json_integer_value(t) < 1)
            return sl_v1_refuse(p, 400, names[i], "invalid_value",
                                "Invalid '%s': expected a positive integer.", names[i]);
        if (json_integer_value(t) > (json_int_t)cap)
            return sl_v1_refuse(p, 400, names[i], "max_tokens_too_large",
                                "'%s' is %lld; this gateway allows at most %u.", names[i],
                                (long long)json_integer_value(t), cap);
    }
    if (!seen && json_object_set_new(root, "max_tokens", json_integer(cap)) < 0)
        return -ENOMEM;
    return 0;
}

/* The completion limit the upstream will honour: the larger of max_tokens and
 * max_completion_tokens (OpenAI reads the latter when both are sent; the larger bounds
 * either reading).  apply_token_cap() has checked both against the cap and injected the cap
 * when neither was sent. */
static uint64_t completion_limit(json_t *root, unsigned cap)
{
    static const char *const names[] = { "max_tokens", "max_completion_tokens" };
    uint64_t limit = 0;
    size_t i;

    for (i = 0; i < 2; i++) {
        json_t *t = json_object_get(root, names[i]);

        if (json_is_integer(t) && json_integer_value(t) > 0 &&
            (uint64_t)json_integer_value(t) > limit)
            limit = (uint64_t)json_integer_value(t);
    }
    return limit ? limit : cap;
}

/* SPEC §4's upper bound: every byte of the client's body counts as a prompt token (more than
 * the messages' text, never less), plus a fixed overhead per message and per image part,
 * plus n times the (capped) completion limit. */
static uint64_t estimate(json_t *root, size_t body_len, const struct sl_config *cfg, unsigned cap)
{
    json_t *msgs = json_object_get(root, "messages"), *m, *part, *n;
    struct sl_quota_estimate e = {
        .prompt_bytes = body_len,
        .per_message_tokens = cfg->message_overhead_tokens,
        .image_tokens = cfg->image_tokens,
        .n = 1,
        .max_tokens = completion_limit(root, cap),
    };
    size_t i, j;

    n = json_object_get(root, "n");
    if (json_is_integer(n) && json_integer_value(n) > 0)
        e.n = (uint64_t)json_integer_value(n);
    json_array_foreach(msgs, i, m)
    {
        json_t *content = json_object_get(m, "content");

        e.messages++;
        json_array_foreach(content, j, part)
        {
            const char *type = json_string_value(json_object_get(part, "type"));

            if (type && (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0))
                e.images++;
        }
    }
    return sl_quota_estimate_tokens(&e);
}

static int check(json_t *root, size_t len, const struct sl_config *cfg, struct sl_v1_request *out,
                 struct sl_v1_problem *p)
{
    json_t *model = json_object_get(root, "model"), *n = json_object_get(root, "n");
    const struct sl_model_conf *conf;
    bool changed = false;
    int r;

    if (!json_is_string(model) || json_string_length(model) >= sizeof(out->model) ||
        memchr(json_string_value(model), '\0', json_string_length(model)))
        return sl_v1_refuse(p, 400, "model", "missing_model",
                            "You must provide a model parameter.");
    sl_fmt_copy(out->model, sizeof(out->model), json_string_value(model));
    if (!(conf = sl_config_model(cfg, out->model)))
        return sl_v1_refuse(p, 404, "model", "model_not_found",
                            "The model `%.120s` does not exist or you do not have access to it.",
                            out->model);
    if (n && !json_is_null(n) &&
        (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > SL_V1_N_MAX))
        return sl_v1_refuse(p, 400, "n", "invalid_value",
                            "Invalid 'n': expected an integer from 1 to %d.", SL_V1_N_MAX);
    if ((r = apply_token_cap(root, conf->max_output_tokens, p)) < 0)
        return r;
    out->reservation = estimate(root, len, cfg, conf->max_output_tokens);
    out->stream = json_is_true(json_object_get(root, "stream"));
    r = sl_v1_include_usage_json(root, &changed, &out->client_asked_usage);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return sl_v1_refuse(p, 400, "stream_options", "invalid_value", "Invalid 'stream_options'.");
    out->body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!out->body)
        return -ENOMEM;
    out->body_len = strlen(out->body);
    return 0;
}

int sl_v1_parse_tree(const char *raw, size_t len, const struct sl_config *cfg,
                     struct sl_v1_request *out, struct sl_v1_problem *problem)
{
    struct sl_v1_request v = { 0 };
    json_error_t err;
    json_t *root;
    int r;

    root = json_loadb(raw ? raw : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        return sl_v1_refuse(problem, 400, NULL, "invalid_json",
                            "We could not parse the JSON body of your request.");
    }
    r = check(root, len, cfg, &v, problem);
    json_decref(root);
    if (r < 0) {
        free(v.body);
        return r;
    }
    *out = v;
    return 0;
}

/* ---- the one-pass path ---- */

/* The top-level members the gateway reads, captured by the validating pass; p is NULL when
 * absent. */
enum {
    F_MODEL,
    F_N,
    F_MAX_TOKENS,
    F_MAX_COMPLETION_TOKENS,
    F_STREAM,
    F_STREAM_OPTIONS,
    F_MESSAGES,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "model", "n", "max_tokens", "max_completion_tokens", "stream", "stream_options", "messages",
};

struct fields {
    struct sl_json_span v[F_COUNT];
};

/* At most three edits to the client's text, in ascending position: replace cut bytes at `at`
 * with text. */
struct edit {
    size_t at, cut;
    char text[96];
    size_t len;
};

struct edits {
    struct edit e[3];
    size_t n;
};

static bool is_unset(struct sl_json_span v)
{
    return !v.p || sl_json_type_of(v) == SL_JSON_NULL;
}

/* A token limit the tree path would accept: unset (0), or an integer 1..cap (its value).
 * -1 for anything it refuses. */
static int64_t fast_limit(struct sl_json_span v, unsigned cap)
{
    int64_t x;

    if (is_unset(v))
        return 0;
    if (!sl_json_int(v, &x) || x < 1 || x > (int64_t)cap)
        return -1;
    return x;
}

static bool str_is(struct sl_json_span v, const char *s)
{
    return sl_json_type_of(v) == SL_JSON_STRING && sl_json_str_eq(v, s, strlen(s));
}

/* estimate()'s count of messages and image parts. */
static void count_messages(struct sl_json_span msgs, struct sl_quota_estimate *e)
{
    struct sl_json_iter it, parts;
    struct sl_json_span m, content, part, type;

    if (sl_json_type_of(msgs) != SL_JSON_ARRAY)
        return;
    sl_json_iter_init(&it, msgs);
    while (sl_json_next_element(&it, &m)) {
        e->messages++;
        if (sl_json_type_of(m) != SL_JSON_OBJECT || !sl_json_get(m, "content", &content) ||
            sl_json_type_of(content) != SL_JSON_ARRAY)
            continue;
        sl_json_iter_init(&parts, content);
        while (sl_json_next_element(&parts, &part)) {
            if (sl_json_type_of(part) == SL_JSON_OBJECT && sl_json_get(part, "type", &type) &&
                (str_is(type, "image_url") || str_is(type, "input_image")))
                e->images++;
        }
    }
}

static void add_edit(struct edits *ed, const char *base, struct sl_json_span where, size_t cut,
                     const char *text)
{
    struct edit *e = &ed->e[ed->n++];

    e->at = (size_t)(where.p - base);
    e->cut = cut;
    e->len = strlen(text);
    memcpy(e->text, text, e->len);
}

/* Insert "name":value as the last member of obj (with a comma unless it is empty). */
static void add_member(struct edits *ed, const char *base, struct sl_json_span obj,
                       const char *member)
{
    struct sl_json_iter it;
    struct sl_json_span k, v, end = { obj.p + obj.len - 1, 1 };
    char text[96] = ",";
    size_t comma;

    sl_json_iter_init(&it, obj);
    comma = sl_json_next_member(&it, &k, &v) ? 1 : 0;
    sl_fmt_copy(text + comma, sizeof(text) - comma, member);
    add_edit(ed, base, end, 0, text);
}

/* The include_usage rewrite of sl_v1_include_usage_json() as edits; *asked as it says.
 * false for what the tree path refuses. */
static bool fast_include_usage(struct edits *ed, const char *base, struct sl_json_span opts,
                               bool *asked)
{
    static const char whole[] = "{\"include_usage\":true}";
    struct sl_json_span inc = { NULL, 0 };

    if (!opts.p)
        return true; /* added with the root's own edits */
    if (sl_json_type_of(opts) == SL_JSON_NULL) {
        add_edit(ed, base, opts, opts.len, whole);
        return true;
    }
    if (sl_json_type_of(opts) != SL_JSON_OBJECT)
        return false;
    if (!sl_json_get(opts, "include_usage", &inc)) {
        add_member(ed, base, opts, "\"include_usage\":true");
        return true;
    }
    switch (sl_json_type_of(inc)) {
    case SL_JSON_TRUE: *asked = true; return true;
    case SL_JSON_FALSE:
    case SL_JSON_NULL: add_edit(ed, base, inc, inc.len, "true"); return true;
    default: return false;
    }
}

/* The client's bytes with the edits applied: what the tree path sends, semantically, with
 * everything else exactly as the client wrote it. */
static int apply_edits(const char *raw, size_t len, const struct edits *ed,
                       struct sl_v1_request *out)
{
    size_t total = len, from = 0, o = 0, i;
    char *b;

    for (i = 0; i < ed->n; i++)
        total += ed->e[i].len - ed->e[i].cut;
    if (!(b = malloc(total + 1)))
        return -ENOMEM;
    for (i = 0; i < ed->n; i++) {
        memcpy(b + o, raw + from, ed->e[i].at - from);
        o += ed->e[i].at - from;
        memcpy(b + o, ed->e[i].text, ed->e[i].len);
        o += ed->e[i].len;
        from = ed->e[i].at + ed->e[i].cut;
    }
    memcpy(b + o, raw + from, len - from);
    o += len - from;
    b[o] = '\0';
    out->body = b;
    out->body_len = o;
    return 0;
}

/* Edits come from different members; the splice wants them in text order. */
static void sort_edits(struct edits *ed)
{
    struct edit t;
    size_t i, j;

    for (i = 1; i < ed->n; i++)
        for (j = i; j > 0 && ed->e[j - 1].at > ed->e[j].at; j--) {
            t = ed->e[j];
            ed->e[j] = ed->e[j - 1];
            ed->e[j - 1] = t;
        }
}

/* s after the text in dst[size], cut to fit. */
static void append(char *dst, size_t size, const char *s)
{
    size_t n = strlen(dst);

    sl_fmt_copy(dst + n, size - n, s);
}

/* The members the tree path adds or sets at the top level, in its order: the max_tokens cap
 * when neither limit is set (a null max_tokens takes the value in place, as
 * json_object_set_new() keeps a key's position; otherwise it goes last), then
 * stream_options when a stream has none. */
static void top_level_edits(struct edits *ed, const char *raw, struct sl_json_span root,
                            const struct fields *f, bool cap_needed, bool add_options, unsigned cap)
{
    char tail[96] = "", num[SL_FMT_U64_MAX];

    sl_fmt_u64(num, cap);
    if (cap_needed && f->v[F_MAX_TOKENS].p) {
        add_edit(ed, raw, f->v[F_MAX_TOKENS], f->v[F_MAX_TOKENS].len, num);
    } else if (cap_needed) {
        append(tail, sizeof(tail), "\"max_tokens\":");
        append(tail, sizeof(tail), num);
    }
    if (add_options) {
        append(tail, sizeof(tail), tail[0] ? "," : "");
        append(tail, sizeof(tail), "\"stream_options\":{\"include_usage\":true}");
    }
    if (tail[0])
        add_member(ed, raw, root, tail);
}

/* model, n and the two limits as check() and apply_token_cap() accept them; the model's cap,
 * or 0 for anything they refuse. */
static unsigned fast_checks(const struct fields *f, const struct sl_config *cfg,
                            struct sl_v1_request *out, int64_t *n, int64_t *mt, int64_t *mct)
{
    struct sl_json_span model = f->v[F_MODEL];
    const struct sl_model_conf *conf;
    size_t model_len;

    if (sl_json_type_of(model) != SL_JSON_STRING || model.len > sizeof(out->model) ||
        !sl_json_str_decode(model, out->model, sizeof(out->model), &model_len) ||
        !(conf = sl_config_model(cfg, out->model)))
        return 0;
    *n = 1;
    if (!is_unset(f->v[F_N]) && (!sl_json_int(f->v[F_N], n) || *n < 1 || *n > SL_V1_N_MAX))
        return 0;
    *mt = fast_limit(f->v[F_MAX_TOKENS], conf->max_output_tokens);
    *mct = fast_limit(f->v[F_MAX_COMPLETION_TOKENS], conf->max_output_tokens);
    return *mt >= 0 && *mct >= 0 ? conf->max_output_tokens : 0;
}

/* check() without a tree, for the bodies it accepts: the client's bytes go upstream as they
 * came, with the cap and include_usage spliced in.  1 sends everything else (a refusal, or
 * text the scanner leaves to jansson) down the tree path, which answers in its own words. */
static int fast_parse(const char *raw, size_t len, const struct sl_config *cfg,
                      struct sl_v1_request *out)
{
    struct sl_json_span root, opts;
    struct fields f;
    struct edits ed = { .n = 0 };
    struct sl_quota_estimate e = {
        .prompt_bytes = len,
        .per_message_tokens = cfg->message_overhead_tokens,
        .image_tokens = cfg->image_tokens,
    };
    int64_t n, mt, mct;
    unsigned cap;

    if (sl_json_scan(raw, len, SL_JSON_REJECT_DUPLICATES, &root, field_names, f.v, F_COUNT) !=
        SL_JSON_OBJECT)
        return 1;
    if (!(cap = fast_checks(&f, cfg, out, &n, &mt, &mct)))
        return 1;
    opts = f.v[F_STREAM_OPTIONS];
    out->stream = sl_json_type_of(f.v[F_STREAM]) == SL_JSON_TRUE;
    if (out->stream && !fast_include_usage(&ed, raw, opts, &out->client_asked_usage))
        return 1;
    top_level_edits(&ed, raw, root, &f, mt == 0 && mct == 0, out->stream && !opts.p, cap);
    sort_edits(&ed);
    e.n = (uint64_t)n;
    e.max_tokens = mt > mct ? (uint64_t)mt : mct > 0 ? (uint64_t)mct : cap;
    count_messages(f.v[F_MESSAGES], &e);
    out->reservation = sl_quota_estimate_tokens(&e);
    return apply_edits(raw, len, &ed, out);
}

int sl_v1_parse(const char *raw, size_t len, const struct sl_config *cfg, struct sl_v1_request *out,
                struct sl_v1_problem *problem)
{
    struct sl_v1_request v = { 0 };
    int r = fast_parse(raw, len, cfg, &v);

    if (r == 1)
        return sl_v1_parse_tree(raw, len, cfg, out, problem);
    if (r < 0)
        return r;
    *out = v;
    return 0;
}

/* ---- include_usage on streams (SPEC §3.3) ---- */

int sl_v1_include_usage_json(json_t *root, bool *changed, bool *client_asked)
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

int sl_v1_include_usage(const char *body, size_t len, char **out, size_t *out_len,
                        bool *client_asked)
{
    json_error_t err;
    json_t *root;
    bool changed, asked;
    char *s = NULL;
    int r;

    *out = NULL;
    if (len > SL_V1_BODY_MAX)
        return -E2BIG;
    if (len == 0)
        return -EINVAL;
    root = json_loadb(body, len, BODY_JSON_FLAGS, &err);
    if (!root)
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
    r = sl_v1_include_usage_json(root, &changed, &asked);
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

void sl_v1_request_done(struct sl_v1_request *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}
