/* SPDX-License-Identifier: MIT */
/* Lock-free circuit breaker in shared memory: closed, open, half-open with leased probes. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/breaker.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The word: state (2 bits) | episode (8) | probes (10) | time (44).  The episode changes with
 * every state change, so a CAS prepared against one episode cannot land in a later one that
 * happens to look the same. */
#define TIME_BITS 44
#define TIME_MASK ((UINT64_C(1) << TIME_BITS) - 1)
#define PROBE_SHIFT TIME_BITS
#define PROBE_MASK UINT64_C(0x3ff)
#define EPISODE_SHIFT 54
#define EPISODE_MASK UINT64_C(0xff)
#define STATE_SHIFT 62

/* Across processes only lock-free atomics work: a libatomic fallback would lock a table that
 * is private to each process. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "uint64_t is long long sized");
_Static_assert(SL_BREAKER_PROBES_MAX <= PROBE_MASK, "probe count fits its bits");
_Static_assert(SL_BREAKER_TIME_MAX + SL_BREAKER_OPEN_MAX_MS <= TIME_MASK, "open end fits");

static uint64_t clamp_time(uint64_t ms)
{
    return ms > SL_BREAKER_TIME_MAX ? SL_BREAKER_TIME_MAX : ms;
}

static uint64_t pack(unsigned state, unsigned episode, unsigned probes, uint64_t t)
{
    return (uint64_t)state << STATE_SHIFT | ((uint64_t)episode & EPISODE_MASK) << EPISODE_SHIFT |
           ((uint64_t)probes & PROBE_MASK) << PROBE_SHIFT | (t > TIME_MASK ? TIME_MASK : t);
}

static unsigned w_state(uint64_t w)
{
    return (unsigned)(w >> STATE_SHIFT);
}

static unsigned w_episode(uint64_t w)
{
    return (unsigned)(w >> EPISODE_SHIFT & EPISODE_MASK);
}

static unsigned w_probes(uint64_t w)
{
    return (unsigned)(w >> PROBE_SHIFT & PROBE_MASK);
}

static uint64_t w_time(uint64_t w)
{
    return w & TIME_MASK;
}

/* Time from now until t, at least 1 ms so that "retry after 0" is never said. */
static uint64_t until(uint64_t t, uint64_t now)
{
    return t > now ? t - now : 1;
}

static bool refuse(uint64_t *retry_after_ms, uint64_t wait_ms)
{
    if (retry_after_ms)
        *retry_after_ms = wait_ms;
    return false;
}

static void store_config(struct sl_breaker *b, unsigned failure_threshold, uint64_t open_ms,
                         unsigned half_open_probes)
{
    if (failure_threshold == 0)
        failure_threshold = 1;
    if (open_ms == 0)
        open_ms = 1;
    if (open_ms > SL_BREAKER_OPEN_MAX_MS)
        open_ms = SL_BREAKER_OPEN_MAX_MS;
    if (half_open_probes == 0)
        half_open_probes = 1;
    if (half_open_probes > SL_BREAKER_PROBES_MAX)
        half_open_probes = SL_BREAKER_PROBES_MAX;
    atomic_store(&b->failure_threshold, failure_threshold);
    atomic_store(&b->open_ms, open_ms);
    atomic_store(&b->half_open_probes, half_open_probes);
}

void sl_breaker_init(struct sl_breaker *b, unsigned failure_threshold, uint64_t open_ms,
                     unsigned half_open_probes)
{
    atomic_init(&b->word, pack(SL_BREAKER_CLOSED, 0, 0, 0));
    atomic_init(&b->pause_until_ms, 0);
    atomic_init(&b->open_ms, 0);
    atomic_init(&b->trips, 0);
    atomic_init(&b->failures, 0);
    atomic_init(&b->failure_threshold, 0);
    atomic_init(&b->half_open_probes, 0);
    b->spare = 0;
    store_config(b, failure_threshold, open_ms, half_open_probes);
}

void sl_breaker_configure(struct sl_breaker *b, unsigned failure_threshold, uint64_t open_ms,
                          unsigned half_open_probes)
{
    store_config(b, failure_threshold, open_ms, half_open_probes);
}

/* The word that admits one more half-open request, or 0 (never a half-open word) with
 * *wait_ms set when every probe is out and its lease still runs. */
static uint64_t next_probe(const struct sl_breaker *b, uint64_t w, uint64_t now, uint64_t *wait_ms)
{
    unsigned probes = w_probes(w), ep = w_episode(w);
    uint64_t lease_end = w_time(w) + atomic_load(&b->open_ms);

    if (probes < atomic_load(&b->half_open_probes))
        return pack(SL_BREAKER_HALF_OPEN, ep, probes + 1, now);
    if (now >= lease_end)
        return pack(SL_BREAKER_HALF_OPEN, ep, probes, now); /* a lost probe's slot */
    *wait_ms = until(lease_end, now);
    return 0;
}

bool sl_breaker_allow(struct sl_breaker *b, uint64_t now_ms, uint64_t *retry_after_ms)
{
    uint64_t now = clamp_time(now_ms), pause = atomic_load(&b->pause_until_ms);
    uint64_t w, next, wait_ms = 1;

    if (now < pause)
        return refuse(retry_after_ms, pause - now);
    w = atomic_load(&b->word);
    for (;;) {
        switch (w_state(w)) {
        case SL_BREAKER_OPEN:
            if (now < w_time(w))
                return refuse(retry_after_ms, w_time(w) - now);
            next = pack(SL_BREAKER_HALF_OPEN, w_episode(w) + 1, 1, now);
            break;
        case SL_BREAKER_HALF_OPEN:
            next = next_probe(b, w, now, &wait_ms);
            if (next == 0)
                return refuse(retry_after_ms, wait_ms);
            break;
        default: return true; /* closed */
        }
        /* On failure w is reloaded: another worker took a probe or moved the state. */
        if (atomic_compare_exchange_weak(&b->word, &w, next))
            return true;
    }
}

static void record_closed(struct sl_breaker *b, uint64_t w, bool ok, uint64_t now)
{
    uint32_t n;

    if (ok) {
        /* Read first: a store on every success would bounce the cache line between workers. */
        if (atomic_load(&b->failures) != 0)
            atomic_store(&b->failures, 0);
        return;
    }
    n = atomic_fetch_add(&b->failures, 1) + 1;
    if (n < atomic_load(&b->failure_threshold))
        return;
    /* Closed has one way out, so a failed CAS means another worker has just opened it. */
    if (atomic_compare_exchange_strong(
            &b->word, &w,
            pack(SL_BREAKER_OPEN, w_episode(w) + 1, 0, now + atomic_load(&b->open_ms)))) {
        atomic_store(&b->failures, 0);
        atomic_fetch_add(&b->trips, 1);
    }
}

void sl_breaker_record(struct sl_breaker *b, bool ok, uint64_t now_ms)
{
    uint64_t now = clamp_time(now_ms), w = atomic_load(&b->word), next;

    for (;;) {
        switch (w_state(w)) {
        case SL_BREAKER_CLOSED: record_closed(b, w, ok, now); return;
        case SL_BREAKER_HALF_OPEN:
            if (ok)
                next = pack(SL_BREAKER_CLOSED, w_episode(w) + 1, 0, 0);
            else
                next = pack(SL_BREAKER_OPEN, w_episode(w) + 1, 0, now + atomic_load(&b->open_ms));
            break;
        default: return; /* open: the verdict is in until the probes */
        }
        if (atomic_compare_exchange_weak(&b->word, &w, next))
            break;
    }
    if (ok)
        atomic_store(&b->failures, 0);
    else
        atomic_fetch_add(&b->trips, 1);
}

void sl_breaker_pause(struct sl_breaker *b, uint64_t now_ms, uint64_t wait_ms)
{
    uint64_t open_ms = atomic_load(&b->open_ms);
    uint64_t until_ms = clamp_time(now_ms) + (wait_ms < open_ms ? wait_ms : open_ms);
    uint64_t cur = atomic_load(&b->pause_until_ms);

    while (until_ms > cur && !atomic_compare_exchange_weak(&b->pause_until_ms, &cur, until_ms))
        ;
}

static enum sl_breaker_state state_of(uint64_t w, uint64_t now)
{
    switch (w_state(w)) {
    case SL_BREAKER_OPEN: return now < w_time(w) ? SL_BREAKER_OPEN : SL_BREAKER_HALF_OPEN;
    case SL_BREAKER_HALF_OPEN: return SL_BREAKER_HALF_OPEN;
    default: return SL_BREAKER_CLOSED;
    }
}

/* A pause refuses every call, as an open breaker does: say so. */
static enum sl_breaker_state state_at(const struct sl_breaker *b, uint64_t w, uint64_t now)
{
    if (now < atomic_load(&b->pause_until_ms))
        return SL_BREAKER_OPEN;
    return state_of(w, now);
}

enum sl_breaker_state sl_breaker_state(const struct sl_breaker *b, uint64_t now_ms)
{
    return state_at(b, atomic_load(&b->word), clamp_time(now_ms));
}

void sl_breaker_snapshot(const struct sl_breaker *b, uint64_t now_ms,
                         struct sl_breaker_snapshot *out)
{
    uint64_t now = clamp_time(now_ms), w = atomic_load(&b->word);
    uint64_t pause = atomic_load(&b->pause_until_ms);

    out->state = state_at(b, w, now);
    out->episode = w_episode(w);
    out->probes = w_state(w) == SL_BREAKER_HALF_OPEN ? w_probes(w) : 0;
    out->failures = atomic_load(&b->failures);
    out->open_remaining_ms = state_of(w, now) == SL_BREAKER_OPEN ? w_time(w) - now : 0;
    out->pause_remaining_ms = pause > now ? pause - now : 0;
    out->trips = atomic_load(&b->trips);
}
