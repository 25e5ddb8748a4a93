/* SPDX-License-Identifier: MIT */
/* config.h - sluice.conf (INI, via inih) plus SLUICE_<SECTION>_<KEY> environment overrides,
 * parsed into one struct sl_config.  The master loads and validates it; afterwards it is
 * immutable, so workers inherit it across fork() and a reload swaps in a whole new one.
 * Pure module: no event loop, never logs; problems come back as text for the caller to print.
 * etc/sluice.conf documents every key, its default and its bounds. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guard_policy.h"

enum sl_listen_kind { SL_LISTEN_TCP, SL_LISTEN_UNIX };
struct sl_listen_spec { /* parsed "host:port", "[v6]:port", "unix:/path" */
    enum sl_listen_kind kind;
    char host[256]; /* TCP: literal or name, no brackets; "" never */
    uint16_t port;  /* TCP: 1..65535 (0 not allowed in the file) */
    char path[108]; /* UNIX: absolute or relative path */
};
enum sl_auth_mode { SL_AUTH_KEYS, SL_AUTH_NONE };
enum sl_period { SL_PERIOD_MINUTE, SL_PERIOD_HOUR, SL_PERIOD_DAY, SL_PERIOD_MONTH, SL_PERIOD_NONE };
enum sl_fail_mode { SL_FAIL_MODE_LOCAL, SL_FAIL_MODE_CLOSED };
enum sl_log_level { SL_LOG_ERR, SL_LOG_WARN, SL_LOG_NOTICE, SL_LOG_INFO, SL_LOG_DEBUG };
#define SL_MAX_LISTEN 8
#define SL_MAX_TENANT_KEYS 16
#define SL_MAX_MODELS 32
#define SL_CONFIG_MAX_TENANTS 1024 /* [tenant.NAME] sections in one file */
#define SL_MODEL_NAME_MAX 128      /* a model's name: 1-127 printable ASCII bytes, no ',' */
#define SL_CONFIG_MAX_MODELS 256   /* [model.NAME] sections, allowed_models and model */
#define SL_MODEL_LIST_MAX 1024     /* a tenant's models list, canonical "a,b" with its NUL */

/* rpm, tpm and token_budget are 0..10^15; 0 means unlimited (no limit, no budget). */
struct sl_limits {
    int64_t rpm, tpm, token_budget;
    enum sl_period budget_period;
};
struct sl_tenant_conf {
    char name[64]; /* [tenant.NAME]: 1-63 chars of [A-Za-z0-9_.-] */
    unsigned char key_sha256[SL_MAX_TENANT_KEYS][32]; /* decoded from 64 hex chars */
    size_t nkeys;                   /* 0 is allowed: keys may come from the admin API */
    struct sl_limits limits;        /* unset fields inherit [limits] after loading */
    char models[SL_MODEL_LIST_MAX]; /* models = a, b: canonical "a,b" (model_list.h); "" =
                                     * every configured model */
    char guard[SL_GUARD_NAME_MAX];  /* guard = NAME | none; "" = [guard], if there is one */
};

/* A model clients may name (SPEC §11): a [model.NAME] section, or a name of allowed_models
 * (and model) without one, which takes [upstream] max_tokens as its cap. */
struct sl_model_conf {
    char name[SL_MODEL_NAME_MAX];
    unsigned max_output_tokens; /* the cap filled in / enforced on every /v1 route */
    bool from_section;          /* a [model.NAME] section, not only allowed_models */
};
/* Optional strings are NULL when empty or unset.  Lists and counts are already validated:
 * no duplicates, no empty items, every key_sha256 unique across tenants and the admin key. */
struct sl_config {
    char *path; /* the file it was loaded from (owned), NULL if none */
    /* [server]; the "listen" value is a comma-separated list */
    struct sl_listen_spec listen[SL_MAX_LISTEN];
    size_t nlisten;
    unsigned workers;  /* "auto" resolved to the online CPU count at load, 1..512 */
    bool workers_auto; /* workers was "auto" (a reload may re-resolve it) */
    size_t max_body_bytes, max_header_bytes;
    uint64_t client_timeout_ms, shutdown_timeout_ms;
    uint64_t stream_ping_ms; /* extra key: SPEC §3.2's 15 s of silence, default 15000 */
    unsigned max_inflight;   /* per worker */
    /* [upstream] */
    char *base_url;                   /* http:// or https://, trailing '/' removed */
    char *api_key_env, *api_key_file; /* either may be NULL (= do not look there) */
    char *model;                      /* never NULL; always in allowed_models */
    char *system_prompt;              /* valid UTF-8; NULL = send no system message */
    unsigned max_tokens;
    double temperature;
    char *allowed_models[SL_MAX_MODELS];
    size_t nallowed_models;                          /* comma-separated list */
    uint64_t request_timeout_ms, attempt_timeout_ms; /* attempt <= request */
    uint64_t stream_timeout_ms; /* a stream's whole life once it began (extra key) */
    uint64_t stream_idle_ms;    /* a stream's longest silence after its first byte (§15) */
    unsigned max_attempts;
    uint64_t backoff_base_ms, backoff_max_ms; /* base <= max */
    bool retry_status[600];                   /* retry_statuses: comma-separated 100..599 */
    size_t max_response_bytes;                /* extra key, default 10485760 */
    /* [model.NAME] sections first (file order), then allowed_models and model without one */
    struct sl_model_conf *models;
    size_t nmodels;
    /* [v1] */ bool allow_background; /* background: true accepted (charged in full) */
    uint64_t response_ttl_s;          /* how long a response's owner is remembered */
    unsigned max_responses;           /* owners kept in shared memory (extra key) */
    /* [guard] (named SL_GUARD_DEFAULT) and [guard.NAME] sections, in file order */
    struct sl_guard_policy **guards;
    size_t nguards;
    /* [auth] */ enum sl_auth_mode auth_mode;
    /* [limits] */ struct sl_limits limits;
    unsigned message_overhead_tokens; /* reserved per chat message (SPEC §4), default 4 */
    unsigned image_tokens;            /* reserved per image part (SPEC §4), default 1000 */
    struct sl_tenant_conf *tenants;
    size_t ntenants; /* [tenant.NAME] sections */
    /* [breaker] */ unsigned failure_threshold;
    uint64_t open_ms;
    unsigned half_open_probes;
    /* [redis] */ char *redis_url, *redis_prefix;
    uint64_t redis_timeout_ms;
    enum sl_fail_mode fail_mode;
    double local_budget_share; /* of a tenant's budget, admitted locally while Redis
                                * is unreachable (fail_mode local), 0..1 */
    /* [admin] */ unsigned char admin_key_sha256[32];
    bool has_admin_key;
    /* [log] */ enum sl_log_level log_level;
    bool log_prompts;
    /* [metrics] */ struct sl_listen_spec metrics_listen;
    bool has_metrics_listen;
    /* [state] */ char *state_file; /* NULL or "" = none */
    /* Sizes of the shared-memory tables, fixed when the master starts (extra keys). */
    unsigned max_tenants, max_keys, max_reservations;
};

/* Defaults of SPEC §7 (listen 127.0.0.1:8080, workers auto, ...), the model table included
 * (gpt-4o-mini capped at 400).  NULL on OOM.  Changing allowed_models, model or max_tokens
 * afterwards does not change the table: load a file or an environment instead. */
struct sl_config *sl_config_new(void);
/* Parse the INI file at path over the defaults, then apply SLUICE_<SECTION>_<KEY> overrides
 * found in envp (NULL-terminated "NAME=value" strings, e.g. environ), then cross-check.
 * On success *ret = config, returns 0. On failure returns -EINVAL (or -ENOMEM / -errno for an
 * unreadable file) and, when errs != NULL, *errs = malloc'd text, one problem per line, every
 * line naming where: "FILE:LINE: [section] key: reason" for file problems,
 * "env SLUICE_SERVER_WORKERS: reason" for environment problems, "FILE: reason" for whole-file
 * ones. Report ALL problems found, not just the first. Caller frees *errs.
 * Details: *errs is NULL on success, and may be NULL after -ENOMEM.  path may be NULL
 * (defaults plus environment).
 * envp may be NULL.  Tenant and model sections have no environment override (SLUICE_TENANT_*
 * and SLUICE_MODEL_* are errors).  A SLUICE_ name whose next word is a known section
 * (SLUICE_SERVER_WORKRES) is an error; others (SLUICE_CONFIG) are ignored.  Values of secret
 * keys (redis url) never appear in *errs.  On success c->models is built (see struct
 * sl_config) and every tenant's models names only models of it. */
int sl_config_load(const char *path, char *const envp[], struct sl_config **ret, char **errs);
/* NULL-safe. */
void sl_config_free(struct sl_config *c);
/* The model clients call name, or NULL when it is not configured. */
const struct sl_model_conf *sl_config_model(const struct sl_config *c, const char *name);
/* The policy a tenant's guard setting names (SPEC §13): "" is [guard] (NULL when the file has
 * none), SL_GUARD_NONE is NULL, any other name its [guard.NAME].  *known is false when name is
 * none of these (the policy is then NULL). */
const struct sl_guard_policy *sl_config_guard(const struct sl_config *c, const char *name,
                                              bool *known);
/* Parse one listen value; exported for reuse and tests. 0 or -EINVAL. */
int sl_config_parse_listen(const char *s, struct sl_listen_spec *out);
/* "minute", "hour", "day", "month", "none"; "unknown" for anything else. */
const char *sl_period_name(enum sl_period p);
#endif /* SL_CONFIG_H */
