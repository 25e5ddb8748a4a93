/* SPDX-License-Identifier: MIT */
/* tenant_sync.h - with [redis] url, the tenant table (tenants, their limits, their API keys)
 * lives in Redis, so that every host serves the same tenants; this host's shared memory is
 * a copy the request path reads without a round trip.
 *
 * Freshness: each worker asks Redis for the table's version every 500 ms (one GET) and,
 * when it changed, copies the whole table in (one script call).  A change made through any
 * host's admin API, or by hand with redis-cli followed by INCR of the version key
 * (docs/REDIS.md), is served by every host within a second.  Chosen over keyspace
 * notifications, which need server configuration, are lost while disconnected, and would
 * need a second connection per worker.
 *
 * A tenant is a field of one hash, its value a JSON object of limits, "models", the
 * canonical list as one string ("a,b"), and "guard", the name of its input-guard policy
 * ("none"; "" = the default).  A value without "models" (written by an older gateway, or by
 * hand) means every model; one without "guard", the default policy.
 *
 * The admin API's writes go through here too: each is one script call, then a copy of the
 * table, so the answer the admin client gets already holds on this host. */
#ifndef SL_TENANT_SYNC_H
#define SL_TENANT_SYNC_H
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct sl_config;
struct sl_limits;
struct sl_metrics;
struct sl_redis;
struct sl_tenant_sync;
struct sl_tenants;

struct sl_tenant_sync *sl_tenant_sync_new(struct event_base *base, const struct sl_config *cfg,
                                          struct sl_tenants *t, struct sl_redis *rd,
                                          struct sl_metrics *m);
void sl_tenant_sync_free(struct sl_tenant_sync *s);

/* status: "ok", "exists" or "missing" from the script; NULL when Redis did not answer. */
typedef void (*sl_tenant_sync_cb)(void *arg, const char *status);
/* Each returns 0 (cb will run, from the loop) or -ENOTCONN (cb will not run).  put writes a
 * tenant's limits, its canonical model list (model_list.h; "" = every model) and its guard
 * setting (a name, "none", or "" = the default). */
int sl_tenant_sync_put(struct sl_tenant_sync *s, const char *name, const struct sl_limits *lim,
                       const char *models, const char *guard, bool create, sl_tenant_sync_cb cb,
                       void *arg);
int sl_tenant_sync_delete(struct sl_tenant_sync *s, const char *name, sl_tenant_sync_cb cb,
                          void *arg);
int sl_tenant_sync_add_key(struct sl_tenant_sync *s, const unsigned char sha256[32],
                           const char *tenant, const char *id, bool tenant_in_redis,
                           sl_tenant_sync_cb cb, void *arg);
int sl_tenant_sync_revoke_key(struct sl_tenant_sync *s, const char *id, sl_tenant_sync_cb cb,
                              void *arg);
/* Copy the table now (status "ok" once done). */
int sl_tenant_sync_refresh(struct sl_tenant_sync *s, sl_tenant_sync_cb cb, void *arg);

/* The tenant's budget usage in its current period, as Redis counts it.  ok false: no
 * answer.  reset: zero the period's usage first. */
typedef void (*sl_tenant_usage_cb)(void *arg, bool ok, uint64_t used, uint64_t reserved);
int sl_tenant_sync_usage(struct sl_tenant_sync *s, int tenant_idx, bool reset,
                         sl_tenant_usage_cb cb, void *arg);
#endif /* SL_TENANT_SYNC_H */
