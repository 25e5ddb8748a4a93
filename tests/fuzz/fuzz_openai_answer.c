/* SPDX-License-Identifier: MIT */
/* fuzz_openai_answer.c - libFuzzer target: sl_openai_answer_text() (src/core/openai_answer.c)
 * on upstream bytes, read as a chat completion and as a Response.  The first byte picks a
 * bound (0..255 bytes, or none); the rest is the answer.  The text read in one pass is the
 * text a jansson reading of the same answer gives (on what the scanner accepts); a bound
 * either keeps that text whole or refuses it, never cuts it. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json_scan.h"
#include "core/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: the same strings through jansson, into out (cap bytes, large enough). */
struct ref {
    char *out;
    size_t len;
    bool found;
};

static void ref_take(struct ref *r, const json_t *s)
{
    size_t n;

    if (!json_is_string(s))
        return;
    r->found = true;
    n = json_string_length(s);
    if (n == 0)
        return;
    if (r->len)
        r->out[r->len++] = '\n';
    memcpy(r->out + r->len, json_string_value(s), n);
    r->len += n;
}

static void ref_chat(json_t *root, struct ref *r)
{
    json_t *choices = json_object_get(root, "choices"), *msg;
    size_t i;

    for (i = 0; json_is_array(choices) && i < json_array_size(choices); i++) {
        msg = json_object_get(json_array_get(choices, i), "message");
        ref_take(r, json_object_get(msg, "content"));
        ref_take(r, json_object_get(msg, "refusal"));
    }
}

static void ref_responses(json_t *root, struct ref *r)
{
    json_t *output = json_object_get(root, "output"), *content, *part;
    const char *type;
    size_t i, k;

    for (i = 0; json_is_array(output) && i < json_array_size(output); i++) {
        content = json_object_get(json_array_get(output, i), "content");
        for (k = 0; json_is_array(content) && k < json_array_size(content); k++) {
            part = json_array_get(content, k);
            type = json_string_value(json_object_get(part, "type"));
            if (type && strcmp(type, "output_text") == 0 &&
                json_string_length(json_object_get(part, "type")) == 11)
                ref_take(r, json_object_get(part, "text"));
            else if (type && strcmp(type, "refusal") == 0 &&
                     json_string_length(json_object_get(part, "type")) == 7)
                ref_take(r, json_object_get(part, "refusal"));
        }
    }
}

/* The unbounded reading against jansson's, when the scanner accepted the text. */
static void check_against_tree(const char *s, size_t n, enum sl_openai_answer shape, int rc,
                               const char *text, size_t len)
{
    struct ref r = { NULL, 0, false };
    json_t *root;

    if (sl_json_check(s, n, SL_JSON_ALLOW_NUL, NULL) != SL_JSON_OBJECT) {
        if (rc != -ENOENT)
            abort();
        return;
    }
    root = json_loadb(s, n, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root))
        abort(); /* the scanner accepted what jansson refuses */
    r.out = malloc(n + 1);
    if (!r.out)
        abort();
    if (shape == SL_OPENAI_ANSWER_CHAT)
        ref_chat(root, &r);
    else
        ref_responses(root, &r);
    if (rc == 0 ? !r.found || r.len != len || memcmp(r.out, text, len) != 0 : r.found)
        abort();
    free(r.out);
    json_decref(root);
}

static void read_as(const char *s, size_t n, enum sl_openai_answer shape, size_t max)
{
    char *all = NULL, *bounded = NULL;
    size_t all_len = 0, bounded_len = 0;
    int rc_all = sl_openai_answer_text(s, n, shape, SIZE_MAX, &all, &all_len);
    int rc = sl_openai_answer_text(s, n, shape, max, &bounded, &bounded_len);

    if (rc_all != 0 && rc_all != -ENOENT)
        abort(); /* -ENOMEM aside, which fuzzing sizes never reach */
    if (rc_all == 0 && (!all || all[all_len] != '\0' || all_len > n))
        abort();
    if (rc_all != 0 && (all || all_len))
        abort();
    check_against_tree(s, n, shape, rc_all, all, all_len);
    /* A bound keeps the whole text or refuses it. */
    if (rc == 0 && (rc_all != 0 || bounded_len != all_len || bounded_len > max ||
                    memcmp(bounded, all, all_len) != 0))
        abort();
    if (rc == -E2BIG && (rc_all != 0 || bounded))
        abort();
    if (rc == -ENOENT && rc_all != -ENOENT)
        abort();
    if (rc != 0 && rc != -E2BIG && rc != -ENOENT)
        abort();
    free(all);
    free(bounded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data + 1;
    size_t max;

    if (size == 0)
        return 0;
    max = data[0] == 0xff ? SIZE_MAX : data[0];
    read_as(s, size - 1, SL_OPENAI_ANSWER_CHAT, max);
    read_as(s, size - 1, SL_OPENAI_ANSWER_RESPONSES, max);
    return 0;
}
