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
