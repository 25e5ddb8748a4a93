/* SPDX-License-Identifier: MIT */
/* Tests for guard_detect.c: each detector's true and false positives with exact spans, the
 * precedence between personal-data kinds, UTF-8 and NUL bytes around findings, stopping, the
 * checksums, the names, and texts of megabytes built to make a naive scan quadratic. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard_detect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ALL_KINDS (SL_GUARD_MARKUP_KINDS | SL_GUARD_PII_KINDS)
#define MARKUP SL_GUARD_MARKUP_KINDS
#define PII SL_GUARD_PII_KINDS

/* Findings as text: "kind start-end kind start-end ...". */
struct rendered {
    char s[512];
    size_t n;
};

static bool on_render(const struct sl_guard_span *span, void *arg)
{
    struct rendered *r = arg;
    int w = snprintf(r->s + r->n, sizeof(r->s) - r->n, "%s%s %zu-%zu", r->n ? " " : "",
                     sl_guard_kind_name(span->kind), span->start, span->end);

    cr_assert(w > 0 && (size_t)w < sizeof(r->s) - r->n, "too many findings to render");
    r->n += (size_t)w;
    return true;
}

static const char *render(const char *text, size_t len, unsigned wanted, struct rendered *r)
{
    r->s[0] = '\0';
    r->n = 0;
    cr_assert(sl_guard_detect(text, len, wanted, on_render, r));
    return r->s;
}

/* Parameters are plain data (Criterion copies them into the test process). */
struct find_case {
    char text[80];
    size_t len; /* 0: up to the first NUL */
    char want[160];
};

static void check_find(const struct find_case *c, unsigned wanted)
{
    size_t len = c->len ? c->len : strlen(c->text);
    struct rendered r;

    cr_assert_str_eq(render(c->text, len, wanted, &r), c->want, "in \"%s\"", c->text);
}

/* ---- markup ---- */

ParameterizedTestParameters(guard_detect, html)
{
    static struct find_case cases[] = {
        { "<b>bold</b>", 0, "html 0-2 html 7-9" },
        { "x</p>", 0, "html 1-3" },
        { "<!-- c -->", 0, "html 0-2" },
        { "<?php echo 1; ?>", 0, "html 0-2" },
        { "<!DOCTYPE html>", 0, "html 0-2" },
        { "&lt;script&gt;", 0, "html 0-5" },
        { "&LT;img src=x&GT;", 0, "html 0-5" },
        { "&Lt;a", 0, "html 0-5" },
        { "\xF0\x9F\x98\x80<i>", 0, "html 4-6" }, /* after an astral character */
        { "e\xCC\x81<b>", 0, "html 3-5" },        /* after a combining mark */
        { "\x00<b>", 4, "html 1-3" },             /* after a NUL */
        { "<mailto:a@b.com>", 0, "html 0-2" },    /* not an autolink */
        { "a < b", 0, "" },
        { "x<3", 0, "" },
        { "a <= b", 0, "" },
        { "<", 0, "" },
        { "< b>", 0, "" },
        { "<1>", 0, "" },
        { "<<<<", 0, "" },
        { "<\x00"
          "a",
          3, "" },
        { "<\xC3\xA9>", 0, "" },
        { "&lt;3", 0, "" },
        { "&lt; b", 0, "" },
        { "&lt", 0, "" },
        { "&lt;", 0, "" },
        { "&gt;b", 0, "" },
        { "&#60;script", 0, "" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, html)
{
    check_find(c, MARKUP);
}

ParameterizedTestParameters(guard_detect, markdown)
{
    static struct find_case cases[] = {
        { "see ![a cat](cat.png)", 0, "md_image 4-21" },
        { "[x](https://e.com)", 0, "md_link 0-18" },
        { "a [b] c](d) e)", 0, "md_link 2-11" },
        { "[![i](s)](h)", 0, "md_image 1-8 md_link 0-12" },
        { "[a] ![b](c)", 0, "md_image 4-11" },
        { "![a] [b](c)", 0, "md_link 5-11" },
        { "[]()", 0, "md_link 0-4" },
        { "[a\nb](c)", 0, "md_link 0-8" },
        { "[a](b and, much later, c)", 0, "md_link 0-25" },
        { "\xF0\x9F\x98\x80[\xF0\x9F\x98\x80](\xF0\x9F\x98\x80)", 0, "md_link 4-16" },
        { "<https://example.com/a?b=c>", 0, "md_link 0-27" },
        { "<x+y.z-w://q>", 0, "md_link 0-13" },
        { "``` c", 0, "md_code 0-3" },
        { "~~~", 0, "md_code 0-3" },
        { "x````y", 0, "md_code 1-4" },
        { "x) ] [a](b)", 0, "md_link 5-11" }, /* ']' and ')' before any '[' */
        { "```\n[x](y)\n```", 0, "md_code 0-3 md_link 4-10 md_code 11-14" },
        { "[a] (b)", 0, "" },
        { "[a]", 0, "" },
        { "a](b)", 0, "" },
        { "(a)[b]", 0, "" },
        { "[a](b", 0, "" },
        { "![a]", 0, "" },
        { "``", 0, "" },
        { "`~`~", 0, "" },
        { "~~ ~", 0, "" },
        { "`\x00``", 4, "" },
        /* Not autolinks: space, empty, no "//", scheme not starting with a letter. */
        { "<https://a b>", 0, "html 0-2" },
        { "<https://>", 0, "html 0-2" },
        { "<a:b>", 0, "html 0-2" },
        { "<http://x", 0, "html 0-2" },
        { "<1http://x>", 0, "" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, markdown)
{
    check_find(c, MARKUP);
}

/* ---- personal data ---- */

ParameterizedTestParameters(guard_detect, email)
{
    static struct find_case cases[] = {
        { "john.doe@example.com", 0, "email 0-20" },
        { "mail a+tag@sub.example.co.uk now", 0, "email 5-28" },
        { "x_y%z-w@a-b.io.", 0, "email 0-14" }, /* the full stop is not part of it */
        { "..john@example.com", 0, "email 2-18" },
        { "(UPPER@EXAMPLE.COM)", 0, "email 1-18" },
        { "a@b@c.com", 0, "email 2-9" },
        { "a@b.c@d.com", 0, "email 2-11" }, /* the first '@' makes none, the second one */
        { "1@2.ab", 0, "email 0-6" },
        { "\xF0\x9F\x98\x80x@y.org\xF0\x9F\x98\x80", 0, "email 4-11" },
        { "a\x00"
          "b@c.de",
          8, "email 2-8" },
        { "x@a.com.y@b.net", 0, "email 0-7 email 8-15" },
        { "x@example.com.1", 0, "email 0-13" },
        { "4111111111111111@example.com", 0, "email 0-28" }, /* email first at one start */
        { "john.@example.com", 0, "" },
        { "john@example", 0, "" },
        { "john@example.c", 0, "" },
        { "john@example.c0m", 0, "" },
        { "@example.com", 0, "" },
        { "john@.com", 0, "" },
        { "john@example..com", 0, "" },
        { "jos\xC3\xA9@example.com", 0, "" },
        { "x@example.com-", 0, "" },
        { "a@", 0, "" },
        { "john at example dot com", 0, "" },
        { "a@b\x00.com", 8, "" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, email)
{
    check_find(c, PII);
}

ParameterizedTestParameters(guard_detect, card)
{
    static struct find_case cases[] = {
        { "4111 1111 1111 1111", 0, "card 0-19" },
        { "5500-0000-0000-0004", 0, "card 0-19" },
        { "pay 4111111111111111.", 0, "card 4-20" },
        { "378282246310005", 0, "card 0-15" },     /* 15 digits */
        { "3782 822463 10005", 0, "card 0-17" },   /* grouped 4-6-5 */
        { "4222222222222", 0, "card 0-13" },       /* 13 digits */
        { "4111111111111111110", 0, "card 0-19" }, /* 19 digits */
        { "4111 1111 1111 1111 12/26", 0, "card 0-19" },
        { "12 4111111111111111", 0, "card 3-19" },
        { "12-4111 1111 1111 1111", 0, "card 3-22" }, /* the other separator */
        { "\xF0\x9F\x98\x80"
          "4111111111111111\xF0\x9F\x98\x80",
          0, "card 4-20" },
        { "+378282246310005", 0, "card 1-16" }, /* a card, not a phone */
        { "4111 1111 1111 1112", 0, "" },       /* Luhn */
        { "41111111111111111111", 0, "" },      /* 20 digits */
        { "411111111111", 0, "" },              /* 12 digits */
        { "4111111111111111x", 0, "" },
        { "x4111111111111111", 0, "" },
        { "4111 1111  1111 1111", 0, "" },
        { "4111-1111 1111-1111", 0, "" },
        { "4111.1111.1111.1111", 0, "" },
        { "1 2 3 4 5 6 7 8 9 0 1 2 3 4", 0, "" },
        { "0000000000000", 0, "" },
        { "12 4111 1111 1111 1111", 0, "" }, /* the tail of a longer number */
        { "4111\x00"
          "1111 1111 1111",
          19, "" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, card)
{
    check_find(c, PII);
}

ParameterizedTestParameters(guard_detect, ssn)
{
    static struct find_case cases[] = {
        { "123-45-6789", 0, "ssn 0-11" },
        { "SSN: 078-05-1120.", 0, "ssn 5-16" },
        { "123 45 6789", 0, "ssn 0-11" },
        { "665-01-0001", 0, "ssn 0-11" },
        { "899-99-9999", 0, "ssn 0-11" },
        { "(123-45-6789)", 0, "ssn 1-12" },
        { "2026-12-07 123-45-6789", 0, "ssn 11-22" },
        { "\xC3\xA9"
          "123-45-6789\xC3\xA9",
          0, "ssn 2-13" },
        { "000-12-3456", 0, "" },
        { "666-12-3456", 0, "" },
        { "900-12-3456", 0, "" },
        { "123-00-4567", 0, "" },
        { "123-45-0000", 0, "" },
        { "1234-56-7890", 0, "" },
        { "123-45-67890", 0, "" },
        { "123-456-789", 0, "" },
        { "123-45 6789", 0, "" },
        { "a123-45-6789", 0, "" },
        { "123-45-6789x", 0, "" },
        { "123-45-6789-1", 0, "" },
        { "9-123-45-6789", 0, "" },
        { "123456789", 0, "" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, ssn)
{
    check_find(c, PII);
}

ParameterizedTestParameters(guard_detect, iban)
{
    static struct find_case cases[] = {
        { "GB82 WEST 1234 5698 7654 32", 0, "iban 0-27" },
        { "DE89 3704 0044 0532 0130 00", 0, "iban 0-27" },
        { "IBAN: DE89370400440532013000.", 0, "iban 6-28" },
        { "FR14 2004 1010 0505 0001 3M02 606", 0, "iban 0-33" },
        { "NO93 8601 1117 947", 0, "iban 0-18" },                      /* shortest */
        { "LC55 HEMM 0001 0001 0012 0012 0002 3015", 0, "iban 0-39" }, /* 32 */
        { "GB82 WEST 1234 5698 7654 32 EUR", 0, "iban 0-27" },
        { "DE89 3704 0044 0532 0130 00 0", 0, "iban 0-27" },
        { "\xF0\x9F\x98\x80GB82WEST12345698765432\xF0\x9F\x98\x80", 0, "iban 4-26" },
        { "GB82 WEST 1234 5698 7654 33", 0, "" }, /* mod-97 */
        { "gb82 west 1234 5698 7654 32", 0, "" },
        { "GB82WEST12345698765432X", 0, "" },
        { "XGB82WEST12345698765432", 0, "" },
        { "GB82WEST12345698765432x", 0, "" },
        { "GB82  WEST 1234 5698 7654 32", 0, "" },
        { "GB82 WEST12345698765432", 0, "" },
        { "GB82-WEST-1234-5698-7654-32", 0, "" },
        { "GB82 WEST 12", 0, "" },
        { "G182WEST12345698765432", 0, "" },
        { "GB82 WEST 1234 5698 7654 3210 EUR", 0, "" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, iban)
{
    check_find(c, PII);
}

ParameterizedTestParameters(guard_detect, phone)
{
    static struct find_case cases[] = {
        { "+44 20 7946 0958", 0, "phone 0-16" },
        { "+1 (555) 123-4567", 0, "phone 0-17" },
        { "+49 (0)30 1234567", 0, "phone 0-17" },
        { "+33.1.23.45.67.89", 0, "phone 0-17" },
        { "+14155552671", 0, "phone 0-12" },
        { "call +4420794609.", 0, "phone 5-16" },
        { "+44 20 7946 0958 (home)", 0, "phone 0-16" },
        { "(555) 123-4567", 0, "phone 0-14" },
        { "(555)123-4567", 0, "phone 0-13" },
        { "555-123-4567", 0, "phone 0-12" },
        { "555.123.4567", 0, "phone 0-12" },
        { "555 123 4567", 0, "phone 0-12" },
        { "1-800-555-0199", 0, "phone 0-14" },
        { "1 555 123 4567", 0, "phone 0-14" },
        { "1 (555) 123-4567", 0, "phone 0-16" },
        { "1-(555) 123-4567", 0, "phone 0-16" },
        { "tel:555-123-4567;", 0, "phone 4-16" },
        { "2026-12-07 555-123-4567", 0, "phone 11-23" },
        { "\xF0\x9F\x98\x80(555) 123-4567\xF0\x9F\x98\x80", 0, "phone 4-18" },
        { "2026-12-07", 0, "" },
        { "12:30:45 2026-12-07", 0, "" },
        { "192.168.100.200", 0, "" },
        { "10.100.200.3000", 0, "" },
        { "1.2.3", 0, "" },
        { "v10.11.12", 0, "" },
        { "5551234567", 0, "" },
        { "$1,234,567.89", 0, "" },
        { "1,000,000.00 +12,345", 0, "" },
        { "ISBN 978-3-16-148410-0", 0, "" },
        { "555-1234", 0, "" },
        { "+1234567", 0, "" },          /* 7 digits */
        { "+1234567890123456", 0, "" }, /* 16 digits */
        { "555-123-45678", 0, "" },
        { "1555-123-4567", 0, "" },
        { "555-123-4567-89", 0, "" },
        { "x555-123-4567", 0, "" },
        { "555-123.4567", 0, "" },
        { "2+12345678901", 0, "" },
        { "+ 44 20 7946 0958", 0, "" },
        { "+44  20 7946 0958", 0, "" },
        { "(55) 123-4567", 0, "" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, phone)
{
    check_find(c, PII);
}

/* Several findings in one text, every kind wanted: exact spans, in order. */
ParameterizedTestParameters(guard_detect, mixed)
{
    static struct find_case cases[] = {
        { "Mail a@b.com or c.d@e.org, card 4111 1111 1111 1111.", 0,
          "email 5-12 email 16-25 card 32-51" },
        { "ssn 123-45-6789, tel +44 20 7946 0958, GB82 WEST 1234 5698 7654 32", 0,
          "ssn 4-15 phone 21-37 iban 39-66" },
        { "\xF0\x9F\x98\x80 a@b.com \xC3\xA9\xCC\x81 4111111111111111 \xF0\x9F\x98\x80", 0,
          "email 5-12 card 18-34" },
        { "a@b.com\x00"
          "4111111111111111\x00"
          "555-123-4567",
          37, "email 0-7 card 8-24 phone 25-37" },
        { "555-123-4567 4111 1111 1111 1111", 0, "phone 0-12 card 13-32" },
        { "555-123-4567.x@y.com", 0, "email 0-20" },
        { "x@y.com(555) 123-4567", 0, "email 0-7 phone 7-21" },
        /* A local part starts no earlier than the span before it ends. */
        { "(555) 123-4567_x@a.com", 0, "phone 0-14 email 14-22" },
        { "(555) 123-4567..x@y.com", 0, "phone 0-14 email 16-23" },
        { "(555) 123-4567@x.com", 0, "phone 0-14" },
        { "4111111111111111_x y@z.com", 0, "card 0-16 email 19-26" },
        /* A link is reported at its ')', after what starts inside it. */
        { "[x](a@b.com) <b>", 0, "email 4-11 md_link 0-12 html 13-15" },
        { "<mailto:a@b.com>", 0, "html 0-2 email 8-15" },
    };
    return cr_make_param_array(struct find_case, cases, COUNT(cases));
}

ParameterizedTest(struct find_case *c, guard_detect, mixed)
{
    check_find(c, ALL_KINDS);
}

/* ---- the scan's contract ---- */

static const char sampler[] = "<b> ![i](s) [l](h) ``` a@b.com +44 20 7946 0958 "
                              "4111 1111 1111 1111 123-45-6789 GB82 WEST 1234 5698 7654 32 "
                              "<https://x.org> &lt;p (555) 123-4567";

/* The findings of one kind in a rendering, in order. */
static void only_kind(const char *all, const char *name, char *out, size_t out_sz)
{
    char kind[16];
    size_t start, end;
    int used;

    out[0] = '\0';
    while (sscanf(all, "%15s %zu-%zu%n", kind, &start, &end, &used) == 3) {
        if (strcmp(kind, name) == 0)
            snprintf(out + strlen(out), out_sz - strlen(out), "%s%s %zu-%zu", out[0] ? " " : "",
                     kind, start, end);
        all += used;
    }
}

Test(guard_detect, wanted_only_filters)
{
    struct rendered all, one;
    char want[512];
    int k;

    render(sampler, strlen(sampler), ALL_KINDS, &all);
    cr_assert_str_eq(all.s, "html 0-2 md_image 4-11 md_link 12-18 md_code 19-22 email 23-30 "
                            "phone 31-47 card 48-67 ssn 68-79 iban 80-107 md_link 108-123 "
                            "html 124-129 phone 130-144");
    for (k = 0; k < SL_GUARD_KIND_COUNT; k++) {
        const char *name = sl_guard_kind_name((enum sl_guard_kind)k);

        only_kind(all.s, name, want, sizeof(want));
        cr_assert_str_neq(want, "", "the sample holds no %s", name);
        cr_assert_str_eq(render(sampler, strlen(sampler), SL_GUARD_BIT(k), &one), want,
                         "wanted only %s", name);
    }
    cr_assert_str_eq(render(sampler, strlen(sampler), 0, &one), "");
    cr_assert_str_eq(render(sampler, strlen(sampler), 1u << 30, &one), "");
}

/* Texts where the kinds meet: spans that cut a local part, links around personal data,
 * brackets and parentheses that close nothing. */
static const char *const rich[] = {
    sampler,
    "(555) 123-4567_x@a.com [x](a@b.com) 1 (555) 123-4567 ``` GB82WEST12345698765432 <i>",
    "+4111111111111111 x@y.com(555) 123-4567 ![a](4111 1111 1111 1111) &lt;b 123-45-6789",
    "a@b.c@d.com ..x@y.org 555-123-4567.x@y.com ~~~ <https://e.com> [[a](b)](c) x) y]",
    "12 4111 1111 1111 1111 +44 20 7946 0958 (home) DE89 3704 0044 0532 0130 00 [a] b](c)",
};

Test(guard_detect, wanted_one_kind_of_rich_texts)
{
    struct rendered all, one;
    char want[512];
    size_t t;
    int k;

    for (t = 0; t < COUNT(rich); t++) {
        render(rich[t], strlen(rich[t]), ALL_KINDS, &all);
        cr_assert_str_neq(all.s, "", "no findings in \"%s\"", rich[t]);
        for (k = 0; k < SL_GUARD_KIND_COUNT; k++) {
            const char *name = sl_guard_kind_name((enum sl_guard_kind)k);

            only_kind(all.s, name, want, sizeof(want));
            cr_assert_str_eq(render(rich[t], strlen(rich[t]), SL_GUARD_BIT(k), &one), want,
                             "wanted only %s in \"%s\"", name, rich[t]);
        }
    }
}

struct stopper {
    int calls, stop_at;
};

static bool on_stop(const struct sl_guard_span *span, void *arg)
{
    struct stopper *st = arg;

    (void)span;
    return ++st->calls < st->stop_at;
}

Test(guard_detect, false_stops_at_once)
{
    int stop_at;

    for (stop_at = 1; stop_at <= 12; stop_at++) {
        struct stopper st = { 0, stop_at };

        cr_assert_not(sl_guard_detect(sampler, strlen(sampler), ALL_KINDS, on_stop, &st));
        cr_assert_eq(st.calls, stop_at);
    }
    {
        struct stopper st = { 0, 13 }; /* more than there are */

        cr_assert(sl_guard_detect(sampler, strlen(sampler), ALL_KINDS, on_stop, &st));
        cr_assert_eq(st.calls, 12);
    }
}

Test(guard_detect, nothing_to_scan)
{
    struct stopper st = { 0, 1 };

    cr_assert(sl_guard_detect(NULL, 10, ALL_KINDS, on_stop, &st));
    cr_assert(sl_guard_detect("<b>", 3, ALL_KINDS, NULL, NULL));
    cr_assert(sl_guard_detect("<b>", 0, ALL_KINDS, on_stop, &st));
    cr_assert(sl_guard_detect("", 0, ALL_KINDS, on_stop, &st));
    cr_assert_eq(st.calls, 0);
}

/* Personal-data spans: inside the text, in order, never overlapping. */
static bool on_check_span(const struct sl_guard_span *span, void *arg)
{
    size_t *bounds = arg; /* [0]: len, [1]: end of the last personal-data span */

    cr_assert(span->start < span->end && span->end <= bounds[0]);
    if (SL_GUARD_BIT(span->kind) & PII) {
        cr_assert_geq(span->start, bounds[1]);
        bounds[1] = span->end;
    }
    return true;
}

/* Every prefix of a text rich in findings, in a buffer of exactly that size (under
 * AddressSanitizer a read past the end is an error). */
Test(guard_detect, prefixes_read_nothing_outside)
{
    size_t n;

    for (n = 0; n <= sizeof(sampler) - 1; n++) {
        char *copy = malloc(n ? n : 1);
        size_t bounds[2] = { n, 0 };

        cr_assert_not_null(copy);
        memcpy(copy, sampler, n);
        cr_assert(sl_guard_detect(copy, n, ALL_KINDS, on_check_span, bounds));
        free(copy);
    }
}

/* ---- checksums ---- */

struct sum_case {
    char in[48];
    bool want;
};

ParameterizedTestParameters(guard_detect, luhn)
{
    static struct sum_case cases[] = {
        { "4111 1111 1111 1111", true },
        { "5500-0000-0000-0004", true },
        { "4111111111111111", true },
        { "378282246310005", true },
        { "6011111111111117", true },
        { "4012888888881881", true },
        { "30569309025904", true },
        { "4222222222222", true },
        { "4111111111111111110", true },
        { "4111 1111 1111 1112", false },
        { "4111111111111", false },
        { "1234 5678 9012 3456", false },
        { "79927398713", false },          /* passes Luhn, but 11 digits */
        { "41111111111111111111", false }, /* 20 digits */
        { "4111.1111.1111.1111", false },
        { "4111 1111 1111 111x", false },
        { "", false },
    };
    return cr_make_param_array(struct sum_case, cases, COUNT(cases));
}

ParameterizedTest(struct sum_case *c, guard_detect, luhn)
{
    cr_assert_eq(sl_guard_luhn(c->in, strlen(c->in)), c->want, "%s", c->in);
}

ParameterizedTestParameters(guard_detect, mod97)
{
    static struct sum_case cases[] = {
        { "GB82 WEST 1234 5698 7654 32", true },
        { "GB82WEST12345698765432", true },
        { "gb82 west 1234 5698 7654 32", true },
        { "DE89 3704 0044 0532 0130 00", true },
        { "FR14 2004 1010 0505 0001 3M02 606", true },
        { "NL91 ABNA 0417 1643 00", true },
        { "BE68 5390 0754 7034", true },
        { "NO93 8601 1117 947", true },
        { "CH93 0076 2011 6238 5295 7", true },
        { "ES91 2100 0418 4502 0005 1332", true },
        { "IT60 X054 2811 1010 0000 0123 456", true },
        { "MT84 MALT 0110 0001 2345 MTLC AST0 01S", true },
        { "LC55-HEMM-0001-0001-0012-0012-0002-3015", true },
        { "GB82 WEST 1234 5698 7654 33", false },
        { "GB28 WEST 1234 5698 7654 32", false },
        { "DE89 3704 0044 0532 0130 01", false },
        { "NO93 8601 1117 94", false },                         /* 10 after the head */
        { "LC55 HEMM 0001 0001 0012 0012 0002 3015 1", false }, /* 31 after the head */
        { "1B82 WEST 1234 5698 7654 32", false },               /* head */
        { "GBX2 WEST 1234 5698 7654 32", false },
        { "GB82.WEST.1234.5698.7654.32", false },
        { "", false },
    };
    return cr_make_param_array(struct sum_case, cases, COUNT(cases));
}

ParameterizedTest(struct sum_case *c, guard_detect, mod97)
{
    cr_assert_eq(sl_guard_iban_mod97(c->in, strlen(c->in)), c->want, "%s", c->in);
}

Test(guard_detect, checksums_of_nothing)
{
    cr_assert_not(sl_guard_luhn(NULL, 16));
    cr_assert_not(sl_guard_iban_mod97(NULL, 22));
    /* The length bounds the read: the digits after it do not count. */
    cr_assert_not(sl_guard_luhn("4111111111111111", 15));
    cr_assert(sl_guard_iban_mod97("GB82WEST12345698765432XYZ", 22));
}

/* ---- names ---- */

Test(guard_detect, names)
{
    static const char *const names[] = { "html",  "md_image", "md_link", "md_code", "email",
                                         "phone", "card",     "ssn",     "iban" };
    size_t k;

    cr_assert_eq(COUNT(names), SL_GUARD_KIND_COUNT);
    for (k = 0; k < COUNT(names); k++) {
        cr_assert_str_eq(sl_guard_kind_name((enum sl_guard_kind)k), names[k]);
        cr_assert_eq(sl_guard_kind_from_name(names[k], strlen(names[k])), (int)k);
    }
    cr_assert_null(sl_guard_kind_name(SL_GUARD_KIND_COUNT));
    cr_assert_eq(sl_guard_kind_from_name("HTML", 4), -1);
    cr_assert_eq(sl_guard_kind_from_name("htmlx", 5), -1);
    cr_assert_eq(sl_guard_kind_from_name("htmlx", 4), SL_GUARD_HTML);
    cr_assert_eq(sl_guard_kind_from_name("md", 2), -1);
    cr_assert_eq(sl_guard_kind_from_name("", 0), -1);
    cr_assert_eq(sl_guard_kind_from_name(NULL, 0), -1);
}

Test(guard_detect, mask_text)
{
    cr_assert_str_eq(sl_guard_mask_text(SL_GUARD_EMAIL), "[EMAIL]");
    cr_assert_str_eq(sl_guard_mask_text(SL_GUARD_PHONE), "[PHONE]");
    cr_assert_str_eq(sl_guard_mask_text(SL_GUARD_CARD), "[CARD]");
    cr_assert_str_eq(sl_guard_mask_text(SL_GUARD_SSN), "[SSN]");
    cr_assert_str_eq(sl_guard_mask_text(SL_GUARD_IBAN), "[IBAN]");
    cr_assert_null(sl_guard_mask_text(SL_GUARD_HTML));
    cr_assert_null(sl_guard_mask_text(SL_GUARD_MD_IMAGE));
    cr_assert_null(sl_guard_mask_text(SL_GUARD_MD_LINK));
    cr_assert_null(sl_guard_mask_text(SL_GUARD_MD_CODE));
}

/* ---- megabytes ---- */

#define BIG (4u << 20)

struct counts {
    size_t n[SL_GUARD_KIND_COUNT];
    size_t first_start, last_end;
};

static bool on_count(const struct sl_guard_span *span, void *arg)
{
    struct counts *c = arg;

    if (c->n[0] + c->n[1] + c->n[2] + c->n[3] + c->n[4] + c->n[5] + c->n[6] + c->n[7] + c->n[8] ==
        0)
        c->first_start = span->start;
    c->n[span->kind]++;
    c->last_end = span->end;
    return true;
}

/* The pattern repeated over BIG bytes, scanned for every kind; the per-kind counts in want
 * ("html=1 card=2"), the others 0. */
static void check_big(const char *pattern, const char *want)
{
    size_t plen = strlen(pattern), i;
    char *text = malloc(BIG), got[256] = "";
    struct counts c = { { 0 }, 0, 0 };
    int k;

    cr_assert_not_null(text);
    for (i = 0; i < BIG; i++)
        text[i] = pattern[i % plen];
    cr_assert(sl_guard_detect(text, BIG, ALL_KINDS, on_count, &c));
    for (k = 0; k < SL_GUARD_KIND_COUNT; k++)
        if (c.n[k])
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s=%zu", got[0] ? " " : "",
                     sl_guard_kind_name((enum sl_guard_kind)k), c.n[k]);
    cr_assert_str_eq(got, want, "over \"%s\" repeated", pattern);
    free(text);
}

Test(guard_detect, megabytes_without_findings)
{
    check_big("<", "");
    check_big("[", "");
    check_big("@a", "");
    check_big("0", "");
    check_big("1", "");
    check_big("](", "");
    check_big("[](", "");
    check_big("a.", "");
    check_big("1 ", "");
    check_big("1-", "");
    check_big("+1 ", "");
    check_big("AA00 ", "");
    check_big("&lt;", "");
    check_big("(555) ", "");
    check_big("`", "md_code=1");
}

Test(guard_detect, megabytes_of_findings)
{
    /* "a@a.aa" at every 7th byte: the domain stops at the next '@'. */
    check_big("a@a.aa@", "email=599186");
    check_big("<a", "html=2097152");
    check_big("<a://x", "html=699051"); /* no '>': tags, not autolinks */
    check_big("[a](b)", "md_link=699050");
    check_big("<a://x> ", "md_link=524288");
    check_big("4111111111111111 ", "card=246723");
    /* One local part of 4 MiB, resumed after every card: read once, not once per card. */
    check_big("4111111111111111_", "card=246723");
}

Test(guard_detect, megabyte_link_spans)
{
    char *text = malloc(BIG);
    struct counts c = { { 0 }, 0, 0 };

    cr_assert_not_null(text);
    memset(text, '[', BIG);
    memcpy(text + BIG - 3, "](", 2);
    text[BIG - 1] = ')';
    cr_assert(sl_guard_detect(text, BIG, ALL_KINDS, on_count, &c));
    cr_assert_eq(c.n[SL_GUARD_MD_LINK], 1);
    cr_assert_eq(c.first_start, BIG - 4); /* the latest '[' */
    cr_assert_eq(c.last_end, BIG);
    free(text);
}
