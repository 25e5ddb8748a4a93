/* SPDX-License-Identifier: MIT */
/* response_ops.c - what a tenant may do with a response it created (SPEC §10):
 * GET /v1/responses/{id}, DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items and
 * POST /v1/responses/{id}/cancel, relayed to the upstream only for the tenant that created
 * {id}; any other tenant gets 404 and nothing goes upstream.  They cost no tokens: admission
 * reserves nothing, so RPM is the limit that applies. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/response_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/responses.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/relay.h"

#define PREFIX "/v1/responses/"
#define QUERY_MAX 1024

struct op {
    const char *suffix; /* after the id */
    const char *method; /* the one it answers */
    enum sl_upstream_method verb;
    const char *const *params; /* query parameters relayed; NULL-terminated */
};

static const char *const no_params[] = { NULL };
/* stream=true would turn a retrieve into an event stream the gateway does not relay. */
static const char *const retrieve_params[] = { "include", "include[]", "include%5B%5D", NULL };
static const char *const list_params[] = { "after",   "before",        "limit",     "order",
                                           "include", "include%5B%5D", "include[]", NULL };

static const struct op ops[] = {
    { "", "GET", SL_UPSTREAM_GET, retrieve_params },
    { "", "DELETE", SL_UPSTREAM_DELETE, no_params },
    { "/input_items", "GET", SL_UPSTREAM_GET, list_params },
    { "/cancel", "POST", SL_UPSTREAM_POST, no_params },
};

struct ops_state {
    char id[SL_RESPONSE_ID_MAX + 1];
};

static bool param_allowed(const char *name, size_t len, const char *const *params)
{
    for (; *params; params++)
        if (strlen(*params) == len && memcmp(*params, name, len) == 0)
            return true;
    return false;
}

/* Only the parameters OpenAI documents for the operation, in URL-safe bytes: what goes
 * upstream is what the gateway understood.  NULL if fine, else the offending name. */
static const char *query_problem(const char *q, const char *const *params, char *name, size_t n)
{
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                               "-._~%+=&[],";

    if (strlen(q) > QUERY_MAX || strspn(q, safe) != strlen(q))
        return "query";
    while (*q) {
        size_t len = strcspn(q, "=&");

        if (len && !param_allowed(q, len, params)) {
            snprintf(name, n, "%.*s", (int)(len < 40 ? len : 40), q);
            return name;
        }
        q += strcspn(q, "&");
        q += *q == '&';
    }
    return NULL;
}

/* Which operation the path and method name; answers 404 / 405 itself when none (the Allow
 * header lists the methods the table has for that path). */
static const struct op *find_op(struct sl_req *r, const char *rest)
{
    const char *slash = strchr(rest, '/');
    const char *suffix = slash ? slash : "";
    char allow[32] = "";
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(ops[i].suffix, suffix) != 0)
            continue;
        if (strcmp(ops[i].method, r->method) == 0)
            return &ops[i];
        snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
                 ops[i].method);
    }
    if (!allow[0]) {
        sl_req_reply_openai_error(r, 404, "Unknown request URL", "invalid_request_error", NULL,
                                  "unknown_url");
        return NULL;
    }
    sl_req_add_header(r, "Allow", allow);
    sl_req_reply_openai_error(r, 405, "Method Not Allowed", "invalid_request_error", NULL,
                              "method_not_allowed");
    return NULL;
}

static int build_path(struct sl_relay_job *job, const char *id, const struct op *op,
                      const char *query)
{
    size_t n =
        strlen("/responses/") + strlen(id) + strlen(op->suffix) + 2 + (query ? strlen(query) : 0);

    if (!(job->path = malloc(n)))
        return -ENOMEM;
    snprintf(job->path, n, "/responses/%s%s%s%s", id, op->suffix, query && *query ? "?" : "",
             query ? query : "");
    return 0;
}

static int prepare(struct sl_req *r, void *state, const char *body, size_t len,
                   struct sl_relay_job *job)
{
    struct ops_state *s = state;
    const char *rest = sl_req_path(r) + strlen(PREFIX), *query = sl_req_query(r), *bad;
    size_t id_len = strcspn(rest, "/");
    const struct op *op;
    char name[48], msg[160];

    (void)body;
    (void)len;
    if (!(op = find_op(r, rest)))
        return -EINVAL;
    if (!sl_response_id_valid(rest, id_len)) {
        sl_req_reply_openai_error(r, 400, "Invalid 'response_id': expected an id like 'resp_...'.",
                                  "invalid_request_error", "response_id", "invalid_value");
        return -EINVAL;
    }
    memcpy(s->id, rest, id_len);
    s->id[id_len] = '\0';
    if (query && (bad = query_problem(query, op->params, name, sizeof(name)))) {
        snprintf(msg, sizeof(msg), "Unsupported query parameter '%s' on this operation.", bad);
        sl_req_reply_openai_error(r, 400, msg, "invalid_request_error", bad,
                                  "unsupported_parameter");
        return -EINVAL;
    }
    if (build_path(job, s->id, op, query) < 0) {
        sl_req_reply_busy(r, true);
        return -ENOMEM;
    }
    job->method = op->verb;
    job->owned_id = s->id;
    return 0;
}

/* Whatever the upstream answered goes back as it is; none of it settles anything. */
static bool read_answer(void *state, const char *body, size_t len, struct sl_usage *usage)
{
    (void)state;
    (void)body;
    (void)len;
    usage->present = false;
    return true;
}

const struct sl_relay_route sl_route_v1_response_ops = {
    .upstream_path = "/responses",
    .openai_errors = true,
    .state_size = sizeof(struct ops_state),
    .prepare = prepare,
    .read_answer = read_answer,
    .reply_answer = sl_relay_reply_as_is,
};
