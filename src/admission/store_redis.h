/* SPDX-License-Identifier: MIT */
/* store_redis.h - the Redis half of budget.h: reserve and settle through the Lua scripts of
 * redis_scripts.h, the fail_mode fallback, and the replay of settlements that Redis has not
 * confirmed yet (they wait in the shared reservation table, see reservations.h).
 *
 * Round trips: one EVALSHA before the upstream call (reserve: rate windows and budget at
 * once) per request; settlements follow within a few milliseconds, those of one tenant that
 * finish together in one call (store_redis_settle.c).  None else on the request path. */
#ifndef SL_STORE_REDIS_H
#define SL_STORE_REDIS_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "admission/budget.h"

struct sl_store_redis;
struct sl_tenants;

struct sl_store_redis *sl_store_redis_new(struct event_base *base, const struct sl_config *cfg,
                                          struct sl_tenants *t, struct sl_metrics *m, pid_t pid);
void sl_store_redis_free(struct sl_store_redis *s);
struct sl_redis *sl_store_redis_conn(const struct sl_store_redis *s);

/* As sl_budget_reserve() / _cancel() / _settle(). */
struct sl_budget_op *sl_store_redis_reserve(struct sl_store_redis *s, int tenant_idx,
                                            uint64_t tokens, sl_budget_cb cb, void *arg);
void sl_store_redis_cancel(struct sl_budget_op *op);
void sl_store_redis_settle(struct sl_store_redis *s, int resv, uint64_t actual);
#endif /* SL_STORE_REDIS_H */
