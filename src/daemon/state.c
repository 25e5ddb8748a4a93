/* SPDX-License-Identifier: MIT */
/* state.c - saving and restoring tenants, keys and budget usage as one JSON document. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/config.h"
#include "core/model_list.h"
#include "admission/reservations.h"
#include "admission/tenants.h"

#define STATE_VERSION 1

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool unhex(const char *s, unsigned char *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;

        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (unsigned char)v;
    }
    return true;
}

static json_t *tenant_doc(struct sl_tenants *t, uint32_t idx, uint64_t now_ms, int64_t now_wall_s)
{
    struct sl_tenant_rec *rec = &t->tenants[idx];
    struct sl_quota_info info;
    struct sl_limits lim;
    json_t *o, *keys = json_array();
    char sha[65], models[SL_MODEL_LIST_MAX] = "", guard[SL_GUARD_NAME_MAX] = "";
    uint32_t i;

    sl_tenants_usage(t, (int)idx, now_ms, now_wall_s, &lim, &info);
    sl_tenants_models(t, (int)idx, models);
    sl_tenants_guard(t, (int)idx, guard);
    for (i = 0; i < t->key_slots; i++) {
        struct sl_key_rec *k = &t->keys[i];

        if (atomic_load(&k->state) != SL_SLOT_LIVE || k->tenant != idx || k->from_config)
            continue;
        hex(k->sha256, 32, sha);
        json_array_append_new(keys, json_pack("{s:s, s:s, s:I}", "id", k->id, "sha256", sha,
                                              "created_at", (json_int_t)k->created_s));
    }
    o = json_pack("{s:s, s:b, s:I, s:s, s:I, s:o}", "name", rec->name, "static", rec->is_static,
                  "used", (json_int_t)info.budget.used, "period",
                  sl_period_name(info.budget.period), "period_start",
                  (json_int_t)info.budget.period_start_s, "keys", keys);
    if (o && !rec->is_static) {
        json_object_set_new(o, "limits",
                            json_pack("{s:I, s:I, s:I, s:s}", "rpm", (json_int_t)lim.rpm, "tpm",
                                      (json_int_t)lim.tpm, "token_budget",
                                      (json_int_t)lim.token_budget, "budget_period",
                                      sl_period_name(lim.budget_period)));
        json_object_set_new(o, "models", json_string(models));
        json_object_set_new(o, "guard", json_string(guard));
    }
    return o;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Settlements Redis has not confirmed (reservations.h): written to Redis by the next start. */
static json_t *journal_doc(struct sl_tenants *t)
{
    json_t *list = json_array();
    char id[SL_RESV_ID_MAX];

    for (uint32_t i = 0; list && i < t->max_resv; i++) {
        struct sl_reservation *r = &t->resv[i];

        if (atomic_load(&r->state) != SL_SLOT_PENDING || r->tenant >= t->max_tenants ||
            !sl_tenants_resv_id(t, (int)i, r->seq, id, sizeof(id)))
            continue;
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:I, s:I, s:b}", "tenant", t->tenants[r->tenant].name, "id",
                            id, "tokens", (json_int_t)r->tokens, "actual", (json_int_t)r->actual,
                            "local", (r->flags & SL_RESV_LOCAL) != 0));
    }
    return list;
}

int sl_state_save(struct sl_tenants *t, const char *path, uint64_t now_ms, int64_t now_wall_s,
                  char *err, size_t err_sz)
{
    json_t *doc = json_pack("{s:i, s:I, s:[], s:o}", "version", STATE_VERSION, "saved_at",
                            (json_int_t)now_wall_s, "tenants", "journal", journal_doc(t));
    json_t *list = json_object_get(doc, "tenants");
    uint32_t i, n = atomic_load(&t->ntenants);
    char tmp[4200], dir[4200], *text;
    int fd, r = 0;

    for (i = 0; i < n; i++)
        if (atomic_load(&t->tenants[i].state) == SL_SLOT_LIVE)
            json_array_append_new(list, tenant_doc(t, i, now_ms, now_wall_s));
    text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    if (!text) {
        snprintf(err, err_sz, "out of memory");
        return -ENOMEM;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        r = -errno;
        snprintf(err, err_sz, "open(%s) failed: %s", tmp, strerror(errno));
        goto out;
    }
    r = write_all(fd, text, strlen(text));
    if (r == 0 && fsync(fd) == -1)
        r = -errno;
    close(fd);
    if (r == 0 && rename(tmp, path) == -1)
        r = -errno;
    if (r < 0) {
        snprintf(err, err_sz, "writing %s failed: %s", path, strerror(-r));
        (void)unlink(tmp);
        goto out;
    }
    /* The rename itself must reach the disk too. */
    snprintf(dir, sizeof(dir), "%s", path);
    fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd != -1) {
        (void)fsync(fd);
        close(fd);
    }
out:
    free(text);
    return r;
}

static bool period_of(const char *s, enum sl_period *p)
{
    static const enum sl_period all[] = { SL_PERIOD_MINUTE, SL_PERIOD_HOUR, SL_PERIOD_DAY,
                                          SL_PERIOD_MONTH, SL_PERIOD_NONE };

    for (size_t i = 0; i < 5; i++)
        if (s && strcmp(s, sl_period_name(all[i])) == 0) {
            *p = all[i];
            return true;
        }
    return false;
}

/* A tenant's "models": absent or null (a file from before model lists) is every model; else a
 * list in its canonical form or not, whose names need not be configured any more. */
static bool models_ok(json_t *v)
{
    char out[SL_MODEL_LIST_MAX], why[160];

    return !v || json_is_null(v) ||
           (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
            sl_model_list_parse(json_string_value(v), NULL, out, why, sizeof(why)) == 0);
}

/* A tenant's "guard": absent or null (a file from before guards) is the default; else a name
 * that need not be a policy of the configuration any more (the request path refuses such a
 * tenant's requests rather than let them through unchecked). */
static bool guard_ok(json_t *v)
{
    return !v || json_is_null(v) ||
           (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
            sl_tenants_guard_name_ok(json_string_value(v)));
}

/* Check the whole document before changing anything, so a bad file restores nothing. */
static const char *validate(json_t *doc)
{
    json_t *list = json_object_get(doc, "tenants"), *tn, *k;
    size_t i, j;
    enum sl_period p;
    unsigned char sha[32];

    if (json_integer_value(json_object_get(doc, "version")) != STATE_VERSION)
        return "unknown version";
    if (!json_is_array(list))
        return "no tenants array";
    json_array_foreach(list, i, tn)
    {
        json_t *lim = json_object_get(tn, "limits");
        const char *name = json_string_value(json_object_get(tn, "name"));

        if (!name || !*name || strlen(name) > 63)
            return "a tenant without a valid name";
        if (!json_is_integer(json_object_get(tn, "used")) ||
            json_integer_value(json_object_get(tn, "used")) < 0 ||
            !period_of(json_string_value(json_object_get(tn, "period")), &p) ||
            !json_is_integer(json_object_get(tn, "period_start")))
            return "a tenant with bad usage fields";
        if (lim && (!json_is_integer(json_object_get(lim, "rpm")) ||
                    !json_is_integer(json_object_get(lim, "tpm")) ||
                    !json_is_integer(json_object_get(lim, "token_budget")) ||
                    json_integer_value(json_object_get(lim, "rpm")) < 0 ||
                    json_integer_value(json_object_get(lim, "tpm")) < 0 ||
                    json_integer_value(json_object_get(lim, "token_budget")) < 0 ||
                    !period_of(json_string_value(json_object_get(lim, "budget_period")), &p)))
            return "a tenant with bad limits";
        if (!models_ok(json_object_get(tn, "models")))
            return "a tenant with a bad models list";
        if (!guard_ok(json_object_get(tn, "guard")))
            return "a tenant with a bad guard";
        json_array_foreach(json_object_get(tn, "keys"), j,
                           k) if (!unhex(json_string_value(json_object_get(k, "sha256")), sha,
                                         32)) return "a key with a bad sha256";
    }
    list = json_object_get(doc, "journal");
    if (list && !json_is_array(list))
        return "a journal that is not an array";
    json_array_foreach(list, i, tn) if (!json_is_string(json_object_get(tn, "tenant")) ||
                                        !json_is_string(json_object_get(tn, "id")) ||
                                        !json_is_integer(json_object_get(tn, "tokens")) ||
                                        !json_is_integer(json_object_get(tn, "actual")) ||
                                        json_integer_value(json_object_get(tn, "tokens")) < 0 ||
                                        json_integer_value(json_object_get(tn, "actual")) <
                                            0) return "a journal entry with bad fields";
    return NULL;
}

/* Pending settlements come back as pending, under the ids Redis knows them by. */
static void restore_journal(struct sl_tenants *t, json_t *doc)
{
    json_t *e;
    size_t i;

    json_array_foreach(json_object_get(doc, "journal"), i, e)
    {
        int idx = sl_tenants_by_name(t, json_string_value(json_object_get(e, "tenant")));

        if (idx >= 0)
            (void)sl_tenants_restore_pending(
                t, idx, json_string_value(json_object_get(e, "id")),
                (uint64_t)json_integer_value(json_object_get(e, "tokens")),
                (uint64_t)json_integer_value(json_object_get(e, "actual")),
                json_is_true(json_object_get(e, "local")));
    }
}

static void restore(struct sl_tenants *t, json_t *doc, int64_t now_wall_s)
{
    json_t *tn, *k;
    size_t i, j;

    json_array_foreach(json_object_get(doc, "tenants"), i, tn)
    {
        const char *name = json_string_value(json_object_get(tn, "name"));
        json_t *lim_j = json_object_get(tn, "limits");
        int idx = sl_tenants_by_name(t, name);
        enum sl_period p = SL_PERIOD_NONE;

        /* A dynamic tenant comes back; a static one exists only if the file still names it. */
        if (idx < 0 && lim_j) {
            struct sl_limits lim = {
                .rpm = json_integer_value(json_object_get(lim_j, "rpm")),
                .tpm = json_integer_value(json_object_get(lim_j, "tpm")),
                .token_budget = json_integer_value(json_object_get(lim_j, "token_budget")),
            };

            period_of(json_string_value(json_object_get(lim_j, "budget_period")),
                      &lim.budget_period);
            idx = sl_tenants_create(t, name, &lim, now_wall_s);
            if (idx >= 0 && json_is_string(json_object_get(tn, "models")))
                (void)sl_tenants_set_models(t, idx,
                                            json_string_value(json_object_get(tn, "models")));
            if (idx >= 0 && json_is_string(json_object_get(tn, "guard")))
                (void)sl_tenants_set_guard(t, idx, json_string_value(json_object_get(tn, "guard")));
        }
        if (idx < 0)
            continue;
        json_array_foreach(json_object_get(tn, "keys"), j, k)
        {
            unsigned char sha[32];

            unhex(json_string_value(json_object_get(k, "sha256")), sha, 32);
            (void)sl_tenants_add_key(t, idx, sha,
                                     json_integer_value(json_object_get(k, "created_at")), NULL);
        }
        period_of(json_string_value(json_object_get(tn, "period")), &p);
        sl_tenants_restore_usage(t, idx, (uint64_t)json_integer_value(json_object_get(tn, "used")),
                                 p, json_integer_value(json_object_get(tn, "period_start")),
                                 now_wall_s);
    }
}

int sl_state_load(struct sl_tenants *t, const char *path, int64_t now_wall_s, char *err,
                  size_t err_sz)
{
    json_error_t je;
    const char *why;
    struct stat st;
    json_t *doc;

    if (stat(path, &st) == -1) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_sz, "%s: %s", path, strerror(errno));
        return -errno;
    }
    if (st.st_size > (off_t)SL_STATE_MAX_BYTES) {
        snprintf(err, err_sz, "%s: larger than %u bytes", path, SL_STATE_MAX_BYTES);
        return -EFBIG;
    }
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, err_sz, "%s:%d: %s", path, je.line, je.text);
        return -EINVAL;
    }
    why = validate(doc);
    if (why) {
        snprintf(err, err_sz, "%s: %s", path, why);
        json_decref(doc);
        return -EINVAL;
    }
    restore(t, doc, now_wall_s);
    restore_journal(t, doc);
    json_decref(doc);
    return 0;
}
