/* SPDX-License-Identifier: MIT */
/* siphash.c - SipHash-2-4-128: two rounds per 8-byte word, four to finish each half. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/siphash.h"

#include <endian.h>
#include <stdint.h>
#include <string.h>

struct sip {
    uint64_t v0, v1, v2, v3;
};

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

/* Little-endian, whatever the host: the tag must not depend on the machine. */
static uint64_t load_word(const unsigned char *p)
{
    uint64_t w;

    memcpy(&w, p, sizeof(w));
    return le64toh(w);
}

static uint64_t load_tail(const unsigned char *p, size_t n)
{
    uint64_t w = 0;

    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

static void store_le(unsigned char *p, uint64_t w)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(w >> (8 * i));
}

static void rounds(struct sip *s, int n)
{
    while (n--) {
        s->v0 += s->v1;
        s->v1 = rotl(s->v1, 13) ^ s->v0;
        s->v0 = rotl(s->v0, 32);
        s->v2 += s->v3;
        s->v3 = rotl(s->v3, 16) ^ s->v2;
        s->v0 += s->v3;
        s->v3 = rotl(s->v3, 21) ^ s->v0;
        s->v2 += s->v1;
        s->v1 = rotl(s->v1, 17) ^ s->v2;
        s->v2 = rotl(s->v2, 32);
    }
}

static void absorb(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    rounds(s, 2);
    s->v0 ^= m;
}

void sl_siphash128(const unsigned char key[SL_SIPHASH_KEY_LEN], const void *data, size_t len,
                   unsigned char out[SL_SIPHASH_OUT_LEN])
{
    const unsigned char *p = data;
    uint64_t k0 = load_word(key), k1 = load_word(key + 8);
    struct sip s = { k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull ^ 0xee,
                     k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull };
    size_t whole = len & ~(size_t)7;

    for (size_t i = 0; i < whole; i += 8)
        absorb(&s, load_word(p + i));
    /* The last word: the remaining bytes, and the length's low byte on top. */
    absorb(&s, load_tail(p + whole, len - whole) | (uint64_t)(len & 0xff) << 56);
    s.v2 ^= 0xee;
    rounds(&s, 4);
    store_le(out, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
    s.v1 ^= 0xdd;
    rounds(&s, 4);
    store_le(out + 8, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
}
