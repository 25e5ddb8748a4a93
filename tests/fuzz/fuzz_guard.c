/* SPDX-License-Identifier: MIT */
/* fuzz_guard.c - libFuzzer target: the input guard over request bodies, with a policy drawn
 * from the input's first bytes (limits, markup, personal data, reject or mask, roles, some of
 * a fixed set of deny patterns, one of them built to backtrack) and a body that is either the
 * rest of the input when it is JSON, or built from its lines as the messages of the shape.
 * Every check ends (no hang: the pattern bounds hold); a refusal names a rule and, for the
 * /v1 shapes, a field; a masked body is JSON again, with the same number of messages, and
 * its length is right; nothing is masked when the request is refused. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD 6 /* bytes that choose the policy and the shape */

static const char *const patterns[] = {
    "(?i)ignore (all )?previous instructions",
    "\\b\\d{3}-\\d{4}\\b",
    "^(a|aa)+$",
    "(x+x+)+y",
    "[\\x{1F600}-\\x{1F64F}]",
    "(?<=@)\\w+",
};

static const char *const markup_names[] = { "html", "md_image", "md_link", "md_code" };
static const char *const pii_names[] = { "email", "phone", "card", "ssn", "iban" };
static const char *const role_names[] = { "user", "system", "developer", "assistant", "tool" };

/* "a, b" of the names whose bit is set. */
static void list_of(char *out, size_t cap, const char *const *names, size_t n, unsigned bits)
{
    size_t i, o = 0;

    out[0] = '\0';
    for (i = 0; i < n; i++)
        if (bits & (1u << i))
            o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "", names[i]);
}

static struct sl_guard_policy *policy_of(const uint8_t *h)
{
    struct sl_guard_policy *p = sl_guard_policy_new("fuzz");
    char v[128], why[256];
    size_t i;

    if (!p)
        abort();
    snprintf(v, sizeof(v), "%u", h[0] & 0x0f ? (unsigned)(h[0] & 0x0f) * 7 : 0u);
    (void)sl_guard_policy_set(p, "max_message_chars", v, why, sizeof(why));
    snprintf(v, sizeof(v), "%u", (unsigned)(h[0] >> 4));
    (void)sl_guard_policy_set(p, "max_messages", v, why, sizeof(why));
    list_of(v, sizeof(v), markup_names, 4, h[1] & 0x0f);
    if (*v && sl_guard_policy_set(p, "deny_markup", v, why, sizeof(why)) < 0)
        abort();
    list_of(v, sizeof(v), pii_names, 5, h[2] & 0x1f);
    if (*v && sl_guard_policy_set(p, "pii", v, why, sizeof(why)) < 0)
        abort();
    if (sl_guard_policy_set(p, "pii_action", h[2] & 0x20 ? "mask" : "reject", why, sizeof(why)) < 0)
        abort();
    list_of(v, sizeof(v), role_names, 5, h[3] & 0x1f);
    if (*v && sl_guard_policy_set(p, "roles", v, why, sizeof(why)) < 0)
        abort();
    for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
        if ((h[4] & (1u << i)) &&
            sl_guard_policy_add_pattern(p, patterns[i], (int)i + 1, why, sizeof(why)) < 0)
            abort();
    return p;
}

/* One message of the shape around text. */
static json_t *message(enum sl_guard_shape shape, json_t *text, size_t i)
{
    if (shape == SL_GUARD_SHAPE_EMBEDDINGS)
        return text;
    if (i % 3 == 2) /* parts */
        text = json_pack("[{s:s,s:o}]", "type",
                         shape == SL_GUARD_SHAPE_RESPONSES ? "input_text" : "text", "text", text);
    return json_pack("{s:s,s:o}", "role", role_names[i % 5], "content", text);
}

/* The input's lines (valid UTF-8 ones) as the messages of the shape. */
static char *build_body(enum sl_guard_shape shape, const char *s, size_t n)
{
    json_t *root = json_object(), *arr = json_array(), *t;
    const char *nl;
    size_t i = 0;
    char *out;

    while (n > 0 && i < 64) {
        nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t)(nl - s) : n;
        if ((t = json_stringn(s, len)))
            json_array_append_new(arr, message(shape, t, i++));
        s += len + (nl != NULL);
        n -= len + (nl != NULL);
    }
    json_object_set_new(root, "model", json_string("m"));
    if (shape == SL_GUARD_SHAPE_RESPONSES && json_array_size(arr) > 0 &&
        json_is_string(json_object_get(json_array_get(arr, 0), "content")))
        json_object_set(root, "instructions", json_object_get(json_array_get(arr, 0), "content"));
    json_object_set_new(root,
                        shape == SL_GUARD_SHAPE_RESPONSES || shape == SL_GUARD_SHAPE_EMBEDDINGS
                            ? "input"
                            : "messages",
                        arr);
    out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

static size_t messages_in(json_t *doc)
{
    json_t *a = json_object_get(doc, "messages");

    return json_array_size(a ? a : json_object_get(doc, "input"));
}

static void check(const struct sl_guard_policy *p, enum sl_guard_shape shape, const char *body)
{
    struct sl_guard_verdict v;
    json_t *before, *after;
    int rc = sl_guard_check(p, shape, body, strlen(body), &v);

    if (rc < 0 || (v.refused && v.body)) /* the body was built valid */
        abort();
    if (v.refused &&
        (!sl_guard_rule_name(v.rule) || (shape != SL_GUARD_SHAPE_API_CHAT && v.param[0] == '\0')))
        abort();
    if (v.body) {
        if (strlen(v.body) != v.body_len)
            abort();
        before = json_loads(body, JSON_ALLOW_NUL, NULL);
        after = json_loadb(v.body, v.body_len, JSON_ALLOW_NUL, NULL);
        if (!after || messages_in(before) != messages_in(after))
            abort();
        json_decref(before);
        json_decref(after);
    }
    sl_guard_verdict_done(&v);
}

static void check_as_is(const struct sl_guard_policy *p, enum sl_guard_shape shape, const char *s,
                        size_t n)
{
    struct sl_guard_verdict v;
    json_t *doc;

    if (sl_guard_check(p, shape, s, n, &v) == 0 && v.body) {
        if (!(doc = json_loadb(v.body, v.body_len, JSON_ALLOW_NUL, NULL)))
            abort();
        json_decref(doc);
    }
    sl_guard_verdict_done(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum sl_guard_shape shapes[] = { SL_GUARD_SHAPE_API_CHAT, SL_GUARD_SHAPE_CHAT,
                                                  SL_GUARD_SHAPE_RESPONSES,
                                                  SL_GUARD_SHAPE_EMBEDDINGS };
    struct sl_guard_policy *p;
    enum sl_guard_shape shape;
    json_t *doc;
    char *body;

    if (size < HEAD || size > (1u << 16))
        return 0;
    p = policy_of(data);
    shape = shapes[data[5] & 3];
    doc = json_loadb((const char *)data + HEAD, size - HEAD,
                     JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    /* A JSON object is checked as it came: of the shape or not, the check ends, and what it
     * masks is JSON. */
    if (json_is_object(doc))
        check_as_is(p, shape, (const char *)data + HEAD, size - HEAD);
    json_decref(doc);
    body = build_body(shape, (const char *)data + HEAD, size - HEAD);
    if (body)
        check(p, shape, body);
    free(body);
    sl_guard_policy_free(p);
    return 0;
}
