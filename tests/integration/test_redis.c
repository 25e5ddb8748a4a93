/* SPDX-License-Identifier: MIT */
/* test_redis.c - budgets, rate windows and the tenant table in a real redis-server: the
 * real sluiced (one or two instances, as two hosts would run) against the fake upstream.
 * What is checked is what an operator sees: statuses, the counters in Redis, the figures
 * the upstream reported, and the log. */
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
#include <openssl/sha.h>

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

static void sha_hex(const char *key, char out[65])
{
    unsigned char h[32];

    SHA256((const unsigned char *)key, strlen(key), h);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

/* A gateway on `workers` workers with tenant acme (ACME_KEY, acme_limits), an admin key,
 * [redis] pointing at rd plus redis_extra keys, and [upstream] plus upstream_extra keys. */
static void start_gw_with(struct h_daemon *d, int workers, const char *acme_limits,
                          const char *redis_extra, const char *upstream_extra)
{
    char conf[4096], key[65], admin[65], up[512];

    sha_hex(ACME_KEY, key);
    sha_hex(ADMIN_KEY, admin);
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

REDIS_TEST(every_request_reserves_then_settles_in_redis_with_two_round_trips)
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
    /* One round trip before the upstream call and one after, per request. */
    cr_assert_eq(h_metric(d.port, "sluice_redis_commands_total{op=\"reserve\"}"), 20);
    cr_assert_eq(h_metric(d.port, "sluice_redis_commands_total{op=\"settle\"}"), 20);
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
