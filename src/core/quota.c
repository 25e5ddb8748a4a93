/* SPDX-License-Identifier: MIT */
/* Per-tenant rate limits (GCRA), token budgets per UTC calendar period, reservation sizes. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/quota.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define WINDOW SL_QUOTA_WINDOW_MS
#define SECS_PER_DAY INT64_C(86400)
#define EPOCH_YEAR 1970

/* Outcome of one check, before anything is charged. */
struct check {
    bool ok;
    bool never;       /* waiting cannot make it pass */
    uint64_t wait_ms; /* when !ok: earliest a retry could pass */
};

/* The budget part of a record as it stands at some wall time (after any rollover). */
struct budget_view {
    enum sl_period period;
    int64_t start_s;
    uint64_t used;
};

static const uint16_t days_before_month[2][13] = {
    { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365 },
    { 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366 },
};

/* ---- saturating arithmetic ---- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a)
        return UINT64_MAX;
    return a * b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* ---- reservation estimate ---- */

uint64_t sl_quota_estimate_tokens(const struct sl_quota_estimate *e)
{
    uint64_t t = e->prompt_bytes;
    uint64_t n = e->n ? e->n : 1;

    t = sat_add(t, sat_mul(e->messages, e->per_message_tokens));
    t = sat_add(t, sat_mul(e->images, e->image_tokens));
    return sat_add(t, sat_mul(n, e->max_tokens));
}

/* ---- UTC calendar ---- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Leap years in [1, y). */
static int64_t leaps_before(int64_t y)
{
    return (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
}

/* Days from 1970-01-01 to y-01-01, y >= 1970. */
static int64_t days_to_year(int64_t y)
{
    return 365 * (y - EPOCH_YEAR) + leaps_before(y) - leaps_before(EPOCH_YEAR);
}

static int64_t clamp_wall(int64_t s)
{
    if (s < 0)
        return 0;
    return s > SL_QUOTA_WALL_MAX_S ? SL_QUOTA_WALL_MAX_S : s;
}

/* Year and month (0-11) of a day count since the epoch. */
static void civil_month(int64_t days, int64_t *year, int *month)
{
    /* 365 days a year over-estimates the year by a few at most; step back to it. */
    int64_t y = EPOCH_YEAR + days / 365;
    int64_t doy;
    int m = 0;

    while (days_to_year(y) > days)
        y--;
    doy = days - days_to_year(y);
    while (m < 11 && doy >= days_before_month[is_leap(y)][m + 1])
        m++;
    *year = y;
    *month = m;
}

static int64_t month_start_s(int64_t year, int month)
{
    if (month > 11) {
        year++;
        month = 0;
    }
    return (days_to_year(year) + days_before_month[is_leap(year)][month]) * SECS_PER_DAY;
}

static int64_t period_len_s(enum sl_period p)
{
    switch (p) {
    case SL_PERIOD_MINUTE: return 60;
    case SL_PERIOD_HOUR: return 3600;
    case SL_PERIOD_DAY: return SECS_PER_DAY;
    default: return 0; /* month: variable; none: no length */
    }
}

int64_t sl_quota_period_start(enum sl_period period, int64_t now_wall_s)
{
    int64_t s = clamp_wall(now_wall_s), len = period_len_s(period), year;
    int month;

    if (len > 0)
        return s - s % len;
    if (period != SL_PERIOD_MONTH)
        return 0;
    civil_month(s / SECS_PER_DAY, &year, &month);
    return month_start_s(year, month);
}

int64_t sl_quota_period_end(enum sl_period period, int64_t now_wall_s)
{
    int64_t s = clamp_wall(now_wall_s), len = period_len_s(period), year;
    int month;

    if (len > 0)
        return s - s % len + len;
    if (period != SL_PERIOD_MONTH)
        return 0;
    civil_month(s / SECS_PER_DAY, &year, &month);
    return month_start_s(year, month + 1);
}

/* ---- GCRA rate limits ---- */

/* The effective per-minute limit; 0 = unlimited. */
static uint64_t rate_limit(int64_t configured)
{
    if (configured <= 0)
        return 0;
    return min_u64((uint64_t)configured, SL_QUOTA_RATE_MAX);
}

/* The debt at now_ms.  Capped at one full bucket: more can only come from a lowered limit,
 * and a tenant whose limit was cut should wait at most one window, not pay off the old rate. */
static uint64_t rate_debt(const struct sl_quota_rate *r, uint64_t limit, uint64_t now_ms)
{
    uint64_t debt, elapsed;

    if (limit == 0)
        return r->debt;
    debt = min_u64(r->debt, limit * WINDOW);
    /* Another worker may have read its clock earlier and taken the lock later: time that
     * seems to run backwards drains nothing. */
    if (now_ms <= r->last_ms || debt == 0)
        return debt;
    elapsed = now_ms - r->last_ms;
    if (elapsed > debt / limit)
        return 0;
    return debt - elapsed * limit;
}

static void rate_sync(struct sl_quota_rate *r, uint64_t limit, uint64_t now_ms)
{
    r->debt = rate_debt(r, limit, now_ms);
    if (now_ms > r->last_ms)
        r->last_ms = now_ms;
}

static struct check rate_check(uint64_t debt, uint64_t limit, uint64_t items)
{
    struct check c = { .ok = true };
    uint64_t cap = limit * WINDOW, need;

    if (limit == 0)
        return c;
    c.ok = false;
    if (items > limit) {
        c.never = true;
        c.wait_ms = WINDOW;
        return c;
    }
    need = debt + items * WINDOW; /* <= 2 * cap: no overflow below SL_QUOTA_RATE_MAX */
    if (need <= cap) {
        c.ok = true;
        return c;
    }
    c.wait_ms = (need - cap + limit - 1) / limit;
    return c;
}

static void rate_window(const struct sl_quota_rate *r, int64_t configured, uint64_t now_ms,
                        struct sl_quota_window *out)
{
    uint64_t limit = rate_limit(configured), debt;

    memset(out, 0, sizeof(*out));
    if (limit == 0)
        return;
    debt = rate_debt(r, limit, now_ms);
    out->limit = limit; /* the limit applied: a client sees remaining and reset against it */
    out->remaining = (limit * WINDOW - debt) / WINDOW;
    out->reset_ms = (debt + limit - 1) / limit;
}

/* Correct a TPM charge of `reserved` tokens to `actual`. */
static void rate_correct(struct sl_quota_rate *r, int64_t configured, uint64_t reserved,
                         uint64_t actual, uint64_t now_ms)
{
    uint64_t limit = rate_limit(configured), extra;

    if (limit == 0)
        return;
    rate_sync(r, limit, now_ms);
    if (actual <= reserved) {
        r->debt = sat_sub(r->debt, sat_mul(reserved - actual, WINDOW));
        return;
    }
    extra = min_u64(actual - reserved, limit);
    r->debt = min_u64(r->debt + extra * WINDOW, limit * WINDOW);
}

/* ---- budget ---- */

static uint64_t budget_of(const struct sl_limits *lim)
{
    return lim->token_budget > 0 ? (uint64_t)lim->token_budget : 0;
}

static enum sl_period sane_period(enum sl_period p)
{
    switch (p) {
    case SL_PERIOD_MINUTE:
    case SL_PERIOD_HOUR:
    case SL_PERIOD_DAY:
    case SL_PERIOD_MONTH: return p;
    default: return SL_PERIOD_NONE;
    }
}

static enum sl_period period_of(const struct sl_limits *lim)
{
    return sane_period(lim->budget_period);
}

static struct budget_view budget_at(const struct sl_quota *q, const struct sl_limits *lim,
                                    int64_t now_wall_s)
{
    struct budget_view v = { .period = period_of(lim) };
    int64_t ps = sl_quota_period_start(v.period, now_wall_s);

    /* Only a period that began after the record's start resets: a clock stepped backwards or a
     * period changed to a longer one must not forgive tokens already spent. */
    v.used = ps > q->period_start_s ? 0 : q->used;
    if (ps > q->period_start_s || q->period != (uint32_t)v.period)
        v.start_s = ps;
    else
        v.start_s = q->period_start_s;
    return v;
}

static void budget_sync(struct sl_quota *q, const struct sl_limits *lim, int64_t now_wall_s)
{
    struct budget_view v = budget_at(q, lim, now_wall_s);

    q->used = v.used;
    q->period_start_s = v.start_s;
    q->period = (uint32_t)v.period;
}

static int64_t budget_reset_at(const struct budget_view *v)
{
    if (v->period == SL_PERIOD_NONE)
        return 0;
    return sl_quota_period_end(v->period, v->start_s);
}

static struct check budget_check(const struct sl_quota *q, const struct sl_limits *lim, uint64_t n,
                                 int64_t now_wall_s)
{
    struct check c = { .ok = true };
    struct budget_view v = budget_at(q, lim, now_wall_s);
    uint64_t budget = budget_of(lim);
    int64_t reset_at, now = clamp_wall(now_wall_s);

    if (budget == 0 || sat_add(sat_add(v.used, q->reserved), n) <= budget)
        return c;
    c.ok = false;
    c.never = n > budget || (v.period == SL_PERIOD_NONE && sat_add(v.used, n) > budget);
    reset_at = budget_reset_at(&v);
    /* A lifetime budget has no reset; in-flight reservations may still free room. */
    c.wait_ms = reset_at > now ? (uint64_t)(reset_at - now) * 1000 : WINDOW;
    return c;
}

static void budget_info(const struct sl_quota *q, const struct sl_limits *lim, int64_t now_wall_s,
                        struct sl_quota_budget *out)
{
    struct budget_view v = budget_at(q, lim, now_wall_s);

    memset(out, 0, sizeof(*out));
    out->budget = budget_of(lim);
    out->used = v.used;
    out->reserved = q->reserved;
    if (out->budget)
        out->remaining = sat_sub(out->budget, sat_add(v.used, q->reserved));
    out->period = v.period;
    out->period_start_s = v.start_s;
    out->reset_at_s = budget_reset_at(&v);
}

/* ---- admission ---- */

static void fill_info(const struct sl_quota *q, const struct sl_limits *lim, uint64_t now_ms,
                      int64_t now_wall_s, bool with_budget, struct sl_quota_info *out)
{
    memset(out, 0, sizeof(*out));
    rate_window(&q->rpm, lim->rpm, now_ms, &out->requests);
    rate_window(&q->tpm, lim->tpm, now_ms, &out->tokens);
    if (with_budget)
        budget_info(q, lim, now_wall_s, &out->budget);
}

/* The first refusal names the verdict; every refusal bounds the wait, since a retry must get
 * past all of them. */
static void refuse(struct sl_quota_result *res, enum sl_quota_verdict v, const struct check *c)
{
    if (c->ok)
        return;
    if (res->verdict == SL_QUOTA_OK)
        res->verdict = v;
    res->retry_after_ms = max_u64(res->retry_after_ms, c->wait_ms);
    res->never = res->never || c->never;
}

static enum sl_quota_verdict admit(struct sl_quota *q, const struct sl_limits *lim, uint64_t tokens,
                                   uint64_t now_ms, int64_t now_wall_s, bool with_budget,
                                   struct sl_quota_result *res)
{
    uint64_t rpm = rate_limit(lim->rpm), tpm = rate_limit(lim->tpm);
    struct check c_rpm, c_tpm, c_budget = { .ok = true };

    memset(res, 0, sizeof(*res));
    if (tokens > SL_QUOTA_TOKENS_MAX) {
        res->verdict = SL_QUOTA_TOO_LARGE;
        res->never = true;
        res->retry_after_ms = WINDOW;
        fill_info(q, lim, now_ms, now_wall_s, with_budget, &res->info);
        return res->verdict;
    }
    if (rpm)
        rate_sync(&q->rpm, rpm, now_ms);
    if (tpm)
        rate_sync(&q->tpm, tpm, now_ms);
    if (with_budget) {
        budget_sync(q, lim, now_wall_s);
        c_budget = budget_check(q, lim, tokens, now_wall_s);
    }
    c_rpm = rate_check(q->rpm.debt, rpm, 1);
    c_tpm = rate_check(q->tpm.debt, tpm, tokens);
    refuse(res, SL_QUOTA_RPM, &c_rpm);
    refuse(res, SL_QUOTA_TPM, &c_tpm);
    refuse(res, SL_QUOTA_BUDGET, &c_budget);
    if (res->never)
        res->retry_after_ms = max_u64(res->retry_after_ms, WINDOW);
    if (res->verdict == SL_QUOTA_OK) {
        if (rpm)
            q->rpm.debt += WINDOW;
        if (tpm)
            q->tpm.debt += tokens * WINDOW;
        if (with_budget)
            q->reserved = sat_add(q->reserved, tokens);
    }
    fill_info(q, lim, now_ms, now_wall_s, with_budget, &res->info);
    return res->verdict;
}

void sl_quota_init(struct sl_quota *q, enum sl_period period, int64_t now_wall_s)
{
    memset(q, 0, sizeof(*q));
    period = sane_period(period);
    q->period = (uint32_t)period;
    q->period_start_s = sl_quota_period_start(period, now_wall_s);
}

enum sl_quota_verdict sl_quota_admit_locked(struct sl_quota *q, const struct sl_limits *lim,
                                            uint64_t tokens, uint64_t now_ms, int64_t now_wall_s,
                                            struct sl_quota_result *res)
{
    return admit(q, lim, tokens, now_ms, now_wall_s, true, res);
}

enum sl_quota_verdict sl_quota_rate_admit_locked(struct sl_quota *q, const struct sl_limits *lim,
                                                 uint64_t tokens, uint64_t now_ms,
                                                 struct sl_quota_result *res)
{
    return admit(q, lim, tokens, now_ms, 0, false, res);
}

void sl_quota_settle_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t reserved,
                            uint64_t actual, uint64_t now_ms, int64_t now_wall_s)
{
    rate_correct(&q->tpm, lim->tpm, reserved, actual, now_ms);
    sl_quota_budget_settle_locked(q, lim, reserved, actual, now_wall_s);
}

void sl_quota_refund_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t reserved,
                            uint64_t now_ms, int64_t now_wall_s)
{
    sl_quota_settle_locked(q, lim, reserved, 0, now_ms, now_wall_s);
}

void sl_quota_peek_locked(const struct sl_quota *q, const struct sl_limits *lim, uint64_t now_ms,
                          int64_t now_wall_s, struct sl_quota_info *out)
{
    fill_info(q, lim, now_ms, now_wall_s, true, out);
}

void sl_quota_rate_settle_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t reserved,
                                 uint64_t actual, uint64_t now_ms)
{
    rate_correct(&q->tpm, lim->tpm, reserved, actual, now_ms);
}

bool sl_quota_budget_reserve_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t n,
                                    int64_t now_wall_s)
{
    budget_sync(q, lim, now_wall_s);
    if (!budget_check(q, lim, n, now_wall_s).ok)
        return false;
    q->reserved = sat_add(q->reserved, n);
    return true;
}

void sl_quota_budget_settle_locked(struct sl_quota *q, const struct sl_limits *lim,
                                   uint64_t reserved_n, uint64_t actual, int64_t now_wall_s)
{
    budget_sync(q, lim, now_wall_s);
    q->reserved = sat_sub(q->reserved, reserved_n);
    q->used = sat_add(q->used, actual);
}

void sl_quota_budget_refund_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t n,
                                   int64_t now_wall_s)
{
    sl_quota_budget_settle_locked(q, lim, n, 0, now_wall_s);
}

void sl_quota_budget_reset_locked(struct sl_quota *q, const struct sl_limits *lim,
                                  int64_t now_wall_s)
{
    budget_sync(q, lim, now_wall_s);
    q->used = 0;
}

void sl_quota_budget_unsettle_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t n,
                                     int64_t now_wall_s)
{
    budget_sync(q, lim, now_wall_s);
    q->used = sat_sub(q->used, n);
}
