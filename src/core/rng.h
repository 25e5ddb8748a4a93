/* SPDX-License-Identifier: MIT */
/* rng.h - a fast per-process pseudo-random generator (xoshiro256**) for request ids and
 * back-off jitter.  Not for secrets: keys come from getrandom(2) directly.  Each process must
 * call sl_rng_seed() after fork(), or siblings would share one sequence. */
#ifndef SL_RNG_H
#define SL_RNG_H
#include <stdint.h>

void sl_rng_seed(void);
uint64_t sl_rng_u64(void);
static inline uint32_t sl_rng_u32(void)
{
    return (uint32_t)(sl_rng_u64() >> 32);
}
#endif /* SL_RNG_H */
