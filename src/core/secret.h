/* SPDX-License-Identifier: MIT */
/* secret.h - the upstream API key: where it comes from and where it may go.  SPEC §5 order:
 * the environment variable named by api_key_env, then api_key_file, then the systemd
 * credential openai_api_key ($CREDENTIALS_DIRECTORY), then a .env file in the working
 * directory.  The key is kept in memory excluded from core dumps, and it never appears in a
 * log line, an error body or a metric: only in the upstream request's Authorization header. */
#ifndef SL_SECRET_H
#define SL_SECRET_H
#include <stdbool.h>
#include <stddef.h>

struct sl_config;

#define SL_SECRET_KEY_MAX 1024

/* On success returns 0, *key = the key (free with sl_secret_free) and source = where it came
 * from ("env OPENAI_API_KEY", "file /etc/...", "credential", ".env"), never the key itself.
 * -ENOENT when none was found, -EINVAL when one was found but is malformed (err says which
 * source, not the value). */
int sl_secret_load(const struct sl_config *cfg, char **key, char *source, size_t source_sz,
                   char *err, size_t err_sz);
void sl_secret_free(char *key);
/* A base URL on this host (localhost, 127.0.0.0/8, ::1): no key needed, e.g. the fake. */
bool sl_secret_url_is_local(const char *url);
#endif /* SL_SECRET_H */
