/* SPDX-License-Identifier: MIT */
/* Tests for the upstream retry policy: classification, decisions, back-off, deadline, hints. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/retry.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define RMAX UINT32_MAX
#define UNTOUCHED UINT64_C(0xdeadbeef)
/* Wed, 21 Oct 2015 07:28:00 GMT */
#define NOW INT64_C(1445412480)

static const struct sl_retry_hint no_hint = { .has_delay = false, .delay_ms = 0 };

/* SPEC §7 defaults. */
static struct sl_retry_policy spec_policy(void)
{
    struct sl_retry_policy p = {
        .max_attempts = 3,
        .request_timeout_ms = 20000,
        .attempt_timeout_ms = 18000,
        .backoff_base_ms = 300,
        .backoff_max_ms = 8000,
        .retry_status = NULL,
    };
    return p;
}

static struct sl_retry_hint hint_of(uint64_t ms)
{
    struct sl_retry_hint h = { .has_delay = true, .delay_ms = ms };
    return h;
}

/* ---- sl_retry_classify ---- */

struct classify_case {
    int status;
    char code[40]; /* "" = NULL */
    char type[24]; /* "" = NULL */
    unsigned observed;
    unsigned want;
};

ParameterizedTestParameters(retry, classify)
{
    static struct classify_case cases[] = {
        /* no response at all */
        { 0, "", "", 0, SL_FAIL_CONNECT },
        { -1, "", "", 0, SL_FAIL_CONNECT },
        { INT_MIN, "", "", 0, SL_FAIL_CONNECT },
        { 0, "", "", SL_FAIL_CONNECT, SL_FAIL_CONNECT },
        { 0, "", "", SL_FAIL_TIMEOUT, SL_FAIL_TIMEOUT },
        { 0, "", "", SL_FAIL_BAD_RESPONSE, SL_FAIL_BAD_RESPONSE },
        { 0, "", "", SL_FAIL_BODY_SENT, SL_FAIL_CONNECT | SL_FAIL_BODY_SENT },
        { 0, "", "", SL_FAIL_TIMEOUT | SL_FAIL_BODY_SENT, SL_FAIL_TIMEOUT | SL_FAIL_BODY_SENT },
        /* caller cannot inject HTTP/AUTH/QUOTA or unknown bits */
        { 0, "", "", SL_FAIL_HTTP | SL_FAIL_AUTH | SL_FAIL_QUOTA, SL_FAIL_CONNECT },
        { 200, "", "", SL_FAIL_HTTP | SL_FAIL_AUTH | SL_FAIL_QUOTA | (1u << 20), SL_FAIL_NONE },
        /* 2xx */
        { 200, "", "", 0, SL_FAIL_NONE },
        { 201, "", "", 0, SL_FAIL_NONE },
        { 204, "", "", 0, SL_FAIL_NONE },
        { 299, "", "", 0, SL_FAIL_NONE },
        { 200, "insufficient_quota", "insufficient_quota", 0, SL_FAIL_NONE },
        { 200, "", "", SL_FAIL_BAD_RESPONSE, SL_FAIL_BAD_RESPONSE },
        { 200, "", "", SL_FAIL_TIMEOUT, SL_FAIL_TIMEOUT },
        { 200, "", "", SL_FAIL_CONNECT | SL_FAIL_BODY_SENT, SL_FAIL_CONNECT | SL_FAIL_BODY_SENT },
        /* impossible statuses */
        { 1, "", "", 0, SL_FAIL_BAD_RESPONSE },
        { 99, "", "", 0, SL_FAIL_BAD_RESPONSE },
        { 100, "", "", 0, SL_FAIL_BAD_RESPONSE },
        { 101, "", "", 0, SL_FAIL_BAD_RESPONSE },
        { 199, "", "", 0, SL_FAIL_BAD_RESPONSE },
        { 600, "", "", 0, SL_FAIL_BAD_RESPONSE },
        { 999, "", "", 0, SL_FAIL_BAD_RESPONSE },
        { INT_MAX, "", "", 0, SL_FAIL_BAD_RESPONSE },
        /* 3xx */
        { 300, "", "", 0, SL_FAIL_HTTP },
        { 301, "", "", 0, SL_FAIL_HTTP },
        { 304, "", "", 0, SL_FAIL_HTTP },
        { 399, "", "", 0, SL_FAIL_HTTP },
        /* 4xx */
        { 400, "", "", 0, SL_FAIL_HTTP },
        { 400, "insufficient_quota", "", 0, SL_FAIL_HTTP },
        { 401, "", "", 0, SL_FAIL_HTTP | SL_FAIL_AUTH },
        { 401, "invalid_api_key", "invalid_request_error", 0, SL_FAIL_HTTP | SL_FAIL_AUTH },
        { 402, "", "", 0, SL_FAIL_HTTP },
        { 403, "", "", 0, SL_FAIL_HTTP | SL_FAIL_AUTH },
        { 403, "unsupported_country_region_territory", "", 0, SL_FAIL_HTTP | SL_FAIL_AUTH },
        { 404, "model_not_found", "", 0, SL_FAIL_HTTP },
        { 408, "", "", 0, SL_FAIL_HTTP },
        { 409, "", "", 0, SL_FAIL_HTTP },
        { 413, "", "", 0, SL_FAIL_HTTP },
        { 422, "", "", 0, SL_FAIL_HTTP },
        { 499, "", "", 0, SL_FAIL_HTTP },
        /* 429: rate limit versus quota */
        { 429, "", "", 0, SL_FAIL_HTTP },
        { 429, "rate_limit_exceeded", "requests", 0, SL_FAIL_HTTP },
        { 429, "insufficient_quota", "", 0, SL_FAIL_HTTP | SL_FAIL_QUOTA },
        { 429, "", "insufficient_quota", 0, SL_FAIL_HTTP | SL_FAIL_QUOTA },
        { 429, "insufficient_quota", "insufficient_quota", 0, SL_FAIL_HTTP | SL_FAIL_QUOTA },
        { 429, "rate_limit_exceeded", "insufficient_quota", 0, SL_FAIL_HTTP | SL_FAIL_QUOTA },
        { 429, "INSUFFICIENT_QUOTA", "", 0, SL_FAIL_HTTP },
        { 429, "insufficient_quota ", "", 0, SL_FAIL_HTTP },
        { 429, "insufficient", "", 0, SL_FAIL_HTTP },
        { 429, "insufficient_quota", "", SL_FAIL_BODY_SENT,
          SL_FAIL_HTTP | SL_FAIL_QUOTA | SL_FAIL_BODY_SENT },
        /* 5xx */
        { 500, "", "", 0, SL_FAIL_HTTP },
        { 500, "insufficient_quota", "", 0, SL_FAIL_HTTP },
        { 501, "", "", 0, SL_FAIL_HTTP },
        { 502, "", "", 0, SL_FAIL_HTTP },
        { 503, "", "", 0, SL_FAIL_HTTP },
        { 503, "", "", SL_FAIL_TIMEOUT, SL_FAIL_HTTP | SL_FAIL_TIMEOUT },
        { 503, "", "", SL_FAIL_BAD_RESPONSE, SL_FAIL_HTTP | SL_FAIL_BAD_RESPONSE },
        { 504, "", "", 0, SL_FAIL_HTTP },
        { 599, "", "", 0, SL_FAIL_HTTP },
    };
    return cr_make_param_array(struct classify_case, cases, COUNT(cases));
}

ParameterizedTest(struct classify_case *c, retry, classify)
{
    unsigned got = sl_retry_classify(c->status, c->code[0] ? c->code : NULL,
                                     c->type[0] ? c->type : NULL, c->observed);

    cr_assert_eq(got, c->want, "status %d code '%s' type '%s' observed %#x: got %#x want %#x",
                 c->status, c->code, c->type, c->observed, got, c->want);
}

/* ---- sl_retry_should: which failures are retried (SPEC defaults, rand 0, elapsed 0) ---- */

struct decision_case {
    unsigned fail;
    int status;
    unsigned attempt;
    bool want;
};

ParameterizedTestParameters(retry, decision)
{
    static struct decision_case cases[] = {
        /* nothing failed */
        { SL_FAIL_NONE, 0, 1, false },
        { SL_FAIL_NONE, 503, 1, false },
        /* each cause bit */
        { SL_FAIL_CONNECT, 0, 1, true },
        { SL_FAIL_TIMEOUT, 0, 1, true },
        /* SPEC §5: a malformed answer is not retried (issue: it was, as a dropped
         * connection, so a broken 200 could be billed up to max_attempts times) */
        { SL_FAIL_BAD_RESPONSE, 200, 1, false },
        { SL_FAIL_BAD_RESPONSE, 0, 1, false },
        { SL_FAIL_BAD_RESPONSE | SL_FAIL_CONNECT, 0, 1, true },
        { SL_FAIL_CONNECT | SL_FAIL_TIMEOUT, 0, 1, true },
        /* each veto bit, alone and with every cause */
        { SL_FAIL_BODY_SENT, 200, 1, false },
        { SL_FAIL_CONNECT | SL_FAIL_BODY_SENT, 0, 1, false },
        { SL_FAIL_TIMEOUT | SL_FAIL_BODY_SENT, 200, 1, false },
        { SL_FAIL_BAD_RESPONSE | SL_FAIL_BODY_SENT, 200, 1, false },
        { SL_FAIL_HTTP | SL_FAIL_BODY_SENT, 503, 1, false },
        { SL_FAIL_QUOTA, 429, 1, false },
        { SL_FAIL_HTTP | SL_FAIL_QUOTA, 429, 1, false },
        { SL_FAIL_CONNECT | SL_FAIL_QUOTA, 0, 1, false },
        { SL_FAIL_AUTH, 401, 1, false },
        { SL_FAIL_HTTP | SL_FAIL_AUTH, 401, 1, false },
        { SL_FAIL_HTTP | SL_FAIL_AUTH, 403, 1, false },
        { SL_FAIL_TIMEOUT | SL_FAIL_AUTH, 0, 1, false },
        /* unknown bits neither retry nor veto */
        { 1u << 20, 0, 1, false },
        { SL_FAIL_CONNECT | (1u << 20), 0, 1, true },
        { 0x80000000u, 0, 1, false },
        /* every status class through the default retry_statuses */
        { SL_FAIL_HTTP, 300, 1, false },
        { SL_FAIL_HTTP, 301, 1, false },
        { SL_FAIL_HTTP, 304, 1, false },
        { SL_FAIL_HTTP, 400, 1, false },
        { SL_FAIL_HTTP, 401, 1, false }, /* even without the AUTH bit */
        { SL_FAIL_HTTP, 403, 1, false },
        { SL_FAIL_HTTP, 404, 1, false },
        { SL_FAIL_HTTP, 405, 1, false },
        { SL_FAIL_HTTP, 408, 1, true },
        { SL_FAIL_HTTP, 409, 1, true },
        { SL_FAIL_HTTP, 410, 1, false },
        { SL_FAIL_HTTP, 413, 1, false },
        { SL_FAIL_HTTP, 422, 1, false },
        { SL_FAIL_HTTP, 425, 1, false },
        { SL_FAIL_HTTP, 429, 1, true },
        { SL_FAIL_HTTP, 499, 1, false },
        { SL_FAIL_HTTP, 500, 1, true },
        { SL_FAIL_HTTP, 501, 1, false },
        { SL_FAIL_HTTP, 502, 1, true },
        { SL_FAIL_HTTP, 503, 1, true },
        { SL_FAIL_HTTP, 504, 1, true },
        { SL_FAIL_HTTP, 505, 1, false },
        { SL_FAIL_HTTP, 507, 1, false },
        { SL_FAIL_HTTP, 599, 1, false },
        /* statuses outside the table never index it */
        { SL_FAIL_HTTP, -1, 1, false },
        { SL_FAIL_HTTP, INT_MIN, 1, false },
        { SL_FAIL_HTTP, 600, 1, false },
        { SL_FAIL_HTTP, INT_MAX, 1, false },
        /* with HTTP the status decides, whatever else went wrong */
        { SL_FAIL_HTTP | SL_FAIL_TIMEOUT, 400, 1, false },
        { SL_FAIL_HTTP | SL_FAIL_CONNECT, 404, 1, false },
        { SL_FAIL_HTTP | SL_FAIL_BAD_RESPONSE, 422, 1, false },
        { SL_FAIL_HTTP | SL_FAIL_TIMEOUT, 503, 1, true },
        { SL_FAIL_HTTP | SL_FAIL_BAD_RESPONSE, 500, 1, true },
        /* attempts: max_attempts = 3 */
        { SL_FAIL_CONNECT, 0, 0, true }, /* 0 acts as 1 */
        { SL_FAIL_CONNECT, 0, 2, true },
        { SL_FAIL_CONNECT, 0, 3, false },
        { SL_FAIL_CONNECT, 0, 4, false },
        { SL_FAIL_CONNECT, 0, UINT_MAX, false },
        { SL_FAIL_HTTP, 503, 2, true },
        { SL_FAIL_HTTP, 503, 3, false },
        { SL_FAIL_HTTP, 429, 3, false },
        { SL_FAIL_TIMEOUT, 0, 3, false },
    };
    return cr_make_param_array(struct decision_case, cases, COUNT(cases));
}

ParameterizedTest(struct decision_case *c, retry, decision)
{
    struct sl_retry_policy p = spec_policy();
    uint64_t delay_ms = UNTOUCHED;
    bool got = sl_retry_should(&p, c->fail, c->status, c->attempt, 0, no_hint, 0, &delay_ms);

    cr_assert_eq(got, c->want, "fail %#x status %d attempt %u: got %d", c->fail, c->status,
                 c->attempt, got);
    if (got)
        cr_assert_eq(delay_ms, 0);
    else
        cr_assert_eq(delay_ms, UNTOUCHED, "delay_ms written on refusal");
}

/* The same decisions must hold through an explicit table equal to the default. */
Test(retry, explicit_default_table_matches_null)
{
    static const int dflt[] = { 408, 409, 429, 500, 502, 503, 504 };
    bool table[SL_RETRY_STATUS_COUNT] = { false };
    struct sl_retry_policy a = spec_policy(), b = spec_policy();
    uint64_t d;
    size_t i;
    int s;

    for (i = 0; i < COUNT(dflt); i++)
        table[dflt[i]] = true;
    b.retry_status = table;
    for (s = -2; s <= SL_RETRY_STATUS_COUNT + 1; s++)
        cr_assert_eq(sl_retry_should(&a, SL_FAIL_HTTP, s, 1, 0, no_hint, 0, &d),
                     sl_retry_should(&b, SL_FAIL_HTTP, s, 1, 0, no_hint, 0, &d), "status %d", s);
}

Test(retry, custom_table)
{
    bool table[SL_RETRY_STATUS_COUNT] = { false };
    struct sl_retry_policy p = spec_policy();
    uint64_t d;

    table[418] = true;
    table[401] = true; /* a careless config cannot make us retry a bad key */
    table[403] = true;
    table[429] = true;
    p.retry_status = table;
    cr_assert(sl_retry_should(&p, SL_FAIL_HTTP, 418, 1, 0, no_hint, 0, &d));
    cr_assert(sl_retry_should(&p, SL_FAIL_HTTP, 429, 1, 0, no_hint, 0, &d));
    cr_assert_not(sl_retry_should(&p, SL_FAIL_HTTP | SL_FAIL_QUOTA, 429, 1, 0, no_hint, 0, &d));
    cr_assert_not(sl_retry_should(&p, SL_FAIL_HTTP, 503, 1, 0, no_hint, 0, &d));
    cr_assert_not(sl_retry_should(&p, SL_FAIL_HTTP, 401, 1, 0, no_hint, 0, &d));
    cr_assert_not(sl_retry_should(&p, SL_FAIL_HTTP, 403, 1, 0, no_hint, 0, &d));
    /* transport failures do not depend on the table */
    cr_assert(sl_retry_should(&p, SL_FAIL_CONNECT, 0, 1, 0, no_hint, 0, &d));
    cr_assert(sl_retry_should(&p, SL_FAIL_TIMEOUT, 0, 1, 0, no_hint, 0, &d));
    cr_assert_not(sl_retry_should(&p, SL_FAIL_BAD_RESPONSE, 200, 1, 0, no_hint, 0, &d),
                  "SPEC §5: a malformed answer is not retried");
}

Test(retry, empty_table_still_retries_transport_failures)
{
    bool table[SL_RETRY_STATUS_COUNT] = { false };
    struct sl_retry_policy p = spec_policy();
    uint64_t d;
    int s;

    p.retry_status = table;
    for (s = 0; s < SL_RETRY_STATUS_COUNT; s++)
        cr_assert_not(sl_retry_should(&p, SL_FAIL_HTTP, s, 1, 0, no_hint, 0, &d));
    cr_assert(sl_retry_should(&p, SL_FAIL_CONNECT, 0, 1, 0, no_hint, 0, &d));
}

/* classify feeding should: the path the upstream module takes */
struct pipeline_case {
    int status;
    char code[24];
    unsigned observed;
    bool want;
};

ParameterizedTestParameters(retry, pipeline)
{
    static struct pipeline_case cases[] = {
        { 0, "", 0, true },
        { 0, "", SL_FAIL_TIMEOUT, true },
        { 0, "", SL_FAIL_TIMEOUT | SL_FAIL_BODY_SENT, false },
        { 200, "", 0, false },
        { 200, "", SL_FAIL_BAD_RESPONSE, false },
        { 200, "", SL_FAIL_TIMEOUT | SL_FAIL_BODY_SENT, false },
        { 101, "", 0, false }, /* an impossible status is a bad response */
        { 700, "", 0, false },
        { 302, "", 0, false },
        { 400, "context_length_exceeded", 0, false },
        { 401, "invalid_api_key", 0, false },
        { 403, "", 0, false },
        { 404, "", 0, false },
        { 408, "", 0, true },
        { 409, "", 0, true },
        { 422, "", 0, false },
        { 429, "rate_limit_exceeded", 0, true },
        { 429, "", 0, true },
        { 429, "insufficient_quota", 0, false },
        { 500, "", 0, true },
        { 501, "", 0, false },
        { 502, "", 0, true },
        { 503, "", 0, true },
        { 503, "", SL_FAIL_BODY_SENT, false },
        { 504, "", 0, true },
    };
    return cr_make_param_array(struct pipeline_case, cases, COUNT(cases));
}

ParameterizedTest(struct pipeline_case *c, retry, pipeline)
{
    struct sl_retry_policy p = spec_policy();
    unsigned fail = sl_retry_classify(c->status, c->code[0] ? c->code : NULL, NULL, c->observed);
    uint64_t d;

    cr_assert_eq(sl_retry_should(&p, fail, c->status, 1, 0, no_hint, 0, &d), c->want,
                 "status %d code '%s' observed %#x", c->status, c->code, c->observed);
}

/* ---- max_attempts ---- */

struct attempts_case {
    unsigned max_attempts;
    unsigned attempt;
    bool want;
};

ParameterizedTestParameters(retry, attempts)
{
    static struct attempts_case cases[] = {
        { 0, 0, false },
        { 0, 1, false },
        { 1, 0, false },
        { 1, 1, false },
        { 2, 1, true },
        { 2, 2, false },
        { 5, 1, true },
        { 5, 4, true },
        { 5, 5, false },
        { 5, 6, false },
        { UINT_MAX, 1, true },
        { UINT_MAX, UINT_MAX - 1, true },
        { UINT_MAX, UINT_MAX, false },
    };
    return cr_make_param_array(struct attempts_case, cases, COUNT(cases));
}

ParameterizedTest(struct attempts_case *c, retry, attempts)
{
    struct sl_retry_policy p = spec_policy();
    uint64_t d;

    p.max_attempts = c->max_attempts;
    cr_assert_eq(sl_retry_should(&p, SL_FAIL_CONNECT, 0, c->attempt, 0, no_hint, RMAX, &d), c->want,
                 "max %u attempt %u", c->max_attempts, c->attempt);
}

/* ---- full jitter: bounds at rand 0 and UINT32_MAX, the cap, overflow ---- */

struct jitter_case {
    uint64_t base_ms, max_ms;
    unsigned attempt;
    uint32_t rand;
    uint64_t want_ms;
};

ParameterizedTestParameters(retry, jitter)
{
    static struct jitter_case cases[] = {
        { 300, 8000, 1, 0, 0 },
        { 300, 8000, 1, RMAX, 300 },
        { 300, 8000, 1, 0x80000000u, 150 }, /* floor(0.5 * 301) */
        { 300, 8000, 2, 0, 0 },
        { 300, 8000, 2, RMAX, 600 },
        { 300, 8000, 3, RMAX, 1200 },
        { 300, 8000, 4, RMAX, 2400 },
        { 300, 8000, 5, RMAX, 4800 },
        { 300, 8000, 6, RMAX, 8000 }, /* 9600 capped */
        { 300, 8000, 6, 0, 0 },
        { 300, 8000, 7, RMAX, 8000 },
        { 300, 8000, 32, RMAX, 8000 },
        { 300, 8000, 33, RMAX, 8000 },
        { 300, 8000, 63, RMAX, 8000 },
        { 300, 8000, 64, RMAX, 8000 }, /* 2^63 * 300 would overflow */
        { 300, 8000, 65, RMAX, 8000 }, /* shift by 64 would be undefined */
        { 300, 8000, 1000, RMAX, 8000 },
        { 300, 8000, UINT_MAX - 1, RMAX, 8000 },
        { 300, 8000, UINT_MAX - 1, 0, 0 },
        { 1, UINT64_MAX, 1, RMAX, 1 },
        { 1, UINT64_MAX, 33, RMAX, UINT64_C(4294967295) }, /* 2^32 clamped to 2^32-1 */
        { 1, UINT64_MAX, 64, RMAX, UINT64_C(4294967295) }, /* 2^63 */
        { 2, UINT64_MAX, 64, RMAX, UINT64_C(4294967295) }, /* 2^64: saturates */
        { 1, UINT64_MAX, 65, RMAX, UINT64_C(4294967295) },
        { UINT64_MAX, UINT64_MAX, 1, RMAX, UINT64_C(4294967295) },
        { UINT64_MAX, UINT64_MAX, 1, 0, 0 },
        { 1, 1000, 10, RMAX, 512 },
        { 1, 1000, 11, RMAX, 1000 },
        { 0, 8000, 1, RMAX, 0 }, /* no base, no back-off */
        { 0, 8000, 64, RMAX, 0 },
        { 300, 0, 1, RMAX, 0 },        /* cap 0 */
        { 5000, 1000, 1, RMAX, 1000 }, /* max below base */
        { 5000, 1000, 1, 0x80000000u, 500 },
    };
    return cr_make_param_array(struct jitter_case, cases, COUNT(cases));
}

ParameterizedTest(struct jitter_case *c, retry, jitter)
{
    struct sl_retry_policy p = {
        .max_attempts = UINT_MAX,
        .request_timeout_ms = UINT64_MAX,
        .attempt_timeout_ms = 1000,
        .backoff_base_ms = c->base_ms,
        .backoff_max_ms = c->max_ms,
    };
    uint64_t d = UNTOUCHED;

    cr_assert(sl_retry_should(&p, SL_FAIL_TIMEOUT, 0, c->attempt, 0, no_hint, c->rand, &d));
    cr_assert_eq(d, c->want_ms, "base %llu max %llu attempt %u rand %#x: got %llu want %llu",
                 (unsigned long long)c->base_ms, (unsigned long long)c->max_ms, c->attempt, c->rand,
                 (unsigned long long)d, (unsigned long long)c->want_ms);
}

static uint64_t model_cap(uint64_t base, uint64_t max, unsigned attempt)
{
    uint64_t c = base < max ? base : max;
    unsigned i;

    for (i = 1; i < attempt && c < max; i++)
        c = c > max / 2 ? max : c * 2;
    return c;
}

/* Every rand lands in [0, cap], grows with rand, and hits both ends. */
Test(retry, jitter_range_and_monotonic)
{
    static const uint32_t rands[] = { 0,           1,           2,           1000,     0x00ffffffu,
                                      0x7fffffffu, 0x80000000u, 0xfffffff0u, RMAX - 1, RMAX };
    struct sl_retry_policy p = {
        .max_attempts = UINT_MAX,
        .request_timeout_ms = UINT64_MAX,
        .attempt_timeout_ms = 1000,
        .backoff_base_ms = 300,
        .backoff_max_ms = 8000,
    };
    unsigned a;
    size_t i;

    for (a = 1; a <= 70; a++) {
        uint64_t cap = model_cap(300, 8000, a), prev = 0, d;

        for (i = 0; i < COUNT(rands); i++) {
            cr_assert(sl_retry_should(&p, SL_FAIL_CONNECT, 0, a, 0, no_hint, rands[i], &d));
            cr_assert_leq(d, cap, "attempt %u rand %#x", a, rands[i]);
            cr_assert_geq(d, prev, "attempt %u rand %#x", a, rands[i]);
            prev = d;
        }
        cr_assert_eq(prev, cap, "attempt %u: rand max must reach the cap", a);
    }
}

/* ---- deadline arithmetic and hints ---- */

struct deadline_case {
    uint64_t request_ms, attempt_ms;
    unsigned attempt;
    uint64_t elapsed_ms;
    bool has_hint;
    uint64_t hint_ms;
    uint32_t rand;
    bool want;
    uint64_t want_delay_ms;
};

ParameterizedTestParameters(retry, deadline)
{
    static struct deadline_case cases[] = {
        /* plenty of time */
        { 20000, 18000, 1, 0, false, 0, RMAX, true, 300 },
        { 20000, 18000, 2, 5000, false, 0, RMAX, true, 600 },
        /* the minimum useful attempt (1000 ms) must remain after the delay */
        { 20000, 18000, 1, 18999, false, 0, 0, true, 0 },
        { 20000, 18000, 1, 19000, false, 0, 0, true, 0 },
        { 20000, 18000, 1, 19000, false, 0, RMAX, true, 0 }, /* back-off shortened to 0 */
        { 20000, 18000, 1, 19001, false, 0, 0, false, 0 },
        { 20000, 18000, 1, 20000, false, 0, 0, false, 0 },
        { 20000, 18000, 1, 20001, false, 0, 0, false, 0 },
        { 20000, 18000, 1, UINT64_MAX, false, 0, 0, false, 0 },
        /* our own back-off is shortened to leave exactly the minimum */
        { 20000, 18000, 2, 18500, false, 0, RMAX, true, 500 },
        { 20000, 18000, 5, 15000, false, 0, RMAX, true, 4000 },
        { 20000, 18000, 5, 14000, false, 0, RMAX, true, 4800 },
        /* a hint that fits is a floor under the jitter */
        { 20000, 18000, 1, 0, true, 1500, 0, true, 1500 },
        { 20000, 18000, 1, 0, true, 1500, RMAX, true, 1500 },
        { 20000, 18000, 2, 0, true, 100, RMAX, true, 600 },
        { 20000, 18000, 2, 0, true, 600, RMAX, true, 600 },
        { 20000, 18000, 1, 0, true, 0, 0, true, 0 },
        { 20000, 18000, 1, 0, true, 0, RMAX, true, 300 },
        /* a hint that does not fit: no retry (never come back early) */
        { 20000, 18000, 1, 10000, true, 9000, 0, true, 9000 },
        { 20000, 18000, 1, 10000, true, 9001, 0, false, 0 },
        { 20000, 18000, 1, 0, true, 19000, 0, true, 19000 },
        { 20000, 18000, 1, 0, true, 19001, 0, false, 0 },
        { 20000, 18000, 1, 0, true, 60000, 0, false, 0 },
        { 20000, 18000, 1, 0, true, 86400000, 0, false, 0 },
        { 20000, 18000, 1, 0, true, UINT64_MAX, 0, false, 0 },
        { 20000, 18000, 1, 19500, true, 0, 0, false, 0 },
        /* jitter shortened while the hint still sets the floor */
        { 20000, 18000, 6, 12000, true, 5000, RMAX, true, 7000 },
        { 20000, 18000, 6, 12000, true, 7000, RMAX, true, 7000 },
        /* a short attempt timeout lowers the minimum useful time */
        { 2000, 500, 1, 1500, false, 0, RMAX, true, 0 },
        { 2000, 500, 1, 1501, false, 0, 0, false, 0 },
        { 2000, 500, 1, 1000, false, 0, RMAX, true, 300 },
        { 2000, 500, 1, 1000, true, 500, 0, true, 500 },
        { 2000, 500, 1, 1000, true, 501, 0, false, 0 },
        /* degenerate policies */
        { 0, 18000, 1, 0, false, 0, 0, false, 0 },
        { 20000, 0, 1, 0, false, 0, 0, false, 0 },
        { 1, 1, 1, 0, false, 0, RMAX, true, 0 },
        { 1, 1, 1, 1, false, 0, 0, false, 0 },
        { UINT64_MAX, UINT64_MAX, 1, UINT64_MAX - 1000, false, 0, RMAX, true, 0 },
        { UINT64_MAX, UINT64_MAX, 1, UINT64_MAX - 1300, false, 0, RMAX, true, 300 },
        { UINT64_MAX, UINT64_MAX, 1, UINT64_MAX - 999, false, 0, 0, false, 0 },
    };
    return cr_make_param_array(struct deadline_case, cases, COUNT(cases));
}

ParameterizedTest(struct deadline_case *c, retry, deadline)
{
    struct sl_retry_policy p = spec_policy();
    struct sl_retry_hint h = c->has_hint ? hint_of(c->hint_ms) : no_hint;
    uint64_t d = UNTOUCHED;
    bool got;

    p.max_attempts = 10;
    p.request_timeout_ms = c->request_ms;
    p.attempt_timeout_ms = c->attempt_ms;
    got = sl_retry_should(&p, SL_FAIL_HTTP, 503, c->attempt, c->elapsed_ms, h, c->rand, &d);
    cr_assert_eq(got, c->want, "elapsed %llu hint %d/%llu: got %d",
                 (unsigned long long)c->elapsed_ms, c->has_hint, (unsigned long long)c->hint_ms,
                 got);
    if (got)
        cr_assert_eq(d, c->want_delay_ms, "delay %llu want %llu", (unsigned long long)d,
                     (unsigned long long)c->want_delay_ms);
    else
        cr_assert_eq(d, UNTOUCHED);
}

/* Whenever a retry is granted, the next attempt starts before the deadline with at least the
 * minimum useful time, and never earlier than the upstream asked. */
Test(retry, granted_retry_always_leaves_room)
{
    static const uint64_t elapsed[] = { 0, 1, 999, 5000, 10000, 15000, 18000, 18999, 19000 };
    static const uint64_t hints[] = { 0, 1, 300, 1000, 5000, 9000, 18999, 19000, 19001 };
    static const uint32_t rands[] = { 0, 12345, 0x80000000u, RMAX };
    struct sl_retry_policy p = spec_policy();
    size_t e, h, r;
    unsigned a;

    p.max_attempts = 100;
    for (a = 1; a < 12; a++)
        for (e = 0; e < COUNT(elapsed); e++)
            for (h = 0; h <= COUNT(hints); h++)
                for (r = 0; r < COUNT(rands); r++) {
                    struct sl_retry_hint hint = h < COUNT(hints) ? hint_of(hints[h]) : no_hint;
                    uint64_t d;

                    if (!sl_retry_should(&p, SL_FAIL_TIMEOUT, 0, a, elapsed[e], hint, rands[r], &d))
                        continue;
                    cr_assert_geq(sl_retry_attempt_budget_ms(&p, elapsed[e] + d),
                                  SL_RETRY_MIN_ATTEMPT_MS);
                    cr_assert_leq(elapsed[e] + d + SL_RETRY_MIN_ATTEMPT_MS, p.request_timeout_ms);
                    if (hint.has_delay)
                        cr_assert_geq(d, hint.delay_ms);
                    cr_assert_leq(d, hint.has_delay && hint.delay_ms > model_cap(300, 8000, a)
                                         ? hint.delay_ms
                                         : model_cap(300, 8000, a));
                }
}

/* ---- sl_retry_attempt_budget_ms ---- */

struct budget_case {
    uint64_t request_ms, attempt_ms, elapsed_ms, want_ms;
};

ParameterizedTestParameters(retry, budget)
{
    static struct budget_case cases[] = {
        { 20000, 18000, 0, 18000 },
        { 20000, 18000, 1999, 18000 },
        { 20000, 18000, 2000, 18000 },
        { 20000, 18000, 2001, 17999 },
        { 20000, 18000, 19999, 1 },
        { 20000, 18000, 20000, 0 },
        { 20000, 18000, 20001, 0 }, /* past the deadline: no underflow */
        { 20000, 18000, UINT64_MAX, 0 },
        { 20000, 30000, 0, 20000 }, /* attempt timeout above the request's */
        { 0, 18000, 0, 0 },
        { 20000, 0, 0, 0 },
        { UINT64_MAX, UINT64_MAX, 0, UINT64_MAX },
        { UINT64_MAX, 18000, UINT64_MAX - 1, 1 },
    };
    return cr_make_param_array(struct budget_case, cases, COUNT(cases));
}

ParameterizedTest(struct budget_case *c, retry, budget)
{
    struct sl_retry_policy p = spec_policy();

    p.request_timeout_ms = c->request_ms;
    p.attempt_timeout_ms = c->attempt_ms;
    cr_assert_eq(sl_retry_attempt_budget_ms(&p, c->elapsed_ms), c->want_ms,
                 "request %llu attempt %llu elapsed %llu", (unsigned long long)c->request_ms,
                 (unsigned long long)c->attempt_ms, (unsigned long long)c->elapsed_ms);
}

/* ---- sl_retry_is_breaker_failure ---- */

struct breaker_case {
    unsigned fail;
    int status;
    bool want;
};

ParameterizedTestParameters(retry, breaker)
{
    static struct breaker_case cases[] = {
        { SL_FAIL_NONE, 200, false },
        { SL_FAIL_CONNECT, 0, true },
        { SL_FAIL_TIMEOUT, 0, true },
        { SL_FAIL_BAD_RESPONSE, 200, true },
        { SL_FAIL_BODY_SENT, 200, false },
        { SL_FAIL_CONNECT | SL_FAIL_BODY_SENT, 200, true }, /* stream cut mid-way */
        { SL_FAIL_TIMEOUT | SL_FAIL_BODY_SENT, 200, true },
        { SL_FAIL_HTTP, 301, false },
        { SL_FAIL_HTTP, 400, false },
        { SL_FAIL_HTTP | SL_FAIL_AUTH, 401, false },
        { SL_FAIL_HTTP | SL_FAIL_AUTH, 403, false },
        { SL_FAIL_HTTP, 404, false },
        { SL_FAIL_HTTP, 408, false },
        { SL_FAIL_HTTP, 409, false },
        { SL_FAIL_HTTP, 422, false },
        { SL_FAIL_HTTP, 429, false },
        { SL_FAIL_HTTP | SL_FAIL_QUOTA, 429, false },
        { SL_FAIL_HTTP | SL_FAIL_BAD_RESPONSE, 429, false },
        { SL_FAIL_HTTP, 499, false },
        { SL_FAIL_HTTP, 500, true },
        { SL_FAIL_HTTP, 501, true },
        { SL_FAIL_HTTP, 502, true },
        { SL_FAIL_HTTP, 503, true },
        { SL_FAIL_HTTP, 504, true },
        { SL_FAIL_HTTP, 599, true },
        { SL_FAIL_HTTP | SL_FAIL_BODY_SENT, 503, true },
        { SL_FAIL_HTTP | SL_FAIL_TIMEOUT, 404, true }, /* a stalled body is ill health */
        { SL_FAIL_QUOTA, 429, false },
        { SL_FAIL_AUTH, 401, false },
        { 1u << 20, 0, false },
    };
    return cr_make_param_array(struct breaker_case, cases, COUNT(cases));
}

ParameterizedTest(struct breaker_case *c, retry, breaker)
{
    cr_assert_eq(sl_retry_is_breaker_failure(c->fail, c->status), c->want, "fail %#x status %d",
                 c->fail, c->status);
}

/* ---- sl_retry_parse_hint ---- */

#define MS_NULL 1u
#define RA_NULL 2u

struct hint_case {
    char ms[64];
    char ra[64];
    unsigned nulls;
    int64_t now_s;
    bool has;
    uint64_t want_ms;
};

ParameterizedTestParameters(retry, hint)
{
    static struct hint_case cases[] = {
        /* nothing */
        { "", "", MS_NULL | RA_NULL, NOW, false, 0 },
        { "", "", 0, NOW, false, 0 },
        { "  ", "\t", 0, NOW, false, 0 },
        /* retry-after-ms */
        { "1500", "", RA_NULL, NOW, true, 1500 },
        { "1500.7", "", RA_NULL, NOW, true, 1501 }, /* rounds up */
        { "1500.0", "", RA_NULL, NOW, true, 1500 },
        { "1500.000001", "", RA_NULL, NOW, true, 1501 },
        { "0", "", RA_NULL, NOW, true, 0 },
        { "0.4", "", RA_NULL, NOW, true, 1 },
        { "007", "", RA_NULL, NOW, true, 7 },
        { " 1500 ", "", RA_NULL, NOW, true, 1500 },
        { "\t1500\r\n", "", RA_NULL, NOW, true, 1500 },
        { "86400000", "", RA_NULL, NOW, true, 86400000 },
        { "86400001", "", RA_NULL, NOW, true, 86400000 }, /* clamped */
        { "99999999999999999999999999", "", RA_NULL, NOW, true, 86400000 },
        { "18446744073709551616", "", RA_NULL, NOW, true, 86400000 },
        { "abc", "", RA_NULL, NOW, false, 0 },
        { "-1", "", RA_NULL, NOW, false, 0 },
        { "-0", "", RA_NULL, NOW, false, 0 },
        { "+5", "", RA_NULL, NOW, false, 0 },
        { "", "", RA_NULL, NOW, false, 0 },
        { "1e3", "", RA_NULL, NOW, false, 0 },
        { "0x10", "", RA_NULL, NOW, false, 0 },
        { ".5", "", RA_NULL, NOW, false, 0 },
        { "5.", "", RA_NULL, NOW, false, 0 },
        { "1.2.3", "", RA_NULL, NOW, false, 0 },
        { "1 500", "", RA_NULL, NOW, false, 0 },
        { "1500ms", "", RA_NULL, NOW, false, 0 },
        { "NaN", "", RA_NULL, NOW, false, 0 },
        { "inf", "", RA_NULL, NOW, false, 0 },
        /* retry-after-ms is not a date */
        { "Wed, 21 Oct 2015 07:28:30 GMT", "", RA_NULL, NOW, false, 0 },
        /* Retry-After, delta seconds */
        { "", "1", MS_NULL, NOW, true, 1000 },
        { "", "2.5", MS_NULL, NOW, true, 2500 },
        { "", "2.5004", MS_NULL, NOW, true, 2501 },
        { "", "2.0001", MS_NULL, NOW, true, 2001 },
        { "", "0.001", MS_NULL, NOW, true, 1 },
        { "", "0.0001", MS_NULL, NOW, true, 1 },
        { "", "0", MS_NULL, NOW, true, 0 },
        { "", "0.000", MS_NULL, NOW, true, 0 },
        { "", "120", MS_NULL, NOW, true, 120000 },
        { "", " 1 ", MS_NULL, NOW, true, 1000 },
        { "", "\t30\t", MS_NULL, NOW, true, 30000 },
        { "", "86400", MS_NULL, NOW, true, 86400000 },
        { "", "86401", MS_NULL, NOW, true, 86400000 },
        { "", "99999999999999999999", MS_NULL, NOW, true, 86400000 },
        { "", "-1", MS_NULL, NOW, false, 0 },
        { "", "1e2", MS_NULL, NOW, false, 0 },
        { "", "1,5", MS_NULL, NOW, false, 0 },
        { "", "abc", MS_NULL, NOW, false, 0 },
        { "", "", MS_NULL, NOW, false, 0 },
        /* Retry-After, IMF-fixdate */
        { "", "Wed, 21 Oct 2015 07:28:00 GMT", MS_NULL, NOW, true, 0 }, /* = now */
        { "", "Wed, 21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, true, 30000 },
        { "", "Wed, 21 Oct 2015 07:28:01 GMT", MS_NULL, NOW, true, 1000 },
        { "", "Wed, 21 Oct 2015 07:27:59 GMT", MS_NULL, NOW, true, 0 }, /* past */
        { "", "Tue, 20 Oct 2015 07:28:00 GMT", MS_NULL, NOW, true, 0 },
        { "", "Sun, 06 Nov 1994 08:49:37 GMT", MS_NULL, NOW, true, 0 },
        { "", "Sun, 01 Nov 2015 07:28:00 GMT", MS_NULL, NOW - 3600, true, 86400000 },
        { "", "Wed, 21 Oct 2015 07:28:00 GMT", MS_NULL, NOW - 86400, true, 86400000 },
        { "", "Wed, 21 Oct 2015 07:28:00 GMT", MS_NULL, NOW - 86399, true, 86399000 },
        { "", "Fri, 31 Dec 9999 23:59:59 GMT", MS_NULL, NOW, true, 86400000 },
        { "", "Mon, 29 Feb 2016 00:00:00 GMT", MS_NULL, INT64_C(1456703990), true, 10000 },
        { "", "Sat, 01 Jan 0000 00:00:00 GMT", MS_NULL, NOW, true, 0 },
        { "", "Wed, 21 Oct 2015 07:28:60 GMT", MS_NULL, NOW, true, 60000 }, /* leap second */
        { "", "Thu, 01 Jan 1970 00:00:00 GMT", MS_NULL, INT64_C(-5), true, 5000 },
        { "", "Thu, 01 Jan 1970 00:00:00 GMT", MS_NULL, INT64_MIN, true, 86400000 },
        { "", "Fri, 31 Dec 9999 23:59:59 GMT", MS_NULL, INT64_MAX, true, 0 },
        { "", "  Wed, 21 Oct 2015 07:28:30 GMT\r\n", MS_NULL, NOW, true, 30000 },
        /* weekday not checked against the date */
        { "", "Mon, 21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, true, 30000 },
        /* bad IMF-fixdates */
        { "", "Tue, 29 Feb 2015 00:00:00 GMT", MS_NULL, NOW, false, 0 },
        { "", "Mon, 29 Feb 2100 00:00:00 GMT", MS_NULL, NOW, false, 0 },
        { "", "Tue, 29 Feb 2000 00:00:00 GMT", MS_NULL, NOW, true, 0 },
        { "", "Thu, 31 Apr 2015 00:00:00 GMT", MS_NULL, NOW, false, 0 },
        { "", "Thu, 00 Oct 2015 00:00:00 GMT", MS_NULL, NOW, false, 0 },
        { "", "Thu, 32 Oct 2015 00:00:00 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 24:00:00 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:60:00 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28:61 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Foo 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "wed, 21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "WED, 21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Xyz, 21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28:30 UTC", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28:30 gmt", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28:30", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28:30 GMT x", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28:30 GMTZ", MS_NULL, NOW, false, 0 },
        { "", "Wed, 1 Oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed,  21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 15 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 7:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct +015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed 21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wednesday, 21 Oct 2015 07:28:30 GMT", MS_NULL, NOW, false, 0 },
        { "", "2015-10-21T07:28:30Z", MS_NULL, NOW, false, 0 },
        { "", "Wed", MS_NULL, NOW, false, 0 },
        { "", "Wed,", MS_NULL, NOW, false, 0 },
        /* RFC 850 */
        { "", "Wednesday, 21-Oct-15 07:28:10 GMT", MS_NULL, NOW, true, 10000 },
        { "", "Tuesday, 20-Oct-15 07:28:00 GMT", MS_NULL, NOW, true, 0 },
        { "", "Sunday, 06-Nov-94 08:49:37 GMT", MS_NULL, NOW, true, 0 },
        { "", "Wednesday, 21-Oct-65 07:28:00 GMT", MS_NULL, NOW, true, 86400000 }, /* 2065 */
        { "", "Thursday, 21-Oct-66 07:28:00 GMT", MS_NULL, NOW, true, 0 },         /* 1966 */
        { "", "Thursday, 01-Jan-70 00:00:00 GMT", MS_NULL, INT64_C(-1), true, 1000 },
        { "", "Saturday, 01-Jan-00 00:00:00 GMT", MS_NULL, INT64_C(946684799), true, 1000 },
        { "", "Wednesday, 21-Oct-2015 07:28:10 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wednesday, 21 Oct 15 07:28:10 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wednesday, 21-Oct-15 07:28:10 UTC", MS_NULL, NOW, false, 0 },
        { "", "Wednesday, 31-Sep-15 07:28:10 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21-Oct-15 07:28:10 GMT", MS_NULL, NOW, false, 0 },
        { "", "wednesday, 21-Oct-15 07:28:10 GMT", MS_NULL, NOW, false, 0 },
        { "", "Wednesday, 21-oct-15 07:28:10 GMT", MS_NULL, NOW, false, 0 },
        /* asctime */
        { "", "Wed Oct 21 07:28:05 2015", MS_NULL, NOW, true, 5000 },
        { "", "Sun Nov  1 07:28:00 2015", MS_NULL, NOW - 3600, true, 86400000 },
        { "", "Sun Nov  1 07:28:00 2015", MS_NULL, INT64_C(1446362870), true, 10000 },
        { "", "Sun Nov 01 07:28:00 2015", MS_NULL, INT64_C(1446362870), true, 10000 },
        { "", "Sun Nov  6 08:49:37 1994", MS_NULL, NOW, true, 0 },
        { "", " Wed Oct 21 07:28:05 2015 ", MS_NULL, NOW, true, 5000 },
        { "", "Sun Nov 1 07:28:00 2015", MS_NULL, NOW, false, 0 },
        { "", "Sun Nov   1 07:28:00 2015", MS_NULL, NOW, false, 0 },
        { "", "Sun Nov  1 07:28:00 15", MS_NULL, NOW, false, 0 },
        { "", "Sun Nov  1 07:28:00 2015 GMT", MS_NULL, NOW, false, 0 },
        { "", "Sun Nov  0 07:28:00 2015", MS_NULL, NOW, false, 0 },
        { "", "Sunday Nov  1 07:28:00 2015", MS_NULL, NOW, false, 0 },
        /* garbage */
        { "", "soon", MS_NULL, NOW, false, 0 },
        { "", "tomorrow", MS_NULL, NOW, false, 0 },
        { "", "Wed, 21 Oct 2015 07:28:00 GMT\x01", MS_NULL, NOW, false, 0 },
        { "",
          "1\x00"
          "5",
          MS_NULL, NOW, true, 1000 }, /* C string ends at the NUL */
        /* precedence: a valid retry-after-ms wins */
        { "1500", "2", 0, NOW, true, 1500 },
        { "0", "30", 0, NOW, true, 0 },
        { "1500", "Wed, 21 Oct 2015 07:28:30 GMT", 0, NOW, true, 1500 },
        { "1500", "garbage", 0, NOW, true, 1500 },
        { "99999999999", "1", 0, NOW, true, 86400000 },
        /* a garbled or missing retry-after-ms falls back to Retry-After */
        { "abc", "2", 0, NOW, true, 2000 },
        { "-1", "2", 0, NOW, true, 2000 },
        { "", "2", 0, NOW, true, 2000 },
        { "   ", "2.5", 0, NOW, true, 2500 },
        { "", "Wed, 21 Oct 2015 07:28:30 GMT", 0, NOW, true, 30000 },
        { "abc", "xyz", 0, NOW, false, 0 },
    };
    return cr_make_param_array(struct hint_case, cases, COUNT(cases));
}

ParameterizedTest(struct hint_case *c, retry, hint)
{
    struct sl_retry_hint h = sl_retry_parse_hint(c->nulls & MS_NULL ? NULL : c->ms,
                                                 c->nulls & RA_NULL ? NULL : c->ra, c->now_s);

    cr_assert_eq(h.has_delay, c->has, "ms '%s' ra '%s': has %d", c->ms, c->ra, h.has_delay);
    cr_assert_eq(h.delay_ms, c->want_ms, "ms '%s' ra '%s': delay %llu want %llu", c->ms, c->ra,
                 (unsigned long long)h.delay_ms, (unsigned long long)c->want_ms);
}

Test(retry, hint_length_ceiling)
{
    char s[SL_RETRY_HINT_MAX_LEN + 2];
    struct sl_retry_hint h;

    /* exactly at the ceiling: still parsed (and clamped) */
    memset(s, '9', SL_RETRY_HINT_MAX_LEN);
    s[SL_RETRY_HINT_MAX_LEN] = '\0';
    h = sl_retry_parse_hint(s, NULL, NOW);
    cr_assert(h.has_delay);
    cr_assert_eq(h.delay_ms, SL_RETRY_HINT_MAX_MS);
    /* one past it: refused, even when the extra byte is padding */
    memset(s, ' ', SL_RETRY_HINT_MAX_LEN + 1);
    s[0] = '5';
    s[SL_RETRY_HINT_MAX_LEN + 1] = '\0';
    h = sl_retry_parse_hint(s, NULL, NOW);
    cr_assert_not(h.has_delay);
    h = sl_retry_parse_hint(NULL, s, NOW);
    cr_assert_not(h.has_delay);
    /* an over-long retry-after-ms falls back to Retry-After */
    h = sl_retry_parse_hint(s, "3", NOW);
    cr_assert(h.has_delay);
    cr_assert_eq(h.delay_ms, 3000);
}

/* Independent check of the date arithmetic: every day from 1970 to 2100 at a few times, in all
 * three formats, against the C library's own gmtime_r (strftime in the "C" locale). */
Test(retry, http_date_matches_gmtime)
{
    static const char *const fmts[] = {
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    };
    static const int64_t times_of_day[] = { 0, 1, 43199, 86399 };
    int64_t day;
    size_t f, k;

    for (day = 0; day < 47847; day++) { /* 1970-01-01 .. 2100-12-31 */
        for (k = 0; k < COUNT(times_of_day); k++) {
            time_t t = (time_t)(day * 86400 + times_of_day[k]);
            struct tm tm;
            char buf[64];

            cr_assert_not_null(gmtime_r(&t, &tm));
            for (f = 0; f < COUNT(fmts); f++) {
                struct sl_retry_hint h;

                cr_assert_gt(strftime(buf, sizeof(buf), fmts[f], &tm), 0);
                h = sl_retry_parse_hint(NULL, buf, (int64_t)t - 7);
                cr_assert(h.has_delay, "'%s' not parsed", buf);
                cr_assert_eq(h.delay_ms, 7000, "'%s': %llu", buf, (unsigned long long)h.delay_ms);
            }
        }
    }
}

/* The brief's example: a rate-limited 429 with retry-after-ms is retried after the hint. */
Test(retry, rate_limited_429_with_hint_end_to_end)
{
    struct sl_retry_policy p = spec_policy();
    unsigned fail = sl_retry_classify(429, "rate_limit_exceeded", "requests", 0);
    struct sl_retry_hint h = sl_retry_parse_hint("1500", "2", NOW);
    uint64_t d = UNTOUCHED;

    cr_assert(sl_retry_should(&p, fail, 429, 1, 250, h, 0x40000000u, &d));
    cr_assert_eq(d, 1500);
    cr_assert_not(sl_retry_is_breaker_failure(fail, 429));

    /* the same upstream asking for 30 s on a 20 s request: give up at once */
    h = sl_retry_parse_hint(NULL, "30", NOW);
    d = UNTOUCHED;
    cr_assert_not(sl_retry_should(&p, fail, 429, 1, 250, h, 0, &d));
    cr_assert_eq(d, UNTOUCHED);

    /* quota exhausted: never, even with a tiny hint */
    fail = sl_retry_classify(429, "insufficient_quota", "insufficient_quota", 0);
    h = sl_retry_parse_hint("10", NULL, NOW);
    cr_assert_not(sl_retry_should(&p, fail, 429, 1, 0, h, 0, &d));
}

/* ---- waiting out a pause another request set (issue: the retry was vetoed, a 502) ---- */

struct wait_case {
    uint64_t elapsed_ms;
    uint64_t wait_ms;
    uint32_t rand;
    bool want;
    uint64_t delay_ms;
};

ParameterizedTestParameters(retry, wait_fits)
{
    /* spec_policy(): request 20000 ms, attempt 18000 ms, backoff_base 300 ms; the next
     * attempt needs 1000 ms before the deadline. */
    static struct wait_case cases[] = {
        { 0, 0, 0, true, 0 },
        { 0, 500, 0, true, 500 },
        { 0, 500, UINT32_MAX, true, 800 }, /* the jitter's top: base */
        { 0, 500, 0x80000000u, true, 650 },
        { 18000, 1000, 0, true, 1000 },        /* exactly fits */
        { 18000, 1001, 0, false, 0 },          /* the next attempt would be too short */
        { 18500, 500, UINT32_MAX, true, 500 }, /* jitter cut to the deadline */
        { 18800, 100, UINT32_MAX, true, 200 },
        { 19001, 0, 0, false, 0 }, /* no useful time left at all */
        { 25000, 0, 0, false, 0 }, /* past the deadline */
        { 0, UINT64_MAX, 0, false, 0 },
    };
    return cr_make_param_array(struct wait_case, cases, COUNT(cases));
}

ParameterizedTest(struct wait_case *c, retry, wait_fits)
{
    struct sl_retry_policy p = spec_policy();
    uint64_t d = UNTOUCHED;
    bool got = sl_retry_wait_fits(&p, c->elapsed_ms, c->wait_ms, c->rand, &d);

    cr_assert_eq(got, c->want, "elapsed %llu wait %llu", (unsigned long long)c->elapsed_ms,
                 (unsigned long long)c->wait_ms);
    cr_assert_eq(d, c->want ? c->delay_ms : UNTOUCHED, "delay %llu", (unsigned long long)d);
}

Test(retry, wait_fits_refuses_a_policy_without_attempt_time)
{
    struct sl_retry_policy p = spec_policy();
    uint64_t d = UNTOUCHED;

    p.attempt_timeout_ms = 0;
    cr_assert_not(sl_retry_wait_fits(&p, 0, 0, 0, &d));
    cr_assert_eq(d, UNTOUCHED);
}
