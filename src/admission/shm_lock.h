/* SPDX-License-Identifier: MIT */
/* shm_lock.h - the locks of the shared region: process-shared, so every worker takes the same
 * one, and robust, so a worker that dies holding one leaves the next locker EOWNERDEAD to
 * repair, never a deadlock. */
#ifndef SL_SHM_LOCK_H
#define SL_SHM_LOCK_H
#include <pthread.h>

/* 0 or a negative errno. */
int sl_shm_lock_init(pthread_mutex_t *m);
#endif /* SL_SHM_LOCK_H */
