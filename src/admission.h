/* SPDX-License-Identifier: MIT */
/* admission.h - the checks a request passes after its body is valid and before any upstream
 * call, in SPEC §4's order: authentication (401), RPM and TPM (429), the token budget (429),
 * the circuit breaker (503), the per-worker in-flight cap (503).  Passing reserves `tokens`
 * (an upper bound of what the request can cost) for the tenant; sl_req_free() settles the
 * reservation.  A refusal is answered here, in the route's error shape, with Retry-After,
 * retry-after-ms, x-should-retry and the x-ratelimit-* headers. */
#ifndef SL_ADMISSION_H
#define SL_ADMISSION_H
#include <stdbool.h>
#include <stdint.h>

struct sl_req;

/* true: go ahead.  false: the client has been answered; the caller only frees the request. */
bool sl_admit(struct sl_req *r, bool openai_errors, uint64_t tokens);
#endif /* SL_ADMISSION_H */
