/* SPDX-License-Identifier: MIT */
/* json_write.c - JSON written directly, byte for byte what jansson's dumps write. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/json_write.h"

#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"

void sl_json_out_init(struct sl_json_out *o, size_t max)
{
    sl_buf_init(&o->b, max);
    o->failed = false;
}

void sl_json_out_put(struct sl_json_out *o, const char *s, size_t n)
{
    if (!o->failed && sl_buf_append(&o->b, s, n) < 0)
        o->failed = true;
}

/* jansson's dump_string() without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH: '"', '\\' and
 * controls escaped (\b \f \n \r \t, else \u00XX in upper case), everything else as is. */
static void escape(struct sl_json_out *o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char seq[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

    switch (c) {
    case '\\': sl_json_out_put(o, "\\\\", 2); break;
    case '"': sl_json_out_put(o, "\\\"", 2); break;
    case '\b': sl_json_out_put(o, "\\b", 2); break;
    case '\f': sl_json_out_put(o, "\\f", 2); break;
    case '\n': sl_json_out_put(o, "\\n", 2); break;
    case '\r': sl_json_out_put(o, "\\r", 2); break;
    case '\t': sl_json_out_put(o, "\\t", 2); break;
    default: sl_json_out_put(o, seq, 6); break;
    }
}

/* A quoted string; fails on what json_stringn() refuses (anything but strict UTF-8). */
void sl_json_out_str(struct sl_json_out *o, const char *s, size_t n)
{
    size_t i = 0, from = 0;
    uint32_t cp;
    int k;

    sl_json_out_put(o, "\"", 1);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x80) {
            if ((k = sl_utf8_decode(s + i, n - i, &cp)) < 0) {
                o->failed = true;
                return;
            }
            i += (size_t)k;
        } else if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
        } else {
            sl_json_out_put(o, s + from, i - from);
            escape(o, c);
            from = ++i;
        }
    }
    sl_json_out_put(o, s + from, n - from);
    sl_json_out_put(o, "\"", 1);
}

void sl_json_out_int(struct sl_json_out *o, long long v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%lld", v);

    sl_json_out_put(o, b, (size_t)n);
}

/* jansson's jsonp_dtostr() at JSON_REAL_PRECISION(15): "%.15g" with a '.' for the decimal
 * point, ".0" when it reads as an integer, no '+' or leading zeros in the exponent. */
void sl_json_out_real(struct sl_json_out *o, double v)
{
    char b[64], *start, *end;
    const char *point = localeconv()->decimal_point;
    int n = snprintf(b, sizeof(b), "%.15g", v);
    size_t len;

    if (n < 0 || (size_t)n >= sizeof(b) - 3) {
        o->failed = true;
        return;
    }
    len = (size_t)n;
    if (*point != '.' && (start = strchr(b, *point)))
        *start = '.';
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        memcpy(b + len, ".0", 3);
        len += 2;
    }
    if ((start = strchr(b, 'e'))) {
        end = ++start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - b));
            len -= (size_t)(end - start);
        }
    }
    sl_json_out_put(o, b, len);
}

/* The NUL-terminated text, or NULL (and nothing to free) if anything failed. */
char *sl_json_out_take(struct sl_json_out *o, size_t *len)
{
    if (o->failed) {
        sl_buf_done(&o->b);
        return NULL;
    }
    return sl_buf_take(&o->b, len);
}
