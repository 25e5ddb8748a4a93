/* SPDX-License-Identifier: MIT */
/* Upstream retry policy: failure classification, back-off with full jitter, wait hints. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/retry.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CAUSE_BITS (SL_FAIL_CONNECT | SL_FAIL_TIMEOUT | SL_FAIL_BAD_RESPONSE)
/* SPEC §5 retries connection errors, attempt timeouts and retry_statuses, nothing else. */
#define RETRIED_CAUSES (SL_FAIL_CONNECT | SL_FAIL_TIMEOUT)
#define OBSERVED_BITS (CAUSE_BITS | SL_FAIL_BODY_SENT)
#define VETO_BITS (SL_FAIL_BODY_SENT | SL_FAIL_QUOTA | SL_FAIL_AUTH)
#define KNOWN_BITS (OBSERVED_BITS | SL_FAIL_HTTP | SL_FAIL_QUOTA | SL_FAIL_AUTH)
#define QUOTA_CODE "insufficient_quota"
#define SECS_PER_DAY 86400
#define YEAR_MAX 9999 /* HTTP-dates carry at most four year digits */

struct cursor {
    const char *p;
    const char *end;
};

static const char *const wkday_short[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const wkday_long[] = { "Monday", "Tuesday",  "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday" };
static const char *const month_name[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const unsigned short days_before_month[] = { 0,   31,  59,  90,  120, 151,
                                                    181, 212, 243, 273, 304, 334 };

/* ---- classification ---- */

static bool is_quota(const char *s)
{
    return s != NULL && strcmp(s, QUOTA_CODE) == 0;
}

unsigned sl_retry_classify(int http_status, const char *error_code, const char *error_type,
                           unsigned observed)
{
    unsigned f = observed & OBSERVED_BITS;

    if (http_status <= 0) {
        /* No status line at all (curl's "got nothing"): the connection failed us. */
        if ((f & CAUSE_BITS) == 0)
            f |= SL_FAIL_CONNECT;
        return f;
    }
    if (http_status < 200 || http_status >= SL_RETRY_STATUS_COUNT)
        return f | SL_FAIL_BAD_RESPONSE;
    if (http_status < 300)
        return f;
    f |= SL_FAIL_HTTP;
    if (http_status == 401 || http_status == 403)
        f |= SL_FAIL_AUTH;
    if (http_status == 429 && (is_quota(error_code) || is_quota(error_type)))
        f |= SL_FAIL_QUOTA;
    return f;
}

bool sl_retry_is_breaker_failure(unsigned fail, int status)
{
    if (fail & (SL_FAIL_CONNECT | SL_FAIL_TIMEOUT))
        return true;
    if (fail & SL_FAIL_HTTP)
        return status >= 500;
    return (fail & SL_FAIL_BAD_RESPONSE) != 0;
}

/* ---- decision ---- */

static bool default_retry_status(int status)
{
    switch (status) {
    case 408:
    case 409:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504: return true;
    default: return false;
    }
}

static bool status_retriable(const struct sl_retry_policy *p, int status)
{
    if (status < 0 || status >= SL_RETRY_STATUS_COUNT)
        return false;
    /* SPEC §5: the key is wrong, so no retry_statuses setting may make us hammer with it. */
    if (status == 401 || status == 403)
        return false;
    if (p->retry_status == NULL)
        return default_retry_status(status);
    return p->retry_status[status];
}

static bool fail_retriable(const struct sl_retry_policy *p, unsigned fail, int status)
{
    fail &= KNOWN_BITS;
    if (fail & VETO_BITS)
        return false;
    if (fail & SL_FAIL_HTTP)
        return status_retriable(p, status);
    /* A malformed answer (a broken 2xx, an impossible status line) is what the upstream
     * really said: asking again is as likely to bill twice as to help. */
    return (fail & RETRIED_CAUSES) != 0;
}

static uint64_t deadline_left_ms(const struct sl_retry_policy *p, uint64_t elapsed_ms)
{
    return elapsed_ms < p->request_timeout_ms ? p->request_timeout_ms - elapsed_ms : 0;
}

uint64_t sl_retry_attempt_budget_ms(const struct sl_retry_policy *p, uint64_t elapsed_ms)
{
    uint64_t left = deadline_left_ms(p, elapsed_ms);

    return p->attempt_timeout_ms < left ? p->attempt_timeout_ms : left;
}

/* min(backoff_max, base * 2^(attempt-1)) without overflow, then a uniform pick in [0, cap]. */
static uint64_t full_jitter_ms(const struct sl_retry_policy *p, unsigned attempt, uint32_t r)
{
    unsigned shift = attempt - 1;
    uint64_t cap = p->backoff_max_ms;

    if (shift < 64 && p->backoff_base_ms <= (UINT64_MAX >> shift) &&
        (p->backoff_base_ms << shift) < cap)
        cap = p->backoff_base_ms << shift;
    /* Beyond 49 days the deadline clamps anyway; the bound keeps r * (cap + 1) in 64 bits. */
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    return ((uint64_t)r * (cap + 1)) >> 32;
}

bool sl_retry_should(const struct sl_retry_policy *p, unsigned fail, int status, unsigned attempt,
                     uint64_t elapsed_ms, struct sl_retry_hint hint, uint32_t rand_u32,
                     uint64_t *delay_ms)
{
    unsigned max_attempts = p->max_attempts ? p->max_attempts : 1;
    uint64_t need, left, room, delay;

    if (attempt == 0)
        attempt = 1;
    if (!fail_retriable(p, fail, status) || attempt >= max_attempts)
        return false;
    if (p->attempt_timeout_ms == 0)
        return false;
    need = p->attempt_timeout_ms < SL_RETRY_MIN_ATTEMPT_MS ? p->attempt_timeout_ms
                                                           : SL_RETRY_MIN_ATTEMPT_MS;
    left = deadline_left_ms(p, elapsed_ms);
    if (left < need)
        return false;
    room = left - need; /* the latest the next attempt may start, from now */
    delay = full_jitter_ms(p, attempt, rand_u32);
    if (delay > room)
        delay = room;
    if (hint.has_delay) {
        if (hint.delay_ms > room)
            return false;
        if (hint.delay_ms > delay)
            delay = hint.delay_ms;
    }
    *delay_ms = delay;
    return true;
}

bool sl_retry_wait_fits(const struct sl_retry_policy *p, uint64_t elapsed_ms, uint64_t wait_ms,
                        uint32_t rand_u32, uint64_t *delay_ms)
{
    uint64_t need, left, room, spread;

    if (p->attempt_timeout_ms == 0)
        return false;
    need = p->attempt_timeout_ms < SL_RETRY_MIN_ATTEMPT_MS ? p->attempt_timeout_ms
                                                           : SL_RETRY_MIN_ATTEMPT_MS;
    left = deadline_left_ms(p, elapsed_ms);
    if (left < need || wait_ms > left - need)
        return false;
    room = left - need - wait_ms;
    /* Everyone held by one pause would come back at the same millisecond: spread them over
     * up to backoff_base_ms, as much as the deadline leaves. */
    spread = ((uint64_t)rand_u32 *
              ((p->backoff_base_ms < UINT32_MAX ? p->backoff_base_ms : UINT32_MAX) + 1)) >>
             32;
    *delay_ms = wait_ms + (spread < room ? spread : room);
    return true;
}

/* ---- hint parsing ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Bound and trim a header value; false when absent, empty or too long. */
static bool trim(const char *s, struct cursor *c)
{
    size_t n;

    if (s == NULL)
        return false;
    n = strnlen(s, SL_RETRY_HINT_MAX_LEN + 1);
    if (n > SL_RETRY_HINT_MAX_LEN)
        return false;
    c->p = s;
    c->end = s + n;
    while (c->p < c->end && is_ows(*c->p))
        c->p++;
    while (c->end > c->p && is_ows(c->end[-1]))
        c->end--;
    return c->p < c->end;
}

static uint64_t clamp_hint(uint64_t ms)
{
    return ms > SL_RETRY_HINT_MAX_MS ? SL_RETRY_HINT_MAX_MS : ms;
}

/* 1*DIGIT ["." 1*DIGIT] to milliseconds: the text counts milliseconds when frac_digits is 0
 * and seconds when it is 3.  Rounds up so we never wait less than asked. */
static bool parse_decimal(struct cursor c, unsigned frac_digits, uint64_t *ms)
{
    uint64_t whole = 0, frac = 0, scale = 1;
    bool round_up = false;
    unsigned i;

    if (c.p == c.end || !is_digit(*c.p))
        return false;
    for (; c.p < c.end && is_digit(*c.p); c.p++) {
        /* Stop growing past the clamp: the value is "too big" either way. */
        if (whole <= SL_RETRY_HINT_MAX_MS)
            whole = whole * 10 + (uint64_t)(*c.p - '0');
    }
    if (c.p < c.end) {
        if (*c.p != '.' || ++c.p == c.end || !is_digit(*c.p))
            return false;
        for (i = 0; c.p < c.end && is_digit(*c.p); c.p++, i++) {
            if (i < frac_digits)
                frac = frac * 10 + (uint64_t)(*c.p - '0');
            else if (*c.p != '0')
                round_up = true;
        }
        if (c.p != c.end)
            return false;
        for (; i < frac_digits; i++)
            frac *= 10;
    }
    for (i = 0; i < frac_digits; i++)
        scale *= 10;
    *ms = clamp_hint(whole * scale + frac + (round_up ? 1 : 0));
    return true;
}

static bool take_lit(struct cursor *c, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool take_digits(struct cursor *c, unsigned n, int *v)
{
    int x = 0;

    if ((size_t)(c->end - c->p) < n)
        return false;
    for (; n > 0; n--, c->p++) {
        if (!is_digit(*c->p))
            return false;
        x = x * 10 + (*c->p - '0');
    }
    *v = x;
    return true;
}

/* Index of the name the cursor starts with, or -1.  Case-sensitive, as RFC 9110 §5.6.7 says. */
static int take_name(struct cursor *c, const char *const *names, int count)
{
    int i;

    for (i = 0; i < count; i++)
        if (take_lit(c, names[i]))
            return i;
    return -1;
}

static bool take_time(struct cursor *c, int *h, int *m, int *s)
{
    return take_digits(c, 2, h) && take_lit(c, ":") && take_digits(c, 2, m) && take_lit(c, ":") &&
           take_digits(c, 2, s);
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 0000-01-01 (proleptic Gregorian) to y-01-01, for 0 <= y <= YEAR_MAX + 1. */
static int64_t days_before_year(int64_t y)
{
    /* Leap years in [0, y): multiples of 4, minus those of 100, plus those of 400. */
    return 365 * y + (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
}

static int days_in_month(int y, int mon)
{
    static const unsigned char dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    return dim[mon] + (mon == 1 && is_leap(y) ? 1 : 0);
}

/* Civil year of a wall-clock instant, clamped to 0..YEAR_MAX. */
static int year_of(int64_t wall_s)
{
    int64_t days = wall_s / SECS_PER_DAY - (wall_s % SECS_PER_DAY < 0 ? 1 : 0);
    int64_t abs_days = days + days_before_year(1970);
    int64_t y;

    if (abs_days <= 0)
        return 0;
    if (abs_days >= days_before_year(YEAR_MAX + 1))
        return YEAR_MAX;
    y = abs_days * 400 / 146097; /* 146097 days per 400 years: right to within one */
    while (y > 0 && days_before_year(y) > abs_days)
        y--;
    while (y < YEAR_MAX && days_before_year(y + 1) <= abs_days)
        y++;
    return (int)y;
}

struct civil {
    int year, mon, day, hour, min, sec; /* mon 0..11 */
};

static bool civil_to_epoch(const struct civil *t, int64_t *out_s)
{
    int64_t days;

    if (t->year < 0 || t->year > YEAR_MAX || t->mon < 0 || t->mon > 11 || t->day < 1 ||
        t->day > days_in_month(t->year, t->mon) || t->hour > 23 || t->min > 59 ||
        t->sec > 60) /* 60: a leap second is a real HTTP-date */
        return false;
    days = days_before_year(t->year) - days_before_year(1970) + days_before_month[t->mon] +
           (t->mon > 1 && is_leap(t->year) ? 1 : 0) + t->day - 1;
    *out_s = days * SECS_PER_DAY + t->hour * 3600 + t->min * 60 + t->sec;
    return true;
}

/* IMF-fixdate after "Sun": ", 06 Nov 1994 08:49:37 GMT" */
static bool parse_imf_rest(struct cursor *c, struct civil *t)
{
    return take_lit(c, ", ") && take_digits(c, 2, &t->day) && take_lit(c, " ") &&
           (t->mon = take_name(c, month_name, 12)) >= 0 && take_lit(c, " ") &&
           take_digits(c, 4, &t->year) && take_lit(c, " ") &&
           take_time(c, &t->hour, &t->min, &t->sec) && take_lit(c, " GMT");
}

/* RFC 850 after "Sunday": ", 06-Nov-94 08:49:37 GMT"; the century comes from now. */
static bool parse_rfc850_rest(struct cursor *c, struct civil *t, int64_t now_wall_s)
{
    int now_year, yy = 0;

    if (!(take_lit(c, ", ") && take_digits(c, 2, &t->day) && take_lit(c, "-") &&
          (t->mon = take_name(c, month_name, 12)) >= 0 && take_lit(c, "-") &&
          take_digits(c, 2, &yy) && take_lit(c, " ") && take_time(c, &t->hour, &t->min, &t->sec) &&
          take_lit(c, " GMT")))
        return false;
    /* RFC 9110 §5.6.7: the latest year ending in yy that is not more than 50 years ahead. */
    now_year = year_of(now_wall_s);
    t->year = now_year - now_year % 100 + yy;
    if (t->year > now_year + 50)
        t->year -= 100;
    else if (t->year + 100 <= now_year + 50)
        t->year += 100;
    return true;
}

/* asctime after "Sun": " Nov  6 08:49:37 1994" (the day is 2DIGIT or SP 1DIGIT) */
static bool parse_asctime_rest(struct cursor *c, struct civil *t)
{
    if (!(take_lit(c, " ") && (t->mon = take_name(c, month_name, 12)) >= 0 && take_lit(c, " ")))
        return false;
    if (take_lit(c, " ")) {
        if (!take_digits(c, 1, &t->day))
            return false;
    } else if (!take_digits(c, 2, &t->day)) {
        return false;
    }
    return take_lit(c, " ") && take_time(c, &t->hour, &t->min, &t->sec) && take_lit(c, " ") &&
           take_digits(c, 4, &t->year);
}

/* The weekday name is checked for spelling only, not against the date: a wrong weekday still
 * says when the upstream wants us back, and ignoring it would make us retry early. */
static bool parse_http_date(struct cursor c, int64_t now_wall_s, int64_t *out_s)
{
    struct civil t = { 0 };
    bool ok;

    if (take_name(&c, wkday_long, 7) >= 0)
        ok = parse_rfc850_rest(&c, &t, now_wall_s);
    else if (take_name(&c, wkday_short, 7) >= 0)
        ok = c.p < c.end && *c.p == ',' ? parse_imf_rest(&c, &t) : parse_asctime_rest(&c, &t);
    else
        ok = false;
    return ok && c.p == c.end && civil_to_epoch(&t, out_s);
}

static bool parse_retry_after(const char *s, int64_t now_wall_s, uint64_t *ms)
{
    struct cursor c;
    int64_t when_s;
    uint64_t ahead_s;

    if (!trim(s, &c))
        return false;
    if (parse_decimal(c, 3, ms))
        return true;
    if (!parse_http_date(c, now_wall_s, &when_s))
        return false;
    if (when_s <= now_wall_s) {
        *ms = 0;
        return true;
    }
    /* Exact in unsigned arithmetic: the true difference lies in (0, 2^64). */
    ahead_s = (uint64_t)when_s - (uint64_t)now_wall_s;
    *ms = ahead_s > SL_RETRY_HINT_MAX_MS / 1000 ? SL_RETRY_HINT_MAX_MS : ahead_s * 1000;
    return true;
}

struct sl_retry_hint sl_retry_parse_hint(const char *retry_after_ms, const char *retry_after,
                                         int64_t now_wall_s)
{
    struct sl_retry_hint h = { .has_delay = false, .delay_ms = 0 };
    struct cursor c;

    /* Like the OpenAI SDKs: a garbled retry-after-ms falls back to Retry-After. */
    if (trim(retry_after_ms, &c) && parse_decimal(c, 0, &h.delay_ms))
        h.has_delay = true;
    else if (parse_retry_after(retry_after, now_wall_s, &h.delay_ms))
        h.has_delay = true;
    else
        h.delay_ms = 0;
    return h;
}
