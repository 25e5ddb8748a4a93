/* SPDX-License-Identifier: MIT */
/* config_int.h - private to the config_*.c files, which together implement config.h: the key
 * table (config_keys.c), the setters that parse one value (config_set.c) and the reader of the
 * file and the environment (config_read.c).  Nothing else includes it. */
#ifndef SL_CONFIG_INT_H
#define SL_CONFIG_INT_H
#include "core/config.h"

#define WHY_MAX 256

#define F_OPTIONAL 1u /* an empty value is allowed and means "unset" */
#define F_SECRET 2u   /* never quote the value in an error: it may hold a password */
#define F_INHERIT 4u  /* [tenant.*]: left out or empty takes the [limits] value */

struct key_def;
/* Parse v and store it in the field at base + d->off, only on success.  On -EINVAL, why
 * (WHY_MAX bytes) says what is wrong; it quotes v only when d is not F_SECRET. */
typedef int (*set_cb)(const struct key_def *d, void *base, const char *v, char *why);
/* Validate a string value of n bytes (control characters were refused already); may
 * shorten *n to normalise it.  Never quotes v.  NULL = any text. */
typedef int (*check_cb)(const char *v, size_t *n, char *why);

struct enum_name {
    const char *name;
    int value;
};

struct key_def {
    const char *section;
    const char *key;
    set_cb set;
    size_t off;       /* into struct sl_config, sl_tenant_conf or sl_model_conf */
    size_t size;      /* sizeof that field */
    size_t off2;      /* companion count or has_* flag, where one exists */
    int64_t min, max; /* number bounds, string length or list length */
    const char *def;  /* parsed by sl_config_new() through the same setter */
    unsigned flags;
    const struct enum_name *names;
    check_cb check;
};

/* The tables, in config_keys.c; it does not compile unless these counts are its row counts. */
#define NSECTIONS 11
#define NKEYS 51
#define NTKEYS 7
#define NMKEYS 1
#define TK_KEYS 0   /* the key_sha256 row of tenant_keys[] */
#define TK_MODELS 5 /* the models row of tenant_keys[] */
#define TK_GUARD 6  /* the guard row of tenant_keys[] */
extern const char *const sections[];
extern const struct key_def keys[];
extern const struct key_def tenant_keys[];
extern const struct key_def model_keys[]; /* [model.NAME] */

/* The setters and string checks the table names, in config_set.c. */
int set_int(const struct key_def *d, void *base, const char *v, char *why);
int set_double(const struct key_def *d, void *base, const char *v, char *why);
int set_bool(const struct key_def *d, void *base, const char *v, char *why);
int set_enum(const struct key_def *d, void *base, const char *v, char *why);
int set_str(const struct key_def *d, void *base, const char *v, char *why);
int set_workers(const struct key_def *d, void *base, const char *v, char *why);
int set_listens(const struct key_def *d, void *base, const char *v, char *why);
int set_listen_opt(const struct key_def *d, void *base, const char *v, char *why);
int set_models(const struct key_def *d, void *base, const char *v, char *why);
int set_statuses(const struct key_def *d, void *base, const char *v, char *why);
int set_hex32(const struct key_def *d, void *base, const char *v, char *why);
int set_tenant_key(const struct key_def *d, void *base, const char *v, char *why);
int set_model_list(const struct key_def *d, void *base, const char *v, char *why);
int set_guard_ref(const struct key_def *d, void *base, const char *v, char *why);
int check_url(const char *v, size_t *n, char *why);
int check_env_name(const char *v, size_t *n, char *why);
int check_model(const char *v, size_t *n, char *why);
int check_text(const char *v, size_t *n, char *why);
int check_redis_url(const char *v, size_t *n, char *why);
int check_key_prefix(const char *v, size_t *n, char *why);

/* Also in config_set.c, and used by the reader too: does s hold a control character; v cut
 * and made safe to quote in an error. */
bool has_ctl(const char *s);
const char *printable(const char *v, char out[64]);

/* The [guard] and [guard.NAME] sections, in config_guard.c.  Their keys are the policy's own
 * (guard_policy.h), not rows of the tables above. */
#define NGKEYS 7
#define GUARD_NAME_OK "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
struct guard_track {
    int header_line;
    int seen[NGKEYS]; /* line of each key of the section */
    bool refused;     /* a value was refused: an empty policy is no news then */
};
/* Open the section whose header is name ("guard" or "guard.NAME"): a new policy at the end of
 * c->guards and its track at the end of *tracks.  0; -EINVAL with why; -ENOMEM. */
int guard_open(struct sl_config *c, struct guard_track **tracks, const char *name, int line,
               char *why);
/* One "key = value" line of policy p.  0; -EINVAL or -E2BIG (refused), -EEXIST (a duplicate),
 * -ENOENT (no such key), all with why; -ENOMEM. */
int guard_set(struct sl_guard_policy *p, struct guard_track *t, const char *key, const char *v,
              int line, char *why);
/* Is s[0, n) a key of a guard section? */
bool guard_is_key(const char *s, size_t n);
/* Is s the name a [guard.NAME] section could have (1-63 of GUARD_NAME_OK)? */
bool guard_name_ok(const char *s);

#endif /* SL_CONFIG_INT_H */
