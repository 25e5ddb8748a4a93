/* SPDX-License-Identifier: MIT */
/* relay_guard.c - the input guard in the relay core (SPEC §13): once the tenant is known (it
 * picks the policy) and before the rate limits, so a refusal costs the tenant nothing, reserves
 * nothing and sends nothing upstream.  The rules themselves are core/guard.c's. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/guard.h"
#include "core/guard_metrics.h"
#include "core/log.h"
#include "admission/tenants.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/relay_int.h"

#define REFUSED "Request rejected by content policy"

/* The policy r's tenant names.  NULL with *known false when it names one this host's
 * configuration lacks (a Redis-synced tenant from a host with another file). */
static const struct sl_guard_policy *policy_of(struct sl_req *r, bool *known)
{
    char name[SL_GUARD_NAME_MAX] = "";

    if (r->tenant_idx >= 0)
        (void)sl_tenants_guard(r->serve->tenants, r->tenant_idx, name);
    return sl_config_guard(r->serve->cfg, name, known);
}

/* A bound that ended a pattern's match counts as no match; the operator hears of each pattern
 * once per worker, with where it is written (never the text it ran on). */
static void log_limits(struct sl_req *r, const struct sl_guard_policy *p, uint64_t limited)
{
    uint64_t *logged = NULL;
    struct sl_log_line *l;
    size_t i;

    for (i = 0; i < r->serve->cfg->nguards && i < SL_GUARD_MAX_POLICIES; i++)
        if (r->serve->cfg->guards[i] == p)
            logged = &r->serve->guard_limit_logged[i];
    for (i = 0; logged && i < p->npatterns; i++) {
        if (!(limited & ~*logged & (1ull << i)))
            continue;
        *logged |= 1ull << i;
        l = sl_log_begin(SL_LOG_WARN, "guard_limit");
        sl_log_str(l, "policy", p->name);
        sl_log_int(l, "pattern_line", p->patterns[i].line);
        sl_log_str(l, "pattern", p->patterns[i].source);
        sl_log_str(l, "request_id", r->id);
        sl_log_end(l);
    }
}

static void refuse(struct sl_relay *rl, const struct sl_guard_policy *p,
                   const struct sl_guard_verdict *v)
{
    struct sl_req *r = rl->r;
    const char *rule = sl_guard_rule_name(v->rule);
    struct sl_log_line *l;
    char body[160];
    int n;

    sl_guard_metrics_reject(r->serve->guard_counters, p->name, v->rule);
    l = sl_log_begin(SL_LOG_NOTICE, "guard_reject");
    sl_log_str(l, "request_id", r->id);
    sl_log_str(l, "tenant", r->tenant);
    sl_log_str(l, "policy", p->name);
    sl_log_str(l, "rule", rule);
    sl_log_str(l, "param", v->param);
    if (v->pattern >= 0)
        sl_log_int(l, "pattern_line", p->patterns[v->pattern].line);
    sl_log_end(l);
    if (rl->route->openai_errors) {
        snprintf(body, sizeof(body), REFUSED " (rule: %s).", rule);
        sl_req_reply_openai_error(r, 400, body, "invalid_request_error", v->param,
                                  "content_policy_violation");
        return;
    }
    n = snprintf(body, sizeof(body), "{\"detail\":\"" REFUSED "\",\"rule\":\"%s\"}", rule);
    sl_req_reply(r, 400, "application/json", body, (size_t)n);
}

/* What goes upstream is the masked body from here on (and what log_prompts shows). */
static void take_masked(struct sl_relay *rl, const struct sl_guard_policy *p,
                        struct sl_guard_verdict *v)
{
    struct sl_req *r = rl->r;

    sl_guard_metrics_masks(r->serve->guard_counters, p->name, v->masked);
    free(rl->job.body);
    rl->job.body = v->body;
    rl->job.body_len = v->body_len;
    v->body = NULL;
    if (rl->route->masked)
        rl->route->masked(rl->state, rl->job.body, rl->job.body_len);
}

/* A tenant whose policy this host does not have is refused, never let through unchecked. */
static void refuse_unknown(struct sl_relay *rl)
{
    struct sl_req *r = rl->r;

    sl_log_err("guard_missing", "tenant %s names an input-guard policy this configuration lacks",
               r->tenant);
    if (rl->route->openai_errors)
        sl_req_reply_openai_error(r, 500, "The content policy for this key is not configured.",
                                  "server_error", NULL, "guard_unavailable");
    else
        sl_req_reply_detail(r, 500, "Content policy unavailable");
}

bool sl_relay_guard(struct sl_relay *rl)
{
    struct sl_req *r = rl->r;
    const struct sl_guard_policy *p;
    struct sl_guard_verdict v;
    bool known, pass = false;
    int rc;

    if (rl->route->guard_shape == SL_GUARD_SHAPE_NONE || !rl->job.body)
        return true;
    p = policy_of(r, &known);
    if (!known) {
        refuse_unknown(rl);
        return false;
    }
    if (!p)
        return true;
    rc = sl_guard_check(p, rl->route->guard_shape, rl->job.body, rl->job.body_len, &v);
    if (v.limited)
        log_limits(r, p, v.limited);
    if (rc < 0)
        sl_req_reply_busy(r, rl->route->openai_errors); /* out of memory; or a route's bug */
    else if (v.refused)
        refuse(rl, p, &v);
    else
        pass = true;
    if (pass && v.body)
        take_masked(rl, p, &v);
    sl_guard_verdict_done(&v);
    return pass;
}
