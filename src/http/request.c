/* SPDX-License-Identifier: MIT */
/* request.c - a request's lifecycle, its replies, and its access-log line. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "http/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/fmt.h"
#include "core/log.h"
#include "admission/tenants.h"
#include "http/serve.h"

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "OTHER";
}

/* RFC 9110 tchar. */
static bool is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              strchr(extra, *s)))
            return false;
    return true;
}

/* *at = value, unless an earlier line of the same name set it. */
static void first(const char **at, const char *value)
{
    if (!*at)
        *at = value;
}

/* One header line: names compared by length first, then without case. */
static void read_header(struct sl_req_headers *h, const char *name, const char *value)
{
    size_t n = strlen(name);

    if (n == 4 && strcasecmp(name, "Host") == 0) {
        h->hosts++;
    } else if (n == 13 && strcasecmp(name, "Authorization") == 0) {
        first(&h->authorization, value);
    } else if (n == 14 && strcasecmp(name, "Content-Length") == 0) {
        h->lengths++;
        h->bad_length |= !*value || strspn(value, "0123456789") != strlen(value);
    } else if (n == 12 && strcasecmp(name, "X-Request-ID") == 0) {
        first(&h->request_id, value);
    } else if (n == 10 && strcasecmp(name, "User-Agent") == 0) {
        first(&h->user_agent, value);
    } else if (n == 17 && strcasecmp(name, "Transfer-Encoding") == 0) {
        h->codings++;
        first(&h->transfer_encoding, value);
    } else if (n == 17 && strcasecmp(name, "X-Sluice-No-Store") == 0) {
        first(&h->no_store, value);
    }
}

static void read_headers(struct evhttp_request *ev, struct sl_req_headers *h)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
    const struct evkeyval *kv;

    for (kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        h->bad_name |= !is_token(kv->key);
        read_header(h, kv->key, kv->value);
    }
}

struct sl_req *sl_req_new(struct sl_serve *s, struct evhttp_request *ev, const char *route,
                          enum sl_route_id route_id)
{
    struct sl_req *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->serve = s;
    r->ev = ev;
    r->route = route;
    r->route_id = route_id;
    r->method = method_name(evhttp_request_get_command(ev));
    r->start_us = sl_clock_mono_us();
    r->start_ms = r->start_us / 1000;
    r->prompt_tokens = r->completion_tokens = r->total_tokens = -1;
    r->tenant_idx = -1;
    r->close_after = s->draining;
    read_headers(ev, &r->in);
    sl_reqid_pick(r->in.request_id, r->id);
    if (r->in.user_agent)
        sl_fmt_copy(r->user_agent, sizeof(r->user_agent), r->in.user_agent);
    r->no_store = r->in.no_store && strcmp(r->in.no_store, "1") == 0;
    sl_serve_request_started(s);
    return r;
}

static void log_request(const struct sl_req *r)
{
    struct sl_log_line *l = sl_log_begin(r->status >= 500 ? SL_LOG_WARN : SL_LOG_INFO, "request");

    sl_log_str(l, "request_id", r->id);
    sl_log_str(l, "tenant", r->tenant[0] ? r->tenant : NULL);
    sl_log_str(l, "route", r->route);
    sl_log_str(l, "method", r->method);
    if (r->user_agent[0])
        sl_log_str(l, "user_agent", r->user_agent);
    sl_log_int(l, "status", r->status);
    sl_log_int(l, "latency_ms", (int64_t)(sl_clock_mono_ms() - r->start_ms));
    if (r->attempts) {
        sl_log_str(l, "model", r->model);
        sl_log_int(l, "attempts", r->attempts);
        sl_log_int(l, "upstream_status", r->upstream_status);
        sl_log_str(l, "upstream_request_id",
                   r->upstream_request_id[0] ? r->upstream_request_id : NULL);
    }
    if (r->cut)
        sl_log_str(l, "cut", r->cut);
    if (r->total_tokens >= 0) {
        sl_log_int(l, "prompt_tokens", r->prompt_tokens);
        sl_log_int(l, "completion_tokens", r->completion_tokens);
        sl_log_int(l, "total_tokens", r->total_tokens);
    }
    sl_log_end(l);
}

void sl_req_log_prompt(struct sl_req *r, const char *prompt, size_t prompt_len, const char *answer,
                       size_t answer_len)
{
    struct sl_log_line *l;

    if (!r->serve->cfg->log_prompts || r->no_store)
        return;
    l = sl_log_begin(SL_LOG_INFO, "prompt");
    sl_log_str(l, "request_id", r->id);
    sl_log_str(l, "route", r->route);
    if (prompt)
        sl_log_strn_whole(l, "prompt", prompt, prompt_len);
    if (answer)
        sl_log_strn_whole(l, "answer", answer, answer_len);
    sl_log_end(l);
}

static void stop_watch(struct sl_req *r)
{
    if (r->client_watch) {
        event_free(r->client_watch);
        r->client_watch = NULL;
    }
}

static void on_client_closed(evutil_socket_t fd, short what, void *arg)
{
    struct sl_req *r = arg;
    struct evhttp_connection *evcon = r->ev ? evhttp_request_get_connection(r->ev) : NULL;

    stop_watch(r);
    r->status = 499; /* nginx's "client closed request" */
    r->ev = NULL;    /* freed with its connection */
    if (evcon)
        evhttp_connection_free(evcon);
    r->client_gone(r);
}

int sl_req_watch_client(struct sl_req *r, void (*gone)(struct sl_req *r))
{
    struct evhttp_connection *evcon = r->ev ? evhttp_request_get_connection(r->ev) : NULL;
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    if (fd < 0)
        return -EINVAL;
    r->client_gone = gone;
    r->client_watch = event_new(r->serve->base, fd, EV_CLOSED | EV_PERSIST, on_client_closed, r);
    if (!r->client_watch || event_add(r->client_watch, NULL) == -1) {
        stop_watch(r);
        return -ENOMEM;
    }
    return 0;
}

static void count_tenant_and_cut(const struct sl_req *r)
{
    struct sl_tenants *t = r->serve->tenants;

    if (r->tenant_idx >= 0 && (unsigned)r->tenant_idx < t->max_tenants)
        sl_metrics_tenant(&t->tenants[r->tenant_idx].counters, r->status,
                          r->total_tokens >= 0 ? r->prompt_tokens : 0,
                          r->total_tokens >= 0 ? r->completion_tokens : 0);
    if (r->cut)
        sl_metrics_cut(r->serve->metrics, r->route_id,
                       strcmp(r->cut, "upstream") == 0 ? SL_CUT_UPSTREAM
                       : strcmp(r->cut, "client") == 0 ? SL_CUT_CLIENT
                                                       : SL_CUT_GATEWAY);
}

void sl_req_free(struct sl_req *r)
{
    if (!r)
        return;
    stop_watch(r);
    /* The route's pending work ends first, so that what it did is settled and logged. */
    if (r->ctx_stop)
        r->ctx_stop(r->ctx);
    /* Log first: the line may borrow strings (the model) from the route's context. */
    log_request(r);
    sl_metrics_request(r->serve->metrics, r->route_id, r->status, sl_clock_mono_us() - r->start_us);
    if (r->total_tokens >= 0)
        sl_metrics_tokens(r->serve->metrics, r->prompt_tokens, r->completion_tokens);
    count_tenant_and_cut(r);
    if (r->ctx_free)
        r->ctx_free(r->ctx);
    sl_serve_request_finished(r->serve);
    free(r);
}

/* The x-ratelimit trio of one window, named as OpenAI names them. */
struct window_names {
    const char *limit, *remaining, *reset;
};

static const struct window_names requests_names = { "x-ratelimit-limit-requests",
                                                    "x-ratelimit-remaining-requests",
                                                    "x-ratelimit-reset-requests" };
static const struct window_names tokens_names = { "x-ratelimit-limit-tokens",
                                                  "x-ratelimit-remaining-tokens",
                                                  "x-ratelimit-reset-tokens" };

static void window_headers(struct sl_req *r, const struct window_names *names,
                           const struct sl_quota_window *w)
{
    char v[SL_FMT_DURATION_MAX];

    if (w->limit == 0)
        return; /* unlimited: no trio, rather than a made-up number */
    sl_fmt_u64(v, w->limit);
    sl_req_add_header(r, names->limit, v);
    sl_fmt_u64(v, w->remaining);
    sl_req_add_header(r, names->remaining, v);
    sl_fmt_go_duration(v, w->reset_ms);
    sl_req_add_header(r, names->reset, v);
}

void sl_req_add_ratelimit_headers(struct sl_req *r)
{
    if (!r->has_ratelimit)
        return;
    r->has_ratelimit = false; /* once */
    window_headers(r, &requests_names, &r->ratelimit.requests);
    window_headers(r, &tokens_names, &r->ratelimit.tokens);
}

static bool header_value_ok(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 && *v != '\t')
            return false;
    return true;
}

/* evhttp writes a Date header itself when a reply has none, formatting the time anew for
 * every reply (3,500 instructions, most of a log line's worth); one second's text serves all
 * the replies of that second. */
void sl_req_add_date(struct evkeyvalq *h)
{
    static time_t cached = -1;
    static char text[40];
    time_t now = time(NULL);
    struct tm tm;

    if (now != cached) {
        gmtime_r(&now, &tm);
        strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached = now;
    }
    evhttp_add_header(h, "Date", text);
}

void sl_req_add_header(struct sl_req *r, const char *name, const char *value)
{
    if (!r->ev || !value || !header_value_ok(value))
        return;
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

/* evhttp adds Content-Length itself where a reply to HTTP/1.1 may have a body, formatting the
 * number through evutil_snprintf (700 instructions); written here, only where it would. */
static void add_content_length(struct evkeyvalq *h, const struct evhttp_request *ev, int status,
                               size_t len)
{
    char v[SL_FMT_U64_MAX];

    if (ev->major != 1 || ev->minor < 1 || ev->type == EVHTTP_REQ_HEAD || status == 204 ||
        status == 304 || (status >= 100 && status < 200))
        return;
    sl_fmt_u64(v, len);
    evhttp_add_header(h, "Content-Length", v);
}

void sl_req_reply(struct sl_req *r, int status, const char *content_type, const char *body,
                  size_t len)
{
    struct evkeyvalq *h;
    struct evbuffer *out;

    if (!r->ev)
        return;
    stop_watch(r);
    sl_req_add_ratelimit_headers(r);
    h = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(h, "X-Request-ID", r->id);
    sl_req_add_date(h);
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    if (r->close_after || r->serve->draining)
        evhttp_add_header(h, "Connection", "close");
    out = evhttp_request_get_output_buffer(r->ev);
    if (body && len)
        evbuffer_add(out, body, len);
    add_content_length(h, r->ev, status, evbuffer_get_length(out));
    r->status = status;
    sl_serve_reply_queued(r->serve, r->ev);
    evhttp_send_reply(r->ev, status, NULL, NULL);
    r->ev = NULL;
}

void sl_req_reply_detail(struct sl_req *r, int status, const char *detail)
{
    struct sl_buf b;

    sl_buf_init(&b, 4096);
    sl_buf_puts(&b, "{\"detail\":");
    sl_buf_json_str(&b, detail, strlen(detail));
    sl_buf_puts(&b, "}");
    sl_req_reply(r, status, "application/json", b.data, b.len);
    sl_buf_done(&b);
}

void sl_req_add_retry_headers(struct sl_req *r, uint64_t retry_ms, bool should_retry)
{
    char s[SL_FMT_U64_MAX], ms[SL_FMT_U64_MAX];
    uint64_t secs = retry_ms / 1000 + (retry_ms % 1000 != 0);

    sl_fmt_u64(s, secs ? secs : 1);
    sl_fmt_u64(ms, retry_ms ? retry_ms : 1000);
    sl_req_add_header(r, "Retry-After", s);
    sl_req_add_header(r, "retry-after-ms", ms);
    sl_req_add_header(r, "x-should-retry", should_retry ? "true" : "false");
}

void sl_req_reply_busy(struct sl_req *r, bool openai)
{
    sl_req_add_retry_headers(r, 1000, true);
    if (openai)
        sl_req_reply_openai_error(r, 503, "Server busy", "server_error", NULL, "server_busy");
    else
        sl_req_reply_detail(r, 503, "Server busy");
}

static void json_str_or_null(struct sl_buf *b, const char *s)
{
    if (s)
        sl_buf_json_str(b, s, strlen(s));
    else
        sl_buf_puts(b, "null");
}

void sl_req_reply_openai_error(struct sl_req *r, int status, const char *message, const char *type,
                               const char *param, const char *code)
{
    struct sl_buf b;

    sl_buf_init(&b, 4096);
    sl_buf_puts(&b, "{\"error\":{\"message\":");
    sl_buf_json_str(&b, message, strlen(message));
    sl_buf_puts(&b, ",\"type\":");
    json_str_or_null(&b, type);
    sl_buf_puts(&b, ",\"param\":");
    json_str_or_null(&b, param);
    sl_buf_puts(&b, ",\"code\":");
    json_str_or_null(&b, code);
    sl_buf_puts(&b, "}}");
    sl_req_reply(r, status, "application/json", b.data, b.len);
    sl_buf_done(&b);
}

const char *sl_req_body(struct sl_req *r, size_t *len)
{
    struct evbuffer *in;
    const char *p;
    size_t n;

    *len = 0;
    if (!r->ev)
        return NULL;
    in = evhttp_request_get_input_buffer(r->ev);
    n = evbuffer_get_length(in);
    if (n == 0)
        return "";
    p = (const char *)evbuffer_pullup(in, -1);
    /* Out of memory making it contiguous: an empty body (the route then answers 4xx). */
    *len = p ? n : 0;
    return p ? p : "";
}

void sl_req_body_release(struct sl_req *r)
{
    struct evbuffer *in;

    if (!r->ev)
        return;
    in = evhttp_request_get_input_buffer(r->ev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

const char *sl_req_authorization(const struct sl_req *r)
{
    return r->ev ? r->in.authorization : NULL;
}

const char *sl_req_path(struct sl_req *r)
{
    const struct evhttp_uri *u = r->ev ? evhttp_request_get_evhttp_uri(r->ev) : NULL;
    const char *p = u ? evhttp_uri_get_path(u) : NULL;

    return p ? p : "";
}

const char *sl_req_query(struct sl_req *r)
{
    const struct evhttp_uri *u = r->ev ? evhttp_request_get_evhttp_uri(r->ev) : NULL;

    return u ? evhttp_uri_get_query(u) : NULL;
}
