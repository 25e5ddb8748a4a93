/* SPDX-License-Identifier: MIT */
/* h_redis.c - redis-server for the integration tests. */
#define _GNU_SOURCE
#include "h_redis.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "harness.h"

static redisContext *connect_to(const struct h_redis *r)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    redisReply *rep;

    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (r->password[0]) {
        rep = redisCommand(c, "AUTH %s", r->password);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(rep);
    }
    return c;
}

static bool answers(const struct h_redis *r)
{
    redisContext *c = connect_to(r);
    redisReply *rep;
    bool ok;

    if (!c)
        return false;
    rep = redisCommand(c, "PING");
    ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return ok;
}

void h_redis_start(struct h_redis *r)
{
    static int seq;
    char port[16];
    long long t0;

    if (!r->port)
        r->port = h_free_port();
    if (!r->dir[0]) {
        snprintf(r->dir, sizeof(r->dir), "%s/redis%d", h_tmpdir(), seq++);
        mkdir(r->dir, 0700);
    }
    snprintf(port, sizeof(port), "%d", r->port);
    r->pid = fork();
    cr_assert(r->pid >= 0);
    if (r->pid == 0) {
        char log[400];

        snprintf(log, sizeof(log), "%s/redis.log", r->dir);
        if (chdir(r->dir) != 0)
            _exit(127);
        const char *argv[20] = { "redis-server", "--port", port,        "--bind", "127.0.0.1",
                                 "--save",       "",       "--logfile", log };
        int n = 9;

        argv[n++] = "--appendonly";
        argv[n++] = r->persist ? "yes" : "no";
        if (r->persist) {
            argv[n++] = "--appendfsync";
            argv[n++] = "always";
        }
        if (r->password[0]) {
            argv[n++] = "--requirepass";
            argv[n++] = r->password;
        }
        argv[n] = NULL;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    h_cleanup_pid(r->pid);
    for (t0 = h_now_ms(); h_now_ms() - t0 < 5000; h_sleep_ms(20))
        if (answers(r))
            return;
    cr_assert_fail("redis-server did not come up on port %d (installed? apt-get install "
                   "redis-server)",
                   r->port);
}

void h_redis_stop(struct h_redis *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGCONT);
    kill(r->pid, SIGTERM);
    cr_assert_neq(h_wait_exit(r->pid, 5000), -1, "redis-server did not stop");
    r->pid = 0;
}

void h_redis_pause(struct h_redis *r)
{
    cr_assert_eq(kill(r->pid, SIGSTOP), 0);
}

void h_redis_resume(struct h_redis *r)
{
    cr_assert_eq(kill(r->pid, SIGCONT), 0);
}

const char *h_redis_url(const struct h_redis *r)
{
    static char url[200];

    if (r->password[0])
        snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%d", r->password, r->port);
    else
        snprintf(url, sizeof(url), "redis://127.0.0.1:%d", r->port);
    return url;
}

static redisReply *vcommand(const struct h_redis *r, const char *fmt, va_list ap)
{
    redisContext *c = connect_to(r);
    redisReply *rep;

    cr_assert_not_null(c, "cannot reach redis-server on port %d", r->port);
    rep = redisvCommand(c, fmt, ap);
    redisFree(c);
    cr_assert_not_null(rep, "redis command failed: %s", fmt);
    cr_assert_neq(rep->type, REDIS_REPLY_ERROR, "redis %s: %s", fmt, rep->str);
    return rep;
}

long long h_redis_int(const struct h_redis *r, const char *fmt, ...)
{
    redisReply *rep;
    long long v = 0;
    va_list ap;

    va_start(ap, fmt);
    rep = vcommand(r, fmt, ap);
    va_end(ap);
    if (rep->type == REDIS_REPLY_INTEGER)
        v = rep->integer;
    else if (rep->type == REDIS_REPLY_STRING)
        v = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    return v;
}

const char *h_redis_str(const struct h_redis *r, const char *fmt, ...)
{
    static char out[4096];
    redisReply *rep;
    va_list ap;

    va_start(ap, fmt);
    rep = vcommand(r, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    if (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS)
        snprintf(out, sizeof(out), "%s", rep->str);
    freeReplyObject(rep);
    return out;
}

long long h_redis_sum(const struct h_redis *r, const char *pattern)
{
    redisContext *c = connect_to(r);
    redisReply *keys, *v;
    long long sum = 0;

    cr_assert_not_null(c);
    keys = redisCommand(c, "KEYS %s", pattern);
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < keys->elements; i++) {
        v = redisCommand(c, "GET %s", keys->element[i]->str);
        if (v && v->type == REDIS_REPLY_STRING)
            sum += strtoll(v->str, NULL, 10);
        if (v)
            freeReplyObject(v);
    }
    freeReplyObject(keys);
    redisFree(c);
    return sum;
}
