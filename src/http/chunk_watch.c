/* SPDX-License-Identifier: MIT */
/* chunk_watch.c - chunk extensions made readable to evhttp in the input buffer; trailer
 * fields kept out of the headers. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "http/chunk_watch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "core/chunked.h"
#include "http/errors.h"

#define PEEK_EXTENTS 8 /* extents looked at per evbuffer_peek() */

/* The body being followed on one connection (one descriptor).  A slot stays at its address
 * for the watch's life, so it can be the argument of the input buffer's callback. */
struct slot {
    struct evbuffer *in;        /* the connection's input buffer, while its body is followed */
    struct evhttp_request *req; /* whose body; NULL once dispatched */
    struct sl_chunked body;
    struct sl_head_end head;
};

struct sl_chunk_watch {
    struct slot **slots; /* by descriptor; NULL where no chunked body ever came */
    size_t nslots;
};

struct sl_chunk_watch *sl_chunk_watch_new(void)
{
    return calloc(1, sizeof(struct sl_chunk_watch));
}

void sl_chunk_watch_free(struct sl_chunk_watch *w)
{
    size_t i;

    if (!w)
        return;
    for (i = 0; i < w->nslots; i++)
        free(w->slots[i]);
    free(w->slots);
    free(w);
}

/* The slot of descriptor fd, made on first use.  NULL without memory. */
static struct slot *slot_for(struct sl_chunk_watch *w, int fd)
{
    size_t n = w->nslots ? w->nslots : 64;
    struct slot **p;

    if (fd < 0)
        return NULL;
    if ((size_t)fd >= w->nslots) {
        while (n <= (size_t)fd)
            n *= 2;
        if (!(p = realloc(w->slots, n * sizeof(*p))))
            return NULL;
        memset(p + w->nslots, 0, (n - w->nslots) * sizeof(*p));
        w->slots = p;
        w->nslots = n;
    }
    if (!w->slots[fd])
        w->slots[fd] = calloc(1, sizeof(struct slot));
    return w->slots[fd];
}

/* Will evhttp read req's body as chunked?  Its own test (evhttp_get_body()), which runs just
 * after the head hook: a method that may have a body, and a first Transfer-Encoding of
 * exactly "chunked".  Any other coding is refused at dispatch (routes.c), body or not. */
static bool reads_chunked(struct evhttp_request *req)
{
    static const unsigned with_body = EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
                                      EVHTTP_REQ_GET | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                      EVHTTP_REQ_CONNECT;
    const char *te;

    if (!(evhttp_request_get_command(req) & with_body))
        return false;
    te = evhttp_find_header(evhttp_request_get_input_headers(req), "Transfer-Encoding");
    return te && strcasecmp(te, "chunked") == 0;
}

/* The byte at offset off of in becomes a space.  The input buffer of a socket bufferevent
 * holds only memory evbuffer_read() filled (no reference or file segments, which are what
 * makes writing through evbuffer_peek() unsafe in general), and evhttp has not read the line
 * yet: its LF came in this very read, or evhttp is still on the head. */
static void space_at(struct evbuffer *in, size_t off)
{
    struct evbuffer_ptr at;
    struct evbuffer_iovec v;

    if (evbuffer_ptr_set(in, &at, off, EVBUFFER_PTR_SET) == 0 &&
        evbuffer_peek(in, 1, &at, &v, 1) >= 1 && v.iov_len > 0)
        *(char *)v.iov_base = ' ';
}

/* Body position edit, where position pos is at offset off of in.  Bytes leave the buffer
 * only from its front, so one that is gone is never written. */
static void rewrite(struct evbuffer *in, size_t off, uint64_t pos, uint64_t edit)
{
    uint64_t back = pos - edit;

    if (back <= off)
        space_at(in, off - (size_t)back);
}

/* Feeds the n bytes at p, which start at offset off of the buffer; returns how many the
 * body took. */
static size_t feed_extent(struct slot *s, const char *p, size_t n, size_t off)
{
    size_t done = 0, k;
    uint64_t edit;

    while (done < n && s->body.state == SL_CHUNKED_READING) {
        k = sl_chunked_feed(&s->body, p + done, n - done);
        done += k;
        if (sl_chunked_take_edit(&s->body, &edit))
            rewrite(s->in, off + done, s->body.pos, edit);
        else if (k == 0)
            break;
    }
    return done;
}

/* Reads the buffer's bytes from offset off to its end, extent by extent, without a copy. */
static void follow(struct slot *s, size_t off)
{
    struct evbuffer_iovec v[PEEK_EXTENTS];
    struct evbuffer_ptr at;
    size_t len = evbuffer_get_length(s->in), before;
    int n, i;

    while (off < len && s->body.state == SL_CHUNKED_READING) {
        if (evbuffer_ptr_set(s->in, &at, off, EVBUFFER_PTR_SET) != 0)
            break;
        n = evbuffer_peek(s->in, (ev_ssize_t)(len - off), &at, v, PEEK_EXTENTS);
        before = off;
        for (i = 0; i < n && i < PEEK_EXTENTS && s->body.state == SL_CHUNKED_READING; i++)
            off += feed_extent(s, v[i].iov_base, v[i].iov_len, off);
        if (off == before)
            break;
    }
    if (s->body.state == SL_CHUNKED_MALFORMED)
        sl_http_mark_malformed(s->req);
}

/* Bytes came into a followed body's input buffer (this runs before the bufferevent hands
 * them to evhttp).  Appended bytes are the last n_added; a drain only moves the front. */
static void on_body_bytes(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct slot *s = arg;
    size_t len = evbuffer_get_length(buf);

    if (info->n_added == 0)
        return;
    /* The reader has read to the end of the buffer at every callback, so these are its next
     * bytes; inside a chunk's data they need no walk over the buffer's chains. */
    if (buf == s->in && sl_chunked_skip(&s->body, info->n_added))
        return;
    if (buf == s->in)
        follow(s, info->n_added < len ? len - info->n_added : 0);
    if (buf != s->in || s->body.state != SL_CHUNKED_READING)
        evbuffer_remove_cb(buf, on_body_bytes, s);
}

/* The bufferevent of req's connection, NULL if it has none. */
static struct bufferevent *bev_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    return evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
}

void sl_chunk_watch_start(struct sl_chunk_watch *w, struct evhttp_request *req, uint64_t max_body)
{
    struct bufferevent *bev;
    struct slot *s;

    /* Content-Length requests stop at the first test. */
    if (!w || !reads_chunked(req) || !(bev = bev_of(req)) ||
        !(s = slot_for(w, bufferevent_getfd(bev))))
        return;
    s->in = bufferevent_get_input(bev);
    /* A previous body on this connection that evhttp ended before this reader did. */
    evbuffer_remove_cb(s->in, on_body_bytes, s);
    s->req = req;
    sl_chunked_init(&s->body, max_body);
    sl_head_end_mark(&s->head, evhttp_request_get_input_headers(req));
    follow(s, 0); /* what came with the head */
    if (s->body.state == SL_CHUNKED_READING)
        (void)evbuffer_add_cb(s->in, on_body_bytes, s); /* without memory: unfollowed */
}

void sl_chunk_watch_end(struct sl_chunk_watch *w, struct evhttp_request *req)
{
    struct bufferevent *bev;
    struct slot *s;
    int fd;

    /* http_struct.h: evhttp's own view of the request, set before its body was read. */
    if (!w || !req->chunked || !(bev = bev_of(req)) || (fd = bufferevent_getfd(bev)) < 0 ||
        (size_t)fd >= w->nslots || !(s = w->slots[fd]) || s->req != req)
        return;
    if (s->in == bufferevent_get_input(bev))
        evbuffer_remove_cb(s->in, on_body_bytes, s);
    sl_head_end_restore(&s->head, evhttp_request_get_input_headers(req));
    s->in = NULL;
    s->req = NULL;
}

void sl_head_end_mark(struct sl_head_end *e, struct evkeyvalq *h)
{
    struct evkeyval *kv;

    e->last = NULL;
    TAILQ_FOREACH(kv, h, next)
    e->last = kv;
    e->last_len = e->last ? strlen(e->last->value) : 0;
}

void sl_head_end_restore(const struct sl_head_end *e, struct evkeyvalq *h)
{
    struct evkeyvalq trailers;
    struct evkeyval *kv;

    TAILQ_FOREACH(kv, h, next)
    if (kv == e->last)
        break;
    if (!kv)
        return;
    TAILQ_INIT(&trailers);
    while ((kv = TAILQ_NEXT(e->last, next))) {
        TAILQ_REMOVE(h, kv, next);
        TAILQ_INSERT_TAIL(&trailers, kv, next);
    }
    evhttp_clear_headers(&trailers); /* libevent frees what it allocated */
    if (strlen(e->last->value) > e->last_len)
        e->last->value[e->last_len] = '\0';
}
