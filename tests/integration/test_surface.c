/* SPDX-License-Identifier: MIT */
/* test_surface.c - the OpenAI surface behind one admission (SPEC §10), through the real
 * sluiced and the fake upstream: /v1/responses buffered and streamed, the operations on a
 * response only for the tenant that created it, /v1/embeddings, /v1/models, per-tenant
 * models, and budgets that hold on every route at once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

TestSuite(surface, .timeout = 90);

static struct h_fake fake;
static struct h_daemon d;

#define ACME "Bearer sk-acme-1"
#define BETA "Bearer sk-beta-1"

/* Two tenants: acme (every model, `acme` limits) and beta (gpt-4o-mini only). */
static void start(int workers, const char *acme, const char *extra)
{
    char conf[4096], a[65], b[65];

    h_sha256_hex("sk-acme-1", a);
    h_sha256_hex("sk-beta-1", b);
    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "%s[auth]\nmode = keys\n[limits]\nrpm = 0\ntpm = 0\ntoken_budget = 0\n"
             "[model.gpt-4o]\nmax_output_tokens = 300\n"
             "[tenant.acme]\nkey_sha256 = %s\n%s\n"
             "[tenant.beta]\nkey_sha256 = %s\nmodels = gpt-4o-mini\n%s",
             h_fake_upstream_conf(&fake, "max_tokens = 200\n"), a, acme ? acme : "", b,
             extra ? extra : "");
    h_daemon_write_conf(&d, workers, conf);
    h_daemon_start(&d, NULL);
}

static void stop(void)
{
    cr_assert_eq(h_daemon_stop(&d, 15000), 0);
    cr_assert_not(h_file_contains(d.log, "sk-acme-1"), "a tenant key reached the log");
    h_fake_stop(&fake);
}

static long call(const char *method, const char *path, const char *auth, const char *body,
                 struct h_resp *r)
{
    char hdr[256];
    const char *hdrs[] = { hdr, "Content-Type: application/json", NULL };

    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth ? auth : "");
    cr_assert_eq(
        h_http(d.port, method, path, auth ? hdrs : hdrs + 1, body, body ? strlen(body) : 0, r), 0);
    return r->status;
}

static json_t *body_json(const struct h_resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);

    cr_assert_not_null(j, "not JSON: %s", r->body);
    return j;
}

static const char *error_code(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

/* The admin API reads usage; its key's hash goes in the file. */
static char admin_conf[256];

static const char *with_admin(void)
{
    char hex[65];

    h_sha256_hex("sk-admin-secret", hex);
    snprintf(admin_conf, sizeof(admin_conf), "[admin]\nkey_sha256 = %s\n", hex);
    return admin_conf;
}

/* ---- /v1/responses ---- */

Test(surface, responses_buffered_fills_the_cap_and_settles_the_usage)
{
    static const char body[] =
        "{\"model\":\"gpt-4o\",\"input\":\"hello responses\",\"x_unknown\":{\"keep\":[1,2.50]}}";
    struct h_resp r;
    json_t *j, *up, *sent;
    long long reported;

    start(1, "token_budget = 100000\n", with_admin());
    cr_assert_eq(call("POST", "/v1/responses", ACME, body, &r), 200, "%s", r.body);
    j = body_json(&r);
    cr_assert_eq(strncmp(json_string_value(json_object_get(j, "id")), "resp_", 5), 0);
    reported = json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens"));
    cr_assert_gt(reported, 0);
    json_decref(j);
    h_resp_free(&r);
    up = h_fake_last(&fake);
    cr_assert_str_eq(json_string_value(json_object_get(up, "path")), "/v1/responses");
    /* The client's bytes, with the model's cap as the last member. */
    cr_assert_str_eq(json_string_value(json_object_get(up, "body")),
                     "{\"model\":\"gpt-4o\",\"input\":\"hello responses\",\"x_unknown\":{\"keep\":"
                     "[1,2.50]},\"max_output_tokens\":300}");
    sent = json_loads(json_string_value(json_object_get(up, "body")), 0, NULL);
    cr_assert_not_null(sent);
    json_decref(sent);
    json_decref(up);
    cr_assert_eq(h_tenant_used(d.port, "sk-admin-secret", "acme"), reported,
                 "settled to what the upstream reported");
    stop();
}

Test(surface, responses_refusals_reserve_nothing_and_send_nothing)
{
    static const struct {
        const char *body;
        long status;
        const char *code;
    } cases[] = {
        { "not json", 400, NULL },
        { "[1,2]", 400, NULL },
        { "{\"model\":7,\"input\":\"x\"}", 400, NULL },
        { "{\"model\":\"gpt-4o\",\"input\":5}", 400, NULL },
        { "{\"model\":\"gpt-4o\",\"input\":\"x\",\"max_output_tokens\":301}", 400,
          "max_output_tokens_too_large" },
        { "{\"model\":\"gpt-4o\",\"input\":\"x\",\"background\":true}", 400,
          "unsupported_parameter" },
        { "{\"model\":\"gpt-nope\",\"input\":\"x\"}", 404, "model_not_found" },
        { "{\"model\":\"gpt-4o\",\"input\":\"x\",\"previous_response_id\":\"nope\"}", 400, NULL },
        { "{\"model\":\"gpt-4o\",\"input\":\"x\",\"previous_response_id\":\"resp_unknown1\"}", 404,
          "not_found" },
    };
    struct h_resp r;
    json_t *j;

    start(1, "token_budget = 100000\n", with_admin());
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(call("POST", "/v1/responses", ACME, cases[i].body, &r), cases[i].status,
                     "%s -> %ld %s", cases[i].body, r.status, r.body);
        j = body_json(&r);
        cr_assert(json_is_string(json_object_get(json_object_get(j, "error"), "message")));
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                         "invalid_request_error");
        if (cases[i].code)
            cr_assert_str_eq(error_code(j), cases[i].code, "%s", r.body);
        json_decref(j);
        h_resp_free(&r);
    }
    /* Without a key: 401 before anything else is looked at. */
    cr_assert_eq(call("POST", "/v1/responses", NULL, "{\"model\":\"gpt-4o\",\"input\":\"x\"}", &r),
                 401);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), 0, "a refused request reached the upstream");
    cr_assert_eq(h_tenant_used(d.port, "sk-admin-secret", "acme"), 0);
    stop();
}

Test(surface, responses_stream_relays_every_event_and_settles_from_completed)
{
    static const char body[] =
        "{\"model\":\"gpt-4o-mini\",\"input\":\"stream me\",\"stream\":true}";
    struct h_resp r;
    const char *done;
    long long reported;

    start(1, "token_budget = 100000\n", with_admin());
    cr_assert_eq(call("POST", "/v1/responses", ACME, body, &r), 200, "%s", r.body);
    cr_assert_str_eq(h_header(&r, "Content-Type"), "text/event-stream");
    cr_assert_not_null(strstr(r.body, "event: response.created\n"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "event: response.output_text.delta\n"), "%s", r.body);
    done = strstr(r.body, "event: response.completed\n");
    cr_assert_not_null(done, "%s", r.body);
    cr_assert_null(strstr(r.body, "[DONE]"), "the Responses API sends no [DONE]");
    cr_assert_null(strstr(r.body, "event: error"), "%s", r.body);
    reported = atoll(strstr(done, "\"total_tokens\":") + strlen("\"total_tokens\":"));
    cr_assert_gt(reported, 0);
    h_resp_free(&r);
    cr_assert_eq(h_tenant_used(d.port, "sk-admin-secret", "acme"), reported);
    stop();
}

/* With [v1] allow_background, a background response answers before it has run, without
 * usage: the whole reservation is charged (bytes + one input's overhead + the cap). */
Test(surface, a_background_response_is_charged_in_full)
{
    static const char body[] = "{\"model\":\"gpt-4o\",\"input\":\"later\",\"background\":true}";
    char extra[512];
    struct h_resp r;

    snprintf(extra, sizeof(extra), "%s[v1]\nallow_background = true\n", with_admin());
    start(1, "token_budget = 100000\n", extra);
    cr_assert_eq(call("POST", "/v1/responses", ACME, body, &r), 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"status\":\"queued\""), "%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(h_tenant_used(d.port, "sk-admin-secret", "acme"),
                 (long long)(sizeof(body) - 1) + 4 + 300);
    stop();
}

/* ---- the operations on a response ---- */

static void create_response(const char *auth, char id[128])
{
    struct h_resp r;
    json_t *j;

    cr_assert_eq(
        call("POST", "/v1/responses", auth, "{\"model\":\"gpt-4o-mini\",\"input\":\"hi\"}", &r),
        200, "%s", r.body);
    j = body_json(&r);
    snprintf(id, 128, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    h_resp_free(&r);
}

Test(surface, only_the_creator_reaches_its_response)
{
    char id[128], path[256], body[300];
    struct h_resp r;
    json_t *j, *up;
    size_t before;

    start(2, NULL, with_admin());
    create_response(ACME, id);
    before = h_fake_count(&fake);
    /* Another tenant: 404 not_found on every operation, and nothing upstream. */
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    cr_assert_eq(call("GET", path, BETA, NULL, &r), 404, "%s", r.body);
    j = body_json(&r);
    cr_assert_str_eq(error_code(j), "not_found");
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(call("DELETE", path, BETA, NULL, &r), 404);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/responses/%s/input_items", id);
    cr_assert_eq(call("GET", path, BETA, NULL, &r), 404);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/responses/%s/cancel", id);
    cr_assert_eq(call("POST", path, BETA, "", &r), 404);
    h_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"model\":\"gpt-4o-mini\",\"input\":\"more\",\"previous_response_id\":\"%s\"}", id);
    cr_assert_eq(call("POST", "/v1/responses", BETA, body, &r), 404, "%s", r.body);
    j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "param")),
                     "previous_response_id");
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), before, "another tenant's request reached the upstream");

    /* The creator, on either worker. */
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(call("GET", path, ACME, NULL, &r), 200, "%s", r.body);
        cr_assert_not_null(strstr(r.body, id));
        h_resp_free(&r);
    }
    snprintf(path, sizeof(path), "/v1/responses/%s/input_items?limit=5&order=asc", id);
    cr_assert_eq(call("GET", path, ACME, NULL, &r), 200, "%s", r.body);
    h_resp_free(&r);
    up = h_fake_last(&fake);
    cr_assert_str_eq(json_string_value(json_object_get(up, "method")), "GET");
    cr_assert_not_null(strstr(json_string_value(json_object_get(up, "path")), "/input_items"));
    json_decref(up);
    cr_assert_eq(call("POST", "/v1/responses", ACME, body, &r), 200, "%s", r.body);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    cr_assert_eq(call("DELETE", path, ACME, NULL, &r), 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"deleted\":true"), "%s", r.body);
    h_resp_free(&r);
    up = h_fake_last(&fake);
    cr_assert_str_eq(json_string_value(json_object_get(up, "method")), "DELETE");
    json_decref(up);
    stop();
}

Test(surface, response_operations_refuse_what_they_cannot_relay)
{
    char id[128], path[300];
    struct h_resp r;
    size_t before;

    start(1, NULL, NULL);
    create_response(ACME, id);
    before = h_fake_count(&fake);
    cr_assert_eq(call("GET", "/v1/responses/not-an-id", ACME, NULL, &r), 400);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/responses/%s?stream=true", id);
    cr_assert_eq(call("GET", path, ACME, NULL, &r), 400, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "unsupported_parameter"), "%s", r.body);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/responses/%s/nope", id);
    cr_assert_eq(call("GET", path, ACME, NULL, &r), 404);
    cr_assert_not_null(strstr(r.body, "unknown_url"), "%s", r.body);
    h_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/responses/%s/cancel", id);
    cr_assert_eq(call("GET", path, ACME, NULL, &r), 405);
    cr_assert_str_eq(h_header(&r, "Allow"), "POST");
    h_resp_free(&r);
    cr_assert_eq(call("GET", "/v1/responses/resp_abc", NULL, NULL, &r), 401);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), before);
    stop();
}

/* ---- embeddings, models, other paths ---- */

Test(surface, embeddings_settle_to_prompt_tokens)
{
    struct h_resp r;
    json_t *j;
    long long reported;

    start(1, "token_budget = 100000\n", with_admin());
    cr_assert_eq(call("POST", "/v1/embeddings", ACME,
                      "{\"model\":\"gpt-4o-mini\",\"input\":[\"one\",\"two\"]}", &r),
                 200, "%s", r.body);
    j = body_json(&r);
    reported = json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens"));
    cr_assert_gt(reported, 0);
    cr_assert_eq(json_array_size(json_object_get(j, "data")), 2);
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(h_tenant_used(d.port, "sk-admin-secret", "acme"), reported);
    cr_assert_eq(
        call("POST", "/v1/embeddings", ACME, "{\"model\":\"gpt-4o-mini\",\"input\":{}}", &r), 400);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), 1);
    stop();
}

Test(surface, models_are_the_tenants_own_and_cost_no_upstream_call)
{
    struct h_resp r;
    json_t *j, *data;

    start(1, NULL, NULL);
    cr_assert_eq(call("GET", "/v1/models", ACME, NULL, &r), 200, "%s", r.body);
    j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "object")), "list");
    data = json_object_get(j, "data");
    cr_assert_eq(json_array_size(data), 2, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "object")),
                     "model");
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(call("GET", "/v1/models", BETA, NULL, &r), 200);
    j = body_json(&r);
    data = json_object_get(j, "data");
    cr_assert_eq(json_array_size(data), 1, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(data, 0), "id")),
                     "gpt-4o-mini");
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(call("GET", "/v1/models/gpt-4o", ACME, NULL, &r), 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"id\":\"gpt-4o\""));
    h_resp_free(&r);
    cr_assert_eq(call("GET", "/v1/models/gpt-4o", BETA, NULL, &r), 404);
    cr_assert_not_null(strstr(r.body, "model_not_found"));
    h_resp_free(&r);
    cr_assert_eq(call("GET", "/v1/models", NULL, NULL, &r), 401);
    h_resp_free(&r);
    /* beta may not use gpt-4o on any route either. */
    cr_assert_eq(call("POST", "/v1/responses", BETA, "{\"model\":\"gpt-4o\",\"input\":\"x\"}", &r),
                 404);
    h_resp_free(&r);
    cr_assert_eq(call("POST", "/v1/embeddings", BETA, "{\"model\":\"gpt-4o\",\"input\":\"x\"}", &r),
                 404);
    h_resp_free(&r);
    cr_assert_eq(call("POST", "/v1/chat/completions", BETA,
                      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                      &r),
                 404);
    cr_assert_not_null(strstr(r.body, "model_not_found"));
    h_resp_free(&r);
    cr_assert_eq(call("POST", "/v1/completions", ACME, "{}", &r), 404);
    cr_assert_not_null(strstr(r.body, "unknown_url"));
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), 0);
    stop();
}

Test(surface, rpm_applies_to_routes_that_cost_no_tokens)
{
    struct h_resp r;

    start(1, "rpm = 2\n", NULL);
    cr_assert_eq(call("GET", "/v1/models", ACME, NULL, &r), 200);
    h_resp_free(&r);
    cr_assert_eq(call("GET", "/v1/models", ACME, NULL, &r), 200);
    h_resp_free(&r);
    cr_assert_eq(call("GET", "/v1/models", ACME, NULL, &r), 429);
    cr_assert_not_null(strstr(r.body, "rate_limit_exceeded"), "%s", r.body);
    cr_assert_not_null(h_header(&r, "Retry-After"));
    h_resp_free(&r);
    stop();
}

/* ---- budgets on every route ---- */

struct wave {
    const char *path, *body;
    int n;
    long statuses[100];
};

static void *fire(void *arg)
{
    struct wave *w = arg;
    const char *hdrs[] = { "Authorization: " ACME, "Content-Type: application/json", NULL };

    h_http_parallel(d.port, "POST", w->path, hdrs, w->body, w->n, w->statuses);
    return NULL;
}

/* per_route requests on each of three routes at once; the statuses tallied. */
static void mixed_wave(int per_route, int *ok, int *refused, int *other)
{
    struct wave waves[3] = {
        { "/v1/responses",
          "{\"model\":\"gpt-4o-mini\",\"input\":\"budget\",\"max_output_tokens\":100}",
          per_route,
          { 0 } },
        /* Long enough that its bound (bytes + overhead) covers the 100 tokens reported. */
        { "/v1/embeddings",
          "{\"model\":\"gpt-4o-mini\",\"input\":\"budget budget budget budget budget budget budget "
          "budget budget budget budget budget budget\"}",
          per_route,
          { 0 } },
        { "/v1/chat/completions",
          "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\","
          "\"content\":\"budget\"}]}",
          per_route,
          { 0 } },
    };
    pthread_t th[3];

    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, fire, &waves[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < waves[i].n; k++) {
            long st = waves[i].statuses[k];

            *ok += st == 200;
            *refused += st == 429;
            *other += st != 200 && st != 429;
        }
}

#define USAGE_100                                                                                  \
    "\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":50,\"total_tokens\":100,"               \
    "\"input_tokens\":50,\"output_tokens\":50}"

/* The budget spent: every route that costs tokens says insufficient_quota, and nothing goes
 * upstream; what costs none still answers. */
static void exhausted_everywhere(void)
{
    static const char *const paths[] = { "/v1/responses", "/v1/embeddings",
                                         "/v1/chat/completions" };
    static const char *const bodies[] = {
        "{\"model\":\"gpt-4o-mini\",\"input\":\"more\",\"max_output_tokens\":100}",
        /* Its bound must pass the 100 tokens left. */
        "{\"model\":\"gpt-4o-mini\",\"input\":\"more more more more more more more more more "
        "more more more more more more more more more more more more more more\"}",
        "{\"model\":\"gpt-4o-mini\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\","
        "\"content\":\"more\"}]}",
    };
    size_t before = h_fake_count(&fake);
    struct h_resp r;
    json_t *j;

    for (int i = 0; i < 3; i++) {
        cr_assert_eq(call("POST", paths[i], ACME, bodies[i], &r), 429, "%s: %s", paths[i], r.body);
        j = body_json(&r);
        cr_assert_str_eq(error_code(j), "insufficient_quota");
        cr_assert_str_eq(h_header(&r, "x-should-retry"), "false");
        json_decref(j);
        h_resp_free(&r);
    }
    cr_assert_eq(call("GET", "/v1/models", ACME, NULL, &r), 200);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), before);
}

/* 300 requests on three routes, 30 at a time, each reported as 100 tokens by the upstream
 * (one usage object that reads as chat, Responses and embeddings usage alike). */
Test(surface, budget_holds_across_mixed_routes_under_concurrency)
{
    enum { BUDGET = 6000 };
    int ok = 0, refused = 0, other = 0;
    long long used, reported;
    json_t *reqs;

    start(2, "token_budget = 6000\nbudget_period = day\n", with_admin());
    h_fake_script(&fake, "[{\"delay_ms\":100,\"repeat\":300," USAGE_100 "}]");
    for (int w = 0; w < 10; w++)
        mixed_wave(10, &ok, &refused, &other);
    reqs = h_fake_requests(&fake);
    cr_assert_eq(json_array_size(reqs), (size_t)ok, "refused requests reached the upstream");
    json_decref(reqs);
    used = h_tenant_used(d.port, "sk-admin-secret", "acme");
    reported = (long long)ok * 100;
    fprintf(stderr,
            "mixed routes, budget %d: %d admitted, %d refused, %d other; settled %lld, "
            "reported by the upstream %lld\n",
            BUDGET, ok, refused, other, used, reported);
    cr_assert_eq(other, 0);
    cr_assert_gt(refused, 0, "the budget should have run out");
    cr_assert_leq(used, BUDGET);
    cr_assert_eq(used, reported, "settled exactly what the upstream reported");
    cr_assert_geq(used, BUDGET * 3 / 4, "refused with %lld of %d left", BUDGET - used, BUDGET);
    cr_assert_eq(h_metric(d.port, "sluice_reservations_held"), 0, "a reservation leaked");
    exhausted_everywhere();
    stop();
}

/* 300 at once over three routes: most are refused while the first hold their reservations,
 * and the tenant still never spends more than its budget. */
Test(surface, budget_holds_with_300_requests_at_once)
{
    int ok = 0, refused = 0, other = 0;
    long long used;

    start(2, "token_budget = 6000\nbudget_period = day\n", with_admin());
    h_fake_script(&fake, "[{\"delay_ms\":200,\"repeat\":300," USAGE_100 "}]");
    mixed_wave(100, &ok, &refused, &other);
    used = h_tenant_used(d.port, "sk-admin-secret", "acme");
    fprintf(stderr, "300 at once: %d admitted, %d refused, %d other; settled %lld of 6000\n", ok,
            refused, other, used);
    cr_assert_eq(other, 0);
    cr_assert_gt(refused, 0);
    cr_assert_eq(h_fake_count(&fake), (size_t)ok, "refused requests reached the upstream");
    cr_assert_leq(used, 6000);
    cr_assert_eq(used, (long long)ok * 100, "settled exactly what the upstream reported");
    cr_assert_eq(h_metric(d.port, "sluice_reservations_held"), 0, "a reservation leaked");
    stop();
}

/* ---- log_prompts on the /v1 routes ---- */

Test(surface, prompts_of_every_v1_route_are_logged_only_when_asked_and_allowed)
{
    struct h_resp r;
    const char *nostore[] = { "Authorization: " ACME, "X-Sluice-No-Store: 1", NULL };
    static const char hidden6[] = "{\"model\":\"gpt-4o-mini\",\"input\":\"HIDDEN-6\"}";

    start(1, NULL, "[log]\nlog_prompts = true\n");
    cr_assert_eq(call("POST", "/v1/responses", ACME,
                      "{\"model\":\"gpt-4o-mini\",\"input\":\"LOGGED-RESP-1\"}", &r),
                 200);
    h_resp_free(&r);
    cr_assert_eq(call("POST", "/v1/embeddings", ACME,
                      "{\"model\":\"gpt-4o-mini\",\"input\":\"LOGGED-EMB-2\"}", &r),
                 200);
    h_resp_free(&r);
    cr_assert_eq(call("POST", "/v1/chat/completions", ACME,
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"LOGGED-CHAT-3\"}]}",
                      &r),
                 200);
    h_resp_free(&r);
    cr_assert_eq(call("POST", "/v1/responses", ACME,
                      "{\"model\":\"gpt-4o-mini\",\"input\":\"HIDDEN-4\",\"store\":false}", &r),
                 200);
    h_resp_free(&r);
    cr_assert_eq(call("POST", "/v1/chat/completions", ACME,
                      "{\"model\":\"gpt-4o-mini\",\"store\":false,\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"HIDDEN-5\"}]}",
                      &r),
                 200);
    h_resp_free(&r);
    cr_assert_eq(h_http(d.port, "POST", "/v1/embeddings", nostore, hidden6, strlen(hidden6), &r),
                 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    h_resp_free(&r);
    stop();
    cr_assert(h_file_contains(d.log, "LOGGED-RESP-1"));
    cr_assert(h_file_contains(d.log, "LOGGED-EMB-2"));
    cr_assert(h_file_contains(d.log, "LOGGED-CHAT-3"));
    cr_assert_not(h_file_contains(d.log, "HIDDEN-4"));
    cr_assert_not(h_file_contains(d.log, "HIDDEN-5"));
    cr_assert_not(h_file_contains(d.log, "HIDDEN-6"));

    /* Off by default. */
    start(1, NULL, NULL);
    cr_assert_eq(call("POST", "/v1/responses", ACME,
                      "{\"model\":\"gpt-4o-mini\",\"input\":\"NOT-LOGGED-7\"}", &r),
                 200);
    h_resp_free(&r);
    stop();
    cr_assert_not(h_file_contains(d.log, "NOT-LOGGED-7"));
}

/* One request with its own X-Request-ID (and one more header, or NULL), to find its log
 * lines by. */
static long call_as(const char *path, const char *request_id, const char *header, const char *body)
{
    char id[128];
    const char *hdrs[] = { "Authorization: " ACME, "Content-Type: application/json", id, header,
                           NULL };
    struct h_resp r;
    long status;

    snprintf(id, sizeof(id), "X-Request-ID: %s", request_id);
    cr_assert_eq(h_http(d.port, "POST", path, hdrs, body, strlen(body), &r), 0);
    status = r.status;
    h_resp_free(&r);
    return status;
}

/* The prompt event of request_id in the stopped daemon's log (the caller decref's), or NULL;
 * asserts there is at most one, and that no log line was cut. */
static json_t *prompt_event(const char *request_id)
{
    char *log = h_read_file(d.log, NULL), *line, *save = NULL;
    json_t *found = NULL, *j;

    cr_assert_not_null(log);
    for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        j = json_loads(line, 0, NULL);
        cr_assert_not_null(j, "not JSON: %s", line);
        cr_assert_null(json_object_get(j, "truncated"), "a cut log line: %.300s", line);
        if (json_is_string(json_object_get(j, "event")) &&
            strcmp(json_string_value(json_object_get(j, "event")), "prompt") == 0 &&
            json_is_string(json_object_get(j, "request_id")) &&
            strcmp(json_string_value(json_object_get(j, "request_id")), request_id) == 0) {
            cr_assert_null(found, "two prompt events for %s", request_id);
            found = json_incref(j);
        }
        json_decref(j);
    }
    free(log);
    return found;
}

static const char *field(json_t *ev, const char *name)
{
    return json_string_value(json_object_get(ev, name));
}

Test(surface, buffered_v1_answers_are_logged_with_their_prompt_streams_with_the_prompt_alone)
{
    json_t *ev;

    start(1, NULL, "[log]\nlog_prompts = true\n");
    cr_assert_eq(call_as("/v1/chat/completions", "lp-chat", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                         "\"content\":\"ASK-CHAT\"}]}"),
                 200);
    cr_assert_eq(call_as("/v1/responses", "lp-resp", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"input\":\"ASK-RESP\"}"),
                 200);
    cr_assert_eq(call_as("/v1/chat/completions", "lp-chat-stream", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":"
                         "\"user\",\"content\":\"ASK-CHAT-STREAM\"}]}"),
                 200);
    cr_assert_eq(call_as("/v1/responses", "lp-resp-stream", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"input\":\"ASK-RS\"}"),
                 200);
    cr_assert_eq(call_as("/v1/embeddings", "lp-emb", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"input\":\"ASK-EMB\"}"),
                 200);
    stop();

    ev = prompt_event("lp-chat");
    cr_assert_not_null(ev, "no prompt event for a buffered chat completion");
    cr_assert_str_eq(field(ev, "route"), "/v1/chat/completions");
    cr_assert_str_eq(field(ev, "prompt"), "[{\"role\":\"user\",\"content\":\"ASK-CHAT\"}]");
    cr_assert_str_eq(field(ev, "answer"), "Hello! You said: ASK-CHAT");
    json_decref(ev);

    ev = prompt_event("lp-resp");
    cr_assert_not_null(ev, "no prompt event for a buffered response");
    cr_assert_str_eq(field(ev, "prompt"), "\"ASK-RESP\"");
    cr_assert_str_eq(field(ev, "answer"), "Hello! You said: ASK-RESP");
    json_decref(ev);

    ev = prompt_event("lp-chat-stream");
    cr_assert_not_null(ev, "no prompt event for a chat stream");
    cr_assert_str_eq(field(ev, "prompt"), "[{\"role\":\"user\",\"content\":\"ASK-CHAT-STREAM\"}]");
    cr_assert_null(json_object_get(ev, "answer"), "a stream's answer is not logged");
    json_decref(ev);

    ev = prompt_event("lp-resp-stream");
    cr_assert_not_null(ev, "no prompt event for a Responses stream");
    cr_assert_str_eq(field(ev, "prompt"), "\"ASK-RS\"");
    cr_assert_null(json_object_get(ev, "answer"));
    json_decref(ev);

    ev = prompt_event("lp-emb");
    cr_assert_not_null(ev, "no prompt event for embeddings");
    cr_assert_str_eq(field(ev, "prompt"), "\"ASK-EMB\"");
    cr_assert_null(json_object_get(ev, "answer"), "embeddings have no answer text");
    json_decref(ev);
}

Test(surface, no_v1_answer_is_logged_for_a_client_that_asked_for_no_storage)
{
    static const char *const nostore = "X-Sluice-No-Store: 1";

    start(1, NULL, "[log]\nlog_prompts = true\n");
    cr_assert_eq(call_as("/v1/chat/completions", "ns-chat", nostore,
                         "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                         "\"content\":\"HIDDEN-CHAT-1\"}]}"),
                 200);
    cr_assert_eq(call_as("/v1/responses", "ns-resp", nostore,
                         "{\"model\":\"gpt-4o-mini\",\"input\":\"HIDDEN-RESP-2\"}"),
                 200);
    cr_assert_eq(call_as("/v1/chat/completions", "sf-chat", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"store\":false,\"messages\":[{\"role\":"
                         "\"user\",\"content\":\"HIDDEN-CHAT-3\"}]}"),
                 200);
    cr_assert_eq(call_as("/v1/responses", "sf-resp", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"store\":false,\"input\":\"HIDDEN-RESP-4\"}"),
                 200);
    stop();
    cr_assert_null(prompt_event("ns-chat"));
    cr_assert_null(prompt_event("ns-resp"));
    cr_assert_null(prompt_event("sf-chat"));
    cr_assert_null(prompt_event("sf-resp"));
    cr_assert_not(h_file_contains(d.log, "HIDDEN-"), "a prompt or its answer reached the log");
    cr_assert_not(h_file_contains(d.log, "You said"), "an answer reached the log");
}

/* A prompt or answer too long for a log line is left out whole; what fits is still logged. */
Test(surface, an_over_long_prompt_or_answer_is_left_out_never_cut)
{
    char body[8192], word[5001];
    json_t *ev;

    memset(word, 'w', sizeof(word) - 1);
    word[sizeof(word) - 1] = '\0';
    start(1, NULL, "[log]\nlog_prompts = true\n");
    /* An answer of 5000 bytes: the prompt alone. */
    h_fake_script(&fake, "[{\"bytes\":5000}]");
    cr_assert_eq(call_as("/v1/chat/completions", "long-answer", NULL,
                         "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                         "\"content\":\"SHORT-ASK\"}]}"),
                 200);
    /* A prompt of 5000 bytes: the answer alone (the fake echoes its first 200 bytes). */
    snprintf(body, sizeof(body),
             "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
             word);
    cr_assert_eq(call_as("/v1/chat/completions", "long-prompt", NULL, body), 200);
    /* Each fits alone, not both: the prompt, then no room for the answer. */
    snprintf(body, sizeof(body), "[{\"content\":\"%.2500s\"}]", word);
    h_fake_script(&fake, body);
    snprintf(body, sizeof(body), "{\"model\":\"gpt-4o-mini\",\"input\":\"%.2500s\"}", word);
    cr_assert_eq(call_as("/v1/responses", "both-long", NULL, body), 200);
    stop();

    ev = prompt_event("long-answer");
    cr_assert_not_null(ev);
    cr_assert_str_eq(field(ev, "prompt"), "[{\"role\":\"user\",\"content\":\"SHORT-ASK\"}]");
    cr_assert_null(json_object_get(ev, "answer"), "an answer too long for the line");
    json_decref(ev);

    ev = prompt_event("long-prompt");
    cr_assert_not_null(ev);
    cr_assert_null(json_object_get(ev, "prompt"), "a prompt too long for the line");
    cr_assert_not_null(field(ev, "answer"));
    cr_assert_eq(strncmp(field(ev, "answer"), "Hello! You said: www", 20), 0, "%s",
                 field(ev, "answer"));
    json_decref(ev);

    ev = prompt_event("both-long");
    cr_assert_not_null(ev);
    cr_assert_eq(strlen(field(ev, "prompt")), 2502, "the prompt, whole");
    cr_assert_null(json_object_get(ev, "answer"), "no room left for the answer");
    json_decref(ev);
    cr_assert_not(h_file_contains(d.log, "quantum"), "part of the long answer was logged");
}
