/* SPDX-License-Identifier: MIT */
/* config_guard.c - the configuration's input-guard policies: reading a [guard] or
 * [guard.NAME] section into one, and which one a tenant's setting names. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys of a guard section, in etc/sluice.conf's order. */
static const char *const guard_keys[NGKEYS] = {
    "max_message_chars", "max_messages", "deny_markup", "deny_patterns", "pii",
    "pii_action",        "roles",
};

bool guard_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n < SL_GUARD_NAME_MAX && strspn(s, GUARD_NAME_OK) == n;
}

/* The policy name of a header, or NULL (why says) when it cannot be one. */
static const char *policy_name(const char *header, char *why)
{
    const char *name = header + strlen("guard.");
    char q[64];

    if (strcmp(header, "guard") == 0)
        return SL_GUARD_DEFAULT;
    if (!guard_name_ok(name)) {
        snprintf(why, WHY_MAX, "[%s]: a policy name is 1-%d characters of A-Z a-z 0-9 _ . -",
                 printable(header, q), SL_GUARD_NAME_MAX - 1);
        return NULL;
    }
    if (strcmp(name, SL_GUARD_NONE) == 0 || strcmp(name, SL_GUARD_DEFAULT) == 0) {
        snprintf(why, WHY_MAX,
                 "[%s]: '%s' is reserved (guard = none turns the guard off; the default policy "
                 "is [guard])",
                 header, name);
        return NULL;
    }
    return name;
}

static int check_new(const struct sl_config *c, const struct guard_track *tracks,
                     const char *header, const char *name, char *why)
{
    size_t i;

    for (i = 0; i < c->nguards; i++) {
        if (strcmp(c->guards[i]->name, name) == 0) {
            snprintf(why, WHY_MAX, "[%s]: duplicate policy (first at line %d)", header,
                     tracks[i].header_line);
            return -EINVAL;
        }
    }
    if (c->nguards == SL_GUARD_MAX_POLICIES) {
        snprintf(why, WHY_MAX, "[%s]: too many policies (max %d)", header, SL_GUARD_MAX_POLICIES);
        return -EINVAL;
    }
    return 0;
}

int guard_open(struct sl_config *c, struct guard_track **tracks, const char *header, int line,
               char *why)
{
    const char *name = policy_name(header, why);
    struct sl_guard_policy **g;
    struct guard_track *t;

    if (!name || check_new(c, *tracks, header, name, why) < 0)
        return -EINVAL;
    if (!(g = realloc(c->guards, (c->nguards + 1) * sizeof(*g))))
        return -ENOMEM;
    c->guards = g;
    if (!(t = realloc(*tracks, (c->nguards + 1) * sizeof(*t))))
        return -ENOMEM;
    *tracks = t;
    if (!(g[c->nguards] = sl_guard_policy_new(name)))
        return -ENOMEM;
    memset(&t[c->nguards], 0, sizeof(*t));
    t[c->nguards].header_line = line;
    c->nguards++;
    return 0;
}

static int key_index(const char *key)
{
    int i;

    for (i = 0; i < NGKEYS; i++)
        if (strcmp(guard_keys[i], key) == 0)
            return i;
    return -1;
}

bool guard_is_key(const char *s, size_t n)
{
    int i;

    for (i = 0; i < NGKEYS; i++)
        if (strlen(guard_keys[i]) == n && memcmp(guard_keys[i], s, n) == 0)
            return true;
    return false;
}

int guard_set(struct sl_guard_policy *p, struct guard_track *t, const char *key, const char *v,
              int line, char *why)
{
    int i = key_index(key), r;

    if (i < 0) {
        snprintf(why, WHY_MAX,
                 "unknown key (a guard takes max_message_chars, max_messages, deny_markup, "
                 "deny_patterns, pii, pii_action, roles)");
        return -ENOENT;
    }
    if (t->seen[i]) {
        snprintf(why, WHY_MAX, "duplicate key (first set at line %d)", t->seen[i]);
        return -EEXIST;
    }
    t->seen[i] = line;
    if (has_ctl(v)) {
        snprintf(why, WHY_MAX, "control characters are not allowed");
        r = -EINVAL;
    } else if (strcmp(key, "deny_patterns") == 0) {
        r = *v ? sl_guard_policy_add_pattern(p, v, line, why, WHY_MAX) : 0;
    } else {
        r = sl_guard_policy_set(p, key, v, why, WHY_MAX);
    }
    if (r < 0 && r != -ENOMEM)
        t->refused = true;
    return r;
}

const struct sl_guard_policy *sl_config_guard(const struct sl_config *c, const char *name,
                                              bool *known)
{
    const char *want = *name ? name : SL_GUARD_DEFAULT;
    size_t i;

    *known = true;
    if (strcmp(name, SL_GUARD_NONE) == 0)
        return NULL;
    for (i = 0; i < c->nguards; i++)
        if (strcmp(c->guards[i]->name, want) == 0)
            return c->guards[i];
    /* "" without a [guard] section is no policy, and that is fine; [guard] is not a name a
     * tenant may write. */
    *known = *name == '\0';
    return NULL;
}
