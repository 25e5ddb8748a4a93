/* SPDX-License-Identifier: MIT */
/* Tests for the response ownership table: lookups, expiry, replacement, FIFO eviction, drops,
 * a long random run against a plain reference model, input checks, sizes, and the table's
 * independence from its address (copied, and shared across fork). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/owners.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NOW INT64_C(1773500966) /* 2026-03-14T15:09:26Z */
#define DAY INT64_C(86400)
#define CAPACITY_MAX (UINT32_C(1) << 24)

static void *mem;

static void release_mem(void)
{
    free(mem);
    mem = NULL;
}

TestSuite(owners, .fini = release_mem, .timeout = 30);

static struct sl_owner_table *table(uint32_t capacity)
{
    size_t size = sl_owner_table_size(capacity);
    struct sl_owner_table *t;

    cr_assert_gt(size, 0);
    mem = malloc(size);
    cr_assert_not_null(mem);
    memset(mem, 0xa5, size); /* init must not rely on zeroed memory */
    t = sl_owner_table_init(mem, capacity);
    cr_assert_eq((void *)t, mem);
    return t;
}

static struct sl_owner owner(const char *id, const char *tenant, const char *upstream,
                             int64_t expires_s)
{
    struct sl_owner o;

    memset(&o, 0, sizeof(o));
    snprintf(o.id, sizeof(o.id), "%s", id);
    snprintf(o.tenant, sizeof(o.tenant), "%s", tenant);
    snprintf(o.upstream, sizeof(o.upstream), "%s", upstream);
    o.expires_s = expires_s;
    return o;
}

static void put(struct sl_owner_table *t, const char *id, const char *tenant, int64_t expires_s)
{
    struct sl_owner o = owner(id, tenant, "default", expires_s);

    cr_assert_eq(sl_owner_put(t, &o, NOW), 0, "put %s", id);
}

static bool known(const struct sl_owner_table *t, const char *id)
{
    struct sl_owner o;
    int rc = sl_owner_get(t, id, NOW, &o);

    cr_assert(rc == 0 || rc == -ENOENT);
    return rc == 0;
}

/* ---- lookups and expiry ---- */

Test(owners, put_then_get_returns_the_record)
{
    struct sl_owner_table *t = table(8);
    struct sl_owner in = owner("resp_abc123", "alpha", "azure-east", NOW + DAY), out;

    cr_assert_eq(sl_owner_put(t, &in, NOW), 0);
    memset(&out, 0, sizeof(out));
    cr_assert_eq(sl_owner_get(t, "resp_abc123", NOW, &out), 0);
    cr_assert_str_eq(out.id, "resp_abc123");
    cr_assert_str_eq(out.tenant, "alpha");
    cr_assert_str_eq(out.upstream, "azure-east");
    cr_assert_eq(out.expires_s, NOW + DAY);
    cr_assert_eq(sl_owner_count(t), 1);
    cr_assert_eq(sl_owner_get(t, "resp_abc124", NOW, &out), -ENOENT);
}

Test(owners, another_tenants_entry_is_returned_as_is)
{
    struct sl_owner_table *t = table(8);
    struct sl_owner out;

    put(t, "resp_theirs", "beta", NOW + DAY);
    cr_assert_eq(sl_owner_get(t, "resp_theirs", NOW, &out), 0);
    cr_assert_str_eq(out.tenant, "beta", "the caller, not the table, tells tenants apart");
}

Test(owners, expiry_at_the_boundary)
{
    struct sl_owner_table *t = table(8);
    struct sl_owner out;

    put(t, "resp_ttl", "alpha", NOW + 10);
    cr_assert_eq(sl_owner_get(t, "resp_ttl", NOW + 9, &out), 0);
    cr_assert_eq(sl_owner_get(t, "resp_ttl", NOW + 10, &out), -ENOENT);
    cr_assert_eq(sl_owner_get(t, "resp_ttl", NOW + 11, &out), -ENOENT);
    cr_assert_eq(sl_owner_count(t), 1, "expired entries are not purged");
    cr_assert_eq(sl_owner_get(t, "resp_ttl", NOW, &out), 0, "the clock is the caller's");
}

Test(owners, get_failure_leaves_out_untouched)
{
    struct sl_owner_table *t = table(8);
    struct sl_owner out, before;

    put(t, "resp_old", "alpha", NOW + 1);
    memset(&out, 0x5a, sizeof(out));
    before = out;
    cr_assert_eq(sl_owner_get(t, "resp_old", NOW + 1, &out), -ENOENT);
    cr_assert_eq(sl_owner_get(t, "resp_none", NOW, &out), -ENOENT);
    cr_assert_eq(memcmp(&out, &before, sizeof(out)), 0);
}

/* ---- replacement ---- */

Test(owners, put_of_a_known_id_replaces_it)
{
    struct sl_owner_table *t = table(8);
    struct sl_owner a = owner("resp_same", "alpha", "up-a", NOW + 10);
    struct sl_owner b = owner("resp_same", "beta", "up-b", NOW + DAY), out;

    cr_assert_eq(sl_owner_put(t, &a, NOW), 0);
    cr_assert_eq(sl_owner_put(t, &b, NOW), 0);
    cr_assert_eq(sl_owner_count(t), 1);
    cr_assert_eq(sl_owner_get(t, "resp_same", NOW + 20, &out), 0, "the expiry moved too");
    cr_assert_str_eq(out.tenant, "beta");
    cr_assert_str_eq(out.upstream, "up-b");
    cr_assert_eq(out.expires_s, NOW + DAY);
}

Test(owners, replacing_with_shorter_names_leaves_no_trace_of_longer_ones)
{
    struct sl_owner_table *t = table(2);
    struct sl_owner out;

    put(t, "resp_same", "a-rather-long-tenant-name", NOW + DAY);
    put(t, "resp_same", "b", NOW + DAY);
    cr_assert_eq(sl_owner_get(t, "resp_same", NOW, &out), 0);
    cr_assert_str_eq(out.tenant, "b");
    for (size_t i = 2; i < sizeof(out.tenant); i++)
        cr_assert_eq(out.tenant[i], '\0');
}

Test(owners, an_already_expired_put_stores_nothing_and_forgets_the_id)
{
    struct sl_owner_table *t = table(2);
    struct sl_owner dead = owner("resp_a", "alpha", "default", NOW);

    put(t, "resp_a", "alpha", NOW + DAY);
    put(t, "resp_b", "alpha", NOW + DAY);
    cr_assert_eq(sl_owner_put(t, &dead, NOW), 0);
    cr_assert_not(known(t, "resp_a"));
    cr_assert_eq(sl_owner_count(t), 1);
    dead = owner("resp_c", "alpha", "default", NOW - 5);
    cr_assert_eq(sl_owner_put(t, &dead, NOW), 0);
    put(t, "resp_d", "alpha", NOW + DAY);
    cr_assert(known(t, "resp_b"), "an expired put pushed nothing out");
    cr_assert(known(t, "resp_d"));
    cr_assert_not(known(t, "resp_c"));
}

/* ---- eviction ---- */

Test(owners, a_full_table_forgets_its_oldest)
{
    struct sl_owner_table *t = table(4);
    static const char *ids[] = { "resp_1", "resp_2", "resp_3", "resp_4", "resp_5" };

    for (size_t i = 0; i < COUNT(ids); i++)
        put(t, ids[i], "alpha", NOW + DAY);
    cr_assert_eq(sl_owner_count(t), 4);
    cr_assert_not(known(t, "resp_1"));
    for (size_t i = 1; i < COUNT(ids); i++)
        cr_assert(known(t, ids[i]), "%s", ids[i]);
}

Test(owners, a_refreshed_entry_counts_as_new)
{
    struct sl_owner_table *t = table(4);

    put(t, "resp_a", "alpha", NOW + DAY);
    put(t, "resp_b", "alpha", NOW + DAY);
    put(t, "resp_c", "alpha", NOW + DAY);
    put(t, "resp_d", "alpha", NOW + DAY);
    put(t, "resp_a", "alpha", NOW + 2 * DAY); /* order now b c d a */
    put(t, "resp_e", "alpha", NOW + DAY);     /* pushes out b */
    cr_assert_not(known(t, "resp_b"));
    put(t, "resp_c", "beta", NOW + DAY);  /* d a e c */
    put(t, "resp_f", "alpha", NOW + DAY); /* pushes out d */
    cr_assert_not(known(t, "resp_d"));
    cr_assert(known(t, "resp_a"));
    cr_assert(known(t, "resp_c"));
    cr_assert(known(t, "resp_e"));
    cr_assert(known(t, "resp_f"));
    put(t, "resp_g", "alpha", NOW + DAY); /* pushes out a, the oldest once more */
    cr_assert_not(known(t, "resp_a"));
    cr_assert_eq(sl_owner_count(t), 4);
}

Test(owners, the_oldest_goes_expired_or_not)
{
    struct sl_owner_table *t = table(2);

    put(t, "resp_short", "alpha", NOW + 1);
    put(t, "resp_long", "alpha", NOW + DAY);
    put(t, "resp_new1", "alpha", NOW + DAY);
    cr_assert_not(known(t, "resp_short"));
    put(t, "resp_new2", "alpha", NOW + DAY);
    cr_assert_not(known(t, "resp_long"), "a live oldest entry goes as well");
    cr_assert(known(t, "resp_new1"));
    cr_assert(known(t, "resp_new2"));
}

Test(owners, capacity_one)
{
    struct sl_owner_table *t = table(1);

    put(t, "resp_a", "alpha", NOW + DAY);
    put(t, "resp_b", "alpha", NOW + DAY);
    cr_assert_not(known(t, "resp_a"));
    cr_assert(known(t, "resp_b"));
    put(t, "resp_b", "beta", NOW + DAY);
    cr_assert(known(t, "resp_b"));
    cr_assert_eq(sl_owner_count(t), 1);
}

/* ---- drop ---- */

Test(owners, drop_then_get)
{
    struct sl_owner_table *t = table(4);

    put(t, "resp_a", "alpha", NOW + DAY);
    put(t, "resp_b", "alpha", NOW + DAY);
    cr_assert_eq(sl_owner_drop(t, "resp_a"), 0);
    cr_assert_not(known(t, "resp_a"));
    cr_assert(known(t, "resp_b"));
    cr_assert_eq(sl_owner_count(t), 1);
    put(t, "resp_a", "alpha", NOW + DAY);
    cr_assert(known(t, "resp_a"), "a dropped id may come back");
}

Test(owners, drop_of_a_missing_id)
{
    struct sl_owner_table *t = table(4);

    cr_assert_eq(sl_owner_drop(t, "resp_none"), -ENOENT);
    put(t, "resp_a", "alpha", NOW + DAY);
    cr_assert_eq(sl_owner_drop(t, "resp_a"), 0);
    cr_assert_eq(sl_owner_drop(t, "resp_a"), -ENOENT);
    cr_assert_eq(sl_owner_drop(t, "not-an-id"), -ENOENT);
    cr_assert_eq(sl_owner_drop(t, NULL), -ENOENT);
    cr_assert_eq(sl_owner_count(t), 0);
}

Test(owners, drop_of_an_expired_entry)
{
    struct sl_owner_table *t = table(4);

    struct sl_owner out;

    put(t, "resp_a", "alpha", NOW + 1);
    cr_assert_eq(sl_owner_get(t, "resp_a", NOW + 1, &out), -ENOENT);
    cr_assert_eq(sl_owner_drop(t, "resp_a"), 0, "still held, so it can be dropped");
    cr_assert_eq(sl_owner_count(t), 0);
}

Test(owners, a_dropped_entry_makes_room)
{
    struct sl_owner_table *t = table(2);

    put(t, "resp_a", "alpha", NOW + DAY);
    put(t, "resp_b", "alpha", NOW + DAY);
    cr_assert_eq(sl_owner_drop(t, "resp_a"), 0);
    put(t, "resp_c", "alpha", NOW + DAY);
    cr_assert(known(t, "resp_b"), "nothing pushed out while there was room");
    cr_assert(known(t, "resp_c"));
    put(t, "resp_d", "alpha", NOW + DAY);
    cr_assert_not(known(t, "resp_b"));
}

/* ---- probing ---- */

/* The table's hash (FNV-1a 64 and a multiply-xorshift finish), repeated here to pick ids whose
 * home slots are chosen; if owners.c changes its hash, change this too or these tests no
 * longer reach the wrap-around they are about. */
static uint32_t home_slot(const char *id, uint32_t mask)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *id; id++) {
        h ^= (unsigned char)*id;
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return (uint32_t)h & mask;
}

/* The n-th id from "resp_w0" on whose home slot is home. */
static void id_at_home(uint32_t home, uint32_t mask, int n, char *id, size_t size)
{
    for (int i = 0;; i++) {
        snprintf(id, size, "resp_w%d", i);
        if (home_slot(id, mask) == home && n-- == 0)
            return;
    }
}

Test(owners, probing_across_the_wrap_around)
{
    struct sl_owner_table *t = table(4); /* 8 index slots */
    char last0[24], last1[24], last2[24], first[24];

    id_at_home(7, 7, 0, last0, sizeof(last0));
    id_at_home(7, 7, 1, last1, sizeof(last1));
    id_at_home(7, 7, 2, last2, sizeof(last2));
    id_at_home(0, 7, 0, first, sizeof(first));
    put(t, last0, "alpha", NOW + DAY); /* slot 7 */
    put(t, last1, "alpha", NOW + DAY); /* slot 0 */
    put(t, first, "alpha", NOW + DAY); /* slot 1 */
    put(t, last2, "alpha", NOW + DAY); /* slot 2 */
    cr_assert(known(t, last0) && known(t, last1) && known(t, last2) && known(t, first));
    /* Each removal shifts the run back across the end of the index. */
    cr_assert_eq(sl_owner_drop(t, last0), 0);
    cr_assert(known(t, last1) && known(t, last2) && known(t, first));
    cr_assert_eq(sl_owner_drop(t, last1), 0);
    cr_assert(known(t, last2) && known(t, first));
    put(t, last0, "alpha", NOW + DAY);
    cr_assert_eq(sl_owner_drop(t, first), 0);
    cr_assert(known(t, last2) && known(t, last0));
    cr_assert_not(known(t, first));
    cr_assert_not(known(t, last1));
    cr_assert_eq(sl_owner_count(t), 2);
}

Test(owners, a_cluster_survives_eviction_of_its_head)
{
    struct sl_owner_table *t = table(4);
    char id[5][24];

    for (int i = 0; i < 5; i++)
        id_at_home(6, 7, i, id[i], sizeof(id[i]));
    for (int i = 0; i < 5; i++)
        put(t, id[i], "alpha", NOW + DAY); /* the fifth pushes out the first */
    cr_assert_not(known(t, id[0]));
    for (int i = 1; i < 5; i++)
        cr_assert(known(t, id[i]), "%s", id[i]);
}

/* ---- a long random run against a reference model ---- */

struct model {
    uint32_t capacity;
    uint32_t n;
    struct sl_owner e[64]; /* oldest first */
};

static int model_find(const struct model *m, const char *id)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (strcmp(m->e[i].id, id) == 0)
            return (int)i;
    return -1;
}

static void model_remove(struct model *m, int i)
{
    memmove(&m->e[i], &m->e[i + 1], (m->n - (uint32_t)i - 1) * sizeof(m->e[0]));
    m->n--;
}

static void model_put(struct model *m, const struct sl_owner *o, int64_t now)
{
    int i = model_find(m, o->id);

    if (i >= 0)
        model_remove(m, i);
    if (o->expires_s <= now)
        return;
    if (m->n == m->capacity)
        model_remove(m, 0);
    m->e[m->n++] = *o;
}

static uint64_t prng(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void check_get(const struct sl_owner_table *t, const struct model *m, const char *id,
                      int64_t now)
{
    struct sl_owner out;
    int i = model_find(m, id);
    bool live = i >= 0 && m->e[i].expires_s > now;

    cr_assert_eq(sl_owner_get(t, id, now, &out), live ? 0 : -ENOENT, "get %s", id);
    if (live) {
        cr_assert_str_eq(out.tenant, m->e[i].tenant);
        cr_assert_str_eq(out.upstream, m->e[i].upstream);
        cr_assert_eq(out.expires_s, m->e[i].expires_s);
    }
}

static void random_run(uint32_t capacity, int ops, int ids, uint64_t seed)
{
    static const char *tenants[] = { "alpha", "beta", "gamma" };
    static const char *upstreams[] = { "default", "azure", "backup" };
    struct sl_owner_table *t = table(capacity);
    struct model m = { .capacity = capacity };
    int64_t now = NOW;

    cr_assert_leq(capacity, COUNT(m.e));
    for (int k = 0; k < ops; k++) {
        uint64_t r = prng(&seed);
        char id[32];
        snprintf(id, sizeof(id), "resp_%d", (int)((r >> 8) % (uint64_t)ids));
        if (r % 100 < 45) {
            struct sl_owner o = owner(id, tenants[(r >> 40) % 3], upstreams[(r >> 44) % 3],
                                      now + (int64_t)((r >> 48) % 60) - 5);
            cr_assert_eq(sl_owner_put(t, &o, now), 0);
            model_put(&m, &o, now);
        } else if (r % 100 < 85) {
            check_get(t, &m, id, now);
        } else if (r % 100 < 97) {
            int i = model_find(&m, id);
            cr_assert_eq(sl_owner_drop(t, id), i >= 0 ? 0 : -ENOENT, "drop %s", id);
            if (i >= 0)
                model_remove(&m, i);
        } else {
            now += (int64_t)((r >> 32) % 7);
        }
        cr_assert_eq(sl_owner_count(t), m.n, "op %d", k);
    }
    for (int i = 0; i < ids; i++) {
        char id[32];
        snprintf(id, sizeof(id), "resp_%d", i);
        check_get(t, &m, id, now);
    }
}

Test(owners, random_operations_match_the_model)
{
    random_run(64, 100000, 200, 42);
}

Test(owners, random_operations_on_tiny_tables_match_the_model)
{
    random_run(1, 20000, 6, 7);
    release_mem();
    random_run(2, 20000, 9, 8);
    release_mem();
    random_run(5, 20000, 24, 9);
}

/* ---- malformed input ---- */

#define TOO_LONG 200 /* fills the whole field: no terminator */

/* An id given as text, or built: "resp_" and x's to id_len bytes; names of that many x's.
 * A length of TOO_LONG fills the field without a terminator. */
struct input_case {
    char name[48];
    char id[SL_RESPONSE_ID_MAX + 1];
    int id_len;
    int tenant_len;
    int upstream_len;
    bool ok;
};

static void fill(char *field, size_t size, int len, const char *prefix)
{
    size_t n = len == TOO_LONG ? size : (size_t)len, p = strlen(prefix);

    memset(field, 0, size);
    memset(field, 'x', n);
    memcpy(field, prefix, p < n ? p : n);
    if (n == size)
        cr_assert_neq(field[size - 1], '\0');
}

ParameterizedTestParameters(owners, input)
{
    static struct input_case cases[] = {
        { "shortest id", "resp_a", 0, 5, 7, true },
        { "id of every allowed char", "resp_AZaz09_-", 0, 5, 7, true },
        { "longest id", "", SL_RESPONSE_ID_MAX, 5, 7, true },
        { "unterminated id", "", TOO_LONG, 5, 7, false },
        { "empty id", "", 0, 5, 7, false },
        { "prefix only", "resp_", 0, 5, 7, false },
        { "no underscore", "respabc", 0, 5, 7, false },
        { "upper-case prefix", "RESP_abc", 0, 5, 7, false },
        { "other prefix", "msg_abc", 0, 5, 7, false },
        { "space", "resp_a b", 0, 5, 7, false },
        { "dot", "resp_a.b", 0, 5, 7, false },
        { "slash", "resp_a/b", 0, 5, 7, false },
        { "percent", "resp_a%2F", 0, 5, 7, false },
        { "non-ASCII", "resp_\xc3\xa9", 0, 5, 7, false },
        { "control char", "resp_a\tb", 0, 5, 7, false },
        { "longest names", "resp_a", 0, SL_OWNER_NAME_MAX - 1, SL_OWNER_NAME_MAX - 1, true },
        { "empty tenant", "resp_a", 0, 0, 7, false },
        { "empty upstream", "resp_a", 0, 5, 0, false },
        { "unterminated tenant", "resp_a", 0, TOO_LONG, 7, false },
        { "unterminated upstream", "resp_a", 0, 5, TOO_LONG, false },
    };
    return cr_make_param_array(struct input_case, cases, COUNT(cases));
}

ParameterizedTest(struct input_case *c, owners, input)
{
    struct sl_owner_table *t = table(4);
    struct sl_owner o = owner("resp_before", "alpha", "default", NOW + DAY), out;

    cr_assert_eq(sl_owner_put(t, &o, NOW), 0);
    if (c->id_len)
        fill(o.id, sizeof(o.id), c->id_len, "resp_");
    else
        memcpy(o.id, c->id, sizeof(o.id));
    fill(o.tenant, sizeof(o.tenant), c->tenant_len, "");
    fill(o.upstream, sizeof(o.upstream), c->upstream_len, "");
    cr_assert_eq(sl_owner_put(t, &o, NOW), c->ok ? 0 : -EINVAL, "%s", c->name);
    cr_assert_eq(sl_owner_count(t), c->ok ? 2 : 1, "%s", c->name);
    cr_assert(known(t, "resp_before"), "%s", c->name);
    /* get and drop of the same bytes: known exactly when it was accepted. */
    cr_assert_eq(sl_owner_get(t, o.id, NOW, &out), c->ok ? 0 : -ENOENT, "%s", c->name);
    cr_assert_eq(sl_owner_drop(t, o.id), c->ok ? 0 : -ENOENT, "%s", c->name);
}

Test(owners, overlong_ids_are_unknown)
{
    struct sl_owner_table *t = table(4);
    char id[SL_RESPONSE_ID_MAX + 32];
    struct sl_owner out;

    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    memcpy(id, "resp_", 5);
    cr_assert_eq(sl_owner_get(t, id, NOW, &out), -ENOENT);
    cr_assert_eq(sl_owner_drop(t, id), -ENOENT);
    id[SL_RESPONSE_ID_MAX + 1] = '\0'; /* one byte too long */
    cr_assert_eq(sl_owner_get(t, id, NOW, &out), -ENOENT);
    id[SL_RESPONSE_ID_MAX] = '\0'; /* the longest */
    put(t, id, "alpha", NOW + DAY);
    cr_assert_eq(sl_owner_get(t, id, NOW, &out), 0);
}

Test(owners, null_arguments)
{
    struct sl_owner_table *t = table(4);
    struct sl_owner out;

    cr_assert_eq(sl_owner_put(t, NULL, NOW), -EINVAL);
    cr_assert_eq(sl_owner_get(t, NULL, NOW, &out), -ENOENT);
    cr_assert_eq(sl_owner_count(t), 0);
}

/* ---- sizes and layout ---- */

Test(owners, sizes)
{
    size_t one = sl_owner_table_size(1), big = sl_owner_table_size(CAPACITY_MAX);
    uint64_t floor = (uint64_t)CAPACITY_MAX * sizeof(struct sl_owner);

    cr_assert_eq(sl_owner_table_size(0), 0);
    cr_assert_eq(sl_owner_table_size(CAPACITY_MAX + 1), 0);
    cr_assert_eq(sl_owner_table_size(UINT32_MAX), 0);
    cr_assert_geq(one, sizeof(struct sl_owner));
    cr_assert_lt(one, 1024);
    cr_assert_gt(sl_owner_table_size(2), one);
#if SIZE_MAX < UINT64_MAX
    if (floor > SIZE_MAX) {
        cr_assert_eq(big, 0, "too large for this size_t");
        return;
    }
#endif
    cr_assert_gt((uint64_t)big, floor, "no wrap-around in the arithmetic");
    cr_assert_gt(big, sl_owner_table_size(CAPACITY_MAX - 1));
    /* At most about twice the payload: entries plus an index of 2^25 small slots. */
    cr_assert_lt((uint64_t)big, 2 * floor);
}

Test(owners, init_refuses_bad_memory_and_capacity)
{
    uint64_t buf[512];

    cr_assert_leq(sl_owner_table_size(4), sizeof(buf));
    cr_assert_null(sl_owner_table_init(NULL, 4));
    cr_assert_null(sl_owner_table_init((char *)buf + 4, 4));
    cr_assert_null(sl_owner_table_init(buf, 0));
    cr_assert_null(sl_owner_table_init(buf, CAPACITY_MAX + 1));
    cr_assert_not_null(sl_owner_table_init(buf, 4));
}

Test(owners, init_empties_a_used_table)
{
    struct sl_owner_table *t = table(4);

    put(t, "resp_a", "alpha", NOW + DAY);
    cr_assert_eq((void *)sl_owner_table_init(mem, 4), mem);
    cr_assert_eq(sl_owner_count(t), 0);
    cr_assert_not(known(t, "resp_a"));
}

Test(owners, a_copied_table_works_at_its_new_address)
{
    size_t size = sl_owner_table_size(4);
    struct sl_owner_table *t = table(4), *copy;
    void *other = malloc(size);

    cr_assert_not_null(other);
    put(t, "resp_a", "alpha", NOW + DAY);
    put(t, "resp_b", "alpha", NOW + DAY);
    put(t, "resp_c", "alpha", NOW + DAY);
    memcpy(other, mem, size);
    memset(mem, 0xff, size); /* anything still pointing into the original now reads garbage */
    copy = other;
    cr_assert(known(copy, "resp_a") && known(copy, "resp_b") && known(copy, "resp_c"));
    put(copy, "resp_d", "alpha", NOW + DAY);
    put(copy, "resp_e", "alpha", NOW + DAY);
    cr_assert_not(known(copy, "resp_a"));
    cr_assert_eq(sl_owner_drop(copy, "resp_c"), 0);
    cr_assert(known(copy, "resp_b") && known(copy, "resp_d") && known(copy, "resp_e"));
    cr_assert_eq(sl_owner_count(copy), 3);
    free(other);
}

Test(owners, workers_share_a_table_across_fork)
{
    size_t size = sl_owner_table_size(16);
    void *shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct sl_owner_table *t;
    struct sl_owner out;
    int status;
    pid_t pid;

    cr_assert_neq(shm, MAP_FAILED);
    t = sl_owner_table_init(shm, 16);
    put(t, "resp_parent", "alpha", NOW + DAY);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct sl_owner o = owner("resp_child", "beta", "azure", NOW + DAY);
        _exit(sl_owner_put(t, &o, NOW) == 0 && sl_owner_drop(t, "resp_parent") == 0 ? 0 : 1);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(sl_owner_get(t, "resp_child", NOW, &out), 0);
    cr_assert_str_eq(out.tenant, "beta");
    cr_assert_not(known(t, "resp_parent"));
    cr_assert_eq(munmap(shm, size), 0);
}
