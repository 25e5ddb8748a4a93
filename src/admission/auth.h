/* SPDX-License-Identifier: MIT */
/* auth.h - who is calling: the tenant behind `Authorization: Bearer <key>`.  Keys are known
 * only as SHA-256 hashes (tenants.h) and the presented key is hashed before any comparison
 * (a SipHash tag for the worker's cache of keys it has matched, auth_cache.h, and a SHA-256
 * otherwise), so neither a log nor a timing difference can give one away.  With [auth] mode = none
 * every request is tenant "anonymous" with the default limits. */
#ifndef SL_AUTH_H
#define SL_AUTH_H
#include <stdbool.h>
#include <stddef.h>

struct sl_auth_cache;
struct sl_config;
struct sl_tenants;

#define SL_AUTH_KEY_MAX 512 /* longer bearer tokens are refused unhashed */

/* The key in an Authorization header value ("Bearer KEY", scheme case-insensitive), or NULL;
 * *len set.  Pure. */
const char *sl_auth_bearer(const char *header, size_t *len);
void sl_auth_hash(const char *key, size_t len, unsigned char out[32]);
/* Tenant index for this Authorization header value (may be NULL), or -ENOENT.  Through the
 * worker's key cache (auth_cache.h) when cache is not NULL. */
int sl_auth_tenant(struct sl_tenants *t, const struct sl_config *cfg, struct sl_auth_cache *cache,
                   const char *header);
/* Is this the admin key of cfg? (constant time; false when none is configured) */
bool sl_auth_is_admin(const struct sl_config *cfg, const char *header);
#endif /* SL_AUTH_H */
