/* SPDX-License-Identifier: MIT */
/* rng.c - xoshiro256** seeded from the kernel's random pool. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/rng.h"

#include <stdbool.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t state[4];
static bool seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sl_rng_seed(void)
{
    uint64_t s;
    struct timespec ts;
    int i;

    if (getrandom(state, sizeof(state), GRND_NONBLOCK) != (ssize_t)sizeof(state)) {
        /* Early boot with an empty pool: fall back to something that still differs
         * between sibling processes. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec;
        for (i = 0; i < 4; i++)
            state[i] = splitmix(&s);
    }
    if (!(state[0] | state[1] | state[2] | state[3]))
        state[0] = 1;
    seeded = true;
}

uint64_t sl_rng_u64(void)
{
    uint64_t result, t;

    if (!seeded)
        sl_rng_seed();
    result = rotl(state[1] * 5, 7) * 9;
    t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}
