/* SPDX-License-Identifier: MIT */
/* v1_body.h - the pure part of POST /v1/chat/completions (SPEC §3.3, §10): check the client's
 * body (a configured model, sl_config_model(); n; the model's max_output_tokens cap), build
 * what goes upstream (the cap injected when absent, stream_options.include_usage on streams)
 * and estimate the reservation (SPEC §4).  A tenant's own model list is the route's check.
 * jansson and the one-pass scanner; no I/O, no logging.  The route (v1_chat.c) and the
 * fuzzer call it. */
#ifndef SL_V1_BODY_H
#define SL_V1_BODY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_config;

#define SL_V1_N_MAX 128 /* OpenAI's own ceiling on n */

struct sl_v1_request {
    char model[128];
    bool stream;
    bool client_asked_usage; /* keep the usage chunk when relaying */
    uint64_t reservation;    /* upper bound of the tokens it can cost */
    char *body;              /* owned, NUL-terminated: the upstream body */
    size_t body_len;
};

/* Why a body is refused, in OpenAI's terms (type is always invalid_request_error). */
struct sl_v1_problem {
    int status; /* 400 or 404 */
    char message[200];
    const char *param; /* static or NULL */
    const char *code;  /* static */
};

/* Fill *p (message from fmt) and return -EINVAL: every /v1 body reader refuses this way. */
int sl_v1_refuse(struct sl_v1_problem *p, int status, const char *param, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

struct json_t;

/* The body as one JSON object (duplicate keys refused, \u0000 in strings allowed), for the
 * readers that relay the client's bytes as they are: raw NUL bytes are refused too.  NULL with
 * *r set: -ENOMEM, or -EINVAL for anything else. */
struct json_t *sl_v1_load_object(const char *s, size_t len, int *r);

/* 0 and *out filled; -EINVAL and *problem filled; -ENOMEM.  The upstream body is the client's
 * bytes as they came, with the documented changes spliced in: "max_tokens" set to the cap
 * when neither limit is set (in place of a null one, else as the last member), and on a
 * stream "include_usage":true in place of a null or false one, as the last member of
 * stream_options, or a whole "stream_options" after everything else.  Bodies the one-pass
 * scanner (json_scan.h) does not accept at once, refusals included, go through
 * sl_v1_parse_tree(), so every refusal is worded by it. */
int sl_v1_parse(const char *raw, size_t len, const struct sl_config *cfg, struct sl_v1_request *out,
                struct sl_v1_problem *problem);
/* The same checks on a jansson tree, the body rebuilt from it (compact, key order kept).
 * sl_v1_parse() falls back on it; the fuzz target v1_request holds the two to the same
 * verdicts, reservation and (parsed) upstream body. */
int sl_v1_parse_tree(const char *raw, size_t len, const struct sl_config *cfg,
                     struct sl_v1_request *out, struct sl_v1_problem *problem);
void sl_v1_request_done(struct sl_v1_request *r);

/* Backstop for sl_v1_include_usage(), behind the route's own body limit. */
#define SL_V1_BODY_MAX (64u << 20)

/* On a parsed client body: when "stream" is JSON true, make sure
 * "stream_options":{"include_usage":true} is set, keeping any other stream_options keys and
 * the position of existing keys (new keys go last).  *client_asked: the client had
 * include_usage true itself, so the route must relay the usage chunk; false otherwise (then
 * the route strips it).  *changed: root was modified.  A body without "stream": true is left
 * alone (both false).  Returns 0; -EINVAL if root is not an object, stream_options is
 * neither absent, null nor an object, or include_usage is neither absent, null nor a boolean
 * (the upstream would refuse those anyway); -ENOMEM. */
int sl_v1_include_usage_json(struct json_t *root, bool *changed, bool *client_asked);

/* The same on the raw body.  Returns 0 and sets *out to NULL when the body needs no change
 * (send the client's bytes as they are), else to a malloc'd NUL-terminated compact JSON
 * (caller frees, length in *out_len if out_len is not NULL).  The rewrite is a jansson round
 * trip: key order is kept; every value is kept semantically (escapes may become UTF-8,
 * reals print with 17 significant digits so they read back as the same double, e.g. 0.7 as
 * 0.69999999999999996), whitespace goes.  Returns -EINVAL as above and also for bytes that
 * are not one JSON object, duplicate keys (two parsers must not read different values),
 * integers outside int64 or nesting deeper than 2048; -E2BIG over SL_V1_BODY_MAX;
 * -ENOMEM.  *out is NULL after an error; *client_asked is written on success only. */
int sl_v1_include_usage(const char *body, size_t len, char **out, size_t *out_len,
                        bool *client_asked);
#endif /* SL_V1_BODY_H */
