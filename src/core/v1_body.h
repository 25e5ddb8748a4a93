/* SPDX-License-Identifier: MIT */
/* v1_body.h - the pure part of POST /v1/chat/completions (SPEC §3.3): check the client's body
 * (model allow-list, n, the max_tokens cap), build what goes upstream (the cap injected when
 * absent, stream_options.include_usage on streams), estimate the reservation (SPEC §4), and
 * check an upstream error body before it is relayed.
 * jansson and the one-pass scanner; no I/O, no logging.  The route (v1_chat.c) and the
 * fuzzer call it. */
#ifndef SL_V1_BODY_H
#define SL_V1_BODY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_config;

#define SL_V1_N_MAX 128               /* OpenAI's own ceiling on n */

struct sl_v1_request {
    char model[128];
    bool stream;
    bool client_asked_usage;          /* keep the usage chunk when relaying */
    uint64_t reservation;             /* upper bound of the tokens it can cost */
    char *body;                       /* owned, NUL-terminated: the upstream body */
    size_t body_len;
};

/* Why a body is refused, in OpenAI's terms (type is always invalid_request_error). */
struct sl_v1_problem {
    int status;                       /* 400 or 404 */
    char message[200];
    const char *param;                /* static or NULL */
    const char *code;                 /* static */
};

/* 0 and *out filled; -EINVAL and *problem filled; -ENOMEM.  The upstream body is the client's
 * bytes as they came, with the documented changes spliced in: "max_tokens" set to the cap
 * when neither limit is set (in place of a null one, else as the last member), and on a
 * stream "include_usage":true in place of a null or false one, as the last member of
 * stream_options, or a whole "stream_options" after everything else.  Bodies the one-pass
 * scanner (json_scan.h) does not accept at once, refusals included, go through
 * sl_v1_parse_tree(), so every refusal is worded by it. */
int sl_v1_parse(const char *raw, size_t len, const struct sl_config *cfg,
                struct sl_v1_request *out, struct sl_v1_problem *problem);
/* The same checks on a jansson tree, the body rebuilt from it (compact, key order kept).
 * sl_v1_parse() falls back on it; the fuzz target v1_request holds the two to the same
 * verdicts, reservation and (parsed) upstream body. */
int sl_v1_parse_tree(const char *raw, size_t len, const struct sl_config *cfg,
                     struct sl_v1_request *out, struct sl_v1_problem *problem);
void sl_v1_request_done(struct sl_v1_request *r);

/* An upstream 4xx for the client (SPEC §3.3: OpenAI's shape, all four fields).  A body that
 * is an OpenAI error object, {"error":{"message":"...",...}}, is relayed: *out NULL, send the
 * upstream's bytes as they are; if it lacks "type" (filled from the status) or "param" /
 * "code" (filled with null; a value that is neither a string nor null reads as missing), *out
 * is that body completed.  Anything else (HTML, {"error":"text"}, truncated JSON, nothing) is
 * replaced by our own error of the same status: *out is it.  *out is malloc'd compact JSON
 * with its length in *out_len.  Returns 0 when the upstream's error is kept (as it came or
 * completed), 1 when it was replaced, or -ENOMEM. */
int sl_v1_upstream_error(const char *body, size_t len, int status, char **out, size_t *out_len);
#endif /* SL_V1_BODY_H */
