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
    uint64_t reservation; /* body bytes + overhead per input item */
};

/* 0; -EINVAL with *problem (bytes that are not one JSON object, model missing / not a string
 * / not configured (404 model_not_found), input missing, empty, or not a string, an array of
 * strings, an array of integer tokens or an array of such arrays, more than
 * SL_EMBEDDINGS_INPUTS_MAX items); -ENOMEM. */
int sl_embeddings_parse(const char *raw, size_t len, const struct sl_config *cfg,
                        struct sl_embeddings_request *out, struct sl_v1_problem *problem);
/* 0 when body is a JSON object (usage.prompt_tokens -> prompt, total_tokens -> total); -EINVAL
 * when it is not; -ENOMEM. */
int sl_embeddings_answer_read(const char *body, size_t len, struct sl_usage *usage);
#endif /* SL_EMBEDDINGS_H */
