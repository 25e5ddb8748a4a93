/* SPDX-License-Identifier: MIT */
/* admin.c - /admin/v1 handlers over the shared tenant table. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "auth.h"
#include "clock.h"
#include "config.h"
#include "request.h"
#include "shm.h"
#include "tenants.h"
#include "worker.h"

#define PREFIX "/admin/v1"
#define LIMIT_MAX 1000000000000000LL          /* 10^15, as the config file allows */

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
        sl_req_reply_detail(r, 503, "Server busy");
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

static json_t *tenant_json(struct sl_tenants *t, int idx)
{
    struct sl_limits lim;
    json_t *ids = json_array(), *o;
    uint32_t i;

    sl_tenants_usage(t, idx, sl_clock_mono_ms(), wall_s(), &lim, NULL);
    for (i = 0; i < SL_KEYS_MAX; i++)
        if (atomic_load(&t->keys[i].state) == SL_SLOT_LIVE && t->keys[i].tenant == (uint32_t)idx)
            json_array_append_new(ids, json_string(t->keys[i].id));
    o = json_pack("{s:s, s:b, s:I, s:I, s:I, s:s, s:I}", "name", t->tenants[idx].name,
                  "static", t->tenants[idx].is_static, "rpm", (json_int_t)lim.rpm,
                  "tpm", (json_int_t)lim.tpm, "token_budget", (json_int_t)lim.token_budget,
                  "budget_period", period_name(lim.budget_period),
                  "keys", (json_int_t)json_array_size(ids));
    json_object_set_new(o, "key_ids", ids);
    return o;
}

static json_t *usage_json(struct sl_tenants *t, int idx)
{
    struct sl_quota_info info;
    char reset[32] = "";
    struct tm tm;
    time_t at;

    sl_tenants_usage(t, idx, sl_clock_mono_ms(), wall_s(), NULL, &info);
    if (info.budget.reset_at_s > 0) {
        at = (time_t)info.budget.reset_at_s;
        gmtime_r(&at, &tm);
        strftime(reset, sizeof(reset), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "tenant", t->tenants[idx].name,
                     "period", period_name(info.budget.period), "used",
                     (json_int_t)info.budget.used, "reserved", (json_int_t)info.budget.reserved,
                     "budget", (json_int_t)info.budget.budget, "remaining",
                     (json_int_t)info.budget.remaining, "reset_at",
                     reset[0] ? json_string(reset) : json_null());
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
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > LIMIT_MAX) {
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

static void create_tenant(struct sl_req *r, struct sl_tenants *t)
{
    struct sl_limits lim = sl_worker_config(r->w)->limits;
    json_t *body = read_body(r);
    const char *name;
    int idx;

    if (!body)
        return;
    name = json_string_value(json_object_get(body, "name"));
    if (!name || !name_ok(name)) {
        sl_req_reply_detail(r, 422, "name must be 1-63 characters of A-Z a-z 0-9 _ . -");
    } else if (read_limits(r, body, &lim)) {
        idx = sl_tenants_create(t, name, &lim, wall_s());
        if (idx == -EEXIST)
            sl_req_reply_detail(r, 409, "Tenant already exists");
        else if (idx < 0)
            sl_req_reply_detail(r, 507, "Tenant table full");
        else
            reply_json(r, 201, tenant_json(t, idx));
    }
    json_decref(body);
}

static void set_tenant(struct sl_req *r, struct sl_tenants *t, int idx)
{
    struct sl_limits lim;
    json_t *body = read_body(r);
    int rc;

    if (!body)
        return;
    sl_tenants_usage(t, idx, sl_clock_mono_ms(), wall_s(), &lim, NULL);
    if (read_limits(r, body, &lim)) {
        rc = sl_tenants_set_limits(t, idx, &lim, wall_s());
        if (rc == -EPERM)
            sl_req_reply_detail(r, 409, "This tenant's limits come from the configuration file");
        else
            reply_json(r, 200, tenant_json(t, idx));
    }
    json_decref(body);
}

static void create_key(struct sl_req *r, struct sl_tenants *t, int idx)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[24], sha[32];
    char key[11 + 48 + 1] = "sk-sluice-", id[SL_KEY_ID_LEN + 1];
    int rc;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        sl_req_reply_detail(r, 503, "Server busy");
        return;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        key[10 + 2 * i] = hex[raw[i] >> 4];
        key[11 + 2 * i] = hex[raw[i] & 15];
    }
    key[10 + 48] = '\0';
    sl_auth_hash(key, strlen(key), sha);
    rc = sl_tenants_add_key(t, idx, sha, wall_s(), id);
    if (rc < 0)
        sl_req_reply_detail(r, rc == -ENOSPC ? 507 : 503, "Could not store the key");
    else
        reply_json(r, 201, json_pack("{s:s, s:s}", "key", key, "id", id));
    explicit_bzero(key, sizeof(key));
}

/* /admin/v1/tenants/NAME[/keys|/usage|/usage/reset] */
static void tenant_routes(struct sl_req *r, struct sl_tenants *t, const char *rest,
                          enum evhttp_cmd_type m)
{
    char name[64];
    const char *sub = strchr(rest, '/');
    size_t n = sub ? (size_t)(sub - rest) : strlen(rest);
    int idx;

    if (n == 0 || n >= sizeof(name)) {
        sl_req_reply_detail(r, 404, "Not Found");
        return;
    }
    memcpy(name, rest, n);
    name[n] = '\0';
    idx = sl_tenants_by_name(t, name);
    if (idx < 0) {
        sl_req_reply_detail(r, 404, "Unknown tenant");
        return;
    }
    if (!sub && m == EVHTTP_REQ_GET)
        reply_json(r, 200, tenant_json(t, idx));
    else if (!sub && m == EVHTTP_REQ_PATCH)
        set_tenant(r, t, idx);
    else if (!sub && m == EVHTTP_REQ_DELETE) {
        if (t->tenants[idx].is_static) {
            sl_req_reply_detail(r, 409, "This tenant is defined in the configuration file");
        } else {
            sl_tenants_delete(t, idx);
            reply_json(r, 200, json_pack("{s:s}", "deleted", name));
        }
    } else if (sub && strcmp(sub, "/keys") == 0 && m == EVHTTP_REQ_POST)
        create_key(r, t, idx);
    else if (sub && strcmp(sub, "/usage") == 0 && m == EVHTTP_REQ_GET)
        reply_json(r, 200, usage_json(t, idx));
    else if (sub && strcmp(sub, "/usage/reset") == 0 && m == EVHTTP_REQ_POST) {
        sl_tenants_reset_usage(t, idx, wall_s());
        reply_json(r, 200, usage_json(t, idx));
    } else
        sl_req_reply_detail(r, 404, "Not Found");
}

static void list_tenants(struct sl_req *r, struct sl_tenants *t)
{
    json_t *all = json_array();
    uint32_t i, n = atomic_load(&t->ntenants);

    for (i = 0; i < n; i++)
        if (atomic_load(&t->tenants[i].state) == SL_SLOT_LIVE)
            json_array_append_new(all, tenant_json(t, (int)i));
    reply_json(r, 200, json_pack("{s:o}", "tenants", all));
}

void sl_admin_handle(struct sl_req *r, const char *path)
{
    const struct sl_config *cfg = sl_worker_config(r->w);
    struct sl_tenants *t = &sl_worker_shm(r->w)->tenants;
    enum evhttp_cmd_type m = evhttp_request_get_command(r->ev);
    const char *rest = path + strlen(PREFIX);

    if (!cfg->has_admin_key) {
        sl_req_reply_detail(r, 403, "Admin API disabled: set [admin] key_sha256");
    } else if (!sl_auth_is_admin(cfg, sl_req_header(r, "Authorization"))) {
        sl_req_add_header(r, "WWW-Authenticate", "Bearer");
        sl_req_reply_detail(r, 401, "Invalid or missing admin key");
    } else if (strcmp(rest, "/tenants") == 0 && m == EVHTTP_REQ_GET) {
        list_tenants(r, t);
    } else if (strcmp(rest, "/tenants") == 0 && m == EVHTTP_REQ_POST) {
        create_tenant(r, t);
    } else if (strncmp(rest, "/tenants/", 9) == 0) {
        tenant_routes(r, t, rest + 9, m);
    } else if (strncmp(rest, "/keys/", 6) == 0 && m == EVHTTP_REQ_DELETE) {
        if (sl_tenants_revoke_key(t, rest + 6) < 0)
            sl_req_reply_detail(r, 404, "Unknown key");
        else
            reply_json(r, 200, json_pack("{s:s}", "revoked", rest + 6));
    } else {
        sl_req_reply_detail(r, 404, "Not Found");
    }
    sl_req_free(r);
}
