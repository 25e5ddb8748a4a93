/* SPDX-License-Identifier: MIT */
/* chat.h - POST /api/chat (SPEC §3.1) and POST /api/chat/stream (SPEC §3.2), the
 * quickstart's contract, as descriptions for the relay core (relay.h).  The JSON work is
 * core/chat_api.c's. */
#ifndef SL_CHAT_H
#define SL_CHAT_H

struct sl_relay_route;

extern const struct sl_relay_route sl_route_api_chat;
extern const struct sl_relay_route sl_route_api_chat_stream;
#endif /* SL_CHAT_H */
