/* SPDX-License-Identifier: MIT */
/* secret.c - loading the upstream key from the environment, a file, a credential or .env. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "core/config.h"

#define KEY_PAGE 4096

/* One page, excluded from core dumps, holding the key and its NUL. */
static char *secret_dup(const char *s, size_t n)
{
    char *p;

    if (n >= KEY_PAGE)
        return NULL;
    p = mmap(NULL, KEY_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, KEY_PAGE, MADV_DONTDUMP);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sl_secret_free(char *key)
{
    if (!key)
        return;
    explicit_bzero(key, KEY_PAGE);
    munmap(key, KEY_PAGE);
}

static bool key_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > SL_SECRET_KEY_MAX)
        return false;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* Trim surrounding whitespace (a trailing newline in a key file is normal). */
static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t' || **s == '\r' || **s == '\n'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r' ||
                  (*s)[*n - 1] == '\n'))
        (*n)--;
}

/* Read at most KEY_PAGE bytes of a file; -ENOENT if it does not exist. */
static int read_small(const char *path, char *buf, size_t *n)
{
    FILE *f = fopen(path, "r");

    if (!f)
        return -errno;
    *n = fread(buf, 1, KEY_PAGE - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return 0;
}

static int take(const char *s, size_t n, const char *what, char **key, char *err, size_t err_sz)
{
    trim(&s, &n);
    if (!key_ok(s, n)) {
        snprintf(err, err_sz,
                 "the API key from %s is empty, too long or has characters "
                 "other than visible ASCII",
                 what);
        return -EINVAL;
    }
    *key = secret_dup(s, n);
    return *key ? 0 : -ENOMEM;
}

/* .env: NAME=value lines, optional "export ", optional matching quotes, # comments. */
static int from_dotenv(const char *name, char **key, char *err, size_t err_sz)
{
    char buf[KEY_PAGE], *line, *save = NULL;
    size_t n, nlen = strlen(name);
    int r;

    r = read_small(".env", buf, &n);
    if (r < 0)
        return -ENOENT;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *v;
        size_t vlen;

        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, "export ", 7) == 0)
            line += 7;
        if (strncmp(line, name, nlen) != 0 || line[nlen] != '=')
            continue;
        v = line + nlen + 1;
        vlen = strlen(v);
        trim(&v, &vlen);
        if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
            v++;
            vlen -= 2;
        }
        r = take(v, vlen, ".env", key, err, err_sz);
        explicit_bzero(buf, sizeof(buf));
        return r;
    }
    explicit_bzero(buf, sizeof(buf));
    return -ENOENT;
}

int sl_secret_load(const struct sl_config *cfg, char **key, char *source, size_t source_sz,
                   char *err, size_t err_sz)
{
    const char *env_name = cfg->api_key_env && *cfg->api_key_env ? cfg->api_key_env : NULL;
    const char *v, *creds = getenv("CREDENTIALS_DIRECTORY");
    char buf[KEY_PAGE], path[4096];
    size_t n;
    int r;

    *key = NULL;
    err[0] = '\0';
    if (env_name && (v = getenv(env_name)) && *v) {
        snprintf(source, source_sz, "env %s", env_name);
        return take(v, strlen(v), source, key, err, err_sz);
    }
    if (cfg->api_key_file && *cfg->api_key_file) {
        r = read_small(cfg->api_key_file, buf, &n);
        if (r < 0) {
            snprintf(err, err_sz, "api_key_file %s: %s", cfg->api_key_file, strerror(-r));
            return r;
        }
        snprintf(source, source_sz, "file %s", cfg->api_key_file);
        r = take(buf, n, source, key, err, err_sz);
        explicit_bzero(buf, sizeof(buf));
        return r;
    }
    if (creds && *creds) {
        snprintf(path, sizeof(path), "%s/openai_api_key", creds);
        if (read_small(path, buf, &n) == 0) {
            snprintf(source, source_sz, "credential openai_api_key");
            r = take(buf, n, source, key, err, err_sz);
            explicit_bzero(buf, sizeof(buf));
            return r;
        }
    }
    r = from_dotenv(env_name ? env_name : "OPENAI_API_KEY", key, err, err_sz);
    if (r != -ENOENT) {
        snprintf(source, source_sz, ".env");
        return r;
    }
    snprintf(err, err_sz,
             "no upstream API key: set %s, api_key_file, the systemd credential "
             "openai_api_key, or %s in ./.env",
             env_name ? env_name : "api_key_env", env_name ? env_name : "OPENAI_API_KEY");
    return -ENOENT;
}

bool sl_secret_url_is_local(const char *url)
{
    const char *h = strstr(url, "://");
    size_t n;

    if (!h)
        return false;
    h += 3;
    /* User-info: "http://localhost:1@example.com" is example.com's. */
    if (memchr(h, '@', strcspn(h, "/?#")))
        return false;
    n = strcspn(h, ":/?#");
    if (h[0] == '[')
        return strncmp(h, "[::1]", 5) == 0 && strchr(":/?#", h[5]) != NULL; /* or the end */
    if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
        return true;
    /* 127.0.0.0/8 as a literal only: "127.example.com" is somebody else's host. */
    return strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n;
}
