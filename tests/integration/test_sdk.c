/* SPDX-License-Identifier: MIT */
/* test_sdk.c - the official OpenAI Node SDK (tests/sdk, installed by scripts/test) against the
 * real sluiced and the fake upstream: a client written for OpenAI works unchanged, and a cut
 * stream surfaces as an error, never as a complete answer.  Runs when SL_SDK_TESTS=1
 * (scripts/test sets it after installing the SDK); `make distcheck` has no SDK and skips. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "harness.h"

static struct h_fake fake;
static struct h_daemon d;

static void sha_hex(const char *key, char out[65])
{
    unsigned char h[32];

    SHA256((const unsigned char *)key, strlen(key), h);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

/* The keys sdk_check.mjs uses: tenant "sdk" may use every model, "other" gpt-4o-mini only, so
 * that models, refusals and another tenant's responses can be seen through the SDK. */
static void setup(void)
{
    char conf[4096], sdk_hash[65], other_hash[65];

    if (!getenv("SL_SDK_TESTS") || strcmp(getenv("SL_SDK_TESTS"), "1") != 0)
        cr_skip_test("SL_SDK_TESTS is not 1 (scripts/test sets it)");
    sha_hex("sk-sluice-tenant", sdk_hash);
    sha_hex("sk-sluice-other", other_hash);
    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "%s[auth]\nmode = keys\n[tenant.sdk]\nkey_sha256 = %s\n"
             "[tenant.other]\nkey_sha256 = %s\nmodels = gpt-4o-mini\n",
             h_fake_upstream_conf(&fake,
                                  "allowed_models = gpt-4o-mini, gpt-4o, text-embedding-3-small\n"),
             sdk_hash, other_hash);
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, NULL);
}

TestSuite(sdk, .init = setup, .timeout = 60);

static json_t *run_sdk(const char *scenario)
{
    char cmd[1024], out[16384];
    size_t n;
    FILE *p;
    json_t *j;

    snprintf(cmd, sizeof(cmd),
             "cd %s/tests/sdk && node sdk_check.mjs "
             "http://127.0.0.1:%d/v1 %s 2>&1",
             SL_TEST_SRCDIR, d.port, scenario);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    j = json_loads(strrchr(out, '{') ? out : "", JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert_not_null(j, "the SDK script printed: %s", out);
    return j;
}

Test(sdk, buffered_completion)
{
    json_t *j = run_sdk("buffered");

    cr_assert_null(json_object_get(j, "error"), "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(j, "content")),
                     "Hello! You said: hello from the sdk");
    cr_assert_str_eq(json_string_value(json_object_get(j, "finish_reason")), "stop");
    cr_assert_gt(json_integer_value(json_object_get(j, "total_tokens")), 0);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(sdk, streamed_completion_without_the_usage_chunk)
{
    json_t *j = run_sdk("stream");

    cr_assert(json_is_true(json_object_get(j, "completed")), "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(j, "content")),
                     "Hello! You said: hello from the sdk");
    cr_assert_null(json_object_get(j, "usage_chunk"), "the SDK saw a usage chunk it never asked "
                                                      "for");
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(sdk, refusal_is_a_typed_sdk_error)
{
    json_t *j = run_sdk("refused"), *e = json_object_get(j, "error");

    cr_assert_not_null(e, "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(e, "class")), "NotFoundError");
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 404);
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "model_not_found");
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(sdk, a_cut_stream_raises_instead_of_completing)
{
    json_t *j;

    h_fake_script(&fake, "[{\"fail_after_chunks\":4,\"fail_mode\":\"reset\"}]");
    j = run_sdk("cut");
    cr_assert_null(json_object_get(j, "completed"), "%s", json_dumps(j, 0));
    cr_assert_not_null(json_object_get(j, "error"), "%s", json_dumps(j, 0));
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* The one error event of a cut stream is the upstream's own, and the SDK raises it. */
Test(sdk, an_upstream_error_event_raises_the_upstreams_error)
{
    json_t *j, *e;

    h_fake_script(&fake, "[{\"fail_after_chunks\":3,\"fail_mode\":\"error_event\","
                         "\"error_message\":\"the model fell over\"}]");
    j = run_sdk("cut");
    e = json_object_get(j, "error");
    cr_assert_null(json_object_get(j, "completed"), "%s", json_dumps(j, 0));
    cr_assert_not_null(e, "%s", json_dumps(j, 0));
    cr_assert_not_null(
        strstr(json_string_value(json_object_get(e, "message")), "the model fell over"), "%s",
        json_dumps(j, 0));
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* An upstream 429 reaches the SDK as a RateLimitError, with the headers it steers by. */
Test(sdk, an_upstream_429_is_a_rate_limit_error)
{
    json_t *j, *e;

    h_fake_script(&fake, "[{\"status\":429,\"repeat\":3,\"headers\":{\"retry-after-ms\":\"1\"}}]");
    j = run_sdk("buffered");
    e = json_object_get(j, "error");
    cr_assert_not_null(e, "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(e, "class")), "RateLimitError");
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 429);
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "rate_limit_exceeded");
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* A browser-style EventSource parser (eventsource-parser, not sluice's own) reading
 * /api/chat/stream: token events whose data joins back into the answer (a line break sent as
 * two data lines), then usage, then done. */
Test(sdk, an_independent_eventsource_parser_reads_the_api_stream)
{
    json_t *j = run_sdk("eventsource"), *ev = json_object_get(j, "events"), *e;
    size_t n = json_array_size(ev), i;
    char text[512] = "";

    cr_assert(json_is_true(json_object_get(j, "completed")), "%s", json_dumps(j, 0));
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
    cr_assert_not_null(
        strstr(json_string_value(json_object_get(j, "content_type")), "text/event-stream"));
    cr_assert_geq(n, 4, "%s", json_dumps(j, 0));
    for (i = 0; i + 2 < n; i++) {
        e = json_array_get(ev, i);
        cr_assert_str_eq(json_string_value(json_object_get(e, "event")), "token");
        strncat(text, json_string_value(json_object_get(e, "data")),
                sizeof(text) - strlen(text) - 1);
    }
    cr_assert_str_eq(text, "Hello! You said: line one\nline two");
    e = json_array_get(ev, n - 2);
    cr_assert_str_eq(json_string_value(json_object_get(e, "event")), "usage");
    cr_assert_not_null(strstr(json_string_value(json_object_get(e, "data")), "\"total_tokens\":"));
    e = json_array_get(ev, n - 1);
    cr_assert_str_eq(json_string_value(json_object_get(e, "event")), "done");
    cr_assert_str_eq(json_string_value(json_object_get(e, "data")), "");
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* An exhausted budget answers x-should-retry: false, and the SDK, with its default of two
 * retries, obeys it: one request, one RateLimitError, nothing upstream. */
Test(sdk, an_exhausted_budget_is_not_retried_by_the_sdk)
{
    char conf[1024];
    json_t *j, *e;
    struct h_resp r;

    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
    h_daemon_init(&d);
    /* mode none: the SDK's key is not checked; "anonymous" gets [limits].  One request
     * reserves more than 100 tokens, so the first is refused already. */
    snprintf(conf, sizeof(conf), "%s[limits]\nrpm = 0\ntpm = 0\ntoken_budget = 100\n",
             h_fake_upstream_conf(&fake, NULL));
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, NULL);
    j = run_sdk("budget");
    e = json_object_get(j, "error");
    cr_assert_not_null(e, "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(e, "class")), "RateLimitError");
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "insufficient_quota");
    cr_assert_eq(h_http(d.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    cr_assert_not_null(strstr(r.body, "sluice_requests_total{route=\"/v1/chat/completions\","
                                      "code=\"429\"} 1\n"),
                       "the SDK retried:\n%s", r.body);
    h_resp_free(&r);
    cr_assert_eq(h_fake_stat(&fake, "requests"), 0);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}
