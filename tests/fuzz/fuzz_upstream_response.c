/* SPDX-License-Identifier: MIT */
/* fuzz_upstream_response.c - libFuzzer target: an upstream /chat/completions answer through
 * the response mapper (its one-pass reading field by field against the jansson one) and the
 * error-code reader, and the 200 body rendered from it; the 200 body and the upstream
 * request body written directly, byte for byte against jansson's json_dumps(), from the raw
 * input (any bytes, not only UTF-8). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/chat_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader promises NUL-terminated printable ASCII that fits the buffer. */
static void check_printable(const char *s, size_t sz)
{
    size_t i;

    for (i = 0; i < sz && s[i]; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            abort();
    if (i == sz)
        abort();
}

static void check_error_code(const uint8_t *data, size_t size)
{
    char code[32], type[8], one[1];

    memset(code, 'x', sizeof(code));
    memset(type, 'x', sizeof(type));
    sl_openai_error_code((const char *)data, size, code, sizeof(code), type, sizeof(type));
    check_printable(code, sizeof(code));
    check_printable(type, sizeof(type));
    one[0] = 'x';
    sl_openai_error_code((const char *)data, size, one, sizeof(one), NULL, 0);
    if (one[0] != '\0')
        abort();
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Both writers of the 200 body: both fail, or the same bytes. */
static void same_response_json(const struct sl_chat_result *res)
{
    size_t len = 0, tlen = 0;
    char *a = sl_chat_response_json(res, &len), *b = sl_chat_response_json_tree(res, &tlen);

    if (!a != !b || (a && (len != tlen || memcmp(a, b, len + 1) != 0)))
        abort();
    free(a);
    free(b);
}

/* Both writers of the upstream body, on params and a message cut from the input. */
static void same_upstream_body(const uint8_t *data, size_t size)
{
    struct sl_chat_upstream_params p = { .model = "gpt-4o-mini" };
    struct sl_chat_request r = { 0 };
    const char *s = (const char *)data, *nul = memchr(s, '\0', size);
    char *sys = NULL, *a, *b;
    size_t len = 0, tlen = 0;
    uint64_t bits = 0;

    if (size >= 8) {
        memcpy(&bits, data, 8);
        memcpy(&p.temperature, &bits, sizeof(p.temperature));
        p.max_tokens = (unsigned)(bits >> 16);
        p.stream = bits & 1;
    }
    if (nul) {
        if (!(sys = strdup(s)))
            abort();
        p.system_prompt = sys;
        if (bits & 2)
            p.model = sys; /* any bytes, possibly empty or not UTF-8 */
    }
    r.user_message = (char *)(nul ? nul + 1 : s);
    r.user_message_len = nul ? size - (size_t)(nul + 1 - s) : size;
    a = sl_chat_upstream_body(&p, &r, &len);
    b = sl_chat_upstream_body_tree(&p, &r, &tlen);
    if (!a != !b || (a && (len != tlen || memcmp(a, b, len + 1) != 0)))
        abort();
    free(a);
    free(b);
    free(sys);
}

/* The 200 body of a result whose strings are the raw input. */
static void same_response_json_raw(const uint8_t *data, size_t size)
{
    static const char *const finish[] = { NULL, "stop", "length", "bogus" };
    const char *s = (const char *)data, *nul = memchr(s, '\0', size);
    struct sl_chat_result res = { 0 };

    res.text = (char *)s;
    res.text_len = size;
    res.model = nul ? (char *)s : NULL;
    res.finish_reason = finish[size % 4];
    if (size >= 3) {
        res.usage.present = data[0] & 1;
        res.usage.prompt_tokens = (int64_t)((uint64_t)data[1] << 56 | data[2]);
        res.usage.completion_tokens = -(int64_t)data[2];
        res.usage.total_tokens = INT64_MIN + data[0];
    }
    same_response_json(&res);
    res.text = NULL;
    same_response_json(&res);
}

/* The route's 200 body must give the client the upstream's text byte for byte. */
static void check_render(const struct sl_chat_result *res)
{
    size_t len = 0;
    char *body = sl_chat_response_json(res, &len);
    json_t *doc, *text, *usage;

    same_response_json(res);
    if (!body)
        abort(); /* jansson hands out valid UTF-8 only, so rendering cannot fail */
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    text = json_object_get(doc, "text");
    usage = json_object_get(doc, "usage");
    if (!json_is_string(text) || json_string_length(text) != res->text_len ||
        memcmp(json_string_value(text), res->text, res->text_len) != 0 ||
        !json_is_string(json_object_get(doc, "model")) ||
        strcmp(json_string_value(json_object_get(doc, "finish_reason")), res->finish_reason) != 0 ||
        !json_is_integer(json_object_get(usage, "total_tokens")))
        abort();
    json_decref(doc);
    free(body);
    body = sl_chat_usage_json(&res->usage, &len);
    if (!body || strlen(body) != len)
        abort();
    free(body);
}

/* The one-pass reading gives what the jansson reading does, return code and every field. */
static int same_result(const uint8_t *data, size_t size, struct sl_chat_result *res)
{
    struct sl_chat_result tree;
    int r = sl_chat_parse_upstream((const char *)data, size, res);
    int rt = sl_chat_parse_upstream_tree((const char *)data, size, &tree);

    if (r != rt)
        abort();
    if (r != 0)
        return r;
    if (res->text_len != tree.text_len || memcmp(res->text, tree.text, res->text_len) != 0 ||
        tree.text[tree.text_len] != '\0' || res->refusal != tree.refusal ||
        !same_str(res->model, tree.model) || !same_str(res->finish_reason, tree.finish_reason) ||
        !same_str(res->upstream_id, tree.upstream_id) || res->usage.present != tree.usage.present ||
        res->usage.prompt_tokens != tree.usage.prompt_tokens ||
        res->usage.completion_tokens != tree.usage.completion_tokens ||
        res->usage.total_tokens != tree.usage.total_tokens)
        abort();
    sl_chat_result_done(&tree);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_chat_result res;
    int r;

    check_error_code(data, size);
    same_upstream_body(data, size);
    same_response_json_raw(data, size);
    memset(&res, 0, sizeof(res));
    r = same_result(data, size, &res);
    if (r == -EBADMSG)
        return 0;
    if (r != 0)
        abort();
    if (!res.text || res.text[res.text_len] != '\0' || !res.finish_reason ||
        strcmp(sl_chat_finish_reason(res.finish_reason), res.finish_reason) != 0 ||
        (res.model && strlen(res.model) > SL_CHAT_MODEL_MAX) ||
        (res.upstream_id && strlen(res.upstream_id) > SL_CHAT_UPSTREAM_ID_MAX) ||
        (res.usage.present && (res.usage.prompt_tokens < 0 || res.usage.completion_tokens < 0)))
        abort();
    check_render(&res);
    if (!res.model) {
        /* What the route does before rendering when the upstream named no model. */
        res.model = strdup("gpt-4o-mini");
        if (!res.model)
            abort();
        check_render(&res);
    }
    sl_chat_result_done(&res);
    sl_chat_result_done(&res);
    return 0;
}
