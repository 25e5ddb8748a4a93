/* SPDX-License-Identifier: MIT */
/* reservations.c - the reservation ledger in shared memory, and with Redis the journal. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/reservations.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admission/tenants_int.h"

static int claim_resv(struct sl_tenants *t, uint32_t tenant, pid_t pid, uint64_t tokens,
                      uint32_t flags)
{
    uint32_t start = atomic_fetch_add(&t->resv_hint, 1), i;

    for (i = 0; i < t->max_resv; i++) {
        uint32_t at = (start + i) % t->max_resv;
        struct sl_reservation *r = &t->resv[at];
        uint32_t expect = SL_SLOT_FREE;

        if (atomic_load_explicit(&r->state, memory_order_relaxed) != SL_SLOT_FREE)
            continue;
        /* The slot becomes the proof that tokens are held: fill it, then publish. */
        if (!atomic_compare_exchange_strong(&r->state, &expect, SL_SLOT_DEAD))
            continue;
        r->pid = (int32_t)pid;
        r->tenant = tenant;
        r->tokens = tokens;
        r->actual = 0;
        r->flags = flags;
        r->origin_host = 0;
        r->seq++;
        atomic_store(&r->lease_until_ms, 0);
        atomic_store_explicit(&r->state, SL_SLOT_LIVE, memory_order_release);
        return (int)at;
    }
    return -ENOSPC;
}

int sl_tenants_admit(struct sl_tenants *t, int idx, uint64_t tokens, pid_t pid, uint64_t now_ms,
                     int64_t now_wall_s, struct sl_quota_result *res, int *resv)
{
    struct sl_tenant_rec *rec;
    enum sl_quota_verdict v;
    int slot;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    v = sl_quota_admit_locked(&rec->quota, &rec->limits, tokens, now_ms, now_wall_s, res);
    if (v == SL_QUOTA_OK) {
        slot = claim_resv(t, (uint32_t)idx, pid, tokens, SL_RESV_LOCAL);
        if (slot < 0) {
            sl_quota_refund_locked(&rec->quota, &rec->limits, tokens, now_ms, now_wall_s);
            unlock(&rec->lock);
            return -ENOSPC;
        }
        *resv = slot;
    }
    unlock(&rec->lock);
    return (int)v;
}

/* Release a reservation exactly once: whoever moves it LIVE -> FREE owns the settlement. */
static void release(struct sl_tenants *t, int resv, bool refund, uint64_t actual, uint64_t now_ms,
                    int64_t now_wall_s)
{
    struct sl_reservation *r;
    struct sl_tenant_rec *rec;
    uint32_t expect = SL_SLOT_LIVE;
    uint64_t tokens;

    if (resv < 0 || (unsigned)resv >= t->max_resv)
        return;
    r = &t->resv[resv];
    tokens = r->tokens;
    if (r->tenant >= t->max_tenants)
        return;
    rec = &t->tenants[r->tenant];
    lock_rec(t, rec);
    if (!atomic_compare_exchange_strong(&r->state, &expect, SL_SLOT_FREE)) {
        unlock(&rec->lock);
        return;
    }
    if (refund)
        sl_quota_refund_locked(&rec->quota, &rec->limits, tokens, now_ms, now_wall_s);
    else
        sl_quota_settle_locked(&rec->quota, &rec->limits, tokens, actual, now_ms, now_wall_s);
    unlock(&rec->lock);
}

void sl_tenants_settle(struct sl_tenants *t, int resv, uint64_t actual, uint64_t now_ms,
                       int64_t now_wall_s)
{
    release(t, resv, false, actual, now_ms, now_wall_s);
}

void sl_tenants_refund(struct sl_tenants *t, int resv, uint64_t now_ms, int64_t now_wall_s)
{
    release(t, resv, true, 0, now_ms, now_wall_s);
}

unsigned sl_tenants_reap(struct sl_tenants *t, pid_t pid, uint64_t now_ms, int64_t now_wall_s)
{
    unsigned i, n = 0;

    for (i = 0; i < t->max_resv; i++) {
        struct sl_reservation *r = &t->resv[i];
        uint32_t st = atomic_load(&r->state);

        if (st == SL_SLOT_PENDING && atomic_load(&r->lease_pid) == (int32_t)pid)
            atomic_store(&r->lease_until_ms, 0);
        /* Claimed but never published: it held nothing yet. */
        if (st == SL_SLOT_DEAD && r->pid == (int32_t)pid)
            atomic_compare_exchange_strong(&r->state, &st, SL_SLOT_FREE);
        if (st != SL_SLOT_LIVE || r->pid != (int32_t)pid)
            continue;
        /* Charged in full: the call may have reached the upstream and been billed. */
        if (r->flags & SL_RESV_JOURNAL) {
            if (sl_tenants_finish(t, (int)i, r->tokens, 0, now_ms, 0, now_wall_s) >= 0)
                n++;
        } else {
            release(t, (int)i, false, r->tokens, now_ms, now_wall_s);
            n++;
        }
    }
    return n;
}

unsigned sl_tenants_reserved_slots(struct sl_tenants *t)
{
    unsigned i, n = 0;

    for (i = 0; i < t->max_resv; i++)
        n += atomic_load(&t->resv[i].state) == SL_SLOT_LIVE;
    return n;
}

/* ---- the Redis path ---- */

int sl_tenants_hold(struct sl_tenants *t, int idx, uint64_t tokens, pid_t pid)
{
    if (!idx_ok(t, idx))
        return -ENOENT;
    return claim_resv(t, (uint32_t)idx, pid, tokens, SL_RESV_JOURNAL);
}

static struct sl_reservation *live_resv(struct sl_tenants *t, int resv)
{
    if (resv < 0 || (unsigned)resv >= t->max_resv || t->resv[resv].tenant >= t->max_tenants)
        return NULL;
    return &t->resv[resv];
}

int sl_tenants_admit_held(struct sl_tenants *t, int resv, const struct sl_limits *lim,
                          uint64_t now_ms, int64_t now_wall_s, struct sl_quota_result *res)
{
    struct sl_reservation *r = live_resv(t, resv);
    struct sl_tenant_rec *rec;
    enum sl_quota_verdict v;

    if (!r || atomic_load(&r->state) != SL_SLOT_LIVE || (r->flags & SL_RESV_LOCAL))
        return -EINVAL;
    rec = &t->tenants[r->tenant];
    lock_rec(t, rec);
    v = sl_quota_admit_locked(&rec->quota, lim, r->tokens, now_ms, now_wall_s, res);
    if (v == SL_QUOTA_OK)
        r->flags |= SL_RESV_LOCAL;
    unlock(&rec->lock);
    return (int)v;
}

void sl_tenants_unhold(struct sl_tenants *t, int resv)
{
    struct sl_reservation *r = live_resv(t, resv);
    uint32_t expect = SL_SLOT_LIVE;

    if (r && !(r->flags & SL_RESV_LOCAL))
        atomic_compare_exchange_strong(&r->state, &expect, SL_SLOT_FREE);
}

int64_t sl_tenants_finish(struct sl_tenants *t, int resv, uint64_t actual, pid_t pid,
                          uint64_t now_ms, uint64_t lease_ms, int64_t now_wall_s)
{
    struct sl_reservation *r = live_resv(t, resv);
    struct sl_tenant_rec *rec;
    uint32_t expect = SL_SLOT_LIVE;

    if (!r)
        return -1;
    rec = &t->tenants[r->tenant];
    lock_rec(t, rec);
    if (atomic_load(&r->state) != SL_SLOT_LIVE) {
        unlock(&rec->lock);
        return -1;
    }
    /* Published first: a holder dying after this leaves a PENDING slot that is replayed, and
     * no LIVE one that the master would charge a second time. */
    r->actual = actual;
    atomic_store(&r->lease_pid, (int32_t)pid);
    atomic_store(&r->lease_until_ms, lease_ms ? now_ms + lease_ms : 0);
    if (!atomic_compare_exchange_strong(&r->state, &expect, SL_SLOT_PENDING)) {
        unlock(&rec->lock);
        return -1;
    }
    /* The local record keeps what this host admitted alone until Redis has it. */
    if (r->flags & SL_RESV_LOCAL)
        sl_quota_settle_locked(&rec->quota, &rec->limits, r->tokens, actual, now_ms, now_wall_s);
    atomic_fetch_add(&t->npending, 1);
    unlock(&rec->lock);
    return r->seq;
}

bool sl_tenants_confirm(struct sl_tenants *t, int resv, uint32_t seq, int64_t now_wall_s)
{
    struct sl_reservation *r = live_resv(t, resv);
    struct sl_tenant_rec *rec;
    uint32_t expect = SL_SLOT_PENDING;
    bool done = false;

    if (!r)
        return false;
    rec = &t->tenants[r->tenant];
    lock_rec(t, rec);
    if (r->seq == seq && atomic_compare_exchange_strong(&r->state, &expect, SL_SLOT_FREE)) {
        if (r->flags & SL_RESV_LOCAL)
            sl_quota_budget_unsettle_locked(&rec->quota, &rec->limits, r->actual, now_wall_s);
        atomic_fetch_sub(&t->npending, 1);
        done = true;
    }
    unlock(&rec->lock);
    return done;
}

int sl_tenants_claim_pending(struct sl_tenants *t, pid_t pid, uint64_t now_ms, uint64_t lease_ms,
                             int *out, int max)
{
    unsigned i;
    int n = 0;

    if (atomic_load(&t->npending) == 0)
        return 0;
    for (i = 0; i < t->max_resv && n < max; i++) {
        struct sl_reservation *r = &t->resv[i];
        uint64_t until = atomic_load(&r->lease_until_ms);

        if (atomic_load(&r->state) != SL_SLOT_PENDING || until > now_ms)
            continue;
        /* Two workers may race for a slot: the compare-exchange gives it to one.  Sending a
         * settlement twice would be harmless anyway (Redis keeps a marker per id). */
        if (!atomic_compare_exchange_strong(&r->lease_until_ms, &until, now_ms + lease_ms))
            continue;
        atomic_store(&r->lease_pid, (int32_t)pid);
        out[n++] = (int)i;
    }
    return n;
}

void sl_tenants_end_lease(struct sl_tenants *t, int resv)
{
    if (resv >= 0 && (unsigned)resv < t->max_resv)
        atomic_store(&t->resv[resv].lease_until_ms, 0);
}

size_t sl_tenants_resv_id(const struct sl_tenants *t, int resv, uint32_t seq, char *out, size_t sz)
{
    const struct sl_reservation *r = &t->resv[resv];
    int n;

    if (r->origin_host)
        n = snprintf(out, sz, "%016llx-%d-%u", (unsigned long long)r->origin_host, r->origin_slot,
                     r->origin_seq);
    else
        n = snprintf(out, sz, "%016llx-%d-%u", (unsigned long long)t->host_id, resv, seq);
    return n > 0 && (size_t)n < sz ? (size_t)n : 0;
}

int sl_tenants_restore_pending(struct sl_tenants *t, int idx, const char *id, uint64_t tokens,
                               uint64_t actual, bool local)
{
    unsigned long long host;
    unsigned seq;
    int slot, n = 0, resv;
    struct sl_reservation *r;

    if (!id || sscanf(id, "%16llx-%d-%u%n", &host, &slot, &seq, &n) != 3 ||
        (size_t)n != strlen(id) || host == 0 || slot < 0 || tokens > SL_QUOTA_TOKENS_MAX ||
        actual > SL_QUOTA_TOKENS_MAX)
        return -EINVAL;
    if (!idx_ok(t, idx))
        return -ENOENT;
    resv = claim_resv(t, (uint32_t)idx, 0, tokens, SL_RESV_JOURNAL | (local ? SL_RESV_LOCAL : 0));
    if (resv < 0)
        return resv;
    r = &t->resv[resv];
    r->origin_host = host;
    r->origin_slot = slot;
    r->origin_seq = seq;
    r->actual = actual;
    atomic_store(&r->lease_until_ms, 0);
    atomic_store(&r->state, SL_SLOT_PENDING);
    atomic_fetch_add(&t->npending, 1);
    return 0;
}
