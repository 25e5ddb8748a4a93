/* SPDX-License-Identifier: MIT */
/* test_stream.c - /api/chat/stream and /v1/chat/completions through the real sluiced against
 * the fake upstream: framing and order, latency of the first token, client aborts, cut
 * streams, backpressure, and what /v1 relays. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "core/sse.h"

TestSuite(stream, .timeout = 90);

static struct h_fake fake;
static struct h_daemon d;

static void start(int workers, const char *upstream_keys)
{
    h_fake_start(&fake);
    h_daemon_init(&d);
    h_daemon_write_conf(&d, workers, h_fake_upstream_conf(&fake, upstream_keys));
    h_daemon_start(&d, NULL);
}

static void stop(void)
{
    cr_assert_eq(h_daemon_stop(&d, 15000), 0);
    h_fake_stop(&fake);
}

struct capture {
    char *p;
    size_t n;
    long long first_ms, start_ms;
    size_t abort_after; /* abort the transfer once this many bytes arrived */
};

static size_t on_bytes(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct capture *c = ud;
    size_t len = size * nmemb;

    if (c->n == 0)
        c->first_ms = h_now_ms() - c->start_ms;
    c->p = realloc(c->p, c->n + len + 1);
    memcpy(c->p + c->n, ptr, len);
    c->n += len;
    c->p[c->n] = '\0';
    if (c->abort_after && c->n >= c->abort_after)
        return 0;
    return len;
}

/* POST and capture the whole answer; returns libcurl's code (18 = cut before the end). */
static int post(const char *path, const char *body, struct capture *c, long *status)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char url[256];
    CURLcode rc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", d.port, path);
    c->start_ms = h_now_ms();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_bytes);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    rc = curl_easy_perform(e);
    *status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (!c->p)
        c->p = calloc(1, 1);
    return (int)rc;
}

/* The request's log line is written when the request ends, a moment after the client saw
 * its end: wait for it. */
static bool wait_log(const char *const *needles)
{
    for (int i = 0; i < 100; i++) {
        if (h_log_count(&d, needles) == 1)
            return true;
        h_sleep_ms(20);
    }
    return false;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(stream, api_stream_events_in_order_with_multiline_data)
{
    struct capture c = { 0 };
    long status;
    const char *usage, *done;

    start(1, NULL);
    cr_assert_eq(post("/api/chat/stream", "{\"user_message\":\"one\\ntwo\"}", &c, &status), 0);
    cr_assert_eq(status, 200);
    /* "Hello! You said: one\ntwo" arrives word by word; the newline splits a data line. */
    cr_assert_not_null(strstr(c.p, "event: token\ndata: Hello! \n\n"), "%s", c.p);
    /* The fake's token "one\n" ends in a line break: a second, empty data line carries it. */
    cr_assert_not_null(strstr(c.p, "event: token\ndata: one\ndata: \n\n"), "%s", c.p);
    cr_assert_not_null(strstr(c.p, "event: token\ndata: two\n\n"), "%s", c.p);
    usage = strstr(c.p, "event: usage\ndata: {\"prompt_tokens\":");
    done = strstr(c.p, "event: done\ndata: \n\n");
    cr_assert_not_null(usage, "%s", c.p);
    cr_assert_not_null(done, "%s", c.p);
    cr_assert_lt(usage, done);
    cr_assert_lt(strstr(c.p, "event: token"), usage);
    cr_assert_eq(strcmp(done + strlen("event: done\ndata: \n\n"), ""), 0, "done must be last");
    cr_assert_eq(count(c.p, "event: error"), 0);
    free(c.p);
    /* The upstream was asked for the usage chunk. */
    json_t *reqs = h_fake_requests(&fake);
    const char *sent = json_string_value(json_object_get(json_array_get(reqs, 0), "body"));
    cr_assert_not_null(strstr(sent, "\"stream\":true"), "%s", sent);
    cr_assert_not_null(strstr(sent, "\"include_usage\":true"), "%s", sent);
    /* A stream asks for one. */
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(reqs, 0), "headers"), "accept")),
                     "text/event-stream");
    json_decref(reqs);
    stop();
}

Test(stream, first_token_arrives_while_the_upstream_holds_the_rest)
{
    struct capture c = { 0 };
    long status;
    long long total;

    start(1, NULL);
    h_fake_script(&fake, "[{\"pause_after_chunks\":2,\"pause_ms\":1500}]");
    cr_assert_eq(post("/api/chat/stream", "{\"user_message\":\"a b c d\"}", &c, &status), 0);
    total = h_now_ms() - c.start_ms;
    cr_assert_lt(c.first_ms, 700, "first byte after %lld ms", c.first_ms);
    cr_assert_geq(total, 1500);
    cr_assert_not_null(strstr(c.p, "event: done"));
    cr_assert_null(strstr(c.p, ": ping"), "a ping after 1.5 s, not 15 s:\n%s", c.p);
    free(c.p);
    stop();
}

/* SPEC §3.2: ": ping" after stream_ping_ms (15 s by default) of silence, only while the
 * upstream is silent, and the stream goes on as before. */
Test(stream, a_silent_upstream_gets_the_client_ping_comments)
{
    static const char *const paths[] = { "/api/chat/stream", "/v1/chat/completions" };
    static const char *const bodies[] = {
        "{\"user_message\":\"a b c d\"}",
        "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"a b c d\"}]}",
    };
    char conf[1024];

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf), "stream_ping_ms = 200\n%s", h_fake_upstream_conf(&fake, NULL));
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, NULL);
    for (size_t i = 0; i < 2; i++) {
        struct capture c = { 0 };
        const char *ping, *last, *end;
        long status;
        int n;

        h_fake_script(&fake, "[{\"pause_after_chunks\":2,\"pause_ms\":1100}]");
        cr_assert_eq(post(paths[i], bodies[i], &c, &status), 0);
        cr_assert_eq(status, 200);
        n = count(c.p, ": ping\n\n");
        /* 1.1 s of silence at one ping per 200 ms: 5, fewer on a loaded machine. */
        cr_assert(n >= 2 && n <= 5, "%s: %d pings in\n%s", paths[i], n, c.p);
        /* The fake falls silent after its second chunk: the role, then the first words
         * (one token event on /api, two data lines on /v1). */
        ping = strstr(c.p, ": ping\n\n");
        last = strstr(c.p, i == 0 ? "event: token" : "data: {");
        if (i == 1 && last)
            last = strstr(last + 1, "data: {");
        cr_assert(last && last < ping, "%s: a ping before the upstream fell silent:\n%s", paths[i],
                  c.p);
        end = strstr(c.p, i == 0 ? "event: done" : "data: [DONE]");
        cr_assert(end && end > ping, "%s: the stream did not go on:\n%s", paths[i], c.p);
        free(c.p);
    }
    stop();
}

Test(stream, client_abort_closes_the_upstream_within_a_second)
{
    struct capture c = { .abort_after = 1 };
    json_t *reqs, *last;
    long status;
    int i;

    start(1, NULL);
    h_fake_script(&fake, "[{\"pause_after_chunks\":2,\"pause_ms\":20000}]");
    cr_assert_eq(post("/api/chat/stream", "{\"user_message\":\"a b c d\"}", &c, &status),
                 CURLE_WRITE_ERROR);
    for (i = 0; i < 100; i++) {
        reqs = h_fake_requests(&fake);
        last = json_array_get(reqs, json_array_size(reqs) - 1);
        if (json_is_true(json_object_get(last, "client_closed")))
            break;
        json_decref(reqs);
        reqs = NULL;
        h_sleep_ms(20);
    }
    cr_assert_not_null(reqs, "the upstream never saw the gateway hang up");
    cr_assert_leq(json_integer_value(json_object_get(last, "closed_after_ms")), 1500);
    json_decref(reqs);
    free(c.p);
    cr_assert_eq(
        h_log_wait(&d, (const char *[]){ "\"route\":\"/api/chat/stream\"", NULL }, 1, 3000), 1);
    stop();
}

Test(stream, client_gone_before_the_first_byte_cancels_the_upstream)
{
    static const char body[] = "{\"user_message\":\"x\"}";
    char req[512];
    int fd = -1, i;
    json_t *reqs = NULL, *last;

    snprintf(req, sizeof(req),
             "POST /api/chat/stream HTTP/1.1\r\nHost: t\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);

    start(1, NULL);
    h_fake_script(&fake, "[{\"delay_ms\":20000}]");
    fd = h_connect(d.port);
    cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    for (i = 0; i < 200 && h_fake_stat(&fake, "inflight") < 1; i++)
        h_sleep_ms(10);
    cr_assert_eq(h_fake_stat(&fake, "inflight"), 1);
    close(fd);
    for (i = 0; i < 100; i++) {
        reqs = h_fake_requests(&fake);
        last = json_array_get(reqs, 0);
        if (json_is_true(json_object_get(last, "client_closed")))
            break;
        json_decref(reqs);
        reqs = NULL;
        h_sleep_ms(20);
    }
    cr_assert_not_null(reqs, "the upstream call outlived its client");
    json_decref(reqs);
    /* The worker logs the request just after it closed the upstream connection. */
    cr_assert_eq(h_log_wait(&d, (const char *[]){ "\"status\":499", NULL }, 1, 3000), 1);
    stop();
}

Test(stream, upstream_reset_mid_stream_is_an_error_event_and_a_cut)
{
    struct capture c = { 0 };
    long status;

    start(1, "backoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"fail_after_chunks\":3,\"fail_mode\":\"reset\"}]");
    cr_assert_eq(post("/api/chat/stream", "{\"user_message\":\"a b c d e f\"}", &c, &status),
                 CURLE_PARTIAL_FILE, "the chunked reply must not end cleanly: %s", c.p);
    cr_assert_eq(status, 200);
    cr_assert_not_null(strstr(c.p, "event: token"));
    cr_assert_not_null(strstr(c.p, "event: error\ndata: {\"detail\":"), "%s", c.p);
    cr_assert_null(strstr(c.p, "event: done"), "%s", c.p);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 1, "a stream is never retried once begun");
    free(c.p);
    cr_assert(wait_log((const char *[]){ "\"event\":\"request\"", "\"status\":200",
                                         "\"cut\":\"upstream\"", NULL }),
              "the cut 200 is not told apart in the log");
    stop();
}

Test(stream, upstream_clean_close_without_done_is_a_cut_too)
{
    struct capture c = { 0 };
    long status;

    start(1, NULL);
    h_fake_script(&fake, "[{\"fail_after_chunks\":3,\"fail_mode\":\"close\"}]");
    cr_assert_eq(post("/api/chat/stream", "{\"user_message\":\"a b c d e f\"}", &c, &status),
                 CURLE_PARTIAL_FILE);
    cr_assert_not_null(strstr(c.p, "event: error"), "%s", c.p);
    cr_assert_null(strstr(c.p, "event: done"));
    free(c.p);
    stop();
}

Test(stream, failure_before_the_stream_begins_is_retried_then_plain_json)
{
    struct capture c = { 0 };
    long status;

    start(1, "max_attempts = 2\nbackoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"status\":503,\"repeat\":5}]");
    cr_assert_eq(post("/api/chat/stream", "{\"user_message\":\"x\"}", &c, &status), 0);
    cr_assert_eq(status, 502);
    cr_assert_str_eq(c.p, "{\"detail\":\"Provider unavailable\"}");
    cr_assert_eq(h_fake_stat(&fake, "requests"), 2);
    free(c.p);
    stop();
}

static long worker_rss_kb(pid_t master)
{
    pid_t w[4];
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    /* The port accepts as soon as the master listens; the worker may be a moment later. */
    cr_assert_eq(h_wait_children(master, 1, w, 3000), 1);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)w[0]);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

Test(stream, a_slow_reader_does_not_make_the_worker_buffer_the_stream)
{
    static const char req[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
                              "Content-Length: 80\r\n\r\n"
                              "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":"
                              "[{\"role\":\"user\",\"content\":\"x\"}]}";
    long before, after;
    size_t got = 0;
    char buf[1024];
    int fd, small = 4096, i;

    start(1, NULL);
    /* 100 MB from the upstream; the client reads 1 KB every 20 ms.  Buffering the stream
     * would grow the worker by ~100 MB; the bound leaves room for a sanitizer build. */
    h_fake_script(&fake, "[{\"bytes\":100000000}]");
    before = worker_rss_kb(d.pid);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)d.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert(write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
    for (i = 0; i < 150; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0)
            break;
        got += (size_t)n;
        h_sleep_ms(20);
    }
    after = worker_rss_kb(d.pid);
    close(fd);
    cr_assert_gt(got, 1000, "the stream did not start");
    cr_assert_lt(after - before, 40 * 1024,
                 "worker RSS grew by %ld kB (from %ld kB) while the "
                 "client had read %zu bytes",
                 after - before, before, got);
    fprintf(stderr, "slow reader: worker RSS %ld kB -> %ld kB after reading %zu bytes\n", before,
            after, got);
    stop();
}

/* Replace the per-response "id" and "created" values so two answers can be compared. */
static char *normalise(const char *s)
{
    regex_t re;
    regmatch_t m;
    char *out = calloc(1, strlen(s) + 1), *o = out;
    const char *p = s;

    cr_assert_eq(regcomp(&re, "\"(id|created)\":(\"[^\"]*\"|[0-9]+)", REG_EXTENDED), 0);
    while (regexec(&re, p, 1, &m, 0) == 0) {
        memcpy(o, p, (size_t)m.rm_so);
        o += m.rm_so;
        o += sprintf(o, "\"%c\":X", p[m.rm_so + 1]);
        p += m.rm_eo;
    }
    strcpy(o, p);
    regfree(&re);
    return out;
}

/* Ask the fake directly with the body the gateway sent, to get what it would answer. */
static char *fake_answer_to_last_request(void)
{
    json_t *reqs = h_fake_requests(&fake);
    const char *sent = json_string_value(json_object_get(json_array_get(reqs, 0), "body"));
    struct h_resp r;
    char *body;

    cr_assert_eq(h_http(fake.port, "POST", "/v1/chat/completions", NULL, sent, strlen(sent), &r),
                 0);
    json_decref(reqs);
    body = strdup(r.body);
    h_resp_free(&r);
    return body;
}

Test(stream, v1_buffered_body_is_what_the_upstream_sent)
{
    struct capture c = { 0 };
    char *direct, *a, *b;
    long status;

    start(1, NULL);
    cr_assert_eq(post("/v1/chat/completions",
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"compare me\"}]}",
                      &c, &status),
                 0);
    cr_assert_eq(status, 200);
    direct = fake_answer_to_last_request();
    a = normalise(c.p);
    b = normalise(direct);
    cr_assert_str_eq(a, b);
    free(a), free(b), free(direct), free(c.p);
    stop();
}

/* Ask the fake directly with the client's own body: what the upstream answers a client that
 * never asked for usage. */
static char *fake_answer_to(const char *body)
{
    struct h_resp r;
    char *out;

    cr_assert_eq(h_http(fake.port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r),
                 0);
    out = strdup(r.body);
    h_resp_free(&r);
    return out;
}

Test(stream, v1_stream_is_relayed_and_the_usage_chunk_stripped_unless_asked)
{
    static const char body[] = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":"
                               "[{\"role\":\"user\",\"content\":\"stream me\"}]}";
    struct capture c = { 0 }, c2 = { 0 };
    char *direct, *a, *b;
    long status;

    start(1, NULL);
    cr_assert_eq(post("/v1/chat/completions", body, &c, &status), 0);
    cr_assert_eq(status, 200);
    cr_assert_null(strstr(c.p, "\"choices\":[]"), "usage chunk not stripped: %s", c.p);
    cr_assert_null(strstr(c.p, "\"usage\""), "usage the client never asked for: %s", c.p);
    cr_assert_eq(count(c.p, "data: [DONE]\n\n"), 1);
    /* Byte for byte what the upstream answers the client's own body, which did not ask for
     * usage: no usage chunk and no "usage":null in the chunks.  (The gateway's max_tokens cap
     * does not cut this short answer.) */
    direct = fake_answer_to(body);
    a = normalise(c.p);
    b = normalise(direct);
    cr_assert_str_eq(a, b);
    free(a), free(b), free(direct), free(c.p);

    cr_assert_eq(post("/v1/chat/completions",
                      "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":"
                      "{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
                      "\"content\":\"with usage\"}]}",
                      &c2, &status),
                 0);
    cr_assert_not_null(strstr(c2.p, "\"choices\":[],\"usage\":{"), "%s", c2.p);
    free(c2.p);
    stop();
}

Test(stream, v1_mid_stream_failure_has_an_error_event_and_no_done)
{
    struct capture c = { 0 };
    json_t *j;
    char *last;
    long status;

    start(1, NULL);
    h_fake_script(&fake, "[{\"fail_after_chunks\":3,\"fail_mode\":\"reset\"}]");
    cr_assert_eq(post("/v1/chat/completions",
                      "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"a b c d e f\"}]}",
                      &c, &status),
                 CURLE_PARTIAL_FILE);
    cr_assert_null(strstr(c.p, "[DONE]"), "%s", c.p);
    last = strstr(c.p, "data: {\"error\":");
    cr_assert_not_null(last, "%s", c.p);
    j = json_loads(last + 6, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert_not_null(j);
    cr_assert(json_is_string(json_object_get(json_object_get(j, "error"), "message")));
    cr_assert(json_object_get(json_object_get(j, "error"), "param") != NULL);
    json_decref(j);
    free(c.p);
    stop();
}

static void assert_openai_error(const char *body, long status, long want, const char *code)
{
    json_t *j = json_loads(body, 0, NULL), *e;

    cr_assert_eq(status, want, "%ld: %s", status, body);
    cr_assert_not_null(j, "%s", body);
    e = json_object_get(j, "error");
    cr_assert(json_is_string(json_object_get(e, "message")), "%s", body);
    cr_assert(json_is_string(json_object_get(e, "type")), "%s", body);
    cr_assert(json_object_get(e, "param") != NULL, "%s", body);
    cr_assert(json_object_get(e, "code") != NULL, "%s", body);
    if (code)
        cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code, "%s", body);
    json_decref(j);
}

Test(stream, v1_refusals_have_openai_shape)
{
    static const struct {
        const char *body;
        long status;
        const char *code;
    } cases[] = {
        { "{\"model\":\"gpt-9\",\"messages\":[]}", 404, "model_not_found" },
        { "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100000,\"messages\":[]}", 400,
          "max_tokens_too_large" },
        { "{\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":100000,\"messages\":[]}", 400,
          "max_tokens_too_large" },
        { "{\"model\":\"gpt-4o-mini\",\"n\":0,\"messages\":[]}", 400, "invalid_value" },
        { "not json", 400, NULL },
        { "{\"messages\":[]}", 400, NULL },
    };
    struct capture c;
    long status;
    size_t i;

    start(1, NULL);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&c, 0, sizeof(c));
        post("/v1/chat/completions", cases[i].body, &c, &status);
        assert_openai_error(c.p, status, cases[i].status, cases[i].code);
        free(c.p);
    }
    cr_assert_eq(h_fake_stat(&fake, "requests"), 0, "refusals never reach the upstream");
    /* A missing cap is injected. */
    memset(&c, 0, sizeof(c));
    post("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &c, &status);
    free(c.p);
    json_t *reqs = h_fake_requests(&fake);
    cr_assert_not_null(strstr(json_string_value(json_object_get(json_array_get(reqs, 0), "body")),
                              "\"max_tokens\":400"));
    json_decref(reqs);
    stop();
}

Test(stream, v1_upstream_client_errors_are_relayed_and_5xx_become_502)
{
    struct capture c = { 0 };
    long status;

    start(1, "max_attempts = 2\nbackoff_base_ms = 10\n");
    h_fake_script(&fake, "[{\"status\":400,\"body\":{\"error\":{\"message\":\"bad things\","
                         "\"type\":\"invalid_request_error\",\"param\":\"messages\","
                         "\"code\":null}}}]");
    post("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &c, &status);
    assert_openai_error(c.p, status, 400, NULL);
    cr_assert_not_null(strstr(c.p, "bad things"));
    free(c.p);

    memset(&c, 0, sizeof(c));
    h_fake_script(&fake, "[{\"status\":500,\"repeat\":2}]");
    post("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &c, &status);
    assert_openai_error(c.p, status, 502, "upstream_unavailable");
    free(c.p);

    memset(&c, 0, sizeof(c));
    h_fake_script(&fake, "[{\"status\":401}]");
    post("/v1/chat/completions", "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &c, &status);
    assert_openai_error(c.p, status, 502, "upstream_unavailable");
    free(c.p);
    stop();
}

struct seen_events {
    char names[64][16];
    char data[64][64];
    int n;
};

static int collect_event(const struct sl_sse_event *ev, void *arg)
{
    struct seen_events *s = arg;

    if (ev->kind != SL_SSE_MESSAGE || s->n >= 64)
        return 0;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%.*s", (int)ev->event_len, ev->event);
    snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)ev->data_len, ev->data);
    s->n++;
    return 0;
}

/* What a browser's EventSource would see: the WHATWG parse of the stream, fed in odd pieces. */
Test(stream, an_eventsource_parser_reads_the_api_stream)
{
    struct capture c = { 0 };
    struct sl_sse_parser p;
    struct seen_events ev = { 0 };
    long status;
    size_t i;

    start(1, NULL);
    cr_assert_eq(
        post("/api/chat/stream", "{\"user_message\":\"line one\\nline two\"}", &c, &status), 0);
    cr_assert_eq(sl_sse_parser_init(&p, 1 << 20), 0);
    for (i = 0; i < c.n; i += 7)
        cr_assert_eq(sl_sse_feed(&p, c.p + i, c.n - i < 7 ? c.n - i : 7, collect_event, &ev), 0);
    cr_assert_not(sl_sse_has_partial(&p), "the stream ended mid-event");
    sl_sse_parser_done(&p);
    cr_assert_geq(ev.n, 4);
    cr_assert_str_eq(ev.names[ev.n - 1], "done");
    cr_assert_str_eq(ev.data[ev.n - 1], "");
    cr_assert_str_eq(ev.names[ev.n - 2], "usage");
    cr_assert_not_null(strstr(ev.data[ev.n - 2], "\"total_tokens\":"));
    /* The tokens joined back give the answer, its line break included. */
    char text[512] = "";
    for (int k = 0; k < ev.n - 2; k++) {
        cr_assert_str_eq(ev.names[k], "token");
        strcat(text, ev.data[k]);
    }
    cr_assert_str_eq(text, "Hello! You said: line one\nline two");
    free(c.p);
    stop();
}

/* Issue: a mid-stream upstream error gave two error events, the upstream's relayed and then
 * the gateway's own cut.  SPEC §3.3: exactly one data: {"error": ...}, then a close without
 * [DONE]. */
Test(stream, v1_upstream_error_event_is_the_one_error_event)
{
    struct capture c = { 0 };
    json_t *j, *e;
    long status;

    start(1, NULL);
    h_fake_script(&fake, "[{\"fail_after_chunks\":3,\"fail_mode\":\"error_event\","
                         "\"error_message\":\"the model fell over\"}]");
    cr_assert_eq(post("/v1/chat/completions",
                      "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"a b c d e f\"}]}",
                      &c, &status),
                 CURLE_PARTIAL_FILE, "%s", c.p);
    cr_assert_eq(status, 200);
    cr_assert_eq(count(c.p, "\"error\""), 1, "%s", c.p);
    cr_assert_eq(count(c.p, "data: {\"error\":"), 1, "%s", c.p);
    cr_assert_null(strstr(c.p, "[DONE]"), "%s", c.p);
    j = json_loads(strstr(c.p, "data: {\"error\":") + 6, JSON_DISABLE_EOF_CHECK, NULL);
    e = json_object_get(j, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "message")), "the model fell over",
                     "the upstream's own error is the one relayed: %s", c.p);
    cr_assert(json_is_string(json_object_get(e, "type")));
    cr_assert_not_null(json_object_get(e, "param"));
    cr_assert_not_null(json_object_get(e, "code"));
    json_decref(j);
    /* It is the last event: nothing follows it. */
    cr_assert_null(strstr(strchr(strstr(c.p, "data: {\"error\":"), '\n'), "data:"),
                   "events after the error: %s", c.p);
    free(c.p);
    cr_assert(wait_log((const char *[]){ "\"event\":\"request\"", "\"cut\":\"upstream\"", NULL }));
    stop();
}

/* Issue: a client hanging up mid-stream was logged as a plain 200. */
Test(stream, v1_client_leaving_mid_stream_is_logged_as_a_cut)
{
    struct capture c = { .abort_after = 1 };
    long status;

    start(1, NULL);
    h_fake_script(&fake, "[{\"pause_after_chunks\":2,\"pause_ms\":20000}]");
    cr_assert_eq(post("/v1/chat/completions",
                      "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                      "\"content\":\"a b c d\"}]}",
                      &c, &status),
                 CURLE_WRITE_ERROR);
    free(c.p);
    cr_assert(wait_log((const char *[]){ "\"event\":\"request\"", "\"status\":200",
                                         "\"cut\":\"client\"", "\"attempts\":1", NULL }),
              "no cut in the request line");
    cr_assert_eq(h_log_count(&d, (const char *[]){ "upstream_attempt", "\"cancelled\"", NULL }), 1,
                 "the abandoned attempt is not logged");
    stop();
}

/* Issue: an upstream 429 relayed on /v1 lacked Retry-After, retry-after-ms and
 * x-should-retry (SPEC §4: every 429 carries them; false for insufficient_quota). */
Test(stream, v1_upstream_429_carries_the_waiting_headers)
{
    static const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";
    struct h_resp r;
    json_t *j;

    start(1, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":429,\"error_code\":\"insufficient_quota\"}]");
    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r), 0);
    assert_openai_error(r.body, r.status, 429, "insufficient_quota");
    cr_assert_not_null(h_header(&r, "Retry-After"), "%s", r.headers);
    cr_assert_geq(atoi(h_header(&r, "Retry-After")), 1);
    cr_assert_not_null(h_header(&r, "retry-after-ms"), "%s", r.headers);
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "false");
    h_resp_free(&r);

    h_fake_script(&fake, "[{\"status\":429,\"headers\":{\"retry-after-ms\":\"2500\"}}]");
    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r), 0);
    assert_openai_error(r.body, r.status, 429, "rate_limit_exceeded");
    cr_assert_str_eq(h_header(&r, "Retry-After"), "3", "%s", r.headers);
    cr_assert_str_eq(h_header(&r, "retry-after-ms"), "2500");
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j);
    json_decref(j);
    h_resp_free(&r);
    stop();
}

/* Issue: an upstream 4xx body was relayed unchecked: HTML or {"error":"text"} reached the
 * client as application/json. */
Test(stream, v1_upstream_4xx_bodies_reach_the_client_as_openai_errors)
{
    static const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";
    struct h_resp r;
    json_t *j, *e;

    start(1, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":400,\"body_raw\":\"<html><h1>Bad</h1></html>\","
                         "\"headers\":{\"content-type\":\"text/html\"}},"
                         "{\"status\":404,\"body\":{\"error\":\"plain string\"}},"
                         "{\"status\":400,\"body\":{\"error\":{\"message\":\"half\","
                         "\"type\":\"invalid_request_error\"}}}]");
    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r), 0);
    assert_openai_error(r.body, r.status, 400, NULL);
    cr_assert_str_eq(h_header(&r, "Content-Type"), "application/json");
    h_resp_free(&r);

    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r), 0);
    assert_openai_error(r.body, r.status, 404, NULL);
    h_resp_free(&r);

    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r), 0);
    assert_openai_error(r.body, r.status, 400, NULL);
    j = json_loads(r.body, 0, NULL);
    e = json_object_get(j, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "message")), "half", "%s", r.body);
    cr_assert(json_is_null(json_object_get(e, "param")), "%s", r.body);
    cr_assert(json_is_null(json_object_get(e, "code")), "%s", r.body);
    json_decref(j);
    h_resp_free(&r);
    stop();
}
