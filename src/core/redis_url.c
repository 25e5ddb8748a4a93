/* SPDX-License-Identifier: MIT */
/* redis_url.c - parsing redis://[[user]:password@]host[:port][/db]. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/redis_url.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copy [s, s+n) into out (size sz), decoding %XX; false if too long or badly escaped. */
static bool decode(const char *s, size_t n, char *out, size_t sz)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c == '%') {
            int hi, lo;

            if (i + 2 >= n)
                return false;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return false;
            i += 2;
        }
        if (o + 1 >= sz)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static int fail(char *why, size_t sz, const char *msg)
{
    if (why && sz)
        snprintf(why, sz, "%s", msg);
    return -EINVAL;
}

static bool parse_int(const char *s, size_t n, long lo, long hi, long *out)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 10)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int sl_redis_parse_url(const char *url, struct sl_redis_target *out, char *why, size_t why_sz)
{
    const char *p, *at, *hostp, *end, *slash, *colon;
    long v;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!url || strncmp(url, "redis://", 8) != 0)
        return fail(why, why_sz, "must start with redis://");
    p = url + 8;
    slash = strchr(p, '/');
    end = slash ? slash : p + strlen(p);
    /* The last '@' before the path ends the credentials: a password may contain '@'. */
    at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return fail(why, why_sz, "credentials must be [user]:password@");
        if (!decode(p, (size_t)(colon - p), out->user, sizeof(out->user)) ||
            !decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password)))
            return fail(why, why_sz, "user or password too long or badly %-escaped");
        hostp = at + 1;
    } else {
        hostp = p;
    }
    if (*hostp == '[') {
        const char *close = memchr(hostp, ']', (size_t)(end - hostp));

        if (!close || close == hostp + 1 || (size_t)(close - hostp - 1) >= sizeof(out->host))
            return fail(why, why_sz, "bad [IPv6] host");
        memcpy(out->host, hostp + 1, (size_t)(close - hostp - 1));
        colon = close + 1 < end ? close + 1 : NULL;
        if (colon && *colon != ':')
            return fail(why, why_sz, "junk after ]");
    } else {
        colon = memchr(hostp, ':', (size_t)(end - hostp));
        size_t n = (size_t)((colon ? colon : end) - hostp);

        if (n == 0)
            return fail(why, why_sz, "has no host name");
        if (n >= sizeof(out->host))
            return fail(why, why_sz, "host name too long");
        memcpy(out->host, hostp, n);
    }
    for (const char *q = out->host; *q; q++)
        if (*q <= ' ' || *q == '/' || *q == '?' || *q == '#' || (*q == ':' && hostp[0] != '['))
            return fail(why, why_sz, "bad character in host");
    if (colon) {
        if (!parse_int(colon + 1, (size_t)(end - colon - 1), 1, 65535, &v))
            return fail(why, why_sz, "port must be 1..65535");
        out->port = (int)v;
    }
    if (slash && slash[1] != '\0') {
        if (!parse_int(slash + 1, strlen(slash + 1), 0, 1000000, &v))
            return fail(why, why_sz, "database must be a number");
        out->db = (int)v;
    }
    return 0;
}
