/* SPDX-License-Identifier: MIT */
/* auth_cache.h - a worker's memory of the bearer keys it has matched lately, so that a key
 * seen before costs a SipHash (a few hundred instructions) instead of a SHA-256 and a probe of the
 * shared key table (about 3,000, and 8,000 through OpenSSL's one-shot SHA256()).
 *
 * What it keeps.  Per key: a 128-bit SipHash tag of the key under a secret this process drew
 * from getrandom(2) when it made the cache, the key's SHA-256 as the shared table holds it, and
 * the key's slot in that table.  Never the key itself: a core file or a read of the worker's
 * memory shows tags and SHA-256 hashes, and the shared table has those hashes already, so the
 * cache gives nothing more to guess a key from.
 *
 * When it answers.  A hit needs the presented key's tag to equal a stored one, compared in
 * constant time; without the secret, no one can make a different key produce a stored tag except
 * by chance (2^-128 a try), and the slot a key lands in says nothing outside the process.  Every
 * hit is then checked against the shared table (sl_tenants_key_at): the slot must still hold
 * that hash, live, for a live tenant.  A key revoked or a tenant deleted by any process (the
 * admin API, a reload, the copy from Redis) is refused on its very next request, with no
 * message for workers to miss.
 *
 * How big.  SL_AUTH_CACHE_SLOTS entries, fixed when it is made.  Only a key that matched a
 * live key is stored, so keys that match nothing (a scan, a spray of guesses) never enter and
 * evict nothing; each costs what it did before plus one tag.  A valid key can displace another
 * valid key in its slot, and that one pays the full lookup next time. */
#ifndef SL_AUTH_CACHE_H
#define SL_AUTH_CACHE_H
#include <stddef.h>
#include <stdint.h>

#define SL_AUTH_CACHE_SLOTS 1024 /* a power of two; 52 bytes each */

struct sl_auth_cache;
struct sl_tenants;

/* After fork: the secret is this process's own.  NULL on OOM or without randomness (callers then
 * go without a cache). */
struct sl_auth_cache *sl_auth_cache_new(void);
void sl_auth_cache_free(struct sl_auth_cache *c);
/* The live tenant whose key this is (len bytes, not NUL-terminated), or -ENOENT. */
int sl_auth_cache_tenant(struct sl_auth_cache *c, struct sl_tenants *t, const char *key,
                         size_t len);
/* Lookups answered from the cache, and the others (every one that hashed the key). */
void sl_auth_cache_counts(const struct sl_auth_cache *c, uint64_t *hits, uint64_t *misses);
#endif /* SL_AUTH_CACHE_H */
