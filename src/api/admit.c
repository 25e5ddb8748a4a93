/* SPDX-License-Identifier: MIT */
/* admit.c - SPEC §4 in order, between a valid body and the upstream call: who is calling,
 * may they (RPM, TPM, budget, with a reservation), may anyone (breaker, in-flight cap). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/admit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "core/breaker.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/fmt.h"
#include "core/metrics.h"
#include "admission/auth.h"
#include "admission/budget.h"
#include "admission/tenants.h"
#include "http/request.h"
#include "http/serve.h"

static void refuse(struct sl_req *r, bool openai, int status, const char *detail, const char *type,
                   const char *code)
{
    if (openai)
        sl_req_reply_openai_error(r, status, detail, type, NULL, code);
    else
        sl_req_reply_detail(r, status, detail);
}

bool sl_admit_identify(struct sl_req *r, bool openai)
{
    struct sl_tenants *t = r->serve->tenants;
    int idx = sl_auth_tenant(t, r->serve->cfg, r->serve->auth_cache, sl_req_authorization(r));

    if (idx < 0) {
        sl_metrics_reject(r->serve->metrics, SL_REJECT_AUTH);
        sl_req_add_header(r, "WWW-Authenticate", "Bearer");
        refuse(r, openai, 401, "Invalid or missing API key", "authentication_error",
               "invalid_api_key");
        sl_req_free(r);
        return false;
    }
    r->tenant_idx = idx;
    sl_fmt_copy(r->tenant, sizeof(r->tenant), t->tenants[idx].name);
    return true;
}

/* A budget refusal shows the budget as the token trio, with its reset at the period's end. */
static void budget_as_tokens(struct sl_quota_info *info, int64_t now_wall_s)
{
    const struct sl_quota_budget *b = &info->budget;

    info->tokens.limit = b->budget;
    info->tokens.remaining = b->remaining;
    info->tokens.reset_ms =
        b->reset_at_s > now_wall_s ? (uint64_t)(b->reset_at_s - now_wall_s) * 1000 : 0;
}

/* Why the store said no, answered in the route's shape; true when it said yes. */
static bool verdict_ok(struct sl_admission *a, int v, int resv, const struct sl_quota_result *res)
{
    struct sl_req *r = a->r;
    bool openai = a->openai;
    struct sl_metrics *m = r->serve->metrics;

    if (v < 0) {
        if (v == -EAGAIN)
            sl_metrics_reject(m, SL_REJECT_REDIS);
        else if (v == -ENOSPC) /* the reservation table is full: too much in flight */
            sl_metrics_reject(m, SL_REJECT_INFLIGHT);
        sl_req_add_retry_headers(r, 1000, true);
        if (v == -EAGAIN)
            refuse(r, openai, 503, "Quota store unavailable", "server_error", "store_unavailable");
        else
            refuse(r, openai, 503, "Server busy", "server_error", "server_busy");
        return false;
    }
    r->ratelimit = res->info;
    r->has_ratelimit = true;
    switch ((enum sl_quota_verdict)v) {
    case SL_QUOTA_OK: a->resv = resv; return true;
    case SL_QUOTA_RPM:
    case SL_QUOTA_TPM:
        sl_metrics_reject(m, v == SL_QUOTA_RPM ? SL_REJECT_RPM : SL_REJECT_TPM);
        sl_req_add_retry_headers(r, res->retry_after_ms, !res->never);
        refuse(r, openai, 429, "Rate limit exceeded", "rate_limit_error", "rate_limit_exceeded");
        return false;
    case SL_QUOTA_BUDGET:
        sl_metrics_reject(m, SL_REJECT_BUDGET);
        budget_as_tokens(&r->ratelimit, (int64_t)(sl_clock_wall_ms() / 1000));
        sl_req_add_retry_headers(r, res->retry_after_ms, false);
        refuse(r, openai, 429, "Token budget exhausted", "rate_limit_error", "insufficient_quota");
        return false;
    case SL_QUOTA_TOO_LARGE:
        refuse(r, openai, 400, "Request too large for any token limit", "invalid_request_error",
               "request_too_large");
        return false;
    }
    return false;
}

static void give_back(struct sl_admission *a)
{
    if (a->resv >= 0) {
        sl_budget_settle(a->r->serve->budget, a->resv, 0);
        a->resv = -1;
    }
}

/* The budget store answered: the rest of SPEC §4's order, then the route goes on. */
static void on_reserved(void *arg, int v, int resv, const struct sl_quota_result *res)
{
    struct sl_admission *a = arg;
    struct sl_req *r = a->r;
    uint64_t retry_ms = 0;

    a->op = NULL;
    if (!verdict_ok(a, v, resv, res))
        goto refused;
    if (a->no_upstream) {
        a->admitted(a->arg);
        return;
    }
    if (!sl_breaker_allow(r->serve->breaker, sl_clock_mono_ms(), &retry_ms)) {
        give_back(a);
        sl_metrics_reject(r->serve->metrics, SL_REJECT_BREAKER);
        sl_req_add_retry_headers(r, retry_ms, true);
        refuse(r, a->openai, 503, "Upstream circuit open", "server_error", "circuit_open");
        goto refused;
    }
    /* The request itself is already counted in flight. */
    if (r->serve->inflight > r->serve->cfg->max_inflight) {
        give_back(a);
        sl_metrics_reject(r->serve->metrics, SL_REJECT_INFLIGHT);
        sl_req_add_retry_headers(r, 1000, true);
        refuse(r, a->openai, 503, "Server busy", "server_error", "server_busy");
        goto refused;
    }
    a->admitted(a->arg);
    return;
refused:
    sl_req_free(r);
}

void sl_admit(struct sl_admission *a)
{
    struct sl_req *r = a->r;
    struct sl_budget_op *op;

    /* With shared memory only, on_reserved has run (and r may be gone) when this returns
     * NULL; with Redis it runs later and r is still ours. */
    op = sl_budget_reserve(r->serve->budget, r->tenant_idx, a->tokens, on_reserved, a);
    if (op)
        a->op = op;
}

void sl_admit_cancel(struct sl_admission *a)
{
    if (a->op) {
        sl_budget_cancel(a->op);
        a->op = NULL;
    }
}
