/* SPDX-License-Identifier: MIT */
/* test_tenants.c - tenants, keys, rate limits and token budgets on one host, through the real
 * sluiced (2 workers) and the fake upstream: 401s, RPM, the budget under concurrency (the
 * guarantee: a tenant's used tokens never exceed its budget), workers killed under load, and
 * the admin API and sluicectl (tenants' model lists and guard policies included). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"

TestSuite(tenants, .timeout = 90);

static struct h_fake fake;
static struct h_daemon d;

/* acme (key sk-acme-1) with the given limits, on `workers` workers. */
static void start(int workers, const char *acme_limits, const char *upstream_keys)
{
    char conf[4096], hex[65];

    h_sha256_hex("sk-acme-1", hex);
    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "%s[auth]\nmode = keys\n[limits]\nrpm = 0\ntpm = 0\n"
             "token_budget = 0\n[tenant.acme]\nkey_sha256 = %s\n%s\n",
             h_fake_upstream_conf(&fake, upstream_keys), hex, acme_limits);
    h_daemon_write_conf(&d, workers, conf);
    h_daemon_start(&d, NULL);
}

static void stop(void)
{
    cr_assert_eq(h_daemon_stop(&d, 15000), 0);
    cr_assert_not(h_file_contains(d.log, "sk-acme-1"), "a tenant key reached the log");
    h_fake_stop(&fake);
}

static long post(const char *path, const char *auth, const char *body, struct h_resp *r)
{
    char hdr[256];
    const char *hdrs[] = { hdr, "Content-Type: application/json", NULL };

    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth ? auth : "");
    cr_assert_eq(h_http(d.port, "POST", path, auth ? hdrs : hdrs + 1, body, strlen(body), r), 0);
    return r->status;
}

static double metric(const char *name)
{
    return h_metric(d.port, name);
}

Test(tenants, unknown_or_missing_keys_are_401_in_both_shapes)
{
    static const char *bad[] = { NULL, "Bearer sk-nope", "Basic c2stYWNtZS0x", "Bearer ",
                                 "sk-acme-1" };
    struct h_resp r;
    json_t *j;
    size_t i;

    start(1, "", NULL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(post("/api/chat", bad[i], "{\"user_message\":\"hi\"}", &r), 401, "%s",
                     bad[i] ? bad[i] : "(none)");
        cr_assert_str_eq(h_header(&r, "WWW-Authenticate"), "Bearer");
        j = json_loads(r.body, 0, NULL);
        cr_assert_str_eq(json_string_value(json_object_get(j, "detail")),
                         "Invalid or missing API key");
        json_decref(j);
        h_resp_free(&r);
        cr_assert_eq(
            post("/v1/chat/completions", bad[i], "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &r),
            401);
        j = json_object_get(json_loads(r.body, 0, NULL), "error");
        cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "authentication_error");
        cr_assert_str_eq(json_string_value(json_object_get(j, "code")), "invalid_api_key");
        h_resp_free(&r);
    }
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"hi\"}", &r), 200);
    /* acme has no limits (0 = unlimited): no x-ratelimit trio is invented for it. */
    cr_assert_null(h_header(&r, "x-ratelimit-limit-requests"));
    h_resp_free(&r);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 1, "refused requests never reach upstream");
    stop();
}

Test(tenants, rpm_5_refuses_the_sixth_with_headers)
{
    struct h_resp r;
    int i;

    start(2, "rpm = 5\n", NULL);
    for (i = 0; i < 5; i++) {
        cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"go\"}", &r), 200);
        cr_assert_str_eq(h_header(&r, "x-ratelimit-limit-requests"), "5");
        char want[8];
        snprintf(want, sizeof(want), "%d", 4 - i);
        cr_assert_str_eq(h_header(&r, "x-ratelimit-remaining-requests"), want);
        cr_assert_not_null(h_header(&r, "x-ratelimit-reset-requests"));
        h_resp_free(&r);
    }
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"go\"}", &r), 429);
    cr_assert_not_null(strstr(r.body, "Rate limit exceeded"), "%s", r.body);
    cr_assert_geq(atoi(h_header(&r, "Retry-After")), 1);
    cr_assert_leq(atoi(h_header(&r, "Retry-After")), 13, "one request refills in 12 s");
    cr_assert_not_null(h_header(&r, "retry-after-ms"));
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    cr_assert_str_eq(h_header(&r, "x-ratelimit-remaining-requests"), "0");
    h_resp_free(&r);
    cr_assert_eq(post("/v1/chat/completions", "Bearer sk-acme-1",
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &r),
                 429);
    cr_assert_not_null(strstr(r.body, "\"code\":\"rate_limit_exceeded\""), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"type\":\"rate_limit_error\""), "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 5);
    cr_assert_eq(metric("sluice_admission_rejections_total{reason=\"rpm\"}"), 2);
    stop();
}

/* The guarantee.  300 concurrent requests of varied sizes against a budget that covers a
 * fraction of them: what the upstream reports as used never exceeds the budget, every refusal
 * is a budget refusal, and no refused request reached the upstream. */
/* One wave: requests i0..i0+n-1 of varied sizes at once; counts statuses. */
static void wave(int i0, int n, int *ok, int *budget, int *other)
{
    CURLM *m = curl_multi_init();
    CURL *e[64];
    struct curl_slist *h = NULL;
    static char bodies[64][512];
    FILE *null = fopen("/dev/null", "w");
    char url[128];
    long status;
    int running, i;

    h = curl_slist_append(h, "Authorization: Bearer sk-acme-1");
    h = curl_slist_append(h, "Content-Type: application/json");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/chat", d.port);
    for (i = 0; i < n; i++) {
        char msg[300];
        int len = 1 + ((i0 + i) * 37) % 250;

        memset(msg, 'a' + (i0 + i) % 26, (size_t)len);
        for (int w = 5; w < len; w += 6)
            msg[w] = ' ';
        msg[len] = '\0';
        snprintf(bodies[i], sizeof(bodies[i]), "{\"user_message\":\"%s\"}", msg);
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, bodies[i]);
        curl_easy_setopt(e[i], CURLOPT_PROXY, "");
        curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS, 60000L);
        curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, fwrite);
        curl_easy_setopt(e[i], CURLOPT_WRITEDATA, null);
        curl_multi_add_handle(m, e[i]);
    }
    do {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    for (i = 0; i < n; i++) {
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &status);
        *ok += status == 200;
        *budget += status == 429;
        *other += status != 200 && status != 429;
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    fclose(null);
}

/* The guarantee: used never exceeds the budget however the requests overlap.  Waves of 30
 * concurrent requests of varied sizes: each wave's reservations are made while the others
 * are in flight, and settled to what the upstream reports (at most the reservation here, as
 * it would be from a real upstream), until the budget is nearly gone. */
Test(tenants, budget_holds_under_concurrency)
{
    enum { WAVES = 10, PER_WAVE = 30, BUDGET = 6000 };
    int ok = 0, budget = 0, other = 0;
    long long used;
    json_t *reqs;

    start(2, "token_budget = 6000\nbudget_period = day\n", "max_tokens = 50\n");
    /* 100 tokens each, never more than the smallest reservation (41 + 1 + 8 + 50). */
    h_fake_script(&fake, "[{\"delay_ms\":150,\"repeat\":300,\"usage\":{\"prompt_tokens\":50,"
                         "\"completion_tokens\":50,\"total_tokens\":100}}]");
    for (int w = 0; w < WAVES; w++)
        wave(w * PER_WAVE, PER_WAVE, &ok, &budget, &other);
    reqs = h_fake_requests(&fake);
    cr_assert_eq(json_array_size(reqs), (size_t)ok, "refused requests reached the upstream");
    json_decref(reqs);
    used = (long long)metric("sluice_tokens_total{kind=\"prompt\"}") +
           (long long)metric("sluice_tokens_total{kind=\"completion\"}");
    fprintf(stderr, "budget %d: %d admitted, %d refused (budget), %d other; upstream used %lld\n",
            BUDGET, ok, budget, other, used);
    cr_assert_eq(other, 0);
    cr_assert_gt(budget, 0, "the budget should have run out");
    cr_assert_leq(used, BUDGET, "used %lld tokens of a %d budget", used, BUDGET);
    cr_assert_geq(used, BUDGET * 3 / 4, "refused with %lld of %d left", BUDGET - used, BUDGET);
    cr_assert_eq(metric("sluice_admission_rejections_total{reason=\"budget\"}"), budget);
    cr_assert_eq(metric("sluice_reservations_held"), 0, "a reservation leaked");
    stop();
}

Test(tenants, budget_refusal_says_do_not_retry)
{
    struct h_resp r;

    /* Each request reserves 252 tokens (41-byte system prompt + 3 + 2 x 4 overhead + 200)
     * and the fake reports 24 used: the second needs 24 + 252 > 260. */
    start(1, "token_budget = 260\nbudget_period = day\n", "max_tokens = 200\n");
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"one\"}", &r), 200);
    h_resp_free(&r);
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"two\"}", &r), 429);
    cr_assert_not_null(strstr(r.body, "Token budget exhausted"), "%s", r.body);
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "false");
    cr_assert_str_eq(h_header(&r, "x-ratelimit-limit-tokens"), "260");
    cr_assert_not_null(h_header(&r, "x-ratelimit-reset-tokens"));
    h_resp_free(&r);
    cr_assert_eq(post("/v1/chat/completions", "Bearer sk-acme-1",
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &r),
                 429);
    cr_assert_not_null(strstr(r.body, "\"code\":\"insufficient_quota\""), "%s", r.body);
    h_resp_free(&r);
    stop();
}

Test(tenants, workers_killed_under_load_leave_no_wedged_lock_or_leaked_reservation)
{
    static const char *hdrs[] = { "Authorization: Bearer sk-acme-1",
                                  "Content-Type: application/json", NULL };
    long statuses[40];
    pid_t w[4], load;
    int round, i, ok = 0;

    start(2, "token_budget = 100000000\n",
          "request_timeout_ms = 5000\n"
          "attempt_timeout_ms = 5000\n");
    h_fake_script(&fake, "[{\"delay_ms\":100,\"repeat\":100000}]");
    load = fork();
    cr_assert(load >= 0);
    if (load == 0) {
        for (round = 0; round < 8; round++)
            h_http_parallel(d.port, "POST", "/api/chat", hdrs, "{\"user_message\":\"load\"}", 40,
                            statuses);
        _exit(0);
    }
    for (round = 0; round < 6; round++) {
        h_sleep_ms(150);
        if (h_children(d.pid, w, 4) > 0)
            kill(w[round % h_children(d.pid, w, 4)], SIGKILL);
    }
    cr_assert_eq(waitpid(load, NULL, 0), load);
    /* Everything in flight has ended: nothing may still be reserved. */
    for (i = 0; i < 100 && metric("sluice_reservations_held") != 0; i++)
        h_sleep_ms(50);
    cr_assert_eq(metric("sluice_reservations_held"), 0, "a reservation leaked");
    /* No wedged lock: the tenant is still served by every worker. */
    h_http_parallel(d.port, "POST", "/api/chat", hdrs, "{\"user_message\":\"after\"}", 20,
                    statuses);
    for (i = 0; i < 20; i++)
        ok += statuses[i] == 200;
    cr_assert_eq(ok, 20);
    cr_assert_gt(h_log_count(&d, (const char *[]){ "reservations_reaped", NULL }) +
                     h_log_count(&d, (const char *[]){ "worker_exited", NULL }),
                 0);
    stop();
}

static long admin(const char *method, const char *path, const char *key, const char *body,
                  struct h_resp *r)
{
    char hdr[256];
    const char *hdrs[] = { hdr, "Content-Type: application/json", NULL };

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", key);
    cr_assert_eq(h_http(d.port, method, path, hdrs, body, body ? strlen(body) : 0, r), 0);
    return r->status;
}

/* The admin key, acme, [upstream] with upstream_keys, and extra sections. */
static void write_admin_conf_with(const char *upstream_keys, const char *extra)
{
    char conf[4096], hex[65], ahex[65];

    h_sha256_hex("sk-acme-1", hex);
    h_sha256_hex("sk-admin-secret", ahex);
    snprintf(conf, sizeof(conf),
             "%s[auth]\nmode = keys\n[admin]\nkey_sha256 = %s\n"
             "[limits]\nrpm = 0\ntpm = 0\ntoken_budget = 0\n[tenant.acme]\nkey_sha256 = %s\n%s",
             h_fake_upstream_conf(&fake, upstream_keys), ahex, hex, extra ? extra : "");
    h_daemon_write_conf(&d, 2, conf);
}

static void write_admin_conf(const char *extra)
{
    write_admin_conf_with(NULL, extra);
}

static void start_with_admin(void)
{
    h_fake_start(&fake);
    h_daemon_init(&d);
    write_admin_conf(NULL);
    h_daemon_start(&d, NULL);
}

Test(tenants, admin_api_round_trip)
{
    struct h_resp r;
    json_t *j;
    char key[128], auth[160], id[64];

    start_with_admin();
    cr_assert_eq(admin("GET", "/admin/v1/tenants", "sk-wrong", NULL, &r), 401);
    cr_assert_str_eq(h_header(&r, "WWW-Authenticate"), "Bearer");
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret",
                       "{\"name\":\"beta\",\"rpm\":100,\"token_budget\":50000,"
                       "\"budget_period\":\"month\"}",
                       &r),
                 201, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "beta");
    cr_assert_eq(json_integer_value(json_object_get(j, "rpm")), 100);
    cr_assert_str_eq(json_string_value(json_object_get(j, "budget_period")), "month");
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret", "{\"name\":\"beta\"}", &r),
                 409);
    h_resp_free(&r);
    cr_assert_eq(
        admin("POST", "/admin/v1/tenants", "sk-admin-secret", "{\"name\":\"no spaces\"}", &r), 422);
    h_resp_free(&r);

    /* A key, shown once, usable at once by every worker. */
    cr_assert_eq(admin("POST", "/admin/v1/tenants/beta/keys", "sk-admin-secret", "", &r), 201);
    j = json_loads(r.body, 0, NULL);
    snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(j, "key")));
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(strncmp(key, "sk-sluice-", 10), 0, "%s", key);
    snprintf(auth, sizeof(auth), "Bearer %s", key);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(post("/api/chat", auth, "{\"user_message\":\"as beta\"}", &r), 200);
        h_resp_free(&r);
    }
    cr_assert_eq(admin("GET", "/admin/v1/tenants/beta/usage", "sk-admin-secret", NULL, &r), 200);
    j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "tenant")), "beta");
    cr_assert_gt(json_integer_value(json_object_get(j, "used")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "reserved")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "budget")), 50000);
    cr_assert_eq(json_integer_value(json_object_get(j, "remaining")),
                 50000 - json_integer_value(json_object_get(j, "used")));
    cr_assert(json_is_string(json_object_get(j, "reset_at")));
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants/beta/usage/reset", "sk-admin-secret", "", &r),
                 200);
    cr_assert_not_null(strstr(r.body, "\"used\":0"), "%s", r.body);
    h_resp_free(&r);

    /* Limits change at once; a static tenant's belong to the file. */
    cr_assert_eq(admin("PATCH", "/admin/v1/tenants/beta", "sk-admin-secret", "{\"rpm\":1}", &r),
                 200);
    h_resp_free(&r);
    /* beta just sent 4 requests: under 1 per minute, it must wait. */
    cr_assert_eq(post("/api/chat", auth, "{\"user_message\":\"one\"}", &r), 429);
    cr_assert_str_eq(h_header(&r, "x-ratelimit-limit-requests"), "1");
    h_resp_free(&r);
    cr_assert_eq(admin("PATCH", "/admin/v1/tenants/acme", "sk-admin-secret", "{\"rpm\":1}", &r),
                 409);
    h_resp_free(&r);

    /* Revoked keys stop working; deleted tenants disappear. */
    char path[128];
    snprintf(path, sizeof(path), "/admin/v1/keys/%s", id);
    cr_assert_eq(admin("DELETE", path, "sk-admin-secret", NULL, &r), 200);
    h_resp_free(&r);
    cr_assert_eq(post("/api/chat", auth, "{\"user_message\":\"gone\"}", &r), 401);
    h_resp_free(&r);
    cr_assert_eq(admin("DELETE", "/admin/v1/tenants/beta", "sk-admin-secret", NULL, &r), 200);
    h_resp_free(&r);
    cr_assert_eq(admin("GET", "/admin/v1/tenants/beta", "sk-admin-secret", NULL, &r), 404);
    h_resp_free(&r);
    cr_assert_eq(admin("GET", "/admin/v1/tenants", "sk-admin-secret", NULL, &r), 200);
    cr_assert_not_null(strstr(r.body, "\"name\":\"acme\""), "%s", r.body);
    cr_assert_null(strstr(r.body, "\"name\":\"beta\""), "%s", r.body);
    h_resp_free(&r);
    cr_assert_not(h_file_contains(d.log, key), "a created key reached the log");
    cr_assert_not(h_file_contains(d.log, "sk-admin-secret"));
    stop();
}

/* A new key for tenant name through the admin API: its bearer header in auth, its id in id. */
static void new_key(const char *name, char auth[160], char id[64])
{
    struct h_resp r;
    char path[128];
    json_t *j;

    snprintf(path, sizeof(path), "/admin/v1/tenants/%s/keys", name);
    cr_assert_eq(admin("POST", path, "sk-admin-secret", "", &r), 201);
    j = json_loads(r.body, 0, NULL);
    snprintf(auth, 160, "Bearer %s", json_string_value(json_object_get(j, "key")));
    snprintf(id, 64, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
}

/* Each worker remembers the keys it has matched (auth_cache.h); a key revoked, or a tenant
 * deleted, through any worker must still be refused on the very next request.  Each request is
 * a new connection, so both workers serve some of the warm-up and some of the checks. */
Test(tenants, revoked_keys_and_deleted_tenants_are_refused_however_warm_the_cache)
{
    static const char body[] = "{\"user_message\":\"hi\"}";
    char auth[160], id[64], auth2[160], id2[64], path[128];
    struct h_resp r;
    int i;

    start_with_admin();
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret", "{\"name\":\"beta\"}", &r),
                 201);
    h_resp_free(&r);
    new_key("beta", auth, id);
    new_key("beta", auth2, id2);
    for (i = 0; i < 12; i++) {
        cr_assert_eq(post("/api/chat", auth, body, &r), 200);
        h_resp_free(&r);
        cr_assert_eq(post("/api/chat", auth2, body, &r), 200);
        h_resp_free(&r);
    }
    snprintf(path, sizeof(path), "/admin/v1/keys/%s", id);
    cr_assert_eq(admin("DELETE", path, "sk-admin-secret", NULL, &r), 200);
    h_resp_free(&r);
    for (i = 0; i < 12; i++) {
        cr_assert_eq(post("/api/chat", auth, body, &r), 401, "request %d after the revocation", i);
        h_resp_free(&r);
        cr_assert_eq(post("/api/chat", auth2, body, &r), 200, "the tenant's other key");
        h_resp_free(&r);
    }
    cr_assert_eq(admin("DELETE", "/admin/v1/tenants/beta", "sk-admin-secret", NULL, &r), 200);
    h_resp_free(&r);
    for (i = 0; i < 12; i++) {
        cr_assert_eq(
            post("/v1/chat/completions", auth2, "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", &r),
            401, "request %d after the tenant was deleted", i);
        h_resp_free(&r);
    }
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", body, &r), 200);
    h_resp_free(&r);
    stop();
}

/* [state] max_tenants and max_keys size the shared tables: past them the admin API answers
 * 507 and everything already there goes on working; a reload cannot resize them. */
Test(tenants, the_state_table_sizes_bound_tenants_and_keys_and_need_a_restart)
{
    struct h_resp r;
    int i;

    h_fake_start(&fake);
    h_daemon_init(&d);
    write_admin_conf("[state]\nmax_tenants = 2\nmax_keys = 2\n");
    h_daemon_start(&d, NULL);
    /* acme and its key take one of each. */
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret", "{\"name\":\"beta\"}", &r),
                 201, "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret", "{\"name\":\"gamma\"}", &r),
                 507);
    cr_assert_not_null(strstr(r.body, "Tenant table full"), "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants/beta/keys", "sk-admin-secret", "", &r), 201);
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants/beta/keys", "sk-admin-secret", "", &r), 507);
    cr_assert_not_null(strstr(r.body, "Key table full"), "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"still here\"}", &r),
                 200);
    h_resp_free(&r);

    write_admin_conf("[state]\nmax_tenants = 3\nmax_keys = 2\n");
    kill(d.pid, SIGHUP);
    for (i = 0; i < 300 && h_log_count(&d, (const char *[]){ "\"event\":\"reload_failed\"",
                                                             "max_tenants", NULL }) == 0;
         i++)
        h_sleep_ms(10);
    cr_assert_eq(h_log_count(&d, (const char *[]){ "\"event\":\"reload_failed\"",
                                                   "restart sluiced to apply", NULL }),
                 1);
    cr_assert_eq(h_log_count(&d, (const char *[]){ "\"event\":\"reload_done\"", NULL }), 0);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret", "{\"name\":\"gamma\"}", &r),
                 507, "the old sizes still hold");
    h_resp_free(&r);
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"still here\"}", &r),
                 200);
    h_resp_free(&r);
    stop();
}

Test(tenants, admin_api_is_off_without_an_admin_key)
{
    struct h_resp r;

    start(1, "", NULL);
    cr_assert_eq(admin("GET", "/admin/v1/tenants", "anything", NULL, &r), 403);
    h_resp_free(&r);
    stop();
}

static long long usage_used(const char *tenant)
{
    char path[128];
    struct h_resp r;
    long long used;
    json_t *j;

    snprintf(path, sizeof(path), "/admin/v1/tenants/%s/usage", tenant);
    cr_assert_eq(admin("GET", path, "sk-admin-secret", NULL, &r), 200, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    used = json_integer_value(json_object_get(j, "used"));
    json_decref(j);
    h_resp_free(&r);
    return used;
}

Test(tenants, usage_tenants_and_keys_survive_a_restart)
{
    char state[400], extra[512], key[128], auth[160];
    long long acme_used, beta_used;
    struct h_resp r;
    json_t *j;

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(state, sizeof(state), "%s/state.json", d.dir);
    snprintf(extra, sizeof(extra), "[state]\nfile = %s\n", state);
    write_admin_conf(extra);
    h_daemon_start(&d, NULL);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret",
                       "{\"name\":\"beta\",\"token_budget\":100000}", &r),
                 201);
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants/beta/keys", "sk-admin-secret", "", &r), 201);
    j = json_loads(r.body, 0, NULL);
    snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    h_resp_free(&r);
    snprintf(auth, sizeof(auth), "Bearer %s", key);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(post("/api/chat", auth, "{\"user_message\":\"remember me\"}", &r), 200);
        h_resp_free(&r);
        cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"me too\"}", &r),
                     200);
        h_resp_free(&r);
    }
    beta_used = usage_used("beta");
    acme_used = usage_used("acme");
    cr_assert_gt(beta_used, 0);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
    cr_assert(h_file_contains(state, "\"beta\""));
    cr_assert_not(h_file_contains(state, key), "the state file holds hashes, never keys");

    h_daemon_start(&d, NULL);
    cr_assert_eq(usage_used("beta"), beta_used);
    cr_assert_eq(usage_used("acme"), acme_used);
    cr_assert_eq(post("/api/chat", auth, "{\"user_message\":\"still me\"}", &r), 200,
                 "the admin-created key must survive the restart");
    h_resp_free(&r);
    cr_assert_gt(usage_used("beta"), beta_used);
    stop();
}

Test(tenants, a_corrupt_state_file_is_reported_and_ignored)
{
    char state[400], extra[512];
    struct h_resp r;

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(state, sizeof(state), "%s/state.json", d.dir);
    h_write_file(state, "{\"version\": 1, \"tenants\": [{\"name\": 42}");
    snprintf(extra, sizeof(extra), "[state]\nfile = %s\n", state);
    write_admin_conf(extra);
    h_daemon_start(&d, NULL);
    cr_assert_eq(post("/api/chat", "Bearer sk-acme-1", "{\"user_message\":\"fine\"}", &r), 200);
    h_resp_free(&r);
    cr_assert_eq(h_log_count(&d, (const char *[]){ "state_load_failed", "state.json", NULL }), 1);
    stop();
}

/* sluicectl against the real daemon, as an operator would use it. */
static int ctl(char *out, size_t out_sz, const char *args)
{
    char cmd[1024];
    FILE *p;
    size_t n;
    int st;

    snprintf(cmd, sizeof(cmd),
             "SLUICE_ADMIN_KEY=sk-admin-secret %s/tools/sluicectl/sluicectl --url "
             "http://127.0.0.1:%d %s 2>&1",
             SL_TEST_BUILDDIR, d.port, args);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    n = fread(out, 1, out_sz - 1, p);
    out[n] = '\0';
    st = pclose(p);
    return WEXITSTATUS(st);
}

Test(tenants, sluicectl_round_trip)
{
    char out[8192], key[128], auth[160];
    struct h_resp r;
    json_t *j;

    start_with_admin();
    cr_assert_eq(ctl(out, sizeof(out), "tenant create gamma --rpm 100 --budget 9000 --period day"),
                 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"gamma\""), "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "tenant create gamma"), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sluicectl: "), "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "key create gamma 2>/dev/null"), 0, "%s", out);
    cr_assert_eq(sscanf(out, "%127s", key), 1);
    cr_assert_eq(strncmp(key, "sk-sluice-", 10), 0, "%s", out);
    snprintf(auth, sizeof(auth), "Bearer %s", key);
    cr_assert_eq(post("/api/chat", auth, "{\"user_message\":\"via ctl\"}", &r), 200);
    h_resp_free(&r);
    cr_assert_eq(ctl(out, sizeof(out), "usage gamma"), 0, "%s", out);
    j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert_gt(json_integer_value(json_object_get(j, "used")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "budget")), 9000);
    json_decref(j);
    cr_assert_eq(ctl(out, sizeof(out), "tenant set gamma --rpm 5"), 0, "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "tenant list"), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"acme\""), "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "tenant delete acme"), 1, "static tenants stay: %s", out);
    cr_assert_eq(ctl(out, sizeof(out), "usage reset gamma"), 0, "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "tenant delete gamma"), 0, "%s", out);
    cr_assert_eq(post("/api/chat", auth, "{\"user_message\":\"gone\"}", &r), 401);
    h_resp_free(&r);
    stop();
}

/* ---- model lists (SPEC §10) ---- */

#define TWO_MODELS "allowed_models = gpt-4o-mini, gpt-4o\n"

/* The "models" of a tenant's JSON joined with ',' ("" for []); asserts it is an array. */
static const char *models_of(const char *body)
{
    static char out[256];
    json_t *j = json_loads(body, 0, NULL), *m = json_object_get(j, "models"), *v;
    size_t i;

    cr_assert(json_is_array(m), "no models array in %s", body);
    out[0] = '\0';
    json_array_foreach(m, i, v)
    {
        strncat(out, i ? "," : "", sizeof(out) - strlen(out) - 1);
        strncat(out, json_string_value(v), sizeof(out) - strlen(out) - 1);
    }
    json_decref(j);
    return out;
}

static const char *show_models(const char *tenant)
{
    char path[128];
    static char out[256];
    struct h_resp r;

    snprintf(path, sizeof(path), "/admin/v1/tenants/%s", tenant);
    cr_assert_eq(admin("GET", path, "sk-admin-secret", NULL, &r), 200, "%s", r.body);
    snprintf(out, sizeof(out), "%s", models_of(r.body));
    h_resp_free(&r);
    return out;
}

static long patch_beta(const char *body, struct h_resp *r)
{
    return admin("PATCH", "/admin/v1/tenants/beta", "sk-admin-secret", body, r);
}

/* The refusals of a models field, each answered with the reason and changing nothing. */
static void bad_models_are_refused(void)
{
    static const struct {
        const char *body;
        long status;
        const char *detail;
    } bad[] = {
        { "{\"models\":[\"gpt-5\"]}", 400, "model 'gpt-5' is not configured" },
        { "{\"models\":[\"gpt-4o\",\"o1\"]}", 400, "model 'o1' is not configured" },
        { "{\"models\":[\"\"]}", 400, "empty" },
        { "{\"models\":[\" \"]}", 400, "empty" },
        { "{\"models\":[\"gpt-4o,gpt-4o-mini\"]}", 400, "','" },
        { "{\"models\":\"gpt-4o\"}", 422, "array" },
        { "{\"models\":[7]}", 422, "array" },
        { "{\"models\":{}}", 422, "array" },
    };
    struct h_resp r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(patch_beta(bad[i].body, &r), bad[i].status, "%s: %s", bad[i].body, r.body);
        cr_assert_not_null(strstr(r.body, bad[i].detail), "%s: %s", bad[i].body, r.body);
        h_resp_free(&r);
    }
    cr_assert_str_eq(show_models("beta"), "gpt-4o");
}

Test(tenants, admin_api_model_lists_survive_a_restart)
{
    char state[400], extra[512];
    struct h_resp r;

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(state, sizeof(state), "%s/state.json", d.dir);
    snprintf(extra, sizeof(extra), "[state]\nfile = %s\n", state);
    write_admin_conf_with(TWO_MODELS, extra);
    h_daemon_start(&d, NULL);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret",
                       "{\"name\":\"beta\",\"models\":[\"gpt-4o\"]}", &r),
                 201, "%s", r.body);
    cr_assert_str_eq(models_of(r.body), "gpt-4o");
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret",
                       "{\"name\":\"gamma\",\"models\":[\"gpt-4o\",\"gpt-5\"]}", &r),
                 400, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "gpt-5"), "the error must name the model: %s", r.body);
    h_resp_free(&r);
    cr_assert_eq(admin("GET", "/admin/v1/tenants/gamma", "sk-admin-secret", NULL, &r), 404,
                 "a refused create left a tenant behind");
    h_resp_free(&r);
    bad_models_are_refused();

    /* A change of limits keeps the list; a list is canonical; [] and null lift it. */
    cr_assert_eq(patch_beta("{\"rpm\":7}", &r), 200, "%s", r.body);
    cr_assert_str_eq(models_of(r.body), "gpt-4o");
    h_resp_free(&r);
    cr_assert_eq(patch_beta("{\"models\":[\"gpt-4o-mini\",\"gpt-4o\",\"gpt-4o-mini\"]}", &r), 200);
    cr_assert_str_eq(models_of(r.body), "gpt-4o-mini,gpt-4o");
    h_resp_free(&r);
    cr_assert_eq(patch_beta("{\"models\":null}", &r), 200, "%s", r.body);
    cr_assert_str_eq(models_of(r.body), "");
    h_resp_free(&r);
    cr_assert_eq(patch_beta("{\"models\":[\"gpt-4o-mini\"]}", &r), 200, "%s", r.body);
    h_resp_free(&r);

    /* A static tenant's models are the file's; its list shows as []: every model. */
    cr_assert_eq(admin("PATCH", "/admin/v1/tenants/acme", "sk-admin-secret",
                       "{\"models\":[\"gpt-4o\"]}", &r),
                 409);
    cr_assert_not_null(strstr(r.body, "configuration file"), "%s", r.body);
    h_resp_free(&r);
    cr_assert_str_eq(show_models("acme"), "");
    cr_assert_eq(admin("GET", "/admin/v1/tenants", "sk-admin-secret", NULL, &r), 200);
    cr_assert_not_null(strstr(r.body, "\"models\":[\"gpt-4o-mini\"]"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"models\":[]"), "%s", r.body);
    h_resp_free(&r);

    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
    h_daemon_start(&d, NULL);
    cr_assert_str_eq(show_models("beta"), "gpt-4o-mini", "the list did not survive a restart");
    cr_assert_eq(patch_beta("{\"models\":[]}", &r), 200, "%s", r.body);
    cr_assert_str_eq(models_of(r.body), "");
    h_resp_free(&r);
    stop();
}

Test(tenants, sluicectl_models)
{
    char out[8192];

    h_fake_start(&fake);
    h_daemon_init(&d);
    write_admin_conf_with(TWO_MODELS, NULL);
    h_daemon_start(&d, NULL);
    cr_assert_eq(ctl(out, sizeof(out), "tenant create delta --models gpt-4o,gpt-4o-mini"), 0, "%s",
                 out);
    cr_assert_str_eq(models_of(out), "gpt-4o,gpt-4o-mini");
    cr_assert_eq(ctl(out, sizeof(out), "tenant set delta --models gpt-4o-mini"), 0, "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "tenant show delta"), 0, "%s", out);
    cr_assert_str_eq(models_of(out), "gpt-4o-mini");
    cr_assert_eq(ctl(out, sizeof(out), "tenant set delta --models gpt-4"), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sluicectl: models: model 'gpt-4' is not configured (400)"),
                       "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "tenant set delta --models ''"), 0, "%s", out);
    cr_assert_str_eq(models_of(out), "");
    cr_assert_eq(ctl(out, sizeof(out), "tenant list"), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"models\": []"), "%s", out);
    stop();
}

/* ---- a tenant's input-guard policy (SPEC §13) ---- */

#define STRICT_POLICY "[guard.strict]\ndeny_markup = html\n"

/* The "guard" of a tenant's JSON: its name, or "null" for the default. */
static const char *guard_of(const char *body)
{
    static char out[128];
    json_t *j = json_loads(body, 0, NULL), *g = json_object_get(j, "guard");

    cr_assert(json_is_null(g) || json_is_string(g), "no guard in %s", body);
    snprintf(out, sizeof(out), "%s", json_is_null(g) ? "null" : json_string_value(g));
    json_decref(j);
    return out;
}

static const char *show_guard(const char *tenant)
{
    char path[128];
    static char out[128];
    struct h_resp r;

    snprintf(path, sizeof(path), "/admin/v1/tenants/%s", tenant);
    cr_assert_eq(admin("GET", path, "sk-admin-secret", NULL, &r), 200, "%s", r.body);
    snprintf(out, sizeof(out), "%s", guard_of(r.body));
    h_resp_free(&r);
    return out;
}

/* The refusals of a guard field, each a 422 with the reason, changing nothing. */
static void bad_guards_are_refused(void)
{
    static const char not_a_name[] = "guard must be a policy name, \\\"none\\\" or null";
    static const struct {
        const char *body, *detail;
    } bad[] = {
        { "{\"guard\":\"strict\"}", "guard: no policy named 'strict'" },
        { "{\"guard\":\"default\"}", "guard: no policy named 'default'" },
        { "{\"guard\":\"a b\"}", "guard: no policy named 'a b'" },
        { "{\"guard\":\"x\\u0001<y>\"}", "guard: no policy named 'x?<y>'" },
        { "{\"guard\":7}", not_a_name },
        { "{\"guard\":true}", not_a_name },
        { "{\"guard\":[\"none\"]}", not_a_name },
        { "{\"guard\":{}}", not_a_name },
    };
    struct h_resp r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(patch_beta(bad[i].body, &r), 422, "%s: %s", bad[i].body, r.body);
        cr_assert_not_null(strstr(r.body, bad[i].detail), "%s: %s", bad[i].body, r.body);
        h_resp_free(&r);
    }
    cr_assert_str_eq(show_guard("beta"), "none");
}

/* A long unknown name comes back cut, never whole. */
static void a_long_unknown_guard_is_echoed_cut(void)
{
    char body[1200], name[1001];
    struct h_resp r;

    memset(name, 'g', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"guard\":\"%s\"}", name);
    cr_assert_eq(patch_beta(body, &r), 422, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "guard: no policy named 'gggg"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "...'"), "%s", r.body);
    cr_assert_lt(strlen(r.body), 200, "%s", r.body);
    h_resp_free(&r);
}

/* Passes without [guard.NAME] sections: none, null, the refusals, the file's tenants. */
Test(tenants, admin_api_guard_none_null_refusals_and_a_restart)
{
    char state[400], extra[512];
    struct h_resp r;

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(state, sizeof(state), "%s/state.json", d.dir);
    snprintf(extra, sizeof(extra), "[state]\nfile = %s\n", state);
    write_admin_conf(extra);
    h_daemon_start(&d, NULL);
    cr_assert_str_eq(show_guard("acme"), "null", "a static tenant without guard = has the default");
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret",
                       "{\"name\":\"beta\",\"guard\":\"none\"}", &r),
                 201, "%s", r.body);
    cr_assert_str_eq(guard_of(r.body), "none");
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret",
                       "{\"name\":\"gamma\",\"guard\":\"strict\"}", &r),
                 422, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "guard: no policy named 'strict'"), "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(admin("GET", "/admin/v1/tenants/gamma", "sk-admin-secret", NULL, &r), 404,
                 "a refused create left a tenant behind");
    h_resp_free(&r);
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret", "{\"name\":\"delta\"}", &r),
                 201, "%s", r.body);
    cr_assert_str_eq(guard_of(r.body), "null", "a new tenant has the default");
    h_resp_free(&r);
    bad_guards_are_refused();
    a_long_unknown_guard_is_echoed_cut();

    /* A change of limits keeps the guard; null is the default again; "" is too. */
    cr_assert_eq(patch_beta("{\"rpm\":7}", &r), 200, "%s", r.body);
    cr_assert_str_eq(guard_of(r.body), "none");
    h_resp_free(&r);
    cr_assert_eq(patch_beta("{\"guard\":null}", &r), 200, "%s", r.body);
    cr_assert_str_eq(guard_of(r.body), "null");
    h_resp_free(&r);
    cr_assert_eq(patch_beta("{\"guard\":\"none\"}", &r), 200, "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(
        admin("PATCH", "/admin/v1/tenants/delta", "sk-admin-secret", "{\"guard\":\"\"}", &r), 200,
        "%s", r.body);
    cr_assert_str_eq(guard_of(r.body), "null");
    h_resp_free(&r);

    /* A static tenant's guard is the file's. */
    cr_assert_eq(
        admin("PATCH", "/admin/v1/tenants/acme", "sk-admin-secret", "{\"guard\":\"none\"}", &r),
        409);
    cr_assert_not_null(strstr(r.body, "configuration file"), "%s", r.body);
    h_resp_free(&r);
    cr_assert_str_eq(show_guard("acme"), "null");
    cr_assert_eq(admin("GET", "/admin/v1/tenants", "sk-admin-secret", NULL, &r), 200);
    cr_assert_not_null(strstr(r.body, "\"guard\":\"none\""), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"guard\":null"), "%s", r.body);
    h_resp_free(&r);

    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
    cr_assert(h_file_contains(state, "\"guard\": \"none\"") ||
                  h_file_contains(state, "\"guard\":\"none\""),
              "the state file lacks the guard");
    h_daemon_start(&d, NULL);
    cr_assert_str_eq(show_guard("beta"), "none", "the guard did not survive a restart");
    cr_assert_str_eq(show_guard("delta"), "null");
    stop();
}

/* Needs [guard.NAME] sections in the configuration. */
Test(tenants, admin_api_guard_names_a_configured_policy)
{
    char out[8192];
    struct h_resp r;

    h_fake_start(&fake);
    h_daemon_init(&d);
    /* The first line is acme's: the file gives it the policy. */
    write_admin_conf("guard = strict\n" STRICT_POLICY);
    h_daemon_start(&d, NULL);
    cr_assert_str_eq(show_guard("acme"), "strict");
    cr_assert_eq(admin("POST", "/admin/v1/tenants", "sk-admin-secret",
                       "{\"name\":\"beta\",\"guard\":\"strict\"}", &r),
                 201, "%s", r.body);
    cr_assert_str_eq(guard_of(r.body), "strict");
    h_resp_free(&r);
    cr_assert_str_eq(show_guard("beta"), "strict");
    cr_assert_eq(patch_beta("{\"guard\":\"lenient\"}", &r), 422, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "guard: no policy named 'lenient'"), "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(patch_beta("{\"guard\":null}", &r), 200, "%s", r.body);
    cr_assert_str_eq(guard_of(r.body), "null");
    h_resp_free(&r);

    /* sluicectl against the real daemon. */
    cr_assert_eq(ctl(out, sizeof(out), "tenant create delta --guard strict"), 0, "%s", out);
    cr_assert_str_eq(guard_of(out), "strict");
    cr_assert_eq(ctl(out, sizeof(out), "tenant set delta --guard lenient"), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sluicectl: guard: no policy named 'lenient' (422)"), "%s", out);
    cr_assert_eq(ctl(out, sizeof(out), "tenant set delta --guard none"), 0, "%s", out);
    cr_assert_str_eq(guard_of(out), "none");
    cr_assert_eq(ctl(out, sizeof(out), "tenant set delta --guard ''"), 0, "%s", out);
    cr_assert_str_eq(guard_of(out), "null");
    cr_assert_eq(ctl(out, sizeof(out), "tenant show acme"), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"guard\": \"strict\""), "%s", out);
    stop();
}
