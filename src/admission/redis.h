/* SPDX-License-Identifier: MIT */
/* redis.h - one Redis connection per worker on the worker's libevent loop (hiredis async and
 * its libevent adapter), for the budget store and the tenant table when [redis] url is set.
 *
 * hiredis 0.14 has no timeouts for async contexts, so this module gives every command a
 * deadline of its own ([redis] timeout_ms) and the connection attempt one too.  A command past
 * its deadline is answered as failed and the connection is dropped, since a server that does
 * not answer one command will not answer those queued behind it either; dropping it completes
 * every pending command at once.  The connection is then made again from a timer, with capped,
 * jittered back-off.  While it is not up, commands are refused at once (never queued), so a
 * request path never waits for a connection.
 *
 * Scripts go as EVALSHA of the SHA-1 computed here; a NOSCRIPT answer (the script cache empties
 * on restart, failover and SCRIPT FLUSH) resends the same call as EVAL, which caches it again.
 * Replies that mean "this server cannot serve now" (LOADING, BUSY, READONLY, MASTERDOWN,
 * NOAUTH...) drop the connection too.  The password is never logged. */
#ifndef SL_REDIS_H
#define SL_REDIS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/redis_url.h"

struct event_base;
struct redisReply;
struct sl_metrics;
struct sl_redis;
struct sl_redis_cmd;

struct sl_redis_script {
    const char *name; /* for logs and metrics */
    const char *source;
    char sha1[41]; /* filled by sl_redis_script_init() */
};
void sl_redis_script_init(struct sl_redis_script *s);

/* reply: the server's reply, possibly an error reply; NULL when the command failed (the
 * connection was lost or dropped, or the deadline passed).  Valid only during the call. */
typedef void (*sl_redis_reply_cb)(const struct redisReply *reply, void *arg);
typedef void (*sl_redis_up_cb)(void *arg);

/* Worker, after fork.  Resolves the host once (a name is looked up here, never again on the
 * loop) and starts connecting.  NULL on failure (a host that does not resolve). */
struct sl_redis *sl_redis_new(struct event_base *base, const struct sl_redis_target *t,
                              uint64_t timeout_ms, struct sl_metrics *m);
/* Completes every pending command (reply NULL) and closes the connection.  NULL-safe. */
void sl_redis_free(struct sl_redis *rd);
bool sl_redis_is_up(const struct sl_redis *rd);
/* cb(arg) runs each time the connection becomes usable (after AUTH, SELECT and a PING).  A
 * few hooks may be registered; -ENOSPC past that. */
int sl_redis_on_up(struct sl_redis *rd, sl_redis_up_cb cb, void *arg);

/* The most keys and arguments one command may carry (a batch of settlements is the longest). */
#define SL_REDIS_ARGV_MAX 600

/* EVALSHA script with keys then args (argv[0..nkeys) are the keys, the rest arguments).
 * Returns NULL when the connection is not up or the command could not be queued: cb is then
 * never called.  Otherwise cb is called exactly once, from the loop, unless cancelled first. */
struct sl_redis_cmd *sl_redis_eval(struct sl_redis *rd, struct sl_redis_script *s, int nkeys,
                                   int argc, const char *const *argv, const size_t *lens,
                                   sl_redis_reply_cb cb, void *arg);
/* A plain command (GET, ...), same contract. */
struct sl_redis_cmd *sl_redis_command(struct sl_redis *rd, int argc, const char *const *argv,
                                      const size_t *lens, sl_redis_reply_cb cb, void *arg);
/* cb will not be called; the command itself may still reach the server. */
void sl_redis_cancel(struct sl_redis_cmd *c);
#endif /* SL_REDIS_H */
