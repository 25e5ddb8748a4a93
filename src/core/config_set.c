/* SPDX-License-Identifier: MIT */
/* config_set.c - the setters: parse and check one value of a key, store it only if it is good. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/model_list.h"
#include "core/redis_url.h"
#include "core/secret.h"

#define MAX_LIST_ITEMS 64

struct item {
    const char *s;
    size_t n;
};

/* ---- error text ---- */

/* v shortened to 40 bytes, non-printable bytes as '?': file and env text is untrusted. */
const char *printable(const char *v, char out[64])
{
    size_t i, n = strlen(v);

    for (i = 0; i < n && i < 40; i++)
        out[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
    strcpy(out + i, n > 40 ? "..." : "");
    return out;
}

/* ": 'value'" to append to a reason, or "" for a secret key. */
static const char *show(const struct key_def *d, const char *v, char out[64])
{
    char p[64];

    if (d->flags & F_SECRET)
        return "";
    snprintf(out, 64, ": '%s'", printable(v, p));
    return out;
}

/* ---- scalar parsing ---- */

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 20)
        return false;
    for (i = 0; i < n; i++) {
        unsigned dgt = (unsigned)(s[i] - '0');
        if (dgt > 9 || v > (UINT64_MAX - dgt) / 10)
            return false;
        v = v * 10 + dgt;
    }
    *out = v;
    return true;
}

static void store_uint(void *p, size_t size, uint64_t v)
{
    if (size == sizeof(uint32_t)) {
        uint32_t v32 = (uint32_t)v;
        memcpy(p, &v32, sizeof(v32));
    } else {
        memcpy(p, &v, sizeof(v));
    }
}

bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* ---- setters ---- */

int set_int(const struct key_def *d, void *base, const char *v, char *why)
{
    char q[64];
    uint64_t n;

    if (*v == '\0') {
        snprintf(why, WHY_MAX, "missing value");
        return -EINVAL;
    }
    if (!parse_u64(v, strlen(v), &n)) {
        snprintf(why, WHY_MAX, "%s%s",
                 strspn(v, "0123456789") == strlen(v) ? "too large" : "not a decimal integer",
                 show(d, v, q));
        return -EINVAL;
    }
    if (n < (uint64_t)d->min || n > (uint64_t)d->max) {
        snprintf(why, WHY_MAX, "%llu is out of range %lld..%lld", (unsigned long long)n,
                 (long long)d->min, (long long)d->max);
        return -EINVAL;
    }
    store_uint((char *)base + d->off, d->size, n);
    return 0;
}

/* Locale-free "digits[.digits]": strtod() would take hex, inf, nan and a ',' locale. */
int set_double(const struct key_def *d, void *base, const char *v, char *why)
{
    const char *dot = strchr(v, '.');
    size_t ni = dot ? (size_t)(dot - v) : strlen(v), nf = dot ? strlen(dot + 1) : 0;
    uint64_t ip = 0, fp = 0;
    double val, scale = 1;
    char q[64];
    size_t i;

    if ((ni == 0 && nf == 0) || ni > 9 || nf > 9 || (ni && !parse_u64(v, ni, &ip)) ||
        (nf && !parse_u64(dot + 1, nf, &fp))) {
        snprintf(why, WHY_MAX, "not a decimal number%s", show(d, v, q));
        return -EINVAL;
    }
    for (i = 0; i < nf; i++)
        scale *= 10;
    val = (double)ip + (double)fp / scale;
    if (val < (double)d->min || val > (double)d->max) {
        snprintf(why, WHY_MAX, "%s is out of range %lld..%lld", v, (long long)d->min,
                 (long long)d->max);
        return -EINVAL;
    }
    memcpy((char *)base + d->off, &val, sizeof(val));
    return 0;
}

int set_bool(const struct key_def *d, void *base, const char *v, char *why)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    bool val;
    char q[64];
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0)
            break;
    }
    if (i == 4) {
        snprintf(why, WHY_MAX, "expected true/false, yes/no, on/off or 1/0%s", show(d, v, q));
        return -EINVAL;
    }
    val = strcasecmp(v, yes[i]) == 0;
    memcpy((char *)base + d->off, &val, sizeof(val));
    return 0;
}

int set_enum(const struct key_def *d, void *base, const char *v, char *why)
{
    const struct enum_name *e;
    char list[128] = "";
    char q[64];

    for (e = d->names; e->name; e++) {
        if (strcasecmp(v, e->name) == 0) {
            memcpy((char *)base + d->off, &e->value, sizeof(int));
            return 0;
        }
        if (strlen(list) + strlen(e->name) + 3 < sizeof(list)) {
            strcat(list, list[0] ? ", " : "");
            strcat(list, e->name);
        }
    }
    snprintf(why, WHY_MAX, "expected one of %s%s", list, show(d, v, q));
    return -EINVAL;
}

int set_str(const struct key_def *d, void *base, const char *v, char *why)
{
    char **field = (char **)((char *)base + d->off);
    size_t n = strlen(v);
    char *copy = NULL;

    if (n == 0 && !(d->flags & F_OPTIONAL)) {
        snprintf(why, WHY_MAX, "must not be empty");
        return -EINVAL;
    }
    if (n > (size_t)d->max) {
        snprintf(why, WHY_MAX, "too long: %zu bytes (max %lld)", n, (long long)d->max);
        return -EINVAL;
    }
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        snprintf(why, WHY_MAX, "quotes are not removed: write the value without them");
        return -EINVAL;
    }
    if (n > 0 && d->check && d->check(v, &n, why) < 0)
        return -EINVAL;
    if (n > 0 && !(copy = strndup(v, n)))
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

int set_workers(const struct key_def *d, void *base, const char *v, char *why)
{
    bool is_auto = strcasecmp(v, "auto") == 0;
    unsigned *w = (unsigned *)((char *)base + d->off);
    uint64_t n;
    long cpus;
    char q[64];

    if (is_auto) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        *w = cpus < 1 ? 1 : cpus > d->max ? (unsigned)d->max : (unsigned)cpus;
    } else if (!parse_u64(v, strlen(v), &n)) {
        snprintf(why, WHY_MAX, "expected auto or a number %lld..%lld%s", (long long)d->min,
                 (long long)d->max, show(d, v, q));
        return -EINVAL;
    } else if (set_int(d, base, v, why) < 0) {
        return -EINVAL;
    }
    memcpy((char *)base + d->off2, &is_auto, sizeof(is_auto));
    return 0;
}

/* Split a comma-separated list into trimmed items; empty items are an error. */
static int split_list(const char *v, struct item *items, size_t max, size_t *n, char *why)
{
    const char *p = v, *end;
    size_t k = 0;

    *n = 0;
    if (*v == '\0')
        return 0;
    for (;;) {
        end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        while (p < end && is_blank(*p))
            p++;
        while (end > p && is_blank(end[-1]))
            end--;
        if (end == p) {
            snprintf(why, WHY_MAX, "empty item %zu in the list", k + 1);
            return -EINVAL;
        }
        if (k == max) {
            snprintf(why, WHY_MAX, "too many items (max %zu)", max);
            return -EINVAL;
        }
        items[k].s = p;
        items[k++].n = (size_t)(end - p);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    *n = k;
    return 0;
}

static bool items_dup(const struct item *items, size_t k)
{
    size_t j;

    for (j = 0; j < k; j++)
        if (items[j].n == items[k].n && memcmp(items[j].s, items[k].s, items[k].n) == 0)
            return true;
    return false;
}

static int parse_listen(const char *s, struct sl_listen_spec *out, char *why);

int set_listens(const struct key_def *d, void *base, const char *v, char *why)
{
    struct sl_listen_spec tmp[SL_MAX_LISTEN];
    struct item items[SL_MAX_LISTEN];
    char one[512], reason[WHY_MAX], q[64];
    size_t n, k;

    if (split_list(v, items, SL_MAX_LISTEN, &n, why) < 0)
        return -EINVAL;
    if (n == 0) {
        snprintf(why, WHY_MAX, "at least one address is needed");
        return -EINVAL;
    }
    for (k = 0; k < n; k++) {
        snprintf(one, sizeof(one), "%.*s", (int)items[k].n, items[k].s);
        if (parse_listen(one, &tmp[k], reason) < 0) {
            snprintf(why, WHY_MAX, "'%s': %.150s", printable(one, q), reason);
            return -EINVAL;
        }
        if (items_dup(items, k)) {
            snprintf(why, WHY_MAX, "'%s' is listed twice", printable(one, q));
            return -EINVAL;
        }
    }
    memcpy((char *)base + d->off, tmp, n * sizeof(tmp[0]));
    memcpy((char *)base + d->off2, &n, sizeof(n));
    return 0;
}

int set_listen_opt(const struct key_def *d, void *base, const char *v, char *why)
{
    struct sl_listen_spec l;
    char reason[WHY_MAX], q[64];
    bool has = *v != '\0';

    memset(&l, 0, sizeof(l));
    if (has && parse_listen(v, &l, reason) < 0) {
        snprintf(why, WHY_MAX, "'%s': %.150s", printable(v, q), reason);
        return -EINVAL;
    }
    memcpy((char *)base + d->off, &l, sizeof(l));
    memcpy((char *)base + d->off2, &has, sizeof(has));
    return 0;
}

int set_models(const struct key_def *d, void *base, const char *v, char *why)
{
    char **field = (char **)((char *)base + d->off), *tmp[SL_MAX_MODELS];
    struct item items[SL_MAX_MODELS];
    char reason[WHY_MAX], q[64];
    size_t n, k, len;

    if (split_list(v, items, SL_MAX_MODELS, &n, why) < 0)
        return -EINVAL;
    for (k = 0; k < n; k++) {
        char one[256];
        len = items[k].n;
        snprintf(one, sizeof(one), "%.*s", (int)len, items[k].s);
        if (len >= SL_MODEL_NAME_MAX || check_model(one, &len, reason) < 0) {
            snprintf(why, WHY_MAX, "model %zu: %.150s", k + 1,
                     len >= SL_MODEL_NAME_MAX ? "too long" : reason);
            return -EINVAL;
        }
        if (items_dup(items, k)) {
            snprintf(why, WHY_MAX, "'%s' is listed twice", printable(one, q));
            return -EINVAL;
        }
    }
    for (k = 0; k < n; k++) {
        if (!(tmp[k] = strndup(items[k].s, items[k].n))) {
            while (k > 0)
                free(tmp[--k]);
            return -ENOMEM;
        }
    }
    memcpy(&len, (char *)base + d->off2, sizeof(len));
    for (k = 0; k < len; k++)
        free(field[k]);
    memcpy(field, tmp, n * sizeof(tmp[0]));
    memcpy((char *)base + d->off2, &n, sizeof(n));
    return 0;
}

int set_statuses(const struct key_def *d, void *base, const char *v, char *why)
{
    bool tmp[600] = { false };
    struct item items[MAX_LIST_ITEMS];
    uint64_t st;
    size_t n, k;

    if (split_list(v, items, MAX_LIST_ITEMS, &n, why) < 0)
        return -EINVAL;
    for (k = 0; k < n; k++) {
        if (!parse_u64(items[k].s, items[k].n, &st) || st < (uint64_t)d->min ||
            st > (uint64_t)d->max) {
            snprintf(why, WHY_MAX, "'%.*s' is not a status %lld..%lld",
                     (int)(items[k].n < 64 ? items[k].n : 64), items[k].s, (long long)d->min,
                     (long long)d->max);
            return -EINVAL;
        }
        if (tmp[st]) {
            snprintf(why, WHY_MAX, "%llu is listed twice", (unsigned long long)st);
            return -EINVAL;
        }
        tmp[st] = true;
    }
    memcpy((char *)base + d->off, tmp, sizeof(tmp));
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int parse_hex32(const char *v, unsigned char out[32], char *why)
{
    size_t i, n = strlen(v);

    if (n != 64) {
        snprintf(why, WHY_MAX, "expected 64 hex digits (a SHA-256), got %zu characters", n);
        return -EINVAL;
    }
    for (i = 0; i < 32; i++) {
        int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(why, WHY_MAX, "expected 64 hex digits (a SHA-256), found a non-hex one");
            return -EINVAL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int set_hex32(const struct key_def *d, void *base, const char *v, char *why)
{
    unsigned char h[32] = { 0 };
    bool has = *v != '\0';

    if (has && parse_hex32(v, h, why) < 0)
        return -EINVAL;
    memcpy((char *)base + d->off, h, sizeof(h));
    memcpy((char *)base + d->off2, &has, sizeof(has));
    return 0;
}

/* Appends one more key to a tenant: key_sha256 is the one repeatable key. */
int set_tenant_key(const struct key_def *d, void *base, const char *v, char *why)
{
    struct sl_tenant_conf *t = base;
    unsigned char h[32];
    size_t i;

    (void)d;
    if (parse_hex32(v, h, why) < 0)
        return -EINVAL;
    for (i = 0; i < t->nkeys; i++) {
        if (memcmp(t->key_sha256[i], h, sizeof(h)) == 0) {
            snprintf(why, WHY_MAX, "the same key is listed twice");
            return -EINVAL;
        }
    }
    if (t->nkeys == SL_MAX_TENANT_KEYS) {
        snprintf(why, WHY_MAX, "too many keys (max %d per tenant)", SL_MAX_TENANT_KEYS);
        return -EINVAL;
    }
    memcpy(t->key_sha256[t->nkeys++], h, sizeof(h));
    return 0;
}

/* A tenant's models, canonical "a,b".  Whether each is configured is known only once every
 * [model.NAME] section is read: the reader checks that afterwards. */
int set_model_list(const struct key_def *d, void *base, const char *v, char *why)
{
    char list[SL_MODEL_LIST_MAX];

    if (sl_model_list_parse(v, NULL, list, why, WHY_MAX) < 0)
        return -EINVAL;
    memcpy((char *)base + d->off, list, sizeof(list));
    return 0;
}

/* A tenant's guard: a policy's name or none, checked against the sections once all are read.
 * [guard] has no name a tenant writes: an empty value means it. */
int set_guard_ref(const struct key_def *d, void *base, const char *v, char *why)
{
    char q[64];

    if (strcmp(v, SL_GUARD_DEFAULT) == 0) {
        snprintf(why, WHY_MAX, "'%s' is [guard]: leave guard empty to use it", SL_GUARD_DEFAULT);
        return -EINVAL;
    }
    if (!guard_name_ok(v)) {
        snprintf(why, WHY_MAX, "'%s': a policy name is 1-%d characters of A-Z a-z 0-9 _ . -, or %s",
                 printable(v, q), SL_GUARD_NAME_MAX - 1, SL_GUARD_NONE);
        return -EINVAL;
    }
    memcpy((char *)base + d->off, v, strlen(v) + 1);
    return 0;
}

/* ---- string checks ---- */

static bool visible_ascii(const char *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return false;
    return true;
}

/* base_url.  Never quotes v: user-info in it could be a password. */
int check_url(const char *v, size_t *n, char *why)
{
    size_t skip = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;

    if (!skip) {
        snprintf(why, WHY_MAX, "must start with http:// or https://");
        return -EINVAL;
    }
    if (!visible_ascii(v, *n)) {
        snprintf(why, WHY_MAX, "must not contain spaces or non-ASCII characters");
        return -EINVAL;
    }
    /* The gateway appends "/chat/completions"; ".../v1/" would give "//". */
    while (*n > skip && v[*n - 1] == '/')
        (*n)--;
    if (*n == skip || v[skip] == '/') {
        snprintf(why, WHY_MAX, "has no host name");
        return -EINVAL;
    }
    /* "http://localhost:1@example.com" goes to example.com, whatever it looks like. */
    if (memchr(v + skip, '@', strcspn(v + skip, "/?#")) != NULL) {
        snprintf(why, WHY_MAX,
                 "must not contain user-info (an '@' before the path): the key "
                 "comes from api_key_env or api_key_file");
        return -EINVAL;
    }
    /* The key travels in a header: only TLS may carry it off this host. */
    if (skip == 7 && !sl_secret_url_is_local(v)) {
        snprintf(why, WHY_MAX,
                 "must be https:// unless the host is local (localhost, "
                 "127.0.0.0/8, [::1]): the API key would travel in cleartext");
        return -EINVAL;
    }
    return 0;
}

int check_env_name(const char *v, size_t *n, char *why)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (!(isalpha(ch) || ch == '_' || (i > 0 && isdigit(ch)))) {
            snprintf(why, WHY_MAX, "not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
            return -EINVAL;
        }
    }
    return 0;
}

int check_model(const char *v, size_t *n, char *why)
{
    if (!visible_ascii(v, *n) || memchr(v, ',', *n)) {
        snprintf(why, WHY_MAX, "a model name is printable ASCII without spaces or commas");
        return -EINVAL;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (avail bytes left), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t i, len = *s < 0x80             ? 1
                    : (*s & 0xe0) == 0xc0 ? 2
                    : (*s & 0xf0) == 0xe0 ? 3
                    : (*s & 0xf8) == 0xf0 ? 4
                                          : 0;
    uint32_t cp;

    if (len == 0 || len > avail)
        return 0;
    cp = len == 1 ? *s : *s & (0x7fu >> len);
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* The prompt goes into JSON bodies, and jansson refuses invalid UTF-8 at request time. */
int check_text(const char *v, size_t *n, char *why)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i = 0, len;

    while (i < *n) {
        if ((len = utf8_seq(s + i, *n - i)) == 0) {
            snprintf(why, WHY_MAX, "not valid UTF-8 (at byte %zu)", i + 1);
            return -EINVAL;
        }
        i += len;
    }
    return 0;
}

static int check_token(const char *v, size_t *n, char *why)
{
    if (!visible_ascii(v, *n)) {
        snprintf(why, WHY_MAX, "must be printable ASCII without spaces");
        return -EINVAL;
    }
    return 0;
}

/* redis://[[user]:password@]host[:port][/db].  Never quotes v: it may carry a password. */
int check_redis_url(const char *v, size_t *n, char *why)
{
    struct sl_redis_target t;
    char reason[128];

    if (!visible_ascii(v, *n) || sl_redis_parse_url(v, &t, reason, sizeof(reason)) < 0) {
        snprintf(why, WHY_MAX, "must be redis://[[user]:password@]host[:port][/db]%s%s",
                 visible_ascii(v, *n) ? ": " : "", visible_ascii(v, *n) ? reason : "");
        explicit_bzero(&t, sizeof(t));
        return -EINVAL;
    }
    explicit_bzero(&t, sizeof(t));
    return 0;
}

/* The prefix goes in front of every key; a brace would move Redis Cluster's hash tag. */
int check_key_prefix(const char *v, size_t *n, char *why)
{
    if (check_token(v, n, why) < 0)
        return -EINVAL;
    if (memchr(v, '{', *n) || memchr(v, '}', *n)) {
        snprintf(why, WHY_MAX, "must not contain { or }");
        return -EINVAL;
    }
    return 0;
}

/* ---- listen addresses ---- */

static bool valid_hostname(const char *h, size_t n)
{
    size_t i, label = 0;
    bool dotted_digits = true;
    char tmp[256];
    unsigned char addr[4];

    if (n == 0 || n > 253)
        return false;
    for (i = 0; i < n; i++) {
        if (h[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum((unsigned char)h[i]) || h[i] == '-' || h[i] == '_') || ++label > 63)
            return false;
        if (!isdigit((unsigned char)h[i]))
            dotted_digits = false;
    }
    if (label == 0)
        return false;
    if (!dotted_digits)
        return true;
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET, tmp, addr) == 1;
}

static int parse_listen(const char *s, struct sl_listen_spec *out, char *why)
{
    struct sl_listen_spec l;
    const char *host, *colon;
    unsigned char addr[16];
    size_t hn;
    uint64_t port;

    memset(&l, 0, sizeof(l));
    if (strncmp(s, "unix:", 5) == 0) {
        hn = strlen(s + 5);
        if (hn == 0 || hn >= sizeof(l.path) || has_ctl(s + 5)) {
            snprintf(why, WHY_MAX, "unix socket path must be 1..%zu bytes", sizeof(l.path) - 1);
            return -EINVAL;
        }
        l.kind = SL_LISTEN_UNIX;
        memcpy(l.path, s + 5, hn + 1);
        *out = l;
        return 0;
    }
    if (s[0] == '[') {
        host = s + 1;
        colon = strchr(host, ']');
        if (!colon || colon[1] != ':') {
            snprintf(why, WHY_MAX, "expected [IPv6]:port");
            return -EINVAL;
        }
        hn = (size_t)(colon - host);
        colon++;
        if (hn > 0 && hn < 64)
            memcpy(l.host, host, hn);
        if (hn == 0 || hn >= 64 || inet_pton(AF_INET6, l.host, addr) != 1) {
            snprintf(why, WHY_MAX, "invalid IPv6 address");
            return -EINVAL;
        }
    } else {
        host = s;
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(why, WHY_MAX, "missing :port (host:port, [v6]:port or unix:/path)");
            return -EINVAL;
        }
        hn = (size_t)(colon - host);
        if (memchr(host, ':', hn)) {
            snprintf(why, WHY_MAX, "an IPv6 address needs brackets: [addr]:port");
            return -EINVAL;
        }
        if (hn == 0) {
            snprintf(why, WHY_MAX, "missing host before :port");
            return -EINVAL;
        }
        if (!valid_hostname(host, hn)) {
            snprintf(why, WHY_MAX, "invalid host name or IPv4 address");
            return -EINVAL;
        }
        memcpy(l.host, host, hn);
    }
    if (!parse_u64(colon + 1, strlen(colon + 1), &port) || port < 1 || port > 65535) {
        snprintf(why, WHY_MAX, "port must be 1..65535");
        return -EINVAL;
    }
    l.kind = SL_LISTEN_TCP;
    l.port = (uint16_t)port;
    *out = l;
    return 0;
}

int sl_config_parse_listen(const char *s, struct sl_listen_spec *out)
{
    char why[WHY_MAX];

    if (!s || !out)
        return -EINVAL;
    return parse_listen(s, out, why);
}
