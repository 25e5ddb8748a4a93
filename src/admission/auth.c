/* SPDX-License-Identifier: MIT */
/* auth.c - bearer keys to tenants. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/auth.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/config.h"
#include "admission/auth_cache.h"
#include "admission/tenants.h"

const char *sl_auth_bearer(const char *header, size_t *len)
{
    const char *k;
    size_t n;

    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    k = header + 7;
    while (*k == ' ')
        k++;
    n = strlen(k);
    while (n && k[n - 1] == ' ')
        n--;
    if (n == 0 || n > SL_AUTH_KEY_MAX)
        return NULL;
    *len = n;
    return k;
}

void sl_auth_hash(const char *key, size_t len, unsigned char out[32])
{
    SHA256((const unsigned char *)key, len, out);
}

int sl_auth_tenant(struct sl_tenants *t, const struct sl_config *cfg, struct sl_auth_cache *cache,
                   const char *header)
{
    unsigned char sha[32];
    const char *key;
    size_t len;

    if (cfg->auth_mode == SL_AUTH_NONE)
        return sl_tenants_by_name(t, SL_TENANT_ANONYMOUS);
    key = sl_auth_bearer(header, &len);
    if (!key)
        return -ENOENT;
    if (cache)
        return sl_auth_cache_tenant(cache, t, key, len);
    sl_auth_hash(key, len, sha);
    return sl_tenants_by_key(t, sha);
}

bool sl_auth_is_admin(const struct sl_config *cfg, const char *header)
{
    unsigned char sha[32];
    const char *key;
    size_t len;

    if (!cfg->has_admin_key)
        return false;
    key = sl_auth_bearer(header, &len);
    if (!key)
        return false;
    sl_auth_hash(key, len, sha);
    return CRYPTO_memcmp(sha, cfg->admin_key_sha256, 32) == 0;
}
