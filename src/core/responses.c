/* SPDX-License-Identifier: MIT */
/* responses.c - checking a POST /v1/responses body, and reading the Response objects and
 * stream events that come back. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/responses.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json_scan.h"
#include "core/quota.h"

/* As sl_v1_load_object(): duplicate keys are refused so that the gateway and the upstream
 * cannot read different values; a \u0000 inside a string is the client's business. */
#define RESP_SCAN_FLAGS (SL_JSON_REJECT_DUPLICATES | SL_JSON_ALLOW_NUL)

#define ID_PREFIX "resp_"
#define ID_PREFIX_LEN (sizeof(ID_PREFIX) - 1)

/* The event types the gateway acts on; every other one is relayed as it came. */
static const struct {
    const char *type;
    enum sl_responses_event_kind kind;
} event_kinds[] = {
    { "response.created", SL_RESPONSES_EVENT_CREATED },
    { "response.completed", SL_RESPONSES_EVENT_TERMINAL },
    { "response.incomplete", SL_RESPONSES_EVENT_TERMINAL },
    { "response.failed", SL_RESPONSES_EVENT_TERMINAL },
    { "error", SL_RESPONSES_EVENT_ERROR },
};
#define NKINDS (sizeof(event_kinds) / sizeof(event_kinds[0]))

bool sl_response_id_valid(const char *id, size_t len)
{
    size_t i;

    if (!id || len <= ID_PREFIX_LEN || len > SL_RESPONSE_ID_MAX ||
        memcmp(id, ID_PREFIX, ID_PREFIX_LEN) != 0)
        return false;
    for (i = ID_PREFIX_LEN; i < len; i++) {
        char c = id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ---- the request ---- */

/* In OpenAI's words for an invalid_type message. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a decimal";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* The same checks and words as v1_body.c's for the same problems. */
static int check_model(json_t *root, const struct sl_config *cfg, struct sl_responses_request *out,
                       const struct sl_model_conf **conf, struct sl_v1_problem *p)
{
    json_t *m = json_object_get(root, "model");

    if (!json_is_string(m) || json_string_length(m) >= sizeof(out->model) ||
        memchr(json_string_value(m), '\0', json_string_length(m)))
        return sl_v1_refuse(p, 400, "model", "missing_model",
                            "You must provide a model parameter.");
    memcpy(out->model, json_string_value(m), json_string_length(m) + 1);
    *conf = sl_config_model(cfg, out->model);
    if (!*conf)
        return sl_v1_refuse(p, 404, "model", "model_not_found",
                            "The model `%s` does not exist or you do not have access to it.",
                            out->model);
    return 0;
}

/* name (a string literal: it becomes the problem's param) is absent, null or a boolean. */
static int check_bool(json_t *root, const char *name, bool *is_true, struct sl_v1_problem *p)
{
    json_t *v = json_object_get(root, name);

    *is_true = json_is_true(v);
    if (!v || json_is_null(v) || json_is_boolean(v))
        return 0;
    return sl_v1_refuse(p, 400, name, "invalid_type",
                        "Invalid type for '%s': expected a boolean, but got %s instead.", name,
                        type_name(v));
}

static int check_flags(json_t *root, const struct sl_config *cfg, struct sl_responses_request *out,
                       struct sl_v1_problem *p)
{
    bool store = true;
    int r;

    if ((r = check_bool(root, "stream", &out->stream, p)) < 0 ||
        (r = check_bool(root, "background", &out->background, p)) < 0 ||
        (r = check_bool(root, "store", &store, p)) < 0)
        return r;
    out->no_store = json_is_false(json_object_get(root, "store"));
    /* The gateway cannot see what a background response costs: only an operator who
     * accepts charging every one in full turns it on (SPEC §10). */
    if (out->background && !cfg->allow_background)
        return sl_v1_refuse(p, 400, "background", "unsupported_parameter",
                            "Unsupported parameter: 'background' responses are not enabled on this "
                            "gateway.");
    return 0;
}

/* Parts that cost an image's worth of tokens whatever their size: a file may hold pages of
 * images, and counting it as one image is the bound SPEC §4 gives for parts. */
static bool is_image_part(json_t *part)
{
    const char *type = json_string_value(json_object_get(part, "type"));

    return type && (strcmp(type, "input_image") == 0 || strcmp(type, "input_file") == 0);
}

/* An input item that is itself an image part, and the image parts of its content (a message)
 * or output (a function_call_output, which may return images). */
static uint64_t count_images(json_t *item)
{
    static const char *const lists[] = { "content", "output" };
    uint64_t n = is_image_part(item);
    json_t *part;
    size_t i, j;

    for (i = 0; i < 2; i++) {
        json_array_foreach(json_object_get(item, lists[i]), j, part)
        {
            n += is_image_part(part);
        }
    }
    return n;
}

static int check_input(json_t *root, struct sl_quota_estimate *e, struct sl_v1_problem *p)
{
    json_t *in = json_object_get(root, "input"), *item;
    size_t i;

    if (!in || json_is_null(in))
        return sl_v1_refuse(p, 400, "input", "missing_required_parameter",
                            "Missing required parameter: 'input'.");
    if (json_is_string(in)) {
        e->messages = 1;
        return 0;
    }
    if (!json_is_array(in))
        return sl_v1_refuse(p, 400, "input", "invalid_type",
                            "Invalid type for 'input': expected a string or an array, but got %s "
                            "instead.",
                            type_name(in));
    if (json_array_size(in) > SL_RESPONSES_INPUT_ITEMS_MAX)
        return sl_v1_refuse(
            p, 400, "input", "array_above_max_length",
            "Invalid 'input': array too long. Expected an array with maximum length "
            "%d, but got an array with length %zu instead.",
            SL_RESPONSES_INPUT_ITEMS_MAX, json_array_size(in));
    e->messages = json_array_size(in);
    json_array_foreach(in, i, item)
    {
        e->images += count_images(item);
    }
    return 0;
}

/* Instructions are a system message of their own, with its overhead. */
static int check_instructions(json_t *root, struct sl_quota_estimate *e, struct sl_v1_problem *p)
{
    json_t *ins = json_object_get(root, "instructions");

    if (ins && !json_is_null(ins) && !json_is_string(ins))
        return sl_v1_refuse(
            p, 400, "instructions", "invalid_type",
            "Invalid type for 'instructions': expected a string, but got %s instead.",
            type_name(ins));
    if (json_string_length(ins) > 0)
        e->messages++;
    return 0;
}

/* *limit: the output limit the upstream will honour; *fill: the cap must be spliced in. */
static int check_cap(json_t *root, const struct sl_model_conf *m, uint64_t *limit, bool *fill,
                     struct sl_v1_problem *p)
{
    json_t *t = json_object_get(root, "max_output_tokens");

    *fill = !t || json_is_null(t);
    *limit = m->max_output_tokens;
    if (*fill)
        return 0;
    if (!json_is_integer(t) || json_integer_value(t) < 1)
        return sl_v1_refuse(p, 400, "max_output_tokens", "invalid_value",
                            "Invalid 'max_output_tokens': expected a positive integer.");
    if (json_integer_value(t) > (json_int_t)m->max_output_tokens)
        return sl_v1_refuse(
            p, 400, "max_output_tokens", "max_output_tokens_too_large",
            "'max_output_tokens' is %lld; this gateway allows at most %u for `%.80s`.",
            (long long)json_integer_value(t), m->max_output_tokens, m->name);
    *limit = (uint64_t)json_integer_value(t);
    return 0;
}

static int check_previous(json_t *root, struct sl_responses_request *out, struct sl_v1_problem *p)
{
    json_t *prev = json_object_get(root, "previous_response_id");

    if (!prev || json_is_null(prev))
        return 0;
    /* The value is not echoed: it may be anything, and the message must stay valid UTF-8. */
    if (!json_is_string(prev) ||
        !sl_response_id_valid(json_string_value(prev), json_string_length(prev)))
        return sl_v1_refuse(
            p, 400, "previous_response_id", "invalid_value",
            "Invalid 'previous_response_id': expected an ID that begins with 'resp_'.");
    memcpy(out->previous_response_id, json_string_value(prev), json_string_length(prev) + 1);
    return 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The root object's text, '{' to '}', without the whitespace jansson allowed around it. */
static struct sl_json_span root_span(const char *raw, size_t len)
{
    struct sl_json_span s = { raw, len };

    while (s.len > 0 && is_ws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && is_ws(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* The client's bytes with text in place of raw[at, at + cut), NUL-terminated. */
static int splice(const char *raw, size_t len, size_t at, size_t cut, const char *text,
                  struct sl_responses_request *out)
{
    size_t tlen = strlen(text), n = len - cut + tlen;
    char *b = malloc(n + 1);

    if (!b)
        return -ENOMEM;
    memcpy(b, raw, at);
    memcpy(b + at, text, tlen);
    memcpy(b + at + tlen, raw + at + cut, len - at - cut);
    b[n] = '\0';
    out->body = b;
    out->body_len = n;
    return 0;
}

/* The upstream body: the client's bytes, with the cap in place of a null max_output_tokens
 * or, when there is none, as the root's last member.  raw is valid JSON (jansson said so),
 * so json_scan.h's reader walks it whatever its depth; duplicates were refused, so the one
 * top-level member of that name is the one jansson read. */
static int build_body(const char *raw, size_t len, bool fill, uint64_t cap,
                      struct sl_responses_request *out)
{
    struct sl_json_span root = root_span(raw, len), k, v;
    struct sl_json_iter it;
    char text[64];
    bool empty = true;

    if (!fill)
        return splice(raw, len, len, 0, "", out);
    sl_json_iter_init(&it, root);
    while (sl_json_next_member(&it, &k, &v)) {
        empty = false;
        if (sl_json_str_eq(k, "max_output_tokens", 17)) {
            snprintf(text, sizeof(text), "%llu", (unsigned long long)cap);
            return splice(raw, len, (size_t)(v.p - raw), v.len, text, out);
        }
    }
    snprintf(text, sizeof(text), "%s\"max_output_tokens\":%llu", empty ? "" : ",",
             (unsigned long long)cap);
    return splice(raw, len, (size_t)(root.p + root.len - 1 - raw), 0, text, out);
}

static int check(json_t *root, const char *raw, size_t len, const struct sl_config *cfg,
                 struct sl_responses_request *out, struct sl_v1_problem *p)
{
    const struct sl_model_conf *m = NULL;
    struct sl_quota_estimate e = {
        .prompt_bytes = len,
        .per_message_tokens = cfg->message_overhead_tokens,
        .image_tokens = cfg->image_tokens,
        .n = 1,
    };
    bool fill = false;
    int r;

    if ((r = check_model(root, cfg, out, &m, p)) < 0 || (r = check_flags(root, cfg, out, p)) < 0 ||
        (r = check_input(root, &e, p)) < 0 || (r = check_instructions(root, &e, p)) < 0 ||
        (r = check_cap(root, m, &e.max_tokens, &fill, p)) < 0 ||
        (r = check_previous(root, out, p)) < 0)
        return r;
    out->reservation = sl_quota_estimate_tokens(&e);
    return build_body(raw, len, fill, e.max_tokens, out);
}

int sl_responses_parse(const char *raw, size_t len, const struct sl_config *cfg,
                       struct sl_responses_request *out, struct sl_v1_problem *problem)
{
    struct sl_responses_request v;
    json_t *root;
    int r;

    root = sl_v1_load_object(raw, len, &r);
    if (r == -ENOMEM)
        return r;
    if (!root)
        return sl_v1_refuse(problem, 400, NULL, "invalid_json",
                            "We could not parse the JSON body of your request.");
    memset(&v, 0, sizeof(v));
    r = check(root, raw, len, cfg, &v, problem);
    json_decref(root);
    if (r < 0)
        return r;
    *out = v;
    return 0;
}

void sl_responses_request_done(struct sl_responses_request *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* ---- answers and events ---- */

/* sl_openai_usage_parse()'s rule in the Responses API's names: present only with both
 * counts, and never a total below their sum.  input_tokens already holds the cached ones
 * (input_tokens_details.cached_tokens is a part of it, not an addition). */
static void usage_read(json_t *u, struct sl_usage *out)
{
    json_t *in = json_object_get(u, "input_tokens"), *o = json_object_get(u, "output_tokens");
    json_t *total = json_object_get(u, "total_tokens");
    int64_t pi, po;

    memset(out, 0, sizeof(*out));
    if (!json_is_integer(in) || !json_is_integer(o))
        return;
    pi = json_integer_value(in);
    po = json_integer_value(o);
    if (pi < 0 || po < 0 || pi > INT64_MAX - po)
        return;
    out->prompt_tokens = pi;
    out->completion_tokens = po;
    out->total_tokens = pi + po;
    if (json_is_integer(total) && json_integer_value(total) > out->total_tokens)
        out->total_tokens = json_integer_value(total);
    out->present = true;
}

/* resp: a Response object, borrowed; anything else reads as no id and no usage. */
static void answer_read(json_t *resp, struct sl_responses_answer *out)
{
    json_t *id = json_object_get(resp, "id");

    memset(out, 0, sizeof(*out));
    if (json_is_string(id) && sl_response_id_valid(json_string_value(id), json_string_length(id)))
        memcpy(out->id, json_string_value(id), json_string_length(id) + 1);
    usage_read(json_object_get(resp, "usage"), &out->usage);
}

int sl_responses_answer_read(const char *body, size_t len, struct sl_responses_answer *out)
{
    json_t *root;
    int r;

    memset(out, 0, sizeof(*out));
    root = sl_v1_load_object(body, len, &r);
    if (!root)
        return r;
    answer_read(root, out);
    json_decref(root);
    return 0;
}

static enum sl_responses_event_kind kind_of(const char *type, size_t len)
{
    size_t i;

    for (i = 0; i < NKINDS; i++)
        if (strlen(event_kinds[i].type) == len && memcmp(event_kinds[i].type, type, len) == 0)
            return event_kinds[i].kind;
    return SL_RESPONSES_EVENT_OTHER;
}

static void event_init(struct sl_responses_event *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = SL_RESPONSES_EVENT_INVALID;
    out->sequence_number = -1;
}

/* The kind of a data object: its "type" when it is a string (whatever the event's name says:
 * clients' SDKs dispatch on it too), any other "type" is garbage; without one the event's
 * name decides, and without a name an object carrying an "error" (the shape of a chat-style
 * mid-stream error) is an error. */
static enum sl_responses_event_kind kind_of_data(json_t *root, const char *name, size_t name_len)
{
    json_t *type = json_object_get(root, "type"), *error = json_object_get(root, "error");

    if (json_is_string(type))
        return kind_of(json_string_value(type), json_string_length(type));
    if (type)
        return SL_RESPONSES_EVENT_INVALID;
    if (name_len > 0)
        return kind_of(name, name_len);
    if (error && !json_is_null(error) && !json_is_false(error))
        return SL_RESPONSES_EVENT_ERROR;
    return SL_RESPONSES_EVENT_INVALID;
}

static void event_from_tree(json_t *root, const char *name, size_t name_len,
                            struct sl_responses_event *out)
{
    json_t *seq = json_object_get(root, "sequence_number");

    out->kind = kind_of_data(root, name, name_len);
    if (out->kind == SL_RESPONSES_EVENT_INVALID)
        return;
    if (json_is_integer(seq) && json_integer_value(seq) >= 0)
        out->sequence_number = json_integer_value(seq);
    if (out->kind == SL_RESPONSES_EVENT_CREATED || out->kind == SL_RESPONSES_EVENT_TERMINAL)
        answer_read(json_object_get(root, "response"), &out->response);
}

int sl_responses_event_read_tree(const char *name, size_t name_len, const char *data, size_t len,
                                 struct sl_responses_event *out)
{
    json_t *root;
    int r;

    event_init(out);
    root = sl_v1_load_object(data, len, &r);
    if (!root)
        return r == -ENOMEM ? r : 0;
    event_from_tree(root, name ? name : "", name ? name_len : 0, out);
    json_decref(root);
    return 0;
}

/* The stream's many deltas without a tree: an object the one-pass validator accepts whose
 * "type" is a string the gateway does not act on is OTHER, whatever else it holds.  false
 * leaves the event to the tree (every kind that reads more than the type, and whatever the
 * validator is not sure of). */
static bool event_fast(const char *data, size_t len, struct sl_responses_event *out)
{
    static const char *const names[] = { "type", "sequence_number" };
    struct sl_json_span root, v[2];
    int64_t seq;
    size_t i;

    if (sl_json_scan(data, len, RESP_SCAN_FLAGS, &root, names, v, 2) != SL_JSON_OBJECT ||
        sl_json_type_of(v[0]) != SL_JSON_STRING)
        return false;
    for (i = 0; i < NKINDS; i++)
        if (sl_json_str_eq(v[0], event_kinds[i].type, strlen(event_kinds[i].type)))
            return false;
    out->kind = SL_RESPONSES_EVENT_OTHER;
    if (v[1].p && sl_json_int(v[1], &seq) && seq >= 0)
        out->sequence_number = seq;
    return true;
}

int sl_responses_event_read(const char *name, size_t name_len, const char *data, size_t len,
                            struct sl_responses_event *out)
{
    event_init(out);
    if (data && event_fast(data, len, out))
        return 0;
    return sl_responses_event_read_tree(name, name_len, data, len, out);
}
