/* SPDX-License-Identifier: MIT */
/* fuzz_state.c - libFuzzer target: the input as the state file ([state] file) restored into
 * a fresh tenant table, then the usage read and one admission per restored tenant, since a
 * tampered file hands its numbers to the quota arithmetic. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "core/model_list.h"
#include "core/quota.h"
#include "admission/reservations.h"
#include "daemon/state.h"
#include "admission/tenants.h"

#define NOW_WALL_S INT64_C(1700000000)
#define NOW_MS UINT64_C(5000000)
#define ADMIT_TENANTS 8u

_Static_assert(offsetof(struct sl_tenant_rec, lock) == 0, "reset keeps the lock first");

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/sl-fuzz-state-XXXXXX";
static int fd = -1;
static struct sl_tenants *table;

static void cleanup(void)
{
    (void)unlink(path);
    if (table)
        munmap(table, sizeof(*table));
}

/* The table is a few MiB of shared memory as in sluiced; mapping and initialising its 4096
 * robust mutexes once, then wiping only what a run touched, keeps runs fast. */
static void setup(void)
{
    table = sl_tenants_map(4096, 16384, 65536);
    if (!table)
        abort();
    fd = mkstemp(path);
    if (fd == -1)
        abort();
    atexit(cleanup);
}

/* Back to the table as sl_tenants_init() left it, all but the mutexes, which are unlocked. */
static void wipe(const int *resv, unsigned nresv)
{
    uint32_t i, n = atomic_load(&table->ntenants);
    const size_t keep = offsetof(struct sl_tenant_rec, state);

    for (i = 0; i < n; i++)
        memset((char *)&table->tenants[i] + keep, 0, sizeof(table->tenants[i]) - keep);
    if (atomic_load(&table->nkeys) > 0)
        for (i = 0; i < table->key_slots; i++)
            if (atomic_load(&table->keys[i].state) != SL_SLOT_FREE)
                memset(&table->keys[i], 0, sizeof(table->keys[i]));
    for (i = 0; i < nresv; i++)
        memset(&table->resv[resv[i]], 0, sizeof(table->resv[0]));
    atomic_store(&table->ntenants, 0);
    atomic_store(&table->nkeys, 0);
    atomic_store(&table->nlive_keys, 0);
    atomic_store(&table->resv_hint, 0);
}

static void check_usage(int idx)
{
    struct sl_limits lim;
    struct sl_quota_info info;
    char models[SL_MODEL_LIST_MAX];

    if (sl_tenants_usage(table, idx, NOW_MS, NOW_WALL_S, &lim, &info) != 0)
        abort();
    /* A restored list is bounded and means what it says to the request path's check. */
    if (sl_tenants_models(table, idx, models) != 0 || !memchr(models, '\0', sizeof(models)) ||
        sl_tenants_model_allowed(table, idx, "gpt-4o") != sl_model_list_allows(models, "gpt-4o"))
        abort();
    if (info.budget.budget > 0 && info.budget.remaining > info.budget.budget)
        abort();
    if (lim.rpm < 0 || lim.tpm < 0 || lim.token_budget < 0)
        abort();
}

static bool strict_hex(const char *s, unsigned char out[32])
{
    size_t i;

    if (!s || strlen(s) != 64)
        return false;
    for (i = 0; i < 64; i++) {
        const char *d = strchr("0123456789abcdef0123456789ABCDEF", s[i]);

        if (!s[i] || !d)
            return false;
        if (i % 2 == 0)
            out[i / 2] = 0;
        out[i / 2] = (unsigned char)(out[i / 2] << 4 | ((d - "0123456789abcdef") & 15));
    }
    return true;
}

/* After a successful load, every dynamic tenant of the file exists and every key of a
 * restored tenant resolves to some tenant (two entries may share a key; the first wins). */
static void check_restored(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL), *tn, *k;
    size_t i, j;
    unsigned char sha[32];

    if (!doc || atomic_load(&table->ntenants) >= table->max_tenants ||
        atomic_load(&table->nlive_keys) >= table->max_keys - 1)
        goto out;
    json_array_foreach(json_object_get(doc, "tenants"), i, tn)
    {
        const char *name = json_string_value(json_object_get(tn, "name"));
        int idx = sl_tenants_by_name(table, name);

        if (idx < 0 && json_object_get(tn, "limits"))
            abort();
        if (idx < 0)
            continue;
        json_array_foreach(
            json_object_get(tn, "keys"), j,
            k) if (strict_hex(json_string_value(json_object_get(k, "sha256")), sha) &&
                   sl_tenants_by_key(table, sha) < 0) abort();
    }
out:
    json_decref(doc);
}

/* Returns the reservation slot used, or -1. */
static int admit(int idx)
{
    struct sl_quota_result res;
    int resv = -1;

    memset(&res, 0, sizeof(res));
    if (sl_tenants_admit(table, idx, 1000, 4242, NOW_MS, NOW_WALL_S, &res, &resv) != SL_QUOTA_OK)
        return -1;
    if (resv < 0 || (unsigned)resv >= table->max_resv)
        abort();
    sl_tenants_settle(table, resv, 600, NOW_MS + 1000, NOW_WALL_S + 1);
    return resv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    int resv[ADMIT_TENANTS];
    unsigned nresv = 0;
    uint32_t i, n;

    if (!table)
        setup();
    if (ftruncate(fd, 0) == -1 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    err[0] = '\0';
    if (sl_state_load(table, path, NOW_WALL_S, err, sizeof(err)) == 0) {
        check_restored(data, size);
        n = atomic_load(&table->ntenants);
        for (i = 0; i < n && nresv < ADMIT_TENANTS; i++) {
            if (atomic_load(&table->tenants[i].state) != SL_SLOT_LIVE)
                continue;
            check_usage((int)i);
            resv[nresv] = admit((int)i);
            if (resv[nresv] >= 0)
                nresv++;
            check_usage((int)i);
        }
    } else if (err[0] == '\0' || atomic_load(&table->ntenants) != 0) {
        abort(); /* a refused file is reported and restores nothing */
    }
    wipe(resv, nresv);
    return 0;
}
