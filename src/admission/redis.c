/* SPDX-License-Identifier: MIT */
/* redis.c - a worker's Redis connection: connect, handshake, deadlines, reconnect. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rng.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MIN_MS 1000 /* a TCP handshake may need more than timeout_ms */
#define ARGV_MAX SL_REDIS_ARGV_MAX
#define UP_HOOKS_MAX 4

enum conn_state { DOWN, CONNECTING, HANDSHAKE, UP };

struct sl_redis_cmd {
    struct sl_redis *rd;
    struct sl_redis_cmd *prev, *next; /* rd->pending: not answered yet */
    struct event *deadline;
    sl_redis_reply_cb cb;
    void *arg;
    bool answered; /* cb called, or cancelled */
    bool internal; /* the handshake's own commands */
    bool retried_as_eval;
    unsigned hiredis_refs;          /* hiredis callbacks still to come */
    struct sl_redis_script *script; /* NULL for a plain command */
    int argc;
    char **argv; /* a copy, for the EVAL fallback */
    size_t *lens;
};

struct sl_redis {
    struct event_base *base;
    struct sl_redis_target target;
    char addr[INET6_ADDRSTRLEN]; /* resolved once, in sl_redis_new() */
    uint64_t timeout_ms;
    struct sl_metrics *metrics;
    redisAsyncContext *ac;
    enum conn_state state;
    struct event *retry_timer, *connect_timer;
    uint64_t backoff_ms;
    struct sl_redis_cmd *pending;
    struct {
        sl_redis_up_cb cb;
        void *arg;
    } up[UP_HOOKS_MAX];
    unsigned nup;
    bool loud; /* the next loss is worth a warning (up since, or never) */
};

static void drop(struct sl_redis *rd, const char *why);
static void schedule_connect(struct sl_redis *rd);

void sl_redis_script_init(struct sl_redis_script *s)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[SHA_DIGEST_LENGTH];

    SHA1((const unsigned char *)s->source, strlen(s->source), md);
    for (size_t i = 0; i < sizeof(md); i++) {
        s->sha1[2 * i] = digits[md[i] >> 4];
        s->sha1[2 * i + 1] = digits[md[i] & 15];
    }
    s->sha1[40] = '\0';
}

/* ---- commands ---- */

static void unlink_cmd(struct sl_redis_cmd *c)
{
    struct sl_redis *rd = c->rd;

    if (c->prev)
        c->prev->next = c->next;
    else if (rd->pending == c)
        rd->pending = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void free_cmd(struct sl_redis_cmd *c)
{
    if (c->deadline)
        event_free(c->deadline);
    free(c->argv);
    free(c);
}

/* The caller hears about its command exactly once. */
static void answer(struct sl_redis_cmd *c, const redisReply *reply)
{
    if (c->answered)
        return;
    c->answered = true;
    if (c->deadline)
        event_del(c->deadline);
    unlink_cmd(c);
    if (c->cb)
        c->cb(reply, c->arg);
}

static bool reply_means_unavailable(const redisReply *r)
{
    static const char *const prefixes[] = { "LOADING", "BUSY",      "READONLY", "MASTERDOWN",
                                            "NOAUTH",  "WRONGPASS", "MISCONF",  "CLUSTERDOWN" };

    if (!r || r->type != REDIS_REPLY_ERROR || !r->str)
        return false;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(r->str, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static int send_cmd(struct sl_redis *rd, struct sl_redis_cmd *c);

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sl_redis_cmd *c = privdata;
    struct sl_redis *rd = c->rd;
    redisReply *r = reply;

    (void)ac;
    c->hiredis_refs--;
    if (!c->answered && r && r->type == REDIS_REPLY_ERROR && c->script && !c->retried_as_eval &&
        r->str && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        c->retried_as_eval = true;
        if (send_cmd(rd, c) == 0)
            return;
    }
    if (!c->answered && (!r || r->type == REDIS_REPLY_ERROR) && rd->metrics)
        sl_metrics_redis_error(rd->metrics);
    answer(c, r);
    if (reply_means_unavailable(r))
        drop(rd, r->str);
    if (c->hiredis_refs == 0)
        free_cmd(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct sl_redis_cmd *c = arg;
    struct sl_redis *rd = c->rd;

    (void)fd;
    (void)what;
    if (rd->metrics)
        sl_metrics_redis_error(rd->metrics);
    answer(c, NULL);
    /* Everything queued behind it would time out too; dropping completes them now. */
    drop(rd, "a command timed out");
}

/* Queue c on the connection: EVALSHA, or EVAL after NOSCRIPT, or the plain command. */
static int send_cmd(struct sl_redis *rd, struct sl_redis_cmd *c)
{
    const char *argv[ARGV_MAX + 3];
    size_t lens[ARGV_MAX + 3];
    int n = 0, i;

    if (!rd->ac)
        return -ENOTCONN;
    if (c->script) {
        argv[n] = c->retried_as_eval ? "EVAL" : "EVALSHA";
        lens[n] = strlen(argv[n]);
        n++;
        argv[n] = c->retried_as_eval ? c->script->source : c->script->sha1;
        lens[n] = strlen(argv[n]);
        n++;
    }
    for (i = 0; i < c->argc; i++, n++) {
        argv[n] = c->argv[i];
        lens[n] = c->lens[i];
    }
    if (redisAsyncCommandArgv(rd->ac, on_reply, c, n, argv, lens) != REDIS_OK)
        return -EIO;
    c->hiredis_refs++;
    return 0;
}

/* A command object owning a copy of its arguments (one block: pointers, lengths, bytes). */
static struct sl_redis_cmd *new_cmd(struct sl_redis *rd, struct sl_redis_script *s, int argc,
                                    const char *const *argv, const size_t *lens)
{
    struct sl_redis_cmd *c;
    size_t bytes = 0, off;
    char *data;
    int i;

    if (argc < 0 || argc > ARGV_MAX)
        return NULL;
    for (i = 0; i < argc; i++)
        bytes += lens[i] + 1;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->argv = malloc((size_t)argc * (sizeof(char *) + sizeof(size_t)) + bytes + 1);
    if (!c->argv) {
        free(c);
        return NULL;
    }
    c->lens = (size_t *)(c->argv + argc);
    data = (char *)(c->lens + argc);
    for (i = 0, off = 0; i < argc; i++) {
        c->argv[i] = data + off;
        memcpy(data + off, argv[i], lens[i]);
        data[off + lens[i]] = '\0';
        c->lens[i] = lens[i];
        off += lens[i] + 1;
    }
    c->rd = rd;
    c->script = s;
    c->argc = argc;
    return c;
}

static struct sl_redis_cmd *submit(struct sl_redis *rd, struct sl_redis_script *s, int argc,
                                   const char *const *argv, const size_t *lens,
                                   sl_redis_reply_cb cb, void *arg, bool internal)
{
    struct timeval tv = { (time_t)(rd->timeout_ms / 1000),
                          (suseconds_t)(rd->timeout_ms % 1000) * 1000 };
    struct sl_redis_cmd *c;

    if (!rd || !rd->ac || (rd->state != UP && !internal))
        return NULL;
    c = new_cmd(rd, s, argc, argv, lens);
    if (!c)
        return NULL;
    c->cb = cb;
    c->arg = arg;
    c->internal = internal;
    c->deadline = evtimer_new(rd->base, on_deadline, c);
    if (!c->deadline || send_cmd(rd, c) < 0) {
        free_cmd(c);
        return NULL;
    }
    evtimer_add(c->deadline, &tv);
    c->next = rd->pending;
    if (rd->pending)
        rd->pending->prev = c;
    rd->pending = c;
    return c;
}

struct sl_redis_cmd *sl_redis_eval(struct sl_redis *rd, struct sl_redis_script *s, int nkeys,
                                   int argc, const char *const *argv, const size_t *lens,
                                   sl_redis_reply_cb cb, void *arg)
{
    const char *all[ARGV_MAX + 1];
    size_t all_lens[ARGV_MAX + 1];
    char nk[16];
    int i;

    if (argc > ARGV_MAX - 1 || nkeys < 0 || nkeys > argc)
        return NULL;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    all[0] = nk;
    all_lens[0] = strlen(nk);
    for (i = 0; i < argc; i++) {
        all[i + 1] = argv[i];
        all_lens[i + 1] = lens ? lens[i] : strlen(argv[i]);
    }
    return submit(rd, s, argc + 1, all, all_lens, cb, arg, false);
}

struct sl_redis_cmd *sl_redis_command(struct sl_redis *rd, int argc, const char *const *argv,
                                      const size_t *lens, sl_redis_reply_cb cb, void *arg)
{
    size_t l[ARGV_MAX];
    int i;

    if (argc > ARGV_MAX)
        return NULL;
    for (i = 0; i < argc; i++)
        l[i] = lens ? lens[i] : strlen(argv[i]);
    return submit(rd, NULL, argc, argv, l, cb, arg, false);
}

void sl_redis_cancel(struct sl_redis_cmd *c)
{
    if (!c || c->answered)
        return;
    c->answered = true;
    if (c->deadline)
        event_del(c->deadline);
    unlink_cmd(c);
}

/* ---- connection ---- */

bool sl_redis_is_up(const struct sl_redis *rd)
{
    return rd && rd->state == UP;
}

int sl_redis_on_up(struct sl_redis *rd, sl_redis_up_cb cb, void *arg)
{
    if (rd->nup >= UP_HOOKS_MAX)
        return -ENOSPC;
    rd->up[rd->nup].cb = cb;
    rd->up[rd->nup].arg = arg;
    rd->nup++;
    return 0;
}

/* One warning per outage; the attempts that follow it are debug lines. */
static void note_down(struct sl_redis *rd, const char *why)
{
    if (rd->loud)
        sl_log_warn("redis_down", "Redis %s:%d unavailable: %s", rd->target.host, rd->target.port,
                    why);
    else
        sl_log_debug("redis_down", "Redis %s:%d still unavailable: %s", rd->target.host,
                     rd->target.port, why);
    rd->loud = false;
}

/* Close the connection now; hiredis completes every pending command with reply NULL. */
static void drop(struct sl_redis *rd, const char *why)
{
    redisAsyncContext *ac = rd->ac;

    if (!ac)
        return;
    note_down(rd, why);
    rd->ac = NULL; /* the disconnect callback sees it is not ours any more */
    rd->state = DOWN;
    event_del(rd->connect_timer);
    redisAsyncFree(ac); /* deferred by hiredis when inside its own callback */
    schedule_connect(rd);
}

static void on_handshake_reply(const redisReply *r, void *arg)
{
    struct sl_redis *rd = arg;

    if (rd->state != HANDSHAKE)
        return;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        /* The reason may name the user, never the password. */
        sl_log_err("redis_handshake_failed", "Redis %s:%d refused AUTH/SELECT/PING: %.120s",
                   rd->target.host, rd->target.port, r && r->str ? r->str : "no reply");
        drop(rd, "handshake failed");
    }
}

static void on_ping(const redisReply *r, void *arg)
{
    struct sl_redis *rd = arg;

    if (rd->state != HANDSHAKE)
        return;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        on_handshake_reply(r, arg);
        return;
    }
    rd->state = UP;
    rd->loud = true;
    rd->backoff_ms = 0;
    sl_log_info("redis_up", "connected to Redis %s:%d", rd->target.host, rd->target.port);
    for (unsigned i = 0; i < rd->nup; i++)
        rd->up[i].cb(rd->up[i].arg);
}

static void handshake(struct sl_redis *rd)
{
    const struct sl_redis_target *t = &rd->target;
    const char *argv[3];
    size_t lens[3];
    char db[16];
    int n = 0;

    rd->state = HANDSHAKE;
    if (t->password[0]) {
        argv[n++] = "AUTH";
        if (t->user[0])
            argv[n++] = t->user;
        argv[n++] = t->password;
        for (int i = 0; i < n; i++)
            lens[i] = strlen(argv[i]);
        if (!submit(rd, NULL, n, argv, lens, on_handshake_reply, rd, true))
            goto failed;
    }
    if (t->db > 0) {
        snprintf(db, sizeof(db), "%d", t->db);
        argv[0] = "SELECT";
        argv[1] = db;
        lens[0] = 6;
        lens[1] = strlen(db);
        if (!submit(rd, NULL, 2, argv, lens, on_handshake_reply, rd, true))
            goto failed;
    }
    argv[0] = "PING";
    lens[0] = 4;
    if (submit(rd, NULL, 1, argv, lens, on_ping, rd, true))
        return;
failed:
    drop(rd, "could not queue the handshake");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct sl_redis *rd = ac->data;

    if (!rd || rd->ac != ac)
        return;
    event_del(rd->connect_timer);
    if (status != REDIS_OK) {
        /* hiredis frees the context once this returns. */
        rd->ac = NULL;
        rd->state = DOWN;
        note_down(rd, ac->errstr);
        schedule_connect(rd);
        return;
    }
    handshake(rd);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sl_redis *rd = ac->data;

    (void)status;
    if (!rd || rd->ac != ac)
        return; /* we dropped it ourselves */
    note_down(rd, ac->errstr[0] ? ac->errstr : "connection closed");
    rd->ac = NULL;
    rd->state = DOWN;
    schedule_connect(rd); /* from a timer: never a new context in this callback */
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sl_redis *rd = arg;

    (void)fd;
    (void)what;
    if (rd->state == CONNECTING || rd->state == HANDSHAKE)
        drop(rd, "connect timed out");
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sl_redis *rd = arg;
    uint64_t ct = rd->timeout_ms > CONNECT_TIMEOUT_MIN_MS ? rd->timeout_ms : CONNECT_TIMEOUT_MIN_MS;
    struct timeval tv = { (time_t)(ct / 1000), (suseconds_t)(ct % 1000) * 1000 };
    redisAsyncContext *ac;

    (void)fd;
    (void)what;
    if (rd->ac)
        return;
    ac = redisAsyncConnect(rd->addr, rd->target.port);
    if (!ac)
        goto later;
    if (ac->err) {
        redisAsyncFree(ac);
        goto later;
    }
    ac->data = rd;
    if (redisLibeventAttach(ac, rd->base) != REDIS_OK) {
        redisAsyncFree(ac);
        goto later;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rd->ac = ac;
    rd->state = CONNECTING;
    evtimer_add(rd->connect_timer, &tv);
    return;
later:
    schedule_connect(rd);
}

/* Full jitter over a doubling ceiling, so that workers and hosts do not reconnect in step. */
static void schedule_connect(struct sl_redis *rd)
{
    struct timeval tv;
    uint64_t ms;

    rd->backoff_ms = rd->backoff_ms ? rd->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (rd->backoff_ms > BACKOFF_MAX_MS)
        rd->backoff_ms = BACKOFF_MAX_MS;
    ms = rd->backoff_ms / 2 + sl_rng_u64() % (rd->backoff_ms / 2 + 1);
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(rd->retry_timer, &tv);
}

static int resolve(const char *host, char *out, size_t out_sz)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int rc;

    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res)
        return -ENOENT;
    if (res->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, out, (socklen_t)out_sz);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, out,
                  (socklen_t)out_sz);
    freeaddrinfo(res);
    return 0;
}

struct sl_redis *sl_redis_new(struct event_base *base, const struct sl_redis_target *t,
                              uint64_t timeout_ms, struct sl_metrics *m)
{
    struct sl_redis *rd = calloc(1, sizeof(*rd));

    if (!rd)
        return NULL;
    rd->base = base;
    rd->target = *t;
    rd->timeout_ms = timeout_ms ? timeout_ms : 100;
    rd->metrics = m;
    rd->loud = true;
    if (resolve(t->host, rd->addr, sizeof(rd->addr)) < 0) {
        sl_log_err("redis_resolve_failed", "cannot resolve the Redis host %s", t->host);
        free(rd);
        return NULL;
    }
    rd->retry_timer = evtimer_new(base, on_retry, rd);
    rd->connect_timer = evtimer_new(base, on_connect_timeout, rd);
    if (!rd->retry_timer || !rd->connect_timer) {
        sl_redis_free(rd);
        return NULL;
    }
    on_retry(-1, 0, rd);
    return rd;
}

void sl_redis_free(struct sl_redis *rd)
{
    redisAsyncContext *ac;

    if (!rd)
        return;
    ac = rd->ac;
    rd->ac = NULL;
    rd->state = DOWN;
    if (ac)
        redisAsyncFree(ac);
    /* Commands hiredis no longer knows of (none, normally) are answered too. */
    while (rd->pending)
        answer(rd->pending, NULL);
    if (rd->retry_timer)
        event_free(rd->retry_timer);
    if (rd->connect_timer)
        event_free(rd->connect_timer);
    free(rd);
}
