/* SPDX-License-Identifier: MIT */
/* redis_url.h - [redis] url parsed into where to connect and how to authenticate.  Pure: the
 * configuration checks a value with it, the worker connects with the result.  A reason never
 * quotes the URL, which may carry a password. */
#ifndef SL_REDIS_URL_H
#define SL_REDIS_URL_H
#include <stddef.h>

/* redis://[[user]:password@]host[:port][/db]; host may be [v6]. */
struct sl_redis_target {
    char host[256];     /* as written, brackets removed */
    int port;           /* default 6379 */
    char user[128];     /* "" = none (AUTH password only) */
    char password[256]; /* "" = no AUTH; %XX decoded */
    int db;             /* SELECT when > 0 */
};
/* 0, or -EINVAL (why, if not NULL, gets a reason that never quotes the URL). */
int sl_redis_parse_url(const char *url, struct sl_redis_target *out, char *why, size_t why_sz);

#endif /* SL_REDIS_URL_H */
