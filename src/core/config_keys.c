/* SPDX-License-Identifier: MIT */
/* config_keys.c - the table of keys: every section and key, its default, bounds and setter. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/config_int.h"

#include <stddef.h>

#define KIB 1024LL
#define MIB (1024LL * 1024)
#define MAX_PATH_LEN 4095
#define MAX_HOURS_MS 3600000LL
#define MAX_QUANTITY 1000000000000000LL
#define MAX_TTL_S 315360000LL /* ten years */

#define FSZ(type, f) sizeof(((type *)0)->f)
#define ROW(sec_, key_, set_, f_, lo_, hi_, def_, ...)                                             \
    {                                                                                              \
        .section = sec_, .key = key_, .set = set_, .off = offsetof(struct sl_config, f_),          \
        .size = FSZ(struct sl_config, f_), .min = lo_, .max = hi_, .def = def_, __VA_ARGS__        \
    }
#define MROW(key_, set_, f_, lo_, hi_, flags_)                                                     \
    {                                                                                              \
        .section = "model", .key = key_, .set = set_, .off = offsetof(struct sl_model_conf, f_),   \
        .size = FSZ(struct sl_model_conf, f_), .min = lo_, .max = hi_, .flags = flags_             \
    }
#define OFF2(f_) .off2 = offsetof(struct sl_config, f_)
#define TROW(key_, set_, f_, lo_, hi_, flags_, ...)                                                \
    {                                                                                              \
        .section = "tenant", .key = key_, .set = set_, .off = offsetof(struct sl_tenant_conf, f_), \
        .size = FSZ(struct sl_tenant_conf, f_), .min = lo_, .max = hi_, .flags = flags_,           \
        __VA_ARGS__                                                                                \
    }

static const struct enum_name auth_names[] = { { "keys", SL_AUTH_KEYS },
                                               { "none", SL_AUTH_NONE },
                                               { NULL, 0 } };
static const struct enum_name period_names[] = {
    { "minute", SL_PERIOD_MINUTE }, { "hour", SL_PERIOD_HOUR }, { "day", SL_PERIOD_DAY },
    { "month", SL_PERIOD_MONTH },   { "none", SL_PERIOD_NONE }, { NULL, 0 }
};
static const struct enum_name fail_names[] = { { "local", SL_FAIL_MODE_LOCAL },
                                               { "closed", SL_FAIL_MODE_CLOSED },
                                               { NULL, 0 } };
static const struct enum_name level_names[] = {
    { "err", SL_LOG_ERR },       { "error", SL_LOG_ERR },
    { "warn", SL_LOG_WARN },     { "warning", SL_LOG_WARN },
    { "notice", SL_LOG_NOTICE }, { "info", SL_LOG_INFO },
    { "debug", SL_LOG_DEBUG },   { NULL, 0 }
};

const char *const sections[] = {
    "server", "upstream", "v1",  "auth",    "limits", "breaker",
    "redis",  "admin",    "log", "metrics", "state",
};

/* SPEC §7 order; etc/sluice.conf follows this table line for line. */
const struct key_def keys[] = {
    ROW("server", "listen", set_listens, listen, 1, SL_MAX_LISTEN, "127.0.0.1:8080", OFF2(nlisten)),
    ROW("server", "workers", set_workers, workers, 1, 512, "auto", OFF2(workers_auto)),
    ROW("server", "max_body_bytes", set_int, max_body_bytes, KIB, 64 * MIB, "65536"),
    ROW("server", "max_header_bytes", set_int, max_header_bytes, KIB, MIB, "16384"),
    ROW("server", "client_timeout_ms", set_int, client_timeout_ms, 1, MAX_HOURS_MS, "30000"),
    ROW("server", "stream_ping_ms", set_int, stream_ping_ms, 100, MAX_HOURS_MS, "15000"),
    ROW("server", "shutdown_timeout_ms", set_int, shutdown_timeout_ms, 1, MAX_HOURS_MS, "30000"),
    ROW("server", "max_inflight", set_int, max_inflight, 1, 1000000, "4096"),

    ROW("upstream", "base_url", set_str, base_url, 1, 2048, "https://api.openai.com/v1",
        .check = check_url),
    ROW("upstream", "api_key_env", set_str, api_key_env, 1, 128, "OPENAI_API_KEY",
        .flags = F_OPTIONAL, .check = check_env_name),
    ROW("upstream", "api_key_file", set_str, api_key_file, 1, MAX_PATH_LEN, "",
        .flags = F_OPTIONAL),
    ROW("upstream", "model", set_str, model, 1, SL_MODEL_NAME_MAX - 1, "gpt-4o-mini",
        .check = check_model),
    ROW("upstream", "system_prompt", set_str, system_prompt, 1, 16384,
        "You are a concise and friendly assistant.", .flags = F_OPTIONAL, .check = check_text),
    ROW("upstream", "max_tokens", set_int, max_tokens, 1, 1000000, "400"),
    ROW("upstream", "temperature", set_double, temperature, 0, 2, "0.3"),
    ROW("upstream", "allowed_models", set_models, allowed_models, 0, SL_MAX_MODELS, "",
        OFF2(nallowed_models), .flags = F_OPTIONAL),
    ROW("upstream", "request_timeout_ms", set_int, request_timeout_ms, 1, MAX_HOURS_MS, "20000"),
    ROW("upstream", "attempt_timeout_ms", set_int, attempt_timeout_ms, 1, MAX_HOURS_MS, "18000"),
    ROW("upstream", "stream_timeout_ms", set_int, stream_timeout_ms, 1, 24 * MAX_HOURS_MS,
        "600000"),
    ROW("upstream", "stream_idle_ms", set_int, stream_idle_ms, 1, MAX_HOURS_MS, "120000"),
    ROW("upstream", "max_attempts", set_int, max_attempts, 1, 10, "3"),
    ROW("upstream", "backoff_base_ms", set_int, backoff_base_ms, 1, MAX_HOURS_MS, "300"),
    ROW("upstream", "backoff_max_ms", set_int, backoff_max_ms, 1, MAX_HOURS_MS, "8000"),
    ROW("upstream", "retry_statuses", set_statuses, retry_status, 100, 599,
        "408,409,429,500,502,503,504", .flags = F_OPTIONAL),
    ROW("upstream", "max_response_bytes", set_int, max_response_bytes, KIB, 1024 * MIB, "10485760"),

    ROW("v1", "allow_background", set_bool, allow_background, 0, 0, "false"),
    ROW("v1", "response_ttl_s", set_int, response_ttl_s, 60, MAX_TTL_S, "2592000"),
    ROW("v1", "max_responses", set_int, max_responses, KIB, 16 * MIB, "65536"),

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

    ROW("metrics", "listen", set_listen_opt, metrics_listen, 0, 0, "", OFF2(has_metrics_listen),
        .flags = F_OPTIONAL),

    ROW("state", "file", set_str, state_file, 1, MAX_PATH_LEN, "", .flags = F_OPTIONAL),
    ROW("state", "max_tenants", set_int, max_tenants, 1, 1000000, "4096"),
    ROW("state", "max_keys", set_int, max_keys, 1, 4000000, "16384"),
    ROW("state", "max_reservations", set_int, max_reservations, 64, 4000000, "65536"),
};

/* [tenant.NAME]: key_sha256 repeats; an empty limit inherits [limits]; an empty models list
 * allows every model; an empty guard is [guard]'s policy, if the file has one. */
const struct key_def tenant_keys[] = {
    TROW("key_sha256", set_tenant_key, key_sha256, 0, SL_MAX_TENANT_KEYS, 0,
         .off2 = offsetof(struct sl_tenant_conf, nkeys)),
    TROW("rpm", set_int, limits.rpm, 0, MAX_QUANTITY, F_OPTIONAL | F_INHERIT),
    TROW("tpm", set_int, limits.tpm, 0, MAX_QUANTITY, F_OPTIONAL | F_INHERIT),
    TROW("token_budget", set_int, limits.token_budget, 0, MAX_QUANTITY, F_OPTIONAL | F_INHERIT),
    TROW("budget_period", set_enum, limits.budget_period, 0, 0, F_OPTIONAL | F_INHERIT,
         .names = period_names),
    TROW("models", set_model_list, models, 0, SL_MODEL_LIST_MAX - 1, F_OPTIONAL),
    TROW("guard", set_guard_ref, guard, 0, SL_GUARD_NAME_MAX - 1, F_OPTIONAL),
};

/* [model.NAME]: an empty or missing max_output_tokens takes [upstream] max_tokens. */
const struct key_def model_keys[] = {
    MROW("max_output_tokens", set_int, max_output_tokens, 1, 1000000, F_OPTIONAL),
};

_Static_assert(sizeof(sections) / sizeof(sections[0]) == NSECTIONS, "NSECTIONS in config_int.h");
_Static_assert(sizeof(keys) / sizeof(keys[0]) == NKEYS, "NKEYS in config_int.h");
_Static_assert(sizeof(tenant_keys) / sizeof(tenant_keys[0]) == NTKEYS, "NTKEYS in config_int.h");
_Static_assert(sizeof(model_keys) / sizeof(model_keys[0]) == NMKEYS, "NMKEYS in config_int.h");
_Static_assert(sizeof(enum sl_period) == sizeof(int), "enums are stored as int");

const char *sl_period_name(enum sl_period p)
{
    const struct enum_name *e;

    for (e = period_names; e->name; e++)
        if (e->value == (int)p)
            return e->name;
    return "unknown";
}
