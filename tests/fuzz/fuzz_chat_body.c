/* SPDX-License-Identifier: MIT */
/* fuzz_chat_body.c - libFuzzer target: a client's /api/chat body through validation, the 422
 * rendering and the upstream body builder, with the round trips they promise checked. */
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

/* A 422 body must be JSON of FastAPI's shape whatever the input was: the client reads it. */
static void check_problem(const struct sl_chat_problem *p)
{
    char *text = sl_chat_problem_json(p);
    json_t *doc, *first;

    if (!text)
        abort();
    doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    first = json_array_get(json_object_get(doc, "detail"), 0);
    if (!json_is_string(json_object_get(first, "type")) ||
        !json_is_array(json_object_get(first, "loc")) ||
        !json_is_string(json_object_get(first, "msg")) || json_object_get(first, "input"))
        abort();
    json_decref(doc);
    free(text);
}

/* The upstream body must carry the validated message unchanged, as the last message. */
static void check_upstream_body(const struct sl_chat_request *r, bool stream)
{
    struct sl_chat_upstream_params params = {
        .model = "gpt-4o-mini",
        .system_prompt = stream ? "" : "You are a helpful assistant.",
        .max_tokens = 1024,
        .temperature = 0.7,
        .stream = stream,
    };
    size_t len = 0, n;
    char *body = sl_chat_upstream_body(&params, r, &len);
    json_t *doc, *msgs, *content;

    if (!body || strlen(body) != len)
        abort();
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    msgs = json_object_get(doc, "messages");
    n = json_array_size(msgs);
    content = json_object_get(json_array_get(msgs, n ? n - 1 : 0), "content");
    if (!json_is_string(content) || json_string_length(content) != r->user_message_len ||
        memcmp(json_string_value(content), r->user_message, r->user_message_len) != 0)
        abort();
    if (stream != json_is_true(json_object_get(doc, "stream")))
        abort();
    json_decref(doc);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_chat_request req;
    struct sl_chat_problem problem;
    int r;

    memset(&req, 0, sizeof(req));
    r = sl_chat_parse((const char *)data, size, &req, &problem);
    if (r == -EINVAL) {
        check_problem(&problem);
        return 0;
    }
    if (r != 0)
        abort(); /* -ENOMEM cannot happen under libFuzzer's allocator, -E2BIG not at 8 MiB */
    if (!req.user_message || req.user_message_len == 0 ||
        strlen(req.user_message) != req.user_message_len ||
        (req.conversation_id && strlen(req.conversation_id) > 4 * SL_CHAT_CONVERSATION_ID_MAX))
        abort();
    check_upstream_body(&req, size & 1);
    sl_chat_request_done(&req);
    sl_chat_request_done(&req);
    return 0;
}
