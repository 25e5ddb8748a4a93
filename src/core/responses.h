/* SPDX-License-Identifier: MIT */
/* responses.h - the pure part of the Responses API (SPEC §10): check a POST /v1/responses
 * body and build what goes upstream, read usage and the response id from a buffered answer
 * and from the stream's events, and tell a well-formed response id.  The body is opaque: only
 * model, stream, max_output_tokens, background, previous_response_id, store and the input's
 * size are read; every other byte goes upstream as the client sent it, and every answer and
 * event goes back as the upstream sent it (unknown fields and event types included).
 * jansson; no I/O, no logging.  The routes (api/responses.c) and the fuzzers call it. */
#ifndef SL_RESPONSES_H
#define SL_RESPONSES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/openai.h"
#include "core/v1_body.h"

/* "resp_" and then 1..SL_RESPONSE_ID_MAX-5 of A-Z a-z 0-9 _ - (OpenAI's are 50-odd). */
#define SL_RESPONSE_ID_MAX 96
/* Items in "input" (the body limit bounds bytes; this bounds the walk). */
#define SL_RESPONSES_INPUT_ITEMS_MAX 65536

bool sl_response_id_valid(const char *id, size_t len);

struct sl_responses_request {
    char model[SL_MODEL_NAME_MAX];
    bool stream;     /* "stream": true */
    bool background; /* "background": true (only when cfg->allow_background) */
    bool no_store;   /* "store": false */
    char previous_response_id[SL_RESPONSE_ID_MAX + 1]; /* "" when absent or null */
    uint64_t reservation; /* SPEC §4's bound: body bytes + overhead per input item (and for
                           * non-empty instructions) + image_tokens per image part
                           * (input_image or input_file, as an item or in an item's content
                           * or output) + max_output_tokens, the cap when it was absent */
    char *body;           /* owned, NUL-terminated: the upstream body */
    size_t body_len;
};

/* 0 and *out filled; -EINVAL and *problem filled (OpenAI's words: 400 invalid_request_error
 * with param and code, 404 model_not_found for a model cfg does not have); -ENOMEM.  *out is
 * written on success only.  Refused, in this order: bytes that are not one JSON object
 * (duplicate keys included: invalid_json), model missing or not a string (missing_model, as
 * v1_body.c words it) or not configured (sl_config_model()), stream/background/store neither
 * absent, null nor boolean (invalid_type), background true without cfg->allow_background
 * (unsupported_parameter), input absent or null (missing_required_parameter), neither a string
 * nor an array (invalid_type) or an array of more than SL_RESPONSES_INPUT_ITEMS_MAX items
 * (array_above_max_length), instructions neither absent, null nor a string (invalid_type),
 * max_output_tokens not a positive integer (invalid_value) or above the model's cap
 * (max_output_tokens_too_large), previous_response_id neither absent, null nor a well-formed
 * id (invalid_value).  Input items are otherwise opaque.
 * The upstream body is the client's bytes as they came (never re-serialized: unknown
 * fields, number formats, key order and whitespace stay), with "max_output_tokens" set to the
 * model's cap when it was absent or null: in place of the null, else as the root's last
 * member. */
int sl_responses_parse(const char *raw, size_t len, const struct sl_config *cfg,
                       struct sl_responses_request *out, struct sl_v1_problem *problem);
void sl_responses_request_done(struct sl_responses_request *r);

/* A buffered answer (a Response object) or the "response" inside a stream event. */
struct sl_responses_answer {
    char id[SL_RESPONSE_ID_MAX + 1]; /* "" when absent or malformed */
    struct sl_usage usage;           /* input_tokens -> prompt, output_tokens -> completion */
};

/* 0 when body is a JSON object (id and usage read as far as they are there); -EINVAL when it
 * is not (duplicate keys included); -ENOMEM.  *out is zeroed first.  The usage is present
 * only when usage.input_tokens and usage.output_tokens are non-negative integers; its total
 * is max(total_tokens, their sum), as sl_openai_usage_parse() reads one. */
int sl_responses_answer_read(const char *body, size_t len, struct sl_responses_answer *out);

enum sl_responses_event_kind {
    SL_RESPONSES_EVENT_OTHER,    /* any other event, relayed untouched */
    SL_RESPONSES_EVENT_CREATED,  /* response.created: the id is known */
    SL_RESPONSES_EVENT_TERMINAL, /* response.completed, .incomplete or .failed: the end */
    SL_RESPONSES_EVENT_ERROR,    /* an "error" event: the upstream gave up */
    SL_RESPONSES_EVENT_INVALID,  /* data that is not a JSON object with a string "type" */
};

struct sl_responses_event {
    enum sl_responses_event_kind kind;
    struct sl_responses_answer response; /* CREATED/TERMINAL: from "response" */
    int64_t sequence_number;             /* -1 when absent */
};

/* Read one SSE event: its name (event:, may be empty; name may be NULL when name_len is 0)
 * and its data.  The kind follows the data's "type" when it is a string, whatever the name
 * says (clients' SDKs dispatch on the type too); a "type" of any other JSON type is INVALID.
 * Data without a "type" takes its kind from the name; without a name either, an object with
 * an "error" member neither null nor false is ERROR, anything else INVALID.  Data that is
 * not one JSON object (duplicate keys included) is INVALID.  0 (kind INVALID for garbage);
 * -ENOMEM (kind INVALID).  Work and memory are linear in len: the deltas, most of a stream,
 * are read in one pass without a tree (json_scan.h), the rest with jansson. */
int sl_responses_event_read(const char *name, size_t name_len, const char *data, size_t len,
                            struct sl_responses_event *out);
/* The same, the jansson reading alone; the fuzz target responses_event holds the two to the
 * same result. */
int sl_responses_event_read_tree(const char *name, size_t name_len, const char *data, size_t len,
                                 struct sl_responses_event *out);
#endif /* SL_RESPONSES_H */
