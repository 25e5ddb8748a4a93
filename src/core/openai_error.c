/* SPDX-License-Identifier: MIT */
/* openai_error.c - upstream error bodies: the code that decides a retry, the envelope a client
 * gets. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/openai.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"

/* Past this an error body is not read: no upstream writes an error that large. */
#define ERROR_BODY_MAX (32u << 20)

static const char *type_for(int status)
{
    if (status == 429)
        return "rate_limit_error";
    if (status == 401)
        return "authentication_error";
    if (status == 403)
        return "permission_error";
    if (status >= 500 || status < 400)
        return "server_error";
    return "invalid_request_error";
}

/* Our own error for a body that is not one: all four fields, the status's type. */
static char *synthesize(int status, size_t *out_len)
{
    json_t *root =
        json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message",
                  "The upstream provider refused the request.", "type", type_for(status), "param",
                  "code", status == 429 ? "rate_limit_exceeded" : "upstream_error");
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(root);
    if (s)
        *out_len = strlen(s);
    return s;
}

/* Fill what an OpenAI error object lacks; true if e changed, -1 on OOM. */
static int complete_error(json_t *e, int status)
{
    static const char *const nullable[] = { "param", "code" };
    json_t *type = json_object_get(e, "type");
    int changed = 0;
    size_t i;

    if (!json_is_string(type)) {
        if (json_object_set_new(e, "type", json_string(type_for(status))) < 0)
            return -1;
        changed = 1;
    }
    for (i = 0; i < 2; i++) {
        json_t *v = json_object_get(e, nullable[i]);

        if (v && (json_is_null(v) || json_is_string(v)))
            continue;
        if (json_object_set_new(e, nullable[i], json_null()) < 0)
            return -1;
        changed = 1;
    }
    return changed;
}

int sl_openai_error_for_client(const char *body, size_t len, int status, char **out,
                               size_t *out_len)
{
    json_t *root, *e;
    char *s = NULL;
    int changed;

    *out = NULL;
    *out_len = 0;
    root = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    e = json_object_get(root, "error");
    if (!json_is_object(root) || !json_is_object(e) ||
        !json_is_string(json_object_get(e, "message"))) {
        json_decref(root);
        *out = synthesize(status, out_len);
        return *out ? 1 : -ENOMEM;
    }
    changed = complete_error(e, status);
    if (changed > 0) {
        s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        changed = s ? changed : -1;
    }
    json_decref(root);
    if (changed < 0)
        return -ENOMEM;
    if (s) {
        *out = s;
        *out_len = strlen(s);
    }
    return 0;
}

void sl_openai_error_code(const char *body, size_t len, char *code, size_t code_sz, char *type,
                          size_t type_sz)
{
    json_t *root = NULL, *e;

    sl_str_printable(code, code_sz, NULL);
    sl_str_printable(type, type_sz, NULL);
    if (len == 0 || len > ERROR_BODY_MAX)
        return;
    root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    e = json_object_get(root, "error");
    sl_str_printable(code, code_sz, json_string_value(json_object_get(e, "code")));
    sl_str_printable(type, type_sz, json_string_value(json_object_get(e, "type")));
    json_decref(root);
}
