/* SPDX-License-Identifier: MIT */
/* fuzz_upstream_response.c - libFuzzer target: an upstream /chat/completions answer through
 * the response mapper and the error-code reader, and the 200 body rendered from it. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat_api.h"

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
    sl_chat_upstream_error_code((const char *)data, size, code, sizeof(code), type, sizeof(type));
    check_printable(code, sizeof(code));
    check_printable(type, sizeof(type));
    one[0] = 'x';
    sl_chat_upstream_error_code((const char *)data, size, one, sizeof(one), NULL, 0);
    if (one[0] != '\0')
        abort();
}

/* The route's 200 body must give the client the upstream's text byte for byte. */
static void check_render(const struct sl_chat_result *res)
{
    size_t len = 0;
    char *body = sl_chat_response_json(res, &len);
    json_t *doc, *text, *usage;

    if (!body)
        abort(); /* jansson hands out valid UTF-8 only, so rendering cannot fail */
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    text = json_object_get(doc, "text");
    usage = json_object_get(doc, "usage");
    if (!json_is_string(text) || json_string_length(text) != res->text_len ||
        memcmp(json_string_value(text), res->text, res->text_len) != 0 ||
        !json_is_string(json_object_get(doc, "model")) ||
        strcmp(json_string_value(json_object_get(doc, "finish_reason")),
               res->finish_reason) != 0 ||
        !json_is_integer(json_object_get(usage, "total_tokens")))
        abort();
    json_decref(doc);
    free(body);
    body = sl_chat_usage_json(&res->usage, &len);
    if (!body || strlen(body) != len)
        abort();
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_chat_result res;
    int r;

    check_error_code(data, size);
    memset(&res, 0, sizeof(res));
    r = sl_chat_parse_upstream((const char *)data, size, &res);
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
