/* SPDX-License-Identifier: MIT */
/* auth_cache.c - bearer keys to tenants through a per-process table of SipHash tags. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/auth_cache.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/siphash.h"
#include "admission/auth.h"
#include "admission/tenants.h"

#define NO_SLOT UINT32_MAX

struct entry {
    unsigned char tag[SL_SIPHASH_OUT_LEN];
    unsigned char sha256[32];
    uint32_t key_slot; /* in the shared key table; NO_SLOT = empty */
};

struct sl_auth_cache {
    unsigned char secret[SL_SIPHASH_KEY_LEN];
    /* SHA256() looks the algorithm up by name and allocates a context on every call, more than
     * the hashing itself: a miss uses these, fetched once. */
    EVP_MD *sha256;
    EVP_MD_CTX *md;
    uint64_t hits, misses;
    struct entry entries[SL_AUTH_CACHE_SLOTS];
};

struct sl_auth_cache *sl_auth_cache_new(void)
{
    struct sl_auth_cache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    if (getrandom(c->secret, sizeof(c->secret), GRND_NONBLOCK) != (ssize_t)sizeof(c->secret)) {
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < SL_AUTH_CACHE_SLOTS; i++)
        c->entries[i].key_slot = NO_SLOT;
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->md = EVP_MD_CTX_new();
    return c;
}

void sl_auth_cache_free(struct sl_auth_cache *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->md);
    EVP_MD_free(c->sha256);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static void hash_key(struct sl_auth_cache *c, const char *key, size_t len, unsigned char out[32])
{
    if (c->sha256 && c->md && EVP_DigestInit_ex2(c->md, c->sha256, NULL) &&
        EVP_DigestUpdate(c->md, key, len) && EVP_DigestFinal_ex(c->md, out, NULL))
        return;
    sl_auth_hash(key, len, out);
}

/* The entry a tag lives in: the tag is unpredictable without the secret, so is its slot. */
static struct entry *entry_for(struct sl_auth_cache *c, const unsigned char *tag)
{
    uint32_t h = (uint32_t)tag[0] | (uint32_t)tag[1] << 8 | (uint32_t)tag[2] << 16;

    return &c->entries[h & (SL_AUTH_CACHE_SLOTS - 1)];
}

/* The full lookup; a key that matched goes into e. */
static int lookup(struct sl_auth_cache *c, struct sl_tenants *t, const char *key, size_t len,
                  const unsigned char *tag, struct entry *e)
{
    unsigned char sha[32];
    uint32_t slot;
    int idx;

    hash_key(c, key, len, sha);
    idx = sl_tenants_find_key(t, sha, &slot);
    if (idx >= 0) {
        memcpy(e->tag, tag, SL_SIPHASH_OUT_LEN);
        memcpy(e->sha256, sha, sizeof(sha));
        e->key_slot = slot;
    }
    return idx;
}

int sl_auth_cache_tenant(struct sl_auth_cache *c, struct sl_tenants *t, const char *key, size_t len)
{
    unsigned char tag[SL_SIPHASH_OUT_LEN];
    struct entry *e;
    int idx;

    sl_siphash128(c->secret, key, len, tag);
    e = entry_for(c, tag);
    if (e->key_slot != NO_SLOT && CRYPTO_memcmp(e->tag, tag, sizeof(tag)) == 0) {
        if ((idx = sl_tenants_key_at(t, e->key_slot, e->sha256)) >= 0) {
            c->hits++;
            return idx;
        }
        /* Revoked, or its tenant deleted: forget it, and ask the table (the key may live on
         * in another slot, or for another tenant). */
        e->key_slot = NO_SLOT;
    }
    c->misses++;
    return lookup(c, t, key, len, tag, e);
}

void sl_auth_cache_counts(const struct sl_auth_cache *c, uint64_t *hits, uint64_t *misses)
{
    *hits = c->hits;
    *misses = c->misses;
}
