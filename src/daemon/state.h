/* SPDX-License-Identifier: MIT */
/* state.h - the state file ([state] file): tenants created through the admin API (their
 * limits, models and guard), their keys (hashes only), and every tenant's budget usage in the
 * current period, so a restart neither forgets tenants nor hands out a fresh budget.  Written
 * atomically (temporary file, fsync, rename, fsync of the directory) by the master every few
 * seconds and at shutdown; read once at start, after the configuration's static tenants
 * exist.  With Redis it also carries the settlements Redis has not confirmed yet (the journal,
 * reservations.h), under their Redis ids, so that a restart while Redis is away loses no
 * usage.  A corrupt or unreadable file is reported and ignored: it never stops the gateway.
 * Rate-limit windows are not kept: they refill within a minute anyway. */
#ifndef SL_STATE_H
#define SL_STATE_H
#include <stddef.h>
#include <stdint.h>

struct sl_tenants;

#define SL_STATE_MAX_BYTES (64u << 20)

/* 0, or -errno with err filled (the file is left as it was). */
int sl_state_save(struct sl_tenants *t, const char *path, uint64_t now_ms, int64_t now_wall_s,
                  char *err, size_t err_sz);
/* 0 (also when the file does not exist yet), or -errno / -EINVAL with err filled; on error
 * nothing is restored. */
int sl_state_load(struct sl_tenants *t, const char *path, int64_t now_wall_s, char *err,
                  size_t err_sz);
#endif /* SL_STATE_H */
