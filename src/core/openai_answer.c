/* SPDX-License-Identifier: MIT */
/* openai_answer.c - the text a buffered answer gives its client, read in one pass without a
 * tree, for the prompt log. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/openai.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_scan.h"

/* The strings found so far.  Walked twice: first to measure (out NULL: len counts the bytes
 * as written, an upper bound of the decoded ones), then to decode into out. */
struct collect {
    char *out;
    size_t len;
    size_t max;
    bool found; /* a string was there, even an empty one */
    bool over;  /* measuring: past max */
};

/* One string of the answer (anything else is passed over).  A non-empty string decodes to a
 * non-empty one, so both walks put the separators in the same places. */
static void take(struct collect *c, struct sl_json_span s)
{
    size_t raw, sep, n;

    if (sl_json_type_of(s) != SL_JSON_STRING || c->over)
        return;
    c->found = true;
    raw = s.len - 2;
    if (raw == 0)
        return;
    sep = c->len ? 1 : 0;
    if (!c->out) {
        if (raw + sep > c->max - c->len)
            c->over = true;
        else
            c->len += raw + sep;
        return;
    }
    if (sep)
        c->out[c->len++] = '\n';
    /* The measure left room for the raw bytes and the terminating NUL. */
    if (sl_json_str_decode(s, c->out + c->len, raw + 1, &n))
        c->len += n;
}

static void walk_chat(struct sl_json_span root, struct collect *c)
{
    static const char *const names[] = { "content", "refusal" };
    struct sl_json_span choices, choice, msg, v[2];
    struct sl_json_iter it;

    if (!sl_json_get(root, "choices", &choices))
        return;
    sl_json_iter_init(&it, choices);
    while (sl_json_next_element(&it, &choice)) {
        if (!sl_json_get(choice, "message", &msg))
            continue;
        sl_json_get_many(msg, names, v, 2);
        take(c, v[0]);
        take(c, v[1]);
    }
}

/* One part of an output item's content: its text or its refusal, by its type. */
static void take_part(struct collect *c, struct sl_json_span part)
{
    static const char *const names[] = { "type", "text", "refusal" };
    struct sl_json_span v[3];

    sl_json_get_many(part, names, v, 3);
    if (sl_json_str_eq(v[0], "output_text", 11))
        take(c, v[1]);
    else if (sl_json_str_eq(v[0], "refusal", 7))
        take(c, v[2]);
}

static void walk_responses(struct sl_json_span root, struct collect *c)
{
    struct sl_json_span output, item, content, part;
    struct sl_json_iter items, parts;

    if (!sl_json_get(root, "output", &output))
        return;
    sl_json_iter_init(&items, output);
    while (sl_json_next_element(&items, &item)) {
        if (!sl_json_get(item, "content", &content))
            continue;
        sl_json_iter_init(&parts, content);
        while (sl_json_next_element(&parts, &part))
            take_part(c, part);
    }
}

static void walk(struct sl_json_span root, enum sl_openai_answer shape, struct collect *c)
{
    if (shape == SL_OPENAI_ANSWER_CHAT)
        walk_chat(root, c);
    else if (shape == SL_OPENAI_ANSWER_RESPONSES)
        walk_responses(root, c);
}

int sl_openai_answer_text(const char *body, size_t len, enum sl_openai_answer shape, size_t max,
                          char **text, size_t *text_len)
{
    struct collect c = { .max = max };
    struct sl_json_span root;

    *text = NULL;
    *text_len = 0;
    if (sl_json_check(body, len, SL_JSON_ALLOW_NUL, &root) != SL_JSON_OBJECT)
        return -ENOENT;
    walk(root, shape, &c);
    if (c.over)
        return -E2BIG;
    if (!c.found)
        return -ENOENT;
    if (!(c.out = malloc(c.len + 1)))
        return -ENOMEM;
    c.len = 0;
    walk(root, shape, &c);
    c.out[c.len] = '\0';
    *text = c.out;
    *text_len = c.len;
    return 0;
}
