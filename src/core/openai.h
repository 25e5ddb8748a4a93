/* SPDX-License-Identifier: MIT */
/* openai.h - what the gateway reads of OpenAI's wire format, whatever route relays it: the
 * usage object that settles a reservation, error bodies (the code that decides a retry, the
 * envelope a client gets), and the chat.completion.chunk payloads of a stream.  Pure: no I/O,
 * never logs; every input is untrusted bytes.  The SSE framing around the chunks is sse.h's. */
#ifndef SL_OPENAI_H
#define SL_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- usage --------------------------------------------------------------------------- */

struct sl_usage {
    int64_t prompt_tokens, completion_tokens, total_tokens;
    bool present; /* false: the upstream sent no usable usage; the counts are 0 */
};

struct json_t;
struct sl_buf;
struct sl_json_span;

/* Read an upstream "usage" object (borrowed; NULL or not an object gives no usage).  Present
 * only when prompt_tokens and completion_tokens are non-negative integers; total_tokens is
 * max(total_tokens, prompt + completion), so an upstream that reports a total below its own
 * parts is never charged less than them (a missing or negative total reads as the sum).
 * Every route that charges a tenant reads usage through this. */
void sl_openai_usage_parse(const struct json_t *usage, struct sl_usage *out);
/* sl_openai_usage_parse() on text json_scan.h's validator accepted: usage (NULL when absent)
 * is read the same way. */
void sl_openai_usage_scan(const struct sl_json_span *usage, struct sl_usage *out);

/* ---- the answer's text, for the prompt log ------------------------------------------- */

/* Where a buffered answer holds the text its client reads. */
enum sl_openai_answer {
    SL_OPENAI_ANSWER_NONE = 0,  /* no text (embeddings): nothing is read */
    SL_OPENAI_ANSWER_CHAT,      /* chat.completion: choices[].message.content, then .refusal */
    SL_OPENAI_ANSWER_RESPONSES, /* response: output[].content[], the text of each part of type
                                 * output_text and the refusal of each part of type refusal */
};

/* The text of a buffered answer of that shape, for [log] log_prompts: every string found
 * there, in order, decoded, non-empty ones separated by a newline.  Members that are absent,
 * null or not strings are passed over.  0 and *text (malloc'd, NUL-terminated, may hold
 * NULs: *text_len) when at least one string was there; -ENOENT when none was, or body is not
 * a JSON object json_scan.h's validator accepts; -E2BIG when the strings take more than max
 * bytes as written in the body (escapes counted as written: whole or nothing, and never more
 * than max + 1 bytes allocated); -ENOMEM.  *text is NULL unless 0 is returned. */
int sl_openai_answer_text(const char *body, size_t len, enum sl_openai_answer shape, size_t max,
                          char **text, size_t *text_len);

/* ---- error bodies ---------------------------------------------------------------- */

/* Extract error.code and error.type from an upstream error body, to tell insufficient_quota
 * from a retriable 429 (SPEC §5).  Copies into the caller's buffers, truncated and reduced to
 * printable ASCII; empty strings when absent, not strings, or the body is not JSON.  A
 * buffer may be NULL when its size is 0. */
void sl_openai_error_code(const char *body, size_t len, char *code, size_t code_sz, char *type,
                          size_t type_sz);

/* An upstream 4xx for the client (SPEC §3.3: OpenAI's shape, all four fields).  A body that
 * is an OpenAI error object, {"error":{"message":"...",...}}, is relayed: *out NULL, send the
 * upstream's bytes as they are; if it lacks "type" (filled from the status) or "param" /
 * "code" (filled with null; a value that is neither a string nor null reads as missing), *out
 * is that body completed.  Anything else (HTML, {"error":"text"}, truncated JSON, nothing) is
 * replaced by our own error of the same status: *out is it.  *out is malloc'd compact JSON
 * with its length in *out_len.  Returns 0 when the upstream's error is kept (as it came or
 * completed), 1 when it was replaced, or -ENOMEM. */
int sl_openai_error_for_client(const char *body, size_t len, int status, char **out,
                               size_t *out_len);

/* ---- OpenAI chat.completion.chunk payloads ------------------------------------------ */

enum sl_openai_data_kind {
    SL_OPENAI_DATA_INVALID, /* not JSON, or not an object */
    SL_OPENAI_DATA_DONE,    /* exactly "[DONE]" */
    SL_OPENAI_DATA_CHUNK,   /* a JSON object without a (non-null, non-false) "error" member */
    SL_OPENAI_DATA_ERROR,   /* a JSON object with one, e.g. {"error":{"message":..}} */
};

/* Decoded strings of a chunk up to this many bytes in all live in the chunk itself. */
#define SL_OPENAI_CHUNK_INLINE 512

/* A parsed data payload.  Every string is NUL-terminated, owned by the chunk and valid until
 * sl_openai_chunk_done() (do not copy the struct: small strings live inside it).  The choice
 * read is the first element of "choices" whose "index" is 0 or absent (choices[0] when n
 * is 1). */
struct sl_openai_chunk {
    enum sl_openai_data_kind kind;
    const char *content; /* that choice's delta.content; NULL when absent, null or not a
                          * string; may hold NULs (content_len) */
    size_t content_len;
    const char *refusal; /* delta.refusal, likewise */
    size_t refusal_len;
    const char *finish_reason;          /* NULL while null or absent; "" if not a clean string, so
                                         * sl_chat_finish_reason() maps it to "error" */
    bool tool_calls;                    /* delta.tool_calls is a non-empty array */
    bool usage_only;                    /* "choices" is [] and "usage" an object: the usage chunk */
    bool usage_null;                    /* a top-level "usage": null (every other chunk, once
                                         * include_usage is on) */
    struct sl_usage usage;              /* from "usage" wherever it appears, read by
                                         * sl_openai_usage_parse() as sl_chat_parse_upstream() does */
    const char *error_message;          /* kind ERROR: error.message, or error itself if a string */
    const char *error_type;             /* kind ERROR: error.type; NULL if absent or not a string */
    const char *error_code;             /* kind ERROR: error.code, likewise */
    unsigned char strip;                /* private: what sl_openai_chunk_strip_null_usage() */
    size_t strip_from, strip_to;        /* cuts, when the parse knows: nothing, or these bytes */
    struct json_t *root;                /* private: owns the strings above (the tree path) */
    char *strings;                      /* private: owns them (the one-pass path, large ones) */
    char small[SL_OPENAI_CHUNK_INLINE]; /* private: or holds them (small ones) */
};

/* Parse one event's data.  Always fills *out (kind INVALID for garbage, never an error) and
 * returns 0, or -ENOMEM with *out zeroed, kind INVALID.  Release with sl_openai_chunk_done().
 * One pass without a tree (json_scan.h) for what the scanner accepts, jansson for the rest;
 * the two read alike (the fuzz target sse compares them through sl_openai_chunk_parse_tree()).
 * OpenAI's chat stream names no events; the node SDK also treats "event: error" as a
 * failure, so a route should check ev->event as well as kind. */
int sl_openai_chunk_parse(const char *data, size_t len, struct sl_openai_chunk *out);
/* The jansson reading alone. */
int sl_openai_chunk_parse_tree(const char *data, size_t len, struct sl_openai_chunk *out);
/* Safe twice and on a zeroed struct. */
void sl_openai_chunk_done(struct sl_openai_chunk *c);
/* Shortcuts that parse and release (-ENOMEM reads as INVALID / false). */
enum sl_openai_data_kind sl_openai_classify(const char *data, size_t len);
bool sl_openai_is_usage_chunk(const char *data, size_t len);

/* Remove every top-level "usage": null member from one JSON object's text, in place, and
 * return the new length; every other byte stays as it was (the comma that separated the
 * member goes with it, so the text stays valid JSON).  The include_usage the gateway asked
 * for puts one in every chunk, which a client that did not ask must not see.  Only the plain
 * spelling of the key counts ("usage", no escapes), as every upstream writes it.  Text that
 * is not one JSON object is returned unchanged.  json need not be NUL-terminated. */
size_t sl_openai_strip_null_usage(char *json, size_t len);
/* The same for the text c was parsed from (data, len), appended to out: the parse found what
 * to cut on its way, so the text is not read again.  Returns 0 or out's error (-E2BIG,
 * -ENOMEM), out then holding a part of it. */
int sl_openai_chunk_strip_null_usage(const struct sl_openai_chunk *c, const char *data, size_t len,
                                     struct sl_buf *out);
#endif /* SL_OPENAI_H */
