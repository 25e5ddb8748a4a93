/* SPDX-License-Identifier: MIT */
/* fake_openai.c - a scriptable fake OpenAI upstream for sluice's tests and benchmarks: the
 * listener, the routes, the /_fake/ control API, the request log and the counters. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "fake_openai.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#define LOG_MAX 1000                     /* requests kept in the log */
#define LOG_BODY_MAX (1024 * 1024)       /* bytes of one body kept in the log */
#define LOG_BYTES_MAX (64 * 1024 * 1024) /* bytes of all logged bodies together */
#define BODY_MAX (64 * 1024 * 1024)
#define HEADERS_MAX (64 * 1024)
#define IO_TIMEOUT_S 3600 /* tests script hangs; evhttp must not cut them */
#define QUEUE_MAX 100000  /* script entries waiting */
#define BACKLOG 4096
#define MARKS_MAX (1u << 20)

struct log_ent {
    uint64_t seq; /* 0: empty slot */
    uint64_t arrived_ms, closed_after_ms;
    char method[8];
    char *path;
    char *hdrs; /* "name\0value\0" pairs, names lower-cased */
    size_t hdrs_len;
    char *body; /* NULL once dropped for LOG_BYTES_MAX */
    size_t body_len, body_total;
    bool client_closed, done;
};

struct qent {
    struct qent *next;
    json_t *obj;
    int64_t remaining;
};

/* Which connection last carried an upstream request on each descriptor, to count
 * connections without hooking evhttp's accept path. */
struct conn_mark {
    const void *bev;
    uint64_t epoch;
    uint16_t port;
};

struct fake_state {
    struct event_base *base;
    struct evhttp *http;
    struct qent *q_head, *q_tail;
    size_t q_entries;
    uint64_t q_pending;
    struct log_ent ring[LOG_MAX];
    uint64_t seq, epoch, log_bytes, trim_seq;
    uint64_t requests, inflight, peak_inflight, client_closed, conns;
    struct conn_mark *marks;
    size_t marks_len;
};

static struct fake_state g = { .epoch = 1 };

/* The endpoints, matched in order on the path without its /v1 prefix; "*" stands for one
 * path segment of 1..SL_FAKE_ID_MAX bytes (a response id).  A path that matches a shape but
 * not its method gets 405 with the shape's Allow. */
static const struct endpoint {
    const char *shape;
    enum evhttp_cmd_type method;
    enum sl_fake_kind kind;
    const char *allow;
} endpoints[] = {
    { "/chat/completions", EVHTTP_REQ_POST, SL_FAKE_CHAT, "POST" },
    { "/responses", EVHTTP_REQ_POST, SL_FAKE_RESPONSES, "POST" },
    { "/responses/*", EVHTTP_REQ_GET, SL_FAKE_RESPONSE_GET, "GET, DELETE" },
    { "/responses/*", EVHTTP_REQ_DELETE, SL_FAKE_RESPONSE_DELETE, "GET, DELETE" },
    { "/responses/*/input_items", EVHTTP_REQ_GET, SL_FAKE_RESPONSE_INPUT_ITEMS, "GET" },
    { "/responses/*/cancel", EVHTTP_REQ_POST, SL_FAKE_RESPONSE_CANCEL, "POST" },
    { "/embeddings", EVHTTP_REQ_POST, SL_FAKE_EMBEDDINGS, "POST" },
};

/* ---- request log ---- */

static struct log_ent *log_find(uint64_t seq)
{
    struct log_ent *e;

    if (seq == 0 || seq > g.seq || g.seq - seq >= LOG_MAX)
        return NULL;
    e = &g.ring[(seq - 1) % LOG_MAX];
    return e->seq == seq ? e : NULL;
}

static void log_drop_body(struct log_ent *e)
{
    g.log_bytes -= e->body_len;
    free(e->body);
    e->body = NULL;
    e->body_len = 0;
}

static void log_clear_ent(struct log_ent *e)
{
    log_drop_body(e);
    free(e->path);
    free(e->hdrs);
    memset(e, 0, sizeof(*e));
}

/* Keep the log's memory bounded: drop the bodies of the oldest entries first. */
static void log_trim(void)
{
    struct log_ent *e;

    while (g.log_bytes > LOG_BYTES_MAX && g.trim_seq < g.seq) {
        e = log_find(++g.trim_seq);
        if (e != NULL)
            log_drop_body(e);
    }
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
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

static void log_headers(struct log_ent *e, struct evkeyvalq *h)
{
    struct evkeyval *kv;
    size_t len = 0, nlen, vlen, i;
    char *p;

    TAILQ_FOREACH(kv, h, next)
    len += strlen(kv->key) + strlen(kv->value) + 2;
    e->hdrs = malloc(len > 0 ? len : 1);
    if (e->hdrs == NULL)
        return;
    p = e->hdrs;
    TAILQ_FOREACH(kv, h, next)
    {
        nlen = strlen(kv->key) + 1;
        vlen = strlen(kv->value) + 1;
        for (i = 0; i < nlen; i++)
            p[i] = (char)((kv->key[i] >= 'A' && kv->key[i] <= 'Z') ? kv->key[i] + 32 : kv->key[i]);
        memcpy(p + nlen, kv->value, vlen);
        p += nlen + vlen;
    }
    e->hdrs_len = len;
}

static uint64_t log_add(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *uri = evhttp_request_get_uri(req);
    uint64_t seq = ++g.seq;
    struct log_ent *e = &g.ring[(seq - 1) % LOG_MAX];
    size_t keep;

    log_clear_ent(e);
    e->seq = seq;
    e->arrived_ms = sl_fake_now_ms();
    snprintf(e->method, sizeof(e->method), "%s", method_name(evhttp_request_get_command(req)));
    e->path = strdup(uri != NULL ? uri : "");
    log_headers(e, evhttp_request_get_input_headers(req));
    e->body_total = evbuffer_get_length(in);
    keep = e->body_total < LOG_BODY_MAX ? e->body_total : LOG_BODY_MAX;
    e->body = malloc(keep > 0 ? keep : 1);
    if (e->body != NULL) {
        evbuffer_copyout(in, e->body, keep);
        e->body_len = keep;
        g.log_bytes += keep;
    }
    log_trim();
    return seq;
}

void sl_fake_note_done(uint64_t seq, uint64_t epoch, bool client_closed)
{
    struct log_ent *e;

    if (g.inflight > 0)
        g.inflight--;
    if (epoch != g.epoch)
        return;
    if (client_closed)
        g.client_closed++;
    e = log_find(seq);
    if (e == NULL)
        return;
    e->done = true;
    e->client_closed = client_closed;
    if (client_closed)
        e->closed_after_ms = sl_fake_now_ms() - e->arrived_ms;
}

/* ---- JSON helpers for the control API ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07u;
    } else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* A JSON string of s; bytes that are not UTF-8 become U+FFFD (bodies are untrusted). */
static json_t *jstr_lossy(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k, o = 0;
    char *buf;

    if (v != NULL || s == NULL)
        return v;
    buf = malloc(n * 3 + 1);
    if (buf == NULL)
        return NULL;
    while (i < n) {
        k = utf8_len(u + i, n - i);
        if (k == 0) {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    v = json_stringn(buf, o);
    free(buf);
    return v;
}

static json_t *log_ent_json(const struct log_ent *e)
{
    json_t *o = json_object(), *h = json_object(), *old;
    size_t at = 0;

    while (e->hdrs != NULL && at < e->hdrs_len) {
        const char *name = e->hdrs + at;
        const char *val = name + strlen(name) + 1;
        size_t vlen = strlen(val);

        at = (size_t)(val - e->hdrs) + vlen + 1;
        old = json_object_get(h, name);
        if (json_is_string(old)) {
            /* Repeated header: join as an HTTP list, the way proxies fold them. */
            char *both = malloc(json_string_length(old) + vlen + 3);

            if (both != NULL) {
                sprintf(both, "%s, %s", json_string_value(old), val);
                json_object_set_new(h, name, jstr_lossy(both, strlen(both)));
                free(both);
            }
        } else
            json_object_set_new(h, name, jstr_lossy(val, vlen));
    }
    json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
    json_object_set_new(o, "method", json_string(e->method));
    json_object_set_new(o, "path", jstr_lossy(e->path, e->path ? strlen(e->path) : 0));
    json_object_set_new(o, "headers", h);
    json_object_set_new(o, "body",
                        e->body != NULL ? jstr_lossy(e->body, e->body_len) : json_null());
    json_object_set_new(o, "body_bytes", json_integer((json_int_t)e->body_total));
    json_object_set_new(o, "body_truncated", json_boolean(e->body_len < e->body_total));
    json_object_set_new(o, "done", json_boolean(e->done));
    json_object_set_new(o, "client_closed", json_boolean(e->client_closed));
    json_object_set_new(o, "closed_after_ms",
                        e->client_closed ? json_integer((json_int_t)e->closed_after_ms)
                                         : json_null());
    return o;
}

static int dump_to_evbuffer(const char *buf, size_t size, void *data)
{
    return evbuffer_add(data, buf, size);
}

/* Send v (consumed) as the JSON body. */
static void reply_json(struct evhttp_request *req, int status, json_t *v)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (b != NULL && v != NULL)
        (void)json_dump_callback(v, dump_to_evbuffer, b, JSON_COMPACT);
    if (b != NULL)
        evbuffer_add(b, "\n", 1);
    evhttp_send_reply(req, status, NULL, b);
    if (b != NULL)
        evbuffer_free(b);
    json_decref(v);
}

static void reply_error(struct evhttp_request *req, int status, const char *msg, const char *type,
                        const char *code)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (b != NULL)
        sl_fake_put_error(b, msg, type, NULL, code);
    evhttp_send_reply(req, status, NULL, b);
    if (b != NULL)
        evbuffer_free(b);
}

static void reply_405(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    reply_error(req, 405, "Method not allowed.", "invalid_request_error", NULL);
}

/* ---- script queue ---- */

static json_t *q_pop(void)
{
    struct qent *q = g.q_head;
    json_t *obj;

    if (q == NULL)
        return NULL;
    obj = json_incref(q->obj);
    g.q_pending--;
    if (--q->remaining == 0) {
        g.q_head = q->next;
        if (g.q_head == NULL)
            g.q_tail = NULL;
        json_decref(q->obj);
        free(q);
        g.q_entries--;
    }
    return obj;
}

static void q_clear(void)
{
    while (g.q_head != NULL) {
        struct qent *q = g.q_head;

        g.q_head = q->next;
        json_decref(q->obj);
        free(q);
    }
    g.q_tail = NULL;
    g.q_entries = 0;
    g.q_pending = 0;
}

static int q_push(json_t *obj, int64_t repeat)
{
    struct qent *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return -ENOMEM;
    q->obj = json_incref(obj);
    q->remaining = repeat;
    if (g.q_tail != NULL)
        g.q_tail->next = q;
    else
        g.q_head = q;
    g.q_tail = q;
    g.q_entries++;
    g.q_pending += (uint64_t)repeat;
    return 0;
}

/* ---- control API ---- */

static void ctl_script(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in), i;
    json_t *doc = json_loadb(len > 0 ? (const char *)evbuffer_pullup(in, -1) : "", len, 0, NULL);
    struct sl_fake_beh b;
    char err[160], msg[200];
    json_t *v;

    if (json_is_object(doc)) {
        json_t *arr = json_array();

        json_array_append_new(arr, doc);
        doc = arr;
    }
    if (!json_is_array(doc)) {
        json_decref(doc);
        reply_error(req, 400, "script: expected a JSON array of behaviour objects",
                    "invalid_request_error", NULL);
        return;
    }
    if (g.q_entries + json_array_size(doc) > QUEUE_MAX) {
        json_decref(doc);
        reply_error(req, 400, "script: queue full", "invalid_request_error", NULL);
        return;
    }
    json_array_foreach(doc, i, v)
    {
        if (sl_fake_beh_parse(v, &b, err, sizeof(err)) != 0) {
            snprintf(msg, sizeof(msg), "script[%zu]: %s", i, err);
            json_decref(doc);
            reply_error(req, 400, msg, "invalid_request_error", NULL);
            return;
        }
    }
    json_array_foreach(doc, i, v)
    {
        (void)sl_fake_beh_parse(v, &b, err, sizeof(err));
        if (q_push(v, b.repeat) != 0)
            break;
    }
    json_decref(doc);
    reply_json(req, 200, json_pack("{s:I}", "queued", (json_int_t)g.q_pending));
}

static void ctl_reset(struct evhttp_request *req)
{
    size_t i;

    q_clear();
    for (i = 0; i < LOG_MAX; i++)
        log_clear_ent(&g.ring[i]);
    g.seq = 0;
    g.trim_seq = 0;
    g.log_bytes = 0;
    g.epoch++;
    g.requests = 0;
    g.client_closed = 0;
    g.conns = 0;
    g.peak_inflight = g.inflight;
    sl_fake_store_clear();
    reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void ctl_requests(struct evhttp_request *req)
{
    json_t *arr = json_array();
    uint64_t s = g.seq > LOG_MAX ? g.seq - LOG_MAX + 1 : 1;
    struct log_ent *e;

    for (; s <= g.seq; s++) {
        e = log_find(s);
        if (e != NULL)
            json_array_append_new(arr, log_ent_json(e));
    }
    reply_json(req, 200, arr);
}

static void ctl_stats(struct evhttp_request *req)
{
    reply_json(req, 200,
               json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)g.requests,
                         "inflight", (json_int_t)g.inflight, "peak_inflight",
                         (json_int_t)g.peak_inflight, "client_closed", (json_int_t)g.client_closed,
                         "connections_accepted", (json_int_t)g.conns, "queued",
                         (json_int_t)g.q_pending));
}

static void on_control(struct evhttp_request *req, const char *what)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type method;
        void (*handler)(struct evhttp_request *req);
    } routes[] = {
        { "script", EVHTTP_REQ_POST, ctl_script },
        { "reset", EVHTTP_REQ_POST, ctl_reset },
        { "requests", EVHTTP_REQ_GET, ctl_requests },
        { "stats", EVHTTP_REQ_GET, ctl_stats },
    };
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(what, routes[i].name) != 0)
            continue;
        if (evhttp_request_get_command(req) != routes[i].method)
            reply_405(req, routes[i].method == EVHTTP_REQ_GET ? "GET" : "POST");
        else
            routes[i].handler(req);
        return;
    }
    reply_error(req, 404, "No such control endpoint.", "invalid_request_error", NULL);
}

/* ---- upstream requests ---- */

static void count_connection(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    int fd = bufferevent_getfd(bev);
    struct conn_mark *m;
    char *addr;
    ev_uint16_t port;

    evhttp_connection_get_peer(evcon, &addr, &port);
    if (fd < 0 || (size_t)fd >= g.marks_len) {
        g.conns++;
        return;
    }
    m = &g.marks[fd];
    if (m->bev == bev && m->port == port && m->epoch == g.epoch)
        return;
    m->bev = bev;
    m->port = port;
    m->epoch = g.epoch;
    g.conns++;
}

/* Does path have this shape?  id gets the segment "*" stood for. */
static bool shape_matches(const char *shape, const char *path, char *id)
{
    size_t n;

    while (*shape != '\0') {
        if (*shape != '*') {
            if (*shape++ != *path++)
                return false;
            continue;
        }
        n = strcspn(path, "/");
        if (n == 0 || n > SL_FAKE_ID_MAX)
            return false;
        memcpy(id, path, n);
        id[n] = '\0';
        path += n;
        shape++;
    }
    return *path == '\0';
}

/* The endpoint for path and method, or NULL.  *allow is set when the path matched a shape at
 * all (a NULL is then a 405). */
static const struct endpoint *route(const char *path, enum evhttp_cmd_type method, char *id,
                                    const char **allow)
{
    size_t i;

    if (strncmp(path, "/v1/", 4) == 0)
        path += 3;
    *allow = NULL;
    for (i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        if (!shape_matches(endpoints[i].shape, path, id))
            continue;
        *allow = endpoints[i].allow;
        if (endpoints[i].method == method)
            return &endpoints[i];
    }
    return NULL;
}

static void on_upstream(struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    char msg[256], id[SL_FAKE_ID_MAX + 1] = "";
    const struct endpoint *ep;
    const char *allow;
    uint64_t seq;

    count_connection(req);
    seq = log_add(req);
    g.requests++;
    ep = route(path, method, id, &allow);
    if (ep == NULL) {
        struct log_ent *e = log_find(seq);

        if (e != NULL)
            e->done = true;
        if (allow != NULL) {
            reply_405(req, allow);
            return;
        }
        snprintf(msg, sizeof(msg), "Invalid URL (%s %.200s)", method_name(method), path);
        reply_error(req, 404, msg, "invalid_request_error", NULL);
        return;
    }
    if (++g.inflight > g.peak_inflight)
        g.peak_inflight = g.inflight;
    if (sl_fake_reply_take(g.base, req, seq, g.epoch, q_pop(), ep->kind, id) != 0) {
        sl_fake_note_done(seq, g.epoch, false);
        reply_error(req, 503, "The fake upstream is out of memory.", "server_error", NULL);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    (void)arg;
    if (path == NULL || path[0] == '\0')
        path = "/";
    if (strncmp(path, "/_fake/", 7) == 0)
        on_control(req, path + 7);
    else
        on_upstream(req, path);
}

/* ---- start-up ---- */

static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    g.marks_len = rl.rlim_cur < MARKS_MAX ? (size_t)rl.rlim_cur : MARKS_MAX;
}

/* Listening socket on host:port; *bound gets the port actually bound.  Returns the fd or
 * -1 with a message on stderr. */
static int listen_on(const char *host, int port, int *bound)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char service[8];
    int fd = -1, one = 1, rc;

    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "fake-openai: getaddrinfo(%s) failed: %s\n", host, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, BACKLOG) == -1 ||
        getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
        fprintf(stderr, "fake-openai: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        if (fd != -1)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    if (ss.ss_family == AF_INET6)
        *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int write_port_file(const char *path, int port)
{
    char tmp[PATH_MAX];
    FILE *f;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());

    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) == -1) {
        n = -errno;
        (void)unlink(tmp);
        return n;
    }
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static struct evhttp *make_http(struct event_base *base)
{
    struct evhttp *http = evhttp_new(base);
    struct timeval tv = { IO_TIMEOUT_S, 0 };

    if (http == NULL)
        return NULL;
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(http, BODY_MAX);
    evhttp_set_max_headers_size(http, HEADERS_MAX);
    evhttp_set_timeout_tv(http, &tv);
    evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(http, on_request, NULL);
    return http;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: fake-openai [--host ADDR] [--port N] [--port-file FILE]\n"
                 "  --host ADDR       address to bind (default 127.0.0.1)\n"
                 "  --port N          port, 0 picks a free one (default 0)\n"
                 "  --port-file FILE  also write the bound port to FILE (atomically)\n"
                 "The bound port is printed on stdout once listening.  Control API under\n"
                 "/_fake/ (script, reset, requests, stats): see README.md.\n");
}

static int parse_args(int argc, char **argv, const char **host, int *port, const char **port_file)
{
    static const struct option opts[] = {
        { "host", required_argument, NULL, 'h' },
        { "port", required_argument, NULL, 'p' },
        { "port-file", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, '?' },
        { NULL, 0, NULL, 0 },
    };
    char *end;
    long v;
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h': *host = optarg; break;
        case 'p':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || v < 0 || v > 65535)
                return -EINVAL;
            *port = (int)v;
            break;
        case 'f': *port_file = optarg; break;
        default: return -EINVAL;
        }
    }
    return optind == argc ? 0 : -EINVAL;
}

static void cleanup(struct event **sigs, size_t nsigs)
{
    size_t i;

    sl_fake_reply_shutdown();
    if (g.http != NULL)
        evhttp_free(g.http);
    for (i = 0; i < nsigs; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    q_clear();
    sl_fake_store_clear();
    for (i = 0; i < LOG_MAX; i++)
        log_clear_ent(&g.ring[i]);
    free(g.marks);
    if (g.base != NULL)
        event_base_free(g.base);
    libevent_global_shutdown();
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port_file = NULL;
    struct event *sigs[2] = { NULL, NULL };
    int port = 0, bound = 0, fd, rc = 1;

    if (parse_args(argc, argv, &host, &port, &port_file) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    g.marks = calloc(g.marks_len > 0 ? g.marks_len : 1, sizeof(*g.marks));
    g.base = event_base_new();
    g.http = g.base != NULL ? make_http(g.base) : NULL;
    if (g.marks == NULL || g.http == NULL) {
        fprintf(stderr, "fake-openai: out of memory\n");
        goto out;
    }
    fd = listen_on(host, port, &bound);
    if (fd == -1)
        goto out;
    if (evhttp_accept_socket_with_handle(g.http, fd) == NULL) {
        fprintf(stderr, "fake-openai: evhttp_accept_socket_with_handle failed\n");
        close(fd);
        goto out;
    }
    sigs[0] = evsignal_new(g.base, SIGTERM, on_signal, g.base);
    sigs[1] = evsignal_new(g.base, SIGINT, on_signal, g.base);
    if (sigs[0] == NULL || sigs[1] == NULL || event_add(sigs[0], NULL) == -1 ||
        event_add(sigs[1], NULL) == -1) {
        fprintf(stderr, "fake-openai: cannot install signal handlers\n");
        goto out;
    }
    if (port_file != NULL && write_port_file(port_file, bound) != 0) {
        fprintf(stderr, "fake-openai: cannot write %s\n", port_file);
        goto out;
    }
    printf("%d\n", bound);
    fflush(stdout);
    rc = event_base_dispatch(g.base) == -1 ? 1 : 0;
out:
    cleanup(sigs, 2);
    return rc;
}
