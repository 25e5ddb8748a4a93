/* SPDX-License-Identifier: MIT */
/* reservations.h - the reservations in flight, in the shared-memory region beside the tenants
 * (tenants.h), and with Redis the journal of their settlements.
 *
 * Every admitted request holds one reservation slot (tenant, tokens, the worker's pid) until
 * it is settled to the upstream's usage or refunded, exactly once.  When a worker dies the
 * master settles the slots it held in full: an upstream call may have happened and been
 * billed.
 *
 * With Redis (SL_RESV_JOURNAL) a slot is also the request's journal entry.  Settling moves it from
 * LIVE to PENDING with the tokens really spent; it is freed only once Redis has confirmed the
 * settlement (sl_tenants_confirm), so a settlement that Redis did not take, because it was out
 * of reach, stays here, survives the worker's death, and any worker replays it later (Redis
 * makes a settlement idempotent by its id: host id, slot and sequence).  A full table refuses
 * new requests: nothing is ever admitted that could not be journalled. */
#ifndef SL_RESERVATIONS_H
#define SL_RESERVATIONS_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/quota.h"
#include "admission/tenants.h"

/* Reservation flags. */
#define SL_RESV_LOCAL 1u   /* counted in this host's quota record */
#define SL_RESV_JOURNAL 2u /* settled through Redis: LIVE -> PENDING -> FREE */

struct sl_reservation {
    _Atomic uint32_t state; /* FREE, LIVE or PENDING */
    uint32_t tenant;
    int32_t pid;
    uint32_t seq; /* bumped at every claim: part of the id in Redis */
    uint64_t tokens;
    uint64_t actual;           /* PENDING: the tokens to settle in Redis */
    uint32_t flags;            /* SL_RESV_* */
    _Atomic int32_t lease_pid; /* PENDING: who is sending it to Redis, until ... */
    _Atomic uint64_t lease_until_ms;
    /* A settlement restored from the state file keeps the id it had in Redis. */
    uint64_t origin_host; /* 0: the id is this host's own */
    int32_t origin_slot;
    uint32_t origin_seq;
};

/* Admission (SPEC §4 rate and budget part) for `tokens`.  On SL_QUOTA_OK a reservation slot
 * is held and *resv set; settle or refund it exactly once.  A full reservation table refuses
 * like TPM would (-ENOSPC, nothing charged). */
int sl_tenants_admit(struct sl_tenants *t, int idx, uint64_t tokens, pid_t pid, uint64_t now_ms,
                     int64_t now_wall_s, struct sl_quota_result *res, int *resv);
void sl_tenants_settle(struct sl_tenants *t, int resv, uint64_t actual, uint64_t now_ms,
                       int64_t now_wall_s);
void sl_tenants_refund(struct sl_tenants *t, int resv, uint64_t now_ms, int64_t now_wall_s);

/* The Redis path (store_redis.c).  hold: a slot for `tokens` without touching the local
 * quota (Redis decides); -ENOSPC or -ENOENT.  admit_held: admit a held slot against this
 * host's record with the limits given (Redis out of reach); marks it SL_RESV_LOCAL on
 * SL_QUOTA_OK.  unhold: give back a held slot that was refused (never LOCAL). */
int sl_tenants_hold(struct sl_tenants *t, int idx, uint64_t tokens, pid_t pid);
int sl_tenants_admit_held(struct sl_tenants *t, int resv, const struct sl_limits *lim,
                          uint64_t now_ms, int64_t now_wall_s, struct sl_quota_result *res);
void sl_tenants_unhold(struct sl_tenants *t, int resv);
/* LIVE -> PENDING with the tokens spent (a LOCAL slot is settled locally now).  Returns the
 * slot's sequence number, or -1 if it was not LIVE.  The caller holds the lease. */
int64_t sl_tenants_finish(struct sl_tenants *t, int resv, uint64_t actual, pid_t pid,
                          uint64_t now_ms, uint64_t lease_ms, int64_t now_wall_s);
/* Redis took the settlement of (resv, seq): PENDING -> FREE; a LOCAL slot's tokens leave the
 * local record.  false if the slot is no longer that settlement. */
bool sl_tenants_confirm(struct sl_tenants *t, int resv, uint32_t seq, int64_t now_wall_s);
/* Up to max PENDING slots whose lease ran out, now leased to pid until now + lease_ms. */
int sl_tenants_claim_pending(struct sl_tenants *t, pid_t pid, uint64_t now_ms, uint64_t lease_ms,
                             int *out, int max);
void sl_tenants_end_lease(struct sl_tenants *t, int resv);
/* State file: a settlement still PENDING when the master stopped, back as PENDING under the
 * Redis id it had (parsed from id).  -EINVAL for a bad id or tokens, -ENOSPC, -ENOENT. */
int sl_tenants_restore_pending(struct sl_tenants *t, int idx, const char *id, uint64_t tokens,
                               uint64_t actual, bool local);
/* "<host id>-<slot>-<seq>", the reservation's id in Redis; its length, 0 if it does not fit. */
size_t sl_tenants_resv_id(const struct sl_tenants *t, int resv, uint32_t seq, char *out, size_t sz);
#define SL_RESV_ID_MAX 48

/* Master, after reaping pid: settle every reservation it held in full (with Redis: journal it
 * for a worker to replay), and end its leases.  Returns how many it held. */
unsigned sl_tenants_reap(struct sl_tenants *t, pid_t pid, uint64_t now_ms, int64_t now_wall_s);
/* Reservations held now (tests, metrics). */
unsigned sl_tenants_reserved_slots(struct sl_tenants *t);
#endif /* SL_RESERVATIONS_H */
