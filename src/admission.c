/* SPDX-License-Identifier: MIT */
/* admission.c - breaker and in-flight checks before an upstream call. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission.h"

#include <stdint.h>
#include <stdio.h>

#include "breaker.h"
#include "clock.h"
#include "config.h"
#include "metrics.h"
#include "request.h"
#include "shm.h"
#include "worker.h"

/* SPEC §4: Retry-After in whole seconds (rounded up, at least 1) and retry-after-ms; the
 * official SDKs read x-should-retry first. */
static void refuse(struct sl_req *r, bool openai, int status, const char *detail,
                   const char *code, uint64_t retry_ms, bool retry)
{
    char s[32], ms[32];
    uint64_t secs = (retry_ms + 999) / 1000;

    snprintf(s, sizeof(s), "%llu", (unsigned long long)(secs ? secs : 1));
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(retry_ms ? retry_ms : 1000));
    sl_req_add_header(r, "Retry-After", s);
    sl_req_add_header(r, "retry-after-ms", ms);
    sl_req_add_header(r, "x-should-retry", retry ? "true" : "false");
    if (openai)
        sl_req_reply_openai_error(r, status, detail, "server_error", NULL, code);
    else
        sl_req_reply_detail(r, status, detail);
}

bool sl_admit(struct sl_req *r, bool openai_errors)
{
    struct sl_shm *shm = sl_worker_shm(r->w);
    uint64_t retry_ms = 0;

    if (!sl_breaker_allow(&shm->breaker, sl_clock_mono_ms(), &retry_ms)) {
        sl_metrics_reject(sl_worker_metrics(r->w), SL_REJECT_BREAKER);
        refuse(r, openai_errors, 503, "Upstream circuit open", "circuit_open", retry_ms, true);
        return false;
    }
    /* The request itself is already counted in flight. */
    if (sl_worker_inflight(r->w) > sl_worker_config(r->w)->max_inflight) {
        sl_metrics_reject(sl_worker_metrics(r->w), SL_REJECT_INFLIGHT);
        refuse(r, openai_errors, 503, "Server busy", "server_busy", 1000, true);
        return false;
    }
    return true;
}
