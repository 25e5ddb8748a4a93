/* SPDX-License-Identifier: MIT */
/* v1_chat.h - POST /v1/chat/completions, so the official OpenAI SDKs work with base_url set to
 * the gateway (SPEC §3.3). */
#ifndef SL_V1_CHAT_H
#define SL_V1_CHAT_H

struct sl_req;

void sl_v1_chat_handle(struct sl_req *r);
#endif /* SL_V1_CHAT_H */
