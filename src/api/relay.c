/* SPDX-License-Identifier: MIT */
/* relay.c - the relay core: a request's life from prepare to settlement, buffered answers. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/relay.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/fmt.h"
#include "core/log.h"
#include "admission/budget.h"
#include "admission/ownership.h"
#include "admission/tenants.h"
#include "upstream/call.h"
#include "http/request.h"
#include "http/serve.h"
#include "http/stream.h"
#include "api/relay_int.h"

/* A logged prompt or answer is whole or absent: a longer one could never fit in a log line,
 * so it is not even kept. */
#define CONTENT_LOG_MAX SL_LOG_VALUE_MAX
/* The one upstream there is until several are configured (SPEC §11). */
#define SL_RELAY_UPSTREAM "default"
/* What one feed of a stream may produce for the client at most (events of 16 KiB of
 * upstream bytes, rewritten). */
#define EVENTS_MAX (4u << 20)
/* The route's state follows the core's in one allocation, aligned for anything. */
#define ALIGN_ANY _Alignof(max_align_t)
#define STATE_OFFSET ((sizeof(struct sl_relay) + ALIGN_ANY - 1) / ALIGN_ANY * ALIGN_ANY)

/* The upstream's total, but never less than its parts (openai.h reads usage that way; this
 * keeps settlement right whatever a route recorded). */
static uint64_t charged_tokens(const struct sl_req *r)
{
    uint64_t total = (uint64_t)r->total_tokens, sum = 0;

    if (r->prompt_tokens > 0)
        sum += (uint64_t)r->prompt_tokens;
    if (r->completion_tokens > 0)
        sum += (uint64_t)r->completion_tokens;
    return total > sum ? total : sum;
}

/* Exactly once, whichever end came first: the upstream's usage when it told us; in full when
 * it may have billed without telling (a cut stream, a timeout); nothing when it never
 * answered. */
static void settle(struct sl_relay *rl)
{
    struct sl_req *r = rl->r;
    uint64_t actual = 0;

    if (rl->admit.resv < 0)
        return;
    if (r->total_tokens >= 0)
        actual = charged_tokens(r);
    else if (rl->charge_full)
        actual = rl->admit.tokens;
    sl_budget_settle(r->serve->budget, rl->admit.resv, actual);
    rl->admit.resv = -1;
}

/* [log] log_prompts: one prompt event per call, once it ended, with the answer's text when
 * a buffered one gave some (keep_answer). */
static void log_content(struct sl_relay *rl)
{
    if (!rl->prompt_due)
        return;
    rl->prompt_due = false;
    sl_req_log_prompt(rl->r, rl->prompt, rl->prompt_len, rl->answer, rl->answer_len);
}

/* sl_req_free()'s first step: abandon what is still pending (the client left, the worker
 * stops), log what the call had done, and settle, before the request is logged. */
static void relay_stop(void *p)
{
    struct sl_relay *rl = p;
    struct sl_req *r = rl->r;
    struct sl_call_progress pr;

    sl_admit_cancel(&rl->admit);
    sl_ownership_cancel(rl->owner_op);
    rl->owner_op = NULL;
    if (rl->call) {
        sl_call_cancel(rl->call, &pr);
        rl->call = NULL;
        r->attempts = pr.attempts;
        r->upstream_status = pr.status;
        sl_fmt_copy(r->upstream_request_id, sizeof(r->upstream_request_id), pr.upstream_request_id);
    }
    log_content(rl);
    settle(rl);
}

static void relay_free(void *p)
{
    struct sl_relay *rl = p;

    sl_call_cancel(rl->call, NULL);
    sl_relay_stream_done(rl);
    if (rl->route->state_done)
        rl->route->state_done(rl->state);
    free(rl->job.body);
    free(rl->job.path);
    free(rl->prompt);
    free(rl->answer);
    free(rl);
}

void sl_relay_record(struct sl_relay *rl, const struct sl_call_result *res)
{
    struct sl_req *r = rl->r;

    /* Without usage from the upstream, a 2xx, a timeout or a stream that began may still
     * have been billed. */
    rl->charge_full =
        res->ok || (res->fail & SL_FAIL_TIMEOUT) || (rl->out && sl_stream_begun(rl->out));
    r->attempts = res->attempts;
    r->upstream_status = res->status;
    sl_fmt_copy(r->upstream_request_id, sizeof(r->upstream_request_id), res->upstream_request_id);
    if (rl->usage.present) {
        r->prompt_tokens = rl->usage.prompt_tokens;
        r->completion_tokens = rl->usage.completion_tokens;
        r->total_tokens = rl->usage.total_tokens;
    }
}

/* The upstream gave up.  On a FastAPI-shaped route every upstream failure is the gateway's
 * problem: 502 (SPEC §3.1).  On an OpenAI-shaped one, the upstream's client errors are the
 * client's: relayed with their status, in OpenAI's shape (sl_openai_error_for_client), a 429
 * with SPEC §4's waiting headers (the upstream's own hint when it gave one; no retry for
 * insufficient_quota).  Its key being refused, its 5xx and our timeouts are the gateway's:
 * 502. */
void sl_relay_reply_failure(struct sl_relay *rl, const struct sl_call_result *res)
{
    struct sl_req *r = rl->r;
    char *fixed = NULL;
    size_t len = 0;

    if (!rl->route->openai_errors) {
        sl_req_reply_detail(r, 502, "Provider unavailable");
        return;
    }
    if (res->status >= 400 && res->status < 500 && !(res->fail & SL_FAIL_AUTH)) {
        if (sl_openai_error_for_client(res->body, res->body_len, (int)res->status, &fixed, &len) <
            0) {
            sl_req_reply_busy(r, true);
            return;
        }
        if (res->status == 429)
            sl_req_add_retry_headers(r, res->has_retry_after ? res->retry_after_ms : 1000,
                                     !(res->fail & SL_FAIL_QUOTA));
        sl_req_reply(r, (int)res->status, "application/json", fixed ? fixed : res->body,
                     fixed ? len : res->body_len);
        free(fixed);
        return;
    }
    sl_req_reply_openai_error(r, 502, "The upstream provider is unavailable.", "server_error", NULL,
                              "upstream_unavailable");
}

void sl_relay_note_created(struct sl_relay *rl)
{
    const char *id;

    if (rl->recorded || !rl->route->created_id || !(id = rl->route->created_id(rl->state)))
        return;
    rl->recorded = true;
    sl_ownership_record(rl->r->serve->owners, id, rl->r->tenant, SL_RELAY_UPSTREAM);
}

void sl_relay_call_spec(struct sl_relay *rl, struct sl_call_spec *spec)
{
    struct sl_req *r = rl->r;

    memset(spec, 0, sizeof(*spec));
    spec->path = rl->job.path ? rl->job.path : rl->route->upstream_path;
    spec->method = rl->job.method;
    spec->body = rl->job.body;
    spec->body_len = rl->job.body_len;
    spec->request_id = r->id;
    spec->model = rl->job.model;
    spec->start_ms = r->start_ms;
    spec->metrics = r->serve->metrics;
    spec->breaker = r->serve->breaker;
}

/* ---- buffered answers ---- */

void sl_relay_reply_as_is(struct sl_req *r, void *state, const char *body, size_t len)
{
    (void)state;
    sl_req_reply(r, 200, "application/json", body, len);
}

/* A 2xx counts only if the route can use it. */
static bool on_valid(const char *body, size_t len, void *arg)
{
    struct sl_relay *rl = arg;

    return rl->route->read_answer(rl->state, body, len, &rl->usage);
}

/* The answer's text for the prompt log, read only when it will be logged: with log_prompts
 * off, a buffered answer is never parsed for it. */
static void keep_answer(struct sl_relay *rl, const struct sl_call_result *res)
{
    if (!rl->prompt_due || rl->route->answer == SL_OPENAI_ANSWER_NONE)
        return;
    sl_openai_answer_text(res->body, res->body_len, rl->route->answer, CONTENT_LOG_MAX, &rl->answer,
                          &rl->answer_len);
}

static void on_done(const struct sl_call_result *res, void *arg)
{
    struct sl_relay *rl = arg;
    struct sl_req *r = rl->r;

    rl->call = NULL;
    sl_relay_record(rl, res);
    if (res->ok) {
        keep_answer(rl, res);
        sl_relay_note_created(rl);
        rl->route->reply_answer(r, rl->state, res->body, res->body_len);
    } else {
        sl_relay_reply_failure(rl, res);
    }
    sl_req_free(r);
}

/* The client hung up while the upstream was thinking: relay_stop() cancels the call, which
 * may already have cost tokens. */
static void on_client_gone(struct sl_req *r)
{
    struct sl_relay *rl = r->ctx;

    rl->charge_full = true;
    sl_req_free(r);
}

static void start_buffered(struct sl_relay *rl)
{
    struct sl_req *r = rl->r;
    struct sl_call_spec spec;

    sl_relay_call_spec(rl, &spec);
    rl->call = sl_call_start(r->serve->upstream, r->serve->base, r->serve->retry, &spec, on_valid,
                             on_done, rl);
    if (!rl->call || sl_req_watch_client(r, on_client_gone) < 0) {
        sl_req_reply_busy(r, rl->route->openai_errors);
        sl_req_free(r);
    }
}

/* The route's prompt field as it goes upstream (JSON, compact: the client's, masked where
 * the input guard masked), whole or not at all. */
static void keep_prompt_field(struct sl_relay *rl, json_t *root)
{
    json_t *field = json_object_get(root, rl->route->prompt_field);

    if (field)
        rl->prompt = json_dumps(field, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    rl->prompt_len = rl->prompt ? strlen(rl->prompt) : 0;
    if (rl->prompt_len > CONTENT_LOG_MAX) {
        free(rl->prompt);
        rl->prompt = NULL;
        rl->prompt_len = 0;
    }
}

/* [log] log_prompts: may this request's content be logged (SPEC §6: never after
 * X-Sluice-No-Store or "store": false, on every /v1 route)?  Then keep its prompt.  Only when
 * logging is on, so the common path never parses the body for it. */
static void keep_prompt(struct sl_relay *rl)
{
    struct sl_req *r = rl->r;
    json_t *root;

    if (!rl->route->prompt_field || !r->serve->cfg->log_prompts || r->no_store || !rl->job.body)
        return;
    root = json_loadb(rl->job.body, rl->job.body_len, JSON_ALLOW_NUL, NULL);
    if (!root)
        return; /* without a tree "store" is unknown: nothing is logged */
    if (!json_is_false(json_object_get(root, "store"))) {
        rl->log_content = true;
        keep_prompt_field(rl, root);
    }
    json_decref(root);
}

/* Admitted, and the tenant owns what it names: call the upstream. */
static void start(struct sl_relay *rl)
{
    rl->prompt_due = rl->log_content;
    if (rl->job.stream)
        sl_relay_start_stream(rl);
    else
        start_buffered(rl);
}

static void on_owner(int verdict, const struct sl_owner *owner, void *arg)
{
    struct sl_relay *rl = arg;
    struct sl_req *r = rl->r;
    char msg[160];

    (void)owner;
    rl->owner_op = NULL;
    if (verdict == 0) {
        start(rl);
        return;
    }
    /* The reservation goes back when the request ends (nothing was called). */
    if (verdict == -EAGAIN) {
        sl_req_add_retry_headers(r, 1000, true);
        sl_req_reply_openai_error(r, 503, "Response owner store unavailable", "server_error", NULL,
                                  "store_unavailable");
    } else {
        snprintf(msg, sizeof(msg), "No response found with id '%s'.", rl->job.owned_id);
        sl_req_reply_openai_error(r, 404, msg, "invalid_request_error", rl->job.owned_param,
                                  "not_found");
    }
    sl_req_free(r);
}

/* The owner is looked up after admission, so that RPM bounds how often a tenant can make
 * this host ask Redis about ids. */
static void on_admitted(void *arg)
{
    struct sl_relay *rl = arg;
    struct sl_req *r = rl->r;
    struct sl_ownership_op *op;

    if (!rl->job.owned_id) {
        start(rl);
        return;
    }
    /* Answered at once (NULL), on_owner has run and rl may be gone: only a pending lookup is
     * kept, to be cancelled if the request ends first. */
    op = sl_ownership_lookup(r->serve->owners, rl->job.owned_id, r->tenant, on_owner, rl);
    if (op)
        rl->owner_op = op;
}

/* The rest of SPEC §4, once the tenant may make this request at all. */
static void admit(struct sl_relay *rl)
{
    rl->admit.r = rl->r;
    rl->admit.openai = rl->route->openai_errors;
    rl->admit.tokens = rl->job.reservation;
    rl->admit.admitted = on_admitted;
    rl->admit.arg = rl;
    sl_admit(&rl->admit);
}

/* The tenant may use the model it names (its models list), and its input-guard policy lets
 * the body through (SPEC §13: before the rate limits); the responses it names are checked
 * once it is admitted (on_admitted). */
static void check_rights(struct sl_relay *rl)
{
    struct sl_req *r = rl->r;
    char msg[200];

    if (rl->job.model &&
        !sl_tenants_model_allowed(r->serve->tenants, r->tenant_idx, rl->job.model)) {
        if (rl->route->openai_errors) {
            snprintf(msg, sizeof(msg),
                     "The model `%.120s` does not exist or you do not have access to it.",
                     rl->job.model);
            sl_req_reply_openai_error(r, 404, msg, "invalid_request_error", "model",
                                      "model_not_found");
        } else {
            sl_req_reply_detail(r, 404, "Model not found");
        }
        sl_req_free(r);
        return;
    }
    if (!sl_relay_guard(rl)) {
        sl_req_free(r);
        return;
    }
    keep_prompt(rl);
    admit(rl);
}

void sl_relay_handle(struct sl_req *r, const struct sl_relay_route *route)
{
    struct sl_relay *rl;
    const char *body;
    size_t len;

    rl = calloc(1, STATE_OFFSET + route->state_size);
    if (!rl) {
        sl_req_reply_busy(r, route->openai_errors);
        sl_req_free(r);
        return;
    }
    rl->r = r;
    rl->route = route;
    rl->state = (char *)rl + STATE_OFFSET;
    rl->admit.resv = -1;
    sl_buf_init(&rl->events, EVENTS_MAX);
    r->ctx = rl;
    r->ctx_stop = relay_stop;
    r->ctx_free = relay_free;
    body = sl_req_body(r, &len);
    if (route->prepare(r, rl->state, body, len, &rl->job) < 0) {
        sl_req_free(r);
        return;
    }
    /* Everything needed is copied: evhttp's copy goes now rather than with the request,
     * which for a stream may be many minutes later. */
    sl_req_body_release(r);
    r->model = rl->job.model;
    if (sl_admit_identify(r, route->openai_errors))
        check_rights(rl);
}
