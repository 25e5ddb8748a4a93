/* SPDX-License-Identifier: MIT */
/* fuzz_chunked.c - libFuzzer target: the chunked-body reader (core/chunked.c) on any bytes,
 * fed whole and in pieces, against a model of evhttp 2.1's own chunk reading
 * (evhttp_handle_chunked_read(): lines to LF, strtoll() in base 16, its two size checks)
 * run on the rewritten bytes.  Byte 0 picks the body limit, byte 1 the piece size. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunked.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t limits[] = { 0, 1, 10, 100, 65536, UINT64_MAX };

struct outcome {
    char *out;
    size_t used;
    enum sl_chunked_state state;
    uint64_t body;
};

/* Feeds in[] in pieces of step bytes (0: whole), applying each edit to a copy. */
static struct outcome run(const char *in, size_t len, uint64_t max_body, size_t step)
{
    struct outcome o = { .out = malloc(len + 1) };
    struct sl_chunked c;
    size_t from = 0, to, k;
    uint64_t at;

    if (!o.out)
        abort();
    memcpy(o.out, in, len);
    sl_chunked_init(&c, max_body);
    while (from < len && c.state == SL_CHUNKED_READING) {
        to = step && len - from > step ? from + step : len;
        k = sl_chunked_feed(&c, in + from, to - from);
        from += k;
        if (c.pos != from)
            abort();
        if (sl_chunked_take_edit(&c, &at)) {
            /* Only a delimiter right after a size's digits, inside what was read. */
            if (at == 0 || at >= from || (in[at] != ';' && in[at] != '\t') ||
                !strchr("0123456789abcdefABCDEF", in[at - 1]) || in[at - 1] == '\0')
                abort();
            o.out[at] = ' ';
        } else if (k == 0) {
            abort(); /* nothing read, nothing to take: it would never move again */
        }
    }
    o.used = from;
    o.state = c.state;
    o.body = c.body;
    return o;
}

enum model_result { M_MORE, M_DONE, M_TOO_LONG, M_CORRUPT };

/* One chunk-size line as evhttp_handle_chunked_read() judges it: the line is the C string
 * evbuffer_readln() returns (an embedded NUL ends it). */
static enum model_result model_line(const char *b, size_t l, uint64_t max, uint64_t *body,
                                    long long *n)
{
    char *line = malloc(l + 1), *endp;
    enum model_result r = M_MORE;

    if (!line)
        abort();
    memcpy(line, b, l);
    line[l] = '\0';
    *n = -1; /* an empty line: skipped */
    if (strlen(line) > 0) {
        *n = strtoll(line, &endp, 16);
        if ((*endp != '\0' && *endp != ' ') || *n < 0 || (uint64_t)*n > UINT64_MAX - *body)
            r = M_CORRUPT;
        else if (*body + (uint64_t)*n > max)
            r = M_TOO_LONG;
        else if (*n == 0)
            r = M_DONE;
        else
            *body += (uint64_t)*n;
    }
    free(line);
    return r;
}

/* evhttp_handle_chunked_read() over the whole of b, as libevent 2.1.12 writes it: lines end
 * at LF (a CR before it dropped), chunk data is taken by count.  *pos is where it stopped
 * reading (after the line it judged), *body its body_size. */
static enum model_result model(const char *b, size_t len, uint64_t max, size_t *pos, uint64_t *body)
{
    enum model_result r;
    const char *lf;
    long long n;
    size_t at = 0, l;

    *body = 0;
    for (;;) {
        *pos = at;
        if (!(lf = memchr(b + at, '\n', len - at)))
            return M_MORE;
        l = (size_t)(lf - (b + at));
        if (l && b[at + l - 1] == '\r')
            l--;
        r = model_line(b + at, l, max, body, &n);
        at = (size_t)(lf - b) + 1;
        *pos = at;
        if (r != M_MORE)
            return r;
        if (n <= 0)
            continue;
        if (len - at < (uint64_t)n)
            return M_MORE;
        at += (size_t)n;
    }
}

/* What the reader said of the bytes it rewrote is what evhttp will find in them. */
static void check_against_model(const struct outcome *o, size_t len, uint64_t max)
{
    static const enum model_result want[] = {
        [SL_CHUNKED_READING] = M_MORE,
        [SL_CHUNKED_DONE] = M_DONE,
        [SL_CHUNKED_TOO_LARGE] = M_TOO_LONG,
        [SL_CHUNKED_MALFORMED] = M_CORRUPT,
    };
    enum model_result r;
    uint64_t body;
    size_t pos;

    if (o->state == SL_CHUNKED_LOST)
        return; /* a line evhttp alone judges */
    r = model(o->out, len, max, &pos, &body);
    if (r != want[o->state])
        abort();
    if (r != M_MORE && (pos != o->used || body != o->body))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole, pieces;
    uint64_t max;
    size_t len, step;
    const char *in;

    if (size < 2)
        return 0;
    max = limits[data[0] % (sizeof(limits) / sizeof(limits[0]))];
    step = (size_t)(data[1] % 8);
    in = (const char *)data + 2;
    len = size - 2;
    whole = run(in, len, max, 0);
    pieces = run(in, len, max, step ? step : 1);
    if (whole.state != pieces.state || whole.used != pieces.used || whole.body != pieces.body ||
        memcmp(whole.out, pieces.out, len) != 0)
        abort();
    /* Nothing past what was read is touched. */
    if (memcmp(whole.out + whole.used, in + whole.used, len - whole.used) != 0)
        abort();
    check_against_model(&whole, len, max);
    free(whole.out);
    free(pieces.out);
    return 0;
}
