/* SPDX-License-Identifier: MIT */
/* errors.h - JSON in place of evhttp's built-in HTML error pages, and the two hooks
 * into evhttp's request parsing that libevent 2.1 does not offer.
 *
 * libevent 2.1 answers some requests itself, before any sluice code runs: a malformed
 * request line or header (400), headers or a body over the configured maximum (413), an
 * unmet Expect (417), an unknown method (501).  It has no hook for those pages
 * (evhttp_set_errorcb arrived in 2.2), so this module defines evhttp_send_error() itself.
 * Debian's libevent calls that function through its PLT, so the dynamic linker binds
 * libevent's own calls to this definition.  The body carries both error shapes at once,
 * FastAPI's "detail" and OpenAI's "error", because evhttp has usually discarded the URI that
 * would say which route the client meant.  Each such reply is also logged as a "request"
 * line and counted in sluice_requests_total (route "other"), since no struct sl_req exists
 * for it.  The integration tests check that a 413 and a 400 come back as JSON, so a libevent
 * built without interposable symbols is caught at once.
 *
 * The same way, evhttp_request_new() is wrapped so that every incoming request gets a
 * header callback: evhttp calls it once the head is read, before the body, which is the
 * only moment libevent 2.1 exposes between the first byte and the complete request. */
#ifndef SL_HTTP_ERRORS_H
#define SL_HTTP_ERRORS_H
#include <stdint.h>

struct evhttp_request;
struct sl_metrics;

/* Runs once evhttp has read the head of an incoming request (not yet its body). */
typedef void (*sl_http_head_cb)(struct evhttp_request *req, void *arg);

/* Called once by each worker before it serves: evhttp's own replies are logged and counted
 * in w's metrics from then on, and head(req, arg) runs for every incoming request (head may
 * be NULL).  Also forces the linker to keep this object in the binary. */
void sl_http_errors_init(struct sl_metrics *m, sl_http_head_cb head, void *arg);
/* From a head callback: a request that says "Expect: 100-continue" with a Content-Length
 * over max_body is answered 413 at once (and the connection closed).  Left to itself, evhttp
 * would wait for a body the client never sends, because it never got its 100 Continue. */
void sl_http_refuse_early(struct evhttp_request *req, uint64_t max_body);
/* req's chunked body has a chunk-size line that evhttp is about to refuse as corrupt, within
 * the same read: evhttp reports a corrupt chunk as a body too long, and its 413 for req
 * becomes a 400.  Only one request is marked at a time; the mark ends with the next
 * request evhttp makes. */
void sl_http_mark_malformed(struct evhttp_request *req);
/* Reason phrase for a status code ("Not Found"); "Error" for unknown ones. */
const char *sl_http_reason(int status);
#endif /* SL_HTTP_ERRORS_H */
