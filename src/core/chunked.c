/* SPDX-License-Identifier: MIT */
/* chunked.c - a chunked body as evhttp 2.1 reads it: which delimiters must become spaces. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/chunked.h"

#include <string.h>

/* Where in a chunk-size line the reader is.  evhttp's test is on the one byte after the
 * digits strtoll() took: the end of the string or a space is a size, anything else corrupt. */
enum line_part {
    LINE_LEAD,   /* nothing yet: an empty line here is skipped, as evhttp does */
    LINE_DIGITS, /* in the hex digits */
    LINE_REST,   /* after a space (or NUL) that ends the digits: evhttp ignores the rest */
    LINE_BWS,    /* blanks after the digits, the first of them a tab: a ';' may follow */
    LINE_EXT,    /* in a chunk extension, its ';' at delim */
    LINE_BAD,    /* evhttp will find this line corrupt */
};

void sl_chunked_init(struct sl_chunked *c, uint64_t max_body)
{
    memset(c, 0, sizeof(*c));
    c->max_body = max_body;
    c->line = LINE_LEAD;
    c->state = SL_CHUNKED_READING;
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* RFC 9110 §5.5 CTL, tab aside: no extension (token or quoted-string) holds one. */
static bool is_ctl(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

/* The first byte of a line.  strtoll() would skip white space and take a sign: such lines
 * are evhttp's alone.  A NUL makes evhttp's string empty, which it skips as an empty line. */
static void lead_byte(struct sl_chunked *c, unsigned char ch)
{
    int v = hex_value(ch);

    if (v >= 0) {
        c->size = (uint64_t)v;
        c->line = LINE_DIGITS;
    } else if (ch == '\0' || ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f' || ch == '\r' ||
               ch == '+' || ch == '-') {
        c->state = SL_CHUNKED_LOST;
    } else {
        c->line = LINE_BAD;
    }
}

/* strtoll() saturates at INT64_MAX; so does this, so that sizes compare as evhttp's do. */
static void add_digit(struct sl_chunked *c, int v)
{
    if (c->size > ((uint64_t)INT64_MAX - (uint64_t)v) / 16)
        c->size = INT64_MAX;
    else
        c->size = c->size * 16 + (uint64_t)v;
}

static void digit_byte(struct sl_chunked *c, unsigned char ch, uint64_t at)
{
    int v = hex_value(ch);

    /* "0x": strtoll() may take it as a prefix. */
    if ((ch == 'x' || ch == 'X') && c->line_len == 2 && c->size == 0) {
        c->state = SL_CHUNKED_LOST;
        return;
    }
    if (v >= 0) {
        add_digit(c, v);
        return;
    }
    c->delim = at;
    if (ch == ' ' || ch == '\0')
        c->line = LINE_REST;
    else if (ch == ';')
        c->line = LINE_EXT;
    else if (ch == '\t')
        c->line = LINE_BWS;
    else
        c->line = LINE_BAD;
}

/* RFC 9112 §7.1.1: chunk-ext = *( BWS ";" ... ); blanks not followed by ';' are not one. */
static void bws_byte(struct sl_chunked *c, unsigned char ch)
{
    if (ch == ';')
        c->line = LINE_EXT;
    else if (ch != ' ' && ch != '\t')
        c->line = LINE_BAD;
}

/* One byte of a line's content (never its LF, nor the CR just before it). */
static void line_byte(struct sl_chunked *c, unsigned char ch, uint64_t at)
{
    if (c->line_len < UINT32_MAX)
        c->line_len++;
    switch (c->line) {
    case LINE_LEAD: lead_byte(c, ch); break;
    case LINE_DIGITS: digit_byte(c, ch, at); break;
    case LINE_BWS: bws_byte(c, ch); break;
    case LINE_EXT:
        if (is_ctl(ch))
            c->ext_bad = true;
        break;
    default: break;
    }
}

/* A chunk size evhttp reads: its two checks, in its order. */
static void chunk_size(struct sl_chunked *c)
{
    if (c->size > UINT64_MAX - c->body)
        c->state = SL_CHUNKED_MALFORMED;
    else if (c->body + c->size > c->max_body)
        c->state = SL_CHUNKED_TOO_LARGE;
    else if (c->size == 0)
        c->state = SL_CHUNKED_DONE;
    else {
        c->body += c->size;
        c->left = c->size;
    }
}

static void line_end(struct sl_chunked *c)
{
    switch (c->line) {
    case LINE_LEAD: break;
    case LINE_DIGITS:
    case LINE_REST: chunk_size(c); break;
    case LINE_EXT:
        if (c->ext_bad || c->line_len > SL_CHUNKED_LINE_MAX) {
            c->state = SL_CHUNKED_MALFORMED;
            break;
        }
        c->has_edit = true; /* at delim: feeding stops until it is taken */
        chunk_size(c);
        break;
    default: c->state = SL_CHUNKED_MALFORMED; break;
    }
    c->line = LINE_LEAD;
    c->line_len = 0;
    c->size = 0;
    c->ext_bad = false;
}

/* A byte of a chunk-size line at position at.  A CR is held back until the next byte says
 * whether it ends the line (CRLF) or belongs to it. */
static void size_line_byte(struct sl_chunked *c, unsigned char ch, uint64_t at)
{
    if (ch == '\n') {
        c->cr = false;
        line_end(c);
        return;
    }
    if (c->cr) {
        c->cr = false;
        line_byte(c, '\r', at - 1);
    }
    if (ch == '\r')
        c->cr = true;
    else if (c->state == SL_CHUNKED_READING)
        line_byte(c, ch, at);
}

size_t sl_chunked_feed(struct sl_chunked *c, const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && c->state == SL_CHUNKED_READING && !c->has_edit) {
        if (c->left) {
            size_t k = n - i < c->left ? n - i : (size_t)c->left;

            c->left -= k;
            c->pos += k;
            i += k;
            continue;
        }
        size_line_byte(c, (unsigned char)p[i], c->pos);
        c->pos++;
        i++;
    }
    return i;
}

bool sl_chunked_take_edit(struct sl_chunked *c, uint64_t *pos)
{
    if (!c->has_edit)
        return false;
    c->has_edit = false;
    *pos = c->delim;
    return true;
}

bool sl_chunked_skip(struct sl_chunked *c, size_t n)
{
    if (c->state != SL_CHUNKED_READING || c->has_edit || c->left < n)
        return false;
    c->left -= n;
    c->pos += n;
    return true;
}
