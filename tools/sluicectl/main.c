/* SPDX-License-Identifier: MIT */
/* sluicectl.c - sluicectl, the command-line client of the admin API (/admin/v1): one blocking
 * HTTP request per invocation to manage tenants, their keys and their usage. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define DEFAULT_URL "http://127.0.0.1:8080"
#define API_PREFIX "/admin/v1"
#define DEFAULT_TIMEOUT_MS 10000LL
#define TIMEOUT_MAX_MS 3600000LL
#define LIMIT_MAX 1000000000000000LL    /* SPEC §7: limits range 0..10^15 */
#define NAME_MAX_LEN 63                 /* SPEC §7: tenant names are 1-63 of [A-Za-z0-9_.-] */
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#define URL_MAX 2048
#define SUN_PATH_MAX 107                /* sizeof(sockaddr_un.sun_path) - 1 on Linux */
#define KEY_MAX 1024
#define KEY_FILE_MAX 4096
#define REPLY_MAX (8u << 20)
#define REASON_MAX 400
#define POS_MAX 8
#define REDACTED "[redacted]"

enum { EXIT_API = 1, EXIT_USAGE = 2, EXIT_CONN = 3 };

/* Options taking a value; the last four are a tenant's limits (LIMIT_FIRST..O_COUNT-1). */
enum opt_id { O_URL, O_KEYFILE, O_TIMEOUT, O_RPM, O_TPM, O_BUDGET, O_PERIOD, O_COUNT };
#define LIMIT_FIRST O_RPM

enum body_kind { BODY_NONE, BODY_CREATE, BODY_LIMITS };
enum out_kind { OUT_JSON, OUT_KEY };

struct cmd {
    const char *group;
    const char *verb;           /* NULL: the bare form, "usage NAME" */
    const char *arg;            /* "NAME", "KEYID" or NULL for no argument */
    const char *method;
    const char *path;           /* under API_PREFIX; %s is the escaped argument */
    enum body_kind body;
    enum out_kind out;
    const char *help;           /* lines indented by 6 spaces, each ending in \n */
};

struct args {
    char *pos[POS_MAX];
    int npos;
    const char *val[O_COUNT];   /* value options as given, NULL when absent */
    bool help;
    bool version;
};

struct ctl {
    const char *url;
    long long timeout_ms;
    char key[KEY_MAX + 1];
};

struct reply {
    long status;
    char *body;
    size_t len;
    bool too_big;
    bool no_mem;
};

static const char *const opt_names[O_COUNT] = {
    "--url", "--admin-key-file", "--timeout-ms", "--rpm", "--tpm", "--budget", "--period",
};

/* The JSON field each limit option sets, indexed from LIMIT_FIRST. */
static const char *const limit_fields[] = { "rpm", "tpm", "token_budget", "budget_period" };

static const char *const periods[] = { "minute", "hour", "day", "month", "none" };

#define LIMIT_SYNOPSIS "[--rpm N] [--tpm N] [--budget N] [--period P]"

static const struct cmd cmds[] = {
    { "tenant", "create", "NAME", "POST", "/tenants", BODY_CREATE, OUT_JSON,
      "      Create a dynamic tenant.  Limits left out take the gateway's [limits]\n"
      "      defaults.  Prints the new tenant (with \"key_ids\": []) as JSON.  Create a\n"
      "      key with 'key create' before the tenant can make requests.\n" },
    { "tenant", "list", NULL, "GET", "/tenants", BODY_NONE, OUT_JSON,
      "      Print every tenant, static ([tenant.NAME] sections of the configuration)\n"
      "      and dynamic, as {\"tenants\": [...]}: name, static, rpm, tpm, token_budget,\n"
      "      budget_period and the number of live keys.\n" },
    { "tenant", "show", "NAME", "GET", "/tenants/%s", BODY_NONE, OUT_JSON,
      "      Print one tenant as JSON, with the ids of its live keys in \"key_ids\".\n" },
    { "tenant", "set", "NAME", "PATCH", "/tenants/%s", BODY_LIMITS, OUT_JSON,
      "      Change a dynamic tenant's limits; give at least one option.  Options left\n"
      "      out keep their value.  Prints the tenant as JSON.  A static tenant's limits\n"
      "      belong to the configuration file and are refused here (409).\n" },
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

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char help_head[] =
    "NAME\n"
    "    sluicectl - manage the tenants, keys and usage of a sluice gateway\n"
    "\n"
    "SYNOPSIS\n"
    "    sluicectl [--url URL] [--admin-key-file FILE] [--timeout-ms N] COMMAND ...\n"
    "    sluicectl help [COMMAND]\n"
    "    sluicectl --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "    sluicectl is the command-line client of the gateway's admin API (/admin/v1).\n"
    "    Each invocation makes one HTTP request, authenticated with the admin key\n"
    "    (whose SHA-256 is [admin] key_sha256 in sluice.conf; without it the admin API\n"
    "    is disabled), and prints the reply as JSON indented by two spaces.  Changes\n"
    "    apply at once to every worker of the gateway.\n"
    "\n"
    "COMMANDS\n";

static const char help_opts[] =
    "OPTIONS\n"
    "    --url URL\n"
    "      The gateway: http://HOST:PORT, https://HOST:PORT (optionally with a path\n"
    "      prefix), or unix:/PATH for a gateway listening on a Unix socket.\n"
    "      Default: $SLUICECTL_URL, else " DEFAULT_URL ".  Redirects are not\n"
    "      followed and proxies (http_proxy and the like) are not used.\n"
    "    --admin-key-file FILE\n"
    "      Read the admin key from the first line of FILE (surrounding blanks are\n"
    "      ignored).  Default: the key in $SLUICE_ADMIN_KEY.\n"
    "    --timeout-ms N\n"
    "      Give up on the request after N milliseconds, 1 to 3600000.  Default 10000.\n"
    "    -h, --help\n"
    "      Print this help, or with a command the help of that command, and exit.\n"
    "    -V, --version\n"
    "      Print the version and exit.\n"
    "    --\n"
    "      Every argument after it is a name, even one starting with '-'.\n"
    "\n"
    "    Options may come before or after the command; OPTION=VALUE works too.\n"
    "\n";

static const char help_limits[] =
    "LIMIT OPTIONS (tenant create, tenant set)\n"
    "    --rpm N      requests per minute\n"
    "    --tpm N      tokens per minute\n"
    "    --budget N   tokens per budget period (token_budget)\n"
    "    --period P   the budget period: minute, hour, day, month, or none (a\n"
    "                 lifetime budget)\n"
    "    N is an integer from 0 to 1000000000000000; 0 means unlimited.\n"
    "\n"
    "    NAME is a tenant name, 1 to 63 characters of A-Z a-z 0-9 _ . - (not \".\"\n"
    "    or \"..\"); KEYID is a key id as printed by 'key create' or 'tenant show'.\n"
    "    Both are checked before anything is sent.\n"
    "\n";

static const char help_tail[] =
    "ENVIRONMENT\n"
    "    SLUICECTL_URL     the gateway's URL when --url is not given\n"
    "    SLUICE_ADMIN_KEY  the admin key when --admin-key-file is not given.  A file\n"
    "                      readable only by its owner is the safer place for it.\n"
    "\n"
    "    sluicectl never prints the admin key, and never puts it in an error message\n"
    "    or on a command line.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  success\n"
    "    1  the gateway refused the request (the reason is the API's message and its\n"
    "       HTTP status, e.g. 'sluicectl: tenant \"acme\" already exists (409)'), or\n"
    "       its reply was unusable, or the output could not be written\n"
    "    2  usage error: unknown command or option, bad name or number, no admin key;\n"
    "       nothing was sent\n"
    "    3  the gateway could not be reached: connection refused, name resolution,\n"
    "       TLS, or the timeout\n"
    "    On failure exactly one line, \"sluicectl: REASON\", goes to standard error.\n"
    "\n"
    "EXAMPLES\n"
    "    umask 077; printf '%s\\n' \"$ADMIN_KEY\" > ~/.sluice-admin-key\n"
    "    sluicectl --admin-key-file ~/.sluice-admin-key tenant create acme \\\n"
    "        --rpm 120 --budget 500000 --period month\n"
    "    export SLUICE_ADMIN_KEY=\"$(cat ~/.sluice-admin-key)\"\n"
    "    KEY=$(sluicectl key create acme)     # the key id goes to stderr\n"
    "    sluicectl tenant set acme --tpm 0     # no tokens-per-minute limit\n"
    "    sluicectl usage acme\n"
    "    sluicectl --url unix:/run/sluice/sluice.sock tenant list\n"
    "    sluicectl key revoke key_0123456789abcdef\n"
    "\n"
    "SEE ALSO\n"
    "    sluiced -h, docs/sluicectl.md, docs/OPERATIONS.md, etc/sluice.conf\n";

/* Copy s into out (size outsz > 4) as one printable line: control characters become spaces,
 * every occurrence of secret (if any) becomes REDACTED, and a long text is cut at a UTF-8
 * boundary and marked "...". */
static void sanitize(const char *s, const char *secret, char *out, size_t outsz)
{
    size_t slen = secret ? strlen(secret) : 0, n = 0, room = outsz - 4;
    bool cut = false;

    for (; *s && !cut; s++) {
        if (slen && strncmp(s, secret, slen) == 0) {
            if (n + sizeof(REDACTED) - 1 > room) {
                cut = true;
                break;
            }
            memcpy(out + n, REDACTED, sizeof(REDACTED) - 1);
            n += sizeof(REDACTED) - 1;
            s += slen - 1;
            continue;
        }
        if (n >= room) {
            cut = true;
            break;
        }
        out[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
    }
    if (cut) {
        while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
            n--;
        if (n > 0 && (unsigned char)out[n - 1] >= 0xc0)
            n--;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* A user-supplied word made safe to quote in a message (one static buffer). */
static const char *shown(const char *s)
{
    static char buf[80];

    sanitize(s, NULL, buf, sizeof(buf));
    return buf;
}

/* "group verb" for messages (one static buffer). */
static const char *cmd_name(const struct cmd *cmd)
{
    static char buf[32];

    snprintf(buf, sizeof(buf), "%s%s%s", cmd->group, cmd->verb ? " " : "",
             cmd->verb ? cmd->verb : "");
    return buf;
}

__attribute__((format(printf, 2, 3)))
static int fail(int code, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("sluicectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* ------------------------------------------------------------------ help */

static void help_cmd_line(FILE *out, const struct cmd *c)
{
    fprintf(out, "    %s", c->group);
    if (c->verb)
        fprintf(out, " %s", c->verb);
    if (c->arg)
        fprintf(out, " %s", c->arg);
    if (c->body != BODY_NONE)
        fprintf(out, " " LIMIT_SYNOPSIS);
    fprintf(out, "\n%s", c->help);
}

static void help_all(FILE *out)
{
    size_t i;

    fputs(help_head, out);
    for (i = 0; i < NCMDS; i++)
        help_cmd_line(out, &cmds[i]);
    fputs("    help [COMMAND]\n"
          "      Print the help of one command (e.g. 'help tenant create', 'help key') and\n"
          "      exit.\n\n", out);
    fputs(help_opts, out);
    fputs(help_limits, out);
    fputs(help_tail, out);
}

static bool is_topic(const char *group, const char *verb)
{
    size_t i;

    for (i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].group, group) == 0 && (!verb || (cmds[i].verb &&
                                                            strcmp(cmds[i].verb, verb) == 0)))
            return true;
    return false;
}

/* Help for "GROUP" or "GROUP VERB", or all of it; 0, or EXIT_USAGE for an unknown topic.
 * After -h/--help (loose) extra words such as the command's NAME are ignored. */
static int help_topic(char **words, int n, bool loose)
{
    bool limits = false;
    size_t i;

    if (loose && n > 2)
        n = 2;
    if (loose && n == 2 && !is_topic(words[0], words[1]))
        n = 1;
    if (n == 0) {
        help_all(stdout);
        return 0;
    }
    if (n == 1 && strcmp(words[0], "help") == 0) {
        printf("    help [COMMAND]\n      Print the help of COMMAND, or all of it.\n");
        return 0;
    }
    if (n > 2 || !is_topic(words[0], n == 2 ? words[1] : NULL))
        return fail(EXIT_USAGE, "no help for '%s%s%s' (try 'sluicectl --help')",
                    shown(words[0]), n > 1 ? " " : "", n > 1 ? "..." : "");
    printf("Usage: sluicectl [--url URL] [--admin-key-file FILE] [--timeout-ms N] COMMAND\n\n");
    for (i = 0; i < NCMDS; i++) {
        if (strcmp(cmds[i].group, words[0]) != 0)
            continue;
        if (n > 1 && (!cmds[i].verb || strcmp(cmds[i].verb, words[1]) != 0))
            continue;
        limits = limits || cmds[i].body != BODY_NONE;
        help_cmd_line(stdout, &cmds[i]);
    }
    printf("\n%s", limits ? help_limits : "");
    printf("See 'sluicectl --help' for the options, environment and exit status.\n");
    return 0;
}

/* ------------------------------------------------------------------ arguments */

/* The value of option name at argv[*i] ("--name VALUE" or "--name=VALUE"), NULL if argv[*i]
 * is another option; *missing is set when the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *s = argv[*i];

    if (strncmp(s, name, n) != 0)
        return NULL;
    if (s[n] == '=')
        return s + n + 1;
    if (s[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int take_option(int argc, char **argv, int *i, struct args *a)
{
    const char *s = argv[*i], *v;
    bool missing = false;
    int o;

    if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
        a->help = true;
        return 0;
    }
    if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
        a->version = true;
        return 0;
    }
    for (o = 0; o < O_COUNT; o++) {
        v = opt_value(argc, argv, i, opt_names[o], &missing);
        if (missing)
            return fail(EXIT_USAGE, "option %s needs a value", opt_names[o]);
        if (!v)
            continue;
        if (a->val[o])
            return fail(EXIT_USAGE, "option %s given twice", opt_names[o]);
        a->val[o] = v;
        return 0;
    }
    return fail(EXIT_USAGE, "unknown option '%s' (try 'sluicectl --help')", shown(s));
}

static int parse_argv(int argc, char **argv, struct args *a)
{
    bool only_words = false;
    int i, r;

    for (i = 1; i < argc; i++) {
        const char *s = argv[i];

        if (only_words || s[0] != '-' || s[1] == '\0') {
            if (a->npos == POS_MAX)
                return fail(EXIT_USAGE, "too many arguments");
            a->pos[a->npos++] = argv[i];
        } else if (strcmp(s, "--") == 0) {
            only_words = true;
        } else if ((r = take_option(argc, argv, &i, a)) != 0) {
            return r;
        }
    }
    return 0;
}

/* A decimal integer 0..max, digits only (no sign, blanks or exponent). */
static bool parse_uint(const char *s, long long max, long long *ret_v)
{
    long long v = 0;

    if (*s == '\0' || strlen(s) > 32)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
        if (v > max)
            return false;
    }
    *ret_v = v;
    return true;
}

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

/* http(s)://... or unix:/absolute/path; no blanks, control characters, query or fragment, as
 * API paths are appended to it. */
static bool valid_url(const char *u)
{
    size_t i, n = strlen(u);

    if (n == 0 || n > URL_MAX)
        return false;
    for (i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f || u[i] == '?' || u[i] == '#')
            return false;
    if (strncmp(u, "unix:", 5) == 0)
        return u[5] == '/' && n - 5 <= SUN_PATH_MAX;
    if (strncasecmp(u, "http://", 7) == 0)
        return n > 7;
    return strncasecmp(u, "https://", 8) == 0 && n > 8;
}

static int check_globals(const struct args *a, struct ctl *c)
{
    const char *env = getenv("SLUICECTL_URL");

    c->url = a->val[O_URL] ? a->val[O_URL] : (env && *env ? env : DEFAULT_URL);
    if (!valid_url(c->url))
        return fail(EXIT_USAGE, "%s: '%s' is not an http://, https:// or unix:/PATH URL",
                    a->val[O_URL] ? "--url" : "SLUICECTL_URL", shown(c->url));
    c->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (a->val[O_TIMEOUT] && !parse_uint(a->val[O_TIMEOUT], TIMEOUT_MAX_MS, &c->timeout_ms))
        return fail(EXIT_USAGE, "--timeout-ms: '%s' is not an integer from 1 to %lld",
                    shown(a->val[O_TIMEOUT]), TIMEOUT_MAX_MS);
    if (c->timeout_ms == 0)
        return fail(EXIT_USAGE, "--timeout-ms: must be at least 1");
    return 0;
}

/* Check the limit options and, when the command takes them, add them to body. */
static int add_limits(const struct args *a, const struct cmd *cmd, json_t *body)
{
    long long n = 0;
    const char *v;
    int o, given = 0;

    for (o = LIMIT_FIRST; o < O_COUNT; o++) {
        if (!(v = a->val[o]))
            continue;
        if (cmd->body == BODY_NONE)
            return fail(EXIT_USAGE, "'%s' takes no %s", cmd_name(cmd), opt_names[o]);
        if (o == O_PERIOD && !valid_period(v))
            return fail(EXIT_USAGE, "--period: '%s' is not minute, hour, day, month or none",
                        shown(v));
        if (o != O_PERIOD && !parse_uint(v, LIMIT_MAX, &n))
            return fail(EXIT_USAGE, "%s: '%s' is not an integer from 0 to %lld",
                        opt_names[o], shown(v), LIMIT_MAX);
        if (json_object_set_new(body, limit_fields[o - LIMIT_FIRST],
                                o == O_PERIOD ? json_string(v) : json_integer(n)) != 0)
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

    for (i = 0; i < NCMDS; i++)
        if (!cmds[i].verb && strcmp(cmds[i].group, group) == 0)
            return true;
    return false;
}

static int unknown_verb(const char *group, const char *verb)
{
    char list[128] = "";
    size_t i;

    for (i = 0; i < NCMDS; i++) {
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
static int resolve(const struct args *a, const struct cmd **ret_cmd, int *ret_used)
{
    const char *group = a->pos[0], *verb = a->npos > 1 ? a->pos[1] : NULL;
    bool bare = has_bare(group), known = false;
    size_t i;

    for (i = 0; i < NCMDS; i++) {
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
    for (i = 0; bare && i < NCMDS; i++) {
        if (!cmds[i].verb && strcmp(cmds[i].group, group) == 0) {
            *ret_cmd = &cmds[i];
            *ret_used = 1;
            return 0;
        }
    }
    return unknown_verb(group, verb);
}

/* The command's one argument (NAME or KEYID), checked; NULL when it takes none. */
static int check_arg(const struct args *a, const struct cmd *cmd, int used, const char **ret)
{
    int want = cmd->arg ? 1 : 0;

    if (a->npos - used < want)
        return fail(EXIT_USAGE, "'%s' needs %s", cmd_name(cmd), cmd->arg);
    if (a->npos - used > want)
        return fail(EXIT_USAGE, "'%s' takes %s argument%s, got '%s' too", cmd_name(cmd),
                    want ? "one" : "no", want ? "" : "s", shown(a->pos[used + want]));
    *ret = want ? a->pos[used] : NULL;
    if (*ret && !valid_name(*ret))
        return fail(EXIT_USAGE, "%s '%s' is not 1-63 characters of A-Z a-z 0-9 _ . -",
                    cmd->arg, shown(*ret));
    return 0;
}

/* ------------------------------------------------------------------ the admin key */

/* Trim blanks around s (length n) in place; the key is printable ASCII without spaces. */
static int accept_key(struct ctl *c, const char *s, size_t n, const char *from)
{
    size_t i;

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    if (n == 0)
        return fail(EXIT_USAGE, "%s: the admin key is empty", from);
    if (n > KEY_MAX)
        return fail(EXIT_USAGE, "%s: the admin key is longer than %d bytes", from, KEY_MAX);
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return fail(EXIT_USAGE, "%s: the admin key has a character that is not "
                        "printable ASCII", from);
    memcpy(c->key, s, n);
    c->key[n] = '\0';
    return 0;
}

/* First line of path; works for pipes too (--admin-key-file <(pass show sluice)). */
static int key_from_file(struct ctl *c, const char *path)
{
    char buf[KEY_FILE_MAX + 1];
    ssize_t got = 0;
    size_t n = 0;
    int fd, r;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
        return fail(EXIT_USAGE, "cannot open admin key file '%s': %s", shown(path),
                    strerror(errno));
    while (n < KEY_FILE_MAX && !memchr(buf, '\n', n)) {
        got = read(fd, buf + n, KEY_FILE_MAX - n);
        if (got == -1 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    r = errno;
    (void)close(fd);
    if (got == -1) {
        explicit_bzero(buf, sizeof(buf));
        return fail(EXIT_USAGE, "cannot read admin key file '%s': %s", shown(path), strerror(r));
    }
    buf[n] = '\0';
    n = strcspn(buf, "\n");
    r = accept_key(c, buf, n, shown(path));
    explicit_bzero(buf, sizeof(buf));
    return r;
}

static int load_key(struct ctl *c, const char *file)
{
    const char *env = getenv("SLUICE_ADMIN_KEY");

    if (file)
        return key_from_file(c, file);
    if (!env || !*env)
        return fail(EXIT_USAGE, "no admin key: use --admin-key-file FILE or set "
                    "SLUICE_ADMIN_KEY");
    return accept_key(c, env, strlen(env), "SLUICE_ADMIN_KEY");
}

/* ------------------------------------------------------------------ HTTP */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;
    char *p;

    if (n > REPLY_MAX - r->len) {
        r->too_big = true;
        return 0;
    }
    if (!(p = realloc(r->body, r->len + n + 1))) {
        r->no_mem = true;
        return 0;
    }
    memcpy(p + r->len, data, n);
    r->len += n;
    p[r->len] = '\0';
    r->body = p;
    return n;
}

/* Authorization, Accept and Content-Type headers; NULL when out of memory. */
static struct curl_slist *make_headers(const struct ctl *c, bool has_body)
{
    /* An empty "Content-Type:" stops libcurl labelling an empty POST as a form. */
    const char *const extra[] = {
        "Accept: application/json", "Expect:",
        has_body ? "Content-Type: application/json" : "Content-Type:", NULL,
    };
    char auth[KEY_MAX + 32];
    struct curl_slist *list, *next;
    const char *const *h;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->key);
    list = curl_slist_append(NULL, auth);
    explicit_bzero(auth, sizeof(auth));
    for (h = extra; list && *h; h++) {
        if (!(next = curl_slist_append(list, *h))) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = next;
    }
    return list;
}

static void set_target(CURL *h, const struct ctl *c, const char *path, char *url, size_t urlsz)
{
    size_t n;

    if (strncmp(c->url, "unix:", 5) == 0) {
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->url + 5);
        snprintf(url, urlsz, "http://localhost" API_PREFIX "%s", path);
    } else {
        n = strlen(c->url);
        while (n > 0 && c->url[n - 1] == '/')
            n--;
        snprintf(url, urlsz, "%.*s" API_PREFIX "%s", (int)n, c->url, path);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
}

static void set_method(CURL *h, const char *method, const char *payload)
{
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(method, "DELETE") != 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload ? payload : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, payload ? (long)strlen(payload) : 0L);
    }
    if (strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

static void set_common(CURL *h, const struct ctl *c, struct reply *out, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    /* The admin key goes to the gateway named and nowhere else: no proxy from the
     * environment, no redirects, no other protocols. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_USERAGENT, "sluicectl/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
}

static int transfer_failed(const struct ctl *c, CURLcode rc, const struct reply *out,
                           const char *errbuf, long os_errno)
{
    char why[REASON_MAX];

    if (out->too_big)
        return fail(EXIT_API, "the gateway's reply is larger than %u bytes", REPLY_MAX);
    if (out->no_mem)
        return fail(EXIT_API, "out of memory");
    sanitize(errbuf[0] ? errbuf : curl_easy_strerror(rc), c->key, why, sizeof(why));
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        return fail(EXIT_USAGE, "bad URL: %s", why);
    /* libcurl's message names localhost:80 for a Unix socket; the path is what matters. */
    if (strncmp(c->url, "unix:", 5) == 0)
        return fail(EXIT_CONN, "cannot connect to %s: %s", shown(c->url),
                    os_errno ? strerror((int)os_errno) : curl_easy_strerror(rc));
    if (os_errno && rc == CURLE_COULDNT_CONNECT)
        return fail(EXIT_CONN, "%s (%s)", why, strerror((int)os_errno));
    return fail(EXIT_CONN, "%s", why);
}

/* One request; 0 with out->status and out->body, or an exit code (already reported). */
static int call(const struct ctl *c, const char *method, const char *path, const char *payload,
                struct reply *out)
{
    char url[URL_MAX + 256], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs;
    long os_errno = 0;
    CURLcode rc;
    CURL *h;
    int r = 0;

    if (!(h = curl_easy_init()))
        return fail(EXIT_API, "curl_easy_init() failed");
    if (!(hdrs = make_headers(c, payload != NULL))) {
        curl_easy_cleanup(h);
        return fail(EXIT_API, "out of memory");
    }
    set_common(h, c, out, errbuf);
    set_target(h, c, path, url, sizeof(url));
    set_method(h, method, payload);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    } else {
        if (curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK)
            os_errno = 0;
        r = transfer_failed(c, rc, out, errbuf, os_errno);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    return r;
}

/* ------------------------------------------------------------------ replies */

static const char *status_text(long status)
{
    static const struct { long code; const char *text; } texts[] = {
        { 301, "Moved Permanently" }, { 302, "Found" }, { 307, "Temporary Redirect" },
        { 308, "Permanent Redirect" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
        { 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
        { 409, "Conflict" }, { 413, "Payload Too Large" }, { 415, "Unsupported Media Type" },
        { 422, "Unprocessable Entity" }, { 429, "Too Many Requests" },
        { 500, "Internal Server Error" }, { 502, "Bad Gateway" },
        { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
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
        return fail(EXIT_API, "the key was created but could not be written (%s); revoke it: "
                    "sluicectl key revoke %s", strerror(errno), id ? shown(id) : "KEYID");
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

/* ------------------------------------------------------------------ commands */

static int make_body(const struct args *a, const struct cmd *cmd, const char *name,
                     char **ret_payload)
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

static int run(struct ctl *c, const struct cmd *cmd, const char *arg, const char *payload)
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

/* Everything is checked before the admin key is read and before anything is sent. */
static int dispatch(struct ctl *c, const struct args *a)
{
    const struct cmd *cmd = NULL;
    const char *arg = NULL;
    char *payload = NULL;
    int used = 0, r;

    if ((r = resolve(a, &cmd, &used)) != 0 || (r = check_arg(a, cmd, used, &arg)) != 0)
        return r;
    if ((r = make_body(a, cmd, arg, &payload)) != 0)
        return r;
    if ((r = check_globals(a, c)) == 0 && (r = load_key(c, a->val[O_KEYFILE])) == 0)
        r = run(c, cmd, arg, payload);
    free(payload);
    return r;
}

int main(int argc, char **argv)
{
    static struct ctl c;
    struct args a = { 0 };
    int r;

    if ((r = parse_argv(argc, argv, &a)) != 0)
        return r;
    if (a.version) {
        printf("sluicectl %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (a.help)
        return help_topic(a.pos, a.npos, true);
    if (a.npos == 0)
        return fail(EXIT_USAGE, "no command given (try 'sluicectl --help')");
    if (strcmp(a.pos[0], "help") == 0)
        return help_topic(a.pos + 1, a.npos - 1, false);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fail(EXIT_API, "curl_global_init() failed");
    r = dispatch(&c, &a);
    explicit_bzero(c.key, sizeof(c.key));
    curl_global_cleanup();
    return r;
}
