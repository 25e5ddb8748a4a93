/* SPDX-License-Identifier: MIT */
/* main.c - sluicectl, the command-line client of the admin API (/admin/v1): its command line,
 * help, messages and exit codes.  Each invocation makes one blocking HTTP request (http.c) to
 * manage tenants, their keys and their usage (commands.c). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "commands.h"
#include "ctl.h"
#include "http.h"

#define REDACTED "[redacted]"

const char *const opt_names[O_COUNT] = {
    "--url",    "--admin-key-file", "--timeout-ms", "--rpm",   "--tpm",
    "--budget", "--period",         "--models",     "--guard",
};

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
    "LIMIT, MODEL AND GUARD OPTIONS (tenant create, tenant set)\n"
    "    --rpm N      requests per minute\n"
    "    --tpm N      tokens per minute\n"
    "    --budget N   tokens per budget period (token_budget)\n"
    "    --period P   the budget period: minute, hour, day, month, or none (a\n"
    "                 lifetime budget)\n"
    "    N is an integer from 0 to 1000000000000000; 0 means unlimited.\n"
    "    --models LIST\n"
    "                 the models the tenant may call, comma-separated\n"
    "                 (gpt-4o-mini,gpt-4o); each must be a model the gateway\n"
    "                 serves.  --models '' lifts the restriction: every\n"
    "                 configured model.  Other models are 404 model_not_found.\n"
    "    --guard POLICY\n"
    "                 the input-guard policy that checks the tenant's prompts:\n"
    "                 the name of a [guard.POLICY] section of the gateway's\n"
    "                 configuration, or none for no checks.  --guard '' goes\n"
    "                 back to the default, [guard] (no checks without one).\n"
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
    "    sluicectl tenant set acme --models gpt-4o-mini   # only this model\n"
    "    sluicectl tenant set acme --guard strict   # [guard.strict] checks prompts\n"
    "    sluicectl usage acme\n"
    "    sluicectl --url unix:/run/sluice/sluice.sock tenant list\n"
    "    sluicectl key revoke key_0123456789abcdef\n"
    "\n"
    "SEE ALSO\n"
    "    sluiced -h, docs/sluicectl.md, docs/OPERATIONS.md, etc/sluice.conf\n";

/* ------------------------------------------------------------------ messages */

/* Copy s into out (size outsz > 4) as one printable line: control characters become spaces,
 * every occurrence of secret (if any) becomes REDACTED, and a long text is cut at a UTF-8
 * boundary and marked "...". */
void sanitize(const char *s, const char *secret, char *out, size_t outsz)
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
const char *shown(const char *s)
{
    static char buf[80];

    sanitize(s, NULL, buf, sizeof(buf));
    return buf;
}

int fail(int code, const char *fmt, ...)
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
    int n = fprintf(out, "    %s", c->group);

    if (c->verb)
        n += fprintf(out, " %s", c->verb);
    if (c->arg)
        n += fprintf(out, " %s", c->arg);
    /* The options go on lines of their own when they would not fit in 80 columns. */
    if (c->body != BODY_NONE)
        fputs(n + sizeof(LIMIT_SYNOPSIS) > 80 ? "\n        " LIMIT_SYNOPSIS_1
                                                "\n        " LIMIT_SYNOPSIS_2
                                              : " " LIMIT_SYNOPSIS,
              out);
    fprintf(out, "\n%s", c->help);
}

static void help_all(FILE *out)
{
    size_t i;

    fputs(help_head, out);
    for (i = 0; i < ncmds; i++)
        help_cmd_line(out, &cmds[i]);
    fputs("    help [COMMAND]\n"
          "      Print the help of one command (e.g. 'help tenant create', 'help key') and\n"
          "      exit.\n\n",
          out);
    fputs(help_opts, out);
    fputs(help_limits, out);
    fputs(help_tail, out);
}

static bool is_topic(const char *group, const char *verb)
{
    size_t i;

    for (i = 0; i < ncmds; i++)
        if (strcmp(cmds[i].group, group) == 0 &&
            (!verb || (cmds[i].verb && strcmp(cmds[i].verb, verb) == 0)))
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
        return fail(EXIT_USAGE, "no help for '%s%s%s' (try 'sluicectl --help')", shown(words[0]),
                    n > 1 ? " " : "", n > 1 ? "..." : "");
    printf("Usage: sluicectl [--url URL] [--admin-key-file FILE] [--timeout-ms N] COMMAND\n\n");
    for (i = 0; i < ncmds; i++) {
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
bool parse_uint(const char *s, long long max, long long *ret_v)
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

/* ------------------------------------------------------------------ dispatch */

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
