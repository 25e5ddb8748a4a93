/* SPDX-License-Identifier: MIT */
/* sse.h - server-sent events: an incremental parser for the upstream's (OpenAI's)
 * text/event-stream, helpers that read OpenAI chat.completion.chunk payloads, the
 * include_usage rewrite of a /v1 request body, and the framing of sluice's own events.
 * Pure: no I/O, no clock, never logs.  Every input is untrusted and every buffer bounded.
 *
 * The parser follows the WHATWG HTML "server-sent events" interpretation rules: lines end in
 * CRLF, LF or CR (a CRLF split between two feeds is one line ending); one leading U+FEFF is
 * stripped; a blank line dispatches the pending event, and only if it has data; "data" values
 * are joined with LF; one space after the colon is stripped; a line without a colon is a field
 * name with an empty value; unknown fields are ignored; the last event ID persists across
 * events and an "id" value containing NUL is ignored; "retry" is kept only if all ASCII
 * digits.  It works on bytes and does not decode UTF-8: it splits only at CR, LF and ':',
 * which never occur inside a multi-byte sequence, so feeds may split anywhere. */
#ifndef SL_SSE_H
#define SL_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/chat_api.h" /* struct sl_chat_usage: the usage chunk reads into the same type */

struct json_t;

/* Suggested cap for one upstream event (reliability.md §1.5): OpenAI chunks are a few hundred
 * bytes; a tool call's arguments arrive in fragments, never as one huge event. */
#define SL_SSE_DEFAULT_MAX_EVENT (1u << 20)
/* Backstop for sl_sse_include_usage(), behind the route's own body limit. */
#define SL_SSE_REQUEST_BODY_MAX (64u << 20)

enum sl_sse_kind {
    SL_SSE_MESSAGE, /* a dispatched event */
    SL_SSE_COMMENT, /* a ':' line, reported only if sl_sse_parser_report_comments() */
};

/* Everything is borrowed from the parser (or from the fed bytes) and valid only during the
 * callback.  MESSAGE: event is the "event" field ("" with event_len 0 when none or an empty
 * one was given; WHATWG calls that type "message"), data is the joined data without its final
 * LF, NUL-terminated but possibly holding NULs (use data_len), id is the last event ID ("" if
 * none).  COMMENT: data is the bytes after the ':' verbatim (leading space kept), NOT
 * NUL-terminated; event is "". */
struct sl_sse_event {
    enum sl_sse_kind kind;
    const char *event;
    size_t event_len;
    const char *data;
    size_t data_len;
    const char *id;
    size_t id_len;
};

/* Embed it (one per upstream stream); the four buffers are reused from event to event.
 * Fields marked "read" may be read by the caller; the rest is private. */
struct sl_sse_parser {
    struct sl_buf line; /* a line that started in an earlier feed */
    struct sl_buf data; /* the pending event's data lines, each followed by LF */
    struct sl_buf type; /* the pending event's "event" field */
    struct sl_buf id;   /* the last event ID buffer; survives dispatch (WHATWG) */
    size_t max_event_bytes;
    size_t consumed;    /* read: bytes of buf the last sl_sse_feed() used */
    uint64_t events;    /* read: events dispatched */
    uint64_t comments;  /* read: comment lines seen */
    uint64_t retry_ms;  /* read: the last valid "retry" value, when has_retry */
    bool has_retry;     /* read */
    int error;          /* sticky: -E2BIG or -ENOMEM once hit */
    unsigned char bom;  /* bytes of a leading EF BB BF matched so far */
    bool bom_done;      /* past the point where a BOM may appear */
    bool after_cr;      /* the last line ended in CR: an LF next is part of that ending */
    bool pending;       /* a field line since the last blank line */
    bool report_comments;
};

/* Comment lines go to the callback only if asked for; they are always counted. */
typedef int (*sl_sse_event_cb)(const struct sl_sse_event *ev, void *arg);

/* max_event_bytes (> 0) bounds what the parser holds at once: the current line (without its
 * ending) plus the pending event's data, event type and the last event ID.  A line that
 * would pass it fails the feed with -E2BIG before it is copied.  The bytes held never pass
 * twice the bound (a line split across feeds and the data it joins, for a moment), nor the
 * allocations four times (buffers grow by doubling); a buffer grown past 64 KiB is freed
 * after its event.  Allocates nothing yet.  Returns 0, or -EINVAL for a zero bound. */
int sl_sse_parser_init(struct sl_sse_parser *p, size_t max_event_bytes);
/* Free the buffers.  Safe twice and on a zeroed struct. */
void sl_sse_parser_done(struct sl_sse_parser *p);
/* Forget everything (a new stream, e.g. another upstream attempt); keeps the bound, the
 * comment setting and the allocations. */
void sl_sse_parser_reset(struct sl_sse_parser *p);
void sl_sse_parser_report_comments(struct sl_sse_parser *p, bool on);

/* Feed the next bytes of the stream (buf may be NULL when len is 0) and call cb (may be
 * NULL) for each complete event, in order.  Returns 0 when all of buf was used; the first
 * non-zero value a callback returns, at once, with the rest of buf unused (p->consumed says
 * how much was used, so the caller may resume from buf + p->consumed); -E2BIG when an event
 * passes the bound, or -ENOMEM.  The last two are sticky: later feeds return them again
 * without reading anything, and the caller must end the stream. */
int sl_sse_feed(struct sl_sse_parser *p, const char *buf, size_t len, sl_sse_event_cb cb,
                void *arg);
/* At the end of the stream: were there bytes or fields after the last blank line (an event
 * that the spec discards undispatched), or did the parser fail?  A clean OpenAI stream ends
 * with "data: [DONE]" and a blank line, so true means the stream was cut.  Comment lines
 * alone do not count. */
bool sl_sse_has_partial(const struct sl_sse_parser *p);

/* ---- OpenAI chat.completion.chunk payloads ------------------------------------------ */

enum sl_sse_data_kind {
    SL_SSE_DATA_INVALID, /* not JSON, or not an object */
    SL_SSE_DATA_DONE,    /* exactly "[DONE]" */
    SL_SSE_DATA_CHUNK,   /* a JSON object without a (non-null, non-false) "error" member */
    SL_SSE_DATA_ERROR,   /* a JSON object with one, e.g. {"error":{"message":..}} */
};

/* Decoded strings of a chunk up to this many bytes in all live in the chunk itself. */
#define SL_SSE_CHUNK_INLINE 512

/* A parsed data payload.  Every string is NUL-terminated, owned by the chunk and valid until
 * sl_sse_chunk_done() (do not copy the struct: small strings live inside it).  The choice
 * read is the first element of "choices" whose "index" is 0 or absent (choices[0] when n
 * is 1). */
struct sl_sse_chunk {
    enum sl_sse_data_kind kind;
    const char *content;       /* that choice's delta.content; NULL when absent, null or not a
                                * string; may hold NULs (content_len) */
    size_t content_len;
    const char *refusal;       /* delta.refusal, likewise */
    size_t refusal_len;
    const char *finish_reason; /* NULL while null or absent; "" if not a clean string, so
                                * sl_chat_finish_reason() maps it to "error" */
    bool tool_calls;           /* delta.tool_calls is a non-empty array */
    bool usage_only;           /* "choices" is [] and "usage" an object: the usage chunk */
    bool usage_null;           /* a top-level "usage": null (every other chunk, once
                                * include_usage is on) */
    struct sl_chat_usage usage; /* from "usage" wherever it appears, read by
                                 * sl_chat_usage_parse() as sl_chat_parse_upstream() does */
    const char *error_message; /* kind ERROR: error.message, or error itself if a string */
    const char *error_type;    /* kind ERROR: error.type; NULL if absent or not a string */
    const char *error_code;    /* kind ERROR: error.code, likewise */
    struct json_t *root;       /* private: owns the strings above (the tree path) */
    char *strings;             /* private: owns them (the one-pass path, large ones) */
    char small[SL_SSE_CHUNK_INLINE]; /* private: or holds them (small ones) */
};

/* Parse one event's data.  Always fills *out (kind INVALID for garbage, never an error) and
 * returns 0, or -ENOMEM with *out zeroed, kind INVALID.  Release with sl_sse_chunk_done().
 * One pass without a tree (json_scan.h) for what the scanner accepts, jansson for the rest;
 * the two read alike (the fuzz target sse compares them through sl_sse_chunk_parse_tree()).
 * OpenAI's chat stream names no events; the node SDK also treats "event: error" as a
 * failure, so a route should check ev->event as well as kind. */
int sl_sse_chunk_parse(const char *data, size_t len, struct sl_sse_chunk *out);
/* The jansson reading alone. */
int sl_sse_chunk_parse_tree(const char *data, size_t len, struct sl_sse_chunk *out);
/* Safe twice and on a zeroed struct. */
void sl_sse_chunk_done(struct sl_sse_chunk *c);
/* Shortcuts that parse and release (-ENOMEM reads as INVALID / false). */
enum sl_sse_data_kind sl_sse_classify(const char *data, size_t len);
bool sl_sse_is_usage_chunk(const char *data, size_t len);

/* Remove every top-level "usage": null member from one JSON object's text, in place, and
 * return the new length; every other byte stays as it was (the comma that separated the
 * member goes with it, so the text stays valid JSON).  The include_usage the gateway asked
 * for puts one in every chunk, which a client that did not ask must not see.  Only the plain
 * spelling of the key counts ("usage", no escapes), as every upstream writes it.  Text that
 * is not one JSON object is returned unchanged.  json need not be NUL-terminated. */
size_t sl_sse_strip_null_usage(char *json, size_t len);

/* ---- include_usage on the /v1 route (SPEC §3.3) ------------------------------------- */

/* On a parsed client body: when "stream" is JSON true, make sure
 * "stream_options":{"include_usage":true} is set, keeping any other stream_options keys and
 * the position of existing keys (new keys go last).  *client_asked: the client had
 * include_usage true itself, so the route must relay the usage chunk; false otherwise (then
 * the route strips it).  *changed: root was modified.  A body without "stream": true is left
 * alone (both false).  Returns 0; -EINVAL if root is not an object, stream_options is
 * neither absent, null nor an object, or include_usage is neither absent, null nor a boolean
 * (the upstream would refuse those anyway); -ENOMEM. */
int sl_sse_include_usage_json(struct json_t *root, bool *changed, bool *client_asked);

/* The same on the raw body.  Returns 0 and sets *out to NULL when the body needs no change
 * (send the client's bytes as they are), else to a malloc'd NUL-terminated compact JSON
 * (caller frees, length in *out_len if out_len is not NULL).  The rewrite is a jansson round
 * trip: key order is kept; every value is kept semantically (escapes may become UTF-8,
 * reals print with 17 significant digits so they read back as the same double, e.g. 0.7 as
 * 0.69999999999999996), whitespace goes.  Returns -EINVAL as above and also for bytes that
 * are not one JSON object, duplicate keys (two parsers must not read different values),
 * integers outside int64 or nesting deeper than 2048; -E2BIG over SL_SSE_REQUEST_BODY_MAX;
 * -ENOMEM.  *out is NULL after an error; *client_asked is written on success only. */
int sl_sse_include_usage(const char *body, size_t len, char **out, size_t *out_len,
                         bool *client_asked);

/* ---- framing sluice's own events (SPEC §3.2) ---------------------------------------- */

/* Append one event: "event: NAME\n" (left out when name is NULL or ""), then one "data: "
 * line per line of data, then a blank line.  data is split at CRLF, LF and CR, so no byte of
 * it can start a new field; the client reads each break back as LF.  A trailing break gives a
 * last empty "data: " line, so the client reads it back too.  Empty data is written as one
 * "data: " line: a client dispatches an event only if it has a data line, and then reads
 * data "".  Other bytes, NUL included, are copied unchanged (SSE allows them).  All or
 * nothing: returns 0, -EINVAL if name holds CR or LF, or the buffer's error (-E2BIG over its
 * ceiling, -ENOMEM), leaving b as it was. */
int sl_sse_write_event(struct sl_buf *b, const char *name, const char *data, size_t len);
/* Append ": TEXT\n\n" (":\n\n" when len is 0), e.g. the keep-alive ": ping".  -EINVAL if text
 * holds CR or LF; otherwise as sl_sse_write_event(). */
int sl_sse_write_comment(struct sl_buf *b, const char *text, size_t len);

#endif /* SL_SSE_H */
