/* SPDX-License-Identifier: MIT */
/* clock.h - the two clocks sluice reads.  Deadlines, back-off and rate windows use the
 * monotonic clock, so a wall-clock step never shortens or stretches them; only log
 * timestamps and calendar budget periods use the wall clock. */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline uint64_t sl_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t sl_clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t sl_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
#endif /* SL_CLOCK_H */
