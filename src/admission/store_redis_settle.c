/* SPDX-License-Identifier: MIT */
/* store_redis_settle.c - settlements to Redis, batched: what a worker's requests finish within
 * a few milliseconds goes as one script call per tenant.
 *
 * Batching weakens nothing.  A settlement is journalled in the shared reservation table
 * (PENDING, leased to this worker) before it is queued here, so a worker that dies with a
 * queue loses nothing: the master ends its leases when it reaps it and any worker replays
 * them.  Reservations are made one by one (the reserve script, before the upstream call), so
 * the budget Redis checks a request against already counts every request in flight; a
 * settlement only lowers that count to what was spent, a few milliseconds later. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
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
#include "admission/redis.h"
#include "admission/redis_scripts.h"
#include "admission/reservations.h"
#include "admission/store_redis.h"
#include "admission/store_redis_int.h"
#include "admission/tenants.h"

#define FIXED_KEYS 6
#define FIXED_ARGS 3
#define ARGS_PER_ITEM 3
#define NUM_MAX SL_FMT_U64_MAX

/* One script call in flight: the settlements it carries, to confirm or give back. */
struct batch {
    struct sl_store_redis *s;
    bool replay;
    unsigned n;
    struct sl_store_queued item[];
};

_Static_assert(FIXED_KEYS + SL_STORE_BATCH_MAX * (1 + ARGS_PER_ITEM) + FIXED_ARGS <
                   SL_REDIS_ARGV_MAX,
               "a full batch fits in one command");

/* A call's strings: keys, then arguments, each a NUL-terminated slot (the store's scratch). */
struct batch_args {
    const char *argv[FIXED_KEYS + SL_STORE_BATCH_MAX * (1 + ARGS_PER_ITEM) + FIXED_ARGS];
    int nkeys, argc;
    char keys[FIXED_KEYS + SL_STORE_BATCH_MAX][SL_REDIS_KEY_MAX];
    char nums[FIXED_ARGS + SL_STORE_BATCH_MAX * 2][NUM_MAX];
    char ids[SL_STORE_BATCH_MAX][SL_RESV_ID_MAX];
};

static void give_back(struct sl_store_redis *s, const struct sl_store_queued *item, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sl_tenants_end_lease(s->t, item[i].resv); /* a later replay sends it again */
}

static void on_batch_reply(const redisReply *reply, void *arg)
{
    struct batch *b = arg;
    struct sl_store_redis *s = b->s;
    int64_t wall = (int64_t)(sl_clock_wall_ms() / 1000);
    unsigned i;

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        for (i = 0; i < b->n; i++)
            sl_tenants_confirm(s->t, b->item[i].resv, b->item[i].seq, wall);
    } else {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            sl_log_err("redis_script_error", "settle_batch: %.200s", reply->str);
        give_back(s, b->item, b->n);
    }
    /* Keep the journal draining while Redis takes it, without a scan per reply. */
    if (b->replay) {
        s->replays_inflight = s->replays_inflight > b->n ? s->replays_inflight - b->n : 0;
        if (s->replays_inflight < SL_STORE_REPLAY_INFLIGHT_MAX / 2)
            sl_store_redis_replay(s);
    }
    free(b);
}

static const char *num(struct batch_args *a, unsigned *used, uint64_t v)
{
    char *out = a->nums[(*used)++];

    sl_fmt_u64(out, v);
    return out;
}

/* argv is keys then arguments, and markers are keys: build both lists, then join them. */
static bool build_args(const struct sl_store_redis *s, const struct sl_tenant_rec *rec,
                       const struct sl_store_queued *item, unsigned n, struct batch_args *a)
{
    const char *args[FIXED_ARGS + SL_STORE_BATCH_MAX * ARGS_PER_ITEM];
    int64_t wall = (int64_t)(sl_clock_wall_ms() / 1000);
    struct sl_store_period p = sl_store_period_now(rec->limits.budget_period, wall);
    unsigned nums = 0, nargs = 0, i;

    static const char *const what[FIXED_KEYS] = { "tpm",  "used",     "reserved",
                                                  "resv", "resv_exp", "expired" };

    if (!sl_store_tenant_keys(s, rec->name, p.start, what, FIXED_KEYS, a->keys, a->argv))
        return false;
    a->nkeys = FIXED_KEYS;
    args[nargs++] = num(a, &nums, rec->limits.tpm > 0 ? (uint64_t)rec->limits.tpm : 0);
    args[nargs++] = num(a, &nums, p.end_s ? (uint64_t)(p.end_s + 86400) : 0);
    args[nargs++] = num(a, &nums, SL_REDIS_MARKER_TTL_S);
    for (i = 0; i < n; i++) {
        const struct sl_reservation *r = &s->t->resv[item[i].resv];
        unsigned marker = 0;

        if (!sl_tenants_resv_id(s->t, item[i].resv, item[i].seq, a->ids[i], SL_RESV_ID_MAX))
            return false;
        /* Admitted by this host alone: Redis may never have seen it, so only a marker can
         * tell a second delivery from a first. */
        if (r->flags & SL_RESV_LOCAL) {
            if (!sl_redis_tenant_key(a->keys[a->nkeys], SL_REDIS_KEY_MAX, s->cfg->redis_prefix,
                                     rec->name, "settled", a->ids[i]))
                return false;
            a->argv[a->nkeys] = a->keys[a->nkeys];
            marker = (unsigned)++a->nkeys; /* 1-based, as Lua counts */
        }
        args[nargs++] = a->ids[i];
        args[nargs++] = num(a, &nums, r->actual);
        args[nargs++] = num(a, &nums, marker);
    }
    for (i = 0; i < nargs; i++)
        a->argv[a->nkeys + (int)i] = args[i];
    a->argc = a->nkeys + (int)nargs;
    return true;
}

/* One call for n settlements of one tenant; false if it could not go (nothing sent). */
static bool send_batch(struct sl_store_redis *s, const struct sl_store_queued *item, unsigned n,
                       bool is_replay)
{
    const struct sl_reservation *r0 = &s->t->resv[item[0].resv];
    struct batch_args *a = s->scratch;
    struct batch *b;

    if (r0->tenant >= s->t->max_tenants || !sl_redis_is_up(s->rd))
        return false;
    if (!a && !(a = s->scratch = malloc(sizeof(*a))))
        return false;
    if (!build_args(s, &s->t->tenants[r0->tenant], item, n, a)) {
        sl_log_err("settle_unsent", "a settlement's key names do not fit; it stays journalled");
        return false;
    }
    if (!(b = malloc(sizeof(*b) + n * sizeof(b->item[0]))))
        return false;
    *b = (struct batch){ .s = s, .replay = is_replay, .n = n };
    memcpy(b->item, item, n * sizeof(item[0]));
    /* The connection copies the arguments: the scratch is free again on return. */
    if (!sl_redis_eval(s->rd, &sl_script_settle_batch, a->nkeys, a->argc, a->argv, NULL,
                       on_batch_reply, b)) {
        free(b);
        return false;
    }
    sl_metrics_redis(s->m, is_replay ? SL_REDIS_OP_REPLAY : SL_REDIS_OP_SETTLE);
    if (is_replay)
        s->replays_inflight += n;
    return true;
}

/* Move the entries of list[0]'s tenant to the front; how many there are. */
static unsigned gather_tenant(const struct sl_tenants *t, struct sl_store_queued *list, unsigned n)
{
    uint32_t tenant = t->resv[list[0].resv].tenant;
    unsigned k = 1;

    for (unsigned i = 1; i < n; i++) {
        if (t->resv[list[i].resv].tenant != tenant)
            continue;
        struct sl_store_queued tmp = list[k];
        list[k++] = list[i];
        list[i] = tmp;
    }
    return k;
}

/* Send list in calls of one tenant each; what cannot go is left for a replay. */
static void send_all(struct sl_store_redis *s, struct sl_store_queued *list, unsigned n,
                     bool is_replay)
{
    while (n > 0) {
        unsigned k = gather_tenant(s->t, list, n);

        if (!send_batch(s, list, k, is_replay))
            give_back(s, list, k);
        list += k;
        n -= k;
    }
}

void sl_store_redis_flush(struct sl_store_redis *s)
{
    unsigned n = s->nqueued;

    s->nqueued = 0;
    if (s->flush_timer)
        evtimer_del(s->flush_timer);
    if (n)
        send_all(s, s->queued, n, false);
}

void sl_store_redis_on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sl_store_redis_flush(arg);
}

void sl_store_redis_settle(struct sl_store_redis *s, int resv, uint64_t actual)
{
    struct timeval tv = { 0, SL_STORE_FLUSH_MS * 1000 };
    int64_t seq = sl_tenants_finish(s->t, resv, actual, s->pid, sl_clock_mono_ms(),
                                    SL_STORE_LEASE_MS, (int64_t)(sl_clock_wall_ms() / 1000));

    if (seq < 0)
        return;
    if (!sl_redis_is_up(s->rd)) {
        sl_tenants_end_lease(s->t, resv); /* journalled: a replay sends it */
        return;
    }
    if (s->nqueued == SL_STORE_BATCH_MAX)
        sl_store_redis_flush(s);
    s->queued[s->nqueued++] = (struct sl_store_queued){ .resv = resv, .seq = (uint32_t)seq };
    if (s->nqueued == 1)
        evtimer_add(s->flush_timer, &tv);
}

/* Settlements Redis has not confirmed: this host's journal, shared by its workers. */
void sl_store_redis_replay(struct sl_store_redis *s)
{
    struct sl_store_queued list[SL_STORE_REPLAY_INFLIGHT_MAX];
    int slots[SL_STORE_REPLAY_INFLIGHT_MAX], n, i;

    if (s->replays_inflight >= SL_STORE_REPLAY_INFLIGHT_MAX || !sl_redis_is_up(s->rd))
        return;
    n = sl_tenants_claim_pending(s->t, s->pid, sl_clock_mono_ms(), SL_STORE_LEASE_MS, slots,
                                 (int)(SL_STORE_REPLAY_INFLIGHT_MAX - s->replays_inflight));
    for (i = 0; i < n; i++)
        list[i] = (struct sl_store_queued){ .resv = slots[i], .seq = s->t->resv[slots[i]].seq };
    if (n > 0)
        send_all(s, list, (unsigned)n, true);
}
