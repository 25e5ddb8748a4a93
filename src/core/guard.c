/* SPDX-License-Identifier: MIT */
/* guard.c - the input guard over a request body (placeholder). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard.h"
