/* SPDX-License-Identifier: MIT */
/* worker.c - a worker's life: set up the loop after fork, serve, drain, exit. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "daemon/worker.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "admission/budget.h"
#include "core/clock.h"
#include "core/config.h"
#include "http/errors.h"
#include "api/routes.h"
#include "core/log.h"
#include "admission/redis.h"
#include "core/retry.h"
#include "core/rng.h"
#include "daemon/shm.h"
#include "admission/tenant_sync.h"
#include "upstream/client.h"

#define HEARTBEAT_MS 500
#define ACCEPT_RETRY_MS 500      /* nginx's accept_mutex_delay after EMFILE */
/* No new request for this long -> nothing accepted is still on its way.  A connection this
 * worker accepted just before it stopped accepting must have its request read by then. */
#define DRAIN_QUIET_MS 500
#define REDIS_GRACE_MS 2000
#define TRIM_AFTER_PEAK 1000          /* requests in flight at once: a burst worth trimming */
#define METRICS_TIMEOUT_MS 10000 /* the [metrics] listener's client timeout */

/* A connection reading a request head: from its first byte until evhttp has the whole head
 * (nginx's client_header_timeout).  evhttp's own timeout only measures inactivity, and every
 * byte re-arms it, so without this a client sending a byte a second holds a connection
 * forever.  It ends when the head is complete, when evhttp closes the connection (its close
 * callback, which is ours until the request is dispatched and stream.c's after), or at the
 * deadline. */
struct head_watch {
    struct sl_worker *w;
    struct evhttp_connection *evcon;
    int fd;
    struct event *deadline;
};

struct sl_worker {
    const struct sl_config *cfg;
    struct sl_shm *shm;
    struct sl_worker_slot *slot;
    uint32_t generation;
    int master_pid;
    int pid;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp *metrics_http;      /* [metrics] listen: /metrics only */
    struct evconnlistener *listeners[SL_MAX_LISTEN + 1];
    size_t nlisteners;
    struct event *sig_term, *heartbeat, *accept_retry, *drain_check;
    struct sl_upstream *upstream;
    struct sl_budget *budget;
    struct sl_tenant_sync *sync;
    struct event *ready_grace;        /* with Redis: accept without it after a while */
    bool ready;
    struct sl_retry_policy retry;
    bool draining;
    uint64_t drain_deadline_ms;
    uint64_t last_request_ms;
    unsigned inflight;
    unsigned inflight_peak;           /* since the last trim */
    unsigned unsent;          /* replies queued but not yet fully written */
    struct head_watch **heads;        /* by fd; NULL where no head is being read */
    size_t nheads;
};

static void watch_next_head(struct bufferevent *bev);

/* The worker of this process, for the callbacks whose argument libevent decides: evhttp
 * replaces a listener's argument with itself (so the accept error callback gets the evhttp),
 * and a new connection's first bytes are reported with the bufferevent.  A worker is one
 * single-threaded process. */
static struct sl_worker *self;

const struct sl_config *sl_worker_config(const struct sl_worker *w)
{
    return w->cfg;
}

struct event_base *sl_worker_base(const struct sl_worker *w)
{
    return w->base;
}

struct sl_upstream *sl_worker_upstream(const struct sl_worker *w)
{
    return w->upstream;
}

struct sl_budget *sl_worker_budget(const struct sl_worker *w)
{
    return w->budget;
}

struct sl_tenant_sync *sl_worker_tenant_sync(const struct sl_worker *w)
{
    return w->sync;
}

const struct sl_retry_policy *sl_worker_retry_policy(const struct sl_worker *w)
{
    return &w->retry;
}

bool sl_worker_is_draining(const struct sl_worker *w)
{
    return w->draining;
}

void sl_worker_request_started(struct sl_worker *w)
{
    if (++w->inflight > w->inflight_peak)
        w->inflight_peak = w->inflight;
    w->last_request_ms = sl_clock_mono_ms();
    atomic_store_explicit(&w->slot->inflight, w->inflight, memory_order_relaxed);
}

struct sl_shm *sl_worker_shm(const struct sl_worker *w)
{
    return w->shm;
}

struct sl_metrics *sl_worker_metrics(struct sl_worker *w)
{
    return &w->slot->metrics;
}

int sl_worker_render_metrics(struct sl_worker *w, struct sl_buf *out)
{
    return sl_metrics_render(w->shm, atomic_load(&w->shm->generation), out);
}

int sl_worker_pid(const struct sl_worker *w)
{
    return w->pid;
}

unsigned sl_worker_inflight(const struct sl_worker *w)
{
    return w->inflight;
}

/* After a burst (thousands of streams open at once) glibc keeps the freed memory: the worker
 * would stay at its peak RSS for good.  Give it back once the burst is over, from the loop,
 * not from inside a request's end. */
static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    malloc_trim(0);
}

void sl_worker_request_finished(struct sl_worker *w)
{
    if (w->inflight > 0)
        w->inflight--;
    if (w->inflight == 0 && w->inflight_peak >= TRIM_AFTER_PEAK) {
        w->inflight_peak = 0;
        event_base_once(w->base, -1, EV_TIMEOUT, on_trim, NULL, NULL);
    }
    atomic_store_explicit(&w->slot->inflight, w->inflight, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->slot->requests, 1, memory_order_relaxed);
}

static void on_reply_written(struct evhttp_request *req, void *arg)
{
    struct sl_worker *w = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    if (w->unsent > 0)
        w->unsent--;
    /* A kept-alive connection reads its next request head from here on. */
    if (evcon && evhttp_connection_get_bufferevent(evcon))
        watch_next_head(evhttp_connection_get_bufferevent(evcon));
}

void sl_worker_reply_queued(struct sl_worker *w, struct evhttp_request *req)
{
    w->unsent++;
    evhttp_request_set_on_complete_cb(req, on_reply_written, w);
}

void sl_worker_reply_abandoned(struct sl_worker *w)
{
    if (w->unsent > 0)
        w->unsent--;
}

static void set_listeners_enabled(struct sl_worker *w, bool on)
{
    size_t i;

    for (i = 0; i < w->nlisteners; i++) {
        if (on)
            evconnlistener_enable(w->listeners[i]);
        else
            evconnlistener_disable(w->listeners[i]);
    }
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;

    if (!w->draining)
        set_listeners_enabled(w, true);
}

/* accept() failed for a reason other than EAGAIN: usually EMFILE/ENFILE.  A level-triggered
 * listener would spin on the pending connection, so stop accepting for a moment. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct sl_worker *w = self;       /* arg is the evhttp the listener is bound to */
    struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
    int err = EVUTIL_SOCKET_ERROR();

    sl_log_err("accept_failed", "accept() failed: %s; pausing accepts for %d ms",
               strerror(err), ACCEPT_RETRY_MS);
    set_listeners_enabled(w, false);
    evtimer_add(w->accept_retry, &tv);
}

/* ---- the request-head deadline (struct head_watch) ---- */

static uint64_t head_timeout_ms(const struct sl_worker *w, struct evhttp_connection *evcon)
{
    return evhttp_connection_get_server(evcon) == w->metrics_http ? METRICS_TIMEOUT_MS
                                                                   : w->cfg->client_timeout_ms;
}

static void head_watch_free(struct head_watch *hw)
{
    if (hw->w->heads[hw->fd] == hw)
        hw->w->heads[hw->fd] = NULL;
    event_free(hw->deadline);
    free(hw);
}

static void on_head_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    head_watch_free(arg);
}

/* No 408: like evhttp's own timeout (and nginx), a client this slow just loses the
 * connection. */
static void on_head_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct head_watch *hw = arg;
    struct evhttp_connection *evcon = hw->evcon;

    sl_log_info("client_timeout", "request head not complete %llu ms after its first byte; "
                "closing the connection", (unsigned long long)head_timeout_ms(hw->w, evcon));
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    head_watch_free(hw);
    evhttp_connection_free(evcon);
}

/* Room for index fd in w->heads.  0 or -ENOMEM. */
static int heads_reserve(struct sl_worker *w, int fd)
{
    size_t n = w->nheads ? w->nheads : 256;
    struct head_watch **p;

    if ((size_t)fd < w->nheads)
        return 0;
    while (n <= (size_t)fd)
        n *= 2;
    p = realloc(w->heads, n * sizeof(*p));
    if (!p)
        return -ENOMEM;
    memset(p + w->nheads, 0, (n - w->nheads) * sizeof(*p));
    w->heads = p;
    w->nheads = n;
    return 0;
}

/* The first bytes of a request arrived on bev (an evhttp connection's, so its callback
 * argument is the connection): start the head deadline.  Without memory for it, the
 * connection goes without one; evhttp's inactivity timeout still applies. */
static void on_first_bytes(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct bufferevent *bev = arg;
    struct sl_worker *w = self;
    int fd = bufferevent_getfd(bev);
    struct head_watch *hw;
    struct timeval tv;
    void *evcon = NULL;
    uint64_t ms;

    if (info->n_added == 0)
        return;
    evbuffer_remove_cb(buf, on_first_bytes, bev);
    /* The usual case: the whole head came in this read, so there is nothing to time, and no
     * timer to allocate, arm and free for every request. */
    if (evbuffer_search(buf, "\r\n\r\n", 4, NULL).pos >= 0)
        return;
    bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
    if (!w || !evcon || fd < 0 || heads_reserve(w, fd) < 0 || w->heads[fd])
        return;
    if (!(hw = calloc(1, sizeof(*hw))))
        return;
    *hw = (struct head_watch){ .w = w, .evcon = evcon, .fd = fd };
    hw->deadline = evtimer_new(w->base, on_head_deadline, hw);
    if (!hw->deadline) {
        free(hw);
        return;
    }
    ms = head_timeout_ms(w, evcon);
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(hw->deadline, &tv);
    evhttp_connection_set_closecb(evcon, on_head_conn_closed, hw);
    w->heads[fd] = hw;
}

/* bev is about to read a request: its first bytes start the deadline.  Costs one callback
 * per read until then, nothing per byte. */
static void watch_next_head(struct bufferevent *bev)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    evbuffer_remove_cb(in, on_first_bytes, bev);
    (void)evbuffer_add_cb(in, on_first_bytes, bev);
}

/* The head is in, or the request is dispatched: no deadline from here on (the body is timed
 * by evhttp's inactivity timeout, as nginx's client_body_timeout).  The first-bytes watch
 * stops too, so that bytes pipelined behind this request cannot start a deadline, nor take
 * the close callback, while a route owns the connection. */
static void end_head_phase(struct sl_worker *w, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    int fd = bev ? bufferevent_getfd(bev) : -1;
    struct head_watch *hw;

    if (!bev)
        return;
    evbuffer_remove_cb(bufferevent_get_input(bev), on_first_bytes, bev);
    if (fd < 0 || (size_t)fd >= w->nheads || !(hw = w->heads[fd]) || hw->evcon != evcon)
        return;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    head_watch_free(hw);
}

/* evhttp's bevcb: the bufferevent evhttp would make itself, watched for its first bytes. */
static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

    if (bev)
        watch_next_head(bev);
    return bev;
}

/* http_errors.c's head hook: the head is complete, its body (if any) still to come. */
static void on_request_head(struct evhttp_request *req, void *arg)
{
    struct sl_worker *w = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    end_head_phase(w, evcon);
    sl_http_refuse_early(req, evhttp_connection_get_server(evcon) == w->metrics_http
                                  ? 0 : w->cfg->max_body_bytes);
}

/* The gencbs: the whole request is in.  The head phase ends here too, for a libevent whose
 * head hook does not take (no interposable symbols): its deadline then covers the body. */
static void on_request(struct evhttp_request *req, void *arg)
{
    if (evhttp_request_get_connection(req))
        end_head_phase(arg, evhttp_request_get_connection(req));
    sl_routes_dispatch(req, arg);
}

static void on_metrics_request(struct evhttp_request *req, void *arg)
{
    if (evhttp_request_get_connection(req))
        end_head_phase(arg, evhttp_request_get_connection(req));
    sl_routes_dispatch_metrics(req, arg);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;

    atomic_store_explicit(&w->slot->heartbeat_ms, sl_clock_mono_ms(), memory_order_relaxed);
    /* The master died without telling us (SIGKILL): nobody will ever drain us. */
    if (getppid() != w->master_pid && !w->draining)
        raise(SIGTERM);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;
    uint64_t now = sl_clock_mono_ms();
    struct timeval tv = { 0, 50 * 1000 };

    if (now >= w->drain_deadline_ms) {
        if (w->inflight || w->unsent)
            sl_log_warn("drain_timeout", "shutdown_timeout_ms passed with %u requests in flight "
                        "and %u replies not fully written", w->inflight, w->unsent);
        event_base_loopbreak(w->base);
        return;
    }
    /* Exit only once every reply has reached the kernel: a reply merely queued in a
     * bufferevent would be cut by exiting. */
    if (w->inflight == 0 && w->unsent == 0 && now - w->last_request_ms >= DRAIN_QUIET_MS) {
        event_base_loopbreak(w->base);
        return;
    }
    evtimer_add(w->drain_check, &tv);
}

static void on_sigterm(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;

    if (w->draining)
        return;
    w->draining = true;
    atomic_store(&w->slot->state, SL_WORKER_DRAINING);
    set_listeners_enabled(w, false);
    w->drain_deadline_ms = sl_clock_mono_ms() + w->cfg->shutdown_timeout_ms;
    sl_log_info("worker_draining", "stopped accepting; %u requests in flight", w->inflight);
    on_drain_check(-1, 0, w);
}

/* Signals: the master's SIGTERM drains.  SIGINT and SIGHUP also reach us from a terminal's
 * process group; only the master acts on them. */
static int setup_signals(struct sl_worker *w)
{
    struct sigaction sa = { .sa_handler = SIG_IGN };
    sigset_t all;

    /* The master's mask (signals blocked for its signalfd) is inherited: install the SIGTERM
     * handler first, so a drain request that is already pending is not fatal. */
    w->sig_term = evsignal_new(w->base, SIGTERM, on_sigterm, w);
    if (!w->sig_term || evsignal_add(w->sig_term, NULL) == -1)
        return -ENOMEM;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    return 0;
}

static int setup_http(struct sl_worker *w, const int *fds, size_t nfds)
{
    struct timeval tv;
    size_t i;

    w->http = evhttp_new(w->base);
    if (!w->http)
        return -ENOMEM;
    evhttp_set_max_headers_size(w->http, (ev_ssize_t)w->cfg->max_header_bytes);
    evhttp_set_max_body_size(w->http, (ev_ssize_t)w->cfg->max_body_bytes);
    tv.tv_sec = (time_t)(w->cfg->client_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(w->cfg->client_timeout_ms % 1000) * 1000;
    evhttp_set_timeout_tv(w->http, &tv);
    /* Let every method through so a 405 is ours (JSON with Allow), not evhttp's 501 page. */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                        EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    /* Drain an oversized body before closing, so the client reads the 413 instead of a
     * reset. */
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(w->http, on_request, w);
    evhttp_set_bevcb(w->http, on_new_connection, w);
    for (i = 0; i < nfds && i < SL_MAX_LISTEN; i++) {
        struct evconnlistener *l;

        l = evconnlistener_new(w->base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC, -1, fds[i]);
        if (!l)
            return -ENOMEM;
        evconnlistener_set_error_cb(l, on_accept_error);
        if (!evhttp_bind_listener(w->http, l)) {
            evconnlistener_free(l);
            return -ENOMEM;
        }
        w->listeners[w->nlisteners++] = l;
    }
    return 0;
}

/* A second evhttp on the [metrics] listener, serving nothing but /metrics. */
static int setup_metrics_http(struct sl_worker *w, int fd)
{
    struct evconnlistener *l;

    w->metrics_http = evhttp_new(w->base);
    if (!w->metrics_http)
        return -ENOMEM;
    evhttp_set_max_headers_size(w->metrics_http, (ev_ssize_t)w->cfg->max_header_bytes);
    evhttp_set_max_body_size(w->metrics_http, 0);
    evhttp_set_timeout(w->metrics_http, METRICS_TIMEOUT_MS / 1000);
    evhttp_set_allowed_methods(w->metrics_http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                               EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                               EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(w->metrics_http, on_metrics_request, w);
    evhttp_set_bevcb(w->metrics_http, on_new_connection, w);
    l = evconnlistener_new(w->base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!l)
        return -ENOMEM;
    evconnlistener_set_error_cb(l, on_accept_error);
    if (!evhttp_bind_listener(w->metrics_http, l)) {
        evconnlistener_free(l);
        return -ENOMEM;
    }
    w->listeners[w->nlisteners++] = l;
    return 0;
}

static int setup(struct sl_worker *w, const struct sl_worker_params *p)
{
    struct timeval hb = { 0, HEARTBEAT_MS * 1000 };
    int r;

    struct event_config *ec = event_config_new();

    /* libevent's default Linux clock is CLOCK_MONOTONIC_COARSE, a few ms coarse: a back-off
     * honouring the upstream's Retry-After could then fire early.  Precise costs nothing
     * measurable (vDSO either way). */
    if (!ec)
        return -ENOMEM;
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    /* Batch epoll_ctl changes per loop turn (8 -> 5 syscalls per request in scripts/bench).
     * Safe here: no descriptor in a worker is a dup() of another one it watches. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w->base)
        return -ENOMEM;
    if ((r = setup_signals(w)) < 0)
        return r;
    w->upstream = sl_upstream_new(w->base, w->cfg, p->api_key);
    if (!w->upstream)
        return -ENOMEM;
    /* With [redis] url: the connection, then the tenant table's poll on it. */
    w->budget = sl_budget_new(w->base, w->cfg, w->shm, &w->slot->metrics, w->pid);
    if (!w->budget)
        return -ENOMEM;
    if (sl_budget_redis(w->budget)) {
        w->sync = sl_tenant_sync_new(w->base, w->cfg, &w->shm->tenants,
                                     sl_budget_redis(w->budget), &w->slot->metrics);
        if (!w->sync)
            return -ENOMEM;
    }
    w->retry = (struct sl_retry_policy){
        .max_attempts = w->cfg->max_attempts,
        .request_timeout_ms = w->cfg->request_timeout_ms,
        .attempt_timeout_ms = w->cfg->attempt_timeout_ms,
        .backoff_base_ms = w->cfg->backoff_base_ms,
        .backoff_max_ms = w->cfg->backoff_max_ms,
        .retry_status = w->cfg->retry_status,
    };
    if ((r = setup_http(w, p->fds, p->nfds)) < 0)
        return r;
    if (p->metrics_fd >= 0 && w->nlisteners < SL_MAX_LISTEN + 1 &&
        (r = setup_metrics_http(w, p->metrics_fd)) < 0)
        return r;
    w->heartbeat = event_new(w->base, -1, EV_PERSIST, on_heartbeat, w);
    w->accept_retry = evtimer_new(w->base, on_accept_retry, w);
    w->drain_check = evtimer_new(w->base, on_drain_check, w);
    if (!w->heartbeat || !w->accept_retry || !w->drain_check)
        return -ENOMEM;
    evtimer_add(w->heartbeat, &hb);
    return 0;
}

static void teardown(struct sl_worker *w)
{
    /* evhttp_free frees the bound listeners (they do not own the shared fds). */
    if (w->http)
        evhttp_free(w->http);
    if (w->metrics_http)
        evhttp_free(w->metrics_http);
    free(w->heads);           /* emptied by the connections' close callbacks above */
    sl_upstream_free(w->upstream);
    /* The connection first: its pending commands are answered (as failed) while the tenant
     * sync they belong to still exists.  Settlements Redis has not taken stay journalled. */
    sl_budget_free(w->budget);
    sl_tenant_sync_free(w->sync);
    if (w->ready_grace)
        event_free(w->ready_grace);
    if (w->heartbeat)
        event_free(w->heartbeat);
    if (w->accept_retry)
        event_free(w->accept_retry);
    if (w->drain_check)
        event_free(w->drain_check);
    if (w->sig_term)
        event_free(w->sig_term);
    if (w->base)
        event_base_free(w->base);
}

static void become_ready(struct sl_worker *w)
{
    if (w->ready)
        return;
    w->ready = true;
    if (w->ready_grace)
        event_del(w->ready_grace);
    if (!w->draining)
        set_listeners_enabled(w, true);
    atomic_store(&w->slot->state, SL_WORKER_READY);
    sl_log_debug("worker_ready", "generation %u accepting", w->generation);
}

static void on_tenants_copied(void *arg, const char *status)
{
    (void)status;
    become_ready(arg);
}

static void on_redis_up(void *arg)
{
    struct sl_worker *w = arg;

    if (!w->ready && sl_tenant_sync_refresh(w->sync, on_tenants_copied, w) < 0)
        become_ready(w);
}

static void on_ready_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    become_ready(arg);
}

/* With Redis, accept once the connection is up and the tenant table copied: a request taken
 * before would go the fail_mode way (every new generation at every reload), or find no
 * tenant.  A Redis that is down at start delays accepting by REDIS_GRACE_MS only. */
static void await_store(struct sl_worker *w)
{
    struct timeval tv = { REDIS_GRACE_MS / 1000, (REDIS_GRACE_MS % 1000) * 1000 };
    struct sl_redis *rd = sl_budget_redis(w->budget);

    if (!rd || !w->sync || sl_redis_on_up(rd, on_redis_up, w) < 0 ||
        !(w->ready_grace = evtimer_new(w->base, on_ready_grace, w))) {
        become_ready(w);
        return;
    }
    set_listeners_enabled(w, false);
    evtimer_add(w->ready_grace, &tv);
}

int sl_worker_run(const struct sl_worker_params *p)
{
    struct sl_worker w = { 0 };
    int r;

    /* If the master is killed outright, take that as a drain request. */
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    (void)prctl(PR_SET_NAME, "sluiced-worker");
    sl_rng_seed();
    sl_log_init(p->cfg->log_level, "worker");
    self = &w;
    sl_http_errors_init(&w, on_request_head, &w);
    w.cfg = p->cfg;
    w.shm = p->shm;
    w.slot = &p->shm->workers[p->slot];
    w.generation = p->generation;
    w.master_pid = p->master_pid;
    w.pid = (int)getpid();
    atomic_store(&w.slot->pid, (int32_t)getpid());
    r = setup(&w, p);
    if (r < 0) {
        sl_log_err("worker_setup_failed", "worker setup failed: %s", strerror(-r));
        teardown(&w);
        sl_http_errors_init(NULL, NULL, NULL);
        self = NULL;
        return 1;
    }
    if (getppid() != p->master_pid)
        raise(SIGTERM);
    atomic_store(&w.slot->heartbeat_ms, sl_clock_mono_ms());
    await_store(&w);
    event_base_dispatch(w.base);
    sl_log_info("worker_exit", "served %llu requests",
                (unsigned long long)atomic_load(&w.slot->requests));
    teardown(&w);
    sl_http_errors_init(NULL, NULL, NULL);
    self = NULL;
    return 0;
}
