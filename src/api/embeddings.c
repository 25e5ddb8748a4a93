/* SPDX-License-Identifier: MIT */
/* embeddings.c - POST /v1/embeddings described for the relay core (SPEC §10): the body goes
 * upstream exactly as the client sent it, after its size bound is reserved; the answer's
 * usage.prompt_tokens settles. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "api/embeddings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/embeddings.h"
#include "core/fmt.h"
#include "http/request.h"
#include "http/serve.h"
#include "api/relay.h"

struct emb {
    char model[SL_MODEL_NAME_MAX];
};

static int prepare(struct sl_req *r, void *state, const char *body, size_t len,
                   struct sl_relay_job *job)
{
    struct emb *s = state;
    struct sl_embeddings_request req;
    struct sl_v1_problem p;
    int rc;

    rc = sl_embeddings_parse(body, len, r->serve->cfg, &req, &p);
    if (rc == -EINVAL) {
        sl_req_reply_openai_error(r, p.status, p.message, "invalid_request_error", p.param, p.code);
        return rc;
    }
    if (rc < 0 || !(job->body = malloc(len + 1))) {
        sl_req_reply_busy(r, true);
        return -ENOMEM;
    }
    memcpy(job->body, body, len);
    job->body[len] = '\0';
    job->body_len = len;
    sl_fmt_copy(s->model, sizeof(s->model), req.model);
    job->model = s->model;
    job->reservation = req.reservation;
    return 0;
}

static bool read_answer(void *state, const char *body, size_t len, struct sl_usage *usage)
{
    (void)state;
    return sl_embeddings_answer_read(body, len, usage) == 0;
}

const struct sl_relay_route sl_route_v1_embeddings = {
    .upstream_path = "/embeddings",
    .prompt_field = "input",
    .openai_errors = true,
    .guard_shape = SL_GUARD_SHAPE_EMBEDDINGS,
    .state_size = sizeof(struct emb),
    .prepare = prepare,
    .read_answer = read_answer,
    .reply_answer = sl_relay_reply_as_is,
};
