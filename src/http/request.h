/* SPDX-License-Identifier: MIT */
/* request.h - struct sl_req owns everything one client request touches, from dispatch to the
 * access-log line.  sl_req_free() is the only way a request ends: it writes the log line,
 * releases the worker's in-flight count, and frees what the request owned.  Replies always
 * carry X-Request-ID and a JSON (or SSE) body, never evhttp's HTML pages. */
#ifndef SL_REQUEST_H
#define SL_REQUEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "core/quota.h"
#include "core/reqid.h"

struct event;
struct evhttp_request;
struct evkeyvalq;
struct sl_serve;

/* What the gateway reads of the request's headers, from one pass over them: evhttp's lookup
 * walks the whole list for each name, a byte at a time through a function call, and a request
 * asked it five times.  The strings are evhttp's, valid while the request is (the first of a
 * repeated name, as evhttp_find_header() gives); NULL when absent. */
struct sl_req_headers {
    const char *authorization, *request_id, *user_agent, *no_store, *transfer_encoding;
    unsigned hosts, lengths, codings; /* Host, Content-Length, Transfer-Encoding lines */
    bool bad_name;                    /* a name that is no RFC 9110 token */
    bool bad_length;                  /* a Content-Length that is not all digits */
};

struct sl_req {
    struct sl_serve *serve;    /* borrowed: what the request may reach */
    struct evhttp_request *ev; /* owned by evhttp; NULL once the reply has been sent */
    const char *route;         /* static route name for logs and metrics */
    enum sl_route_id route_id;
    const char *method; /* static */
    char id[SL_REQID_MAX + 1];
    char tenant[64];   /* "" until authenticated */
    uint64_t start_ms; /* monotonic */
    uint64_t start_us;
    int status;       /* what the client got; 0 until replied */
    bool close_after; /* send Connection: close (draining) */
    bool no_store;    /* X-Sluice-No-Store: 1 (or the body said store:false) */
    struct sl_req_headers in;
    char user_agent[160]; /* for the log; cut, any bytes (the log escapes them) */
    /* Filled by routes that call upstream, for the access-log line. */
    const char *model; /* borrowed from config or the route's context */
    unsigned attempts;
    long upstream_status;
    char upstream_request_id[128];
    int64_t prompt_tokens, completion_tokens, total_tokens; /* -1 = unknown */
    /* A stream cut after its first byte (the client saw 200 but no complete answer): static
     * "upstream" (it failed or broke off), "client" (it left) or "gateway" (our own
     * failure), logged as "cut"; NULL for a complete answer. */
    const char *cut;
    /* A route's own state.  sl_req_free() first calls ctx_stop (if set) to stop pending work
     * (cancel an upstream call, settle a reservation) and fill the fields above, before it
     * logs; then it releases the state through ctx_free. */
    void *ctx;
    void (*ctx_stop)(void *ctx);
    void (*ctx_free)(void *ctx);
    /* Admission (api/admit.c): the tenant, for the log, its metrics and the rate-limit
     * headers every reply to it carries. */
    int tenant_idx; /* -1 until authenticated */
    bool has_ratelimit;
    struct sl_quota_info ratelimit;
    struct event *client_watch; /* see sl_req_watch_client() */
    void (*client_gone)(struct sl_req *r);
};

/* Begin a request: picks its id, counts it in flight.  NULL on OOM (the caller answers 503
 * without a request object). */
struct sl_req *sl_req_new(struct sl_serve *s, struct evhttp_request *ev, const char *route,
                          enum sl_route_id route_id);
void sl_req_free(struct sl_req *r);

/* The x-ratelimit-* headers (SPEC §4), added to the reply when admission set them. */
void sl_req_add_ratelimit_headers(struct sl_req *r);
/* Headers added before the reply is sent.  Values are checked: a value with CR, LF or other
 * control bytes is dropped rather than sent (evhttp would refuse it anyway). */
void sl_req_add_header(struct sl_req *r, const char *name, const char *value);
/* The Date header every reply carries, formatted once a second. */
void sl_req_add_date(struct evkeyvalq *h);

/* Send a complete reply.  body may be NULL for an empty one.  The request stays allocated
 * until sl_req_free(). */
void sl_req_reply(struct sl_req *r, int status, const char *content_type, const char *body,
                  size_t len);
/* SPEC §4's waiting headers, for a 429 or 503: Retry-After in whole seconds (rounded up, at
 * least 1), retry-after-ms (retry_ms, 1000 when 0) and x-should-retry. */
void sl_req_add_retry_headers(struct sl_req *r, uint64_t retry_ms, bool should_retry);
/* 503 "Server busy" (our own trouble: out of memory, say) in the route's shape (OpenAI's with
 * code server_busy, or FastAPI's), with Retry-After: 1, retry-after-ms and x-should-retry:
 * true. */
void sl_req_reply_busy(struct sl_req *r, bool openai);
/* FastAPI's shape: {"detail": "<detail>"}. */
void sl_req_reply_detail(struct sl_req *r, int status, const char *detail);
/* OpenAI's shape: {"error": {"message","type","param","code"}}; param and code may be NULL. */
void sl_req_reply_openai_error(struct sl_req *r, int status, const char *message, const char *type,
                               const char *param, const char *code);
/* Log the prompt and the answer when [log] log_prompts is on and the client did not ask for
 * no storage (X-Sluice-No-Store: 1 or "store": false).  No-op otherwise.  Each is whole or
 * left out (NULL, or too long for the line): a prompt log never holds a cut text. */
void sl_req_log_prompt(struct sl_req *r, const char *prompt, size_t prompt_len, const char *answer,
                       size_t answer_len);
/* Notice a client that hangs up while the request waits for the upstream: evhttp does not
 * read the socket between the request and the reply, so without this the upstream call (and
 * its tokens) would run on for nobody.  gone(r) runs from the loop with the connection
 * already closed (r->ev is NULL, r->status 499); it must cancel the route's work and call
 * sl_req_free(r).  The watch ends when the reply starts.  0 or -ENOMEM. */
int sl_req_watch_client(struct sl_req *r, void (*gone)(struct sl_req *r));
/* The request body as one contiguous block (may contain NUL bytes); *len set. */
const char *sl_req_body(struct sl_req *r, size_t *len);
/* The route has copied what it needs of the body: free evhttp's copy now rather than with
 * the request, which for a stream may be many minutes later (1 KiB per open stream). */
void sl_req_body_release(struct sl_req *r);
/* The request's path (decoded by nothing, as the client sent it) and its query string (without
 * the '?'; NULL when there is none).  Valid while the request is. */
const char *sl_req_path(struct sl_req *r);
const char *sl_req_query(struct sl_req *r);
/* The Authorization header, or NULL (also once the reply has been sent). */
const char *sl_req_authorization(const struct sl_req *r);
#endif /* SL_REQUEST_H */
