/* SPDX-License-Identifier: MIT */
/* worker.c - a worker's life: set up the loop after fork, serve, drain, exit. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "daemon/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/retry.h"
#include "core/rng.h"
#include "admission/auth_cache.h"
#include "admission/budget.h"
#include "admission/ownership.h"
#include "admission/redis.h"
#include "admission/tenant_sync.h"
#include "upstream/client.h"
#include "http/front.h"
#include "http/serve.h"
#include "api/routes.h"
#include "daemon/metrics_render.h"
#include "daemon/shm.h"

#define HEARTBEAT_MS 500
/* No new request for this long -> nothing accepted is still on its way.  A connection this
 * worker accepted just before it stopped accepting must have its request read by then. */
#define DRAIN_QUIET_MS 500
#define REDIS_GRACE_MS 2000

struct sl_worker {
    const struct sl_config *cfg;
    struct sl_shm *shm;
    struct sl_worker_slot *slot;
    uint32_t generation;
    int master_pid;
    struct sl_serve serve; /* what its requests reach */
    struct sl_front *front;
    struct event *sig_term, *heartbeat, *drain_check;
    struct event *ready_grace; /* with Redis: accept without it after a while */
    bool ready;
    struct sl_retry_policy retry;
    uint64_t drain_deadline_ms;
};

static int render_metrics(void *owner, struct sl_buf *out)
{
    struct sl_worker *w = owner;

    return sl_metrics_render(w->shm, atomic_load(&w->shm->generation), out);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;

    atomic_store_explicit(&w->slot->heartbeat_ms, sl_clock_mono_ms(), memory_order_relaxed);
    /* The master died without telling us (SIGKILL): nobody will ever drain us. */
    if (getppid() != w->master_pid && !w->serve.draining)
        raise(SIGTERM);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;
    const struct sl_serve *s = &w->serve;
    uint64_t now = sl_clock_mono_ms();
    struct timeval tv = { 0, 50 * 1000 };

    if (now >= w->drain_deadline_ms) {
        if (s->inflight || s->unsent)
            sl_log_warn("drain_timeout",
                        "shutdown_timeout_ms passed with %u requests in flight "
                        "and %u replies not fully written",
                        s->inflight, s->unsent);
        event_base_loopbreak(s->base);
        return;
    }
    /* Exit only once every reply has reached the kernel: a reply merely queued in a
     * bufferevent would be cut by exiting. */
    if (s->inflight == 0 && s->unsent == 0 && now - s->last_request_ms >= DRAIN_QUIET_MS) {
        event_base_loopbreak(s->base);
        return;
    }
    evtimer_add(w->drain_check, &tv);
}

static void on_sigterm(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;

    if (w->serve.draining)
        return;
    w->serve.draining = true;
    atomic_store(&w->slot->state, SL_WORKER_DRAINING);
    sl_front_accept(w->front, false);
    w->drain_deadline_ms = sl_clock_mono_ms() + w->cfg->shutdown_timeout_ms;
    sl_log_info("worker_draining", "stopped accepting; %u requests in flight", w->serve.inflight);
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
    w->sig_term = evsignal_new(w->serve.base, SIGTERM, on_sigterm, w);
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

static struct event_base *new_base(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *base;

    if (!ec)
        return NULL;
    /* libevent's default Linux clock is CLOCK_MONOTONIC_COARSE, a few ms coarse: a back-off
     * honouring the upstream's Retry-After could then fire early.  Precise costs nothing
     * measurable (vDSO either way). */
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    /* Batch epoll_ctl changes per loop turn (8 -> 5 syscalls per request in scripts/bench).
     * Safe here: no descriptor in a worker is a dup() of another one it watches. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

/* What requests reach (http/serve.h), in the order each needs the one before: the loop, the
 * upstream client, the budget store and with Redis the tenant table's copy. */
static int setup_serve(struct sl_worker *w, const struct sl_worker_params *p)
{
    struct sl_serve *s = &w->serve;

    s->cfg = w->cfg;
    s->metrics = &w->slot->metrics;
    s->tenants = &w->shm->tenants;
    s->guard_counters = &w->shm->guard;
    s->breaker = &w->shm->breaker;
    s->retry = &w->retry;
    s->pid = (int)getpid();
    s->render_metrics = render_metrics;
    s->owner = w;
    s->inflight_gauge = &w->slot->inflight;
    s->served = &w->slot->requests;
    /* Without one (no memory, no randomness) every key is hashed, as it always may be. */
    s->auth_cache = sl_auth_cache_new();
    s->upstream = sl_upstream_new(s->base, w->cfg, p->api_key);
    if (!s->upstream)
        return -ENOMEM;
    s->budget = sl_budget_new(s->base, w->cfg, s->tenants, s->metrics, s->pid);
    if (!s->budget)
        return -ENOMEM;
    if (sl_budget_redis(s->budget)) {
        s->tenant_sync =
            sl_tenant_sync_new(s->base, w->cfg, s->tenants, sl_budget_redis(s->budget), s->metrics);
        if (!s->tenant_sync)
            return -ENOMEM;
    }
    s->owners = sl_ownership_new(&w->shm->owners, sl_budget_redis(s->budget), w->cfg->redis_prefix,
                                 w->cfg->response_ttl_s);
    if (!s->owners)
        return -ENOMEM;
    return 0;
}

static int setup(struct sl_worker *w, const struct sl_worker_params *p)
{
    struct timeval hb = { 0, HEARTBEAT_MS * 1000 };
    int r;

    w->serve.base = new_base();
    if (!w->serve.base)
        return -ENOMEM;
    if ((r = setup_signals(w)) < 0)
        return r;
    w->retry = (struct sl_retry_policy){
        .max_attempts = w->cfg->max_attempts,
        .request_timeout_ms = w->cfg->request_timeout_ms,
        .attempt_timeout_ms = w->cfg->attempt_timeout_ms,
        .backoff_base_ms = w->cfg->backoff_base_ms,
        .backoff_max_ms = w->cfg->backoff_max_ms,
        .retry_status = w->cfg->retry_status,
    };
    if ((r = setup_serve(w, p)) < 0)
        return r;
    w->front = sl_front_new(&w->serve, p->fds, p->nfds, p->metrics_fd, sl_routes_dispatch,
                            sl_routes_dispatch_metrics);
    if (!w->front)
        return -ENOMEM;
    w->heartbeat = event_new(w->serve.base, -1, EV_PERSIST, on_heartbeat, w);
    w->drain_check = evtimer_new(w->serve.base, on_drain_check, w);
    if (!w->heartbeat || !w->drain_check)
        return -ENOMEM;
    evtimer_add(w->heartbeat, &hb);
    return 0;
}

static void teardown(struct sl_worker *w)
{
    /* The front first: its connections, and the requests they hold, go with it. */
    sl_front_free(w->front);
    sl_upstream_free(w->serve.upstream);
    /* The connection first: its pending commands are answered (as failed) while the tenant
     * sync they belong to still exists.  Settlements Redis has not taken stay journalled. */
    sl_budget_free(w->serve.budget);
    sl_tenant_sync_free(w->serve.tenant_sync);
    sl_ownership_free(w->serve.owners);
    sl_auth_cache_free(w->serve.auth_cache);
    if (w->ready_grace)
        event_free(w->ready_grace);
    if (w->heartbeat)
        event_free(w->heartbeat);
    if (w->drain_check)
        event_free(w->drain_check);
    if (w->sig_term)
        event_free(w->sig_term);
    if (w->serve.base)
        event_base_free(w->serve.base);
}

static void become_ready(struct sl_worker *w)
{
    if (w->ready)
        return;
    w->ready = true;
    if (w->ready_grace)
        event_del(w->ready_grace);
    if (!w->serve.draining)
        sl_front_accept(w->front, true);
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

    if (!w->ready && sl_tenant_sync_refresh(w->serve.tenant_sync, on_tenants_copied, w) < 0)
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
    struct sl_redis *rd = sl_budget_redis(w->serve.budget);

    if (!rd || !w->serve.tenant_sync || sl_redis_on_up(rd, on_redis_up, w) < 0 ||
        !(w->ready_grace = evtimer_new(w->serve.base, on_ready_grace, w))) {
        become_ready(w);
        return;
    }
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
    w.cfg = p->cfg;
    w.shm = p->shm;
    w.slot = &p->shm->workers[p->slot];
    w.generation = p->generation;
    w.master_pid = p->master_pid;
    atomic_store(&w.slot->pid, (int32_t)getpid());
    r = setup(&w, p);
    if (r < 0) {
        sl_log_err("worker_setup_failed", "worker setup failed: %s", strerror(-r));
        teardown(&w);
        return 1;
    }
    if (getppid() != p->master_pid)
        raise(SIGTERM);
    atomic_store(&w.slot->heartbeat_ms, sl_clock_mono_ms());
    await_store(&w);
    event_base_dispatch(w.serve.base);
    sl_log_info("worker_exit", "served %llu requests",
                (unsigned long long)atomic_load(&w.slot->requests));
    teardown(&w);
    return 0;
}
