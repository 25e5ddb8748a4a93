/* SPDX-License-Identifier: MIT */
/* sse.h - server-sent events on the wire: an incremental parser for the upstream's
 * text/event-stream, and the framing of sluice's own events.  What the events carry is read
 * elsewhere (openai.h for OpenAI's chunks).
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

/* Suggested cap for one upstream event (reliability.md §1.5): OpenAI chunks are a few hundred
 * bytes; a tool call's arguments arrive in fragments, never as one huge event. */
#define SL_SSE_DEFAULT_MAX_EVENT (1u << 20)

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
    size_t consumed;   /* read: bytes of buf the last sl_sse_feed() used */
    uint64_t events;   /* read: events dispatched */
    uint64_t comments; /* read: comment lines seen */
    uint64_t retry_ms; /* read: the last valid "retry" value, when has_retry */
    bool has_retry;    /* read */
    int error;         /* sticky: -E2BIG or -ENOMEM once hit */
    unsigned char bom; /* bytes of a leading EF BB BF matched so far */
    bool bom_done;     /* past the point where a BOM may appear */
    bool after_cr;     /* the last line ended in CR: an LF next is part of that ending */
    bool pending;      /* a field line since the last blank line */
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
