/* SPDX-License-Identifier: MIT */
/* guard_detect.c - the guard's built-in detectors: one left-to-right pass that skips, through
 * a table of byte classes, every byte that can neither move a markup machine nor start a
 * personal-data span, and at the others feeds the markup machines and, outside spans already
 * taken, tries the personal-data kinds.  An email is found from its '@': the local part is
 * read leftwards from it, never past the previous '@' nor into a span taken, and the domain
 * rightwards, never past the next '@'; every other try reads a bounded stretch.  So the
 * whole scan stays linear, and text without any of the trigger bytes costs a table lookup a
 * byte. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard_detect.h"

#include <string.h>

#define CARD_MIN 13
#define CARD_MAX 19
#define IBAN_BBAN_MIN 11
#define IBAN_BBAN_MAX 30
#define PHONE_MIN 8
#define PHONE_MAX 15
#define PHONE_PAREN_MAX 5
#define SCHEME_MAX 32
#define NONE (-1) /* what ch() gives outside the text */

/* Separator kinds, as a set. */
#define SEP_SPACE 1u
#define SEP_DASH 2u
#define SEP_DOT 4u

/* Byte classes, as a set. */
#define B_ALNUM 1u   /* a letter or a digit */
#define B_PII 2u     /* may start a personal-data span other than an email */
#define B_MARKUP 4u  /* moves a markup machine */
#define B_BRACKET 8u /* ']': moves the link machine once a '[' is open */
#define B_PAREN 16u  /* ')': moves the link machine once a "](" waits for it */
#define B_MARKUP_ANY (B_MARKUP | B_BRACKET | B_PAREN)

enum { LINK_IMAGE, LINK_PLAIN };

/* The [...](...) machine: '[' not yet closed by a "](", and kinds waiting for their ')'. */
struct links {
    size_t open;        /* '[' not yet closed */
    size_t first, last; /* where the earliest and the latest of them start */
    bool first_image, last_image;
    bool pending[2]; /* by LINK_IMAGE, LINK_PLAIN: a "](" seen, no ')' yet */
    size_t pending_start[2];
};

/* The next email the scan will take: the first '@' from some point on whose local part and
 * domain make one, where the scan will reach its local part, and where it ends. */
struct email {
    size_t at;    /* the '@', or the text's length if there is none */
    size_t local; /* where its local part may start: after a byte not in it, or the floor */
    size_t start; /* where the scan takes it: the first byte of local that is not a '.' */
    size_t end;
};

struct scan {
    const char *t;
    size_t len;
    unsigned wanted;
    sl_guard_found_fn found;
    void *arg;
    /* markup */
    struct links links;
    /* personal data */
    size_t floor; /* end of the last span: no span starts before it, nor looks back past it */
    struct email email;
};

struct luhn {
    unsigned n;      /* digits so far */
    unsigned sum[2]; /* the Luhn sum should the count end even ([0]) or odd ([1]) */
};

/* ---- byte classes ---- */

#define ALNUM_PII (B_ALNUM | B_PII)
#define RUN2(c, v) [(c)] = (v), [(c) + 1] = (v)
#define RUN8(c, v) RUN2(c, v), RUN2((c) + 2, v), RUN2((c) + 4, v), RUN2((c) + 6, v)
#define RUN26(c, v) RUN8(c, v), RUN8((c) + 8, v), RUN8((c) + 16, v), RUN2((c) + 24, v)

/* What each byte may do (an email is found from its '@' instead).  Letters and digits are
 * marked too, as no span but an email starts right after one. */
static const unsigned char byte_class[256] = {
    RUN8('0', ALNUM_PII), RUN2('8', ALNUM_PII), RUN26('A', ALNUM_PII), RUN26('a', B_ALNUM),
    ['('] = B_PII,        ['+'] = B_PII,        ['<'] = B_MARKUP,      ['&'] = B_MARKUP,
    ['['] = B_MARKUP,     [']'] = B_BRACKET,    [')'] = B_PAREN,       ['`'] = B_MARKUP,
    ['~'] = B_MARKUP,
};

static unsigned byte_class_of(const char *t, size_t i)
{
    return byte_class[(unsigned char)t[i]];
}

/* ---- bytes ---- */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_alpha(int c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}

static bool is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}

static bool is_local(int c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool is_scheme(int c)
{
    return is_alnum(c) || c == '+' || c == '.' || c == '-';
}

static bool is_card_sep(int c)
{
    return c == ' ' || c == '-';
}

static bool is_label(int c)
{
    return is_alnum(c) || c == '-';
}

static unsigned sep_bit(int c)
{
    switch (c) {
    case ' ': return SEP_SPACE;
    case '-': return SEP_DASH;
    case '.': return SEP_DOT;
    default: return 0;
    }
}

/* text[i], or NONE past the end. */
static int ch(const struct scan *s, size_t i)
{
    return i < s->len ? (unsigned char)s->t[i] : NONE;
}

/* text[i - k], or NONE before the text or inside the last span taken. */
static int back(const struct scan *s, size_t i, size_t k)
{
    return i >= k && i - k >= s->floor ? (unsigned char)s->t[i - k] : NONE;
}

/* Does a number start at i without being the tail of a longer one grouped by seps? */
static bool clean_start(const struct scan *s, size_t i, unsigned seps)
{
    int prev = back(s, i, 1);

    return !is_alnum(prev) && !((sep_bit(prev) & seps) && is_digit(back(s, i, 2)));
}

/* Does a number end at e without going on, grouped by seps? */
static bool clean_end(const struct scan *s, size_t e, unsigned seps)
{
    int next = ch(s, e);

    return !is_alnum(next) && !((sep_bit(next) & seps) && is_digit(ch(s, e + 1)));
}

/* Are text[i, i + n) all digits? */
static bool digits_at(const struct scan *s, size_t i, size_t n)
{
    while (n-- > 0)
        if (!is_digit(ch(s, i++)))
            return false;
    return true;
}

static unsigned number_at(const struct scan *s, size_t i, size_t n)
{
    unsigned v = 0;

    while (n-- > 0)
        v = v * 10 + (unsigned)(s->t[i++] - '0');
    return v;
}

/* ---- checksums ---- */

static void luhn_add(struct luhn *l, int c)
{
    unsigned d = (unsigned)(c - '0'), twice = d * 2 > 9 ? d * 2 - 9 : d * 2;

    /* sum[p] doubles the digits at indexes of parity p: it is the Luhn sum when the count
     * ends with parity p, as the last digit is never doubled. */
    l->sum[0] += l->n % 2 == 0 ? twice : d;
    l->sum[1] += l->n % 2 == 1 ? twice : d;
    l->n++;
}

static bool luhn_ok(const struct luhn *l)
{
    return l->n >= CARD_MIN && l->n <= CARD_MAX && l->sum[l->n % 2] % 10 == 0;
}

bool sl_guard_luhn(const char *s, size_t n)
{
    struct luhn l = { 0 };
    size_t i;

    if (!s)
        return false;
    for (i = 0; i < n && l.n <= CARD_MAX; i++) {
        if (is_digit((unsigned char)s[i]))
            luhn_add(&l, s[i]);
        else if (s[i] != ' ' && s[i] != '-')
            return false;
    }
    return i == n && luhn_ok(&l);
}

/* The remainder by 97 of r's digits followed by c's: a digit, or a letter as 10..35. */
static unsigned mod97_add(unsigned r, int c)
{
    if (is_digit(c))
        return (r * 10 + (unsigned)(c - '0')) % 97;
    if (c >= 'a' && c <= 'z')
        c -= 'a' - 'A';
    return (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
}

/* The IBAN is valid when its BBAN, then its first four characters, read as one number, leave
 * 1; bban_r is the BBAN's remainder, head the four. */
static bool mod97_close(unsigned bban_r, const char *head)
{
    int i;

    for (i = 0; i < 4; i++)
        bban_r = mod97_add(bban_r, (unsigned char)head[i]);
    return bban_r == 1;
}

static bool head_ok(const char *h)
{
    return is_alpha((unsigned char)h[0]) && is_alpha((unsigned char)h[1]) &&
           is_digit((unsigned char)h[2]) && is_digit((unsigned char)h[3]);
}

bool sl_guard_iban_mod97(const char *s, size_t n)
{
    char head[4];
    size_t i, got = 0;
    unsigned r = 0;

    if (!s)
        return false;
    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];

        if (c == ' ' || c == '-')
            continue;
        if (!is_alnum(c) || got >= 4 + IBAN_BBAN_MAX)
            return false;
        if (got < 4)
            head[got] = (char)c;
        else
            r = mod97_add(r, c);
        got++;
    }
    return got >= 4 + IBAN_BBAN_MIN && head_ok(head) && mod97_close(r, head);
}

/* ---- reporting ---- */

static bool emit(const struct scan *s, enum sl_guard_kind k, size_t start, size_t end)
{
    struct sl_guard_span span = { .start = start, .end = end, .kind = k };

    return !(s->wanted & SL_GUARD_BIT(k)) || s->found(&span, s->arg);
}

/* ---- markup ---- */

/* Where an autolink starting with '<' at i ends (after its '>'), or 0. */
static size_t autolink_end(const struct scan *s, size_t i)
{
    size_t j = i + 1, dest;
    int c;

    while (j - (i + 1) < SCHEME_MAX && is_scheme(ch(s, j)))
        j++;
    if (ch(s, j) != ':' || ch(s, j + 1) != '/' || ch(s, j + 2) != '/')
        return 0;
    dest = j += 3;
    while ((c = ch(s, j)) > ' ' && c != 0x7f && c != '<' && c != '>')
        j++;
    return j > dest && c == '>' ? j + 1 : 0;
}

static bool angle_at(const struct scan *s, size_t i)
{
    int next = ch(s, i + 1);
    size_t e;

    if (is_alpha(next) && (e = autolink_end(s, i)) != 0)
        return emit(s, SL_GUARD_MD_LINK, i, e);
    if (is_alpha(next) || next == '/' || next == '!' || next == '?')
        return emit(s, SL_GUARD_HTML, i, i + 2);
    return true;
}

static bool entity_at(const struct scan *s, size_t i)
{
    static const char lt[] = "&lt;";
    size_t k;

    for (k = 1; k < 4; k++) {
        int c = ch(s, i + k);

        if (c == NONE || (c | 0x20) != lt[k])
            return true;
    }
    return is_alpha(ch(s, i + 4)) ? emit(s, SL_GUARD_HTML, i, i + 5) : true;
}

/* A fence is reported at its third character only: a longer run of the same byte is one. */
static bool fence_at(const struct scan *s, size_t i)
{
    char c = s->t[i];

    if (i < 2 || s->t[i - 1] != c || s->t[i - 2] != c || (i > 2 && s->t[i - 3] == c))
        return true;
    return emit(s, SL_GUARD_MD_CODE, i - 2, i + 1);
}

static void bracket_open(struct links *l, const char *t, size_t i)
{
    bool image = i > 0 && t[i - 1] == '!';

    l->last = image ? i - 1 : i;
    l->last_image = image;
    if (l->open++ == 0) {
        l->first = l->last;
        l->first_image = image;
    }
}

/* "](" closes the latest open '['.  Once it is gone the machine keeps only the earliest one,
 * which is enough to see that a link is present; a nested one may be reported late. */
static void bracket_close(struct links *l)
{
    int kind = l->last_image ? LINK_IMAGE : LINK_PLAIN;

    if (!l->pending[kind]) {
        l->pending[kind] = true;
        l->pending_start[kind] = l->last;
    }
    if (--l->open > 0) {
        l->last = l->first;
        l->last_image = l->first_image;
    }
}

static bool paren_close(struct scan *s, size_t i)
{
    struct links *l = &s->links;
    int a = LINK_IMAGE, b = LINK_PLAIN;
    bool ok = true;

    if (l->pending[a] && l->pending[b] && l->pending_start[b] < l->pending_start[a])
        a = LINK_PLAIN, b = LINK_IMAGE;
    if (l->pending[a])
        ok = emit(s, a == LINK_IMAGE ? SL_GUARD_MD_IMAGE : SL_GUARD_MD_LINK, l->pending_start[a],
                  i + 1);
    if (ok && l->pending[b])
        ok = emit(s, b == LINK_IMAGE ? SL_GUARD_MD_IMAGE : SL_GUARD_MD_LINK, l->pending_start[b],
                  i + 1);
    l->pending[a] = l->pending[b] = false;
    return ok;
}

static bool markup_step(struct scan *s, size_t i)
{
    switch (s->t[i]) {
    case '`':
    case '~': return fence_at(s, i);
    case '<': return angle_at(s, i);
    case '&': return entity_at(s, i);
    case '[': bracket_open(&s->links, s->t, i); return true;
    case ']':
        if (s->links.open > 0 && ch(s, i + 1) == '(')
            bracket_close(&s->links);
        return true;
    case ')': return paren_close(s, i);
    default: return true;
    }
}

/* ---- personal data ---- */

/* Where the domain starting at p ends: after the last label that makes it valid, or 0. */
static size_t domain_end(const struct scan *s, size_t p)
{
    size_t j, label = p, dots = 0, best = 0;
    bool letters = true;

    for (j = p;; j++) {
        int c = ch(s, j);

        if (is_label(c)) {
            letters = letters && is_alpha(c);
            continue;
        }
        if (j == label)
            break; /* an empty label ends the domain */
        if (dots > 0 && letters && j - label >= 2)
            best = j;
        if (c != '.')
            break;
        dots++;
        label = j + 1;
        letters = true;
    }
    return best;
}

/* Where the scan reaches the email's local part: its first byte from the floor on that is
 * not a '.'.  There is one, as the byte before the '@' is not a '.'. */
static void email_place(struct scan *s)
{
    struct email *e = &s->email;

    e->start = e->local > s->floor ? e->local : s->floor;
    while (s->t[e->start] == '.')
        e->start++;
}

/* The first email whose '@' is at from or after: the local part is the run of local bytes
 * before the '@', cut at from (which is past the previous '@' or at the floor).  Every byte
 * is read once over the scan: leftwards up to the previous '@', rightwards up to the next. */
static void email_find(struct scan *s, size_t from)
{
    struct email *e = &s->email;
    const char *at;

    while (from < s->len && (at = memchr(s->t + from, '@', s->len - from)) != NULL) {
        e->at = e->local = (size_t)(at - s->t);
        while (e->local > from && is_local((unsigned char)s->t[e->local - 1]))
            e->local--;
        if (e->local < e->at && s->t[e->at - 1] != '.' &&
            (e->end = domain_end(s, e->at + 1)) != 0) {
            email_place(s);
            return;
        }
        from = e->at + 1;
    }
    e->at = e->start = s->len;
}

/* A span now ends at the floor: the email is still ahead, or the next one is looked for. */
static void email_after_span(struct scan *s)
{
    if (s->email.at >= s->len)
        return;
    if (s->floor >= s->email.at) /* its local part lies inside the span */
        email_find(s, s->floor);
    else
        email_place(s);
}

/* Card: the longest run of whole digit groups from i that is shaped like a card and passes
 * Luhn.  After "d " (or "d-") a card may be one run, or grouped by the other separator: it
 * is not the tail of a longer number. */
static size_t card_at(const struct scan *s, size_t i)
{
    struct luhn l = { 0 };
    size_t j = i, best = 0, groups = 0;
    int sep = 0, tail_sep = NONE; /* a grouped card may not go on with tail_sep */
    bool shaped = true;

    if (is_alnum(back(s, i, 1)) || ch(s, i) == '0') /* no card number starts with 0 */
        return 0;
    if (is_card_sep(back(s, i, 1)) && is_digit(back(s, i, 2)))
        tail_sep = back(s, i, 1);
    for (;;) {
        size_t g = j;

        while (is_digit(ch(s, j)) && l.n <= CARD_MAX)
            luhn_add(&l, s->t[j++]);
        if (l.n > CARD_MAX)
            break;
        shaped = shaped && j - g >= 3 && j - g <= 6;
        if ((++groups == 1 || shaped) && luhn_ok(&l) && !is_alpha(ch(s, j)))
            best = j;
        if (!is_card_sep(ch(s, j)) || (sep && ch(s, j) != sep) || ch(s, j) == tail_sep ||
            !is_digit(ch(s, j + 1)))
            break;
        sep = ch(s, j++);
    }
    return best;
}

/* IBAN in groups of four from i (head "CCdd" then ' '): the longest run of whole groups that
 * passes mod-97. */
static size_t iban_grouped(const struct scan *s, size_t i)
{
    size_t j = i + 5, n = 0, best = 0, g;
    unsigned r = 0;

    for (;;) {
        for (g = 0; g < 4 && n < IBAN_BBAN_MAX && (is_upper(ch(s, j)) || is_digit(ch(s, j)));
             g++, n++)
            r = mod97_add(r, ch(s, j++));
        if (g == 0 || is_alnum(ch(s, j)))
            break;
        if (n >= IBAN_BBAN_MIN && mod97_close(r, s->t + i))
            best = j;
        if (g < 4 || ch(s, j) != ' ' || !(is_upper(ch(s, j + 1)) || is_digit(ch(s, j + 1))))
            break;
        j++;
    }
    return best;
}

static size_t iban_plain(const struct scan *s, size_t i)
{
    size_t j = i + 4;
    unsigned r = 0;

    while ((is_upper(ch(s, j)) || is_digit(ch(s, j))) && j - (i + 4) <= IBAN_BBAN_MAX)
        r = mod97_add(r, ch(s, j++));
    if (j - (i + 4) < IBAN_BBAN_MIN || j - (i + 4) > IBAN_BBAN_MAX || is_alnum(ch(s, j)))
        return 0;
    return mod97_close(r, s->t + i) ? j : 0;
}

static size_t iban_at(const struct scan *s, size_t i)
{
    if (!is_upper(ch(s, i + 1)) || !digits_at(s, i + 2, 2) || !clean_start(s, i, 0))
        return 0;
    return ch(s, i + 4) == ' ' ? iban_grouped(s, i) : iban_plain(s, i);
}

static size_t ssn_at(const struct scan *s, size_t i)
{
    int sep = ch(s, i + 3);
    unsigned area;

    if ((sep != '-' && sep != ' ') || ch(s, i + 6) != sep || !digits_at(s, i, 3) ||
        !digits_at(s, i + 4, 2) || !digits_at(s, i + 7, 4) || !clean_start(s, i, sep_bit(sep)) ||
        !clean_end(s, i + 11, sep_bit(sep)))
        return 0;
    area = number_at(s, i, 3);
    if (area == 0 || area == 666 || area >= 900 || number_at(s, i + 4, 2) == 0 ||
        number_at(s, i + 7, 4) == 0)
        return 0;
    return i + 11;
}

/* A North American number without its "1 " from p: its end, or 0; adds its separators. */
static size_t nanp_body(const struct scan *s, size_t p, unsigned *seps)
{
    unsigned sep;

    if (ch(s, p) == '(') {
        if (!digits_at(s, p + 1, 3) || ch(s, p + 4) != ')')
            return 0;
        p += 5;
        if (ch(s, p) == ' ') {
            *seps |= SEP_SPACE;
            p++;
        }
        sep = sep_bit(ch(s, p + 3));
        if (!sep || !digits_at(s, p, 3) || !digits_at(s, p + 4, 4))
            return 0;
        *seps |= sep;
        return p + 8;
    }
    sep = sep_bit(ch(s, p + 3));
    if (!sep || sep_bit(ch(s, p + 7)) != sep || !digits_at(s, p, 3) || !digits_at(s, p + 4, 3) ||
        !digits_at(s, p + 8, 4))
        return 0;
    *seps |= sep;
    return p + 12;
}

static size_t nanp_at(const struct scan *s, size_t i)
{
    unsigned seps = sep_bit(ch(s, i + 1));
    size_t e;

    if (ch(s, i) == '1' && seps && (e = nanp_body(s, i + 2, &seps)) != 0 &&
        clean_start(s, i, seps) && clean_end(s, e, seps))
        return e;
    seps = 0;
    e = nanp_body(s, i, &seps);
    return e && clean_start(s, i, seps) && clean_end(s, e, seps) ? e : 0;
}

/* "(d...)" at p, 1-5 digits: where it ends, adding its digits to *digits; or 0. */
static size_t paren_group(const struct scan *s, size_t p, size_t *digits)
{
    size_t j = p + 1;

    while (is_digit(ch(s, j)) && j - (p + 1) < PHONE_PAREN_MAX)
        j++;
    if (j == p + 1 || ch(s, j) != ')')
        return 0;
    *digits += j - (p + 1);
    return j + 1;
}

/* '+' at i, then digit groups: the longest run of whole groups holding 8-15 digits, so a
 * number right after it (a card, say) is left to its own detector. */
static size_t intl_at(const struct scan *s, size_t i)
{
    size_t j = i + 1, digits = 0, best = 0, q;
    bool paren = false;

    if (is_alnum(back(s, i, 1)) || !is_digit(ch(s, j)))
        return 0;
    while (digits <= PHONE_MAX) {
        int c = ch(s, j);
        size_t k = sep_bit(c) ? j + 1 : j;

        if (is_digit(c)) {
            digits++;
            j++;
            continue;
        }
        if (digits >= PHONE_MIN && !is_alpha(c)) /* a group ends at j */
            best = j;
        if (ch(s, k) == '(' && !paren && (q = paren_group(s, k, &digits)) != 0) {
            paren = true;
            j = q;
        } else if (k > j && is_digit(ch(s, k))) {
            j = k;
        } else {
            break;
        }
    }
    return best;
}

/* The personal-data span starting at i, if any, by precedence. */
static bool pii_match(struct scan *s, size_t i, struct sl_guard_span *m)
{
    int c = ch(s, i);

    m->start = i;
    m->end = 0;
    if (i == s->email.start) {
        m->end = s->email.end;
        m->kind = SL_GUARD_EMAIL;
    } else if (is_digit(c) && (m->end = card_at(s, i)) != 0)
        m->kind = SL_GUARD_CARD;
    else if (is_upper(c) && (m->end = iban_at(s, i)) != 0)
        m->kind = SL_GUARD_IBAN;
    else if (is_digit(c) && (m->end = ssn_at(s, i)) != 0)
        m->kind = SL_GUARD_SSN;
    else if ((is_digit(c) || c == '(') && (m->end = nanp_at(s, i)) != 0)
        m->kind = SL_GUARD_PHONE;
    else if (c == '+' && !card_at(s, i + 1) && (m->end = intl_at(s, i)) != 0)
        m->kind = SL_GUARD_PHONE;
    return m->end != 0;
}

/* Could a number start at digit i?  Each detector of one wants 13 digits in a row (card), or
 * a first group closed by a separator before a digit or a '(' (grouped card, ssn, phone). */
static bool digits_may_start(const struct scan *s, size_t i)
{
    size_t j = i;
    int after;

    while (j - i < CARD_MIN && is_digit(ch(s, j)))
        j++;
    after = ch(s, j + 1);
    return j - i >= CARD_MIN || (sep_bit(ch(s, j)) && (is_digit(after) || after == '('));
}

/* May a personal-data span start at i (at or past the floor)?  An email where the scan
 * reaches its local part.  Any other kind after no letter or digit, as every detector but
 * the email's asks for a clean start, and only where the first bytes its detectors read
 * allow: an IBAN's two capitals, a digit after '(' or '+', a number's shape. */
static bool pii_may_start(const struct scan *s, size_t i, unsigned cls)
{
    int c = ch(s, i), next = ch(s, i + 1);

    if (i == s->email.start)
        return true;
    if (!(cls & B_PII) || (i > s->floor && (byte_class_of(s->t, i - 1) & B_ALNUM)))
        return false;
    if (is_upper(c))
        return is_upper(next);
    if (c == '(' || c == '+')
        return is_digit(next);
    return digits_may_start(s, i);
}

static bool pii_step(struct scan *s, size_t i, unsigned cls)
{
    struct sl_guard_span m;

    if (i < s->floor || !pii_may_start(s, i, cls) || !pii_match(s, i, &m))
        return true;
    s->floor = m.end;
    email_after_span(s);
    return emit(s, m.kind, m.start, m.end);
}

/* The first byte from i on that a wanted family must look at (the text's length if none). */
static size_t skip(const struct scan *s, size_t i, unsigned classes)
{
    size_t stop = s->email.start; /* the text's length when personal data is not wanted */

    while (i + 4 <= stop && !((byte_class_of(s->t, i) | byte_class_of(s->t, i + 1) |
                               byte_class_of(s->t, i + 2) | byte_class_of(s->t, i + 3)) &
                              classes))
        i += 4;
    while (i < stop && !(byte_class_of(s->t, i) & classes))
        i++;
    return i;
}

/* Where to look on after a letter or digit at i - 1: past the rest of its run, as those
 * bytes move no markup machine and can start no span (not after a letter or digit), save
 * at the email's start or at the floor. */
static size_t alnum_run_end(const struct scan *s, size_t i)
{
    size_t stop = s->email.start;

    if (s->floor >= i && s->floor < stop)
        stop = s->floor;
    while (i < stop && (byte_class_of(s->t, i) & B_ALNUM))
        i++;
    return i;
}

/* The classes of the bytes the scan must look at, now: ']' and ')' only while the link
 * machine waits for them, as both are common in prose and code. */
static unsigned classes_now(const struct scan *s, unsigned classes)
{
    const struct links *l = &s->links;

    if (!(classes & B_MARKUP))
        return classes;
    return classes | (l->open > 0 ? B_BRACKET : 0) |
           (l->pending[LINK_IMAGE] || l->pending[LINK_PLAIN] ? B_PAREN : 0);
}

bool sl_guard_detect(const char *text, size_t len, unsigned wanted, sl_guard_found_fn found,
                     void *arg)
{
    struct scan s = { .t = text, .len = len, .wanted = wanted, .found = found, .arg = arg };
    unsigned classes =
        (wanted & SL_GUARD_MARKUP_KINDS ? B_MARKUP : 0) | (wanted & SL_GUARD_PII_KINDS ? B_PII : 0);
    size_t i, next;

    if (!text || !found || !classes)
        return true;
    s.email.at = s.email.start = len;
    if (classes & B_PII)
        email_find(&s, 0);
    for (i = skip(&s, 0, classes); i < len; i = skip(&s, next, classes_now(&s, classes))) {
        unsigned cls = byte_class_of(text, i);

        if ((classes & B_MARKUP) && (cls & B_MARKUP_ANY) && !markup_step(&s, i))
            return false;
        if ((classes & B_PII) && !pii_step(&s, i, cls))
            return false;
        next = cls & B_ALNUM ? alnum_run_end(&s, i + 1) : i + 1;
    }
    return true;
}

/* ---- names ---- */

static const char *const kind_names[SL_GUARD_KIND_COUNT] = {
    [SL_GUARD_HTML] = "html",       [SL_GUARD_MD_IMAGE] = "md_image",
    [SL_GUARD_MD_LINK] = "md_link", [SL_GUARD_MD_CODE] = "md_code",
    [SL_GUARD_EMAIL] = "email",     [SL_GUARD_PHONE] = "phone",
    [SL_GUARD_CARD] = "card",       [SL_GUARD_SSN] = "ssn",
    [SL_GUARD_IBAN] = "iban",
};

const char *sl_guard_kind_name(enum sl_guard_kind k)
{
    return (unsigned)k < SL_GUARD_KIND_COUNT ? kind_names[k] : NULL;
}

int sl_guard_kind_from_name(const char *s, size_t n)
{
    int k;

    if (!s)
        return -1;
    for (k = 0; k < SL_GUARD_KIND_COUNT; k++)
        if (strlen(kind_names[k]) == n && memcmp(kind_names[k], s, n) == 0)
            return k;
    return -1;
}

const char *sl_guard_mask_text(enum sl_guard_kind k)
{
    switch (k) {
    case SL_GUARD_EMAIL: return "[EMAIL]";
    case SL_GUARD_PHONE: return "[PHONE]";
    case SL_GUARD_CARD: return "[CARD]";
    case SL_GUARD_SSN: return "[SSN]";
    case SL_GUARD_IBAN: return "[IBAN]";
    default: return NULL;
    }
}
