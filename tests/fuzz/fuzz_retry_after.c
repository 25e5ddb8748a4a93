/* SPDX-License-Identifier: MIT */
/* fuzz_retry_after.c - libFuzzer target: the upstream's Retry-After and retry-after-ms values
 * (the input up to its first NUL, and after it) through the wait-hint parser, at several wall
 * clocks, checking the clamp and that retry-after-ms wins whenever it parses. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/retry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t nows[] = { 0, 1700000000, 4102444800, INT64_MAX, INT64_MIN };

static struct sl_retry_hint hint(const char *ms, const char *after, int64_t now)
{
    struct sl_retry_hint h = sl_retry_parse_hint(ms, after, now);

    if (h.has_delay && h.delay_ms > SL_RETRY_HINT_MAX_MS)
        abort();
    if (!h.has_delay && h.delay_ms != 0)
        abort();
    return h;
}

/* A value of digits only, surrounding whitespace aside, has an exact meaning (scale: 1 for
 * retry-after-ms, 1000 for Retry-After's delta-seconds); anything else is left unchecked. */
static void check_digits(const char *s, uint64_t scale, struct sl_retry_hint h)
{
    size_t len = strlen(s), b = 0, e = len, i;
    uint64_t v = 0;

    while (b < e && strchr(" \t\r\n", s[b]))
        b++;
    while (e > b && strchr(" \t\r\n", s[e - 1]))
        e--;
    if (b == e || len > SL_RETRY_HINT_MAX_LEN)
        return;
    for (i = b; i < e; i++) {
        if (s[i] < '0' || s[i] > '9')
            return;
        v = v > SL_RETRY_HINT_MAX_MS ? v : v * 10 + (uint64_t)(s[i] - '0');
    }
    v = v > SL_RETRY_HINT_MAX_MS ? SL_RETRY_HINT_MAX_MS : v * scale;
    if (!h.has_delay || h.delay_ms != (v > SL_RETRY_HINT_MAX_MS ? SL_RETRY_HINT_MAX_MS : v))
        abort();
}

static bool same(struct sl_retry_hint a, struct sl_retry_hint b)
{
    return a.has_delay == b.has_delay && a.delay_ms == b.delay_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 2);
    const char *ms, *after;
    size_t i;

    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    copy[size + 1] = '\0';
    ms = copy;
    after = copy + strlen(copy) + 1; /* "" when the input holds no NUL */
    for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
        struct sl_retry_hint only_ms = hint(ms, NULL, nows[i]);
        struct sl_retry_hint only_after = hint(NULL, after, nows[i]);
        struct sl_retry_hint both = hint(ms, after, nows[i]);

        if (!same(both, only_ms.has_delay ? only_ms : only_after))
            abort();
        check_digits(ms, 1, only_ms);
        check_digits(after, 1000, only_after);
        /* Either header alone, whole, as Retry-After too. */
        (void)hint(NULL, ms, nows[i]);
        (void)hint(after, NULL, nows[i]);
    }
    free(copy);
    return 0;
}
