/* SPDX-License-Identifier: MIT */
/* test_config.c - sluice.conf parsing, defaults, env overrides and error reports. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789ABCDEF"
#define NAME32 "abcdefghijklmnopqrstuvwxyz-._:/@"
#define NAME127 NAME32 NAME32 NAME32 "abcdefghijklmnopqrstuvwxyz-._:/"
#define NAME128 NAME32 NAME32 NAME32 NAME32

static char dir[64];
static char conf_path[128];
static char *no_env[] = { NULL };

static void setup(void)
{
    strcpy(dir, "/tmp/sl_test_config_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(conf_path, sizeof(conf_path), "%s/sluice.conf", dir);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];

    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            (void)unlink(p);
        }
    }
    if (d)
        closedir(d);
    (void)rmdir(dir);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 10);

/* asprintf() without _GNU_SOURCE; aborts the test on failure. */
static char *__attribute__((format(printf, 1, 2))) xprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(n, 0);
    p = malloc((size_t)n + 1);
    cr_assert_not_null(p);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static void write_bytes(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Writes text to conf_path and loads it. */
static int load_text(const char *text, char *const envp[], struct sl_config **c, char **errs)
{
    write_bytes(conf_path, text, strlen(text));
    *c = NULL;
    return sl_config_load(conf_path, envp, c, errs);
}

static struct sl_config *load_ok(const char *text, char *const envp[])
{
    struct sl_config *c = NULL;
    char *errs = NULL;
    int r = load_text(text, envp, &c, &errs);

    cr_assert_eq(r, 0, "load failed (%d):\n%s", r, errs ? errs : "(no text)");
    cr_assert_null(errs);
    cr_assert_not_null(c);
    return c;
}

/* Loads text expecting failure; returns the error text (caller frees). */
static char *load_bad(const char *text, char *const envp[])
{
    struct sl_config *c = NULL;
    char *errs = NULL;
    int r = load_text(text, envp, &c, &errs);

    cr_assert_eq(r, -EINVAL, "expected -EINVAL, got %d; errors:\n%s", r, errs ? errs : "");
    cr_assert_null(c);
    cr_assert_not_null(errs);
    return errs;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Asserts errs has a line starting with "PATH:LINE: " + where and containing reason. */
static void assert_err_at(const char *errs, int line, const char *where, const char *reason)
{
    char prefix[512];
    const char *p = errs;

    snprintf(prefix, sizeof(prefix), "%s:%d: %s", conf_path, line, where);
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char one[1024];
        snprintf(one, sizeof(one), "%.*s", (int)n, p);
        if (strncmp(one, prefix, strlen(prefix)) == 0 && strstr(one, reason))
            return;
        p = eol ? eol + 1 : NULL;
    }
    cr_assert_fail("no error '%s' ... '%s' in:\n%s", prefix, reason, errs);
}

static bool has_line_prefix(const char *errs, const char *prefix)
{
    const char *p = errs;

    while (p && *p) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return true;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return false;
}

/* ---- defaults ---- */

static void assert_spec_defaults(const struct sl_config *c)
{
    static const int retry[] = { 408, 409, 429, 500, 502, 503, 504 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int st, n = 0;

    cr_assert_eq(c->nlisten, 1);
    cr_assert_eq(c->listen[0].kind, SL_LISTEN_TCP);
    cr_assert_str_eq(c->listen[0].host, "127.0.0.1");
    cr_assert_eq(c->listen[0].port, 8080);
    cr_assert(c->workers_auto);
    cr_assert_eq(c->workers, (unsigned)(cpus < 1 ? 1 : cpus > 512 ? 512 : cpus));
    cr_assert_eq(c->max_body_bytes, 65536);
    cr_assert_eq(c->max_header_bytes, 16384);
    cr_assert_eq(c->client_timeout_ms, 30000);
    cr_assert_eq(c->stream_ping_ms, 15000);
    cr_assert_eq(c->shutdown_timeout_ms, 30000);
    cr_assert_eq(c->max_inflight, 4096);
    cr_assert_str_eq(c->base_url, "https://api.openai.com/v1");
    cr_assert_str_eq(c->api_key_env, "OPENAI_API_KEY");
    cr_assert_null(c->api_key_file);
    cr_assert_str_eq(c->model, "gpt-4o-mini");
    cr_assert_str_eq(c->system_prompt, "You are a concise and friendly assistant.");
    cr_assert_eq(c->max_tokens, 400);
    cr_assert_float_eq(c->temperature, 0.3, 1e-9);
    cr_assert_eq(c->nallowed_models, 1);
    cr_assert_str_eq(c->allowed_models[0], "gpt-4o-mini");
    cr_assert_eq(c->request_timeout_ms, 20000);
    cr_assert_eq(c->attempt_timeout_ms, 18000);
    cr_assert_eq(c->max_attempts, 3);
    cr_assert_eq(c->backoff_base_ms, 300);
    cr_assert_eq(c->backoff_max_ms, 8000);
    for (st = 0; st < 600; st++)
        n += c->retry_status[st];
    cr_assert_eq(n, 7);
    for (st = 0; st < 7; st++)
        cr_assert(c->retry_status[retry[st]], "%d", retry[st]);
    cr_assert_eq(c->max_response_bytes, 10485760);
    cr_assert_eq(c->stream_idle_ms, 120000);
    cr_assert_eq(c->nmodels, 1);
    cr_assert_str_eq(c->models[0].name, "gpt-4o-mini");
    cr_assert_eq(c->models[0].max_output_tokens, 400);
    cr_assert_not(c->models[0].from_section);
    cr_assert_not(c->allow_background);
    cr_assert_eq(c->response_ttl_s, 2592000);
    cr_assert_eq(c->max_responses, 65536);
    cr_assert_eq(c->auth_mode, SL_AUTH_KEYS);
    cr_assert_eq(c->limits.rpm, 60);
    cr_assert_eq(c->limits.tpm, 40000);
    cr_assert_eq(c->limits.token_budget, 200000);
    cr_assert_eq(c->limits.budget_period, SL_PERIOD_DAY);
    cr_assert_eq(c->message_overhead_tokens, 4);
    cr_assert_eq(c->image_tokens, 1000);
    cr_assert_eq(c->ntenants, 0);
    cr_assert_eq(c->failure_threshold, 5);
    cr_assert_eq(c->open_ms, 30000);
    cr_assert_eq(c->half_open_probes, 1);
    cr_assert_null(c->redis_url);
    cr_assert_str_eq(c->redis_prefix, "sluice:");
    cr_assert_eq(c->redis_timeout_ms, 100);
    cr_assert_eq(c->fail_mode, SL_FAIL_MODE_LOCAL);
    cr_assert_not(c->has_admin_key);
    cr_assert_eq(c->log_level, SL_LOG_INFO);
    cr_assert_not(c->log_prompts);
    cr_assert_not(c->has_metrics_listen);
    cr_assert_null(c->state_file);
    cr_assert_eq(c->max_tenants, 4096);
    cr_assert_eq(c->max_keys, 16384);
    cr_assert_eq(c->max_reservations, 65536);
}

Test(config, defaults_match_spec)
{
    struct sl_config *c = sl_config_new();

    cr_assert_not_null(c);
    assert_spec_defaults(c);
    cr_assert_null(c->path);
    sl_config_free(c);
}

Test(config, empty_file_gives_defaults)
{
    struct sl_config *c = load_ok("", no_env);

    assert_spec_defaults(c);
    cr_assert_str_eq(c->path, conf_path);
    sl_config_free(c);
}

Test(config, no_path_gives_defaults)
{
    struct sl_config *c = NULL;
    char *errs = NULL;

    cr_assert_eq(sl_config_load(NULL, NULL, &c, &errs), 0);
    assert_spec_defaults(c);
    sl_config_free(c);
}

/* ---- every key, from the file and from the environment ---- */

struct kv {
    const char *section, *key, *value;
};

/* One non-default value for every key, in etc/sluice.conf order. */
static const struct kv all_keys[] = {
    { "server", "listen", "0.0.0.0:9000, [::1]:9001,unix:/run/sluice.sock" },
    { "server", "workers", "7" },
    { "server", "max_body_bytes", "131072" },
    { "server", "max_header_bytes", "8192" },
    { "server", "client_timeout_ms", "15000" },
    { "server", "stream_ping_ms", "5000" },
    { "server", "shutdown_timeout_ms", "45000" },
    { "server", "max_inflight", "100" },
    { "upstream", "base_url", "http://127.0.0.1:18080/v1/" },
    { "upstream", "api_key_env", "MY_OPENAI_KEY" },
    { "upstream", "api_key_file", "/etc/sluice/openai.key" },
    { "upstream", "model", "gpt-4o" },
    { "upstream", "system_prompt", "Answer in French; be brief. Ünïcode ok" },
    { "upstream", "max_tokens", "1000" },
    { "upstream", "temperature", "1.25" },
    { "upstream", "allowed_models", "gpt-4o, gpt-4o-mini,o3-mini" },
    { "upstream", "request_timeout_ms", "60000" },
    { "upstream", "attempt_timeout_ms", "25000" },
    { "upstream", "stream_idle_ms", "90000" },
    { "upstream", "max_attempts", "5" },
    { "upstream", "backoff_base_ms", "100" },
    { "upstream", "backoff_max_ms", "2000" },
    { "upstream", "retry_statuses", "429, 503" },
    { "upstream", "max_response_bytes", "2048" },
    { "v1", "allow_background", "true" },
    { "v1", "response_ttl_s", "86400" },
    { "v1", "max_responses", "2048" },
    { "auth", "mode", "none" },
    { "limits", "rpm", "0" },
    { "limits", "tpm", "123456789012" },
    { "limits", "token_budget", "1000000000000000" },
    { "limits", "budget_period", "month" },
    { "limits", "message_overhead_tokens", "7" },
    { "limits", "image_tokens", "2500" },
    { "breaker", "failure_threshold", "9" },
    { "breaker", "open_ms", "1000" },
    { "breaker", "half_open_probes", "3" },
    { "redis", "url", "redis://:s3cret@redis.internal:6380/2" },
    { "redis", "prefix", "gw:" },
    { "redis", "timeout_ms", "250" },
    { "redis", "fail_mode", "closed" },
    { "admin", "key_sha256", HEX_C },
    { "log", "level", "debug" },
    { "log", "log_prompts", "yes" },
    { "metrics", "listen", "127.0.0.1:9100" },
    { "state", "file", "/var/lib/sluice/state" },
    { "state", "max_tenants", "100" },
    { "state", "max_keys", "1000" },
    { "state", "max_reservations", "5000" },
};
#define NALL (sizeof(all_keys) / sizeof(all_keys[0]))

static char *all_keys_file(void)
{
    static char text[8192];
    const char *sec = "";
    size_t i, n = 0;

    for (i = 0; i < NALL; i++) {
        if (strcmp(sec, all_keys[i].section) != 0) {
            sec = all_keys[i].section;
            n += (size_t)snprintf(text + n, sizeof(text) - n, "\n[%s]\n", sec);
        }
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n", all_keys[i].key,
                              all_keys[i].value);
    }
    cr_assert_lt(n, sizeof(text));
    return text;
}

static char *env_entry(const char *section, const char *key, const char *value)
{
    char *e = xprintf("SLUICE_%s_%s=%s", section, key, value), *p;

    for (p = e; *p != '='; p++)
        *p = (char)toupper((unsigned char)*p);
    return e;
}

static void assert_all_keys(const struct sl_config *c)
{
    static const unsigned char hexc[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
    int st, n = 0;

    cr_assert_eq(c->nlisten, 3);
    cr_assert_str_eq(c->listen[0].host, "0.0.0.0");
    cr_assert_eq(c->listen[0].port, 9000);
    cr_assert_eq(c->listen[1].kind, SL_LISTEN_TCP);
    cr_assert_str_eq(c->listen[1].host, "::1");
    cr_assert_eq(c->listen[1].port, 9001);
    cr_assert_eq(c->listen[2].kind, SL_LISTEN_UNIX);
    cr_assert_str_eq(c->listen[2].path, "/run/sluice.sock");
    cr_assert_eq(c->workers, 7);
    cr_assert_not(c->workers_auto);
    cr_assert_eq(c->max_body_bytes, 131072);
    cr_assert_eq(c->max_header_bytes, 8192);
    cr_assert_eq(c->client_timeout_ms, 15000);
    cr_assert_eq(c->stream_ping_ms, 5000);
    cr_assert_eq(c->shutdown_timeout_ms, 45000);
    cr_assert_eq(c->max_inflight, 100);
    cr_assert_str_eq(c->base_url, "http://127.0.0.1:18080/v1");
    cr_assert_str_eq(c->api_key_env, "MY_OPENAI_KEY");
    cr_assert_str_eq(c->api_key_file, "/etc/sluice/openai.key");
    cr_assert_str_eq(c->model, "gpt-4o");
    cr_assert_str_eq(c->system_prompt, "Answer in French; be brief. Ünïcode ok");
    cr_assert_eq(c->max_tokens, 1000);
    cr_assert_float_eq(c->temperature, 1.25, 1e-9);
    cr_assert_eq(c->nallowed_models, 3);
    cr_assert_str_eq(c->allowed_models[0], "gpt-4o");
    cr_assert_str_eq(c->allowed_models[1], "gpt-4o-mini");
    cr_assert_str_eq(c->allowed_models[2], "o3-mini");
    cr_assert_eq(c->request_timeout_ms, 60000);
    cr_assert_eq(c->attempt_timeout_ms, 25000);
    cr_assert_eq(c->max_attempts, 5);
    cr_assert_eq(c->backoff_base_ms, 100);
    cr_assert_eq(c->backoff_max_ms, 2000);
    for (st = 0; st < 600; st++)
        n += c->retry_status[st];
    cr_assert_eq(n, 2);
    cr_assert(c->retry_status[429] && c->retry_status[503]);
    cr_assert_eq(c->max_response_bytes, 2048);
    cr_assert_eq(c->stream_idle_ms, 90000);
    cr_assert(c->allow_background);
    cr_assert_eq(c->response_ttl_s, 86400);
    cr_assert_eq(c->max_responses, 2048);
    cr_assert_eq(c->nmodels, 3);
    cr_assert_str_eq(c->models[2].name, "o3-mini");
    cr_assert_eq(c->models[2].max_output_tokens, 1000);
    cr_assert_eq(c->auth_mode, SL_AUTH_NONE);
    cr_assert_eq(c->limits.rpm, 0);
    cr_assert_eq(c->limits.tpm, 123456789012LL);
    cr_assert_eq(c->limits.token_budget, 1000000000000000LL);
    cr_assert_eq(c->limits.budget_period, SL_PERIOD_MONTH);
    cr_assert_eq(c->message_overhead_tokens, 7);
    cr_assert_eq(c->image_tokens, 2500);
    cr_assert_eq(c->failure_threshold, 9);
    cr_assert_eq(c->open_ms, 1000);
    cr_assert_eq(c->half_open_probes, 3);
    cr_assert_str_eq(c->redis_url, "redis://:s3cret@redis.internal:6380/2");
    cr_assert_str_eq(c->redis_prefix, "gw:");
    cr_assert_eq(c->redis_timeout_ms, 250);
    cr_assert_eq(c->fail_mode, SL_FAIL_MODE_CLOSED);
    cr_assert(c->has_admin_key);
    cr_assert_eq(memcmp(c->admin_key_sha256, hexc, 16), 0);
    cr_assert_eq(memcmp(c->admin_key_sha256 + 16, hexc, 16), 0);
    cr_assert_eq(c->log_level, SL_LOG_DEBUG);
    cr_assert(c->log_prompts);
    cr_assert(c->has_metrics_listen);
    cr_assert_str_eq(c->metrics_listen.host, "127.0.0.1");
    cr_assert_eq(c->metrics_listen.port, 9100);
    cr_assert_str_eq(c->state_file, "/var/lib/sluice/state");
    cr_assert_eq(c->max_tenants, 100);
    cr_assert_eq(c->max_keys, 1000);
    cr_assert_eq(c->max_reservations, 5000);
}

Test(config, every_key_from_file)
{
    struct sl_config *c = load_ok(all_keys_file(), no_env);

    assert_all_keys(c);
    sl_config_free(c);
}

Test(config, every_key_from_env)
{
    char *envp[NALL + 1];
    struct sl_config *c;
    size_t i;

    for (i = 0; i < NALL; i++)
        envp[i] = env_entry(all_keys[i].section, all_keys[i].key, all_keys[i].value);
    envp[NALL] = NULL;
    c = load_ok("", envp);
    assert_all_keys(c);
    sl_config_free(c);
    for (i = 0; i < NALL; i++)
        free(envp[i]);
}

/* ---- the shipped etc/sluice.conf ---- */

/* make check passes SL_TEST_SRCDIR; by hand, run from the top of the tree or set srcdir. */
static const char *shipped_conf(void)
{
    static char p[1024];
    const char *srcdir = getenv("srcdir");
    const char *const roots[] = {
#ifdef SL_TEST_SRCDIR
        SL_TEST_SRCDIR,
#endif
        srcdir ? srcdir : ".",
        "..",
    };
    size_t i;

    for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        snprintf(p, sizeof(p), "%s/etc/sluice.conf", roots[i]);
        if (access(p, R_OK) == 0)
            return p;
    }
    cr_assert_fail("etc/sluice.conf not found (set srcdir)");
    return NULL;
}

Test(config, shipped_conf_loads_clean_with_defaults)
{
    struct sl_config *c = NULL;
    char *errs = NULL;
    int r = sl_config_load(shipped_conf(), no_env, &c, &errs);

    cr_assert_eq(r, 0, "%s", errs ? errs : "");
    assert_spec_defaults(c);
    sl_config_free(c);
}

/* Every key appears as "key = default" in its section, in SPEC §7 order. */
Test(config, shipped_conf_documents_every_key)
{
    FILE *f = fopen(shipped_conf(), "r");
    char line[1024], sec[64] = "";
    size_t next = 0, i;

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '[')
            sscanf(line, "[%63[^]]", sec);
        for (i = next; i < NALL; i++) {
            size_t n = strlen(all_keys[i].key);
            if (strcmp(sec, all_keys[i].section) == 0 && strncmp(line, all_keys[i].key, n) == 0 &&
                strncmp(line + n, " =", 2) == 0) {
                cr_assert_eq(i, next, "[%s] %s out of order", sec, all_keys[i].key);
                next++;
                break;
            }
        }
    }
    fclose(f);
    cr_assert_eq(next, NALL, "[%s] %s is not documented", all_keys[next].section,
                 all_keys[next].key);
}

/* ---- bad values: one row per kind of problem ---- */

struct bad_case {
    char section[16];
    char key[32];
    char value[200];
    char reason[64];
};

ParameterizedTestParameters(config, bad_value)
{
    static struct bad_case cases[] = {
        { "server", "workers", "0", "out of range 1..512" },
        { "server", "workers", "513", "out of range 1..512" },
        { "server", "workers", "many", "expected auto or a number 1..512: 'many'" },
        { "server", "max_body_bytes", "1023", "1023 is out of range 1024..67108864" },
        { "server", "max_body_bytes", "64k", "not a decimal integer: '64k'" },
        { "server", "max_body_bytes", "-1", "not a decimal integer" },
        { "server", "max_body_bytes", "+1024", "not a decimal integer" },
        { "server", "max_body_bytes", "0x400", "not a decimal integer" },
        { "server", "max_body_bytes", "18446744073709551616", "too large" },
        { "server", "max_body_bytes", "99999999999999999999999", "too large" },
        { "server", "max_header_bytes", "1048577", "out of range" },
        { "server", "client_timeout_ms", "0", "out of range 1..3600000" },
        { "server", "stream_ping_ms", "99", "out of range 100..3600000" },
        { "state", "max_tenants", "0", "out of range 1..1000000" },
        { "state", "max_reservations", "63", "out of range 64..4000000" },
        { "server", "shutdown_timeout_ms", "3600001", "out of range" },
        { "server", "max_inflight", "1000001", "out of range" },
        { "server", "max_inflight", "", "missing value" },
        { "server", "listen", "", "at least one address" },
        { "server", "listen", "localhost", "missing :port" },
        { "server", "listen", "a:1,,b:2", "empty item 2" },
        { "server", "listen", "a:1,", "empty item 2" },
        { "server", "listen", "a:1, a:1", "listed twice" },
        { "server", "listen", "a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9", "too many items (max 8)" },
        { "server", "listen", "[::1:80", "expected [IPv6]:port" },
        { "upstream", "base_url", "ftp://example.com", "must start with http:// or https://" },
        { "upstream", "base_url", "https://", "has no host name" },
        { "upstream", "base_url", "https:///v1", "has no host name" },
        { "upstream", "base_url", "", "must not be empty" },
        { "upstream", "base_url", "https://a b/v1", "spaces" },
        /* Issue 9: user-info sends the request (and the key) to the host after the '@'. */
        { "upstream", "base_url", "http://localhost:1@example.com/v1", "user-info" },
        { "upstream", "base_url", "https://user:pw@api.openai.com/v1", "user-info" },
        { "upstream", "base_url", "https://@api.openai.com", "user-info" },
        /* The rule the daemon enforces at start, now reported with file:line by -t. */
        { "upstream", "base_url", "http://api.openai.com/v1", "must be https:// unless" },
        { "upstream", "base_url", "http://127.example.com/v1", "must be https:// unless" },
        { "upstream", "api_key_env", "1ABC", "not an environment variable name" },
        { "upstream", "api_key_env", "MY-KEY", "not an environment variable name" },
        { "upstream", "model", "gpt 4o", "printable ASCII" },
        { "upstream", "model", "\"gpt-4o\"", "quotes are not removed" },
        { "upstream", "model", "", "must not be empty" },
        { "upstream", "model", NAME128, "too long: 128 bytes (max 127)" },
        { "upstream", "system_prompt", "caf\xe9", "not valid UTF-8 (at byte 4)" },
        { "upstream", "system_prompt", "\xed\xa0\x80", "not valid UTF-8" },
        { "upstream", "system_prompt", "a\tb", "control characters" },
        { "upstream", "system_prompt",
          "a\x01"
          "b",
          "control characters" },
        { "upstream", "max_tokens", "0", "out of range 1..1000000" },
        { "upstream", "temperature", "2.5", "out of range 0..2" },
        { "upstream", "temperature", "2.0001", "out of range 0..2" },
        { "upstream", "temperature", "abc", "not a decimal number: 'abc'" },
        { "upstream", "temperature", "1e0", "not a decimal number" },
        { "upstream", "temperature", "-0.5", "not a decimal number" },
        { "upstream", "temperature", "nan", "not a decimal number" },
        { "upstream", "temperature", ".", "not a decimal number" },
        { "upstream", "temperature", "0,5", "not a decimal number" },
        { "upstream", "allowed_models", "gpt-4o-mini,,x", "empty item 2" },
        { "upstream", "allowed_models", "gpt-4o-mini,gpt-4o-mini", "listed twice" },
        { "upstream", "allowed_models", "gpt-4o-mini,a b", "model 2: a model name" },
        { "upstream", "allowed_models", "gpt-4o-mini," NAME128, "model 2: too long" },
        { "upstream", "stream_idle_ms", "0", "0 is out of range 1..3600000" },
        { "upstream", "stream_idle_ms", "3600001", "out of range 1..3600000" },
        { "upstream", "max_attempts", "11", "out of range 1..10" },
        { "upstream", "retry_statuses", "99", "'99' is not a status 100..599" },
        { "upstream", "retry_statuses", "600", "is not a status" },
        { "upstream", "retry_statuses", "429,429", "429 is listed twice" },
        { "upstream", "retry_statuses", "429;503", "is not a status" },
        { "upstream", "max_response_bytes", "100", "out of range" },
        { "v1", "allow_background", "sometimes", "expected true/false" },
        { "v1", "allow_background", "", "expected true/false" },
        { "v1", "response_ttl_s", "59", "59 is out of range 60..315360000" },
        { "v1", "response_ttl_s", "315360001", "out of range 60..315360000" },
        { "v1", "response_ttl_s", "30d", "not a decimal integer" },
        { "v1", "max_responses", "1023", "1023 is out of range 1024..16777216" },
        { "v1", "max_responses", "16777217", "out of range 1024..16777216" },
        { "auth", "mode", "maybe", "expected one of keys, none: 'maybe'" },
        { "limits", "rpm", "", "missing value" },
        { "limits", "tpm", "1000000000000001", "out of range 0..1000000000000000" },
        { "limits", "budget_period", "week", "expected one of minute, hour, day, month, none" },
        { "limits", "image_tokens", "1000001", "out of range" },
        { "breaker", "failure_threshold", "0", "out of range 1..1000" },
        { "breaker", "half_open_probes", "1001", "out of range" },
        { "redis", "url", "http://localhost", "must be redis://" },
        { "redis", "url", "redis://", "has no host name" },
        { "redis", "url", "redis://:pw@host:99999", "port must be 1..65535" },
        { "redis", "url", "redis://host/db1", "database must be a number" },
        { "redis", "prefix", "a b", "printable ASCII without spaces" },
        { "redis", "prefix", "", "must not be empty" },
        { "redis", "fail_mode", "open", "expected one of local, closed" },
        { "admin", "key_sha256", "abc", "expected 64 hex digits (a SHA-256), got 3 characters" },
        { "admin", "key_sha256", HEX_A "a", "got 65 characters" },
        { "admin", "key_sha256", "g" HEX_A, "got 65 characters" },
        { "admin", "key_sha256", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaag",
          "non-hex" },
        { "log", "level", "verbose", "expected one of err, error, warn" },
        { "log", "log_prompts", "maybe", "expected true/false, yes/no, on/off or 1/0" },
        { "metrics", "listen", "[::1", "expected [IPv6]:port" },
        { "metrics", "listen", "127.0.0.1:0", "port must be 1..65535" },
        { "state", "file", "\"/var/lib/x\"", "quotes are not removed" },
    };
    return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *bc, config, bad_value)
{
    char text[512], where[64];
    char *errs;

    snprintf(text, sizeof(text), "; line 1\n\n[%s]\n%s = %s\n", bc->section, bc->key, bc->value);
    errs = load_bad(text, no_env);
    snprintf(where, sizeof(where), "[%s] %s: ", bc->section, bc->key);
    assert_err_at(errs, 4, where, bc->reason);
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
}

ParameterizedTestParameters(config, bad_value_env)
{
    static struct bad_case cases[] = {
        { "server", "workers", "0", "out of range 1..512" },
        { "server", "listen", "localhost", "missing :port" },
        { "upstream", "temperature", "hot", "not a decimal number" },
        { "upstream", "model", "", "must not be empty" },
        { "upstream", "system_prompt", "line1\nline2", "control characters" },
        { "limits", "budget_period", "week", "expected one of" },
        { "v1", "allow_background", "maybe", "expected true/false" },
        { "v1", "response_ttl_s", "59", "out of range 60..315360000" },
        { "v1", "max_responses", "0", "out of range 1024..16777216" },
        { "admin", "key_sha256", "xyz", "expected 64 hex digits" },
        { "redis", "url", "redis://:hunter2@", "has no host name" },
    };
    return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* The same setters serve the environment: a bad value is reported as env NAME. */
ParameterizedTest(struct bad_case *bc, config, bad_value_env)
{
    char *envp[2] = { env_entry(bc->section, bc->key, bc->value), NULL };
    char want[128], *errs, *p;

    errs = load_bad("", envp);
    snprintf(want, sizeof(want), "env %s: ", envp[0]);
    p = strchr(want, '=');
    memcpy(p, ": ", 3);
    cr_assert(has_line_prefix(errs, want), "want '%s' in:\n%s", want, errs);
    cr_assert(strstr(errs, bc->reason), "want '%s' in:\n%s", bc->reason, errs);
    free(errs);
    free(envp[0]);
}

/* ---- secrets ---- */

/* Issue 9: a password in base_url's user-info is refused without being repeated. */
Test(config, base_url_user_info_never_echoed)
{
    char *envp[] = { "SLUICE_UPSTREAM_BASE_URL=https://bob:s3cr3tpw@api.example.com/v1", NULL };
    char *errs = load_bad("[upstream]\nbase_url = http://alice:hunter2@localhost/v1\n", envp);

    cr_assert(strstr(errs, "user-info"), "%s", errs);
    cr_assert_null(strstr(errs, "hunter2"), "%s", errs);
    cr_assert_null(strstr(errs, "s3cr3tpw"), "%s", errs);
    free(errs);
}

/* Plain http stays fine for this host's own upstreams (the fake, a local proxy), and an '@'
 * after the authority is just part of the path. */
Test(config, base_url_local_http_and_at_in_the_path_are_fine)
{
    static const char *const ok[] = {
        "http://127.0.0.1:18080/v1",         "http://localhost/v1",       "http://[::1]:8080/v1",
        "https://api.example.com/team@x/v1", "https://api.openai.com/v1",
    };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *text = xprintf("[upstream]\nbase_url = %s\n", ok[i]);
        struct sl_config *c = load_ok(text, no_env);

        sl_config_free(c);
        free(text);
    }
}

Test(config, redis_url_never_echoed)
{
    const char *text = "[redis]\nurl = redis://:hunter2@:99999/x\n";
    char *envp[] = { "SLUICE_REDIS_URL=rediss://:topsecret@host", NULL };
    char *errs = load_bad(text, envp);

    cr_assert_null(strstr(errs, "hunter2"), "%s", errs);
    cr_assert_null(strstr(errs, "topsecret"), "%s", errs);
    assert_err_at(errs, 2, "[redis] url: ", "");
    cr_assert(has_line_prefix(errs, "env SLUICE_REDIS_URL: must be redis://"), "%s", errs);
    free(errs);
}

/* ---- syntax and structure ---- */

Test(config, all_problems_reported_with_lines)
{
    const char *text = "[server]\n"              /* 1 */
                       "workers = 0\n"           /* 2 */
                       "max_body_bytes = lots\n" /* 3 */
                       "workres = 4\n"           /* 4 */
                       "workers = 2\n"           /* 5 */
                       "[upstream\n"             /* 6 */
                       "model = x\n"             /* 7: under a bad header, skipped */
                       "[bogus]\n"               /* 8 */
                       "anything = at all\n"     /* 9: skipped with its section */
                       "[log]\n"                 /* 10 */
                       "just some words\n"       /* 11 */
                       "level = loud\n"          /* 12 */
                       "= 3\n"                   /* 13 */
                       "[server] trailing\n"     /* 14 */
                       "[tenant.bad name]\n"     /* 15 */
                       "[state]\n"               /* 16 */
                       "fi/le = x\n";            /* 17 */
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 2, "[server] workers: ", "out of range");
    assert_err_at(errs, 3, "[server] max_body_bytes: ", "not a decimal integer");
    assert_err_at(errs, 4, "[server] workres: ", "unknown key");
    assert_err_at(errs, 5, "[server] workers: ", "duplicate key (first set at line 2)");
    assert_err_at(errs, 6, "", "missing ']'");
    assert_err_at(errs, 8, "[bogus]: ", "unknown section");
    assert_err_at(errs, 11, "[log] ", "expected 'key = value'");
    assert_err_at(errs, 12, "[log] level: ", "expected one of");
    assert_err_at(errs, 13, "[log] ", "invalid key name");
    assert_err_at(errs, 14, "", "unexpected text after ']'");
    assert_err_at(errs, 15, "[tenant.bad name]: ", "a tenant name is 1-63 characters");
    assert_err_at(errs, 17, "[state] ", "invalid key name");
    cr_assert_eq(count_lines(errs), 12, "%s", errs);
    free(errs);
}

Test(config, key_outside_section)
{
    char *errs = load_bad("; top\nworkers = 2\n[server]\n", no_env);

    assert_err_at(errs, 2, "workers: ", "outside of any [section]");
    free(errs);
}

Test(config, duplicate_section_merges_but_keys_stay_unique)
{
    struct sl_config *c = load_ok("[server]\nworkers = 2\n[log]\nlevel = warn\n"
                                  "[server]\nmax_inflight = 9\n",
                                  no_env);
    char *errs;

    cr_assert_eq(c->workers, 2);
    cr_assert_eq(c->max_inflight, 9);
    sl_config_free(c);
    errs = load_bad("[server]\nworkers = 2\n[log]\n[server]\nworkers = 3\n", no_env);
    assert_err_at(errs, 5, "[server] workers: ", "first set at line 2");
    free(errs);
}

Test(config, nul_byte_reported)
{
    struct sl_config *c = NULL;
    char *errs = NULL;
    static const char text[] = "[server]\nworkers = 2\0junk\nmax_inflight = 5\n";

    write_bytes(conf_path, text, sizeof(text) - 1);
    cr_assert_eq(sl_config_load(conf_path, no_env, &c, &errs), -EINVAL);
    assert_err_at(errs, 2, "[server] ", "NUL byte");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
}

Test(config, crlf_bom_comments_and_blank_lines)
{
    const char *text = "\xef\xbb\xbf; comment\r\n# another\r\n\r\n"
                       "[server]   ; inline after header\r\n"
                       "  workers = 3   ; inline\r\n\tmax_inflight: 12\r\n"
                       "[upstream]\r\nmodel = gpt-4o#not-a-comment\r\n"
                       "allowed_models = gpt-4o#not-a-comment\r\n";
    struct sl_config *c = load_ok(text, no_env);

    cr_assert_eq(c->workers, 3);
    cr_assert_eq(c->max_inflight, 12);
    cr_assert_str_eq(c->model, "gpt-4o#not-a-comment");
    sl_config_free(c);
}

/* inih would take an indented line after a key as more of that key's value. */
Test(config, indented_line_is_not_a_continuation)
{
    const char *text = "[server]\n  workers = 3\n  max_inflight = 12\n"
                       "[upstream]\nsystem_prompt = Be brief.\n    Be kind.\n";
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 6, "[upstream] ", "expected 'key = value'");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
}

Test(config, unreadable_file)
{
    struct sl_config *c = NULL;
    char *errs = NULL;
    char want[256];

    snprintf(conf_path, sizeof(conf_path), "%s/missing.conf", dir);
    cr_assert_eq(sl_config_load(conf_path, no_env, &c, &errs), -ENOENT);
    cr_assert_null(c);
    snprintf(want, sizeof(want), "%s: cannot open: ", conf_path);
    cr_assert(has_line_prefix(errs, want), "%s", errs);
    free(errs);
    cr_assert_lt(sl_config_load(dir, no_env, &c, &errs), 0);
    cr_assert_not_null(strstr(errs, "cannot read"), "%s", errs);
    free(errs);
}

Test(config, too_large_file)
{
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n + 1), *errs = NULL;
    struct sl_config *c = NULL;

    memset(big, '\n', n);
    big[n] = '\0';
    write_bytes(conf_path, big, n);
    cr_assert_eq(sl_config_load(conf_path, no_env, &c, &errs), -EINVAL);
    cr_assert_not_null(strstr(errs, "larger than"), "%s", errs);
    free(errs);
    free(big);
}

Test(config, error_count_is_capped)
{
    char text[8192];
    size_t n = 0;
    int i;
    char *errs;

    n += (size_t)snprintf(text, sizeof(text), "[server]\n");
    for (i = 0; i < 150; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "bogus%d = 1\n", i);
    errs = load_bad(text, no_env);
    cr_assert_eq(count_lines(errs), 101, "%s", errs);
    cr_assert_not_null(strstr(errs, "50 more problems not shown"), "%s", errs);
    free(errs);
}

/* ---- long lines: inih's own buffer is 200 bytes ---- */

static char *long_prompt(size_t n)
{
    char *p = malloc(n + 1);
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    p[n] = '\0';
    return p;
}

Test(config, long_values_are_not_truncated)
{
    size_t sizes[] = { 180, 181, 182, 183, 184, 185, 186, 196, 197, 198, 5000, 16384 }, i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *p = long_prompt(sizes[i]), *text = NULL;
        struct sl_config *c;

        text = xprintf("[upstream]\nsystem_prompt = %s\nmodel = m\n", p);
        c = load_ok(text, no_env);
        cr_assert_str_eq(c->system_prompt, p, "length %zu", sizes[i]);
        cr_assert_str_eq(c->model, "m");
        sl_config_free(c);
        free(text);
        free(p);
    }
}

Test(config, long_line_splits_like_a_short_one)
{
    char *p = long_prompt(3000), *text = NULL;
    struct sl_config *c;

    text = xprintf("[upstream]\n  system_prompt   =   %s;x ; a comment  \n", p);
    c = load_ok(text, no_env);
    cr_assert_eq(strlen(c->system_prompt), 3002);
    cr_assert_eq(strncmp(c->system_prompt + 3000, ";x", 3), 0);
    sl_config_free(c);
    free(text);
    free(p);
}

Test(config, long_line_errors_name_the_line)
{
    char *p = long_prompt(17000), *text = NULL, *errs;

    text = xprintf("[upstream]\nsystem_prompt = %s\nmodel = %s\n[log]\n"
                   "nosuchkey = %s\n",
                   p, p, p);
    errs = load_bad(text, no_env);
    assert_err_at(errs, 2, "[upstream] system_prompt: ", "too long: 17000 bytes (max 16384)");
    assert_err_at(errs, 3, "[upstream] model: ", "too long");
    assert_err_at(errs, 5, "[log] nosuchkey: ", "unknown key");
    cr_assert_eq(count_lines(errs), 3, "%s", errs);
    free(errs);
    free(text);
    free(p);
}

Test(config, long_comment_and_long_bad_line)
{
    char *p = long_prompt(1000), *text = NULL, *errs;

    text = xprintf("; %s\n[server]\n%s\nworkers = 2\n", p, p);
    errs = load_bad(text, no_env);
    assert_err_at(errs, 3, "[server] ", "expected 'key = value'");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
    free(text);
    free(p);
}

/* ---- environment ---- */

Test(config, env_overrides_file)
{
    char *envp[] = { "SLUICE_SERVER_WORKERS=9",
                     "SLUICE_UPSTREAM_MODEL=gpt-4o",
                     "SLUICE_LOG_LOG_PROMPTS=on",
                     "SLUICE_REDIS_URL=",
                     "PATH=/bin",
                     NULL };
    struct sl_config *c = load_ok("[server]\nworkers = 2\nmax_inflight = 5\n"
                                  "[redis]\nurl = redis://localhost\n",
                                  envp);

    cr_assert_eq(c->workers, 9);
    cr_assert_eq(c->max_inflight, 5);
    cr_assert_str_eq(c->model, "gpt-4o");
    cr_assert_eq(c->nallowed_models, 1);
    cr_assert_str_eq(c->allowed_models[0], "gpt-4o");
    cr_assert(c->log_prompts);
    cr_assert_null(c->redis_url);
    sl_config_free(c);
}

Test(config, env_first_entry_wins_like_getenv)
{
    char *envp[] = { "SLUICE_SERVER_WORKERS=4", "SLUICE_SERVER_WORKERS=bad", NULL };
    struct sl_config *c = load_ok("", envp);

    cr_assert_eq(c->workers, 4);
    sl_config_free(c);
}

Test(config, env_unknown_names)
{
    char *envp[] = { "SLUICE_SERVER_WORKRES=4",
                     "SLUICE_CONFIG=/etc/x.conf",
                     "SLUICE_FOO=1",
                     "SLUICE_TENANT_A_RPM=5",
                     "SLUICE_MODEL_X_MAX_OUTPUT_TOKENS=5",
                     "SLUICE_V1_TTL=5",
                     "SLUICE_upstream_model=x",
                     "SLUICE_LOG_=1",
                     "SLUICE_NOEQUALS",
                     "XSLUICE_SERVER_WORKERS=0",
                     NULL };
    char *errs = load_bad("", envp);

    cr_assert(has_line_prefix(errs, "env SLUICE_SERVER_WORKRES: unknown setting"), "%s", errs);
    cr_assert(has_line_prefix(errs, "env SLUICE_TENANT_A_RPM: tenant sections have no "
                                    "environment override"),
              "%s", errs);
    cr_assert(has_line_prefix(errs, "env SLUICE_MODEL_X_MAX_OUTPUT_TOKENS: model sections have "
                                    "no environment override"),
              "%s", errs);
    cr_assert(has_line_prefix(errs, "env SLUICE_V1_TTL: unknown setting: [v1] has no such key"),
              "%s", errs);
    cr_assert(has_line_prefix(errs, "env SLUICE_upstream_model: unknown setting"), "%s", errs);
    cr_assert(has_line_prefix(errs, "env SLUICE_LOG_: unknown setting"), "%s", errs);
    cr_assert_eq(count_lines(errs), 6, "%s", errs);
    free(errs);
}

Test(config, file_and_env_errors_together)
{
    char *envp[] = { "SLUICE_SERVER_MAX_INFLIGHT=0", NULL };
    char *errs = load_bad("[server]\nworkers = x\n", envp);

    assert_err_at(errs, 2, "[server] workers: ", "expected auto");
    cr_assert(has_line_prefix(errs, "env SLUICE_SERVER_MAX_INFLIGHT: 0 is out of range"), "%s",
              errs);
    cr_assert_eq(count_lines(errs), 2);
    free(errs);
}

/* ---- cross-checks ---- */

Test(config, attempt_timeout_above_request_timeout)
{
    char *errs = load_bad("[upstream]\nrequest_timeout_ms = 1000\n"
                          "attempt_timeout_ms = 2000\n",
                          no_env);
    char *envp[] = { "SLUICE_UPSTREAM_REQUEST_TIMEOUT_MS=10", NULL };

    assert_err_at(errs, 3, "[upstream] attempt_timeout_ms: ",
                  "attempt_timeout_ms (2000) must not exceed request_timeout_ms (1000)");
    free(errs);
    errs = load_bad("", envp);
    cr_assert(has_line_prefix(errs, "env SLUICE_UPSTREAM_REQUEST_TIMEOUT_MS: attempt_timeout_ms "
                                    "(18000) must not exceed"),
              "%s", errs);
    free(errs);
}

Test(config, backoff_base_above_max)
{
    char *errs = load_bad("[upstream]\nbackoff_base_ms = 9000\n", no_env);

    assert_err_at(errs, 2, "[upstream] backoff_base_ms: ", "must not exceed backoff_max_ms");
    free(errs);
}

Test(config, cross_check_skipped_when_value_refused)
{
    char *errs = load_bad("[upstream]\nrequest_timeout_ms = 0\n", no_env);

    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
}

Test(config, model_must_be_allowed)
{
    char *errs =
        load_bad("[upstream]\nmodel = gpt-4o\nallowed_models = o3-mini, gpt-4o-mini\n", no_env);
    struct sl_config *c;

    assert_err_at(errs, 3, "[upstream] allowed_models: ", "model 'gpt-4o' is not in");
    free(errs);
    c = load_ok("[upstream]\nmodel = o3-mini\n", no_env);
    cr_assert_eq(c->nallowed_models, 1);
    cr_assert_str_eq(c->allowed_models[0], "o3-mini");
    sl_config_free(c);
}

Test(config, metrics_listen_must_differ)
{
    char *errs = load_bad("[server]\nlisten = 127.0.0.1:8080, unix:/tmp/s\n"
                          "[metrics]\nlisten = unix:/tmp/s\n",
                          no_env);

    assert_err_at(errs, 4, "[metrics] listen: ", "same address as [server] listen");
    free(errs);
}

/* ---- tenants ---- */

Test(config, tenants_parse_and_inherit)
{
    const char *text =
        "[limits]\nrpm = 10\ntpm = 20\ntoken_budget = 30\nbudget_period = hour\n"
        "[tenant.team-a]\nkey_sha256 = " HEX_A "\nkey_sha256 = " HEX_B "\nrpm = 0\n"
        "tpm =\nbudget_period = none\n"
        "[tenant.b.c_d]\n"
        "[tenant.abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij_one]\nkey_sha256 = " HEX_C "\n"
        "[tenant.abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij_two]\n";
    char *envp[] = { "SLUICE_LIMITS_TPM=25", NULL };
    struct sl_config *c = load_ok(text, envp);
    const struct sl_tenant_conf *t = c->tenants;

    cr_assert_eq(c->ntenants, 4);
    cr_assert_str_eq(t[0].name, "team-a");
    cr_assert_eq(t[0].nkeys, 2);
    cr_assert_eq(t[0].key_sha256[0][0], 0xaa);
    cr_assert_eq(t[0].key_sha256[1][31], 0xbb);
    cr_assert_eq(t[0].limits.rpm, 0);  /* explicit 0 = unlimited, not inherited */
    cr_assert_eq(t[0].limits.tpm, 25); /* empty: inherits, env included */
    cr_assert_eq(t[0].limits.token_budget, 30);
    cr_assert_eq(t[0].limits.budget_period, SL_PERIOD_NONE);
    cr_assert_str_eq(t[1].name, "b.c_d");
    cr_assert_eq(t[1].nkeys, 0);
    cr_assert_eq(t[1].limits.rpm, 10);
    cr_assert_eq(t[1].limits.budget_period, SL_PERIOD_HOUR);
    cr_assert_str_eq(t[2].name, "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij_one");
    cr_assert_eq(t[2].key_sha256[0][0], 0x01);
    cr_assert_str_eq(t[3].name, "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij_two");
    sl_config_free(c);
}

Test(config, tenant_problems)
{
    const char *text =
        "[tenant.a]\n"                /* 1 */
        "key_sha256 = " HEX_A "\n"    /* 2 */
        "key_sha256 = " HEX_A "\n"    /* 3: same key twice */
        "rpm = 1\n"                   /* 4 */
        "rpm = 2\n"                   /* 5 */
        "colour = blue\n"             /* 6 */
        "budget_period = fortnight\n" /* 7 */
        "key_sha256 =\n"              /* 8 */
        "[tenant.a]\n"                /* 9 */
        "rpm = 3\n"                   /* 10: skipped with its section */
        "[tenant.]\n"                 /* 11 */
        "[tenant.0123456789012345678901234567890123456789012345678901234567890123]\n" /* 12 */
        "[tenant]\n"                                                                  /* 13 */
        "[tenant.b]\n"                                                                /* 14 */
        "key_sha256 = " HEX_B "\n"                                                    /* 15 */
        "key_sha256 = " HEX_A "\n"           /* 16: a's key */
        "key_sha256 = " HEX_C "\n"           /* 17: the admin key */
        "[admin]\nkey_sha256 = " HEX_C "\n"; /* 18, 19 */
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 3, "[tenant.a] key_sha256: ", "the same key is listed twice");
    assert_err_at(errs, 5, "[tenant.a] rpm: ", "duplicate key (first set at line 4)");
    assert_err_at(errs, 6, "[tenant.a] colour: ", "unknown key");
    assert_err_at(errs, 7, "[tenant.a] budget_period: ", "expected one of");
    assert_err_at(errs, 8, "[tenant.a] key_sha256: ", "got 0 characters");
    assert_err_at(errs, 9, "[tenant.a]: ", "duplicate tenant (first at line 1)");
    assert_err_at(errs, 11, "[tenant.]: ", "a tenant name is 1-63");
    assert_err_at(errs, 12, "[tenant.0123", "a tenant name is 1-63");
    assert_err_at(errs, 13, "[tenant]: ", "unknown section (tenants are [tenant.NAME])");
    assert_err_at(errs, 16, "[tenant.b] key_sha256: ", "same key as [tenant.a]");
    assert_err_at(errs, 17, "[tenant.b] key_sha256: ", "same key as [admin] key_sha256");
    cr_assert_eq(count_lines(errs), 11, "%s", errs);
    free(errs);
}

Test(config, tenant_key_limit)
{
    char text[4096];
    size_t n = 0;
    int i;
    char *errs;

    n += (size_t)snprintf(text, sizeof(text), "[tenant.t]\n");
    for (i = 0; i < SL_MAX_TENANT_KEYS + 1; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "key_sha256 = %064x\n", i);
    errs = load_bad(text, no_env);
    assert_err_at(errs, SL_MAX_TENANT_KEYS + 2, "[tenant.t] key_sha256: ", "too many keys");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
}

Test(config, auth_keys_with_no_tenants_is_fine)
{
    struct sl_config *c = load_ok("[auth]\nmode = keys\n", no_env);

    cr_assert_eq(c->ntenants, 0);
    cr_assert_not(c->has_admin_key);
    sl_config_free(c);
}

/* ---- models ---- */

/* Sections first in file order, then allowed_models and model without one; an unset cap is
 * [upstream] max_tokens as the environment leaves it. */
Test(config, model_table_from_sections_and_allowed_models)
{
    const char *text = "[model.big]\nmax_output_tokens = 9000\n"
                       "[upstream]\nallowed_models = o3, gpt-4o-mini, big\nmax_tokens = 500\n"
                       "[model.plain]\n"
                       "[model." NAME127 "]\nmax_output_tokens =\n";
    char *envp[] = { "SLUICE_UPSTREAM_MAX_TOKENS=700", NULL };
    static const struct {
        const char *name;
        unsigned cap;
        bool from_section;
    } want[] = {
        { "big", 9000, true }, { "plain", 700, true },        { NAME127, 700, true },
        { "o3", 700, false },  { "gpt-4o-mini", 700, false },
    };
    struct sl_config *c = load_ok(text, envp);
    size_t i;

    cr_assert_eq(c->nmodels, sizeof(want) / sizeof(want[0]));
    for (i = 0; i < c->nmodels; i++) {
        cr_assert_str_eq(c->models[i].name, want[i].name);
        cr_assert_eq(c->models[i].max_output_tokens, want[i].cap, "%s", want[i].name);
        cr_assert_eq(c->models[i].from_section, want[i].from_section, "%s", want[i].name);
        cr_assert_eq(sl_config_model(c, want[i].name), &c->models[i]);
    }
    cr_assert_null(sl_config_model(c, "gpt-4o"));
    cr_assert_null(sl_config_model(c, "bi"));
    cr_assert_null(sl_config_model(c, ""));
    sl_config_free(c);
}

Test(config, model_named_by_model_only)
{
    struct sl_config *c = load_ok("[upstream]\nmodel = o3-mini\nmax_tokens = 12\n"
                                  "[model.gpt-4o-mini]\nmax_output_tokens = 1000000\n",
                                  no_env);

    cr_assert_eq(c->nmodels, 2);
    cr_assert_eq(sl_config_model(c, "gpt-4o-mini")->max_output_tokens, 1000000);
    cr_assert(sl_config_model(c, "gpt-4o-mini")->from_section);
    cr_assert_eq(sl_config_model(c, "o3-mini")->max_output_tokens, 12);
    cr_assert_not(sl_config_model(c, "o3-mini")->from_section);
    sl_config_free(c);
}

Test(config, model_problems)
{
    const char *text = "[model.a]\n"                   /* 1 */
                       "max_output_tokens = 0\n"       /* 2 */
                       "max_output_tokens = 5\n"       /* 3 */
                       "upstreams = x:1\n"             /* 4: not yet */
                       "deployment.x = y\n"            /* 5: not yet */
                       "price_input = 0.15\n"          /* 6: not yet */
                       "[model.a]\n"                   /* 7 */
                       "max_output_tokens = 5\n"       /* 8: skipped with its section */
                       "[model.]\n"                    /* 9 */
                       "[model.a b]\n"                 /* 10 */
                       "[model.a,b]\n"                 /* 11 */
                       "[model." NAME128 "]\n"         /* 12 */
                       "[model.caf\xc3\xa9]\n"         /* 13 */
                       "[model]\n"                     /* 14 */
                       "[model.b]\n"                   /* 15 */
                       "max_output_tokens = 1000001\n" /* 16 */
                       "[model.c]\n"                   /* 17 */
                       "max_output_tokens = lots\n";   /* 18 */
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 2, "[model.a] max_output_tokens: ", "0 is out of range 1..1000000");
    assert_err_at(errs, 3, "[model.a] max_output_tokens: ", "duplicate key (first set at line 2)");
    assert_err_at(errs, 4, "[model.a] upstreams: ", "unknown key");
    assert_err_at(errs, 5, "[model.a] deployment.x: ", "unknown key");
    assert_err_at(errs, 6, "[model.a] price_input: ", "unknown key");
    assert_err_at(errs, 7, "[model.a]: ", "duplicate model (first at line 1)");
    assert_err_at(errs, 9, "[model.]: ", "a model name is 1-127 printable ASCII characters");
    assert_err_at(errs, 10, "[model.a b]: ", "a model name is 1-127");
    assert_err_at(errs, 11, "[model.a,b]: ", "a model name is 1-127");
    assert_err_at(errs, 12, "[model.abcdefghij", "a model name is 1-127");
    assert_err_at(errs, 13, "[model.caf??]: ", "a model name is 1-127");
    assert_err_at(errs, 14, "[model]: ", "unknown section (models are [model.NAME])");
    assert_err_at(errs, 16, "[model.b] max_output_tokens: ", "out of range 1..1000000");
    assert_err_at(errs, 18, "[model.c] max_output_tokens: ", "not a decimal integer: 'lots'");
    cr_assert_eq(count_lines(errs), 14, "%s", errs);
    free(errs);
}

/* n [model.mN] sections, then text. */
static char *model_sections(size_t n, const char *text)
{
    size_t cap = n * 32 + strlen(text) + 1, used = 0, i;
    char *s = malloc(cap);

    cr_assert_not_null(s);
    for (i = 0; i < n; i++)
        used += (size_t)snprintf(s + used, cap - used, "[model.m%zu]\n", i);
    snprintf(s + used, cap - used, "%s", text);
    return s;
}

Test(config, model_count_limit)
{
    char *text = model_sections(SL_CONFIG_MAX_MODELS - 1, "[model.gpt-4o-mini]\n"), *errs;
    struct sl_config *c = load_ok(text, no_env);

    cr_assert_eq(c->nmodels, SL_CONFIG_MAX_MODELS);
    sl_config_free(c);
    free(text);
    text = model_sections(SL_CONFIG_MAX_MODELS - 1, "[model.gpt-4o-mini]\n[model.one-more]\n");
    errs = load_bad(text, no_env);
    assert_err_at(errs, SL_CONFIG_MAX_MODELS + 1,
                  "[model.one-more]: ", "too many models (max 256)");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
    free(text);
    /* allowed_models count too: gpt-4o-mini would be the 257th */
    text = model_sections(SL_CONFIG_MAX_MODELS, "");
    errs = load_bad(text, no_env);
    cr_assert(strstr(errs, ": [upstream] allowed_models: with the [model.NAME] sections that makes "
                           "257 models (max 256)"),
              "%s", errs);
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
    free(text);
}

Test(config, tenant_models)
{
    const char *text = "[limits]\nrpm = 7\n"
                       "[upstream]\nallowed_models = gpt-4o-mini, o3\n"
                       "[tenant.a]\nmodels =  late ,gpt-4o-mini,   late\n"
                       "[tenant.b]\nmodels =\n"
                       "[tenant.c]\n"
                       "[model.late]\n";
    struct sl_config *c = load_ok(text, no_env);

    cr_assert_eq(c->ntenants, 3);
    cr_assert_str_eq(c->tenants[0].models, "late,gpt-4o-mini");
    cr_assert_str_eq(c->tenants[1].models, "");
    cr_assert_str_eq(c->tenants[2].models, "");
    cr_assert_eq(c->tenants[0].limits.rpm, 7); /* a models list does not stop inheriting */
    sl_config_free(c);
}

Test(config, tenant_model_problems)
{
    const char *text = "[tenant.a]\n"                 /* 1 */
                       "models = gpt-4o-mini, nope\n" /* 2 */
                       "[tenant.b]\n"                 /* 3 */
                       "models = gpt-4o-mini,,o3\n"   /* 4 */
                       "[tenant.c]\n"                 /* 5 */
                       "models = gpt-4o-mini\n"       /* 6 */
                       "models = gpt-4o-mini\n"       /* 7 */
                       "[tenant.d]\n"                 /* 8 */
                       "models = a b\n"               /* 9 */
                       "[tenant.e]\n"                 /* 10 */
                       "models = " NAME128 "\n";      /* 11 */
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 2, "[tenant.a] models: ", "model 'nope' is not configured");
    assert_err_at(errs, 4, "[tenant.b] models: ", "empty model name");
    assert_err_at(errs, 7, "[tenant.c] models: ", "duplicate key (first set at line 6)");
    assert_err_at(errs, 9, "[tenant.d] models: ", "not printable ASCII");
    assert_err_at(errs, 11, "[tenant.e] models: ", "longer than 127 bytes");
    cr_assert_eq(count_lines(errs), 5, "%s", errs);
    free(errs);
}

/* The canonical list must fit the tenant record: 8 names of 127 bytes do, 9 do not. */
Test(config, tenant_models_length)
{
    char names[9][SL_MODEL_NAME_MAX], *list, *text, *errs;
    struct sl_config *c;
    size_t i;

    for (i = 0; i < 9; i++)
        snprintf(names[i], sizeof(names[i]), "%zu%.126s", i, NAME127);
    list = xprintf("%s, %s, %s, %s, %s, %s, %s, %s", names[0], names[1], names[2], names[3],
                   names[4], names[5], names[6], names[7]);
    text = xprintf("[upstream]\nallowed_models = gpt-4o-mini, %s\n[tenant.t]\nmodels = %s\n", list,
                   list);
    c = load_ok(text, no_env);
    cr_assert_eq(strlen(c->tenants[0].models), SL_MODEL_LIST_MAX - 1);
    sl_config_free(c);
    free(text);
    text = xprintf("[tenant.t]\nmodels = %s, %s\n", list, names[8]);
    errs = load_bad(text, no_env);
    assert_err_at(errs, 2, "[tenant.t] models: ", "longer than 1023 bytes");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
    free(text);
    free(list);
}

/* ---- listen addresses ---- */

#define A10 "aaaaaaaaaa"
#define PATH107 "/" A10 A10 A10 A10 A10 A10 A10 A10 A10 A10 "aaaaaa"

struct listen_case {
    char in[128];
    int ok;
    int kind;
    char host[64];
    int port;
    char path[128];
};

ParameterizedTestParameters(config, listen)
{
    static struct listen_case cases[] = {
        { "127.0.0.1:8080", 1, SL_LISTEN_TCP, "127.0.0.1", 8080, "" },
        { "0.0.0.0:1", 1, SL_LISTEN_TCP, "0.0.0.0", 1, "" },
        { "localhost:65535", 1, SL_LISTEN_TCP, "localhost", 65535, "" },
        { "gw-1.internal.example:443", 1, SL_LISTEN_TCP, "gw-1.internal.example", 443, "" },
        { "[::1]:8080", 1, SL_LISTEN_TCP, "::1", 8080, "" },
        { "[::]:80", 1, SL_LISTEN_TCP, "::", 80, "" },
        { "[2001:db8::ff00:42:8329]:9", 1, SL_LISTEN_TCP, "2001:db8::ff00:42:8329", 9, "" },
        { "unix:/run/sluice/sluice.sock", 1, SL_LISTEN_UNIX, "", 0, "/run/sluice/sluice.sock" },
        { "unix:relative.sock", 1, SL_LISTEN_UNIX, "", 0, "relative.sock" },
        { "unix:" PATH107, 1, SL_LISTEN_UNIX, "", 0, PATH107 }, /* the most sun_path holds */
        { "unix:" PATH107 "a", 0, 0, "", 0, "" },
        { "unix:", 0, 0, "", 0, "" },
        { "localhost", 0, 0, "", 0, "" },
        { "localhost:", 0, 0, "", 0, "" },
        { ":8080", 0, 0, "", 0, "" },
        { "127.0.0.1:0", 0, 0, "", 0, "" },
        { "127.0.0.1:65536", 0, 0, "", 0, "" },
        { "127.0.0.1:80x", 0, 0, "", 0, "" },
        { "127.0.0.1:+80", 0, 0, "", 0, "" },
        { "127.0.0.1:-1", 0, 0, "", 0, "" },
        { "127.0.0.1: 80", 0, 0, "", 0, "" },
        { "999.1.1.1:80", 0, 0, "", 0, "" },
        { "1.2.3:80", 0, 0, "", 0, "" },
        { "::1:8080", 0, 0, "", 0, "" },
        { "[::1", 0, 0, "", 0, "" },
        { "[::1]", 0, 0, "", 0, "" },
        { "[::1]:", 0, 0, "", 0, "" },
        { "[::1]8080", 0, 0, "", 0, "" },
        { "[]:80", 0, 0, "", 0, "" },
        { "[127.0.0.1]:80", 0, 0, "", 0, "" },
        { "[::g]:80", 0, 0, "", 0, "" },
        { "bad host:80", 0, 0, "", 0, "" },
        { "a..b:80", 0, 0, "", 0, "" },
        { ".a:80", 0, 0, "", 0, "" },
        { "a.:80", 0, 0, "", 0, "" },
        { "*:80", 0, 0, "", 0, "" },
        { "", 0, 0, "", 0, "" },
    };
    return cr_make_param_array(struct listen_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct listen_case *lc, config, listen)
{
    struct sl_listen_spec l;
    int r;

    memset(&l, 0x5a, sizeof(l));
    r = sl_config_parse_listen(lc->in, &l);
    if (!lc->ok) {
        cr_assert_eq(r, -EINVAL, "'%s' accepted", lc->in);
        return;
    }
    cr_assert_eq(r, 0, "'%s' refused", lc->in);
    cr_assert_eq((int)l.kind, lc->kind);
    if (lc->kind == SL_LISTEN_TCP) {
        cr_assert_str_eq(l.host, lc->host);
        cr_assert_eq(l.port, lc->port);
    } else {
        cr_assert_str_eq(l.path, lc->path);
    }
}

Test(config, parse_listen_null)
{
    struct sl_listen_spec l;

    cr_assert_eq(sl_config_parse_listen(NULL, &l), -EINVAL);
    cr_assert_eq(sl_config_parse_listen("a:1", NULL), -EINVAL);
}

/* ---- odds and ends ---- */

Test(config, values_normalised)
{
    struct sl_config *c = load_ok("[upstream]\nbase_url = https://example.com/openai///\n"
                                  "temperature = .5\nretry_statuses =\nsystem_prompt =\n"
                                  "api_key_env =\n[server]\nworkers = AUTO\n"
                                  "[log]\nlevel = WARNING\nlog_prompts = Off\n",
                                  no_env);
    int st;

    cr_assert_str_eq(c->base_url, "https://example.com/openai");
    cr_assert_float_eq(c->temperature, 0.5, 1e-9);
    for (st = 0; st < 600; st++)
        cr_assert_not(c->retry_status[st]);
    cr_assert_null(c->system_prompt);
    cr_assert_null(c->api_key_env);
    cr_assert(c->workers_auto);
    cr_assert_eq(c->log_level, SL_LOG_WARN);
    cr_assert_not(c->log_prompts);
    sl_config_free(c);
}

Test(config, redis_url_forms)
{
    static const char *const good[] = {
        "redis://localhost", "redis://localhost:6379", "redis://:pw@h:1/0", "redis://u:p@h/15",
        "redis://h/",        "redis://[::1]:6379/3",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *text = NULL;
        struct sl_config *c;

        text = xprintf("[redis]\nurl = %s\n", good[i]);
        c = load_ok(text, no_env);
        cr_assert_str_eq(c->redis_url, good[i]);
        sl_config_free(c);
        free(text);
    }
}

Test(config, period_names)
{
    cr_assert_str_eq(sl_period_name(SL_PERIOD_MINUTE), "minute");
    cr_assert_str_eq(sl_period_name(SL_PERIOD_HOUR), "hour");
    cr_assert_str_eq(sl_period_name(SL_PERIOD_DAY), "day");
    cr_assert_str_eq(sl_period_name(SL_PERIOD_MONTH), "month");
    cr_assert_str_eq(sl_period_name(SL_PERIOD_NONE), "none");
    cr_assert_str_eq(sl_period_name((enum sl_period)42), "unknown");
}

Test(config, free_null)
{
    sl_config_free(NULL);
}

/* ---- [guard] and [guard.NAME] ---- */

static const struct sl_guard_policy *guard_named(const struct sl_config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nguards; i++)
        if (strcmp(c->guards[i]->name, name) == 0)
            return c->guards[i];
    cr_assert_fail("no policy '%s'", name);
    return NULL;
}

Test(config, guard_sections_parse_into_policies)
{
    const char *text = "[guard]\n"                                                /* 1 */
                       "max_message_chars = 4000\n"                               /* 2 */
                       "max_messages = 50\n"                                      /* 3 */
                       "deny_markup = html, md_image\n"                           /* 4 */
                       "deny_patterns = (?i)ignore (all|previous) instructions\n" /* 5 */
                       "    \\bsecret\\b\n"                                       /* 6 */
                       "pii = email, card\n"                                      /* 7 */
                       "pii_action = mask\n"                                      /* 8 */
                       "roles = user, system\n"                                   /* 9 */
                       "[tenant.a]\n"                                             /* 10 */
                       "guard = strict.v2\n"                                      /* 11 */
                       "[tenant.b]\n"                                             /* 12 */
                       "guard = none\n"                                           /* 13 */
                       "[tenant.c]\n"                                             /* 14 */
                       "guard =\n"                                                /* 15 */
                       "[tenant.d]\n"                                             /* 16 */
                       "[guard.strict.v2]\n"                                      /* 17 */
                       "deny_markup = md_code\n";                                 /* 18 */
    struct sl_config *c = load_ok(text, no_env);
    const struct sl_guard_policy *g, *s;
    bool known = false;

    cr_assert_eq(c->nguards, 2);
    g = c->guards[0];
    s = c->guards[1];
    cr_assert_str_eq(g->name, SL_GUARD_DEFAULT);
    cr_assert_str_eq(s->name, "strict.v2");
    cr_assert_eq(g->max_message_chars, 4000);
    cr_assert_eq(g->max_messages, 50);
    cr_assert_eq(g->markup, SL_GUARD_BIT(SL_GUARD_HTML) | SL_GUARD_BIT(SL_GUARD_MD_IMAGE));
    cr_assert_eq(g->pii, SL_GUARD_BIT(SL_GUARD_EMAIL) | SL_GUARD_BIT(SL_GUARD_CARD));
    cr_assert_eq(g->pii_action, SL_GUARD_ACTION_MASK);
    cr_assert_eq(g->roles, (1u << SL_GUARD_ROLE_USER) | (1u << SL_GUARD_ROLE_SYSTEM));
    cr_assert_eq(g->npatterns, 2);
    cr_assert_str_eq(g->patterns[0].source, "(?i)ignore (all|previous) instructions");
    cr_assert_eq(g->patterns[0].line, 5);
    cr_assert_str_eq(g->patterns[1].source, "\\bsecret\\b");
    cr_assert_eq(g->patterns[1].line, 6);
    cr_assert_eq(sl_guard_pattern_match(g, 0, "IGNORE ALL INSTRUCTIONS", 23), SL_GUARD_MATCHED);
    cr_assert_eq(sl_guard_pattern_match(g, 1, "a secret", 8), SL_GUARD_MATCHED);
    cr_assert_eq(s->markup, SL_GUARD_BIT(SL_GUARD_MD_CODE));
    cr_assert_eq(s->roles, 1u << SL_GUARD_ROLE_USER);
    cr_assert_eq(s->npatterns, 0);
    cr_assert_str_eq(c->tenants[0].guard, "strict.v2");
    cr_assert_str_eq(c->tenants[1].guard, "none");
    cr_assert_str_eq(c->tenants[2].guard, "");
    cr_assert_str_eq(c->tenants[3].guard, "");
    cr_assert_eq(sl_config_guard(c, c->tenants[0].guard, &known), s);
    cr_assert(known);
    cr_assert_null(sl_config_guard(c, c->tenants[1].guard, &known));
    cr_assert(known);
    cr_assert_eq(sl_config_guard(c, c->tenants[3].guard, &known), g);
    cr_assert(known);
    sl_config_free(c);
}

Test(config, no_guard_section_means_no_policy)
{
    struct sl_config *c = load_ok("[tenant.a]\n[guard.only]\nmax_messages = 9\n", no_env);
    bool known = false;

    cr_assert_eq(c->nguards, 1);
    cr_assert_null(sl_config_guard(c, c->tenants[0].guard, &known));
    cr_assert(known);
    cr_assert_null(sl_config_guard(c, "other", &known));
    cr_assert_not(known);
    sl_config_free(c);
    c = load_ok("", no_env);
    cr_assert_eq(c->nguards, 0);
    cr_assert_null(c->guards);
    sl_config_free(c);
}

/* One pattern per line: the key's own value, then each indented line; blank and comment lines
 * in between do not end the list, a line at the start of the line does. */
Test(config, guard_pattern_continuation_lines)
{
    const char *text = "[guard.p]\r\n"                        /* 1 */
                       "deny_patterns =\r\n"                  /* 2: nothing on its own line */
                       "    first\r\n"                        /* 3 */
                       "\r\n"                                 /* 4 */
                       "    ; a comment among them\r\n"       /* 5 */
                       "  # another\r\n"                      /* 6 */
                       "; and one at the start of a line\r\n" /* 7 */
                       "\tsecond ; an inline comment\r\n"     /* 8 */
                       "    a[;]b#c\r\n"                      /* 9 */
                       "    x;y  \r\n"                        /* 10 */
                       "max_messages = 2\r\n"                 /* 11: ends the list */
                       "    [server]\r\n";                    /* 12: just an indented header */
    struct sl_config *c = load_ok(text, no_env);
    const struct sl_guard_policy *p = guard_named(c, "p");
    static const char *const want[] = { "first", "second", "a[;]b#c", "x;y" };
    static const int lines[] = { 3, 8, 9, 10 };
    size_t i;

    cr_assert_eq(p->npatterns, 4);
    for (i = 0; i < 4; i++) {
        cr_assert_str_eq(p->patterns[i].source, want[i]);
        cr_assert_eq(p->patterns[i].line, lines[i]);
    }
    cr_assert_eq(p->max_messages, 2);
    cr_assert_eq(sl_guard_pattern_match(p, 2, "a;b#c", 5), SL_GUARD_MATCHED);
    sl_config_free(c);
}

Test(config, guard_continuation_stays_in_its_section)
{
    const char *text = "[guard]\n"               /* 1 */
                       "deny_patterns = one\n"   /* 2 */
                       "[server]\n"              /* 3 */
                       "  workers = 3\n"         /* 4: a key, as anywhere else */
                       "[guard.b]\n"             /* 5 */
                       "  deny_patterns = two\n" /* 6: an indented key line opens a list too */
                       "    three\n";            /* 7 */
    struct sl_config *c = load_ok(text, no_env);
    const struct sl_guard_policy *b = guard_named(c, "b");

    cr_assert_eq(c->workers, 3);
    cr_assert_eq(guard_named(c, SL_GUARD_DEFAULT)->npatterns, 1);
    cr_assert_eq(b->npatterns, 2);
    cr_assert_str_eq(b->patterns[1].source, "three");
    sl_config_free(c);
}

/* inih cuts lines at 200 bytes; a pattern is as long as its policy allows, on either line. */
Test(config, guard_long_patterns)
{
    char big[SL_GUARD_PATTERN_MAX + 2], *text, *errs;
    struct sl_config *c;
    const struct sl_guard_policy *p;

    memset(big, 'x', SL_GUARD_PATTERN_MAX);
    big[SL_GUARD_PATTERN_MAX] = '\0';
    text = xprintf("[guard]\ndeny_patterns = %s ; note\n    %s\n", big, big);
    c = load_ok(text, no_env);
    p = guard_named(c, SL_GUARD_DEFAULT);
    cr_assert_eq(p->npatterns, 2);
    cr_assert_eq(strlen(p->patterns[0].source), SL_GUARD_PATTERN_MAX);
    cr_assert_str_eq(p->patterns[1].source, big);
    sl_config_free(c);
    free(text);
    strcat(big, "y");
    text = xprintf("[guard]\ndeny_patterns = %s\n    %s\n", big, big);
    errs = load_bad(text, no_env);
    assert_err_at(errs, 2, "[guard] deny_patterns: ", "pattern too long: 1025 bytes (max 1024)");
    assert_err_at(errs, 3, "[guard] deny_patterns: ", "pattern too long: 1025 bytes (max 1024)");
    cr_assert_eq(count_lines(errs), 2, "%s", errs);
    free(errs);
    free(text);
}

Test(config, guard_pattern_errors_name_their_line)
{
    const char *text = "[guard.x]\n"                                /* 1 */
                       "deny_patterns = ignore (all\n"              /* 2 */
                       "    fine\n"                                 /* 3 */
                       "\n"                                         /* 4 */
                       "    ; comment\n"                            /* 5 */
                       "    a{2,1}\n"                               /* 6 */
                       "    caf\xc3\n"                              /* 7 */
                       "    [z-a]   ; a comment is no part of it\n" /* 8 */
                       "    \\\n";                                  /* 9 */
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 2, "[guard.x] deny_patterns: ", "missing closing parenthesis at offset 11");
    assert_err_at(errs, 6,
                  "[guard.x] deny_patterns: ", "numbers out of order in {} quantifier at offset 5");
    assert_err_at(errs, 7,
                  "[guard.x] deny_patterns: ", "UTF-8 error: 1 byte missing at end at offset 3");
    assert_err_at(errs, 8,
                  "[guard.x] deny_patterns: ", "range out of order in character class at offset 3");
    assert_err_at(errs, 9, "[guard.x] deny_patterns: ", "\\ at end of pattern at offset 1");
    cr_assert_eq(count_lines(errs), 5, "%s", errs); /* not also "checks nothing" */
    free(errs);
}

Test(config, guard_problems)
{
    const char *text = "[guard]\n"                    /* 1 */
                       "max_messages = many\n"        /* 2 */
                       "max_messages = 3\n"           /* 3 */
                       "deny_markup = html, xml\n"    /* 4 */
                       "pii = email phone passport\n" /* 5 */
                       "pii_action = drop\n"          /* 6 */
                       "roles =\n"                    /* 7 */
                       "colour = blue\n"              /* 8 */
                       "deny_patterns = a\n"          /* 9 */
                       "deny_patterns = (\n"          /* 10 */
                       "    (\n"                      /* 11: skipped with its key */
                       "[guard.empty]\n"              /* 12 */
                       "roles = system\n"             /* 13 */
                       "pii_action = mask\n"          /* 14 */
                       "deny_patterns =\n"            /* 15 */
                       "[guard]\n"                    /* 16 */
                       "max_messages = 1\n"           /* 17: skipped with its section */
                       "[guard.none]\n"               /* 18 */
                       "[guard.default]\n"            /* 19 */
                       "[guard.]\n"                   /* 20 */
                       "[guard.a b]\n"                /* 21 */
                       "deny_patterns = (\n"          /* 22: skipped */
                       "    (\n"                      /* 23: skipped */
                       "[guard.0123456789012345678901234567890123456789012345678901234567890123]\n"
                       "[guards]\n"           /* 25 */
                       "[guard.k]\n"          /* 26 */
                       "deny_patterns = a\n"  /* 27 */
                       "  max_messages = 3\n" /* 28 */
                       "    roles: user\n";   /* 29 */
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 2, "[guard] max_messages: ", "not a decimal integer: 'many'");
    assert_err_at(errs, 3, "[guard] max_messages: ", "duplicate key (first set at line 2)");
    assert_err_at(errs, 4, "[guard] deny_markup: ",
                  "unknown markup 'xml' (one of html, md_image, md_link, md_code)");
    assert_err_at(errs, 5, "[guard] pii: ",
                  "unknown personal data 'passport' (one of email, phone, card, ssn, iban)");
    assert_err_at(errs, 6, "[guard] pii_action: ",
                  "unknown action 'drop': expected reject or mask, then KIND:ACTION overrides");
    assert_err_at(errs, 7, "[guard] roles: ", "at least one role is needed");
    assert_err_at(errs, 8, "[guard] colour: ",
                  "unknown key (a guard takes max_message_chars, max_messages, deny_markup, "
                  "deny_patterns, pii, pii_action, roles)");
    assert_err_at(errs, 10, "[guard] deny_patterns: ", "duplicate key (first set at line 9)");
    assert_err_at(errs, 12, "[guard.empty]: ",
                  "the policy checks nothing (set max_message_chars, max_messages, deny_markup, "
                  "deny_patterns or pii)");
    assert_err_at(errs, 16, "[guard]: ", "duplicate policy (first at line 1)");
    assert_err_at(errs, 18, "[guard.none]: ", "'none' is reserved");
    assert_err_at(errs, 19, "[guard.default]: ", "'default' is reserved");
    assert_err_at(errs, 20, "[guard.]: ", "a policy name is 1-63 characters of A-Z a-z 0-9 _ . -");
    assert_err_at(errs, 21, "[guard.a b]: ", "a policy name is 1-63");
    assert_err_at(errs, 24, "[guard.0123", "a policy name is 1-63");
    assert_err_at(errs, 25, "[guards]: ", "unknown section");
    assert_err_at(errs, 28, "[guard.k] deny_patterns: ", "this one looks like a key");
    assert_err_at(errs, 29, "[guard.k] deny_patterns: ", "this one looks like a key");
    cr_assert_eq(count_lines(errs), 18, "%s", errs);
    free(errs);
}

Test(config, guard_values_with_control_characters)
{
    char *errs = load_bad("[guard]\ndeny_markup = html\tmd_code\ndeny_patterns = a\n"
                          "    b\x01\n",
                          no_env);

    assert_err_at(errs, 2, "[guard] deny_markup: ", "control characters are not allowed");
    assert_err_at(errs, 4, "[guard] deny_patterns: ", "control characters are not allowed");
    cr_assert_eq(count_lines(errs), 2, "%s", errs);
    free(errs);
}

Test(config, guard_policy_count_limit)
{
    size_t cap = (SL_GUARD_MAX_POLICIES + 1) * 48, used = 0, i;
    char *text = malloc(cap), *errs;
    struct sl_config *c;

    cr_assert_not_null(text);
    used += (size_t)snprintf(text, cap, "[guard]\nmax_messages = 1\n");
    for (i = 1; i < SL_GUARD_MAX_POLICIES; i++)
        used += (size_t)snprintf(text + used, cap - used, "[guard.g%zu]\nmax_messages = 1\n", i);
    c = load_ok(text, no_env);
    cr_assert_eq(c->nguards, SL_GUARD_MAX_POLICIES);
    cr_assert_str_eq(c->guards[SL_GUARD_MAX_POLICIES - 1]->name, "g63");
    sl_config_free(c);
    snprintf(text + used, cap - used, "[guard.more]\nmax_messages = 1\n");
    errs = load_bad(text, no_env);
    assert_err_at(errs, 2 * SL_GUARD_MAX_POLICIES + 1,
                  "[guard.more]: ", "too many policies (max 64)");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
    free(text);
}

Test(config, tenant_guard_problems)
{
    const char *text = "[guard.strict]\n"   /* 1 */
                       "max_messages = 5\n" /* 2 */
                       "[tenant.a]\n"       /* 3 */
                       "guard = strict\n"   /* 4 */
                       "[tenant.b]\n"       /* 5 */
                       "guard = lax\n"      /* 6 */
                       "[tenant.c]\n"       /* 7 */
                       "guard = default\n"  /* 8 */
                       "[tenant.d]\n"       /* 9 */
                       "guard = a b\n"      /* 10 */
                       "guard = none\n"     /* 11 */
                       "[tenant.e]\n"       /* 12 */
                       "guard = Strict\n"   /* 13 */
                       "policy = strict\n"; /* 14 */
    char *errs = load_bad(text, no_env);

    assert_err_at(errs, 6, "[tenant.b] guard: ", "no [guard.NAME] section named 'lax'");
    assert_err_at(errs, 8, "[tenant.c] guard: ", "'default' is [guard]: leave guard empty");
    assert_err_at(errs, 10, "[tenant.d] guard: ",
                  "'a b': a policy name is 1-63 characters of A-Z a-z 0-9 _ . -, or none");
    assert_err_at(errs, 11, "[tenant.d] guard: ", "duplicate key (first set at line 10)");
    assert_err_at(errs, 13, "[tenant.e] guard: ", "no [guard.NAME] section named 'Strict'");
    assert_err_at(errs, 14, "[tenant.e] policy: ",
                  "unknown key (a tenant takes key_sha256, rpm, "
                  "tpm, token_budget, budget_period, models, "
                  "guard)");
    cr_assert_eq(count_lines(errs), 6, "%s", errs);
    free(errs);
}

Test(config, tenant_guard_names_a_missing_default)
{
    char *errs = load_bad("[tenant.a]\nguard = x\n[guard.y]\nmax_messages = 1\n", no_env);

    assert_err_at(errs, 2, "[tenant.a] guard: ", "no [guard.NAME] section named 'x'");
    cr_assert_eq(count_lines(errs), 1, "%s", errs);
    free(errs);
}

Test(config, guard_has_no_environment_override)
{
    char *envp[] = { "SLUICE_GUARD_MAX_MESSAGES=3", "SLUICE_GUARD_STRICT_PII=email", NULL };
    char *errs = load_bad("[guard]\nmax_messages = 1\n", envp);

    cr_assert(has_line_prefix(errs, "env SLUICE_GUARD_MAX_MESSAGES: guard sections have no "
                                    "environment override"),
              "%s", errs);
    cr_assert(has_line_prefix(errs, "env SLUICE_GUARD_STRICT_PII: guard sections have no "
                                    "environment override"),
              "%s", errs);
    cr_assert_eq(count_lines(errs), 2, "%s", errs);
    free(errs);
}

Test(config, guard_errors_come_with_the_others)
{
    const char *text = "[server]\n"          /* 1 */
                       "workers = 0\n"       /* 2 */
                       "[guard]\n"           /* 3 */
                       "deny_patterns = (\n" /* 4 */
                       "    ok\n"            /* 5 */
                       "    )\n"             /* 6 */
                       "[guard.e]\n"         /* 7 */
                       "[tenant.t]\n"        /* 8 */
                       "guard = nope\n"      /* 9 */
                       "rpm = x\n";          /* 10 */
    char *envp[] = { "SLUICE_GUARD_ROLES=tool", NULL };
    char *errs = load_bad(text, envp);

    assert_err_at(errs, 2, "[server] workers: ", "out of range");
    assert_err_at(errs, 4, "[guard] deny_patterns: ", "missing closing parenthesis at offset 1");
    assert_err_at(errs, 6, "[guard] deny_patterns: ", "unmatched closing parenthesis at offset 0");
    assert_err_at(errs, 7, "[guard.e]: ", "the policy checks nothing");
    assert_err_at(errs, 9, "[tenant.t] guard: ", "no [guard.NAME] section named 'nope'");
    assert_err_at(errs, 10, "[tenant.t] rpm: ", "not a decimal integer");
    cr_assert(has_line_prefix(errs, "env SLUICE_GUARD_ROLES: guard sections have no"), "%s", errs);
    cr_assert_eq(count_lines(errs), 7, "%s", errs);
    free(errs);
}
