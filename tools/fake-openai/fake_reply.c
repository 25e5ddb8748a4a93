/* SPDX-License-Identifier: MIT */
/* fake_reply.c - how and when the fake OpenAI upstream delivers an answer: delays, stream
 * pacing and back-pressure, connection faults, and noticing a client that went away. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "fake_openai.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#define STREAM_HIGH_WM (256 * 1024) /* stop producing events while this much is unsent */
#define STREAM_BATCH (64 * 1024)    /* events per HTTP chunk when no pacing is scripted */
#define POLL_MS 50                  /* peer-state poll once readiness says nothing */
#define DRAIN_POLL_MS 5

enum timer_mode { TM_DELAY, TM_NEXT, TM_DRAIN };

static void pump(struct sl_fake_req *c);
static void respond(struct sl_fake_req *c);

static struct sl_fake_req *active;
static int devnull_fd = -1;

/* ---- lifecycle ---- */

static void req_free(struct sl_fake_req *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (active == c)
        active = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->watch != NULL)
        event_free(c->watch);
    if (c->poll != NULL)
        event_free(c->poll);
    json_decref(c->script);
    json_decref(c->answer);
    json_decref(c->items);
    free(c->emb_hashes);
    free(c->model);
    free(c->text);
    free(c->prefix);
    free(c);
}

static void finish(struct sl_fake_req *c, bool client_closed)
{
    sl_fake_note_done(c->seq, c->epoch, client_closed);
    req_free(c);
}

/* evhttp has written the whole response. */
static void on_complete(struct evhttp_request *req, void *arg)
{
    struct sl_fake_req *c = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    if (evcon != NULL)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    c->req = NULL;
    finish(c, false);
}

/* evhttp is freeing the connection: the client went away (EOF or error) while we were
 * replying.  A request evhttp unlinked from the connection is ours to free, through
 * evhttp_send_reply_end(); one it left linked, it frees itself. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct sl_fake_req *c = arg;
    struct evhttp_request *req = c->req;

    (void)evcon;
    c->req = NULL;
    if (req != NULL && evhttp_request_get_connection(req) == NULL)
        evhttp_send_reply_end(req);
    finish(c, true);
}

/* We end the connection ourselves, with no (or no more) response.  With rst, a SO_LINGER
 * of 0 makes close() send RST.  evhttp would shutdown(SHUT_WR) first, sending a FIN that
 * clients read as a clean end; so the socket is closed under it by dup2()ing /dev/null
 * over the descriptor, which evhttp then closes harmlessly. */
static void abort_conn(struct sl_fake_req *c, bool rst)
{
    struct evhttp_connection *evcon = c->evcon;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    int fd = c->fd;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    finish(c, false);
    if (rst && fd >= 0) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        if (devnull_fd < 0)
            devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        if (devnull_fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0)
            (void)dup2(devnull_fd, fd);
    }
    evhttp_connection_free(evcon);
}

/* The client closed while nothing was being written: evhttp has reading disabled then and
 * cannot notice, so this module watches the socket itself. */
static void client_gone(struct sl_fake_req *c)
{
    struct evhttp_connection *evcon = c->evcon;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    c->req = NULL;
    finish(c, true);
    evhttp_connection_free(evcon);
}

static bool peer_closed(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
        return true;
    return ti.tcpi_state != TCP_ESTABLISHED;
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct sl_fake_req *c = arg;

    (void)fd;
    (void)what;
    if (peer_closed(c->fd))
        client_gone(c);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct sl_fake_req *c = arg;
    struct timeval tv = { 0, POLL_MS * 1000 };
    char ch;
    ssize_t r = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);

    (void)what;
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        client_gone(c);
        return;
    }
    if (r < 0) {
        event_add(c->watch, NULL);
        return;
    }
    /* Bytes are waiting (a pipelined request), so readability says nothing about a close
     * any more: ask TCP for the connection state instead, periodically. */
    if (peer_closed(fd)) {
        client_gone(c);
        return;
    }
    c->poll = event_new(c->base, -1, EV_PERSIST, on_poll, c);
    if (c->poll != NULL)
        event_add(c->poll, &tv);
}

static void watch_start(struct sl_fake_req *c)
{
    if (c->fd < 0)
        return;
    c->watch = event_new(c->base, c->fd, EV_READ, on_watch, c);
    if (c->watch != NULL)
        event_add(c->watch, NULL);
}

static void watch_stop(struct sl_fake_req *c)
{
    if (c->watch != NULL)
        event_free(c->watch);
    if (c->poll != NULL)
        event_free(c->poll);
    c->watch = NULL;
    c->poll = NULL;
}

static struct evbuffer *conn_output(struct sl_fake_req *c)
{
    return bufferevent_get_output(evhttp_connection_get_bufferevent(c->evcon));
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void arm(struct sl_fake_req *c, enum timer_mode mode, int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

    if (c->timer == NULL)
        c->timer = evtimer_new(c->base, on_timer, c);
    c->timer_mode = mode;
    if (c->timer != NULL)
        evtimer_add(c->timer, &tv);
}

/* Bytes written to the socket that the peer has not acknowledged yet. */
static int unacked(int fd)
{
    int n = 0;

    if (fd < 0 || ioctl(fd, SIOCOUTQ, &n) == -1)
        return 0;
    return n;
}

/* Ends the connection as fail_pending says, once the client has everything it was meant to
 * see before the fault.  A FIN queues behind the data, so handing it to the kernel is
 * enough; an RST discards the kernel's send queue, so a reset also waits for the peer's
 * acknowledgement (data it has received stays readable after the RST). */
static void drain_then_fail(struct sl_fake_req *c)
{
    bool rst = c->fail_pending == SL_FAKE_FAIL_RESET;

    if (evbuffer_get_length(conn_output(c)) > 0 || (rst && unacked(c->fd) > 0)) {
        arm(c, TM_DRAIN, DRAIN_POLL_MS);
        return;
    }
    abort_conn(c, rst);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sl_fake_req *c = arg;

    (void)fd;
    (void)what;
    switch ((enum timer_mode)c->timer_mode) {
    case TM_DELAY: respond(c); break;
    case TM_NEXT: pump(c); break;
    case TM_DRAIN: drain_then_fail(c); break;
    }
}

/* ---- responses ---- */

static void add_headers(struct sl_fake_req *c, const char *ctype)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    const char *name;
    json_t *v;
    char val[48];

    evhttp_add_header(h, "Content-Type", ctype);
    snprintf(val, sizeof(val), "req_fake_%" PRIu64, c->seq);
    evhttp_add_header(h, "x-request-id", val);
    snprintf(val, sizeof(val), "%" PRIu64, sl_fake_now_ms() - c->arrived_ms);
    evhttp_add_header(h, "openai-processing-ms", val);
    evhttp_add_header(h, "openai-version", "2020-10-01");
    if (strcmp(ctype, "text/event-stream") == 0)
        evhttp_add_header(h, "Cache-Control", "no-cache");
    json_object_foreach(c->beh.headers, name, v)
    {
        evhttp_remove_header(h, name);
        evhttp_add_header(h, name, json_string_value(v));
    }
}

static void send_truncated(struct sl_fake_req *c, int status, const char *ctype,
                           struct evbuffer *body)
{
    size_t total = evbuffer_get_length(body);
    struct evbuffer *part = evbuffer_new();
    char val[32];

    snprintf(val, sizeof(val), "%zu", total > 0 ? total : (size_t)1);
    add_headers(c, ctype);
    evhttp_remove_header(evhttp_request_get_output_headers(c->req), "Content-Length");
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Length", val);
    evhttp_send_reply_start(c->req, status, NULL);
    if (part != NULL && total / 2 > 0) {
        evbuffer_remove_buffer(body, part, total / 2);
        evhttp_send_reply_chunk(c->req, part);
    }
    if (part != NULL)
        evbuffer_free(part);
    c->fail_pending = SL_FAKE_FAIL_CLOSE;
    drain_then_fail(c);
}

static void on_drained(struct evhttp_connection *evcon, void *arg)
{
    struct sl_fake_req *c = arg;

    (void)evcon;
    if (c->wait_drain) {
        c->wait_drain = false;
        pump(c);
    }
}

/* Send one extra event (not counted) as its own HTTP chunk. */
static void send_extra(struct sl_fake_req *c, void (*put)(struct sl_fake_req *, struct evbuffer *))
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL)
        return;
    put(c, b);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

static void stream_fail(struct sl_fake_req *c)
{
    c->fail_pending = c->beh.fail_mode;
    if (c->fail_pending == SL_FAKE_FAIL_ERROR_EVENT) {
        send_extra(c, sl_fake_sse_error);
        c->fail_pending = SL_FAKE_FAIL_CLOSE;
    }
    drain_then_fail(c);
}

static bool malformed_due(const struct sl_fake_req *c)
{
    return c->beh.malformed_after >= 0 && !c->malformed_sent &&
           c->sent_events >= c->beh.malformed_after;
}

static void send_malformed(struct sl_fake_req *c)
{
    send_extra(c, sl_fake_sse_malformed);
    c->malformed_sent = true;
}

/* Is the silence before the last event due now? */
static bool terminal_wait_due(const struct sl_fake_req *c)
{
    return c->beh.terminal_delay_ms >= 0 && !c->terminal_waited && sl_fake_sse_next_is_last(c);
}

/* Would the stream stop for a scripted pause, fault or extra event after the events sent so
 * far? */
static bool at_boundary(struct sl_fake_req *c)
{
    return c->sent_events == c->beh.fail_after ||
           (!c->paused && c->sent_events == c->beh.pause_after) || malformed_due(c) ||
           terminal_wait_due(c);
}

/* Produce events until the stream ends, a pause or fault is due, pacing asks for a timer,
 * or too much is unsent (then on_drained resumes). */
static void pump(struct sl_fake_req *c)
{
    struct evbuffer *out = conn_output(c), *b;
    bool more = true;

    while (more) {
        if (malformed_due(c))
            send_malformed(c);
        if (c->beh.fail_after >= 0 && c->sent_events >= c->beh.fail_after) {
            stream_fail(c);
            return;
        }
        if (!c->paused && c->beh.pause_after >= 0 && c->sent_events >= c->beh.pause_after) {
            c->paused = true;
            if (c->beh.pause_ms >= 0)
                arm(c, TM_NEXT, c->beh.pause_ms);
            return;
        }
        if (terminal_wait_due(c)) {
            c->terminal_waited = true;
            arm(c, TM_NEXT, c->beh.terminal_delay_ms);
            return;
        }
        if (evbuffer_get_length(out) > STREAM_HIGH_WM) {
            c->wait_drain = true;
            return;
        }
        b = evbuffer_new();
        if (b == NULL) {
            abort_conn(c, false);
            return;
        }
        do {
            more = sl_fake_sse_next(c, b);
            c->sent_events += more;
        } while (more && c->beh.chunk_delay_ms == 0 && evbuffer_get_length(b) < STREAM_BATCH &&
                 !at_boundary(c));
        if (evbuffer_get_length(b) > 0)
            evhttp_send_reply_chunk_with_cb(c->req, b, on_drained, c);
        evbuffer_free(b);
        /* The last event and the terminating chunk leave together, as from a real upstream. */
        more = more && !sl_fake_sse_finished(c);
        if (more && c->beh.chunk_delay_ms > 0) {
            arm(c, TM_NEXT, c->beh.chunk_delay_ms);
            return;
        }
    }
    if (malformed_due(c))
        send_malformed(c);
    if (c->beh.fail_after >= 0 && c->sent_events >= c->beh.fail_after) {
        stream_fail(c);
        return;
    }
    /* May complete synchronously and free c: nothing may follow. */
    evhttp_send_reply_end(c->req);
}

static void stream_start(struct sl_fake_req *c, int status)
{
    if (sl_fake_sse_prefix(c) != 0) {
        abort_conn(c, false);
        return;
    }
    add_headers(c, "text/event-stream");
    evhttp_send_reply_start(c->req, status, NULL);
    pump(c);
}

/* The answer the script leaves to the endpoint: an invalid request's error, the stream (true:
 * start it), or the JSON answer. */
static bool put_endpoint_answer(struct sl_fake_req *c, struct evbuffer *body, int *status,
                                const char **ctype)
{
    if (c->bad_msg == NULL)
        sl_fake_req_commit(c);
    if (c->bad_msg != NULL) {
        *status = c->bad_status > 0 ? c->bad_status : 400;
        sl_fake_put_error(body, c->bad_msg, "invalid_request_error", c->bad_param, NULL);
    } else if (c->stream && c->beh.action != SL_FAKE_ACT_TRUNCATE)
        return true;
    else if (c->stream) {
        *ctype = "text/event-stream";
        if (sl_fake_sse_prefix(c) == 0)
            while (sl_fake_sse_next(c, body))
                ;
    } else
        sl_fake_put_answer(c, body);
    return false;
}

static void respond(struct sl_fake_req *c)
{
    struct evbuffer *body;
    int status = c->beh.status > 0 ? c->beh.status : 200;
    const char *ctype = "application/json";

    watch_stop(c);
    if (c->beh.action == SL_FAKE_ACT_RESET || c->beh.action == SL_FAKE_ACT_CLOSE) {
        abort_conn(c, c->beh.action == SL_FAKE_ACT_RESET);
        return;
    }
    body = evbuffer_new();
    if (body == NULL) {
        abort_conn(c, false);
        return;
    }
    if (c->beh.body != NULL)
        sl_fake_put_json(body, c->beh.body);
    else if (c->beh.body_raw != NULL)
        evbuffer_add(body, c->beh.body_raw, c->beh.body_raw_len);
    else if (status >= 400)
        sl_fake_put_status_error(c, status, body);
    else if (put_endpoint_answer(c, body, &status, &ctype)) {
        evbuffer_free(body);
        stream_start(c, status);
        return;
    }
    if (c->beh.action == SL_FAKE_ACT_TRUNCATE)
        send_truncated(c, status, ctype, body);
    else {
        add_headers(c, ctype);
        evhttp_send_reply(c->req, status, NULL, body);
    }
    evbuffer_free(body);
}

int sl_fake_reply_take(struct event_base *base, struct evhttp_request *req, uint64_t seq,
                       uint64_t epoch, json_t *script, enum sl_fake_kind kind, const char *id)
{
    struct sl_fake_req *c = calloc(1, sizeof(*c));
    char err[128];
    int one = 1;

    if (c == NULL) {
        json_decref(script);
        return -ENOMEM;
    }
    c->script = script;
    (void)sl_fake_beh_parse(script, &c->beh, err, sizeof(err));
    c->kind = kind;
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->base = base;
    c->req = req;
    c->seq = seq;
    c->epoch = epoch;
    c->arrived_ms = sl_fake_now_ms();
    c->created = (int64_t)time(NULL);
    c->evcon = evhttp_request_get_connection(req);
    c->fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
    if (sl_fake_req_prepare(c) != 0) {
        req_free(c);
        return -ENOMEM;
    }
    /* Stream events are small writes that must leave at once, not wait for an ACK. */
    if (c->fd >= 0)
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->next = active;
    if (active != NULL)
        active->prev = c;
    active = c;
    evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
    evhttp_request_set_on_complete_cb(req, on_complete, c);
    if (c->beh.action == SL_FAKE_ACT_HANG)
        watch_start(c);
    else if (c->beh.delay_ms > 0) {
        watch_start(c);
        arm(c, TM_DELAY, c->beh.delay_ms);
    } else
        respond(c);
    return 0;
}

void sl_fake_reply_shutdown(void)
{
    while (active != NULL) {
        struct sl_fake_req *c = active;

        evhttp_connection_set_closecb(c->evcon, NULL, NULL);
        if (c->req != NULL)
            evhttp_request_set_on_complete_cb(c->req, NULL, NULL);
        req_free(c);
    }
    if (devnull_fd >= 0)
        close(devnull_fd);
    devnull_fd = -1;
}
