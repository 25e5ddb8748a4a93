/* SPDX-License-Identifier: MIT */
/* fake_openai.h - internals shared by the three parts of the fake OpenAI upstream:
 * fake_openai.c (listener, control API, request log, stats), fake_answer.c (what an
 * upstream request is answered with: behaviours, request parsing, JSON and SSE text) and
 * fake_reply.c (when and how the answer is delivered, and the connection faults).
 * Single-threaded: everything runs on the one event_base. */
#ifndef SL_FAKE_OPENAI_H
#define SL_FAKE_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct evbuffer;
struct event;
struct event_base;
struct evhttp_connection;
struct evhttp_request;

enum sl_fake_action {
    SL_FAKE_ACT_NONE,
    SL_FAKE_ACT_RESET,
    SL_FAKE_ACT_HANG,
    SL_FAKE_ACT_CLOSE,
    SL_FAKE_ACT_TRUNCATE,
};

enum sl_fake_fail {
    SL_FAKE_FAIL_NONE,
    SL_FAKE_FAIL_RESET,
    SL_FAKE_FAIL_CLOSE,
    SL_FAKE_FAIL_ERROR_EVENT,
};

/* Where a stream is: role chunks, content deltas, finish chunks, usage chunk, [DONE]. */
enum sl_fake_phase {
    SL_FAKE_PH_ROLE,
    SL_FAKE_PH_DELTA,
    SL_FAKE_PH_FINISH,
    SL_FAKE_PH_USAGE,
    SL_FAKE_PH_DONE,
    SL_FAKE_PH_END,
};

/* One scripted behaviour, parsed from a JSON object of POST /_fake/script.  Pointers borrow
 * from that object, which must outlive the struct.  -1 in an int64_t field means "not
 * given". */
struct sl_fake_beh {
    int64_t repeat;
    int status; /* 0: not given */
    json_t *body;
    const char *body_raw;
    size_t body_raw_len;
    json_t *headers;
    int64_t delay_ms;
    enum sl_fake_action action;
    const char *content; /* NULL: not given */
    size_t content_len;
    bool has_finish;
    const char *finish; /* NULL with has_finish: JSON null */
    json_t *usage;
    const char *model;
    int64_t chunk_delay_ms;
    int64_t pause_after;
    int64_t pause_ms; /* -1 with pause_after given: hold forever */
    int64_t fail_after;
    enum sl_fake_fail fail_mode;
    int64_t bytes;
    bool has_error_code;
    const char *error_code; /* NULL with has_error_code: JSON null */
    const char *error_type;
    const char *error_message;
};

/* One upstream request in progress.  fake_reply.c owns it (sl_fake_reply_take() creates
 * it, and it lives until the response has ended or the connection is gone); fake_answer.c
 * fills the "asked" and "answer" parts and walks the stream part. */
struct sl_fake_req {
    struct sl_fake_req *prev, *next; /* requests in progress */
    struct event_base *base;
    struct evhttp_request *req;      /* NULL once evhttp took it back */
    struct evhttp_connection *evcon; /* valid while this struct lives */
    int fd;
    uint64_t seq, epoch, arrived_ms;
    int64_t created;
    json_t *script;
    struct sl_fake_beh beh;
    /* what was asked */
    const char *bad_msg, *bad_param; /* set: answer 400 unless scripted otherwise */
    char *model;
    int n;
    bool stream, include_usage;
    uint64_t prompt_tokens;
    /* the answer */
    char *text;
    size_t text_len;
    bool bytes_mode;
    uint64_t bytes, tokens, units; /* tokens and stream deltas per choice */
    bool cut;
    /* stream progress */
    enum sl_fake_phase phase;
    int choice;
    uint64_t unit;
    size_t cursor, delta_end;
    char *prefix;
    size_t prefix_len;
    int64_t sent_events;
    bool paused, wait_drain;
    enum sl_fake_fail fail_pending;
    struct event *timer, *watch, *poll;
    int timer_mode;
};

/* ---- fake_answer.c ---- */

/* Monotonic clock in milliseconds. */
uint64_t sl_fake_now_ms(void);

/* Fill b from obj (NULL obj: all defaults).  Returns 0, or -EINVAL with a message for the
 * test author in err. */
int sl_fake_beh_parse(json_t *obj, struct sl_fake_beh *b, char *err, size_t err_len);

/* Parse c->req's body and decide the answer (c->beh must be set).  An invalid request is
 * not an error here: it sets c->bad_msg.  Returns 0 or -ENOMEM. */
int sl_fake_req_prepare(struct sl_fake_req *c);

/* Append s as a JSON string literal (quoted, escaped) to out.  s must be valid UTF-8. */
void sl_fake_put_str(struct evbuffer *out, const char *s, size_t len);

/* Append v as compact JSON. */
void sl_fake_put_json(struct evbuffer *out, json_t *v);

/* Append an OpenAI error object {"error":{message,type,param,code}}; NULL param or code
 * is written as null. */
void sl_fake_put_error(struct evbuffer *out, const char *message, const char *type,
                       const char *param, const char *code);

/* Append the error body an upstream sends with this status, as c's script adjusts it. */
void sl_fake_put_status_error(struct sl_fake_req *c, int status, struct evbuffer *out);

/* Append the whole chat.completion object. */
void sl_fake_put_completion(struct sl_fake_req *c, struct evbuffer *out);

/* Prepare the stream's per-chunk prefix.  Returns 0 or -ENOMEM. */
int sl_fake_sse_prefix(struct sl_fake_req *c);

/* Append the stream's next SSE event to out; false once the stream is complete. */
bool sl_fake_sse_next(struct sl_fake_req *c, struct evbuffer *out);

/* ---- fake_reply.c ---- */

/* Take over one POST /v1/chat/completions request and answer it as the script says
 * (script may be NULL: default behaviour; the reference is consumed).  Calls
 * sl_fake_note_done() exactly once, when the response has ended or the connection is gone.
 * Returns 0, or -ENOMEM with req untouched (the caller answers it). */
int sl_fake_reply_take(struct event_base *base, struct evhttp_request *req, uint64_t seq,
                       uint64_t epoch, json_t *script);

/* Drop every request still in progress without answering (shutdown). */
void sl_fake_reply_shutdown(void);

/* ---- fake_openai.c ---- */

/* Request seq of log epoch epoch is over; client_closed tells whether the client went
 * away first. */
void sl_fake_note_done(uint64_t seq, uint64_t epoch, bool client_closed);

#endif /* SL_FAKE_OPENAI_H */
