/* SPDX-License-Identifier: MIT */
/* v1_chat.h - POST /v1/chat/completions, so the official OpenAI SDKs work with base_url set to
 * the gateway (SPEC §3.3), as a description for the relay core (relay.h).  The body work is
 * core/v1_body.c's. */
#ifndef SL_V1_CHAT_H
#define SL_V1_CHAT_H

struct sl_relay_route;

extern const struct sl_relay_route sl_route_v1_chat;
#endif /* SL_V1_CHAT_H */
