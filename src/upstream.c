/* SPDX-License-Identifier: MIT */
/* upstream.c - libcurl multi on a libevent loop: socket and timer glue, one transfer each. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "upstream.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "buf.h"
#include "clock.h"
#include "config.h"

#define CONNECT_TIMEOUT_MAX_MS 10000
#define UPSTREAM_IDLE_CONNS 1024
#define USER_AGENT "sluice/" PACKAGE_VERSION

struct sock_watch {
    struct event ev;
    struct sl_upstream *u;
};

struct sl_transfer {
    struct sl_upstream *u;
    struct sl_transfer *prev, *next;  /* the active list */
    CURL *easy;
    struct curl_slist *headers;
    struct sl_buf body;
    struct sl_transfer_result res;
    sl_transfer_done_cb cb;
    void *arg;
    sl_transfer_data_cb on_data;
    struct event *deadline;           /* streams: first byte, then idle */
    uint64_t idle_timeout_ms;
    uint64_t stream_deadline_ms;
    uint64_t streamed;
    size_t header_bytes;              /* of every header block so far */
    bool paused;
    bool timed_out;                   /* our own deadline fired */
    char errbuf[CURL_ERROR_SIZE];
};

struct sl_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    char *base_url;                   /* without a trailing slash */
    char *auth_header;                /* "Authorization: Bearer ..." or NULL */
    size_t max_response_bytes;
    struct sl_transfer *active;
    unsigned nactive;
};

static void check_done(struct sl_upstream *u);

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct sl_upstream *u = arg;
    int flags = 0, running;

    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(u->multi, fd, flags, &running);
    check_done(u);
}

/* CURLMOPT_SOCKETFUNCTION: keep one persistent libevent event per socket curl uses.  The
 * watch belongs to the socket, not to a transfer: curl may call this from add/remove or
 * cleanup, and may hand the same fd number back later for a new socket. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct sl_upstream *u = userp;
    struct sock_watch *w = socketp;
    short kind = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_del(&w->ev);
            free(w);
            curl_multi_assign(u->multi, s, NULL);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w)
            return -1;
        w->u = u;
        curl_multi_assign(u->multi, s, w);
    } else {
        event_del(&w->ev);
    }
    event_assign(&w->ev, u->base, s, kind, on_socket_event, u);
    event_add(&w->ev, NULL);
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sl_upstream *u = arg;
    int running;

    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(u);
}

/* CURLMOPT_TIMERFUNCTION: -1 deletes the timer; anything else, 0 included, re-arms it.  Never
 * call back into libcurl from here; the loop fires the timer on its next turn. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct sl_upstream *u = userp;
    struct timeval tv;

    if (timeout_ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(u->timer, &tv);
    return 0;
}

static void arm_deadline(struct sl_transfer *t, uint64_t ms)
{
    uint64_t now = sl_clock_mono_ms();
    struct timeval tv;

    /* Never past the stream's overall deadline, however lively the drip. */
    if (t->stream_deadline_ms && now + ms > t->stream_deadline_ms)
        ms = t->stream_deadline_ms > now ? t->stream_deadline_ms - now : 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;

    evtimer_add(t->deadline, &tv);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sl_transfer *t = ud;
    size_t n = size * nmemb;
    long status = 0;

    if (t->on_data) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            t->streamed += n;
            arm_deadline(t, t->idle_timeout_ms);
            return t->on_data(ptr, n, status, t->arg) ? n : 0;
        }
    }
    if (sl_buf_append(&t->body, ptr, n) < 0) {
        t->res.too_large = true;
        return 0;                     /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

static void capture(char *dst, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n >= SL_UPSTREAM_HDR_MAX)
        n = SL_UPSTREAM_HDR_MAX - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    struct sl_transfer *t = ud;
    size_t n = size * nmemb;
    const char *colon;
    size_t name_len;

    t->header_bytes += n;
    if (t->header_bytes > SL_UPSTREAM_HEADERS_MAX) {
        t->res.bad_response = true;
        return 0;                     /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    /* A new status line (after a 100 Continue, say) starts a new header block. */
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        t->res.retry_after[0] = t->res.retry_after_ms[0] = t->res.request_id[0] = '\0';
        return n;
    }
    colon = memchr(line, ':', n);
    if (!colon)
        return n;
    name_len = (size_t)(colon - line);
    if (name_len == 11 && strncasecmp(line, "retry-after", 11) == 0)
        capture(t->res.retry_after, colon + 1, n - name_len - 1);
    else if (name_len == 14 && strncasecmp(line, "retry-after-ms", 14) == 0)
        capture(t->res.retry_after_ms, colon + 1, n - name_len - 1);
    else if (name_len == 12 && strncasecmp(line, "x-request-id", 12) == 0)
        capture(t->res.request_id, colon + 1, n - name_len - 1);
    return n;
}

static void unlink_transfer(struct sl_transfer *t)
{
    struct sl_upstream *u = t->u;

    if (t->prev)
        t->prev->next = t->next;
    else
        u->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    u->nactive--;
}

static void transfer_free(struct sl_transfer *t)
{
    if (t->deadline)
        event_free(t->deadline);
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    sl_buf_done(&t->body);
    free(t);
}

/* libcurl's verdicts on what the upstream sent, as opposed to how the connection fared:
 * "Unsupported response code" and HTTP/0.9 (a status line like "HTTP/1.1 2000"), a weird
 * reply, a broken content encoding, and a single header line over libcurl's own limit
 * (7.88 reports it as out of memory, after the status line). */
static bool is_bad_response(CURLcode code, long status)
{
    switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return true;
    case CURLE_OUT_OF_MEMORY:
        return status > 0;
    default:
        return false;
    }
}

static void finish(struct sl_transfer *t, CURLcode code)
{
    long status = 0;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->res.curl_code = (int)code;
    t->res.status = status;
    if (!t->timed_out && is_bad_response(code, status))
        t->res.bad_response = true;
    t->res.timed_out = code == CURLE_OPERATION_TIMEDOUT || t->timed_out;
    if (t->timed_out) {
        t->res.curl_code = CURLE_OPERATION_TIMEDOUT;
        code = CURLE_OPERATION_TIMEDOUT;
    }
    t->res.body = t->body.data ? t->body.data : "";
    t->res.body_len = t->body.len;
    t->res.error = code == CURLE_OK ? NULL
                   : t->timed_out ? (t->streamed ? "stream idle timeout" : "attempt timeout")
                   : (t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
    t->cb(&t->res, t->arg);
    transfer_free(t);
}

static void check_done(struct sl_upstream *u)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(u->multi, &left))) {
        struct sl_transfer *t = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode code = msg->data.result;
        curl_multi_remove_handle(u->multi, msg->easy_handle);
        if (!t)
            continue;
        unlink_transfer(t);
        finish(t, code);
    }
}

static int set_headers(struct sl_transfer *t, const struct sl_transfer_spec *s)
{
    struct curl_slist *h = NULL, *n;
    char rid[200];

    snprintf(rid, sizeof(rid), "X-Client-Request-Id: %s", s->request_id ? s->request_id : "");
    const char *lines[] = {
        "Content-Type: application/json",
        s->on_data ? "Accept: text/event-stream" : "Accept: application/json",
        "Expect:", s->request_id ? rid : NULL, t->u->auth_header,
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i])
            continue;
        n = curl_slist_append(h, lines[i]);
        if (!n) {
            curl_slist_free_all(h);
            return -ENOMEM;
        }
        h = n;
    }
    t->headers = h;
    return 0;
}

static int setup_easy(struct sl_transfer *t, const struct sl_transfer_spec *s)
{
    struct sl_upstream *u = t->u;
    CURL *e = t->easy;
    char url[2048];
    long tmo = (long)(s->timeout_ms ? s->timeout_ms : 1);

    if (s->on_data)
        tmo = 0;      /* a stream may run long: our own first-byte and idle timers bound it */
    if ((size_t)snprintf(url, sizeof(url), "%s%s", u->base_url, s->path) >= sizeof(url))
        return -ENAMETOOLONG;
    if (set_headers(t, s) < 0)
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* SPEC §5: HTTP/1.1 keep-alive; pausing HTTP/2 transfers is buggy in libcurl 7.88. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, tmo);
    tmo = (long)(s->timeout_ms ? s->timeout_ms : 1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     tmo < CONNECT_TIMEOUT_MAX_MS ? tmo : (long)CONNECT_TIMEOUT_MAX_MS);
    /* Only the configured upstream: no proxy from the environment, no redirects. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    return 0;
}

/* A stream's own deadline: no first byte in time, or silence for too long.  We are in the
 * loop, not in a libcurl callback, so the transfer can be removed here. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct sl_transfer *t = arg;

    t->timed_out = true;
    curl_multi_remove_handle(t->u->multi, t->easy);
    unlink_transfer(t);
    finish(t, CURLE_OPERATION_TIMEDOUT);
}

struct sl_transfer *sl_upstream_start(struct sl_upstream *u, const struct sl_transfer_spec *s,
                                      sl_transfer_done_cb cb, void *arg)
{
    struct sl_transfer *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->u = u;
    t->cb = cb;
    t->arg = arg;
    t->on_data = s->on_data;
    t->idle_timeout_ms = s->idle_timeout_ms ? s->idle_timeout_ms : s->timeout_ms;
    t->stream_deadline_ms = s->stream_deadline_ms;
    sl_buf_init(&t->body, u->max_response_bytes);
    t->easy = curl_easy_init();
    if (s->on_data && !(t->deadline = evtimer_new(u->base, on_deadline, t))) {
        transfer_free(t);
        return NULL;
    }
    if (!t->easy || setup_easy(t, s) < 0 || curl_multi_add_handle(u->multi, t->easy) != CURLM_OK) {
        transfer_free(t);
        return NULL;
    }
    if (t->deadline)
        arm_deadline(t, s->timeout_ms ? s->timeout_ms : 1);
    t->next = u->active;
    if (u->active)
        u->active->prev = t;
    u->active = t;
    u->nactive++;
    return t;
}

void sl_upstream_cancel(struct sl_transfer *t)
{
    if (!t)
        return;
    curl_multi_remove_handle(t->u->multi, t->easy);
    unlink_transfer(t);
    transfer_free(t);
}

void sl_upstream_pause(struct sl_transfer *t)
{
    if (!t->paused) {
        t->paused = true;
        /* Silence caused by our own client is not the upstream's fault. */
        if (t->deadline)
            evtimer_del(t->deadline);
        curl_easy_pause(t->easy, CURLPAUSE_RECV);
    }
}

void sl_upstream_resume(struct sl_transfer *t)
{
    if (t->paused) {
        t->paused = false;
        if (t->deadline)
            arm_deadline(t, t->idle_timeout_ms);
        curl_easy_pause(t->easy, CURLPAUSE_CONT);
    }
}

uint64_t sl_transfer_streamed(const struct sl_transfer *t)
{
    return t->streamed;
}

long sl_transfer_status(const struct sl_transfer *t)
{
    long status = 0;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

const char *sl_transfer_request_id(const struct sl_transfer *t)
{
    return t->res.request_id;
}

unsigned sl_upstream_active(const struct sl_upstream *u)
{
    return u->nactive;
}

struct sl_upstream *sl_upstream_new(struct event_base *base, const struct sl_config *cfg,
                                    const char *api_key)
{
    struct sl_upstream *u = calloc(1, sizeof(*u));
    size_t n;

    if (!u)
        return NULL;
    u->base = base;
    u->max_response_bytes = cfg->max_response_bytes;
    u->base_url = strdup(cfg->base_url);
    if (!u->base_url)
        goto fail;
    n = strlen(u->base_url);
    while (n > 0 && u->base_url[n - 1] == '/')
        u->base_url[--n] = '\0';
    if (api_key && *api_key && asprintf(&u->auth_header, "Authorization: Bearer %s", api_key) < 0) {
        u->auth_header = NULL;
        goto fail;
    }
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, on_timer, u);
    if (!u->multi || !u->timer)
        goto fail;
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    /* libcurl keeps 4 idle connections per transfer by default; under a burst that closes
     * good keep-alive connections only to open new ones a moment later (10-15% of requests
     * in scripts/bench).  Keep enough for a busy worker. */
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_IDLE_CONNS);
    return u;
fail:
    sl_upstream_free(u);
    return NULL;
}

void sl_upstream_free(struct sl_upstream *u)
{
    if (!u)
        return;
    while (u->active)
        sl_upstream_cancel(u->active);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    if (u->timer)
        event_free(u->timer);
    if (u->auth_header) {
        explicit_bzero(u->auth_header, strlen(u->auth_header));
        free(u->auth_header);
    }
    free(u->base_url);
    free(u);
}
