/* SPDX-License-Identifier: MIT */
/* admin.c - /admin/v1 handlers over the tenant table (shared memory, or Redis). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/model_list.h"
#include "admission/auth.h"
#include "admission/tenant_sync.h"
#include "admission/tenants.h"
#include "http/request.h"
#include "http/serve.h"

#define PREFIX "/admin/v1"
#define LIMIT_MAX 1000000000000000LL /* 10^15, as the config file allows */
#define GUARD_SHOWN_MAX 64           /* bytes of an unknown guard name echoed back */

bool sl_admin_path(const char *path)
{
    return strncmp(path, PREFIX, strlen(PREFIX)) == 0 &&
           (path[strlen(PREFIX)] == '\0' || path[strlen(PREFIX)] == '/');
}

static int64_t wall_s(void)
{
    return (int64_t)(sl_clock_wall_ms() / 1000);
}

static void reply_json(struct sl_req *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s)
        sl_req_reply(r, status, "application/json", s, strlen(s));
    else
        sl_req_reply_busy(r, false);
    free(s);
    json_decref(j);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);

    /* "." and ".." would be eaten as path segments on the way here. */
    return n >= 1 && n <= 63 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static const char *period_name(enum sl_period p)
{
    return sl_period_name(p);
}

static bool period_parse(const char *s, enum sl_period *out)
{
    static const enum sl_period all[] = { SL_PERIOD_MINUTE, SL_PERIOD_HOUR, SL_PERIOD_DAY,
                                          SL_PERIOD_MONTH, SL_PERIOD_NONE };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (s && strcmp(s, sl_period_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

/* A canonical list "a,b" as ["a","b"]; "" (every model) as []. */
static json_t *models_json(const char *list)
{
    json_t *a = json_array();
    const char *p = list;

    while (a && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        json_array_append_new(a, json_stringn(p, len));
        p += len + (end != NULL);
    }
    return a;
}

static json_t *tenant_json(struct sl_tenants *t, int idx)
{
    char models[SL_MODEL_LIST_MAX] = "", guard[SL_GUARD_NAME_MAX] = "";
    struct sl_limits lim;
    json_t *ids = json_array(), *o;
    uint32_t i;

    sl_tenants_usage(t, idx, sl_clock_mono_ms(), wall_s(), &lim, NULL);
    sl_tenants_models(t, idx, models);
    sl_tenants_guard(t, idx, guard);
    for (i = 0; i < t->key_slots; i++)
        if (atomic_load(&t->keys[i].state) == SL_SLOT_LIVE && t->keys[i].tenant == (uint32_t)idx)
            json_array_append_new(ids, json_string(t->keys[i].id));
    o = json_pack("{s:s, s:b, s:I, s:I, s:I, s:s, s:I}", "name", t->tenants[idx].name, "static",
                  t->tenants[idx].is_static, "rpm", (json_int_t)lim.rpm, "tpm", (json_int_t)lim.tpm,
                  "token_budget", (json_int_t)lim.token_budget, "budget_period",
                  period_name(lim.budget_period), "keys", (json_int_t)json_array_size(ids));
    json_object_set_new(o, "models", models_json(models));
    /* null: the default [guard] policy, whatever the configuration makes of it. */
    json_object_set_new(o, "guard", guard[0] ? json_string(guard) : json_null());
    json_object_set_new(o, "key_ids", ids);
    return o;
}

/* Limits from a JSON body over base; false (and the client answered 422) on a bad value. */
static bool read_limits(struct sl_req *r, json_t *body, struct sl_limits *lim)
{
    static const char *const names[] = { "rpm", "tpm", "token_budget" };
    int64_t *fields[] = { &lim->rpm, &lim->tpm, &lim->token_budget };
    json_t *v;
    char msg[96];

    for (size_t i = 0; i < 3; i++) {
        v = json_object_get(body, names[i]);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > LIMIT_MAX) {
            snprintf(msg, sizeof(msg), "%s must be an integer from 0 to 10^15", names[i]);
            sl_req_reply_detail(r, 422, msg);
            return false;
        }
        *fields[i] = json_integer_value(v);
    }
    v = json_object_get(body, "budget_period");
    if (v && !period_parse(json_string_value(v), &lim->budget_period)) {
        sl_req_reply_detail(r, 422, "budget_period must be minute, hour, day, month or none");
        return false;
    }
    return true;
}

static json_t *read_body(struct sl_req *r)
{
    size_t len;
    const char *b = sl_req_body(r, &len);
    json_t *j = json_loadb(b ? b : "", len, JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(j)) {
        json_decref(j);
        sl_req_reply_detail(r, 422, "The body must be a JSON object");
        return NULL;
    }
    return j;
}

/* One admin request, from its route to its answer.  Without Redis it is applied to shared
 * memory at once.  With Redis it is written there first (tenant_sync.c copies the table back
 * before confirming), then answered from shared memory like the other case. */
enum admin_op {
    OP_LIST,
    OP_SHOW,
    OP_CREATE,
    OP_SET,
    OP_DELETE,
    OP_KEY,
    OP_REVOKE,
    OP_USAGE,
    OP_RESET,
};

struct admin_call {
    struct sl_req *r;
    struct sl_tenants *t;
    enum admin_op op;
    int idx; /* the tenant the path names, or -1 */
    char name[64];
    char id[SL_KEY_ID_LEN + 1];
    char key[11 + 48 + 1]; /* a new key: in the answer once, then wiped */
    unsigned char sha[32];
    struct sl_limits lim;
    char models[SL_MODEL_LIST_MAX]; /* canonical; "" = every model */
    char guard[SL_GUARD_NAME_MAX];  /* a policy name, "none", or "" = the default */
};

static void call_end(struct admin_call *c)
{
    sl_req_free(c->r);
    explicit_bzero(c->key, sizeof(c->key));
    free(c);
}

static void hex_id(char *out, const unsigned char *raw, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n] = '\0';
}

/* A fresh "sk-sluice-" key of 192 random bits, its hash, and a public id for it. */
static bool new_key(struct admin_call *c)
{
    unsigned char raw[24], rid[8];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) ||
        getrandom(rid, sizeof(rid), 0) != (ssize_t)sizeof(rid))
        return false;
    memcpy(c->key, "sk-sluice-", 10);
    hex_id(c->key + 10, raw, sizeof(raw));
    explicit_bzero(raw, sizeof(raw));
    sl_auth_hash(c->key, strlen(c->key), c->sha);
    memcpy(c->id, "key_", 4);
    hex_id(c->id + 4, rid, sizeof(rid));
    return true;
}

static void reply_usage(struct admin_call *c, const struct sl_quota_budget *b)
{
    char reset[32] = "";
    struct tm tm;
    time_t at;

    if (b->reset_at_s > 0) {
        at = (time_t)b->reset_at_s;
        gmtime_r(&at, &tm);
        strftime(reset, sizeof(reset), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    reply_json(c->r, 200,
               json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "tenant", c->name, "period",
                         period_name(b->period), "used", (json_int_t)b->used, "reserved",
                         (json_int_t)b->reserved, "budget", (json_int_t)b->budget, "remaining",
                         (json_int_t)b->remaining, "reset_at",
                         reset[0] ? json_string(reset) : json_null()));
}

/* The answer once the change is in shared memory (the same for both stores). */
static void answer(struct admin_call *c)
{
    struct sl_req *r = c->r;
    struct sl_tenants *t = c->t;
    json_t *all;
    uint32_t i, n;

    if (c->op != OP_LIST && c->op != OP_REVOKE && c->op != OP_DELETE &&
        (c->idx = sl_tenants_by_name(t, c->name)) < 0) {
        sl_req_reply_detail(r, 404, "Unknown tenant");
        return;
    }
    switch (c->op) {
    case OP_LIST:
        all = json_array();
        n = atomic_load(&t->ntenants);
        for (i = 0; i < n; i++)
            if (atomic_load(&t->tenants[i].state) == SL_SLOT_LIVE)
                json_array_append_new(all, tenant_json(t, (int)i));
        reply_json(r, 200, json_pack("{s:o}", "tenants", all));
        break;
    case OP_SHOW:
    case OP_SET: reply_json(r, 200, tenant_json(t, c->idx)); break;
    case OP_CREATE: reply_json(r, 201, tenant_json(t, c->idx)); break;
    case OP_DELETE: reply_json(r, 200, json_pack("{s:s}", "deleted", c->name)); break;
    case OP_KEY: reply_json(r, 201, json_pack("{s:s, s:s}", "key", c->key, "id", c->id)); break;
    case OP_REVOKE: reply_json(r, 200, json_pack("{s:s}", "revoked", c->id)); break;
    case OP_USAGE:
    case OP_RESET: break; /* answered with the usage itself */
    }
}

/* ---- shared memory only ---- */

/* What a create or change sets beside the limits.  0 or -errno. */
static int set_models_and_guard(struct admin_call *c, int idx)
{
    int rc = sl_tenants_set_models(c->t, idx, c->models);

    return rc < 0 ? rc : sl_tenants_set_guard(c->t, idx, c->guard);
}

static void apply_local(struct admin_call *c)
{
    struct sl_tenants *t = c->t;
    struct sl_quota_info info;
    int rc = 0;

    switch (c->op) {
    case OP_LIST:
    case OP_SHOW: break;
    case OP_CREATE:
        rc = sl_tenants_create(t, c->name, &c->lim, wall_s());
        if (rc >= 0)
            rc = set_models_and_guard(c, rc);
        break;
    case OP_SET:
        rc = sl_tenants_set_limits(t, c->idx, &c->lim, wall_s());
        if (rc >= 0)
            rc = set_models_and_guard(c, c->idx);
        break;
    case OP_DELETE: rc = sl_tenants_delete(t, c->idx, wall_s()); break;
    case OP_KEY: rc = sl_tenants_add_key(t, c->idx, c->sha, wall_s(), c->id); break;
    case OP_REVOKE: rc = sl_tenants_revoke_key(t, c->id); break;
    case OP_USAGE:
    case OP_RESET:
        if (c->op == OP_RESET)
            sl_tenants_reset_usage(t, c->idx, wall_s());
        sl_tenants_usage(t, c->idx, sl_clock_mono_ms(), wall_s(), NULL, &info);
        reply_usage(c, &info.budget);
        return;
    }
    if (rc == -EEXIST)
        sl_req_reply_detail(c->r, 409, "Tenant already exists");
    else if (rc == -ENOSPC)
        sl_req_reply_detail(c->r, 507, c->op == OP_KEY ? "Key table full" : "Tenant table full");
    else if (rc == -ENOENT && c->op == OP_REVOKE)
        sl_req_reply_detail(c->r, 404, "Unknown key");
    else if (rc < 0)
        sl_req_reply_busy(c->r, false);
    else
        answer(c);
}

/* ---- Redis ---- */

static void store_unavailable(struct sl_req *r)
{
    sl_req_add_retry_headers(r, 1000, true);
    sl_req_reply_detail(r, 503, "Quota store unavailable");
}

static void on_redis_done(void *arg, const char *status)
{
    struct admin_call *c = arg;

    if (!status)
        store_unavailable(c->r);
    else if (strcmp(status, "exists") == 0)
        sl_req_reply_detail(c->r, 409,
                            c->op == OP_KEY ? "Could not store the key" : "Tenant already exists");
    else if (strcmp(status, "missing") == 0)
        sl_req_reply_detail(c->r, 404, c->op == OP_REVOKE ? "Unknown key" : "Unknown tenant");
    else
        answer(c);
    call_end(c);
}

static void on_redis_usage(void *arg, bool ok, uint64_t used, uint64_t reserved)
{
    struct admin_call *c = arg;
    struct sl_quota_info info;
    struct sl_quota_budget *b = &info.budget;

    if (!ok) {
        store_unavailable(c->r);
    } else {
        /* The period and the budget are this host's; the counts are Redis's. */
        sl_tenants_usage(c->t, c->idx, sl_clock_mono_ms(), wall_s(), NULL, &info);
        b->used = used;
        b->reserved = reserved;
        b->remaining = b->budget && used + reserved < b->budget ? b->budget - used - reserved : 0;
        reply_usage(c, b);
    }
    call_end(c);
}

/* 0: the call is Redis's now and ends in a callback; <0: not sent. */
static int apply_redis(struct admin_call *c, struct sl_tenant_sync *s)
{
    const struct sl_tenant_rec *rec = c->idx >= 0 ? &c->t->tenants[c->idx] : NULL;

    switch (c->op) {
    case OP_LIST:
    case OP_SHOW: return sl_tenant_sync_refresh(s, on_redis_done, c);
    case OP_CREATE:
    case OP_SET:
        return sl_tenant_sync_put(s, c->name, &c->lim, c->models, c->guard, c->op == OP_CREATE,
                                  on_redis_done, c);
    case OP_DELETE: return sl_tenant_sync_delete(s, c->name, on_redis_done, c);
    case OP_KEY:
        return sl_tenant_sync_add_key(s, c->sha, c->name, c->id, rec && !rec->is_static,
                                      on_redis_done, c);
    case OP_REVOKE: return sl_tenant_sync_revoke_key(s, c->id, on_redis_done, c);
    case OP_USAGE:
    case OP_RESET: return sl_tenant_sync_usage(s, c->idx, c->op == OP_RESET, on_redis_usage, c);
    }
    return -EINVAL;
}

/* ---- routes ---- */

static bool key_from_config(struct sl_tenants *t, const char *id)
{
    for (uint32_t i = 0; i < t->key_slots; i++)
        if (atomic_load(&t->keys[i].state) == SL_SLOT_LIVE && t->keys[i].from_config &&
            strcmp(t->keys[i].id, id) == 0)
            return true;
    return false;
}

/* The names of a JSON array joined with ',' into out; NULL, or why not (and the status). */
static const char *join_names(json_t *names, char *out, size_t out_sz, int *status)
{
    size_t i, used = 0;
    json_t *m;

    out[0] = '\0';
    json_array_foreach(names, i, m)
    {
        const char *name = json_string_value(m);
        size_t len = name ? strlen(name) : 0;

        *status = name ? 400 : 422;
        if (!name)
            return "models must be an array of model names";
        /* A blank or a comma would change what the list says once joined. */
        if (strspn(name, " \t") == len || strchr(name, ','))
            return "models: a model name is empty or has a ','";
        if (used + len + 2 > out_sz)
            return "models: the list is too long";
        used += (size_t)snprintf(out + used, out_sz - used, "%s%s", used ? "," : "", name);
    }
    return NULL;
}

/* "models": ["a", "b"] into c->models; absent keeps it, null or [] means every model.  Each
 * name must be a configured model.  false (and the client answered) when it is not a list of
 * them. */
static bool read_models(struct admin_call *c, json_t *body)
{
    json_t *v = json_object_get(body, "models");
    char joined[4 * SL_MODEL_LIST_MAX], why[200], msg[224];
    const char *bad;
    int status = 422;

    if (!v)
        return true;
    if (!json_is_null(v) && !json_is_array(v)) {
        sl_req_reply_detail(c->r, 422, "models must be an array of model names");
        return false;
    }
    if ((bad = join_names(v, joined, sizeof(joined), &status))) {
        sl_req_reply_detail(c->r, status, bad);
        return false;
    }
    if (sl_model_list_parse(joined, c->r->serve->cfg, c->models, why, sizeof(why)) < 0) {
        snprintf(msg, sizeof(msg), "models: %s", why);
        sl_req_reply_detail(c->r, 400, msg);
        return false;
    }
    return true;
}

/* name as a client may see it again: printable ASCII only, at most GUARD_SHOWN_MAX bytes
 * (then "..."), so an echo is short and always valid JSON text. */
static void shown_name(const char *name, char *out, size_t out_sz)
{
    size_t i, n = 0;

    for (i = 0; name[i] && n + 4 < out_sz && i < GUARD_SHOWN_MAX; i++)
        out[n++] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    if (name[i])
        n += (size_t)snprintf(out + n, out_sz - n, "...");
    out[n] = '\0';
}

/* "guard": a policy name the running configuration knows, or "none", into c->guard; null
 * means the default [guard] again; absent keeps it.  false (and the client answered 422)
 * otherwise, so a typo cannot leave a tenant with a policy no host has. */
static bool read_guard(struct admin_call *c, json_t *body)
{
    json_t *v = json_object_get(body, "guard");
    char shown[GUARD_SHOWN_MAX + 4], msg[160];
    const char *name;
    bool known = false;

    if (!v)
        return true;
    if (json_is_null(v)) {
        c->guard[0] = '\0';
        return true;
    }
    if (!json_is_string(v)) {
        sl_req_reply_detail(c->r, 422, "guard must be a policy name, \"none\" or null");
        return false;
    }
    name = json_string_value(v);
    if (strlen(name) == json_string_length(v) && sl_tenants_guard_name_ok(name))
        (void)sl_config_guard(c->r->serve->cfg, name, &known);
    if (!known) {
        shown_name(name, shown, sizeof(shown));
        snprintf(msg, sizeof(msg), "guard: no policy named '%s'", shown);
        sl_req_reply_detail(c->r, 422, msg);
        return false;
    }
    snprintf(c->guard, sizeof(c->guard), "%s", name);
    return true;
}

/* Create or change a tenant: its body's limits, models and guard over base. */
static bool read_change(struct admin_call *c, bool create)
{
    json_t *body = read_body(c->r);
    const char *name;
    bool ok = false;
    int idx;

    if (!body)
        return false;
    if (create) {
        name = json_string_value(json_object_get(body, "name"));
        if (!name || !name_ok(name)) {
            sl_req_reply_detail(c->r, 422, "name must be 1-63 characters of A-Z a-z 0-9 _ . -");
            goto out;
        }
        snprintf(c->name, sizeof(c->name), "%s", name);
        /* The file's tenants are not Redis's to have: refuse the name here, too. */
        idx = sl_tenants_by_name(c->t, c->name);
        if (idx >= 0 && c->t->tenants[idx].is_static) {
            sl_req_reply_detail(c->r, 409, "Tenant already exists");
            goto out;
        }
        c->lim = c->r->serve->cfg->limits;
    } else {
        sl_tenants_usage(c->t, c->idx, sl_clock_mono_ms(), wall_s(), &c->lim, NULL);
        sl_tenants_models(c->t, c->idx, c->models);
        sl_tenants_guard(c->t, c->idx, c->guard);
    }
    ok = read_limits(c->r, body, &c->lim) && read_models(c, body) && read_guard(c, body);
out:
    json_decref(body);
    return ok;
}

/* /admin/v1/tenants/NAME[/keys|/usage|/usage/reset]: false if already answered. */
static bool tenant_route(struct admin_call *c, const char *rest, enum evhttp_cmd_type m)
{
    const char *sub = strchr(rest, '/');
    size_t n = sub ? (size_t)(sub - rest) : strlen(rest);
    bool is_static;

    if (n == 0 || n >= sizeof(c->name)) {
        sl_req_reply_detail(c->r, 404, "Not Found");
        return false;
    }
    memcpy(c->name, rest, n);
    c->name[n] = '\0';
    c->idx = sl_tenants_by_name(c->t, c->name);
    if (c->idx < 0) {
        sl_req_reply_detail(c->r, 404, "Unknown tenant");
        return false;
    }
    is_static = c->t->tenants[c->idx].is_static;
    if (!sub && m == EVHTTP_REQ_GET) {
        c->op = OP_SHOW;
    } else if (!sub && m == EVHTTP_REQ_PATCH) {
        c->op = OP_SET;
        if (is_static) {
            sl_req_reply_detail(c->r, 409,
                                "This tenant's limits, models and guard come from the "
                                "configuration file");
            return false;
        }
        return read_change(c, false);
    } else if (!sub && m == EVHTTP_REQ_DELETE) {
        c->op = OP_DELETE;
        if (is_static) {
            sl_req_reply_detail(c->r, 409, "This tenant is defined in the configuration file");
            return false;
        }
    } else if (sub && strcmp(sub, "/keys") == 0 && m == EVHTTP_REQ_POST) {
        c->op = OP_KEY;
        if (!new_key(c)) {
            sl_req_reply_busy(c->r, false);
            return false;
        }
    } else if (sub && strcmp(sub, "/usage") == 0 && m == EVHTTP_REQ_GET) {
        c->op = OP_USAGE;
    } else if (sub && strcmp(sub, "/usage/reset") == 0 && m == EVHTTP_REQ_POST) {
        c->op = OP_RESET;
    } else {
        sl_req_reply_detail(c->r, 404, "Not Found");
        return false;
    }
    return true;
}

/* Which operation the path and method name; false if already answered. */
static bool route(struct admin_call *c, const char *rest, enum evhttp_cmd_type m)
{
    if (strcmp(rest, "/tenants") == 0 && m == EVHTTP_REQ_GET) {
        c->op = OP_LIST;
        return true;
    }
    if (strcmp(rest, "/tenants") == 0 && m == EVHTTP_REQ_POST) {
        c->op = OP_CREATE;
        return read_change(c, true);
    }
    if (strncmp(rest, "/tenants/", 9) == 0)
        return tenant_route(c, rest + 9, m);
    if (strncmp(rest, "/keys/", 6) == 0 && m == EVHTTP_REQ_DELETE) {
        c->op = OP_REVOKE;
        if (strlen(rest + 6) != SL_KEY_ID_LEN) {
            sl_req_reply_detail(c->r, 404, "Unknown key");
            return false;
        }
        snprintf(c->id, sizeof(c->id), "%s", rest + 6);
        if (key_from_config(c->t, c->id)) {
            sl_req_reply_detail(c->r, 409, "This key is defined in the configuration file");
            return false;
        }
        return true;
    }
    sl_req_reply_detail(c->r, 404, "Not Found");
    return false;
}

void sl_admin_handle(struct sl_req *r, const char *path)
{
    const struct sl_config *cfg = r->serve->cfg;
    struct sl_tenant_sync *sync = r->serve->tenant_sync;
    struct admin_call *c;

    if (!cfg->has_admin_key) {
        sl_req_reply_detail(r, 403, "Admin API disabled: set [admin] key_sha256");
        sl_req_free(r);
        return;
    }
    if (!sl_auth_is_admin(cfg, sl_req_authorization(r))) {
        sl_req_add_header(r, "WWW-Authenticate", "Bearer");
        sl_req_reply_detail(r, 401, "Invalid or missing admin key");
        sl_req_free(r);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        sl_req_reply_busy(r, false);
        sl_req_free(r);
        return;
    }
    *c = (struct admin_call){ .r = r, .t = r->serve->tenants, .idx = -1 };
    if (!route(c, path + strlen(PREFIX), evhttp_request_get_command(r->ev))) {
        call_end(c);
        return;
    }
    if (!sync) {
        apply_local(c);
        call_end(c);
        return;
    }
    if (apply_redis(c, sync) < 0) {
        store_unavailable(r);
        call_end(c);
    }
}
