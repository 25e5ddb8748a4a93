/* SPDX-License-Identifier: MIT */
/* test_lifecycle.c - the real sluiced binary: workers, supervision, signals, reload, systemd
 * notify and socket activation, listeners, and the JSON shape of every error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

TestSuite(lifecycle, .timeout = 30);

static json_t *body_json(const struct h_resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);

    cr_assert_not_null(j, "body is not JSON (%s): %.*s", e.text, (int)r->body_len, r->body);
    return j;
}

static void assert_detail(const struct h_resp *r, long status, const char *detail)
{
    json_t *j;

    cr_assert_eq(r->status, status, "status %ld, want %ld; body %s", r->status, status, r->body);
    j = body_json(r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "detail")), detail);
    cr_assert_str_eq(h_header(r, "Content-Type"), "application/json");
    json_decref(j);
}

static pid_t served_by(const struct h_daemon *d, const char *request_id)
{
    char *log = h_read_file(d->log, NULL), *p, needle[200];
    pid_t pid = 0;

    snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", request_id);
    p = strstr(log, needle);
    if (p) {
        while (p > log && p[-1] != '\n')
            p--;
        p = strstr(p, "\"pid\":");
        if (p)
            pid = (pid_t)atoi(p + 6);
    }
    free(log);
    return pid;
}

/* Ask the one worker left running (others stopped) to serve; returns the pid that did. */
static pid_t healthz_on(struct h_daemon *d, pid_t *workers, int n, int which, const char *rid)
{
    char hdr[200];
    const char *hdrs[] = { hdr, NULL };
    struct h_resp r;
    pid_t got = 0;
    int i;

    snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", rid);
    for (i = 0; i < n; i++)
        if (i != which)
            kill(workers[i], SIGSTOP);
    cr_assert_eq(h_http(d->port, "GET", "/healthz", hdrs, NULL, 0, &r), 0);
    for (i = 0; i < n; i++)
        kill(workers[i], SIGCONT);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    cr_assert_str_eq(h_header(&r, "X-Request-ID"), rid);
    h_resp_free(&r);
    for (i = 0; i < 100 && !got; i++) {
        got = served_by(d, rid);
        if (!got)
            h_sleep_ms(10);
    }
    return got;
}

Test(lifecycle, healthz_is_served_by_every_worker)
{
    struct h_daemon d;
    pid_t w[8];
    char rid[64];
    int n, i;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 3, NULL);
    h_daemon_start(&d, NULL);
    n = h_wait_children(d.pid, 3, w, 3000);
    cr_assert_eq(n, 3, "want 3 workers, have %d", n);
    for (i = 0; i < n; i++) {
        snprintf(rid, sizeof(rid), "every-worker-%d", i);
        cr_assert_eq(healthz_on(&d, w, n, i, rid), w[i], "request not served by worker %d", i);
    }
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(lifecycle, request_id_is_echoed_or_replaced)
{
    const char *sane[] = { "X-Request-ID: abc-123_XYZ.~", NULL };
    const char *spaced[] = { "X-Request-ID: has space", NULL };
    char long_hdr[300] = "X-Request-ID: ";
    const char *too_long[] = { long_hdr, NULL };
    struct h_resp r;
    const char *id;

    memset(long_hdr + strlen(long_hdr), 'a', 129);
    struct h_daemon d;
    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, NULL);
    h_daemon_start(&d, NULL);

    cr_assert_eq(h_http(d.port, "GET", "/healthz", sane, NULL, 0, &r), 0);
    cr_assert_str_eq(h_header(&r, "X-Request-ID"), "abc-123_XYZ.~");
    h_resp_free(&r);

    cr_assert_eq(h_http(d.port, "GET", "/healthz", spaced, NULL, 0, &r), 0);
    id = h_header(&r, "X-Request-ID");
    cr_assert_not_null(id);
    cr_assert_eq(strlen(id), 32, "fresh id: %s", id);
    cr_assert_eq(strspn(id, "0123456789abcdef"), 32);
    h_resp_free(&r);

    cr_assert_eq(h_http(d.port, "GET", "/healthz", too_long, NULL, 0, &r), 0);
    cr_assert_eq(strlen(h_header(&r, "X-Request-ID")), 32);
    h_resp_free(&r);

    /* No client id at all: still one, and the 404 carries it too. */
    cr_assert_eq(h_http(d.port, "GET", "/nope", NULL, NULL, 0, &r), 0);
    cr_assert_eq(strlen(h_header(&r, "X-Request-ID")), 32);
    h_resp_free(&r);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(lifecycle, errors_are_json_never_html)
{
    struct h_daemon d;
    struct h_resp r;
    json_t *j, *e;
    char *big;
    int fd;
    char *reply;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, "max_body_bytes = 1024\n");
    h_daemon_start(&d, NULL);

    cr_assert_eq(h_http(d.port, "GET", "/does-not-exist", NULL, NULL, 0, &r), 0);
    assert_detail(&r, 404, "Not Found");
    h_resp_free(&r);

    cr_assert_eq(h_http(d.port, "POST", "/healthz", NULL, "{}", 2, &r), 0);
    assert_detail(&r, 405, "Method Not Allowed");
    cr_assert_str_eq(h_header(&r, "Allow"), "GET, HEAD");
    h_resp_free(&r);

    /* Methods evhttp would answer with a 501 HTML page by default. */
    cr_assert_eq(h_http(d.port, "PATCH", "/readyz", NULL, NULL, 0, &r), 0);
    assert_detail(&r, 405, "Method Not Allowed");
    h_resp_free(&r);

    cr_assert_eq(h_http(d.port, "HEAD", "/healthz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 0);
    h_resp_free(&r);

    /* Under /v1/ errors take OpenAI's shape, all four fields present. */
    cr_assert_eq(h_http(d.port, "GET", "/v1/models/nope", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 404);
    j = body_json(&r);
    e = json_object_get(j, "error");
    cr_assert(json_is_string(json_object_get(e, "message")));
    cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    cr_assert(json_object_get(e, "param") != NULL);
    cr_assert(json_object_get(e, "code") != NULL);
    json_decref(j);
    h_resp_free(&r);

    /* A body over max_body_bytes is refused by evhttp itself; still JSON, still 413. */
    big = malloc(4096);
    memset(big, 'x', 4096);
    cr_assert_eq(h_http(d.port, "POST", "/api/chat",
                        (const char *[]){ "X-Request-ID: big-1", NULL }, big, 4096, &r),
                 0);
    assert_detail(&r, 413, "Request body too large");
    cr_assert_str_eq(h_header(&r, "X-Request-ID"), "big-1");
    free(big);
    h_resp_free(&r);

    /* A malformed request line: evhttp's 400, as JSON. */
    fd = h_connect(d.port);
    cr_assert(fd >= 0);
    cr_assert(write(fd, "GARBAGE\r\n\r\n", 11) == 11);
    reply = h_read_all(fd, 3000, NULL);
    close(fd);
    cr_assert(strncmp(reply, "HTTP/1.1 400", 12) == 0, "reply: %s", reply);
    cr_assert_not_null(strstr(reply, "Content-Type: application/json"), "reply: %s", reply);
    cr_assert_not_null(strstr(reply, "{\"detail\":\"Bad Request\""), "reply: %s", reply);
    cr_assert_null(strcasestr(reply, "<html"), "reply: %s", reply);
    free(reply);

    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* The X-Request-ID of a raw reply, copied into a static buffer ("" if none). */
static const char *reply_request_id(const char *reply)
{
    static char id[160];
    const char *p = strstr(reply, "X-Request-ID: ");

    id[0] = '\0';
    if (p)
        sscanf(p + 14, "%159[^\r\n]", id);
    return id;
}

static char *raw_reply(int port, const char *bytes)
{
    int fd = h_connect(port);
    char *reply;

    cr_assert(fd >= 0);
    cr_assert(write(fd, bytes, strlen(bytes)) == (ssize_t)strlen(bytes));
    reply = h_read_all(fd, 3000, NULL);
    close(fd);
    return reply;
}

static int log_has_request(const struct h_daemon *d, const char *id, const char *status)
{
    char rid[200];

    snprintf(rid, sizeof(rid), "\"request_id\":\"%s\"", id);
    return h_log_count(d, (const char *[]){ "\"event\":\"request\"", rid, status, NULL });
}

/* Issue 4: what evhttp answers itself (a body over the limit, a broken request line, a
 * header without a colon) had a JSON body but no access-log line and no count. */
Test(lifecycle, evhttp_own_answers_are_logged_and_counted)
{
    struct h_daemon d;
    struct h_resp r;
    char *big, *reply, garbage_id[160];
    int i;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, "max_body_bytes = 1024\n");
    h_daemon_start(&d, NULL);
    big = calloc(1, 4096);
    memset(big, 'x', 4096);
    cr_assert_eq(h_http(d.port, "POST", "/api/chat",
                        (const char *[]){ "X-Request-ID: own-413", NULL }, big, 4096, &r),
                 0);
    cr_assert_eq(r.status, 413);
    h_resp_free(&r);
    free(big);
    reply = raw_reply(d.port, "GARBAGE\r\n\r\n");
    cr_assert(strncmp(reply, "HTTP/1.1 400", 12) == 0, "%s", reply);
    snprintf(garbage_id, sizeof(garbage_id), "%s", reply_request_id(reply));
    cr_assert_eq(strlen(garbage_id), 32, "%s", reply);
    free(reply);
    reply = raw_reply(d.port, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-ID: own-400\r\n"
                              "NoColonHere\r\n\r\n");
    cr_assert_str_eq(reply_request_id(reply), "own-400", "%s", reply);
    free(reply);
    for (i = 0; i < 100 && !log_has_request(&d, "own-400", "\"status\":400"); i++)
        h_sleep_ms(10);
    cr_assert_eq(log_has_request(&d, "own-413", "\"status\":413"), 1);
    cr_assert_eq(log_has_request(&d, garbage_id, "\"status\":400"), 1);
    cr_assert_eq(log_has_request(&d, "own-400", "\"status\":400"), 1);
    cr_assert_eq(h_http(d.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    cr_assert_not_null(strstr(r.body, "sluice_requests_total{route=\"other\",code=\"413\"} 1\n"),
                       "%s", r.body);
    cr_assert_not_null(strstr(r.body, "sluice_requests_total{route=\"other\",code=\"400\"} 2\n"),
                       "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(lifecycle, killed_worker_is_replaced_within_a_second)
{
    struct h_daemon d;
    pid_t before[8], after[8], fresh = 0;
    long long t0;
    int n, i, j;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_start(&d, NULL);
    cr_assert_eq(h_wait_children(d.pid, 2, before, 3000), 2);
    t0 = h_now_ms();
    kill(before[0], SIGKILL);
    while (h_now_ms() - t0 < 1000 && !fresh) {
        n = h_children(d.pid, after, 8);
        for (i = 0; i < n && !fresh; i++) {
            for (j = 0; j < 2; j++)
                if (after[i] == before[j])
                    break;
            if (j == 2)
                fresh = after[i];
        }
        if (!fresh)
            h_sleep_ms(5);
    }
    cr_assert_neq(fresh, 0, "no replacement worker within 1 s");
    /* The replacement serves (the other worker stopped, so only it can accept). */
    pid_t pair[2] = { fresh, before[1] };
    pid_t served = 0;
    for (i = 0; i < 100 && served != fresh; i++) {
        served = healthz_on(&d, pair, 2, 0, i ? "after-respawn-again" : "after-respawn");
        if (served != fresh)
            h_sleep_ms(10);
    }
    cr_assert_eq(served, fresh);
    cr_assert(h_daemon_stop(&d, 10000) == 0);
    cr_assert_eq(h_log_count(&d, (const char *[]){ "worker_exited", "SIGKILL", NULL }) +
                     h_log_count(&d, (const char *[]){ "worker_exited", "Killed", NULL }),
                 1);
}

Test(lifecycle, sigterm_exits_zero_and_stops_listening)
{
    struct h_daemon d;
    long long t0;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_start(&d, NULL);
    t0 = h_now_ms();
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
    cr_assert_lt(h_now_ms() - t0, 3000, "idle shutdown took %lld ms", h_now_ms() - t0);
    cr_assert_not(h_port_accepts(d.port));
}

Test(lifecycle, sigint_also_stops_gracefully)
{
    struct h_daemon d;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, NULL);
    h_daemon_start(&d, NULL);
    kill(d.pid, SIGINT);
    cr_assert_eq(h_wait_exit(d.pid, 10000), 0);
}

Test(lifecycle, sighup_applies_a_changed_config)
{
    struct h_daemon d;
    struct h_resp r;
    char body[2048];
    pid_t old[8], now[8];
    int i, n;

    memset(body, 'x', sizeof(body));
    h_daemon_init(&d);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_start(&d, NULL);
    cr_assert_eq(h_wait_children(d.pid, 2, old, 3000), 2);
    cr_assert_eq(h_http(d.port, "POST", "/healthz", NULL, body, sizeof(body), &r), 0);
    cr_assert_eq(r.status, 405);
    h_resp_free(&r);

    h_daemon_write_conf(&d, 2, "max_body_bytes = 1024\n");
    kill(d.pid, SIGHUP);
    /* The new generation takes over; the old one drains and exits. */
    for (i = 0; i < 300; i++) {
        n = h_children(d.pid, now, 8);
        if (n == 2 && now[0] != old[0] && now[0] != old[1] && now[1] != old[0] && now[1] != old[1])
            break;
        h_sleep_ms(10);
    }
    cr_assert_lt(i, 300, "old generation still running");
    cr_assert_eq(h_http(d.port, "POST", "/healthz", NULL, body, sizeof(body), &r), 0);
    assert_detail(&r, 413, "Request body too large");
    h_resp_free(&r);
    cr_assert_eq(h_log_count(&d, (const char *[]){ "\"event\":\"reload_done\"", NULL }), 1);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(lifecycle, sighup_with_a_broken_config_keeps_serving)
{
    struct h_daemon d;
    struct h_resp r;
    pid_t old[8], now[8];
    int i;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_start(&d, NULL);
    cr_assert_eq(h_wait_children(d.pid, 2, old, 3000), 2);
    h_write_file(d.conf, "[server]\nlisten = 127.0.0.1:1\nworkers = lots\n[upstream]\n"
                         "base_url = http://127.0.0.1:9\n");
    kill(d.pid, SIGHUP);
    for (i = 0; i < 200; i++) {
        if (h_log_count(&d, (const char *[]){ "\"event\":\"reload_failed\"", NULL }) > 0)
            break;
        h_sleep_ms(10);
    }
    cr_assert_eq(h_log_count(&d, (const char *[]){ "\"event\":\"config_error\"", "sluice.conf:3",
                                                   "workers", NULL }),
                 1, "the log names the file, line and key");
    cr_assert_eq(h_http(d.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    cr_assert_eq(h_children(d.pid, now, 8), 2);
    cr_assert((now[0] == old[0] && now[1] == old[1]) || (now[0] == old[1] && now[1] == old[0]),
              "workers must not have been replaced");
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

static int notify_socket(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
    return fd;
}

/* Next datagram containing want, within timeout_ms; the messages seen go to seen. */
static bool await_notify(int fd, const char *want, int timeout_ms, char *seen, size_t seen_sz)
{
    long long deadline = h_now_ms() + timeout_ms;
    char buf[1024];

    while (h_now_ms() < deadline) {
        struct timeval tv = { 0, 20000 };
        ssize_t n;

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        if (seen && strlen(seen) + (size_t)n + 2 < seen_sz) {
            strcat(seen, buf);
            strcat(seen, "|");
        }
        if (strstr(buf, want))
            return true;
    }
    return false;
}

Test(lifecycle, notify_socket_gets_ready_reloading_stopping_watchdog)
{
    struct h_daemon d;
    char path[300], env_sock[320], seen[8192] = "";
    const char *env[] = { env_sock, "WATCHDOG_USEC=200000", NULL };
    int fd;

    h_daemon_init(&d);
    snprintf(path, sizeof(path), "%s/notify.sock", d.dir);
    snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%s", path);
    fd = notify_socket(path);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_spawn(&d, env);
    cr_assert(await_notify(fd, "READY=1", 5000, seen, sizeof(seen)), "seen: %s", seen);
    /* READY=1 only once workers accept. */
    cr_assert(h_port_accepts(d.port));
    cr_assert(await_notify(fd, "WATCHDOG=1", 2000, seen, sizeof(seen)), "seen: %s", seen);
    kill(d.pid, SIGHUP);
    cr_assert(await_notify(fd, "RELOADING=1", 3000, seen, sizeof(seen)), "seen: %s", seen);
    cr_assert(await_notify(fd, "READY=1", 5000, seen, sizeof(seen)), "seen: %s", seen);
    kill(d.pid, SIGTERM);
    cr_assert(await_notify(fd, "STOPPING=1", 3000, seen, sizeof(seen)), "seen: %s", seen);
    cr_assert_eq(h_wait_exit(d.pid, 10000), 0);
    cr_assert_not_null(strstr(seen, "STATUS="), "seen: %s", seen);
    close(fd);
}

/* READY=1 waits for the workers, not for the listening socket: here the workers hold off
 * accepting (their Redis is unreachable, so they wait out its 2 s grace), while the port
 * the master opened accepts connections from the first moment.  READY=1 before the workers
 * accept would arrive at once. */
Test(lifecycle, ready_waits_for_workers_that_accept_not_for_the_port)
{
    struct h_daemon d;
    char path[300], env_sock[320], seen[8192] = "", extra[256];
    const char *env[] = { env_sock, NULL };
    long long t0, ready_after;
    struct h_resp r;
    int fd;

    h_daemon_init(&d);
    snprintf(path, sizeof(path), "%s/notify.sock", d.dir);
    snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%s", path);
    fd = notify_socket(path);
    snprintf(extra, sizeof(extra), "[redis]\nurl = redis://127.0.0.1:%d\n", h_free_port());
    h_daemon_write_conf(&d, 1, extra);
    t0 = h_now_ms();
    h_daemon_spawn(&d, env);
    cr_assert(await_notify(fd, "READY=1", 8000, seen, sizeof(seen)), "seen: %s", seen);
    ready_after = h_now_ms() - t0;
    cr_assert_geq(ready_after, 1500, "READY=1 after %lld ms, before the workers accepted",
                  ready_after);
    t0 = h_now_ms();
    cr_assert_eq(h_http(d.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_lt(h_now_ms() - t0, 500, "READY=1, yet /healthz took %lld ms", h_now_ms() - t0);
    h_resp_free(&r);
    kill(d.pid, SIGTERM);
    cr_assert_eq(h_wait_exit(d.pid, 10000), 0);
    close(fd);
}

Test(lifecycle, socket_activation_uses_the_inherited_socket)
{
    struct h_daemon d;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    struct h_resp r;
    int lfd, port;
    pid_t pid;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, NULL); /* its listen port must be ignored */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(listen(lfd, 16) == 0);
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char pidbuf[32];
        int log = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

        dup2(log, 2);
        if (lfd != 3) {
            dup2(lfd, 3);
            close(lfd);
        }
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
        setenv("LISTEN_PID", pidbuf, 1);
        setenv("LISTEN_FDS", "1", 1);
        execl(H_SLUICED, "sluiced", "-c", d.conf, (char *)NULL);
        _exit(127);
    }
    close(lfd);
    d.pid = pid;
    h_cleanup_pid(pid);
    for (int i = 0; i < 500 && h_http(port, "GET", "/healthz", NULL, NULL, 0, &r) != 0; i++)
        h_sleep_ms(10);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    cr_assert_not(h_port_accepts(d.port), "the configured listen must not be opened");
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(lifecycle, unix_socket_listener)
{
    struct h_daemon d;
    struct h_resp r;
    char conf[600], sock[300];
    int i;

    h_daemon_init(&d);
    snprintf(sock, sizeof(sock), "%s/sluice.sock", d.dir);
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = unix:%s\nworkers = 1\n[upstream]\nbase_url = http://127.0.0.1:9\n",
             sock);
    h_write_file(d.conf, conf);
    h_daemon_spawn(&d, NULL);
    for (i = 0; i < 500; i++) {
        if (h_http_unix(sock, "GET", "/healthz", &r) == 0)
            break;
        h_resp_free(&r);
        h_sleep_ms(10);
    }
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    h_resp_free(&r);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
    cr_assert_neq(access(sock, F_OK), 0, "the socket file is removed on exit");
}

static int unix_listener(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
    cr_assert(listen(fd, 8) == 0);
    return fd;
}

static bool unix_accepts(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Issue 6: a unix listener unlinked whatever socket file was at its path, stealing it from
 * the process serving there.  Only a leftover (nobody accepts on it) may go. */
Test(lifecycle, a_unix_socket_in_use_is_not_taken_over)
{
    struct h_daemon d;
    struct h_resp r;
    char conf[600], sock[300];
    int theirs, i;

    h_daemon_init(&d);
    snprintf(sock, sizeof(sock), "%s/taken.sock", d.dir);
    snprintf(conf, sizeof(conf),
             "[server]\nlisten = unix:%s\nworkers = 1\n[upstream]\nbase_url = http://127.0.0.1:9\n",
             sock);
    h_write_file(d.conf, conf);
    theirs = unix_listener(sock);
    h_daemon_spawn(&d, NULL);
    cr_assert_eq(h_wait_exit(d.pid, 5000), 1, "sluiced must refuse to start");
    cr_assert(h_file_contains(d.log, "is in use"), "%s", h_read_file(d.log, NULL));
    cr_assert(unix_accepts(sock), "the running listener lost its socket");
    /* Its owner gone, the file is a leftover: the next start replaces it. */
    close(theirs);
    h_daemon_spawn(&d, NULL);
    for (i = 0; i < 500; i++) {
        if (h_http_unix(sock, "GET", "/healthz", &r) == 0)
            break;
        h_resp_free(&r);
        h_sleep_ms(10);
    }
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

static bool all_new(const pid_t *now, int n, const pid_t *old, int nold)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < nold; j++)
            if (now[i] == old[j])
                return false;
    return true;
}

/* Reload to conf, wait until reload_done number want and the old workers are gone. */
static void reload_and_settle(struct h_daemon *d, int want)
{
    pid_t old[8], now[8];
    int nold = h_children(d->pid, old, 8), n = 0, i;

    kill(d->pid, SIGHUP);
    for (i = 0; i < 500; i++) {
        n = h_children(d->pid, now, 8);
        if (h_log_count(d, (const char *[]){ "\"event\":\"reload_done\"", NULL }) == want &&
            n == 2 && all_new(now, n, old, nold))
            break;
        h_sleep_ms(10);
    }
    cr_assert_lt(i, 500, "reload %d did not complete:\n%s", want, h_read_file(d->log, NULL));
}

/* Issue 7: a new generation inherited every socket the master held, the old generation's
 * too, so a reload that moved the listener left the old port accepting (and unbindable). */
Test(lifecycle, a_reload_that_moves_listen_lets_go_of_the_old_port)
{
    struct h_daemon d;
    struct h_resp r;
    int a, b, i;

    h_daemon_init(&d);
    a = d.port;
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_start(&d, NULL);
    b = d.port = h_free_port();
    h_daemon_write_conf(&d, 2, NULL);
    reload_and_settle(&d, 1);
    cr_assert(h_port_accepts(b));
    for (i = 0; i < 100 && h_port_accepts(a); i++)
        h_sleep_ms(20);
    cr_assert_not(h_port_accepts(a), "port %d still accepts after moving to %d", a, b);
    /* And the old address can be taken again. */
    d.port = a;
    h_daemon_write_conf(&d, 2, NULL);
    reload_and_settle(&d, 2);
    cr_assert_eq(h_http(a, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    cr_assert_eq(h_log_count(&d, (const char *[]){ "\"event\":\"reload_failed\"", NULL }), 0);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* Issue 8: the soft RLIMIT_NOFILE (often 1024) capped a worker's connections far below
 * max_inflight; sluiced raises it to the hard limit, and workers inherit it. */
Test(lifecycle, the_descriptor_limit_is_raised_to_the_hard_limit)
{
    unsigned long long soft = 0, max = 0;
    struct rlimit mine;
    struct h_daemon d;
    char path[64], *limits, *line;
    rlim_t hard;
    pid_t pid, w[4];

    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &mine), 0);
    hard = mine.rlim_max < 2048 ? mine.rlim_max : 2048;
    cr_assert_gt(hard, 100, "this test needs a hard limit above 100");
    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, "[log]\nlevel = debug\n");
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = { .rlim_cur = 64, .rlim_max = hard };
        int fd = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

        dup2(fd, STDERR_FILENO);
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
            _exit(126);
        execl(H_SLUICED, "sluiced", "-c", d.conf, (char *)NULL);
        _exit(127);
    }
    d.pid = pid;
    h_cleanup_pid(pid);
    cr_assert_eq(h_wait_children(pid, 1, w, 5000), 1);
    for (int i = 0; i < 500 && !h_port_accepts(d.port); i++)
        h_sleep_ms(10);
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)w[0]);
    limits = h_read_file(path, NULL);
    line = strstr(limits, "Max open files");
    cr_assert(line && sscanf(line, "Max open files %llu %llu", &soft, &max) == 2, "%s", limits);
    cr_assert_eq(soft, (unsigned long long)hard, "the worker's soft limit: %s", line);
    cr_assert_eq(max, (unsigned long long)hard);
    free(limits);
    cr_assert_geq(
        h_log_count(&d, (const char *[]){ "\"event\":\"rlimit\"", "RLIMIT_NOFILE", NULL }), 1);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(lifecycle, master_killed_takes_workers_with_it)
{
    struct h_daemon d;
    pid_t w[8];
    int i, alive = 2;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_start(&d, NULL);
    cr_assert_eq(h_wait_children(d.pid, 2, w, 3000), 2);
    kill(d.pid, SIGKILL);
    h_wait_exit(d.pid, 2000);
    for (i = 0; i < 300 && alive; i++) {
        alive = (kill(w[0], 0) == 0) + (kill(w[1], 0) == 0);
        if (alive)
            h_sleep_ms(10);
    }
    cr_assert_eq(alive, 0, "orphaned workers must exit");
}

Test(lifecycle, readyz_reports_ready)
{
    struct h_daemon d;
    struct h_resp r;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, NULL);
    h_daemon_start(&d, NULL);
    cr_assert_eq(h_http(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"status\":\"ready\"}");
    h_resp_free(&r);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

static int run_check(const char *conf_path, char **out)
{
    char cmd[1024];
    FILE *p;
    int st;
    size_t n;

    snprintf(cmd, sizeof(cmd), "%s -t -c %s 2>&1", H_SLUICED, conf_path);
    p = popen(cmd, "r");
    *out = calloc(1, 8192);
    n = fread(*out, 1, 8191, p);
    (*out)[n] = '\0';
    st = pclose(p);
    return WEXITSTATUS(st);
}

Test(lifecycle, dash_t_checks_without_binding)
{
    struct h_daemon d;
    char *out;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, NULL);
    cr_assert_eq(run_check(d.conf, &out), 0, "%s", out);
    cr_assert_not(h_port_accepts(d.port));
    free(out);

    h_write_file(d.conf, "[server]\nworkers = 0\nmax_body_bytes = -5\n[nonsense]\nx = 1\n");
    cr_assert_eq(run_check(d.conf, &out), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sluice.conf:2"), "%s", out);
    cr_assert_not_null(strstr(out, "sluice.conf:3"), "%s", out);
    cr_assert_not_null(strstr(out, "nonsense"), "%s", out);
    free(out);
}

/* Issue 9: the https-unless-local rule used to be the master's alone, without file:line, so
 * -t passed a file the daemon then refused; and user-info slipped past as "local". */
Test(lifecycle, dash_t_reports_a_base_url_the_daemon_would_refuse)
{
    struct h_daemon d;
    char *out;

    h_daemon_init(&d);
    h_write_file(d.conf, "[server]\nworkers = 1\n[upstream]\n"
                         "base_url = http://api.example.com/v1\n");
    cr_assert_eq(run_check(d.conf, &out), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sluice.conf:4: [upstream] base_url: must be https://"), "%s",
                       out);
    free(out);
    h_write_file(d.conf, "[upstream]\nbase_url = http://localhost:1@example.com/v1\n");
    cr_assert_eq(run_check(d.conf, &out), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sluice.conf:2: [upstream] base_url: must not contain "
                                   "user-info"),
                       "%s", out);
    free(out);
}

Test(lifecycle, sighups_during_a_reload_are_coalesced_not_lost)
{
    struct h_daemon d;
    struct h_resp r;
    char body[2048];
    int i;

    memset(body, 'x', sizeof(body));
    h_daemon_init(&d);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_start(&d, NULL);
    kill(d.pid, SIGHUP);
    for (i = 0; i < 300; i++) {
        if (h_log_count(&d, (const char *[]){ "\"event\":\"reload\"", NULL }) >= 1)
            break;
        h_sleep_ms(1);
    }
    /* While that reload runs, the file changes and another SIGHUP arrives. */
    h_daemon_write_conf(&d, 2, "max_body_bytes = 1024\n");
    kill(d.pid, SIGHUP);
    for (i = 0; i < 500; i++) {
        if (h_log_count(&d, (const char *[]){ "\"event\":\"reload_done\"", NULL }) >= 2)
            break;
        h_sleep_ms(10);
    }
    cr_assert_eq(h_log_count(&d, (const char *[]){ "\"event\":\"reload_done\"", NULL }), 2);
    /* The old generation stops accepting as soon as it handles its SIGTERM; until then a new
     * connection may still reach it. */
    for (i = 0; i < 100; i++) {
        cr_assert_eq(h_http(d.port, "POST", "/healthz", NULL, body, sizeof(body), &r), 0);
        if (r.status == 413)
            break;
        h_resp_free(&r);
        h_sleep_ms(20);
    }
    assert_detail(&r, 413, "Request body too large");
    h_resp_free(&r);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(lifecycle, sigterm_during_a_reload_stops_without_announcing_ready)
{
    struct h_daemon d;
    char path[300], env_sock[320], seen[8192] = "";
    const char *env[] = { env_sock, NULL };
    int fd;

    h_daemon_init(&d);
    snprintf(path, sizeof(path), "%s/notify.sock", d.dir);
    snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%s", path);
    fd = notify_socket(path);
    h_daemon_write_conf(&d, 2, NULL);
    h_daemon_spawn(&d, env);
    cr_assert(await_notify(fd, "READY=1", 5000, seen, sizeof(seen)), "seen: %s", seen);
    kill(d.pid, SIGHUP);
    cr_assert(await_notify(fd, "RELOADING=1", 3000, seen, sizeof(seen)), "seen: %s", seen);
    kill(d.pid, SIGTERM);
    cr_assert(await_notify(fd, "STOPPING=1", 3000, seen, sizeof(seen)), "seen: %s", seen);
    seen[0] = '\0';
    cr_assert_not(await_notify(fd, "READY=1", 1000, seen, sizeof(seen)),
                  "READY=1 after STOPPING=1: %s", seen);
    cr_assert_eq(h_wait_exit(d.pid, 10000), 0);
    close(fd);
}
