/* SPDX-License-Identifier: MIT */
/* serve.c - the serving context's counters: requests in flight, replies not yet written. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "http/serve.h"

#ifdef HAVE_MIMALLOC
#include <mimalloc.h>
#else
#include <malloc.h>
#endif

#include <event2/event.h>
#include <event2/http.h>

#include "core/clock.h"
#include "http/front.h"

#define TRIM_AFTER_PEAK 1000 /* requests in flight at once: a burst worth trimming */

void sl_serve_request_started(struct sl_serve *s)
{
    if (++s->inflight > s->inflight_peak)
        s->inflight_peak = s->inflight;
    s->last_request_ms = sl_clock_mono_ms();
    atomic_store_explicit(s->inflight_gauge, s->inflight, memory_order_relaxed);
}

/* After a burst (thousands of streams open at once) the allocator keeps the freed memory: the
 * worker would stay at its peak RSS for good.  Give it back once the burst is over, from the
 * loop, not from inside a request's end. */
static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
#ifdef HAVE_MIMALLOC
    mi_collect(true);
#else
    malloc_trim(0);
#endif
}

void sl_serve_request_finished(struct sl_serve *s)
{
    if (s->inflight > 0)
        s->inflight--;
    if (s->inflight == 0 && s->inflight_peak >= TRIM_AFTER_PEAK) {
        s->inflight_peak = 0;
        event_base_once(s->base, -1, EV_TIMEOUT, on_trim, NULL, NULL);
    }
    atomic_store_explicit(s->inflight_gauge, s->inflight, memory_order_relaxed);
    atomic_fetch_add_explicit(s->served, 1, memory_order_relaxed);
}

static void on_reply_written(struct evhttp_request *req, void *arg)
{
    struct sl_serve *s = arg;

    if (s->unsent > 0)
        s->unsent--;
    sl_front_next_request(evhttp_request_get_connection(req));
}

void sl_serve_reply_queued(struct sl_serve *s, struct evhttp_request *req)
{
    s->unsent++;
    evhttp_request_set_on_complete_cb(req, on_reply_written, s);
}

void sl_serve_reply_abandoned(struct sl_serve *s)
{
    if (s->unsent > 0)
        s->unsent--;
}
