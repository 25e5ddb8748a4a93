/* SPDX-License-Identifier: MIT */
/* reqid.h - X-Request-ID: accept a client's sane value (SPEC §3: 1..128 visible ASCII), else
 * make a fresh one.  The id is echoed in a response header and in every log line, so anything
 * else (spaces, CR/LF, controls, bytes >= 0x7f) is refused rather than cleaned. */
#ifndef SL_REQID_H
#define SL_REQID_H
#include <stdbool.h>
#include <stddef.h>

#define SL_REQID_MAX 128

bool sl_reqid_is_valid(const char *s);
/* Writes a fresh 32-hex-digit id and its NUL into out (at least 33 bytes). */
void sl_reqid_new(char *out);
/* out (SL_REQID_MAX + 1 bytes) = the client's id when valid, else a fresh one. */
void sl_reqid_pick(const char *client_value, char *out);
#endif /* SL_REQID_H */
