/* SPDX-License-Identifier: MIT */
/* errors.c - evhttp's own error replies, as JSON, logged and counted; the head hook. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "http/errors.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/reqid.h"

typedef struct evhttp_request *(*request_new_fn)(void (*cb)(struct evhttp_request *, void *),
                                                 void *arg);

/* Set by sl_http_errors_init() in a worker; a worker is one single-threaded process, so one
 * pointer per process is the whole story.  NULL in the master and in unit tests. */
static struct sl_metrics *metrics;
static sl_http_head_cb head_cb;
static void *head_arg;
/* The request sl_http_refuse_early() turned into evhttp's 417 path, answered 413 instead.
 * evhttp sends that error within the same call that ran the head callback. */
static struct evhttp_request *too_large;
/* The request whose chunked body has a chunk-size line evhttp will refuse as corrupt
 * (sl_http_mark_malformed()): evhttp reports that as a body too long. */
static struct evhttp_request *malformed;

void sl_http_errors_init(struct sl_metrics *m, sl_http_head_cb head, void *arg)
{
    metrics = m;
    head_cb = head;
    head_arg = arg;
}

const char *sl_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Request body too large";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return "Error";
}

/* evhttp calls this once it has read a request's head (a response's too: ignored). */
static int on_header(struct evhttp_request *req, void *arg)
{
    (void)arg;
    too_large = NULL;
    malformed = NULL;
    if (head_cb && evhttp_request_get_connection(req) && req->kind == EVHTTP_REQUEST)
        head_cb(req, head_arg);
    return 0;
}

/* Wraps libevent's own, which evhttp calls through the PLT for each request it is about to
 * read (see http_errors.h), to give the request its header callback.  libevent 2.1 has no
 * other way to learn that a head is complete before the body is. */
struct evhttp_request *evhttp_request_new(void (*cb)(struct evhttp_request *, void *), void *arg)
{
    static request_new_fn next;
    struct evhttp_request *req;

    if (!next)
        *(void **)&next = dlsym(RTLD_NEXT, "evhttp_request_new");
    if (!next) {
        /* Only a libevent linked statically could get here, and the link would have failed
         * first (two definitions). */
        const char *why = dlerror();

        sl_log_err("evhttp_request_new", "dlsym(RTLD_NEXT) found no libevent: %s",
                   why ? why : "no reason given");
        return NULL;
    }
    req = next(cb, arg);
    /* never a stale pointer to match a request at the same address */
    too_large = NULL;
    malformed = NULL;
    if (req && metrics)
        evhttp_request_set_header_cb(req, on_header);
    return req;
}

static bool content_length_over(const char *v, uint64_t max)
{
    uint64_t n = 0;

    if (!v || !*v || strspn(v, "0123456789") != strlen(v))
        return false;
    for (; *v; v++) {
        if (n > (UINT64_MAX - 9) / 10)
            return true;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    return n > max;
}

static bool may_have_body(enum evhttp_cmd_type t)
{
    return t == EVHTTP_REQ_POST || t == EVHTTP_REQ_PUT || t == EVHTTP_REQ_PATCH;
}

/* evhttp 2.1 meets "Expect: 100-continue" with a Content-Length over the limit by reading
 * (and discarding) the body before it answers 413, while the client waits for a 100
 * Continue that never comes.  Any other expectation it answers at once, with
 * evhttp_send_error(417): so the expectation is renamed, and that 417 becomes our 413.  Only where
 * evhttp is sure to take that path (HTTP/1.1, a method with a body, an all-digit length), so that
 * too_large never outlives the call. */
void sl_http_refuse_early(struct evhttp_request *req, uint64_t max_body)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *expect = evhttp_find_header(h, "Expect");

    if (!expect || strcasecmp(expect, "100-continue") != 0 || req->major != 1 || req->minor < 1 ||
        !may_have_body(evhttp_request_get_command(req)) ||
        !content_length_over(evhttp_find_header(h, "Content-Length"), max_body))
        return;
    evhttp_remove_header(h, "Expect");
    if (evhttp_add_header(h, "Expect", "sluice-body-too-large") == 0)
        too_large = req;
}

void sl_http_mark_malformed(struct evhttp_request *req)
{
    malformed = req;
}

static const char *method_name(enum evhttp_cmd_type t)
{
    static const struct {
        enum evhttp_cmd_type t;
        const char *name;
    } names[] = {
        { EVHTTP_REQ_GET, "GET" },       { EVHTTP_REQ_POST, "POST" },
        { EVHTTP_REQ_HEAD, "HEAD" },     { EVHTTP_REQ_PUT, "PUT" },
        { EVHTTP_REQ_DELETE, "DELETE" }, { EVHTTP_REQ_OPTIONS, "OPTIONS" },
        { EVHTTP_REQ_TRACE, "TRACE" },   { EVHTTP_REQ_CONNECT, "CONNECT" },
        { EVHTTP_REQ_PATCH, "PATCH" },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].t == t)
            return names[i].name;
    return NULL;
}

/* The access-log line and the count that sl_req_free() gives every other request.  The
 * route is the path when evhttp still has it (417, 501), else "unmatched".  evhttp keeps no
 * start time for a request, so latency_ms is 0. */
static void account(struct evhttp_request *req, int status, const char *id)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct sl_log_line *l;

    if (!metrics)
        return;
    l = sl_log_begin(status >= 500 ? SL_LOG_WARN : SL_LOG_INFO, "request");
    sl_log_str(l, "request_id", id);
    sl_log_str(l, "tenant", NULL);
    if (path && *path)
        sl_log_strn(l, "route", path, strnlen(path, 256));
    else
        sl_log_str(l, "route", "unmatched");
    if (method_name(req->type))
        sl_log_str(l, "method", method_name(req->type));
    sl_log_int(l, "status", status);
    sl_log_int(l, "latency_ms", 0);
    sl_log_str(l, "answered_by", "evhttp");
    sl_log_end(l);
    sl_metrics_request(metrics, SL_ROUTE_OTHER, status, 0);
}

/* Replaces libevent's definition; see http_errors.h.  Same contract as the original: the
 * reply closes the connection. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *phrase, *code;
    char id[SL_REQID_MAX + 1];
    struct sl_buf b;

    if (req == too_large) {
        too_large = NULL;
        error = 413;
    }
    if (req == malformed) {
        malformed = NULL;
        if (error == 413)
            error = 400;
    }
    phrase = sl_http_reason(error);
    code = error == 413 ? "request_too_large" : NULL;
    /* A 413 keeps the wording SPEC §3.1 gives it; other statuses use their phrase. */
    (void)reason;
    sl_reqid_pick(evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-ID"), id);
    sl_buf_init(&b, 1024);
    sl_buf_puts(&b, "{\"detail\":");
    sl_buf_json_str(&b, phrase, strlen(phrase));
    sl_buf_puts(&b, ",\"error\":{\"message\":");
    sl_buf_json_str(&b, phrase, strlen(phrase));
    sl_buf_printf(&b, ",\"type\":\"invalid_request_error\",\"param\":null,\"code\":%s%s%s}}",
                  code ? "\"" : "", code ? code : "null", code ? "\"" : "");
    /* A request line too broken to parse leaves the version at 0.0, and "HTTP/0.0 400" is
     * not a status line clients accept.  http_struct.h is libevent's own compatibility
     * view of the request. */
    if (req->major != 1) {
        req->major = 1;
        req->minor = 1;
    }
    evhttp_clear_headers(h);
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "X-Request-ID", id);
    if (b.data)
        evbuffer_add(evhttp_request_get_output_buffer(req), b.data, b.len);
    sl_buf_done(&b);
    account(req, error, id);
    evhttp_send_reply(req, error, NULL, NULL);
}
