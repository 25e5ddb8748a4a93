/* SPDX-License-Identifier: MIT */
/* http_errors.h - JSON in place of evhttp's built-in HTML error pages.
 *
 * libevent 2.1 answers some requests itself, before any sluice code runs: a malformed
 * request line or header (400), headers or a body over the configured maximum (413), an
 * unmet Expect (417).  It has no hook for those pages (evhttp_set_errorcb arrived in 2.2), so
 * this module defines evhttp_send_error() itself.  Debian's libevent calls that function
 * through its PLT, so the dynamic linker binds libevent's own calls to this definition.  The
 * body carries both error shapes at once, FastAPI's "detail" and OpenAI's "error", because
 * evhttp has already discarded the URI that would say which route the client meant.  The
 * integration tests check that a 413 and a 400 come back as JSON, so a libevent built
 * without interposable symbols is caught at once. */
#ifndef SL_HTTP_ERRORS_H
#define SL_HTTP_ERRORS_H

/* Called once by each worker; forces the linker to keep this object in the binary. */
void sl_http_errors_init(void);
/* Reason phrase for a status code ("Not Found"); "Error" for unknown ones. */
const char *sl_http_reason(int status);
#endif /* SL_HTTP_ERRORS_H */
