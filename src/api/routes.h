/* SPDX-License-Identifier: MIT */
/* routes.h - the route table and the small handlers that need no upstream: health,
 * readiness, and the JSON 404/405 answers.  Routing is on the exact, undecoded path, so
 * "/api/chat/", "//api/chat" or "/api/%63hat" are 404s rather than aliases. */
#ifndef SL_HTTP_ROUTES_H
#define SL_HTTP_ROUTES_H

struct evhttp_request;

/* evhttp's generic callback; arg is the struct sl_worker. */
void sl_routes_dispatch(struct evhttp_request *ev, void *arg);
/* The [metrics] listener's callback: /metrics, and 404 for everything else. */
void sl_routes_dispatch_metrics(struct evhttp_request *ev, void *arg);
#endif /* SL_HTTP_ROUTES_H */
