/* SPDX-License-Identifier: MIT */
/* Tests for quota arithmetic: GCRA rate limits, budgets per UTC period, estimates, headers. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/quota.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define T0 UINT64_C(1000000)    /* an arbitrary monotonic start, ms */
#define NOW INT64_C(1773500966) /* 2026-03-14T15:09:26Z */
#define TMAX SL_QUOTA_TOKENS_MAX
#define BIG INT64_C(1000000000000000) /* 10^15, the largest configurable budget */

_Static_assert(sizeof(struct sl_quota) == 64, "the shm record stays 64 bytes");

static struct sl_limits lim_of(int64_t rpm, int64_t tpm, int64_t budget, enum sl_period p)
{
    struct sl_limits l = { .rpm = rpm, .tpm = tpm, .token_budget = budget, .budget_period = p };
    return l;
}

static struct sl_quota fresh(enum sl_period p, int64_t wall)
{
    struct sl_quota q;

    sl_quota_init(&q, p, wall);
    return q;
}

static enum sl_quota_verdict admit(struct sl_quota *q, const struct sl_limits *l, uint64_t tokens,
                                   uint64_t now_ms, int64_t wall, struct sl_quota_result *res)
{
    return sl_quota_admit_locked(q, l, tokens, now_ms, wall, res);
}

/* ---- calendar periods ---- */

struct period_case {
    enum sl_period period;
    int64_t now;
    int64_t start;
    int64_t end;
};

ParameterizedTestParameters(quota, period_bounds)
{
    static struct period_case cases[] = {
        { SL_PERIOD_MINUTE, 1773500966, 1773500940, 1773501000 }, /* 2026-03-14T15:09:26 */
        { SL_PERIOD_MINUTE, 1773500940, 1773500940, 1773501000 }, /* on the boundary */
        { SL_PERIOD_MINUTE, 1773500999, 1773500940, 1773501000 },
        { SL_PERIOD_HOUR, 1773500966, 1773500400, 1773504000 },
        { SL_PERIOD_HOUR, 1773503999, 1773500400, 1773504000 },
        { SL_PERIOD_DAY, 1773500966, 1773446400, 1773532800 },
        { SL_PERIOD_DAY, 1773532799, 1773446400, 1773532800 },   /* 23:59:59 */
        { SL_PERIOD_DAY, 1773532800, 1773532800, 1773619200 },   /* UTC midnight */
        { SL_PERIOD_DAY, 1835438400, 1835395200, 1835481600 },   /* 2028-02-29T12:00 */
        { SL_PERIOD_MONTH, 1773500966, 1772323200, 1775001600 }, /* March 2026 */
        /* leap February 2028 */
        { SL_PERIOD_MONTH, 1835395199, 1832976000, 1835481600 }, /* 02-28T23:59:59 */
        { SL_PERIOD_MONTH, 1835395200, 1832976000, 1835481600 }, /* 02-29T00:00 */
        { SL_PERIOD_MONTH, 1835481599, 1832976000, 1835481600 }, /* 02-29T23:59:59 */
        { SL_PERIOD_MONTH, 1835481600, 1835481600, 1838160000 }, /* 03-01T00:00 */
        /* common February 2027, and 2100 (divisible by 100: no leap day) */
        { SL_PERIOD_MONTH, 1803859199, 1801440000, 1803859200 }, /* 2027-02-28T23:59:59 */
        { SL_PERIOD_MONTH, 4107499200, 4105123200, 4107542400 }, /* 2100-02-28T12:00 */
        { SL_PERIOD_MONTH, 951825600, 949363200, 951868800 },    /* 2000-02-29 (400 rule) */
        /* year ends */
        { SL_PERIOD_MONTH, 1798761599, 1796083200, 1798761600 }, /* 2026-12-31T23:59:59 */
        { SL_PERIOD_MONTH, 1798761600, 1798761600, 1801440000 }, /* 2027-01-01T00:00 */
        { SL_PERIOD_DAY, 1798761599, 1798675200, 1798761600 },
        { SL_PERIOD_MONTH, 1861919999, 1859241600, 1861920000 }, /* 2028-12-31T23:59:59 */
        { SL_PERIOD_MONTH, 1801439999, 1798761600, 1801440000 }, /* 2027-01-31T23:59:59 */
        { SL_PERIOD_MONTH, 2147483648, 2145916800, 2148595200 }, /* past 2^31 */
        /* range edges: the epoch, before it, the year 9999 */
        { SL_PERIOD_MONTH, 0, 0, 2678400 },
        { SL_PERIOD_DAY, -5, 0, 86400 },
        { SL_PERIOD_MONTH, INT64_MIN, 0, 2678400 },
        { SL_PERIOD_MONTH, 253402300799, 253399622400, 253402300800 },
        { SL_PERIOD_MONTH, INT64_MAX, 253399622400, 253402300800 },
        /* no period */
        { SL_PERIOD_NONE, 1773500966, 0, 0 },
        { (enum sl_period)99, 1773500966, 0, 0 },
    };
    return cr_make_param_array(struct period_case, cases, COUNT(cases));
}

ParameterizedTest(struct period_case *c, quota, period_bounds)
{
    cr_assert_eq(sl_quota_period_start(c->period, c->now), c->start, "period %d now %lld",
                 (int)c->period, (long long)c->now);
    cr_assert_eq(sl_quota_period_end(c->period, c->now), c->end, "period %d now %lld",
                 (int)c->period, (long long)c->now);
}

/* Every day from 1970 to 2500 against the C library's calendar. */
Test(quota, month_bounds_match_libc)
{
    int64_t s;

    for (s = 0; s < INT64_C(16725225600); s += 86400 - 7) {
        time_t t = (time_t)s;
        struct tm tm, first;
        int64_t want_start, want_end;

        gmtime_r(&t, &tm);
        memset(&first, 0, sizeof(first));
        first.tm_year = tm.tm_year;
        first.tm_mon = tm.tm_mon;
        first.tm_mday = 1;
        want_start = (int64_t)timegm(&first);
        first.tm_mon++;
        want_end = (int64_t)timegm(&first);
        cr_assert_eq(sl_quota_period_start(SL_PERIOD_MONTH, s), want_start, "at %lld",
                     (long long)s);
        cr_assert_eq(sl_quota_period_end(SL_PERIOD_MONTH, s), want_end, "at %lld", (long long)s);
    }
}

/* ---- reservation estimate ---- */

struct estimate_case {
    struct sl_quota_estimate e;
    uint64_t want;
};

ParameterizedTestParameters(quota, estimate)
{
    static struct estimate_case cases[] = {
        { { 100, 2, 4, 0, 1000, 1, 400 }, 100 + 8 + 400 },
        { { 100, 2, 4, 3, 1000, 1, 400 }, 100 + 8 + 3000 + 400 },
        { { 100, 2, 4, 0, 1000, 3, 400 }, 100 + 8 + 1200 }, /* n multiplies */
        { { 100, 2, 4, 0, 1000, 0, 400 }, 100 + 8 + 400 },  /* n 0 acts as 1 */
        { { 0, 0, 0, 0, 0, 1, 0 }, 0 },
        { { 65536, 1000, 100000, 1000, 1000000, 128, 1000000 },
          65536 + UINT64_C(100000000) + UINT64_C(1000000000) + UINT64_C(128000000) },
        /* saturation, in every term */
        { { UINT64_MAX, 0, 0, 0, 0, 1, 1 }, UINT64_MAX },
        { { 1, UINT64_MAX, 2, 0, 0, 1, 0 }, UINT64_MAX },
        { { 1, 0, 0, UINT64_MAX / 2, 3, 1, 0 }, UINT64_MAX },
        { { 1, 0, 0, 0, 0, UINT64_MAX, 2 }, UINT64_MAX },
        { { UINT64_MAX - 1, 1, 1, 0, 0, 1, 0 }, UINT64_MAX },
        { { UINT64_MAX - 2, 1, 1, 0, 0, 1, 1 }, UINT64_MAX },
        { { UINT64_MAX - 3, 1, 1, 0, 0, 1, 1 }, UINT64_MAX - 1 },
    };
    return cr_make_param_array(struct estimate_case, cases, COUNT(cases));
}

ParameterizedTest(struct estimate_case *c, quota, estimate)
{
    cr_assert_eq(sl_quota_estimate_tokens(&c->e), c->want);
}

/* ---- budget: exact fit, overflow, never ---- */

struct fit_case {
    int64_t budget;
    enum sl_period period;
    uint64_t used;
    uint64_t reserved;
    uint64_t n;
    enum sl_quota_verdict want;
    bool never;
};

ParameterizedTestParameters(quota, budget_fit)
{
    static struct fit_case cases[] = {
        { 1000, SL_PERIOD_DAY, 600, 0, 400, SL_QUOTA_OK, false },     /* exact fit */
        { 1000, SL_PERIOD_DAY, 600, 0, 401, SL_QUOTA_BUDGET, false }, /* one token more */
        { 1000, SL_PERIOD_DAY, 300, 300, 400, SL_QUOTA_OK, false },
        { 1000, SL_PERIOD_DAY, 300, 300, 401, SL_QUOTA_BUDGET, false },
        { 1000, SL_PERIOD_DAY, 0, 1000, 1, SL_QUOTA_BUDGET, false },
        { 1000, SL_PERIOD_DAY, 0, 0, 1000, SL_QUOTA_OK, false },
        { 1000, SL_PERIOD_DAY, 0, 0, 1001, SL_QUOTA_BUDGET, true },  /* can never fit */
        { 1000, SL_PERIOD_DAY, 1200, 0, 1, SL_QUOTA_BUDGET, false }, /* over-settled */
        { 1000, SL_PERIOD_DAY, 0, 0, 0, SL_QUOTA_OK, false },
        { 1000, SL_PERIOD_DAY, 1000, 0, 0, SL_QUOTA_OK, false },
        /* at the configured maximum */
        { BIG, SL_PERIOD_MONTH, BIG - TMAX, 0, TMAX, SL_QUOTA_OK, false },
        { BIG, SL_PERIOD_MONTH, BIG - TMAX + 1, 0, TMAX, SL_QUOTA_BUDGET, false },
        { BIG, SL_PERIOD_MONTH, BIG / 2, BIG / 2 - TMAX, TMAX, SL_QUOTA_OK, false },
        { BIG, SL_PERIOD_MONTH, BIG / 2, BIG / 2 - TMAX + 1, TMAX, SL_QUOTA_BUDGET, false },
        /* hostile counters saturate instead of wrapping round to "room left" */
        { BIG, SL_PERIOD_MONTH, UINT64_MAX - 5, 0, 10, SL_QUOTA_BUDGET, false },
        { BIG, SL_PERIOD_MONTH, 10, UINT64_MAX - 5, 10, SL_QUOTA_BUDGET, false },
        { 1, SL_PERIOD_MONTH, UINT64_MAX, UINT64_MAX, TMAX, SL_QUOTA_BUDGET, true },
        /* a lifetime budget never frees what was used */
        { 100, SL_PERIOD_NONE, 90, 0, 11, SL_QUOTA_BUDGET, true },
        { 100, SL_PERIOD_NONE, 90, 5, 6, SL_QUOTA_BUDGET, false }, /* in flight may free */
        { 100, SL_PERIOD_NONE, 90, 5, 5, SL_QUOTA_OK, false },
        /* 0 = unlimited, however much is used */
        { 0, SL_PERIOD_DAY, UINT64_MAX, UINT64_MAX, TMAX, SL_QUOTA_OK, false },
        /* too large a reservation is refused before anything else */
        { 0, SL_PERIOD_DAY, 0, 0, TMAX + 1, SL_QUOTA_TOO_LARGE, true },
        { 0, SL_PERIOD_DAY, 0, 0, UINT64_MAX, SL_QUOTA_TOO_LARGE, true },
    };
    return cr_make_param_array(struct fit_case, cases, COUNT(cases));
}

ParameterizedTest(struct fit_case *c, quota, budget_fit)
{
    struct sl_limits l = lim_of(0, 0, c->budget, c->period);
    struct sl_quota q = fresh(c->period, NOW);
    struct sl_quota_result r;

    q.used = c->used;
    q.reserved = c->reserved;
    cr_assert_eq(admit(&q, &l, c->n, T0, NOW, &r), c->want);
    cr_assert_eq(r.verdict, c->want);
    cr_assert_eq(r.never, c->never);
    if (c->want == SL_QUOTA_OK) {
        cr_assert_eq(r.retry_after_ms, 0);
        cr_assert_eq(q.reserved, c->reserved > UINT64_MAX - c->n ? UINT64_MAX : c->reserved + c->n);
    } else {
        cr_assert_geq(r.retry_after_ms, 1);
        cr_assert_eq(q.reserved, c->reserved, "a refusal reserves nothing");
    }
    cr_assert_eq(q.used, c->used);
}

/* ---- budget: reserve, settle, refund, rollover ---- */

Test(quota, settle_and_refund)
{
    struct sl_limits l = lim_of(0, 0, 1000, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    struct sl_quota_info info;

    cr_assert_eq(admit(&q, &l, 500, T0, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.budget.remaining, 500);
    cr_assert_eq(r.info.budget.reserved, 500);
    cr_assert_eq(admit(&q, &l, 300, T0, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.budget.remaining, 200);
    sl_quota_settle_locked(&q, &l, 500, 120, T0, NOW); /* settled below the reservation */
    cr_assert_eq(q.used, 120);
    cr_assert_eq(q.reserved, 300);
    sl_quota_refund_locked(&q, &l, 300, T0, NOW); /* failed call: all back */
    cr_assert_eq(q.used, 120);
    cr_assert_eq(q.reserved, 0);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.budget.remaining, 880);
    cr_assert_eq(info.budget.budget, 1000);
    /* exactly the rest fits, one more does not */
    cr_assert_eq(admit(&q, &l, 881, T0, NOW, &r), SL_QUOTA_BUDGET);
    cr_assert_eq(admit(&q, &l, 880, T0, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.budget.remaining, 0);
    cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_BUDGET);
    /* a release beyond what is reserved stops at zero */
    sl_quota_refund_locked(&q, &l, 5000, T0, NOW);
    cr_assert_eq(q.reserved, 0);
}

Test(quota, settle_above_reservation)
{
    struct sl_limits l = lim_of(0, 0, 1000, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    struct sl_quota_info info;

    cr_assert_eq(admit(&q, &l, 900, T0, NOW, &r), SL_QUOTA_OK);
    sl_quota_settle_locked(&q, &l, 900, 1200, T0, NOW); /* upstream ignored max_tokens */
    cr_assert_eq(q.used, 1200, "what was spent is recorded");
    cr_assert_eq(q.reserved, 0);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.budget.used, 1200);
    cr_assert_eq(info.budget.remaining, 0);
    cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_BUDGET);
    cr_assert_not(r.never);
    /* the next day starts from zero */
    cr_assert_eq(admit(&q, &l, 1000, T0, 1773532800, &r), SL_QUOTA_OK);
}

Test(quota, used_saturates)
{
    struct sl_limits l = lim_of(0, 0, 0, SL_PERIOD_NONE);
    struct sl_quota q = fresh(SL_PERIOD_NONE, NOW);

    q.used = UINT64_MAX - 10;
    sl_quota_budget_settle_locked(&q, &l, 0, TMAX, NOW);
    cr_assert_eq(q.used, UINT64_MAX);
}

/* A reservation made in one period and settled in the next is charged to the next one. */
struct rollover_case {
    enum sl_period period;
    int64_t in_p;   /* some time in period P */
    int64_t last_p; /* the last second of P */
    int64_t next;   /* the first second of P + 1 */
    int64_t start_p;
    int64_t end_next; /* the end of P + 1 */
};

ParameterizedTestParameters(quota, rollover)
{
    static struct rollover_case cases[] = {
        { SL_PERIOD_MINUTE, 1773500966, 1773500999, 1773501000, 1773500940, 1773501060 },
        { SL_PERIOD_HOUR, 1773500966, 1773503999, 1773504000, 1773500400, 1773507600 },
        /* UTC midnight */
        { SL_PERIOD_DAY, 1773500966, 1773532799, 1773532800, 1773446400, 1773619200 },
        /* Feb 29 2028 -> Mar 1 */
        { SL_PERIOD_DAY, 1835438400, 1835481599, 1835481600, 1835395200, 1835568000 },
        { SL_PERIOD_MONTH, 1835438400, 1835481599, 1835481600, 1832976000, 1838160000 },
        /* Feb 2027 (28 days) -> Mar */
        { SL_PERIOD_MONTH, 1801440000, 1803859199, 1803859200, 1801440000, 1806537600 },
        /* year end, by month and by day */
        { SL_PERIOD_MONTH, 1796083200, 1798761599, 1798761600, 1796083200, 1801440000 },
        { SL_PERIOD_DAY, 1798675200, 1798761599, 1798761600, 1798675200, 1798848000 },
        { SL_PERIOD_MONTH, 1859241600, 1861919999, 1861920000, 1859241600, 1864598400 },
    };
    return cr_make_param_array(struct rollover_case, cases, COUNT(cases));
}

ParameterizedTest(struct rollover_case *c, quota, rollover)
{
    struct sl_limits l = lim_of(0, 0, 1000, c->period);
    struct sl_quota q = fresh(c->period, c->in_p);
    struct sl_quota_result r;
    struct sl_quota_info info;

    cr_assert_eq(admit(&q, &l, 400, T0, c->in_p, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.budget.period_start_s, c->start_p);
    cr_assert_eq(r.info.budget.reset_at_s, c->next);
    sl_quota_settle_locked(&q, &l, 400, 350, T0, c->in_p);
    cr_assert_eq(admit(&q, &l, 650, T0, c->in_p, &r), SL_QUOTA_OK); /* in flight */
    /* still period P in its last second: full */
    cr_assert_eq(admit(&q, &l, 1, T0, c->last_p, &r), SL_QUOTA_BUDGET);
    cr_assert_eq(r.retry_after_ms, 1000, "the period ends in one second");
    sl_quota_peek_locked(&q, &l, T0, c->last_p, &info);
    cr_assert_eq(info.budget.used, 350);
    /* P + 1: used restarts, the reservation still in flight is kept */
    sl_quota_peek_locked(&q, &l, T0, c->next, &info);
    cr_assert_eq(info.budget.used, 0);
    cr_assert_eq(info.budget.reserved, 650);
    cr_assert_eq(info.budget.remaining, 350);
    cr_assert_eq(info.budget.period_start_s, c->next);
    cr_assert_eq(info.budget.reset_at_s, c->end_next);
    cr_assert_eq(admit(&q, &l, 351, T0, c->next, &r), SL_QUOTA_BUDGET);
    cr_assert_eq(admit(&q, &l, 350, T0, c->next, &r), SL_QUOTA_OK);
    /* the reservation of P settles in P + 1 and is charged there */
    sl_quota_settle_locked(&q, &l, 650, 550, T0, c->next);
    cr_assert_eq(q.used, 550);
    cr_assert_eq(q.reserved, 350);
    cr_assert_eq(q.period_start_s, c->next);
    sl_quota_peek_locked(&q, &l, T0, c->next, &info);
    cr_assert_eq(info.budget.remaining, 100);
}

Test(quota, wall_clock_backwards_keeps_usage)
{
    struct sl_limits l = lim_of(0, 0, 1000, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, 1773532800); /* 2026-03-15T00:00 */
    struct sl_quota_result r;

    cr_assert_eq(admit(&q, &l, 900, T0, 1773532800, &r), SL_QUOTA_OK);
    sl_quota_settle_locked(&q, &l, 900, 900, T0, 1773532800);
    /* stepped back into the previous day: nothing is forgiven */
    cr_assert_eq(admit(&q, &l, 101, T0, 1773532000, &r), SL_QUOTA_BUDGET);
    cr_assert_eq(q.used, 900);
    cr_assert_eq(q.period_start_s, 1773532800);
    cr_assert_eq(r.info.budget.reset_at_s, 1773619200);
    cr_assert_eq(admit(&q, &l, 100, T0, 1773532000, &r), SL_QUOTA_OK);
}

Test(quota, lifetime_budget_never_resets)
{
    struct sl_limits l = lim_of(0, 0, 1000, SL_PERIOD_NONE);
    struct sl_quota q = fresh(SL_PERIOD_NONE, NOW);
    struct sl_quota_result r;

    cr_assert_eq(admit(&q, &l, 1000, T0, NOW, &r), SL_QUOTA_OK);
    sl_quota_settle_locked(&q, &l, 1000, 1000, T0, NOW);
    cr_assert_eq(admit(&q, &l, 1, T0, NOW + 100 * 86400 * INT64_C(365), &r), SL_QUOTA_BUDGET);
    cr_assert(r.never);
    cr_assert_eq(r.info.budget.reset_at_s, 0);
    cr_assert_eq(r.info.budget.period_start_s, 0);
    cr_assert_eq(r.retry_after_ms, SL_QUOTA_WINDOW_MS);
}

/* Changing the period: a shorter one that began after period_start restarts the count, a
 * longer one keeps it (nothing is forgiven). */
Test(quota, period_change)
{
    struct sl_limits day = lim_of(0, 0, 1000, SL_PERIOD_DAY);
    struct sl_limits hour = lim_of(0, 0, 1000, SL_PERIOD_HOUR);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_info info;

    sl_quota_budget_settle_locked(&q, &day, 0, 700, NOW);
    sl_quota_peek_locked(&q, &hour, T0, NOW, &info);
    cr_assert_eq(info.budget.used, 0);
    cr_assert_eq(info.budget.period_start_s, 1773500400);
    cr_assert_eq(info.budget.period, SL_PERIOD_HOUR);
    cr_assert(sl_quota_budget_reserve_locked(&q, &hour, 1000, NOW));
    sl_quota_budget_settle_locked(&q, &hour, 1000, 800, NOW);
    cr_assert_eq(q.used, 800);
    cr_assert_eq(q.period, SL_PERIOD_HOUR);
    /* back to a day: the hour's 800 stay, counted from UTC midnight */
    cr_assert_not(sl_quota_budget_reserve_locked(&q, &day, 201, NOW));
    cr_assert_eq(q.used, 800);
    cr_assert_eq(q.period_start_s, 1773446400);
    cr_assert_eq(q.period, SL_PERIOD_DAY);
    cr_assert(sl_quota_budget_reserve_locked(&q, &day, 200, NOW));
}

Test(quota, budget_only_api)
{
    struct sl_limits l = lim_of(0, 0, 100, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);

    cr_assert(sl_quota_budget_reserve_locked(&q, &l, 60, NOW));
    cr_assert(sl_quota_budget_reserve_locked(&q, &l, 40, NOW));
    cr_assert_not(sl_quota_budget_reserve_locked(&q, &l, 1, NOW));
    sl_quota_budget_refund_locked(&q, &l, 40, NOW);
    cr_assert_eq(q.reserved, 60);
    sl_quota_budget_settle_locked(&q, &l, 60, 70, NOW);
    cr_assert_eq(q.used, 70);
    cr_assert_eq(q.reserved, 0);
    cr_assert(sl_quota_budget_reserve_locked(&q, &l, 20, NOW));
    sl_quota_budget_reset_locked(&q, &l, NOW); /* admin usage reset */
    cr_assert_eq(q.used, 0);
    cr_assert_eq(q.reserved, 20);
    cr_assert(sl_quota_budget_reserve_locked(&q, &l, 80, NOW));
    cr_assert_not(sl_quota_budget_reserve_locked(&q, &l, 1, NOW));
}

/* ---- GCRA rate limits ---- */

/* An idle tenant may spend its whole per-minute limit at once, then waits for one item's
 * worth of refill: 60000 / limit ms, rounded up. */
struct burst_case {
    int64_t rpm;
    uint64_t wait_ms;
};

ParameterizedTestParameters(quota, rpm_burst_and_refill)
{
    static struct burst_case cases[] = {
        { 1, 60000 }, { 2, 30000 }, { 7, 8572 },   { 60, 1000 },
        { 1000, 60 }, { 60000, 1 }, { 100000, 1 },
    };
    return cr_make_param_array(struct burst_case, cases, COUNT(cases));
}

ParameterizedTest(struct burst_case *c, quota, rpm_burst_and_refill)
{
    struct sl_limits l = lim_of(c->rpm, 0, 0, SL_PERIOD_NONE);
    struct sl_quota q = fresh(SL_PERIOD_NONE, NOW);
    struct sl_quota_result r;
    int64_t i;

    for (i = 0; i < c->rpm; i++) {
        cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_OK, "request %lld", (long long)i);
        cr_assert_eq(r.info.requests.remaining, (uint64_t)(c->rpm - i - 1));
    }
    cr_assert_eq(r.info.requests.limit, (uint64_t)c->rpm);
    cr_assert_eq(r.info.requests.reset_ms, SL_QUOTA_WINDOW_MS, "empty: a minute to refill");
    cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_RPM);
    cr_assert_eq(r.retry_after_ms, c->wait_ms);
    cr_assert_not(r.never);
    cr_assert_eq(r.info.requests.remaining, 0);
    if (c->wait_ms > 1) {
        cr_assert_eq(admit(&q, &l, 1, T0 + c->wait_ms - 1, NOW, &r), SL_QUOTA_RPM);
        cr_assert_eq(r.retry_after_ms, 1);
    }
    cr_assert_eq(admit(&q, &l, 1, T0 + c->wait_ms, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(admit(&q, &l, 1, T0 + c->wait_ms, NOW, &r), SL_QUOTA_RPM);
    /* after a full idle minute the whole burst is back */
    for (i = 0; i < c->rpm; i++)
        cr_assert_eq(admit(&q, &l, 1, T0 + c->wait_ms + 60000, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(admit(&q, &l, 1, T0 + c->wait_ms + 60000, NOW, &r), SL_QUOTA_RPM);
}

/* x-ratelimit-*-requests after n requests at T0, read dt ms later. */
struct header_case {
    int64_t rpm;
    unsigned n;
    uint64_t dt;
    uint64_t remaining;
    uint64_t reset_ms;
};

ParameterizedTestParameters(quota, request_headers)
{
    static struct header_case cases[] = {
        { 60, 0, 0, 60, 0 },        { 60, 1, 0, 59, 1000 },  { 60, 10, 0, 50, 10000 },
        { 60, 10, 500, 50, 9500 }, /* half a request earned back: still 50 */
        { 60, 10, 1000, 51, 9000 }, { 60, 10, 9999, 59, 1 }, { 60, 10, 10000, 60, 0 },
        { 60, 10, 3600000, 60, 0 }, { 7, 3, 0, 4, 25715 }, /* 3 * 60000 / 7 = 25714.3, rounded up */
        { 7, 1, 8571, 6, 1 }, /* 3 units of debt left: not yet a whole request */
        { 7, 1, 8572, 7, 0 },       { 1, 1, 59999, 0, 1 },   { 1, 1, 60000, 1, 0 },
    };
    return cr_make_param_array(struct header_case, cases, COUNT(cases));
}

ParameterizedTest(struct header_case *c, quota, request_headers)
{
    struct sl_limits l = lim_of(c->rpm, 0, 0, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    struct sl_quota_info info;
    unsigned i;

    for (i = 0; i < c->n; i++)
        cr_assert_eq(admit(&q, &l, 10, T0, NOW, &r), SL_QUOTA_OK);
    sl_quota_peek_locked(&q, &l, T0 + c->dt, NOW, &info);
    cr_assert_eq(info.requests.limit, (uint64_t)c->rpm);
    cr_assert_eq(info.requests.remaining, c->remaining);
    cr_assert_eq(info.requests.reset_ms, c->reset_ms);
    cr_assert_eq(info.tokens.limit, 0, "TPM unlimited");
    cr_assert_eq(info.tokens.remaining, 0);
}

Test(quota, tpm_reserve_refill_and_correct)
{
    struct sl_limits l = lim_of(0, 1000, 0, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    struct sl_quota_info info;

    cr_assert_eq(admit(&q, &l, 600, T0, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.tokens.limit, 1000);
    cr_assert_eq(r.info.tokens.remaining, 400);
    cr_assert_eq(r.info.tokens.reset_ms, 36000);
    cr_assert_eq(admit(&q, &l, 400, T0, NOW, &r), SL_QUOTA_OK); /* exact fit */
    cr_assert_eq(r.info.tokens.remaining, 0);
    cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_TPM);
    cr_assert_eq(r.retry_after_ms, 60, "one token refills in 60 ms");
    cr_assert_eq(admit(&q, &l, 250, T0, NOW, &r), SL_QUOTA_TPM);
    cr_assert_eq(r.retry_after_ms, 15000);
    cr_assert_not(r.never);
    /* the 600-token request used only 100: 500 back, so max_tokens headroom costs nothing */
    sl_quota_settle_locked(&q, &l, 600, 100, T0, NOW);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.tokens.remaining, 500);
    cr_assert_eq(admit(&q, &l, 500, T0, NOW, &r), SL_QUOTA_OK);
    /* a failed call gives everything back */
    sl_quota_refund_locked(&q, &l, 500, T0, NOW);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.tokens.remaining, 500);
    /* refill: 1000 per minute = 1 per 60 ms */
    sl_quota_peek_locked(&q, &l, T0 + 6000, NOW, &info);
    cr_assert_eq(info.tokens.remaining, 600);
    /* a refund larger than the debt stops at a full bucket */
    sl_quota_settle_locked(&q, &l, 100000, 0, T0, NOW);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.tokens.remaining, 1000);
    cr_assert_eq(info.tokens.reset_ms, 0);
}

Test(quota, tpm_overshoot_charged_at_most_one_window)
{
    struct sl_limits l = lim_of(0, 1000, 0, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    struct sl_quota_info info;

    cr_assert_eq(admit(&q, &l, 100, T0, NOW, &r), SL_QUOTA_OK);
    sl_quota_settle_locked(&q, &l, 100, 300, T0, NOW);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.tokens.remaining, 700);
    sl_quota_settle_locked(&q, &l, 0, UINT64_MAX, T0, NOW);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.tokens.remaining, 0);
    cr_assert_eq(info.tokens.reset_ms, 60000);
    cr_assert_eq(admit(&q, &l, 1000, T0, NOW, &r), SL_QUOTA_TPM);
    cr_assert_eq(r.retry_after_ms, 60000);
    cr_assert_eq(admit(&q, &l, 1000, T0 + 60000, NOW, &r), SL_QUOTA_OK);
}

Test(quota, tpm_request_larger_than_limit_never_passes)
{
    struct sl_limits l = lim_of(0, 1000, 0, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;

    cr_assert_eq(admit(&q, &l, 1001, T0, NOW, &r), SL_QUOTA_TPM);
    cr_assert(r.never);
    cr_assert_eq(r.retry_after_ms, SL_QUOTA_WINDOW_MS);
    cr_assert_eq(r.info.tokens.remaining, 1000, "nothing charged");
    cr_assert_eq(admit(&q, &l, 1000, T0, NOW, &r), SL_QUOTA_OK);
}

/* RPM, then TPM, then the budget: the first refusal names the verdict, the longest wait is
 * the retry time, and nothing is charged unless all three pass. */
struct order_case {
    int64_t rpm, tpm, budget;
    unsigned warm; /* requests of warm_tokens admitted first */
    uint64_t warm_tokens;
    uint64_t tokens;
    enum sl_quota_verdict want;
    uint64_t retry_ms;
    bool never;
};

ParameterizedTestParameters(quota, order)
{
    static struct order_case cases[] = {
        { 1, 100, 1000, 1, 100, 50, SL_QUOTA_RPM, 60000, false },      /* RPM and TPM refuse */
        { 2, 100, 1000, 1, 100, 50, SL_QUOTA_TPM, 30000, false },      /* TPM alone */
        { 2, 100, 1000, 1, 100, 101, SL_QUOTA_TPM, 60000, true },      /* never fits TPM */
        { 2, 1000, 100, 1, 100, 1, SL_QUOTA_BUDGET, 31834000, false }, /* until midnight */
        { 1, 1000, 100, 1, 100, 1, SL_QUOTA_RPM, 31834000, false },    /* RPM, budget longer */
        { 1, 1000, 100, 1, 50, 51, SL_QUOTA_RPM, 31834000, false },
        { 2, 1000, 100, 1, 50, 101, SL_QUOTA_BUDGET, 31834000, true },
        { 2, 1000, 100, 1, 50, 50, SL_QUOTA_OK, 0, false },
        { 0, 0, 0, 5, TMAX, TMAX, SL_QUOTA_OK, 0, false }, /* all unlimited */
        { 0, 0, 0, 0, 0, TMAX + 1, SL_QUOTA_TOO_LARGE, 60000, true },
        { 1, 1, 1, 0, 0, TMAX + 1, SL_QUOTA_TOO_LARGE, 60000, true },
    };
    return cr_make_param_array(struct order_case, cases, COUNT(cases));
}

ParameterizedTest(struct order_case *c, quota, order)
{
    struct sl_limits l = lim_of(c->rpm, c->tpm, c->budget, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota before;
    struct sl_quota_result r;
    unsigned i;

    for (i = 0; i < c->warm; i++)
        cr_assert_eq(admit(&q, &l, c->warm_tokens, T0, NOW, &r), SL_QUOTA_OK);
    before = q;
    cr_assert_eq(admit(&q, &l, c->tokens, T0, NOW, &r), c->want);
    cr_assert_eq(r.retry_after_ms, c->retry_ms);
    cr_assert_eq(r.never, c->never);
    if (c->want != SL_QUOTA_OK)
        cr_assert_eq(memcmp(&before, &q, sizeof(q)), 0, "a refusal charges nothing");
}

Test(quota, unlimited_headers)
{
    struct sl_limits l = lim_of(0, 0, 0, SL_PERIOD_MONTH);
    struct sl_quota q = fresh(SL_PERIOD_MONTH, NOW);
    struct sl_quota_result r;
    int i;

    for (i = 0; i < 1000; i++)
        cr_assert_eq(admit(&q, &l, TMAX, T0, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.requests.limit, 0);
    cr_assert_eq(r.info.tokens.limit, 0);
    cr_assert_eq(r.info.budget.budget, 0);
    cr_assert_eq(r.info.budget.remaining, 0);
    cr_assert_eq(r.info.budget.reserved, 1000 * TMAX, "still counted for the usage API");
    cr_assert_eq(r.info.budget.reset_at_s, 1775001600);
    cr_assert_eq(q.rpm.debt, 0);
    cr_assert_eq(q.tpm.debt, 0);
}

Test(quota, huge_limits)
{
    struct sl_limits l = lim_of(BIG, BIG, BIG, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    int i;

    /* TPM acts as SL_QUOTA_RATE_MAX = 100 * TMAX */
    for (i = 0; i < 100; i++)
        cr_assert_eq(admit(&q, &l, TMAX, T0, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.requests.limit, SL_QUOTA_RATE_MAX, "headers show the limit applied");
    cr_assert_eq(r.info.tokens.limit, SL_QUOTA_RATE_MAX);
    cr_assert_eq(r.info.tokens.remaining, 0);
    cr_assert_eq(r.info.requests.remaining, SL_QUOTA_RATE_MAX - 100);
    cr_assert_eq(r.info.budget.remaining, (uint64_t)BIG - 100 * TMAX);
    cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_TPM);
    cr_assert_eq(r.retry_after_ms, 1);
    cr_assert_eq(admit(&q, &l, TMAX, T0, NOW, &r), SL_QUOTA_TPM);
    cr_assert_eq(r.retry_after_ms, 600);
    sl_quota_settle_locked(&q, &l, TMAX, 0, T0, NOW);
    cr_assert_eq(q.reserved, 99 * TMAX);
    cr_assert_eq(admit(&q, &l, TMAX, T0, NOW, &r), SL_QUOTA_OK);
}

/* Workers read the clock before taking the lock, so now_ms may run backwards a little. */
Test(quota, monotonic_reordering)
{
    struct sl_limits l = lim_of(60, 0, 0, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    int i;

    for (i = 0; i < 60; i++)
        cr_assert_eq(admit(&q, &l, 1, T0 + 5000, NOW, &r), SL_QUOTA_OK);
    cr_assert_eq(admit(&q, &l, 1, T0 + 4000, NOW, &r), SL_QUOTA_RPM);
    cr_assert_eq(r.retry_after_ms, 1000, "an earlier clock drains nothing");
    cr_assert_eq(q.rpm.last_ms, T0 + 5000, "last_ms never moves backwards");
    cr_assert_eq(admit(&q, &l, 1, T0 + 6000, NOW, &r), SL_QUOTA_OK);
}

Test(quota, lowered_limit_waits_at_most_a_window)
{
    struct sl_limits l = lim_of(100000, 0, 0, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    int i;

    for (i = 0; i < 100000; i++)
        cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_OK);
    l.rpm = 1;
    cr_assert_eq(admit(&q, &l, 1, T0, NOW, &r), SL_QUOTA_RPM);
    cr_assert_eq(r.retry_after_ms, 60000);
    cr_assert_eq(r.info.requests.reset_ms, 60000);
    cr_assert_eq(admit(&q, &l, 1, T0 + 60000, NOW, &r), SL_QUOTA_OK);
}

Test(quota, rate_only_api)
{
    struct sl_limits l = lim_of(2, 100, 1, SL_PERIOD_DAY);
    struct sl_quota q = fresh(SL_PERIOD_DAY, NOW);
    struct sl_quota_result r;
    struct sl_quota_info info;

    /* the budget of 1 is Redis's business here */
    cr_assert_eq(sl_quota_rate_admit_locked(&q, &l, 60, T0, &r), SL_QUOTA_OK);
    cr_assert_eq(r.info.budget.budget, 0);
    cr_assert_eq(q.reserved, 0);
    cr_assert_eq(sl_quota_rate_admit_locked(&q, &l, 60, T0, &r), SL_QUOTA_TPM);
    sl_quota_rate_settle_locked(&q, &l, 60, 0, T0);
    cr_assert_eq(sl_quota_rate_admit_locked(&q, &l, 60, T0, &r), SL_QUOTA_OK);
    cr_assert_eq(sl_quota_rate_admit_locked(&q, &l, 1, T0, &r), SL_QUOTA_RPM);
    sl_quota_peek_locked(&q, &l, T0, NOW, &info);
    cr_assert_eq(info.requests.remaining, 0);
    cr_assert_eq(info.tokens.remaining, 40);
}

Test(quota, init_sanitises_period)
{
    struct sl_quota q = fresh((enum sl_period)42, NOW);

    cr_assert_eq(q.period, SL_PERIOD_NONE);
    cr_assert_eq(q.period_start_s, 0);
    q = fresh(SL_PERIOD_DAY, NOW);
    cr_assert_eq(q.period, SL_PERIOD_DAY);
    cr_assert_eq(q.period_start_s, 1773446400);
    cr_assert_eq(q.used + q.reserved + q.rpm.debt + q.tpm.debt + q.spare, 0);
}
