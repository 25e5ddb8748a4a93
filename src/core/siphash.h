/* SPDX-License-Identifier: MIT */
/* siphash.h - SipHash-2-4 with its 128-bit output (Aumasson and Bernstein, 2012): a keyed
 * pseudo-random function, a few hundred instructions for a short input where SHA-256 costs
 * thousands.  Without the 16-byte key its output cannot be predicted or matched on purpose,
 * which is what auth_cache.h needs to name a presented key without keeping it.  Pure. */
#ifndef SL_SIPHASH_H
#define SL_SIPHASH_H
#include <stddef.h>

#define SL_SIPHASH_KEY_LEN 16
#define SL_SIPHASH_OUT_LEN 16

void sl_siphash128(const unsigned char key[SL_SIPHASH_KEY_LEN], const void *data, size_t len,
                   unsigned char out[SL_SIPHASH_OUT_LEN]);
#endif /* SL_SIPHASH_H */
