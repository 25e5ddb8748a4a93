/* SPDX-License-Identifier: MIT */
/* commands.c - sluicectl's commands: their table, their words and limits, how they print. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl.h"
#include "http.h"

#define LIMIT_MAX 1000000000000000LL /* SPEC §7: limits range 0..10^15 */
#define NAME_MAX_LEN 63              /* SPEC §7: tenant names are 1-63 of [A-Za-z0-9_.-] */
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

#define MODELS_MAX_LEN 8192 /* the gateway keeps at most 1023 bytes of list */
#define GUARD_MAX_LEN 63    /* SPEC §13: a policy name is 1-63 of [A-Za-z0-9_.-] */

/* The JSON field each limit option sets, indexed from LIMIT_FIRST. */
static const char *const limit_fields[] = { "rpm",           "tpm",    "token_budget",
                                            "budget_period", "models", "guard" };

static const char *const periods[] = { "minute", "hour", "day", "month", "none" };

const struct cmd cmds[] = {
    { "tenant", "create", "NAME", "POST", "/tenants", BODY_CREATE, OUT_JSON,
      "      Create a dynamic tenant.  Limits left out take the gateway's [limits]\n"
      "      defaults; without --models it may call every configured model, without\n"
      "      --guard its prompts go through the default [guard] policy.  Prints the\n"
      "      new tenant (with \"key_ids\": []) as JSON.  Create a key with\n"
      "      'key create' before the tenant can make requests.\n" },
    { "tenant", "list", NULL, "GET", "/tenants", BODY_NONE, OUT_JSON,
      "      Print every tenant, static ([tenant.NAME] sections of the configuration)\n"
      "      and dynamic, as {\"tenants\": [...]}: name, static, rpm, tpm, token_budget,\n"
      "      budget_period, the number of live keys, \"models\" (the models it may\n"
      "      call; [] means every configured model) and \"guard\" (its input-guard\n"
      "      policy; null means the default [guard]).\n" },
    { "tenant", "show", "NAME", "GET", "/tenants/%s", BODY_NONE, OUT_JSON,
      "      Print one tenant as JSON, with its \"models\" ([] = every model), its\n"
      "      \"guard\" (null = the default policy) and the ids of its live keys in\n"
      "      \"key_ids\".\n" },
    { "tenant", "set", "NAME", "PATCH", "/tenants/%s", BODY_LIMITS, OUT_JSON,
      "      Change a dynamic tenant's limits, models or guard; give at least one\n"
      "      option.  Options left out keep their value; --models replaces the whole\n"
      "      list.  Prints the tenant as JSON.  A static tenant's limits, models and\n"
      "      guard belong to the configuration file and are refused here (409).\n" },
    { "tenant", "delete", "NAME", "DELETE", "/tenants/%s", BODY_NONE, OUT_JSON,
      "      Delete a dynamic tenant; its keys stop working.  Prints {\"deleted\": NAME}.\n" },
    { "key", "create", "NAME", "POST", "/tenants/%s/keys", BODY_NONE, OUT_KEY,
      "      Create a key for tenant NAME.  The key is shown this once, alone on one\n"
      "      line of standard output, so KEY=$(sluicectl key create NAME) captures it;\n"
      "      the gateway keeps only its SHA-256.  The key's id, which names it in\n"
      "      'tenant show' and 'key revoke', goes to standard error as \"key id: key_...\".\n" },
    { "key", "revoke", "KEYID", "DELETE", "/keys/%s", BODY_NONE, OUT_JSON,
      "      Revoke a key by its id (key_...); requests with it are refused at once.\n"
      "      Prints {\"revoked\": KEYID}.\n" },
    { "usage", NULL, "NAME", "GET", "/tenants/%s/usage", BODY_NONE, OUT_JSON,
      "      Print the tenant's token budget in the current period as JSON: tenant,\n"
      "      period, used, reserved (held by requests in flight), budget, remaining,\n"
      "      and reset_at (UTC, when the period ends; null for period none).\n" },
    { "usage", "reset", "NAME", "POST", "/tenants/%s/usage/reset", BODY_NONE, OUT_JSON,
      "      Forget the tokens the tenant used in the current period, so its whole\n"
      "      budget is available again.  Prints the usage as JSON.  ('usage reset'\n"
      "      alone shows the usage of a tenant named \"reset\".)\n" },
};

const size_t ncmds = sizeof(cmds) / sizeof(cmds[0]);

/* "group verb" for messages (one static buffer). */
static const char *cmd_name(const struct cmd *cmd)
{
    static char buf[32];

    snprintf(buf, sizeof(buf), "%s%s%s", cmd->group, cmd->verb ? " " : "",
             cmd->verb ? cmd->verb : "");
    return buf;
}

/* ------------------------------------------------------------------ arguments */

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    /* "." and ".." would be dot segments in the URL path, which HTTP stacks remove. */
    if (n == 0 || n > NAME_MAX_LEN || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    return strspn(s, NAME_CHARS) == n;
}

static bool valid_period(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
        if (strcmp(s, periods[i]) == 0)
            return true;
    return false;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* --models a,b as ["a","b"] (blanks around names dropped), '' as [] (every model).  Whether
 * each is a model the gateway serves is the gateway's to say. */
static int models_value(const char *v, json_t **ret)
{
    json_t *list = json_array();
    const char *p = v;

    if (!list)
        return fail(EXIT_API, "out of memory");
    if (strlen(v) > MODELS_MAX_LEN) {
        json_decref(list);
        return fail(EXIT_USAGE, "--models: longer than %d characters", MODELS_MAX_LEN);
    }
    while (v[strspn(v, " \t")] != '\0') {
        size_t len = strcspn(p, ","), skip = strspn(p, " \t"), n = len;

        while (n > skip && blank(p[n - 1]))
            n--;
        if (n == skip) {
            json_decref(list);
            return fail(EXIT_USAGE, "--models: '%s' has an empty model name", shown(v));
        }
        json_array_append_new(list, json_stringn(p + skip, n - skip));
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *ret = list;
    return 0;
}

/* --guard NAME as "NAME" ("none" too), '' as null: the default policy again.  Whether the
 * gateway has such a policy is the gateway's to say. */
static int guard_value(const char *v, json_t **ret)
{
    size_t n = strlen(v);

    if (n > GUARD_MAX_LEN || strspn(v, NAME_CHARS) != n)
        return fail(EXIT_USAGE,
                    "--guard: '%s' is not a policy name (1-63 characters of A-Z a-z 0-9 _ . -), "
                    "none or ''",
                    shown(v));
    *ret = n ? json_string(v) : json_null();
    return 0;
}

/* One limit option's value as JSON, checked. */
static int limit_value(int o, const char *v, json_t **ret)
{
    long long n = 0;

    if (o == O_MODELS)
        return models_value(v, ret);
    if (o == O_GUARD)
        return guard_value(v, ret);
    if (o == O_PERIOD && !valid_period(v))
        return fail(EXIT_USAGE, "--period: '%s' is not minute, hour, day, month or none", shown(v));
    if (o != O_PERIOD && !parse_uint(v, LIMIT_MAX, &n))
        return fail(EXIT_USAGE, "%s: '%s' is not an integer from 0 to %lld", opt_names[o], shown(v),
                    LIMIT_MAX);
    *ret = o == O_PERIOD ? json_string(v) : json_integer(n);
    return 0;
}

/* Check the limit options and, when the command takes them, add them to body. */
static int add_limits(const struct args *a, const struct cmd *cmd, json_t *body)
{
    json_t *value = NULL;
    const char *v;
    int o, r, given = 0;

    for (o = LIMIT_FIRST; o < O_COUNT; o++) {
        if (!(v = a->val[o]))
            continue;
        if (cmd->body == BODY_NONE)
            return fail(EXIT_USAGE, "'%s' takes no %s", cmd_name(cmd), opt_names[o]);
        if ((r = limit_value(o, v, &value)) != 0)
            return r;
        if (json_object_set_new(body, limit_fields[o - LIMIT_FIRST], value) != 0)
            return fail(EXIT_API, "out of memory");
        given++;
    }
    if (cmd->body == BODY_LIMITS && given == 0)
        return fail(EXIT_USAGE, "'tenant set' needs at least one of " LIMIT_SYNOPSIS);
    return 0;
}

static bool has_bare(const char *group)
{
    size_t i;

    for (i = 0; i < ncmds; i++)
        if (!cmds[i].verb && strcmp(cmds[i].group, group) == 0)
            return true;
    return false;
}

static int unknown_verb(const char *group, const char *verb)
{
    char list[128] = "";
    size_t i;

    for (i = 0; i < ncmds; i++) {
        if (strcmp(cmds[i].group, group) != 0 || !cmds[i].verb)
            continue;
        if (list[0])
            strncat(list, ", ", sizeof(list) - strlen(list) - 1);
        strncat(list, cmds[i].verb, sizeof(list) - strlen(list) - 1);
    }
    if (!verb)
        return fail(EXIT_USAGE, "'%s' needs a subcommand: %s", group, list);
    return fail(EXIT_USAGE, "unknown command '%s %s'; '%s' has: %s", group, shown(verb), group,
                list);
}

/* The command named by the first words; *ret_used is how many words its name took. */
int resolve(const struct args *a, const struct cmd **ret_cmd, int *ret_used)
{
    const char *group = a->pos[0], *verb = a->npos > 1 ? a->pos[1] : NULL;
    bool bare = has_bare(group), known = false;
    size_t i;

    for (i = 0; i < ncmds; i++) {
        if (strcmp(cmds[i].group, group) != 0)
            continue;
        known = true;
        /* "usage reset" alone is the usage of a tenant named "reset". */
        if (!cmds[i].verb || !verb || strcmp(cmds[i].verb, verb) != 0 || (bare && a->npos == 2))
            continue;
        *ret_cmd = &cmds[i];
        *ret_used = 2;
        return 0;
    }
    if (!known)
        return fail(EXIT_USAGE, "unknown command '%s' (try 'sluicectl --help')", shown(group));
    for (i = 0; bare && i < ncmds; i++) {
        if (!cmds[i].verb && strcmp(cmds[i].group, group) == 0) {
            *ret_cmd = &cmds[i];
            *ret_used = 1;
            return 0;
        }
    }
    return unknown_verb(group, verb);
}

/* The command's one argument (NAME or KEYID), checked; NULL when it takes none. */
int check_arg(const struct args *a, const struct cmd *cmd, int used, const char **ret)
{
    int want = cmd->arg ? 1 : 0;

    if (a->npos - used < want)
        return fail(EXIT_USAGE, "'%s' needs %s", cmd_name(cmd), cmd->arg);
    if (a->npos - used > want)
        return fail(EXIT_USAGE, "'%s' takes %s argument%s, got '%s' too", cmd_name(cmd),
                    want ? "one" : "no", want ? "" : "s", shown(a->pos[used + want]));
    *ret = want ? a->pos[used] : NULL;
    if (*ret && !valid_name(*ret))
        return fail(EXIT_USAGE, "%s '%s' is not 1-63 characters of A-Z a-z 0-9 _ . -", cmd->arg,
                    shown(*ret));
    return 0;
}

/* ------------------------------------------------------------------ replies */

static const char *status_text(long status)
{
    static const struct {
        long code;
        const char *text;
    } texts[] = {
        { 301, "Moved Permanently" },
        { 302, "Found" },
        { 307, "Temporary Redirect" },
        { 308, "Permanent Redirect" },
        { 400, "Bad Request" },
        { 401, "Unauthorized" },
        { 403, "Forbidden" },
        { 404, "Not Found" },
        { 405, "Method Not Allowed" },
        { 409, "Conflict" },
        { 413, "Payload Too Large" },
        { 415, "Unsupported Media Type" },
        { 422, "Unprocessable Entity" },
        { 429, "Too Many Requests" },
        { 500, "Internal Server Error" },
        { 502, "Bad Gateway" },
        { 503, "Service Unavailable" },
        { 504, "Gateway Timeout" },
    };
    size_t i;

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (texts[i].code == status)
            return texts[i].text;
    return "";
}

/* The API's reason: {"detail": "..."}, or an OpenAI-shaped {"error": {"message": "..."}}
 * from the gateway's other routes when --url points somewhere unexpected. */
static char *refusal_text(json_t *j)
{
    json_t *d = json_object_get(j, "detail");

    if (json_is_string(d) && json_string_length(d) > 0)
        return strdup(json_string_value(d));
    if (d && !json_is_null(d))
        return json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
    d = json_object_get(json_object_get(j, "error"), "message");
    if (json_is_string(d) && json_string_length(d) > 0)
        return strdup(json_string_value(d));
    return NULL;
}

static int refused(const struct ctl *c, const struct reply *r)
{
    json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    char *text = json_is_object(j) ? refusal_text(j) : NULL;
    char why[REASON_MAX];

    json_decref(j);
    if (!text) {
        const char *st = status_text(r->status);

        return fail(EXIT_API, "HTTP %ld%s%s", r->status, *st ? " " : "", st);
    }
    sanitize(text, c->key, why, sizeof(why));
    free(text);
    return fail(EXIT_API, "%s (%ld)", why, r->status);
}

static int write_stdout(const char *s)
{
    if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
        return fail(EXIT_API, "cannot write to standard output: %s", strerror(errno));
    return 0;
}

static int print_json(const struct ctl *c, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int r;

    if (!s)
        return fail(EXIT_API, "out of memory");
    /* The gateway has no reason ever to echo the admin key; if it does, print nothing. */
    if (strstr(s, c->key))
        r = fail(EXIT_API, "the gateway's reply contains the admin key; not printing it");
    else
        r = write_stdout(s);
    free(s);
    return r;
}

static bool printable_token(const char *s)
{
    size_t n = s ? strlen(s) : 0, i;

    if (n == 0 || n > KEY_MAX)
        return false;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* The new key alone on stdout (it is shown once: say so if it could not be written). */
static int print_key(const struct ctl *c, json_t *j, long status)
{
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *id = json_string_value(json_object_get(j, "id"));

    if (!printable_token(key) || strcmp(key, c->key) == 0)
        return fail(EXIT_API, "the gateway's reply (HTTP %ld) has no usable \"key\"", status);
    if (!printable_token(id))
        id = NULL;
    if (fputs(key, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
        return fail(EXIT_API,
                    "the key was created but could not be written (%s); revoke it: "
                    "sluicectl key revoke %s",
                    strerror(errno), id ? shown(id) : "KEYID");
    if (id)
        fprintf(stderr, "key id: %s\n", shown(id));
    return 0;
}

static int handle_reply(const struct ctl *c, const struct cmd *cmd, const struct reply *r)
{
    json_t *j;
    int ret;

    if (r->status < 200 || r->status > 299)
        return refused(c, r);
    j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return fail(EXIT_API, "the gateway's reply (HTTP %ld) is not a JSON object", r->status);
    }
    ret = cmd->out == OUT_KEY ? print_key(c, j, r->status) : print_json(c, j);
    json_decref(j);
    return ret;
}

/* ------------------------------------------------------------------ the request */

int make_body(const struct args *a, const struct cmd *cmd, const char *name, char **ret_payload)
{
    json_t *body = json_object();
    int r;

    *ret_payload = NULL;
    if (!body)
        return fail(EXIT_API, "out of memory");
    if (cmd->body == BODY_CREATE && json_object_set_new(body, "name", json_string(name)) != 0)
        r = fail(EXIT_API, "out of memory");
    else
        r = add_limits(a, cmd, body);
    if (r == 0 && cmd->body != BODY_NONE && !(*ret_payload = json_dumps(body, JSON_COMPACT)))
        r = fail(EXIT_API, "out of memory");
    json_decref(body);
    return r;
}

int run(struct ctl *c, const struct cmd *cmd, const char *arg, const char *payload)
{
    struct reply rep = { 0 };
    char path[256];
    char *esc = NULL;
    int r;

    if (arg && !(esc = curl_easy_escape(NULL, arg, 0)))
        return fail(EXIT_API, "out of memory");
    snprintf(path, sizeof(path), cmd->path, esc ? esc : "");
    curl_free(esc);
    r = call(c, cmd->method, path, payload, &rep);
    if (r == 0)
        r = handle_reply(c, cmd, &rep);
    free(rep.body);
    return r;
}
