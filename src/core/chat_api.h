/* SPDX-License-Identifier: MIT */
/* chat_api.h - the JSON side of POST /api/chat (SPEC §3.1, §3.2, §5): validate the client's
 * body into 422 problems shaped like FastAPI/pydantic v2, build the upstream
 * /chat/completions body, and map an upstream chat.completion into the route's 200 body.
 * Pure: jansson and json_scan.h only, never logs, no I/O.  Every input is treated as untrusted
 * bytes.  The per-request paths (the upstream answer, both bodies) read and write JSON without
 * a jansson tree (json_scan.h, json_write.h); each keeps its tree version (_tree) as the
 * reference it matches. */
#ifndef SL_CHAT_API_H
#define SL_CHAT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/openai.h" /* struct sl_usage */

/* SPEC §3.1: 1..2000 code points after stripping; conversation_id at most 128. */
#define SL_CHAT_USER_MESSAGE_MAX 2000
#define SL_CHAT_CONVERSATION_ID_MAX 128
/* Backstops behind the route's max_body_bytes and upstream response ceilings. */
#define SL_CHAT_BODY_MAX (64u << 20) /* the largest max_body_bytes the config allows */
#define SL_CHAT_UPSTREAM_BODY_MAX (32u << 20)
/* Longer upstream model names are refused, longer upstream ids dropped (bytes). */
#define SL_CHAT_MODEL_MAX 256
#define SL_CHAT_UPSTREAM_ID_MAX 256

struct sl_chat_request {
    char *user_message;      /* stripped, owned, NUL-terminated, contains no NUL */
    size_t user_message_len; /* bytes */
    char *conversation_id;   /* NULL when absent or null, owned, contains no NUL */
    bool no_store;           /* the body had "store": false (exactly JSON false) */
};

/* One 422 problem in FastAPI's shape.  Only the first problem is reported, checked in field
 * order: body, user_message, conversation_id.  type is a pydantic v2 error type:
 *   missing                loc ["body"] (empty body) or ["body", field]   "Field required"
 *   json_invalid           loc ["body"]  not JSON, invalid UTF-8, lone surrogate escape,
 *                          NUL in a key, duplicate key, nesting deeper than 2048
 *   model_attributes_type  loc ["body"]  valid JSON but not an object
 *   string_type            field is not a string (null is allowed for conversation_id)
 *   string_too_short       user_message empty after stripping         ctx min_length
 *   string_too_long        over the limit in code points              ctx max_length
 *   value_error            the string contains U+0000
 * "input" is never echoed back. */
struct sl_chat_problem {
    const char *type;      /* static */
    const char *loc_field; /* static; NULL for the whole body */
    char msg[160];
    const char *ctx_key; /* static; NULL: no "ctx" member */
    long ctx_num;        /* the ctx value when ctx_str is empty */
    char ctx_str[96];    /* the ctx value when not empty; printable ASCII only */
};

/* Parse and validate a /api/chat body (bytes, not NUL-terminated, may contain NULs; body
 * may be NULL when len is 0).  A leading UTF-8 BOM is skipped, as Python's json.loads does.
 * Duplicate keys are refused (json_invalid) so that no two parsers can disagree on a value.
 * Returns 0 and fills *out (release with sl_chat_request_done), -EINVAL and fills *problem,
 * -ENOMEM on OOM, -E2BIG if len > SL_CHAT_BODY_MAX (the route should have sent 413). *out is
 * written only on success, *problem only on -EINVAL. */
int sl_chat_parse(const char *body, size_t len, struct sl_chat_request *out,
                  struct sl_chat_problem *problem);
/* Free what r owns and zero it.  Safe on a zeroed struct and twice in a row. */
void sl_chat_request_done(struct sl_chat_request *r);

/* Render {"detail":[{"type":..,"loc":["body"(,field)],"msg":..(,"ctx":{..})}]}.  Returns a
 * malloc'd NUL-terminated compact JSON string (caller frees), NULL on OOM. */
char *sl_chat_problem_json(const struct sl_chat_problem *p);

struct sl_chat_upstream_params {
    const char *model;         /* required, non-empty */
    const char *system_prompt; /* NULL or "": no system message is sent */
    unsigned max_tokens;
    double temperature; /* must be finite */
    bool stream;
};

/* Build the upstream /chat/completions body:
 *   {"model":..,"messages":[{"role":"system","content":..},{"role":"user","content":..}],
 *    "max_tokens":..,"temperature":..}
 * plus "stream":true,"stream_options":{"include_usage":true} when p->stream (SPEC §3.2: the
 * gateway needs the usage chunk to settle).  Returns a malloc'd NUL-terminated string and
 * sets *len (if len is not NULL) to its length; NULL on OOM or unusable params (no model,
 * strings that are not UTF-8, non-finite temperature). */
char *sl_chat_upstream_body(const struct sl_chat_upstream_params *p,
                            const struct sl_chat_request *r, size_t *len);
/* The same body built as a jansson tree and dumped: the reference sl_chat_upstream_body()
 * writes byte for byte (tests and the fuzz target compare the two). */
char *sl_chat_upstream_body_tree(const struct sl_chat_upstream_params *p,
                                 const struct sl_chat_request *r, size_t *len);

struct sl_chat_result {
    char *text;                /* owned, NUL-terminated; "" for a null content */
    size_t text_len;           /* bytes; text may hold NULs if the upstream sent \u0000 */
    bool refusal;              /* text is message.refusal, content was null */
    char *model;               /* owned; NULL when the upstream sent none: the route should
                                * put the configured model there before rendering */
    const char *finish_reason; /* static, already mapped by sl_chat_finish_reason() */
    struct sl_usage usage;
    char *upstream_id; /* owned; the "id" (chatcmpl-...), NULL if absent or odd */
};

/* Map an upstream 200 body to *out.  Returns 0, -EBADMSG if it is not a usable
 * chat.completion (not JSON, not an object, "object" present but not "chat.completion", no
 * or empty choices, no message, message.content neither string nor null nor absent, model
 * not a string or longer than SL_CHAT_MODEL_MAX), -ENOMEM, or -E2BIG over
 * SL_CHAT_UPSTREAM_BODY_MAX.  text = choices[0].message.content; when content is null or
 * absent, message.refusal if it is a string, else "" (e.g. tool_calls).  A finish_reason
 * that is not a string maps like an unknown one.  Usage is read as sl_openai_usage_parse()
 * reads it.  *out is written only on success; release it with sl_chat_result_done(). */
int sl_chat_parse_upstream(const char *body, size_t len, struct sl_chat_result *out);
/* The same reading through a jansson tree: what sl_chat_parse_upstream() falls back to when
 * json_scan.h's validator is not sure, and the reference the fuzz target compares it with. */
int sl_chat_parse_upstream_tree(const char *body, size_t len, struct sl_chat_result *out);
/* Free what r owns and zero it.  Safe on a zeroed struct and twice in a row. */
void sl_chat_result_done(struct sl_chat_result *r);

/* SPEC §3.1 mapping: stop, length, content_filter, tool_calls map to themselves, the
 * deprecated function_call to tool_calls, NULL to stop, anything else ("error" included) to
 * error.  Returns a static string.  Idempotent on its own outputs. */
const char *sl_chat_finish_reason(const char *upstream);

/* The 200 body: {"text":..,"model":..,"finish_reason":..,"usage":{"prompt_tokens":..,
 * "completion_tokens":..,"total_tokens":..}}.  finish_reason goes through
 * sl_chat_finish_reason(); a NULL model renders as ""; usage renders as zeros when not
 * present, so the shape never changes.  malloc'd compact JSON, *len set if len is not NULL;
 * NULL on OOM or if a string is not valid UTF-8. */
char *sl_chat_response_json(const struct sl_chat_result *r, size_t *len);
/* The same body through a jansson tree: the reference sl_chat_response_json() writes byte for
 * byte. */
char *sl_chat_response_json_tree(const struct sl_chat_result *r, size_t *len);

/* The usage object alone, {"prompt_tokens":..,"completion_tokens":..,"total_tokens":..},
 * e.g. for the stream route's "event: usage".  malloc'd, *len set if not NULL; NULL on OOM. */
char *sl_chat_usage_json(const struct sl_usage *u, size_t *len);

#endif /* SL_CHAT_API_H */
