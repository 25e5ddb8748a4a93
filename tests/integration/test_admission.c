/* SPDX-License-Identifier: MIT */
/* test_admission.c - the circuit breaker shared by all workers, against a failing fake
 * upstream: closed → open → half-open → closed or open again; an upstream 429's Retry-After
 * pausing everyone; refusals never reaching the upstream; /readyz and /metrics telling. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"

TestSuite(admission, .timeout = 60);

static struct h_fake fake;
static struct h_daemon d;

static void start(int workers, const char *upstream_keys)
{
    char conf[2048];

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "%s[breaker]\nfailure_threshold = 3\nopen_ms = 1500\n"
             "half_open_probes = 1\n",
             h_fake_upstream_conf(&fake, upstream_keys));
    h_daemon_write_conf(&d, workers, conf);
    h_daemon_start(&d, NULL);
}

/* A gateway with a [limits] section of its own (the harness adds none then). */
static void start_limited(const char *upstream_keys, const char *limits)
{
    char conf[2048];

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf), "%s[limits]\nrpm = 0\ntpm = 0\nbudget_period = day\n%s\n",
             h_fake_upstream_conf(&fake, upstream_keys), limits);
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, NULL);
}

static void stop(void)
{
    cr_assert_eq(h_daemon_stop(&d, 15000), 0);
    h_fake_stop(&fake);
}

static long chat(struct h_resp *r)
{
    static const char body[] = "{\"user_message\":\"is it up?\"}";

    cr_assert_eq(h_http(d.port, "POST", "/api/chat", NULL, body, strlen(body), r), 0);
    return r->status;
}

static long chat_status(void)
{
    struct h_resp r;
    long s = chat(&r);

    h_resp_free(&r);
    return s;
}

static bool metrics_has(const char *line)
{
    struct h_resp r;
    bool found;

    cr_assert_eq(h_http(d.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    found = strstr(r.body, line) != NULL;
    h_resp_free(&r);
    return found;
}

Test(admission, breaker_opens_after_threshold_and_refuses_without_calling_upstream)
{
    struct h_resp r;
    json_t *j;
    int i;

    start(2, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":500,\"repeat\":3}]");
    for (i = 0; i < 3; i++)
        cr_assert_eq(chat_status(), 502);
    cr_assert_eq(chat(&r), 503);
    j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "detail")), "Upstream circuit open");
    json_decref(j);
    cr_assert_not_null(h_header(&r, "Retry-After"));
    cr_assert_geq(atoi(h_header(&r, "Retry-After")), 1);
    cr_assert_leq(atoi(h_header(&r, "Retry-After")), 2);
    cr_assert_not_null(h_header(&r, "retry-after-ms"));
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    h_resp_free(&r);
    /* Shared by every worker: the other one refuses too. */
    for (i = 0; i < 4; i++)
        cr_assert_eq(chat_status(), 503);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 3, "refused requests must not reach upstream");

    cr_assert_eq(h_http(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_not_null(strstr(r.body, "\"breaker_open\""), "%s", r.body);
    h_resp_free(&r);
    cr_assert(metrics_has("sluice_breaker_state{upstream=\"default\"} 1"));
    cr_assert(metrics_has("sluice_admission_rejections_total{reason=\"breaker_open\"} 5"));
    cr_assert(metrics_has("sluice_requests_total{route=\"/api/chat\",code=\"503\"} 5"));

    /* After open_ms one probe goes through; its success closes the breaker. */
    h_sleep_ms(1600);
    cr_assert_eq(chat_status(), 200);
    cr_assert_eq(chat_status(), 200);
    cr_assert_eq(h_http(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    cr_assert(metrics_has("sluice_breaker_state{upstream=\"default\"} 0"));
    stop();
}

Test(admission, a_failed_probe_opens_the_breaker_again)
{
    int i;

    start(1, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":503,\"repeat\":4}]");
    for (i = 0; i < 3; i++)
        cr_assert_eq(chat_status(), 502);
    cr_assert_eq(chat_status(), 503);
    h_sleep_ms(1600);
    cr_assert_eq(chat_status(), 502, "the probe reaches the upstream and fails");
    cr_assert_eq(chat_status(), 503, "and the breaker is open again");
    cr_assert_eq(h_fake_stat(&fake, "requests"), 4);
    stop();
}

Test(admission, client_errors_do_not_trip_the_breaker)
{
    int i;

    start(1, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":400,\"repeat\":6}]");
    for (i = 0; i < 6; i++)
        cr_assert_eq(chat_status(), 502);
    cr_assert_eq(chat_status(), 200, "six upstream 400s are not an outage");
    stop();
}

Test(admission, an_upstream_429_retry_after_pauses_every_call)
{
    struct h_resp r;
    long long t0;

    start(2, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":429,\"headers\":{\"retry-after\":\"2\"}}]");
    cr_assert_eq(chat_status(), 502);
    t0 = h_now_ms();
    cr_assert_eq(chat(&r), 503);
    cr_assert_geq(atoi(h_header(&r, "Retry-After")), 1);
    h_resp_free(&r);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 1);
    /* Once the pause is over, calls flow again. */
    h_sleep_ms((int)(2100 - (h_now_ms() - t0)));
    cr_assert_eq(chat_status(), 200);
    stop();
}

Test(admission, v1_refusal_has_openai_shape)
{
    static const char body[] = "{\"model\":\"gpt-4o-mini\",\"messages\":[]}";
    struct h_resp r;
    json_t *j, *e;
    int i;

    start(1, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":500,\"repeat\":3}]");
    for (i = 0; i < 3; i++)
        cr_assert_eq(chat_status(), 502);
    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r), 0);
    cr_assert_eq(r.status, 503);
    j = json_loads(r.body, 0, NULL);
    e = json_object_get(j, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "circuit_open");
    cr_assert_str_eq(json_string_value(json_object_get(e, "type")), "server_error");
    cr_assert(json_object_get(e, "param") != NULL);
    json_decref(j);
    h_resp_free(&r);
    stop();
}

/* Clients hanging up on their streams say nothing about the upstream's health.  Like the end
 * of a wrk run: 64 connections streaming back to back, all dropped at once mid-flight. */
static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

Test(admission, clients_hanging_up_do_not_trip_the_breaker)
{
    static const char body[] = "{\"user_message\":\"a b c d e f g h\"}";
    CURLM *m = curl_multi_init();
    CURL *e[64];
    char url[128];
    long long until;
    int running, left, i;
    CURLMsg *msg;

    start(1, "max_attempts = 1\n");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/chat/stream", d.port);
    for (i = 0; i < 64; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(e[i], CURLOPT_PROXY, "");
        curl_multi_add_handle(m, e[i]);
    }
    until = h_now_ms() + 1000;
    while (h_now_ms() < until) {
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            /* Again, at once, on the same connection if it can. */
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_multi_add_handle(m, msg->easy_handle);
        }
        curl_multi_poll(m, NULL, 0, 5, NULL);
    }
    for (i = 0; i < 64; i++) { /* drop every connection mid-flight */
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);
    h_sleep_ms(300);
    cr_assert(metrics_has("sluice_breaker_state{upstream=\"default\"} 0"),
              "hang-ups opened the breaker");
    cr_assert(metrics_has("sluice_upstream_attempts_total{outcome=\"connect_error\"} 0"));
    cr_assert_eq(chat_status(), 200);
    stop();
}

/* Issue: one upstream 429 with Retry-After: 86400 paused every call of the host for a day,
 * and /readyz and sluice_breaker_state said all was well meanwhile.  The pause lasts at most
 * open_ms (1500 ms here) and reads as open. */
Test(admission, an_absurd_retry_after_pauses_for_open_ms_at_most_and_readyz_says_so)
{
    struct h_resp r;
    long long t0;

    start(2, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"status\":429,\"headers\":{\"retry-after\":\"86400\"}}]");
    cr_assert_eq(chat_status(), 502);
    t0 = h_now_ms();
    cr_assert_eq(h_http(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 503, "paused, yet ready: %s", r.body);
    cr_assert_not_null(strstr(r.body, "\"breaker_open\""), "%s", r.body);
    h_resp_free(&r);
    cr_assert(metrics_has("sluice_breaker_state{upstream=\"default\"} 1"));
    cr_assert_eq(chat(&r), 503);
    cr_assert_leq(atoi(h_header(&r, "Retry-After")), 2, "told to wait %s s",
                  h_header(&r, "Retry-After"));
    h_resp_free(&r);
    h_sleep_ms((int)(1600 - (h_now_ms() - t0)));
    cr_assert_eq(chat_status(), 200, "still paused after open_ms");
    cr_assert_eq(h_http(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
    cr_assert(metrics_has("sluice_breaker_state{upstream=\"default\"} 0"));
    stop();
}

/* Issue: a retry whose back-off ended inside a pause another request's 429 had extended was
 * refused by the breaker and became a 502 at once.  Twenty requests, each told once to come
 * back in 500 ms, all succeed. */
Test(admission, concurrent_429s_wait_out_each_others_pause)
{
    static const char *hdrs[] = { "Content-Type: application/json", NULL };
    long statuses[20];
    int i, ok = 0;

    start(2, "backoff_base_ms = 50\n");
    /* The delay lets all twenty be admitted before the first 429 pauses admission. */
    h_fake_script(&fake, "[{\"status\":429,\"delay_ms\":500,\"repeat\":20,"
                         "\"headers\":{\"retry-after-ms\":\"500\"}}]");
    h_http_parallel(d.port, "POST", "/api/chat", hdrs, "{\"user_message\":\"together\"}", 20,
                    statuses);
    for (i = 0; i < 20; i++)
        ok += statuses[i] == 200;
    cr_assert_eq(ok, 20, "only %d of 20 succeeded", ok);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 40, "one 429 and one 200 each");
    stop();
}

/* Issue: an error event or an invalid stream from the upstream, mid-way, counted as a breaker
 * success (only the gateway's own aborts are neutral). */
Test(admission, upstream_errors_mid_stream_count_against_the_breaker)
{
    static const char v1[] = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":"
                             "[{\"role\":\"user\",\"content\":\"a b c d e f\"}]}";
    static const char api[] = "{\"user_message\":\"a b c d e f\"}";
    struct h_resp r;

    start(1, "max_attempts = 1\n");
    h_fake_script(&fake, "[{\"fail_after_chunks\":2,\"fail_mode\":\"error_event\"},"
                         "{\"fail_after_chunks\":2,\"fail_mode\":\"error_event\"},"
                         "{\"body_raw\":\"data: {not json\\n\\n\","
                         "\"headers\":{\"content-type\":\"text/event-stream\"}}]");
    h_http(d.port, "POST", "/v1/chat/completions", NULL, v1, strlen(v1), &r);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    h_http(d.port, "POST", "/api/chat/stream", NULL, api, strlen(api), &r);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    h_http(d.port, "POST", "/v1/chat/completions", NULL, v1, strlen(v1), &r);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "data: {\"error\""), "%s", r.body);
    h_resp_free(&r);
    cr_assert(metrics_has("sluice_breaker_state{upstream=\"default\"} 1"),
              "three broken upstream streams did not open the breaker");
    cr_assert_eq(chat_status(), 503);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 3);
    stop();
}

/* Issue: the /v1 reservation counted max_tokens and ignored a larger max_completion_tokens,
 * which the upstream honours: a tenant could spend past its budget. */
Test(admission, v1_reservation_counts_the_larger_completion_limit)
{
    static const char big[] = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,"
                              "\"max_completion_tokens\":300,\"messages\":[{\"role\":\"user\","
                              "\"content\":\"count\"}]}";
    static const char small[] = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":"
                                "[{\"role\":\"user\",\"content\":\"count\"}]}";
    char script[4096] = "[{\"content\":\"";
    struct h_resp r;
    json_t *j;
    int i;

    /* An answer of 300 words: the upstream would bill 300 completion tokens. */
    for (i = 0; i < 300; i++)
        strcat(script, "w ");
    strcat(script, "\"}]");
    start_limited(NULL, "token_budget = 300");
    h_fake_script(&fake, script);
    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, big, strlen(big), &r), 0);
    cr_assert_eq(r.status, 429, "admitted with a 300-token budget for a 300-token answer: %s",
                 r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "insufficient_quota");
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 0);
    /* The same without the larger limit fits. */
    h_fake_script(&fake, "[{\"content\":\"short\"}]");
    cr_assert_eq(h_http(d.port, "POST", "/v1/chat/completions", NULL, small, strlen(small), &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
    stop();
}

/* Issue: settlement trusted an upstream total_tokens below prompt + completion. */
static void assert_settles_the_parts(const char *path, const char *body)
{
    struct h_resp r;

    h_fake_script(&fake, "[{\"usage\":{\"prompt_tokens\":400,\"completion_tokens\":400,"
                         "\"total_tokens\":1}}]");
    cr_assert_eq(h_http(d.port, "POST", path, NULL, body, strlen(body), &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
    /* 800 used of 900: the next reservation (about 200) no longer fits. */
    cr_assert_eq(h_http(d.port, "POST", path, NULL, body, strlen(body), &r), 0);
    cr_assert_eq(r.status, 429, "%s: charged the upstream's total of 1, not 800", path);
    h_resp_free(&r);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 1);
}

Test(admission, api_settlement_charges_at_least_prompt_plus_completion)
{
    start_limited("max_tokens = 100\n", "token_budget = 900");
    assert_settles_the_parts("/api/chat", "{\"user_message\":\"how many tokens?\"}");
    stop();
}

Test(admission, v1_settlement_charges_at_least_prompt_plus_completion)
{
    start_limited("max_tokens = 100\n", "token_budget = 900");
    assert_settles_the_parts("/v1/chat/completions",
                             "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                             "\"content\":\"how many tokens?\"}]}");
    stop();
}

/* max_inflight per worker: requests past it get 503 Server busy, never reach the upstream,
 * and carry what an SDK needs to retry later. */
struct held {
    int port;
    long st[2];
};

static void *hold_two(void *arg)
{
    static const char *hdrs[] = { "Content-Type: application/json", NULL };
    struct held *h = arg;

    h_http_parallel(h->port, "POST", "/api/chat", hdrs, "{\"user_message\":\"hold\"}", 2, h->st);
    return NULL;
}

Test(admission, the_in_flight_cap_refuses_with_server_busy)
{
    static const char *hdrs[] = { "Content-Type: application/json", NULL };
    static const char body[] = "{\"user_message\":\"wait for it\"}";
    struct held h = { 0 };
    char conf[2048];
    long st[6];
    int ok = 0, busy = 0, i;
    pthread_t th;
    struct h_resp r;

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf), "%s[server]\nmax_inflight = 2\n",
             h_fake_upstream_conf(&fake, NULL));
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, NULL);
    h_fake_script(&fake, "[{\"delay_ms\":1500,\"repeat\":10}]");
    h_http_parallel(d.port, "POST", "/api/chat", hdrs, body, 6, st);
    for (i = 0; i < 6; i++) {
        ok += st[i] == 200;
        busy += st[i] == 503;
    }
    cr_assert_eq(ok, 2, "%d of 6 served with max_inflight = 2", ok);
    cr_assert_eq(busy, 4);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 2, "a refused request reached the upstream");
    cr_assert(metrics_has("sluice_admission_rejections_total{reason=\"inflight\"} 4"));
    /* Two held again: the third is refused with the retry headers, in FastAPI's shape. */
    h.port = d.port;
    pthread_create(&th, NULL, hold_two, &h);
    for (i = 0; i < 300 && h_fake_stat(&fake, "inflight") < 2; i++)
        h_sleep_ms(10);
    cr_assert_eq(chat(&r), 503);
    cr_assert_str_eq(r.body, "{\"detail\":\"Server busy\"}");
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    cr_assert_not_null(h_header(&r, "Retry-After"));
    cr_assert_not_null(h_header(&r, "retry-after-ms"));
    h_resp_free(&r);
    pthread_join(th, NULL);
    cr_assert_eq(h.st[0], 200);
    cr_assert_eq(h.st[1], 200);
    cr_assert_eq(chat(&r), 200, "served again once the two are done");
    h_resp_free(&r);
    stop();
}
