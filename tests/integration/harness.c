/* SPDX-License-Identifier: MIT */
/* harness.c - process, HTTP and log helpers for the integration tests. */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <curl/curl.h>

extern char **environ;

static char tmpdir[256];
static pid_t cleanup_pids[64];
static int ncleanup;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void cleanup(void)
{
    int i;

    for (i = 0; i < ncleanup; i++)
        if (cleanup_pids[i] > 0)
            kill(cleanup_pids[i], SIGKILL);
    if (tmpdir[0] && !getenv("SL_TEST_KEEP"))
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void h_cleanup_pid(pid_t pid)
{
    if (ncleanup < (int)(sizeof(cleanup_pids) / sizeof(cleanup_pids[0])))
        cleanup_pids[ncleanup++] = pid;
}

const char *h_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-test-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
        atexit(cleanup);
    }
    return tmpdir;
}

long long h_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int h_free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    cr_assert(fd >= 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

void h_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "fopen(%s): %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

char *h_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;

    if (!f) {
        if (len)
            *len = 0;
        return strdup("");
    }
    do {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap + 1);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void h_daemon_init(struct h_daemon *d)
{
    static int seq;

    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "%s/d%d", h_tmpdir(), seq++);
    mkdir(d->dir, 0700);
    snprintf(d->conf, sizeof(d->conf), "%s/sluice.conf", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/stderr.log", d->dir);
    d->port = h_free_port();
}

void h_daemon_write_conf(struct h_daemon *d, int workers, const char *extra)
{
    char *text = NULL;

    /* No upstream named: a local dead end, so no API key is needed.  No [auth] section: every
     * client is tenant "anonymous" (tests of admission write their own). */
    const char *upstream = extra && strstr(extra, "[upstream]")
                               ? ""
                               : "[upstream]\nbase_url = http://127.0.0.1:9/v1\n";
    const char *auth = extra && strstr(extra, "[auth]") ? "" : "[auth]\nmode = none\n";
    /* ... with no limits unless the test sets some. */
    const char *limits =
        extra && strstr(extra, "[limits]") ? "" : "[limits]\nrpm = 0\ntpm = 0\ntoken_budget = 0\n";

    cr_assert(asprintf(&text,
                       "[server]\nlisten = 127.0.0.1:%d\nworkers = %d\nshutdown_timeout_ms = 5000\n"
                       "%s\n%s%s%s",
                       d->port, workers, extra ? extra : "", upstream, auth, limits) > 0);
    h_write_file(d->conf, text);
    free(text);
}

pid_t h_daemon_spawn(struct h_daemon *d, const char *const *env_extra)
{
    pid_t pid = fork();

    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        for (; env_extra && *env_extra; env_extra++)
            putenv((char *)*env_extra);
        execl(H_SLUICED, "sluiced", "-c", d->conf, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    h_cleanup_pid(pid);
    return pid;
}

bool h_port_accepts(int port)
{
    int fd = h_connect(port);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

void h_daemon_start(struct h_daemon *d, const char *const *env_extra)
{
    long long deadline = h_now_ms() + 5000;
    int status;

    h_daemon_spawn(d, env_extra);
    while (h_now_ms() < deadline) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            char *log = h_read_file(d->log, NULL);

            cr_assert_fail("sluiced exited at start (status %d):\n%s", status, log);
        }
        if (h_port_accepts(d->port))
            return;
        h_sleep_ms(10);
    }
    cr_assert_fail("sluiced did not accept on port %d within 5 s", d->port);
}

int h_wait_exit(pid_t pid, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int status;

    do {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r == -1)
            return -2;
        h_sleep_ms(5);
    } while (h_now_ms() < deadline);
    return -1;
}

/* In a sanitizer build a worker's report goes to stderr while the master still exits 0. */
void h_assert_no_sanitizer_reports(const char *log)
{
    cr_assert_not(h_file_contains(log, "Sanitizer"), "sanitizer report in %s", log);
    cr_assert_not(h_file_contains(log, "runtime error:"), "UBSan report in %s", log);
}

int h_daemon_stop(struct h_daemon *d, int timeout_ms)
{
    int r;

    kill(d->pid, SIGTERM);
    r = h_wait_exit(d->pid, timeout_ms);
    if (r == -1)
        kill(d->pid, SIGKILL);
    h_assert_no_sanitizer_reports(d->log);
    return r;
}

int h_children(pid_t pid, pid_t *out, int max)
{
    char path[64], buf[4096], *p, *end;
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (fgets(buf, sizeof(buf), f)) {
        p = buf;
        while (n < max) {
            long v = strtol(p, &end, 10);

            if (end == p)
                break;
            out[n++] = (pid_t)v;
            p = end;
        }
    }
    fclose(f);
    return n;
}

int h_wait_children(pid_t pid, int n, pid_t *out, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int got;

    do {
        pid_t all[64];

        got = h_children(pid, all, 64);
        if (got == n) {
            memcpy(out, all, (size_t)n * sizeof(*out)); /* out holds n, not 64 */
            return got;
        }
        h_sleep_ms(5);
    } while (h_now_ms() < deadline);
    return got;
}

struct grow {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct grow *g = ud;
    size_t len = size * nmemb;

    g->p = realloc(g->p, g->n + len + 1);
    memcpy(g->p + g->n, ptr, len);
    g->n += len;
    g->p[g->n] = '\0';
    return len;
}

static int perform(CURL *c, const char *method, const char *const *headers, const char *body,
                   size_t body_len, struct h_resp *out)
{
    struct grow hdr = { 0 }, data = { 0 };
    struct curl_slist *hl = NULL;
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    for (; headers && *headers; headers++)
        hl = curl_slist_append(hl, *headers);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
        hl = curl_slist_append(hl, "Expect:");
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &data);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    rc = curl_easy_perform(c);
    /* Also after a transfer error: a cut stream still had a status line. */
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->headers = hdr.p ? hdr.p : strdup("");
    out->body = data.p ? data.p : strdup("");
    out->body_len = data.n;
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -(int)rc;
}

int h_http(int port, const char *method, const char *path, const char *const *headers,
           const char *body, size_t body_len, struct h_resp *out)
{
    CURL *c = curl_easy_init();
    char url[2048];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    return perform(c, method, headers, body, body_len, out);
}

int h_http_unix(const char *sock, const char *method, const char *path, struct h_resp *out)
{
    CURL *c = curl_easy_init();
    char url[2048];

    snprintf(url, sizeof(url), "http://localhost%s", path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    return perform(c, method, NULL, NULL, 0, out);
}

const char *h_header(const struct h_resp *r, const char *name)
{
    static char val[4096];
    size_t nlen = strlen(name);
    const char *p = r->headers;

    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t linelen = eol ? (size_t)(eol - p) : strlen(p);

        if (linelen > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            size_t vlen;

            while (*v == ' ')
                v++;
            vlen = linelen - (size_t)(v - p);
            if (vlen >= sizeof(val))
                vlen = sizeof(val) - 1;
            memcpy(val, v, vlen);
            val[vlen] = '\0';
            return val;
        }
        if (!eol)
            break;
        p = eol + 2;
    }
    return NULL;
}

void h_resp_free(struct h_resp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int h_connect(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                              .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

char *h_read_all(int fd, int timeout_ms, size_t *len)
{
    long long deadline = h_now_ms() + timeout_ms;
    struct grow g = { 0 };
    char buf[16384];

    g.p = calloc(1, 1);
    for (;;) {
        long long left = deadline - h_now_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        on_data(buf, 1, (size_t)n, &g);
    }
    if (len)
        *len = g.n;
    return g.p;
}

int h_log_count(const struct h_daemon *d, const char *const *needles)
{
    char *log = h_read_file(d->log, NULL), *line, *save = NULL;
    const char *const *n;
    int count = 0;

    for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        for (n = needles; *n; n++)
            if (!strstr(line, *n))
                break;
        if (!*n)
            count++;
    }
    free(log);
    return count;
}

int h_log_wait(const struct h_daemon *d, const char *const *needles, int want, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    int got;

    while ((got = h_log_count(d, needles)) < want && h_now_ms() < deadline)
        h_sleep_ms(10);
    return got;
}

bool h_file_contains(const char *path, const char *text)
{
    char *s = h_read_file(path, NULL);
    bool found = strstr(s, text) != NULL;

    free(s);
    return found;
}

/* ---- the fake OpenAI upstream ---- */
#include <jansson.h>

void h_fake_start(struct h_fake *f)
{
    long long deadline;
    char port_arg[16];
    pid_t pid;

    memset(f, 0, sizeof(*f));
    snprintf(f->port_file, sizeof(f->port_file), "%s/fake-%ld.port", h_tmpdir(), (long)h_now_ms());
    unlink(f->port_file);
    snprintf(port_arg, sizeof(port_arg), "0");
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, STDOUT_FILENO);
        execl(H_FAKE, "sluice-fake-openai", "--port", port_arg, "--port-file", f->port_file,
              (char *)NULL);
        _exit(127);
    }
    f->pid = pid;
    h_cleanup_pid(pid);
    deadline = h_now_ms() + 5000;
    while (h_now_ms() < deadline) {
        char *s = h_read_file(f->port_file, NULL);

        f->port = atoi(s);
        free(s);
        if (f->port > 0 && h_port_accepts(f->port))
            return;
        h_sleep_ms(5);
    }
    cr_assert_fail("fake upstream did not start");
}

void h_fake_stop(struct h_fake *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        h_wait_exit(f->pid, 3000);
        f->pid = 0;
    }
}

void h_fake_script(const struct h_fake *f, const char *json_array)
{
    struct h_resp r;

    cr_assert_eq(h_http(f->port, "POST", "/_fake/script", NULL, json_array, strlen(json_array), &r),
                 0);
    cr_assert_eq(r.status, 200, "fake refused the script: %s", r.body);
    h_resp_free(&r);
}

static json_t *fake_get(const struct h_fake *f, const char *path)
{
    struct h_resp r;
    json_error_t e;
    json_t *j;

    cr_assert_eq(h_http(f->port, "GET", path, NULL, NULL, 0, &r), 0);
    j = json_loadb(r.body, r.body_len, 0, &e);
    cr_assert_not_null(j, "fake %s: %s", path, r.body);
    h_resp_free(&r);
    return j;
}

json_t *h_fake_requests(const struct h_fake *f)
{
    return fake_get(f, "/_fake/requests");
}

json_t *h_fake_stats(const struct h_fake *f)
{
    return fake_get(f, "/_fake/stats");
}

long h_fake_stat(const struct h_fake *f, const char *name)
{
    json_t *j = h_fake_stats(f);
    long v = (long)json_integer_value(json_object_get(j, name));

    json_decref(j);
    return v;
}

const char *h_fake_upstream_conf(const struct h_fake *f, const char *extra)
{
    static char buf[2048];

    snprintf(buf, sizeof(buf), "[upstream]\nbase_url = http://127.0.0.1:%d/v1\n%s\n", f->port,
             extra ? extra : "");
    return buf;
}

void h_http_parallel(int port, const char *method, const char *path, const char *const *headers,
                     const char *body, int n, long *statuses)
{
    CURLM *m = curl_multi_init();
    CURL **e = calloc((size_t)n, sizeof(*e));
    struct curl_slist *hl = NULL;
    char url[1024];
    int running, i;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    for (; headers && *headers; headers++)
        hl = curl_slist_append(hl, *headers);
    hl = curl_slist_append(hl, "Expect:");
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    for (i = 0; i < n; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        curl_easy_setopt(e[i], CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, hl);
        if (body)
            curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, on_data);
        struct grow *g = calloc(1, sizeof(*g));
        curl_easy_setopt(e[i], CURLOPT_WRITEDATA, g);
        curl_easy_setopt(e[i], CURLOPT_PRIVATE, g);
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 60000L);
        curl_easy_setopt(e[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e[i], CURLOPT_PROXY, "");
        curl_easy_setopt(e[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, e[i]);
    }
    do {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    for (i = 0; i < n; i++) {
        struct grow *g = NULL;

        statuses[i] = 0;
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &statuses[i]);
        curl_easy_getinfo(e[i], CURLINFO_PRIVATE, (char **)&g);
        if (g) {
            free(g->p);
            free(g);
        }
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    free(e);
    curl_slist_free_all(hl);
    curl_multi_cleanup(m);
}

double h_metric(int port, const char *sample)
{
    struct h_resp r;
    size_t n = strlen(sample);
    double v = -1;
    char *p;

    cr_assert_eq(h_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    for (p = r.body; p && (p = strstr(p, sample)); p++)
        if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    h_resp_free(&r);
    return v;
}

void h_sha256_hex(const char *key, char out[65])
{
    unsigned char h[32];

    SHA256((const unsigned char *)key, strlen(key), h);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

size_t h_fake_count(const struct h_fake *f)
{
    json_t *reqs = h_fake_requests(f);
    size_t n = json_array_size(reqs);

    json_decref(reqs);
    return n;
}

json_t *h_fake_last(const struct h_fake *f)
{
    json_t *reqs = h_fake_requests(f), *last;

    cr_assert_gt(json_array_size(reqs), 0, "the fake received nothing");
    last = json_incref(json_array_get(reqs, json_array_size(reqs) - 1));
    json_decref(reqs);
    return last;
}

long long h_tenant_used(int port, const char *admin_key, const char *tenant)
{
    char path[128], auth[256];
    const char *hdrs[] = { auth, NULL };
    struct h_resp r;
    long long used;
    json_t *j;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_key);
    snprintf(path, sizeof(path), "/admin/v1/tenants/%s/usage", tenant);
    cr_assert_eq(h_http(port, "GET", path, hdrs, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j, "%s", r.body);
    used = json_integer_value(json_object_get(j, "used"));
    cr_assert_eq(json_integer_value(json_object_get(j, "reserved")), 0, "a reservation is held");
    json_decref(j);
    h_resp_free(&r);
    return used;
}
