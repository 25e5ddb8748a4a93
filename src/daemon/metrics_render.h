/* SPDX-License-Identifier: MIT */
/* metrics_render.h - the server's /metrics, summed over the shared region (metrics.h has the
 * per-worker counters).  The master folds a dead worker's counters into the retired totals
 * under a seqlock, so a scrape never counts them twice or not at all. */
#ifndef SL_METRICS_RENDER_H
#define SL_METRICS_RENDER_H
#include <stdint.h>

struct sl_buf;
struct sl_metrics;
struct sl_shm;

/* Master only: add a dead worker's counters to the retired totals and zero its slot's. */
void sl_metrics_fold(struct sl_shm *shm, struct sl_metrics *from);
/* The Prometheus text exposition (format 0.0.4) of every worker plus the retired totals.
 * 0 or the buffer's error. */
int sl_metrics_render(struct sl_shm *shm, uint32_t generation, struct sl_buf *out);
#endif /* SL_METRICS_RENDER_H */
