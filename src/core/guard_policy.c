/* SPDX-License-Identifier: MIT */
/* guard_policy.c - one input-guard policy (placeholder until the policies land). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard_policy.h"

#include <stdlib.h>

void sl_guard_policy_free(struct sl_guard_policy *p)
{
    free(p);
}
