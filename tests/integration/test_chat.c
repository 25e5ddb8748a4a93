/* SPDX-License-Identifier: MIT */
/* test_chat.c - POST /api/chat through the real sluiced against the fake OpenAI upstream:
 * what the upstream receives, the reply's shape, retries, deadlines, concurrency. */
#define _GNU_SOURCE
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

#define TEST_KEY "sk-test-UPSTREAM-7f3a9c1e5b"
#define KEY_ENV "OPENAI_API_KEY=" TEST_KEY

TestSuite(chat, .timeout = 60);

static struct h_fake fake;
static struct h_daemon d;

/* A gateway on 1..n workers in front of a fresh fake; extra upstream keys appended. */
static void start(int workers, const char *upstream_keys)
{
    static const char *env[] = { KEY_ENV, NULL };
    char conf[4096];

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf), "%s", h_fake_upstream_conf(&fake, upstream_keys));
    h_daemon_write_conf(&d, workers, conf);
    h_daemon_start(&d, env);
}

static void stop(void)
{
    cr_assert_eq(h_daemon_stop(&d, 15000), 0);
    cr_assert_not(h_file_contains(d.log, TEST_KEY), "the upstream key leaked into the log");
    h_fake_stop(&fake);
}

static long chat(const char *body, struct h_resp *r)
{
    const char *hdrs[] = { "Content-Type: application/json", NULL };

    cr_assert_eq(h_http(d.port, "POST", "/api/chat", hdrs, body, strlen(body), r), 0);
    return r->status;
}

static json_t *parse(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, 0, &e);

    cr_assert_not_null(j, "not JSON (%s): %.*s", e.text, (int)n, s);
    return j;
}

static int fake_count(void)
{
    return (int)h_fake_stat(&fake, "requests");
}

/* Every header of an upstream request, and nothing else: the body's length, this gateway's
 * name, the fake's address.  accept is the expected Accept, or NULL for none. */
static void check_header_set(json_t *h, json_t *body, const char *accept)
{
    static const char *const names[] = { "host",           "user-agent",    "content-type",
                                         "content-length", "authorization", "x-client-request-id" };
    char host[64], length[32];

    snprintf(host, sizeof(host), "127.0.0.1:%d", fake.port);
    snprintf(length, sizeof(length), "%zu", strlen(json_string_value(body)));
    cr_assert_str_eq(json_string_value(json_object_get(h, "host")), host);
    cr_assert_str_eq(json_string_value(json_object_get(h, "user-agent")),
                     "sluice/" PACKAGE_VERSION);
    cr_assert_str_eq(json_string_value(json_object_get(h, "content-length")), length);
    if (accept)
        cr_assert_str_eq(json_string_value(json_object_get(h, "accept")), accept);
    else
        cr_assert_null(json_object_get(h, "accept"));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_not_null(json_object_get(h, names[i]), "%s", names[i]);
    cr_assert_eq(json_object_size(h), sizeof(names) / sizeof(names[0]) + (accept ? 1 : 0),
                 "no other header");
}

Test(chat, upstream_receives_exactly_the_configured_request)
{
    const char *hdrs[] = { "X-Request-ID: chat-exact-1", NULL };
    struct h_resp r;
    json_t *reqs, *req, *h, *body, *msgs, *reply, *usage;

    start(1, "model = gpt-4o-mini\nsystem_prompt = Be brief.\nmax_tokens = 123\n"
             "temperature = 0.5\n");
    static const char sent[] = "{\"user_message\":\"  Hello there \\n\"}";

    cr_assert_eq(h_http(d.port, "POST", "/api/chat", hdrs, sent, strlen(sent), &r), 0);
    cr_assert_eq(r.status, 200, "body: %s", r.body);
    cr_assert_str_eq(h_header(&r, "Content-Type"), "application/json");
    cr_assert_str_eq(h_header(&r, "X-Request-ID"), "chat-exact-1");
    reply = parse(r.body, r.body_len);
    cr_assert_str_eq(json_string_value(json_object_get(reply, "text")),
                     "Hello! You said: Hello there");
    cr_assert_str_eq(json_string_value(json_object_get(reply, "model")), "gpt-4o-mini-2024-07-18");
    cr_assert_str_eq(json_string_value(json_object_get(reply, "finish_reason")), "stop");
    usage = json_object_get(reply, "usage");
    cr_assert(json_integer_value(json_object_get(usage, "prompt_tokens")) > 0);
    cr_assert_eq(json_integer_value(json_object_get(usage, "total_tokens")),
                 json_integer_value(json_object_get(usage, "prompt_tokens")) +
                     json_integer_value(json_object_get(usage, "completion_tokens")));
    cr_assert_eq(json_object_size(reply), 4, "exactly text, model, finish_reason, usage");
    json_decref(reply);
    h_resp_free(&r);

    reqs = h_fake_requests(&fake);
    cr_assert_eq(json_array_size(reqs), 1);
    req = json_array_get(reqs, 0);
    cr_assert_str_eq(json_string_value(json_object_get(req, "method")), "POST");
    cr_assert_str_eq(json_string_value(json_object_get(req, "path")), "/v1/chat/completions");
    h = json_object_get(req, "headers");
    cr_assert_str_eq(json_string_value(json_object_get(h, "authorization")), "Bearer " TEST_KEY);
    cr_assert_str_eq(json_string_value(json_object_get(h, "x-client-request-id")), "chat-exact-1");
    cr_assert_str_eq(json_string_value(json_object_get(h, "content-type")), "application/json");
    check_header_set(h, json_object_get(req, "body"), "*/*");
    body = parse(json_string_value(json_object_get(req, "body")),
                 strlen(json_string_value(json_object_get(req, "body"))));
    cr_assert_str_eq(json_string_value(json_object_get(body, "model")), "gpt-4o-mini");
    cr_assert_eq(json_integer_value(json_object_get(body, "max_tokens")), 123);
    cr_assert_float_eq(json_real_value(json_object_get(body, "temperature")), 0.5, 1e-9);
    cr_assert_null(json_object_get(body, "stream"));
    msgs = json_object_get(body, "messages");
    cr_assert_eq(json_array_size(msgs), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 0), "content")),
                     "Be brief.");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 1), "role")), "user");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
                     "Hello there");
    json_decref(body);
    json_decref(reqs);
    cr_assert_eq(
        h_log_wait(&d,
                   (const char *[]){ "\"event\":\"request\"", "chat-exact-1", "\"status\":200",
                                     "\"attempts\":1", "\"total_tokens\":", NULL },
                   1, 3000),
        1);
    stop();
}

/* A worker reuses a finished transfer's libcurl handle for the next one: each request still
 * goes to its own path, whatever the handle was set up for before.  (GET and DELETE after a
 * POST on a kept handle: test_surface's response operations.) */
Test(chat, a_reused_upstream_handle_follows_each_requests_path)
{
    static const char *const want[] = { "/v1/chat/completions", "/v1/embeddings",
                                        "/v1/chat/completions", "/v1/embeddings",
                                        "/v1/embeddings",       "/v1/chat/completions" };
    static const char emb[] = "{\"model\":\"gpt-4o-mini\",\"input\":\"x\"}";
    const char *hdrs[] = { "Content-Type: application/json", NULL };
    struct h_resp r;
    json_t *reqs;
    size_t i;

    start(1, NULL);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strcmp(want[i], "/v1/embeddings") == 0)
            cr_assert_eq(h_http(d.port, "POST", "/v1/embeddings", hdrs, emb, strlen(emb), &r), 0);
        else
            cr_assert_eq(chat("{\"user_message\":\"hi\"}", &r), 200);
        cr_assert_eq(r.status, 200, "%s: %s", want[i], r.body);
        h_resp_free(&r);
    }
    reqs = h_fake_requests(&fake);
    cr_assert_eq(json_array_size(reqs), sizeof(want) / sizeof(want[0]));
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        json_t *req = json_array_get(reqs, i);

        cr_assert_str_eq(json_string_value(json_object_get(req, "method")), "POST");
        cr_assert_str_eq(json_string_value(json_object_get(req, "path")), want[i], "request %zu",
                         i);
        check_header_set(json_object_get(req, "headers"), json_object_get(req, "body"), "*/*");
    }
    json_decref(reqs);
    stop();
}

Test(chat, validation_errors_are_fastapi_422s_and_never_reach_upstream)
{
    static const char *bodies[] = {
        "{}",
        "{\"user_message\":null}",
        "{\"user_message\":42}",
        "{\"user_message\":\"   \"}",
        "not json",
        "[1,2]",
        "{\"user_message\":\"ok\",\"conversation_id\":5}",
    };
    struct h_resp r;
    json_t *j, *det;
    size_t i;

    start(1, NULL);
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        cr_assert_eq(chat(bodies[i], &r), 422, "%s -> %ld %s", bodies[i], r.status, r.body);
        j = parse(r.body, r.body_len);
        det = json_array_get(json_object_get(j, "detail"), 0);
        cr_assert(json_is_string(json_object_get(det, "type")), "%s", r.body);
        cr_assert(json_is_string(json_object_get(det, "msg")), "%s", r.body);
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(det, "loc"), 0)), "body");
        json_decref(j);
        h_resp_free(&r);
    }
    cr_assert_eq(fake_count(), 0);
    stop();
}

Test(chat, upstream_429_with_retry_after_is_retried_after_the_wait)
{
    struct h_resp r;
    long long t0;

    start(1, "backoff_base_ms = 10\nbackoff_max_ms = 20\n");
    h_fake_script(&fake, "[{\"status\":429,\"headers\":{\"retry-after\":\"1\"}}]");
    t0 = h_now_ms();
    cr_assert_eq(chat("{\"user_message\":\"retry me\"}", &r), 200, "%s", r.body);
    cr_assert_geq(h_now_ms() - t0, 1000, "the retry came before Retry-After");
    cr_assert_eq(fake_count(), 2);
    h_resp_free(&r);
    stop();
}

Test(chat, persistent_5xx_gives_502_after_exactly_max_attempts)
{
    struct h_resp r;
    json_t *j;

    start(1, "max_attempts = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 50\n");
    h_fake_script(&fake, "[{\"status\":500,\"repeat\":10}]");
    cr_assert_eq(chat("{\"user_message\":\"fail\"}", &r), 502);
    j = parse(r.body, r.body_len);
    cr_assert_str_eq(json_string_value(json_object_get(j, "detail")), "Provider unavailable");
    json_decref(j);
    cr_assert_eq(fake_count(), 3);
    h_resp_free(&r);
    stop();
}

Test(chat, upstream_400_is_not_retried)
{
    struct h_resp r;

    start(1, "backoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"status\":400,\"repeat\":5}]");
    cr_assert_eq(chat("{\"user_message\":\"bad\"}", &r), 502);
    cr_assert_eq(fake_count(), 1);
    h_resp_free(&r);
    stop();
}

Test(chat, insufficient_quota_429_is_not_retried)
{
    struct h_resp r;

    start(1, "backoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"status\":429,\"error_code\":\"insufficient_quota\",\"repeat\":5}]");
    cr_assert_eq(chat("{\"user_message\":\"quota\"}", &r), 502);
    cr_assert_eq(fake_count(), 1);
    h_resp_free(&r);
    stop();
}

Test(chat, upstream_401_is_a_502_and_an_error_in_the_log)
{
    struct h_resp r;

    start(1, "backoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"status\":401,\"repeat\":5}]");
    cr_assert_eq(chat("{\"user_message\":\"key\"}", &r), 502);
    cr_assert_eq(fake_count(), 1);
    cr_assert_eq(h_log_wait(&d,
                            (const char *[]){ "\"level\":\"error\"", "upstream_attempt",
                                              "upstream_auth", NULL },
                            1, 3000),
                 1);
    h_resp_free(&r);
    stop();
}

Test(chat, attempt_timeout_then_success)
{
    struct h_resp r;

    start(1, "attempt_timeout_ms = 1500\nrequest_timeout_ms = 10000\nbackoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"delay_ms\":3000}]");
    cr_assert_eq(chat("{\"user_message\":\"slow then fast\"}", &r), 200, "%s", r.body);
    cr_assert_eq(fake_count(), 2);
    h_resp_free(&r);
    stop();
}

Test(chat, hanging_upstream_fails_within_the_request_deadline)
{
    struct h_resp r;
    long long t0, took;

    start(1, "attempt_timeout_ms = 1200\nrequest_timeout_ms = 2000\nbackoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"action\":\"hang\",\"repeat\":5}]");
    t0 = h_now_ms();
    cr_assert_eq(chat("{\"user_message\":\"hang\"}", &r), 502);
    took = h_now_ms() - t0;
    cr_assert_geq(took, 1200);
    cr_assert_leq(took, 2000 + 500, "took %lld ms", took);
    h_resp_free(&r);
    stop();
}

Test(chat, malformed_upstream_json_is_a_502)
{
    struct h_resp r;

    start(1, "max_attempts = 2\nbackoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"body_raw\":\"{\\\"choices\\\": [\",\"repeat\":5}]");
    cr_assert_eq(chat("{\"user_message\":\"garbage\"}", &r), 502);
    /* SPEC §5 retries connection errors, timeouts and retry_statuses only: a 200 that came
     * whole but malformed is an answer, and asking again may bill twice. */
    cr_assert_eq(fake_count(), 1, "a malformed 200 must not be retried");
    cr_assert_eq(h_log_wait(&d,
                            (const char *[]){ "upstream_attempt", "\"bad_response\"",
                                              "\"retry\":false", NULL },
                            1, 3000),
                 1);
    h_resp_free(&r);
    stop();
}

/* A body cut short of its Content-Length (the connection closed mid-body): never a 200 built
 * from half an answer, always 502 Provider unavailable, and the attempt is logged. */
Test(chat, a_truncated_upstream_body_is_a_502)
{
    struct h_resp r;

    start(1, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"action\":\"truncate\",\"repeat\":5}]");
    cr_assert_eq(chat("{\"user_message\":\"cut me short\"}", &r), 502);
    cr_assert_str_eq(r.body, "{\"detail\":\"Provider unavailable\"}");
    h_resp_free(&r);
    cr_assert_eq(h_log_wait(&d, (const char *[]){ "upstream_attempt", NULL }, 1, 3000), 1);
    cr_assert_eq(h_log_wait(&d, (const char *[]){ "\"event\":\"request\"", "\"status\":502", NULL },
                            1, 3000),
                 1);
    stop();
}

Test(chat, connection_refused_is_retried_then_502)
{
    static const char *env[] = { KEY_ENV, NULL };
    struct h_resp r;
    char conf[512];
    int closed = h_free_port();

    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "[upstream]\nbase_url = http://127.0.0.1:%d/v1\nmax_attempts = 3\n"
             "backoff_base_ms = 10\nbackoff_max_ms = 20\n",
             closed);
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, env);
    cr_assert_eq(chat("{\"user_message\":\"nobody home\"}", &r), 502);
    h_resp_free(&r);
    cr_assert_eq(
        h_log_wait(&d, (const char *[]){ "upstream_attempt", "connect_error", NULL }, 3, 3000), 3);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(chat, two_hundred_concurrent_requests_are_all_in_flight_upstream)
{
    static const char *hdrs[] = { "Content-Type: application/json", NULL };
    long statuses[200];
    int i, ok = 0;

    start(2, NULL);
    h_fake_script(&fake, "[{\"delay_ms\":1000,\"repeat\":200}]");
    h_http_parallel(d.port, "POST", "/api/chat", hdrs, "{\"user_message\":\"together\"}", 200,
                    statuses);
    for (i = 0; i < 200; i++)
        ok += statuses[i] == 200;
    cr_assert_eq(ok, 200, "only %d of 200 succeeded", ok);
    cr_assert_geq(h_fake_stat(&fake, "peak_inflight"), 100, "peak %ld",
                  h_fake_stat(&fake, "peak_inflight"));
    stop();
}

Test(chat, upstream_connections_are_reused)
{
    struct h_resp r;
    int i;

    start(1, NULL);
    for (i = 0; i < 5; i++) {
        cr_assert_eq(chat("{\"user_message\":\"again\"}", &r), 200);
        h_resp_free(&r);
    }
    cr_assert_eq(h_fake_stat(&fake, "connections_accepted"), 1);
    stop();
}

Test(chat, sigterm_lets_a_slow_request_finish)
{
    struct h_resp r;
    pid_t client;
    int st;

    start(1, NULL);
    h_fake_script(&fake, "[{\"delay_ms\":1500}]");
    client = fork();
    cr_assert(client >= 0);
    if (client == 0) {
        long s = chat("{\"user_message\":\"finish me\"}", &r);

        _exit(s == 200 ? 0 : 1);
    }
    /* Wait until the request reached the upstream, then ask the gateway to stop. */
    for (int i = 0; i < 200 && h_fake_stat(&fake, "inflight") < 1; i++)
        h_sleep_ms(10);
    cr_assert_eq(h_fake_stat(&fake, "inflight"), 1);
    kill(d.pid, SIGTERM);
    cr_assert_eq(waitpid(client, &st, 0), client);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the in-flight request did not get a 200");
    cr_assert_eq(h_wait_exit(d.pid, 10000), 0);
    cr_assert_not(h_file_contains(d.log, TEST_KEY));
    h_fake_stop(&fake);
}

Test(chat, refuses_to_start_without_a_key_for_a_remote_upstream)
{
    struct h_daemon x;
    int st;

    h_daemon_init(&x);
    h_daemon_write_conf(&x, 1,
                        "[upstream]\nbase_url = https://api.openai.com/v1\n"
                        "api_key_env = SLUICE_TEST_NO_SUCH_KEY\n");
    h_daemon_spawn(&x, NULL);
    st = h_wait_exit(x.pid, 5000);
    cr_assert_eq(st, 1);
    cr_assert(h_file_contains(x.log, "no upstream API key"));
}

/* Read from fd until text appears or timeout; returns what was read (malloc'd). */
static char *read_until(int fd, const char *text, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    size_t cap = 65536, n = 0;
    char *buf = calloc(1, cap);

    while (!strstr(buf, text) && h_now_ms() < deadline && n < cap - 1) {
        char *more = h_read_all(fd, 50, NULL);
        size_t m = strlen(more);

        if (m > cap - 1 - n)
            m = cap - 1 - n;
        memcpy(buf + n, more, m);
        n += m;
        buf[n] = '\0';
        free(more);
    }
    return buf;
}

Test(chat, a_draining_worker_says_so_on_readyz_and_closes_keepalive)
{
    static const char get_health[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char get_ready[] = "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n";
    struct h_resp r;
    char *got;
    pid_t client;
    int fd, st;

    start(1, NULL);
    fd = h_connect(d.port);
    cr_assert(write(fd, get_health, sizeof(get_health) - 1) > 0);
    got = read_until(fd, "{\"status\":\"ok\"}", 3000);
    cr_assert_not_null(strstr(got, "200 OK"), "%s", got);
    free(got);

    h_fake_script(&fake, "[{\"delay_ms\":1500}]");
    client = fork();
    cr_assert(client >= 0);
    if (client == 0)
        _exit(chat("{\"user_message\":\"keep me busy\"}", &r) == 200 ? 0 : 1);
    for (int i = 0; i < 200 && h_fake_stat(&fake, "inflight") < 1; i++)
        h_sleep_ms(10);
    kill(d.pid, SIGTERM);
    h_sleep_ms(200);
    cr_assert(write(fd, get_ready, sizeof(get_ready) - 1) > 0);
    got = h_read_all(fd, 3000, NULL);
    cr_assert_not_null(strstr(got, "503 Service Unavailable"), "%s", got);
    cr_assert_not_null(strstr(got, "\"draining\""), "%s", got);
    cr_assert_not_null(strstr(got, "Connection: close"), "%s", got);
    free(got);
    close(fd);
    cr_assert_eq(waitpid(client, &st, 0), client);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(h_wait_exit(d.pid, 10000), 0);
    h_fake_stop(&fake);
}

Test(chat, a_client_that_hangs_up_cancels_the_upstream_call)
{
    static const char body[] = "{\"user_message\":\"never mind\"}";
    char req[512];
    json_t *reqs = NULL;
    int fd, i;

    start(1, NULL);
    h_fake_script(&fake, "[{\"delay_ms\":20000}]");
    snprintf(req, sizeof(req),
             "POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
             body);
    fd = h_connect(d.port);
    cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    for (i = 0; i < 200 && h_fake_stat(&fake, "inflight") < 1; i++)
        h_sleep_ms(10);
    cr_assert_eq(h_fake_stat(&fake, "inflight"), 1);
    close(fd);
    for (i = 0; i < 100; i++) {
        reqs = h_fake_requests(&fake);
        if (json_is_true(json_object_get(json_array_get(reqs, 0), "client_closed")))
            break;
        json_decref(reqs);
        reqs = NULL;
        h_sleep_ms(20);
    }
    cr_assert_not_null(reqs, "the upstream call outlived its client");
    cr_assert_leq(json_integer_value(json_object_get(json_array_get(reqs, 0), "closed_after_ms")),
                  1500);
    json_decref(reqs);
    cr_assert_eq(h_log_wait(&d,
                            (const char *[]){ "\"route\":\"/api/chat\"", "\"status\":499", NULL },
                            1, 3000),
                 1);
    stop();
}

Test(chat, the_per_worker_inflight_cap_answers_503_server_busy)
{
    static const char *hdrs[] = { "Content-Type: application/json", NULL };
    long statuses[3];
    struct h_resp r;
    int busy = 0, ok = 0, i;
    json_t *j;

    char conf[1024];

    h_fake_start(&fake);
    h_daemon_init(&d);
    /* The harness writes [server] first, so a [server] key leads the extra text. */
    snprintf(conf, sizeof(conf), "max_inflight = 2\n%s", h_fake_upstream_conf(&fake, NULL));
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, (const char *[]){ KEY_ENV, NULL });
    h_fake_script(&fake, "[{\"delay_ms\":1500,\"repeat\":3}]");
    h_http_parallel(d.port, "POST", "/api/chat", hdrs, "{\"user_message\":\"x\"}", 3, statuses);
    for (i = 0; i < 3; i++) {
        busy += statuses[i] == 503;
        ok += statuses[i] == 200;
    }
    cr_assert_eq(ok, 2, "statuses %ld %ld %ld", statuses[0], statuses[1], statuses[2]);
    cr_assert_eq(busy, 1);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 2, "the refused one never went upstream");
    /* Its shape and headers, asked for while two others are held. */
    h_fake_script(&fake, "[{\"delay_ms\":1500,\"repeat\":2}]");
    pid_t kids[2];
    for (i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            _exit(chat("{\"user_message\":\"hold\"}", &r) == 200 ? 0 : 1);
    }
    for (i = 0; i < 200 && h_fake_stat(&fake, "inflight") < 2; i++)
        h_sleep_ms(10);
    cr_assert_eq(chat("{\"user_message\":\"one too many\"}", &r), 503);
    j = parse(r.body, r.body_len);
    cr_assert_str_eq(json_string_value(json_object_get(j, "detail")), "Server busy");
    cr_assert_str_eq(h_header(&r, "Retry-After"), "1");
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    cr_assert_not_null(h_header(&r, "retry-after-ms"));
    json_decref(j);
    h_resp_free(&r);
    for (i = 0; i < 2; i++)
        waitpid(kids[i], NULL, 0);
    stop();
}

Test(chat, refuses_a_remote_plain_http_upstream)
{
    struct h_daemon x;

    h_daemon_init(&x);
    h_daemon_write_conf(&x, 1, "[upstream]\nbase_url = http://api.openai.com/v1\n");
    h_daemon_spawn(&x, (const char *[]){ KEY_ENV, NULL });
    cr_assert_eq(h_wait_exit(x.pid, 5000), 1);
    cr_assert(h_file_contains(x.log, "must be https://"));
}

Test(chat, a_drain_waits_until_a_large_reply_is_written_out)
{
    static const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";
    char req[512], buf[65536];
    size_t got = 0, want = 0;
    int fd, small = 4096;
    char *hdr_end, head[8192] = "";
    ssize_t n;

    start(1, NULL);
    h_fake_script(&fake, "[{\"bytes\":8000000}]");
    snprintf(req, sizeof(req),
             "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)d.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    n = read(fd, head, sizeof(head) - 1);
    cr_assert_gt(n, 0);
    head[n] = '\0';
    hdr_end = strstr(head, "\r\n\r\n");
    cr_assert_not_null(hdr_end, "%s", head);
    cr_assert_not_null(strstr(head, "200 OK"), "%s", head);
    want = (size_t)atol(strcasestr(head, "Content-Length:") + 15);
    got = (size_t)(n - (hdr_end + 4 - head));
    /* Most of the 8 MB now waits in the worker's output buffer; ask it to stop. */
    h_sleep_ms(200);
    kill(d.pid, SIGTERM);
    h_sleep_ms(800);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        got += (size_t)n;
    close(fd);
    cr_assert_gt(want, 7000000);
    cr_assert_eq(got, want, "the client got %zu of %zu bytes", got, want);
    cr_assert_eq(h_wait_exit(d.pid, 10000), 0);
    h_fake_stop(&fake);
}

/* ---- an upstream that is not quite HTTP: a raw server answering every connection with the
 * same bytes, counting connections through a pipe ---- */

struct raw_upstream {
    pid_t pid;
    int port;
    int count_fd; /* one byte per connection served */
};

/* Read one request (headers, then Content-Length bytes), so the answer is not cut by a reset
 * for unread input. */
static void raw_read_request(int fd)
{
    char buf[65536];
    size_t n = 0;
    char *end;

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t got;

        if (poll(&p, 1, 2000) <= 0 || n == sizeof(buf) - 1)
            return;
        got = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (got <= 0)
            return;
        n += (size_t)got;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end) {
            char *cl = strcasestr(buf, "Content-Length:");
            size_t want = (size_t)(end + 4 - buf) + (cl ? (size_t)atol(cl + 15) : 0);

            if (n >= want)
                return;
        }
    }
}

static void raw_start(struct raw_upstream *u, const char *answer, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, pipefd[2];

    cr_assert(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    u->port = ntohs(sa.sin_port);
    cr_assert_eq(pipe(pipefd), 0);
    u->pid = fork();
    cr_assert(u->pid >= 0);
    if (u->pid == 0) {
        close(pipefd[0]);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            size_t off = 0;

            if (c < 0)
                continue;
            if (write(pipefd[1], "c", 1) != 1)
                _exit(1);
            raw_read_request(c);
            while (off < len) {
                ssize_t w = write(c, answer + off, len - off);

                if (w <= 0)
                    break;
                off += (size_t)w;
            }
            shutdown(c, SHUT_WR);
            raw_read_request(c); /* until the client closes */
            close(c);
        }
    }
    h_cleanup_pid(u->pid);
    close(fd);
    close(pipefd[1]);
    u->count_fd = pipefd[0];
    fcntl(u->count_fd, F_SETFL, O_NONBLOCK);
}

static int raw_connections(struct raw_upstream *u)
{
    static int seen;
    char buf[64];
    ssize_t n;

    while ((n = read(u->count_fd, buf, sizeof(buf))) > 0)
        seen += (int)n;
    return seen;
}

static void raw_stop(struct raw_upstream *u)
{
    kill(u->pid, SIGKILL);
    waitpid(u->pid, NULL, 0);
    close(u->count_fd);
}

/* Issue: a bad status line, a header block over the limit and the like were taken for
 * connection errors and retried; they are bad responses (SPEC §5: not retried). */
static void assert_bad_response_not_retried(const char *answer, size_t len)
{
    struct raw_upstream u;
    struct h_resp r;
    char conf[512];

    raw_start(&u, answer, len);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "[upstream]\nbase_url = http://127.0.0.1:%d/v1\n"
             "max_attempts = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 20\n",
             u.port);
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, (const char *[]){ KEY_ENV, NULL });
    cr_assert_eq(chat("{\"user_message\":\"odd upstream\"}", &r), 502, "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(raw_connections(&u), 1, "retried %d times", raw_connections(&u) - 1);
    cr_assert_eq(h_log_wait(&d, (const char *[]){ "upstream_attempt", NULL }, 1, 3000), 1);
    cr_assert_eq(h_log_wait(&d,
                            (const char *[]){ "upstream_attempt", "\"bad_response\"",
                                              "\"retry\":false", NULL },
                            1, 3000),
                 1, "not classified bad_response");
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
    raw_stop(&u);
}

Test(chat, an_impossible_status_line_is_a_bad_response)
{
    static const char answer[] = "HTTP/1.1 2000 OK\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 2\r\n\r\n{}";

    assert_bad_response_not_retried(answer, sizeof(answer) - 1);
}

Test(chat, http_0_9_garbage_is_a_bad_response)
{
    static const char answer[] = "garbage\r\n\r\n";

    assert_bad_response_not_retried(answer, sizeof(answer) - 1);
}

static char *big_headers(size_t count, size_t each)
{
    static const char completion[] =
        "{\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";
    size_t cap = 64 + count * (each + 16) + 512, n;
    char *a = malloc(cap);

    n = (size_t)sprintf(a, "HTTP/1.1 200 OK\r\n");
    for (size_t i = 0; i < count; i++) {
        n += (size_t)sprintf(a + n, "X-H%zu: ", i);
        memset(a + n, 'b', each);
        n += each;
        n += (size_t)sprintf(a + n, "\r\n");
    }
    /* A usable completion: only the headers are wrong. */
    n += (size_t)sprintf(a + n,
                         "Content-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         strlen(completion), completion);
    return a;
}

Test(chat, a_header_block_over_the_limit_is_a_bad_response)
{
    char *a = big_headers(100, 1000); /* 100 KB of headers */

    assert_bad_response_not_retried(a, strlen(a));
    free(a);
}

Test(chat, one_header_over_libcurls_limit_is_a_bad_response)
{
    char *a = big_headers(1, 200000); /* libcurl itself refuses it */

    assert_bad_response_not_retried(a, strlen(a));
    free(a);
}

/* Issue: an attempt the gateway abandons (the client hung up) was neither logged nor counted,
 * and the request line then lacked model and attempts. */
Test(chat, an_abandoned_attempt_is_logged_and_counted)
{
    static const char body[] = "{\"user_message\":\"never mind\"}";
    struct h_resp m;
    char req[512];
    int fd, i;

    start(1, NULL);
    h_fake_script(&fake, "[{\"delay_ms\":20000}]");
    snprintf(req, sizeof(req),
             "POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
             body);
    fd = h_connect(d.port);
    cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    for (i = 0; i < 200 && h_fake_stat(&fake, "inflight") < 1; i++)
        h_sleep_ms(10);
    cr_assert_eq(h_fake_stat(&fake, "inflight"), 1);
    close(fd);
    for (i = 0; i < 100; i++) {
        if (h_log_count(&d, (const char *[]){ "\"event\":\"request\"", NULL }) == 1)
            break;
        h_sleep_ms(20);
    }
    cr_assert_eq(h_log_wait(&d,
                            (const char *[]){ "\"event\":\"upstream_attempt\"",
                                              "\"outcome\":\"cancelled\"", "\"attempt\":1", NULL },
                            1, 3000),
                 1, "the abandoned attempt is not logged");
    cr_assert_eq(h_log_wait(&d,
                            (const char *[]){ "\"event\":\"request\"", "\"status\":499",
                                              "\"model\":\"gpt-4o-mini\"", "\"attempts\":1", NULL },
                            1, 3000),
                 1, "the request line lacks model and attempts");
    cr_assert_eq(h_http(d.port, "GET", "/metrics", NULL, NULL, 0, &m), 0);
    cr_assert_not_null(strstr(m.body, "sluice_upstream_attempts_total{outcome=\"cancelled\"} 1"),
                       "the abandoned attempt is not counted");
    cr_assert_not_null(strstr(m.body, "sluice_upstream_duration_seconds_count 1"),
                       "the abandoned attempt's duration is not counted");
    h_resp_free(&m);
    stop();
}
