/* SPDX-License-Identifier: MIT */
/* store_redis.c - budgets and rate windows in Redis, with a journal for when it is away. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/store_redis.h"
#include "admission/store_redis_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/fmt.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/quota.h"
#include "admission/redis.h"
#include "admission/redis_scripts.h"
#include "admission/reservations.h"
#include "admission/tenants.h"

struct sl_budget_op {
    struct sl_store_redis *s;
    struct sl_redis_cmd *cmd;
    int tenant, resv;
    uint64_t tokens;
    sl_budget_cb cb;
    void *arg;
    bool cancelled;
};

static void count(struct sl_store_redis *s, enum sl_redis_op op)
{
    sl_metrics_redis(s->m, op);
}

bool sl_store_tenant_keys(const struct sl_store_redis *s, const char *tenant, const char *period,
                          const char *const *what, int n, char (*keys)[SL_REDIS_KEY_MAX],
                          const char **argv)
{
    for (int k = 0; k < n; k++) {
        const char *arg = strcmp(what[k], "used") == 0 ? period : NULL;

        if (!sl_redis_tenant_key(keys[k], SL_REDIS_KEY_MAX, s->cfg->redis_prefix, tenant, what[k],
                                 arg))
            return false;
        argv[k] = keys[k];
    }
    return true;
}

struct sl_store_period sl_store_period_now(enum sl_period kind, int64_t wall)
{
    struct sl_store_period p = { .start_s = sl_quota_period_start(kind, wall),
                                 .end_s = sl_quota_period_end(kind, wall) };

    sl_fmt_u64(p.start, p.start_s > 0 ? (uint64_t)p.start_s : 0);
    return p;
}

/* ---- reserve ---- */

/* Redis is out of reach: closed refuses; local admits on this host's record with a share of
 * the budget, never more than Redis last said was left. */
static void fallback(struct sl_budget_op *op)
{
    struct sl_store_redis *s = op->s;
    struct sl_tenant_rec *rec = &s->t->tenants[op->tenant];
    struct sl_quota_result res;
    struct sl_limits lim;
    int64_t remaining = atomic_load(&rec->redis_remaining), share;
    int v;

    sl_metrics_redis_fallback(s->m);
    if (s->cfg->fail_mode == SL_FAIL_MODE_CLOSED) {
        sl_tenants_unhold(s->t, op->resv);
        op->cb(op->arg, -EAGAIN, -1, NULL);
        return;
    }
    lim = rec->limits;
    if (lim.token_budget > 0) {
        share = (int64_t)((double)lim.token_budget * s->cfg->local_budget_share);
        if (remaining >= 0 && remaining < share)
            share = remaining;
        if (share <= 0) {
            memset(&res, 0, sizeof(res));
            res.verdict = SL_QUOTA_BUDGET;
            res.retry_after_ms = 1000;
            res.info.budget.budget = (uint64_t)lim.token_budget;
            res.info.budget.period = lim.budget_period;
            sl_tenants_unhold(s->t, op->resv);
            op->cb(op->arg, SL_QUOTA_BUDGET, -1, &res);
            return;
        }
        lim.token_budget = share;
    }
    v = sl_tenants_admit_held(s->t, op->resv, &lim, sl_clock_mono_ms(),
                              (int64_t)(sl_clock_wall_ms() / 1000), &res);
    if (v != SL_QUOTA_OK) {
        sl_tenants_unhold(s->t, op->resv);
        op->cb(op->arg, v < 0 ? -ENOENT : v, -1, v < 0 ? NULL : &res);
        return;
    }
    op->cb(op->arg, SL_QUOTA_OK, op->resv, &res);
}

/* A rate window as the script applied it: above SL_REDIS_RATE_MAX, that is the limit. */
static void window(struct sl_quota_window *w, int64_t limit, long long remaining,
                   long long reset_ms)
{
    memset(w, 0, sizeof(*w));
    if (limit <= 0)
        return;
    w->limit = limit < SL_REDIS_RATE_MAX ? (uint64_t)limit : (uint64_t)SL_REDIS_RATE_MAX;
    w->remaining = remaining > 0 ? (uint64_t)remaining : 0;
    w->reset_ms = reset_ms > 0 ? (uint64_t)reset_ms : 0;
}

/* The reserve script's nine integers into a quota result; false if the reply is not that. */
static bool read_reserve(const redisReply *r, const struct sl_limits *lim, int64_t wall,
                         struct sl_quota_result *res)
{
    struct sl_quota_budget *b = &res->info.budget;
    struct sl_store_period p;
    long long v[9];
    size_t i;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 9)
        return false;
    for (i = 0; i < 9; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return false;
        v[i] = r->element[i]->integer;
    }
    if (v[0] < SL_QUOTA_OK || v[0] > SL_QUOTA_BUDGET || v[1] < 0 || v[7] < 0 || v[8] < 0)
        return false;
    memset(res, 0, sizeof(*res));
    res->verdict = (enum sl_quota_verdict)v[0];
    res->retry_after_ms = (uint64_t)v[1];
    res->never = v[2] != 0;
    window(&res->info.requests, lim->rpm, v[3], v[4]);
    window(&res->info.tokens, lim->tpm, v[5], v[6]);
    p = sl_store_period_now(lim->budget_period, wall);
    b->budget = lim->token_budget > 0 ? (uint64_t)lim->token_budget : 0;
    b->used = (uint64_t)v[7];
    b->reserved = (uint64_t)v[8];
    if (b->budget)
        b->remaining = b->used + b->reserved < b->budget ? b->budget - b->used - b->reserved : 0;
    b->period = lim->budget_period;
    b->period_start_s = p.start_s;
    b->reset_at_s = p.end_s;
    return true;
}

static void on_reserve_reply(const redisReply *reply, void *arg)
{
    struct sl_budget_op *op = arg;
    struct sl_store_redis *s = op->s;
    struct sl_tenant_rec *rec = &s->t->tenants[op->tenant];
    struct sl_quota_result res;
    bool ok = read_reserve(reply, &rec->limits, (int64_t)(sl_clock_wall_ms() / 1000), &res);

    op->cmd = NULL;
    if (ok && res.info.budget.budget)
        atomic_store(&rec->redis_remaining, (int64_t)res.info.budget.remaining);
    if (op->cancelled) {
        /* Nobody waits: give back whatever it became (unknown counts as held). */
        if (ok && res.verdict != SL_QUOTA_OK)
            sl_tenants_unhold(s->t, op->resv);
        else
            sl_store_redis_settle(s, op->resv, 0);
        free(op);
        return;
    }
    if (!ok) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            sl_log_err("redis_script_error", "reserve: %.200s", reply->str);
        fallback(op);
    } else if (res.verdict == SL_QUOTA_OK) {
        op->cb(op->arg, SL_QUOTA_OK, op->resv, &res);
    } else {
        sl_tenants_unhold(s->t, op->resv);
        op->cb(op->arg, (int)res.verdict, -1, &res);
    }
    free(op);
}

static bool send_reserve(struct sl_budget_op *op)
{
    struct sl_store_redis *s = op->s;
    const struct sl_tenant_rec *rec = &s->t->tenants[op->tenant];
    const struct sl_limits *lim = &rec->limits;
    int64_t wall = (int64_t)(sl_clock_wall_ms() / 1000);
    struct sl_store_period p = sl_store_period_now(lim->budget_period, wall);
    char k[7][SL_REDIS_KEY_MAX], a[8][SL_FMT_U64_MAX], id[SL_RESV_ID_MAX];
    const char *argv[16];
    size_t i;
    static const char *const what[7] = { "rpm",  "tpm",      "used",   "reserved",
                                         "resv", "resv_exp", "expired" };

    if (!sl_tenants_resv_id(s->t, op->resv, s->t->resv[op->resv].seq, id, sizeof(id)) ||
        !sl_store_tenant_keys(s, rec->name, p.start, what, 7, k, argv))
        return false;
    sl_fmt_u64(a[0], op->tokens);
    sl_fmt_u64(a[1], (uint64_t)lim->rpm); /* limits are never negative (config, admin API) */
    sl_fmt_u64(a[2], (uint64_t)lim->tpm);
    sl_fmt_u64(a[3], (uint64_t)lim->token_budget);
    sl_fmt_u64(a[4], s->lease_ms);
    sl_fmt_u64(a[5], p.end_s ? (uint64_t)p.end_s + 86400 : 0);
    sl_fmt_u64(a[6], p.end_s > wall ? (uint64_t)(p.end_s - wall) * 1000 : 0);
    sl_fmt_u64(a[7], lim->budget_period == SL_PERIOD_NONE);
    argv[7] = id;
    for (i = 0; i < 8; i++)
        argv[8 + i] = a[i];
    op->cmd = sl_redis_eval(s->rd, &sl_script_reserve, 7, 16, argv, NULL, on_reserve_reply, op);
    if (!op->cmd)
        return false;
    count(s, SL_REDIS_OP_RESERVE);
    return true;
}

struct sl_budget_op *sl_store_redis_reserve(struct sl_store_redis *s, int tenant_idx,
                                            uint64_t tokens, sl_budget_cb cb, void *arg)
{
    struct sl_budget_op *op;
    int resv = sl_tenants_hold(s->t, tenant_idx, tokens, s->pid);

    if (resv < 0) {
        cb(arg, resv, -1, NULL);
        return NULL;
    }
    op = calloc(1, sizeof(*op));
    if (!op) {
        sl_tenants_unhold(s->t, resv);
        cb(arg, -ENOSPC, -1, NULL);
        return NULL;
    }
    *op = (struct sl_budget_op){
        .s = s, .tenant = tenant_idx, .resv = resv, .tokens = tokens, .cb = cb, .arg = arg
    };
    if (sl_redis_is_up(s->rd) && send_reserve(op))
        return op;
    fallback(op);
    free(op);
    return NULL;
}

void sl_store_redis_cancel(struct sl_budget_op *op)
{
    if (op)
        op->cancelled = true; /* freed when its reply (or failure) comes */
}

static void on_replay_tick(evutil_socket_t fd, short what, void *arg)
{
    struct sl_store_redis *s = arg;

    (void)fd;
    (void)what;
    sl_store_redis_replay(s);
}

static void on_up(void *arg)
{
    sl_store_redis_replay(arg);
}

/* ---- life ---- */

struct sl_store_redis *sl_store_redis_new(struct event_base *base, const struct sl_config *cfg,
                                          struct sl_tenants *t, struct sl_metrics *m, pid_t pid)
{
    struct timeval tick = { SL_STORE_REPLAY_TICK_MS / 1000,
                            (SL_STORE_REPLAY_TICK_MS % 1000) * 1000 };
    struct sl_store_redis *s = calloc(1, sizeof(*s));
    struct sl_redis_target target;
    uint64_t longest;

    if (!s)
        return NULL;
    s->cfg = cfg;
    s->t = t;
    s->m = m;
    s->pid = pid;
    longest = cfg->request_timeout_ms > cfg->stream_timeout_ms ? cfg->request_timeout_ms
                                                               : cfg->stream_timeout_ms;
    s->lease_ms = longest + SL_STORE_RESERVATION_MARGIN_MS;
    sl_redis_scripts_init();
    if (sl_redis_parse_url(cfg->redis_url, &target, NULL, 0) < 0)
        goto fail;
    s->rd = sl_redis_new(base, &target, cfg->redis_timeout_ms, m);
    explicit_bzero(&target, sizeof(target));
    if (!s->rd)
        goto fail;
    if (sl_redis_on_up(s->rd, on_up, s) < 0)
        goto fail;
    s->replay_timer = event_new(base, -1, EV_PERSIST, on_replay_tick, s);
    if (!s->replay_timer || event_add(s->replay_timer, &tick) < 0)
        goto fail;
    s->flush_timer = evtimer_new(base, sl_store_redis_on_flush, s);
    if (!s->flush_timer)
        goto fail;
    return s;
fail:
    sl_store_redis_free(s);
    return NULL;
}

void sl_store_redis_free(struct sl_store_redis *s)
{
    if (!s)
        return;
    if (s->replay_timer)
        event_free(s->replay_timer);
    s->replay_timer = NULL;
    if (s->flush_timer) {
        sl_store_redis_flush(s); /* queued on the connection, if it is up */
        event_free(s->flush_timer);
    }
    s->flush_timer = NULL;
    sl_redis_free(s->rd); /* pending settlements stay journalled */
    free(s->scratch);
    free(s);
}

struct sl_redis *sl_store_redis_conn(const struct sl_store_redis *s)
{
    return s ? s->rd : NULL;
}
