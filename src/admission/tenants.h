/* SPDX-License-Identifier: MIT */
/* tenants.h - tenants, their keys and their quota records, all in the shared-memory region so
 * every worker admits against the same counters.  The reservations in flight live in the same
 * region; their ledger is reservations.h.
 *
 * Concurrency.  A tenant's quota record is guarded by its own robust, process-shared mutex,
 * held only for the arithmetic (quota.h); a worker that dies holding it leaves the next
 * locker an EOWNERDEAD, which is repaired, never a deadlock.  Creating or deleting tenants and
 * keys takes one robust admin lock; that is rare (admin API, master at start and reload).
 * Lookups by key take no lock: a key record is filled in first and published by a release
 * store of its state, so a lock-free reader sees either nothing or a complete record.  A
 * revoked key's slot is a tombstone that a later key may take (lookups skip tombstones); a
 * deleted tenant's slot serves a new tenant only once no reservation names it and it has
 * been dead for SL_TENANT_REUSE_S, so nothing in flight can mistake one for the other. */
#ifndef SL_TENANTS_H
#define SL_TENANTS_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/metrics.h"
#include "core/quota.h"

/* The table sizes come from [state] max_tenants, max_keys and max_reservations; the key table
 * has a power-of-two number of slots, at least twice max_keys, for open addressing. */
#define SL_KEY_ID_LEN 20 /* "key_" + 16 hex */
#define SL_TENANT_ANONYMOUS "anonymous"
#define SL_TENANT_REUSE_S 600

enum sl_slot_state {
    SL_SLOT_FREE = 0,
    SL_SLOT_LIVE = 1,
    SL_SLOT_DEAD = 2,
    SL_SLOT_PENDING = 3 /* reservations only: settled, Redis not told yet */
};

struct sl_tenant_rec {
    pthread_mutex_t lock;               /* guards limits, models, guard and quota */
    _Atomic uint32_t state;             /* enum sl_slot_state */
    bool is_static;                     /* from a [tenant.NAME]: its settings are the file's */
    _Atomic int64_t redis_remaining;    /* budget left as Redis last said; -1 = not known */
    int64_t dead_at_s;                  /* when it was deleted (state DEAD) */
    struct sl_tenant_counters counters; /* metrics.h */
    char name[64];
    struct sl_limits limits;
    struct sl_quota quota;
    char models[SL_MODEL_LIST_MAX]; /* canonical "a,b" (model_list.h); "" = every model */
    char guard[SL_GUARD_NAME_MAX];  /* input-guard policy: a name, "none", "" = [guard] */
};

struct sl_key_rec {
    _Atomic uint32_t state; /* enum sl_slot_state; DEAD = revoked */
    uint32_t tenant;
    unsigned char sha256[32];
    char id[SL_KEY_ID_LEN + 1]; /* public, safe to log and show */
    bool from_config;           /* a key_sha256 line: the file owns it, not the state */
    int64_t created_s;
};

struct sl_reservation;

struct sl_tenants {
    pthread_mutex_t admin_lock;
    uint64_t host_id;              /* random per master start: reservation ids are unique */
    _Atomic int64_t redis_version; /* tenant table version last copied from Redis; -1 */
    _Atomic uint32_t npending;     /* PENDING reservations */
    _Atomic uint32_t ntenants;     /* high-water mark of tenants[] */
    _Atomic uint32_t nkeys;        /* key slots in use (live or revoked) */
    _Atomic uint32_t nlive_keys;   /* live keys, at most max_keys */
    _Atomic uint32_t resv_hint;
    /* Fixed when the region is made; the arrays follow in the same shared mapping, which
     * every worker inherits at the same address. */
    uint32_t max_tenants, max_keys, key_slots, max_resv;
    struct sl_tenant_rec *tenants; /* [max_tenants] */
    struct sl_key_rec *keys;       /* [key_slots], at most max_keys of them in use */
    struct sl_reservation *resv;   /* [max_resv], reservations.h */
};

/* Bytes the arrays of a table of these sizes take (each array 64-byte aligned). */
size_t sl_tenants_arrays_size(unsigned max_tenants, unsigned max_keys, unsigned max_resv);
/* Master, before any fork: point t at its arrays (sl_tenants_arrays_size() zeroed bytes at
 * storage, in a shared mapping), then the locks and a fresh host id.  0 or -errno. */
int sl_tenants_init(struct sl_tenants *t, void *storage, unsigned max_tenants, unsigned max_keys,
                    unsigned max_resv);
/* A table of its own in a fresh shared mapping (tests and tools); NULL and errno. */
struct sl_tenants *sl_tenants_map(unsigned max_tenants, unsigned max_keys, unsigned max_resv);
void sl_tenants_unmap(struct sl_tenants *t);
/* Master: create or update the static tenants of cfg, with their limits, models and guard
 * (and "anonymous", with the default limits, every model and the default guard, when [auth]
 * mode = none); static tenants no longer in cfg are deleted.  Returns 0, or -ENOSPC/-EEXIST
 * with err filled. */
int sl_tenants_apply_config(struct sl_tenants *t, const struct sl_config *cfg, int64_t now_wall_s,
                            char *err, size_t err_sz);

/* Lookups: an index into tenants[], or -ENOENT. */
int sl_tenants_by_key(struct sl_tenants *t, const unsigned char sha256[32]);
/* The same, and the key's slot in keys[] (when slot is not NULL) for sl_tenants_key_at(). */
int sl_tenants_find_key(struct sl_tenants *t, const unsigned char sha256[32], uint32_t *slot);
/* Does key slot `slot` still hold the live key of this hash, of a live tenant?  That tenant's
 * index, or -ENOENT once the key is revoked (its slot a tombstone, free, or another key's) or
 * its tenant deleted: a lock-free check, as cheap as a lookup that needs no probing. */
int sl_tenants_key_at(struct sl_tenants *t, uint32_t slot, const unsigned char sha256[32]);
int sl_tenants_by_name(struct sl_tenants *t, const char *name);

/* Admin operations (any process).  Indices or 0 on success; -EEXIST, -ENOENT, -ENOSPC,
 * -EPERM (a static tenant's limits, models and guard belong to the file).  A tenant created
 * here may use every model under the default guard until sl_tenants_set_models() and
 * sl_tenants_set_guard() say otherwise. */
int sl_tenants_create(struct sl_tenants *t, const char *name, const struct sl_limits *lim,
                      int64_t now_wall_s);
int sl_tenants_set_limits(struct sl_tenants *t, int idx, const struct sl_limits *lim,
                          int64_t now_wall_s);
int sl_tenants_delete(struct sl_tenants *t, int idx, int64_t now_wall_s);
/* A dynamic tenant's models (SPEC §10): a list as sl_model_list_parse() reads it, stored in its
 * canonical form; "" = every configured model.  Whether the names are configured is the
 * caller's question (the admin API asks; a stored list is kept as it is).  0, -ENOENT,
 * -EPERM (static), or -EINVAL / -E2BIG for a text that is not a list or does not fit. */
int sl_tenants_set_models(struct sl_tenants *t, int idx, const char *models);
/* A copy of tenant idx's canonical list in out[SL_MODEL_LIST_MAX] (under its lock).  0 or
 * -ENOENT. */
int sl_tenants_models(struct sl_tenants *t, int idx, char *out);
/* May tenant idx (as authentication found it) call model?  True when its list is empty (also
 * the anonymous tenant's, always) or names model; false for an index that is not live. */
bool sl_tenants_model_allowed(struct sl_tenants *t, int idx, const char *model);
/* Could name be a tenant's guard setting (SPEC §13): 0-63 of [A-Za-z0-9_.-]?  "" is the
 * default [guard], "none" no policy.  Whether a policy of that name exists is the running
 * configuration's question (sl_config_guard). */
bool sl_tenants_guard_name_ok(const char *name);
/* A dynamic tenant's guard setting.  The admin API checks that the configuration knows it; a
 * name from Redis or the state file is stored as it is (the request path fails closed on a
 * name this host does not know).  0, -ENOENT, -EPERM (static), -EINVAL (not a name). */
int sl_tenants_set_guard(struct sl_tenants *t, int idx, const char *guard);
/* A copy of tenant idx's guard setting (under its lock; cheap enough for every request).
 * 0 or -ENOENT. */
int sl_tenants_guard(struct sl_tenants *t, int idx, char out[SL_GUARD_NAME_MAX]);
/* Store a key's hash for tenant idx; its public id goes to id_out (SL_KEY_ID_LEN + 1). */
int sl_tenants_add_key(struct sl_tenants *t, int idx, const unsigned char sha256[32],
                       int64_t now_wall_s, char *id_out);
int sl_tenants_revoke_key(struct sl_tenants *t, const char *key_id);
/* A consistent copy of a tenant's limits and budget state (under its lock). */
int sl_tenants_usage(struct sl_tenants *t, int idx, uint64_t now_ms, int64_t now_wall_s,
                     struct sl_limits *lim_out, struct sl_quota_info *info_out);
int sl_tenants_reset_usage(struct sl_tenants *t, int idx, int64_t now_wall_s);

/* State file restore: a tenant's budget usage in the period that began at period_start_s
 * (ignored unless the tenant's period kind is still `period`). */
int sl_tenants_restore_usage(struct sl_tenants *t, int idx, uint64_t used, enum sl_period period,
                             int64_t period_start_s, int64_t now_wall_s);
/* The tenant table as Redis holds it (tenant_sync.c), copied in under the admin lock: new
 * tenants created, dynamic ones updated (limits, models and guard) or deleted, API keys added (with
 * their ids) or revoked; static tenants and key_sha256 keys stay as the file says.  Skipped
 * when version is the one copied last.  0 applied, 1 skipped, -ENOMEM.  Sorts tv and kv. */
struct sl_tenant_entry {
    char name[64];
    struct sl_limits limits;
    char models[SL_MODEL_LIST_MAX]; /* canonical; "" = every model */
    char guard[SL_GUARD_NAME_MAX];  /* sl_tenants_guard_name_ok(); "" = the default */
};
struct sl_key_entry {
    unsigned char sha256[32];
    char tenant[64];
    char id[SL_KEY_ID_LEN + 1];
    int64_t created_s;
};
int sl_tenants_sync(struct sl_tenants *t, struct sl_tenant_entry *tv, size_t nt,
                    struct sl_key_entry *kv, size_t nk, int64_t version, int64_t now_wall_s);
#endif /* SL_TENANTS_H */
