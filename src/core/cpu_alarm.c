/* SPDX-License-Identifier: MIT */
/* cpu_alarm.c - a one-shot CPU-time timer per thread whose signal jumps back to the caller. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/cpu_alarm.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ALARM_SIGNAL SIGVTALRM /* "virtual timer expired": CPU time, and libevent leaves it */

static _Thread_local timer_t timer;
static _Thread_local bool made;
static _Thread_local sigjmp_buf *volatile target;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool handler_ok;

/* Only a thread with a target armed ever gets the signal (SIGEV_THREAD_ID); one that comes
 * after the disarm finds none and does nothing. */
static void on_alarm(int sig)
{
    sigjmp_buf *back = target;

    (void)sig;
    if (back) {
        target = NULL;
        siglongjmp(*back, 1);
    }
}

/* fork() copies the forking thread's variables, not its timers. */
static void forked_child(void)
{
    made = false;
    target = NULL;
}

static void install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    /* The jump does not restore the signal mask (sigsetjmp(..., 0) saves none: no syscall
     * per match), so the handler must not leave its signal blocked. */
    sa.sa_flags = SA_NODEFER | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    handler_ok =
        sigaction(ALARM_SIGNAL, &sa, NULL) == 0 && pthread_atfork(NULL, NULL, forked_child) == 0;
}

static bool make_timer(void)
{
    struct sigevent sev;

    if (made)
        return true;
    pthread_once(&once, install);
    if (!handler_ok)
        return false;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = ALARM_SIGNAL;
    sev._sigev_un._tid = gettid();
    made = timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &timer) == 0;
    return made;
}

bool sl_cpu_alarm_arm(sigjmp_buf *back, unsigned ms)
{
    struct itimerspec it = { .it_value = { .tv_sec = ms / 1000,
                                           .tv_nsec = (long)(ms % 1000) * 1000000L } };

    if (!make_timer())
        return false;
    target = back;
    if (timer_settime(timer, 0, &it, NULL) != 0) {
        target = NULL;
        return false;
    }
    return true;
}

void sl_cpu_alarm_disarm(void)
{
    static const struct itimerspec off;

    target = NULL; /* first: a signal from here on does nothing */
    if (made)
        (void)timer_settime(timer, 0, &off, NULL);
}
