/* SPDX-License-Identifier: MIT */
/* front.c - evhttp on the listening sockets: limits, accept errors, the request-head deadline. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "http/front.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "core/config.h"
#include "core/log.h"
#include "http/chunk_watch.h"
#include "http/errors.h"
#include "http/serve.h"

#define ACCEPT_RETRY_MS 500      /* nginx's accept_mutex_delay after EMFILE */
#define METRICS_TIMEOUT_MS 10000 /* the [metrics] listener's client timeout */

/* A connection reading a request head: from its first byte until evhttp has the whole head
 * (nginx's client_header_timeout).  evhttp's own timeout only measures inactivity, and every
 * byte re-arms it, so without this a client sending a byte a second holds a connection
 * forever.  It ends when the head is complete, when evhttp closes the connection (its close
 * callback, which is ours until the request is dispatched and stream.c's after), or at the
 * deadline. */
struct head_watch {
    struct sl_front *f;
    struct evhttp_connection *evcon;
    int fd;
    struct event *deadline;
};

struct sl_front {
    struct sl_serve *serve;
    struct evhttp *http;
    struct evhttp *metrics_http; /* [metrics] listen: /metrics only */
    struct evconnlistener *listeners[SL_MAX_LISTEN + 1];
    size_t nlisteners;
    struct event *accept_retry;
    sl_front_dispatch_cb dispatch, dispatch_metrics;
    struct head_watch **heads; /* by fd; NULL where no head is being read */
    size_t nheads;
    struct sl_chunk_watch *chunks; /* chunked bodies with extensions, trailers */
};

static void watch_next_head(struct bufferevent *bev);

/* The front of this process, for the callbacks whose argument libevent decides: evhttp
 * replaces a listener's argument with itself (so the accept error callback gets the evhttp),
 * and a new connection's first bytes are reported with the bufferevent.  A worker is one
 * single-threaded process with one front. */
static struct sl_front *self;

void sl_front_accept(struct sl_front *f, bool on)
{
    size_t i;

    for (i = 0; i < f->nlisteners; i++) {
        if (on)
            evconnlistener_enable(f->listeners[i]);
        else
            evconnlistener_disable(f->listeners[i]);
    }
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sl_front *f = arg;

    if (!f->serve->draining)
        sl_front_accept(f, true);
}

/* accept() failed for a reason other than EAGAIN: usually EMFILE/ENFILE.  A level-triggered
 * listener would spin on the pending connection, so stop accepting for a moment. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct sl_front *f = self; /* arg is the evhttp the listener is bound to */
    struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
    int err = EVUTIL_SOCKET_ERROR();

    sl_log_err("accept_failed", "accept() failed: %s; pausing accepts for %d ms", strerror(err),
               ACCEPT_RETRY_MS);
    sl_front_accept(f, false);
    evtimer_add(f->accept_retry, &tv);
}

/* ---- the request-head deadline (struct head_watch) ---- */

static uint64_t head_timeout_ms(const struct sl_front *f, struct evhttp_connection *evcon)
{
    return evhttp_connection_get_server(evcon) == f->metrics_http
               ? METRICS_TIMEOUT_MS
               : f->serve->cfg->client_timeout_ms;
}

static void head_watch_free(struct head_watch *hw)
{
    if (hw->f->heads[hw->fd] == hw)
        hw->f->heads[hw->fd] = NULL;
    event_free(hw->deadline);
    free(hw);
}

static void on_head_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    head_watch_free(arg);
}

/* No 408: like evhttp's own timeout (and nginx), a client this slow just loses the
 * connection. */
static void on_head_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct head_watch *hw = arg;
    struct evhttp_connection *evcon = hw->evcon;

    sl_log_info("client_timeout",
                "request head not complete %llu ms after its first byte; "
                "closing the connection",
                (unsigned long long)head_timeout_ms(hw->f, evcon));
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    head_watch_free(hw);
    evhttp_connection_free(evcon);
}

/* Room for index fd in f->heads.  0 or -ENOMEM. */
static int heads_reserve(struct sl_front *f, int fd)
{
    size_t n = f->nheads ? f->nheads : 256;
    struct head_watch **p;

    if ((size_t)fd < f->nheads)
        return 0;
    while (n <= (size_t)fd)
        n *= 2;
    p = realloc(f->heads, n * sizeof(*p));
    if (!p)
        return -ENOMEM;
    memset(p + f->nheads, 0, (n - f->nheads) * sizeof(*p));
    f->heads = p;
    f->nheads = n;
    return 0;
}

/* The first bytes of a request arrived on bev (an evhttp connection's, so its callback
 * argument is the connection): start the head deadline.  Without memory for it, the
 * connection goes without one; evhttp's inactivity timeout still applies. */
static void on_first_bytes(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct bufferevent *bev = arg;
    struct sl_front *f = self;
    int fd = bufferevent_getfd(bev);
    struct head_watch *hw;
    struct timeval tv;
    void *evcon = NULL;
    uint64_t ms;

    if (info->n_added == 0)
        return;
    evbuffer_remove_cb(buf, on_first_bytes, bev);
    /* The usual case: the whole head came in this read, so there is nothing to time, and no
     * timer to allocate, arm and free for every request. */
    if (evbuffer_search(buf, "\r\n\r\n", 4, NULL).pos >= 0)
        return;
    bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
    if (!f || !evcon || fd < 0 || heads_reserve(f, fd) < 0 || f->heads[fd])
        return;
    if (!(hw = calloc(1, sizeof(*hw))))
        return;
    *hw = (struct head_watch){ .f = f, .evcon = evcon, .fd = fd };
    hw->deadline = evtimer_new(f->serve->base, on_head_deadline, hw);
    if (!hw->deadline) {
        free(hw);
        return;
    }
    ms = head_timeout_ms(f, evcon);
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(hw->deadline, &tv);
    evhttp_connection_set_closecb(evcon, on_head_conn_closed, hw);
    f->heads[fd] = hw;
}

/* bev is about to read a request: its first bytes start the deadline.  Costs one callback
 * per read until then, nothing per byte. */
static void watch_next_head(struct bufferevent *bev)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    evbuffer_remove_cb(in, on_first_bytes, bev);
    (void)evbuffer_add_cb(in, on_first_bytes, bev);
}

void sl_front_next_request(struct evhttp_connection *evcon)
{
    if (evcon && evhttp_connection_get_bufferevent(evcon))
        watch_next_head(evhttp_connection_get_bufferevent(evcon));
}

/* The head is in, or the request is dispatched: no deadline from here on (the body is timed
 * by evhttp's inactivity timeout, as nginx's client_body_timeout).  The first-bytes watch
 * stops too, so that bytes pipelined behind this request cannot start a deadline, nor take
 * the close callback, while a route owns the connection. */
static void end_head_phase(struct sl_front *f, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    int fd = bev ? bufferevent_getfd(bev) : -1;
    struct head_watch *hw;

    if (!bev)
        return;
    evbuffer_remove_cb(bufferevent_get_input(bev), on_first_bytes, bev);
    if (fd < 0 || (size_t)fd >= f->nheads || !(hw = f->heads[fd]) || hw->evcon != evcon)
        return;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    head_watch_free(hw);
}

/* evhttp's bevcb: the bufferevent evhttp would make itself, watched for its first bytes. */
static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

    if (bev)
        watch_next_head(bev);
    return bev;
}

/* errors.c's head hook: the head is complete, its body (if any) still to come. */
static void on_request_head(struct evhttp_request *req, void *arg)
{
    struct sl_front *f = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    uint64_t max_body =
        evhttp_connection_get_server(evcon) == f->metrics_http ? 0 : f->serve->cfg->max_body_bytes;

    end_head_phase(f, evcon);
    sl_http_refuse_early(req, max_body);
    sl_chunk_watch_start(f->chunks, req, max_body);
}

/* The gencbs: the whole request is in.  The head phase ends here too, for a libevent whose
 * head hook does not take (no interposable symbols): its deadline then covers the body. */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct sl_front *f = arg;

    if (evhttp_request_get_connection(req))
        end_head_phase(f, evhttp_request_get_connection(req));
    sl_chunk_watch_end(f->chunks, req);
    f->dispatch(req, f->serve);
}

static void on_metrics_request(struct evhttp_request *req, void *arg)
{
    struct sl_front *f = arg;

    if (evhttp_request_get_connection(req))
        end_head_phase(f, evhttp_request_get_connection(req));
    sl_chunk_watch_end(f->chunks, req);
    f->dispatch_metrics(req, f->serve);
}

/* Every method goes through, so that a 405 is ours (JSON with Allow), not evhttp's 501. */
static const unsigned all_methods = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH;

/* An evconnlistener of our own on fd (so accept errors have a callback), bound to http. */
static int bind_listener(struct sl_front *f, struct evhttp *http, int fd)
{
    struct evconnlistener *l;

    l = evconnlistener_new(f->serve->base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!l)
        return -ENOMEM;
    evconnlistener_set_error_cb(l, on_accept_error);
    if (!evhttp_bind_listener(http, l)) {
        evconnlistener_free(l);
        return -ENOMEM;
    }
    evconnlistener_disable(l); /* the worker says when */
    f->listeners[f->nlisteners++] = l;
    return 0;
}

static int setup_http(struct sl_front *f, const int *fds, size_t nfds)
{
    const struct sl_config *cfg = f->serve->cfg;
    struct timeval tv;
    size_t i;
    int r;

    f->http = evhttp_new(f->serve->base);
    if (!f->http)
        return -ENOMEM;
    evhttp_set_max_headers_size(f->http, (ev_ssize_t)cfg->max_header_bytes);
    evhttp_set_max_body_size(f->http, (ev_ssize_t)cfg->max_body_bytes);
    tv.tv_sec = (time_t)(cfg->client_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(cfg->client_timeout_ms % 1000) * 1000;
    evhttp_set_timeout_tv(f->http, &tv);
    evhttp_set_allowed_methods(f->http, all_methods);
    /* Drain an oversized body before closing, so the client reads the 413 instead of a
     * reset. */
    evhttp_set_flags(f->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(f->http, on_request, f);
    evhttp_set_bevcb(f->http, on_new_connection, f);
    for (i = 0; i < nfds && i < SL_MAX_LISTEN; i++)
        if ((r = bind_listener(f, f->http, fds[i])) < 0)
            return r;
    return 0;
}

/* A second evhttp on the [metrics] listener, serving nothing but /metrics. */
static int setup_metrics_http(struct sl_front *f, int fd)
{
    f->metrics_http = evhttp_new(f->serve->base);
    if (!f->metrics_http)
        return -ENOMEM;
    evhttp_set_max_headers_size(f->metrics_http, (ev_ssize_t)f->serve->cfg->max_header_bytes);
    evhttp_set_max_body_size(f->metrics_http, 0);
    evhttp_set_timeout(f->metrics_http, METRICS_TIMEOUT_MS / 1000);
    evhttp_set_allowed_methods(f->metrics_http,
                               all_methods & ~(unsigned)(EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT));
    evhttp_set_gencb(f->metrics_http, on_metrics_request, f);
    evhttp_set_bevcb(f->metrics_http, on_new_connection, f);
    return bind_listener(f, f->metrics_http, fd);
}

struct sl_front *sl_front_new(struct sl_serve *s, const int *fds, size_t nfds, int metrics_fd,
                              sl_front_dispatch_cb dispatch, sl_front_dispatch_cb dispatch_metrics)
{
    struct sl_front *f = calloc(1, sizeof(*f));

    if (!f)
        return NULL;
    f->serve = s;
    f->dispatch = dispatch;
    f->dispatch_metrics = dispatch_metrics;
    self = f;
    sl_http_errors_init(s->metrics, on_request_head, f);
    f->accept_retry = evtimer_new(s->base, on_accept_retry, f);
    f->chunks = sl_chunk_watch_new();
    if (!f->accept_retry || !f->chunks || setup_http(f, fds, nfds) < 0 ||
        (metrics_fd >= 0 && setup_metrics_http(f, metrics_fd) < 0)) {
        sl_front_free(f);
        return NULL;
    }
    return f;
}

void sl_front_free(struct sl_front *f)
{
    if (!f)
        return;
    /* evhttp_free frees the bound listeners (they do not own the shared fds) and the
     * connections, whose close callbacks empty heads[]. */
    if (f->http)
        evhttp_free(f->http);
    if (f->metrics_http)
        evhttp_free(f->metrics_http);
    free(f->heads);
    sl_chunk_watch_free(f->chunks); /* after the connections, whose buffers call into it */
    if (f->accept_retry)
        event_free(f->accept_retry);
    sl_http_errors_init(NULL, NULL, NULL);
    if (self == f)
        self = NULL;
    free(f);
}
