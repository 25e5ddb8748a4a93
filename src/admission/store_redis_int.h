/* SPDX-License-Identifier: MIT */
/* store_redis_int.h - what the two halves of the Redis store share: store_redis.c (life,
 * reserve, the fail_mode fallback) and store_redis_settle.c (settlements, batched per
 * tenant, and the replay of the journal). */
#ifndef SL_STORE_REDIS_INT_H
#define SL_STORE_REDIS_INT_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/util.h>

#include "core/quota.h"
#include "admission/redis_scripts.h"

struct batch_args;
struct event;
struct sl_config;
struct sl_metrics;
struct sl_redis;
struct sl_tenants;

#define SL_STORE_LEASE_MS 5000 /* a settlement being sent belongs to its sender */
#define SL_STORE_REPLAY_TICK_MS 1000
#define SL_STORE_REPLAY_INFLIGHT_MAX 64      /* replayed settlements in flight per worker */
#define SL_STORE_RESERVATION_MARGIN_MS 60000 /* beyond the longest a request may live */
/* Settlements wait at most this long, or until this many, before they go as one call. */
#define SL_STORE_FLUSH_MS 2
#define SL_STORE_BATCH_MAX 128

struct sl_store_queued {
    int resv;
    uint32_t seq;
};

struct sl_store_redis {
    const struct sl_config *cfg;
    struct sl_tenants *t;
    struct sl_metrics *m;
    struct sl_redis *rd;
    pid_t pid;
    struct event *replay_timer;
    unsigned replays_inflight;
    uint64_t lease_ms; /* of a reservation in Redis */
    /* Finished requests whose settlement waits for the next flush (journalled already). */
    struct event *flush_timer;
    struct sl_store_queued queued[SL_STORE_BATCH_MAX];
    unsigned nqueued;
    struct batch_args *scratch; /* where a settle call's arguments are built */
};

/* The budget period a request falls in, by this host's UTC clock. */
struct sl_store_period {
    int64_t start_s, end_s; /* end 0: a lifetime budget */
    char start[24];
};
struct sl_store_period sl_store_period_now(enum sl_period kind, int64_t wall);
/* The Redis keys what[0..n) of a tenant ("used" named by its period's start) into keys[], and
 * pointers to them into argv[]; false if a name does not fit. */
bool sl_store_tenant_keys(const struct sl_store_redis *s, const char *tenant, const char *period,
                          const char *const *what, int n, char (*keys)[SL_REDIS_KEY_MAX],
                          const char **argv);

/* store_redis_settle.c: send what is queued now; the flush timer's callback; the journal's
 * replay (settlements no worker is sending, from the shared table). */
void sl_store_redis_flush(struct sl_store_redis *s);
void sl_store_redis_on_flush(evutil_socket_t fd, short what, void *arg);
void sl_store_redis_replay(struct sl_store_redis *s);
#endif /* SL_STORE_REDIS_INT_H */
