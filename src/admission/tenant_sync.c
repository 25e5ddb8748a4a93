/* SPDX-License-Identifier: MIT */
/* tenant_sync.c - the tenant table between Redis and this host's shared memory. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admission/tenant_sync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/model_list.h"
#include "core/quota.h"
#include "admission/redis.h"
#include "admission/redis_scripts.h"
#include "admission/tenants.h"

#define POLL_MS 500
#define LIMIT_MAX 1000000000000000LL /* 10^15, as the configuration allows */

struct sl_tenant_sync {
    const struct sl_config *cfg;
    struct sl_tenants *t;
    struct sl_redis *rd;
    struct sl_metrics *m;
    struct event *poll;
    bool polling; /* a GET or a dump is in flight */
    char k_tenants[SL_REDIS_KEY_MAX], k_keys[SL_REDIS_KEY_MAX], k_version[SL_REDIS_KEY_MAX];
};

/* One admin write or refresh: the script's status, then the copy, then the caller. */
struct write_ctx {
    struct sl_tenant_sync *s;
    sl_tenant_sync_cb cb;
    void *arg;
    char status[16];
};

/* ---- reading the table ---- */

static bool name_ok(const char *s, size_t n)
{
    return n >= 1 && n <= 63 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool limit_of(json_t *o, const char *field, int64_t *out)
{
    json_t *v = json_object_get(o, field);

    if (!v)
        return true; /* keeps the [limits] default */
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > LIMIT_MAX)
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool period_of(const char *s, enum sl_period *out)
{
    static const enum sl_period all[] = { SL_PERIOD_MINUTE, SL_PERIOD_HOUR, SL_PERIOD_DAY,
                                          SL_PERIOD_MONTH, SL_PERIOD_NONE };

    for (size_t i = 0; s && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, sl_period_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

/* "models": absent or null is every model; a string must be a list (its names need not be
 * configured here: such a name matches nothing this host serves). */
static bool models_of(json_t *o, char *out)
{
    json_t *v = json_object_get(o, "models");
    char why[160];

    out[0] = '\0';
    if (!v || json_is_null(v))
        return true;
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
           sl_model_list_parse(json_string_value(v), NULL, out, why, sizeof(why)) == 0;
}

/* "guard": absent or null is the default; a string must be a name (a policy this host does
 * not have is kept: another host may have it, and the request path refuses rather than let
 * such a tenant through unchecked). */
static bool guard_of(json_t *o, char out[SL_GUARD_NAME_MAX])
{
    json_t *v = json_object_get(o, "guard");

    out[0] = '\0';
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        !sl_tenants_guard_name_ok(json_string_value(v)))
        return false;
    snprintf(out, SL_GUARD_NAME_MAX, "%s", json_string_value(v));
    return true;
}

/* A tenant as Redis holds it: untrusted, every field checked. */
static bool read_tenant(const redisReply *name, const redisReply *json,
                        const struct sl_limits *dflt, struct sl_tenant_entry *out)
{
    json_t *o;
    json_t *p;
    bool ok;

    if (name->type != REDIS_REPLY_STRING || json->type != REDIS_REPLY_STRING ||
        memchr(name->str, '\0', name->len) || !name_ok(name->str, name->len))
        return false;
    snprintf(out->name, sizeof(out->name), "%s", name->str);
    out->limits = *dflt;
    o = json_loadb(json->str, json->len, JSON_REJECT_DUPLICATES, NULL);
    p = json_object_get(o, "budget_period");
    ok = json_is_object(o) && limit_of(o, "rpm", &out->limits.rpm) &&
         limit_of(o, "tpm", &out->limits.tpm) &&
         limit_of(o, "token_budget", &out->limits.token_budget) &&
         (!p || period_of(json_string_value(p), &out->limits.budget_period)) &&
         models_of(o, out->models) && guard_of(o, out->guard);
    json_decref(o);
    return ok;
}

static bool unhex32(const char *s, size_t n, unsigned char out[32])
{
    static const char digits[] = "0123456789abcdef";

    if (n != 64)
        return false;
    for (size_t i = 0; i < 32; i++) {
        const char *hi = memchr(digits, s[2 * i], 16), *lo = memchr(digits, s[2 * i + 1], 16);

        if (!hi || !lo || !s[2 * i] || !s[2 * i + 1])
            return false;
        out[i] = (unsigned char)((hi - digits) << 4 | (lo - digits));
    }
    return true;
}

static bool read_key(const redisReply *sha, const redisReply *json, struct sl_key_entry *out)
{
    json_t *o, *created;
    const char *tenant, *id;
    bool ok;

    if (sha->type != REDIS_REPLY_STRING || json->type != REDIS_REPLY_STRING ||
        !unhex32(sha->str, sha->len, out->sha256))
        return false;
    o = json_loadb(json->str, json->len, JSON_REJECT_DUPLICATES, NULL);
    tenant = json_string_value(json_object_get(o, "tenant"));
    id = json_string_value(json_object_get(o, "id"));
    created = json_object_get(o, "created");
    ok = tenant && id && name_ok(tenant, strlen(tenant)) && strlen(id) == SL_KEY_ID_LEN &&
         strncmp(id, "key_", 4) == 0 && strspn(id + 4, "0123456789abcdef") == 16;
    if (ok) {
        snprintf(out->tenant, sizeof(out->tenant), "%s", tenant);
        snprintf(out->id, sizeof(out->id), "%s", id);
        out->created_s = json_is_integer(created) ? json_integer_value(created) : 0;
    }
    json_decref(o);
    return ok;
}

/* The dump script's {version, {name, json, ...}, {sha, json, ...}} into shared memory. */
static bool apply_dump(struct sl_tenant_sync *s, const redisReply *r)
{
    const redisReply *tr, *kr;
    struct sl_tenant_entry *tv = NULL;
    struct sl_key_entry *kv = NULL;
    size_t nt = 0, nk = 0, i, bad = 0;
    int rc = -EINVAL;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[2]->type != REDIS_REPLY_ARRAY)
        goto out;
    tr = r->element[1];
    kr = r->element[2];
    if (tr->elements / 2 > s->t->max_tenants || kr->elements / 2 > s->t->max_keys) {
        sl_log_err("redis_tenants_too_many",
                   "Redis holds %zu tenants and %zu keys; this "
                   "host keeps at most %u and %u ([state] max_tenants, max_keys)",
                   tr->elements / 2, kr->elements / 2, s->t->max_tenants, s->t->max_keys);
        goto out;
    }
    tv = calloc(tr->elements / 2 + 1, sizeof(*tv));
    kv = calloc(kr->elements / 2 + 1, sizeof(*kv));
    if (!tv || !kv)
        goto out;
    for (i = 0; i + 1 < tr->elements; i += 2) {
        if (read_tenant(tr->element[i], tr->element[i + 1], &s->cfg->limits, &tv[nt]))
            nt++;
        else
            bad++;
    }
    for (i = 0; i + 1 < kr->elements; i += 2) {
        if (read_key(kr->element[i], kr->element[i + 1], &kv[nk]))
            nk++;
        else
            bad++;
    }
    if (bad)
        sl_log_warn("redis_tenants_invalid",
                    "%zu entries of the tenant table in Redis are "
                    "not valid and were ignored (docs/REDIS.md)",
                    bad);
    rc = sl_tenants_sync(s->t, tv, nt, kv, nk, (int64_t)r->element[0]->integer,
                         (int64_t)(sl_clock_wall_ms() / 1000));
out:
    free(tv);
    free(kv);
    return rc >= 0;
}

static int send_dump(struct sl_tenant_sync *s, sl_redis_reply_cb cb, void *arg)
{
    const char *argv[3] = { s->k_tenants, s->k_keys, s->k_version };

    if (!sl_redis_eval(s->rd, &sl_script_dump, 3, 3, argv, NULL, cb, arg))
        return -ENOTCONN;
    sl_metrics_redis(s->m, SL_REDIS_OP_SYNC);
    return 0;
}

/* ---- the poll ---- */

static void on_poll_dump(const redisReply *r, void *arg)
{
    struct sl_tenant_sync *s = arg;

    s->polling = false;
    if (!apply_dump(s, r) && r)
        sl_log_warn("redis_tenants_unreadable", "the tenant table in Redis could not be read");
}

static void on_version(const redisReply *r, void *arg)
{
    struct sl_tenant_sync *s = arg;
    long long v = -1;

    if (r && r->type == REDIS_REPLY_NIL)
        v = 0;
    else if (r && r->type == REDIS_REPLY_STRING && r->len < 20)
        v = strtoll(r->str, NULL, 10);
    if (v >= 0 && v == atomic_load(&s->t->redis_version)) {
        s->polling = false;
        return;
    }
    if (v < 0 || send_dump(s, on_poll_dump, s) < 0)
        s->polling = false;
}

static void poll_version(struct sl_tenant_sync *s)
{
    const char *argv[2] = { "GET", s->k_version };

    if (s->polling || !sl_redis_is_up(s->rd))
        return;
    if (sl_redis_command(s->rd, 2, argv, NULL, on_version, s)) {
        s->polling = true;
        sl_metrics_redis(s->m, SL_REDIS_OP_SYNC);
    }
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    poll_version(arg);
}

/* ---- writes ---- */

static void on_write_dump(const redisReply *r, void *arg)
{
    struct write_ctx *c = arg;
    bool ok = apply_dump(c->s, r);

    c->cb(c->arg, ok ? c->status : NULL);
    free(c);
}

static void on_write(const redisReply *r, void *arg)
{
    struct write_ctx *c = arg;

    if (!r || (r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_STRING)) {
        if (r && r->type == REDIS_REPLY_ERROR)
            sl_log_err("redis_script_error", "tenant table: %.200s", r->str);
        c->cb(c->arg, NULL);
        free(c);
        return;
    }
    snprintf(c->status, sizeof(c->status), "%.*s", (int)r->len, r->str);
    /* Copy the table at once, so this host answers from what Redis now holds. */
    if (send_dump(c->s, on_write_dump, c) < 0) {
        c->cb(c->arg, NULL);
        free(c);
    }
}

static int admin_call(struct sl_tenant_sync *s, struct sl_redis_script *script, int nargs,
                      const char *const *args, sl_tenant_sync_cb cb, void *arg)
{
    const char *argv[8] = { s->k_tenants, s->k_keys, s->k_version };
    struct write_ctx *c;
    int i;

    for (i = 0; i < nargs && i < 5; i++)
        argv[3 + i] = args[i];
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (struct write_ctx){ .s = s, .cb = cb, .arg = arg };
    if (!sl_redis_eval(s->rd, script, 3, 3 + nargs, argv, NULL, on_write, c)) {
        free(c);
        return -ENOTCONN;
    }
    sl_metrics_redis(s->m, SL_REDIS_OP_ADMIN);
    return 0;
}

int sl_tenant_sync_put(struct sl_tenant_sync *s, const char *name, const struct sl_limits *lim,
                       const char *models, const char *guard, bool create, sl_tenant_sync_cb cb,
                       void *arg)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:s, s:s}", "rpm", (json_int_t)lim->rpm, "tpm",
                          (json_int_t)lim->tpm, "token_budget", (json_int_t)lim->token_budget,
                          "budget_period", sl_period_name(lim->budget_period), "models", models,
                          "guard", guard);
    char *json = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *args[3] = { name, json, create ? "1" : "0" };
    int rc = json ? admin_call(s, &sl_script_tenant_put, 3, args, cb, arg) : -ENOMEM;

    free(json);
    json_decref(o);
    return rc;
}

int sl_tenant_sync_delete(struct sl_tenant_sync *s, const char *name, sl_tenant_sync_cb cb,
                          void *arg)
{
    const char *args[1] = { name };

    return admin_call(s, &sl_script_tenant_delete, 1, args, cb, arg);
}

int sl_tenant_sync_add_key(struct sl_tenant_sync *s, const unsigned char sha256[32],
                           const char *tenant, const char *id, bool tenant_in_redis,
                           sl_tenant_sync_cb cb, void *arg)
{
    static const char digits[] = "0123456789abcdef";
    json_t *o = json_pack("{s:s, s:s, s:I}", "tenant", tenant, "id", id, "created",
                          (json_int_t)(sl_clock_wall_ms() / 1000));
    char *json = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char hex[65];
    const char *args[4] = { hex, json, tenant, tenant_in_redis ? "1" : "0" };
    int rc;

    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = digits[sha256[i] >> 4];
        hex[2 * i + 1] = digits[sha256[i] & 15];
    }
    hex[64] = '\0';
    rc = json ? admin_call(s, &sl_script_key_add, 4, args, cb, arg) : -ENOMEM;
    free(json);
    json_decref(o);
    return rc;
}

int sl_tenant_sync_revoke_key(struct sl_tenant_sync *s, const char *id, sl_tenant_sync_cb cb,
                              void *arg)
{
    const char *args[1] = { id };

    return admin_call(s, &sl_script_key_revoke, 1, args, cb, arg);
}

int sl_tenant_sync_refresh(struct sl_tenant_sync *s, sl_tenant_sync_cb cb, void *arg)
{
    struct write_ctx *c = calloc(1, sizeof(*c));

    if (!c)
        return -ENOMEM;
    *c = (struct write_ctx){ .s = s, .cb = cb, .arg = arg, .status = "ok" };
    if (send_dump(s, on_write_dump, c) < 0) {
        free(c);
        return -ENOTCONN;
    }
    return 0;
}

/* ---- usage ---- */

/* A usage read (MGET), after a reset (DEL) when asked: two commands may hold the context, so
 * it counts them; the caller hears once, from whichever ends the call. */
struct usage_ctx {
    sl_tenant_usage_cb cb;
    void *arg;
    unsigned refs;
    bool answered;
    bool reset_failed;
};

static uint64_t reply_u64(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        return (uint64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING && r->len < 20)
        return strtoull(r->str, NULL, 10);
    return 0;
}

static void usage_release(struct usage_ctx *c)
{
    if (--c->refs > 0)
        return;
    if (!c->answered)
        c->cb(c->arg, false, 0, 0);
    free(c);
}

static void on_usage(const redisReply *r, void *arg)
{
    struct usage_ctx *c = arg;

    if (!c->answered && !c->reset_failed && r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        c->answered = true;
        c->cb(c->arg, true, reply_u64(r->element[0]), reply_u64(r->element[1]));
    }
    usage_release(c);
}

static void on_reset(const redisReply *r, void *arg)
{
    struct usage_ctx *c = arg;

    if (!r || r->type == REDIS_REPLY_ERROR)
        c->reset_failed = true;
    usage_release(c);
}

int sl_tenant_sync_usage(struct sl_tenant_sync *s, int tenant_idx, bool reset,
                         sl_tenant_usage_cb cb, void *arg)
{
    const struct sl_tenant_rec *rec = &s->t->tenants[tenant_idx];
    int64_t wall = (int64_t)(sl_clock_wall_ms() / 1000);
    char used[SL_REDIS_KEY_MAX], reserved[SL_REDIS_KEY_MAX], start[24];
    const char *mget[3] = { "MGET", used, reserved }, *del[2] = { "DEL", used };
    struct usage_ctx *c;

    snprintf(start, sizeof(start), "%" PRId64,
             sl_quota_period_start(rec->limits.budget_period, wall));
    if (!sl_redis_tenant_key(used, sizeof(used), s->cfg->redis_prefix, rec->name, "used", start) ||
        !sl_redis_tenant_key(reserved, sizeof(reserved), s->cfg->redis_prefix, rec->name,
                             "reserved", NULL))
        return -ENAMETOOLONG;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (struct usage_ctx){ .cb = cb, .arg = arg, .refs = 1 };
    /* One connection answers in order: the MGET's answer comes after the DEL's. */
    if (reset) {
        c->refs++;
        if (!sl_redis_command(s->rd, 2, del, NULL, on_reset, c)) {
            free(c);
            return -ENOTCONN;
        }
    }
    if (!sl_redis_command(s->rd, 3, mget, NULL, on_usage, c)) {
        if (!reset) {
            free(c);
            return -ENOTCONN;
        }
        c->reset_failed = true; /* the queued DEL ends the call, as a failure */
        usage_release(c);
        return 0;
    }
    sl_metrics_redis(s->m, SL_REDIS_OP_ADMIN);
    return 0;
}

/* ---- life ---- */

static void on_up(void *arg)
{
    poll_version(arg);
}

struct sl_tenant_sync *sl_tenant_sync_new(struct event_base *base, const struct sl_config *cfg,
                                          struct sl_tenants *t, struct sl_redis *rd,
                                          struct sl_metrics *m)
{
    struct timeval tv = { 0, POLL_MS * 1000 };
    struct sl_tenant_sync *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    *s = (struct sl_tenant_sync){ .cfg = cfg, .t = t, .rd = rd, .m = m };
    if (!sl_redis_admin_key(s->k_tenants, sizeof(s->k_tenants), cfg->redis_prefix, "tenants") ||
        !sl_redis_admin_key(s->k_keys, sizeof(s->k_keys), cfg->redis_prefix, "keys") ||
        !sl_redis_admin_key(s->k_version, sizeof(s->k_version), cfg->redis_prefix, "version"))
        goto fail;
    s->poll = event_new(base, -1, EV_PERSIST, on_poll, s);
    if (!s->poll || event_add(s->poll, &tv) < 0 || sl_redis_on_up(rd, on_up, s) < 0)
        goto fail;
    return s;
fail:
    sl_tenant_sync_free(s);
    return NULL;
}

void sl_tenant_sync_free(struct sl_tenant_sync *s)
{
    if (!s)
        return;
    if (s->poll)
        event_free(s->poll);
    free(s);
}
