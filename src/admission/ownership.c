/* SPDX-License-Identifier: MIT */
/* ownership.c - the response owners' table in shared memory, mirrored to Redis. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/ownership.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "admission/redis.h"
#include "admission/shm_lock.h"

#define KEY_MAX (128 + sizeof("resp:") + SL_RESPONSE_ID_MAX)

struct sl_ownership {
    struct sl_ownership_shm *shm;
    struct sl_redis *redis;
    char prefix[128];
    uint64_t ttl_s;
};

struct sl_ownership_op {
    struct sl_ownership *o;
    struct sl_redis_cmd *cmd;
    char id[SL_RESPONSE_ID_MAX + 1];
    char tenant[SL_OWNER_NAME_MAX];
    sl_ownership_cb cb;
    void *arg;
};

size_t sl_ownership_shm_size(uint32_t capacity)
{
    return sl_owner_table_size(capacity);
}

int sl_ownership_shm_init(struct sl_ownership_shm *s, void *mem, uint32_t capacity)
{
    int r;

    if ((r = sl_shm_lock_init(&s->lock)) < 0)
        return r;
    s->capacity = capacity;
    s->table = sl_owner_table_init(mem, capacity);
    return s->table ? 0 : -EINVAL;
}

/* A holder that died mid-update may have left the index half written: start afresh.  That
 * forgets owners, which refuses follow-ups; it never grants one. */
static void lock(struct sl_ownership_shm *s)
{
    if (pthread_mutex_lock(&s->lock) == EOWNERDEAD) {
        sl_owner_table_init(s->table, s->capacity);
        pthread_mutex_consistent(&s->lock);
    }
}

struct sl_ownership *sl_ownership_new(struct sl_ownership_shm *shm, struct sl_redis *redis,
                                      const char *prefix, uint64_t ttl_s)
{
    struct sl_ownership *o = calloc(1, sizeof(*o));

    if (!o)
        return NULL;
    o->shm = shm;
    o->redis = redis;
    snprintf(o->prefix, sizeof(o->prefix), "%s", prefix ? prefix : "");
    o->ttl_s = ttl_s;
    return o;
}

void sl_ownership_free(struct sl_ownership *o)
{
    free(o);
}

static int64_t now_s(void)
{
    return (int64_t)(sl_clock_wall_ms() / 1000);
}

static void put_local(struct sl_ownership *o, const struct sl_owner *w)
{
    lock(o->shm);
    sl_owner_put(o->shm->table, w, now_s());
    pthread_mutex_unlock(&o->shm->lock);
}

static void ignore_reply(const struct redisReply *reply, void *arg)
{
    (void)reply;
    (void)arg;
}

/* The value kept in Redis: "tenant\nupstream" (names never hold a newline). */
static void record_remote(struct sl_ownership *o, const struct sl_owner *w)
{
    char key[KEY_MAX], val[2 * SL_OWNER_NAME_MAX + 1], ttl[24];
    const char *argv[5] = { "SET", key, val, "EX", ttl };
    size_t lens[5];
    int i;

    snprintf(key, sizeof(key), "%sresp:%s", o->prefix, w->id);
    snprintf(val, sizeof(val), "%s\n%s", w->tenant, w->upstream);
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)o->ttl_s);
    for (i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    /* Not waited for: if Redis is down the owner is known on this host only. */
    (void)sl_redis_command(o->redis, 5, argv, lens, ignore_reply, NULL);
}

void sl_ownership_record(struct sl_ownership *o, const char *id, const char *tenant,
                         const char *upstream)
{
    struct sl_owner w = { .expires_s = now_s() + (int64_t)o->ttl_s };

    if (!sl_response_id_valid(id, strlen(id)) || !*tenant || strlen(tenant) >= sizeof(w.tenant) ||
        !*upstream || strlen(upstream) >= sizeof(w.upstream))
        return;
    snprintf(w.id, sizeof(w.id), "%s", id);
    snprintf(w.tenant, sizeof(w.tenant), "%s", tenant);
    snprintf(w.upstream, sizeof(w.upstream), "%s", upstream);
    put_local(o, &w);
    if (o->redis)
        record_remote(o, &w);
}

/* Tenant and upstream names: 1-63 of A-Z a-z 0-9 _ . - (the configuration's and the admin
 * API's rule). */
static bool name_ok(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
           strlen(s);
}

/* Redis's "tenant\nupstream", bounded and checked, into w. */
static bool parse_remote(const struct redisReply *reply, struct sl_owner *w)
{
    const char *nl;
    size_t tlen, ulen;

    if (!reply || reply->type != REDIS_REPLY_STRING || reply->len > 2 * SL_OWNER_NAME_MAX)
        return false;
    nl = memchr(reply->str, '\n', reply->len);
    if (!nl)
        return false;
    tlen = (size_t)(nl - reply->str);
    ulen = reply->len - tlen - 1;
    if (tlen == 0 || tlen >= sizeof(w->tenant) || ulen == 0 || ulen >= sizeof(w->upstream) ||
        memchr(reply->str, '\0', reply->len))
        return false;
    memcpy(w->tenant, reply->str, tlen);
    w->tenant[tlen] = '\0';
    memcpy(w->upstream, nl + 1, ulen);
    w->upstream[ulen] = '\0';
    return name_ok(w->tenant) && name_ok(w->upstream);
}

/* Redis answered, but the key is not a string: whatever put it there, it names no owner. */
static bool wrong_type(const struct redisReply *reply)
{
    return reply->len >= 9 && memcmp(reply->str, "WRONGTYPE", 9) == 0;
}

static void on_remote(const struct redisReply *reply, void *arg)
{
    struct sl_ownership_op *op = arg;
    struct sl_owner w = { .expires_s = now_s() + (int64_t)op->o->ttl_s };
    int verdict = -ENOENT;

    op->cmd = NULL;
    if (!reply || (reply->type == REDIS_REPLY_ERROR && !wrong_type(reply))) {
        verdict = -EAGAIN;
    } else if (parse_remote(reply, &w)) {
        snprintf(w.id, sizeof(w.id), "%s", op->id);
        put_local(op->o, &w); /* the next follow-up on this host needs no round trip */
        if (strcmp(w.tenant, op->tenant) == 0)
            verdict = 0;
    }
    op->cb(verdict, verdict == 0 ? &w : NULL, op->arg);
    free(op);
}

static struct sl_ownership_op *ask_remote(struct sl_ownership *o, const char *id,
                                          const char *tenant, sl_ownership_cb cb, void *arg)
{
    struct sl_ownership_op *op = calloc(1, sizeof(*op));
    char key[KEY_MAX];
    const char *argv[2] = { "GET", key };
    size_t lens[2];

    if (!op) {
        cb(-EAGAIN, NULL, arg);
        return NULL;
    }
    *op = (struct sl_ownership_op){ .o = o, .cb = cb, .arg = arg };
    snprintf(op->id, sizeof(op->id), "%s", id);
    snprintf(op->tenant, sizeof(op->tenant), "%s", tenant);
    snprintf(key, sizeof(key), "%sresp:%s", o->prefix, id);
    lens[0] = 3;
    lens[1] = strlen(key);
    op->cmd = sl_redis_command(o->redis, 2, argv, lens, on_remote, op);
    if (!op->cmd) {
        free(op);
        cb(-EAGAIN, NULL, arg);
        return NULL;
    }
    return op;
}

struct sl_ownership_op *sl_ownership_lookup(struct sl_ownership *o, const char *id,
                                            const char *tenant, sl_ownership_cb cb, void *arg)
{
    struct sl_owner w;
    int r;

    lock(o->shm);
    r = sl_owner_get(o->shm->table, id, now_s(), &w);
    pthread_mutex_unlock(&o->shm->lock);
    if (r == 0 || !o->redis) {
        /* Another tenant's is as unknown as a missing one: the answer must not tell them
         * apart. */
        r = r == 0 && strcmp(w.tenant, tenant) == 0 ? 0 : -ENOENT;
        cb(r, r == 0 ? &w : NULL, arg);
        return NULL;
    }
    return ask_remote(o, id, tenant, cb, arg);
}

void sl_ownership_cancel(struct sl_ownership_op *op)
{
    if (!op)
        return;
    sl_redis_cancel(op->cmd);
    free(op);
}
