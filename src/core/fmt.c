/* SPDX-License-Identifier: MIT */
/* fmt.c - a bounded string copy and unsigned decimals. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/fmt.h"

#include <string.h>

bool sl_fmt_copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size);
    bool whole = n < size;

    if (!whole)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return whole;
}

size_t sl_fmt_u64(char out[SL_FMT_U64_MAX], uint64_t v)
{
    char rev[SL_FMT_U64_MAX];
    size_t n = 0, i;

    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* v and its unit at out; the length. */
static size_t number_and_unit(char *out, uint64_t v, const char *unit)
{
    size_t n = sl_fmt_u64(out, v), u = strlen(unit);

    memcpy(out + n, unit, u + 1);
    return n + u;
}

size_t sl_fmt_go_duration(char out[SL_FMT_DURATION_MAX], uint64_t ms)
{
    size_t n;

    if (ms < 1000)
        return number_and_unit(out, ms, "ms");
    if (ms < 60000)
        return number_and_unit(out, (ms + 999) / 1000, "s");
    n = number_and_unit(out, ms / 60000, "m");
    return n + number_and_unit(out + n, (ms % 60000 + 999) / 1000, "s");
}
