/* SPDX-License-Identifier: MIT */
/* metrics_render.c - /metrics for the whole server: every worker's slot summed, the totals of
 * workers that exited, and the gauges only the shared region knows. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "daemon/metrics_render.h"

#include <stdatomic.h>
#include <string.h>

#include "core/breaker.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/guard_metrics.h"
#include "core/metrics.h"
#include "admission/reservations.h"
#include "admission/tenants.h"
#include "daemon/shm.h"

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void sl_metrics_fold(struct sl_shm *shm, struct sl_metrics *from)
{
    _Atomic uint64_t *f = (_Atomic uint64_t *)from;
    size_t i, n = sizeof(*from) / sizeof(uint64_t);

    atomic_fetch_add(&shm->metrics_fold_seq, 1);
    sl_metrics_add(&shm->retired, from);
    for (i = 0; i < n; i++)
        atomic_store_explicit(&f[i], 0, memory_order_relaxed);
    atomic_fetch_add(&shm->metrics_fold_seq, 1);
}

/* Sum every live slot and the retired totals; retried while the master is folding. */
static void collect(struct sl_shm *shm, struct sl_metrics *acc, uint64_t *inflight,
                    unsigned *workers, uint32_t generation)
{
    uint32_t seq;
    unsigned i;

    for (;;) {
        seq = atomic_load(&shm->metrics_fold_seq);
        if (seq & 1)
            continue;
        memset(acc, 0, sizeof(*acc));
        *inflight = 0;
        *workers = 0;
        sl_metrics_add(acc, &shm->retired);
        for (i = 0; i < SL_SHM_WORKER_SLOTS; i++) {
            struct sl_worker_slot *s = &shm->workers[i];
            uint32_t st = atomic_load(&s->state);

            if (st == SL_WORKER_FREE)
                continue;
            sl_metrics_add(acc, &s->metrics);
            *inflight += atomic_load(&s->inflight);
            if (st == SL_WORKER_READY && atomic_load(&s->generation) == generation)
                (*workers)++;
        }
        /* The slots were read with relaxed loads: order them before the second look at the
         * sequence, or a weakly ordered CPU could see a fold half done as consistent. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load(&shm->metrics_fold_seq) == seq)
            return;
    }
}

/* Per tenant, only the live ones and only counts that moved (names need no escaping:
 * tenants.h allows [A-Za-z0-9_.-]). */
static void write_tenants(struct sl_buf *b, struct sl_tenants *t)
{
    uint32_t i, n = atomic_load(&t->ntenants);

    sl_metrics_write_header(b, "sluice_tenant_requests_total", "counter",
                            "Requests answered for a tenant (authenticated), by status.");
    for (i = 0; i < n; i++) {
        struct sl_tenant_rec *rec = &t->tenants[i];

        if (atomic_load(&rec->state) != SL_SLOT_LIVE)
            continue;
        sl_metrics_write_by_code(b, "sluice_tenant_requests_total", "tenant", rec->name,
                                 rec->counters.requests);
    }
    sl_metrics_write_header(b, "sluice_tenant_tokens_total", "counter",
                            "Tokens the upstream reported for a tenant's requests, by kind.");
    for (i = 0; i < n; i++) {
        struct sl_tenant_rec *rec = &t->tenants[i];

        if (atomic_load(&rec->state) != SL_SLOT_LIVE)
            continue;
        sl_buf_printf(b,
                      "sluice_tenant_tokens_total{tenant=\"%s\",kind=\"prompt\"} %llu\n"
                      "sluice_tenant_tokens_total{tenant=\"%s\",kind=\"completion\"} %llu\n",
                      rec->name, (unsigned long long)load(&rec->counters.tokens_prompt), rec->name,
                      (unsigned long long)load(&rec->counters.tokens_completion));
    }
}

int sl_metrics_render(struct sl_shm *shm, uint32_t generation, struct sl_buf *out)
{
    static struct sl_metrics acc; /* large; workers are single-threaded */
    uint64_t inflight;
    unsigned workers;

    collect(shm, &acc, &inflight, &workers, generation);
    sl_metrics_write(out, &acc);
    write_tenants(out, &shm->tenants);
    sl_guard_metrics_write(out, &shm->guard);
    sl_metrics_write_header(out, "sluice_breaker_state", "gauge",
                            "Circuit breaker per upstream: 0 closed, 1 open, 2 half-open.");
    sl_buf_printf(out, "sluice_breaker_state{upstream=\"default\"} %d\n",
                  (int)sl_breaker_state(&shm->breaker, sl_clock_mono_ms()));
    sl_metrics_write_header(out, "sluice_reservations_held", "gauge",
                            "Token reservations held by requests in flight, all tenants.");
    sl_buf_printf(out, "sluice_reservations_held %u\n", sl_tenants_reserved_slots(&shm->tenants));
    sl_metrics_write_header(out, "sluice_redis_journal_pending", "gauge",
                            "Settlements waiting to be written to Redis (this host).");
    sl_buf_printf(out, "sluice_redis_journal_pending %u\n", atomic_load(&shm->tenants.npending));
    sl_metrics_write_header(out, "sluice_inflight_requests", "gauge", "Requests being served now.");
    sl_buf_printf(out, "sluice_inflight_requests %llu\n", (unsigned long long)inflight);
    sl_metrics_write_header(out, "sluice_workers", "gauge",
                            "Workers of the serving generation accepting.");
    sl_buf_printf(out, "sluice_workers %u\n", workers);
    sl_metrics_write_header(out, "sluice_workers_restarted_total", "counter",
                            "Workers that died unexpectedly and were replaced.");
    sl_buf_printf(out, "sluice_workers_restarted_total %u\n", atomic_load(&shm->workers_restarted));
    sl_metrics_write_header(out, "process_start_time_seconds", "gauge",
                            "When the master started (unix time).");
    return sl_buf_printf(out, "process_start_time_seconds %llu.%03llu\n",
                         (unsigned long long)(shm->started_wall_ms / 1000),
                         (unsigned long long)(shm->started_wall_ms % 1000));
}
