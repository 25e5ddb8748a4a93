/* SPDX-License-Identifier: MIT */
/* master.c - prefork supervision: spawn, reap, respawn, reload generations, graceful stop. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "daemon/master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/secret.h"
#include "admission/reservations.h"
#include "daemon/listen.h"
#include "daemon/sd_notify.h"
#include "daemon/shm.h"
#include "daemon/state.h"
#include "daemon/worker.h"

#define MAX_CHILDREN SL_SHM_WORKER_SLOTS
#define RESPAWN_MAX_DELAY_MS 10000
#define STABLE_AFTER_MS 5000   /* a worker that lived this long resets the crash streak */
#define START_GIVE_UP_STREAK 8 /* workers that never came up this often: give up */
#define RELOAD_READY_TIMEOUT_MS 10000
#define HEARTBEAT_STALE_MS 10000 /* a worker loop silent this long is wedged */
#define STOP_GRACE_MS 1000       /* beyond shutdown_timeout_ms before SIGKILL */
#define STATE_SAVE_MS 5000       /* how much usage a master crash can forget, at most */

extern char **environ;

struct child {
    pid_t pid;
    int slot;
    uint32_t generation;
    uint64_t started_ms;
    bool told_to_drain;
};

/* What a generation of workers is started with.  The serving one is installed; a reload
 * stages the next one beside it and installs it only once its workers accept, so a reload
 * that fails leaves nothing of itself behind. */
struct gen_set {
    uint32_t id;
    struct sl_config *cfg;
    char *api_key;
    struct sl_listener listeners[SL_MAX_LISTEN];
    size_t nlisteners;
    struct sl_listener metrics; /* [metrics] listen; fd -1 when not set */
};

struct master {
    struct gen_set cur;    /* serving */
    struct gen_set next;   /* staged by a reload in progress */
    struct sl_config *cfg; /* == cur.cfg */
    const char *cfg_path;
    struct sl_shm *shm;
    bool socket_activated;
    struct child children[MAX_CHILDREN];
    size_t nchildren;
    uint32_t generation;      /* == cur.id */
    uint32_t last_generation; /* ids are never reused */
    bool reloading;
    bool reload_pending; /* a SIGHUP came during a reload, or before READY */
    uint64_t reload_deadline_ms;
    bool announced_ready;
    unsigned crash_streak;
    uint64_t respawn_at_ms;
    bool stopping;
    unsigned stop_signals;
    uint64_t stop_deadline_ms;
    uint64_t watchdog_ms, next_watchdog_ms;
    uint64_t next_state_save_ms;
    int sigfd;
};

static size_t count_generation(const struct master *m, uint32_t gen)
{
    size_t i, n = 0;

    for (i = 0; i < m->nchildren; i++)
        if (m->children[i].generation == gen)
            n++;
    return n;
}

static bool generation_ready(const struct master *m, uint32_t gen, unsigned want)
{
    size_t i, ready = 0;

    for (i = 0; i < m->nchildren; i++) {
        const struct child *c = &m->children[i];

        if (c->generation == gen && atomic_load(&m->shm->workers[c->slot].state) == SL_WORKER_READY)
            ready++;
    }
    return ready >= want;
}

static void status_line(struct master *m, const char *what)
{
    sl_notifyf("STATUS=%s; %zu workers, generation %u", what, count_generation(m, m->generation),
               m->generation);
}

static bool in_set(const struct gen_set *g, int fd)
{
    size_t i;

    if (fd == g->metrics.fd)
        return true;
    for (i = 0; i < g->nlisteners; i++)
        if (g->listeners[i].fd == fd)
            return true;
    return false;
}

static void close_unless_in(const struct gen_set *from, const struct gen_set *g)
{
    size_t i;

    if (from->metrics.fd >= 0 && !in_set(g, from->metrics.fd))
        close(from->metrics.fd);
    for (i = 0; i < from->nlisteners; i++)
        if (from->listeners[i].fd >= 0 && !in_set(g, from->listeners[i].fd))
            close(from->listeners[i].fd);
}

/* In a new worker: the master's listening sockets that are not g's.  During a reload the
 * master holds two generations' sockets, and a worker that kept the other generation's would
 * keep it accepting (connections queued, never served) after the master closed it, and keep
 * its address from being bound again.  Plain close(): unlinking a unix socket's file is the
 * master's business. */
static void close_foreign_listeners(const struct master *m, const struct gen_set *g)
{
    if (g != &m->cur)
        close_unless_in(&m->cur, g);
    if (g != &m->next)
        close_unless_in(&m->next, g);
}

static int spawn_worker(struct master *m, const struct gen_set *g)
{
    struct sl_worker_params p = { 0 };
    int fds[SL_MAX_LISTEN];
    struct child *c;
    size_t i;
    pid_t pid;
    int slot;

    if (m->nchildren >= MAX_CHILDREN)
        return -ENOSPC;
    slot = sl_shm_slot_claim(m->shm, g->id);
    if (slot < 0)
        return slot;
    for (i = 0; i < g->nlisteners; i++)
        fds[i] = g->listeners[i].fd;
    /* Taken before fork: in the child, getppid() is already 1 if the master died meanwhile. */
    p.master_pid = (int)getpid();
    pid = fork();
    if (pid == -1) {
        int err = errno;

        sl_shm_slot_release(m->shm, slot);
        sl_log_err("fork_failed", "fork() failed: %s", strerror(err));
        return -err;
    }
    if (pid == 0) {
        close(m->sigfd);
        close_foreign_listeners(m, g);
        p.cfg = g->cfg;
        p.shm = m->shm;
        p.slot = slot;
        p.generation = g->id;
        p.fds = fds;
        p.nfds = g->nlisteners;
        p.metrics_fd = g->metrics.fd;
        p.api_key = g->api_key;
        _exit(sl_worker_run(&p));
    }
    atomic_store(&m->shm->workers[slot].pid, (int32_t)pid);
    c = &m->children[m->nchildren++];
    c->pid = pid;
    c->slot = slot;
    c->generation = g->id;
    c->started_ms = sl_clock_mono_ms();
    c->told_to_drain = false;
    return 0;
}

static void signal_generation(struct master *m, uint32_t gen, int sig)
{
    size_t i;

    for (i = 0; i < m->nchildren; i++) {
        struct child *c = &m->children[i];

        if (c->generation != gen)
            continue;
        if (sig == SIGTERM)
            c->told_to_drain = true;
        (void)kill(c->pid, sig);
    }
}

static void signal_all(struct master *m, int sig)
{
    size_t i;

    for (i = 0; i < m->nchildren; i++) {
        if (sig == SIGTERM)
            m->children[i].told_to_drain = true;
        (void)kill(m->children[i].pid, sig);
    }
}

static void log_exit(const struct child *c, int status)
{
    bool expected = c->told_to_drain && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    struct sl_log_line *l = sl_log_begin(expected ? SL_LOG_INFO : SL_LOG_ERR, "worker_exited");

    sl_log_int(l, "worker_pid", c->pid);
    sl_log_int(l, "generation", c->generation);
    if (WIFSIGNALED(status)) {
        sl_log_str(l, "signal", strsignal(WTERMSIG(status)));
    } else {
        sl_log_int(l, "exit_status", WEXITSTATUS(status));
    }
    sl_log_end(l);
}

static void reap(struct master *m)
{
    uint64_t now = sl_clock_mono_ms();
    int status;
    pid_t pid;
    size_t i;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < m->nchildren; i++)
            if (m->children[i].pid == pid)
                break;
        if (i == m->nchildren)
            continue;
        struct child c = m->children[i];

        m->children[i] = m->children[--m->nchildren];
        sl_shm_slot_release(m->shm, c.slot);
        log_exit(&c, status);
        unsigned held = sl_tenants_reap(&m->shm->tenants, c.pid, sl_clock_mono_ms(),
                                        (int64_t)(sl_clock_wall_ms() / 1000));
        if (held)
            sl_log_warn("reservations_reaped", "worker %d held %u reservations; charged in full",
                        (int)c.pid, held);
        if (c.told_to_drain || m->stopping ||
            (c.generation != m->generation && !(m->reloading && c.generation == m->next.id)))
            continue;
        /* An unexpected death in the serving generation: replace it, at once the first
         * time, with a growing delay while workers keep dying young. */
        atomic_fetch_add(&m->shm->workers_restarted, 1);
        if (now - c.started_ms >= STABLE_AFTER_MS)
            m->crash_streak = 0;
        m->crash_streak++;
        if (m->crash_streak <= 1) {
            m->respawn_at_ms = now;
        } else {
            uint64_t d = 100u << (m->crash_streak < 9 ? m->crash_streak - 2 : 7);

            m->respawn_at_ms = now + (d > RESPAWN_MAX_DELAY_MS ? RESPAWN_MAX_DELAY_MS : d);
        }
    }
}

static int open_listeners(struct master *m, const struct sl_config *cfg, struct sl_listener *out,
                          size_t *nout)
{
    char err[256], where[300];
    bool fresh[SL_MAX_LISTEN];
    size_t i, j;

    *nout = 0;
    for (i = 0; i < cfg->nlisten && i < SL_MAX_LISTEN; i++) {
        int fd = -1;

        /* A socket we already have stays: rebinding it would fail, and keeping it means
         * no connection is refused across a reload. */
        for (j = 0; j < m->cur.nlisteners; j++)
            if (m->cur.listeners[j].fd >= 0 &&
                sl_listen_spec_equal(&m->cur.listeners[j].spec, &cfg->listen[i]))
                fd = m->cur.listeners[j].fd;
        if (fd < 0) {
            fd = sl_listen_open(&cfg->listen[i], err, sizeof(err));
            if (fd < 0) {
                sl_listen_spec_format(&cfg->listen[i], where, sizeof(where));
                sl_log_err("listen_failed", "%s: %s", where, err);
                for (j = 0; j < *nout; j++)
                    if (fresh[j])
                        sl_listen_close(&out[j]);
                return fd;
            }
            fresh[*nout] = true;
        } else {
            fresh[*nout] = false;
        }
        out[*nout].fd = fd;
        out[*nout].from_systemd = false;
        out[*nout].spec = cfg->listen[i];
        (*nout)++;
    }
    return 0;
}

/* The [metrics] listener: the serving one when the address did not change. */
static int open_metrics(struct master *m, const struct sl_config *cfg, struct gen_set *g)
{
    char err[256];

    g->metrics.fd = -1;
    if (!cfg->has_metrics_listen)
        return 0;
    g->metrics.spec = cfg->metrics_listen;
    g->metrics.from_systemd = false;
    if (m->cur.metrics.fd >= 0 && m->cur.cfg && m->cur.cfg->has_metrics_listen &&
        sl_listen_spec_equal(&m->cur.metrics.spec, &cfg->metrics_listen)) {
        g->metrics.fd = m->cur.metrics.fd;
        return 0;
    }
    g->metrics.fd = sl_listen_open(&cfg->metrics_listen, err, sizeof(err));
    if (g->metrics.fd < 0) {
        sl_log_err("listen_failed", "[metrics] listen: %s", err);
        return -1;
    }
    return 0;
}

/* Close the listeners of a that b does not share (by fd). */
static void close_unshared(struct gen_set *a, const struct gen_set *b)
{
    size_t i, j;

    if (a->metrics.fd >= 0 && a->metrics.fd != b->metrics.fd)
        sl_listen_close(&a->metrics);
    a->metrics.fd = -1;

    for (i = 0; i < a->nlisteners; i++) {
        bool shared = false;

        for (j = 0; j < b->nlisteners; j++)
            shared |= b->listeners[j].fd == a->listeners[i].fd;
        if (!shared && !a->listeners[i].from_systemd)
            sl_listen_close(&a->listeners[i]);
    }
    a->nlisteners = 0;
}

static void gen_set_done(struct gen_set *g)
{
    sl_config_free(g->cfg);
    sl_secret_free(g->api_key);
    g->cfg = NULL;
    g->api_key = NULL;
    g->nlisteners = 0;
}

static void save_state(struct master *m)
{
    char err[512];

    if (!m->cfg->state_file || !*m->cfg->state_file)
        return;
    if (sl_state_save(&m->shm->tenants, m->cfg->state_file, sl_clock_mono_ms(),
                      (int64_t)(sl_clock_wall_ms() / 1000), err, sizeof(err)) < 0)
        sl_log_err("state_save_failed", "%s; will try again", err);
}

static void load_state(struct master *m)
{
    char err[512];

    if (!m->cfg->state_file || !*m->cfg->state_file)
        return;
    if (sl_state_load(&m->shm->tenants, m->cfg->state_file, (int64_t)(sl_clock_wall_ms() / 1000),
                      err, sizeof(err)) < 0)
        sl_log_err("state_load_failed", "%s; starting without it", err);
    else
        sl_log_info("state_loaded", "%s", m->cfg->state_file);
}

static int apply_tenants(struct master *m, const struct sl_config *cfg)
{
    char err[256];
    int r = sl_tenants_apply_config(&m->shm->tenants, cfg, (int64_t)(sl_clock_wall_ms() / 1000),
                                    err, sizeof(err));

    if (r < 0)
        sl_log_err("tenants", "%s", err);
    return r;
}

/* The policies' counters, by name, before any worker of cfg can count (guard_metrics.h). */
static void name_guard_policies(struct master *m, const struct sl_config *cfg)
{
    const char *names[SL_GUARD_MAX_POLICIES];
    size_t i, n = cfg->nguards < SL_GUARD_MAX_POLICIES ? cfg->nguards : SL_GUARD_MAX_POLICIES;

    for (i = 0; i < n; i++)
        names[i] = cfg->guards[i]->name;
    if (sl_guard_metrics_name(&m->shm->guard, names, n) > 0)
        sl_log_warn("guard_metrics", "more input-guard policy names than metric slots since "
                                     "start; restart to count the new ones");
}

static void log_config_errors(const char *errs)
{
    const char *p = errs, *nl;

    while (p && *p) {
        nl = strchr(p, '\n');
        sl_log_err("config_error", "%.*s", (int)(nl ? nl - p : (ptrdiff_t)strlen(p)), p);
        p = nl ? nl + 1 : NULL;
    }
}

/* The shared tables were sized at start and every worker holds pointers into them: like
 * nginx with a resized shared zone, a reload that would change their sizes is refused. */
static bool same_table_sizes(const struct sl_shm *shm, const struct sl_config *cfg)
{
    const struct sl_tenants *t = &shm->tenants;

    if (cfg->max_tenants == t->max_tenants && cfg->max_keys == t->max_keys &&
        cfg->max_reservations == t->max_resv && cfg->max_responses == shm->owners.capacity)
        return true;
    sl_log_err("reload_failed",
               "[state] max_tenants, max_keys, max_reservations or [v1] max_responses changed "
               "(%u, %u, %u, %u -> %u, %u, %u, %u): the shared tables are sized at start; "
               "restart sluiced to apply; keeping the running configuration",
               t->max_tenants, t->max_keys, t->max_resv, shm->owners.capacity, cfg->max_tenants,
               cfg->max_keys, cfg->max_reservations, cfg->max_responses);
    return false;
}

static void begin_reload(struct master *m)
{
    struct gen_set *n = &m->next;
    char *errs = NULL;

    if (m->stopping)
        return;
    if (m->reloading || !m->announced_ready) {
        /* Coalesced: one more reload runs, with whatever the file says then. */
        m->reload_pending = true;
        return;
    }
    m->reload_pending = false;
    sl_notify("RELOADING=1");
    if (sl_config_load(m->cfg_path, environ, &n->cfg, &errs) < 0) {
        log_config_errors(errs);
        sl_log_err("reload_failed", "%s is invalid; keeping the running configuration",
                   m->cfg_path);
        free(errs);
        sl_notify("READY=1\nSTATUS=reload failed: invalid configuration; still serving");
        return;
    }
    if (!same_table_sizes(m->shm, n->cfg)) {
        gen_set_done(n);
        sl_notify("READY=1\nSTATUS=reload failed: [state] table sizes changed; still serving");
        return;
    }
    if (sl_master_load_key(n->cfg, &n->api_key) < 0) {
        gen_set_done(n);
        sl_notify("READY=1\nSTATUS=reload failed: no upstream API key; still serving");
        return;
    }
    if (m->socket_activated) {
        memcpy(n->listeners, m->cur.listeners, sizeof(n->listeners));
        n->nlisteners = m->cur.nlisteners;
    } else if (open_listeners(m, n->cfg, n->listeners, &n->nlisteners) < 0) {
        gen_set_done(n);
        sl_notify("READY=1\nSTATUS=reload failed: cannot listen; still serving");
        return;
    }
    if (open_metrics(m, n->cfg, n) < 0) {
        close_unshared(n, &m->cur);
        gen_set_done(n);
        sl_notify("READY=1\nSTATUS=reload failed: cannot listen; still serving");
        return;
    }
    name_guard_policies(m, n->cfg);
    n->id = ++m->last_generation;
    m->reloading = true;
    m->reload_deadline_ms = sl_clock_mono_ms() + RELOAD_READY_TIMEOUT_MS;
    sl_log_notice("reload", "configuration valid; starting generation %u", n->id);
}

static void finish_reload(struct master *m, bool ok)
{
    struct gen_set old;

    m->reloading = false;
    if (!ok) {
        /* The new generation never came up: stop it, undo everything it brought. */
        signal_generation(m, m->next.id, SIGTERM);
        close_unshared(&m->next, &m->cur);
        gen_set_done(&m->next);
        sl_log_err("reload_failed", "new workers did not become ready; old ones keep serving");
        sl_notify("READY=1");
        status_line(m, "reload failed; serving");
        return;
    }
    signal_generation(m, m->cur.id, SIGTERM);
    old = m->cur;
    m->cur = m->next;
    memset(&m->next, 0, sizeof(m->next));
    m->next.metrics.fd = -1;
    close_unshared(&old, &m->cur);
    gen_set_done(&old);
    m->cfg = m->cur.cfg;
    m->generation = m->cur.id;
    m->crash_streak = 0;
    m->respawn_at_ms = 0;
    sl_log_set_level(m->cfg->log_level);
    sl_breaker_configure(&m->shm->breaker, m->cfg->failure_threshold, m->cfg->open_ms,
                         m->cfg->half_open_probes);
    (void)apply_tenants(m, m->cfg);
    atomic_store(&m->shm->generation, m->generation);
    sl_log_notice("reload_done", "generation %u serving", m->generation);
    sl_notify("READY=1");
    status_line(m, "serving");
}

static void begin_stop(struct master *m, int sig)
{
    m->stop_signals++;
    if (m->stopping) {
        /* A second SIGINT (Ctrl-C twice) means now. */
        if (sig == SIGINT)
            signal_all(m, SIGKILL);
        return;
    }
    m->stopping = true;
    if (m->reloading) {
        m->reloading = false;
        close_unshared(&m->next, &m->cur);
        gen_set_done(&m->next);
    }
    m->stop_deadline_ms = sl_clock_mono_ms() + m->cfg->shutdown_timeout_ms + STOP_GRACE_MS;
    sl_notify("STOPPING=1\nSTATUS=stopping: draining requests");
    sl_log_notice("stopping", "%s: draining %zu workers", strsignal(sig), m->nchildren);
    signal_all(m, SIGTERM);
}

static void handle_signals(struct master *m)
{
    struct signalfd_siginfo si;

    while (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD: reap(m); break;
        case SIGTERM:
        case SIGINT: begin_stop(m, (int)si.ssi_signo); break;
        case SIGHUP: begin_reload(m); break;
        case SIGUSR1:
            /* Logs go to stderr, which the service manager owns: nothing to reopen. */
            sl_log_notice("reopen_logs", "SIGUSR1: logging to stderr, nothing to reopen");
            break;
        }
    }
}

/* Kill workers whose loop stopped beating (an infinite loop, a deadlock). */
static void check_heartbeats(struct master *m, uint64_t now)
{
    size_t i;

    for (i = 0; i < m->nchildren; i++) {
        struct child *c = &m->children[i];
        struct sl_worker_slot *s = &m->shm->workers[c->slot];
        uint64_t hb = atomic_load(&s->heartbeat_ms);

        uint32_t st = atomic_load(&s->state);

        /* A worker stuck before READY would hold up READY=1 or a reload just the same. */
        if ((st == SL_WORKER_READY || st == SL_WORKER_STARTING) && now > hb + HEARTBEAT_STALE_MS) {
            sl_log_err("worker_wedged", "worker %d silent for %llu ms; killing it", (int)c->pid,
                       (unsigned long long)(now - hb));
            (void)kill(c->pid, SIGKILL);
        }
    }
}

static void top_up(struct master *m, const struct gen_set *g, uint64_t now)
{
    while (!m->stopping && count_generation(m, g->id) < g->cfg->workers &&
           now >= m->respawn_at_ms) {
        if (spawn_worker(m, g) < 0) {
            m->respawn_at_ms = now + 1000;
            break;
        }
    }
}

static void top_up_workers(struct master *m, uint64_t now)
{
    top_up(m, &m->cur, now);
    if (m->reloading)
        top_up(m, &m->next, now);
}

static int poll_timeout(const struct master *m, uint64_t now)
{
    uint64_t t = now + 1000;

    if (!m->announced_ready || m->reloading)
        t = now + 10;
    if (count_generation(m, m->generation) < m->cfg->workers && m->respawn_at_ms < t)
        t = m->respawn_at_ms > now ? m->respawn_at_ms : now;
    if (m->watchdog_ms && m->next_watchdog_ms < t)
        t = m->next_watchdog_ms;
    if (m->stopping && m->stop_deadline_ms < t)
        t = m->stop_deadline_ms;
    return t > now ? (int)(t - now) : 0;
}

static int loop(struct master *m)
{
    struct pollfd pfd = { .fd = m->sigfd, .events = POLLIN };

    for (;;) {
        uint64_t now = sl_clock_mono_ms();

        if (m->stopping && m->nchildren == 0)
            return 0;
        if (m->stopping && now >= m->stop_deadline_ms) {
            sl_log_err("stop_timeout", "workers still running after shutdown_timeout_ms; "
                                       "killing them");
            signal_all(m, SIGKILL);
            m->stop_deadline_ms = now + 1000;
        }
        top_up_workers(m, now);
        if (!m->announced_ready && generation_ready(m, m->generation, m->cfg->workers)) {
            m->announced_ready = true;
            atomic_store(&m->shm->generation, m->generation);
            sl_notify("READY=1");
            status_line(m, "serving");
            sl_log_notice("ready", "%u workers accepting", m->cfg->workers);
        }
        if (!m->announced_ready && m->crash_streak >= START_GIVE_UP_STREAK) {
            sl_log_err("start_failed", "workers keep failing at start; giving up");
            signal_all(m, SIGKILL);
            return 1;
        }
        if (m->reloading && !m->stopping) {
            if (generation_ready(m, m->next.id, m->next.cfg->workers))
                finish_reload(m, true);
            else if (now >= m->reload_deadline_ms)
                finish_reload(m, false);
        }
        if (m->reload_pending && !m->reloading && m->announced_ready && !m->stopping)
            begin_reload(m);
        if (now >= m->next_state_save_ms) {
            save_state(m);
            m->next_state_save_ms = now + STATE_SAVE_MS;
        }
        if (m->watchdog_ms && now >= m->next_watchdog_ms) {
            sl_notify("WATCHDOG=1");
            m->next_watchdog_ms = now + m->watchdog_ms / 2;
        }
        check_heartbeats(m, now);
        if (poll(&pfd, 1, poll_timeout(m, sl_clock_mono_ms())) > 0)
            handle_signals(m);
    }
}

static int setup_signals(struct master *m)
{
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigset_t set;

    sigaction(SIGPIPE, &ign, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
        return -errno;
    m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return m->sigfd == -1 ? -errno : 0;
}

int sl_master_load_key(const struct sl_config *cfg, char **api_key)
{
    char source[300], err[512];
    int r;

    /* The key travels in a header: only TLS may carry it off this host.  config_set.c refuses
     * such a base_url already, with file and line; this stays as the last line. */
    if (strncmp(cfg->base_url, "https://", 8) != 0 && !sl_secret_url_is_local(cfg->base_url)) {
        sl_log_err("config_error", "base_url must be https:// unless it is on this host: "
                                   "the API key would travel in cleartext");
        return -EINVAL;
    }
    r = sl_secret_load(cfg, api_key, source, sizeof(source), err, sizeof(err));
    if (r == 0) {
        sl_log_info("api_key", "upstream API key from %s", source);
        return 0;
    }
    if (r == -ENOENT && sl_secret_url_is_local(cfg->base_url)) {
        sl_log_notice("api_key", "no upstream API key; %s is local, sending none", cfg->base_url);
        *api_key = NULL;
        return 0;
    }
    sl_log_err("api_key", "%s", err);
    return r;
}

/* A worker holds a descriptor per client connection and per upstream connection, and the
 * default soft limit (1024) would cap it far below max_inflight; the hard limit is what the
 * administrator allows.  Set in the master, so every worker inherits it.  Nothing in sluice
 * uses select(), so descriptors above 1024 are harmless. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
            sl_log_warn("rlimit", "setrlimit(RLIMIT_NOFILE, %llu) failed: %s, ignoring",
                        (unsigned long long)rl.rlim_max, strerror(errno));
            return;
        }
        sl_log_debug("rlimit", "RLIMIT_NOFILE raised from %llu to %llu", (unsigned long long)was,
                     (unsigned long long)rl.rlim_cur);
        return;
    }
    sl_log_debug("rlimit", "RLIMIT_NOFILE is %llu", (unsigned long long)rl.rlim_cur);
}

int sl_master_run(struct sl_config *cfg, const char *cfg_path, char *api_key)
{
    static struct master m; /* large (the child table); not on the stack */
    char where[300];
    size_t i;
    int n, r;

    m.cur.metrics.fd = -1;
    m.next.metrics.fd = -1;
    m.cfg = m.cur.cfg = cfg;
    m.cur.api_key = api_key;
    m.cfg_path = cfg_path;
    m.generation = m.cur.id = m.last_generation = 1;
    raise_nofile();
    if (setup_signals(&m) < 0) {
        sl_log_err("start_failed", "signal setup failed: %s", strerror(errno));
        return 1;
    }
    n = sl_listen_from_systemd(m.cur.listeners, SL_MAX_LISTEN);
    if (n > 0) {
        m.cur.nlisteners = (size_t)n;
        m.socket_activated = true;
        sl_log_notice("listen", "using %d socket(s) passed by systemd; [server] listen ignored", n);
    } else if (open_listeners(&m, cfg, m.cur.listeners, &m.cur.nlisteners) < 0) {
        return 1;
    } else {
        for (i = 0; i < m.cur.nlisteners; i++) {
            sl_listen_spec_format(&m.cur.listeners[i].spec, where, sizeof(where));
            sl_log_notice("listen", "listening on %s", where);
        }
    }
    if (open_metrics(&m, cfg, &m.cur) < 0)
        return 1;
    m.shm =
        sl_shm_create(cfg->max_tenants, cfg->max_keys, cfg->max_reservations, cfg->max_responses);
    if (!m.shm) {
        sl_log_err(
            "start_failed",
            "the shared region (%zu bytes for [state] max_tenants, max_keys, "
            "max_reservations and [v1] max_responses) could not be made: %s",
            sizeof(struct sl_shm) +
                sl_tenants_arrays_size(cfg->max_tenants, cfg->max_keys, cfg->max_reservations) +
                sl_ownership_shm_size(cfg->max_responses),
            strerror(errno));
        return 1;
    }
    atomic_store(&m.shm->generation, m.generation);
    sl_breaker_init(&m.shm->breaker, cfg->failure_threshold, cfg->open_ms, cfg->half_open_probes);
    if (apply_tenants(&m, cfg) < 0)
        return 1;
    name_guard_policies(&m, cfg);
    load_state(&m);
    m.next_state_save_ms = sl_clock_mono_ms() + STATE_SAVE_MS;
    m.watchdog_ms = sl_notify_watchdog_ms();
    m.next_watchdog_ms = sl_clock_mono_ms();
    r = loop(&m);
    /* Every worker is gone: their reservations are settled, the counters final. */
    save_state(&m);
    for (i = 0; i < m.cur.nlisteners; i++)
        sl_listen_close(&m.cur.listeners[i]);
    if (m.cur.metrics.fd >= 0)
        sl_listen_close(&m.cur.metrics);
    sl_shm_destroy(m.shm);
    gen_set_done(&m.next);
    gen_set_done(&m.cur);
    sl_log_notice("exit", "master exiting with status %d", r);
    return r;
}
