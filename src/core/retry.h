/* SPDX-License-Identifier: MIT */
/* retry.h - the upstream retry policy as a pure decision: why did an attempt fail, may we try
 * again, after how long, and with what time budget.  Owns nothing, never logs, never reads a
 * clock (callers pass elapsed and wall time) and never draws random numbers (callers pass one),
 * so every decision is reproducible in a test.  SPEC §5 is the contract. */
#ifndef SL_RETRY_H
#define SL_RETRY_H
#include <stdbool.h>
#include <stdint.h>

/* A retry_status table has one entry per status 0..SL_RETRY_STATUS_COUNT-1. */
#define SL_RETRY_STATUS_COUNT 600
/* Below this much time left for the next attempt a retry is pointless: a chat completion
 * rarely answers faster.  Capped by attempt_timeout_ms when that is smaller. */
#define SL_RETRY_MIN_ATTEMPT_MS UINT64_C(1000)
/* Upstream waiting hints are clamped to one day, so an absurd Retry-After still forbids a
 * retry (it cannot fit any deadline) instead of being ignored. */
#define SL_RETRY_HINT_MAX_MS UINT64_C(86400000)
/* A header value longer than this, whitespace included, is garbage: no hint. */
#define SL_RETRY_HINT_MAX_LEN 256

/* Why an upstream attempt failed.  A bitmask: a cause (CONNECT, TIMEOUT, HTTP, BAD_RESPONSE)
 * may come with modifiers (BODY_SENT, QUOTA, AUTH) that veto a retry. */
enum sl_fail {
    SL_FAIL_NONE = 0,
    SL_FAIL_CONNECT = 1 << 0,      /* DNS, refused, reset, TLS, or no response at all */
    SL_FAIL_TIMEOUT = 1 << 1,      /* the attempt timed out */
    SL_FAIL_HTTP = 1 << 2,         /* final status outside 2xx; the status travels separately */
    SL_FAIL_BAD_RESPONSE = 1 << 3, /* 2xx with an unusable body, or an impossible status */
    SL_FAIL_BODY_SENT = 1 << 4,    /* bytes already reached the client: never retried */
    SL_FAIL_QUOTA = 1 << 5,        /* 429 insufficient_quota: no retry can fix it */
    SL_FAIL_AUTH = 1 << 6,         /* 401/403: the gateway's own upstream key is wrong */
};

struct sl_retry_policy {
    unsigned max_attempts;       /* total attempts including the first; 0 acts as 1 */
    uint64_t request_timeout_ms; /* whole request, retries included; 0 = already expired */
    uint64_t attempt_timeout_ms; /* one attempt; 0 = no attempt may run */
    uint64_t backoff_base_ms;
    uint64_t backoff_max_ms;
    /* Borrowed, SL_RETRY_STATUS_COUNT entries, true = retry that status.  NULL means the SPEC
     * default set 408, 409, 429, 500, 502, 503, 504. */
    const bool *retry_status;
};

/* What the upstream said about waiting before the next attempt. */
struct sl_retry_hint {
    bool has_delay;
    uint64_t delay_ms; /* <= SL_RETRY_HINT_MAX_MS when made by the parser */
};

/* Classify an attempt's outcome.  http_status is the final status, or 0 (or negative) when no
 * response arrived.  error_code and error_type are the upstream error body's error.code and
 * error.type (either may be NULL); either one equal to "insufficient_quota" on a 429 marks
 * SL_FAIL_QUOTA.  observed carries what only the caller can see: SL_FAIL_CONNECT, _TIMEOUT,
 * _BAD_RESPONSE, _BODY_SENT; other bits in it are ignored, because HTTP, QUOTA and AUTH are
 * derived here from the status alone.  Returns the SL_FAIL_* bits; SL_FAIL_NONE is a success.
 * Rules: no response and no cause observed -> CONNECT; status 1..199 or >= 600 ->
 * BAD_RESPONSE (curl accepts any three digits); 3xx/4xx/5xx -> HTTP; 401/403 add AUTH. */
unsigned sl_retry_classify(int http_status, const char *error_code, const char *error_type,
                           unsigned observed);

/* Parse the upstream's wait hint.  retry_after_ms (the non-standard header, milliseconds,
 * maybe fractional) wins when it parses; otherwise retry_after (RFC 9110: delta-seconds,
 * accepted with a fraction as the OpenAI SDKs do, or an HTTP-date in IMF-fixdate, RFC 850 or
 * asctime form, compared with now_wall_s, seconds since the Unix epoch).  Either may be NULL.
 * Surrounding SP/HTAB/CR/LF is ignored.  Numbers are 1*DIGIT ["." 1*DIGIT]; a sign, an
 * exponent or anything else is garbage.  Fractions round up (wait at least as asked); a date in
 * the past gives a 0 ms hint; values are clamped to SL_RETRY_HINT_MAX_MS.  Garbage, negative,
 * empty or over-long (> SL_RETRY_HINT_MAX_LEN) values give no hint. */
struct sl_retry_hint sl_retry_parse_hint(const char *retry_after_ms, const char *retry_after,
                                         int64_t now_wall_s);

/* Decide after attempt number `attempt` (1-based; 0 acts as 1) failed with `fail` bits
 * (status: the final HTTP status when SL_FAIL_HTTP is set), elapsed_ms after the request
 * started.  rand_u32 is a uniform random value supplied by the caller.  Returns true to retry
 * and then sets *delay_ms (written only on true).
 *
 * Never retried: SL_FAIL_NONE, BODY_SENT, QUOTA or AUTH, attempts used up, a policy with
 * attempt_timeout_ms 0, status 401/403 whatever retry_status says.  With SL_FAIL_HTTP
 * the status decides (it is the upstream's most specific word, even if the body also timed
 * out); otherwise CONNECT and TIMEOUT are retried and BAD_RESPONSE is not (SPEC §5 retries
 * connection errors, attempt timeouts and retry_statuses only: a malformed 2xx or an
 * impossible status line is an answer, and the upstream may have billed it).
 *
 * Delay: full jitter, rand in [0, min(backoff_max_ms, backoff_base_ms * 2^(attempt-1))]
 * (rand 0 gives 0, UINT32_MAX gives the cap).  Our own back-off is shortened to fit the
 * deadline.  An upstream hint is a floor: delay = max(hint, jitter), so workers told the same
 * time still spread out; a hint that leaves the next attempt less than the minimum useful time
 * (SL_RETRY_MIN_ATTEMPT_MS, capped by attempt_timeout_ms) before the request deadline means no
 * retry: waiting is pointless and coming back early would be rude.  The same minimum applies
 * without a hint. */
bool sl_retry_should(const struct sl_retry_policy *p, unsigned fail, int status, unsigned attempt,
                     uint64_t elapsed_ms, struct sl_retry_hint hint, uint32_t rand_u32,
                     uint64_t *delay_ms);

/* A retry that sl_retry_should() granted found the calls paused (another request's upstream
 * 429) for wait_ms more.  May it wait that out?  True when the next attempt, after wait_ms,
 * still has the minimum useful time (as sl_retry_should) before the request deadline; then
 * *delay_ms (written only on true) is wait_ms plus a jitter of rand in [0, backoff_base_ms],
 * shortened to fit the deadline. */
bool sl_retry_wait_fits(const struct sl_retry_policy *p, uint64_t elapsed_ms, uint64_t wait_ms,
                        uint32_t rand_u32, uint64_t *delay_ms);

/* Time budget for an attempt starting elapsed_ms into the request:
 * min(attempt_timeout_ms, request_timeout_ms - elapsed_ms), 0 once the deadline has passed. */
uint64_t sl_retry_attempt_budget_ms(const struct sl_retry_policy *p, uint64_t elapsed_ms);

/* Does this outcome count against the circuit breaker?  True for CONNECT and TIMEOUT (a
 * stalled or dropped connection is ill health whatever the status), HTTP with status >= 500,
 * and BAD_RESPONSE without HTTP (a broken 2xx).  False for success, 3xx and every 4xx,
 * including 429 (the breaker pauses on 429 separately) and 401/403 (a misconfiguration, not
 * ill health).  BODY_SENT alone is no cause: a stream broken mid-way arrives as TIMEOUT or
 * CONNECT plus BODY_SENT, and counts. */
bool sl_retry_is_breaker_failure(unsigned fail, int status);

#endif /* SL_RETRY_H */
