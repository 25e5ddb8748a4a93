/* SPDX-License-Identifier: MIT */
/* utf8.h - strict UTF-8 validation, decoding and Unicode whitespace trimming.  Pure: no
 * allocation, no locale, never reads outside [s, s + len).  "Strict" means RFC 3629: no
 * overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF. */
#ifndef SL_UTF8_H
#define SL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Validate s[0..len) as strict UTF-8.  Returns the number of code points (U+0000 counts as
 * one), or -1 if any sequence is invalid or truncated.  s may be NULL when len is 0. */
ssize_t sl_utf8_count(const char *s, size_t len);

/* Decode the code point that starts s[0..len).  Returns its length in bytes (1..4) and sets
 * *cp, or returns -1 (and leaves *cp alone) if s does not start with a complete, strict
 * sequence, including when len is 0. */
int sl_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Does cp have Unicode's White_Space property?  This is the set Rust's str::trim() strips,
 * and so pydantic's str_strip_whitespace: U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680,
 * U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.  Not U+200B or U+FEFF, which are
 * not White_Space. */
bool sl_utf8_is_space(uint32_t cp);

/* Strip leading and trailing White_Space from s[0..len).  Sets *off to the offset of the
 * first kept byte and returns the number of kept bytes.  Trimming from either end stops at
 * the first sequence that is not valid UTF-8, so the result stays inside s whatever it holds;
 * validate first if that matters. */
size_t sl_utf8_trim(const char *s, size_t len, size_t *off);

#endif /* SL_UTF8_H */
