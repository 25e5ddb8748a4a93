/* SPDX-License-Identifier: MIT */
/* quota.h - per-tenant admission arithmetic (SPEC §4): the request rate (RPM), the token rate
 * (TPM) and the token budget per calendar period, plus the reservation-size estimate.
 *
 * One struct sl_quota per tenant lives in the shared segment: fixed size, plain integers, no
 * pointers, so any worker (and the master, for a dead worker's reservations) can work on it.
 * Every function named _locked is plain arithmetic on that record and assumes the caller holds
 * the tenant's lock for the whole call (the shm store module owns the lock): these functions
 * never lock, never log, never allocate and never read a clock.  Callers pass now_ms (the
 * monotonic clock, shared by all workers of a host) for the rate limits and now_wall_s (UTC
 * seconds since the epoch) for the calendar budget periods.  Limits are not stored in the
 * record; they are passed in on each call, so a reload or an admin change takes effect at once.
 *
 * Rate limits: GCRA (the generic cell rate algorithm), chosen over a two-window sliding
 * estimate because it is exact (no estimate that over- or under-admits at a window edge), needs
 * one number per limit (a sliding window needs two counters and a window start), has a clear
 * burst (a tenant idle for a minute may spend its whole per-minute limit at once, then earns it
 * back continuously at limit/60 s, which is what x-ratelimit-remaining/-reset describe), gives
 * an exact retry time, and is the maths the Redis limiter will use too (research §4.4/§4.5).
 * The GCRA state is kept as a debt, in 1/60000ths of an item (request or token), with the time
 * it was last brought up to date; the debt drains at `limit` units per millisecond, one item
 * costs 60000 units, and the bucket holds limit * 60000 units.  That keeps every value exact
 * and within 64 bits with no 128-bit arithmetic, and the debt means the same whatever the
 * limit is, so changing a limit needs no rescaling.  Rate limits above SL_QUOTA_RATE_MAX act as
 * SL_QUOTA_RATE_MAX, and the headers say so: a limit, its remaining and its reset always
 * describe one window (with Redis, the scripts' lower cap applies the same way).
 *
 * Budget: `used` (tokens settled in the current period) and `reserved` (tokens held by
 * requests in flight).  Admission needs used + reserved + n <= budget, so with reservations
 * that are true upper bounds used never exceeds the budget.  Two things can push used above
 * it, both outside this module's control and both documented here: an upstream that reports
 * more tokens than were reserved (settle records what was really spent), and an operator who
 * lowers the budget below what was already used.  Either way admission then refuses until the
 * period ends.
 *
 * Periods (enum sl_period) are UTC calendar periods: a minute, an hour, a day from UTC
 * midnight, a month from the first of the month 00:00 UTC, or none (a lifetime budget that
 * never resets).  When now_wall_s falls in a period that starts after the record's
 * period_start, used restarts at 0 but reserved is kept: those requests are still running.
 * A reservation made in one period and settled in a later one is charged to the period in
 * which it settles.  That is the safe choice: the new period's admissions already counted the
 * in-flight reservation in `reserved`, so charging it there keeps used + reserved <= budget;
 * charging the old period would forget the tokens.  The price is that a request started just
 * before midnight is paid from the next day.  A wall clock stepped backwards never resets
 * anything.  Changing a tenant's period applies the same rule to the new kind of period: used
 * restarts when the current period of the new kind began after the record's period_start
 * (day -> hour usually restarts, hour -> day keeps the hour's usage as the day's).
 *
 * Overflow: budgets up to 10^15 and reservations up to SL_QUOTA_TOKENS_MAX; every sum
 * saturates, so even a corrupted or hostile record cannot wrap a counter. */
#ifndef SL_QUOTA_H
#define SL_QUOTA_H
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"

#define SL_QUOTA_WINDOW_MS UINT64_C(60000)          /* RPM and TPM are per minute */
#define SL_QUOTA_RATE_MAX UINT64_C(100000000000000) /* 10^14 per minute, see above */
#define SL_QUOTA_TOKENS_MAX UINT64_C(1000000000000) /* 10^12, one request's reservation */
/* Wall times are clamped to 1970-01-01 .. 9999-12-31T23:59:59Z. */
#define SL_QUOTA_WALL_MAX_S INT64_C(253402300799)

/* GCRA state of one per-minute limit.  debt is in 1/SL_QUOTA_WINDOW_MS of an item. */
struct sl_quota_rate {
    uint64_t debt;
    uint64_t last_ms; /* now_ms of the last update; never moves backwards */
};

/* One tenant's record in the shared segment.  64 bytes; all-zero is not valid: use
 * sl_quota_init().  Restoring one from a state file is a plain copy. */
struct sl_quota {
    struct sl_quota_rate rpm;
    struct sl_quota_rate tpm;
    uint64_t used;          /* tokens settled in the current period */
    uint64_t reserved;      /* tokens held by requests in flight */
    int64_t period_start_s; /* UTC start of the current period; 0 for none */
    uint32_t period;        /* enum sl_period that period_start_s belongs to */
    uint32_t spare;         /* zero; keeps the record 64 bytes */
};

enum sl_quota_verdict {
    SL_QUOTA_OK = 0,
    SL_QUOTA_RPM,       /* 429 rate_limit_exceeded, transient */
    SL_QUOTA_TPM,       /* 429 rate_limit_exceeded, transient unless never */
    SL_QUOTA_BUDGET,    /* 429 insufficient_quota, x-should-retry: false */
    SL_QUOTA_TOO_LARGE, /* reservation above SL_QUOTA_TOKENS_MAX: a bad request */
};

/* One x-ratelimit-* trio.  limit 0 means unlimited: then remaining and reset_ms are 0 and
 * the caller omits the trio (or sends its own notion of unlimited). */
struct sl_quota_window {
    uint64_t limit;     /* as configured (per minute) */
    uint64_t remaining; /* items that could be admitted right now */
    uint64_t reset_ms;  /* until the limit is fully replenished */
};

/* The budget as the usage API and the budget-refusal headers show it. */
struct sl_quota_budget {
    uint64_t budget; /* 0 = unlimited (used and reserved are still counted) */
    uint64_t used;
    uint64_t reserved;
    uint64_t remaining; /* budget - used - reserved, at least 0; 0 if unlimited */
    enum sl_period period;
    int64_t period_start_s; /* UTC; 0 for none */
    int64_t reset_at_s;     /* UTC end of the period; 0 for none (never resets) */
};

struct sl_quota_info {
    struct sl_quota_window requests; /* x-ratelimit-*-requests */
    struct sl_quota_window tokens;   /* x-ratelimit-*-tokens (TPM) */
    struct sl_quota_budget budget;
};

struct sl_quota_result {
    enum sl_quota_verdict verdict;
    /* On refusal: the earliest a retry of the same request could pass, in ms: the longest
     * wait among all the checks that refuse it now (RPM, TPM, and for the budget the end of
     * the period), so waiting less cannot help.  Round up to whole seconds, at least 1, for
     * Retry-After.  0 on success. */
    uint64_t retry_after_ms;
    /* On refusal: no amount of waiting admits this request under the current limits (it
     * alone exceeds the TPM limit or the budget, the lifetime budget has no room left for it,
     * or it is SL_QUOTA_TOO_LARGE).  Send x-should-retry: false.  retry_after_ms is then
     * still a usable header value (at least one window). */
    bool never;
    /* Header values: after this request's reservation on success, without it on refusal. */
    struct sl_quota_info info;
};

/* Reservation-size estimate (SPEC §4), an upper bound of the tokens a request can cost:
 * prompt_bytes + messages * per_message_tokens + images * image_tokens + n * max_tokens.
 * One token per prompt byte never under-counts.  n = 0 counts as 1.  Saturates at UINT64_MAX,
 * which admission then refuses as SL_QUOTA_TOO_LARGE. */
struct sl_quota_estimate {
    uint64_t prompt_bytes; /* all message text, system prompt included */
    uint64_t messages;
    uint64_t per_message_tokens; /* [limits] message_overhead_tokens */
    uint64_t images;             /* image parts */
    uint64_t image_tokens;       /* [limits] image_tokens */
    uint64_t n;                  /* choices */
    uint64_t max_tokens;         /* max_tokens / max_completion_tokens, cap applied */
};
uint64_t sl_quota_estimate_tokens(const struct sl_quota_estimate *e);

/* Calendar periods in UTC.  now_wall_s is clamped to 0..SL_QUOTA_WALL_MAX_S.  The start of
 * the period containing now_wall_s (0 for SL_PERIOD_NONE), and the start of the next one
 * (0 for SL_PERIOD_NONE).  An out-of-range period acts as SL_PERIOD_NONE. */
int64_t sl_quota_period_start(enum sl_period period, int64_t now_wall_s);
int64_t sl_quota_period_end(enum sl_period period, int64_t now_wall_s);

/* A fresh record: no debt, nothing used or reserved, the period containing now_wall_s. */
void sl_quota_init(struct sl_quota *q, enum sl_period period, int64_t now_wall_s);

/* The whole quota part of admission, in SPEC §4 order: RPM, then TPM, then the budget, for a
 * request reserving `tokens` (sl_quota_estimate_tokens()).  All or nothing: on SL_QUOTA_OK
 * one request is counted against RPM and `tokens` against TPM and the budget's reserved; on a
 * refusal nothing is charged.  res (required) gets the verdict, the first check that refused
 * (in that order), the retry time and the header values.  A limit of 0 is unlimited.
 * Returns res->verdict. */
enum sl_quota_verdict sl_quota_admit_locked(struct sl_quota *q, const struct sl_limits *lim,
                                            uint64_t tokens, uint64_t now_ms, int64_t now_wall_s,
                                            struct sl_quota_result *res);
/* The call finished and the upstream reported `actual` tokens for a request admitted with
 * `reserved` tokens: budget reserved -= reserved, used += actual; the TPM debt is corrected
 * from the reservation to the actual use (the difference refunded, or an overshoot charged,
 * never beyond one full minute of debt).  RPM is not refunded: the request happened.  Call
 * exactly once per admitted request, or sl_quota_refund_locked() instead. */
void sl_quota_settle_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t reserved,
                            uint64_t actual, uint64_t now_ms, int64_t now_wall_s);
/* The request cost nothing (failed, or refused later in admission): as settle with actual 0. */
void sl_quota_refund_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t reserved,
                            uint64_t now_ms, int64_t now_wall_s);
/* Header and usage values now, changing nothing (a period that has ended shows used 0). */
void sl_quota_peek_locked(const struct sl_quota *q, const struct sl_limits *lim, uint64_t now_ms,
                          int64_t now_wall_s, struct sl_quota_info *out);

/* The parts on their own, for when budgets live in Redis and only the rate limits are local
 * (SPEC §4).  sl_quota_rate_admit_locked() is admission without the budget check: the same
 * result, never SL_QUOTA_BUDGET, res->info.budget left zeroed.  Undo or correct it with
 * sl_quota_rate_settle_locked() (actual 0 to refund). */
enum sl_quota_verdict sl_quota_rate_admit_locked(struct sl_quota *q, const struct sl_limits *lim,
                                                 uint64_t tokens, uint64_t now_ms,
                                                 struct sl_quota_result *res);
void sl_quota_rate_settle_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t reserved,
                                 uint64_t actual, uint64_t now_ms);
/* Budget only.  reserve: true and reserved += n when used + reserved + n <= budget (or the
 * budget is 0 = unlimited); false and no change otherwise.  settle: reserved -= reserved_n,
 * used += actual (actual may exceed reserved_n; see above).  refund: reserved -= n.  A
 * release larger than what is reserved (a record restored without its reservations) stops at
 * 0.  Each first rolls the period over if now_wall_s is in a later one. */
bool sl_quota_budget_reserve_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t n,
                                    int64_t now_wall_s);
void sl_quota_budget_settle_locked(struct sl_quota *q, const struct sl_limits *lim,
                                   uint64_t reserved_n, uint64_t actual, int64_t now_wall_s);
void sl_quota_budget_refund_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t n,
                                   int64_t now_wall_s);
/* Take back tokens settled earlier (used -= n, at least 0): with Redis, this host's record
 * counts only what it admitted alone and has not yet written to Redis. */
void sl_quota_budget_unsettle_locked(struct sl_quota *q, const struct sl_limits *lim, uint64_t n,
                                     int64_t now_wall_s);
/* Admin "usage reset": used = 0 for the current period; in-flight reservations stay. */
void sl_quota_budget_reset_locked(struct sl_quota *q, const struct sl_limits *lim,
                                  int64_t now_wall_s);
#endif /* SL_QUOTA_H */
