/* SPDX-License-Identifier: MIT */
/* worker.h - one worker process: after fork it builds its own event_base, the upstream client
 * (libcurl multi), the budget store (and with [redis] url its connection and the tenant
 * table's copy), the serving context its requests reach (http/serve.h) and the HTTP front on
 * the inherited listening sockets, in that order, then runs the loop until the master tells it
 * to drain.  SIGTERM from the master = drain: stop accepting, finish in-flight requests up to
 * shutdown_timeout_ms, exit 0.  A worker never calls exit() on a request path.
 * Process code only (main, master): request code reaches what it needs through serve.h. */
#ifndef SL_WORKER_H
#define SL_WORKER_H
#include <stddef.h>
#include <stdint.h>

struct sl_config;
struct sl_shm;

struct sl_worker_params {
    const struct sl_config *cfg;
    struct sl_shm *shm;
    int slot; /* this worker's slot in shm->workers */
    uint32_t generation;
    const int *fds; /* listening sockets, borrowed */
    size_t nfds;
    int metrics_fd; /* [metrics] listen, or -1 */
    int master_pid;
    const char *api_key; /* upstream key, borrowed; NULL for a local upstream */
};

/* Runs the worker to completion; returns the process exit status. */
int sl_worker_run(const struct sl_worker_params *p);
#endif /* SL_WORKER_H */
