/* SPDX-License-Identifier: MIT */
/* relay.h - the relay core: every route that calls the upstream is a description of itself
 * over one engine that does the rest.
 *
 * A route says how to check and rewrite its body, how many tokens to reserve, which upstream
 * path it calls, whether it streams, how to read usage from a buffered answer or from a
 * stream's events, and which error shape its clients expect (FastAPI's or OpenAI's).  The core
 * does what every such route must do alike, in this order:
 *
 *   prepare (the route) -> admission (admit.h: key, RPM, TPM, budget with a reservation,
 *   breaker, in-flight cap) -> the attempt loop (upstream/call.h) -> the answer, buffered or
 *   relayed as SSE (backpressure, pings, a client that leaves, a cut never looking complete)
 *   -> settlement, exactly once, from whichever end comes first.
 *
 * Settlement: the upstream's usage when it reported one; the whole reservation when it may
 * have billed without saying (a 2xx, a timeout, a stream that began, a client that left while
 * a call ran); nothing when it never answered. */
#ifndef SL_RELAY_H
#define SL_RELAY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guard.h"
#include "core/openai.h"
#include "upstream/client.h"

struct sl_buf;
struct sl_req;
struct sl_sse_event;

/* What a route's prepare step decided about one request. */
struct sl_relay_job {
    char *body; /* the upstream body, malloc'd (the core frees it); NULL sends none */
    size_t body_len;
    const char *model;              /* the model asked for (checked against the tenant's models) and
                                     * logged: static, the configuration's or in the route's state;
                                     * NULL for a route that names none */
    bool stream;                    /* relay the answer as SSE */
    uint64_t reservation;           /* SPEC §4 upper bound of the tokens the request can cost */
    enum sl_upstream_method method; /* POST unless the route says otherwise */
    char *path;                     /* malloc'd upstream path (query included), in place of
                                     * the route's; NULL = route->upstream_path */
    const char *owned_id;           /* a response id the tenant must have created (SPEC §10),
                                     * in the route's state; NULL = none */
    const char *owned_param;        /* the body's field that named it, for the 404 (static) */
};

/* What one upstream event may leave for the core, during a stream. */
struct sl_relay_feed {
    struct sl_buf *out;     /* bytes for the client, written once the feed is read */
    struct sl_usage *usage; /* the usage that settles, when an event carries it */
    bool complete;          /* set by the terminal event: the stream may end cleanly */
};

/* Why a stream ends before its terminal event; the route's last event may say so. */
enum sl_relay_cut {
    SL_RELAY_CUT_NOMEM,          /* the gateway ran out of memory */
    SL_RELAY_CUT_UPSTREAM_ERROR, /* the upstream reported an error in the stream */
    SL_RELAY_CUT_INVALID,        /* the upstream's stream was not valid SSE, or an event
                                  * passed the bound */
    SL_RELAY_CUT_ENDED,          /* the transfer failed, or ended without the terminal
                                  * event */
};

struct sl_relay_route {
    const char *upstream_path;       /* appended to base_url, e.g. "/chat/completions" */
    const char *prompt_field;        /* the body's member that [log] log_prompts logs, or NULL (the
                                      * route logs its prompts itself, or has none) */
    enum sl_openai_answer answer;    /* where a buffered answer's text is, logged with the
                                      * prompt; NONE: the prompt alone */
    bool openai_errors;              /* OpenAI's error shape; FastAPI's otherwise */
    enum sl_guard_shape guard_shape; /* where the upstream body holds the text the input
                                      * guard checks (SPEC §13); NONE: no prompt */
    size_t state_size;               /* the route's own state, zeroed, freed with the request */
    /* Check the client's body and fill *job.  A refusal is answered here, in the route's
     * words, and returns a negative errno. */
    int (*prepare)(struct sl_req *r, void *state, const char *body, size_t len,
                   struct sl_relay_job *job);
    /* Buffered: is this 2xx answer usable (false: 502, no retry)?  Its usage goes to *usage.
     * Then reply_answer() sends it. */
    bool (*read_answer)(void *state, const char *body, size_t len, struct sl_usage *usage);
    void (*reply_answer)(struct sl_req *r, void *state, const char *body, size_t len);
    /* Streamed: one upstream event (a message, never a comment) into bytes for the client.
     * 0; -EPROTO when the upstream reported an error or sent what the route cannot read (the
     * stream is cut); -ENOMEM.  Called from inside libcurl's write callback. */
    int (*on_event)(void *state, const struct sl_sse_event *ev, struct sl_relay_feed *feed);
    /* The bytes a complete stream ends with (may be NULL: nothing). */
    void (*end_stream)(struct sl_req *r, void *state, struct sl_buf *out);
    /* The one event a cut stream ends with. */
    void (*cut_event)(void *state, enum sl_relay_cut why, struct sl_buf *out);
    /* The response id the answer created, once known (buffered: after read_answer; streamed:
     * after any event), or NULL.  The core records it as the tenant's (may be NULL). */
    const char *(*created_id)(void *state);
    /* The input guard masked spans of job.body: the route's own prompt log, if it keeps one,
     * is to show the masked text that went upstream (may be NULL). */
    void (*masked)(void *state, const char *body, size_t len);
    /* Release what the state owns (may be NULL). */
    void (*state_done)(void *state);
};

/* reply_answer for the OpenAI routes: the upstream's 2xx body as it came, JSON, 200. */
void sl_relay_reply_as_is(struct sl_req *r, void *state, const char *body, size_t len);

/* Relay one upstream event to out as it came: its event name (if any), data (several data:
 * lines when it spans lines), blank line.  0; -EPROTO for a name past 63 bytes; -ENOMEM. */
int sl_relay_write_event(struct sl_buf *out, const struct sl_sse_event *ev, const char *data,
                         size_t len);

/* Serve r with route: from here on the core owns r and ends it with sl_req_free(). */
void sl_relay_handle(struct sl_req *r, const struct sl_relay_route *route);
#endif /* SL_RELAY_H */
