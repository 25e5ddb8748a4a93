/* SPDX-License-Identifier: MIT */
/* test_surface_stream.c - what a Responses stream can do wrong (SPEC §10), through the real
 * sluiced and the fake upstream: a stream that never sends its terminal event, sends one
 * without usage, or sends an error or malformed event is relayed as far as it is valid, cut
 * cleanly, settled in full and never crashes the gateway; a terminal event with usage settles
 * to it whatever it says; a reasoning model's silence is bounded by stream_idle_ms; a client
 * that leaves is settled in full and its upstream transfer dropped; the id a stream creates is
 * its tenant's from the first event on. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

TestSuite(surface_stream, .timeout = 120);

static struct h_fake fake;
static struct h_daemon d;

#define ACME "Bearer sk-acme-1"
#define BETA "Bearer sk-beta-1"

/* One request for every case: a string input (one item) and an explicit output cap, so the
 * reservation is known: body bytes + the configured overhead for one item + the cap. */
#define OVERHEAD 6
#define MAX_OUT 50
static const char BODY[] =
    "{\"model\":\"gpt-4o-mini\",\"input\":\"stream me\",\"stream\":true,\"max_output_tokens\":50}";
#define RESERVATION ((long long)(sizeof(BODY) - 1) + OVERHEAD + MAX_OUT)

/* The fake's answer: three words, so W + 8 = 11 events (W + 5 = 8 when failed), and the usage
 * it computes: ceil(9 bytes / 4) + 4 input tokens, 3 output tokens. */
#define WORDS "\"content\":\"one two three\""
#define EVENTS 11
#define STR_(x) #x
#define STR(x) STR_(x)
#define FAILED_EVENTS 8
#define REPORTED 10
/* A usage of the upstream's own, unlike both the reservation and the computed one. */
#define OWN_USAGE "\"usage\":{\"input_tokens\":21,\"output_tokens\":13,\"total_tokens\":34}"
#define OWN_TOTAL 34

/* Two tenants, acme and beta, both may use gpt-4o-mini; the admin API reads their usage.  Every
 * cut stream is a failure of the upstream's: the breaker must not open within one test. */
static void start(const char *upstream_keys)
{
    char conf[4096], a[65], b[65], adm[65];

    h_sha256_hex("sk-acme-1", a);
    h_sha256_hex("sk-beta-1", b);
    h_sha256_hex("sk-admin-secret", adm);
    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf),
             "%s[auth]\nmode = keys\n[limits]\nrpm = 0\ntpm = 0\ntoken_budget = 0\n"
             "message_overhead_tokens = %d\n[breaker]\nfailure_threshold = 1000\n"
             "[admin]\nkey_sha256 = %s\n"
             "[tenant.acme]\nkey_sha256 = %s\ntoken_budget = 100000\n"
             "[tenant.beta]\nkey_sha256 = %s\nmodels = gpt-4o-mini\n",
             h_fake_upstream_conf(&fake, upstream_keys ? upstream_keys : ""), OVERHEAD, adm, a, b);
    h_daemon_write_conf(&d, 1, conf);
    h_daemon_start(&d, NULL);
}

/* Never a crash: no worker was replaced, and the daemon stops cleanly. */
static void stop(void)
{
    cr_assert_eq(h_metric(d.port, "sluice_workers_restarted_total"), 0, "a worker died");
    cr_assert_eq(h_daemon_stop(&d, 15000), 0);
    cr_assert_not(h_file_contains(d.log, "sk-acme-1"), "a tenant key reached the log");
    h_assert_no_sanitizer_reports(d.log);
    h_fake_stop(&fake);
}

static long call(const char *method, const char *path, const char *auth, struct h_resp *r)
{
    char hdr[256];
    const char *hdrs[] = { hdr, NULL };

    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
    cr_assert_eq(h_http(d.port, method, path, hdrs, NULL, 0, r), 0);
    return r->status;
}

/* POST BODY as acme under a request id of the test's choosing (to find its log line); the
 * transfer's result: 0 only when the stream ended with its terminating chunk. */
static int post_stream(const char *request_id, struct h_resp *r)
{
    char rid[128];
    const char *hdrs[] = { "Authorization: " ACME, "Content-Type: application/json", rid, NULL };

    snprintf(rid, sizeof(rid), "X-Request-ID: %s", request_id);
    return h_http(d.port, "POST", "/v1/responses", hdrs, BODY, sizeof(BODY) - 1, r);
}

/* ---- reading SSE text ---- */

/* The fake makes new ids and times in every answer: mask them (resp_…, msg_…, created_at) so
 * that two answers to the same request compare byte for byte.  malloc'd. */
static char *masked(const char *s)
{
    static const char *const marks[] = { "resp_", "msg_", "\"created_at\":" };
    size_t n = strlen(s), o = 0, i = 0;
    char *out = malloc(n + 1);

    cr_assert_not_null(out);
    while (i < n) {
        size_t k = 0;

        for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]) && !k; m++)
            if (strncmp(s + i, marks[m], strlen(marks[m])) == 0)
                k = strlen(marks[m]);
        if (!k) {
            out[o++] = s[i++];
            continue;
        }
        memcpy(out + o, s + i, k);
        o += k;
        for (i += k; isxdigit((unsigned char)s[i]); i++)
            ;
    }
    out[o] = '\0';
    return out;
}

/* The bytes the first n events take (each ends with its blank line), -1 when there are
 * fewer. */
static long events_span(const char *text, int n)
{
    const char *p = text;

    for (int i = 0; i < n; i++) {
        const char *end = strstr(p, "\n\n");

        if (!end)
            return -1;
        p = end + 2;
    }
    return (long)(p - text);
}

static int events_count(const char *text)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, "\n\n")); p += 2)
        n++;
    return n;
}

static int occurrences(const char *text, const char *what)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* The data of the first event named name, parsed (NULL when there is none). */
static json_t *event_data(const char *text, const char *name)
{
    char head[128];
    const char *p, *end;

    snprintf(head, sizeof(head), "event: %s\ndata: ", name);
    p = strstr(text, head);
    if (!p)
        return NULL;
    p += strlen(head);
    end = strstr(p, "\n\n");
    return end ? json_loadb(p, (size_t)(end - p), 0, NULL) : NULL;
}

/* The stream the fake itself sends for the request the gateway just made (the body the
 * gateway sent upstream, under the behaviour given), masked.  Asked of the fake directly. */
static char *fakes_own_stream(const char *behaviour)
{
    const char *hdrs[] = { "Content-Type: application/json", NULL };
    json_t *up = h_fake_last(&fake);
    const char *body = json_string_value(json_object_get(up, "body"));
    struct h_resp r;
    char *text;

    cr_assert_str_eq(json_string_value(json_object_get(up, "path")), "/v1/responses");
    cr_assert_not_null(body);
    h_fake_script(&fake, behaviour);
    /* A faulty answer ends in a transfer error: only the bytes matter here. */
    (void)h_http(fake.port, "POST", "/v1/responses", hdrs, body, strlen(body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    text = masked(r.body);
    h_resp_free(&r);
    json_decref(up);
    return text;
}

/* ---- one stream, judged whole ---- */

enum ending {
    ENDS_COMPLETE,      /* the upstream's terminal event, then the terminating chunk */
    ENDS_OUR_ERROR,     /* cut: one error event of the gateway's, no terminating chunk */
    ENDS_UPSTREAM_ERROR /* cut: the upstream's own error event, once, no terminating chunk */
};

struct stream_case {
    const char *id;       /* X-Request-ID, to find its log line */
    const char *script;   /* the behaviour the gateway meets (a JSON array) */
    const char *own;      /* the fake's answer to compare with, asked without the timing
                           * that would make it slow; NULL: script */
    int relayed;          /* events relayed as the upstream sent them */
    enum ending ending;   /* what follows them */
    const char *terminal; /* ENDS_COMPLETE: the last event's type */
    long long settled;    /* tokens charged; -1: the reservation in full */
};

/* Our error event: "type":"error" as the Responses API words it, with an "error" object the
 * SDKs raise, numbered after the last relayed event. */
static void assert_our_error_event(const char *tail, int next_sequence)
{
    static const char head[] = "event: error\ndata: ";
    size_t n = strlen(tail), h = sizeof(head) - 1;
    json_t *j, *err;

    cr_assert_eq(events_count(tail), 1, "not one event after the relayed ones: [%s]", tail);
    cr_assert_eq(strncmp(tail, head, h), 0, "[%s]", tail);
    cr_assert(n > h + 2 && strcmp(tail + n - 2, "\n\n") == 0, "[%s]", tail);
    j = json_loadb(tail + h, n - h - 2, 0, NULL);
    cr_assert_not_null(j, "the error event's data is not JSON: [%s]", tail);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "error");
    err = json_object_get(j, "error");
    cr_assert(json_is_object(err), "no error object: %s", tail);
    cr_assert(json_is_string(json_object_get(err, "message")), "%s", tail);
    cr_assert(json_is_string(json_object_get(j, "message")), "%s", tail);
    cr_assert_eq(json_integer_value(json_object_get(j, "sequence_number")), next_sequence, "%s",
                 tail);
    json_decref(j);
}

/* The request's log line, with "cut":"<cut>" or with no cut at all. */
static void assert_logged(const char *request_id, const char *cut)
{
    char rid[160], cut_field[64];

    snprintf(rid, sizeof(rid), "\"request_id\":\"%s\"", request_id);
    snprintf(cut_field, sizeof(cut_field), "\"cut\":\"%s\"", cut ? cut : "");
    cr_assert_eq(
        h_log_wait(&d,
                   (const char *[]){ "\"event\":\"request\"", rid, "\"route\":\"/v1/responses\"",
                                     "\"status\":200", NULL },
                   1, 5000),
        1, "no request line for %s", request_id);
    if (cut)
        cr_assert_eq(
            h_log_count(&d, (const char *[]){ "\"event\":\"request\"", rid, cut_field, NULL }), 1,
            "the request line of %s does not say \"cut\":\"%s\"", request_id, cut);
    else
        cr_assert_eq(
            h_log_count(&d, (const char *[]){ "\"event\":\"request\"", rid, "\"cut\":", NULL }), 0,
            "a complete stream logged as cut");
}

/* A complete stream: the terminal event last, nothing after it, no error, the terminating
 * chunk. */
static void assert_complete(const struct stream_case *c, int rc, const char *got, const char *tail)
{
    char terminal[128];

    cr_assert_eq(rc, 0, "a complete stream lacks its terminating chunk");
    cr_assert_str_eq(tail, "", "more after the terminal event");
    cr_assert_eq(occurrences(got, "event: response."), c->relayed, "%s", got);
    snprintf(terminal, sizeof(terminal), "event: %s\n", c->terminal);
    cr_assert_eq(strncmp(got + events_span(got, c->relayed - 1), terminal, strlen(terminal)), 0,
                 "does not end with %s: %s", c->terminal, got);
    cr_assert_eq(occurrences(got, "event: error"), 0, "%s", got);
}

/* A cut stream: one error event (ours, or the upstream's own as it sent it), no
 * response.completed, no terminating chunk. */
static void assert_cut(const struct stream_case *c, int rc, const char *got, const char *tail,
                       const char *own_tail)
{
    cr_assert_neq(rc, 0, "a cut stream ended as a complete one would");
    if (c->ending == ENDS_OUR_ERROR) {
        assert_our_error_event(tail, c->relayed);
    } else {
        cr_assert_eq(strncmp(tail, "event: error\n", 13), 0, "[%s]", tail);
        cr_assert_str_eq(tail, own_tail, "the upstream's error event not relayed as sent");
        cr_assert_eq(events_count(tail), 1, "more than the upstream's error event: [%s]", tail);
    }
    cr_assert_null(strstr(got, "event: response.completed"), "%s", got);
    cr_assert_eq(occurrences(got, "event: error"), 1, "%s", got);
}

/* What the client saw: the first c->relayed events exactly as the fake sends them (ids and
 * times masked), then the case's ending. */
static void assert_client_saw(const struct stream_case *c, int rc, const char *client_bytes,
                              const char *own)
{
    char *got = masked(client_bytes);
    long span = events_span(got, c->relayed), own_span = events_span(own, c->relayed);

    cr_assert_geq(span, 0, "fewer than %d events relayed: %s", c->relayed, client_bytes);
    cr_assert_geq(own_span, 0, "the fake sent fewer than %d events: %s", c->relayed, own);
    cr_assert_eq(span, own_span, "relayed:\n%.*s\nsent:\n%.*s", (int)span, got, (int)own_span, own);
    cr_assert_eq(memcmp(got, own, (size_t)span), 0, "not relayed as sent:\n%.*s\nsent:\n%.*s",
                 (int)span, got, (int)own_span, own);
    if (c->ending == ENDS_COMPLETE) {
        cr_assert_str_eq(own + own_span, "", "the fake sent more than the case says");
        assert_complete(c, rc, got, got + span);
    } else {
        assert_cut(c, rc, got, got + span, own + own_span);
    }
    free(got);
}

/* used: what the request added to the tenant's usage; settled -1: the reservation, which is
 * not what the whole stream would have reported. */
static void assert_charged(const char *id, long long used, long long settled)
{
    if (settled >= 0) {
        cr_assert_eq(used, settled, "%s: settled %lld, the upstream said %lld", id, used, settled);
    } else {
        cr_assert_eq(used, RESERVATION, "%s: settled %lld, not the reservation %lld", id, used,
                     RESERVATION);
        cr_assert_neq(used, REPORTED, "%s: settled as a complete stream", id);
    }
    cr_assert_eq(h_metric(d.port, "sluice_reservations_held"), 0, "a reservation leaked");
}

static void run_case(const struct stream_case *c)
{
    long long before = h_tenant_used(d.port, "sk-admin-secret", "acme");
    size_t calls = h_fake_count(&fake);
    struct h_resp r;
    char *own;
    int rc;

    h_fake_script(&fake, c->script);
    rc = post_stream(c->id, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(h_header(&r, "Content-Type"), "text/event-stream");
    cr_assert_eq(h_fake_count(&fake), calls + 1, "a stream that had begun was sent again");
    own = fakes_own_stream(c->own ? c->own : c->script);
    assert_client_saw(c, rc, r.body, own);
    free(own);
    h_resp_free(&r);
    /* The line is written once the request is settled. */
    assert_logged(c->id, c->ending == ENDS_COMPLETE ? NULL : "upstream");
    assert_charged(c->id, h_tenant_used(d.port, "sk-admin-secret", "acme") - before, c->settled);
}

/* ---- the cases ---- */

/* The control: a whole stream settles to the usage its response.completed carries, which is
 * not the reservation the other cases expect. */
Test(surface_stream, a_complete_stream_settles_to_its_usage)
{
    static const struct stream_case c = {
        .id = "s-complete",
        .script = "[{" WORDS "}]",
        .relayed = EVENTS,
        .ending = ENDS_COMPLETE,
        .terminal = "response.completed",
        .settled = REPORTED,
    };

    cr_assert_neq(RESERVATION, REPORTED);
    start(NULL);
    run_case(&c);
    stop();
}

Test(surface_stream, a_stream_closed_before_its_terminal_event_is_cut_and_charged_in_full)
{
    /* Everything but the terminal event arrives, then a clean close; or a reset mid-text. */
    static const struct stream_case fin = {
        .id = "s-cut-fin",
        .script = "[{" WORDS ",\"fail_after_chunks\":10}]",
        .relayed = EVENTS - 1,
        .ending = ENDS_OUR_ERROR,
        .settled = -1,
    };
    static const struct stream_case rst = {
        .id = "s-cut-rst",
        .script = "[{" WORDS ",\"fail_after_chunks\":5,\"fail_mode\":\"reset\"}]",
        .relayed = 5,
        .ending = ENDS_OUR_ERROR,
        .settled = -1,
    };

    start(NULL);
    run_case(&fin);
    run_case(&rst);
    stop();
}

/* The terminal event arrived, then the upstream closed without its terminating chunk: the
 * client has the whole answer, so it gets a whole stream, settled to the usage reported. */
Test(surface_stream, a_transport_failure_after_the_terminal_event_still_completes)
{
    static const struct stream_case c = {
        .id = "s-after-terminal",
        .script = "[{" WORDS ",\"fail_after_chunks\":" STR(EVENTS) "}]",
        .own = "[{" WORDS "}]",
        .relayed = EVENTS,
        .ending = ENDS_COMPLETE,
        .terminal = "response.completed",
        .settled = REPORTED,
    };

    start(NULL);
    run_case(&c);
    stop();
}

Test(surface_stream, a_completed_event_without_usage_completes_and_is_charged_in_full)
{
    static const struct stream_case c = {
        .id = "s-no-usage",
        .script = "[{" WORDS ",\"usage\":null}]",
        .relayed = EVENTS,
        .ending = ENDS_COMPLETE,
        .terminal = "response.completed",
        .settled = -1,
    };

    start(NULL);
    run_case(&c);
    stop();
}

Test(surface_stream, an_incomplete_event_with_usage_completes_and_settles_to_it)
{
    static const struct stream_case c = {
        .id = "s-incomplete",
        .script = "[{" WORDS ",\"response_status\":\"incomplete\"," OWN_USAGE "}]",
        .relayed = EVENTS,
        .ending = ENDS_COMPLETE,
        .terminal = "response.incomplete",
        .settled = OWN_TOTAL,
    };

    start(NULL);
    run_case(&c);
    stop();
}

Test(surface_stream, a_failed_event_settles_to_its_usage_or_in_full_without_one)
{
    static const struct stream_case with = {
        .id = "s-failed-usage",
        .script = "[{" WORDS ",\"response_status\":\"failed\"," OWN_USAGE "}]",
        .relayed = FAILED_EVENTS,
        .ending = ENDS_COMPLETE,
        .terminal = "response.failed",
        .settled = OWN_TOTAL,
    };
    static const struct stream_case without = {
        .id = "s-failed-no-usage",
        .script = "[{" WORDS ",\"response_status\":\"failed\",\"usage\":null}]",
        .relayed = FAILED_EVENTS,
        .ending = ENDS_COMPLETE,
        .terminal = "response.failed",
        .settled = -1,
    };

    start(NULL);
    run_case(&with);
    run_case(&without);
    stop();
}

Test(surface_stream, an_error_event_mid_stream_is_relayed_once_and_charged_in_full)
{
    static const struct stream_case c = {
        .id = "s-error-event",
        .script = "[{" WORDS ",\"fail_after_chunks\":6,\"fail_mode\":\"error_event\","
                  "\"error_code\":\"rate_limit_exceeded\",\"error_message\":\"Slow down.\"}]",
        .relayed = 6,
        .ending = ENDS_UPSTREAM_ERROR,
        .settled = -1,
    };

    start(NULL);
    run_case(&c);
    stop();
}

Test(surface_stream, a_malformed_event_is_cut_with_our_error_and_charged_in_full)
{
    /* After the first delta: the rest of the stream, terminal event and usage included, is
     * the fake's to send but not the gateway's to relay or settle from. */
    static const struct stream_case c = {
        .id = "s-malformed",
        .script = "[{" WORDS ",\"malformed_after_chunks\":5}]",
        .relayed = 5,
        .ending = ENDS_OUR_ERROR,
        .settled = -1,
    };

    start(NULL);
    run_case(&c);
    stop();
}

/* ---- malformed streams written out by hand ---- */

/* Two valid events, relayed as they are, before the bad part of each case below. */
#define RAW_VALID                                                                                  \
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,"         \
    "\"response\":{\"id\":\"resp_rawstream1\",\"object\":\"response\",\"status\":\"in_progress\"," \
    "\"output\":[],\"usage\":null}}\n\n"                                                           \
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","           \
    "\"sequence_number\":1,\"item_id\":\"msg_raw1\",\"output_index\":0,\"content_index\":0,"       \
    "\"delta\":\"one \"}\n\n"
#define RAW_DELTA_HEAD                                                                             \
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","           \
    "\"sequence_number\":2"

/* The upstream answers 200 text/event-stream with exactly these bytes, then ends the body
 * cleanly (a Content-Length it fulfils): only the SSE inside can be wrong. */
static void script_raw_stream(const char *text)
{
    json_t *script = json_pack("[{s:s,s:{s:s}}]", "body_raw", text, "headers", "content-type",
                               "text/event-stream");
    char *s;

    cr_assert_not_null(script);
    s = json_dumps(script, JSON_COMPACT);
    cr_assert_not_null(s);
    h_fake_script(&fake, s);
    free(s);
    json_decref(script);
}

/* An event whose data is one delta of more than the gateway's 1 MiB bound on an event. */
static char *huge_event(void)
{
    static const char head[] = RAW_DELTA_HEAD ",\"delta\":\"";
    size_t n = (1u << 20) + 4096, h = sizeof(head) - 1;
    char *e = malloc(h + n + 8);

    cr_assert_not_null(e);
    memcpy(e, head, h);
    memset(e + h, 'a', n);
    strcpy(e + h + n, "\"}\n\n");
    return e;
}

/* RAW_VALID and then bad: the two events relayed, then our error, numbered 2. */
static void run_raw_case(const char *id, const char *bad)
{
    long long before = h_tenant_used(d.port, "sk-admin-secret", "acme");
    size_t calls = h_fake_count(&fake);
    char *all = malloc(strlen(RAW_VALID) + strlen(bad) + 1);
    struct h_resp r;
    int rc;

    cr_assert_not_null(all);
    strcpy(stpcpy(all, RAW_VALID), bad);
    script_raw_stream(all);
    free(all);
    rc = post_stream(id, &r);
    cr_assert_eq(r.status, 200, "%s: %s", id, r.body);
    cr_assert_neq(rc, 0, "%s: a cut stream ended as a complete one would", id);
    cr_assert_eq(h_fake_count(&fake), calls + 1, "%s", id);
    cr_assert_eq(strncmp(r.body, RAW_VALID, strlen(RAW_VALID)), 0,
                 "%s: the valid events not relayed as sent: %.600s", id, r.body);
    assert_our_error_event(r.body + strlen(RAW_VALID), 2);
    h_resp_free(&r);
    assert_logged(id, "upstream");
    assert_charged(id, h_tenant_used(d.port, "sk-admin-secret", "acme") - before, -1);
}

Test(surface_stream, malformed_events_are_relayed_up_to_the_fault_and_charged_in_full)
{
    char *huge = huge_event();
    const struct {
        const char *id, *bad;
    } cases[] = {
        { "raw-array", "event: response.output_text.delta\ndata: [1,2]\n\n" },
        { "raw-not-json", "event: response.output_text.delta\ndata: {\"type\":\"resp\n\n" },
        { "raw-type-number", "event: response.output_text.delta\ndata: {\"type\":7}\n\n" },
        { "raw-untyped", "data: {\"sequence_number\":2,\"delta\":\"x\"}\n\n" },
        { "raw-duplicate-key", RAW_DELTA_HEAD ",\"delta\":\"x\",\"delta\":\"y\"}\n\n" },
        { "raw-trailing-bytes", RAW_DELTA_HEAD ",\"delta\":\"x\"} x\n\n" },
        { "raw-bad-member", RAW_DELTA_HEAD ",\"delta\":\"x\",\"logprobs\":[}\n\n" },
        { "raw-bad-escape", RAW_DELTA_HEAD ",\"delta\":\"\\q\"}\n\n" },
        { "raw-over-bound", huge },
        /* The terminal event begun, its data never finished before the body ends. */
        { "raw-partial-terminal",
          "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,"
          "\"response\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1" },
        /* The body ends cleanly, with no terminal event at all. */
        { "raw-no-terminal", "" },
    };

    start(NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_raw_case(cases[i].id, cases[i].bad);
    free(huge);
    stop();
}

/* A reasoning model's silence before its last event outlasts the attempt's bound but not the
 * stream's idle bound: the stream completes (an attempt bound would have cut it at 1 s). */
Test(surface_stream, a_silence_within_stream_idle_ms_completes)
{
    static const struct stream_case c = {
        .id = "s-long-silence",
        .script = "[{" WORDS ",\"terminal_delay_ms\":2000}]",
        .own = "[{" WORDS "}]",
        .relayed = EVENTS,
        .ending = ENDS_COMPLETE,
        .terminal = "response.completed",
        .settled = REPORTED,
    };

    start("attempt_timeout_ms = 1000\nstream_idle_ms = 3000\n");
    run_case(&c);
    stop();
}

/* A silence over stream_idle_ms is cut there, with the attempt's bound far away, and the log
 * says why. */
Test(surface_stream, a_silence_over_stream_idle_ms_is_cut)
{
    static const struct stream_case c = {
        .id = "s-idle-cut",
        .script = "[{" WORDS ",\"terminal_delay_ms\":3000}]",
        .own = "[{" WORDS "}]",
        .relayed = EVENTS - 1,
        .ending = ENDS_OUR_ERROR,
        .settled = -1,
    };

    start("attempt_timeout_ms = 10000\nstream_idle_ms = 1000\n");
    run_case(&c);
    cr_assert_eq(h_log_wait(&d,
                            (const char *[]){ "\"event\":\"upstream_attempt\"",
                                              "\"request_id\":\"s-idle-cut\"",
                                              "\"error\":\"stream idle timeout\"", NULL },
                            1, 3000),
                 1, "the log does not say the stream went idle");
    stop();
}

/* ---- a client that leaves ---- */

/* Read from fd until text appears, the peer closes or timeout_ms passes (malloc'd). */
static char *read_until(int fd, const char *text, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    size_t n = 0;
    char *buf = calloc(1, 1);

    cr_assert_not_null(buf);
    while (!strstr(buf, text) && h_now_ms() < deadline) {
        size_t m;
        char *more = h_read_all(fd, 50, &m);

        buf = realloc(buf, n + m + 1);
        cr_assert_not_null(buf);
        memcpy(buf + n, more, m);
        n += m;
        buf[n] = '\0';
        free(more);
    }
    return buf;
}

static json_t *wait_client_closed(void)
{
    for (int i = 0; i < 150; i++) {
        json_t *up = h_fake_last(&fake);

        if (json_is_true(json_object_get(up, "client_closed")))
            return up;
        json_decref(up);
        h_sleep_ms(20);
    }
    return NULL;
}

Test(surface_stream, a_client_that_leaves_mid_stream_is_charged_in_full_and_drops_the_upstream)
{
    char req[1024];
    char *got;
    long long before;
    json_t *up;
    int fd, n;

    start(NULL);
    before = h_tenant_used(d.port, "sk-admin-secret", "acme");
    /* Five events, then the upstream holds the rest for as long as the gateway listens. */
    h_fake_script(&fake, "[{" WORDS ",\"pause_after_chunks\":5}]");
    n = snprintf(req, sizeof(req),
                 "POST /v1/responses HTTP/1.1\r\nHost: t\r\nAuthorization: " ACME "\r\n"
                 "X-Request-ID: s-client-left\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 sizeof(BODY) - 1, BODY);
    fd = h_connect(d.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    got = read_until(fd, "event: response.output_text.delta\n", 5000);
    cr_assert_not_null(strstr(got, " 200 OK\r\n"), "%s", got);
    cr_assert_not_null(strstr(got, "event: response.output_text.delta\n"), "%s", got);
    cr_assert_eq(occurrences(got, "event: error"), 0, "%s", got);
    free(got);
    close(fd);

    up = wait_client_closed();
    cr_assert_not_null(up, "the upstream transfer outlived its client");
    json_decref(up);
    cr_assert_eq(
        h_log_wait(&d,
                   (const char *[]){ "\"event\":\"request\"", "\"request_id\":\"s-client-left\"",
                                     "\"cut\":\"client\"", NULL },
                   1, 5000),
        1, "the request line does not say the client cut the stream");
    cr_assert_eq(h_tenant_used(d.port, "sk-admin-secret", "acme") - before, RESERVATION,
                 "not charged in full");
    cr_assert_eq(h_metric(d.port, "sluice_reservations_held"), 0, "a reservation leaked");
    cr_assert_eq(h_fake_count(&fake), 1);
    stop();
}

/* ---- ownership from a stream ---- */

/* The id response.created names in a stream (copied into id). */
static void created_id(const char *stream, char id[128])
{
    json_t *ev = event_data(stream, "response.created");
    const char *s;

    cr_assert_not_null(ev, "no response.created: %s", stream);
    s = json_string_value(json_object_get(json_object_get(ev, "response"), "id"));
    cr_assert_not_null(s, "%s", stream);
    cr_assert_eq(strncmp(s, "resp_", 5), 0, "%s", s);
    snprintf(id, 128, "%s", s);
    json_decref(ev);
}

/* Another tenant: the gateway's own 404 not_found, and nothing upstream. */
static void assert_hidden_from_beta(const char *id)
{
    char path[256];
    size_t calls = h_fake_count(&fake);
    struct h_resp r;
    json_t *j;

    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    cr_assert_eq(call("GET", path, BETA, &r), 404, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "not_found", "%s", r.body);
    json_decref(j);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), calls, "another tenant's request reached the upstream");
}

Test(surface_stream, the_id_a_stream_creates_is_its_tenants)
{
    char id[128], path[256];
    struct h_resp r;

    start(NULL);
    h_fake_script(&fake, "[{" WORDS "}]");
    cr_assert_eq(post_stream("s-owner", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    created_id(r.body, id);
    h_resp_free(&r);
    assert_hidden_from_beta(id);
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    cr_assert_eq(call("GET", path, ACME, &r), 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, id), "%s", r.body);
    h_resp_free(&r);
    stop();
}

/* The record is made from the first event: a stream cut right after response.created still
 * leaves the id its creator's.  What the upstream answers for it is the upstream's business;
 * that the gateway asks it (and does not answer its own 404) is the point. */
Test(surface_stream, a_stream_cut_after_response_created_still_records_the_owner)
{
    char id[128], path[256];
    struct h_resp r;
    json_t *up;
    size_t calls;
    int rc;

    start(NULL);
    h_fake_script(&fake, "[{" WORDS ",\"fail_after_chunks\":1}]");
    rc = post_stream("s-owner-cut", &r);
    cr_assert_neq(rc, 0, "a cut stream ended as a complete one would");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(events_count(r.body), 2, "%s", r.body);
    created_id(r.body, id);
    h_resp_free(&r);
    assert_logged("s-owner-cut", "upstream");
    assert_hidden_from_beta(id);

    calls = h_fake_count(&fake);
    snprintf(path, sizeof(path), "/v1/responses/%s", id);
    call("GET", path, ACME, &r);
    cr_assert(r.status == 200 || r.status == 404, "%ld %s", r.status, r.body);
    cr_assert_null(strstr(r.body, "\"not_found\""), "the gateway's own 404: %s", r.body);
    h_resp_free(&r);
    cr_assert_eq(h_fake_count(&fake), calls + 1,
                 "the creator's request did not reach the upstream");
    up = h_fake_last(&fake);
    cr_assert_str_eq(json_string_value(json_object_get(up, "method")), "GET");
    cr_assert_str_eq(json_string_value(json_object_get(up, "path")), path);
    json_decref(up);
    cr_assert_eq(h_metric(d.port, "sluice_reservations_held"), 0, "a reservation leaked");
    stop();
}
