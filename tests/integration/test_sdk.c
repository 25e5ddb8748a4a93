/* SPDX-License-Identifier: MIT */
/* test_sdk.c - the official OpenAI Node SDK (tests/sdk, installed by scripts/test) against the
 * real sluiced and the fake upstream: a client written for OpenAI works unchanged on chat
 * completions, the Responses API, embeddings and models, another tenant's response is not
 * found, and a cut stream surfaces as an error, never as a complete answer.  Runs when
 * SL_SDK_TESTS=1 (scripts/test sets it after installing the SDK); `make distcheck` has no SDK
 * and skips. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

static struct h_fake fake;
static struct h_daemon d;

/* The fake's answer to sdk_check.mjs's prompt. */
#define ANSWER "Hello! You said: hello from the sdk"

/* The keys sdk_check.mjs uses: tenant "sdk" may use every model, "other" gpt-4o-mini only, so
 * that models, refusals and another tenant's responses can be seen through the SDK. */
static void setup(void)
{
    char conf[4096], sdk_hash[65], other_hash[65];

    if (!getenv("SL_SDK_TESTS") || strcmp(getenv("SL_SDK_TESTS"), "1") != 0)
        cr_skip_test("SL_SDK_TESTS is not 1 (scripts/test sets it)");
    h_sha256_hex("sk-sluice-tenant", sdk_hash);
    h_sha256_hex("sk-sluice-other", other_hash);
    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "%s[auth]\nmode = keys\n[tenant.sdk]\nkey_sha256 = %s\n"
             "[guard.nohtml]\ndeny_markup = html\n"
             "[tenant.other]\nkey_sha256 = %s\nmodels = gpt-4o-mini\nguard = nohtml\n",
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

/* A string member, or "(none)": criterion's string asserts must not be given NULL. */
static const char *str_of(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));

    return s ? s : "(none)";
}

static long long int_of(json_t *j, const char *key)
{
    return json_integer_value(json_object_get(j, key));
}

/* The position of string s in array a, or -1. */
static long index_of(json_t *a, const char *s)
{
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *v = json_string_value(json_array_get(a, i));

        if (v && strcmp(v, s) == 0)
            return (long)i;
    }
    return -1;
}

/* The SDK threw its class cls, for an HTTP status and an OpenAI error code. */
static void assert_sdk_error(json_t *e, const char *cls, long long status, const char *code)
{
    cr_assert_not_null(e, "the SDK did not throw");
    cr_assert_str_eq(str_of(e, "class"), cls, "%s", json_dumps(e, 0));
    cr_assert(json_is_true(json_object_get(e, "api_error")), "%s", json_dumps(e, 0));
    cr_assert_eq(int_of(e, "status"), status, "%s", json_dumps(e, 0));
    cr_assert_str_eq(str_of(e, "code"), code, "%s", json_dumps(e, 0));
}

Test(sdk, buffered_completion)
{
    json_t *j = run_sdk("buffered");

    cr_assert_null(json_object_get(j, "error"), "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(j, "content")), ANSWER);
    cr_assert_str_eq(json_string_value(json_object_get(j, "finish_reason")), "stop");
    cr_assert_gt(json_integer_value(json_object_get(j, "total_tokens")), 0);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(sdk, streamed_completion_without_the_usage_chunk)
{
    json_t *j = run_sdk("stream");

    cr_assert(json_is_true(json_object_get(j, "completed")), "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_object_get(j, "content")), ANSWER);
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

/* An input-guard refusal (SPEC §13) is a BadRequestError naming the field, on every route; the
 * same tenant's clean request goes through. */
Test(sdk, a_content_policy_refusal_is_a_bad_request_error)
{
    json_t *j = run_sdk("guarded");

    assert_sdk_error(json_object_get(j, "chat"), "BadRequestError", 400,
                     "content_policy_violation");
    cr_assert_str_eq(str_of(json_object_get(j, "chat"), "param"), "messages[0].content");
    assert_sdk_error(json_object_get(j, "responses"), "BadRequestError", 400,
                     "content_policy_violation");
    cr_assert_str_eq(str_of(json_object_get(j, "responses"), "param"), "input");
    cr_assert_str_eq(str_of(j, "passed"), ANSWER);
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

/* ---- the Responses API, embeddings and models ---- */

/* The upstream requests, as "METHOD path" strings in arrival order (caller decref's). */
static json_t *upstream_calls(void)
{
    json_t *reqs = h_fake_requests(&fake), *calls = json_array(), *q;

    for (size_t i = 0; i < json_array_size(reqs); i++) {
        q = json_array_get(reqs, i);
        json_array_append_new(calls, json_sprintf("%s %s", str_of(q, "method"), str_of(q, "path")));
    }
    json_decref(reqs);
    return calls;
}

/* What the creating tenant saw: its response, again on retrieve, its input, then gone. */
static void assert_owner_view(json_t *j, const char *id)
{
    json_t *items = json_object_get(j, "input_items");

    cr_assert_eq(strncmp(id, "resp_", 5), 0, "%s", id);
    cr_assert_str_eq(str_of(j, "text"), ANSWER);
    cr_assert_str_eq(str_of(j, "status"), "completed");
    cr_assert_gt(int_of(j, "total_tokens"), 0);
    cr_assert_str_eq(str_of(json_object_get(j, "retrieved"), "id"), id);
    cr_assert_str_eq(str_of(json_object_get(j, "retrieved"), "text"), ANSWER);
    cr_assert_eq(json_array_size(items), 1, "%s", json_dumps(j, 0));
    cr_assert_str_eq(str_of(json_array_get(items, 0), "role"), "user");
    cr_assert_str_eq(str_of(json_array_get(items, 0), "text"), "hello from the sdk");
    cr_assert(json_is_true(json_object_get(j, "deleted")), "%s", json_dumps(j, 0));
    cr_assert_eq(int_of(json_object_get(j, "retrieve_after_delete"), "status"), 404, "%s",
                 json_dumps(j, 0));
}

/* The second tenant could neither retrieve, list nor delete it: its owner still could. */
static void assert_other_tenant_view(json_t *j)
{
    assert_sdk_error(json_object_get(j, "other_retrieve"), "NotFoundError", 404, "not_found");
    assert_sdk_error(json_object_get(j, "other_input_items"), "NotFoundError", 404, "not_found");
    assert_sdk_error(json_object_get(j, "other_delete"), "NotFoundError", 404, "not_found");
    cr_assert_str_eq(str_of(j, "retrieved_after_other"), ANSWER);
}

/* Only the owner's calls reached the upstream, in order: none of the second tenant's three
 * attempts, made between the input items and the owner's second retrieve. */
static void assert_upstream_saw_only_the_owner(const char *id)
{
    static const char *const want[] = { "POST /v1/responses", "GET /v1/responses/%s",
                                        "GET /v1/responses/%s/input_items", "GET /v1/responses/%s",
                                        "DELETE /v1/responses/%s" };
    json_t *calls = upstream_calls();
    char line[256];

    cr_assert_geq(json_array_size(calls), 5, "%s", json_dumps(calls, 0));
    for (size_t i = 0; i < 5; i++) {
        snprintf(line, sizeof(line), want[i], id);
        cr_assert_str_eq(json_string_value(json_array_get(calls, i)), line, "upstream calls: %s",
                         json_dumps(calls, 0));
    }
    json_decref(calls);
}

Test(sdk, a_response_is_created_retrieved_listed_and_deleted_by_its_tenant_only)
{
    json_t *j = run_sdk("responses");
    const char *id = str_of(j, "id");

    cr_assert_null(json_object_get(j, "error"), "%s", json_dumps(j, 0));
    assert_owner_view(j, id);
    assert_other_tenant_view(j);
    assert_upstream_saw_only_the_owner(id);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* Every member an integer, each larger than the one before. */
static void assert_increasing(json_t *a)
{
    for (size_t i = 0; i < json_array_size(a); i++) {
        cr_assert(json_is_integer(json_array_get(a, i)), "%s", json_dumps(a, 0));
        cr_assert(i == 0 || json_integer_value(json_array_get(a, i)) >
                                json_integer_value(json_array_get(a, i - 1)),
                  "%s", json_dumps(a, 0));
    }
}

/* The stream's events in order, numbered upwards, and the text the deltas make is what a
 * retrieve of the streamed response gives. */
Test(sdk, a_streamed_response_is_relayed_event_by_event)
{
    json_t *j = run_sdk("responses_stream"), *types = json_object_get(j, "types");
    long created = index_of(types, "response.created"),
         delta = index_of(types, "response.output_text.delta"),
         completed = index_of(types, "response.completed");

    cr_assert(json_is_true(json_object_get(j, "completed")), "%s", json_dumps(j, 0));
    cr_assert_eq(created, 0, "%s", json_dumps(types, 0));
    cr_assert_gt(delta, created, "%s", json_dumps(types, 0));
    cr_assert_gt(completed, delta, "%s", json_dumps(types, 0));
    cr_assert_eq(completed, (long)json_array_size(types) - 1, "%s", json_dumps(types, 0));
    cr_assert_eq(json_array_size(json_object_get(j, "sequence_numbers")), json_array_size(types));
    assert_increasing(json_object_get(j, "sequence_numbers"));
    cr_assert_str_eq(str_of(j, "text"), ANSWER);
    cr_assert_eq(strncmp(str_of(j, "id"), "resp_", 5), 0, "%s", json_dumps(j, 0));
    cr_assert_str_eq(str_of(j, "completed_id"), str_of(j, "id"));
    cr_assert_gt(int_of(j, "total_tokens"), 0);
    cr_assert_str_eq(str_of(json_object_get(j, "retrieved"), "id"), str_of(j, "id"));
    cr_assert_str_eq(str_of(json_object_get(j, "retrieved"), "text"), ANSWER);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* A Responses stream of "one two three" (11 events) cut as behaviour says: the SDK's iteration
 * throws after every delta, and never reaches response.completed. */
static json_t *cut_response_stream(const char *behaviour)
{
    char script[512];
    json_t *j, *e;

    snprintf(script, sizeof(script), "[{\"content\":\"one two three\",%s}]", behaviour);
    h_fake_script(&fake, script);
    j = run_sdk("responses_cut");
    e = json_object_get(j, "error");
    cr_assert(json_is_true(json_object_get(j, "stream_opened")), "%s", json_dumps(j, 0));
    cr_assert_null(json_object_get(j, "completed"), "%s", json_dumps(j, 0));
    cr_assert_eq(index_of(json_object_get(j, "types"), "response.completed"), -1);
    cr_assert_str_eq(str_of(j, "text"), "one two three");
    cr_assert_not_null(e, "%s", json_dumps(j, 0));
    cr_assert(json_is_true(json_object_get(e, "api_error")), "%s", json_dumps(j, 0));
    return j;
}

Test(sdk, a_response_stream_closed_before_its_last_event_raises)
{
    json_t *j = cut_response_stream("\"fail_after_chunks\":10");

    cr_assert_str_eq(str_of(json_object_get(j, "error"), "code"), "upstream_stream_cut");
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(sdk, a_response_stream_reset_before_its_last_event_raises)
{
    json_t *j = cut_response_stream("\"fail_after_chunks\":10,\"fail_mode\":\"reset\"");

    cr_assert_str_eq(str_of(json_object_get(j, "error"), "code"), "upstream_stream_cut");
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* The upstream's own error event is the one the SDK raises. */
Test(sdk, a_response_stream_error_event_raises_the_upstreams_error)
{
    json_t *j = cut_response_stream("\"fail_after_chunks\":10,\"fail_mode\":\"error_event\","
                                    "\"error_message\":\"the model fell over\"");

    cr_assert_not_null(
        strstr(str_of(json_object_get(j, "error"), "message"), "the model fell over"), "%s",
        json_dumps(j, 0));
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* A model outside the tenant's list is OpenAI's model_not_found, and nothing goes upstream. */
Test(sdk, a_response_for_a_model_the_tenant_may_not_use_is_not_found)
{
    json_t *j = run_sdk("responses_refused");

    cr_assert_null(json_object_get(j, "completed"), "%s", json_dumps(j, 0));
    assert_sdk_error(json_object_get(j, "error"), "NotFoundError", 404, "model_not_found");
    cr_assert_eq(h_fake_stat(&fake, "requests"), 0);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(sdk, embeddings_of_two_strings)
{
    json_t *j = run_sdk("embeddings"), *dims;

    cr_assert_null(json_object_get(j, "error"), "%s", json_dumps(j, 0));
    cr_assert_eq(int_of(j, "count"), 2, "%s", json_dumps(j, 0));
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(j, "indexes"), 0)), 0);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(j, "indexes"), 1)), 1);
    /* The SDK asked for base64 and decoded 8 float32 numbers (the fake's default size). */
    dims = json_object_get(j, "dimensions");
    cr_assert_eq(json_integer_value(json_array_get(dims, 0)), 8, "%s", json_dumps(j, 0));
    cr_assert_eq(json_integer_value(json_array_get(dims, 1)), 8, "%s", json_dumps(j, 0));
    cr_assert_gt(int_of(j, "prompt_tokens"), 0);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

/* Each tenant lists the models it may use; the gateway answers without the upstream. */
Test(sdk, models_are_listed_and_retrieved_per_tenant)
{
    json_t *j = run_sdk("models"), *ids = json_object_get(j, "ids"),
           *other = json_object_get(j, "other_ids");

    cr_assert_null(json_object_get(j, "error"), "%s", json_dumps(j, 0));
    cr_assert_eq(json_array_size(ids), 3, "%s", json_dumps(j, 0));
    cr_assert_geq(index_of(ids, "gpt-4o-mini"), 0, "%s", json_dumps(j, 0));
    cr_assert_geq(index_of(ids, "gpt-4o"), 0, "%s", json_dumps(j, 0));
    cr_assert_geq(index_of(ids, "text-embedding-3-small"), 0, "%s", json_dumps(j, 0));
    cr_assert_eq(json_array_size(other), 1, "%s", json_dumps(j, 0));
    cr_assert_str_eq(json_string_value(json_array_get(other, 0)), "gpt-4o-mini");
    cr_assert_str_eq(str_of(json_object_get(j, "retrieved"), "id"), "gpt-4o");
    cr_assert_str_eq(str_of(json_object_get(j, "retrieved"), "object"), "model");
    assert_sdk_error(json_object_get(j, "other_retrieve"), "NotFoundError", 404, "model_not_found");
    cr_assert_eq(h_fake_stat(&fake, "requests"), 0);
    json_decref(j);
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}
