/* SPDX-License-Identifier: MIT */
/* embeddings.h - the pure part of POST /v1/embeddings (SPEC §10): check the client's body
 * (model, input) and bound what it can cost; read the answer's usage.  The body goes upstream
 * exactly as the client sent it.  jansson; no I/O. */
#ifndef SL_EMBEDDINGS_H
#define SL_EMBEDDINGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/openai.h"
#include "core/v1_body.h"

#define SL_EMBEDDINGS_INPUTS_MAX 2048 /* OpenAI's own ceiling on input items */

struct sl_embeddings_request {
    char model[SL_MODEL_NAME_MAX];
    uint64_t reservation; /* SPEC §4's bound: body bytes + message_overhead_tokens per input
                           * (a string, or an array of tokens: one each) */
};

/* 0 and *out filled (on success only); -EINVAL with *problem (OpenAI's words, as v1_body.c's
 * for the same problems): bytes that are not one JSON object (duplicate keys included:
 * invalid_json), model missing / not a string (missing_model) / not configured (404
 * model_not_found), input absent or null (missing_required_parameter), neither a string nor
 * an array (invalid_type), an empty string, an empty array, or an array that is not all
 * non-empty strings, all integer tokens (>= 0) or all non-empty arrays of such tokens
 * (invalid_value), an array of more than SL_EMBEDDINGS_INPUTS_MAX items
 * (array_above_max_length); -ENOMEM.  Every other member is the upstream's to check. */
int sl_embeddings_parse(const char *raw, size_t len, const struct sl_config *cfg,
                        struct sl_embeddings_request *out, struct sl_v1_problem *problem);
/* 0 when body is a JSON object (duplicate keys refused); -EINVAL when it is not; -ENOMEM.
 * usage->present when usage.prompt_tokens is a non-negative integer: prompt = it,
 * completion = 0, total = max(usage.total_tokens, prompt). */
int sl_embeddings_answer_read(const char *body, size_t len, struct sl_usage *usage);
#endif /* SL_EMBEDDINGS_H */
