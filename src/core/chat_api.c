/* SPDX-License-Identifier: MIT */
/* chat_api.c - POST /api/chat as JSON: client body validation, upstream request body, upstream
 * answer. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "core/chat_api.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/json_scan.h"
#include "core/json_write.h"
#include "core/utf8.h"

/* Duplicates are refused so that a later parser (ours or the upstream's) cannot read a value
 * other than the one we validated; NULs are allowed by the parser so that an unknown field
 * holding "\u0000" stays ignored, and refused by us in the fields we keep. */
#define CLIENT_JSON_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
/* %.17g prints 0.3 as 0.29999999999999999; configured temperatures have few digits. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
/* A decoded byte takes at most six bytes of JSON text ("\u0041"), so a string whose text is
 * longer than this holds more than max bytes. */
#define SMALL_TEXT(max) (6 * (size_t)(max) + 2)

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int problem_set(struct sl_chat_problem *p, const char *type, const char *field,
                       const char *msg)
{
    memset(p, 0, sizeof(*p));
    p->type = type;
    p->loc_field = field;
    snprintf(p->msg, sizeof(p->msg), "%s", msg);
    return -EINVAL;
}

static int problem_length(struct sl_chat_problem *p, const char *field, bool too_long, long limit)
{
    problem_set(p, too_long ? "string_too_long" : "string_too_short", field, "");
    snprintf(p->msg, sizeof(p->msg), "String should have at %s %ld character%s",
             too_long ? "most" : "least", limit, limit == 1 ? "" : "s");
    p->ctx_key = too_long ? "max_length" : "min_length";
    p->ctx_num = limit;
    return -EINVAL;
}

static int problem_json_invalid(struct sl_chat_problem *p, const json_error_t *err)
{
    char why[sizeof(err->text) + 32];

    problem_set(p, "json_invalid", NULL, "JSON decode error");
    snprintf(why, sizeof(why), "%s at byte %d", err->text, err->position);
    p->ctx_key = "error";
    sl_str_printable(p->ctx_str, sizeof(p->ctx_str), why);
    return -EINVAL;
}

/* pydantic order: type, strip, length, then our after-validator refusing U+0000 (it would
 * truncate the text in every C string downstream).  Sets [*off, *off + *n) to the kept
 * bytes; writes *p only on failure. */
static int check_text(json_t *v, const char *field, bool strip, long min_cp, long max_cp,
                      struct sl_chat_problem *p, size_t *off, size_t *n)
{
    const char *s = json_string_value(v);
    ssize_t cps;

    if (!s)
        return problem_set(p, "string_type", field, "Input should be a valid string");
    *off = 0;
    *n = json_string_length(v);
    if (strip)
        *n = sl_utf8_trim(s, *n, off);
    cps = sl_utf8_count(s + *off, *n);
    if (cps < 0)
        return problem_set(p, "string_unicode", field,
                           "Input should be a valid string, unable to parse raw data as a "
                           "unicode string");
    if (cps < min_cp)
        return problem_length(p, field, false, min_cp);
    if (cps > max_cp)
        return problem_length(p, field, true, max_cp);
    if (memchr(s + *off, '\0', *n))
        return problem_set(p, "value_error", field, "Value error, NUL characters are not allowed");
    return 0;
}

static int validate(json_t *root, struct sl_chat_request *out, struct sl_chat_problem *p)
{
    struct sl_chat_request r = { 0 };
    json_t *um, *cid;
    size_t um_off, um_n, cid_off = 0, cid_n = 0;
    int ret;

    if (!json_is_object(root))
        return problem_set(p, "model_attributes_type", NULL,
                           "Input should be a valid dictionary or object to extract fields "
                           "from");
    um = json_object_get(root, "user_message");
    if (!um)
        return problem_set(p, "missing", "user_message", "Field required");
    ret = check_text(um, "user_message", true, 1, SL_CHAT_USER_MESSAGE_MAX, p, &um_off, &um_n);
    if (ret < 0)
        return ret;
    cid = json_object_get(root, "conversation_id");
    if (json_is_null(cid))
        cid = NULL;
    if (cid) {
        ret = check_text(cid, "conversation_id", false, 0, SL_CHAT_CONVERSATION_ID_MAX, p, &cid_off,
                         &cid_n);
        if (ret < 0)
            return ret;
    }
    r.user_message = dup_bytes(json_string_value(um) + um_off, um_n);
    r.user_message_len = um_n;
    if (cid)
        r.conversation_id = dup_bytes(json_string_value(cid) + cid_off, cid_n);
    if (!r.user_message || (cid && !r.conversation_id)) {
        sl_chat_request_done(&r);
        return -ENOMEM;
    }
    r.no_store = json_is_false(json_object_get(root, "store"));
    *out = r;
    return 0;
}

int sl_chat_parse(const char *body, size_t len, struct sl_chat_request *out,
                  struct sl_chat_problem *problem)
{
    struct sl_chat_problem p;
    json_error_t err;
    json_t *root;
    int ret;

    if (len > SL_CHAT_BODY_MAX)
        return -E2BIG;
    /* FastAPI only parses a non-empty body; an empty one is a missing body. */
    if (len == 0)
        return problem_set(problem, "missing", NULL, "Field required");
    /* Python's json.loads(bytes), under FastAPI, accepts a UTF-8 BOM. */
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        body += 3;
        len -= 3;
    }
    root = json_loadb(body, len, CLIENT_JSON_FLAGS, &err);
    if (!root && json_error_code(&err) == json_error_out_of_memory)
        return -ENOMEM;
    ret = root ? validate(root, out, &p) : problem_json_invalid(&p, &err);
    json_decref(root);
    if (ret == -EINVAL)
        *problem = p;
    return ret;
}

void sl_chat_request_done(struct sl_chat_request *r)
{
    free(r->user_message);
    free(r->conversation_id);
    memset(r, 0, sizeof(*r));
}

/* Hands back a malloc'd dump of root (consumed), NULL on failure. */
static char *dump_take(json_t *root, size_t *len)
{
    char *s = root ? json_dumps(root, DUMP_FLAGS) : NULL;

    json_decref(root);
    if (s && len)
        *len = strlen(s);
    return s;
}

char *sl_chat_problem_json(const struct sl_chat_problem *p)
{
    json_t *root = json_object(), *detail = json_array(), *item = json_object();
    json_t *loc = json_array(), *ctx = p->ctx_key ? json_object() : NULL;
    char *s = NULL;

    if (!root || !detail || !item || !loc || (p->ctx_key && !ctx))
        goto out;
    if (ctx &&
        json_object_set_new(ctx, p->ctx_key,
                            p->ctx_str[0] ? json_string(p->ctx_str) : json_integer(p->ctx_num)))
        goto out;
    /* Containers are attached with the non-stealing setters, so each local keeps its own
     * reference and "out" is the single release path. */
    if (json_array_append_new(loc, json_string("body")) ||
        (p->loc_field && json_array_append_new(loc, json_string(p->loc_field))) ||
        json_object_set_new(item, "type", json_string(p->type ? p->type : "value_error")) ||
        json_object_set(item, "loc", loc) ||
        json_object_set_new(item, "msg", json_string(p->msg)) ||
        (ctx && json_object_set(item, "ctx", ctx)) || json_array_append(detail, item) ||
        json_object_set(root, "detail", detail))
        goto out;
    s = json_dumps(root, DUMP_FLAGS);
out:
    json_decref(ctx);
    json_decref(loc);
    json_decref(item);
    json_decref(detail);
    json_decref(root);
    return s;
}

static json_t *message(const char *role, const char *content, size_t len)
{
    json_t *m = json_object();

    if (!m || json_object_set_new(m, "role", json_string(role)) ||
        json_object_set_new(m, "content", json_stringn(content, len))) {
        json_decref(m);
        return NULL;
    }
    return m;
}

char *sl_chat_upstream_body_tree(const struct sl_chat_upstream_params *p,
                                 const struct sl_chat_request *r, size_t *len)
{
    bool sys = p->system_prompt && p->system_prompt[0];
    json_t *root, *msgs, *opts;
    char *s = NULL;

    if (!p->model || !p->model[0] || !isfinite(p->temperature) || !r->user_message)
        return NULL;
    root = json_object();
    msgs = json_array();
    opts = p->stream ? json_object() : NULL;
    if (!root || !msgs || (p->stream && !opts))
        goto out;
    if (json_object_set_new(root, "model", json_string(p->model)) ||
        json_object_set(root, "messages", msgs) ||
        (sys && json_array_append_new(
                    msgs, message("system", p->system_prompt, strlen(p->system_prompt)))) ||
        json_array_append_new(msgs, message("user", r->user_message, r->user_message_len)) ||
        json_object_set_new(root, "max_tokens", json_integer(p->max_tokens)) ||
        json_object_set_new(root, "temperature", json_real(p->temperature)))
        goto out;
    if (opts && (json_object_set_new(root, "stream", json_true()) ||
                 json_object_set_new(opts, "include_usage", json_true()) ||
                 json_object_set(root, "stream_options", opts)))
        goto out;
    s = json_dumps(root, DUMP_FLAGS);
    if (s && len)
        *len = strlen(s);
out:
    json_decref(opts);
    json_decref(msgs);
    json_decref(root);
    return s;
}

const char *sl_chat_finish_reason(const char *upstream)
{
    static const char *const same[] = { "stop", "length", "content_filter", "tool_calls" };

    if (!upstream)
        return "stop";
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        if (strcmp(upstream, same[i]) == 0)
            return same[i];
    }
    if (strcmp(upstream, "function_call") == 0)
        return "tool_calls";
    return "error";
}

static const char *map_finish(json_t *v)
{
    const char *s = json_string_value(v);

    if (!v || json_is_null(v))
        return sl_chat_finish_reason(NULL);
    if (!s || strlen(s) != json_string_length(v))
        return "error";
    return sl_chat_finish_reason(s);
}

/* content, or the refusal when content is null/absent, or nothing (tool calls). */
static int pick_text(json_t *msg, json_t **text, bool *refusal)
{
    json_t *content = json_object_get(msg, "content");
    json_t *ref = json_object_get(msg, "refusal");

    *text = NULL;
    *refusal = false;
    if (json_is_string(content)) {
        *text = content;
        return 0;
    }
    if (content && !json_is_null(content))
        return -EBADMSG;
    if (json_is_string(ref)) {
        *text = ref;
        *refusal = true;
    }
    return 0;
}

static bool is_printable_id(json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (!s || n == 0 || n > SL_CHAT_UPSTREAM_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F)
            return false;
    }
    return true;
}

static bool model_ok(json_t *model)
{
    const char *s = json_string_value(model);

    if (!model || json_is_null(model))
        return true;
    return s && json_string_length(model) <= SL_CHAT_MODEL_MAX &&
           strlen(s) == json_string_length(model);
}

static int map_completion(json_t *root, struct sl_chat_result *out)
{
    struct sl_chat_result r = { 0 };
    json_t *obj = json_object_get(root, "object"), *model = json_object_get(root, "model");
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *msg = json_object_get(choice, "message"), *text;
    json_t *id = json_object_get(root, "id");
    bool keep_id = is_printable_id(id);

    if (obj && !(json_is_string(obj) && strcmp(json_string_value(obj), "chat.completion") == 0))
        return -EBADMSG;
    if (!json_is_object(msg) || !model_ok(model) || pick_text(msg, &text, &r.refusal) < 0)
        return -EBADMSG;
    r.text_len = text ? json_string_length(text) : 0;
    r.text = dup_bytes(text ? json_string_value(text) : "", r.text_len);
    r.model = json_is_string(model) ? strdup(json_string_value(model)) : NULL;
    r.upstream_id = keep_id ? strdup(json_string_value(id)) : NULL;
    if (!r.text || (json_is_string(model) && !r.model) || (keep_id && !r.upstream_id)) {
        sl_chat_result_done(&r);
        return -ENOMEM;
    }
    r.finish_reason = map_finish(json_object_get(choice, "finish_reason"));
    sl_openai_usage_parse(json_object_get(root, "usage"), &r.usage);
    *out = r;
    return 0;
}

/* ---- the one-pass reading of an upstream answer ---- */

/* Root members map_completion() reads. */
enum { R_OBJECT, R_MODEL, R_CHOICES, R_ID, R_USAGE, R_COUNT };

/* What the scan read before anything is allocated. */
struct scanned {
    struct sl_json_span text, finish;
    bool refusal;
    bool has_model, keep_id;
    size_t model_len, id_len;
    char model[SMALL_TEXT(SL_CHAT_MODEL_MAX)];
    char id[SMALL_TEXT(SL_CHAT_UPSTREAM_ID_MAX)];
};

/* v (a string) decoded into buf (SMALL_TEXT(max) bytes) when it holds at most max bytes. */
static bool small_str(struct sl_json_span v, char *buf, size_t max, size_t *n)
{
    if (sl_json_type_of(v) != SL_JSON_STRING || v.len > SMALL_TEXT(max))
        return false;
    return sl_json_str_decode(v, buf, v.len - 1, n) && *n <= max;
}

/* The "object" check of map_completion(): 0 fine, -EBADMSG, 1 when only jansson's reading can
 * tell (an escaped value compares with strcmp(), up to a decoded NUL). */
static int scan_object(struct sl_json_span v)
{
    if (!v.p)
        return 0;
    if (sl_json_type_of(v) != SL_JSON_STRING)
        return -EBADMSG;
    if (sl_json_str_eq(v, "chat.completion", 15))
        return 0;
    return sl_json_str_has_escape(v) ? 1 : -EBADMSG;
}

/* model_ok(): absent or null, or a string of at most SL_CHAT_MODEL_MAX bytes without NUL. */
static int scan_model(struct sl_json_span v, struct scanned *s)
{
    enum sl_json_type t = sl_json_type_of(v);

    if (t == SL_JSON_NONE || t == SL_JSON_NULL)
        return 0;
    if (!small_str(v, s->model, SL_CHAT_MODEL_MAX, &s->model_len) ||
        memchr(s->model, '\0', s->model_len))
        return -EBADMSG;
    s->has_model = true;
    return 0;
}

/* is_printable_id(). */
static void scan_id(struct sl_json_span v, struct scanned *s)
{
    size_t n;

    if (!small_str(v, s->id, SL_CHAT_UPSTREAM_ID_MAX, &n) || n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s->id[i] <= 0x20 || (unsigned char)s->id[i] >= 0x7F)
            return;
    }
    s->id_len = n;
    s->keep_id = true;
}

/* choices[0].message and pick_text(): -EBADMSG when there is no usable message. */
static int scan_choice(struct sl_json_span choices, struct scanned *s)
{
    static const char *const choice_names[] = { "message", "finish_reason" };
    static const char *const msg_names[] = { "content", "refusal" };
    struct sl_json_span choice, cv[2], mv[2];
    struct sl_json_iter it;

    sl_json_iter_init(&it, choices);
    if (sl_json_type_of(choices) != SL_JSON_ARRAY || !sl_json_next_element(&it, &choice) ||
        sl_json_type_of(choice) != SL_JSON_OBJECT)
        return -EBADMSG;
    sl_json_get_many(choice, choice_names, cv, 2);
    if (sl_json_type_of(cv[0]) != SL_JSON_OBJECT)
        return -EBADMSG;
    s->finish = cv[1];
    sl_json_get_many(cv[0], msg_names, mv, 2);
    if (sl_json_type_of(mv[0]) == SL_JSON_STRING) {
        s->text = mv[0];
        return 0;
    }
    if (mv[0].p && sl_json_type_of(mv[0]) != SL_JSON_NULL)
        return -EBADMSG;
    if (sl_json_type_of(mv[1]) == SL_JSON_STRING) {
        s->text = mv[1];
        s->refusal = true;
    }
    return 0;
}

/* map_finish(). */
static const char *scan_finish(struct sl_json_span v)
{
    static const char *const known[] = { "stop", "length", "content_filter", "tool_calls",
                                         "function_call" };
    enum sl_json_type t = sl_json_type_of(v);

    if (t == SL_JSON_NONE || t == SL_JSON_NULL)
        return sl_chat_finish_reason(NULL);
    if (t != SL_JSON_STRING)
        return "error";
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (sl_json_str_eq(v, known[i], strlen(known[i])))
            return sl_chat_finish_reason(known[i]);
    }
    return "error";
}

/* The decoded bytes of a string span, malloc'd and NUL-terminated; NULL on OOM. */
static char *decode_dup(struct sl_json_span v, size_t *n)
{
    char *d = malloc(v.len - 1);

    if (d && !sl_json_str_decode(v, d, v.len - 1, n)) {
        free(d);
        d = NULL;
    }
    return d;
}

static int scan_take(const struct scanned *s, struct sl_json_span usage, struct sl_chat_result *out)
{
    struct sl_chat_result r = { 0 };

    r.refusal = s->refusal;
    r.text = s->text.p ? decode_dup(s->text, &r.text_len) : dup_bytes("", 0);
    r.model = s->has_model ? dup_bytes(s->model, s->model_len) : NULL;
    r.upstream_id = s->keep_id ? dup_bytes(s->id, s->id_len) : NULL;
    if (!r.text || (s->has_model && !r.model) || (s->keep_id && !r.upstream_id)) {
        sl_chat_result_done(&r);
        return -ENOMEM;
    }
    r.finish_reason = scan_finish(s->finish);
    sl_openai_usage_scan(usage.p ? &usage : NULL, &r.usage);
    *out = r;
    return 0;
}

/* map_completion() without the tree; 1 when the scanner leaves the text to jansson. */
static int completion_scan(const char *body, size_t len, struct sl_chat_result *out)
{
    static const char *const names[R_COUNT] = { "object", "model", "choices", "id", "usage" };
    struct sl_json_span root, v[R_COUNT];
    struct scanned s;
    int r;

    switch (sl_json_scan(body, len, SL_JSON_ALLOW_NUL, &root, names, v, R_COUNT)) {
    case SL_JSON_OBJECT: break;
    case SL_JSON_ARRAY: return -EBADMSG; /* every member lookup misses */
    default: return 1;
    }
    memset(&s, 0, offsetof(struct scanned, model));
    if ((r = scan_object(v[R_OBJECT])) != 0)
        return r;
    if (scan_choice(v[R_CHOICES], &s) < 0 || scan_model(v[R_MODEL], &s) < 0)
        return -EBADMSG;
    scan_id(v[R_ID], &s);
    return scan_take(&s, v[R_USAGE], out);
}

int sl_chat_parse_upstream(const char *body, size_t len, struct sl_chat_result *out)
{
    int r;

    if (len > SL_CHAT_UPSTREAM_BODY_MAX)
        return -E2BIG;
    if (len == 0)
        return -EBADMSG;
    if ((r = completion_scan(body, len, out)) != 1)
        return r;
    return sl_chat_parse_upstream_tree(body, len, out);
}

/* ---- the tree reading ---- */

int sl_chat_parse_upstream_tree(const char *body, size_t len, struct sl_chat_result *out)
{
    json_error_t err;
    json_t *root;
    int ret;

    if (len > SL_CHAT_UPSTREAM_BODY_MAX)
        return -E2BIG;
    if (len == 0)
        return -EBADMSG;
    root = json_loadb(body, len, JSON_ALLOW_NUL, &err);
    if (!root)
        return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
    ret = map_completion(root, out);
    json_decref(root);
    return ret;
}

void sl_chat_result_done(struct sl_chat_result *r)
{
    free(r->text);
    free(r->model);
    free(r->upstream_id);
    memset(r, 0, sizeof(*r));
}

static json_t *usage_object(const struct sl_usage *u)
{
    json_t *o = json_object();
    bool on = u->present;

    if (!o || json_object_set_new(o, "prompt_tokens", json_integer(on ? u->prompt_tokens : 0)) ||
        json_object_set_new(o, "completion_tokens", json_integer(on ? u->completion_tokens : 0)) ||
        json_object_set_new(o, "total_tokens", json_integer(on ? u->total_tokens : 0))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *sl_chat_usage_json(const struct sl_usage *u, size_t *len)
{
    return dump_take(usage_object(u), len);
}

char *sl_chat_response_json_tree(const struct sl_chat_result *r, size_t *len)
{
    json_t *root = json_object();
    const char *text = r->text ? r->text : "";

    if (!root || json_object_set_new(root, "text", json_stringn(text, r->text ? r->text_len : 0)) ||
        json_object_set_new(root, "model", json_string(r->model ? r->model : "")) ||
        json_object_set_new(root, "finish_reason",
                            json_string(sl_chat_finish_reason(r->finish_reason))) ||
        json_object_set_new(root, "usage", usage_object(&r->usage))) {
        json_decref(root);
        return NULL;
    }
    return dump_take(root, len);
}

char *sl_chat_upstream_body(const struct sl_chat_upstream_params *p,
                            const struct sl_chat_request *r, size_t *len)
{
    bool sys = p->system_prompt && p->system_prompt[0];
    size_t sys_len = sys ? strlen(p->system_prompt) : 0, model_len;
    struct sl_json_out o;

    if (!p->model || !p->model[0] || !isfinite(p->temperature) || !r->user_message)
        return NULL;
    model_len = strlen(p->model);
    sl_json_out_init(&o, SIZE_MAX / 2); /* bounded by what it is made of */
    SL_JSON_OUT_LIT(&o, "{\"model\":");
    sl_json_out_str(&o, p->model, model_len);
    SL_JSON_OUT_LIT(&o, ",\"messages\":[");
    if (sys) {
        SL_JSON_OUT_LIT(&o, "{\"role\":\"system\",\"content\":");
        sl_json_out_str(&o, p->system_prompt, sys_len);
        SL_JSON_OUT_LIT(&o, "},");
    }
    SL_JSON_OUT_LIT(&o, "{\"role\":\"user\",\"content\":");
    sl_json_out_str(&o, r->user_message, r->user_message_len);
    SL_JSON_OUT_LIT(&o, "}],\"max_tokens\":");
    sl_json_out_int(&o, (long long)p->max_tokens);
    SL_JSON_OUT_LIT(&o, ",\"temperature\":");
    sl_json_out_real(&o, p->temperature);
    if (p->stream)
        SL_JSON_OUT_LIT(&o, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    SL_JSON_OUT_LIT(&o, "}");
    return sl_json_out_take(&o, len);
}

char *sl_chat_response_json(const struct sl_chat_result *r, size_t *len)
{
    const struct sl_usage *u = &r->usage;
    const char *model = r->model ? r->model : "";
    const char *finish = sl_chat_finish_reason(r->finish_reason);
    size_t text_len = r->text ? r->text_len : 0, model_len = strlen(model);
    struct sl_json_out o;

    sl_json_out_init(&o, SIZE_MAX / 2);
    SL_JSON_OUT_LIT(&o, "{\"text\":");
    sl_json_out_str(&o, r->text ? r->text : "", text_len);
    SL_JSON_OUT_LIT(&o, ",\"model\":");
    sl_json_out_str(&o, model, model_len);
    SL_JSON_OUT_LIT(&o, ",\"finish_reason\":");
    sl_json_out_str(&o, finish, strlen(finish));
    SL_JSON_OUT_LIT(&o, ",\"usage\":{\"prompt_tokens\":");
    sl_json_out_int(&o, u->present ? u->prompt_tokens : 0);
    SL_JSON_OUT_LIT(&o, ",\"completion_tokens\":");
    sl_json_out_int(&o, u->present ? u->completion_tokens : 0);
    SL_JSON_OUT_LIT(&o, ",\"total_tokens\":");
    sl_json_out_int(&o, u->present ? u->total_tokens : 0);
    SL_JSON_OUT_LIT(&o, "}}");
    return sl_json_out_take(&o, len);
}
