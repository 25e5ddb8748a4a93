/* SPDX-License-Identifier: MIT */
/* client.h - libcurl's multi interface driven by the worker's libevent loop: one multi
 * handle per worker, one easy handle per transfer, connections kept alive and reused.
 * Nothing here blocks: curl tells us which sockets to watch and when to wake it, and the
 * loop does the rest.  A transfer's completion callback always runs from the event loop,
 * never from inside a libcurl callback, so it may start or cancel other transfers freely.
 * The upstream key is set once per worker and only ever written to the Authorization header
 * of upstream requests. */
#ifndef SL_UPSTREAM_H
#define SL_UPSTREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sl_config;
struct sl_upstream;
struct sl_transfer;

#define SL_UPSTREAM_HDR_MAX 128
/* A response's header block is refused past this: OpenAI sends about 2 KiB. */
#define SL_UPSTREAM_HEADERS_MAX (64u << 10)

struct sl_transfer_result {
    int curl_code;     /* CURLE_OK (0) or the libcurl error */
    long status;       /* HTTP status; 0 when no response arrived */
    bool timed_out;    /* the attempt timeout fired */
    bool too_large;    /* the body passed max_response_bytes: cut */
    bool bad_response; /* not HTTP we can use: an impossible status line, a
                        * header block over SL_UPSTREAM_HEADERS_MAX, a broken
                        * content encoding; an answer, not a network failure */
    const char *body;  /* buffered body (NUL-terminated), borrowed */
    size_t body_len;
    char retry_after[SL_UPSTREAM_HDR_MAX];
    char retry_after_ms[SL_UPSTREAM_HDR_MAX];
    char request_id[SL_UPSTREAM_HDR_MAX]; /* the upstream's x-request-id */
    const char *error;                    /* libcurl's message, for logs; never has the key */
};

/* The result is valid only during the callback. */
typedef void (*sl_transfer_done_cb)(const struct sl_transfer_result *res, void *arg);

/* Streaming: a 2xx body is handed over as it arrives instead of being buffered.  Called from
 * inside libcurl's write callback, so it may write to the client but must not call any
 * sl_upstream_* function.  Return true to go on, false to abort the transfer (it then ends
 * with CURLE_WRITE_ERROR).  To slow down, call sl_upstream_pause() from here and
 * sl_upstream_resume() later from the loop. */
typedef bool (*sl_transfer_data_cb)(const char *data, size_t len, long status, void *arg);

/* The request's method; a GET or DELETE sends no body. */
enum sl_upstream_method { SL_UPSTREAM_POST = 0, SL_UPSTREAM_GET, SL_UPSTREAM_DELETE };

struct sl_transfer_spec {
    const char *path; /* appended to base_url, e.g. "/chat/completions" (query included) */
    enum sl_upstream_method method;
    const char *body; /* borrowed until done or cancelled */
    size_t body_len;
    const char *request_id; /* sent as X-Client-Request-Id */
    uint64_t timeout_ms;    /* this attempt; for a stream, until its first byte */
    /* Streaming only: */
    sl_transfer_data_cb on_data; /* NULL = buffer the body */
    uint64_t idle_timeout_ms;    /* once streaming, the longest silence allowed */
    uint64_t stream_deadline_ms; /* monotonic: a stream ends here at the latest (0 none) */
};

/* api_key is copied; NULL or "" sends no Authorization header (a local fake upstream). */
struct sl_upstream *sl_upstream_new(struct event_base *base, const struct sl_config *cfg,
                                    const char *api_key);
/* Cancels whatever is still running, without callbacks. */
void sl_upstream_free(struct sl_upstream *u);
/* Start one transfer.  NULL on OOM or a libcurl refusal (no callback then). */
struct sl_transfer *sl_upstream_start(struct sl_upstream *u, const struct sl_transfer_spec *s,
                                      sl_transfer_done_cb cb, void *arg);
/* Abort a transfer at once; its callback will not run.  Not from inside its own callback. */
void sl_upstream_cancel(struct sl_transfer *t);
/* Stop receiving (backpressure).  Callable from the data callback. */
void sl_upstream_pause(struct sl_transfer *t);
/* Receive again.  From the loop only (it may deliver held data before it returns). */
void sl_upstream_resume(struct sl_transfer *t);
/* Bytes of 2xx body handed to the data callback so far. */
uint64_t sl_transfer_streamed(const struct sl_transfer *t);
/* What a transfer in progress has received so far (for the log of one that is abandoned): the
 * response status (0 before the status line) and the upstream's x-request-id ("" if none). */
long sl_transfer_status(const struct sl_transfer *t);
const char *sl_transfer_request_id(const struct sl_transfer *t);
/* Transfers in progress (for drain and tests). */
unsigned sl_upstream_active(const struct sl_upstream *u);
#endif /* SL_UPSTREAM_H */
