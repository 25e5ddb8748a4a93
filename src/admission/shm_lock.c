/* SPDX-License-Identifier: MIT */
/* shm_lock.c - robust, process-shared mutexes for the shared region. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/shm_lock.h"

int sl_shm_lock_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    int r;

    if ((r = pthread_mutexattr_init(&a)) != 0)
        return -r;
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    r = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return -r;
}
