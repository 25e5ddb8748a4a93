/* SPDX-License-Identifier: MIT */
/* buf.c - bounded growable buffer and a JSON string escaper that accepts any bytes. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_buf_init(struct sl_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sl_buf_done(struct sl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sl_buf_reset(struct sl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *sl_buf_take(struct sl_buf *b, size_t *len)
{
    char *p = b->data;

    if (len)
        *len = b->len;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

static int reserve(struct sl_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return -E2BIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    p = realloc(b->data, ncap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = ncap;
    return 0;
}

int sl_buf_reserve(struct sl_buf *b, size_t extra)
{
    return reserve(b, extra);
}

int sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    int r = reserve(b, n);

    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sl_buf_puts(struct sl_buf *b, const char *s)
{
    return sl_buf_append(b, s, strlen(s));
}

int sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    r = reserve(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

int sl_buf_json_str(struct sl_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start = b->len, i = 0, run;
    char esc[7];
    int r = 0;

    if ((r = sl_buf_append(b, "\"", 1)) < 0)
        return r;
    while (i < n) {
        unsigned c = p[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            run = utf8_seq(p + i, n - i);
            if (run == 0) {
                r = sl_buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD for invalid bytes */
                run = 1;
            } else {
                r = sl_buf_append(b, p + i, run);
            }
            i += run;
        } else {
            switch (c) {
            case '"': r = sl_buf_append(b, "\\\"", 2); break;
            case '\\': r = sl_buf_append(b, "\\\\", 2); break;
            case '\n': r = sl_buf_append(b, "\\n", 2); break;
            case '\r': r = sl_buf_append(b, "\\r", 2); break;
            case '\t': r = sl_buf_append(b, "\\t", 2); break;
            default:
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                r = sl_buf_append(b, esc, 6);
            }
            i++;
        }
        if (r < 0)
            goto fail;
    }
    if ((r = sl_buf_append(b, "\"", 1)) < 0)
        goto fail;
    return 0;
fail:
    b->len = start;
    b->data[start] = '\0';
    return r;
}

void sl_str_printable(char *dst, size_t dst_sz, const char *src)
{
    size_t i = 0;

    if (dst_sz == 0)
        return;
    for (; src && src[i] && i + 1 < dst_sz; i++) {
        unsigned char c = (unsigned char)src[i];

        dst[i] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    dst[i] = '\0';
}
