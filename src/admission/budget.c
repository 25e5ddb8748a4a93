/* SPDX-License-Identifier: MIT */
/* budget.c - the admission store: this host's shared memory, or Redis. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/budget.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/quota.h"
#include "admission/redis.h"
#include "admission/reservations.h"
#include "admission/store_redis.h"
#include "admission/tenants.h"

struct sl_budget {
    struct sl_tenants *t;
    pid_t pid;
    struct sl_store_redis *redis; /* NULL: shared memory only */
};

struct sl_budget *sl_budget_new(struct event_base *base, const struct sl_config *cfg,
                                struct sl_tenants *t, struct sl_metrics *m, pid_t pid)
{
    struct sl_budget *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->t = t;
    b->pid = pid;
    if (cfg->redis_url) {
        b->redis = sl_store_redis_new(base, cfg, b->t, m, pid);
        if (!b->redis) {
            free(b);
            return NULL;
        }
    }
    return b;
}

void sl_budget_free(struct sl_budget *b)
{
    if (!b)
        return;
    sl_store_redis_free(b->redis);
    free(b);
}

static void too_large(struct sl_quota_result *res)
{
    memset(res, 0, sizeof(*res));
    res->verdict = SL_QUOTA_TOO_LARGE;
    res->never = true;
    res->retry_after_ms = SL_QUOTA_WINDOW_MS;
}

struct sl_budget_op *sl_budget_reserve(struct sl_budget *b, int tenant_idx, uint64_t tokens,
                                       sl_budget_cb cb, void *arg)
{
    struct sl_quota_result res;
    int resv = -1, v;

    if (tokens > SL_QUOTA_TOKENS_MAX) {
        too_large(&res);
        cb(arg, SL_QUOTA_TOO_LARGE, -1, &res);
        return NULL;
    }
    if (b->redis)
        return sl_store_redis_reserve(b->redis, tenant_idx, tokens, cb, arg);
    v = sl_tenants_admit(b->t, tenant_idx, tokens, b->pid, sl_clock_mono_ms(),
                         (int64_t)(sl_clock_wall_ms() / 1000), &res, &resv);
    cb(arg, v, v == SL_QUOTA_OK ? resv : -1, v < 0 ? NULL : &res);
    return NULL;
}

void sl_budget_cancel(struct sl_budget_op *op)
{
    sl_store_redis_cancel(op); /* only the Redis store has operations in flight */
}

void sl_budget_settle(struct sl_budget *b, int resv, uint64_t actual)
{
    uint64_t now = sl_clock_mono_ms();
    int64_t wall = (int64_t)(sl_clock_wall_ms() / 1000);

    if (resv < 0)
        return;
    if (b->redis)
        sl_store_redis_settle(b->redis, resv, actual);
    else if (actual)
        sl_tenants_settle(b->t, resv, actual, now, wall);
    else
        sl_tenants_refund(b->t, resv, now, wall);
}

bool sl_budget_store_down(const struct sl_budget *b)
{
    return b && b->redis && !sl_redis_is_up(sl_store_redis_conn(b->redis));
}

struct sl_redis *sl_budget_redis(const struct sl_budget *b)
{
    return b ? sl_store_redis_conn(b->redis) : NULL;
}
