/* SPDX-License-Identifier: MIT */
/* shm.c - creating the shared region and handing out worker slots. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "daemon/metrics_render.h"
#include "daemon/shm.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/clock.h"

/* The fixed part, rounded up so that the arrays after it start aligned. */
static size_t fixed_size(void)
{
    return (sizeof(struct sl_shm) + 63) & ~(size_t)63;
}

static size_t aligned(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

struct sl_shm *sl_shm_create(unsigned max_tenants, unsigned max_keys, unsigned max_resv,
                             unsigned max_responses)
{
    size_t tenants = aligned(sl_tenants_arrays_size(max_tenants, max_keys, max_resv));
    size_t size = fixed_size() + tenants + sl_ownership_shm_size(max_responses);
    struct sl_shm *shm;
    int r;

    shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        return NULL;
    shm->magic = SL_SHM_MAGIC;
    shm->layout = SL_SHM_LAYOUT;
    shm->size = size;
    shm->started_wall_ms = sl_clock_wall_ms();
    r = sl_tenants_init(&shm->tenants, (char *)shm + fixed_size(), max_tenants, max_keys, max_resv);
    if (r == 0)
        r = sl_ownership_shm_init(&shm->owners, (char *)shm + fixed_size() + tenants,
                                  max_responses);
    if (r < 0) {
        munmap(shm, size);
        errno = -r;
        return NULL;
    }
    return shm;
}

void sl_shm_destroy(struct sl_shm *shm)
{
    if (shm)
        (void)munmap(shm, shm->size);
}

int sl_shm_slot_claim(struct sl_shm *shm, uint32_t generation)
{
    unsigned i;

    for (i = 0; i < SL_SHM_WORKER_SLOTS; i++) {
        struct sl_worker_slot *s = &shm->workers[i];

        if (atomic_load(&s->state) != SL_WORKER_FREE)
            continue;
        atomic_store(&s->pid, 0);
        atomic_store(&s->generation, generation);
        atomic_store(&s->inflight, 0);
        atomic_store(&s->requests, 0);
        atomic_store(&s->heartbeat_ms, sl_clock_mono_ms());
        atomic_store(&s->state, SL_WORKER_STARTING);
        return (int)i;
    }
    return -ENOSPC;
}

void sl_shm_slot_release(struct sl_shm *shm, int slot)
{
    if (slot < 0 || (unsigned)slot >= SL_SHM_WORKER_SLOTS)
        return;
    /* Its counters live on in the retired totals, so /metrics never goes down. */
    sl_metrics_fold(shm, &shm->workers[slot].metrics);
    atomic_store(&shm->workers[slot].pid, 0);
    atomic_store(&shm->workers[slot].state, SL_WORKER_FREE);
}
