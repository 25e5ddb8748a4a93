/* SPDX-License-Identifier: MIT */
/* owners.h - who created which response (SPEC §10): a bounded table of id -> (tenant,
 * upstream, expiry) in memory the caller provides (shared memory in the daemon).  Entries
 * live response_ttl_s; a full table forgets its oldest entry first.  A forgotten or expired
 * entry means "unknown": the follow-up is refused (404), never served to the wrong tenant.
 * Pure: no locks (the caller serializes), no I/O, no clock (now is a parameter). */
#ifndef SL_OWNERS_H
#define SL_OWNERS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/responses.h"

#define SL_OWNER_NAME_MAX 64 /* tenant and upstream names: 1-63 bytes */

struct sl_owner {
    char id[SL_RESPONSE_ID_MAX + 1];
    char tenant[SL_OWNER_NAME_MAX];
    char upstream[SL_OWNER_NAME_MAX];
    int64_t expires_s; /* wall clock */
};

struct sl_owner_table; /* opaque; lives in the caller's memory */

/* Bytes a table of `capacity` entries takes (capacity 1..2^24). */
size_t sl_owner_table_size(uint32_t capacity);
/* Lay a fresh, empty table over mem (sl_owner_table_size(capacity) bytes, 8-aligned). */
struct sl_owner_table *sl_owner_table_init(void *mem, uint32_t capacity);
/* Record o (o->id must be well-formed, names non-empty); the same id again replaces the entry.
 * A full table drops its oldest entry, expired or not.  0; -EINVAL for a malformed entry. */
int sl_owner_put(struct sl_owner_table *t, const struct sl_owner *o, int64_t now_s);
/* 0 and *out when id is known and not expired at now_s; -ENOENT otherwise. */
int sl_owner_get(const struct sl_owner_table *t, const char *id, int64_t now_s,
                 struct sl_owner *out);
/* Forget id (a DELETE that the upstream confirmed).  0 or -ENOENT. */
int sl_owner_drop(struct sl_owner_table *t, const char *id);
/* Entries held (expired ones not yet overwritten included). */
uint32_t sl_owner_count(const struct sl_owner_table *t);
#endif /* SL_OWNERS_H */
