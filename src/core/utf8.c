/* SPDX-License-Identifier: MIT */
/* Strict UTF-8 decoding, code point counting and White_Space trimming for request bodies. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "core/utf8.h"

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* The lead byte fixes the sequence length and the allowed range of the second byte; the
 * narrowed ranges are what exclude overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
static int lead_info(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c == 0xE0)
        *lo = 0xA0;
    else if (c == 0xED)
        *hi = 0x9F;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c == 0xF0)
        *lo = 0x90;
    else if (c == 0xF4)
        *hi = 0x8F;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return -1;
}

int sl_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char lo, hi;
    uint32_t v;
    int n;

    if (len == 0)
        return -1;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    n = lead_info(u[0], &lo, &hi);
    if (n < 0 || len < (size_t)n || u[1] < lo || u[1] > hi)
        return -1;
    v = u[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if (!is_cont(u[i]))
            return -1;
        v = (v << 6) | (u[i] & 0x3F);
    }
    *cp = v;
    return n;
}

ssize_t sl_utf8_count(const char *s, size_t len)
{
    size_t i = 0;
    ssize_t count = 0;
    uint32_t cp;

    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
        } else {
            int n = sl_utf8_decode(s + i, len - i, &cp);

            if (n < 0)
                return -1;
            i += (size_t)n;
        }
        count++;
    }
    return count;
}

bool sl_utf8_is_space(uint32_t cp)
{
    if (cp <= 0x7F)
        return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
    }
}

/* Length of the valid sequence that ends exactly at s[end], or 0 if there is none.  A
 * sequence is at most 4 bytes long, so its lead byte is among the last 4. */
static size_t last_seq(const char *s, size_t end, uint32_t *cp)
{
    for (size_t n = 1; n <= 4 && n <= end; n++) {
        if (!is_cont((unsigned char)s[end - n]))
            return sl_utf8_decode(s + end - n, n, cp) == (int)n ? n : 0;
    }
    return 0;
}

size_t sl_utf8_trim(const char *s, size_t len, size_t *off)
{
    size_t begin = 0, end = len;
    uint32_t cp;

    while (begin < end) {
        int n = sl_utf8_decode(s + begin, end - begin, &cp);

        if (n < 0 || !sl_utf8_is_space(cp))
            break;
        begin += (size_t)n;
    }
    while (end > begin) {
        size_t n = last_seq(s + begin, end - begin, &cp);

        if (n == 0 || !sl_utf8_is_space(cp))
            break;
        end -= n;
    }
    *off = begin;
    return end - begin;
}
