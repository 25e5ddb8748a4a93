/* SPDX-License-Identifier: MIT */
/* config_guard.c - the configuration's input-guard policies: which one a tenant's setting
 * names. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/config.h"

#include <string.h>

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
