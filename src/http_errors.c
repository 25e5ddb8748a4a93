/* SPDX-License-Identifier: MIT */
/* http_errors.c - evhttp's own error replies, as JSON. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "http_errors.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>

#include "buf.h"
#include "reqid.h"

static volatile int initialised;

void sl_http_errors_init(void)
{
    initialised = 1;
}

const char *sl_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Request body too large";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return "Error";
}

/* Replaces libevent's definition; see http_errors.h.  Same contract as the original: the
 * reply closes the connection. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *phrase = sl_http_reason(error);
    const char *code = error == 413 ? "request_too_large" : NULL;
    char id[SL_REQID_MAX + 1];
    struct sl_buf b;

    /* A 413 keeps the wording SPEC §3.1 gives it; other statuses use their phrase. */
    (void)reason;
    sl_reqid_pick(evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-ID"), id);
    sl_buf_init(&b, 1024);
    sl_buf_puts(&b, "{\"detail\":");
    sl_buf_json_str(&b, phrase, strlen(phrase));
    sl_buf_puts(&b, ",\"error\":{\"message\":");
    sl_buf_json_str(&b, phrase, strlen(phrase));
    sl_buf_printf(&b, ",\"type\":\"invalid_request_error\",\"param\":null,\"code\":%s%s%s}}",
                  code ? "\"" : "", code ? code : "null", code ? "\"" : "");
    /* A request line too broken to parse leaves the version at 0.0, and "HTTP/0.0 400" is
     * not a status line clients accept.  http_struct.h is libevent's own compatibility
     * view of the request. */
    if (req->major != 1) {
        req->major = 1;
        req->minor = 1;
    }
    evhttp_clear_headers(h);
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "X-Request-ID", id);
    if (b.data)
        evbuffer_add(evhttp_request_get_output_buffer(req), b.data, b.len);
    sl_buf_done(&b);
    evhttp_send_reply(req, error, NULL, NULL);
}
