/* SPDX-License-Identifier: MIT */
/* client.c - libcurl multi on a libevent loop: socket and timer glue, one transfer each. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "upstream/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/fmt.h"
#include "core/reqid.h"

#define CONNECT_TIMEOUT_MAX_MS 10000
#define UPSTREAM_IDLE_CONNS 1024
#define USER_AGENT "sluice/" PACKAGE_VERSION
/* Finished transfers kept with their easy handle for the next one, per kind: a new handle
 * costs a 5 KB calloc and setting every option again, about 10,000 instructions, and each
 * kept one holds its receive buffer. */
#define IDLE_TRANSFERS_MAX 64
/* libcurl's receive buffer.  SSE events are a few hundred bytes and arrive a few at a time;
 * libcurl's 16 KiB per open stream would be most of the memory 10,000 streams take, and each
 * halving saves a stream more than it costs it in reads (2 KiB is 1 KiB of RSS less per
 * stream than 4 KiB under massif, 3 KiB less than 16). */
#define STREAM_BUFFER_BYTES 2048L
/* A buffered body kept past this is freed rather than kept for the next transfer. */
#define BODY_KEEP_MAX (64u << 10)
#define HEADER_LINES 6
/* "X-Client-Request-Id: " and the id. */
#define RID_PREFIX "X-Client-Request-Id: "
#define SL_REQID_LINE_MAX (SL_REQID_MAX + 32)

struct sock_watch {
    struct event ev;
    struct sl_upstream *u;
};

/* A transfer and its easy handle live together and are reused together (see
 * IDLE_TRANSFERS_MAX): the options that never change are set once, when the handle is made. */
struct sl_transfer {
    struct sl_upstream *u;
    struct sl_transfer *prev, *next; /* the active list, or the idle one */
    CURL *easy;
    bool stream;     /* which idle list it returns to */
    bool was_paused; /* ever paused: not reused (see release()) */
    /* The request headers, as a list curl reads but never frees, so that no line is
     * allocated per transfer. */
    struct curl_slist headers[HEADER_LINES];
    char rid_line[SL_REQID_LINE_MAX];
    /* The URL, parsed when the path changes rather than by libcurl for every transfer (about
     * 6,000 instructions); path is the one it was parsed for. */
    CURLU *url;
    char path[64];
    struct sl_buf body;
    struct sl_transfer_result res;
    sl_transfer_done_cb cb;
    void *arg;
    sl_transfer_data_cb on_data;
    struct event deadline; /* streams: first byte, then idle */
    uint64_t idle_timeout_ms;
    uint64_t stream_deadline_ms;
    uint64_t streamed;
    size_t header_bytes; /* of every header block so far */
    bool paused;
    bool timed_out; /* our own deadline fired */
    char errbuf[CURL_ERROR_SIZE];
};

struct sl_upstream {
    struct event_base *base;
    CURLM *multi;
    CURLSH *share; /* TLS sessions, shared by every handle of the worker */
    struct event *timer;
    char *base_url;    /* without a trailing slash */
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    size_t max_response_bytes;
    struct sl_transfer *active;
    unsigned nactive;
    struct sl_transfer *idle[2]; /* [stream]: finished, handle kept */
    unsigned nidle[2];
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

/* CURLMOPT_TIMERFUNCTION: -1 deletes the timer; anything else re-arms it.  Never call back
 * into libcurl from here.  0 (every new transfer) makes the timer's event active instead, so
 * that it runs in this loop turn's callbacks: a zero timer would cost a timerfd_settime()
 * and another epoll_wait() before the request is sent. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct sl_upstream *u = userp;
    struct timeval tv;

    if (timeout_ms <= 0) {
        evtimer_del(u->timer);
        if (timeout_ms == 0)
            event_active(u->timer, EV_TIMEOUT, 1);
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

    evtimer_add(&t->deadline, &tv);
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
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
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
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
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

static void transfer_destroy(struct sl_transfer *t)
{
    evtimer_del(&t->deadline);
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_url_cleanup(t->url); /* after the handle that points at it */
    sl_buf_done(&t->body);
    free(t);
}

/* A transfer is over (its handle already out of the multi): keep it for the next one of its
 * kind, or free it.  A handle that was ever paused is not kept: what libcurl holds back for
 * a paused transfer is not documented to be cleared by the next one. */
static void release(struct sl_transfer *t)
{
    struct sl_upstream *u = t->u;
    unsigned k = t->stream;

    evtimer_del(&t->deadline);
    if (t->was_paused || u->nidle[k] >= IDLE_TRANSFERS_MAX) {
        transfer_destroy(t);
        return;
    }
    if (t->body.cap > BODY_KEEP_MAX)
        sl_buf_done(&t->body);
    sl_buf_reset(&t->body);
    t->prev = NULL;
    t->next = u->idle[k];
    u->idle[k] = t;
    u->nidle[k]++;
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
    case CURLE_BAD_CONTENT_ENCODING: return true;
    case CURLE_OUT_OF_MEMORY: return status > 0;
    default: return false;
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
                   : t->timed_out   ? (t->streamed ? "stream idle timeout" : "attempt timeout")
                                    : (t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
    t->cb(&t->res, t->arg);
    release(t);
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

/* The header list for this transfer, in the transfer's own nodes. */
static void set_headers(struct sl_transfer *t, const struct sl_transfer_spec *s)
{
    const char *lines[HEADER_LINES];
    size_t n = 0, i;

    /* Here rather than CURLOPT_USERAGENT, which libcurl formats into a new line (its printf,
     * a callback per byte) for every transfer.  libcurl writes its own lines (Host, Accept)
     * before this list. */
    lines[n++] = "User-Agent: " USER_AGENT;
    if (s->method == SL_UPSTREAM_POST)
        lines[n++] = "Content-Type: application/json";
    /* A stream says what it wants.  A buffered call takes libcurl's default Accept (any type),
     * half the bytes of "Accept: application/json" through libcurl's printf (about 100
     * instructions a byte) and one line less to search each time libcurl looks for a header.
     * The upstream answers JSON either way. */
    if (s->on_data)
        lines[n++] = "Accept: text/event-stream";
    lines[n++] = "Expect:";
    if (s->request_id) {
        memcpy(t->rid_line, RID_PREFIX, sizeof(RID_PREFIX) - 1);
        sl_fmt_copy(t->rid_line + sizeof(RID_PREFIX) - 1,
                    sizeof(t->rid_line) - sizeof(RID_PREFIX) + 1, s->request_id);
        lines[n++] = t->rid_line;
    }
    if (t->u->auth_header)
        lines[n++] = t->u->auth_header;
    for (i = 0; i < n; i++) {
        t->headers[i].data = (char *)lines[i];
        t->headers[i].next = i + 1 < n ? &t->headers[i + 1] : NULL;
    }
}

/* What every transfer of this kind shares, set once per handle. */
static int setup_handle(struct sl_transfer *t)
{
    CURL *e = t->easy;

    if (!(t->url = curl_url()))
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_CURLU, t->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* One TLS session cache for the worker instead of one per handle: about 1 KB less per
     * transfer, and a new connection resumes a session another handle made.  No lock
     * callbacks: a worker is one thread. */
    if (t->u->share)
        curl_easy_setopt(e, CURLOPT_SHARE, t->u->share);
    if (t->stream)
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, STREAM_BUFFER_BYTES);
    /* SPEC §5: HTTP/1.1 keep-alive; pausing HTTP/2 transfers is buggy in libcurl 7.88. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* Only the configured upstream: no proxy from the environment, no redirects.  NOPROXY
     * "*" also spares the two getenv() calls a transfer makes to look for no_proxy. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L);
    return 0;
}

/* The URL, parsed again only when the path changed.  libcurl copies the parsed URL for each
 * transfer and keeps the text of the last one it used (CURLINFO_EFFECTIVE_URL): setting
 * CURLOPT_URL to NULL makes it take the new one. */
static int set_url(struct sl_transfer *t, const char *path)
{
    char url[2048];

    if (strcmp(t->path, path) == 0)
        return 0;
    t->path[0] = '\0'; /* until it is parsed */
    if ((size_t)snprintf(url, sizeof(url), "%s%s", t->u->base_url, path) >= sizeof(url))
        return -ENAMETOOLONG;
    if (curl_url_set(t->url, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_easy_setopt(t->easy, CURLOPT_URL, NULL) != CURLE_OK ||
        curl_easy_setopt(t->easy, CURLOPT_CURLU, t->url) != CURLE_OK)
        return -ENOMEM;
    if (!sl_fmt_copy(t->path, sizeof(t->path), path))
        t->path[0] = '\0'; /* too long to remember: set again next time */
    return 0;
}

/* A kept handle remembers the last method: every transfer sets its own. */
static void set_method(CURL *e, const struct sl_transfer_spec *s)
{
    if (s->method == SL_UPSTREAM_POST) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        /* Never NULL: that would make libcurl read the body from a callback (stdin). */
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body ? s->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
        return;
    }
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->method == SL_UPSTREAM_DELETE ? "DELETE" : NULL);
}

/* What changes from one transfer to the next. */
static int setup_easy(struct sl_transfer *t, const struct sl_transfer_spec *s)
{
    CURL *e = t->easy;
    long tmo = (long)(s->timeout_ms ? s->timeout_ms : 1);
    int r;

    if ((r = set_url(t, s->path)) < 0)
        return r;
    set_headers(t, s);
    set_method(e, s);
    /* A stream may run long: our own first-byte and idle timers bound it. */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->on_data ? 0L : tmo);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     tmo < CONNECT_TIMEOUT_MAX_MS ? tmo : (long)CONNECT_TIMEOUT_MAX_MS);
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

/* A transfer of the kind asked for: a kept one, or a new one with its handle set up. */
static struct sl_transfer *acquire(struct sl_upstream *u, bool stream)
{
    struct sl_transfer *t = u->idle[stream];

    if (t) {
        u->idle[stream] = t->next;
        u->nidle[stream]--;
        t->next = NULL;
        return t;
    }
    if (!(t = calloc(1, sizeof(*t))))
        return NULL;
    t->u = u;
    t->stream = stream;
    sl_buf_init(&t->body, u->max_response_bytes);
    evtimer_assign(&t->deadline, u->base, on_deadline, t);
    if (!(t->easy = curl_easy_init()) || setup_handle(t) < 0) {
        transfer_destroy(t);
        return NULL;
    }
    return t;
}

/* Forget what the previous transfer on this handle left behind. */
static void begin(struct sl_transfer *t, const struct sl_transfer_spec *s, sl_transfer_done_cb cb,
                  void *arg)
{
    memset(&t->res, 0, sizeof(t->res));
    t->cb = cb;
    t->arg = arg;
    t->on_data = s->on_data;
    t->idle_timeout_ms = s->idle_timeout_ms ? s->idle_timeout_ms : s->timeout_ms;
    t->stream_deadline_ms = s->stream_deadline_ms;
    t->streamed = 0;
    t->header_bytes = 0;
    t->paused = t->timed_out = false;
    t->errbuf[0] = '\0';
}

struct sl_transfer *sl_upstream_start(struct sl_upstream *u, const struct sl_transfer_spec *s,
                                      sl_transfer_done_cb cb, void *arg)
{
    struct sl_transfer *t = acquire(u, s->on_data != NULL);

    if (!t)
        return NULL;
    begin(t, s, cb, arg);
    if (setup_easy(t, s) < 0 || curl_multi_add_handle(u->multi, t->easy) != CURLM_OK) {
        transfer_destroy(t);
        return NULL;
    }
    if (t->on_data)
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
    release(t);
}

void sl_upstream_pause(struct sl_transfer *t)
{
    if (!t->paused) {
        t->paused = t->was_paused = true;
        /* Silence caused by our own client is not the upstream's fault. */
        if (t->on_data)
            evtimer_del(&t->deadline);
        curl_easy_pause(t->easy, CURLPAUSE_RECV);
    }
}

void sl_upstream_resume(struct sl_transfer *t)
{
    if (t->paused) {
        t->paused = false;
        if (t->on_data)
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
    u->share = curl_share_init();
    if (!u->multi || !u->timer || !u->share ||
        curl_share_setopt(u->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
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
    for (unsigned k = 0; k < 2; k++)
        while (u->idle[k]) {
            struct sl_transfer *t = u->idle[k];

            u->idle[k] = t->next;
            transfer_destroy(t);
        }
    if (u->multi)
        curl_multi_cleanup(u->multi);
    if (u->share)
        curl_share_cleanup(u->share); /* after every handle that used it */
    if (u->timer)
        event_free(u->timer);
    if (u->auth_header) {
        explicit_bzero(u->auth_header, strlen(u->auth_header));
        free(u->auth_header);
    }
    free(u->base_url);
    free(u);
}
