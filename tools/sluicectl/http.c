/* SPDX-License-Identifier: MIT */
/* http.c - sluicectl's HTTP client (libcurl easy): the URL, the admin key, one request. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ctl.h"

#define API_PREFIX "/admin/v1"
#define DEFAULT_TIMEOUT_MS 10000LL
#define TIMEOUT_MAX_MS 3600000LL
#define URL_MAX 2048
#define SUN_PATH_MAX 107 /* sizeof(sockaddr_un.sun_path) - 1 on Linux */
#define KEY_FILE_MAX 4096
#define REPLY_MAX (8u << 20)

/* ------------------------------------------------------------------ the gateway */

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

int check_globals(const struct args *a, struct ctl *c)
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
            return fail(EXIT_USAGE,
                        "%s: the admin key has a character that is not "
                        "printable ASCII",
                        from);
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

int load_key(struct ctl *c, const char *file)
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
        "Accept: application/json",
        "Expect:",
        has_body ? "Content-Type: application/json" : "Content-Type:",
        NULL,
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
int call(const struct ctl *c, const char *method, const char *path, const char *payload,
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
