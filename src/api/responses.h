/* SPDX-License-Identifier: MIT */
/* responses.h - POST /v1/responses (SPEC §10) as a description for the relay core (relay.h).
 * The body and event work is core/responses.c's. */
#ifndef SL_API_RESPONSES_H
#define SL_API_RESPONSES_H

struct sl_relay_route;

extern const struct sl_relay_route sl_route_v1_responses;
#endif /* SL_API_RESPONSES_H */
