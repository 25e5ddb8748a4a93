/* SPDX-License-Identifier: MIT */
/* admission.h - the checks a request passes after its body is valid and before any upstream
 * call (SPEC §4): today the circuit breaker and the per-worker in-flight cap; authentication,
 * rate limits and budgets join in front of them.  A refusal is answered here, in the route's
 * error shape, with Retry-After, retry-after-ms and x-should-retry. */
#ifndef SL_ADMISSION_H
#define SL_ADMISSION_H
#include <stdbool.h>

struct sl_req;

/* true: go ahead.  false: the client has been answered; the caller only frees the request. */
bool sl_admit(struct sl_req *r, bool openai_errors);
#endif /* SL_ADMISSION_H */
