/* SPDX-License-Identifier: MIT */
/* redis_scripts.h - the Lua scripts that make Redis the source of truth for budgets, rate
 * windows and the tenant table, and the key names they work on (docs/REDIS.md).
 *
 * Per-tenant keys carry the tenant's name as a {hash tag}, so every key one admission touches
 * lives in one slot (Redis Cluster runs a script only on keys of one slot); the tenant table
 * has a tag of its own, {@admin}, which no tenant name can take.  Every key a script touches
 * is passed in KEYS.  Time inside the scripts comes from the server (TIME), so every host's
 * rate windows run on one clock; budget periods are named by the calling host's UTC clock. */
#ifndef SL_REDIS_SCRIPTS_H
#define SL_REDIS_SCRIPTS_H
#include <stddef.h>

#include "admission/redis.h"

/* reserve: KEYS rpm tpm used reserved resv resv_exp expired;
 *   ARGV id tokens rpm tpm budget lease_ms used_expire_at_s budget_wait_ms lifetime(0|1).
 *   -> {verdict (enum sl_quota_verdict), retry_ms, never, rpm_remaining, rpm_reset_ms,
 *       tpm_remaining, tpm_reset_ms, used, reserved}; remaining -1 = unlimited. */
extern struct sl_redis_script sl_script_reserve;
/* settle_batch: KEYS tpm used reserved resv resv_exp expired marker...;
 *   ARGV tpm used_expire_at_s marker_ttl_s, then per settlement: id actual marker_index
 *   (into KEYS, 1-based; 0 for a reservation Redis itself made, which needs no marker).
 *   -> how many were applied (the others had been before).  All of one tenant. */
extern struct sl_redis_script sl_script_settle_batch;
/* admin_put: KEYS tenants keys version; ARGV name json create(1)|update(0) -> "ok",
 *   "exists", "missing". */
extern struct sl_redis_script sl_script_tenant_put;
/* admin_delete: KEYS tenants keys version; ARGV name -> "ok" | "missing". */
extern struct sl_redis_script sl_script_tenant_delete;
/* key_add: KEYS tenants keys version; ARGV sha256hex json tenant must_exist(1|0)
 *   -> "ok" | "exists" | "missing". */
extern struct sl_redis_script sl_script_key_add;
/* key_revoke: KEYS tenants keys version; ARGV key_id -> "ok" | "missing". */
extern struct sl_redis_script sl_script_key_revoke;
/* dump: KEYS tenants keys version -> {version, {name, json, ...}, {sha, json, ...}}. */
extern struct sl_redis_script sl_script_dump;

/* Once per process, before the first call: the SHA-1 of every script. */
void sl_redis_scripts_init(void);

/* Key names.  Each writes prefix + "{" + tenant + "}:" + what (+ ":" + arg) into out and
 * returns its length, or 0 if it does not fit. */
size_t sl_redis_tenant_key(char *out, size_t sz, const char *prefix, const char *tenant,
                           const char *what, const char *arg);
/* prefix + "{@admin}:" + what. */
size_t sl_redis_admin_key(char *out, size_t sz, const char *prefix, const char *what);
#define SL_REDIS_KEY_MAX 256
/* The highest rate (per minute) the scripts apply: Lua's doubles must hold limit * 60000
 * exactly.  A higher rpm or tpm is applied, and reported in x-ratelimit-limit-*, as this. */
#define SL_REDIS_RATE_MAX 10000000000
/* Settle markers live this long (s): a settle replayed later than that after it was first
 * applied would count twice. */
#define SL_REDIS_MARKER_TTL_S 86400
#endif /* SL_REDIS_SCRIPTS_H */
