/* SPDX-License-Identifier: MIT */
/* http.h - sluicectl's HTTP client: the gateway, the admin key, one request and its reply. */
#ifndef SL_CTL_HTTP_H
#define SL_CTL_HTTP_H
#include <stdbool.h>
#include <stddef.h>

#define DEFAULT_URL "http://127.0.0.1:8080"
#define KEY_MAX 1024

struct args;

/* Where the request goes and with which key; main() wipes the key before it returns. */
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

/* The URL (--url, $SLUICECTL_URL or DEFAULT_URL) and --timeout-ms into c, checked. */
int check_globals(const struct args *a, struct ctl *c);
/* The admin key into c->key: the first line of file, or $SLUICE_ADMIN_KEY without one. */
int load_key(struct ctl *c, const char *file);
/* One request; 0 with out->status and out->body, or an exit code (already reported). */
int call(const struct ctl *c, const char *method, const char *path, const char *payload,
         struct reply *out);
#endif /* SL_CTL_HTTP_H */
