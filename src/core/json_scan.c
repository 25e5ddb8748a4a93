/* SPDX-License-Identifier: MIT */
/* json_scan.c - a one-pass JSON validator that agrees with jansson, and a reader over the
 * text it accepted. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/json_scan.h"

#include <string.h>

#include "core/utf8.h"

/* Keys tracked at once on the path from the root, for duplicate detection. */
#define KEYS_TOTAL 128
/* A real is sure not to overflow a double (about 1.8e308) if its integer digits plus its
 * exponent stay at or below this; anything closer is left to jansson's strtod(). */
#define REAL_SAFE_MAGNITUDE 300
/* Integers of up to 18 digits always fit jansson's int64; longer ones are left to it. */
#define INT_SAFE_DIGITS 18

struct key {
    uint32_t hash;
    uint32_t len;
    const char *p;
};

struct chk {
    const unsigned char *s;
    size_t n, i;
    unsigned flags;
    unsigned depth;
    const char *const *names; /* root members to capture, or NULL */
    struct sl_json_span *vals;
    size_t nnames;
    size_t nkeys;
    struct key keys[KEYS_TOTAL];
};

/* 1 for the bytes that end a run of plain string bytes: controls, '"', '\\', non-ASCII. */
static const unsigned char special[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1, [0x80 ... 0xff] = 1,
};

static bool value(struct chk *c);

static bool is_ws(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static inline void ws(struct chk *c)
{
    const unsigned char *s = c->s;
    size_t i = c->i, n = c->n;

    if (i < n && s[i] > ' ')
        return; /* compact JSON: the usual case */
    while (i < n && is_ws(s[i]))
        i++;
    c->i = i;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* The high bit of each byte of v equal to c.  A byte above a marked one may be marked too
 * (the borrow runs upwards), so only the lowest mark is exact: enough to find the first. */
static inline uint64_t bytes_eq(uint64_t v, unsigned char c)
{
    uint64_t x = v ^ (ONES * c);

    return (x - ONES) & ~x & HIGHS;
}

/* Likewise for the bytes that end a run of plain string bytes in the validator: a quote, a
 * backslash, a control byte (below 0x20) or a non-ASCII one. */
static inline uint64_t string_stops(uint64_t v)
{
    return bytes_eq(v, '"') | bytes_eq(v, '\\') | (v & HIGHS) | ((v - ONES * 0x20) & ~v & HIGHS);
}

/* The offset (0..7) of the lowest marked byte of m (not 0) as the bytes lie in memory; 0 where
 * that takes more than a bit scan, leaving the search to the caller's byte loop. */
static inline size_t first_marked(uint64_t m)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    (void)m;
    return 0;
#endif
}

/* From s[i], eight bytes at a time while eight are left: the index of the first byte that
 * ends a run of plain string bytes (on a little-endian machine; elsewhere one at most seven
 * bytes before it), or where fewer than eight are left.  The caller's byte loop goes on from
 * there.  validating: the validator's stops (string_stops()), else quotes and backslashes. */
static inline size_t string_run(const unsigned char *s, size_t i, size_t n, bool validating)
{
    uint64_t v, m;

    while (n - i >= 8) {
        memcpy(&v, s + i, 8);
        m = validating ? string_stops(v) : bytes_eq(v, '"') | bytes_eq(v, '\\');
        if (m)
            return i + first_marked(m);
        i += 8;
    }
    return i;
}

static bool is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Four hex digits at s[i]: their value, or -1. */
static long hex4(const unsigned char *s, size_t i, size_t n)
{
    long v = 0;
    int d, k;

    if (n < 4 || i > n - 4)
        return -1;
    for (k = 0; k < 4; k++) {
        if ((d = hexval(s[i + k])) < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A \u escape at s[i] (the 'u'): jansson refuses lone and mismatched surrogates, and
 * U+0000 unless allowed.  Advances past it (and its pair). */
static bool unicode_escape(struct chk *c, bool allow_nul)
{
    long cp = hex4(c->s, c->i + 1, c->n), lo;

    if (cp < 0)
        return false;
    c->i += 5;
    if (cp == 0)
        return allow_nul;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return false;
    if (cp < 0xd800 || cp > 0xdbff)
        return true;
    if (c->i + 1 >= c->n || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u')
        return false;
    lo = hex4(c->s, c->i + 2, c->n);
    if (lo < 0xdc00 || lo > 0xdfff)
        return false;
    c->i += 6;
    return true;
}

static bool escape(struct chk *c, bool allow_nul)
{
    if (++c->i >= c->n)
        return false;
    switch (c->s[c->i]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': c->i++; return true;
    case 'u': return unicode_escape(c, allow_nul);
    default: return false;
    }
}

/* The rest of a string from s[i] on, whatever it holds: escapes, non-ASCII bytes. */
static bool string_rest(struct chk *c, size_t i, bool key, bool *escaped)
{
    bool allow_nul = !key && (c->flags & SL_JSON_ALLOW_NUL);
    uint32_t cp;
    int k;

    for (;;) {
        /* Locals: stores through c could alias the bytes, and reloading them per byte
         * doubles the cost of the loop that sees most of the input. */
        const unsigned char *s = c->s;
        size_t n = c->n;

        i = string_run(s, i, n, true);
        while (i < n && !special[s[i]])
            i++;
        c->i = i;
        if (c->i >= c->n)
            return false;
        switch (c->s[c->i]) {
        case '"': c->i++; return true;
        case '\\':
            *escaped = true;
            if (!escape(c, allow_nul))
                return false;
            i = c->i;
            continue;
        default:
            if (c->s[c->i] < 0x20)
                return false;
            k = sl_utf8_decode((const char *)c->s + c->i, c->n - c->i, &cp);
            if (k < 0)
                return false;
            i = c->i + (size_t)k;
        }
    }
}

/* A string at s[i] ('"').  *escaped: it held a backslash.  Most strings are plain ASCII that
 * the first run reaches the end of, which needs nothing more. */
static inline bool string(struct chk *c, bool key, bool *escaped)
{
    size_t i = string_run(c->s, c->i + 1, c->n, true);

    *escaped = false;
    if (i < c->n && c->s[i] == '"') {
        c->i = i + 1;
        return true;
    }
    return string_rest(c, i, key, escaped);
}

static size_t digits(struct chk *c)
{
    size_t start = c->i;

    while (c->i < c->n && is_digit(c->s[c->i]))
        c->i++;
    return c->i - start;
}

/* RFC 8259's number grammar, which jansson's lexer follows; see INT_SAFE_DIGITS and
 * REAL_SAFE_MAGNITUDE for what is left to jansson. */
static bool number(struct chk *c)
{
    size_t int_digits, exp_digits;
    bool real = false, neg_exp = false;
    long long exp = 0;
    size_t k;

    if (c->i < c->n && c->s[c->i] == '-')
        c->i++;
    if (c->i >= c->n || !is_digit(c->s[c->i]))
        return false;
    if (c->s[c->i] == '0') {
        c->i++;
        if (c->i < c->n && is_digit(c->s[c->i]))
            return false;
        int_digits = 1;
    } else {
        int_digits = digits(c);
    }
    if (c->i < c->n && c->s[c->i] == '.') {
        c->i++;
        if (digits(c) == 0)
            return false;
        real = true;
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
            neg_exp = c->s[c->i++] == '-';
        k = c->i;
        if ((exp_digits = digits(c)) == 0)
            return false;
        for (; k < c->i && exp < 1000000; k++)
            exp = exp * 10 + (c->s[k] - '0');
        real = true;
    }
    if (!real)
        return int_digits <= INT_SAFE_DIGITS;
    if (int_digits > REAL_SAFE_MAGNITUDE)
        return false;
    return neg_exp || (long long)int_digits + exp <= REAL_SAFE_MAGNITUDE;
}

static bool literal(struct chk *c, const char *word, size_t len)
{
    if (c->n - c->i < len || memcmp(c->s + c->i, word, len) != 0)
        return false;
    c->i += len;
    return true;
}

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;

    while (n--)
        h = (h ^ *p++) * 16777619u;
    return h;
}

/* Under REJECT_DUPLICATES: record the key s[from..to) (its raw text between the quotes) among
 * those of the object whose keys start at first.  false for a duplicate, and for what is left
 * to jansson: an escaped key (its decoded form would have to be compared), too many keys. */
static bool track_key(struct chk *c, size_t first, size_t from, size_t to, bool escaped)
{
    const unsigned char *p = c->s + from;
    size_t len = to - from, k;
    uint32_t h;

    if (escaped || c->nkeys >= KEYS_TOTAL || c->nkeys - first >= SL_JSON_MAX_KEYS)
        return false;
    h = fnv1a(p, len);
    for (k = first; k < c->nkeys; k++)
        if (c->keys[k].hash == h && c->keys[k].len == len && memcmp(c->keys[k].p, p, len) == 0)
            return false;
    c->keys[c->nkeys].hash = h;
    c->keys[c->nkeys].len = (uint32_t)len;
    c->keys[c->nkeys].p = (const char *)p;
    c->nkeys++;
    return true;
}

/* Which of the root members asked for is this key (its span, quotes included)?  -1: none. */
static int wanted(const struct chk *c, const char *key, size_t len)
{
    struct sl_json_span k = { key, len };
    size_t j;

    for (j = 0; j < c->nnames; j++)
        if (sl_json_str_eq(k, c->names[j], strlen(c->names[j])))
            return (int)j;
    return -1;
}

static bool member(struct chk *c, size_t first)
{
    size_t from, at;
    bool escaped;
    int want = -1;

    ws(c);
    if (c->i >= c->n || c->s[c->i] != '"')
        return false;
    from = c->i + 1;
    if (!string(c, true, &escaped))
        return false;
    if ((c->flags & SL_JSON_REJECT_DUPLICATES) && !track_key(c, first, from, c->i - 1, escaped))
        return false;
    if (c->depth == 1 && c->nnames)
        want = wanted(c, (const char *)c->s + from - 1, c->i - from + 1);
    ws(c);
    if (c->i >= c->n || c->s[c->i] != ':')
        return false;
    c->i++;
    ws(c);
    at = c->i;
    if (!value(c))
        return false;
    if (want >= 0) { /* the last one wins, as in jansson */
        c->vals[want].p = (const char *)c->s + at;
        c->vals[want].len = c->i - at;
    }
    return true;
}

/* The members (or elements) after the opening bracket, up to the closing one. */
static bool container(struct chk *c, unsigned char close)
{
    size_t first = c->nkeys;
    bool ok = false;

    if (++c->depth > SL_JSON_MAX_DEPTH)
        return false;
    c->i++;
    ws(c);
    if (c->i < c->n && c->s[c->i] == close) {
        c->i++;
        ok = true;
        goto out;
    }
    for (;;) {
        if (!(close == '}' ? member(c, first) : value(c)))
            goto out;
        ws(c);
        if (c->i >= c->n)
            goto out;
        if (c->s[c->i] == close) {
            c->i++;
            ok = true;
            goto out;
        }
        if (c->s[c->i] != ',')
            goto out;
        c->i++;
    }
out:
    c->nkeys = first;
    c->depth--;
    return ok;
}

static bool value(struct chk *c)
{
    bool escaped;

    ws(c);
    if (c->i >= c->n)
        return false;
    switch (c->s[c->i]) {
    case '{': return container(c, '}');
    case '[': return container(c, ']');
    case '"': return string(c, false, &escaped);
    case 't': return literal(c, "true", 4);
    case 'f': return literal(c, "false", 5);
    case 'n': return literal(c, "null", 4);
    default: return number(c);
    }
}

enum sl_json_type sl_json_check(const char *s, size_t len, unsigned flags,
                                struct sl_json_span *root)
{
    return sl_json_scan(s, len, flags, root, NULL, NULL, 0);
}

enum sl_json_type sl_json_scan(const char *s, size_t len, unsigned flags, struct sl_json_span *root,
                               const char *const *names, struct sl_json_span *vals, size_t nnames)
{
    struct chk c;
    size_t start, j;
    unsigned char open;

    c.s = (const unsigned char *)s;
    c.n = s ? len : 0;
    c.i = 0;
    c.flags = flags;
    c.depth = 0;
    c.names = names;
    c.vals = vals;
    c.nnames = names && vals ? nnames : 0;
    c.nkeys = 0;
    for (j = 0; j < c.nnames; j++) {
        vals[j].p = NULL;
        vals[j].len = 0;
    }
    ws(&c);
    if (c.i >= c.n || (c.s[c.i] != '{' && c.s[c.i] != '['))
        return SL_JSON_NONE;
    start = c.i;
    open = c.s[c.i];
    if (!value(&c))
        return SL_JSON_NONE;
    if (root) {
        root->p = s + start;
        root->len = c.i - start;
    }
    ws(&c);
    if (c.i != c.n)
        return SL_JSON_NONE;
    return open == '{' ? SL_JSON_OBJECT : SL_JSON_ARRAY;
}

/* ---- the walk ---------------------------------------------------------------------------- */

/* The validator at the walk's position.  No key table: the walk takes no REJECT_DUPLICATES. */
static void chk_at(struct chk *c, const struct sl_json_walk *w)
{
    c->s = (const unsigned char *)w->s;
    c->n = w->n;
    c->i = w->i;
    c->flags = w->flags;
    c->depth = w->depth;
    c->names = NULL;
    c->vals = NULL;
    c->nnames = 0;
    c->nkeys = 0;
}

void sl_json_walk_init(struct sl_json_walk *w, const char *s, size_t len, unsigned flags)
{
    w->s = s;
    w->n = s ? len : 0;
    w->i = 0;
    w->flags = flags;
    w->depth = 0;
    w->fresh = false;
    w->rooted = false;
}

static inline char peek(struct sl_json_walk *w)
{
    size_t i = w->i;

    if (i < w->n && (unsigned char)w->s[i] > ' ')
        return w->s[i]; /* compact JSON: the usual case */
    while (i < w->n && is_ws((unsigned char)w->s[i]))
        i++;
    w->i = i;
    return i < w->n ? w->s[i] : 0;
}

char sl_json_walk_peek(struct sl_json_walk *w)
{
    return peek(w);
}

bool sl_json_walk_enter(struct sl_json_walk *w, char open)
{
    if ((w->flags & SL_JSON_REJECT_DUPLICATES) || (open != '{' && open != '[') || peek(w) != open ||
        w->depth >= SL_JSON_MAX_DEPTH)
        return false;
    if (w->depth == 0) {
        if (w->rooted)
            return false; /* a second root */
        w->rooted = true;
    }
    w->depth++;
    w->i++;
    w->fresh = true;
    return true;
}

/* Past the comma before the next member or element of the container entered: 1 there, 0 past
 * the container's end, -1 for anything else. */
static int walk_next(struct sl_json_walk *w, char close)
{
    char ch = peek(w);

    if (ch == close) {
        w->i++;
        w->depth--;
        w->fresh = false; /* the container was a value of the one around it */
        return 0;
    }
    if (!w->fresh) {
        if (ch != ',')
            return -1;
        w->i++;
    }
    w->fresh = false;
    return 1;
}

int sl_json_walk_member(struct sl_json_walk *w, struct sl_json_span *key, bool *escaped)
{
    struct chk c;
    int r = walk_next(w, '}');

    if (r <= 0)
        return r;
    chk_at(&c, w);
    ws(&c);
    if (c.i >= c.n || c.s[c.i] != '"')
        return -1;
    key->p = w->s + c.i;
    if (!string(&c, true, escaped))
        return -1;
    key->len = (size_t)((const char *)c.s + c.i - key->p);
    ws(&c);
    if (c.i >= c.n || c.s[c.i] != ':')
        return -1;
    w->i = c.i + 1;
    return 1;
}

int sl_json_walk_element(struct sl_json_walk *w)
{
    return walk_next(w, ']');
}

bool sl_json_walk_value(struct sl_json_walk *w, struct sl_json_span *v)
{
    struct chk c;
    size_t at;

    if (w->depth == 0)
        return false; /* the root is entered, never passed */
    chk_at(&c, w);
    ws(&c);
    at = c.i;
    if (!value(&c))
        return false;
    w->i = c.i;
    if (v) {
        v->p = w->s + at;
        v->len = c.i - at;
    }
    return true;
}

bool sl_json_walk_end(struct sl_json_walk *w)
{
    return w->rooted && w->depth == 0 && peek(w) == 0 && w->i == w->n;
}

/* ---- the reader ------------------------------------------------------------------------ */

static size_t skip_ws(const char *p, size_t i, size_t n)
{
    while (i < n && is_ws((unsigned char)p[i]))
        i++;
    return i;
}

/* p[i] is '"': the index just past the closing quote (n if there is none).  A quote closes
 * the string unless an odd run of backslashes precedes it. */
size_t sl_json_skip_string(const char *p, size_t i, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;

    if (i >= n)
        return n;
    for (i++;;) {
        i = string_run(s, i, n, false);
        while (i < n && s[i] != '"' && s[i] != '\\')
            i++;
        if (i >= n)
            return n;
        if (s[i] == '"')
            return i + 1;
        if (n - i < 2)
            return n; /* a backslash with nothing after it */
        i += 2;
    }
}

/* The bytes that matter when skipping a container: quotes and brackets. */
static const unsigned char structural[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1,
};

/* A value at p[i]: the index just past it. */
static size_t skip_value(const char *p, size_t i, size_t n)
{
    size_t depth = 0;

    if (i >= n)
        return n;
    if (p[i] != '{' && p[i] != '[' && p[i] != '"') {
        while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && !is_ws((unsigned char)p[i]))
            i++;
        return i;
    }
    while (i < n) {
        char ch;

        while (i < n && !structural[(unsigned char)p[i]])
            i++;
        if (i >= n)
            break;
        ch = p[i];
        if (ch == '"') {
            i = sl_json_skip_string(p, i, n);
            if (depth == 0)
                return i;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (--depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

enum sl_json_type sl_json_type_of(struct sl_json_span v)
{
    if (!v.p || v.len == 0)
        return SL_JSON_NONE;
    switch (v.p[0]) {
    case '{': return SL_JSON_OBJECT;
    case '[': return SL_JSON_ARRAY;
    case '"': return SL_JSON_STRING;
    case 't': return SL_JSON_TRUE;
    case 'f': return SL_JSON_FALSE;
    case 'n': return SL_JSON_NULL;
    default: break;
    }
    return memchr(v.p, '.', v.len) || memchr(v.p, 'e', v.len) || memchr(v.p, 'E', v.len)
               ? SL_JSON_REAL
               : SL_JSON_INTEGER;
}

void sl_json_iter_init(struct sl_json_iter *it, struct sl_json_span container)
{
    it->p = container.p;
    it->n = container.len;
    it->i = 1;
}

/* Past the separator before the next item: its index, or n at the container's end. */
static size_t next_item(const struct sl_json_iter *it, char open)
{
    size_t i;

    if (!it->p || it->n < 2 || it->p[0] != open)
        return it->n;
    i = skip_ws(it->p, it->i, it->n);
    if (i < it->n && it->p[i] == ',')
        i = skip_ws(it->p, i + 1, it->n);
    if (i >= it->n || it->p[i] == '}' || it->p[i] == ']')
        return it->n;
    return i;
}

static size_t take_value(const struct sl_json_iter *it, size_t i, struct sl_json_span *val)
{
    size_t end = skip_value(it->p, i, it->n);

    val->p = it->p + i;
    val->len = end - i;
    return end;
}

bool sl_json_next_member(struct sl_json_iter *it, struct sl_json_span *key,
                         struct sl_json_span *val)
{
    size_t i = next_item(it, '{'), end;

    if (i >= it->n || it->p[i] != '"')
        return false;
    end = sl_json_skip_string(it->p, i, it->n);
    key->p = it->p + i;
    key->len = end - i;
    i = skip_ws(it->p, end, it->n);
    if (i >= it->n || it->p[i] != ':')
        return false;
    i = skip_ws(it->p, i + 1, it->n);
    it->i = take_value(it, i, val);
    return true;
}

bool sl_json_next_element(struct sl_json_iter *it, struct sl_json_span *val)
{
    size_t i = next_item(it, '[');

    if (i >= it->n)
        return false;
    it->i = take_value(it, i, val);
    return true;
}

bool sl_json_get(struct sl_json_span obj, const char *name, struct sl_json_span *val)
{
    struct sl_json_iter it;
    struct sl_json_span k, v;
    size_t n = strlen(name);
    bool found = false;

    sl_json_iter_init(&it, obj);
    while (sl_json_next_member(&it, &k, &v)) {
        if (sl_json_str_eq(k, name, n)) {
            *val = v;
            found = true;
        }
    }
    return found;
}

size_t sl_json_get_many(struct sl_json_span obj, const char *const *names,
                        struct sl_json_span *vals, size_t n)
{
    struct sl_json_iter it;
    struct sl_json_span k, v;
    size_t j, found = 0;

    for (j = 0; j < n; j++) {
        vals[j].p = NULL;
        vals[j].len = 0;
    }
    sl_json_iter_init(&it, obj);
    while (sl_json_next_member(&it, &k, &v)) {
        for (j = 0; j < n; j++) {
            if (sl_json_str_eq(k, names[j], strlen(names[j]))) {
                found += !vals[j].p;
                vals[j] = v;
                break;
            }
        }
    }
    return found;
}

bool sl_json_is_empty(struct sl_json_span v)
{
    size_t i;

    if (v.len < 2 || (v.p[0] != '{' && v.p[0] != '['))
        return false;
    i = skip_ws(v.p, 1, v.len);
    return i < v.len && (v.p[i] == '}' || v.p[i] == ']');
}

size_t sl_json_array_size(struct sl_json_span v)
{
    struct sl_json_iter it;
    struct sl_json_span e;
    size_t count = 0;

    sl_json_iter_init(&it, v);
    while (sl_json_next_element(&it, &e))
        count++;
    return count;
}

bool sl_json_str_has_escape(struct sl_json_span str)
{
    return str.len >= 2 && memchr(str.p + 1, '\\', str.len - 2) != NULL;
}

static size_t put_utf8(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The escape at p[*i] ('\\') of validated text: its decoded bytes in out (1..4), *i moved
 * past it; 0 for a malformed one. */
static size_t unescape(const char *p, size_t *i, size_t end, char *out)
{
    const unsigned char *u = (const unsigned char *)p;
    long cp, lo;
    char ch;

    if (*i + 1 >= end)
        return 0;
    ch = p[*i + 1];
    *i += 2;
    switch (ch) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: out[0] = ch; return 1;
    }
    if ((cp = hex4(u, *i, end)) < 0)
        return 0;
    *i += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (*i + 1 >= end || p[*i] != '\\' || p[*i + 1] != 'u' ||
            (lo = hex4(u, *i + 2, end)) < 0xdc00 || lo > 0xdfff)
            return 0;
        *i += 6;
        cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
    }
    return put_utf8((uint32_t)cp, out);
}

bool sl_json_str_decode(struct sl_json_span str, char *out, size_t cap, size_t *len)
{
    size_t i, end, o = 0, k, run;
    const char *bs;

    if (str.len < 2 || str.p[0] != '"' || cap < str.len - 1)
        return false;
    end = str.len - 1;
    for (i = 1; i < end;) {
        bs = memchr(str.p + i, '\\', end - i);
        run = bs ? (size_t)(bs - (str.p + i)) : end - i;
        memcpy(out + o, str.p + i, run);
        o += run;
        i += run;
        if (i >= end)
            break;
        if ((k = unescape(str.p, &i, end, out + o)) == 0)
            return false;
        o += k;
    }
    out[o] = '\0';
    *len = o;
    return true;
}

bool sl_json_str_eq(struct sl_json_span str, const char *s, size_t n)
{
    size_t i, end, o = 0, k;
    char buf[4];

    if (str.len < 2 || str.p[0] != '"' || str.len - 2 < n)
        return false; /* decoding never lengthens a string */
    end = str.len - 1;
    /* Equal raw bytes without a backslash among them are equal decoded bytes; with the same
     * length and an escape, the decoded form would be shorter than s. */
    if (end - 1 == n && !memchr(s, '\\', n))
        return memcmp(str.p + 1, s, n) == 0;
    if (!memchr(str.p + 1, '\\', end - 1))
        return false;
    for (i = 1; i < end;) {
        if (str.p[i] != '\\') {
            if (o >= n || str.p[i] != s[o])
                return false;
            i++;
            o++;
            continue;
        }
        if ((k = unescape(str.p, &i, end, buf)) == 0 || k > n - o || memcmp(buf, s + o, k) != 0)
            return false;
        o += k;
    }
    return o == n;
}

bool sl_json_int(struct sl_json_span v, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    int64_t x = 0;

    if (sl_json_type_of(v) != SL_JSON_INTEGER)
        return false;
    if (v.p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (v.len - i == 0 || v.len - i > INT_SAFE_DIGITS)
        return false;
    for (; i < v.len; i++) {
        if (!is_digit((unsigned char)v.p[i]))
            return false;
        x = x * 10 + (v.p[i] - '0');
    }
    *out = neg ? -x : x;
    return true;
}
