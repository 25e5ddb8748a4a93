/* SPDX-License-Identifier: MIT */
/* models.h - GET /v1/models[/{model}] (SPEC §10), answered by the gateway itself. */
#ifndef SL_API_MODELS_H
#define SL_API_MODELS_H

struct sl_req;

void sl_route_v1_models(struct sl_req *r);
#endif /* SL_API_MODELS_H */
