/* SPDX-License-Identifier: MIT */
/* breaker.h - circuit breaker per upstream (SPEC §4), shared by all workers of a host.  The
 * record lives in a fixed slot of the shared segment (shm.h): fixed size, no pointers, only
 * lock-free C11 atomics, so every worker may consult it on every request without a lock and a
 * worker that dies mid-call cannot wedge the others.  Never logs, never blocks, never reads a
 * clock: callers pass now_ms from the monotonic clock, which all workers of a host share.
 *
 * States:
 *   closed    every request passes.  Each upstream attempt reports ok or failure; after
 *             failure_threshold consecutive failures the breaker opens.  A success resets the
 *             count.
 *   open      every request is refused for open_ms, with the time left as Retry-After.
 *   half-open when open_ms has passed, the next half_open_probes requests pass as probes
 *             (taken by compare-and-swap, so two workers never both take the last one) and the
 *             rest are refused.  The first report in this state decides: a success closes, a
 *             failure opens again for a fresh open_ms.
 * State, probe count and the state's time (open: when it ends; half-open: when the last probe
 * was admitted) are packed in one 64-bit word so one CAS moves them together.
 *
 * Probe lease: a probe whose worker dies (or whose request never reaches the upstream) never
 * reports.  So that it cannot hold the breaker half-open forever, a probe slot is presumed lost
 * open_ms after the last probe was admitted, and one more probe may then be admitted (again
 * one CAS); so in the worst case one extra probe per open_ms.
 *
 * Reports are not tied to the admission that preceded them: a report that arrives while open
 * is ignored, and in half-open any report counts as the probe's, including a late one from a
 * request admitted before the breaker opened.  Such a report is still recent evidence of the
 * upstream's health, which is what the probe is for.
 *
 * Pause: an upstream 429 with Retry-After pauses all calls for that long, independently of the
 * state machine (a 429 says "slow down", not "broken": it is no failure here).  A pause lasts
 * at most open_ms, so one absurd Retry-After (a day, say) cannot stop every call of the host
 * for longer than an outage would.  While paused allow() refuses with the time left and
 * state() reads open, so /readyz and the sluice_breaker_state gauge tell the truth.  A later
 * pause never shortens an earlier one.
 *
 * Times are stored in 44 bits: now_ms must stay below SL_BREAKER_TIME_MAX (2^44 ms less a day,
 * about 557 years of uptime on CLOCK_MONOTONIC); larger values are clamped to it. */
#ifndef SL_BREAKER_H
#define SL_BREAKER_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SL_BREAKER_PROBES_MAX 1023u               /* half_open_probes is clamped to this */
#define SL_BREAKER_OPEN_MAX_MS UINT64_C(86400000) /* open_ms is clamped to one day */
/* now_ms ceiling: the 44-bit time field less one open period, so an open period that starts
 * at the ceiling still ends after it. */
#define SL_BREAKER_TIME_MAX (((UINT64_C(1) << 44) - 1) - SL_BREAKER_OPEN_MAX_MS)

/* Values fit the sluice_breaker_state gauge. */
enum sl_breaker_state {
    SL_BREAKER_CLOSED = 0,
    SL_BREAKER_OPEN = 1,
    SL_BREAKER_HALF_OPEN = 2,
};

/* One breaker; 64 bytes, one cache line.  Fields are private to breaker.c. */
struct sl_breaker {
    _Alignas(64) _Atomic uint64_t word; /* state | episode | probes | time */
    _Atomic uint64_t pause_until_ms;    /* calls paused before this time */
    _Atomic uint64_t open_ms;
    _Atomic uint64_t trips;    /* times it opened, for metrics */
    _Atomic uint32_t failures; /* consecutive failures while closed */
    _Atomic uint32_t failure_threshold;
    _Atomic uint32_t half_open_probes;
    uint32_t spare;
};

struct sl_breaker_snapshot {
    enum sl_breaker_state state; /* as sl_breaker_state(): a pause reads open */
    uint32_t episode;            /* changes with every state change; wraps at 256 */
    uint32_t probes;             /* probes admitted in this half-open episode */
    uint32_t failures;           /* consecutive failures counted while closed */
    uint64_t open_remaining_ms;  /* open (not only paused): until half-open; else 0 */
    uint64_t pause_remaining_ms; /* paused: until calls resume; else 0 */
    uint64_t trips;              /* times opened since init */
};

/* Closed, not paused, with [breaker] values: failure_threshold (0 acts as 1), open_ms (0 acts
 * as 1, clamped to SL_BREAKER_OPEN_MAX_MS), half_open_probes (0 acts as 1, clamped to
 * SL_BREAKER_PROBES_MAX).  Not atomic as a whole: call before any worker can see b. */
void sl_breaker_init(struct sl_breaker *b, unsigned failure_threshold, uint64_t open_ms,
                     unsigned half_open_probes);
/* New configuration values (same rules) for a breaker in use, e.g. after a reload; the state
 * is kept.  Each value changes atomically on its own. */
void sl_breaker_configure(struct sl_breaker *b, unsigned failure_threshold, uint64_t open_ms,
                          unsigned half_open_probes);
/* May a request go upstream now?  True when closed, or when this call took a half-open probe
 * slot (then the caller must report the attempt with sl_breaker_record()).  False when paused,
 * open, or half-open with every probe out; then *retry_after_ms (if not NULL) is the time, at
 * least 1, until a request could pass: the pause's or the open period's end, or the end of the
 * probe lease.  *retry_after_ms is written only on false. */
bool sl_breaker_allow(struct sl_breaker *b, uint64_t now_ms, uint64_t *retry_after_ms);
/* Report one upstream attempt's outcome: ok false for what counts against the breaker (see
 * sl_retry_is_breaker_failure()), true otherwise. */
void sl_breaker_record(struct sl_breaker *b, bool ok, uint64_t now_ms);
/* Pause calls for wait_ms from now_ms (e.g. an upstream 429's Retry-After), capped at open_ms.
 * Keeps a later existing pause; a wait of 0 changes nothing. */
void sl_breaker_pause(struct sl_breaker *b, uint64_t now_ms, uint64_t wait_ms);
/* The state for metrics and /readyz.  Open while paused or open; an open breaker whose
 * open_ms has passed reports half-open (the next allow() admits a probe), unless paused. */
enum sl_breaker_state sl_breaker_state(const struct sl_breaker *b, uint64_t now_ms);
/* Everything at once; the fields are read one by one, so under concurrent updates they may
 * come from slightly different moments. */
void sl_breaker_snapshot(const struct sl_breaker *b, uint64_t now_ms,
                         struct sl_breaker_snapshot *out);
#endif /* SL_BREAKER_H */
