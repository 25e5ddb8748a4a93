/* SPDX-License-Identifier: MIT */
/* guard_detect.h - the built-in detectors of the input guard (SPEC §13) over one decoded text:
 * markup (html, md_image, md_link, md_code) and personal data (email, phone, card with its
 * Luhn check, ssn, iban with its mod-97 check).  Pure: no allocation, no I/O, and linear in
 * the text's length whatever it holds (megabytes of '<' or of '[' included), so it can run on
 * every request.  The text is the UTF-8 a JSON string decodes to: it may hold NUL bytes.
 *
 * Only ASCII counts: "letter" and "digit" below mean A-Z a-z and 0-9, and every other byte
 * (NUL, punctuation, any byte of a multi-byte UTF-8 character) is a boundary.  Offsets are in
 * bytes.
 *
 * Markup
 *   html      '<' then a letter, '/', '!' or '?' (so "a < b", "x<3" and "<=" pass); or "&lt;"
 *             in any case then a letter.  An autolink (below) is md_link, not html.
 *   md_image  "![" then, later, "](" then, later, ')'.
 *   md_link   '[' then, later, "](" then, later, ')'; or an autolink: '<', a scheme (a letter
 *             then up to 31 letters, digits, '+', '.', '-'), "://", one or more bytes that are
 *             none of '<', '>', space or an ASCII control, then '>'.
 *             A "](" closes the latest '[' not yet closed; it is an image when that '[' follows
 *             a '!'.  Once a "](" has been seen, the next ')' anywhere after it completes the
 *             finding, whose span runs from the '[' (or its '!') to that ')'.
 *   md_code   three backticks, or three tildes, in a row.
 *
 * Personal data ("on a boundary": no letter or digit right before or after)
 *   email  local@domain: local is a run of [A-Za-z0-9._%+-] not starting (leading dots are
 *          left out) or ending with '.'; domain is two or more labels of [A-Za-z0-9-] joined
 *          by single dots, the last of two or more letters.  A trailing '.' is left out.
 *   card   13-19 digits on a boundary, the first not 0, passing Luhn: one run, or groups of
 *          3-6 digits joined by single spaces or by single dashes (one kind per number).  The
 *          longest such run of whole groups is taken ("4111 1111 1111 1111 12/26" gives the
 *          16 digits).
 *   ssn    ddd-dd-dddd or ddd dd dddd (one separator kind) on a boundary; area not 000, 666
 *          or 9xx, group not 00, serial not 0000.  Nine digits alone are not an ssn.
 *   iban   two upper-case letters, two digits, then 11-30 upper-case letters or digits, on a
 *          boundary: one run, or groups of four joined by single spaces (the last group 1-4),
 *          the longest run of whole groups that passes mod-97.
 *   phone  '+' (not after a letter or digit), then 8-15 digits in groups joined by single
 *          spaces, dashes or dots, with at most one parenthesised group of 1-5 digits
 *          ("+44 20 7946 0958", "+1 (555) 123-4567", "+49 (0)30 1234567"): the longest such
 *          run of whole groups, not followed by a letter.  Or a North American number:
 *          "(ddd) ddd-dddd" (the space optional; '-', ' ' or '.' before the last four),
 *          "ddd-ddd-dddd", "ddd.ddd.dddd" or "ddd ddd dddd", optionally after "1" and one of
 *          those separators ("1-800-555-0199"), on a boundary.  Ten digits alone are not a
 *          phone.
 *   An ssn or a North American phone does not start or end inside a longer number, nor does
 *   a grouped card start inside one: the byte before (after) it is not one of its own
 *   separators with a digit beyond, so "10.100.200.3000" and "555-123-4567-89" hold no
 *   phone, while "2026-12-07 555-123-4567" holds one.  Bytes of an earlier span do not count.
 *
 * Which span wins: the scan goes left to right and takes, at each byte, the first of email,
 * card, iban, ssn, phone that matches there, then resumes after it; so spans never overlap
 * and the leftmost wins.  A '+' right before a card does not start a phone (the card wins).
 * Which kinds are wanted does not change the spans, only which are reported.
 *
 * What the detectors do not catch (and what they wrongly catch):
 *   html      numeric entities ("&#60;script"), "&lt;" before '/', '!' or '?', tags hidden
 *             by other encodings (URL-encoding, full-width '<').  Wrongly: prose like "a <b".
 *   md_link   reference links ("[text][ref]" with "[ref]: url" elsewhere), bare URLs;
 *             "<user@host>" and "<mailto:...>" count as html.  Wrongly: code such as
 *             "a[i](x)", and any text with a "](" after a '[' and a ')' anywhere later.
 *   md_image  reference images ("![alt][ref]"); an HTML <img> counts as html.
 *   md_code   indented code blocks, inline code in one or two backticks.  Wrongly: three
 *             backticks inside a line.
 *   email     addresses with non-ASCII characters, quoted local parts, IP-literal domains,
 *             obfuscations ("john at example dot com"), a domain whose last label runs on
 *             with a digit or a '-' ("x@example.com-").
 *   card      numbers grouped otherwise (dots, double spaces, mixed separators), non-ASCII
 *             digits.  Wrongly: any 13-19 digit number that passes Luhn (one in ten does),
 *             such as some order or tracking numbers.
 *   ssn       nine digits without separators, mixed separators.  Wrongly: any ddd-dd-dddd
 *             code in range (numbers are issued without further structure).
 *   iban      lower-case IBANs, groups other than four, IBANs split across lines.  The
 *             country's own length is not checked, only mod-97 (one random string in 97
 *             passes).
 *   phone     plain digit runs ("5551234567": order numbers and timestamps look the same),
 *             national numbers other than North American ("020 7946 0958", "030 1234567"),
 *             7-digit local numbers ("555-0199"), "00" international prefixes, extensions.
 *             Wrongly: '+' then 8-15 digits of something else ("+12345678.90"), dotted
 *             triplets such as a version "123.456.7890".
 *   all       numbers run together with another by their own separator are missed or read
 *             as one: "555 123 4567 12" holds no phone, and the first 13 digits of
 *             "555 123 4567 4111 1111 1111 1111" pass Luhn, so they are taken as a card. */
#ifndef SL_GUARD_DETECT_H
#define SL_GUARD_DETECT_H
#include <stdbool.h>
#include <stddef.h>

enum sl_guard_kind {
    SL_GUARD_HTML,     /* '<' then a letter, '/', '!' or '?'; or "&lt;" then a letter */
    SL_GUARD_MD_IMAGE, /* ![...](...) */
    SL_GUARD_MD_LINK,  /* [...](...) or <scheme://...> */
    SL_GUARD_MD_CODE,  /* a fence: three backticks or three tildes */
    SL_GUARD_EMAIL,
    SL_GUARD_PHONE,
    SL_GUARD_CARD, /* 13-19 digits that pass Luhn */
    SL_GUARD_SSN,  /* US social security number, ddd-dd-dddd */
    SL_GUARD_IBAN, /* passes mod-97 */
    SL_GUARD_KIND_COUNT
};

#define SL_GUARD_BIT(k) (1u << (k))
#define SL_GUARD_MARKUP_KINDS                                                                      \
    (SL_GUARD_BIT(SL_GUARD_HTML) | SL_GUARD_BIT(SL_GUARD_MD_IMAGE) |                               \
     SL_GUARD_BIT(SL_GUARD_MD_LINK) | SL_GUARD_BIT(SL_GUARD_MD_CODE))
#define SL_GUARD_PII_KINDS                                                                         \
    (SL_GUARD_BIT(SL_GUARD_EMAIL) | SL_GUARD_BIT(SL_GUARD_PHONE) | SL_GUARD_BIT(SL_GUARD_CARD) |   \
     SL_GUARD_BIT(SL_GUARD_SSN) | SL_GUARD_BIT(SL_GUARD_IBAN))

/* One finding: text[start, end) is the matched span. */
struct sl_guard_span {
    size_t start, end;
    enum sl_guard_kind kind;
};

/* Called for each finding; false stops the scan. */
typedef bool (*sl_guard_found_fn)(const struct sl_guard_span *span, void *arg);

/* Scan text[0, len) once for the kinds in wanted (SL_GUARD_BIT() of each) and report what it
 * finds, as the scan recognises it.  Every personal-data span is reported, in order of start,
 * and they never overlap (a digit run that is a card is not also reported as a phone), so a
 * caller may replace each.  A markup kind is reported at least once when present: html and an
 * autolink where they start, md_code at its third character, a [...](...) at its ')'; so a
 * markup finding may come after personal-data findings that start later than it, and may
 * overlap them.  Returns false when found stopped the scan, true otherwise (also when text is
 * NULL, wanted is 0 or found is NULL: nothing is scanned). */
bool sl_guard_detect(const char *text, size_t len, unsigned wanted, sl_guard_found_fn found,
                     void *arg);

/* "html", "md_image", "md_link", "md_code", "email", "phone", "card", "ssn", "iban"; NULL
 * for a value out of range. */
const char *sl_guard_kind_name(enum sl_guard_kind k);
/* The kind named s[0, n) (case-sensitive), or -1. */
int sl_guard_kind_from_name(const char *s, size_t n);
/* What a masked span becomes: "[EMAIL]", "[PHONE]", "[CARD]", "[SSN]", "[IBAN]"; NULL for a
 * markup kind. */
const char *sl_guard_mask_text(enum sl_guard_kind k);

/* The checksums, over s[0, n) with ' ' and '-' ignored: Luhn over 13-19 digits; an IBAN's
 * mod-97 (two letters, two digits, then 11-30 letters or digits; letters either case),
 * computed piecewise.  Any other byte, or a count out of range, is false. */
bool sl_guard_luhn(const char *s, size_t n);
bool sl_guard_iban_mod97(const char *s, size_t n);
#endif /* SL_GUARD_DETECT_H */
