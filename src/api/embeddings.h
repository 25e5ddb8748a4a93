/* SPDX-License-Identifier: MIT */
/* embeddings.h - POST /v1/embeddings (SPEC §10) as a description for the relay core. */
#ifndef SL_API_EMBEDDINGS_H
#define SL_API_EMBEDDINGS_H

struct sl_relay_route;

extern const struct sl_relay_route sl_route_v1_embeddings;
#endif /* SL_API_EMBEDDINGS_H */
