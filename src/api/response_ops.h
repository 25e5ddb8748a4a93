/* SPDX-License-Identifier: MIT */
/* response_ops.h - /v1/responses/{id}[/input_items|/cancel] (SPEC §10): relayed only for the
 * tenant that created {id}. */
#ifndef SL_RESPONSE_OPS_H
#define SL_RESPONSE_OPS_H

struct sl_relay_route;

extern const struct sl_relay_route sl_route_v1_response_ops;
#endif /* SL_RESPONSE_OPS_H */
