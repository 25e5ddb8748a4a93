/* SPDX-License-Identifier: MIT */
/* stream.c - streamed replies over evhttp: chunks, pings, client-gone, clean end or cut. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "http/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "core/config.h"
#include "http/request.h"
#include "http/serve.h"

static const char ping[] = ": ping\n\n";

struct sl_stream {
    struct sl_req *r;
    struct evhttp_connection *evcon; /* valid while the connection lives */
    sl_stream_cb gone, drained;
    void *arg;
    struct event *closed_watch; /* EV_CLOSED before the reply starts */
    struct event *ping;
    struct event *notify_gone; /* deferred: gone never runs inside our own calls */
    bool begun, finished, is_gone, aborting;
    bool counted; /* sl_serve_reply_queued() and not yet settled */
};

static void on_notify_gone(evutil_socket_t fd, short what, void *arg)
{
    struct sl_stream *s = arg;

    s->gone(s->arg);
}

/* The connection is closed (or about to be): from here on, nothing touches it. */
static void mark_gone(struct sl_stream *s)
{
    static const struct timeval now = { 0, 0 };

    if (s->is_gone)
        return;
    s->is_gone = true;
    s->evcon = NULL;
    /* The connection is gone: evhttp will never report this reply as written. */
    if (s->counted) {
        s->counted = false;
        sl_serve_reply_abandoned(s->r->serve);
    }
    if (s->closed_watch)
        event_del(s->closed_watch);
    if (s->ping)
        evtimer_del(s->ping);
    evtimer_add(s->notify_gone, &now);
}

/* evhttp's close callback: runs inside evhttp_connection_free().  The request has already
 * been detached from the connection (unless we had ended it); evhttp_send_reply_end() is
 * what frees a detached request, so do that here and forget it. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct sl_stream *s = arg;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (s->r->ev && !s->finished) {
        evhttp_send_reply_end(s->r->ev);
        s->r->ev = NULL;
    }
    s->finished = true;
    mark_gone(s);
}

/* Before the reply starts evhttp is not reading, so a client that hangs up is invisible to
 * it: the connection would only be found dead when we write.  EPOLLRDHUP tells us now. */
static void on_closed_watch(evutil_socket_t fd, short what, void *arg)
{
    struct sl_stream *s = arg;
    struct evhttp_connection *evcon = s->evcon;

    if (s->begun || !evcon)
        return;
    s->finished = true;
    s->r->ev = NULL; /* freed with the connection below */
    mark_gone(s);
    evhttp_connection_free(evcon);
}

static void arm_ping(struct sl_stream *s)
{
    uint64_t ms = s->r->serve->cfg->stream_ping_ms;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

    evtimer_add(s->ping, &tv);
}

static void on_drained(struct evhttp_connection *evcon, void *arg)
{
    struct sl_stream *s = arg;

    if (s->drained && !s->is_gone)
        s->drained(s->arg);
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    struct sl_stream *s = arg;

    if (sl_stream_write(s, ping, sizeof(ping) - 1) == 0)
        arm_ping(s);
}

struct sl_stream *sl_stream_new(struct sl_req *r, sl_stream_cb gone, sl_stream_cb drained,
                                void *arg)
{
    struct event_base *base = r->serve->base;
    struct sl_stream *s = calloc(1, sizeof(*s));
    struct bufferevent *bev;

    if (!s)
        return NULL;
    s->r = r;
    s->gone = gone;
    s->drained = drained;
    s->arg = arg;
    s->evcon = evhttp_request_get_connection(r->ev);
    s->ping = evtimer_new(base, on_ping, s);
    s->notify_gone = evtimer_new(base, on_notify_gone, s);
    bev = s->evcon ? evhttp_connection_get_bufferevent(s->evcon) : NULL;
    if (bev && bufferevent_getfd(bev) >= 0)
        s->closed_watch =
            event_new(base, bufferevent_getfd(bev), EV_CLOSED | EV_PERSIST, on_closed_watch, s);
    if (!s->ping || !s->notify_gone || !s->closed_watch || !s->evcon) {
        sl_stream_free(s);
        return NULL;
    }
    event_add(s->closed_watch, NULL);
    return s;
}

int sl_stream_begin(struct sl_stream *s, const char *content_type)
{
    const struct sl_config *cfg = s->r->serve->cfg;
    struct evkeyvalq *h;
    struct bufferevent *bev;
    struct timeval wtv;

    if (s->is_gone || !s->r->ev)
        return -EPIPE;
    event_del(s->closed_watch);
    s->begun = true;
    sl_req_add_ratelimit_headers(s->r);
    h = evhttp_request_get_output_headers(s->r->ev);
    evhttp_add_header(h, "X-Request-ID", s->r->id);
    sl_req_add_date(h);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    if (s->r->serve->draining)
        evhttp_add_header(h, "Connection", "close");
    s->r->status = 200;
    sl_serve_reply_queued(s->r->serve, s->r->ev);
    s->counted = true;
    evhttp_connection_set_closecb(s->evcon, on_conn_close, s);
    evhttp_send_reply_start(s->r->ev, 200, "OK");
    /* libevent #715: keep only the write timeout (a client that stops reading). */
    bev = evhttp_connection_get_bufferevent(s->evcon);
    wtv.tv_sec = (time_t)(cfg->client_timeout_ms / 1000);
    wtv.tv_usec = (suseconds_t)(cfg->client_timeout_ms % 1000) * 1000;
    bufferevent_set_timeouts(bev, NULL, &wtv);
    arm_ping(s);
    return 0;
}

bool sl_stream_begun(const struct sl_stream *s)
{
    return s->begun;
}

int sl_stream_write(struct sl_stream *s, const void *data, size_t len)
{
    struct evbuffer *chunk;

    if (s->is_gone || s->finished || !s->begun || !s->r->ev)
        return -EPIPE;
    chunk = evbuffer_new();
    if (!chunk || evbuffer_add(chunk, data, len) < 0) {
        if (chunk)
            evbuffer_free(chunk);
        return -ENOMEM;
    }
    evhttp_send_reply_chunk_with_cb(s->r->ev, chunk, on_drained, s);
    evbuffer_free(chunk);
    arm_ping(s);
    return 0;
}

size_t sl_stream_queued(const struct sl_stream *s)
{
    struct bufferevent *bev;

    if (s->is_gone || !s->evcon)
        return 0;
    bev = evhttp_connection_get_bufferevent(s->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void sl_stream_end(struct sl_stream *s)
{
    if (s->is_gone || s->finished || !s->r->ev)
        return;
    s->finished = true;
    s->counted = false; /* from here the completion callback accounts for it */
    evtimer_del(s->ping);
    evhttp_connection_set_closecb(s->evcon, NULL, NULL);
    evhttp_send_reply_end(s->r->ev);
    s->r->ev = NULL;
    s->evcon = NULL;
}

/* The cut's last bytes reached the kernel: close without the terminating chunk.  Freeing the
 * connection from its own write callback is safe (bufferevents are reference counted), and
 * it frees the request with it. */
static void on_abort_drained(struct evhttp_connection *evcon, void *arg)
{
    struct sl_stream *s = arg;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    s->finished = true;
    s->r->ev = NULL;
    mark_gone(s);
    evhttp_connection_free(evcon);
}

void sl_stream_abort(struct sl_stream *s, const void *last, size_t len)
{
    struct evbuffer *chunk;

    if (s->is_gone || s->finished || s->aborting)
        return;
    s->aborting = true;
    evtimer_del(s->ping);
    if (!s->begun || !s->r->ev) {
        on_abort_drained(s->evcon, s);
        return;
    }
    /* evhttp ignores an empty chunk, so without last bytes the close cannot wait for a
     * drain: whatever is still queued is dropped with the connection. */
    chunk = len ? evbuffer_new() : NULL;
    if (!chunk || evbuffer_add(chunk, last, len) < 0) {
        if (chunk)
            evbuffer_free(chunk);
        on_abort_drained(s->evcon, s);
        return;
    }
    evhttp_send_reply_chunk_with_cb(s->r->ev, chunk, on_abort_drained, s);
    evbuffer_free(chunk);
}

void sl_stream_free(struct sl_stream *s)
{
    if (!s)
        return;
    /* Freed before it ended: whatever happened, the client must not see a complete answer. */
    if (s->counted) {
        s->counted = false;
        sl_serve_reply_abandoned(s->r->serve);
    }
    if (!s->is_gone && !s->finished && s->evcon) {
        evhttp_connection_set_closecb(s->evcon, NULL, NULL);
        if (s->begun) {
            s->r->ev = NULL;
            evhttp_connection_free(s->evcon);
        }
    }
    if (s->closed_watch)
        event_free(s->closed_watch);
    if (s->ping)
        event_free(s->ping);
    if (s->notify_gone)
        event_free(s->notify_gone);
    free(s);
}
