/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/owners.h"
