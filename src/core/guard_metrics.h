/* SPDX-License-Identifier: MIT */
/* guard_metrics.h - the input guard's counters (SPEC §13): sluice_guard_rejections_total
 * {policy,rule} and sluice_guard_masks_total{policy,kind}.  They live once in the shared
 * region, not per worker: refusals and masks are rare, so one atomic add by whichever worker
 * made one costs nothing, and they outlive the workers that counted them.
 *
 * A policy's counters are found by its name, so a reload that adds, drops or reorders
 * policies keeps every series right.  Names are given slots by the master only, appended and
 * published by a release store of the count, so a worker never reads a half-written name; a
 * slot is never reused, and past SL_GUARD_METRIC_SLOTS names in the region's life the new
 * ones go uncounted (the master says so). */
#ifndef SL_GUARD_METRICS_H
#define SL_GUARD_METRICS_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guard.h"

struct sl_buf;

#define SL_GUARD_METRIC_SLOTS (2 * SL_GUARD_MAX_POLICIES)

struct sl_guard_counters {
    _Atomic uint32_t nslots; /* published slots */
    char policy[SL_GUARD_METRIC_SLOTS][SL_GUARD_NAME_MAX];
    _Atomic uint64_t rejections[SL_GUARD_METRIC_SLOTS][SL_GUARD_RULE_COUNT];
    _Atomic uint64_t masks[SL_GUARD_METRIC_SLOTS][SL_GUARD_KIND_COUNT];
};

/* Master: give each of names[0, n) a slot if it has none.  The number of names that found
 * no room (0 normally). */
size_t sl_guard_metrics_name(struct sl_guard_counters *g, const char *const *names, size_t n);
/* Any worker. */
void sl_guard_metrics_reject(struct sl_guard_counters *g, const char *policy,
                             enum sl_guard_rule rule);
void sl_guard_metrics_masks(struct sl_guard_counters *g, const char *policy,
                            const unsigned masked[SL_GUARD_KIND_COUNT]);
/* Both families, every named policy's series with a count (names need no escaping:
 * guard_policy.h allows [A-Za-z0-9_.-]). */
void sl_guard_metrics_write(struct sl_buf *out, struct sl_guard_counters *g);
#endif /* SL_GUARD_METRICS_H */
