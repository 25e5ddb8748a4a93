/* SPDX-License-Identifier: MIT */
/* config.c - load sluice.conf (via inih) and SLUICE_* overrides through one table of keys. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "core/redis_url.h"
#include "core/secret.h"

#define KIB 1024LL
#define MIB (1024LL * 1024)
#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_ERRORS 100
#define MAX_ERR_LINE 512
#define WHY_MAX 256
#define MAX_KEY_NAME 64
#define MAX_LIST_ITEMS 64
#define MAX_ENV_NAME 128
#define MAX_TKEYS 8
#define MAX_PATH_LEN 4095
#define MAX_HOURS_MS 3600000LL
#define MAX_QUANTITY 1000000000000000LL
/* inih hands the handler this value for a line too long for its 200-byte line buffer;
 * the reader keeps the real value aside.  A literal 0x01 in a file is refused as a
 * control character, so the marker cannot be forged. */
#define LONG_MARK "\x01"

#define F_OPTIONAL 1u   /* an empty value is allowed and means "unset" */
#define F_SECRET 2u     /* never quote the value in an error: it may hold a password */

#define FSZ(type, f) sizeof(((type *)0)->f)
#define ROW(sec_, key_, set_, f_, lo_, hi_, def_, ...)                                 \
    { .section = sec_, .key = key_, .set = set_, .off = offsetof(struct sl_config, f_), \
      .size = FSZ(struct sl_config, f_), .min = lo_, .max = hi_, .def = def_, __VA_ARGS__ }
#define OFF2(f_) .off2 = offsetof(struct sl_config, f_)
#define TROW(key_, set_, f_, lo_, hi_, flags_, ...)                                      \
    { .section = "tenant", .key = key_, .set = set_,                                      \
      .off = offsetof(struct sl_tenant_conf, f_), .size = FSZ(struct sl_tenant_conf, f_), \
      .min = lo_, .max = hi_, .flags = flags_, __VA_ARGS__ }

enum { SEC_NONE = -1, SEC_SKIP = -2, SEC_TENANT = -3 };

struct key_def;
/* Parse v and store it in the field at base + d->off, only on success.  On -EINVAL, why
 * (WHY_MAX bytes) says what is wrong; it quotes v only when d is not F_SECRET. */
typedef int (*set_cb)(const struct key_def *d, void *base, const char *v, char *why);
/* Validate a string value of n bytes (control characters were refused already); may
 * shorten *n to normalise it.  Never quotes v.  NULL = any text. */
typedef int (*check_cb)(const char *v, size_t *n, char *why);

struct enum_name {
    const char *name;
    int value;
};

struct key_def {
    const char *section;
    const char *key;
    set_cb set;
    size_t off;                       /* into struct sl_config or struct sl_tenant_conf */
    size_t size;                      /* sizeof that field */
    size_t off2;                      /* companion count or has_* flag, where one exists */
    int64_t min, max;                 /* number bounds, string length or list length */
    const char *def;                  /* parsed by sl_config_new() through the same setter */
    unsigned flags;
    const struct enum_name *names;
    check_cb check;
};

struct item {
    const char *s;
    size_t n;
};

struct tenant_track {
    int header_line;
    int seen[MAX_TKEYS];              /* line of each tenant key, indexed like tenant_keys[] */
    bool set[MAX_TKEYS];              /* given a non-empty value */
    int key_line[SL_MAX_TENANT_KEYS];
};

struct errbuf {
    char *s;
    size_t len, cap;
    unsigned n, dropped;
};

static int set_int(const struct key_def *d, void *base, const char *v, char *why);
static int set_double(const struct key_def *d, void *base, const char *v, char *why);
static int set_bool(const struct key_def *d, void *base, const char *v, char *why);
static int set_enum(const struct key_def *d, void *base, const char *v, char *why);
static int set_str(const struct key_def *d, void *base, const char *v, char *why);
static int set_workers(const struct key_def *d, void *base, const char *v, char *why);
static int set_listens(const struct key_def *d, void *base, const char *v, char *why);
static int set_listen_opt(const struct key_def *d, void *base, const char *v, char *why);
static int set_models(const struct key_def *d, void *base, const char *v, char *why);
static int set_statuses(const struct key_def *d, void *base, const char *v, char *why);
static int set_hex32(const struct key_def *d, void *base, const char *v, char *why);
static int set_tenant_key(const struct key_def *d, void *base, const char *v, char *why);
static int check_url(const char *v, size_t *n, char *why);
static int check_env_name(const char *v, size_t *n, char *why);
static int check_model(const char *v, size_t *n, char *why);
static int check_text(const char *v, size_t *n, char *why);
static int check_token(const char *v, size_t *n, char *why);
static int check_redis_url(const char *v, size_t *n, char *why);
static int check_key_prefix(const char *v, size_t *n, char *why);

static const struct enum_name auth_names[] = {
    { "keys", SL_AUTH_KEYS }, { "none", SL_AUTH_NONE }, { NULL, 0 } };
static const struct enum_name period_names[] = {
    { "minute", SL_PERIOD_MINUTE }, { "hour", SL_PERIOD_HOUR }, { "day", SL_PERIOD_DAY },
    { "month", SL_PERIOD_MONTH }, { "none", SL_PERIOD_NONE }, { NULL, 0 } };
static const struct enum_name fail_names[] = {
    { "local", SL_FAIL_MODE_LOCAL }, { "closed", SL_FAIL_MODE_CLOSED }, { NULL, 0 } };
static const struct enum_name level_names[] = {
    { "err", SL_LOG_ERR }, { "error", SL_LOG_ERR }, { "warn", SL_LOG_WARN },
    { "warning", SL_LOG_WARN }, { "notice", SL_LOG_NOTICE }, { "info", SL_LOG_INFO },
    { "debug", SL_LOG_DEBUG }, { NULL, 0 } };

static const char *const sections[] = {
    "server", "upstream", "auth", "limits", "breaker", "redis", "admin", "log", "metrics",
    "state",
};

/* SPEC §7 order; etc/sluice.conf follows this table line for line. */
static const struct key_def keys[] = {
    ROW("server", "listen", set_listens, listen, 1, SL_MAX_LISTEN, "127.0.0.1:8080",
        OFF2(nlisten)),
    ROW("server", "workers", set_workers, workers, 1, 512, "auto", OFF2(workers_auto)),
    ROW("server", "max_body_bytes", set_int, max_body_bytes, KIB, 64 * MIB, "65536"),
    ROW("server", "max_header_bytes", set_int, max_header_bytes, KIB, MIB, "16384"),
    ROW("server", "client_timeout_ms", set_int, client_timeout_ms, 1, MAX_HOURS_MS, "30000"),
    ROW("server", "stream_ping_ms", set_int, stream_ping_ms, 100, MAX_HOURS_MS, "15000"),
    ROW("server", "shutdown_timeout_ms", set_int, shutdown_timeout_ms, 1, MAX_HOURS_MS,
        "30000"),
    ROW("server", "max_inflight", set_int, max_inflight, 1, 1000000, "4096"),

    ROW("upstream", "base_url", set_str, base_url, 1, 2048, "https://api.openai.com/v1",
        .check = check_url),
    ROW("upstream", "api_key_env", set_str, api_key_env, 1, 128, "OPENAI_API_KEY",
        .flags = F_OPTIONAL, .check = check_env_name),
    ROW("upstream", "api_key_file", set_str, api_key_file, 1, MAX_PATH_LEN, "",
        .flags = F_OPTIONAL),
    ROW("upstream", "model", set_str, model, 1, 128, "gpt-4o-mini", .check = check_model),
    ROW("upstream", "system_prompt", set_str, system_prompt, 1, 16384,
        "You are a concise and friendly assistant.", .flags = F_OPTIONAL, .check = check_text),
    ROW("upstream", "max_tokens", set_int, max_tokens, 1, 1000000, "400"),
    ROW("upstream", "temperature", set_double, temperature, 0, 2, "0.3"),
    ROW("upstream", "allowed_models", set_models, allowed_models, 0, SL_MAX_MODELS, "",
        OFF2(nallowed_models), .flags = F_OPTIONAL),
    ROW("upstream", "request_timeout_ms", set_int, request_timeout_ms, 1, MAX_HOURS_MS,
        "20000"),
    ROW("upstream", "attempt_timeout_ms", set_int, attempt_timeout_ms, 1, MAX_HOURS_MS,
        "18000"),
    ROW("upstream", "stream_timeout_ms", set_int, stream_timeout_ms, 1, 24 * MAX_HOURS_MS,
        "600000"),
    ROW("upstream", "max_attempts", set_int, max_attempts, 1, 10, "3"),
    ROW("upstream", "backoff_base_ms", set_int, backoff_base_ms, 1, MAX_HOURS_MS, "300"),
    ROW("upstream", "backoff_max_ms", set_int, backoff_max_ms, 1, MAX_HOURS_MS, "8000"),
    ROW("upstream", "retry_statuses", set_statuses, retry_status, 100, 599,
        "408,409,429,500,502,503,504", .flags = F_OPTIONAL),
    ROW("upstream", "max_response_bytes", set_int, max_response_bytes, KIB, 1024 * MIB,
        "10485760"),

    ROW("auth", "mode", set_enum, auth_mode, 0, 0, "keys", .names = auth_names),

    ROW("limits", "rpm", set_int, limits.rpm, 0, MAX_QUANTITY, "60"),
    ROW("limits", "tpm", set_int, limits.tpm, 0, MAX_QUANTITY, "40000"),
    ROW("limits", "token_budget", set_int, limits.token_budget, 0, MAX_QUANTITY, "200000"),
    ROW("limits", "budget_period", set_enum, limits.budget_period, 0, 0, "day",
        .names = period_names),
    ROW("limits", "message_overhead_tokens", set_int, message_overhead_tokens, 0, 100000, "4"),
    ROW("limits", "image_tokens", set_int, image_tokens, 0, 1000000, "1000"),

    ROW("breaker", "failure_threshold", set_int, failure_threshold, 1, 1000, "5"),
    ROW("breaker", "open_ms", set_int, open_ms, 1, MAX_HOURS_MS, "30000"),
    ROW("breaker", "half_open_probes", set_int, half_open_probes, 1, 1000, "1"),

    ROW("redis", "url", set_str, redis_url, 1, 1024, "", .flags = F_OPTIONAL | F_SECRET,
        .check = check_redis_url),
    ROW("redis", "prefix", set_str, redis_prefix, 1, 64, "sluice:", .check = check_key_prefix),
    ROW("redis", "timeout_ms", set_int, redis_timeout_ms, 1, MAX_HOURS_MS, "100"),
    ROW("redis", "fail_mode", set_enum, fail_mode, 0, 0, "local", .names = fail_names),
    ROW("redis", "local_budget_share", set_double, local_budget_share, 0, 1, "0.1"),

    ROW("admin", "key_sha256", set_hex32, admin_key_sha256, 0, 0, "", OFF2(has_admin_key),
        .flags = F_OPTIONAL),

    ROW("log", "level", set_enum, log_level, 0, 0, "info", .names = level_names),
    ROW("log", "log_prompts", set_bool, log_prompts, 0, 0, "false"),

    ROW("metrics", "listen", set_listen_opt, metrics_listen, 0, 0, "",
        OFF2(has_metrics_listen), .flags = F_OPTIONAL),

    ROW("state", "file", set_str, state_file, 1, MAX_PATH_LEN, "", .flags = F_OPTIONAL),
    ROW("state", "max_tenants", set_int, max_tenants, 1, 1000000, "4096"),
    ROW("state", "max_keys", set_int, max_keys, 1, 4000000, "16384"),
    ROW("state", "max_reservations", set_int, max_reservations, 64, 4000000, "65536"),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* [tenant.NAME]: key_sha256 repeats; an empty limit inherits [limits]. */
static const struct key_def tenant_keys[] = {
    TROW("key_sha256", set_tenant_key, key_sha256, 0, SL_MAX_TENANT_KEYS, 0,
         .off2 = offsetof(struct sl_tenant_conf, nkeys)),
    TROW("rpm", set_int, limits.rpm, 0, MAX_QUANTITY, F_OPTIONAL),
    TROW("tpm", set_int, limits.tpm, 0, MAX_QUANTITY, F_OPTIONAL),
    TROW("token_budget", set_int, limits.token_budget, 0, MAX_QUANTITY, F_OPTIONAL),
    TROW("budget_period", set_enum, limits.budget_period, 0, 0, F_OPTIONAL,
         .names = period_names),
};
#define NTKEYS (sizeof(tenant_keys) / sizeof(tenant_keys[0]))
#define TK_KEYS 0

struct ctx {
    struct sl_config *c;
    const char *where;                /* path as printed in errors */
    char *buf;                        /* whole file, NUL-terminated, split in place */
    size_t len, pos;
    int lineno;
    int sec;                          /* index into sections[], or SEC_* */
    size_t tenant;                    /* current tenant when sec == SEC_TENANT */
    struct tenant_track *track;       /* parallel to c->tenants */
    char *long_value;                 /* real value behind LONG_MARK on line long_line */
    int long_line;
    int row_line[NKEYS];              /* where each key was set in the file, 0 = not */
    bool row_env[NKEYS];              /* overridden from the environment */
    bool row_bad[NKEYS];              /* some value for it was refused */
    struct errbuf e;
    bool oom;
};

_Static_assert(sizeof(enum sl_period) == sizeof(int), "enums are stored as int");
_Static_assert(NTKEYS <= MAX_TKEYS, "struct tenant_track arrays");

/* ---- error text ---- */

static void errbuf_put(struct ctx *x, const char *line)
{
    size_t n = strlen(line);
    char *p;

    if (x->e.len + n + 2 > x->e.cap) {
        size_t cap = (x->e.cap ? x->e.cap * 2 : 1024) + n + 2;
        p = realloc(x->e.s, cap);
        if (!p) {
            x->oom = true;
            return;
        }
        x->e.s = p;
        x->e.cap = cap;
    }
    memcpy(x->e.s + x->e.len, line, n);
    x->e.len += n;
    x->e.s[x->e.len++] = '\n';
    x->e.s[x->e.len] = '\0';
    x->e.n++;
}

/* A broken file can hold thousands of problems; the first MAX_ERRORS say enough. */
static void errbuf_add(struct ctx *x, const char *line)
{
    if (x->e.n >= MAX_ERRORS)
        x->e.dropped++;
    else
        errbuf_put(x, line);
}

static void verr(struct ctx *x, const char *prefix, const char *fmt, va_list ap)
{
    char line[MAX_ERR_LINE];
    int n = snprintf(line, sizeof(line), "%s", prefix);

    if (n >= 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    errbuf_add(x, line);
}

static void __attribute__((format(printf, 2, 3)))
file_err(struct ctx *x, const char *fmt, ...)
{
    char prefix[MAX_ERR_LINE];
    va_list ap;

    snprintf(prefix, sizeof(prefix), "%s: ", x->where);
    va_start(ap, fmt);
    verr(x, prefix, fmt, ap);
    va_end(ap);
}

/* The section label of the current line: "[server] ", "[tenant.a] " or "". */
static void section_label(const struct ctx *x, char *out, size_t n)
{
    if (x->sec >= 0)
        snprintf(out, n, "[%s] ", sections[x->sec]);
    else if (x->sec == SEC_TENANT)
        snprintf(out, n, "[tenant.%s] ", x->c->tenants[x->tenant].name);
    else
        out[0] = '\0';
}

static void vat(struct ctx *x, int line, const char *label, const char *key, const char *fmt,
                va_list ap)
{
    char prefix[MAX_ERR_LINE];

    snprintf(prefix, sizeof(prefix), "%s:%d: %s%s%s", x->where, line, label, key ? key : "",
             key ? ": " : "");
    verr(x, prefix, fmt, ap);
}

/* "FILE:LINE: [section] key: reason" for the current line; key NULL for a line problem. */
static void __attribute__((format(printf, 3, 4)))
line_err(struct ctx *x, const char *key, const char *fmt, ...)
{
    char label[128];
    va_list ap;

    section_label(x, label, sizeof(label));
    va_start(ap, fmt);
    vat(x, x->lineno, label, key, fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 4, 5)))
tenant_err(struct ctx *x, size_t t, int line, const char *fmt, ...)
{
    char label[128];
    va_list ap;

    snprintf(label, sizeof(label), "[tenant.%s] ", x->c->tenants[t].name);
    va_start(ap, fmt);
    vat(x, line, label, "key_sha256", fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
env_err(struct ctx *x, const char *name, const char *fmt, ...)
{
    char prefix[MAX_ERR_LINE];
    va_list ap;

    snprintf(prefix, sizeof(prefix), "env %.*s: ", MAX_ENV_NAME, name);
    va_start(ap, fmt);
    verr(x, prefix, fmt, ap);
    va_end(ap);
}

static void env_name(const struct key_def *d, char *out, size_t n)
{
    size_t i;

    snprintf(out, n, "SLUICE_%s_%s", d->section, d->key);
    for (i = 0; out[i]; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

/* Blame key i wherever its current value came from: env, a file line, or the default. */
static void __attribute__((format(printf, 3, 4)))
blame(struct ctx *x, size_t i, const char *fmt, ...)
{
    char prefix[MAX_ERR_LINE], name[MAX_ENV_NAME];
    const struct key_def *d = &keys[i];
    va_list ap;

    if (x->row_env[i]) {
        env_name(d, name, sizeof(name));
        snprintf(prefix, sizeof(prefix), "env %s: ", name);
    } else if (x->row_line[i]) {
        snprintf(prefix, sizeof(prefix), "%s:%d: [%s] %s: ", x->where, x->row_line[i],
                 d->section, d->key);
    } else {
        snprintf(prefix, sizeof(prefix), "%s: [%s] %s: ", x->where, d->section, d->key);
    }
    va_start(ap, fmt);
    verr(x, prefix, fmt, ap);
    va_end(ap);
}

/* v shortened to 40 bytes, non-printable bytes as '?': file and env text is untrusted. */
static const char *printable(const char *v, char out[64])
{
    size_t i, n = strlen(v);

    for (i = 0; i < n && i < 40; i++)
        out[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
    strcpy(out + i, n > 40 ? "..." : "");
    return out;
}

/* ": 'value'" to append to a reason, or "" for a secret key. */
static const char *show(const struct key_def *d, const char *v, char out[64])
{
    char p[64];

    if (d->flags & F_SECRET)
        return "";
    snprintf(out, 64, ": '%s'", printable(v, p));
    return out;
}

/* ---- scalar parsing ---- */

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 20)
        return false;
    for (i = 0; i < n; i++) {
        unsigned dgt = (unsigned)(s[i] - '0');
        if (dgt > 9 || v > (UINT64_MAX - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    *out = v;
    return true;
}

static void store_uint(void *p, size_t size, uint64_t v)
{
    if (size == sizeof(uint32_t)) {
        uint32_t v32 = (uint32_t)v;
        memcpy(p, &v32, sizeof(v32));
    } else {
        memcpy(p, &v, sizeof(v));
    }
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* ---- setters ---- */

static int set_int(const struct key_def *d, void *base, const char *v, char *why)
{
    char q[64];
    uint64_t n;

    if (*v == '\0') {
        snprintf(why, WHY_MAX, "missing value");
        return -EINVAL;
    }
    if (!parse_u64(v, strlen(v), &n)) {
        snprintf(why, WHY_MAX, "%s%s", strspn(v, "0123456789") == strlen(v) ? "too large"
                 : "not a decimal integer", show(d, v, q));
        return -EINVAL;
    }
    if (n < (uint64_t)d->min || n > (uint64_t)d->max) {
        snprintf(why, WHY_MAX, "%llu is out of range %lld..%lld", (unsigned long long)n,
                 (long long)d->min, (long long)d->max);
        return -EINVAL;
    }
    store_uint((char *)base + d->off, d->size, n);
    return 0;
}

/* Locale-free "digits[.digits]": strtod() would take hex, inf, nan and a ',' locale. */
static int set_double(const struct key_def *d, void *base, const char *v, char *why)
{
    const char *dot = strchr(v, '.');
    size_t ni = dot ? (size_t)(dot - v) : strlen(v), nf = dot ? strlen(dot + 1) : 0;
    uint64_t ip = 0, fp = 0;
    double val, scale = 1;
    char q[64];
    size_t i;

    if ((ni == 0 && nf == 0) || ni > 9 || nf > 9 || (ni && !parse_u64(v, ni, &ip)) ||
        (nf && !parse_u64(dot + 1, nf, &fp))) {
        snprintf(why, WHY_MAX, "not a decimal number%s", show(d, v, q));
        return -EINVAL;
    }
    for (i = 0; i < nf; i++)
        scale *= 10;
    val = (double)ip + (double)fp / scale;
    if (val < (double)d->min || val > (double)d->max) {
        snprintf(why, WHY_MAX, "%s is out of range %lld..%lld", v, (long long)d->min,
                 (long long)d->max);
        return -EINVAL;
    }
    memcpy((char *)base + d->off, &val, sizeof(val));
    return 0;
}

static int set_bool(const struct key_def *d, void *base, const char *v, char *why)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    bool val;
    char q[64];
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0)
            break;
    }
    if (i == 4) {
        snprintf(why, WHY_MAX, "expected true/false, yes/no, on/off or 1/0%s", show(d, v, q));
        return -EINVAL;
    }
    val = strcasecmp(v, yes[i]) == 0;
    memcpy((char *)base + d->off, &val, sizeof(val));
    return 0;
}

static int set_enum(const struct key_def *d, void *base, const char *v, char *why)
{
    const struct enum_name *e;
    char list[128] = "";
    char q[64];

    for (e = d->names; e->name; e++) {
        if (strcasecmp(v, e->name) == 0) {
            memcpy((char *)base + d->off, &e->value, sizeof(int));
            return 0;
        }
        if (strlen(list) + strlen(e->name) + 3 < sizeof(list)) {
            strcat(list, list[0] ? ", " : "");
            strcat(list, e->name);
        }
    }
    snprintf(why, WHY_MAX, "expected one of %s%s", list, show(d, v, q));
    return -EINVAL;
}

static int set_str(const struct key_def *d, void *base, const char *v, char *why)
{
    char **field = (char **)((char *)base + d->off);
    size_t n = strlen(v);
    char *copy = NULL;

    if (n == 0 && !(d->flags & F_OPTIONAL)) {
        snprintf(why, WHY_MAX, "must not be empty");
        return -EINVAL;
    }
    if (n > (size_t)d->max) {
        snprintf(why, WHY_MAX, "too long: %zu bytes (max %lld)", n, (long long)d->max);
        return -EINVAL;
    }
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        snprintf(why, WHY_MAX, "quotes are not removed: write the value without them");
        return -EINVAL;
    }
    if (n > 0 && d->check && d->check(v, &n, why) < 0)
        return -EINVAL;
    if (n > 0 && !(copy = strndup(v, n)))
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static int set_workers(const struct key_def *d, void *base, const char *v, char *why)
{
    bool is_auto = strcasecmp(v, "auto") == 0;
    unsigned *w = (unsigned *)((char *)base + d->off);
    uint64_t n;
    long cpus;
    char q[64];

    if (is_auto) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        *w = cpus < 1 ? 1 : cpus > d->max ? (unsigned)d->max : (unsigned)cpus;
    } else if (!parse_u64(v, strlen(v), &n)) {
        snprintf(why, WHY_MAX, "expected auto or a number %lld..%lld%s", (long long)d->min,
                 (long long)d->max, show(d, v, q));
        return -EINVAL;
    } else if (set_int(d, base, v, why) < 0) {
        return -EINVAL;
    }
    memcpy((char *)base + d->off2, &is_auto, sizeof(is_auto));
    return 0;
}

/* Split a comma-separated list into trimmed items; empty items are an error. */
static int split_list(const char *v, struct item *items, size_t max, size_t *n, char *why)
{
    const char *p = v, *end;
    size_t k = 0;

    *n = 0;
    if (*v == '\0')
        return 0;
    for (;;) {
        end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        while (p < end && is_blank(*p))
            p++;
        while (end > p && is_blank(end[-1]))
            end--;
        if (end == p) {
            snprintf(why, WHY_MAX, "empty item %zu in the list", k + 1);
            return -EINVAL;
        }
        if (k == max) {
            snprintf(why, WHY_MAX, "too many items (max %zu)", max);
            return -EINVAL;
        }
        items[k].s = p;
        items[k++].n = (size_t)(end - p);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    *n = k;
    return 0;
}

static bool items_dup(const struct item *items, size_t k)
{
    size_t j;

    for (j = 0; j < k; j++)
        if (items[j].n == items[k].n && memcmp(items[j].s, items[k].s, items[k].n) == 0)
            return true;
    return false;
}

static int parse_listen(const char *s, struct sl_listen_spec *out, char *why);

static int set_listens(const struct key_def *d, void *base, const char *v, char *why)
{
    struct sl_listen_spec tmp[SL_MAX_LISTEN];
    struct item items[SL_MAX_LISTEN];
    char one[512], reason[WHY_MAX], q[64];
    size_t n, k;

    if (split_list(v, items, SL_MAX_LISTEN, &n, why) < 0)
        return -EINVAL;
    if (n == 0) {
        snprintf(why, WHY_MAX, "at least one address is needed");
        return -EINVAL;
    }
    for (k = 0; k < n; k++) {
        snprintf(one, sizeof(one), "%.*s", (int)items[k].n, items[k].s);
        if (parse_listen(one, &tmp[k], reason) < 0) {
            snprintf(why, WHY_MAX, "'%s': %.150s", printable(one, q), reason);
            return -EINVAL;
        }
        if (items_dup(items, k)) {
            snprintf(why, WHY_MAX, "'%s' is listed twice", printable(one, q));
            return -EINVAL;
        }
    }
    memcpy((char *)base + d->off, tmp, n * sizeof(tmp[0]));
    memcpy((char *)base + d->off2, &n, sizeof(n));
    return 0;
}

static int set_listen_opt(const struct key_def *d, void *base, const char *v, char *why)
{
    struct sl_listen_spec l;
    char reason[WHY_MAX], q[64];
    bool has = *v != '\0';

    memset(&l, 0, sizeof(l));
    if (has && parse_listen(v, &l, reason) < 0) {
        snprintf(why, WHY_MAX, "'%s': %.150s", printable(v, q), reason);
        return -EINVAL;
    }
    memcpy((char *)base + d->off, &l, sizeof(l));
    memcpy((char *)base + d->off2, &has, sizeof(has));
    return 0;
}

static int set_models(const struct key_def *d, void *base, const char *v, char *why)
{
    char **field = (char **)((char *)base + d->off), *tmp[SL_MAX_MODELS];
    struct item items[SL_MAX_MODELS];
    char reason[WHY_MAX], q[64];
    size_t n, k, len;

    if (split_list(v, items, SL_MAX_MODELS, &n, why) < 0)
        return -EINVAL;
    for (k = 0; k < n; k++) {
        char one[256];
        len = items[k].n;
        snprintf(one, sizeof(one), "%.*s", (int)len, items[k].s);
        if (len > 128 || check_model(one, &len, reason) < 0) {
            snprintf(why, WHY_MAX, "model %zu: %.150s", k + 1, len > 128 ? "too long" : reason);
            return -EINVAL;
        }
        if (items_dup(items, k)) {
            snprintf(why, WHY_MAX, "'%s' is listed twice", printable(one, q));
            return -EINVAL;
        }
    }
    for (k = 0; k < n; k++) {
        if (!(tmp[k] = strndup(items[k].s, items[k].n))) {
            while (k > 0)
                free(tmp[--k]);
            return -ENOMEM;
        }
    }
    memcpy(&len, (char *)base + d->off2, sizeof(len));
    for (k = 0; k < len; k++)
        free(field[k]);
    memcpy(field, tmp, n * sizeof(tmp[0]));
    memcpy((char *)base + d->off2, &n, sizeof(n));
    return 0;
}

static int set_statuses(const struct key_def *d, void *base, const char *v, char *why)
{
    bool tmp[600] = { false };
    struct item items[MAX_LIST_ITEMS];
    uint64_t st;
    size_t n, k;

    if (split_list(v, items, MAX_LIST_ITEMS, &n, why) < 0)
        return -EINVAL;
    for (k = 0; k < n; k++) {
        if (!parse_u64(items[k].s, items[k].n, &st) || st < (uint64_t)d->min ||
            st > (uint64_t)d->max) {
            snprintf(why, WHY_MAX, "'%.*s' is not a status %lld..%lld",
                     (int)(items[k].n < 64 ? items[k].n : 64), items[k].s, (long long)d->min,
                     (long long)d->max);
            return -EINVAL;
        }
        if (tmp[st]) {
            snprintf(why, WHY_MAX, "%llu is listed twice", (unsigned long long)st);
            return -EINVAL;
        }
        tmp[st] = true;
    }
    memcpy((char *)base + d->off, tmp, sizeof(tmp));
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int parse_hex32(const char *v, unsigned char out[32], char *why)
{
    size_t i, n = strlen(v);

    if (n != 64) {
        snprintf(why, WHY_MAX, "expected 64 hex digits (a SHA-256), got %zu characters", n);
        return -EINVAL;
    }
    for (i = 0; i < 32; i++) {
        int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(why, WHY_MAX, "expected 64 hex digits (a SHA-256), found a non-hex one");
            return -EINVAL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static int set_hex32(const struct key_def *d, void *base, const char *v, char *why)
{
    unsigned char h[32] = { 0 };
    bool has = *v != '\0';

    if (has && parse_hex32(v, h, why) < 0)
        return -EINVAL;
    memcpy((char *)base + d->off, h, sizeof(h));
    memcpy((char *)base + d->off2, &has, sizeof(has));
    return 0;
}

/* Appends one more key to a tenant: key_sha256 is the one repeatable key. */
static int set_tenant_key(const struct key_def *d, void *base, const char *v, char *why)
{
    struct sl_tenant_conf *t = base;
    unsigned char h[32];
    size_t i;

    (void)d;
    if (parse_hex32(v, h, why) < 0)
        return -EINVAL;
    for (i = 0; i < t->nkeys; i++) {
        if (memcmp(t->key_sha256[i], h, sizeof(h)) == 0) {
            snprintf(why, WHY_MAX, "the same key is listed twice");
            return -EINVAL;
        }
    }
    if (t->nkeys == SL_MAX_TENANT_KEYS) {
        snprintf(why, WHY_MAX, "too many keys (max %d per tenant)", SL_MAX_TENANT_KEYS);
        return -EINVAL;
    }
    memcpy(t->key_sha256[t->nkeys++], h, sizeof(h));
    return 0;
}

/* ---- string checks ---- */

static bool visible_ascii(const char *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return false;
    return true;
}

/* base_url.  Never quotes v: user-info in it could be a password. */
static int check_url(const char *v, size_t *n, char *why)
{
    size_t skip = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;

    if (!skip) {
        snprintf(why, WHY_MAX, "must start with http:// or https://");
        return -EINVAL;
    }
    if (!visible_ascii(v, *n)) {
        snprintf(why, WHY_MAX, "must not contain spaces or non-ASCII characters");
        return -EINVAL;
    }
    /* The gateway appends "/chat/completions"; ".../v1/" would give "//". */
    while (*n > skip && v[*n - 1] == '/')
        (*n)--;
    if (*n == skip || v[skip] == '/') {
        snprintf(why, WHY_MAX, "has no host name");
        return -EINVAL;
    }
    /* "http://localhost:1@example.com" goes to example.com, whatever it looks like. */
    if (memchr(v + skip, '@', strcspn(v + skip, "/?#")) != NULL) {
        snprintf(why, WHY_MAX, "must not contain user-info (an '@' before the path): the key "
                 "comes from api_key_env or api_key_file");
        return -EINVAL;
    }
    /* The key travels in a header: only TLS may carry it off this host. */
    if (skip == 7 && !sl_secret_url_is_local(v)) {
        snprintf(why, WHY_MAX, "must be https:// unless the host is local (localhost, "
                 "127.0.0.0/8, [::1]): the API key would travel in cleartext");
        return -EINVAL;
    }
    return 0;
}

static int check_env_name(const char *v, size_t *n, char *why)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (!(isalpha(ch) || ch == '_' || (i > 0 && isdigit(ch)))) {
            snprintf(why, WHY_MAX, "not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
            return -EINVAL;
        }
    }
    return 0;
}

static int check_model(const char *v, size_t *n, char *why)
{
    if (!visible_ascii(v, *n) || memchr(v, ',', *n)) {
        snprintf(why, WHY_MAX, "a model name is printable ASCII without spaces or commas");
        return -EINVAL;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (avail bytes left), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t i, len = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3
                  : (*s & 0xf8) == 0xf0 ? 4 : 0;
    uint32_t cp;

    if (len == 0 || len > avail)
        return 0;
    cp = len == 1 ? *s : *s & (0x7fu >> len);
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The prompt goes into JSON bodies, and jansson refuses invalid UTF-8 at request time. */
static int check_text(const char *v, size_t *n, char *why)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i = 0, len;

    while (i < *n) {
        if ((len = utf8_seq(s + i, *n - i)) == 0) {
            snprintf(why, WHY_MAX, "not valid UTF-8 (at byte %zu)", i + 1);
            return -EINVAL;
        }
        i += len;
    }
    return 0;
}

static int check_token(const char *v, size_t *n, char *why)
{
    if (!visible_ascii(v, *n)) {
        snprintf(why, WHY_MAX, "must be printable ASCII without spaces");
        return -EINVAL;
    }
    return 0;
}

/* redis://[[user]:password@]host[:port][/db].  Never quotes v: it may carry a password. */
static int check_redis_url(const char *v, size_t *n, char *why)
{
    struct sl_redis_target t;
    char reason[128];

    if (!visible_ascii(v, *n) || sl_redis_parse_url(v, &t, reason, sizeof(reason)) < 0) {
        snprintf(why, WHY_MAX, "must be redis://[[user]:password@]host[:port][/db]%s%s",
                 visible_ascii(v, *n) ? ": " : "", visible_ascii(v, *n) ? reason : "");
        explicit_bzero(&t, sizeof(t));
        return -EINVAL;
    }
    explicit_bzero(&t, sizeof(t));
    return 0;
}

/* The prefix goes in front of every key; a brace would move Redis Cluster's hash tag. */
static int check_key_prefix(const char *v, size_t *n, char *why)
{
    if (check_token(v, n, why) < 0)
        return -EINVAL;
    if (memchr(v, '{', *n) || memchr(v, '}', *n)) {
        snprintf(why, WHY_MAX, "must not contain { or }");
        return -EINVAL;
    }
    return 0;
}

/* ---- listen addresses ---- */

static bool valid_hostname(const char *h, size_t n)
{
    size_t i, label = 0;
    bool dotted_digits = true;
    char tmp[256];
    unsigned char addr[4];

    if (n == 0 || n > 253)
        return false;
    for (i = 0; i < n; i++) {
        if (h[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == '_') || ++label > 63)
            return false;
        if (!isdigit((unsigned char)h[i]))
            dotted_digits = false;
    }
    if (label == 0)
        return false;
    if (!dotted_digits)
        return true;
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET, tmp, addr) == 1;
}

static int parse_listen(const char *s, struct sl_listen_spec *out, char *why)
{
    struct sl_listen_spec l;
    const char *host, *colon;
    unsigned char addr[16];
    size_t hn;
    uint64_t port;

    memset(&l, 0, sizeof(l));
    if (strncmp(s, "unix:", 5) == 0) {
        hn = strlen(s + 5);
        if (hn == 0 || hn >= sizeof(l.path) || has_ctl(s + 5)) {
            snprintf(why, WHY_MAX, "unix socket path must be 1..%zu bytes", sizeof(l.path) - 1);
            return -EINVAL;
        }
        l.kind = SL_LISTEN_UNIX;
        memcpy(l.path, s + 5, hn + 1);
        *out = l;
        return 0;
    }
    if (s[0] == '[') {
        host = s + 1;
        colon = strchr(host, ']');
        if (!colon || colon[1] != ':') {
            snprintf(why, WHY_MAX, "expected [IPv6]:port");
            return -EINVAL;
        }
        hn = (size_t)(colon - host);
        colon++;
        if (hn > 0 && hn < 64)
            memcpy(l.host, host, hn);
        if (hn == 0 || hn >= 64 || inet_pton(AF_INET6, l.host, addr) != 1) {
            snprintf(why, WHY_MAX, "invalid IPv6 address");
            return -EINVAL;
        }
    } else {
        host = s;
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(why, WHY_MAX, "missing :port (host:port, [v6]:port or unix:/path)");
            return -EINVAL;
        }
        hn = (size_t)(colon - host);
        if (memchr(host, ':', hn)) {
            snprintf(why, WHY_MAX, "an IPv6 address needs brackets: [addr]:port");
            return -EINVAL;
        }
        if (hn == 0) {
            snprintf(why, WHY_MAX, "missing host before :port");
            return -EINVAL;
        }
        if (!valid_hostname(host, hn)) {
            snprintf(why, WHY_MAX, "invalid host name or IPv4 address");
            return -EINVAL;
        }
        memcpy(l.host, host, hn);
    }
    if (!parse_u64(colon + 1, strlen(colon + 1), &port) || port < 1 || port > 65535) {
        snprintf(why, WHY_MAX, "port must be 1..65535");
        return -EINVAL;
    }
    l.kind = SL_LISTEN_TCP;
    l.port = (uint16_t)port;
    *out = l;
    return 0;
}

int sl_config_parse_listen(const char *s, struct sl_listen_spec *out)
{
    char why[WHY_MAX];

    if (!s || !out)
        return -EINVAL;
    return parse_listen(s, out, why);
}

/* ---- key dispatch (shared by file and environment) ---- */

static const struct key_def *find_key(const struct key_def *t, size_t n, const char *section,
                                      const char *key, size_t *idx)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((!section || strcmp(t[i].section, section) == 0) && strcmp(t[i].key, key) == 0) {
            *idx = i;
            return &t[i];
        }
    }
    return NULL;
}

/* Run d's setter; on refusal report it at the file line or, with env set, the variable. */
static int apply(struct ctx *x, const struct key_def *d, void *base, const char *v,
                 const char *env)
{
    char why[WHY_MAX] = "invalid value";
    int r;

    if (has_ctl(v)) {
        snprintf(why, WHY_MAX, "control characters are not allowed");
        r = -EINVAL;
    } else {
        r = d->set(d, base, v, why);
    }
    if (r == -ENOMEM)
        x->oom = true;
    else if (r < 0 && env)
        env_err(x, env, "%s", why);
    else if (r < 0)
        line_err(x, d->key, "%s", why);
    return r;
}

static void main_key(struct ctx *x, const char *name, const char *v)
{
    const struct key_def *d;
    size_t i;

    d = find_key(keys, NKEYS, sections[x->sec], name, &i);
    if (!d) {
        line_err(x, name, "unknown key");
        return;
    }
    if (x->row_line[i]) {
        line_err(x, name, "duplicate key (first set at line %d)", x->row_line[i]);
        return;
    }
    x->row_line[i] = x->lineno;
    if (apply(x, d, x->c, v, NULL) < 0)
        x->row_bad[i] = true;
}

static void tenant_key(struct ctx *x, const char *name, const char *v)
{
    struct sl_tenant_conf *t = &x->c->tenants[x->tenant];
    struct tenant_track *tr = &x->track[x->tenant];
    const struct key_def *d;
    size_t i;

    d = find_key(tenant_keys, NTKEYS, NULL, name, &i);
    if (!d) {
        line_err(x, name, "unknown key (a tenant takes key_sha256, rpm, tpm, token_budget, "
                 "budget_period)");
        return;
    }
    if (i != TK_KEYS && tr->seen[i]) {
        line_err(x, name, "duplicate key (first set at line %d)", tr->seen[i]);
        return;
    }
    tr->seen[i] = x->lineno;
    if ((d->flags & F_OPTIONAL) && *v == '\0')
        return;                       /* left unset: inherits [limits] */
    if (apply(x, d, t, v, NULL) < 0)
        return;
    tr->set[i] = true;
    if (i == TK_KEYS)
        tr->key_line[t->nkeys - 1] = x->lineno;
}

static int add_tenant(struct ctx *x, const char *name)
{
    struct sl_config *c = x->c;
    struct sl_tenant_conf *t;
    struct tenant_track *tr;

    t = realloc(c->tenants, (c->ntenants + 1) * sizeof(*t));
    if (!t)
        return -ENOMEM;
    c->tenants = t;
    tr = realloc(x->track, (c->ntenants + 1) * sizeof(*tr));
    if (!tr)
        return -ENOMEM;
    x->track = tr;
    t += c->ntenants;
    tr += c->ntenants;
    memset(t, 0, sizeof(*t));
    memset(tr, 0, sizeof(*tr));
    strcpy(t->name, name);
    tr->header_line = x->lineno;
    x->tenant = c->ntenants++;
    x->sec = SEC_TENANT;
    return 0;
}

static void open_tenant(struct ctx *x, const char *name)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    struct sl_config *c = x->c;
    size_t i, n = strlen(name);
    char q[64];

    if (n == 0 || n > 63 || strspn(name, ok) != n) {
        line_err(x, NULL, "[tenant.%s]: a tenant name is 1-63 characters of A-Z a-z 0-9 _ . -",
                 printable(name, q));
        return;
    }
    for (i = 0; i < c->ntenants; i++) {
        if (strcmp(c->tenants[i].name, name) == 0) {
            line_err(x, NULL, "[tenant.%s]: duplicate tenant (first at line %d)", name,
                     x->track[i].header_line);
            return;
        }
    }
    if (c->ntenants == SL_CONFIG_MAX_TENANTS) {
        line_err(x, NULL, "[tenant.%s]: too many tenants (max %d)", name, SL_CONFIG_MAX_TENANTS);
        return;
    }
    if (add_tenant(x, name) < 0)
        x->oom = true;
}

/* ---- lexing: our reader hands inih one line at a time ---- */

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* inih's own rule: the first of chars, or a ';' that follows whitespace (inline comment). */
static char *find_sep(char *s, const char *chars)
{
    bool was_space = false;

    while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

static void lex_section(struct ctx *x, char *s)
{
    char *rb = strchr(s, ']'), *name, *rest, q[64];
    size_t i;

    x->sec = SEC_SKIP;                /* keys under a bad header are not reported one by one */
    if (!rb) {
        line_err(x, NULL, "missing ']' in section header");
        return;
    }
    *rb = '\0';
    for (rest = rb + 1; isspace((unsigned char)*rest); rest++)
        ;
    if (*rest && *rest != ';' && *rest != '#') {
        line_err(x, NULL, "unexpected text after ']'");
        return;
    }
    name = trim(s + 1);
    if (strncmp(name, "tenant.", 7) == 0) {
        open_tenant(x, name + 7);
        return;
    }
    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strcmp(name, sections[i]) == 0) {
            x->sec = (int)i;
            return;
        }
    }
    line_err(x, NULL, "[%s]: unknown section%s", printable(name, q),
             strcmp(name, "tenant") == 0 ? " (tenants are [tenant.NAME])" : "");
}

static void lex_key(struct ctx *x, char *s, char *out, size_t cap)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
    char *sep = find_sep(s, "=:"), *v;
    size_t nn, len = strlen(s);

    if (*sep != '=' && *sep != ':') {
        line_err(x, NULL, "expected 'key = value'");
        return;
    }
    for (nn = (size_t)(sep - s); nn > 0 && isspace((unsigned char)s[nn - 1]); nn--)
        ;
    if (nn == 0 || nn > MAX_KEY_NAME || strspn(s, ok) < nn) {
        line_err(x, NULL, "invalid key name");
        return;
    }
    if (len + 3 <= cap) {             /* inih: "3 more than the longest line" */
        memcpy(out, s, len);
        memcpy(out + len, "\n", 2);
        return;
    }
    /* inih would cut this line at cap bytes: split it the way inih does, keep the value. */
    v = sep + 1;
    *find_sep(v, NULL) = '\0';
    free(x->long_value);
    if (!(x->long_value = strdup(trim(v)))) {
        x->oom = true;
        return;
    }
    x->long_line = x->lineno;
    snprintf(out, cap, "%.*s=" LONG_MARK "\n", (int)nn, s);
}

/* Every line reaches inih left-trimmed (so it never sees a multi-line continuation), or as
 * "\n" when we dealt with it here: comments, section headers and lines in error. */
static void lex_line(struct ctx *x, char *s, size_t n, char *out, size_t cap)
{
    memcpy(out, "\n", 2);
    if (n > 0 && s[n - 1] == '\r')
        s[--n] = '\0';
    if (strlen(s) != n) {
        line_err(x, NULL, "NUL byte in line");
        return;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0' || *s == ';' || *s == '#')
        return;
    if (*s == '[')
        lex_section(x, s);
    else
        lex_key(x, s, out, cap);
}

static char *read_line(char *out, int num, void *stream)
{
    struct ctx *x = stream;
    char *s, *nl;
    size_t n;

    if (x->pos >= x->len || num < MAX_KEY_NAME + 4)
        return NULL;
    s = x->buf + x->pos;
    nl = memchr(s, '\n', x->len - x->pos);
    n = nl ? (size_t)(nl - s) : x->len - x->pos;
    x->pos += n + 1;
    s[n] = '\0';                      /* buf[len] exists and is already NUL */
    x->lineno++;
    lex_line(x, s, n, out, (size_t)num);
    return out;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct ctx *x = user;

    (void)section;                    /* inih cuts section names at 49 bytes: we track our own */
    if (x->long_line == x->lineno && strcmp(value, LONG_MARK) == 0)
        value = x->long_value;
    if (x->sec == SEC_NONE)
        line_err(x, name, "key outside of any [section]");
    else if (x->sec == SEC_TENANT)
        tenant_key(x, name, value);
    else if (x->sec >= 0)
        main_key(x, name, value);
    return 1;
}

static int read_file(struct ctx *x, const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n;
    int r = 0;

    if (!f) {
        r = -errno;
        file_err(x, "cannot open: %s", strerror(-r));
        return r;
    }
    if (!(x->buf = malloc(MAX_FILE_BYTES + 1))) {
        fclose(f);
        return -ENOMEM;
    }
    n = fread(x->buf, 1, MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        r = errno ? -errno : -EIO;
        file_err(x, "cannot read: %s", strerror(-r));
    } else if (n > MAX_FILE_BYTES) {
        r = -EINVAL;
        file_err(x, "larger than %d bytes", MAX_FILE_BYTES);
    } else {
        x->buf[n] = '\0';
        x->len = n;
    }
    fclose(f);
    return r;
}

static void parse_file(struct ctx *x)
{
    int r;

    if (x->len >= 3 && memcmp(x->buf, "\xef\xbb\xbf", 3) == 0)
        x->pos = 3;
    r = ini_parse_stream(read_line, x, on_key, x);
    if (r == -2)
        x->oom = true;
    else if (r != 0)                  /* the lexer hands inih only lines it accepts */
        file_err(x, "line %d: not understood", r);
    else if (x->pos < x->len)
        file_err(x, "inih line buffer too small, stopped at line %d", x->lineno);
}

/* ---- environment ---- */

static void env_one(struct ctx *x, const char *var)
{
    const char *eq = strchr(var, '='), *word;
    char name[MAX_ENV_NAME], want[MAX_ENV_NAME];
    size_t i, n;

    if (!eq)
        return;
    n = (size_t)(eq - var);
    snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), var);
    for (i = 0; i < NKEYS && n < sizeof(name); i++) {
        env_name(&keys[i], want, sizeof(want));
        if (strcmp(want, name) != 0)
            continue;
        if (!x->row_env[i]) {         /* as getenv(): the first of two entries counts */
            x->row_env[i] = true;
            if (apply(x, &keys[i], x->c, eq + 1, name) < 0)
                x->row_bad[i] = true;
        }
        return;
    }
    word = name + strlen("SLUICE_");
    if (strncasecmp(word, "TENANT_", 7) == 0) {
        env_err(x, name, "tenant sections have no environment override");
        return;
    }
    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        n = strlen(sections[i]);
        if (strncasecmp(word, sections[i], n) == 0 && word[n] == '_') {
            env_err(x, name, "unknown setting: [%s] has no such key", sections[i]);
            return;
        }
    }
}

static void apply_env(struct ctx *x, char *const envp[])
{
    size_t i;

    for (i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], "SLUICE_", 7) == 0)
            env_one(x, envp[i]);
}

/* ---- cross-checks, once file and environment are in ---- */

static size_t row_of(const char *section, const char *key)
{
    size_t i = 0;

    find_key(keys, NKEYS, section, key, &i);
    return i;
}

static bool is_set(const struct ctx *x, size_t i)
{
    return x->row_line[i] || x->row_env[i];
}

static void check_order(struct ctx *x, const char *sec, const char *lo_key, const char *hi_key)
{
    size_t lo = row_of(sec, lo_key), hi = row_of(sec, hi_key);
    uint64_t a, b;

    memcpy(&a, (char *)x->c + keys[lo].off, sizeof(a));
    memcpy(&b, (char *)x->c + keys[hi].off, sizeof(b));
    if (!x->row_bad[lo] && !x->row_bad[hi] && a > b)
        blame(x, is_set(x, lo) ? lo : hi, "%s (%llu) must not exceed %s (%llu)", lo_key,
              (unsigned long long)a, hi_key, (unsigned long long)b);
}

/* An empty allowed_models means "just model"; otherwise model must be one of them. */
static int resolve_models(struct sl_config *c)
{
    if (c->nallowed_models > 0 || !c->model)
        return 0;
    if (!(c->allowed_models[0] = strdup(c->model)))
        return -ENOMEM;
    c->nallowed_models = 1;
    return 0;
}

static void check_models(struct ctx *x)
{
    struct sl_config *c = x->c;
    size_t m = row_of("upstream", "model"), a = row_of("upstream", "allowed_models"), i;

    if (x->row_bad[m] || x->row_bad[a])
        return;
    for (i = 0; i < c->nallowed_models; i++)
        if (strcmp(c->allowed_models[i], c->model) == 0)
            return;
    blame(x, is_set(x, a) ? a : m, "model '%s' is not in allowed_models", c->model);
}

static bool same_listen(const struct sl_listen_spec *a, const struct sl_listen_spec *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == SL_LISTEN_UNIX)
        return strcmp(a->path, b->path) == 0;
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static void check_metrics_listen(struct ctx *x)
{
    struct sl_config *c = x->c;
    size_t i;

    if (!c->has_metrics_listen)
        return;
    for (i = 0; i < c->nlisten; i++) {
        if (same_listen(&c->metrics_listen, &c->listen[i])) {
            blame(x, row_of("metrics", "listen"), "same address as [server] listen");
            return;
        }
    }
}

struct key_ref {
    const unsigned char *h;
    size_t owner;                     /* 0 = [admin], t + 1 = tenant t */
    size_t k;
};

static int cmp_key_ref(const void *pa, const void *pb)
{
    const struct key_ref *a = pa, *b = pb;
    int r = memcmp(a->h, b->h, 32);

    if (r)
        return r;
    return a->owner != b->owner ? (a->owner < b->owner ? -1 : 1) : 0;
}

/* One key must name one tenant, and no tenant key may open the admin API. */
static void check_keys_unique(struct ctx *x)
{
    struct sl_config *c = x->c;
    struct key_ref *refs;
    size_t n = c->has_admin_key, t, k;

    for (t = 0; t < c->ntenants; t++)
        n += c->tenants[t].nkeys;
    if (n < 2)
        return;
    if (!(refs = calloc(n, sizeof(*refs)))) {
        x->oom = true;
        return;
    }
    n = 0;
    if (c->has_admin_key)
        refs[n++] = (struct key_ref){ c->admin_key_sha256, 0, 0 };
    for (t = 0; t < c->ntenants; t++)
        for (k = 0; k < c->tenants[t].nkeys; k++)
            refs[n++] = (struct key_ref){ c->tenants[t].key_sha256[k], t + 1, k };
    qsort(refs, n, sizeof(*refs), cmp_key_ref);
    for (k = 1; k < n; k++) {
        if (memcmp(refs[k].h, refs[k - 1].h, 32) != 0)
            continue;
        t = refs[k].owner - 1;
        if (refs[k - 1].owner == 0)
            tenant_err(x, t, x->track[t].key_line[refs[k].k], "same key as [admin] key_sha256");
        else
            tenant_err(x, t, x->track[t].key_line[refs[k].k], "same key as [tenant.%s]",
                       c->tenants[refs[k - 1].owner - 1].name);
    }
    free(refs);
}

/* Unset tenant limits take the [limits] value, whatever the environment made of it. */
static void inherit_limits(struct ctx *x)
{
    struct sl_config *c = x->c;
    size_t t, i, rel;

    for (t = 0; t < c->ntenants; t++) {
        for (i = 0; i < NTKEYS; i++) {
            if (i == TK_KEYS || x->track[t].set[i])
                continue;
            rel = tenant_keys[i].off - offsetof(struct sl_tenant_conf, limits);
            memcpy((char *)&c->tenants[t] + tenant_keys[i].off, (char *)&c->limits + rel,
                   tenant_keys[i].size);
        }
    }
}

static void cross_check(struct ctx *x)
{
    check_order(x, "upstream", "attempt_timeout_ms", "request_timeout_ms");
    check_order(x, "upstream", "backoff_base_ms", "backoff_max_ms");
    if (resolve_models(x->c) < 0)
        x->oom = true;
    check_models(x);
    check_metrics_listen(x);
    check_keys_unique(x);
    inherit_limits(x);
}

/* ---- public ---- */

static struct sl_config *config_defaults(void)
{
    struct sl_config *c = calloc(1, sizeof(*c));
    char why[WHY_MAX];
    size_t i;

    if (!c)
        return NULL;
    for (i = 0; i < NKEYS; i++) {
        if (keys[i].set(&keys[i], c, keys[i].def, why) < 0) {
            sl_config_free(c);        /* defaults are valid: only ENOMEM gets here */
            return NULL;
        }
    }
    return c;
}

struct sl_config *sl_config_new(void)
{
    struct sl_config *c = config_defaults();

    if (c && resolve_models(c) < 0) {
        sl_config_free(c);
        return NULL;
    }
    return c;
}

static int finish_load(struct ctx *x)
{
    char line[MAX_ERR_LINE];

    if (x->e.dropped) {
        snprintf(line, sizeof(line), "%s: %u more problems not shown", x->where, x->e.dropped);
        errbuf_put(x, line);
    }
    if (x->oom)
        return -ENOMEM;
    return x->e.n > 0 ? -EINVAL : 0;
}

int sl_config_load(const char *path, char *const envp[], struct sl_config **ret, char **errs)
{
    struct ctx x = { .where = path ? path : "(no file)", .sec = SEC_NONE };
    int r = 0;

    if (errs)
        *errs = NULL;
    if (!(x.c = config_defaults()))
        return -ENOMEM;
    if (path && !(x.c->path = strdup(path)))
        r = -ENOMEM;
    else if (path && (r = read_file(&x, path)) == 0)
        parse_file(&x);
    if (r == 0) {
        apply_env(&x, envp);
        cross_check(&x);
    }
    if (r == 0 || x.e.n > 0)
        r = r ? r : finish_load(&x);
    if (r == 0) {
        *ret = x.c;
        x.c = NULL;
    } else if (errs) {
        *errs = x.e.s;
        x.e.s = NULL;
    }
    free(x.e.s);
    free(x.buf);
    free(x.track);
    free(x.long_value);
    sl_config_free(x.c);
    return r;
}

void sl_config_free(struct sl_config *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; i < NKEYS; i++)
        if (keys[i].set == set_str)
            free(*(char **)((char *)c + keys[i].off));
    for (i = 0; i < c->nallowed_models; i++)
        free(c->allowed_models[i]);
    free(c->tenants);
    free(c->path);
    free(c);
}

const char *sl_period_name(enum sl_period p)
{
    const struct enum_name *e;

    for (e = period_names; e->name; e++)
        if (e->value == (int)p)
            return e->name;
    return "unknown";
}
