/* SPDX-License-Identifier: MIT */
/* test_tenants.c - the shared tenant table on its own: keys by hash, bearer parsing,
 * reservations settled once, a dead worker's reservations reaped, a lock held by a process
 * that died, which models each tenant may call and the guard it names. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "admission/auth.h"
#include "admission/reservations.h"
#include "admission/tenants.h"

static struct sl_tenants *t;
static const struct sl_limits budget_1000 = { .token_budget = 1000,
                                              .budget_period = SL_PERIOD_DAY };
#define NOW_MS 1000000u
#define WALL 1795600000

static void setup(void)
{
    t = sl_tenants_map(4096, 16384, 65536); /* the defaults of [state] */
    cr_assert_not_null(t);
}

static void teardown(void)
{
    sl_tenants_unmap(t);
}

TestSuite(tenants, .init = setup, .fini = teardown, .timeout = 20);

static void key_hash(const char *key, unsigned char out[32])
{
    sl_auth_hash(key, strlen(key), out);
}

Test(tenants, keys_find_their_tenant_and_revoked_ones_do_not)
{
    unsigned char a[32], b[32];
    char id[SL_KEY_ID_LEN + 1];
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL);

    cr_assert_geq(acme, 0);
    key_hash("sk-a", a);
    key_hash("sk-b", b);
    cr_assert_eq(sl_tenants_add_key(t, acme, a, WALL, id), 0);
    cr_assert_eq(strncmp(id, "key_", 4), 0);
    cr_assert_eq(sl_tenants_by_key(t, a), acme);
    cr_assert_eq(sl_tenants_by_key(t, b), -ENOENT);
    cr_assert_eq(sl_tenants_add_key(t, acme, a, WALL, NULL), -EEXIST);
    cr_assert_eq(sl_tenants_revoke_key(t, id), 0);
    cr_assert_eq(sl_tenants_by_key(t, a), -ENOENT);
    cr_assert_eq(sl_tenants_create(t, "acme", &budget_1000, WALL), -EEXIST);
    cr_assert_eq(sl_tenants_delete(t, acme, WALL), 0);
    cr_assert_eq(sl_tenants_by_name(t, "acme"), -ENOENT);
}

Test(tenants, many_keys_with_colliding_slots)
{
    unsigned char h[32];
    char key[32];
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL), i;

    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "sk-%d", i);
        key_hash(key, h);
        cr_assert_eq(sl_tenants_add_key(t, acme, h, WALL, NULL), 0, "key %d", i);
    }
    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "sk-%d", i);
        key_hash(key, h);
        cr_assert_eq(sl_tenants_by_key(t, h), acme, "key %d", i);
    }
}

Test(tenants, a_reservation_is_settled_exactly_once)
{
    struct sl_quota_result res;
    struct sl_quota_info info;
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL), resv = -1;

    cr_assert_eq(sl_tenants_admit(t, acme, 600, 42, NOW_MS, WALL, &res, &resv), SL_QUOTA_OK);
    cr_assert_eq(sl_tenants_reserved_slots(t), 1);
    cr_assert_eq(sl_tenants_admit(t, acme, 600, 42, NOW_MS, WALL, &res, &resv), SL_QUOTA_BUDGET,
                 "600 + 600 > 1000 while the first is in flight");
    sl_tenants_settle(t, resv, 100, NOW_MS, WALL);
    sl_tenants_settle(t, resv, 100, NOW_MS, WALL); /* a second settle is a no-op */
    sl_tenants_refund(t, resv, NOW_MS, WALL);
    sl_tenants_usage(t, acme, NOW_MS, WALL, NULL, &info);
    cr_assert_eq(info.budget.used, 100);
    cr_assert_eq(info.budget.reserved, 0);
    cr_assert_eq(sl_tenants_reserved_slots(t), 0);
}

Test(tenants, a_dead_workers_reservations_are_charged_in_full)
{
    struct sl_quota_result res;
    struct sl_quota_info info;
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL), r1, r2, r3;

    sl_tenants_admit(t, acme, 100, 7, NOW_MS, WALL, &res, &r1);
    sl_tenants_admit(t, acme, 200, 7, NOW_MS, WALL, &res, &r2);
    sl_tenants_admit(t, acme, 300, 8, NOW_MS, WALL, &res, &r3);
    cr_assert_eq(sl_tenants_reap(t, 7, NOW_MS, WALL), 2);
    sl_tenants_usage(t, acme, NOW_MS, WALL, NULL, &info);
    cr_assert_eq(info.budget.used, 300);
    cr_assert_eq(info.budget.reserved, 300);
    sl_tenants_refund(t, r3, NOW_MS, WALL);
    cr_assert_eq(sl_tenants_reserved_slots(t), 0);
}

Test(tenants, a_lock_held_by_a_dead_process_does_not_wedge)
{
    struct sl_quota_result res;
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL), resv, st;
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pthread_mutex_lock(&t->tenants[acme].lock);
        _exit(0); /* dies holding the tenant's lock */
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert_eq(sl_tenants_admit(t, acme, 10, 1, NOW_MS, WALL, &res, &resv), SL_QUOTA_OK);
    sl_tenants_settle(t, resv, 10, NOW_MS, WALL);
}

Test(tenants, config_tenants_and_anonymous)
{
    struct sl_config *cfg = sl_config_new();
    char err[128];

    cr_assert_not_null(cfg);
    cfg->auth_mode = SL_AUTH_NONE;
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_geq(sl_tenants_by_name(t, SL_TENANT_ANONYMOUS), 0);
    cfg->auth_mode = SL_AUTH_KEYS;
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_tenants_by_name(t, SL_TENANT_ANONYMOUS), -ENOENT,
                 "anonymous goes away with mode = keys");
    sl_config_free(cfg);
}

struct bearer_case {
    char header[48];
    char key[32]; /* "" = no key */
};

ParameterizedTestParameters(tenants, bearer)
{
    static struct bearer_case cases[] = {
        { "Bearer sk-1", "sk-1" }, { "bearer sk-1", "sk-1" }, { "BEARER  sk-1 ", "sk-1" },
        { "Bearer ", "" },         { "Basic sk-1", "" },      { "sk-1", "" },
        { "Bearersk-1", "" },
    };
    return cr_make_param_array(struct bearer_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bearer_case *c, tenants, bearer)
{
    size_t len = 0;
    const char *k = sl_auth_bearer(c->header, &len);

    if (!c->key[0]) {
        cr_assert_null(k, "%s", c->header);
        return;
    }
    cr_assert_not_null(k, "%s", c->header);
    cr_assert_eq(len, strlen(c->key));
    cr_assert_eq(memcmp(k, c->key, len), 0);
}

Test(tenants, a_key_removed_from_the_file_stops_working_on_reload)
{
    struct sl_config *cfg = sl_config_new();
    unsigned char a[32], b[32];
    char err[128];

    key_hash("sk-file-a", a);
    key_hash("sk-file-b", b);
    cfg->tenants = calloc(1, sizeof(*cfg->tenants));
    cfg->ntenants = 1;
    snprintf(cfg->tenants[0].name, sizeof(cfg->tenants[0].name), "acme");
    memcpy(cfg->tenants[0].key_sha256[0], a, 32);
    memcpy(cfg->tenants[0].key_sha256[1], b, 32);
    cfg->tenants[0].nkeys = 2;
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_geq(sl_tenants_by_key(t, a), 0);
    cr_assert_geq(sl_tenants_by_key(t, b), 0);
    cfg->tenants[0].nkeys = 1; /* the line for b is gone */
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_geq(sl_tenants_by_key(t, a), 0);
    cr_assert_eq(sl_tenants_by_key(t, b), -ENOENT);
    sl_config_free(cfg);
}

/* A worker that dies inside the tenant's lock, with tokens counted as reserved that no slot
 * holds (the arithmetic done, the slot never published): the next locker rebuilds reserved
 * from the slots, so nothing leaks. */
Test(tenants, a_death_inside_the_lock_leaks_no_reserved_tokens)
{
    struct sl_quota_result res;
    struct sl_quota_info info;
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL), held, resv, st;
    pid_t pid;

    cr_assert_eq(sl_tenants_admit(t, acme, 300, 1, NOW_MS, WALL, &res, &held), SL_QUOTA_OK);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pthread_mutex_lock(&t->tenants[acme].lock);
        t->tenants[acme].quota.reserved += 450; /* counted, never published */
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    sl_tenants_usage(t, acme, NOW_MS, WALL, NULL, &info);
    cr_assert_eq(info.budget.reserved, 300, "only the published reservation is held");
    cr_assert_eq(sl_tenants_admit(t, acme, 700, 1, NOW_MS, WALL, &res, &resv), SL_QUOTA_OK,
                 "the leaked 450 would have refused this one");
    sl_tenants_settle(t, held, 300, NOW_MS, WALL);
    sl_tenants_settle(t, resv, 700, NOW_MS, WALL);
    sl_tenants_usage(t, acme, NOW_MS, WALL, NULL, &info);
    cr_assert_eq(info.budget.used, 1000);
    cr_assert_eq(info.budget.reserved, 0);
}

/* Key rotation never fills the table: a revoked key's slot is taken by a later key. */
Test(tenants, revoked_key_slots_are_reused)
{
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL);
    char id[SL_KEY_ID_LEN + 1], key[32];
    unsigned char h[32];

    for (int i = 0; i < 3 * (int)t->key_slots; i++) {
        snprintf(key, sizeof(key), "sk-rot-%d", i);
        key_hash(key, h);
        cr_assert_eq(sl_tenants_add_key(t, acme, h, WALL, id), 0, "key %d", i);
        cr_assert_eq(sl_tenants_by_key(t, h), acme);
        cr_assert_eq(sl_tenants_revoke_key(t, id), 0);
        cr_assert_eq(sl_tenants_by_key(t, h), -ENOENT);
    }
    /* Keys still live are found after all that churn around them. */
    key_hash("sk-stays", h);
    cr_assert_eq(sl_tenants_add_key(t, acme, h, WALL, id), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "sk-more-%d", i);
        key_hash(key, h);
        cr_assert_eq(sl_tenants_add_key(t, acme, h, WALL, NULL), 0);
    }
    key_hash("sk-stays", h);
    cr_assert_eq(sl_tenants_by_key(t, h), acme);
}

/* A deleted tenant's slot comes back only after the quarantine, and never while a
 * reservation still names it. */
Test(tenants, deleted_tenant_slots_are_reused_once_nothing_refers_to_them)
{
    struct sl_quota_result res;
    int a = sl_tenants_create(t, "a", &budget_1000, WALL), b, c, resv;

    cr_assert_eq(sl_tenants_admit(t, a, 10, 1, NOW_MS, WALL, &res, &resv), SL_QUOTA_OK);
    cr_assert_eq(sl_tenants_delete(t, a, WALL), 0);
    b = sl_tenants_create(t, "b", &budget_1000, WALL + SL_TENANT_REUSE_S - 1);
    cr_assert_neq(b, a, "reused within the quarantine");
    c = sl_tenants_create(t, "c", &budget_1000, WALL + SL_TENANT_REUSE_S + 1);
    cr_assert_neq(c, a, "reused while a reservation names it");
    sl_tenants_settle(t, resv, 10, NOW_MS, WALL);
    cr_assert_eq(sl_tenants_create(t, "d", &budget_1000, WALL + SL_TENANT_REUSE_S + 1), a);
    cr_assert_eq(sl_tenants_by_name(t, "d"), a);
    cr_assert_eq(sl_tenants_by_name(t, "a"), -ENOENT);
}

/* Churn through more tenants than the table holds: it never fills. */
Test(tenants, tenant_churn_never_fills_the_table)
{
    char name[32];

    for (int i = 0; i < 2 * (int)t->max_tenants; i++) {
        int idx;

        snprintf(name, sizeof(name), "t%d", i);
        idx = sl_tenants_create(t, name, &budget_1000, WALL + (int64_t)i * SL_TENANT_REUSE_S);
        cr_assert_geq(idx, 0, "tenant %d: %d", i, idx);
        cr_assert_eq(sl_tenants_delete(t, idx, WALL + (int64_t)i * SL_TENANT_REUSE_S), 0);
    }
}

/* [state] max_tenants, max_keys and max_reservations size the tables; each is a hard limit,
 * answered with -ENOSPC, and whatever was refused leaves nothing behind. */
Test(tenants, the_configured_table_sizes_are_the_limits)
{
    struct sl_tenants *s = sl_tenants_map(3, 5, 64);
    struct sl_quota_result res;
    char name[16], key[32], id[SL_KEY_ID_LEN + 1], first[SL_KEY_ID_LEN + 1];
    unsigned char h[32];
    int idx[3], resv[64], extra;

    cr_assert_not_null(s);
    cr_assert_eq(s->key_slots, 16, "twice 5 keys, a power of two, at least 16");
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "t%d", i);
        idx[i] = sl_tenants_create(s, name, &budget_1000, WALL);
        cr_assert_geq(idx[i], 0);
    }
    cr_assert_eq(sl_tenants_create(s, "one-too-many", &budget_1000, WALL), -ENOSPC);
    cr_assert_eq(sl_tenants_by_name(s, "one-too-many"), -ENOENT);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "sk-cap-%d", i);
        key_hash(key, h);
        cr_assert_eq(sl_tenants_add_key(s, idx[i % 3], h, WALL, i ? id : first), 0, "key %d", i);
    }
    key_hash("sk-cap-5", h);
    cr_assert_eq(sl_tenants_add_key(s, idx[0], h, WALL, id), -ENOSPC);
    cr_assert_eq(sl_tenants_by_key(s, h), -ENOENT);
    /* A revoked key frees its place for another. */
    cr_assert_eq(sl_tenants_revoke_key(s, first), 0);
    cr_assert_eq(sl_tenants_add_key(s, idx[0], h, WALL, id), 0);
    cr_assert_eq(sl_tenants_by_key(s, h), idx[0]);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(sl_tenants_admit(s, idx[1], 1, 4242, NOW_MS, WALL, &res, &resv[i]),
                     SL_QUOTA_OK, "reservation %d", i);
    cr_assert_eq(sl_tenants_admit(s, idx[1], 1, 4242, NOW_MS, WALL, &res, &extra), -ENOSPC);
    sl_tenants_settle(s, resv[0], 1, NOW_MS, WALL);
    cr_assert_eq(sl_tenants_admit(s, idx[1], 1, 4242, NOW_MS, WALL, &res, &extra), SL_QUOTA_OK);
    sl_tenants_unmap(s);
}

/* ---- model lists (SPEC §10) ---- */

struct models_case {
    char list[64]; /* given to sl_tenants_set_models() */
    char model[32];
    bool want;
};

ParameterizedTestParameters(tenants, model_allowed)
{
    static struct models_case cases[] = {
        { "", "gpt-4o", true }, /* empty: every model */
        { "gpt-4o", "gpt-4o", true },
        { "gpt-4o", "gpt-4o-mini", false },
        { "gpt-4o-mini, gpt-4o", "gpt-4o", true },
        { "gpt-4o-mini, gpt-4o", "gpt-4o-mini", true },
        { "gpt-4o-mini, gpt-4o", "gpt-4", false },      /* a prefix is not a name */
        { "gpt-4o-mini", "gpt-4o-mini,gpt-4o", false }, /* nor a whole list */
        { "gpt-4o", "", false },
    };
    return cr_make_param_array(struct models_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct models_case *c, tenants, model_allowed)
{
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL);

    cr_assert_eq(sl_tenants_set_models(t, acme, c->list), 0);
    cr_assert_eq(sl_tenants_model_allowed(t, acme, c->model), c->want, "'%s' in '%s'", c->model,
                 c->list);
}

Test(tenants, set_models_stores_the_canonical_list_and_clears)
{
    char out[SL_MODEL_LIST_MAX];
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL);

    cr_assert_eq(sl_tenants_models(t, acme, out), 0);
    cr_assert_str_empty(out, "a new tenant may use every model");
    cr_assert_eq(sl_tenants_set_models(t, acme, " b , a,b "), 0);
    cr_assert_eq(sl_tenants_models(t, acme, out), 0);
    cr_assert_str_eq(out, "b,a");
    cr_assert_not(sl_tenants_model_allowed(t, acme, "c"));
    cr_assert_eq(sl_tenants_set_models(t, acme, ""), 0);
    cr_assert(sl_tenants_model_allowed(t, acme, "c"), "cleared: every model again");
}

Test(tenants, set_models_refuses_what_is_not_a_list_and_keeps_the_old_one)
{
    char big[SL_MODEL_LIST_MAX + 64], out[SL_MODEL_LIST_MAX];
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL);

    cr_assert_eq(sl_tenants_set_models(t, acme, "a"), 0);
    cr_assert_eq(sl_tenants_set_models(t, acme, "a,,b"), -EINVAL);
    cr_assert_eq(sl_tenants_set_models(t, acme, "a b"), -EINVAL);
    for (size_t i = 0; i + 1 < sizeof(big); i += 2)
        memcpy(big + i, i % 4 ? "y," : "x,", 2); /* names "x" and "y" repeated: dedups fine */
    big[sizeof(big) - 2] = 'z';
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(sl_tenants_set_models(t, acme, big), 0, "duplicates say nothing new");
    memset(big, 'm', sizeof(big) - 1); /* one name far too long */
    cr_assert_eq(sl_tenants_set_models(t, acme, big), -EINVAL);
    cr_assert_eq(sl_tenants_models(t, acme, out), 0);
    cr_assert_str_eq(out, "x,y,z");
}

Test(tenants, set_models_on_a_static_or_missing_tenant)
{
    struct sl_config *cfg = sl_config_new();
    char err[128];
    int acme, gone;

    cfg->tenants = calloc(1, sizeof(*cfg->tenants));
    cfg->ntenants = 1;
    snprintf(cfg->tenants[0].name, sizeof(cfg->tenants[0].name), "acme");
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    acme = sl_tenants_by_name(t, "acme");
    cr_assert_eq(sl_tenants_set_models(t, acme, "a"), -EPERM, "the file owns them");
    gone = sl_tenants_create(t, "gone", &budget_1000, WALL);
    cr_assert_eq(sl_tenants_delete(t, gone, WALL), 0);
    cr_assert_eq(sl_tenants_set_models(t, gone, "a"), -ENOENT);
    cr_assert_not(sl_tenants_model_allowed(t, gone, "a"), "a deleted tenant may call nothing");
    cr_assert_not(sl_tenants_model_allowed(t, -1, "a"));
    sl_config_free(cfg);
}

Test(tenants, static_tenants_take_their_models_from_the_file_on_start_and_reload)
{
    struct sl_config *cfg = sl_config_new();
    char err[128];
    int acme;

    cfg->tenants = calloc(1, sizeof(*cfg->tenants));
    cfg->ntenants = 1;
    snprintf(cfg->tenants[0].name, sizeof(cfg->tenants[0].name), "acme");
    snprintf(cfg->tenants[0].models, sizeof(cfg->tenants[0].models), "gpt-4o");
    cfg->auth_mode = SL_AUTH_NONE;
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    acme = sl_tenants_by_name(t, "acme");
    cr_assert(sl_tenants_model_allowed(t, acme, "gpt-4o"));
    cr_assert_not(sl_tenants_model_allowed(t, acme, "gpt-4o-mini"));
    cr_assert(sl_tenants_model_allowed(t, sl_tenants_by_name(t, SL_TENANT_ANONYMOUS), "x"),
              "the anonymous tenant may use every model");
    snprintf(cfg->tenants[0].models, sizeof(cfg->tenants[0].models), "gpt-4o-mini");
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_tenants_by_name(t, "acme"), acme);
    cr_assert_not(sl_tenants_model_allowed(t, acme, "gpt-4o"), "the reload's list holds");
    cr_assert(sl_tenants_model_allowed(t, acme, "gpt-4o-mini"));
    cfg->tenants[0].models[0] = '\0';
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert(sl_tenants_model_allowed(t, acme, "gpt-4o"), "an emptied list allows every model");
    sl_config_free(cfg);
}

Test(tenants, a_reused_slot_does_not_inherit_the_old_tenants_models)
{
    int a = sl_tenants_create(t, "a", &budget_1000, WALL), b;

    cr_assert_eq(sl_tenants_set_models(t, a, "gpt-4o"), 0);
    cr_assert_eq(sl_tenants_delete(t, a, WALL), 0);
    b = sl_tenants_create(t, "b", &budget_1000, WALL + SL_TENANT_REUSE_S + 1);
    cr_assert_eq(b, a);
    cr_assert(sl_tenants_model_allowed(t, b, "gpt-4o-mini"));
}

Test(tenants, the_redis_table_brings_models_for_new_and_changed_tenants)
{
    static struct sl_tenant_entry tv[2];
    char out[SL_MODEL_LIST_MAX];
    int beta;

    snprintf(tv[0].name, sizeof(tv[0].name), "beta");
    snprintf(tv[0].models, sizeof(tv[0].models), "gpt-4o");
    snprintf(tv[1].name, sizeof(tv[1].name), "gamma");
    cr_assert_eq(sl_tenants_sync(t, tv, 2, NULL, 0, 1, WALL), 0);
    beta = sl_tenants_by_name(t, "beta");
    cr_assert_not(sl_tenants_model_allowed(t, beta, "gpt-4o-mini"));
    cr_assert(sl_tenants_model_allowed(t, sl_tenants_by_name(t, "gamma"), "gpt-4o-mini"));
    snprintf(tv[0].name, sizeof(tv[0].name), "beta"); /* the sync sorted tv */
    snprintf(tv[0].models, sizeof(tv[0].models), "gpt-4o,gpt-4o-mini");
    snprintf(tv[1].name, sizeof(tv[1].name), "gamma");
    tv[1].models[0] = '\0';
    cr_assert_eq(sl_tenants_sync(t, tv, 2, NULL, 0, 2, WALL), 0);
    cr_assert_eq(sl_tenants_by_name(t, "beta"), beta);
    cr_assert_eq(sl_tenants_models(t, beta, out), 0);
    cr_assert_str_eq(out, "gpt-4o,gpt-4o-mini");
}

/* ---- the input-guard policy a tenant names (SPEC §13) ---- */

struct guard_name_case {
    char name[80];
    bool want;
};

ParameterizedTestParameters(tenants, guard_name_ok)
{
    static struct guard_name_case cases[] = {
        { "", true }, /* the default [guard] */
        { "none", true },
        { "strict", true },
        { "a.b-c_D9", true },
        { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", true },   /* 63 */
        { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false }, /* 64 */
        { "a b", false },
        { "a/b", false },
        { "a,b", false },
        { "\xc3\xa9", false },
        { "strict\n", false },
    };
    return cr_make_param_array(struct guard_name_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct guard_name_case *c, tenants, guard_name_ok)
{
    cr_assert_eq(sl_tenants_guard_name_ok(c->name), c->want, "'%s'", c->name);
}

Test(tenants, set_guard_stores_a_name_none_or_the_default)
{
    char out[SL_GUARD_NAME_MAX];
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL);

    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_empty(out, "a new tenant has the default guard");
    cr_assert_eq(sl_tenants_set_guard(t, acme, "strict"), 0);
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_eq(out, "strict");
    cr_assert_eq(sl_tenants_set_guard(t, acme, "none"), 0);
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_eq(out, "none");
    cr_assert_eq(sl_tenants_set_guard(t, acme, ""), 0);
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_empty(out, "back to the default");
}

Test(tenants, set_guard_refuses_what_is_not_a_name_and_keeps_the_old_one)
{
    char big[SL_GUARD_NAME_MAX + 1], out[SL_GUARD_NAME_MAX];
    int acme = sl_tenants_create(t, "acme", &budget_1000, WALL);

    cr_assert_eq(sl_tenants_set_guard(t, acme, "strict"), 0);
    cr_assert_eq(sl_tenants_set_guard(t, acme, "str ict"), -EINVAL);
    cr_assert_eq(sl_tenants_set_guard(t, acme, "strict\"}"), -EINVAL);
    memset(big, 'g', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(sl_tenants_set_guard(t, acme, big), -EINVAL, "64 bytes do not fit");
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_eq(out, "strict");
}

Test(tenants, set_guard_on_a_static_or_missing_tenant)
{
    struct sl_config *cfg = sl_config_new();
    char err[128], out[SL_GUARD_NAME_MAX];
    int acme, gone;

    cfg->tenants = calloc(1, sizeof(*cfg->tenants));
    cfg->ntenants = 1;
    snprintf(cfg->tenants[0].name, sizeof(cfg->tenants[0].name), "acme");
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    acme = sl_tenants_by_name(t, "acme");
    cr_assert_eq(sl_tenants_set_guard(t, acme, "none"), -EPERM, "the file owns it");
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_empty(out);
    gone = sl_tenants_create(t, "gone", &budget_1000, WALL);
    cr_assert_eq(sl_tenants_delete(t, gone, WALL), 0);
    cr_assert_eq(sl_tenants_set_guard(t, gone, "none"), -ENOENT);
    cr_assert_eq(sl_tenants_guard(t, gone, out), -ENOENT);
    cr_assert_eq(sl_tenants_guard(t, -1, out), -ENOENT);
    cr_assert_eq(sl_tenants_guard(t, 4096, out), -ENOENT);
    sl_config_free(cfg);
}

/* A configuration with one [guard.strict] policy, built by hand. */
static struct sl_config *config_with_strict_tenant(const char *guard)
{
    struct sl_config *cfg = sl_config_new();
    struct sl_guard_policy *p = calloc(1, sizeof(*p));

    cr_assert_not_null(p);
    strcpy(p->name, "strict");
    cfg->guards = calloc(1, sizeof(*cfg->guards));
    cfg->guards[0] = p;
    cfg->nguards = 1;
    cfg->tenants = calloc(1, sizeof(*cfg->tenants));
    cfg->ntenants = 1;
    snprintf(cfg->tenants[0].name, sizeof(cfg->tenants[0].name), "acme");
    snprintf(cfg->tenants[0].guard, sizeof(cfg->tenants[0].guard), "%s", guard);
    cfg->auth_mode = SL_AUTH_NONE;
    return cfg;
}

Test(tenants, static_tenants_take_their_guard_from_the_file_on_start_and_reload)
{
    struct sl_config *cfg = config_with_strict_tenant("strict");
    char err[128], out[SL_GUARD_NAME_MAX];
    int acme;

    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    acme = sl_tenants_by_name(t, "acme");
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_eq(out, "strict");
    cr_assert_eq(sl_tenants_guard(t, sl_tenants_by_name(t, SL_TENANT_ANONYMOUS), out), 0);
    cr_assert_str_empty(out, "the anonymous tenant has the default guard");
    snprintf(cfg->tenants[0].guard, sizeof(cfg->tenants[0].guard), "none");
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_tenants_by_name(t, "acme"), acme);
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_eq(out, "none", "the reload's setting holds");
    cfg->tenants[0].guard[0] = '\0';
    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_tenants_guard(t, acme, out), 0);
    cr_assert_str_empty(out, "an emptied setting is the default again");
    sl_config_free(cfg);
}

Test(tenants, a_reused_slot_does_not_inherit_the_old_tenants_guard)
{
    char out[SL_GUARD_NAME_MAX];
    int a = sl_tenants_create(t, "a", &budget_1000, WALL), b;

    cr_assert_eq(sl_tenants_set_guard(t, a, "none"), 0);
    cr_assert_eq(sl_tenants_delete(t, a, WALL), 0);
    b = sl_tenants_create(t, "b", &budget_1000, WALL + SL_TENANT_REUSE_S + 1);
    cr_assert_eq(b, a);
    cr_assert_eq(sl_tenants_guard(t, b, out), 0);
    cr_assert_str_empty(out);
}

Test(tenants, the_redis_table_brings_the_guard_for_new_and_changed_tenants)
{
    static struct sl_tenant_entry tv[2];
    struct sl_config *cfg = config_with_strict_tenant("strict");
    char err[128], out[SL_GUARD_NAME_MAX];
    int beta;

    cr_assert_eq(sl_tenants_apply_config(t, cfg, WALL, err, sizeof(err)), 0, "%s", err);
    snprintf(tv[0].name, sizeof(tv[0].name), "beta");
    snprintf(tv[0].guard, sizeof(tv[0].guard), "strict");
    snprintf(tv[1].name, sizeof(tv[1].name), "acme"); /* the file's tenant of that name wins */
    snprintf(tv[1].guard, sizeof(tv[1].guard), "none");
    cr_assert_eq(sl_tenants_sync(t, tv, 2, NULL, 0, 1, WALL), 0);
    beta = sl_tenants_by_name(t, "beta");
    cr_assert_eq(sl_tenants_guard(t, beta, out), 0);
    cr_assert_str_eq(out, "strict");
    cr_assert_eq(sl_tenants_guard(t, sl_tenants_by_name(t, "acme"), out), 0);
    cr_assert_str_eq(out, "strict");
    snprintf(tv[0].name, sizeof(tv[0].name), "beta"); /* the sync sorted tv */
    snprintf(tv[0].guard, sizeof(tv[0].guard), "elsewhere");
    cr_assert_eq(sl_tenants_sync(t, tv, 1, NULL, 0, 2, WALL), 0);
    cr_assert_eq(sl_tenants_by_name(t, "beta"), beta);
    cr_assert_eq(sl_tenants_guard(t, beta, out), 0);
    cr_assert_str_eq(out, "elsewhere", "a policy another host has is kept as it is");
    tv[0].guard[0] = '\0';
    cr_assert_eq(sl_tenants_sync(t, tv, 1, NULL, 0, 3, WALL), 0);
    cr_assert_eq(sl_tenants_guard(t, beta, out), 0);
    cr_assert_str_empty(out);
    sl_config_free(cfg);
}
