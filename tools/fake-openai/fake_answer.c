/* SPDX-License-Identifier: MIT */
/* fake_answer.c - what the fake OpenAI upstream answers: scripted behaviour objects, the
 * parsed chat completion request, the JSON and SSE text of the response, and the dispatch
 * to the other endpoints' modules. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "fake_openai.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#define MAX_CHOICES 128
#define ECHO_MAX_BYTES 200 /* of the last user message, in the default answer */
#define BYTES_WORD 8       /* "bytes" mode words are 8 bytes, one token each */
#define BYTES_MAX (1LL << 30)
#define DELAY_MAX_MS (24LL * 3600 * 1000)
#define HEADER_VALUE_MAX 8192
#define MODEL_SUFFIX "-2024-07-18"
#define DEFAULT_MODEL "gpt-4o-mini"

static const char *const known_keys[] = {
    "repeat",
    "status",
    "body",
    "body_raw",
    "headers",
    "delay_ms",
    "action",
    "content",
    "finish_reason",
    "usage",
    "model",
    "chunk_delay_ms",
    "pause_after_chunks",
    "pause_ms",
    "fail_after_chunks",
    "fail_mode",
    "bytes",
    "error_code",
    "error_type",
    "error_message",
    "response_status",
    "incomplete_reason",
    "background_ms",
    "terminal_delay_ms",
    "malformed_after_chunks",
    "note",
    NULL,
};

uint64_t sl_fake_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- behaviour objects ---- */

static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t err_len)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, err_len, "%s: expected an integer in [%" PRId64 ", %" PRId64 "]", key, lo,
                 hi);
        return -EINVAL;
    }
    *out = json_integer_value(v);
    return 0;
}

/* A string field; with nullable, JSON null is accepted and gives *out = NULL. */
static int get_str(json_t *o, const char *key, bool nullable, const char **out, bool *present,
                   char *err, size_t err_len)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return 0;
    if (json_is_string(v))
        *out = json_string_value(v);
    else if (nullable && json_is_null(v))
        *out = NULL;
    else {
        snprintf(err, err_len, "%s: expected a string%s", key, nullable ? " or null" : "");
        return -EINVAL;
    }
    if (present != NULL)
        *present = true;
    return 0;
}

static int pick(const char *key, const char *val, const char *const *names, int *out, char *err,
                size_t err_len)
{
    int i;

    for (i = 0; names[i] != NULL; i++)
        if (strcmp(val, names[i]) == 0) {
            *out = i;
            return 0;
        }
    snprintf(err, err_len, "%s: unknown value \"%.64s\"", key, val);
    return -EINVAL;
}

static bool is_token_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* evhttp would refuse (or, unpatched, fold) names and values that could split a header. */
static int check_headers(json_t *h, char *err, size_t err_len)
{
    const char *name, *p;
    json_t *v;

    if (!json_is_object(h)) {
        snprintf(err, err_len, "headers: expected an object");
        return -EINVAL;
    }
    json_object_foreach(h, name, v)
    {
        bool ok = name[0] != '\0';

        for (p = name; *p != '\0'; p++)
            ok = ok && is_token_char((unsigned char)*p);
        if (ok && json_is_string(v) && json_string_length(v) <= HEADER_VALUE_MAX)
            for (p = json_string_value(v); *p != '\0'; p++)
                ok = ok && (*p == '\t' || (unsigned char)*p >= 0x20) && *p != 0x7f;
        else
            ok = false;
        if (!ok || (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))) {
            snprintf(err, err_len, "headers: bad header \"%.64s\"", name);
            return -EINVAL;
        }
    }
    return 0;
}

static int check_keys(json_t *obj, char *err, size_t err_len)
{
    const char *key;
    json_t *v;
    int i;

    json_object_foreach(obj, key, v)
    {
        for (i = 0; known_keys[i] != NULL && strcmp(known_keys[i], key) != 0; i++)
            ;
        if (known_keys[i] == NULL) {
            snprintf(err, err_len, "unknown behaviour field \"%.64s\"", key);
            return -EINVAL;
        }
    }
    return 0;
}

static int parse_enums(json_t *obj, struct sl_fake_beh *b, char *err, size_t err_len)
{
    static const char *const actions[] = { "", "reset", "hang", "close", "truncate", NULL };
    static const char *const modes[] = { "", "reset", "close", "error_event", NULL };
    static const char *const rstatus[] = { "", "completed", "incomplete", "failed", NULL };
    const char *s = NULL;
    int v;

    if (get_str(obj, "action", false, &s, NULL, err, err_len) != 0)
        return -EINVAL;
    if (s != NULL) {
        if (pick("action", s, actions, &v, err, err_len) != 0 || v == 0)
            return -EINVAL;
        b->action = (enum sl_fake_action)v;
    }
    s = NULL;
    if (get_str(obj, "fail_mode", false, &s, NULL, err, err_len) != 0)
        return -EINVAL;
    if (s != NULL) {
        if (pick("fail_mode", s, modes, &v, err, err_len) != 0 || v == 0)
            return -EINVAL;
        b->fail_mode = (enum sl_fake_fail)v;
    } else if (b->fail_after >= 0)
        b->fail_mode = SL_FAKE_FAIL_CLOSE;
    s = NULL;
    if (get_str(obj, "response_status", false, &s, NULL, err, err_len) != 0)
        return -EINVAL;
    if (s != NULL) {
        if (pick("response_status", s, rstatus, &v, err, err_len) != 0 || v == 0)
            return -EINVAL;
        b->response_status = (enum sl_fake_rstatus)v;
    }
    return 0;
}

static int parse_ints(json_t *obj, struct sl_fake_beh *b, char *err, size_t err_len)
{
    int64_t status = 0;

    if (get_int(obj, "repeat", 1, 1000000000, &b->repeat, err, err_len) != 0 ||
        get_int(obj, "status", 200, 599, &status, err, err_len) != 0 ||
        get_int(obj, "delay_ms", 0, DELAY_MAX_MS, &b->delay_ms, err, err_len) != 0 ||
        get_int(obj, "chunk_delay_ms", 0, DELAY_MAX_MS, &b->chunk_delay_ms, err, err_len) != 0 ||
        get_int(obj, "pause_after_chunks", 0, INT64_MAX, &b->pause_after, err, err_len) != 0 ||
        get_int(obj, "pause_ms", 0, DELAY_MAX_MS, &b->pause_ms, err, err_len) != 0 ||
        get_int(obj, "fail_after_chunks", 0, INT64_MAX, &b->fail_after, err, err_len) != 0 ||
        get_int(obj, "bytes", 0, BYTES_MAX, &b->bytes, err, err_len) != 0 ||
        get_int(obj, "background_ms", 0, DELAY_MAX_MS, &b->background_ms, err, err_len) != 0 ||
        get_int(obj, "terminal_delay_ms", 0, DELAY_MAX_MS, &b->terminal_delay_ms, err, err_len) !=
            0 ||
        get_int(obj, "malformed_after_chunks", 0, INT64_MAX, &b->malformed_after, err, err_len) !=
            0)
        return -EINVAL;
    b->status = (int)status;
    return 0;
}

static int parse_values(json_t *obj, struct sl_fake_beh *b, char *err, size_t err_len)
{
    json_t *v;

    b->body = json_object_get(obj, "body");
    if (get_str(obj, "body_raw", false, &b->body_raw, NULL, err, err_len) != 0)
        return -EINVAL;
    if (b->body_raw != NULL)
        b->body_raw_len = json_string_length(json_object_get(obj, "body_raw"));
    if (b->body != NULL && b->body_raw != NULL) {
        snprintf(err, err_len, "body and body_raw are exclusive");
        return -EINVAL;
    }
    b->headers = json_object_get(obj, "headers");
    if (b->headers != NULL && check_headers(b->headers, err, err_len) != 0)
        return -EINVAL;
    b->usage = json_object_get(obj, "usage");
    if (b->usage != NULL && !json_is_object(b->usage) && !json_is_null(b->usage)) {
        snprintf(err, err_len, "usage: expected an object or null");
        return -EINVAL;
    }
    if (get_str(obj, "content", false, &b->content, NULL, err, err_len) != 0 ||
        get_str(obj, "finish_reason", true, &b->finish, &b->has_finish, err, err_len) != 0 ||
        get_str(obj, "model", false, &b->model, NULL, err, err_len) != 0 ||
        get_str(obj, "error_code", true, &b->error_code, &b->has_error_code, err, err_len) != 0 ||
        get_str(obj, "error_type", false, &b->error_type, NULL, err, err_len) != 0 ||
        get_str(obj, "error_message", false, &b->error_message, NULL, err, err_len) != 0 ||
        get_str(obj, "incomplete_reason", false, &b->incomplete_reason, NULL, err, err_len) != 0)
        return -EINVAL;
    v = json_object_get(obj, "content");
    if (v != NULL)
        b->content_len = json_string_length(v);
    return 0;
}

int sl_fake_beh_parse(json_t *obj, struct sl_fake_beh *b, char *err, size_t err_len)
{
    memset(b, 0, sizeof(*b));
    b->repeat = 1;
    b->pause_after = -1;
    b->pause_ms = -1;
    b->fail_after = -1;
    b->bytes = -1;
    b->terminal_delay_ms = -1;
    b->malformed_after = -1;
    if (obj == NULL)
        return 0;
    if (!json_is_object(obj)) {
        snprintf(err, err_len, "a behaviour must be a JSON object");
        return -EINVAL;
    }
    if (check_keys(obj, err, err_len) != 0 || parse_ints(obj, b, err, err_len) != 0 ||
        parse_enums(obj, b, err, err_len) != 0 || parse_values(obj, b, err, err_len) != 0)
        return -EINVAL;
    return 0;
}

/* ---- JSON writers ---- */

void sl_fake_put_str(struct evbuffer *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    evbuffer_add(out, "\"", 1);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        evbuffer_add(out, s + run, i - run);
        run = i + 1;
        if (ch == '"' || ch == '\\') {
            esc[1] = (char)ch;
            evbuffer_add(out, esc, 2);
        } else if (ch == '\n')
            evbuffer_add(out, "\\n", 2);
        else if (ch == '\r')
            evbuffer_add(out, "\\r", 2);
        else if (ch == '\t')
            evbuffer_add(out, "\\t", 2);
        else
            evbuffer_add(out, esc, 6);
    }
    evbuffer_add(out, s + run, len - run);
    evbuffer_add(out, "\"", 1);
}

static void put_cstr_or_null(struct evbuffer *out, const char *s)
{
    if (s == NULL)
        evbuffer_add(out, "null", 4);
    else
        sl_fake_put_str(out, s, strlen(s));
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return evbuffer_add(data, buf, size);
}

void sl_fake_put_json(struct evbuffer *out, json_t *v)
{
    (void)json_dump_callback(v, dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY);
}

void sl_fake_put_error(struct evbuffer *out, const char *message, const char *type,
                       const char *param, const char *code)
{
    evbuffer_add_printf(out, "{\"error\":{\"message\":");
    put_cstr_or_null(out, message);
    evbuffer_add_printf(out, ",\"type\":");
    put_cstr_or_null(out, type);
    evbuffer_add_printf(out, ",\"param\":");
    put_cstr_or_null(out, param);
    evbuffer_add_printf(out, ",\"code\":");
    put_cstr_or_null(out, code);
    evbuffer_add(out, "}}", 2);
}

/* "bytes" mode text: a fixed cycle of eight 8-byte words, addressable at any offset so a
 * multi-megabyte answer is produced piece by piece and never held whole. */
void sl_fake_put_pattern(struct evbuffer *out, uint64_t off, uint64_t len)
{
    static const char *const words[8] = {
        "quantum ", "plastic ", "thunder ", "journey ",
        "cabinet ", "diamond ", "harvest ", "lantern ",
    };
    static char block[4096];
    static bool ready;
    size_t i;

    if (!ready) {
        for (i = 0; i < sizeof(block); i++)
            block[i] = words[(i / BYTES_WORD) % 8][i % BYTES_WORD];
        ready = true;
    }
    while (len > 0) {
        size_t at = (size_t)(off % sizeof(block));
        size_t n = sizeof(block) - at;

        if (n > len)
            n = (size_t)len;
        evbuffer_add(out, block + at, n);
        off += n;
        len -= n;
    }
}

static void put_finish(struct sl_fake_req *c, struct evbuffer *out)
{
    if (c->beh.has_finish)
        put_cstr_or_null(out, c->beh.finish);
    else
        put_cstr_or_null(out, c->cut ? "length" : "stop");
}

static void put_usage(struct sl_fake_req *c, struct evbuffer *out)
{
    uint64_t done = c->tokens * (uint64_t)c->n;

    if (c->beh.usage != NULL) {
        sl_fake_put_json(out, c->beh.usage);
        return;
    }
    evbuffer_add_printf(out,
                        "{\"prompt_tokens\":%" PRIu64 ",\"completion_tokens\":%" PRIu64
                        ",\"total_tokens\":%" PRIu64 "}",
                        c->prompt_tokens, done, c->prompt_tokens + done);
}

static void put_content(struct sl_fake_req *c, struct evbuffer *out)
{
    if (c->bytes_mode) {
        evbuffer_add(out, "\"", 1);
        sl_fake_put_pattern(out, 0, c->bytes);
        evbuffer_add(out, "\"", 1);
    } else
        sl_fake_put_str(out, c->text, c->text_len);
}

void sl_fake_put_completion(struct sl_fake_req *c, struct evbuffer *out)
{
    int i;

    evbuffer_add_printf(out,
                        "{\"id\":\"chatcmpl-fake-%" PRIu64 "\",\"object\":\"chat.completion\""
                        ",\"created\":%" PRId64 ",\"model\":",
                        c->seq, c->created);
    sl_fake_put_str(out, c->model, strlen(c->model));
    evbuffer_add_printf(out, ",\"system_fingerprint\":\"fp_fake\",\"choices\":[");
    for (i = 0; i < c->n; i++) {
        evbuffer_add_printf(out, "%s{\"index\":%d,\"message\":{\"role\":\"assistant\",\"content\":",
                            i > 0 ? "," : "", i);
        put_content(c, out);
        evbuffer_add_printf(out, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":");
        put_finish(c, out);
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add_printf(out, "],\"usage\":");
    put_usage(c, out);
    evbuffer_add(out, "}", 1);
}

/* The error body a real upstream would send with this status, unless the script overrides
 * parts of it. */
void sl_fake_put_status_error(struct sl_fake_req *c, int status, struct evbuffer *out)
{
    const char *msg = "The fake upstream refused the request.";
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    const char *code = NULL;

    switch (status) {
    case 401:
        msg = "Incorrect API key provided.";
        code = "invalid_api_key";
        break;
    case 403:
        msg = "You are not allowed to sample from this model.";
        type = "permission_error";
        break;
    case 404:
        msg = "The model does not exist or you do not have access to it.";
        code = "model_not_found";
        break;
    case 429:
        msg = "Rate limit reached for requests.";
        type = "rate_limit_error";
        code = "rate_limit_exceeded";
        if (c->beh.has_error_code && c->beh.error_code != NULL &&
            strcmp(c->beh.error_code, "insufficient_quota") == 0) {
            msg = "You exceeded your current quota, please check your plan and billing details.";
            type = "insufficient_quota";
        }
        break;
    case 503: msg = "The server is overloaded or not ready yet."; break;
    default:
        if (status >= 500)
            msg = "The server had an error while processing your request.";
        break;
    }
    if (c->beh.has_error_code)
        code = c->beh.error_code;
    if (c->beh.error_type != NULL)
        type = c->beh.error_type;
    if (c->beh.error_message != NULL)
        msg = c->beh.error_message;
    sl_fake_put_error(out, msg, type, NULL, code);
}

/* ---- the request: what was asked, what the answer is ---- */

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Number of words in s; *keep_end is where the first `keep` words end, trailing whitespace
 * included (len when there are no more than keep words). */
static uint64_t count_words(const char *s, size_t len, uint64_t keep, size_t *keep_end)
{
    uint64_t words = 0;
    size_t i = 0;

    *keep_end = len;
    while (i < len) {
        while (i < len && is_ws(s[i]))
            i++;
        if (i == len)
            break;
        if (words == keep)
            *keep_end = i;
        words++;
        while (i < len && !is_ws(s[i]))
            i++;
    }
    return words;
}

/* Bytes of text in a message content: a string, or the text parts of an array; *first is
 * the string or the first text part (what the default answer echoes). */
size_t sl_fake_content_text(json_t *content, const char **first, size_t *first_len)
{
    size_t i, total = 0;
    json_t *part, *t;

    if (json_is_string(content)) {
        *first = json_string_value(content);
        *first_len = json_string_length(content);
        return *first_len;
    }
    json_array_foreach(content, i, part)
    {
        t = json_object_get(part, "text");
        if (!json_is_string(t))
            continue;
        if (*first == NULL) {
            *first = json_string_value(t);
            *first_len = json_string_length(t);
        }
        total += json_string_length(t);
    }
    return total;
}

static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* Prompt tokens per SPEC of this fake: ceil(bytes/4) + 4 per message. */
static int read_messages(struct sl_fake_req *c, json_t *msgs, const char **echo, size_t *echo_len)
{
    size_t i;
    json_t *m;

    if (!json_is_array(msgs)) {
        c->bad_msg = "Missing required parameter: 'messages'.";
        c->bad_param = "messages";
        return 0;
    }
    json_array_foreach(msgs, i, m)
    {
        const char *first = NULL;
        size_t first_len = 0;
        size_t bytes = sl_fake_content_text(json_object_get(m, "content"), &first, &first_len);
        json_t *role = json_object_get(m, "role");

        c->prompt_tokens += (bytes + 3) / 4 + 4;
        if (json_is_string(role) && strcmp(json_string_value(role), "user") == 0) {
            *echo = first != NULL ? first : "";
            *echo_len = first != NULL ? first_len : 0;
        }
    }
    return 0;
}

static int read_limits(struct sl_fake_req *c, json_t *body, int64_t *max_tokens)
{
    json_t *v = json_object_get(body, "n");

    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > MAX_CHOICES) {
            c->bad_msg = "Invalid 'n': expected an integer between 1 and 128.";
            c->bad_param = "n";
            return 0;
        }
        c->n = (int)json_integer_value(v);
    }
    v = json_object_get(body, "max_completion_tokens");
    if (v == NULL || json_is_null(v))
        v = json_object_get(body, "max_tokens");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            c->bad_msg = "Invalid 'max_tokens': expected an integer of at least 1.";
            c->bad_param = "max_tokens";
            return 0;
        }
        *max_tokens = json_integer_value(v);
    }
    return 0;
}

int sl_fake_make_text(struct sl_fake_req *c, const char *echo, size_t echo_len, int64_t max_tokens)
{
    static const char hello[] = "Hello! You said: ";
    size_t keep_end;
    uint64_t words;

    if (c->beh.bytes >= 0) {
        c->bytes_mode = true;
        c->bytes = (uint64_t)c->beh.bytes;
        c->tokens = (c->bytes + BYTES_WORD - 1) / BYTES_WORD;
        c->units = (c->bytes + SL_FAKE_BYTES_DELTA - 1) / SL_FAKE_BYTES_DELTA;
        return 0;
    }
    if (c->beh.content != NULL) {
        echo = c->beh.content;
        echo_len = c->beh.content_len;
        c->text_len = echo_len;
    } else {
        echo_len = utf8_cut(echo, echo_len, ECHO_MAX_BYTES);
        c->text_len = sizeof(hello) - 1 + echo_len;
    }
    c->text = malloc(c->text_len + 1);
    if (c->text == NULL)
        return -ENOMEM;
    if (c->beh.content != NULL)
        memcpy(c->text, echo, echo_len);
    else {
        memcpy(c->text, hello, sizeof(hello) - 1);
        memcpy(c->text + sizeof(hello) - 1, echo, echo_len);
    }
    c->text[c->text_len] = '\0';
    words = count_words(c->text, c->text_len, max_tokens > 0 ? (uint64_t)max_tokens : UINT64_MAX,
                        &keep_end);
    if (max_tokens > 0 && words > (uint64_t)max_tokens) {
        c->text_len = keep_end;
        words = (uint64_t)max_tokens;
        c->cut = true;
    }
    c->tokens = words;
    /* An all-blank answer still streams, as one delta, so deltas always add up to it. */
    c->units = words > 0 ? words : (c->text_len > 0 ? 1 : 0);
    return 0;
}

int sl_fake_set_model(struct sl_fake_req *c, const char *asked, bool suffix)
{
    size_t len;

    if (c->beh.model != NULL || (!suffix && asked != NULL)) {
        c->model = strdup(c->beh.model != NULL ? c->beh.model : asked);
        return c->model != NULL ? 0 : -ENOMEM;
    }
    if (asked == NULL)
        asked = DEFAULT_MODEL;
    len = strlen(asked) + sizeof(MODEL_SUFFIX);
    c->model = malloc(len);
    if (c->model == NULL)
        return -ENOMEM;
    snprintf(c->model, len, "%s%s", asked, MODEL_SUFFIX);
    return 0;
}

static int chat_prepare(struct sl_fake_req *c, json_t *body)
{
    const char *echo = "", *asked = NULL;
    size_t echo_len = 0;
    int64_t max_tokens = -1;
    json_t *v, *opts;
    int rc;

    if (json_is_object(body)) {
        v = json_object_get(body, "model");
        if (json_is_string(v))
            asked = json_string_value(v);
        else
            c->bad_msg = "you must provide a model parameter";
        c->stream = json_is_true(json_object_get(body, "stream"));
        opts = json_object_get(body, "stream_options");
        c->include_usage = c->stream && json_is_true(json_object_get(opts, "include_usage"));
        read_messages(c, json_object_get(body, "messages"), &echo, &echo_len);
        read_limits(c, body, &max_tokens);
    }
    rc = sl_fake_set_model(c, asked, true);
    if (rc == 0)
        rc = sl_fake_make_text(c, echo, echo_len, max_tokens);
    return rc;
}

/* ---- the stream, event by event ---- */

static void put_chunk_tail(struct sl_fake_req *c, struct evbuffer *out)
{
    if (c->include_usage)
        evbuffer_add(out, "],\"usage\":null}\n\n", 17);
    else
        evbuffer_add(out, "]}\n\n", 4);
}

static void put_delta(struct sl_fake_req *c, struct evbuffer *out)
{
    if (c->choice == 0) {
        size_t e = c->cursor;

        while (e < c->text_len && is_ws(c->text[e]))
            e++;
        while (e < c->text_len && !is_ws(c->text[e]))
            e++;
        while (e < c->text_len && is_ws(c->text[e]))
            e++;
        c->delta_end = c->unit + 1 == c->units ? c->text_len : e;
    }
    evbuffer_add(out, c->prefix, c->prefix_len);
    evbuffer_add_printf(out, "{\"index\":%d,\"delta\":{\"content\":", c->choice);
    if (c->bytes_mode) {
        uint64_t off = c->unit * SL_FAKE_BYTES_DELTA;
        uint64_t len = c->bytes - off < SL_FAKE_BYTES_DELTA ? c->bytes - off : SL_FAKE_BYTES_DELTA;

        evbuffer_add(out, "\"", 1);
        sl_fake_put_pattern(out, off, len);
        evbuffer_add(out, "\"", 1);
    } else
        sl_fake_put_str(out, c->text + c->cursor, c->delta_end - c->cursor);
    evbuffer_add_printf(out, "},\"logprobs\":null,\"finish_reason\":null}");
    put_chunk_tail(c, out);
    if (++c->choice == c->n) {
        c->choice = 0;
        c->unit++;
        c->cursor = c->delta_end;
    }
}

static bool chat_sse_next(struct sl_fake_req *c, struct evbuffer *out)
{
    for (;;) {
        switch (c->phase) {
        case SL_FAKE_PH_ROLE:
            if (c->choice < c->n) {
                evbuffer_add(out, c->prefix, c->prefix_len);
                evbuffer_add_printf(out,
                                    "{\"index\":%d,\"delta\":{\"role\":\"assistant\","
                                    "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}",
                                    c->choice++);
                put_chunk_tail(c, out);
                return true;
            }
            c->phase = SL_FAKE_PH_DELTA;
            c->choice = 0;
            break;
        case SL_FAKE_PH_DELTA:
            if (c->unit < c->units) {
                put_delta(c, out);
                return true;
            }
            c->phase = SL_FAKE_PH_FINISH;
            break;
        case SL_FAKE_PH_FINISH:
            if (c->choice < c->n) {
                evbuffer_add(out, c->prefix, c->prefix_len);
                evbuffer_add_printf(out,
                                    "{\"index\":%d,\"delta\":{},\"logprobs\":null,"
                                    "\"finish_reason\":",
                                    c->choice++);
                put_finish(c, out);
                evbuffer_add(out, "}", 1);
                put_chunk_tail(c, out);
                return true;
            }
            c->phase = c->include_usage ? SL_FAKE_PH_USAGE : SL_FAKE_PH_DONE;
            break;
        case SL_FAKE_PH_USAGE:
            evbuffer_add(out, c->prefix, c->prefix_len);
            evbuffer_add(out, "],\"usage\":", 10);
            put_usage(c, out);
            evbuffer_add(out, "}\n\n", 3);
            c->phase = SL_FAKE_PH_DONE;
            return true;
        case SL_FAKE_PH_DONE:
            evbuffer_add(out, "data: [DONE]\n\n", 14);
            c->phase = SL_FAKE_PH_END;
            return true;
        default: return false;
        }
    }
}

static int chat_sse_prefix(struct sl_fake_req *c)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL)
        return -ENOMEM;
    evbuffer_add_printf(b,
                        "data: {\"id\":\"chatcmpl-fake-%" PRIu64 "\",\"object\":"
                        "\"chat.completion.chunk\",\"created\":%" PRId64 ",\"model\":",
                        c->seq, c->created);
    sl_fake_put_str(b, c->model, strlen(c->model));
    evbuffer_add_printf(b, ",\"system_fingerprint\":\"fp_fake\",\"choices\":[");
    c->prefix_len = evbuffer_get_length(b);
    c->prefix = malloc(c->prefix_len);
    if (c->prefix != NULL)
        evbuffer_remove(b, c->prefix, c->prefix_len);
    evbuffer_free(b);
    return c->prefix != NULL ? 0 : -ENOMEM;
}

/* ---- every endpoint: shared helpers and the dispatch ---- */

void sl_fake_bad(struct sl_fake_req *c, int status, const char *param, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->bad_text, sizeof(c->bad_text), fmt, ap);
    va_end(ap);
    c->bad_msg = c->bad_text;
    c->bad_param = param;
    c->bad_status = status;
}

/* Ids must differ between fake instances (a gateway test may run several upstreams), so the
 * generator is seeded from the kernel once; quality beyond that does not matter. */
void sl_fake_hex_id(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    static uint64_t state;
    size_t i;

    if (state == 0 && getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state))
        state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ sl_fake_now_ms();
    for (i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out[2 * i] = hex[(state >> 8) & 15];
        out[2 * i + 1] = hex[(state >> 20) & 15];
    }
    out[2 * n] = '\0';
}

static bool has_body(enum sl_fake_kind kind)
{
    return kind == SL_FAKE_CHAT || kind == SL_FAKE_RESPONSES || kind == SL_FAKE_EMBEDDINGS;
}

int sl_fake_req_prepare(struct sl_fake_req *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t len = evbuffer_get_length(in);
    json_t *body;
    int rc = 0;

    c->n = 1;
    c->max_output_tokens = -1;
    if (!has_body(c->kind))
        return 0;
    body = json_loadb(len > 0 ? (const char *)evbuffer_pullup(in, -1) : "", len, 0, NULL);
    if (!json_is_object(body))
        c->bad_msg = "We could not parse the JSON body of your request.";
    switch (c->kind) {
    case SL_FAKE_CHAT: rc = chat_prepare(c, body); break;
    case SL_FAKE_RESPONSES: rc = sl_fake_responses_prepare(c, body); break;
    case SL_FAKE_EMBEDDINGS: rc = sl_fake_embeddings_prepare(c, body); break;
    default: break;
    }
    json_decref(body);
    return rc;
}

void sl_fake_req_commit(struct sl_fake_req *c)
{
    if (c->kind == SL_FAKE_RESPONSES)
        sl_fake_responses_commit(c);
    else if (!has_body(c->kind))
        sl_fake_store_answer(c);
}

void sl_fake_put_answer(struct sl_fake_req *c, struct evbuffer *out)
{
    switch (c->kind) {
    case SL_FAKE_CHAT: sl_fake_put_completion(c, out); break;
    case SL_FAKE_RESPONSES: sl_fake_responses_put(c, out); break;
    case SL_FAKE_EMBEDDINGS: sl_fake_embeddings_put(c, out); break;
    default: sl_fake_put_json(out, c->answer); break;
    }
}

int sl_fake_sse_prefix(struct sl_fake_req *c)
{
    return c->kind == SL_FAKE_CHAT ? chat_sse_prefix(c) : 0;
}

bool sl_fake_sse_next(struct sl_fake_req *c, struct evbuffer *out)
{
    return c->kind == SL_FAKE_CHAT ? chat_sse_next(c, out) : sl_fake_responses_sse_next(c, out);
}

bool sl_fake_sse_finished(const struct sl_fake_req *c)
{
    return c->kind == SL_FAKE_CHAT ? c->phase == SL_FAKE_PH_END : sl_fake_responses_sse_finished(c);
}

bool sl_fake_sse_next_is_last(const struct sl_fake_req *c)
{
    if (c->kind != SL_FAKE_CHAT)
        return sl_fake_responses_sse_next_is_last(c);
    /* Phases advance lazily, so a finished earlier phase may still be the current one. */
    return c->phase == SL_FAKE_PH_DONE ||
           (c->phase == SL_FAKE_PH_FINISH && c->choice >= c->n && !c->include_usage);
}

void sl_fake_sse_error(struct sl_fake_req *c, struct evbuffer *out)
{
    if (c->kind != SL_FAKE_CHAT) {
        sl_fake_responses_sse_error(c, out);
        return;
    }
    evbuffer_add(out, "data: ", 6);
    sl_fake_put_status_error(c, 500, out);
    evbuffer_add(out, "\n\n", 2);
}

void sl_fake_sse_malformed(struct sl_fake_req *c, struct evbuffer *out)
{
    if (c->kind == SL_FAKE_CHAT)
        evbuffer_add_printf(out, "data: {\"id\":\"chatcmpl-fake-%" PRIu64 "\",\"choices\":[\n\n",
                            c->seq);
    else
        evbuffer_add_printf(out, "event: response.output_text.delta\n"
                                 "data: {\"type\":\"response.output_text.delta\",\"delta\":\n\n");
}
