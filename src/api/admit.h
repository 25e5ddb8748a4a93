/* SPDX-License-Identifier: MIT */
/* admit.h - the checks a request passes after its body is valid and before any upstream
 * call, in SPEC §4's order: authentication (401), RPM and TPM (429), the token budget (429),
 * the circuit breaker (503), the per-worker in-flight cap (503).  Passing reserves `tokens`
 * (an upper bound of what the request can cost) for the tenant in the budget store (budget.h:
 * shared memory, or Redis after one round trip); sl_req_free() settles the reservation.  A
 * refusal is answered here, in the route's error shape, with Retry-After, retry-after-ms,
 * x-should-retry and the x-ratelimit-* headers, and the request is freed. */
#ifndef SL_ADMISSION_H
#define SL_ADMISSION_H
#include <stdbool.h>
#include <stdint.h>

struct sl_req;

/* admitted(r) runs once the request may go upstream: before sl_admit() returns (shared
 * memory) or later from the loop (Redis).  On a refusal the client has been answered and r
 * freed.  Either way the caller must not touch r after calling this. */
void sl_admit(struct sl_req *r, bool openai_errors, uint64_t tokens,
              void (*admitted)(struct sl_req *r));
#endif /* SL_ADMISSION_H */
