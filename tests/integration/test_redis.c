/* SPDX-License-Identifier: MIT */
/* test_redis.c - budgets, rate windows, the tenant table and the owners of responses in a
 * real redis-server: the real sluiced (one or two instances, as two hosts would run) against
 * the fake upstream.  What is checked is what an operator sees: statuses, the counters in Redis,
 * the figures the upstream reported, and the log. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "h_redis.h"
#include "harness.h"

/* Every test has a redis-server (rd) and the fake upstream (f); gateways are its own. */
static struct h_redis rd;
static struct h_fake f;

static void rig_up(void)
{
    h_redis_start(&rd);
    h_fake_start(&f);
}

static void rig_down(void)
{
    h_fake_stop(&f);
    h_redis_stop(&rd);
}

TestSuite(redis, .timeout = 120);
#define REDIS_TEST(name) Test(redis, name, .init = rig_up, .fini = rig_down)

#define ACME_KEY "sk-acme-redis-1"
#define ADMIN_KEY "admin-redis-secret"
#define CHAT "{\"user_message\":\"Hello there, how are you today?\"}"

/* A gateway on `workers` workers with tenant acme (ACME_KEY, acme_limits), an admin key,
 * [redis] pointing at rd plus redis_extra keys, and [upstream] plus upstream_extra keys. */
static void start_gw_with(struct h_daemon *d, int workers, const char *acme_limits,
                          const char *redis_extra, const char *upstream_extra)
{
    char conf[4096], key[65], admin[65], up[512];

    h_sha256_hex(ACME_KEY, key);
    h_sha256_hex(ADMIN_KEY, admin);
    snprintf(up, sizeof(up), "max_tokens = 50\n%s", upstream_extra ? upstream_extra : "");
    h_daemon_init(d);
    snprintf(conf, sizeof(conf),
             "%s[auth]\nmode = keys\n[limits]\nrpm = 0\ntpm = 0\ntoken_budget = 0\n"
             "[redis]\nurl = %s\ntimeout_ms = 200\n%s\n[admin]\nkey_sha256 = %s\n"
             "[tenant.acme]\nkey_sha256 = %s\n%s\n",
             h_fake_upstream_conf(&f, up), h_redis_url(&rd), redis_extra ? redis_extra : "", admin,
             key, acme_limits ? acme_limits : "");
    h_daemon_write_conf(d, workers, conf);
    h_daemon_start(d, NULL);
}

static void start_gw(struct h_daemon *d, int workers, const char *acme_limits,
                     const char *redis_extra)
{
    start_gw_with(d, workers, acme_limits, redis_extra, NULL);
}

static void stop_gw(struct h_daemon *d)
{
    cr_assert_eq(h_daemon_stop(d, 15000), 0);
    cr_assert_not(h_file_contains(d->log, ACME_KEY), "a tenant key reached the log");
    cr_assert_not(h_file_contains(d->log, ADMIN_KEY), "the admin key reached the log");
    if (rd.password[0])
        cr_assert_not(h_file_contains(d->log, rd.password), "the Redis password was logged");
    h_assert_no_sanitizer_reports(d->log);
}

static long chat(const struct h_daemon *d, const char *key, struct h_resp *out)
{
    char auth[160];
    const char *hdrs[] = { auth, "Content-Type: application/json", NULL };
    struct h_resp r;
    long status;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    cr_assert_eq(h_http(d->port, "POST", "/api/chat", hdrs, CHAT, strlen(CHAT), &r), 0);
    status = r.status;
    if (out)
        *out = r;
    else
        h_resp_free(&r);
    return status;
}

/* What the upstream reported, as the gateway counted it. */
static long long tokens_seen(const struct h_daemon *d)
{
    return (long long)h_metric(d->port, "sluice_tokens_total{kind=\"prompt\"}") +
           (long long)h_metric(d->port, "sluice_tokens_total{kind=\"completion\"}");
}

static long long redis_used(const char *tenant)
{
    char pattern[128];

    snprintf(pattern, sizeof(pattern), "sluice:{%s}:used:*", tenant);
    return h_redis_sum(&rd, pattern);
}

/* Redis's usage of a tenant once it reaches want, or after timeout_ms: a settlement goes to
 * Redis after the reply (and a journal replays later), so a check right after a response
 * must allow for it. */
static long long used_of(const char *tenant, long long want, int timeout_ms)
{
    long long t0 = h_now_ms(), used = -1;

    while (h_now_ms() - t0 < timeout_ms) {
        used = redis_used(tenant);
        if (used == want)
            return used;
        h_sleep_ms(20);
    }
    return used;
}

static long long wait_used(long long want, int timeout_ms)
{
    return used_of("acme", want, timeout_ms);
}

REDIS_TEST(every_request_reserves_in_redis_and_settlements_follow)
{
    struct h_daemon d;
    long long total = 0;

    start_gw(&d, 2, "token_budget = 100000\nrpm = 1000\ntpm = 1000000\n", NULL);
    for (int i = 0; i < 20; i++) {
        struct h_resp r;
        json_t *body;

        cr_assert_eq(chat(&d, ACME_KEY, &r), 200, "%s", r.body);
        body = json_loads(r.body, 0, NULL);
        total +=
            json_integer_value(json_object_get(json_object_get(body, "usage"), "total_tokens"));
        cr_assert_not_null(strstr(r.headers, "x-ratelimit-remaining-requests"));
        json_decref(body);
        h_resp_free(&r);
    }
    cr_assert_gt(total, 0);
    cr_assert_eq(wait_used(total, 2000), total, "Redis holds what the upstream reported");
    cr_assert_eq(h_redis_int(&rd, "GET sluice:{acme}:reserved"), 0, "a reservation is held");
    cr_assert_eq(h_redis_int(&rd, "HLEN sluice:{acme}:resv"), 0);
    cr_assert_eq(h_redis_int(&rd, "ZCARD sluice:{acme}:resv_exp"), 0);
    /* One round trip before each upstream call; settlements go a few milliseconds after the
     * reply, several in one call when they finish together. */
    cr_assert_eq(h_metric(d.port, "sluice_redis_commands_total{op=\"reserve\"}"), 20);
    cr_assert_geq(h_metric(d.port, "sluice_redis_commands_total{op=\"settle\"}"), 1);
    cr_assert_leq(h_metric(d.port, "sluice_redis_commands_total{op=\"settle\"}"), 20);
    cr_assert_eq(h_metric(d.port, "sluice_redis_commands_total{op=\"replay\"}"), 0);
    cr_assert_eq(h_metric(d.port, "sluice_redis_fallbacks_total"), 0);
    stop_gw(&d);
}

struct burst {
    int port, n;
    long *statuses;
};

static void *run_burst(void *arg)
{
    struct burst *b = arg;
    const char *hdrs[] = { "Authorization: Bearer " ACME_KEY, "Content-Type: application/json",
                           NULL };

    h_http_parallel(b->port, "POST", "/api/chat", hdrs, CHAT, b->n, b->statuses);
    return NULL;
}

/* Lua's doubles cap a rate at 10^10 a minute: the headers name that limit, not the larger
 * one configured, so remaining and reset describe the window actually applied. */
REDIS_TEST(rate_headers_show_the_limit_the_scripts_apply)
{
    struct h_daemon d;
    struct h_resp r;

    start_gw(&d, 1, "rpm = 1000000000000\ntpm = 1000000000000\ntoken_budget = 1000000\n", NULL);
    cr_assert_eq(chat(&d, ACME_KEY, &r), 200, "%s", r.body);
    cr_assert_str_eq(h_header(&r, "x-ratelimit-limit-requests"), "10000000000");
    cr_assert_str_eq(h_header(&r, "x-ratelimit-limit-tokens"), "10000000000");
    cr_assert_str_eq(h_header(&r, "x-ratelimit-remaining-requests"), "9999999999");
    cr_assert_lt(atoll(h_header(&r, "x-ratelimit-remaining-tokens")), 10000000000LL);
    h_resp_free(&r);
    stop_gw(&d);
}

/* n requests at once to a gateway on `workers` workers whose upstream answers each after
 * delay_ms, so that they finish together; every one must succeed. */
static void start_and_burst(struct h_daemon *d, int workers, int delay_ms, int n)
{
    long st[64];
    struct burst b = { 0, n, st };
    char script[96];

    cr_assert_leq(n, 64);
    snprintf(script, sizeof(script), "[{\"delay_ms\":%d,\"repeat\":1000}]", delay_ms);
    h_fake_script(&f, script);
    start_gw(d, workers, "token_budget = 1000000\n", NULL);
    b.port = d->port;
    run_burst(&b);
    for (int i = 0; i < n; i++)
        cr_assert_eq(st[i], 200);
}

/* Requests that finish together settle together: one script call for many. */
REDIS_TEST(settlements_that_finish_together_share_one_call)
{
    enum { N = 32 };
    struct h_daemon d;
    double settles;

    start_and_burst(&d, 1, 100, N);
    cr_assert_eq(wait_used(tokens_seen(&d), 2000), tokens_seen(&d));
    settles = h_metric(d.port, "sluice_redis_commands_total{op=\"settle\"}");
    fprintf(stderr, "%d requests settled in %.0f calls\n", N, settles);
    cr_assert_eq(h_metric(d.port, "sluice_redis_commands_total{op=\"reserve\"}"), N);
    cr_assert_leq(settles, N / 2, "%d requests that finished together took %.0f calls", N, settles);
    cr_assert_eq(h_redis_int(&rd, "HLEN sluice:{acme}:resv"), 0);
    cr_assert_eq(h_redis_int(&rd, "GET sluice:{acme}:reserved"), 0);
    stop_gw(&d);
}

/* A settlement waits in the shared journal, not only in the worker's queue: workers stopped
 * and killed the moment their answers arrive lose none, and none counts twice. */
REDIS_TEST(workers_killed_with_settlements_queued_lose_none)
{
    struct h_daemon d;
    pid_t workers[4];
    int nw;

    start_and_burst(&d, 2, 50, 24);
    nw = h_children(d.pid, workers, 4);
    cr_assert_eq(nw, 2, "%d workers", nw);
    /* Stopped at once, their flush timers cannot run; killed, their queues are gone. */
    for (int i = 0; i < nw; i++)
        kill(workers[i], SIGSTOP);
    for (int i = 0; i < nw; i++)
        kill(workers[i], SIGKILL);
    cr_assert_eq(h_wait_children(d.pid, 2, workers, 5000), 2);
    cr_assert_eq(wait_used(tokens_seen(&d), 8000), tokens_seen(&d),
                 "Redis has %lld, the upstream reported %lld", redis_used("acme"), tokens_seen(&d));
    h_sleep_ms(1500);
    cr_assert_eq(redis_used("acme"), tokens_seen(&d), "a settlement counted twice");
    cr_assert_eq(h_redis_int(&rd, "GET sluice:{acme}:reserved"), 0);
    cr_assert_eq(h_redis_int(&rd, "HLEN sluice:{acme}:resv"), 0);
    stop_gw(&d);
}

/* The guarantee across hosts: two gateways, one Redis, one small budget, hit at once. */
REDIS_TEST(two_hosts_never_spend_more_than_one_budget)
{
    enum { N = 120, BUDGET = 3000 };
    struct h_daemon a, b;
    long sa[N], sb[N];
    struct burst ba = { 0, N, sa }, bb = { 0, N, sb };
    pthread_t ta, tb;
    int ok = 0, refused = 0, other = 0;
    long long used;
    json_t *reqs;

    /* Each request reserves 130 tokens (41 + 31 prompt bytes, 2 x 4 per message, 50) and the
     * upstream reports exactly that, so the budget is spent to the last reservation. */
    h_fake_script(&f, "[{\"delay_ms\":100,\"repeat\":1000,\"usage\":{\"prompt_tokens\":80,"
                      "\"completion_tokens\":50,\"total_tokens\":130}}]");
    start_gw(&a, 2, "token_budget = 3000\n", NULL);
    start_gw(&b, 1, "token_budget = 3000\n", NULL);
    ba.port = a.port;
    bb.port = b.port;
    pthread_create(&ta, NULL, run_burst, &ba);
    pthread_create(&tb, NULL, run_burst, &bb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    for (int i = 0; i < N; i++) {
        ok += (sa[i] == 200) + (sb[i] == 200);
        refused += (sa[i] == 429) + (sb[i] == 429);
        other += (sa[i] != 200 && sa[i] != 429) + (sb[i] != 200 && sb[i] != 429);
    }
    used = tokens_seen(&a) + tokens_seen(&b);
    fprintf(stderr,
            "two hosts, budget %d: %d admitted, %d refused, %d other; upstream "
            "reported %lld, Redis says %lld\n",
            BUDGET, ok, refused, other, used, redis_used("acme"));
    cr_assert_eq(other, 0);
    cr_assert_gt(ok, 0);
    cr_assert_gt(refused, 0, "the budget should have run out");
    cr_assert_leq(used, BUDGET, "two hosts spent %lld of a %d budget", used, BUDGET);
    cr_assert_geq(used, BUDGET - 130, "refused while %lld of %d was left", BUDGET - used, BUDGET);
    cr_assert_eq(wait_used(used, 2000), used);
    reqs = h_fake_requests(&f);
    cr_assert_eq(json_array_size(reqs), (size_t)ok, "a refused request reached the upstream");
    json_decref(reqs);
    cr_assert_eq(h_metric(a.port, "sluice_admission_rejections_total{reason=\"budget\"}") +
                     h_metric(b.port, "sluice_admission_rejections_total{reason=\"budget\"}"),
                 refused, "every refusal is the budget's");
    stop_gw(&a);
    stop_gw(&b);
}

REDIS_TEST(rate_limits_hold_across_hosts)
{
    struct h_daemon a, b;
    struct h_resp r;

    start_gw(&a, 1, "rpm = 6\n", NULL);
    start_gw(&b, 1, "rpm = 6\n", NULL);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(chat(&a, ACME_KEY, NULL), 200);
        cr_assert_eq(chat(&b, ACME_KEY, NULL), 200);
    }
    cr_assert_eq(chat(&a, ACME_KEY, &r), 429, "the 7th request of a 6 rpm tenant");
    cr_assert_not_null(strstr(r.body, "Rate limit exceeded"));
    cr_assert_str_eq(h_header(&r, "x-ratelimit-remaining-requests"), "0");
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    cr_assert_not_null(h_header(&r, "Retry-After"));
    h_resp_free(&r);
    cr_assert_eq(chat(&b, ACME_KEY, NULL), 429);
    cr_assert_eq(h_fake_stat(&f, "requests"), 6);
    stop_gw(&a);
    stop_gw(&b);
}

/* Load in the background: batches of 4 concurrent /api/chat until told to stop, pausable
 * (between batches) while the test kills workers.  No asserts here: it is another thread. */
struct load {
    int port;
    atomic_bool stop, pause, paused;
    atomic_long ok, other;
};

static void *run_load(void *arg)
{
    struct load *l = arg;
    const char *hdrs[] = { "Authorization: Bearer " ACME_KEY, "Content-Type: application/json",
                           NULL };
    long st[4];

    while (!atomic_load(&l->stop)) {
        if (atomic_load(&l->pause)) {
            atomic_store(&l->paused, true);
            h_sleep_ms(5);
            continue;
        }
        atomic_store(&l->paused, false);
        h_http_parallel(l->port, "POST", "/api/chat", hdrs, CHAT, 4, st);
        for (int i = 0; i < 4; i++)
            atomic_fetch_add(st[i] == 200 ? &l->ok : &l->other, 1);
    }
    return NULL;
}

static void load_pause(struct load *l, bool on)
{
    atomic_store(&l->pause, on);
    while (on && !atomic_load(&l->paused))
        h_sleep_ms(5);
}

/* fail_mode = local: Redis stopped under load, requests go on within this host's share;
 * Redis back, the journal replays and Redis holds exactly what the upstream reported. */
REDIS_TEST(redis_down_keeps_serving_locally_and_loses_no_usage)
{
    struct h_daemon d;
    struct load l = { 0 };
    pthread_t th;
    long long used;
    pid_t workers[4];

    /* This Redis keeps its data when it is stopped and started again. */
    h_redis_stop(&rd);
    rd.persist = true;
    h_redis_start(&rd);
    start_gw(&d, 2, "token_budget = 1000000\n", "fail_mode = local\nlocal_budget_share = 0.5\n");
    l.port = d.port;
    pthread_create(&th, NULL, run_load, &l);
    h_sleep_ms(300);
    h_redis_stop(&rd);
    h_sleep_ms(700);
    cr_assert_gt(h_metric(d.port, "sluice_redis_fallbacks_total"), 0);
    cr_assert_gt(h_metric(d.port, "sluice_redis_journal_pending"), 0);
    /* The journal lives in shared memory: workers killed meanwhile lose none of it.  (The
     * load waits, so that no request is cut: a cut one is charged in full, rightly, but the
     * upstream's figures could not be compared then.) */
    load_pause(&l, true);
    cr_assert_eq(h_children(d.pid, workers, 4), 2);
    kill(workers[0], SIGKILL);
    kill(workers[1], SIGKILL);
    cr_assert_eq(h_wait_children(d.pid, 2, workers, 5000), 2);
    load_pause(&l, false);
    h_sleep_ms(300);
    h_redis_start(&rd);
    h_sleep_ms(700);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    fprintf(stderr, "Redis stopped and restarted under load: %ld served, %ld not\n",
            atomic_load(&l.ok), atomic_load(&l.other));
    cr_assert_gt(atomic_load(&l.ok), 20);
    cr_assert_eq(atomic_load(&l.other), 0, "a request failed while Redis was away");
    used = wait_used(tokens_seen(&d), 8000);
    cr_assert_eq(used, tokens_seen(&d), "Redis has %lld, the upstream reported %lld", used,
                 tokens_seen(&d));
    h_sleep_ms(1500);
    cr_assert_eq(redis_used("acme"), tokens_seen(&d), "a settlement counted twice");
    cr_assert_eq(h_metric(d.port, "sluice_redis_journal_pending"), 0);
    cr_assert_eq(h_redis_int(&rd, "GET sluice:{acme}:reserved"), 0);
    stop_gw(&d);
}

/* Reloads under load on a Redis host: each new generation accepts only once its connection
 * is up, so none of its first requests takes the fail_mode path, and none fails. */
REDIS_TEST(reloads_under_load_fail_nothing_and_never_fall_back)
{
    struct h_daemon d;
    struct load l = { 0 };
    pthread_t th;

    start_gw(&d, 2, "token_budget = 10000000\n", "fail_mode = closed\n");
    l.port = d.port;
    pthread_create(&th, NULL, run_load, &l);
    for (int i = 0; i < 3; i++) {
        h_sleep_ms(700);
        kill(d.pid, SIGHUP);
    }
    h_sleep_ms(1000);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    fprintf(stderr, "3 reloads under load: %ld served, %ld not\n", atomic_load(&l.ok),
            atomic_load(&l.other));
    cr_assert_gt(atomic_load(&l.ok), 20);
    /* The accept race of docs/ARCHITECTURE.md (Draining) may close 1% on their way in. */
    cr_assert_leq(atomic_load(&l.other) * 100, atomic_load(&l.ok), "requests failed");
    cr_assert_geq(h_log_count(&d, (const char *[]){ "\"event\":\"reload_done\"", NULL }), 3);
    cr_assert_eq(h_metric(d.port, "sluice_redis_fallbacks_total"), 0,
                 "a new generation "
                 "admitted without Redis");
    cr_assert_eq(h_metric(d.port, "sluice_admission_rejections_total{reason=\"redis\"}"), 0);
    cr_assert_eq(wait_used(tokens_seen(&d), 3000), tokens_seen(&d));
    stop_gw(&d);
}

/* Stopped while Redis is away: the settlements Redis never got go to the state file and
 * reach Redis after the next start. */
REDIS_TEST(a_restart_while_redis_is_away_loses_no_usage)
{
    struct h_daemon d;
    char extra[600];
    long long seen, used;

    h_redis_stop(&rd);
    rd.persist = true;
    h_redis_start(&rd);
    snprintf(extra, sizeof(extra), "fail_mode = local\n[state]\nfile = %s/state.json\n",
             h_tmpdir());
    start_gw(&d, 2, "token_budget = 100000\n", extra);
    cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
    cr_assert_eq(wait_used(tokens_seen(&d), 2000), tokens_seen(&d));
    h_redis_stop(&rd);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
    seen = tokens_seen(&d);
    cr_assert_gt(h_metric(d.port, "sluice_redis_journal_pending"), 0);
    stop_gw(&d);
    h_redis_start(&rd);
    start_gw(&d, 2, "token_budget = 100000\n", extra);
    used = wait_used(seen, 5000);
    cr_assert_eq(used, seen, "Redis has %lld, the upstream reported %lld", used, seen);
    cr_assert_eq(h_metric(d.port, "sluice_redis_journal_pending"), 0);
    stop_gw(&d);
}

/* The local share is a real bound: with Redis away, a tenant gets at most its share. */
REDIS_TEST(redis_down_admits_no_more_than_the_local_share)
{
    struct h_daemon d;
    int ok = 0, refused = 0;
    struct h_resp r;

    /* Each /api/chat request reserves about 100 tokens (its bytes, the overhead, 50). */
    start_gw(&d, 1, "token_budget = 4000\n", "fail_mode = local\nlocal_budget_share = 0.1\n");
    h_redis_stop(&rd);
    for (int i = 0; i < 20; i++) {
        long s = chat(&d, ACME_KEY, &r);

        ok += s == 200;
        if (s == 429) {
            refused++;
            cr_assert_not_null(strstr(r.body, "Token budget exhausted"));
        }
        h_resp_free(&r);
    }
    fprintf(stderr, "Redis down, share 400 of 4000: %d admitted, %d refused, %lld used\n", ok,
            refused, tokens_seen(&d));
    cr_assert_gt(ok, 0);
    cr_assert_gt(refused, 0);
    cr_assert_leq(tokens_seen(&d), 400);
    stop_gw(&d);
}

REDIS_TEST(fail_closed_refuses_while_redis_is_down)
{
    struct h_daemon d;
    struct h_resp r;
    long long t0;
    long s = 0;

    start_gw(&d, 2, "token_budget = 100000\n", "fail_mode = closed\n");
    cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
    h_redis_stop(&rd);
    cr_assert_eq(chat(&d, ACME_KEY, &r), 503);
    cr_assert_not_null(strstr(r.body, "Quota store unavailable"), "%s", r.body);
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    cr_assert_not_null(h_header(&r, "Retry-After"));
    h_resp_free(&r);
    cr_assert_eq(h_fake_stat(&f, "requests"), 1, "a refused request reached the upstream");
    cr_assert_eq(h_http(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_not_null(strstr(r.body, "\"redis\""), "%s", r.body);
    h_resp_free(&r);
    cr_assert_gt(h_metric(d.port, "sluice_admission_rejections_total{reason=\"redis\"}"), 0);
    h_redis_start(&rd);
    for (t0 = h_now_ms(); h_now_ms() - t0 < 8000 && s != 200; h_sleep_ms(100))
        s = chat(&d, ACME_KEY, NULL);
    cr_assert_eq(s, 200, "served again once Redis is back");
    stop_gw(&d);
}

REDIS_TEST(an_emptied_script_cache_is_reloaded)
{
    struct h_daemon d;

    start_gw(&d, 1, "token_budget = 100000\n", NULL);
    cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
    cr_assert_str_eq(h_redis_str(&rd, "SCRIPT FLUSH"), "OK");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
    cr_assert_eq(wait_used(tokens_seen(&d), 2000), tokens_seen(&d));
    cr_assert_eq(h_metric(d.port, "sluice_redis_fallbacks_total"), 0, "NOSCRIPT fell back");
    stop_gw(&d);
}

/* A Redis that accepts and never answers: no request waits much past timeout_ms (200). */
REDIS_TEST(a_blackholed_redis_holds_no_request_past_its_deadline)
{
    struct h_daemon d;
    long long used;

    start_gw(&d, 1, "token_budget = 100000\n", "fail_mode = local\n");
    cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
    h_redis_pause(&rd);
    for (int i = 0; i < 5; i++) {
        long long t0 = h_now_ms();

        cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
        cr_assert_lt(h_now_ms() - t0, 200 + 600, "request %d took %lld ms", i, h_now_ms() - t0);
    }
    cr_assert_gt(h_metric(d.port, "sluice_redis_errors_total"), 0);
    h_redis_resume(&rd);
    /* Reserves that reached Redis late are released by the replayed settlements. */
    used = wait_used(tokens_seen(&d), 8000);
    cr_assert_eq(used, tokens_seen(&d));
    h_sleep_ms(1000);
    cr_assert_eq(h_redis_int(&rd, "GET sluice:{acme}:reserved"), 0);
    cr_assert_eq(redis_used("acme"), tokens_seen(&d));
    stop_gw(&d);
}

static char *sluicectl(const struct h_daemon *d, const char *args)
{
    char cmd[1024], keyfile[400];
    char *out = calloc(1, 8192);
    FILE *p;
    size_t n;

    snprintf(keyfile, sizeof(keyfile), "%s/admin.key", d->dir);
    h_write_file(keyfile, ADMIN_KEY "\n");
    snprintf(cmd, sizeof(cmd),
             "%s/tools/sluicectl/sluicectl --url http://127.0.0.1:%d --admin-key-file %s "
             "%s 2>&1",
             SL_TEST_BUILDDIR, d->port, keyfile, args);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    n = fread(out, 1, 8191, p);
    out[n] = '\0';
    cr_assert_eq(pclose(p), 0, "sluicectl %s: %s", args, out);
    return out;
}

REDIS_TEST(a_tenant_made_on_one_host_serves_on_the_other_within_a_second)
{
    struct h_daemon a, b;
    char *out, key[128] = "";
    long long t0, waited;
    long s = 0;

    start_gw(&a, 2, NULL, NULL);
    start_gw(&b, 2, NULL, NULL);
    free(sluicectl(&a, "tenant create beta --budget 5000 --rpm 100"));
    out = sluicectl(&a, "key create beta");
    sscanf(out, "%127s", key);
    free(out);
    cr_assert_eq(strncmp(key, "sk-sluice-", 10), 0, "no key in: %s", key);
    /* The host that made it serves it at once. */
    cr_assert_eq(chat(&a, key, NULL), 200);
    for (t0 = h_now_ms(); h_now_ms() - t0 < 3000 && s != 200; h_sleep_ms(20))
        s = chat(&b, key, NULL);
    waited = h_now_ms() - t0;
    fprintf(stderr, "a tenant made on host A served on host B after %lld ms\n", waited);
    cr_assert_eq(s, 200);
    cr_assert_lt(waited, 1000);
    /* The other host's admin view agrees, and Redis holds the usage of both. */
    out = sluicectl(&b, "usage beta");
    cr_assert_not_null(strstr(out, "\"budget\": 5000"), "%s", out);
    free(out);
    cr_assert_eq(used_of("beta", tokens_seen(&a) + tokens_seen(&b), 2000),
                 tokens_seen(&a) + tokens_seen(&b));
    /* A reset through either host empties the one count both share. */
    out = sluicectl(&a, "usage reset beta");
    cr_assert_not_null(strstr(out, "\"used\": 0"), "%s", out);
    free(out);
    cr_assert_eq(redis_used("beta"), 0);
    out = sluicectl(&b, "usage beta");
    cr_assert_not_null(strstr(out, "\"used\": 0"), "%s", out);
    free(out);
    /* Revoked on B: A stops taking it within a second too. */
    out = sluicectl(&b, "tenant show beta");
    free(out);
    free(sluicectl(&b, "tenant delete beta"));
    s = 200;
    for (t0 = h_now_ms(); h_now_ms() - t0 < 3000 && s == 200; h_sleep_ms(20))
        s = chat(&a, key, NULL);
    cr_assert_eq(s, 401);
    cr_assert_lt(h_now_ms() - t0, 1000);
    cr_assert_str_eq(h_redis_str(&rd, "HGET sluice:{@admin}:tenants beta"), "");
    stop_gw(&a);
    stop_gw(&b);
}

/* GET /admin/v1/tenants/NAME on d: the status, and its "models" joined with ','. */
static long tenant_models(const struct h_daemon *d, const char *name, char *out, size_t out_sz)
{
    char path[128], auth[128];
    const char *hdrs[] = { auth, NULL };
    struct h_resp r;
    json_t *j, *v;
    long status;
    size_t i;

    snprintf(path, sizeof(path), "/admin/v1/tenants/%s", name);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ADMIN_KEY);
    cr_assert_eq(h_http(d->port, "GET", path, hdrs, NULL, 0, &r), 0);
    status = r.status;
    out[0] = '\0';
    j = json_loads(r.body, 0, NULL);
    json_array_foreach(json_object_get(j, "models"), i, v)
    {
        strncat(out, i ? "," : "", out_sz - strlen(out) - 1);
        strncat(out, json_string_value(v), out_sz - strlen(out) - 1);
    }
    json_decref(j);
    h_resp_free(&r);
    return status;
}

/* Polls d until tenant name shows models `want` (a second is the promise); asserts it does. */
static void wait_models(const struct h_daemon *d, const char *name, const char *want)
{
    char got[256] = "";
    long long t0 = h_now_ms();
    long status = 0;

    while (h_now_ms() - t0 < 3000) {
        status = tenant_models(d, name, got, sizeof(got));
        if (status == 200 && strcmp(got, want) == 0)
            break;
        h_sleep_ms(20);
    }
    cr_assert_eq(status, 200, "%s: HTTP %ld", name, status);
    cr_assert_str_eq(got, want, "%s", name);
    cr_assert_lt(h_now_ms() - t0, 1500, "%s took %lld ms", name, h_now_ms() - t0);
}

static void hand_write(const char *name, const char *json)
{
    h_redis_int(&rd, "HSET sluice:{@admin}:tenants %s %s", name, json);
    h_redis_int(&rd, "INCR sluice:{@admin}:version");
}

REDIS_TEST(a_tenants_models_reach_every_host)
{
    static const char *models = "allowed_models = gpt-4o-mini, gpt-4o\n";
    struct h_daemon a, b;
    char got[256];

    start_gw_with(&a, 2, NULL, NULL, models);
    start_gw_with(&b, 1, NULL, NULL, models);
    free(sluicectl(&a, "tenant create beta --models gpt-4o"));
    cr_assert_not_null(
        strstr(h_redis_str(&rd, "HGET sluice:{@admin}:tenants beta"), "\"models\":\"gpt-4o\""));
    wait_models(&b, "beta", "gpt-4o");
    free(sluicectl(&b, "tenant set beta --models gpt-4o-mini,gpt-4o"));
    wait_models(&a, "beta", "gpt-4o-mini,gpt-4o");
    free(sluicectl(&b, "tenant set beta --rpm 9"));
    wait_models(&a, "beta", "gpt-4o-mini,gpt-4o");
    free(sluicectl(&a, "tenant set beta --models ''"));
    wait_models(&b, "beta", "");

    /* By hand: no "models" is every model, a name no longer served is kept, and a value that
     * is not a list is not a tenant. */
    hand_write("old", "{\"rpm\":5}");
    wait_models(&a, "old", "");
    hand_write("retired", "{\"models\":\"gpt-3.5-turbo\"}");
    wait_models(&a, "retired", "gpt-3.5-turbo");
    hand_write("broken", "{\"models\":\"gpt-4o,,gpt-4o-mini\"}");
    hand_write("typed", "{\"models\":[\"gpt-4o\"]}");
    h_sleep_ms(1000);
    cr_assert_eq(tenant_models(&a, "broken", got, sizeof(got)), 404);
    cr_assert_eq(tenant_models(&a, "typed", got, sizeof(got)), 404);
    cr_assert_eq(tenant_models(&a, "old", got, sizeof(got)), 200, "good entries stay");
    cr_assert_gt(h_log_count(&a, (const char *const[]){ "redis_tenants_invalid", NULL }), 0);
    stop_gw(&a);
    stop_gw(&b);
}

/* GET /admin/v1/tenants/NAME on d: the status, and its "guard" ("null" for the default). */
static long tenant_guard(const struct h_daemon *d, const char *name, char *out, size_t out_sz)
{
    char path[128], auth[128];
    const char *hdrs[] = { auth, NULL };
    struct h_resp r;
    json_t *j, *g;
    long status;

    snprintf(path, sizeof(path), "/admin/v1/tenants/%s", name);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ADMIN_KEY);
    cr_assert_eq(h_http(d->port, "GET", path, hdrs, NULL, 0, &r), 0);
    status = r.status;
    j = json_loads(r.body, 0, NULL);
    g = json_object_get(j, "guard");
    snprintf(out, out_sz, "%s", json_is_string(g) ? json_string_value(g) : g ? "null" : "");
    json_decref(j);
    h_resp_free(&r);
    return status;
}

/* Polls d until tenant name shows guard `want` (a second is the promise); asserts it does. */
static void wait_guard(const struct h_daemon *d, const char *name, const char *want)
{
    char got[128] = "";
    long long t0 = h_now_ms();
    long status = 0;

    while (h_now_ms() - t0 < 3000) {
        status = tenant_guard(d, name, got, sizeof(got));
        if (status == 200 && strcmp(got, want) == 0)
            break;
        h_sleep_ms(20);
    }
    cr_assert_eq(status, 200, "%s: HTTP %ld", name, status);
    cr_assert_str_eq(got, want, "%s", name);
    cr_assert_lt(h_now_ms() - t0, 1500, "%s took %lld ms", name, h_now_ms() - t0);
}

/* Passes without [guard.NAME] sections: "none" and the default travel, by hand too. */
REDIS_TEST(a_tenants_guard_reaches_every_host_and_outlives_a_restart)
{
    struct h_daemon a, b;
    char got[128];
    char *out;

    start_gw(&a, 2, NULL, NULL);
    start_gw(&b, 1, NULL, NULL);
    free(sluicectl(&a, "tenant create beta --guard none"));
    cr_assert_not_null(
        strstr(h_redis_str(&rd, "HGET sluice:{@admin}:tenants beta"), "\"guard\":\"none\""));
    wait_guard(&b, "beta", "none");
    /* A change of limits on the other host keeps it. */
    free(sluicectl(&b, "tenant set beta --rpm 9"));
    out = sluicectl(&a, "tenant show beta");
    cr_assert_not_null(strstr(out, "\"rpm\": 9"), "%s", out);
    cr_assert_not_null(strstr(out, "\"guard\": \"none\""), "%s", out);
    free(out);
    free(sluicectl(&b, "tenant set beta --guard ''"));
    wait_guard(&a, "beta", "null");

    /* By hand: no "guard" is the default, a policy this host lacks is kept (another host may
     * have it), and a value that is not a name is not a tenant.  "last" is written after the
     * bad ones: once a host has it, it has seen them too. */
    hand_write("old", "{\"rpm\":5}");
    hand_write("elsewhere", "{\"guard\":\"lenient\"}");
    hand_write("spaced", "{\"guard\":\"a b\"}");
    hand_write("typed", "{\"guard\":[\"none\"]}");
    hand_write("last", "{\"guard\":null}");
    wait_guard(&a, "last", "null");
    wait_guard(&a, "old", "null");
    wait_guard(&a, "elsewhere", "lenient");
    cr_assert_eq(tenant_guard(&a, "spaced", got, sizeof(got)), 404);
    cr_assert_eq(tenant_guard(&a, "typed", got, sizeof(got)), 404);
    cr_assert_gt(h_log_wait(&a, (const char *const[]){ "redis_tenants_invalid", NULL }, 1, 2000),
                 0);

    /* A restarted host takes the table back from Redis. */
    free(sluicectl(&a, "tenant set beta --guard none"));
    stop_gw(&b);
    h_daemon_start(&b, NULL);
    wait_guard(&b, "beta", "none");
    wait_guard(&b, "elsewhere", "lenient");
    stop_gw(&a);
    stop_gw(&b);
}

/* Needs [guard.NAME] sections in the configuration. */
REDIS_TEST(a_configured_policy_name_reaches_every_host)
{
    static const char *policy = "[guard.strict]\ndeny_markup = html\n";
    struct h_daemon a, b;

    /* acme's section ends the file: the sections after it go where its limits would. */
    start_gw(&a, 2, policy, NULL);
    start_gw(&b, 1, policy, NULL);
    free(sluicectl(&a, "tenant create beta --guard strict"));
    cr_assert_not_null(
        strstr(h_redis_str(&rd, "HGET sluice:{@admin}:tenants beta"), "\"guard\":\"strict\""));
    wait_guard(&b, "beta", "strict");
    stop_gw(&b);
    h_daemon_start(&b, NULL);
    wait_guard(&b, "beta", "strict");
    stop_gw(&a);
    stop_gw(&b);
}

REDIS_TEST(the_password_is_used_and_never_logged)
{
    struct h_daemon d;

    h_redis_stop(&rd);
    snprintf(rd.password, sizeof(rd.password), "p4ss-w0rd-for-redis");
    h_redis_start(&rd);
    start_gw(&d, 1, "token_budget = 100000\n", NULL);
    cr_assert_eq(chat(&d, ACME_KEY, NULL), 200);
    cr_assert_eq(wait_used(tokens_seen(&d), 2000), tokens_seen(&d), "usage did not reach Redis");
    stop_gw(&d);
    /* A wrong password: refused by Redis, reported, still not logged. */
    snprintf(rd.password, sizeof(rd.password), "wrong-password-xyz");
    start_gw(&d, 1, "token_budget = 100000\n", NULL);
    h_sleep_ms(500);
    cr_assert_gt(h_log_count(&d, (const char *const[]){ "redis_handshake_failed", NULL }), 0);
    stop_gw(&d);
}

/* ---- response ownership across hosts (SPEC §10) ---- */

#define BETA_KEY "sk-beta-redis-1"
#define RESPONSE_TTL_S 600
#define FOLLOW_UP_BODY_FMT                                                                         \
    "{\"model\":\"gpt-4o-mini\",\"input\":\"more\",\"previous_response_id\":\"%s\"}"

/* A host for the Responses routes: tenants acme and beta, owners kept RESPONSE_TTL_S. */
static void start_responses_gw(struct h_daemon *d, int workers)
{
    char more[512], beta[65];

    h_sha256_hex(BETA_KEY, beta);
    /* acme's section ends the file: the sections after it go where its limits would. */
    snprintf(more, sizeof(more), "[v1]\nresponse_ttl_s = %d\n[tenant.beta]\nkey_sha256 = %s\n",
             RESPONSE_TTL_S, beta);
    start_gw(d, workers, more, NULL);
}

static long v1(const struct h_daemon *d, const char *method, const char *path, const char *key,
               const char *body, struct h_resp *out)
{
    char auth[160];
    const char *hdrs[] = { auth, "Content-Type: application/json", NULL };

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    cr_assert_eq(h_http(d->port, method, path, hdrs, body, body ? strlen(body) : 0, out), 0);
    return out->status;
}

/* The OpenAI error's code and param in r's body are want_code and want_param (NULL: any). */
static void assert_error(const struct h_resp *r, const char *want_code, const char *want_param)
{
    json_t *j = json_loads(r->body, 0, NULL), *err = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *param = json_string_value(json_object_get(err, "param"));

    cr_assert_not_null(j, "not JSON: %s", r->body);
    cr_assert_str_eq(code ? code : "", want_code, "%s", r->body);
    if (want_param)
        cr_assert_str_eq(param ? param : "", want_param, "%s", r->body);
    json_decref(j);
}

static long status_of(const struct h_daemon *d, const char *method, const char *path,
                      const char *key, const char *body)
{
    struct h_resp r;
    long status = v1(d, method, path, key, body, &r);

    h_resp_free(&r);
    return status;
}

static void create_response(const struct h_daemon *d, const char *key, char id[128])
{
    struct h_resp r;
    json_t *j;

    cr_assert_eq(
        v1(d, "POST", "/v1/responses", key, "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\"}", &r),
        200, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    snprintf(id, 128, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(strncmp(id, "resp_", 5), 0, "no response id: %s", id);
}

static const char *owner_key(const char *id)
{
    static char key[200];

    snprintf(key, sizeof(key), "sluice:resp:%s", id);
    return key;
}

/* The owner's record goes to Redis after the reply, never waited for: allow for it. */
static void wait_owner_key(const char *id)
{
    long long t0 = h_now_ms();

    while (h_redis_int(&rd, "EXISTS %s", owner_key(id)) == 0 && h_now_ms() - t0 < 2000)
        h_sleep_ms(10);
    cr_assert_eq(h_redis_int(&rd, "EXISTS %s", owner_key(id)), 1, "%s never reached Redis",
                 owner_key(id));
}

/* The method and path of the last request the fake received. */
static void assert_last_upstream(const char *method, const char *path)
{
    json_t *last = h_fake_last(&f);

    cr_assert_str_eq(json_string_value(json_object_get(last, "method")), method);
    cr_assert_str_eq(json_string_value(json_object_get(last, "path")), path);
    json_decref(last);
}

/* The four operations on a response, for a tenant that does not own it: 404 not_found each. */
static void assert_operations_refused(const struct h_daemon *d, const char *key, const char *id)
{
    static const char *const ops[][2] = {
        { "GET", "" }, { "DELETE", "" }, { "GET", "/input_items" }, { "POST", "/cancel" }
    };
    char path[256];
    struct h_resp r;

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        snprintf(path, sizeof(path), "/v1/responses/%s%s", id, ops[i][1]);
        cr_assert_eq(v1(d, ops[i][0], path, key, ops[i][0][0] == 'P' ? "" : NULL, &r), 404,
                     "%s %s: %s", ops[i][0], path, r.body);
        assert_error(&r, "not_found", NULL);
        h_resp_free(&r);
    }
}

/* Host B never saw the creation: it learns the owner from Redis. */
REDIS_TEST(a_response_made_on_one_host_is_its_tenants_alone_on_every_host)
{
    struct h_daemon a, b;
    char id[128], path[300];
    struct h_resp r;
    long long ttl;
    size_t before;

    start_responses_gw(&a, 2);
    start_responses_gw(&b, 2);
    create_response(&a, ACME_KEY, id);
    wait_owner_key(id);
    cr_assert_str_eq(h_redis_str(&rd, "GET %s", owner_key(id)), "acme\ndefault");
    ttl = h_redis_int(&rd, "TTL %s", owner_key(id));
    cr_assert(ttl > RESPONSE_TTL_S - 60 && ttl <= RESPONSE_TTL_S, "TTL %lld, response_ttl_s %d",
              ttl, RESPONSE_TTL_S);

    before = h_fake_count(&f);
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    cr_assert_eq(v1(&b, "GET", path, ACME_KEY, NULL, &r), 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, id), "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&f), before + 1);
    assert_last_upstream("GET", path);

    assert_operations_refused(&b, BETA_KEY, id);
    cr_assert_eq(h_fake_count(&f), before + 1, "another tenant's request reached the upstream");
    snprintf(path, sizeof(path), "/v1/responses/%s/input_items", id);
    cr_assert_eq(status_of(&b, "GET", path, ACME_KEY, NULL), 200);
    cr_assert_eq(h_fake_count(&f), before + 2);
    cr_assert_eq(h_log_count(&b, (const char *[]){ "\"event\":\"worker_exited\"", NULL }), 0);
    stop_gw(&a);
    stop_gw(&b);
}

/* beta asks first, so that B learns the owner from Redis on beta's request, not acme's. */
REDIS_TEST(previous_response_id_follows_its_owner_across_hosts)
{
    struct h_daemon a, b;
    char id[128], body[300], next[128];
    struct h_resp r;
    json_t *j;
    size_t before;

    start_responses_gw(&a, 2);
    start_responses_gw(&b, 2);
    create_response(&a, ACME_KEY, id);
    wait_owner_key(id);
    before = h_fake_count(&f);
    snprintf(body, sizeof(body), FOLLOW_UP_BODY_FMT, id);

    cr_assert_eq(v1(&b, "POST", "/v1/responses", BETA_KEY, body, &r), 404, "%s", r.body);
    assert_error(&r, "not_found", "previous_response_id");
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&f), before, "another tenant's request reached the upstream");

    cr_assert_eq(v1(&b, "POST", "/v1/responses", ACME_KEY, body, &r), 200, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    snprintf(next, sizeof(next), "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&f), before + 1);
    assert_last_upstream("POST", "/v1/responses");
    cr_assert_eq(strncmp(next, "resp_", 5), 0);
    cr_assert_str_neq(next, id);
    /* The continuation is a response of its own, recorded for every host too. */
    wait_owner_key(next);
    cr_assert_str_eq(h_redis_str(&rd, "GET %s", owner_key(next)), "acme\ndefault");

    cr_assert_eq(status_of(&b, "POST", "/v1/responses", BETA_KEY, body), 404);
    cr_assert_eq(h_fake_count(&f), before + 1);
    stop_gw(&a);
    stop_gw(&b);
}

/* What a host cannot check, it refuses as retryable: never served, never called "unknown". */
static void assert_store_unavailable(const struct h_daemon *d, const char *method, const char *path,
                                     const char *key, const char *body)
{
    struct h_resp r;

    cr_assert_eq(v1(d, method, path, key, body, &r), 503, "%s %s: %s", method, path, r.body);
    assert_error(&r, "store_unavailable", NULL);
    cr_assert_not_null(h_header(&r, "Retry-After"));
    cr_assert_str_eq(h_header(&r, "x-should-retry"), "true");
    h_resp_free(&r);
}

/* The status of a request to d once the worker that takes it has its Redis connection back:
 * each worker reconnects on its own back-off, so a 503 store_unavailable is asked again. */
static long status_when_up(const struct h_daemon *d, const char *method, const char *path,
                           const char *key, const char *body)
{
    long long t0 = h_now_ms();
    long s;

    while ((s = status_of(d, method, path, key, body)) == 503 && h_now_ms() - t0 < 8000)
        h_sleep_ms(50);
    return s;
}

/* Polls until d serves path to key (Redis is back and d connected again, with back-off). */
static void wait_served(const struct h_daemon *d, const char *path, const char *key)
{
    long long t0 = h_now_ms();
    long s = 0;

    while (s != 200 && h_now_ms() - t0 < 8000) {
        s = status_of(d, "GET", path, key, NULL);
        if (s != 200)
            h_sleep_ms(100);
    }
    cr_assert_eq(s, 200, "not served %lld ms after Redis came back", h_now_ms() - t0);
}

REDIS_TEST(redis_down_makes_an_unseen_owner_503_and_back_it_is_served)
{
    struct h_daemon a, b;
    char id[128], lost[128], path[300], body[300];
    size_t before;

    /* This Redis keeps its data when it is stopped and started again. */
    h_redis_stop(&rd);
    rd.persist = true;
    h_redis_start(&rd);
    start_responses_gw(&a, 2);
    start_responses_gw(&b, 2);
    create_response(&a, ACME_KEY, id);
    wait_owner_key(id);
    h_redis_stop(&rd);

    before = h_fake_count(&f);
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    snprintf(body, sizeof(body), FOLLOW_UP_BODY_FMT, id);
    assert_store_unavailable(&b, "GET", path, ACME_KEY, NULL);
    assert_store_unavailable(&b, "POST", "/v1/responses", ACME_KEY, body);
    cr_assert_neq(status_of(&b, "GET", path, BETA_KEY, NULL), 200);
    cr_assert_eq(h_fake_count(&f), before, "a request B could not check reached the upstream");
    /* A recorded it itself: its own table answers without Redis. */
    cr_assert_eq(status_of(&a, "GET", path, ACME_KEY, NULL), 200);
    cr_assert_eq(h_fake_count(&f), before + 1);
    /* Created while Redis is away: known to A alone, for good (ownership.h). */
    create_response(&a, ACME_KEY, lost);

    h_redis_start(&rd);
    wait_served(&b, path, ACME_KEY);
    cr_assert_eq(status_when_up(&b, "POST", "/v1/responses", ACME_KEY, body), 200);
    cr_assert_eq(status_when_up(&b, "GET", path, BETA_KEY, NULL), 404);
    snprintf(path, sizeof(path), "/v1/responses/%s", lost);
    before = h_fake_count(&f);
    cr_assert_eq(status_when_up(&b, "GET", path, ACME_KEY, NULL), 404);
    cr_assert_eq(h_fake_count(&f), before);
    cr_assert_eq(status_of(&a, "GET", path, ACME_KEY, NULL), 200);
    stop_gw(&a);
    stop_gw(&b);
}

/* A Redis that accepts and never answers: the follow-up is refused at timeout_ms (200). */
REDIS_TEST(a_blackholed_redis_refuses_an_unseen_owner_within_its_deadline)
{
    struct h_daemon a, b;
    char id[128], path[300];
    long long t0, took;
    size_t before;

    start_responses_gw(&a, 2);
    start_responses_gw(&b, 1);
    create_response(&a, ACME_KEY, id);
    wait_owner_key(id);
    /* A worker accepts once its connection to Redis is up (or after a grace): B's one worker
     * has served a request, so the follow-up below meets a connection that is up. */
    cr_assert_eq(status_of(&b, "GET", "/v1/models", ACME_KEY, NULL), 200);
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    before = h_fake_count(&f);
    h_redis_pause(&rd);
    t0 = h_now_ms();
    assert_store_unavailable(&b, "GET", path, ACME_KEY, NULL);
    took = h_now_ms() - t0;
    h_redis_resume(&rd);
    cr_assert_lt(took, 200 + 600, "the follow-up waited %lld ms", took);
    cr_assert_eq(h_fake_count(&f), before);
    wait_served(&b, path, ACME_KEY);
    stop_gw(&a);
    stop_gw(&b);
}

/* Values written by hand, not by a gateway: each must read as "no owner", whatever it holds. */
struct forged {
    const char *what;
    char *value;
    size_t len;
};

static struct forged forged_of(const char *what, const char *head, size_t head_len, size_t pad)
{
    struct forged v = { what, malloc(head_len + pad + 1), head_len + pad };

    cr_assert_not_null(v.value);
    memcpy(v.value, head, head_len);
    memset(v.value + head_len, 'x', pad);
    v.value[v.len] = '\0';
    return v;
}

#define FORGED(what, lit, pad) forged_of(what, lit, sizeof(lit) - 1, pad)

REDIS_TEST(malformed_owners_in_redis_read_as_unknown)
{
    struct forged cases[] = {
        FORGED("no newline", "acme", 0),
        FORGED("empty", "", 0),
        FORGED("a newline alone", "\n", 0),
        FORGED("empty tenant", "\ndefault", 0),
        FORGED("empty upstream", "acme\n", 0),
        FORGED("a NUL ending the tenant", "acme\0\ndefault", 0),
        FORGED("a NUL in the upstream", "acme\ndef\0ault", 0),
        FORGED("oversized", "acme\ndefault", 200),
        FORGED("an upstream name of 64 bytes", "acme\n", 64),
        FORGED("a mebibyte", "acme\ndefault", 1 << 20),
    };
    struct h_daemon d;
    char id[128], path[300], body[300];
    struct h_resp r;
    size_t before;

    start_responses_gw(&d, 2);
    before = h_fake_count(&f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(id, sizeof(id), "resp_forged_%zu", i);
        h_redis_str(&rd, "SET %s %b", owner_key(id), cases[i].value, cases[i].len);
        snprintf(path, sizeof(path), "/v1/responses/%s", id);
        cr_assert_eq(v1(&d, "GET", path, ACME_KEY, NULL, &r), 404, "%s: %s", cases[i].what, r.body);
        assert_error(&r, "not_found", NULL);
        h_resp_free(&r);
        snprintf(body, sizeof(body), FOLLOW_UP_BODY_FMT, id);
        cr_assert_eq(status_of(&d, "POST", "/v1/responses", ACME_KEY, body), 404, "%s",
                     cases[i].what);
        cr_assert_eq(h_fake_count(&f), before, "%s: relayed", cases[i].what);
        free(cases[i].value);
    }
    /* The control: a well-formed record by hand is acme's, and only acme's, and is asked for
     * upstream (where the fake, which never made it, answers 404 itself). */
    h_redis_str(&rd, "SET %s %s", owner_key("resp_forged_ok"), "acme\ndefault");
    cr_assert_eq(status_of(&d, "GET", "/v1/responses/resp_forged_ok", BETA_KEY, NULL), 404);
    cr_assert_eq(h_fake_count(&f), before);
    cr_assert_eq(status_of(&d, "GET", "/v1/responses/resp_forged_ok", ACME_KEY, NULL), 404);
    cr_assert_eq(h_fake_count(&f), before + 1);
    assert_last_upstream("GET", "/v1/responses/resp_forged_ok");
    cr_assert_eq(h_log_count(&d, (const char *[]){ "\"event\":\"worker_exited\"", NULL }), 0);
    stop_gw(&d);
}

/* A key of another type answers GET with an error: Redis was asked and said "not an owner". */
REDIS_TEST(an_owner_key_of_another_type_reads_as_unknown)
{
    struct h_daemon d;
    struct h_resp r;
    size_t before;

    start_responses_gw(&d, 2);
    before = h_fake_count(&f);
    h_redis_int(&rd, "HSET %s tenant acme", owner_key("resp_forged_hash"));
    cr_assert_eq(v1(&d, "GET", "/v1/responses/resp_forged_hash", ACME_KEY, NULL, &r), 404, "%s",
                 r.body);
    assert_error(&r, "not_found", NULL);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&f), before);
    stop_gw(&d);
}
