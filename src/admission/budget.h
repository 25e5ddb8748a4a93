/* SPDX-License-Identifier: MIT */
/* budget.h - the admission store, one asynchronous interface whichever backend holds the
 * counters: reserve before the upstream call, settle (or refund) exactly once after it.
 *
 * Without [redis] url the counters are this host's shared memory (tenants.c) and every answer
 * comes at once, before sl_budget_reserve() returns.  With it, Redis is the source of truth
 * for budgets and rate windows across hosts (store_redis.c) and the answer comes from the
 * loop, after one round trip; while Redis is out of reach, fail_mode = local admits against
 * this host's shared memory with a share of the budget and journals every settlement for
 * Redis, and fail_mode = closed refuses.  The request path never knows which one answered. */
#ifndef SL_BUDGET_H
#define SL_BUDGET_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct sl_budget;
struct sl_budget_op;
struct sl_config;
struct sl_metrics;
struct sl_quota_result;
struct sl_redis;
struct sl_tenants;

/* verdict: an enum sl_quota_verdict (SL_QUOTA_OK with resv >= 0, the reservation to settle),
 * or -ENOSPC (no reservation slot left: busy), -EAGAIN (Redis out of reach and fail_mode =
 * closed), -ENOENT (the tenant is gone).  res is NULL for the negative ones. */
typedef void (*sl_budget_cb)(void *arg, int verdict, int resv, const struct sl_quota_result *res);

/* Worker, after fork.  With [redis] url this starts connecting.  NULL on failure. */
struct sl_budget *sl_budget_new(struct event_base *base, const struct sl_config *cfg,
                                struct sl_tenants *t, struct sl_metrics *m, pid_t pid);
void sl_budget_free(struct sl_budget *b);

/* Reserve `tokens` for tenant idx.  cb runs exactly once: before this returns (then the
 * result is NULL) or later from the loop (then the result is a handle for cancel). */
struct sl_budget_op *sl_budget_reserve(struct sl_budget *b, int tenant_idx, uint64_t tokens,
                                       sl_budget_cb cb, void *arg);
/* cb will not run; whatever the reservation turns out to be is given back. */
void sl_budget_cancel(struct sl_budget_op *op);
/* The request spent `actual` tokens (0 = refund). */
void sl_budget_settle(struct sl_budget *b, int resv, uint64_t actual);

/* Redis is configured and not reachable now (readyz, fail_mode closed). */
bool sl_budget_store_down(const struct sl_budget *b);
/* The Redis connection, NULL without [redis] url (admin API, tenant sync). */
struct sl_redis *sl_budget_redis(const struct sl_budget *b);
#endif /* SL_BUDGET_H */
