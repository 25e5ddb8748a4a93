/* SPDX-License-Identifier: MIT */
/* Tests for the circuit breaker: the state table on an injected clock, and forked workers
 * racing on one breaker in shared memory. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/breaker.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_STEPS 24
#define NOT_WRITTEN UINT64_C(0xdeadbeef)
#define ANY (-1)

_Static_assert(sizeof(struct sl_breaker) == 64, "one cache line per breaker");

/* ---- the state table ---- */

enum op { END = 0, ALLOW, OK, FAIL, PAUSE, LOOK };

/* One step: do op at time t (arg: pause until), then check.  For ALLOW, want is the result
 * and retry the expected *retry_after_ms when refused.  state is checked unless ANY. */
struct step {
    enum op op;
    uint64_t t;
    uint64_t arg;
    int want;
    uint64_t retry;
    int state;
};

struct table_case {
    char name[48];
    unsigned threshold;
    uint64_t open_ms;
    unsigned probes;
    struct step steps[MAX_STEPS];
};

#define C SL_BREAKER_CLOSED
#define O SL_BREAKER_OPEN
#define H SL_BREAKER_HALF_OPEN
#define A(t, want, retry, st)                                                                      \
    {                                                                                              \
        ALLOW, t, 0, want, retry, st                                                               \
    }
#define S(t, st)                                                                                   \
    {                                                                                              \
        OK, t, 0, 0, 0, st                                                                         \
    }
#define F(t, st)                                                                                   \
    {                                                                                              \
        FAIL, t, 0, 0, 0, st                                                                       \
    }
#define P(t, until, st)                                                                            \
    {                                                                                              \
        PAUSE, t, until, 0, 0, st                                                                  \
    }
#define L(t, st)                                                                                   \
    {                                                                                              \
        LOOK, t, 0, 0, 0, st                                                                       \
    }

ParameterizedTestParameters(breaker, table)
{
    static struct table_case cases[] = {
        { "consecutive failures open it",
          3,
          1000,
          1,
          { A(10, 1, 0, C), F(10, C), F(11, C), A(12, 1, 0, C), F(12, O), A(13, 0, 999, O),
            A(500, 0, 512, O), A(1011, 0, 1, O) } },
        { "a success resets the count",
          3,
          1000,
          1,
          { F(10, C), F(11, C), S(12, C), F(13, C), F(14, C), S(15, C), F(16, C), F(17, C),
            F(18, O) } },
        { "threshold 1", 1, 1000, 1, { A(0, 1, 0, C), F(5, O), A(5, 0, 1000, O) } },
        { "open, half-open, a probe success closes",
          2,
          1000,
          1,
          { F(100, C), F(100, O), A(1099, 0, 1, O), A(1100, 1, 0, H), A(1100, 0, 1000, H),
            A(1600, 0, 500, H), S(1700, C), A(1700, 1, 0, C), A(1701, 1, 0, C), F(1702, C),
            F(1703, O) } },
        { "the state reads half-open once open_ms passed",
          1,
          1000,
          1,
          { F(100, O), L(1099, O), L(1100, H), L(5000, H), A(5000, 1, 0, H) } },
        { "a probe failure opens again for a fresh open_ms",
          1,
          1000,
          1,
          { F(100, O), A(1100, 1, 0, H), F(1500, O), A(1501, 0, 999, O), A(2499, 0, 1, O),
            A(2500, 1, 0, H), S(2600, C) } },
        { "exactly half_open_probes probes",
          1,
          1000,
          3,
          { F(0, O), A(1000, 1, 0, H), A(1001, 1, 0, H), A(1002, 1, 0, H), A(1003, 0, 999, H),
            A(1500, 0, 502, H), S(1600, C), A(1600, 1, 0, C) } },
        { "with three probes the first failure decides",
          1,
          1000,
          3,
          { F(0, O), A(1000, 1, 0, H), A(1000, 1, 0, H), F(1200, O), S(1300, O), A(1300, 0, 900, O),
            A(2200, 1, 0, H) } },
        { "a lost probe's lease runs out after open_ms",
          1,
          1000,
          1,
          { F(0, O), A(1000, 1, 0, H), A(1999, 0, 1, H), A(2000, 1, 0, H), A(2000, 0, 1000, H),
            A(2999, 0, 1, H), A(3000, 1, 0, H), S(3001, C) } },
        { "the lease counts from the last probe",
          1,
          1000,
          2,
          { F(0, O), A(1000, 1, 0, H), A(1800, 1, 0, H), A(2000, 0, 800, H), A(2800, 1, 0, H),
            A(2800, 0, 1000, H) } },
        { "reports while open are ignored",
          1,
          1000,
          1,
          { F(100, O), S(200, O), A(200, 0, 900, O), F(900, O), A(1099, 0, 1, O), S(1100, H),
            A(1100, 1, 0, H) } },
        { "a late report in half-open decides too",
          1,
          1000,
          2,
          { F(100, O), A(1100, 1, 0, H), S(1150, C), A(1150, 1, 0, C) } },
        /* P(t, wait): a pause of wait ms from t.  A paused breaker reads open. */
        { "pause refuses with the time left",
          5,
          10000,
          1,
          { P(1000, 4000, O), A(1000, 0, 4000, O), A(4999, 0, 1, O), A(5000, 1, 0, C) } },
        { "a shorter pause keeps the longer one",
          5,
          10000,
          1,
          { P(1000, 4000, O), P(1100, 1900, O), A(3000, 0, 2000, O), P(1200, 5800, O),
            A(5000, 0, 2000, O), A(7000, 1, 0, C), P(8000, 0, C), A(8000, 1, 0, C) } },
        { "a pause takes no probe",
          1,
          1000,
          1,
          { F(0, O), P(500, 1000, O), A(1000, 0, 500, O), A(1499, 0, 1, O), A(1500, 1, 0, H),
            A(1500, 0, 1000, H) } },
        { "a pause is no failure",
          1,
          1000,
          1,
          { P(0, 100, O), A(50, 0, 50, O), A(100, 1, 0, C), S(100, C) } },
        /* One Retry-After of a day must not stop every call for a day. */
        { "a pause lasts at most open_ms",
          5,
          1500,
          1,
          { P(100, 86400000, O), A(100, 0, 1500, O), L(1599, O), A(1600, 1, 0, C), L(1600, C) } },
        { "a pause in half-open reads open",
          1,
          1000,
          1,
          { F(0, O), L(1000, H), P(1000, 300, O), L(1299, O), L(1300, H), A(1300, 1, 0, H),
            S(1301, C) } },
        { "zero config values act as 1",
          0,
          0,
          0,
          { A(0, 1, 0, C), F(10, O), A(10, 0, 1, O), A(11, 1, 0, H), A(11, 0, 1, H), A(12, 1, 0, H),
            F(12, O), A(13, 1, 0, H), S(14, C) } },
        { "time beyond 2^44 is clamped",
          1,
          1000,
          1,
          { F(UINT64_MAX, O), A(UINT64_MAX, 0, 1000, O), A(UINT64_MAX - 5, 0, 1000, O) } },
    };
    return cr_make_param_array(struct table_case, cases, COUNT(cases));
}

ParameterizedTest(struct table_case *c, breaker, table)
{
    struct sl_breaker b;
    size_t i;

    sl_breaker_init(&b, c->threshold, c->open_ms, c->probes);
    cr_assert_eq(sl_breaker_state(&b, 0), SL_BREAKER_CLOSED);
    for (i = 0; i < MAX_STEPS && c->steps[i].op != END; i++) {
        const struct step *s = &c->steps[i];
        uint64_t retry = NOT_WRITTEN;
        bool got;

        switch (s->op) {
        case ALLOW:
            got = sl_breaker_allow(&b, s->t, &retry);
            cr_assert_eq(got, s->want != 0, "%s: step %zu allow", c->name, i);
            cr_assert_eq(retry, s->want ? NOT_WRITTEN : s->retry, "%s: step %zu retry %llu",
                         c->name, i, (unsigned long long)retry);
            break;
        case OK:
        case FAIL: sl_breaker_record(&b, s->op == OK, s->t); break;
        case PAUSE: sl_breaker_pause(&b, s->t, s->arg); break;
        default: break;
        }
        if (s->state != ANY)
            cr_assert_eq(sl_breaker_state(&b, s->t), (enum sl_breaker_state)s->state,
                         "%s: step %zu state", c->name, i);
    }
}

/* ---- the rest of the API ---- */

Test(breaker, half_open_reported_before_the_first_probe)
{
    struct sl_breaker b;

    sl_breaker_init(&b, 1, 1000, 1);
    sl_breaker_record(&b, false, 100);
    cr_assert_eq(sl_breaker_state(&b, 1099), SL_BREAKER_OPEN);
    cr_assert_eq(sl_breaker_state(&b, 1100), SL_BREAKER_HALF_OPEN);
}

Test(breaker, allow_accepts_null_retry)
{
    struct sl_breaker b;

    sl_breaker_init(&b, 1, 1000, 1);
    sl_breaker_record(&b, false, 0);
    cr_assert_not(sl_breaker_allow(&b, 10, NULL));
    sl_breaker_pause(&b, 10, 500);
    cr_assert_not(sl_breaker_allow(&b, 10, NULL));
}

Test(breaker, snapshot)
{
    struct sl_breaker b;
    struct sl_breaker_snapshot s;

    sl_breaker_init(&b, 3, 1000, 2);
    sl_breaker_record(&b, false, 10);
    sl_breaker_record(&b, false, 11);
    sl_breaker_pause(&b, 100, 200);
    sl_breaker_snapshot(&b, 100, &s);
    cr_assert_eq(s.state, SL_BREAKER_OPEN, "a pause reads open");
    cr_assert_eq(s.open_remaining_ms, 0, "but it is no open period");
    cr_assert_eq(s.failures, 2);
    cr_assert_eq(s.pause_remaining_ms, 200);
    sl_breaker_snapshot(&b, 300, &s);
    cr_assert_eq(s.state, SL_BREAKER_CLOSED);
    cr_assert_eq(s.pause_remaining_ms, 0);
    cr_assert_eq(s.trips, 0);
    cr_assert_eq(s.episode, 0);
    sl_breaker_record(&b, false, 100);
    sl_breaker_snapshot(&b, 400, &s);
    cr_assert_eq(s.state, SL_BREAKER_OPEN);
    cr_assert_eq(s.open_remaining_ms, 700);
    cr_assert_eq(s.pause_remaining_ms, 0);
    cr_assert_eq(s.failures, 0, "reset when it opened");
    cr_assert_eq(s.trips, 1);
    cr_assert_eq(s.episode, 1);
    cr_assert(sl_breaker_allow(&b, 1100, NULL));
    sl_breaker_snapshot(&b, 1100, &s);
    cr_assert_eq(s.state, SL_BREAKER_HALF_OPEN);
    cr_assert_eq(s.probes, 1);
    cr_assert_eq(s.open_remaining_ms, 0);
    cr_assert_eq(s.episode, 2);
    sl_breaker_record(&b, false, 1200);
    sl_breaker_snapshot(&b, 1200, &s);
    cr_assert_eq(s.trips, 2);
    cr_assert_eq(s.episode, 3);
    cr_assert_eq(s.probes, 0);
}

Test(breaker, configure_keeps_state)
{
    struct sl_breaker b;
    struct sl_breaker_snapshot s;
    uint64_t retry = 0;

    sl_breaker_init(&b, 1, 1000, 1);
    sl_breaker_record(&b, false, 0);
    sl_breaker_configure(&b, 2, 5000, 2);
    cr_assert_not(sl_breaker_allow(&b, 500, &retry));
    cr_assert_eq(retry, 500, "the running open period is kept");
    cr_assert(sl_breaker_allow(&b, 1000, NULL));
    cr_assert(sl_breaker_allow(&b, 1000, NULL), "two probes now");
    cr_assert_not(sl_breaker_allow(&b, 1000, &retry));
    cr_assert_eq(retry, 5000, "the lease is the new open_ms");
    sl_breaker_record(&b, true, 1100);
    sl_breaker_record(&b, false, 1100);
    sl_breaker_snapshot(&b, 1100, &s);
    cr_assert_eq(s.state, SL_BREAKER_CLOSED, "threshold is 2 now");
    sl_breaker_configure(&b, 1, UINT64_MAX, 100000);
    sl_breaker_record(&b, false, 1200);
    cr_assert_not(sl_breaker_allow(&b, 1200, &retry));
    cr_assert_eq(retry, SL_BREAKER_OPEN_MAX_MS);
}

Test(breaker, probes_clamped)
{
    struct sl_breaker b;
    unsigned i;

    sl_breaker_init(&b, 1, 1000, 100000);
    sl_breaker_record(&b, false, 0);
    for (i = 0; i < SL_BREAKER_PROBES_MAX; i++)
        cr_assert(sl_breaker_allow(&b, 1000, NULL), "probe %u", i);
    cr_assert_not(sl_breaker_allow(&b, 1000, NULL));
}

Test(breaker, atomics_are_lock_free)
{
    struct sl_breaker b;

    sl_breaker_init(&b, 1, 1, 1);
    cr_assert(atomic_is_lock_free(&b.word));
    cr_assert(atomic_is_lock_free(&b.pause_until_ms));
    cr_assert(atomic_is_lock_free(&b.failures));
}

/* ---- forked workers on one shared breaker ---- */

#define WORKERS 8
#define ROUNDS 600
#define TRIES 64
#define OPEN_MS 1000
#define QUIT UINT32_MAX
#define CHAOS_PROBES 2

enum mode { M_ALLOW, M_ALLOW_FAIL, M_FAIL, M_CHAOS };

struct arena {
    struct sl_breaker b;
    _Atomic uint32_t round; /* the round workers should run; QUIT to leave */
    _Atomic uint32_t done;  /* workers finished with the current round */
    _Atomic uint32_t mode;
    _Atomic uint64_t now_ms; /* the injected clock of the round */
    _Atomic uint32_t admitted[ROUNDS + 1];
    _Atomic uint32_t bad; /* invariant violations seen by workers */
    _Atomic uint64_t chaos_clock;
    _Atomic uint64_t chaos_admitted;
};

static struct arena *arena_new(void)
{
    struct arena *a =
        mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert_neq(a, MAP_FAILED);
    return a;
}

static void run_round(struct arena *a, uint32_t r)
{
    uint64_t now = atomic_load(&a->now_ms);
    unsigned i;

    for (i = 0; i < TRIES; i++) {
        switch (atomic_load(&a->mode)) {
        case M_ALLOW:
            if (sl_breaker_allow(&a->b, now, NULL))
                atomic_fetch_add(&a->admitted[r], 1);
            break;
        case M_ALLOW_FAIL:
            if (sl_breaker_allow(&a->b, now, NULL)) {
                atomic_fetch_add(&a->admitted[r], 1);
                sl_breaker_record(&a->b, false, now);
            }
            break;
        case M_FAIL: sl_breaker_record(&a->b, false, now); break;
        default: break;
        }
    }
}

static void chaos(struct arena *a, unsigned seed)
{
    struct sl_breaker_snapshot s;
    unsigned i;

    for (i = 0; i < 20000; i++) {
        uint64_t now = atomic_fetch_add(&a->chaos_clock, 1 + rand_r(&seed) % 3);
        int dice = rand_r(&seed) % 100;

        if (sl_breaker_allow(&a->b, now, NULL)) {
            atomic_fetch_add(&a->chaos_admitted, 1);
            sl_breaker_record(&a->b, dice >= 40, atomic_load(&a->chaos_clock));
        } else if (dice < 2) {
            sl_breaker_pause(&a->b, now, rand_r(&seed) % 50);
        } else if (dice < 10) {
            sl_breaker_record(&a->b, dice < 6, now);
        }
        sl_breaker_snapshot(&a->b, now, &s);
        if (s.probes > CHAOS_PROBES || s.state > SL_BREAKER_HALF_OPEN)
            atomic_fetch_add(&a->bad, 1);
    }
}

/* Workers must not outlive a test that failed half-way: they die with the test process, and
 * give up if no round comes for a long time. */
static void worker(struct arena *a, unsigned id, pid_t parent)
{
    uint32_t seen = 0, r;
    time_t since;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
        _exit(1);
    for (;;) {
        since = time(NULL);
        while ((r = atomic_load(&a->round)) == seen) {
            if (time(NULL) - since > 30)
                _exit(1);
            sched_yield();
        }
        if (r == QUIT)
            _exit(0);
        seen = r;
        if (atomic_load(&a->mode) == M_CHAOS)
            chaos(a, id * 7919u + 1);
        else
            run_round(a, r);
        atomic_fetch_add(&a->done, 1);
    }
}

static void spawn(struct arena *a, pid_t *pids)
{
    pid_t self = getpid();
    unsigned i;

    for (i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        cr_assert_neq(pids[i], -1);
        if (pids[i] == 0)
            worker(a, i, self);
    }
}

static uint64_t trips(struct arena *a)
{
    struct sl_breaker_snapshot s;

    sl_breaker_snapshot(&a->b, 0, &s);
    return s.trips;
}

static void start_round(struct arena *a, uint32_t r, enum mode m, uint64_t now)
{
    atomic_store(&a->mode, m);
    atomic_store(&a->now_ms, now);
    atomic_store(&a->done, 0);
    atomic_store(&a->round, r);
    while (atomic_load(&a->done) < WORKERS)
        sched_yield();
}

static void reap(struct arena *a, pid_t *pids)
{
    unsigned i;
    int st;

    atomic_store(&a->round, QUIT);
    for (i = 0; i < WORKERS; i++) {
        cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker %u died", i);
    }
}

/* Many workers race for the probes at the same instant: exactly half_open_probes win in each
 * half-open episode, never one more. */
struct race_case {
    unsigned probes;
};

ParameterizedTestParameters(breaker, probe_race)
{
    static struct race_case cases[] = { { 1 }, { 2 }, { 3 }, { 7 } };
    return cr_make_param_array(struct race_case, cases, COUNT(cases));
}

ParameterizedTest(struct race_case *c, breaker, probe_race, .timeout = 60)
{
    struct arena *a = arena_new();
    pid_t pids[WORKERS];
    uint64_t t = 1000;
    uint32_t r;

    sl_breaker_init(&a->b, 1, OPEN_MS, c->probes);
    spawn(a, pids);
    for (r = 1; r <= ROUNDS; r++) {
        struct sl_breaker_snapshot s;

        /* Closed at first, half-open with all probes out afterwards: one failure opens it. */
        sl_breaker_record(&a->b, false, t);
        cr_assert_eq(sl_breaker_state(&a->b, t), SL_BREAKER_OPEN);
        t += OPEN_MS; /* the lease of this round's probes outlives the round */
        start_round(a, r, M_ALLOW, t);
        cr_assert_eq(atomic_load(&a->admitted[r]), c->probes, "round %u", r);
        sl_breaker_snapshot(&a->b, t, &s);
        cr_assert_eq(s.state, SL_BREAKER_HALF_OPEN);
        cr_assert_eq(s.probes, c->probes);
    }
    reap(a, pids);
    cr_assert_eq(trips(a), ROUNDS);
}

/* Probes that fail at once while others still race: between 1 and half_open_probes admitted,
 * and the breaker opens exactly once per episode however many probes report. */
ParameterizedTestParameters(breaker, probe_race_with_reports)
{
    static struct race_case cases[] = { { 1 }, { 3 }, { 8 } };
    return cr_make_param_array(struct race_case, cases, COUNT(cases));
}

ParameterizedTest(struct race_case *c, breaker, probe_race_with_reports, .timeout = 60)
{
    struct arena *a = arena_new();
    pid_t pids[WORKERS];
    uint64_t t = 1000, before;
    uint32_t r;

    sl_breaker_init(&a->b, 1, OPEN_MS, c->probes);
    sl_breaker_record(&a->b, false, t);
    spawn(a, pids);
    for (r = 1; r <= ROUNDS; r++) {
        before = trips(a);
        t += OPEN_MS;
        start_round(a, r, M_ALLOW_FAIL, t);
        cr_assert_geq(atomic_load(&a->admitted[r]), 1, "round %u", r);
        cr_assert_leq(atomic_load(&a->admitted[r]), c->probes, "round %u", r);
        cr_assert_eq(trips(a), before + 1, "round %u", r);
        cr_assert_eq(sl_breaker_state(&a->b, t), SL_BREAKER_OPEN);
    }
    reap(a, pids);
}

/* Concurrent failures in the closed state open the breaker once. */
Test(breaker, concurrent_failures_open_once, .timeout = 60)
{
    struct arena *a = arena_new();
    pid_t pids[WORKERS];
    uint64_t t = 1000;
    uint32_t r;

    sl_breaker_init(&a->b, 5, OPEN_MS, 1);
    spawn(a, pids);
    for (r = 1; r <= ROUNDS; r++) {
        cr_assert_eq(sl_breaker_state(&a->b, t), SL_BREAKER_CLOSED);
        start_round(a, r, M_FAIL, t);
        cr_assert_eq(trips(a), r, "round %u", r);
        cr_assert_eq(sl_breaker_state(&a->b, t), SL_BREAKER_OPEN);
        t += OPEN_MS;
        cr_assert(sl_breaker_allow(&a->b, t, NULL));
        sl_breaker_record(&a->b, true, t);
    }
    reap(a, pids);
}

/* Everything at once on a shared advancing clock: no crash, no hang, no impossible state. */
Test(breaker, chaos, .timeout = 60)
{
    struct arena *a = arena_new();
    pid_t pids[WORKERS];
    struct sl_breaker_snapshot s;

    sl_breaker_init(&a->b, 3, 40, CHAOS_PROBES);
    atomic_store(&a->chaos_clock, 1000);
    spawn(a, pids);
    start_round(a, 1, M_CHAOS, 0);
    reap(a, pids);
    cr_assert_eq(atomic_load(&a->bad), 0);
    cr_assert_gt(atomic_load(&a->chaos_admitted), 0);
    sl_breaker_snapshot(&a->b, atomic_load(&a->chaos_clock), &s);
    cr_assert_gt(s.trips, 0, "the run exercised opening");
    cr_assert_leq(s.probes, CHAOS_PROBES);
    /* whatever state it ended in, it still works */
    sl_breaker_configure(&a->b, 1, 40, 1);
    sl_breaker_record(&a->b, true, UINT64_C(1) << 40);
    sl_breaker_record(&a->b, true, UINT64_C(1) << 40);
    if (sl_breaker_state(&a->b, UINT64_C(1) << 40) != SL_BREAKER_CLOSED) {
        cr_assert(sl_breaker_allow(&a->b, UINT64_C(1) << 40, NULL));
        sl_breaker_record(&a->b, true, UINT64_C(1) << 40);
    }
    cr_assert_eq(sl_breaker_state(&a->b, UINT64_C(1) << 40), SL_BREAKER_CLOSED);
}
