/* SPDX-License-Identifier: MIT */
/* Tests for the ownership wrapper without Redis: what is recorded, what a lookup answers to
 * the owner and to anyone else, and a lock holder that died mid-update. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/ownership.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define CAPACITY 16
#define TTL_S 600

/* The shared part and its table in one mapping, as the master lays them out. */
struct region {
    struct sl_ownership_shm shm;
    _Alignas(8) unsigned char table[];
};

static struct region *region;
static size_t region_size;
static struct sl_ownership *owners;

static void setup(void)
{
    region_size = sizeof(*region) + sl_ownership_shm_size(CAPACITY);
    region = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(region, MAP_FAILED);
    cr_assert_eq(sl_ownership_shm_init(&region->shm, region->table, CAPACITY), 0);
    owners = sl_ownership_new(&region->shm, NULL, "sluice:", TTL_S);
    cr_assert_not_null(owners);
}

static void teardown(void)
{
    sl_ownership_free(owners);
    munmap(region, region_size);
}

TestSuite(ownership, .init = setup, .fini = teardown, .timeout = 30);

struct answer {
    bool called;
    int verdict;
    struct sl_owner owner;
};

static void on_answer(int verdict, const struct sl_owner *owner, void *arg)
{
    struct answer *a = arg;

    a->called = true;
    a->verdict = verdict;
    if (owner)
        a->owner = *owner;
}

/* Without Redis every lookup is answered before it returns. */
static struct answer lookup(const char *id, const char *tenant)
{
    struct answer a = { 0 };

    cr_assert_null(sl_ownership_lookup(owners, id, tenant, on_answer, &a));
    cr_assert(a.called, "the lookup of %s did not answer at once", id);
    return a;
}

/* Arrays, not pointers: criterion hands the parameters to a process of its own. */
struct case_ {
    char what[40];
    char id[24], tenant[72], upstream[72]; /* recorded */
    char asked_id[24], asked_by[72];
    int verdict;
};

#define NAME_63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
#define NAME_64 NAME_63 "l"

ParameterizedTestParameters(ownership, lookups)
{
    static struct case_ cases[] = {
        { "the owner", "resp_a1", "acme", "default", "resp_a1", "acme", 0 },
        { "another tenant", "resp_a1", "acme", "default", "resp_a1", "beta", -ENOENT },
        { "a tenant named like a prefix", "resp_a1", "acme", "default", "resp_a1", "acm", -ENOENT },
        { "an id never recorded", "resp_a1", "acme", "default", "resp_b2", "acme", -ENOENT },
        { "a malformed id", "not-a-response", "acme", "default", "not-a-response", "acme",
          -ENOENT },
        { "an empty tenant", "resp_a1", "", "default", "resp_a1", "", -ENOENT },
        { "an empty upstream", "resp_a1", "acme", "", "resp_a1", "acme", -ENOENT },
        { "a 63-byte tenant", "resp_a1", NAME_63, "default", "resp_a1", NAME_63, 0 },
        { "a 64-byte tenant", "resp_a1", NAME_64, "default", "resp_a1", NAME_64, -ENOENT },
        { "a 64-byte upstream", "resp_a1", "acme", NAME_64, "resp_a1", "acme", -ENOENT },
    };

    return cr_make_param_array(struct case_, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct case_ *c, ownership, lookups)
{
    struct answer a;

    sl_ownership_record(owners, c->id, c->tenant, c->upstream);
    a = lookup(c->asked_id, c->asked_by);
    cr_assert_eq(a.verdict, c->verdict, "%s: %d", c->what, a.verdict);
    if (c->verdict != 0)
        return;
    cr_assert_str_eq(a.owner.id, c->asked_id, "%s", c->what);
    cr_assert_str_eq(a.owner.tenant, c->tenant, "%s", c->what);
    cr_assert_str_eq(a.owner.upstream, c->upstream, "%s", c->what);
    cr_assert_gt(a.owner.expires_s, 0, "%s", c->what);
}

Test(ownership, a_new_record_of_the_same_id_changes_its_owner)
{
    sl_ownership_record(owners, "resp_a1", "acme", "default");
    sl_ownership_record(owners, "resp_a1", "beta", "default");
    cr_assert_eq(lookup("resp_a1", "beta").verdict, 0);
    cr_assert_eq(lookup("resp_a1", "acme").verdict, -ENOENT);
}

/* A worker killed while holding the lock: the next one neither waits forever nor trusts what
 * it may have half written; the owners are forgotten (refused, never granted) and the table
 * works on. */
Test(ownership, a_lock_holder_that_died_costs_the_owners_not_the_table)
{
    int status;
    pid_t pid;

    sl_ownership_record(owners, "resp_a1", "acme", "default");
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        _exit(pthread_mutex_lock(&region->shm.lock) == 0 ? 0 : 1);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(lookup("resp_a1", "acme").verdict, -ENOENT);
    sl_ownership_record(owners, "resp_b2", "acme", "default");
    cr_assert_eq(lookup("resp_b2", "acme").verdict, 0);
    cr_assert_eq(lookup("resp_b2", "beta").verdict, -ENOENT);
}
