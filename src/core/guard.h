/* SPDX-License-Identifier: MIT */
/* guard.h - the input guard over a request body (placeholder). */
#ifndef SL_GUARD_H
#define SL_GUARD_H
#endif /* SL_GUARD_H */
