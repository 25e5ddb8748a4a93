/* SPDX-License-Identifier: MIT */
/* relay_int.h - the relay core's state, private to relay.c (the request's life, buffered
 * answers, settlement) and relay_stream.c (SSE answers). */
#ifndef SL_RELAY_INT_H
#define SL_RELAY_INT_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/openai.h"
#include "core/sse.h"
#include "api/admit.h"
#include "api/relay.h"

struct sl_call;
struct sl_ownership_op;
struct sl_call_result;
struct sl_call_spec;
struct sl_stream;

struct sl_relay {
    struct sl_req *r;
    const struct sl_relay_route *route;
    void *state; /* the route's: route->state_size bytes after this */
    struct sl_relay_job job;
    struct sl_admission admit;        /* its resv is settled by relay_stop() */
    struct sl_ownership_op *owner_op; /* the owner of job.owned_id is being looked up */
    bool recorded;                    /* the created response's owner is recorded */
    /* [log] log_prompts: this request's content may be logged, and is once the call ended
     * (prompt_due), each part whole or left out. */
    bool log_content;
    bool prompt_due;
    char *prompt; /* route->prompt_field as JSON */
    size_t prompt_len;
    char *answer; /* a buffered answer's text */
    size_t answer_len;
    struct sl_call *call;
    struct sl_usage usage; /* what the upstream reported, if it did */
    bool charge_full;      /* it may have billed: settle in full without usage */
    /* Streams only. */
    struct sl_stream *out;
    struct sl_sse_parser parser;
    struct sl_buf events; /* the client's bytes of one feed, written together */
    bool complete;        /* the route saw the terminal event */
    bool cut;             /* the last event is sent, the connection closing */
    bool paused;          /* the upstream transfer waits for the client */
};

/* relay.c, for relay_stream.c: what a finished call did goes into the log line and the
 * settlement; an upstream failure answered before any byte went out. */
void sl_relay_record(struct sl_relay *rl, const struct sl_call_result *res);
void sl_relay_reply_failure(struct sl_relay *rl, const struct sl_call_result *res);
/* The answer may have named the response it created: record it as the tenant's, once. */
void sl_relay_note_created(struct sl_relay *rl);
/* The spec of rl's call, buffered; the stream part is relay_stream.c's to add. */
void sl_relay_call_spec(struct sl_relay *rl, struct sl_call_spec *spec);

/* relay_guard.c: the tenant's input-guard policy over the job's body (SPEC §13), which it may
 * replace with a masked one.  true to go on; false when it answered (a refusal). */
bool sl_relay_guard(struct sl_relay *rl);

/* relay_stream.c: admitted, open the client's side and call the upstream. */
void sl_relay_start_stream(struct sl_relay *rl);
/* Release the stream's parts (NULL-safe on a buffered relay). */
void sl_relay_stream_done(struct sl_relay *rl);
#endif /* SL_RELAY_INT_H */
