/* SPDX-License-Identifier: MIT */
/* test_auth_cache.c - the worker's cache from bearer key to tenant, against the shared table:
 * it answers what the table answers (revocations by another process and deleted tenants
 * included, from the very next lookup), keys that match nothing never enter it nor evict what
 * is in it, and the SipHash it names keys by is SipHash-2-4-128. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "core/siphash.h"
#include "admission/auth.h"
#include "admission/auth_cache.h"
#include "admission/tenants.h"

#define WALL 1795600000

static struct sl_tenants *t;
static struct sl_auth_cache *c;
static const struct sl_limits none = { .budget_period = SL_PERIOD_NONE };

static void setup(void)
{
    t = sl_tenants_map(64, 4096, 64);
    c = sl_auth_cache_new();
    cr_assert_not_null(t);
    cr_assert_not_null(c);
}

static void teardown(void)
{
    sl_auth_cache_free(c);
    sl_tenants_unmap(t);
}

TestSuite(auth_cache, .init = setup, .fini = teardown, .timeout = 20);

static int who(const char *key)
{
    return sl_auth_cache_tenant(c, t, key, strlen(key));
}

/* A key for tenant idx; its public id in id (SL_KEY_ID_LEN + 1). */
static void add_key(int idx, const char *key, char *id)
{
    unsigned char sha[32];

    sl_auth_hash(key, strlen(key), sha);
    cr_assert_eq(sl_tenants_add_key(t, idx, sha, WALL, id), 0, "%s", key);
}

static uint64_t hits(void)
{
    uint64_t h, m;

    sl_auth_cache_counts(c, &h, &m);
    return h;
}

Test(auth_cache, a_key_seen_once_is_answered_from_the_cache)
{
    int acme = sl_tenants_create(t, "acme", &none, WALL);

    add_key(acme, "sk-acme", NULL);
    cr_assert_eq(who("sk-acme"), acme);
    cr_assert_eq(hits(), 0);
    cr_assert_eq(who("sk-acme"), acme);
    cr_assert_eq(who("sk-acme"), acme);
    cr_assert_eq(hits(), 2);
    /* A prefix or an extension of it is another key. */
    cr_assert_eq(who("sk-acm"), -ENOENT);
    cr_assert_eq(who("sk-acme "), -ENOENT);
    cr_assert_eq(who(""), -ENOENT);
}

Test(auth_cache, a_key_revoked_by_another_process_is_refused_at_once)
{
    char id[SL_KEY_ID_LEN + 1];
    int acme = sl_tenants_create(t, "acme", &none, WALL), status;
    pid_t pid;

    add_key(acme, "sk-acme", id);
    cr_assert_eq(who("sk-acme"), acme);
    cr_assert_eq(who("sk-acme"), acme);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(sl_tenants_revoke_key(t, id) == 0 ? 0 : 1);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(who("sk-acme"), -ENOENT);
    cr_assert_eq(who("sk-acme"), -ENOENT);
}

Test(auth_cache, a_deleted_tenants_keys_are_refused_at_once)
{
    int acme = sl_tenants_create(t, "acme", &none, WALL);

    add_key(acme, "sk-acme", NULL);
    cr_assert_eq(who("sk-acme"), acme);
    cr_assert_eq(sl_tenants_delete(t, acme, WALL), 0);
    cr_assert_eq(who("sk-acme"), -ENOENT);
}

/* The slot a revoked key leaves is taken by the next key on its probe path, and the same key
 * may come back for another tenant (as the copy from Redis can do): the cache answers what
 * the table says, never what it remembers. */
Test(auth_cache, a_slot_taken_over_or_a_key_moved_to_another_tenant)
{
    char id[SL_KEY_ID_LEN + 1];
    int acme = sl_tenants_create(t, "acme", &none, WALL);
    int beta = sl_tenants_create(t, "beta", &none, WALL);

    add_key(acme, "sk-shared", id);
    cr_assert_eq(who("sk-shared"), acme);
    cr_assert_eq(sl_tenants_revoke_key(t, id), 0);
    add_key(beta, "sk-shared", id);
    cr_assert_eq(who("sk-shared"), beta);
    cr_assert_eq(who("sk-shared"), beta);
    cr_assert_eq(sl_tenants_revoke_key(t, id), 0);
    add_key(acme, "sk-other", NULL);
    cr_assert_eq(who("sk-shared"), -ENOENT);
    cr_assert_eq(who("sk-other"), acme);
}

/* A spray of keys that match nothing: none is stored, so the key in use stays a hit. */
Test(auth_cache, unknown_keys_evict_nothing)
{
    int acme = sl_tenants_create(t, "acme", &none, WALL);
    uint64_t before;
    char key[32];

    add_key(acme, "sk-acme", NULL);
    cr_assert_eq(who("sk-acme"), acme);
    for (int i = 0; i < 20 * SL_AUTH_CACHE_SLOTS; i++) {
        snprintf(key, sizeof(key), "sk-guess-%d", i);
        cr_assert_eq(who(key), -ENOENT);
    }
    before = hits();
    cr_assert_eq(who("sk-acme"), acme);
    cr_assert_eq(hits(), before + 1);
}

/* More keys than slots: some displace others, every answer stays right. */
Test(auth_cache, more_keys_than_slots)
{
    int acme = sl_tenants_create(t, "acme", &none, WALL);
    int beta = sl_tenants_create(t, "beta", &none, WALL);
    char key[32];
    int i, round;

    for (i = 0; i < 3 * SL_AUTH_CACHE_SLOTS; i++) {
        snprintf(key, sizeof(key), "sk-%d", i);
        add_key(i % 2 ? beta : acme, key, NULL);
    }
    for (round = 0; round < 2; round++)
        for (i = 0; i < 3 * SL_AUTH_CACHE_SLOTS; i++) {
            snprintf(key, sizeof(key), "sk-%d", i);
            cr_assert_eq(who(key), i % 2 ? beta : acme, "%s", key);
        }
    cr_assert_gt(hits(), 0);
}

Test(auth_cache, the_bearer_header_goes_through_the_cache_when_there_is_one)
{
    struct sl_config cfg = { .auth_mode = SL_AUTH_KEYS };
    int acme = sl_tenants_create(t, "acme", &none, WALL);

    add_key(acme, "sk-acme", NULL);
    cr_assert_eq(sl_auth_tenant(t, &cfg, c, "Bearer sk-acme"), acme);
    cr_assert_eq(sl_auth_tenant(t, &cfg, c, "bearer  sk-acme "), acme);
    cr_assert_eq(hits(), 1);
    cr_assert_eq(sl_auth_tenant(t, &cfg, NULL, "Bearer sk-acme"), acme);
    cr_assert_eq(sl_auth_tenant(t, &cfg, c, "Basic sk-acme"), -ENOENT);
    cr_assert_eq(sl_auth_tenant(t, &cfg, c, NULL), -ENOENT);
}

/* ---- SipHash-2-4-128 ---- */

static void openssl_siphash(const unsigned char *key, const unsigned char *msg, size_t len,
                            unsigned char out[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    size_t size = 16, outl = 0;
    OSSL_PARAM params[] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                            OSSL_PARAM_END };

    cr_assert(EVP_MAC_init(ctx, key, 16, params));
    cr_assert(EVP_MAC_update(ctx, msg, len));
    cr_assert(EVP_MAC_final(ctx, out, &outl, 16));
    cr_assert_eq(outl, 16);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

Test(siphash, the_reference_vector)
{
    /* The reference implementation's first 128-bit vector: key 00..0f, empty message. */
    static const unsigned char want[16] = { 0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
                                            0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93 };
    unsigned char key[16], out[16];

    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)i;
    sl_siphash128(key, "", 0, out);
    cr_assert_arr_eq(out, want, 16);
}

Test(siphash, matches_openssl_at_every_length_around_the_word_size)
{
    unsigned char key[16], msg[70], ours[16], theirs[16];

    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)(i * 37 + 11);
    for (int i = 0; i < 70; i++)
        msg[i] = (unsigned char)(i * 13 + 200);
    for (size_t len = 0; len <= sizeof(msg); len++) {
        sl_siphash128(key, msg, len, ours);
        openssl_siphash(key, msg, len, theirs);
        cr_assert_arr_eq(ours, theirs, 16, "length %zu", len);
    }
}
