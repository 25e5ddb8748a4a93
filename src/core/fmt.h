/* SPDX-License-Identifier: MIT */
/* fmt.h - text without printf for the request path: snprintf(dst, n, "%s", s) parses its
 * format and goes through stdio's machinery, 600 instructions to copy a dozen bytes, and a
 * decimal number costs as much.  Pure. */
#ifndef SL_FMT_H
#define SL_FMT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_FMT_U64_MAX 21 /* 18446744073709551615 and its NUL */

/* src into dst[size] (size > 0), cut to size - 1 bytes and always terminated, as
 * snprintf(dst, size, "%s", src) would; false when it was cut. */
bool sl_fmt_copy(char *dst, size_t size, const char *src);
/* v in decimal into out[SL_FMT_U64_MAX]; the length written, without the NUL. */
size_t sl_fmt_u64(char out[SL_FMT_U64_MAX], uint64_t v);

#define SL_FMT_DURATION_MAX (2 * SL_FMT_U64_MAX + 2)
/* ms as OpenAI writes reset times, a Go duration: "20ms" under a second, whole seconds rounded
 * up under a minute ("7s"), else minutes and the seconds rounded up ("6m0s").  The length. */
size_t sl_fmt_go_duration(char out[SL_FMT_DURATION_MAX], uint64_t ms);
#endif /* SL_FMT_H */
