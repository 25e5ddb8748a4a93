/* SPDX-License-Identifier: MIT */
/* cpu_alarm.h - a bound in CPU time on a computation that cannot be told to stop: a PCRE2
 * match whose cost its own limits do not bound (they count steps from each start position
 * afresh, so a pattern that does moderate work at every position of a long text runs for
 * seconds).  A one-shot timer on the calling thread's CPU clock sends that thread a signal
 * whose handler jumps back to the caller's sigsetjmp().
 *
 * Safe only around code that holds no lock and owns no allocation it would leak when left
 * mid-way, and that calls back into nothing: a PCRE2 match (its frames live in the match
 * data, which the next match reuses).  Linux: CLOCK_THREAD_CPUTIME_ID and SIGEV_THREAD_ID,
 * so a libcurl resolver thread never takes the signal.  The timer is made on first use in
 * each process (a forked worker makes its own), the handler installed once. */
#ifndef SL_CPU_ALARM_H
#define SL_CPU_ALARM_H
#include <setjmp.h>
#include <stdbool.h>

/* Arm: after ms of this thread's CPU time, siglongjmp(*back, 1) (back must stay valid until
 * sl_cpu_alarm_disarm()).  false when no timer could be made: the computation then runs
 * unbounded, which callers accept rather than refuse the work. */
bool sl_cpu_alarm_arm(sigjmp_buf *back, unsigned ms);
/* Before leaving the frame of back; a jump that already happened disarmed it. */
void sl_cpu_alarm_disarm(void);
#endif /* SL_CPU_ALARM_H */
