/* SPDX-License-Identifier: MIT */
/* shm.h - the shared-memory region the master maps before the first fork and every worker
 * inherits.  Fixed-size records and a layout version in the header; the tenant tables'
 * arrays, sized by [state] max_*, and the response owners' table, sized by [v1]
 * max_responses, follow the fixed part in the same mapping.  The pointers to
 * them hold in every process: the region is mapped once, before the first fork, and never
 * moved or resized (a reload that would change the sizes is refused).
 * Worker slots have a single writer each (the worker, or the master while the slot is free),
 * so they need only C11 atomics, never a lock: a worker dying mid-write cannot wedge anyone.
 * Sections for quotas, the breaker and metrics are added here as those modules land. */
#ifndef SL_SHM_H
#define SL_SHM_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/breaker.h"
#include "core/guard_metrics.h"
#include "core/metrics.h"
#include "admission/ownership.h"
#include "admission/tenants.h"

#define SL_SHM_MAGIC 0x534c5543u /* "SLUC" */
#define SL_SHM_LAYOUT 7u
/* Two generations of the largest worker count may be alive during a reload. */
#define SL_SHM_WORKER_SLOTS 1024u

enum sl_worker_state {
    SL_WORKER_FREE = 0,
    SL_WORKER_STARTING, /* forked, setting up its loop */
    SL_WORKER_READY,    /* accepting connections */
    SL_WORKER_DRAINING, /* stopped accepting, finishing requests */
};

struct sl_worker_slot {
    _Atomic int32_t pid;
    _Atomic uint32_t generation;
    _Atomic uint32_t state;        /* enum sl_worker_state */
    _Atomic uint32_t inflight;     /* requests being served now */
    _Atomic uint64_t heartbeat_ms; /* monotonic; the worker's loop is alive */
    _Atomic uint64_t requests;     /* served since the worker started */
    struct sl_metrics metrics;     /* written by the worker only */
};

struct sl_shm {
    uint32_t magic;
    uint32_t layout;
    uint64_t size;
    uint64_t started_wall_ms;
    _Atomic uint32_t generation; /* the generation now serving */
    _Atomic uint32_t workers_restarted;
    _Atomic uint32_t metrics_fold_seq; /* odd while the master folds a slot into retired */
    struct sl_metrics retired;         /* counters of workers that have exited */
    struct sl_breaker breaker;         /* the upstream's circuit breaker, shared by all */
    struct sl_tenants tenants;         /* tenants, keys, quota records, reservations */
    struct sl_ownership_shm owners;    /* who created which response ([v1] max_responses) */
    struct sl_guard_counters guard;    /* the input guard's, by policy name */
    struct sl_worker_slot workers[SL_SHM_WORKER_SLOTS];
};

/* Map a fresh zeroed region (MAP_SHARED | MAP_ANONYMOUS).  NULL and errno on failure. */
struct sl_shm *sl_shm_create(unsigned max_tenants, unsigned max_keys, unsigned max_resv,
                             unsigned max_responses);
void sl_shm_destroy(struct sl_shm *shm);
/* Master only: a free slot for a worker about to be forked, marked STARTING.  -ENOSPC. */
int sl_shm_slot_claim(struct sl_shm *shm, uint32_t generation);
void sl_shm_slot_release(struct sl_shm *shm, int slot);
#endif /* SL_SHM_H */
