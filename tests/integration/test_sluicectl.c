/* SPDX-License-Identifier: MIT */
/* test_sluicectl.c - the built sluicectl binary against an in-memory fake of the admin API
 * (/admin/v1) served by an evhttp thread: every command's request and output, refusals, exit
 * statuses, and that the admin key never shows. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "harness.h"

#define SLUICECTL SL_TEST_BUILDDIR "/tools/sluicectl/sluicectl"
#define ADMIN_KEY "adm-TEST-SECRET-5d1c9e77a2b84f03"
#define KEY_ENV "SLUICE_ADMIN_KEY=" ADMIN_KEY
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_TENANTS 16
#define MAX_KEYS 8

/* ------------------------------------------------------------------ the fake admin API */

struct fk_tenant {
    bool live;
    bool is_static;
    char name[64];
    json_int_t rpm, tpm, budget, used;
    char period[8];
    char models[256];        /* the "models" array as JSON text, "[]" = every model */
    char guard[64];          /* "" = the default policy (null) */
    char keys[MAX_KEYS][24]; /* "" = free or revoked */
};

static struct {
    pthread_mutex_t lock;
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    char sock[108];
    bool disabled; /* answer 403 as without [admin] key_sha256 */
    int requests;
    char method[8];
    char path[512];
    char auth[512];
    char ctype[128];
    char body[2048];
    pid_t watch_pid; /* sluicectl: look for the key in its /proc cmdline */
    bool key_in_cmdline;
    int key_seq;
    struct fk_tenant t[MAX_TENANTS];
} fk = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

    evbuffer_add(b, s, strlen(s));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, NULL, b);
    evbuffer_free(b);
    free(s);
    json_decref(j);
}

__attribute__((format(printf, 3, 4))) static void send_detail(struct evhttp_request *req, int code,
                                                              const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_json(req, code, json_pack("{s:s}", "detail", msg));
}

static struct fk_tenant *find(const char *name)
{
    for (int i = 0; i < MAX_TENANTS; i++)
        if (fk.t[i].live && strcmp(fk.t[i].name, name) == 0)
            return &fk.t[i];
    return NULL;
}

static int nkeys(const struct fk_tenant *t)
{
    int n = 0;

    for (int i = 0; i < MAX_KEYS; i++)
        n += t->keys[i][0] != '\0';
    return n;
}

static json_t *tenant_json(const struct fk_tenant *t, bool with_ids)
{
    json_t *j = json_pack("{s:s, s:b, s:I, s:I, s:I, s:s, s:i}", "name", t->name, "static",
                          t->is_static, "rpm", t->rpm, "tpm", t->tpm, "token_budget", t->budget,
                          "budget_period", t->period, "keys", nkeys(t));
    json_t *ids = json_array();

    json_object_set_new(j, "models", json_loads(t->models, 0, NULL));
    json_object_set_new(j, "guard", t->guard[0] ? json_string(t->guard) : json_null());
    for (int i = 0; with_ids && i < MAX_KEYS; i++)
        if (t->keys[i][0])
            json_array_append_new(ids, json_string(t->keys[i]));
    if (with_ids)
        json_object_set_new(j, "key_ids", ids);
    else
        json_decref(ids);
    return j;
}

static json_t *usage_json(const struct fk_tenant *t)
{
    json_int_t rem = t->budget > t->used ? t->budget - t->used : 0;
    json_t *reset =
        strcmp(t->period, "none") == 0 ? json_null() : json_string("2026-11-26T00:00:00Z");

    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "tenant", t->name, "period", t->period,
                     "used", t->used, "reserved", (json_int_t)0, "budget", t->budget, "remaining",
                     rem, "reset_at", reset);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 63 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* "models" from body, as the gateway checks it: only gpt-4o-mini and gpt-4o are served. */
static bool apply_models(struct evhttp_request *req, struct fk_tenant *t, json_t *body)
{
    json_t *m = json_object_get(body, "models"), *v;
    char *text;
    size_t i;

    if (!m)
        return true;
    if (!json_is_array(m)) {
        send_detail(req, 422, "models must be an array of model names");
        return false;
    }
    json_array_foreach(m, i, v)
    {
        if (!json_is_string(v)) {
            send_detail(req, 422, "models must be an array of model names");
            return false;
        }
        if (strcmp(json_string_value(v), "gpt-4o-mini") != 0 &&
            strcmp(json_string_value(v), "gpt-4o") != 0) {
            send_detail(req, 400, "models: model '%s' is not configured", json_string_value(v));
            return false;
        }
    }
    text = json_dumps(m, JSON_COMPACT);
    snprintf(t->models, sizeof(t->models), "%s", text);
    free(text);
    return true;
}

/* "guard" from body, as the gateway checks it: only [guard.strict] is configured. */
static bool apply_guard(struct evhttp_request *req, struct fk_tenant *t, json_t *body)
{
    json_t *g = json_object_get(body, "guard");
    const char *name = json_string_value(g);

    if (!g)
        return true;
    if (!json_is_null(g) && !name) {
        send_detail(req, 422, "guard must be a policy name, \"none\" or null");
        return false;
    }
    if (name && strcmp(name, "strict") != 0 && strcmp(name, "none") != 0 && name[0]) {
        send_detail(req, 422, "guard: no policy named '%s'", name);
        return false;
    }
    snprintf(t->guard, sizeof(t->guard), "%s", name ? name : "");
    return true;
}

/* Apply rpm/tpm/token_budget/budget_period/models/guard from body; false (and a 4xx sent)
 * if invalid. */
static bool apply_limits(struct evhttp_request *req, struct fk_tenant *t, json_t *body)
{
    static const char *const names[] = { "rpm", "tpm", "token_budget" };
    json_int_t *dst[] = { &t->rpm, &t->tpm, &t->budget };
    json_t *v, *p = json_object_get(body, "budget_period");

    for (size_t i = 0; i < COUNT(names); i++) {
        if (!(v = json_object_get(body, names[i])))
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 1000000000000000LL) {
            send_detail(req, 422, "%s must be an integer from 0 to 10^15", names[i]);
            return false;
        }
        *dst[i] = json_integer_value(v);
    }
    if (p &&
        (!json_is_string(p) || !strstr(" minute hour day month none ", json_string_value(p)))) {
        send_detail(req, 422, "budget_period must be minute, hour, day, month or none");
        return false;
    }
    if (p)
        snprintf(t->period, sizeof(t->period), "%s", json_string_value(p));
    return apply_models(req, t, body) && apply_guard(req, t, body);
}

static struct fk_tenant *new_tenant(const char *name, bool is_static)
{
    for (int i = 0; i < MAX_TENANTS; i++) {
        if (fk.t[i].live)
            continue;
        memset(&fk.t[i], 0, sizeof(fk.t[i]));
        fk.t[i].live = true;
        fk.t[i].is_static = is_static;
        snprintf(fk.t[i].name, sizeof(fk.t[i].name), "%s", name);
        fk.t[i].rpm = 60;
        fk.t[i].tpm = 40000;
        fk.t[i].budget = 200000;
        snprintf(fk.t[i].period, sizeof(fk.t[i].period), "day");
        snprintf(fk.t[i].models, sizeof(fk.t[i].models), "[]");
        return &fk.t[i];
    }
    return NULL;
}

static void on_list(struct evhttp_request *req)
{
    json_t *arr = json_array();

    for (int i = 0; i < MAX_TENANTS; i++)
        if (fk.t[i].live)
            json_array_append_new(arr, tenant_json(&fk.t[i], false));
    send_json(req, 200, json_pack("{s:o}", "tenants", arr));
}

static void on_create(struct evhttp_request *req, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    struct fk_tenant tmp, *t;

    if (!name || !name_ok(name))
        return send_detail(req, 422, "name must be 1-63 characters of A-Z a-z 0-9 _ . -");
    if (find(name))
        return send_detail(req, 409, "tenant \"%s\" already exists", name);
    memset(&tmp, 0, sizeof(tmp));
    tmp.rpm = 60;
    tmp.tpm = 40000;
    tmp.budget = 200000;
    snprintf(tmp.period, sizeof(tmp.period), "day");
    snprintf(tmp.models, sizeof(tmp.models), "[]");
    if (!apply_limits(req, &tmp, body))
        return;
    t = new_tenant(name, false);
    memcpy(t->period, tmp.period, sizeof(t->period));
    memcpy(t->models, tmp.models, sizeof(t->models));
    memcpy(t->guard, tmp.guard, sizeof(t->guard));
    t->rpm = tmp.rpm;
    t->tpm = tmp.tpm;
    t->budget = tmp.budget;
    send_json(req, 201, tenant_json(t, true));
}

static void on_new_key(struct evhttp_request *req, struct fk_tenant *t)
{
    char key[64];

    for (int i = 0; i < MAX_KEYS; i++) {
        if (t->keys[i][0])
            continue;
        fk.key_seq++;
        snprintf(t->keys[i], sizeof(t->keys[i]), "key_%016x", 0xabc000u + fk.key_seq);
        snprintf(key, sizeof(key), "sk-sluice-%032x", 0x5eed00u + fk.key_seq);
        send_json(req, 201, json_pack("{s:s, s:s}", "key", key, "id", t->keys[i]));
        return;
    }
    send_detail(req, 409, "too many keys");
}

static void on_revoke(struct evhttp_request *req, const char *id)
{
    for (int i = 0; i < MAX_TENANTS; i++) {
        for (int k = 0; fk.t[i].live && k < MAX_KEYS; k++) {
            if (strcmp(fk.t[i].keys[k], id) != 0)
                continue;
            fk.t[i].keys[k][0] = '\0';
            send_json(req, 200, json_pack("{s:s}", "revoked", id));
            return;
        }
    }
    send_detail(req, 404, "unknown key \"%s\"", id);
}

static void on_slow_reply(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_detail(arg, 200, "late");
}

/* Tenants whose name asks the fake to misbehave. */
static bool misbehave(struct evhttp_request *req, const char *name)
{
    struct evbuffer *b;
    struct timeval tv = { 3, 0 };

    if (strcmp(name, "echo-key") == 0) {
        send_detail(req, 422, "bad header: %s", fk.auth);
    } else if (strcmp(name, "echo-key-ok") == 0) {
        send_json(req, 200, json_pack("{s:s}", "name", fk.auth));
    } else if (strcmp(name, "html") == 0 || strcmp(name, "garbage") == 0) {
        b = evbuffer_new();
        evbuffer_add_printf(b, "<html><body>oops</body></html>");
        evhttp_send_reply(req, name[0] == 'h' ? 502 : 200, NULL, b);
        evbuffer_free(b);
    } else if (strcmp(name, "slow") == 0) {
        event_base_once(fk.base, -1, EV_TIMEOUT, on_slow_reply, req, &tv);
    } else {
        return false;
    }
    return true;
}

static void on_tenant(struct evhttp_request *req, enum evhttp_cmd_type m, char **seg, int n,
                      json_t *body)
{
    struct fk_tenant *t;

    if (misbehave(req, seg[1]))
        return;
    if (!(t = find(seg[1])))
        return send_detail(req, 404, "unknown tenant \"%s\"", seg[1]);
    if (n == 2 && m == EVHTTP_REQ_GET)
        return send_json(req, 200, tenant_json(t, true));
    if (n == 2 && m == EVHTTP_REQ_DELETE && t->is_static)
        return send_detail(req, 409, "tenant \"%s\" is static: edit the config file", t->name);
    if (n == 2 && m == EVHTTP_REQ_DELETE) {
        t->live = false;
        return send_json(req, 200, json_pack("{s:s}", "deleted", t->name));
    }
    if (n == 2 && m == EVHTTP_REQ_PATCH && t->is_static)
        return send_detail(req, 409,
                           "tenant \"%s\" is static: its limits are the config "
                           "file's",
                           t->name);
    if (n == 2 && m == EVHTTP_REQ_PATCH && apply_limits(req, t, body))
        return send_json(req, 200, tenant_json(t, true));
    if (n == 2 && m == EVHTTP_REQ_PATCH)
        return;
    if (n == 3 && m == EVHTTP_REQ_POST && strcmp(seg[2], "keys") == 0)
        return on_new_key(req, t);
    if (n == 3 && m == EVHTTP_REQ_GET && strcmp(seg[2], "usage") == 0)
        return send_json(req, 200, usage_json(t));
    if (n == 4 && m == EVHTTP_REQ_POST && strcmp(seg[2], "usage") == 0 &&
        strcmp(seg[3], "reset") == 0) {
        t->used = 0;
        return send_json(req, 200, usage_json(t));
    }
    send_detail(req, 404, "no such route");
}

static void route(struct evhttp_request *req, enum evhttp_cmd_type m, char *path, json_t *body)
{
    char *seg[8], *save = NULL, *s;
    int n = 0;

    if (strncmp(path, "/admin/v1/", 10) != 0)
        return send_detail(req, 404, "not found");
    for (s = strtok_r(path + 10, "/", &save); s && n < 8; s = strtok_r(NULL, "/", &save))
        seg[n++] = s;
    if (n == 1 && strcmp(seg[0], "tenants") == 0 && m == EVHTTP_REQ_GET)
        return on_list(req);
    if (n == 1 && strcmp(seg[0], "tenants") == 0 && m == EVHTTP_REQ_POST)
        return on_create(req, body);
    if (n >= 2 && strcmp(seg[0], "tenants") == 0)
        return on_tenant(req, m, seg, n, body);
    if (n == 2 && strcmp(seg[0], "keys") == 0 && m == EVHTTP_REQ_DELETE)
        return on_revoke(req, seg[1]);
    send_detail(req, 404, "not found");
}

static void record(struct evhttp_request *req, const char *path, const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(h, "Authorization");
    const char *ctype = evhttp_find_header(h, "Content-Type");
    static const char *const names[] = { "GET",     "POST",  "HEAD",    "PUT",  "DELETE",
                                         "OPTIONS", "TRACE", "CONNECT", "PATCH" };
    unsigned m = (unsigned)evhttp_request_get_command(req);
    int bit = 0;

    while (bit < 9 && !(m & (1u << bit)))
        bit++;
    fk.requests++;
    snprintf(fk.method, sizeof(fk.method), "%s", bit < 9 ? names[bit] : "?");
    snprintf(fk.path, sizeof(fk.path), "%s", path);
    snprintf(fk.auth, sizeof(fk.auth), "%s", auth ? auth : "");
    snprintf(fk.ctype, sizeof(fk.ctype), "%s", ctype ? ctype : "");
    snprintf(fk.body, sizeof(fk.body), "%.*s", (int)len, body);
}

/* Is the admin key anywhere in the running sluicectl's command line? */
static void watch_cmdline(void)
{
    char proc[64], *cmd;
    size_t n;

    if (fk.watch_pid <= 0)
        return;
    snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int)fk.watch_pid);
    cmd = h_read_file(proc, &n);
    for (size_t i = 0; i < n; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    if (n && memmem(cmd, n, ADMIN_KEY, strlen(ADMIN_KEY)))
        fk.key_in_cmdline = true;
    free(cmd);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *raw = (const char *)evbuffer_pullup(in, -1);
    const char *upath = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    char *path = evhttp_uridecode(upath ? upath : "/", 0, NULL);
    json_t *body = len ? json_loadb(raw, len, 0, NULL) : NULL;

    (void)arg;
    pthread_mutex_lock(&fk.lock);
    record(req, path, raw ? raw : "", len);
    watch_cmdline();
    if (fk.disabled)
        send_detail(req, 403, "admin API disabled: set [admin] key_sha256");
    else if (strcmp(fk.auth, "Bearer " ADMIN_KEY) != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"sluice-admin\"");
        send_detail(req, 401, "invalid admin key");
    } else if (len && !json_is_object(body))
        send_detail(req, 422, "body is not a JSON object");
    else
        route(req, evhttp_request_get_command(req), path, body);
    pthread_mutex_unlock(&fk.lock);
    json_decref(body);
    free(path);
}

static void *serve(void *arg)
{
    (void)arg;
    event_base_dispatch(fk.base);
    return NULL;
}

static void bind_unix(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct evconnlistener *l;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    snprintf(fk.sock, sizeof(fk.sock), "%s/admin-%d.sock", h_tmpdir(), (int)getpid());
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fk.sock);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(listen(fd, 16) == 0);
    l = evconnlistener_new(fk.base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    cr_assert_not_null(l);
    cr_assert_not_null(evhttp_bind_listener(fk.http, l));
}

/* Start the fake on a loopback port the kernel picks and on a Unix socket, with one static
 * tenant like a [tenant.static-one] section. */
static void fake_start(void)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    fk.base = event_base_new();
    fk.http = evhttp_new(fk.base);
    cr_assert(fk.base && fk.http);
    evhttp_set_allowed_methods(fk.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT);
    evhttp_set_gencb(fk.http, on_request, NULL);
    bs = evhttp_bind_socket_with_handle(fk.http, "127.0.0.1", 0);
    cr_assert_not_null(bs);
    cr_assert(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len) == 0);
    fk.port = ntohs(sa.sin_port);
    bind_unix();
    new_tenant("static-one", true);
    cr_assert(pthread_create(&fk.thread, NULL, serve, NULL) == 0);
}

/* ------------------------------------------------------------------ running sluicectl */

struct run {
    int status; /* exit status, 128+signal, -1 on a timeout */
    char *out;
    size_t out_len;
    char *err;
};

static bool pass_through(const char *var)
{
    static const char *const keep[] = { "ASAN_OPTIONS=",    "UBSAN_OPTIONS=", "LSAN_OPTIONS=",
                                        "LD_LIBRARY_PATH=", "LD_PRELOAD=",    "PATH=" };

    for (size_t i = 0; i < COUNT(keep); i++)
        if (strncmp(var, keep[i], strlen(keep[i])) == 0)
            return true;
    return false;
}

/* A clean environment (no SLUICE_ADMIN_KEY or SLUICECTL_URL from outside) plus env. */
static void make_env(const char **envp, size_t max, const char *const *env)
{
    extern char **environ;
    size_t n = 0;

    for (char **e = environ; *e && n + 1 < max; e++)
        if (pass_through(*e))
            envp[n++] = *e;
    for (; env && *env && n + 1 < max; env++)
        envp[n++] = *env;
    envp[n] = NULL;
}

/* Run sluicectl with argv (after argv[0]) and env; stdout and stderr go to scratch files. */
static void run_env(struct run *r, const char *const *env, const char *const *args)
{
    static int seq;
    const char *argv[32] = { SLUICECTL }, *envp[64];
    char out[320], err[320];
    pid_t pid;
    size_t n = 1;

    for (; args && *args && n + 1 < COUNT(argv); args++)
        argv[n++] = *args;
    argv[n] = NULL;
    make_env(envp, COUNT(envp), env);
    snprintf(out, sizeof(out), "%s/out-%d-%d", h_tmpdir(), (int)getpid(), ++seq);
    snprintf(err, sizeof(err), "%s/err-%d-%d", h_tmpdir(), (int)getpid(), seq);
    pthread_mutex_lock(&fk.lock);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        execve(SLUICECTL, (char *const *)argv, (char *const *)envp);
        _exit(127);
    }
    fk.watch_pid = pid;
    pthread_mutex_unlock(&fk.lock);
    h_cleanup_pid(pid);
    r->status = h_wait_exit(pid, 20000);
    pthread_mutex_lock(&fk.lock);
    fk.watch_pid = 0;
    pthread_mutex_unlock(&fk.lock);
    r->out = h_read_file(out, &r->out_len);
    r->err = h_read_file(err, NULL);
}

static char *url(void)
{
    static char u[64];

    snprintf(u, sizeof(u), "http://127.0.0.1:%d", fk.port);
    return u;
}

/* sluicectl --url FAKE ARGS... with the admin key in the environment. */
#define CTL(r, ...)                                                                                \
    do {                                                                                           \
        const char *env_[] = { KEY_ENV, NULL };                                                    \
        const char *args_[] = { "--url", url(), __VA_ARGS__, NULL };                               \
        run_env((r), env_, args_);                                                                 \
    } while (0)

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static json_t *parse(const struct run *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->out, r->out_len, 0, &e);

    cr_assert_not_null(j, "stdout is not JSON (%s): '%s' (stderr '%s')", e.text, r->out, r->err);
    return j;
}

static int requests(void)
{
    int n;

    pthread_mutex_lock(&fk.lock);
    n = fk.requests;
    pthread_mutex_unlock(&fk.lock);
    return n;
}

/* Success: exit 0, nothing on stderr, stdout is JSON indented by two spaces. */
static json_t *ok_json(const struct run *r)
{
    cr_assert_eq(r->status, 0, "exit %d, stderr: %s", r->status, r->err);
    cr_assert_str_empty(r->err);
    cr_assert(r->out_len > 0 && r->out[r->out_len - 1] == '\n');
    if (strchr(r->out, '\n') != r->out + r->out_len - 1)
        cr_assert_not_null(strstr(r->out, "{\n  \""), "not indented by 2: %s", r->out);
    return parse(r);
}

/* Failure: the given exit status and exactly one line on stderr, the given one. */
static void fails(const struct run *r, int status, const char *line)
{
    cr_assert_eq(r->status, status, "exit %d (want %d), stderr: %s", r->status, status, r->err);
    cr_assert_str_empty(r->out);
    cr_assert_eq(strncmp(r->err, "sluicectl: ", 11), 0, "stderr: %s", r->err);
    cr_assert_eq(strchr(r->err, '\n'), r->err + strlen(r->err) - 1, "not one line: %s", r->err);
    if (line)
        cr_assert_str_eq(r->err, line);
}

static void no_key_leak(const struct run *r)
{
    cr_assert_null(strstr(r->out, ADMIN_KEY), "admin key on stdout");
    cr_assert_null(strstr(r->err, ADMIN_KEY), "admin key on stderr");
    cr_assert_not(fk.key_in_cmdline, "admin key in /proc/PID/cmdline");
}

static void create(const char *name)
{
    struct run r;

    CTL(&r, "tenant", "create", name);
    cr_assert_eq(r.status, 0, "create %s: %s", name, r.err);
    run_free(&r);
}

TestSuite(sluicectl, .init = fake_start, .timeout = 60);

/* ------------------------------------------------------------------ help */

Test(sluicectl, help_names_every_command_option_and_section)
{
    static const char *const needles[] = {
        "tenant create NAME",
        "tenant list",
        "tenant show NAME",
        "tenant set NAME",
        "tenant delete NAME",
        "key create NAME",
        "key revoke KEYID",
        "usage NAME",
        "usage reset NAME",
        "help [COMMAND]",
        "--url",
        "--admin-key-file",
        "--timeout-ms",
        "--rpm",
        "--tpm",
        "--budget",
        "--period",
        "--models LIST",
        "--guard POLICY",
        "--version",
        "minute, hour, day, month",
        "SYNOPSIS",
        "ENVIRONMENT",
        "SLUICECTL_URL",
        "SLUICE_ADMIN_KEY",
        "EXIT STATUS",
        "EXAMPLES",
        "unix:/",
    };
    static const char *const forms[][2] = { { "--help", NULL }, { "-h", NULL }, { "help", NULL } };
    struct run r;

    for (size_t f = 0; f < COUNT(forms); f++) {
        run_env(&r, NULL, forms[f]);
        cr_assert_eq(r.status, 0, "%s: exit %d", forms[f][0], r.status);
        cr_assert_str_empty(r.err);
        for (size_t i = 0; i < COUNT(needles); i++)
            cr_assert_not_null(strstr(r.out, needles[i]), "%s lacks '%s'", forms[f][0], needles[i]);
        run_free(&r);
    }
    cr_assert_eq(requests(), 0);
}

Test(sluicectl, help_for_one_command)
{
    const char *a1[] = { "help", "tenant", "set", NULL };
    const char *a2[] = { "key", "create", "--help", NULL };
    const char *a3[] = { "help", "frobnicate", NULL };
    struct run r;

    run_env(&r, NULL, a1);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "tenant set NAME"));
    cr_assert_not_null(strstr(r.out, "--budget N"));
    cr_assert_null(strstr(r.out, "key revoke"));
    run_free(&r);
    run_env(&r, NULL, a2);
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "key create NAME"));
    cr_assert_null(strstr(r.out, "tenant list"));
    run_free(&r);
    run_env(&r, NULL, a3);
    fails(&r, 2, NULL);
    run_free(&r);
}

Test(sluicectl, version)
{
    const char *a[] = { "--version", NULL };
    struct run r;

    run_env(&r, NULL, a);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(strncmp(r.out, "sluicectl ", 10), 0, "%s", r.out);
    cr_assert_eq(strchr(r.out, '\n'), r.out + r.out_len - 1);
    run_free(&r);
}

/* ------------------------------------------------------------------ tenants */

Test(sluicectl, tenant_create_sends_the_limits_and_prints_the_tenant)
{
    struct run r;
    json_t *j, *sent;

    CTL(&r, "tenant", "create", "acme", "--rpm", "120", "--tpm=0", "--budget", "1000000000000000",
        "--period", "month");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "POST");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants");
    cr_assert_str_eq(fk.auth, "Bearer " ADMIN_KEY);
    cr_assert_str_eq(fk.ctype, "application/json");
    sent = json_loads(fk.body, 0, NULL);
    cr_assert_not_null(sent, "body: %s", fk.body);
    cr_assert_eq(json_object_size(sent), 5, "body: %s", fk.body);
    cr_assert_str_eq(json_string_value(json_object_get(sent, "name")), "acme");
    cr_assert_eq(json_integer_value(json_object_get(sent, "rpm")), 120);
    cr_assert(json_is_integer(json_object_get(sent, "tpm")));
    cr_assert_eq(json_integer_value(json_object_get(sent, "tpm")), 0);
    cr_assert_eq(json_integer_value(json_object_get(sent, "token_budget")), 1000000000000000LL);
    cr_assert_str_eq(json_string_value(json_object_get(sent, "budget_period")), "month");
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "acme");
    cr_assert_eq(json_integer_value(json_object_get(j, "rpm")), 120);
    cr_assert_str_eq(json_string_value(json_object_get(j, "budget_period")), "month");
    cr_assert(json_is_array(json_object_get(j, "key_ids")));
    no_key_leak(&r);
    json_decref(sent);
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, tenant_create_without_limits_sends_only_the_name)
{
    struct run r;
    json_t *j;

    CTL(&r, "tenant", "create", "team_b.1");
    j = ok_json(&r);
    cr_assert_str_eq(fk.body, "{\"name\":\"team_b.1\"}");
    cr_assert_eq(json_integer_value(json_object_get(j, "tpm")), 40000);
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, tenant_name_starting_with_a_dash_after_double_dash)
{
    struct run r;
    json_t *j;

    CTL(&r, "tenant", "create", "--rpm", "5", "--", "-dash");
    j = ok_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "-dash");
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, tenant_create_twice_is_a_409_with_the_detail)
{
    struct run r;

    create("acme");
    CTL(&r, "tenant", "create", "acme");
    fails(&r, 1, "sluicectl: tenant \"acme\" already exists (409)\n");
    run_free(&r);
}

Test(sluicectl, tenant_list)
{
    struct run r;
    json_t *j, *arr;

    create("acme");
    create("beta");
    CTL(&r, "tenant", "list");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "GET");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants");
    cr_assert_str_eq(fk.body, "");
    arr = json_object_get(j, "tenants");
    cr_assert_eq(json_array_size(arr), 3, "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "name")),
                     "static-one");
    cr_assert(json_is_true(json_object_get(json_array_get(arr, 0), "static")));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 2), "name")), "beta");
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, tenant_show_and_unknown_tenant)
{
    struct run r;
    json_t *j;

    create("acme");
    CTL(&r, "tenant", "show", "acme");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "GET");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants/acme");
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "acme");
    cr_assert(json_is_array(json_object_get(j, "key_ids")));
    json_decref(j);
    run_free(&r);

    CTL(&r, "tenant", "show", "nobody");
    fails(&r, 1, "sluicectl: unknown tenant \"nobody\" (404)\n");
    run_free(&r);
}

Test(sluicectl, tenant_set_patches_only_what_is_given)
{
    struct run r;
    json_t *j;

    create("acme");
    CTL(&r, "tenant", "set", "acme", "--budget", "5000", "--period", "none");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "PATCH");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants/acme");
    cr_assert_str_eq(fk.ctype, "application/json");
    cr_assert_str_eq(fk.body, "{\"token_budget\":5000,\"budget_period\":\"none\"}");
    cr_assert_eq(json_integer_value(json_object_get(j, "token_budget")), 5000);
    cr_assert_eq(json_integer_value(json_object_get(j, "rpm")), 60);
    cr_assert_str_eq(json_string_value(json_object_get(j, "budget_period")), "none");
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, tenant_create_and_set_send_models_as_an_array)
{
    struct run r;
    json_t *j;

    CTL(&r, "tenant", "create", "acme", "--models", " gpt-4o-mini , gpt-4o");
    j = ok_json(&r);
    cr_assert_str_eq(fk.body, "{\"name\":\"acme\",\"models\":[\"gpt-4o-mini\",\"gpt-4o\"]}");
    cr_assert_eq(json_array_size(json_object_get(j, "models")), 2, "%s", r.out);
    json_decref(j);
    run_free(&r);
    /* --models alone is a change worth sending. */
    CTL(&r, "tenant", "set", "acme", "--models", "gpt-4o");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "PATCH");
    cr_assert_str_eq(fk.body, "{\"models\":[\"gpt-4o\"]}");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "models"), 0)), "gpt-4o");
    json_decref(j);
    run_free(&r);
    CTL(&r, "tenant", "show", "acme");
    j = ok_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "models")), 1, "%s", r.out);
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, tenant_set_models_empty_lifts_the_restriction)
{
    struct run r;
    json_t *j;

    CTL(&r, "tenant", "create", "acme", "--models=gpt-4o");
    run_free(&r);
    CTL(&r, "tenant", "set", "acme", "--models", "");
    j = ok_json(&r);
    cr_assert_str_eq(fk.body, "{\"models\":[]}");
    cr_assert(json_is_array(json_object_get(j, "models")));
    cr_assert_eq(json_array_size(json_object_get(j, "models")), 0, "%s", r.out);
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, a_model_the_gateway_does_not_serve_is_its_400)
{
    struct run r;

    CTL(&r, "tenant", "create", "acme", "--models", "gpt-4o,gpt-5");
    fails(&r, 1, "sluicectl: models: model 'gpt-5' is not configured (400)\n");
    run_free(&r);
}

Test(sluicectl, tenant_create_and_set_send_the_guard)
{
    struct run r;
    json_t *j;

    CTL(&r, "tenant", "create", "acme", "--guard", "strict");
    j = ok_json(&r);
    cr_assert_str_eq(fk.body, "{\"name\":\"acme\",\"guard\":\"strict\"}");
    cr_assert_str_eq(json_string_value(json_object_get(j, "guard")), "strict", "%s", r.out);
    json_decref(j);
    run_free(&r);
    /* --guard alone is a change worth sending. */
    CTL(&r, "tenant", "set", "acme", "--guard=none");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "PATCH");
    cr_assert_str_eq(fk.body, "{\"guard\":\"none\"}");
    cr_assert_str_eq(json_string_value(json_object_get(j, "guard")), "none", "%s", r.out);
    json_decref(j);
    run_free(&r);
    CTL(&r, "tenant", "show", "acme");
    j = ok_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "guard")), "none", "%s", r.out);
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, tenant_set_guard_empty_sends_null_for_the_default)
{
    struct run r;
    json_t *j;

    CTL(&r, "tenant", "create", "acme", "--guard", "strict", "--rpm", "5");
    run_free(&r);
    CTL(&r, "tenant", "set", "acme", "--guard", "");
    j = ok_json(&r);
    cr_assert_str_eq(fk.body, "{\"guard\":null}");
    cr_assert(json_is_null(json_object_get(j, "guard")), "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(j, "rpm")), 5, "the rest is kept");
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, a_policy_the_gateway_does_not_have_is_its_422)
{
    struct run r;

    CTL(&r, "tenant", "create", "acme", "--guard", "lenient");
    fails(&r, 1, "sluicectl: guard: no policy named 'lenient' (422)\n");
    run_free(&r);
}

Test(sluicectl, tenant_set_on_a_static_tenant_is_refused)
{
    struct run r;

    CTL(&r, "tenant", "set", "static-one", "--rpm", "1");
    fails(&r, 1,
          "sluicectl: tenant \"static-one\" is static: its limits are the config "
          "file's (409)\n");
    run_free(&r);
}

Test(sluicectl, tenant_delete)
{
    struct run r;
    json_t *j;

    create("acme");
    CTL(&r, "tenant", "delete", "acme");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "DELETE");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants/acme");
    cr_assert_str_eq(json_string_value(json_object_get(j, "deleted")), "acme");
    json_decref(j);
    run_free(&r);

    CTL(&r, "tenant", "delete", "acme");
    fails(&r, 1, "sluicectl: unknown tenant \"acme\" (404)\n");
    run_free(&r);
}

/* ------------------------------------------------------------------ keys */

Test(sluicectl, key_create_prints_the_key_alone_and_the_id_on_stderr)
{
    struct run r;
    char id[64];
    json_t *j;

    create("acme");
    CTL(&r, "key", "create", "acme");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert_str_eq(fk.method, "POST");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants/acme/keys");
    cr_assert_str_eq(fk.body, "");
    cr_assert_str_eq(fk.ctype, "", "an empty POST is not a form");
    cr_assert_eq(strncmp(r.out, "sk-sluice-", 10), 0, "stdout: %s", r.out);
    cr_assert_eq(strchr(r.out, '\n'), r.out + r.out_len - 1, "not one line: %s", r.out);
    cr_assert_eq(strcspn(r.out, " \t\r\n"), r.out_len - 1);
    cr_assert_eq(strncmp(r.err, "key id: key_", 12), 0, "stderr: %s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(r.err + 8, "\n"), r.err + 8);
    no_key_leak(&r);
    run_free(&r);

    CTL(&r, "tenant", "show", "acme");
    j = ok_json(&r);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "key_ids"), 0)), id);
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, key_create_for_an_unknown_tenant)
{
    struct run r;

    CTL(&r, "key", "create", "ghost");
    fails(&r, 1, "sluicectl: unknown tenant \"ghost\" (404)\n");
    run_free(&r);
}

Test(sluicectl, key_revoke)
{
    struct run r;
    char id[64];
    json_t *j;

    create("acme");
    CTL(&r, "key", "create", "acme");
    cr_assert_eq(r.status, 0);
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(r.err + 8, "\n"), r.err + 8);
    run_free(&r);

    CTL(&r, "key", "revoke", id);
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "DELETE");
    cr_assert_eq(strncmp(fk.path, "/admin/v1/keys/key_", 19), 0, "%s", fk.path);
    cr_assert_str_eq(json_string_value(json_object_get(j, "revoked")), id);
    json_decref(j);
    run_free(&r);

    CTL(&r, "key", "revoke", id);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "(404)"), "%s", r.err);
    run_free(&r);
}

/* ------------------------------------------------------------------ usage */

Test(sluicectl, usage_and_usage_reset)
{
    static const char *const fields[] = { "tenant", "period",    "used",    "reserved",
                                          "budget", "remaining", "reset_at" };
    struct run r;
    json_t *j;

    create("acme");
    fk.t[1].used = 1234;
    CTL(&r, "usage", "acme");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "GET");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants/acme/usage");
    for (size_t i = 0; i < COUNT(fields); i++)
        cr_assert_not_null(json_object_get(j, fields[i]), "no %s in %s", fields[i], r.out);
    cr_assert_eq(json_integer_value(json_object_get(j, "used")), 1234);
    json_decref(j);
    run_free(&r);

    CTL(&r, "usage", "reset", "acme");
    j = ok_json(&r);
    cr_assert_str_eq(fk.method, "POST");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants/acme/usage/reset");
    cr_assert_eq(json_integer_value(json_object_get(j, "used")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "remaining")), 200000);
    json_decref(j);
    run_free(&r);
}

Test(sluicectl, usage_reset_alone_is_the_usage_of_a_tenant_named_reset)
{
    struct run r;

    CTL(&r, "usage", "reset");
    fails(&r, 1, "sluicectl: unknown tenant \"reset\" (404)\n");
    cr_assert_str_eq(fk.method, "GET");
    cr_assert_str_eq(fk.path, "/admin/v1/tenants/reset/usage");
    run_free(&r);
}

/* ------------------------------------------------------------------ refusals, transport */

Test(sluicectl, wrong_admin_key_is_a_401_with_the_detail)
{
    const char *env[] = { "SLUICE_ADMIN_KEY=not-the-key", NULL };
    const char *args[] = { "--url", url(), "tenant", "list", NULL };
    struct run r;

    run_env(&r, env, args);
    fails(&r, 1, "sluicectl: invalid admin key (401)\n");
    cr_assert_null(strstr(r.err, "not-the-key"));
    run_free(&r);
}

Test(sluicectl, admin_api_disabled_is_a_403)
{
    struct run r;

    fk.disabled = true;
    CTL(&r, "tenant", "list");
    fails(&r, 1, "sluicectl: admin API disabled: set [admin] key_sha256 (403)\n");
    run_free(&r);
}

Test(sluicectl, a_reply_without_detail_shows_the_http_status)
{
    struct run r;

    CTL(&r, "tenant", "show", "html");
    fails(&r, 1, "sluicectl: HTTP 502 Bad Gateway\n");
    run_free(&r);
    CTL(&r, "tenant", "show", "garbage");
    fails(&r, 1, "sluicectl: the gateway's reply (HTTP 200) is not a JSON object\n");
    run_free(&r);
}

Test(sluicectl, connection_refused_is_exit_3)
{
    char dead[64];
    const char *env[] = { KEY_ENV, NULL };
    const char *args[] = { "--url", dead, "tenant", "list", NULL };
    struct run r;

    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", h_free_port());
    run_env(&r, env, args);
    fails(&r, 3, NULL);
    cr_assert_not_null(strstr(r.err, "onnect"), "%s", r.err);
    no_key_leak(&r);
    run_free(&r);
}

Test(sluicectl, timeout_is_exit_3)
{
    struct run r;
    long long t0 = h_now_ms();

    CTL(&r, "--timeout-ms", "300", "tenant", "show", "slow");
    fails(&r, 3, NULL);
    cr_assert_lt(h_now_ms() - t0, 2500);
    cr_assert_not_null(strstr(r.err, "imed out"), "%s", r.err);
    run_free(&r);
}

Test(sluicectl, unix_socket_url)
{
    char u[160];
    const char *env[] = { KEY_ENV, NULL };
    const char *args[] = { "tenant", "list", "--url", u, NULL };
    struct run r;
    json_t *j;

    snprintf(u, sizeof(u), "unix:%s", fk.sock);
    run_env(&r, env, args);
    j = ok_json(&r);
    cr_assert_str_eq(fk.path, "/admin/v1/tenants");
    cr_assert_eq(json_array_size(json_object_get(j, "tenants")), 1);
    json_decref(j);
    run_free(&r);

    snprintf(u, sizeof(u), "unix:%s/nothing.sock", h_tmpdir());
    run_env(&r, env, args);
    fails(&r, 3, NULL);
    cr_assert_not_null(strstr(r.err, "nothing.sock"), "%s", r.err);
    run_free(&r);
}

Test(sluicectl, url_from_the_environment_and_the_flag_wins)
{
    char env_url[96], dead[64];
    const char *env[] = { KEY_ENV, env_url, NULL };
    const char *plain[] = { "tenant", "list", NULL };
    const char *flag[] = { "--url", dead, "tenant", "list", NULL };
    struct run r;

    snprintf(env_url, sizeof(env_url), "SLUICECTL_URL=http://127.0.0.1:%d/", fk.port);
    run_env(&r, env, plain);
    json_decref(ok_json(&r));
    cr_assert_str_eq(fk.path, "/admin/v1/tenants");
    run_free(&r);

    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", h_free_port());
    run_env(&r, env, flag);
    fails(&r, 3, NULL);
    run_free(&r);
    cr_assert_eq(requests(), 1);
}

/* ------------------------------------------------------------------ the admin key */

Test(sluicectl, admin_key_from_a_file_first_line_trimmed)
{
    char path[320];
    const char *args[] = { "--admin-key-file", path, "--url", url(), "tenant", "list", NULL };
    const char *env[] = { "SLUICE_ADMIN_KEY=the-file-wins-over-this", NULL };
    struct run r;

    snprintf(path, sizeof(path), "%s/admin-key-%d", h_tmpdir(), (int)getpid());
    h_write_file(path, "  " ADMIN_KEY " \r\nsecond line\n");
    run_env(&r, env, args);
    json_decref(ok_json(&r));
    cr_assert_str_eq(fk.auth, "Bearer " ADMIN_KEY);
    no_key_leak(&r);
    run_free(&r);
}

Test(sluicectl, admin_key_file_problems_are_usage_errors_without_the_key)
{
    char path[320];
    const char *args[] = { "--admin-key-file", path, "--url", url(), "tenant", "list", NULL };
    struct run r;

    snprintf(path, sizeof(path), "%s/no-such-key-file", h_tmpdir());
    run_env(&r, NULL, args);
    fails(&r, 2, NULL);
    cr_assert_not_null(strstr(r.err, "no-such-key-file"));
    run_free(&r);

    snprintf(path, sizeof(path), "%s/bad-key-%d", h_tmpdir(), (int)getpid());
    h_write_file(path, ADMIN_KEY "\x01tail\n");
    run_env(&r, NULL, args);
    fails(&r, 2, NULL);
    no_key_leak(&r);
    run_free(&r);
    cr_assert_eq(requests(), 0);
}

Test(sluicectl, a_detail_echoing_the_admin_key_is_redacted)
{
    struct run r;

    CTL(&r, "tenant", "show", "echo-key");
    fails(&r, 1, "sluicectl: bad header: Bearer [redacted] (422)\n");
    no_key_leak(&r);
    run_free(&r);
}

Test(sluicectl, a_reply_echoing_the_admin_key_is_not_printed)
{
    struct run r;

    CTL(&r, "tenant", "show", "echo-key-ok");
    fails(&r, 1, NULL);
    no_key_leak(&r);
    run_free(&r);
}

Test(sluicectl, the_admin_key_never_shows_in_any_command)
{
    static const char *const cmds[][6] = {
        { "tenant", "create", "acme", "--rpm", "7", NULL },
        { "tenant", "list", NULL },
        { "tenant", "show", "acme", NULL },
        { "tenant", "set", "acme", "--tpm", "9", NULL },
        { "key", "create", "acme", NULL },
        { "usage", "acme", NULL },
        { "usage", "reset", "acme", NULL },
        { "tenant", "show", "nobody", NULL },
        { "tenant", "delete", "acme", NULL },
    };
    const char *env[] = { KEY_ENV, NULL };
    const char *args[10];
    struct run r;

    for (size_t i = 0; i < COUNT(cmds); i++) {
        size_t n = 0;

        args[n++] = "--url";
        args[n++] = url();
        for (size_t k = 0; cmds[i][k]; k++)
            args[n++] = cmds[i][k];
        args[n] = NULL;
        run_env(&r, env, args);
        cr_assert(r.status == 0 || r.status == 1, "%s: exit %d", cmds[i][0], r.status);
        no_key_leak(&r);
        run_free(&r);
    }
    cr_assert_eq(requests(), (int)COUNT(cmds));
}

/* ------------------------------------------------------------------ usage errors */

/* Arrays, not pointers: Criterion may run a test in a fresh exec of this binary, where the
 * addresses of string literals differ (ASLR). "" ends args. */
struct usage_case {
    char args[8][72];
    bool with_key;
    char needle[48]; /* in the one stderr line */
};

ParameterizedTestParameters(sluicectl, usage_errors_send_nothing)
{
    static struct usage_case cases[] = {
        { { "" }, true, "no command" },
        { { "frobnicate" }, true, "unknown command 'frobnicate'" },
        { { "tenant" }, true, "needs a subcommand" },
        { { "tenant", "rename", "a" }, true, "unknown command 'tenant rename'" },
        { { "tenant", "create" }, true, "needs NAME" },
        { { "tenant", "show", "a", "b" }, true, "got 'b'" },
        { { "tenant", "list", "extra" }, true, "takes no arguments" },
        { { "tenant", "create", "a b" }, true, "NAME 'a b'" },
        { { "tenant", "create",
            "x234567890123456789012345678901234567890123456789012345678901234" },
          true,
          "1-63" },
        { { "tenant", "create", "café" }, true, "NAME" },
        { { "tenant", "show", ".." }, true, "NAME '..'" },
        { { "key", "revoke", "key_1/../x" }, true, "KEYID" },
        { { "tenant", "create", "a", "--rpm", "-1" }, true, "--rpm: '-1'" },
        { { "tenant", "create", "a", "--rpm", "1e3" }, true, "--rpm: '1e3'" },
        { { "tenant", "create", "a", "--tpm=" }, true, "--tpm: ''" },
        { { "tenant", "create", "a", "--tpm", " 5" }, true, "--tpm" },
        { { "tenant", "create", "a", "--budget", "1000000000000001" }, true, "--budget" },
        { { "tenant", "create", "a", "--budget", "99999999999999999999999" }, true, "--budget" },
        { { "tenant", "create", "a", "--rpm", "0x10" }, true, "--rpm" },
        { { "tenant", "create", "a", "--period", "week" }, true, "--period: 'week'" },
        { { "tenant", "create", "a", "--period", "Day" }, true, "--period" },
        { { "tenant", "create", "a", "--rpm" }, true, "--rpm needs a value" },
        { { "tenant", "create", "a", "--rpm", "1", "--rpm", "2" }, true, "given twice" },
        { { "tenant", "set", "a" }, true, "at least one" },
        { { "tenant", "show", "a", "--rpm", "5" }, true, "takes no --rpm" },
        { { "tenant", "create", "a", "--models", "gpt-4o,,gpt-4o-mini" },
          true,
          "--models: 'gpt-4o,,gpt-4o-mini' has an empty" },
        { { "tenant", "set", "a", "--models=gpt-4o," }, true, "empty model name" },
        { { "tenant", "set", "a", "--models=,gpt-4o" }, true, "empty model name" },
        { { "key", "create", "a", "--models", "gpt-4o" }, true, "takes no --models" },
        { { "tenant", "create", "a", "--guard", "str ict" }, true, "--guard: 'str ict'" },
        { { "tenant", "set", "a", "--guard=[guard.strict]" }, true, "not a policy name" },
        { { "tenant", "set", "a", "--guard",
            "x234567890123456789012345678901234567890123456789012345678901234" },
          true,
          "--guard" },
        { { "usage", "a", "--guard", "strict" }, true, "takes no --guard" },
        { { "tenant", "list", "--frob" }, true, "unknown option '--frob'" },
        { { "tenant", "list" }, false, "no admin key" },
        { { "tenant", "list", "--timeout-ms", "0" }, true, "--timeout-ms" },
        { { "tenant", "list", "--timeout-ms", "3600001" }, true, "--timeout-ms" },
        { { "tenant", "list", "--url", "ftp://127.0.0.1/" }, true, "--url" },
        { { "tenant", "list", "--url", "unix:relative.sock" }, true, "--url" },
        { { "tenant", "list", "--url", "http://h/x?y" }, true, "--url" },
    };
    return cr_make_param_array(struct usage_case, cases, COUNT(cases));
}

ParameterizedTest(struct usage_case *c, sluicectl, usage_errors_send_nothing)
{
    const char *env[] = { c->with_key ? KEY_ENV : NULL, NULL };
    const char *args[12];
    bool has_url = false;
    struct run r;
    size_t n = 0;

    for (size_t i = 0; i < COUNT(c->args) && c->args[i][0]; i++)
        has_url = has_url || strcmp(c->args[i], "--url") == 0;
    if (!has_url) {
        args[n++] = "--url";
        args[n++] = url();
    }
    for (size_t i = 0; i < COUNT(c->args) && c->args[i][0]; i++)
        args[n++] = c->args[i];
    args[n] = NULL;
    run_env(&r, env, args);
    fails(&r, 2, NULL);
    cr_assert_not_null(strstr(r.err, c->needle), "stderr '%s' lacks '%s'", r.err, c->needle);
    cr_assert_eq(requests(), 0, "a usage error made a request");
    run_free(&r);
}
