/* SPDX-License-Identifier: MIT */
/* chat.h - POST /api/chat (SPEC §3.1): validate, call the upstream with retries, answer in
 * the quickstart's shape.  The JSON work is chat_api.c's; the attempts are upstream_call.c's;
 * this file joins them to a request. */
#ifndef SL_CHAT_H
#define SL_CHAT_H

struct sl_req;

void sl_chat_handle(struct sl_req *r);
#endif /* SL_CHAT_H */
