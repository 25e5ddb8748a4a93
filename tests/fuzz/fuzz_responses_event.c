/* SPDX-License-Identifier: MIT */
/* fuzz_responses_event.c - libFuzzer target: a Responses API stream event through
 * sl_responses_event_read() and a buffered answer through sl_responses_answer_read()
 * (src/core/responses.c).  The input is the event's name up to its first newline (when one
 * comes within 40 bytes) and its data after it; the whole input is also read as an answer.
 * The one-pass reading and the jansson reading give the same event; ids are well-formed or
 * empty; a usage never totals less than its parts; and an answer read on its own and read as
 * the "response" of a response.completed event gives the same id and usage. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/responses.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answer(const struct sl_responses_answer *a)
{
    const struct sl_usage *u = &a->usage;

    if (!memchr(a->id, '\0', sizeof(a->id)) ||
        (a->id[0] && !sl_response_id_valid(a->id, strlen(a->id))))
        abort();
    if (!u->present) {
        if (u->prompt_tokens || u->completion_tokens || u->total_tokens)
            abort();
        return;
    }
    if (u->prompt_tokens < 0 || u->completion_tokens < 0 ||
        u->prompt_tokens > INT64_MAX - u->completion_tokens ||
        u->total_tokens < u->prompt_tokens + u->completion_tokens)
        abort();
}

static bool same_answer(const struct sl_responses_answer *a, const struct sl_responses_answer *b)
{
    return strcmp(a->id, b->id) == 0 && a->usage.present == b->usage.present &&
           a->usage.prompt_tokens == b->usage.prompt_tokens &&
           a->usage.completion_tokens == b->usage.completion_tokens &&
           a->usage.total_tokens == b->usage.total_tokens;
}

static void check_event(const struct sl_responses_event *ev)
{
    static const struct sl_responses_answer none;

    if (ev->kind > SL_RESPONSES_EVENT_INVALID || ev->sequence_number < -1)
        abort();
    check_answer(&ev->response);
    if (ev->kind != SL_RESPONSES_EVENT_CREATED && ev->kind != SL_RESPONSES_EVENT_TERMINAL &&
        !same_answer(&ev->response, &none))
        abort();
    if (ev->kind == SL_RESPONSES_EVENT_INVALID && ev->sequence_number != -1)
        abort();
}

static void read_event(const char *name, size_t name_len, const char *d, size_t len)
{
    struct sl_responses_event ev, tree;
    int r = sl_responses_event_read(name, name_len, d, len, &ev);
    int rt = sl_responses_event_read_tree(name, name_len, d, len, &tree);

    if ((r != 0 && r != -ENOMEM) || (rt != 0 && rt != -ENOMEM))
        abort();
    if (r != 0 || rt != 0)
        return;
    check_event(&ev);
    if (ev.kind != tree.kind || ev.sequence_number != tree.sequence_number ||
        !same_answer(&ev.response, &tree.response))
        abort();
}

/* The answer, then the same bytes as a response.completed event's "response". */
static void read_answer(const char *d, size_t len)
{
    static const char head[] = "{\"type\":\"response.completed\",\"response\":";
    struct sl_responses_answer a;
    struct sl_responses_event ev;
    size_t hl = sizeof(head) - 1;
    char *wrapped;
    int r = sl_responses_answer_read(d, len, &a);

    if (r != 0 && r != -EINVAL && r != -ENOMEM)
        abort();
    check_answer(&a);
    if (r != 0)
        return;
    wrapped = malloc(hl + len + 1);
    if (!wrapped)
        abort();
    memcpy(wrapped, head, hl);
    memcpy(wrapped + hl, d, len);
    wrapped[hl + len] = '}';
    /* INVALID only when the extra level passes jansson's nesting limit. */
    if (sl_responses_event_read(NULL, 0, wrapped, hl + len + 1, &ev) == 0 &&
        ev.kind != SL_RESPONSES_EVENT_INVALID &&
        (ev.kind != SL_RESPONSES_EVENT_TERMINAL || !same_answer(&a, &ev.response)))
        abort();
    free(wrapped);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = size ? memchr(s, '\n', size < 40 ? size : 40) : NULL;
    size_t name_len = nl ? (size_t)(nl - s) : 0;
    size_t skip = nl ? name_len + 1 : 0;

    read_event(nl ? s : NULL, name_len, s + skip, size - skip);
    read_answer(s, size);
    return 0;
}
