/* SPDX-License-Identifier: MIT */
/* fuzz_guard_detect.c - libFuzzer target: the guard's detectors over any bytes, copied into a
 * buffer of exactly their size.  Every span lies inside the text; personal-data spans come in
 * order without overlapping and hold what their kind says (a card passes Luhn, an iban
 * mod-97, an email one '@', an ssn 11 bytes); a markup span starts and ends as its kind
 * says; scanning for one kind gives exactly that kind's findings of the full scan; and a
 * callback returning false stops the scan at once. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/guard_detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALL (SL_GUARD_MARKUP_KINDS | SL_GUARD_PII_KINDS)

struct found {
    struct sl_guard_span *spans;
    size_t n, cap;
};

static bool on_collect(const struct sl_guard_span *span, void *arg)
{
    struct found *f = arg;

    if (f->n == f->cap)
        abort(); /* more findings than bytes twice over */
    f->spans[f->n++] = *span;
    return true;
}

static bool on_stop(const struct sl_guard_span *span, void *arg)
{
    (void)span;
    ++*(size_t *)arg;
    return false;
}

static size_t count(const char *t, size_t n, char c)
{
    size_t k = 0;

    while (n-- > 0)
        k += *t++ == c;
    return k;
}

static void check_pii(const char *t, const struct sl_guard_span *s)
{
    const char *p = t + s->start;
    size_t n = s->end - s->start;

    if ((s->kind == SL_GUARD_CARD && !sl_guard_luhn(p, n)) ||
        (s->kind == SL_GUARD_IBAN && !sl_guard_iban_mod97(p, n)) ||
        (s->kind == SL_GUARD_EMAIL && count(p, n, '@') != 1) ||
        (s->kind == SL_GUARD_SSN && n != 11) || !sl_guard_mask_text(s->kind))
        abort();
}

static void check_markup(const char *t, const struct sl_guard_span *s)
{
    const char *p = t + s->start;
    char last = t[s->end - 1];

    switch (s->kind) {
    case SL_GUARD_HTML:
        if (p[0] != (s->end - s->start == 2 ? '<' : '&'))
            abort();
        break;
    case SL_GUARD_MD_IMAGE:
        if (p[0] != '!' || p[1] != '[' || last != ')')
            abort();
        break;
    case SL_GUARD_MD_LINK:
        if (!(p[0] == '[' && last == ')') && !(p[0] == '<' && last == '>'))
            abort();
        break;
    case SL_GUARD_MD_CODE:
        if (s->end - s->start != 3 || (p[0] != '`' && p[0] != '~') || p[1] != p[0] || p[2] != p[0])
            abort();
        break;
    default: abort();
    }
}

static void check_all(const char *t, size_t size, const struct found *f)
{
    size_t i, pii_end = 0;

    for (i = 0; i < f->n; i++) {
        const struct sl_guard_span *s = &f->spans[i];

        if (s->start >= s->end || s->end > size)
            abort();
        if (SL_GUARD_BIT(s->kind) & SL_GUARD_PII_KINDS) {
            if (s->start < pii_end)
                abort();
            pii_end = s->end;
            check_pii(t, s);
        } else {
            check_markup(t, s);
        }
    }
}

/* Scanning for kind k alone gives the full scan's findings of kind k, in the same order. */
static void check_one_kind(const char *t, size_t size, const struct found *all, struct found *one,
                           int k)
{
    size_t i, j = 0;

    one->n = 0;
    if (!sl_guard_detect(t, size, SL_GUARD_BIT(k), on_collect, one))
        abort();
    for (i = 0; i < all->n; i++) {
        if ((int)all->spans[i].kind != k)
            continue;
        if (j >= one->n || all->spans[i].start != one->spans[j].start ||
            all->spans[i].end != one->spans[j].end || one->spans[j].kind != all->spans[i].kind)
            abort();
        j++;
    }
    if (j != one->n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size ? size : 1);
    struct found all = { 0 }, one = { 0 };
    size_t calls = 0;
    int k;

    all.cap = one.cap = 2 * size + 8;
    all.spans = malloc(all.cap * sizeof(*all.spans));
    one.spans = malloc(one.cap * sizeof(*one.spans));
    if (!t || !all.spans || !one.spans)
        abort();
    if (size)
        memcpy(t, data, size);
    if (!sl_guard_detect(t, size, ALL, on_collect, &all))
        abort();
    check_all(t, size, &all);
    for (k = 0; k < SL_GUARD_KIND_COUNT; k++)
        check_one_kind(t, size, &all, &one, k);
    if (sl_guard_detect(t, size, ALL, on_stop, &calls) != (all.n == 0) || calls != (all.n > 0))
        abort();
    free(one.spans);
    free(all.spans);
    free(t);
    return 0;
}
