/* SPDX-License-Identifier: MIT */
/* stream.h - the client side of a streamed (chunked) reply: start it, write whole events as
 * chunks, notice the client leaving, keep it alive with comments, end it cleanly or cut it.
 *
 * Ownership.  A stream belongs to one struct sl_req and is freed from its ctx_free.  The
 * gone callback runs once, when the client's connection is closed: by the client at any
 * time, or by us after sl_stream_abort() flushed.  From then on the stream writes nothing
 * and the owner should finish the request (sl_req_free) — from inside the callback is fine.
 *
 * libevent 2.1.12 specifics handled here: the read timeout is lifted once the reply starts
 * (otherwise a quiet SSE client is dropped mid-stream, libevent #715); before the reply
 * starts evhttp does not read the socket, so an EV_CLOSED watch notices a client that left
 * while the upstream was still thinking. */
#ifndef SL_STREAM_H
#define SL_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_req;
struct sl_stream;

typedef void (*sl_stream_cb)(void *arg);

#define SL_STREAM_HIGH_WATER (256u * 1024u)

/* Watch r's client from now on.  gone: see above.  drained: the output queue emptied (for
 * resuming a paused upstream).  NULL on OOM. */
struct sl_stream *sl_stream_new(struct sl_req *r, sl_stream_cb gone, sl_stream_cb drained,
                                void *arg);
void sl_stream_free(struct sl_stream *s);
/* Send the status line and headers (200, Content-Type, Cache-Control: no-cache, ...). */
int sl_stream_begin(struct sl_stream *s, const char *content_type);
bool sl_stream_begun(const struct sl_stream *s);
/* Queue one chunk.  -EPIPE once the client is gone. */
int sl_stream_write(struct sl_stream *s, const void *data, size_t len);
/* Bytes queued but not yet handed to the kernel. */
size_t sl_stream_queued(const struct sl_stream *s);
/* Clean end: the terminating chunk; the request's reply is complete. */
void sl_stream_end(struct sl_stream *s);
/* Cut: send last (e.g. an error event), then close the connection without the terminating
 * chunk, so no client can mistake the answer for complete.  gone runs once it is closed. */
void sl_stream_abort(struct sl_stream *s, const void *last, size_t len);
#endif /* SL_STREAM_H */
