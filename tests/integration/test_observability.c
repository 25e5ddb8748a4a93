/* SPDX-License-Identifier: MIT */
/* test_observability.c - /metrics (a strict reading of the exposition format, sums across
 * workers, counters surviving a worker's death, the separate listener) and the JSON log
 * lines (valid whatever the client sent, no prompt by default, no key ever). */
#define _GNU_SOURCE
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"

#define TEST_KEY "sk-test-OBSERVE-91d2c7a0"

TestSuite(observability, .timeout = 60);

static struct h_fake fake;
static struct h_daemon d;

static void start(int workers, const char *extra_server, const char *extra_sections)
{
    static const char *env[] = { "OPENAI_API_KEY=" TEST_KEY, NULL };
    char conf[4096];

    h_fake_start(&fake);
    h_daemon_init(&d);
    snprintf(conf, sizeof(conf), "%s%s%s", extra_server ? extra_server : "",
             h_fake_upstream_conf(&fake, NULL), extra_sections ? extra_sections : "");
    h_daemon_write_conf(&d, workers, conf);
    h_daemon_start(&d, env);
}

static void stop(void)
{
    cr_assert_eq(h_daemon_stop(&d, 15000), 0);
    h_fake_stop(&fake);
}

/* ---- a strict reader of the Prometheus text format (0.0.4) ---- */

struct sample {
    char name[128];
    char labels[512];
    double value;
};

static bool typed(char types[][128], int ntypes, const char *name, char *type_out)
{
    static const char *const suffixes[] = { "_bucket", "_sum", "_count", "" };
    char base[128];
    int i, j;

    for (j = 0; j < 4; j++) {
        size_t n = strlen(name), sl = strlen(suffixes[j]);

        if (n < sl || strcmp(name + n - sl, suffixes[j]) != 0)
            continue;
        snprintf(base, sizeof(base), "%.*s", (int)(n - sl), name);
        for (i = 0; i < ntypes; i++) {
            char *sp = strchr(types[i], ' ');

            if (sp && (size_t)(sp - types[i]) == strlen(base) &&
                strncmp(types[i], base, strlen(base)) == 0) {
                if (sl && strcmp(sp + 1, "histogram") != 0)
                    continue;
                strcpy(type_out, sp + 1);
                return true;
            }
        }
    }
    return false;
}

/* Parse the exposition strictly; returns the samples (count in *n). */
static struct sample *parse_exposition(const char *text, int *n)
{
    static char types[256][128];
    regex_t re_help, re_type, re_sample;
    struct sample *out = calloc(4096, sizeof(*out));
    char *copy = strdup(text), *line, *save = NULL, type[32];
    int ntypes = 0;

    cr_assert_eq(regcomp(&re_help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$", REG_EXTENDED), 0);
    cr_assert_eq(regcomp(&re_type,
                         "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
                         "(counter|gauge|histogram|summary|untyped)$",
                         REG_EXTENDED),
                 0);
    cr_assert_eq(regcomp(&re_sample,
                         "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                         "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
                         "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*)?\\})?"
                         " ([-+]?[0-9.]+([eE][-+]?[0-9]+)?|\\+Inf|NaN)$",
                         REG_EXTENDED),
                 0);
    cr_assert(text[strlen(text) - 1] == '\n', "the exposition must end with a newline");
    *n = 0;
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[4];

        if (strncmp(line, "# HELP ", 7) == 0) {
            cr_assert_eq(regexec(&re_help, line, 0, NULL, 0), 0, "bad HELP: %s", line);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            cr_assert_eq(regexec(&re_type, line, 3, m, 0), 0, "bad TYPE: %s", line);
            for (int i = 0; i < ntypes; i++)
                cr_assert(strncmp(types[i], line + 7, (size_t)(m[1].rm_eo - 7)) != 0 ||
                              types[i][m[1].rm_eo - 7] != ' ',
                          "TYPE given twice: %s", line);
            snprintf(types[ntypes++], 128, "%s", line + 7);
        } else {
            cr_assert_eq(regexec(&re_sample, line, 4, m, 0), 0, "bad sample line: '%s'", line);
            struct sample *s = &out[(*n)++];

            snprintf(s->name, sizeof(s->name), "%.*s", (int)m[1].rm_eo, line);
            if (m[3].rm_so >= 0)
                snprintf(s->labels, sizeof(s->labels), "%.*s", (int)(m[3].rm_eo - m[3].rm_so),
                         line + m[3].rm_so);
            s->value = strtod(strrchr(line, ' ') + 1, NULL);
            cr_assert(typed(types, ntypes, s->name, type), "sample before its TYPE: %s", line);
        }
    }
    regfree(&re_help);
    regfree(&re_type);
    regfree(&re_sample);
    free(copy);
    return out;
}

static double sum_of(const struct sample *s, int n, const char *name, const char *label_part)
{
    double v = 0;
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0 && (!label_part || strstr(s[i].labels, label_part)))
            v += s[i].value;
    return v;
}

/* Every histogram's buckets rise and end at its _count. */
static long post_chat(const char *const *hdrs, const char *body)
{
    struct h_resp r;
    long st;

    cr_assert_eq(h_http(d.port, "POST", "/api/chat", hdrs, body, strlen(body), &r), 0);
    st = r.status;
    h_resp_free(&r);
    return st;
}

static void check_histograms(const struct sample *s, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (!strstr(s[i].name, "_bucket"))
            continue;
        if (i + 1 < n && strcmp(s[i + 1].name, s[i].name) == 0)
            cr_assert_leq(s[i].value, s[i + 1].value, "buckets must be cumulative: %s {%s}",
                          s[i].name, s[i].labels);
        if (strstr(s[i].labels, "le=\"+Inf\"")) {
            char count[140];

            snprintf(count, sizeof(count), "%.*s_count", (int)(strlen(s[i].name) - 7), s[i].name);
            cr_assert(i + 2 < n && strcmp(s[i + 2].name, count) == 0, "no _count after +Inf");
            cr_assert_eq(s[i].value, s[i + 2].value, "+Inf bucket != _count for %s", count);
        }
    }
}

static struct sample *scrape(int port, int *n, char **raw)
{
    struct h_resp r;
    struct sample *s;

    cr_assert_eq(h_http(port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(h_header(&r, "Content-Type"), "text/plain; version=0.0.4"));
    s = parse_exposition(r.body, n);
    check_histograms(s, *n);
    if (raw)
        *raw = strdup(r.body);
    h_resp_free(&r);
    return s;
}

static long long usage_sum;

static void chat_n(int n)
{
    static const char *hdrs[] = { "Content-Type: application/json", NULL };
    struct h_resp r;
    int i;

    for (i = 0; i < n; i++) {
        cr_assert_eq(h_http(d.port, "POST", "/api/chat", hdrs, "{\"user_message\":\"count me\"}",
                            strlen("{\"user_message\":\"count me\"}"), &r),
                     0);
        cr_assert_eq(r.status, 200);
        json_t *j = json_loads(r.body, 0, NULL);
        usage_sum +=
            json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens"));
        json_decref(j);
        h_resp_free(&r);
    }
}

Test(observability, metrics_sum_over_workers_and_match_the_upstream)
{
    struct sample *s;
    int n;

    start(2, NULL, NULL);
    usage_sum = 0;
    chat_n(20);
    s = scrape(d.port, &n, NULL);
    cr_assert_eq(sum_of(s, n, "sluice_requests_total", "route=\"/api/chat\""), 20);
    cr_assert_eq(sum_of(s, n, "sluice_requests_total", "route=\"/api/chat\",code=\"200\""), 20);
    cr_assert_eq(sum_of(s, n, "sluice_request_duration_seconds_count", "route=\"/api/chat\""), 20);
    cr_assert_eq(sum_of(s, n, "sluice_upstream_attempts_total", "outcome=\"ok\""), 20);
    cr_assert_eq((long long)sum_of(s, n, "sluice_tokens_total", NULL), usage_sum,
                 "tokens counted differ from what the upstream reported");
    cr_assert_eq(h_fake_stat(&fake, "requests"), 20);
    /* Per tenant (here everyone is "anonymous"): the same figures, for token spend by tenant. */
    cr_assert_eq(sum_of(s, n, "sluice_tenant_requests_total", "tenant=\"anonymous\",code=\"200\""),
                 20);
    cr_assert_eq((long long)sum_of(s, n, "sluice_tenant_tokens_total", "tenant=\"anonymous\""),
                 usage_sum);
    free(s);
    /* A gauge: the second worker may still be starting when the first answers. */
    for (int i = 0; i < 200; i++) {
        s = scrape(d.port, &n, NULL);
        double workers = sum_of(s, n, "sluice_workers", NULL);

        free(s);
        if (workers == 2)
            break;
        cr_assert_lt(i, 199, "sluice_workers is %g, want 2", workers);
        h_sleep_ms(10);
    }
    stop();
}

Test(observability, a_dead_workers_counts_are_kept)
{
    struct sample *s;
    double before, after;
    pid_t w[4];
    int n, i;

    start(1, NULL, NULL);
    chat_n(7);
    s = scrape(d.port, &n, NULL);
    before = sum_of(s, n, "sluice_requests_total", "route=\"/api/chat\"");
    free(s);
    cr_assert_eq(before, 7);
    cr_assert_eq(h_children(d.pid, w, 4), 1);
    kill(w[0], SIGKILL);
    for (i = 0; i < 200; i++) {
        pid_t now[4];

        if (h_children(d.pid, now, 4) == 1 && now[0] != w[0] && h_port_accepts(d.port))
            break;
        h_sleep_ms(10);
    }
    h_sleep_ms(100);
    s = scrape(d.port, &n, NULL);
    after = sum_of(s, n, "sluice_requests_total", "route=\"/api/chat\"");
    cr_assert_eq(after, 7, "requests_total went from %g to %g", before, after);
    cr_assert_eq(sum_of(s, n, "sluice_workers_restarted_total", NULL), 1);
    free(s);
    stop();
}

Test(observability, metrics_can_have_their_own_listener)
{
    struct h_resp r;
    struct sample *s;
    char server[128];
    int mport = h_free_port(), n;

    snprintf(server, sizeof(server), "[metrics]\nlisten = 127.0.0.1:%d\n", mport);
    start(1, NULL, server);
    s = scrape(mport, &n, NULL);
    free(s);
    cr_assert_eq(h_http(d.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 404, "with [metrics] listen, the main listener has no /metrics");
    h_resp_free(&r);
    cr_assert_eq(h_http(mport, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    cr_assert_eq(r.status, 404, "the metrics listener serves only /metrics");
    h_resp_free(&r);
    stop();
}

/* Every line of the log is a JSON object; returns how many. */
static int check_log_lines(const char *path)
{
    char *log = h_read_file(path, NULL), *line, *save = NULL;
    int n = 0;

    for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);

        cr_assert_not_null(j, "log line is not JSON (%s): %s", e.text, line);
        cr_assert(json_is_string(json_object_get(j, "ts")), "%s", line);
        cr_assert(json_is_string(json_object_get(j, "level")), "%s", line);
        cr_assert(json_is_string(json_object_get(j, "event")), "%s", line);
        json_decref(j);
        n++;
    }
    free(log);
    return n;
}

Test(observability, log_lines_are_json_whatever_the_client_sends)
{
    static const char nasty[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n"
                                "User-Agent: \"quoted\" \\back\\slash \x01\x02\x7f\xff\xfe end\r\n"
                                "X-Request-ID: id-with-\"quotes\"-and-\\\r\n\r\n";
    char *reply;
    int fd;

    start(1, NULL, NULL);
    fd = h_connect(d.port);
    cr_assert(write(fd, nasty, sizeof(nasty) - 1) == (ssize_t)(sizeof(nasty) - 1));
    reply = h_read_all(fd, 1000, NULL);
    close(fd);
    cr_assert_not_null(strstr(reply, "200 OK"), "%s", reply);
    free(reply);
    chat_n(1);
    stop();
    cr_assert_gt(check_log_lines(d.log), 3);
    cr_assert_eq(h_log_count(&d, (const char *[]){ "id-with-\\\"quotes\\\"-and-\\\\", NULL }), 1,
                 "the request id is logged, escaped");
}

Test(observability, prompts_are_logged_only_when_asked_and_allowed)
{
    static const char *plain[] = { "Content-Type: application/json", NULL };
    static const char *nostore[] = { "X-Sluice-No-Store: 1", NULL };

    /* Default: never. */
    start(1, NULL, NULL);
    cr_assert_eq(post_chat(plain, "{\"user_message\":\"SECRET-PROMPT-A\"}"), 200);
    stop();
    cr_assert_not(h_file_contains(d.log, "SECRET-PROMPT-A"));
    cr_assert_not(h_file_contains(d.log, TEST_KEY), "the upstream key is in the log");

    /* log_prompts = true: yes, unless the client opts out either way. */
    start(1, NULL, "[log]\nlog_prompts = true\n");
    cr_assert_eq(post_chat(plain, "{\"user_message\":\"LOGGED-PROMPT-B\"}"), 200);
    cr_assert_eq(post_chat(nostore, "{\"user_message\":\"HIDDEN-PROMPT-C\"}"), 200);
    cr_assert_eq(post_chat(plain, "{\"user_message\":\"HIDDEN-PROMPT-D\",\"store\":false}"), 200);
    stop();
    cr_assert(h_file_contains(d.log, "LOGGED-PROMPT-B"));
    cr_assert(h_file_contains(d.log, "You said: LOGGED-PROMPT-B"), "the answer is logged too");
    cr_assert_not(h_file_contains(d.log, "HIDDEN-PROMPT-C"));
    cr_assert_not(h_file_contains(d.log, "HIDDEN-PROMPT-D"));
    cr_assert_not(h_file_contains(d.log, TEST_KEY));
    check_log_lines(d.log);
}
