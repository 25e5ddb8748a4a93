/* SPDX-License-Identifier: MIT */
/* chat.h - POST /api/chat (SPEC §3.1): validate, call the upstream with retries, answer in
 * the quickstart's shape.  The JSON work is chat_api.c's; the attempts are upstream_call.c's;
 * this file joins them to a request. */
#ifndef SL_CHAT_H
#define SL_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_chat_request;
struct sl_config;
struct sl_req;

void sl_chat_handle(struct sl_req *r);
/* POST /api/chat/stream (SPEC §3.2), in chat_stream.c. */
void sl_chat_stream_handle(struct sl_req *r);
/* Shared by both: validate r's body into *in and build the upstream body (*body, malloc'd).
 * On failure the client has been answered (422, 413 or 503) and a negative errno returns;
 * the caller then only frees the request. */
/* SPEC §4 upper bound for an /api/chat request: prompt bytes (system + user), a fixed
 * overhead per message, and max_tokens. */
uint64_t sl_chat_reservation(const struct sl_config *cfg, const struct sl_chat_request *in);
int sl_chat_prepare(struct sl_req *r, bool stream, struct sl_chat_request *in, char **body,
                    size_t *body_len);
#endif /* SL_CHAT_H */
