/* SPDX-License-Identifier: MIT */
/* tenants.h - tenants, their keys and their quota records, and the reservations in flight,
 * all in the shared-memory region so every worker admits against the same counters.
 *
 * Concurrency.  A tenant's quota record is guarded by its own robust, process-shared mutex,
 * held only for the arithmetic (quota.h); a worker that dies holding it leaves the next
 * locker an EOWNERDEAD, which is repaired, never a deadlock.  Creating or deleting tenants and
 * keys takes one robust admin lock; that is rare (admin API, master at start and reload).
 * Lookups by key take no lock: a key record is filled in first and published by a release
 * store of its state, and slots are never reused while the master runs (a revoked key or a
 * deleted tenant stays as a tombstone), so a lock-free reader sees either nothing or a
 * complete record.
 *
 * Reservations.  Every admitted request holds one reservation slot (tenant, tokens, the
 * worker's pid) until it is settled to the upstream's usage or refunded, exactly once.  When
 * a worker dies the master settles the slots it held in full: an upstream call may have
 * happened and been billed. */
#ifndef SL_TENANTS_H
#define SL_TENANTS_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "quota.h"

#define SL_TENANTS_MAX 4096u
#define SL_KEYS_MAX 16384u            /* a power of two: open addressing by key hash */
#define SL_RESERVATIONS_MAX 65536u
#define SL_KEY_ID_LEN 20              /* "key_" + 16 hex */
#define SL_TENANT_ANONYMOUS "anonymous"

enum sl_slot_state { SL_SLOT_FREE = 0, SL_SLOT_LIVE = 1, SL_SLOT_DEAD = 2 };

struct sl_tenant_rec {
    pthread_mutex_t lock;             /* guards limits and quota */
    _Atomic uint32_t state;           /* enum sl_slot_state */
    bool is_static;                   /* from a [tenant.NAME] section: limits from the file */
    char name[64];
    struct sl_limits limits;
    struct sl_quota quota;
};

struct sl_key_rec {
    _Atomic uint32_t state;           /* enum sl_slot_state; DEAD = revoked */
    uint32_t tenant;
    unsigned char sha256[32];
    char id[SL_KEY_ID_LEN + 1];       /* public, safe to log and show */
    bool from_config;                 /* a key_sha256 line: the file owns it, not the state */
    int64_t created_s;
};

struct sl_reservation {
    _Atomic uint32_t state;           /* FREE or LIVE */
    uint32_t tenant;
    int32_t pid;
    uint32_t spare;
    uint64_t tokens;
};

struct sl_tenants {
    pthread_mutex_t admin_lock;
    _Atomic uint32_t ntenants;        /* high-water mark of tenants[] */
    _Atomic uint32_t nkeys;           /* keys in use (live or revoked) */
    _Atomic uint32_t resv_hint;
    struct sl_tenant_rec tenants[SL_TENANTS_MAX];
    struct sl_key_rec keys[SL_KEYS_MAX];
    struct sl_reservation resv[SL_RESERVATIONS_MAX];
};

/* Master, before any fork: the locks. 0 or -errno. */
int sl_tenants_init(struct sl_tenants *t);
/* Master: create or update the static tenants of cfg (and "anonymous" with the default
 * limits when [auth] mode = none); static tenants no longer in cfg are deleted.  Returns 0,
 * or -ENOSPC/-EEXIST with err filled. */
int sl_tenants_apply_config(struct sl_tenants *t, const struct sl_config *cfg,
                            int64_t now_wall_s, char *err, size_t err_sz);

/* Lookups: an index into tenants[], or -ENOENT. */
int sl_tenants_by_key(struct sl_tenants *t, const unsigned char sha256[32]);
int sl_tenants_by_name(struct sl_tenants *t, const char *name);

/* Admin operations (any process).  Indices or 0 on success; -EEXIST, -ENOENT, -ENOSPC,
 * -EPERM (a static tenant's limits belong to the file). */
int sl_tenants_create(struct sl_tenants *t, const char *name, const struct sl_limits *lim,
                      int64_t now_wall_s);
int sl_tenants_set_limits(struct sl_tenants *t, int idx, const struct sl_limits *lim,
                          int64_t now_wall_s);
int sl_tenants_delete(struct sl_tenants *t, int idx);
/* Store a key's hash for tenant idx; its public id goes to id_out (SL_KEY_ID_LEN + 1). */
int sl_tenants_add_key(struct sl_tenants *t, int idx, const unsigned char sha256[32],
                       int64_t now_wall_s, char *id_out);
int sl_tenants_revoke_key(struct sl_tenants *t, const char *key_id);
/* A consistent copy of a tenant's limits and budget state (under its lock). */
int sl_tenants_usage(struct sl_tenants *t, int idx, uint64_t now_ms, int64_t now_wall_s,
                     struct sl_limits *lim_out, struct sl_quota_info *info_out);
int sl_tenants_reset_usage(struct sl_tenants *t, int idx, int64_t now_wall_s);

/* Admission (SPEC §4 rate and budget part) for `tokens`.  On SL_QUOTA_OK a reservation slot
 * is held and *resv set; settle or refund it exactly once.  A full reservation table refuses
 * like TPM would (-ENOSPC, nothing charged). */
int sl_tenants_admit(struct sl_tenants *t, int idx, uint64_t tokens, pid_t pid, uint64_t now_ms,
                     int64_t now_wall_s, struct sl_quota_result *res, int *resv);
void sl_tenants_settle(struct sl_tenants *t, int resv, uint64_t actual, uint64_t now_ms,
                       int64_t now_wall_s);
void sl_tenants_refund(struct sl_tenants *t, int resv, uint64_t now_ms, int64_t now_wall_s);
/* Master, after reaping pid: settle every reservation it held in full.  Returns how many. */
unsigned sl_tenants_reap(struct sl_tenants *t, pid_t pid, uint64_t now_ms, int64_t now_wall_s);
/* State file restore: a tenant's budget usage in the period that began at period_start_s
 * (ignored unless the tenant's period kind is still `period`). */
int sl_tenants_restore_usage(struct sl_tenants *t, int idx, uint64_t used, enum sl_period period,
                             int64_t period_start_s, int64_t now_wall_s);
/* Reservations held now (tests, metrics). */
unsigned sl_tenants_reserved_slots(struct sl_tenants *t);
#endif /* SL_TENANTS_H */
