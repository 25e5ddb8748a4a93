/* SPDX-License-Identifier: MIT */
/* ownership.h - who created which response (SPEC §10), for every worker of a host and, with
 * Redis, for every host.  The table itself is core/owners.h, in the shared region under one
 * robust process-shared lock; with [redis] url each record is also written to Redis
 * (SET prefix "resp:" id EX ttl, an event, never waited for), and a lookup this host cannot
 * answer asks Redis once (GET) and keeps the answer.
 *
 * What a lost entry means: a table that is full forgets its oldest entry, and a record Redis
 * did not take (it was down) is known to this host only.  Either way a follow-up naming that
 * response finds no owner and is refused with 404: never served to a tenant that is not
 * known to own it. */
#ifndef SL_OWNERSHIP_H
#define SL_OWNERSHIP_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/owners.h"

struct sl_redis;
struct sl_redis_cmd;

/* The shared part, in the region every worker inherits. */
struct sl_ownership_shm {
    pthread_mutex_t lock;
    uint32_t capacity;
    struct sl_owner_table *table; /* in the same mapping, same address in every process */
};

size_t sl_ownership_shm_size(uint32_t capacity);
/* Master, before the first fork: lay the table over mem (sl_ownership_shm_size() bytes). */
int sl_ownership_shm_init(struct sl_ownership_shm *s, void *mem, uint32_t capacity);

struct sl_ownership; /* a worker's handle */
struct sl_ownership_op;

/* redis may be NULL (shared memory only); prefix is [redis] prefix, copied. */
struct sl_ownership *sl_ownership_new(struct sl_ownership_shm *shm, struct sl_redis *redis,
                                      const char *prefix, uint64_t ttl_s);
void sl_ownership_free(struct sl_ownership *o);

/* A response was created for tenant through upstream.  Malformed ids are ignored. */
void sl_ownership_record(struct sl_ownership *o, const char *id, const char *tenant,
                         const char *upstream);

/* verdict: 0 = owned by the tenant asked about (*owner filled); -ENOENT = unknown, expired or
 * another tenant's (the caller answers 404 either way); -EAGAIN = Redis could not be asked. */
typedef void (*sl_ownership_cb)(int verdict, const struct sl_owner *owner, void *arg);
/* Answers at once (cb called before returning, NULL returned) or later from the loop (an op
 * returned, which sl_ownership_cancel() can stop; cb is then not called). */
struct sl_ownership_op *sl_ownership_lookup(struct sl_ownership *o, const char *id,
                                            const char *tenant, sl_ownership_cb cb, void *arg);
void sl_ownership_cancel(struct sl_ownership_op *op);
#endif /* SL_OWNERSHIP_H */
