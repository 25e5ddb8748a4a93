/* SPDX-License-Identifier: MIT */
/* tenants.c - the shared tenant and key tables (the reservations are reservations.c). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/tenants.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include <openssl/crypto.h>

#include "core/model_list.h"
#include "admission/reservations.h"
#include "admission/shm_lock.h"
#include "admission/tenants_int.h"

#define ARRAY_ALIGN 64
#define GUARD_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

/* What a tenant is given by the file, the admin API or Redis, apart from its name: models
 * canonical ("" = every model), guard a name, "none" or "" (the default). */
struct settings {
    const struct sl_limits *lim;
    const char *models, *guard;
};

static size_t align_up(size_t n)
{
    return (n + ARRAY_ALIGN - 1) & ~(size_t)(ARRAY_ALIGN - 1);
}

/* Slots for max_keys keys: a power of two, at least twice as many, so that the revoked
 * keys' tombstones have room beside the live keys and probes stay short. */
static uint32_t key_slots_for(unsigned max_keys)
{
    uint64_t want = (uint64_t)max_keys * 2, n = 16;

    while (n < want)
        n <<= 1;
    return (uint32_t)n;
}

size_t sl_tenants_arrays_size(unsigned max_tenants, unsigned max_keys, unsigned max_resv)
{
    return align_up((size_t)max_tenants * sizeof(struct sl_tenant_rec)) +
           align_up((size_t)key_slots_for(max_keys) * sizeof(struct sl_key_rec)) +
           align_up((size_t)max_resv * sizeof(struct sl_reservation));
}

int sl_tenants_init(struct sl_tenants *t, void *storage, unsigned max_tenants, unsigned max_keys,
                    unsigned max_resv)
{
    char *p = storage;
    unsigned i;
    int r;

    if (max_tenants == 0 || max_keys == 0 || max_resv == 0)
        return -EINVAL;
    t->max_tenants = max_tenants;
    t->max_keys = max_keys;
    t->key_slots = key_slots_for(max_keys);
    t->max_resv = max_resv;
    t->tenants = (struct sl_tenant_rec *)p;
    p += align_up((size_t)max_tenants * sizeof(struct sl_tenant_rec));
    t->keys = (struct sl_key_rec *)p;
    p += align_up((size_t)t->key_slots * sizeof(struct sl_key_rec));
    t->resv = (struct sl_reservation *)p;
    if ((r = sl_shm_lock_init(&t->admin_lock)) < 0)
        return r;
    if (getrandom(&t->host_id, sizeof(t->host_id), 0) != (ssize_t)sizeof(t->host_id))
        return -EIO;
    atomic_store(&t->redis_version, -1);
    for (i = 0; i < t->max_tenants; i++)
        if ((r = sl_shm_lock_init(&t->tenants[i].lock)) < 0)
            return r;
    return 0;
}

struct sl_tenants *sl_tenants_map(unsigned max_tenants, unsigned max_keys, unsigned max_resv)
{
    size_t head = align_up(sizeof(struct sl_tenants));
    size_t size = head + sl_tenants_arrays_size(max_tenants, max_keys, max_resv);
    struct sl_tenants *t;
    int r;

    t = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return NULL;
    if ((r = sl_tenants_init(t, (char *)t + head, max_tenants, max_keys, max_resv)) < 0) {
        munmap(t, size);
        errno = -r;
        return NULL;
    }
    return t;
}

void sl_tenants_unmap(struct sl_tenants *t)
{
    if (t)
        munmap(t, align_up(sizeof(struct sl_tenants)) +
                      sl_tenants_arrays_size(t->max_tenants, t->max_keys, t->max_resv));
}

int sl_tenants_by_name(struct sl_tenants *t, const char *name)
{
    uint32_t i, n = atomic_load(&t->ntenants);

    for (i = 0; i < n; i++)
        if (atomic_load_explicit(&t->tenants[i].state, memory_order_acquire) == SL_SLOT_LIVE &&
            strcmp(t->tenants[i].name, name) == 0)
            return (int)i;
    return -ENOENT;
}

static uint32_t key_home(const struct sl_tenants *t, const unsigned char sha[32])
{
    return ((uint32_t)sha[0] | (uint32_t)sha[1] << 8 | (uint32_t)sha[2] << 16 |
            (uint32_t)sha[3] << 24) &
           (t->key_slots - 1);
}

/* The tenant a live key record names, when that tenant is live too. */
static int tenant_of(struct sl_tenants *t, const struct sl_key_rec *k)
{
    uint32_t tenant = k->tenant;

    if (tenant < t->max_tenants && atomic_load(&t->tenants[tenant].state) == SL_SLOT_LIVE)
        return (int)tenant;
    return -ENOENT;
}

int sl_tenants_find_key(struct sl_tenants *t, const unsigned char sha256[32], uint32_t *slot)
{
    uint32_t i, h = key_home(t, sha256);

    for (i = 0; i < t->key_slots; i++) {
        uint32_t at = (h + i) & (t->key_slots - 1);
        struct sl_key_rec *k = &t->keys[at];
        uint32_t st = atomic_load_explicit(&k->state, memory_order_acquire);

        if (st == SL_SLOT_FREE)
            return -ENOENT;
        /* Constant time on the hash: no early exit that would tell how many bytes matched. */
        if (st == SL_SLOT_LIVE && CRYPTO_memcmp(k->sha256, sha256, 32) == 0) {
            if (slot)
                *slot = at;
            return tenant_of(t, k);
        }
    }
    return -ENOENT;
}

int sl_tenants_by_key(struct sl_tenants *t, const unsigned char sha256[32])
{
    return sl_tenants_find_key(t, sha256, NULL);
}

int sl_tenants_key_at(struct sl_tenants *t, uint32_t slot, const unsigned char sha256[32])
{
    struct sl_key_rec *k;

    if (slot >= t->key_slots)
        return -ENOENT;
    k = &t->keys[slot];
    if (atomic_load_explicit(&k->state, memory_order_acquire) != SL_SLOT_LIVE ||
        CRYPTO_memcmp(k->sha256, sha256, 32) != 0)
        return -ENOENT;
    return tenant_of(t, k);
}

static void revoke_keys_of_locked(struct sl_tenants *t, uint32_t tenant);

/* Does any reservation (held, settling, or being claimed) still name tenant idx? */
static bool referenced(struct sl_tenants *t, uint32_t idx)
{
    for (uint32_t i = 0; i < t->max_resv; i++)
        if (atomic_load(&t->resv[i].state) != SL_SLOT_FREE && t->resv[i].tenant == idx)
            return true;
    return false;
}

/* A deleted tenant's slot may serve a new tenant once nothing can still refer to it: dead for
 * SL_TENANT_REUSE_S (longer than a request waits between finding its tenant and holding a
 * reservation) and named by no reservation (a stream may outlive any quarantine). */
static int reusable_locked(struct sl_tenants *t, int64_t now_wall_s)
{
    uint32_t i, n = atomic_load(&t->ntenants);

    for (i = 0; i < n; i++) {
        struct sl_tenant_rec *rec = &t->tenants[i];

        if (atomic_load(&rec->state) == SL_SLOT_DEAD &&
            now_wall_s - rec->dead_at_s >= SL_TENANT_REUSE_S && !referenced(t, i))
            return (int)i;
    }
    return -ENOENT;
}

/* Under rec's lock. */
static void store_settings(struct sl_tenant_rec *rec, const struct settings *set)
{
    rec->limits = *set->lim;
    snprintf(rec->models, sizeof(rec->models), "%s", set->models);
    snprintf(rec->guard, sizeof(rec->guard), "%s", set->guard);
}

static int create_locked(struct sl_tenants *t, const char *name, const struct settings *set,
                         bool is_static, int64_t now_wall_s)
{
    uint32_t n = atomic_load(&t->ntenants);
    struct sl_tenant_rec *rec;
    int idx;

    if (sl_tenants_by_name(t, name) >= 0)
        return -EEXIST;
    if (strlen(name) >= sizeof(rec->name))
        return -ENOSPC;
    idx = reusable_locked(t, now_wall_s);
    if (idx < 0 && n >= t->max_tenants)
        return -ENOSPC;
    if (idx < 0)
        idx = (int)n;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    snprintf(rec->name, sizeof(rec->name), "%s", name);
    rec->is_static = is_static;
    atomic_store(&rec->redis_remaining, -1);
    memset(&rec->counters, 0, sizeof(rec->counters));
    store_settings(rec, set);
    sl_quota_init(&rec->quota, set->lim->budget_period, now_wall_s);
    unlock(&rec->lock);
    atomic_store_explicit(&rec->state, SL_SLOT_LIVE, memory_order_release);
    if ((uint32_t)idx == n)
        atomic_store(&t->ntenants, n + 1);
    return idx;
}

/* A tenant goes, keys and all; its slot is reusable later (reusable_locked). */
static void bury_locked(struct sl_tenants *t, uint32_t idx, int64_t now_wall_s)
{
    revoke_keys_of_locked(t, idx);
    t->tenants[idx].dead_at_s = now_wall_s;
    atomic_store(&t->tenants[idx].state, SL_SLOT_DEAD);
}

int sl_tenants_create(struct sl_tenants *t, const char *name, const struct sl_limits *lim,
                      int64_t now_wall_s)
{
    struct settings set = { lim, "", "" };
    int r;

    lock(&t->admin_lock);
    r = create_locked(t, name, &set, false, now_wall_s);
    unlock(&t->admin_lock);
    return r;
}

int sl_tenants_set_limits(struct sl_tenants *t, int idx, const struct sl_limits *lim,
                          int64_t now_wall_s)
{
    struct sl_tenant_rec *rec;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    if (rec->is_static)
        return -EPERM;
    lock_rec(t, rec);
    rec->limits = *lim;
    unlock(&rec->lock);
    return 0;
}

int sl_tenants_set_models(struct sl_tenants *t, int idx, const char *models)
{
    char canon[SL_MODEL_LIST_MAX], why[160];
    struct sl_tenant_rec *rec;
    int r;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    if (rec->is_static)
        return -EPERM;
    if ((r = sl_model_list_parse(models, NULL, canon, why, sizeof(why))) < 0)
        return r;
    lock_rec(t, rec);
    memcpy(rec->models, canon, sizeof(canon));
    unlock(&rec->lock);
    return 0;
}

int sl_tenants_models(struct sl_tenants *t, int idx, char *out)
{
    struct sl_tenant_rec *rec;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    memcpy(out, rec->models, sizeof(rec->models));
    unlock(&rec->lock);
    return 0;
}

bool sl_tenants_model_allowed(struct sl_tenants *t, int idx, const char *model)
{
    struct sl_tenant_rec *rec;
    bool ok;

    if (!idx_ok(t, idx))
        return false;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    ok = sl_model_list_allows(rec->models, model);
    unlock(&rec->lock);
    return ok;
}

bool sl_tenants_guard_name_ok(const char *name)
{
    size_t n = strlen(name);

    return n < SL_GUARD_NAME_MAX && strspn(name, GUARD_NAME_CHARS) == n;
}

int sl_tenants_set_guard(struct sl_tenants *t, int idx, const char *guard)
{
    struct sl_tenant_rec *rec;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    if (rec->is_static)
        return -EPERM;
    if (!sl_tenants_guard_name_ok(guard))
        return -EINVAL;
    lock_rec(t, rec);
    snprintf(rec->guard, sizeof(rec->guard), "%s", guard);
    unlock(&rec->lock);
    return 0;
}

int sl_tenants_guard(struct sl_tenants *t, int idx, char out[SL_GUARD_NAME_MAX])
{
    struct sl_tenant_rec *rec;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    memcpy(out, rec->guard, sizeof(rec->guard));
    unlock(&rec->lock);
    return 0;
}

/* Revoke key slot i.  A revoked slot is a tombstone lookups walk past; one that ends a probe
 * path (the next slot is free) and the tombstones right before it are freed at once, since
 * no path can lead through them to a key, so churn does not fill the table with tombstones. */
static void bury_key_locked(struct sl_tenants *t, uint32_t i)
{
    uint32_t j = i;

    atomic_store(&t->keys[i].state, SL_SLOT_DEAD);
    atomic_fetch_sub(&t->nlive_keys, 1);
    if (atomic_load(&t->keys[(i + 1) & (t->key_slots - 1)].state) != SL_SLOT_FREE)
        return;
    while (atomic_load(&t->keys[j].state) == SL_SLOT_DEAD) {
        atomic_store(&t->keys[j].state, SL_SLOT_FREE);
        atomic_fetch_sub(&t->nkeys, 1);
        j = (j - 1) & (t->key_slots - 1);
        if (j == i)
            break;
    }
}

static void revoke_keys_of_locked(struct sl_tenants *t, uint32_t tenant)
{
    uint32_t i;

    for (i = 0; i < t->key_slots; i++)
        if (atomic_load(&t->keys[i].state) == SL_SLOT_LIVE && t->keys[i].tenant == tenant)
            bury_key_locked(t, i);
}

int sl_tenants_delete(struct sl_tenants *t, int idx, int64_t now_wall_s)
{
    if (!idx_ok(t, idx))
        return -ENOENT;
    lock(&t->admin_lock);
    bury_locked(t, (uint32_t)idx, now_wall_s);
    unlock(&t->admin_lock);
    return 0;
}

/* id: the key's public id when it has one already (from Redis), else NULL for a new one. */
static int add_key_locked(struct sl_tenants *t, uint32_t tenant, const unsigned char sha[32],
                          int64_t now_wall_s, char *id_out, bool from_config, const char *id)
{
    static const char hex[] = "0123456789abcdef";
    uint32_t i, h = key_home(t, sha);
    unsigned char rnd[8];
    char new_id[SL_KEY_ID_LEN + 1];
    struct sl_key_rec *k = NULL;
    bool took_free = false;

    if (sl_tenants_by_key(t, sha) >= 0)
        return -EEXIST;
    if (atomic_load(&t->nlive_keys) >= t->max_keys)
        return -ENOSPC;
    if (id) {
        snprintf(new_id, sizeof(new_id), "%s", id);
    } else {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return -EIO;
        memcpy(new_id, "key_", 4);
        for (i = 0; i < 8; i++) {
            new_id[4 + 2 * i] = hex[rnd[i] >> 4];
            new_id[5 + 2 * i] = hex[rnd[i] & 15];
        }
        new_id[SL_KEY_ID_LEN] = '\0';
    }
    /* The first revoked slot on the probe path is reused; a free one ends the path.  Lookups
     * skip revoked slots and stop at free ones, so either keeps every key findable.  One slot
     * always stays free, so that every probe ends. */
    for (i = 0; i < t->key_slots; i++) {
        struct sl_key_rec *at = &t->keys[(h + i) & (t->key_slots - 1)];
        uint32_t st = atomic_load(&at->state);

        if (st == SL_SLOT_DEAD && !k)
            k = at;
        if (st == SL_SLOT_FREE) {
            if (!k && atomic_load(&t->nkeys) < t->key_slots - 1) {
                k = at;
                took_free = true;
            }
            break;
        }
    }
    if (!k)
        return -ENOSPC;
    if (took_free)
        atomic_fetch_add(&t->nkeys, 1);
    atomic_fetch_add(&t->nlive_keys, 1);
    memcpy(k->id, new_id, sizeof(new_id));
    memcpy(k->sha256, sha, 32);
    k->tenant = tenant;
    k->created_s = now_wall_s;
    k->from_config = from_config;
    atomic_store_explicit(&k->state, SL_SLOT_LIVE, memory_order_release);
    if (id_out)
        memcpy(id_out, k->id, SL_KEY_ID_LEN + 1);
    return 0;
}

int sl_tenants_add_key(struct sl_tenants *t, int idx, const unsigned char sha256[32],
                       int64_t now_wall_s, char *id_out)
{
    int r;

    if (!idx_ok(t, idx))
        return -ENOENT;
    lock(&t->admin_lock);
    r = add_key_locked(t, (uint32_t)idx, sha256, now_wall_s, id_out, false, NULL);
    unlock(&t->admin_lock);
    return r;
}

int sl_tenants_revoke_key(struct sl_tenants *t, const char *key_id)
{
    uint32_t i;
    int r = -ENOENT;

    lock(&t->admin_lock);
    for (i = 0; i < t->key_slots; i++)
        if (atomic_load(&t->keys[i].state) == SL_SLOT_LIVE && strcmp(t->keys[i].id, key_id) == 0) {
            bury_key_locked(t, i);
            r = 0;
            break;
        }
    unlock(&t->admin_lock);
    return r;
}

/* Does the file keep the static tenant `name`: a [tenant.NAME] section, or "anonymous" under
 * [auth] mode = none? */
static bool in_config(const struct sl_config *cfg, const char *name)
{
    bool keep = false;

    for (size_t j = 0; j < cfg->ntenants; j++)
        keep |= strcmp(cfg->tenants[j].name, name) == 0;
    return keep || (cfg->auth_mode == SL_AUTH_NONE && strcmp(name, SL_TENANT_ANONYMOUS) == 0);
}

/* Static tenants the file no longer names go away, keys and all. */
static void bury_unlisted_locked(struct sl_tenants *t, const struct sl_config *cfg,
                                 int64_t now_wall_s)
{
    uint32_t i, n = atomic_load(&t->ntenants);

    for (i = 0; i < n; i++) {
        struct sl_tenant_rec *rec = &t->tenants[i];

        if (atomic_load(&rec->state) != SL_SLOT_LIVE || !rec->is_static)
            continue;
        if (!in_config(cfg, rec->name))
            bury_locked(t, i, now_wall_s);
    }
}

/* A static tenant, created or given the file's settings.  Its index, or -errno and err. */
static int upsert_static_locked(struct sl_tenants *t, const char *name, const struct settings *set,
                                int64_t now_wall_s, char *err, size_t err_sz)
{
    int idx = sl_tenants_by_name(t, name);

    if (idx < 0) {
        idx = create_locked(t, name, set, true, now_wall_s);
    } else {
        struct sl_tenant_rec *rec = &t->tenants[idx];

        lock_rec(t, rec);
        store_settings(rec, set);
        rec->is_static = true;
        unlock(&rec->lock);
    }
    if (idx < 0)
        snprintf(err, err_sz, "tenant %s: %s", name, strerror(-idx));
    return idx;
}

/* A key_sha256 line removed from the file stops working on reload, not at restart. */
static void revoke_unlisted_keys_locked(struct sl_tenants *t, uint32_t idx,
                                        const struct sl_tenant_conf *tc)
{
    for (uint32_t ki = 0; ki < t->key_slots; ki++) {
        struct sl_key_rec *kr = &t->keys[ki];
        bool listed = false;

        if (atomic_load(&kr->state) != SL_SLOT_LIVE || !kr->from_config || kr->tenant != idx)
            continue;
        for (size_t k = 0; k < tc->nkeys; k++)
            listed |= memcmp(kr->sha256, tc->key_sha256[k], 32) == 0;
        if (!listed)
            bury_key_locked(t, ki);
    }
}

/* The file's key_sha256 lines of tenant idx that it does not have yet.  0, or -errno and err. */
static int add_listed_keys_locked(struct sl_tenants *t, int idx, const struct sl_tenant_conf *tc,
                                  int64_t now_wall_s, char *err, size_t err_sz)
{
    for (size_t k = 0; k < tc->nkeys; k++) {
        int r;

        if (sl_tenants_by_key(t, tc->key_sha256[k]) == idx)
            continue;
        r = add_key_locked(t, (uint32_t)idx, tc->key_sha256[k], now_wall_s, NULL, true, NULL);
        if (r < 0) {
            snprintf(err, err_sz, "tenant %s: a key_sha256 %s", tc->name,
                     r == -EEXIST ? "belongs to another tenant" : strerror(-r));
            return r;
        }
    }
    return 0;
}

/* One [tenant.NAME] section: the tenant, then its keys, before the next section's. */
static int apply_tenant_locked(struct sl_tenants *t, const struct sl_tenant_conf *tc,
                               int64_t now_wall_s, char *err, size_t err_sz)
{
    struct settings set = { &tc->limits, tc->models, tc->guard };
    int idx = upsert_static_locked(t, tc->name, &set, now_wall_s, err, err_sz);

    if (idx < 0)
        return idx;
    revoke_unlisted_keys_locked(t, (uint32_t)idx, tc);
    return add_listed_keys_locked(t, idx, tc, now_wall_s, err, err_sz);
}

/* [auth] mode = none: every request is the anonymous tenant's, with the [limits] defaults,
 * every model and the default guard. */
static int anonymous_locked(struct sl_tenants *t, const struct sl_config *cfg, int64_t now_wall_s,
                            char *err, size_t err_sz)
{
    struct settings set = { &cfg->limits, "", "" };

    if (cfg->auth_mode != SL_AUTH_NONE)
        return 0;
    return upsert_static_locked(t, SL_TENANT_ANONYMOUS, &set, now_wall_s, err, err_sz);
}

/* The steps stop at the first error: what came before it stays applied. */
int sl_tenants_apply_config(struct sl_tenants *t, const struct sl_config *cfg, int64_t now_wall_s,
                            char *err, size_t err_sz)
{
    int r = 0;

    lock(&t->admin_lock);
    bury_unlisted_locked(t, cfg, now_wall_s);
    for (size_t j = 0; j < cfg->ntenants && r >= 0; j++)
        r = apply_tenant_locked(t, &cfg->tenants[j], now_wall_s, err, err_sz);
    if (r >= 0)
        r = anonymous_locked(t, cfg, now_wall_s, err, err_sz);
    unlock(&t->admin_lock);
    return r < 0 ? r : 0;
}

int sl_tenants_usage(struct sl_tenants *t, int idx, uint64_t now_ms, int64_t now_wall_s,
                     struct sl_limits *lim_out, struct sl_quota_info *info_out)
{
    struct sl_tenant_rec *rec;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    if (lim_out)
        *lim_out = rec->limits;
    if (info_out)
        sl_quota_peek_locked(&rec->quota, &rec->limits, now_ms, now_wall_s, info_out);
    unlock(&rec->lock);
    return 0;
}

int sl_tenants_reset_usage(struct sl_tenants *t, int idx, int64_t now_wall_s)
{
    struct sl_tenant_rec *rec;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    sl_quota_budget_reset_locked(&rec->quota, &rec->limits, now_wall_s);
    unlock(&rec->lock);
    return 0;
}

int sl_tenants_restore_usage(struct sl_tenants *t, int idx, uint64_t used, enum sl_period period,
                             int64_t period_start_s, int64_t now_wall_s)
{
    struct sl_tenant_rec *rec;

    if (!idx_ok(t, idx))
        return -ENOENT;
    rec = &t->tenants[idx];
    lock_rec(t, rec);
    /* Only usage of the period that is still running counts; an older one has reset. */
    if (rec->limits.budget_period == period &&
        sl_quota_period_start(period, now_wall_s) == period_start_s) {
        rec->quota.used = used;
        rec->quota.period_start_s = period_start_s;
        rec->quota.period = (uint32_t)period;
    }
    unlock(&rec->lock);
    return 0;
}

/* ---- the tenant table from Redis ---- */

struct name_idx {
    const char *name;
    int idx;
};

static int by_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sl_tenant_entry *)a)->name,
                  ((const struct sl_tenant_entry *)b)->name);
}

static int key_entry_cmp(const void *a, const void *b)
{
    return memcmp(((const struct sl_key_entry *)a)->sha256,
                  ((const struct sl_key_entry *)b)->sha256, 32);
}

/* The live tenants by name, sorted, for lookups that stay fast with thousands of them. */
static size_t index_live(struct sl_tenants *t, struct name_idx *out)
{
    uint32_t i, n = atomic_load(&t->ntenants);
    size_t m = 0;

    for (i = 0; i < n; i++)
        if (atomic_load(&t->tenants[i].state) == SL_SLOT_LIVE)
            out[m++] = (struct name_idx){ t->tenants[i].name, (int)i };
    qsort(out, m, sizeof(*out), by_name_cmp);
    return m;
}

static int find_idx(const struct name_idx *index, size_t n, const char *name)
{
    struct name_idx key = { name, -1 }, *hit;

    hit = bsearch(&key, index, n, sizeof(*index), by_name_cmp);
    return hit ? hit->idx : -ENOENT;
}

/* Tenants: create the new ones, update the dynamic ones, delete the dynamic ones Redis no
 * longer has.  A static tenant of this host's file wins over a Redis one of the same name. */
static void sync_tenants_locked(struct sl_tenants *t, struct sl_tenant_entry *tv, size_t nt,
                                struct name_idx *index, int64_t now_wall_s)
{
    size_t ni = index_live(t, index), i;

    if (nt) /* qsort's array must not be NULL, even empty */
        qsort(tv, nt, sizeof(*tv), entry_cmp);
    for (i = 0; i < ni; i++) {
        struct sl_tenant_rec *rec = &t->tenants[index[i].idx];
        struct sl_tenant_entry key;

        if (rec->is_static)
            continue;
        snprintf(key.name, sizeof(key.name), "%s", rec->name);
        if (!bsearch(&key, tv, nt, sizeof(*tv), entry_cmp))
            bury_locked(t, (uint32_t)index[i].idx, now_wall_s);
    }
    for (i = 0; i < nt; i++) {
        struct settings set = { &tv[i].limits, tv[i].models, tv[i].guard };
        int idx = find_idx(index, ni, tv[i].name);

        if (idx < 0) {
            create_locked(t, tv[i].name, &set, false, now_wall_s);
        } else if (!t->tenants[idx].is_static &&
                   atomic_load(&t->tenants[idx].state) == SL_SLOT_LIVE) {
            struct sl_tenant_rec *rec = &t->tenants[idx];

            lock_rec(t, rec);
            store_settings(rec, &set);
            unlock(&rec->lock);
        }
    }
}

/* Keys: add the new ones under their ids, revoke the API keys Redis no longer has (keys of
 * key_sha256 lines belong to the file and stay). */
static void sync_keys_locked(struct sl_tenants *t, struct sl_key_entry *kv, size_t nk,
                             struct name_idx *index, int64_t now_wall_s)
{
    size_t ni = index_live(t, index), i;
    uint32_t k;

    if (nk) /* qsort's array must not be NULL, even empty */
        qsort(kv, nk, sizeof(*kv), key_entry_cmp);
    for (k = 0; k < t->key_slots; k++) {
        struct sl_key_rec *kr = &t->keys[k];
        struct sl_key_entry key;

        if (atomic_load(&kr->state) != SL_SLOT_LIVE || kr->from_config)
            continue;
        memcpy(key.sha256, kr->sha256, 32);
        if (!bsearch(&key, kv, nk, sizeof(*kv), key_entry_cmp))
            bury_key_locked(t, k);
    }
    for (i = 0; i < nk; i++) {
        int idx = find_idx(index, ni, kv[i].tenant);

        if (idx >= 0 && sl_tenants_by_key(t, kv[i].sha256) < 0)
            add_key_locked(t, (uint32_t)idx, kv[i].sha256, kv[i].created_s, NULL, false, kv[i].id);
    }
}

int sl_tenants_sync(struct sl_tenants *t, struct sl_tenant_entry *tv, size_t nt,
                    struct sl_key_entry *kv, size_t nk, int64_t version, int64_t now_wall_s)
{
    struct name_idx *index = malloc(t->max_tenants * sizeof(*index));

    if (!index)
        return -ENOMEM;
    lock(&t->admin_lock);
    if (atomic_load(&t->redis_version) == version) {
        unlock(&t->admin_lock);
        free(index);
        return 1;
    }
    sync_tenants_locked(t, tv, nt, index, now_wall_s);
    sync_keys_locked(t, kv, nk, index, now_wall_s);
    atomic_store(&t->redis_version, version);
    unlock(&t->admin_lock);
    free(index);
    return 0;
}
