/* SPDX-License-Identifier: MIT */
/* h_redis.h - a real redis-server for the integration tests: started on a free port in the
 * test's scratch directory, with no persistence, stopped, paused and restarted on demand; and
 * a blocking client for the test's own checks (tests may block; the gateway never does). */
#ifndef SL_TEST_H_REDIS_H
#define SL_TEST_H_REDIS_H
#include <stdbool.h>
#include <sys/types.h>

struct h_redis {
    pid_t pid;
    int port;
    char dir[300];
    char password[64]; /* "" = none */
    bool persist;      /* keep the data across a restart (append-only file) */
};

/* Start redis-server on a free port (or again on r->port, in r->dir, once it has run).
 * Asserts it answers PING within 5 s.  redis-server must be installed (scripts/test does). */
void h_redis_start(struct h_redis *r);
/* SIGTERM and wait: the data goes with it (no persistence). */
void h_redis_stop(struct h_redis *r);
/* Blackhole: the server keeps its port and accepts, but answers nothing until resumed. */
void h_redis_pause(struct h_redis *r);
void h_redis_resume(struct h_redis *r);
/* "redis://[:password@]127.0.0.1:PORT" (static buffer). */
const char *h_redis_url(const struct h_redis *r);
/* One command (printf-style, hiredis syntax); the reply as an integer (strings parsed, nil 0).
 * Asserts the command worked. */
long long h_redis_int(const struct h_redis *r, const char *fmt, ...);
/* The reply as a string (static buffer, "" for nil). */
const char *h_redis_str(const struct h_redis *r, const char *fmt, ...);
/* The sum of the integer values of every key matching pattern (KEYS; test data is small). */
long long h_redis_sum(const struct h_redis *r, const char *pattern);
#endif /* SL_TEST_H_REDIS_H */
