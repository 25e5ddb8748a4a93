/* SPDX-License-Identifier: MIT */
/* test_state.c - the state file: what a restart keeps (dynamic tenants with their models and
 * guard, their keys, every tenant's usage in its current period, settlements Redis has not
 * confirmed), and that a corrupt, hostile or truncated file restores nothing and says why. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "admission/auth.h"
#include "admission/reservations.h"
#include "daemon/state.h"
#include "admission/tenants.h"

#define NOW_MS 1000000u
#define WALL 1795600000 /* 2026-11-24T.. UTC */

static struct sl_tenants *a, *b;
static char path[64];

static struct sl_tenants *table(void)
{
    struct sl_tenants *t = sl_tenants_map(4096, 16384, 65536);

    cr_assert_not_null(t);
    return t;
}

static void setup(void)
{
    int fd;

    a = table();
    b = table();
    snprintf(path, sizeof(path), "/tmp/sl_test_state_XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void teardown(void)
{
    sl_tenants_unmap(a);
    sl_tenants_unmap(b);
    unlink(path);
}

TestSuite(state, .init = setup, .fini = teardown, .timeout = 20);

static void write_text(const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static const struct sl_limits daily = {
    .rpm = 60, .tpm = 40000, .token_budget = 5000, .budget_period = SL_PERIOD_DAY
};

Test(state, tenants_keys_and_usage_survive_a_round_trip)
{
    struct sl_quota_result res;
    struct sl_quota_info info;
    struct sl_limits lim;
    unsigned char sha[32];
    char err[256] = "", id[SL_KEY_ID_LEN + 1];
    int acme = sl_tenants_create(a, "acme", &daily, WALL), resv, idx;

    sl_auth_hash("sk-acme", 7, sha);
    cr_assert_eq(sl_tenants_add_key(a, acme, sha, WALL, id), 0);
    cr_assert_eq(sl_tenants_admit(a, acme, 300, 1, NOW_MS, WALL, &res, &resv), SL_QUOTA_OK);
    sl_tenants_settle(a, resv, 120, NOW_MS, WALL);
    cr_assert_eq(sl_state_save(a, path, NOW_MS, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_state_load(b, path, WALL + 10, err, sizeof(err)), 0, "%s", err);
    idx = sl_tenants_by_name(b, "acme");
    cr_assert_geq(idx, 0);
    cr_assert_eq(sl_tenants_by_key(b, sha), idx, "the key did not come back");
    cr_assert_eq(sl_tenants_usage(b, idx, NOW_MS, WALL + 10, &lim, &info), 0);
    cr_assert_eq(info.budget.used, 120);
    cr_assert_eq(info.budget.reserved, 0);
    cr_assert_eq(lim.token_budget, 5000);
    cr_assert_eq(lim.rpm, 60);
    cr_assert_eq(lim.budget_period, SL_PERIOD_DAY);
}

Test(state, a_tenants_models_survive_a_round_trip)
{
    char err[256] = "", out[SL_MODEL_LIST_MAX];
    int acme = sl_tenants_create(a, "acme", &daily, WALL), idx;

    sl_tenants_create(a, "open", &daily, WALL);
    cr_assert_eq(sl_tenants_set_models(a, acme, "gpt-4o-mini,retired-model"), 0);
    cr_assert_eq(sl_state_save(a, path, NOW_MS, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_state_load(b, path, WALL, err, sizeof(err)), 0, "%s", err);
    idx = sl_tenants_by_name(b, "acme");
    cr_assert_eq(sl_tenants_models(b, idx, out), 0);
    cr_assert_str_eq(out, "gpt-4o-mini,retired-model", "a name no longer served is kept");
    cr_assert_not(sl_tenants_model_allowed(b, idx, "gpt-4o"));
    cr_assert_eq(sl_tenants_models(b, sl_tenants_by_name(b, "open"), out), 0);
    cr_assert_str_empty(out);
}

/* A file written before tenants had model lists: its tenants may use every model. */
Test(state, a_file_without_models_restores_tenants_with_every_model)
{
    char err[256] = "";
    int idx;

    write_text("{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, "
               "\"period\": \"day\", \"period_start\": 0, \"keys\": [], \"limits\": "
               "{\"rpm\": 1, \"tpm\": 0, \"token_budget\": 0, \"budget_period\": \"day\"}}, "
               "{\"name\": \"beta\", \"used\": 0, \"period\": \"day\", \"period_start\": 0, "
               "\"limits\": {\"rpm\": 1, \"tpm\": 0, \"token_budget\": 0, "
               "\"budget_period\": \"day\"}, \"models\": null}]}");
    cr_assert_eq(sl_state_load(b, path, WALL, err, sizeof(err)), 0, "%s", err);
    idx = sl_tenants_by_name(b, "acme");
    cr_assert_geq(idx, 0);
    cr_assert(sl_tenants_model_allowed(b, idx, "gpt-4o"));
    cr_assert(sl_tenants_model_allowed(b, sl_tenants_by_name(b, "beta"), "gpt-4o"));
}

Test(state, a_tenants_guard_survives_a_round_trip)
{
    char err[256] = "", out[SL_GUARD_NAME_MAX];
    int acme = sl_tenants_create(a, "acme", &daily, WALL), off, dflt;

    off = sl_tenants_create(a, "off", &daily, WALL);
    sl_tenants_create(a, "dflt", &daily, WALL);
    /* Stored as set, whether or not this host has such a policy. */
    cr_assert_eq(sl_tenants_set_guard(a, acme, "strict"), 0);
    cr_assert_eq(sl_tenants_set_guard(a, off, "none"), 0);
    cr_assert_eq(sl_state_save(a, path, NOW_MS, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_state_load(b, path, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_tenants_guard(b, sl_tenants_by_name(b, "acme"), out), 0);
    cr_assert_str_eq(out, "strict");
    cr_assert_eq(sl_tenants_guard(b, sl_tenants_by_name(b, "off"), out), 0);
    cr_assert_str_eq(out, "none");
    dflt = sl_tenants_by_name(b, "dflt");
    cr_assert_geq(dflt, 0);
    cr_assert_eq(sl_tenants_guard(b, dflt, out), 0);
    cr_assert_str_empty(out);
}

/* A file written before tenants named a guard: its tenants have the default. */
Test(state, a_file_without_guard_restores_tenants_with_the_default)
{
    char err[256] = "", out[SL_GUARD_NAME_MAX] = "x";

    write_text("{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, "
               "\"period\": \"day\", \"period_start\": 0, \"keys\": [], \"limits\": "
               "{\"rpm\": 1, \"tpm\": 0, \"token_budget\": 0, \"budget_period\": \"day\"}, "
               "\"models\": \"\"}, "
               "{\"name\": \"beta\", \"used\": 0, \"period\": \"day\", \"period_start\": 0, "
               "\"limits\": {\"rpm\": 1, \"tpm\": 0, \"token_budget\": 0, "
               "\"budget_period\": \"day\"}, \"guard\": null}]}");
    cr_assert_eq(sl_state_load(b, path, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_tenants_guard(b, sl_tenants_by_name(b, "acme"), out), 0);
    cr_assert_str_empty(out);
    out[0] = 'x';
    cr_assert_eq(sl_tenants_guard(b, sl_tenants_by_name(b, "beta"), out), 0);
    cr_assert_str_empty(out);
}

Test(state, a_bad_guard_is_named_in_the_reason)
{
    char err[256] = "";

    write_text("{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, "
               "\"period\": \"day\", \"period_start\": 0, \"guard\": [\"strict\"]}]}");
    cr_assert_lt(sl_state_load(b, path, WALL, err, sizeof(err)), 0);
    cr_assert_not_null(strstr(err, "guard"), "%s", err);
}

Test(state, usage_of_a_period_that_has_ended_is_not_restored)
{
    struct sl_quota_result res;
    struct sl_quota_info info;
    char err[256] = "";
    int acme = sl_tenants_create(a, "acme", &daily, WALL), resv;

    sl_tenants_admit(a, acme, 300, 1, NOW_MS, WALL, &res, &resv);
    sl_tenants_settle(a, resv, 300, NOW_MS, WALL);
    cr_assert_eq(sl_state_save(a, path, NOW_MS, WALL, err, sizeof(err)), 0);
    cr_assert_eq(sl_state_load(b, path, WALL + 86400, err, sizeof(err)), 0);
    sl_tenants_usage(b, sl_tenants_by_name(b, "acme"), NOW_MS, WALL + 86400, NULL, &info);
    cr_assert_eq(info.budget.used, 0, "yesterday's usage came back as today's");
}

Test(state, unconfirmed_redis_settlements_come_back_under_their_ids)
{
    char err[256] = "", id1[SL_RESV_ID_MAX], id2[SL_RESV_ID_MAX];
    int acme = sl_tenants_create(a, "acme", &daily, WALL), r, slots[8], n;
    int64_t seq;

    r = sl_tenants_hold(a, acme, 400, 1);
    cr_assert_geq(r, 0);
    seq = sl_tenants_finish(a, r, 90, 1, NOW_MS, 0, WALL);
    cr_assert_geq(seq, 0);
    sl_tenants_resv_id(a, r, (uint32_t)seq, id1, sizeof(id1));
    cr_assert_eq(sl_state_save(a, path, NOW_MS, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_state_load(b, path, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(atomic_load(&b->npending), 1);
    n = sl_tenants_claim_pending(b, 2, NOW_MS, 5000, slots, 8);
    cr_assert_eq(n, 1);
    sl_tenants_resv_id(b, slots[0], b->resv[slots[0]].seq, id2, sizeof(id2));
    cr_assert_str_eq(id2, id1, "a restored settlement must keep the id Redis knows it by");
    cr_assert_eq(b->resv[slots[0]].actual, 90);
    cr_assert_eq(b->resv[slots[0]].tokens, 400);
    cr_assert(sl_tenants_confirm(b, slots[0], b->resv[slots[0]].seq, WALL));
    cr_assert_eq(atomic_load(&b->npending), 0);
}

/* Each of these restores nothing, says why, and leaves the table as it was. */
static const char *const bad_files[] = {
    "",
    "not json",
    "{\"version\": 1, \"tenants\": [",
    "{\"version\": 99, \"tenants\": []}",
    "{\"version\": 1}",
    "{\"version\": 1, \"tenants\": {}}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"\", \"used\": 0, \"period\": \"day\", "
    "\"period_start\": 0}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": -5, \"period\": \"day\", "
    "\"period_start\": 0}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"week\", "
    "\"period_start\": 0}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"limits\": {\"rpm\": -1, \"tpm\": 0, \"token_budget\": 0, "
    "\"budget_period\": \"day\"}}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"keys\": [{\"sha256\": \"zz\"}]}]}",
    "{\"version\": 1, \"tenants\": [], \"journal\": {}}",
    "{\"version\": 1, \"tenants\": [], \"journal\": [{\"tenant\": \"acme\", \"id\": 5}]}",
    "{\"version\": 1, \"tenants\": [], \"journal\": [{\"tenant\": \"acme\", \"id\": \"x\", "
    "\"tokens\": -1, \"actual\": 0}]}",
    "{\"version\": 1, \"version\": 1, \"tenants\": []}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"models\": [\"gpt-4o\"]}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"models\": \"a,,b\"}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"models\": \"a b\"}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"guard\": 5}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"guard\": \"str ict\"}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"guard\": \"strict\\u0000x\"}]}",
    "{\"version\": 1, \"tenants\": [{\"name\": \"acme\", \"used\": 5, \"period\": \"day\", "
    "\"period_start\": 0, \"guard\": "
    "\"gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg\"}]}",
};

Test(state, a_corrupt_file_restores_nothing_and_says_why)
{
    char err[256];

    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        err[0] = '\0';
        write_text(bad_files[i]);
        cr_assert_lt(sl_state_load(b, path, WALL, err, sizeof(err)), 0, "accepted: %s",
                     bad_files[i]);
        cr_assert_neq(err[0], '\0', "no reason for: %s", bad_files[i]);
        cr_assert_not_null(strstr(err, path), "the reason does not name the file: %s", err);
        cr_assert_eq(atomic_load(&b->ntenants), 0, "something was restored from: %s", bad_files[i]);
    }
}

Test(state, a_missing_file_is_a_fresh_start)
{
    char err[256] = "";

    unlink(path);
    cr_assert_eq(sl_state_load(b, path, WALL, err, sizeof(err)), 0);
    cr_assert_eq(atomic_load(&b->ntenants), 0);
}

Test(state, a_save_that_cannot_be_written_leaves_the_old_file)
{
    char err[256] = "", *bad = "/nonexistent-dir/state.json";

    sl_tenants_create(a, "acme", &daily, WALL);
    cr_assert_eq(sl_state_save(a, path, NOW_MS, WALL, err, sizeof(err)), 0);
    cr_assert_lt(sl_state_save(a, bad, NOW_MS, WALL, err, sizeof(err)), 0);
    cr_assert_not_null(strstr(err, "nonexistent-dir"), "%s", err);
    cr_assert_eq(sl_state_load(b, path, WALL, err, sizeof(err)), 0, "%s", err);
    cr_assert_geq(sl_tenants_by_name(b, "acme"), 0);
}
