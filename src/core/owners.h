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

/* Layout: a header, capacity entry slots, and a hash index of the next power of two at least
 * 2 * capacity slots (linear probing, backward-shift deletion: no tombstones).  Entries are
 * threaded oldest to newest by index, not by pointer, so the table holds no pointers: it is
 * whole in its sl_owner_table_size() bytes and means the same at any address (after fork, or
 * copied).  Every operation is O(1) expected.  No function allocates. */

/* Bytes a table of `capacity` entries takes (capacity 1..2^24; about 256 bytes an entry).
 * 0 for a capacity out of range, or too large for size_t. */
size_t sl_owner_table_size(uint32_t capacity);
/* Lay a fresh, empty table over mem (sl_owner_table_size(capacity) bytes, 8-aligned).  NULL
 * when mem is NULL or misaligned or capacity is out of range. */
struct sl_owner_table *sl_owner_table_init(void *mem, uint32_t capacity);
/* Record o: o->id well-formed (sl_response_id_valid), tenant and upstream 1-63 bytes.  The
 * same id again replaces the entry (owner, upstream and expiry) and makes it the newest, as
 * if just created.  A full table drops its oldest entry, expired or not.  An o already expired
 * at now_s (expires_s <= now_s) is not stored, and forgets an entry of the same id: it could
 * only ever answer -ENOENT, and storing it would push out a live entry.  0; -EINVAL for a
 * malformed entry (the table is then unchanged). */
int sl_owner_put(struct sl_owner_table *t, const struct sl_owner *o, int64_t now_s);
/* 0 and *out when id is known and not expired at now_s (expires_s > now_s); -ENOENT
 * otherwise, a malformed or NULL id included (id is read up to SL_RESPONSE_ID_MAX + 1 bytes).
 * *out is written only on success.  The caller compares out->tenant with its own. */
int sl_owner_get(const struct sl_owner_table *t, const char *id, int64_t now_s,
                 struct sl_owner *out);
/* Forget id (a DELETE that the upstream confirmed), expired or not.  0 or -ENOENT. */
int sl_owner_drop(struct sl_owner_table *t, const char *id);
/* Entries held (expired ones not yet pushed out included). */
uint32_t sl_owner_count(const struct sl_owner_table *t);
#endif /* SL_OWNERS_H */
