/* SPDX-License-Identifier: MIT */
/* admit.h - the checks a request passes after its body is valid and before any upstream
 * call, in SPEC §4's order: authentication (401, sl_admit_identify(); the caller checks the
 * tenant's rights on what the request names next), then sl_admit(): RPM and TPM (429), the
 * token budget (429), the circuit breaker (503), the per-worker in-flight cap (503).  Passing
 * reserves `tokens` (an upper bound of what the request can cost) for the tenant in the budget
 * store (admission/budget.h: shared memory, or Redis after one round trip); the relay core settles
 * the reservation.  A refusal is answered here, in the route's error shape, with Retry-After,
 * retry-after-ms, x-should-retry and the x-ratelimit-* headers, and the request is freed. */
#ifndef SL_ADMIT_H
#define SL_ADMIT_H
#include <stdbool.h>
#include <stdint.h>

struct sl_budget_op;
struct sl_req;

struct sl_admission {
    struct sl_req *r;
    bool openai;                 /* refusals in OpenAI's shape, else FastAPI's */
    uint64_t tokens;             /* what to reserve */
    void (*admitted)(void *arg); /* the request may go upstream, resv held */
    void *arg;
    struct sl_budget_op *op; /* the budget store's answer is awaited */
    int resv;                /* the reservation slot, -1 while none is held */
    bool no_upstream;        /* answered by the gateway itself: no breaker, no in-flight cap */
};

/* SPEC §4's first check, on its own because routes check the tenant's rights (its models, the
 * responses it owns) between it and the rest: true and r->tenant_idx / r->tenant set; false
 * when the key is missing or unknown, r answered 401 and freed. */
bool sl_admit_identify(struct sl_req *r, bool openai);

/* After sl_admit_identify(): fill a (r, openai, tokens, admitted, arg; resv -1), then call
 * this.  admitted(arg) runs once
 * the request may go upstream: before sl_admit() returns (shared memory) or later from the
 * loop (Redis).  On a refusal the client has been answered and r freed.  Either way the
 * caller must not touch r after calling this. */
void sl_admit(struct sl_admission *a);
/* The request ends while the budget store's answer is awaited: whatever that answer turns
 * out to be is given back.  No-op when nothing is awaited. */
void sl_admit_cancel(struct sl_admission *a);
#endif /* SL_ADMIT_H */
