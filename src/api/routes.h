/* SPDX-License-Identifier: MIT */
/* routes.h - the route table and the small handlers that need no upstream: health,
 * readiness, metrics, and the JSON 404/405 answers.  Routing is on the exact, undecoded path,
 * so "/api/chat/", "//api/chat" or "/api/%63hat" are 404s rather than aliases. */
#ifndef SL_ROUTES_H
#define SL_ROUTES_H

struct evhttp_request;
struct sl_serve;

/* A complete request from the main listeners (http/front.h's dispatch callback). */
void sl_routes_dispatch(struct evhttp_request *ev, struct sl_serve *s);
/* The [metrics] listener's: /metrics, and 404 for everything else. */
void sl_routes_dispatch_metrics(struct evhttp_request *ev, struct sl_serve *s);
#endif /* SL_ROUTES_H */
