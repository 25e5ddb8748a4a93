/* SPDX-License-Identifier: MIT */
/* tenants_int.h - private to tenants.c and reservations.c, the two halves of the shared
 * tables: the robust locks and the tenant index check both take.  Include it nowhere else. */
#ifndef SL_TENANTS_INT_H
#define SL_TENANTS_INT_H
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "admission/reservations.h"
#include "admission/tenants.h"

/* A holder that died mid-update leaves EOWNERDEAD: the record is plain saturating counters,
 * so the worst case is one update half applied; mark it consistent and carry on. */
static inline void lock(pthread_mutex_t *m)
{
    if (pthread_mutex_lock(m) == EOWNERDEAD)
        pthread_mutex_consistent(m);
}

static inline void unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
}

/* A tenant's lock.  A holder that died may have counted a reservation it never published,
 * or freed a slot without taking its tokens off: `reserved` is rebuilt from the slots that
 * really hold tokens here (LIVE and counted locally), so a crash at any instruction leaks
 * nothing.  (`used` cannot be rebuilt; at worst one settlement is lost, never double.) */
static inline void lock_rec(struct sl_tenants *t, struct sl_tenant_rec *rec)
{
    uint32_t idx = (uint32_t)(rec - t->tenants), i;
    uint64_t held = 0;

    if (pthread_mutex_lock(&rec->lock) != EOWNERDEAD)
        return;
    for (i = 0; i < t->max_resv; i++) {
        struct sl_reservation *r = &t->resv[i];

        if (atomic_load(&r->state) == SL_SLOT_LIVE && r->tenant == idx &&
            (r->flags & SL_RESV_LOCAL))
            held += r->tokens;
    }
    rec->quota.reserved = held;
    pthread_mutex_consistent(&rec->lock);
}

static inline bool idx_ok(struct sl_tenants *t, int idx)
{
    return idx >= 0 && (uint32_t)idx < atomic_load(&t->ntenants) &&
           atomic_load(&t->tenants[idx].state) == SL_SLOT_LIVE;
}
#endif /* SL_TENANTS_INT_H */
