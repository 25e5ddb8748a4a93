/* SPDX-License-Identifier: MIT */
/* guard_detect.h - the built-in detectors of the input guard (SPEC §13) over one decoded text:
 * markup (html, md_image, md_link, md_code) and personal data (email, phone, card with its
 * Luhn check, ssn, iban with its mod-97 check).  Pure: no allocation, no I/O, and linear in
 * the text's length whatever it holds (megabytes of '<' or of '[' included), so it can run on
 * every request.  The text is the UTF-8 a JSON string decodes to: it may hold NUL bytes. */
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
 * finds, in order of start.  Every personal-data span is reported, and they never overlap (a
 * digit run that is a card is not also reported as a phone), so a caller may replace each.
 * A markup kind is reported at least once when present.  Returns false when found stopped
 * the scan, true otherwise. */
bool sl_guard_detect(const char *text, size_t len, unsigned wanted, sl_guard_found_fn found,
                     void *arg);

/* "html", "md_image", "md_link", "md_code", "email", "phone", "card", "ssn", "iban". */
const char *sl_guard_kind_name(enum sl_guard_kind k);
/* The kind named s[0, n) (case-sensitive), or -1. */
int sl_guard_kind_from_name(const char *s, size_t n);
/* What a masked span becomes: "[EMAIL]", "[PHONE]", "[CARD]", "[SSN]", "[IBAN]"; NULL for a
 * markup kind. */
const char *sl_guard_mask_text(enum sl_guard_kind k);

/* The checksums, over s[0, n) with ' ' and '-' ignored: Luhn over 13-19 digits; an IBAN's
 * mod-97 (two letters, two digits, then 11-30 letters or digits; letters either case). */
bool sl_guard_luhn(const char *s, size_t n);
bool sl_guard_iban_mod97(const char *s, size_t n);
#endif /* SL_GUARD_DETECT_H */
