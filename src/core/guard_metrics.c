/* SPDX-License-Identifier: MIT */
/* guard_metrics.c - the input guard's counters, by policy name. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard_metrics.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/metrics.h"

static int slot_of(struct sl_guard_counters *g, const char *policy)
{
    uint32_t i, n = atomic_load_explicit(&g->nslots, memory_order_acquire);

    for (i = 0; i < n && i < SL_GUARD_METRIC_SLOTS; i++)
        if (strcmp(g->policy[i], policy) == 0)
            return (int)i;
    return -1;
}

size_t sl_guard_metrics_name(struct sl_guard_counters *g, const char *const *names, size_t n)
{
    uint32_t next = atomic_load(&g->nslots);
    size_t i, lost = 0;

    for (i = 0; i < n; i++) {
        if (slot_of(g, names[i]) >= 0)
            continue;
        if (next >= SL_GUARD_METRIC_SLOTS) {
            lost++;
            continue;
        }
        snprintf(g->policy[next], sizeof(g->policy[next]), "%s", names[i]);
        atomic_store_explicit(&g->nslots, ++next, memory_order_release);
    }
    return lost;
}

void sl_guard_metrics_reject(struct sl_guard_counters *g, const char *policy,
                             enum sl_guard_rule rule)
{
    int s = slot_of(g, policy);

    if (s >= 0 && rule < SL_GUARD_RULE_COUNT)
        atomic_fetch_add_explicit(&g->rejections[s][rule], 1, memory_order_relaxed);
}

void sl_guard_metrics_masks(struct sl_guard_counters *g, const char *policy,
                            const unsigned masked[SL_GUARD_KIND_COUNT])
{
    int s = slot_of(g, policy);
    size_t k;

    for (k = 0; s >= 0 && k < SL_GUARD_KIND_COUNT; k++)
        if (masked[k])
            atomic_fetch_add_explicit(&g->masks[s][k], masked[k], memory_order_relaxed);
}

void sl_guard_metrics_write(struct sl_buf *out, struct sl_guard_counters *g)
{
    uint32_t s, n = atomic_load_explicit(&g->nslots, memory_order_acquire);
    uint64_t c;
    size_t k;

    sl_metrics_write_header(out, "sluice_guard_rejections_total", "counter",
                            "Requests the input guard refused, by policy and rule.");
    for (s = 0; s < n && s < SL_GUARD_METRIC_SLOTS; s++)
        for (k = 0; k < SL_GUARD_RULE_COUNT; k++)
            if ((c = atomic_load_explicit(&g->rejections[s][k], memory_order_relaxed)))
                sl_buf_printf(
                    out, "sluice_guard_rejections_total{policy=\"%s\",rule=\"%s\"} %llu\n",
                    g->policy[s], sl_guard_rule_name((enum sl_guard_rule)k), (unsigned long long)c);
    sl_metrics_write_header(out, "sluice_guard_masks_total", "counter",
                            "Spans of personal data the input guard masked, by policy and kind.");
    for (s = 0; s < n && s < SL_GUARD_METRIC_SLOTS; s++)
        for (k = 0; k < SL_GUARD_KIND_COUNT; k++)
            if ((c = atomic_load_explicit(&g->masks[s][k], memory_order_relaxed)))
                sl_buf_printf(out, "sluice_guard_masks_total{policy=\"%s\",kind=\"%s\"} %llu\n",
                              g->policy[s], sl_guard_kind_name((enum sl_guard_kind)k),
                              (unsigned long long)c);
}
