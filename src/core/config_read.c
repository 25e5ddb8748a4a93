/* SPDX-License-Identifier: MIT */
/* config_read.c - load sluice.conf (via inih) and SLUICE_* overrides through the table of keys. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "core/model_list.h"

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_ERRORS 100
#define MAX_ERR_LINE 512
#define MAX_KEY_NAME 64
#define MAX_ENV_NAME 128
#define MAX_TKEYS 8
/* inih hands the handler this value for a line too long for its 200-byte line buffer;
 * the reader keeps the real value aside.  A literal 0x01 in a file is refused as a
 * control character, so the marker cannot be forged. */
#define LONG_MARK "\x01"

enum { SEC_NONE = -1, SEC_SKIP = -2, SEC_TENANT = -3, SEC_MODEL = -4, SEC_GUARD = -5 };

struct tenant_track {
    int header_line;
    int seen[MAX_TKEYS]; /* line of each tenant key, indexed like tenant_keys[] */
    bool set[MAX_TKEYS]; /* given a non-empty value */
    int key_line[SL_MAX_TENANT_KEYS];
};

struct model_track {
    int header_line;
    int seen[NMKEYS]; /* line of each model key, indexed like model_keys[] */
};

struct errbuf {
    char *s;
    size_t len, cap;
    unsigned n, dropped;
};

struct ctx {
    struct sl_config *c;
    const char *where; /* path as printed in errors */
    char *buf;         /* whole file, NUL-terminated, split in place */
    size_t len, pos;
    int lineno;
    int sec;                             /* index into sections[], or SEC_* */
    size_t tenant;                       /* current tenant when sec == SEC_TENANT */
    struct tenant_track *track;          /* parallel to c->tenants */
    size_t model;                        /* current model when sec == SEC_MODEL */
    struct model_track *mtrack;          /* parallel to c->models while the file is read */
    size_t guard;                        /* current policy when sec == SEC_GUARD */
    struct guard_track *gtrack;          /* parallel to c->guards */
    bool in_patterns;                    /* indented lines now continue a deny_patterns line */
    struct sl_guard_policy *patterns_to; /* where they go; NULL = nowhere (refused key) */
    char *long_value;                    /* real value behind LONG_MARK on line long_line */
    int long_line;
    int row_line[NKEYS]; /* where each key was set in the file, 0 = not */
    bool row_env[NKEYS]; /* overridden from the environment */
    bool row_bad[NKEYS]; /* some value for it was refused */
    struct errbuf e;
    bool oom;
};

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

static void __attribute__((format(printf, 2, 3))) file_err(struct ctx *x, const char *fmt, ...)
{
    char prefix[MAX_ERR_LINE];
    va_list ap;

    snprintf(prefix, sizeof(prefix), "%s: ", x->where);
    va_start(ap, fmt);
    verr(x, prefix, fmt, ap);
    va_end(ap);
}

static void guard_label(const struct sl_guard_policy *p, char *out, size_t n)
{
    if (strcmp(p->name, SL_GUARD_DEFAULT) == 0)
        snprintf(out, n, "[guard] ");
    else
        snprintf(out, n, "[guard.%s] ", p->name);
}

/* The section label of the current line: "[server] ", "[tenant.a] ", "[model.m] ",
 * "[guard.g] " or "". */
static void section_label(const struct ctx *x, char *out, size_t n)
{
    if (x->sec >= 0)
        snprintf(out, n, "[%s] ", sections[x->sec]);
    else if (x->sec == SEC_TENANT)
        snprintf(out, n, "[tenant.%s] ", x->c->tenants[x->tenant].name);
    else if (x->sec == SEC_MODEL)
        snprintf(out, n, "[model.%s] ", x->c->models[x->model].name);
    else if (x->sec == SEC_GUARD)
        guard_label(x->c->guards[x->guard], out, n);
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
    char label[16 + SL_MODEL_NAME_MAX];
    va_list ap;

    section_label(x, label, sizeof(label));
    va_start(ap, fmt);
    vat(x, x->lineno, label, key, fmt, ap);
    va_end(ap);
}

static void __attribute__((format(printf, 5, 6)))
tenant_err(struct ctx *x, size_t t, int line, const char *key, const char *fmt, ...)
{
    char label[128];
    va_list ap;

    snprintf(label, sizeof(label), "[tenant.%s] ", x->c->tenants[t].name);
    va_start(ap, fmt);
    vat(x, line, label, key, fmt, ap);
    va_end(ap);
}

/* "FILE:LINE: " and the rest. */
static void __attribute__((format(printf, 3, 4)))
at_line(struct ctx *x, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vat(x, line, "", NULL, fmt, ap);
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
        snprintf(prefix, sizeof(prefix), "%s:%d: [%s] %s: ", x->where, x->row_line[i], d->section,
                 d->key);
    } else {
        snprintf(prefix, sizeof(prefix), "%s: [%s] %s: ", x->where, d->section, d->key);
    }
    va_start(ap, fmt);
    verr(x, prefix, fmt, ap);
    va_end(ap);
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
static int apply(struct ctx *x, const struct key_def *d, void *base, const char *v, const char *env)
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
        line_err(x, name,
                 "unknown key (a tenant takes key_sha256, rpm, tpm, token_budget, "
                 "budget_period, models, guard)");
        return;
    }
    if (i != TK_KEYS && tr->seen[i]) {
        line_err(x, name, "duplicate key (first set at line %d)", tr->seen[i]);
        return;
    }
    tr->seen[i] = x->lineno;
    if ((d->flags & F_OPTIONAL) && *v == '\0')
        return; /* left unset: inherits [limits] */
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

static void model_key(struct ctx *x, const char *name, const char *v)
{
    struct model_track *tr = &x->mtrack[x->model];
    const struct key_def *d;
    size_t i;

    d = find_key(model_keys, NMKEYS, NULL, name, &i);
    if (!d) {
        line_err(x, name, "unknown key (a model takes max_output_tokens)");
        return;
    }
    if (tr->seen[i]) {
        line_err(x, name, "duplicate key (first set at line %d)", tr->seen[i]);
        return;
    }
    tr->seen[i] = x->lineno;
    if ((d->flags & F_OPTIONAL) && *v == '\0')
        return; /* left unset: takes [upstream] max_tokens */
    apply(x, d, &x->c->models[x->model], v, NULL);
}

static int add_model(struct ctx *x, const char *name)
{
    struct sl_config *c = x->c;
    struct sl_model_conf *m;
    struct model_track *tr;

    m = realloc(c->models, (c->nmodels + 1) * sizeof(*m));
    if (!m)
        return -ENOMEM;
    c->models = m;
    tr = realloc(x->mtrack, (c->nmodels + 1) * sizeof(*tr));
    if (!tr)
        return -ENOMEM;
    x->mtrack = tr;
    m += c->nmodels;
    tr += c->nmodels;
    memset(m, 0, sizeof(*m));
    memset(tr, 0, sizeof(*tr));
    strcpy(m->name, name);
    m->from_section = true;
    tr->header_line = x->lineno;
    x->model = c->nmodels++;
    x->sec = SEC_MODEL;
    return 0;
}

/* Clients send the name as it is written here, and tenants list it comma-separated. */
static bool model_name_ok(const char *name)
{
    size_t i, n = strlen(name);

    if (n == 0 || n >= SL_MODEL_NAME_MAX)
        return false;
    for (i = 0; i < n; i++)
        if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] >= 0x7f || name[i] == ',' ||
            name[i] == ']')
            return false;
    return true;
}

static void open_model(struct ctx *x, const char *name)
{
    struct sl_config *c = x->c;
    size_t i;
    char q[64];

    if (!model_name_ok(name)) {
        line_err(x, NULL,
                 "[model.%s]: a model name is 1-%d printable ASCII characters without blanks, "
                 "',' or ']'",
                 printable(name, q), SL_MODEL_NAME_MAX - 1);
        return;
    }
    for (i = 0; i < c->nmodels; i++) {
        if (strcmp(c->models[i].name, name) == 0) {
            line_err(x, NULL, "[model.%s]: duplicate model (first at line %d)", name,
                     x->mtrack[i].header_line);
            return;
        }
    }
    if (c->nmodels == SL_CONFIG_MAX_MODELS) {
        line_err(x, NULL, "[model.%s]: too many models (max %d)", name, SL_CONFIG_MAX_MODELS);
        return;
    }
    if (add_model(x, name) < 0)
        x->oom = true;
}

static void open_guard(struct ctx *x, const char *header)
{
    char why[WHY_MAX];
    int r = guard_open(x->c, &x->gtrack, header, x->lineno, why);

    if (r == -ENOMEM) {
        x->oom = true;
    } else if (r < 0) {
        line_err(x, NULL, "%s", why);
    } else {
        x->guard = x->c->nguards - 1;
        x->sec = SEC_GUARD;
    }
}

static void guard_key(struct ctx *x, const char *name, const char *v)
{
    struct sl_guard_policy *p = x->c->guards[x->guard];
    char why[WHY_MAX];
    int r = guard_set(p, &x->gtrack[x->guard], name, v, x->lineno, why);

    if (r == -ENOMEM)
        x->oom = true;
    else if (r < 0)
        line_err(x, name, "%s", why);
    if (strcmp(name, "deny_patterns") == 0) {
        x->in_patterns = true;
        x->patterns_to = r == -EEXIST ? NULL : p;
    }
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

static void skip_patterns(struct ctx *x)
{
    x->in_patterns = true;
    x->patterns_to = NULL;
}

/* An indented "max_messages = 5" under deny_patterns would be a pattern, silently: the
 * operator meant a key. */
static bool looks_like_key(const char *s)
{
    size_t n = strcspn(s, " \t=:");
    const char *after = s + n + strspn(s + n, " \t");

    return (*after == '=' || *after == ':') && guard_is_key(s, n);
}

/* One continuation line of deny_patterns: one more pattern, the line's own text. */
static void pattern_line(struct ctx *x, char *s)
{
    char why[WHY_MAX];
    int r;

    *find_sep(s, NULL) = '\0';
    s = trim(s);
    if (!x->patterns_to)
        return;
    if (has_ctl(s)) {
        snprintf(why, sizeof(why), "control characters are not allowed");
        r = -EINVAL;
    } else if (looks_like_key(s)) {
        snprintf(why, sizeof(why),
                 "an indented line here is one more pattern, and this one looks like a key: "
                 "write keys at the start of their line");
        r = -EINVAL;
    } else {
        r = sl_guard_policy_add_pattern(x->patterns_to, s, x->lineno, why, sizeof(why));
    }
    if (r == -ENOMEM) {
        x->oom = true;
    } else if (r < 0) {
        line_err(x, "deny_patterns", "%s", why);
        x->gtrack[x->guard].refused = true;
    }
}

static void lex_section(struct ctx *x, char *s)
{
    char *rb = strchr(s, ']'), *name, *rest, q[64];
    size_t i;

    x->sec = SEC_SKIP; /* keys under a bad header are not reported one by one */
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
    if (strcmp(name, "guard") == 0 || strncmp(name, "guard.", 6) == 0) {
        open_guard(x, name);
        return;
    }
    if (strncmp(name, "tenant.", 7) == 0) {
        open_tenant(x, name + 7);
        return;
    }
    if (strncmp(name, "model.", 6) == 0) {
        open_model(x, name + 6);
        return;
    }
    for (i = 0; i < NSECTIONS; i++) {
        if (strcmp(name, sections[i]) == 0) {
            x->sec = (int)i;
            return;
        }
    }
    line_err(x, NULL, "[%s]: unknown section%s", printable(name, q),
             strcmp(name, "tenant") == 0  ? " (tenants are [tenant.NAME])"
             : strcmp(name, "model") == 0 ? " (models are [model.NAME])"
                                          : "");
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
    if (len + 3 <= cap) { /* inih: "3 more than the longest line" */
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
 * "\n" when we dealt with it here: comments, section headers, lines in error and the
 * continuation lines of deny_patterns, which inih's own rule would join into one value. */
static void lex_line(struct ctx *x, char *s, size_t n, char *out, size_t cap)
{
    bool indented;

    memcpy(out, "\n", 2);
    if (n > 0 && s[n - 1] == '\r')
        s[--n] = '\0';
    if (strlen(s) != n) {
        line_err(x, NULL, "NUL byte in line");
        return;
    }
    indented = isspace((unsigned char)*s);
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0' || *s == ';' || *s == '#')
        return; /* not the end of a continuation either */
    if (x->in_patterns && indented) {
        pattern_line(x, s);
        return;
    }
    x->in_patterns = false;
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
    s[n] = '\0'; /* buf[len] exists and is already NUL */
    x->lineno++;
    lex_line(x, s, n, out, (size_t)num);
    return out;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct ctx *x = user;

    (void)section; /* inih cuts section names at 49 bytes: we track our own */
    if (x->long_line == x->lineno && strcmp(value, LONG_MARK) == 0)
        value = x->long_value;
    if (x->sec == SEC_NONE)
        line_err(x, name, "key outside of any [section]");
    else if (x->sec == SEC_GUARD)
        guard_key(x, name, value);
    else if (x->sec == SEC_SKIP && strcmp(name, "deny_patterns") == 0)
        skip_patterns(x); /* its lines go with their section */
    else if (x->sec == SEC_TENANT)
        tenant_key(x, name, value);
    else if (x->sec == SEC_MODEL)
        model_key(x, name, value);
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
    else if (r != 0) /* the lexer hands inih only lines it accepts */
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
        if (!x->row_env[i]) { /* as getenv(): the first of two entries counts */
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
    if (strncasecmp(word, "MODEL_", 6) == 0) {
        env_err(x, name, "model sections have no environment override");
        return;
    }
    if (strncasecmp(word, "GUARD_", 6) == 0) {
        env_err(x, name, "guard sections have no environment override");
        return;
    }
    for (i = 0; i < NSECTIONS; i++) {
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
    size_t owner; /* 0 = [admin], t + 1 = tenant t */
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
            tenant_err(x, t, x->track[t].key_line[refs[k].k], "key_sha256",
                       "same key as [admin] key_sha256");
        else
            tenant_err(x, t, x->track[t].key_line[refs[k].k], "key_sha256",
                       "same key as [tenant.%s]", c->tenants[refs[k - 1].owner - 1].name);
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
            if (!(tenant_keys[i].flags & F_INHERIT) || x->track[t].set[i])
                continue;
            rel = tenant_keys[i].off - offsetof(struct sl_tenant_conf, limits);
            memcpy((char *)&c->tenants[t] + tenant_keys[i].off, (char *)&c->limits + rel,
                   tenant_keys[i].size);
        }
    }
}

/* A name of allowed_models (or model) without a [model.NAME] section: [upstream] serves it,
 * capped by [upstream] max_tokens.  c->models has room. */
static void add_plain_model(struct sl_config *c, const char *name)
{
    struct sl_model_conf *m = &c->models[c->nmodels];

    if (sl_config_model(c, name))
        return;
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->max_output_tokens = c->max_tokens;
    c->nmodels++;
}

/* The table sl_config_model() searches: the [model.NAME] sections already in c->models, then
 * allowed_models and model.  -E2BIG when they are more than SL_CONFIG_MAX_MODELS. */
static int build_models(struct sl_config *c)
{
    size_t i, cap = c->nmodels + c->nallowed_models + 1;
    struct sl_model_conf *m = realloc(c->models, cap * sizeof(*m));

    if (!m)
        return -ENOMEM;
    c->models = m;
    for (i = 0; i < c->nmodels; i++)
        if (m[i].max_output_tokens == 0) /* unset: 0 is below the key's bounds */
            m[i].max_output_tokens = c->max_tokens;
    for (i = 0; i < c->nallowed_models; i++)
        add_plain_model(c, c->allowed_models[i]);
    if (c->model)
        add_plain_model(c, c->model);
    return c->nmodels > SL_CONFIG_MAX_MODELS ? -E2BIG : 0;
}

static void check_model_table(struct ctx *x)
{
    int r = build_models(x->c);

    if (r == -ENOMEM)
        x->oom = true;
    else if (r < 0)
        blame(x, row_of("upstream", "allowed_models"),
              "with the [model.NAME] sections that makes %zu models (max %d)", x->c->nmodels,
              SL_CONFIG_MAX_MODELS);
}

/* Every model a tenant lists must be one the table has. */
static void check_tenant_models(struct ctx *x)
{
    struct sl_config *c = x->c;
    char list[SL_MODEL_LIST_MAX], why[WHY_MAX];
    size_t t;

    for (t = 0; t < c->ntenants; t++) {
        if (c->tenants[t].models[0] &&
            sl_model_list_parse(c->tenants[t].models, c, list, why, sizeof(why)) < 0)
            tenant_err(x, t, x->track[t].seen[TK_MODELS], "models", "%s", why);
    }
}

/* A policy that checks nothing is a mistake; unless a refused value is why it looks so. */
static void check_guards_empty(struct ctx *x)
{
    char label[16 + SL_GUARD_NAME_MAX];
    size_t i;

    for (i = 0; i < x->c->nguards; i++) {
        if (x->gtrack[i].refused || !sl_guard_policy_empty(x->c->guards[i]))
            continue;
        guard_label(x->c->guards[i], label, sizeof(label));
        label[strlen(label) - 1] = '\0'; /* its trailing blank */
        at_line(x, x->gtrack[i].header_line,
                "%s: the policy checks nothing (set max_message_chars, max_messages, "
                "deny_markup, deny_patterns or pii)",
                label);
    }
}

/* A tenant's guard names a policy the file has, or none. */
static void check_tenant_guards(struct ctx *x)
{
    struct sl_config *c = x->c;
    bool known;
    size_t t;

    for (t = 0; t < c->ntenants; t++) {
        if (c->tenants[t].guard[0] == '\0')
            continue;
        (void)sl_config_guard(c, c->tenants[t].guard, &known);
        if (!known)
            tenant_err(x, t, x->track[t].seen[TK_GUARD], "guard",
                       "no [guard.NAME] section named '%s'", c->tenants[t].guard);
    }
}

static void cross_check(struct ctx *x)
{
    check_order(x, "upstream", "attempt_timeout_ms", "request_timeout_ms");
    check_order(x, "upstream", "backoff_base_ms", "backoff_max_ms");
    if (resolve_models(x->c) < 0)
        x->oom = true;
    check_models(x);
    check_model_table(x);
    check_tenant_models(x);
    check_metrics_listen(x);
    check_keys_unique(x);
    check_guards_empty(x);
    check_tenant_guards(x);
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
            sl_config_free(c); /* defaults are valid: only ENOMEM gets here */
            return NULL;
        }
    }
    return c;
}

struct sl_config *sl_config_new(void)
{
    struct sl_config *c = config_defaults();

    if (c && (resolve_models(c) < 0 || build_models(c) < 0)) {
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
    free(x.mtrack);
    free(x.gtrack);
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
    for (i = 0; i < c->nguards; i++)
        sl_guard_policy_free(c->guards[i]);
    free(c->guards);
    free(c->tenants);
    free(c->models);
    free(c->path);
    free(c);
}

const struct sl_model_conf *sl_config_model(const struct sl_config *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nmodels; i++)
        if (strcmp(c->models[i].name, name) == 0)
            return &c->models[i];
    return NULL;
}
