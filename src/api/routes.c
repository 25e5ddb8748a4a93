/* SPDX-License-Identifier: MIT */
/* routes.c - route table, method checks, health and readiness handlers. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/routes.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "core/breaker.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "admission/budget.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/admin.h"
#include "api/chat.h"
#include "api/embeddings.h"
#include "api/models.h"
#include "api/relay.h"
#include "api/response_ops.h"
#include "api/responses.h"
#include "api/v1_chat.h"

enum {
    M_GET = EVHTTP_REQ_GET,
    M_HEAD = EVHTTP_REQ_HEAD,
    M_POST = EVHTTP_REQ_POST,
    M_DELETE = EVHTTP_REQ_DELETE,
};

struct route {
    const char *path;
    const char *name; /* route label in logs and metrics */
    enum sl_route_id id;
    unsigned methods;                   /* EVHTTP_REQ_* bits */
    const char *allow;                  /* the Allow header of a 405 */
    void (*handle)(struct sl_req *r);   /* answered by the gateway itself, or */
    const struct sl_relay_route *relay; /* relayed upstream by the relay core */
    bool openai_errors;                 /* errors in OpenAI's shape, not FastAPI's */
    bool prefix;                        /* path is "path/..." (an id follows), not path */
};

static void handle_healthz(struct sl_req *r);
static void handle_readyz(struct sl_req *r);
static void handle_metrics(struct sl_req *r);

static const struct route routes[] = {
    { "/healthz", "/healthz", SL_ROUTE_HEALTHZ, M_GET | M_HEAD, "GET, HEAD", handle_healthz, NULL,
      false },
    { "/readyz", "/readyz", SL_ROUTE_READYZ, M_GET | M_HEAD, "GET, HEAD", handle_readyz, NULL,
      false },
    { "/metrics", "/metrics", SL_ROUTE_METRICS, M_GET | M_HEAD, "GET, HEAD", handle_metrics, NULL,
      false },
    { "/api/chat", "/api/chat", SL_ROUTE_API_CHAT, M_POST, "POST", NULL, &sl_route_api_chat,
      false },
    { "/api/chat/stream", "/api/chat/stream", SL_ROUTE_API_CHAT_STREAM, M_POST, "POST", NULL,
      &sl_route_api_chat_stream, false },
    { "/v1/chat/completions", "/v1/chat/completions", SL_ROUTE_V1_CHAT, M_POST, "POST", NULL,
      &sl_route_v1_chat, true },
    { "/v1/responses", "/v1/responses", SL_ROUTE_V1_RESPONSES, M_POST, "POST", NULL,
      &sl_route_v1_responses, true },
    /* The operation's own method check is response_ops.c's (it depends on the suffix). */
    { "/v1/responses/", "/v1/responses/{id}", SL_ROUTE_V1_RESPONSE_OPS, M_GET | M_POST | M_DELETE,
      "GET, POST, DELETE", NULL, &sl_route_v1_response_ops, true, true },
    { "/v1/embeddings", "/v1/embeddings", SL_ROUTE_V1_EMBEDDINGS, M_POST, "POST", NULL,
      &sl_route_v1_embeddings, true },
    { "/v1/models", "/v1/models", SL_ROUTE_V1_MODELS, M_GET, "GET", sl_route_v1_models, NULL,
      true },
    { "/v1/models/", "/v1/models", SL_ROUTE_V1_MODELS, M_GET, "GET", sl_route_v1_models, NULL, true,
      true },
};

static void handle_healthz(struct sl_req *r)
{
    static const char body[] = "{\"status\":\"ok\"}";

    sl_req_reply(r, 200, "application/json", body, sizeof(body) - 1);
    sl_req_free(r);
}

/* Ready unless draining, the breaker is open, or Redis is out of reach with fail_mode =
 * closed (with local, this host keeps admitting, so it is degraded, not unready). */
static void handle_readyz(struct sl_req *r)
{
    static const char ready[] = "{\"status\":\"ready\"}";
    static const char degraded[] = "{\"status\":\"ready\",\"degraded\":[\"redis\"]}";
    bool draining = r->serve->draining;
    bool open = sl_breaker_state(r->serve->breaker, sl_clock_mono_ms()) == SL_BREAKER_OPEN;
    bool redis_down = sl_budget_store_down(r->serve->budget);
    bool redis = redis_down && r->serve->cfg->fail_mode == SL_FAIL_MODE_CLOSED;
    char body[160];
    size_t n;

    if (!draining && !open && !redis) {
        if (redis_down)
            sl_req_reply(r, 200, "application/json", degraded, sizeof(degraded) - 1);
        else
            sl_req_reply(r, 200, "application/json", ready, sizeof(ready) - 1);
        sl_req_free(r);
        return;
    }
    n = (size_t)snprintf(body, sizeof(body), "{\"status\":\"not_ready\",\"reasons\":[");
    if (redis)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\"redis\",");
    if (open)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\"breaker_open\",");
    if (draining)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\"draining\",");
    snprintf(body + n - 1, sizeof(body) - n + 1, "]}");
    sl_req_add_header(r, "Retry-After", "1");
    sl_req_reply(r, 503, "application/json", body, strlen(body));
    sl_req_free(r);
}

static void handle_metrics(struct sl_req *r)
{
    struct sl_buf b;

    sl_buf_init(&b, 4u << 20);
    if (r->serve->render_metrics(r->serve->owner, &b) < 0)
        sl_req_reply_detail(r, 503, "Server busy");
    else
        sl_req_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    sl_buf_done(&b);
    sl_req_free(r);
}

static const struct route *find_route(const char *path)
{
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *rt = &routes[i];
        size_t n = strlen(rt->path);

        /* A prefix route needs something after its slash. */
        if (rt->prefix ? strncmp(rt->path, path, n) == 0 && path[n] : strcmp(rt->path, path) == 0)
            return rt;
    }
    return NULL;
}

static void not_found(struct sl_req *r, bool openai)
{
    if (openai)
        sl_req_reply_openai_error(r, 404, "Unknown request URL", "invalid_request_error", NULL,
                                  "unknown_url");
    else
        sl_req_reply_detail(r, 404, "Not Found");
    sl_req_free(r);
}

/* What libevent 2.1 lets through but a front proxy might read differently (request
 * smuggling): a header name with spaces ("Content-Length : 5" is not Content-Length to
 * evhttp), a Content-Length with a sign or blanks (strtoll accepts "+21"), a repeated
 * Content-Length (evhttp frames by the first, a proxy may take the last), Content-Length
 * beside Transfer-Encoding (evhttp takes the chunks, a proxy may take the length), a
 * Transfer-Encoding other than one plain chunked, and HTTP/1.1 without exactly one Host.
 * NULL if sane, else why not. */
static const char *framing_problem(const struct evhttp_request *ev, const struct sl_req_headers *h)
{
    if (h->bad_name)
        return "Invalid header name";
    if (h->bad_length)
        return "Invalid Content-Length";
    if (h->lengths > 1)
        return "Repeated Content-Length";
    if (h->codings > 1)
        return "Repeated Transfer-Encoding";
    if (h->transfer_encoding && strcasecmp(h->transfer_encoding, "chunked") != 0)
        return "Unsupported Transfer-Encoding";
    if (h->transfer_encoding && h->lengths)
        return "Content-Length with Transfer-Encoding";
    if (ev->major == 1 && ev->minor >= 1 && h->hosts != 1)
        return "Missing or repeated Host header";
    return NULL;
}

static void dispatch(struct evhttp_request *ev, struct sl_serve *s, bool metrics_only)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const struct route *rt = path ? find_route(path) : NULL;
    struct sl_req *r;

    /* With [metrics] listen set, /metrics lives there and only there. */
    if (rt && rt->id == SL_ROUTE_METRICS && !metrics_only && s->cfg->has_metrics_listen)
        rt = NULL;
    if (rt && metrics_only && rt->id != SL_ROUTE_METRICS)
        rt = NULL;
    const char *bad;

    bool admin = !rt && !metrics_only && path && sl_admin_path(path);

    r = sl_req_new(s, ev,
                   rt      ? rt->name
                   : admin ? "/admin/v1"
                           : "unmatched",
                   rt      ? rt->id
                   : admin ? SL_ROUTE_ADMIN
                           : SL_ROUTE_OTHER);
    if (!r) {
        evhttp_send_error(ev, 503, NULL);
        return;
    }
    if ((bad = framing_problem(ev, &r->in))) {
        /* Close after answering: whatever follows on this connection cannot be trusted. */
        r->close_after = true;
        if (rt && rt->openai_errors)
            sl_req_reply_openai_error(r, 400, bad, "invalid_request_error", NULL, "bad_request");
        else
            sl_req_reply_detail(r, 400, bad);
        sl_req_free(r);
        return;
    }
    if (admin) {
        sl_admin_handle(r, path);
        return;
    }
    if (!rt) {
        not_found(r, path && strncmp(path, "/v1/", 4) == 0);
        return;
    }
    if (!(evhttp_request_get_command(ev) & rt->methods)) {
        sl_req_add_header(r, "Allow", rt->allow);
        if (rt->openai_errors)
            sl_req_reply_openai_error(r, 405, "Method Not Allowed", "invalid_request_error", NULL,
                                      "method_not_allowed");
        else
            sl_req_reply_detail(r, 405, "Method Not Allowed");
        sl_req_free(r);
        return;
    }
    if (rt->relay)
        sl_relay_handle(r, rt->relay);
    else
        rt->handle(r);
}

void sl_routes_dispatch(struct evhttp_request *ev, struct sl_serve *s)
{
    dispatch(ev, s, false);
}

void sl_routes_dispatch_metrics(struct evhttp_request *ev, struct sl_serve *s)
{
    dispatch(ev, s, true);
}
