/* SPDX-License-Identifier: MIT */
/* fake_openai.h - internals shared by the parts of the fake OpenAI upstream: fake_openai.c
 * (listener, routes, control API, request log, stats), fake_answer.c (behaviours, the chat
 * completion request and its JSON and SSE text, and the per-endpoint dispatch),
 * fake_responses.c (the Responses API: request, Response object, its SSE events),
 * fake_store.c (created responses kept for the follow-up routes), fake_embeddings.c
 * (embeddings) and fake_reply.c (when and how the answer is delivered, and the connection
 * faults).  Single-threaded: everything runs on the one event_base. */
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

/* The endpoints the fake answers (each takes a behaviour from the script queue). */
enum sl_fake_kind {
    SL_FAKE_CHAT,                 /* POST /v1/chat/completions */
    SL_FAKE_RESPONSES,            /* POST /v1/responses */
    SL_FAKE_RESPONSE_GET,         /* GET /v1/responses/{id} */
    SL_FAKE_RESPONSE_DELETE,      /* DELETE /v1/responses/{id} */
    SL_FAKE_RESPONSE_INPUT_ITEMS, /* GET /v1/responses/{id}/input_items */
    SL_FAKE_RESPONSE_CANCEL,      /* POST /v1/responses/{id}/cancel */
    SL_FAKE_EMBEDDINGS,           /* POST /v1/embeddings */
};

/* Answer bytes per stream delta in "bytes" mode. */
#define SL_FAKE_BYTES_DELTA 1024

/* Longest {id} in a /v1/responses/{id} path the fake looks up. */
#define SL_FAKE_ID_MAX 128

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

/* How a Response ends: its status, and the stream's terminal event. */
enum sl_fake_rstatus {
    SL_FAKE_RS_DEFAULT, /* completed, or incomplete when max_output_tokens cut the text */
    SL_FAKE_RS_COMPLETED,
    SL_FAKE_RS_INCOMPLETE,
    SL_FAKE_RS_FAILED,
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
    json_t *usage;      /* an object, or JSON null */
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
    enum sl_fake_rstatus response_status;
    const char *incomplete_reason; /* NULL: "max_output_tokens" */
    int64_t background_ms;
    int64_t terminal_delay_ms;
    int64_t malformed_after;
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
    enum sl_fake_kind kind;
    char id[SL_FAKE_ID_MAX + 1]; /* the {id} of a /v1/responses/{id} route */
    /* what was asked */
    const char *bad_msg, *bad_param; /* set: answer bad_status (0: 400) unless scripted */
    int bad_status;
    char bad_text[SL_FAKE_ID_MAX + 96]; /* room for a bad_msg naming an id */
    char *model;
    int n;
    bool stream, include_usage;
    uint64_t prompt_tokens;
    bool background, store;
    int64_t max_output_tokens; /* -1: not given */
    json_t *items;             /* Responses: the input as items with ids */
    uint64_t *emb_hashes;      /* embeddings: one per input, seeds its vector */
    size_t emb_count;
    int emb_dims;
    bool emb_base64;
    /* the answer */
    json_t *answer; /* Responses: the finished Response object; follow-up routes: the body */
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
    int64_t sent_events, seq_no;
    int rphase; /* Responses stream: the next event */
    char msg_id[64];
    bool paused, wait_drain, malformed_sent, terminal_waited;
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

/* Parse c->req's body and decide the answer (c->beh and c->kind must be set).  An invalid
 * request is not an error here: it sets c->bad_msg.  Returns 0 or -ENOMEM. */
int sl_fake_req_prepare(struct sl_fake_req *c);

/* The answer is about to be sent (no scripted body or error took its place): take the steps
 * that belong to that moment (store a created response, look one up), which may still set
 * c->bad_msg. */
void sl_fake_req_commit(struct sl_fake_req *c);

/* Append the JSON answer of a successful, non-stream request. */
void sl_fake_put_answer(struct sl_fake_req *c, struct evbuffer *out);

/* Shared by the endpoints: the reply text as chat computes it ("Hello! You said: " + echo,
 * or the script's content or bytes), cut after max_tokens words (-1: no cap); the model as
 * answered (the script's, or asked + the date suffix, or asked verbatim without suffix).
 * Return 0 or -ENOMEM. */
int sl_fake_make_text(struct sl_fake_req *c, const char *echo, size_t echo_len, int64_t max_tokens);
int sl_fake_set_model(struct sl_fake_req *c, const char *asked, bool suffix);

/* Bytes of text in a message content: a string, or the "text" parts of an array; *first is
 * the string or the first text part (what the default answer echoes; untouched if none). */
size_t sl_fake_content_text(json_t *content, const char **first, size_t *first_len);

/* Set c->bad_msg to a message formatted into c->bad_text. */
void sl_fake_bad(struct sl_fake_req *c, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "bytes" mode text from offset off. */
void sl_fake_put_pattern(struct evbuffer *out, uint64_t off, uint64_t len);

/* Write n random bytes as 2n hex digits and a NUL into out. */
void sl_fake_hex_id(char *out, size_t n);

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

/* Prepare the stream (the chat chunks' common prefix).  Returns 0 or -ENOMEM. */
int sl_fake_sse_prefix(struct sl_fake_req *c);

/* Append the stream's next SSE event to out; false once the stream is complete. */
bool sl_fake_sse_next(struct sl_fake_req *c, struct evbuffer *out);

/* Has the stream's last event been produced? */
bool sl_fake_sse_finished(const struct sl_fake_req *c);

/* Is the next event the stream's last ([DONE], or a Response's terminal event)? */
bool sl_fake_sse_next_is_last(const struct sl_fake_req *c);

/* Append the stream's scripted error event (fail_mode "error_event"). */
void sl_fake_sse_error(struct sl_fake_req *c, struct evbuffer *out);

/* Append an event whose data is not JSON (malformed_after_chunks). */
void sl_fake_sse_malformed(struct sl_fake_req *c, struct evbuffer *out);

/* ---- fake_responses.c ---- */

/* POST /v1/responses: parse the request and build c->answer and c->items. */
int sl_fake_responses_prepare(struct sl_fake_req *c, json_t *body);
/* The Response as it looks before it has finished (status, no output, no usage); a new
 * reference. */
json_t *sl_fake_responses_pending(json_t *final, const char *status);
/* Store the created response (unless store is false). */
void sl_fake_responses_commit(struct sl_fake_req *c);
/* The buffered answer: c->answer, or the queued form of a background response. */
void sl_fake_responses_put(struct sl_fake_req *c, struct evbuffer *out);
bool sl_fake_responses_sse_next(struct sl_fake_req *c, struct evbuffer *out);
bool sl_fake_responses_sse_finished(const struct sl_fake_req *c);
bool sl_fake_responses_sse_next_is_last(const struct sl_fake_req *c);
void sl_fake_responses_sse_error(struct sl_fake_req *c, struct evbuffer *out);

/* ---- fake_store.c ---- */

/* Keep a created response (both references are taken) and its input items.  A pending one
 * (a background response answered "queued") stays so until a GET at least background_ms after
 * now_ms.  bytes is its rough size, for the store's memory bound. */
void sl_fake_store_put(json_t *response, json_t *items, bool pending, int64_t background_ms,
                       uint64_t now_ms, size_t bytes);
bool sl_fake_store_has(const char *id);
/* A follow-up route (GET, DELETE, input_items, cancel): set c->answer or c->bad_msg. */
void sl_fake_store_answer(struct sl_fake_req *c);
/* Forget every stored response. */
void sl_fake_store_clear(void);

/* ---- fake_embeddings.c ---- */

int sl_fake_embeddings_prepare(struct sl_fake_req *c, json_t *body);
void sl_fake_embeddings_put(struct sl_fake_req *c, struct evbuffer *out);

/* ---- fake_reply.c ---- */

/* Take over one request to an endpoint of kind (id: the {id} of its path, or "") and answer
 * it as the script says (script may be NULL: default behaviour; the reference is consumed).
 * Calls sl_fake_note_done() exactly once, when the response has ended or the connection is
 * gone.  Returns 0, or -ENOMEM with req untouched (the caller answers it). */
int sl_fake_reply_take(struct event_base *base, struct evhttp_request *req, uint64_t seq,
                       uint64_t epoch, json_t *script, enum sl_fake_kind kind, const char *id);

/* Drop every request still in progress without answering (shutdown). */
void sl_fake_reply_shutdown(void);

/* ---- fake_openai.c ---- */

/* Request seq of log epoch epoch is over; client_closed tells whether the client went
 * away first. */
void sl_fake_note_done(uint64_t seq, uint64_t epoch, bool client_closed);

#endif /* SL_FAKE_OPENAI_H */
