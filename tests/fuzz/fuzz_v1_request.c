/* SPDX-License-Identifier: MIT */
/* fuzz_v1_request.c - libFuzzer target: a /v1/chat/completions body through sl_v1_parse()
 * (src/v1_body.c), the checks the route makes before going upstream.  An accepted body must
 * come out as one JSON object without duplicates, with its model's cap applied, include_usage
 * settled (a second rewrite changes nothing), and a reservation that covers every byte of the
 * body plus n times the completion limit.  A refused one must carry an OpenAI-shaped reason.  The
 * raw-bytes sl_v1_include_usage() must agree with the parsed rewrite, and the one-pass path
 * with the jansson tree path it falls back on. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/config.h"
#include "core/v1_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_config *cfg;

/* The defaults of SPEC §7, with a second allowed model, a larger [upstream] cap and two
 * [model.NAME] sections with caps of their own, below and above it, so that the model table
 * and every cap are reachable from short inputs. */
static void setup(void)
{
    static const char text[] = "[upstream]\nallowed_models = gpt-4o-mini, gpt-4o\n"
                               "max_tokens = 1024\n"
                               "[model.o3]\nmax_output_tokens = 64\n"
                               "[model.gpt-4.1]\nmax_output_tokens = 4096\n";
    char path[] = "/tmp/sl-fuzz-v1-XXXXXX", *errs = NULL;
    int fd = mkstemp(path);

    if (fd == -1 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1))
        abort();
    close(fd);
    if (sl_config_load(path, NULL, &cfg, &errs) != 0)
        abort();
    unlink(path);
}

static uint64_t integer_or(json_t *v, uint64_t dflt)
{
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : dflt;
}

static void check_accepted(const struct sl_v1_request *r, size_t client_len)
{
    json_t *root = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL), *mt;
    const struct sl_model_conf *model = sl_config_model(cfg, r->model);
    bool changed = true, asked = false;
    uint64_t n, max_tokens;

    if (strlen(r->body) != r->body_len || !json_is_object(root) || !model ||
        strcmp(json_string_value(json_object_get(root, "model")), r->model) != 0)
        abort();
    mt = json_object_get(root, "max_tokens");
    if (json_is_null(mt) || !mt)
        mt = json_object_get(root, "max_completion_tokens");
    if (!json_is_integer(mt) || json_integer_value(mt) < 1 ||
        json_integer_value(mt) > (json_int_t)model->max_output_tokens)
        abort();
    max_tokens = (uint64_t)json_integer_value(mt);
    n = integer_or(json_object_get(root, "n"), 1);
    if (r->reservation < client_len + n * max_tokens)
        abort();
    if (sl_v1_include_usage_json(root, &changed, &asked) != 0 || changed)
        abort();
    if (r->stream != json_is_true(json_object_get(root, "stream")))
        abort();
    if (r->stream &&
        !json_is_true(json_object_get(json_object_get(root, "stream_options"), "include_usage")))
        abort();
    if (!r->stream && r->client_asked_usage)
        abort();
    json_decref(root);
}

static void check_refused(const struct sl_v1_problem *p)
{
    if ((p->status != 400 && p->status != 404) || !p->code || !*p->code ||
        !memchr(p->message, '\0', sizeof(p->message)) || !p->message[0])
        abort();
    if ((p->status == 404) != (strcmp(p->code, "model_not_found") == 0))
        abort();
}

/* The raw rewrite reaches the same verdict as the parsed one on the client's own body. */
static void check_raw(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    bool changed = false, asked = false, raw_asked;
    char *out = NULL;
    int want, r;

    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    want = sl_v1_include_usage_json(root, &changed, &asked);
    json_decref(root);
    raw_asked = !asked;
    r = sl_v1_include_usage((const char *)data, size, &out, NULL, &raw_asked);
    if ((r == 0) != (want == 0) || (r == 0 && (raw_asked != asked || !out != !changed)))
        abort();
    free(out);
}

/* The one-pass path and the jansson tree path it falls back on: the same verdict, the same
 * words for a refusal, and for an accepted body the same reading and the same document
 * upstream (the one-pass body keeps the client's formatting; the tree's is rebuilt). */
static void check_same_as_tree(const uint8_t *data, size_t size, int r,
                               const struct sl_v1_request *req, const struct sl_v1_problem *p)
{
    struct sl_v1_request tree;
    struct sl_v1_problem tp;
    json_t *a, *b;
    int rt;

    memset(&tp, 0, sizeof(tp));
    rt = sl_v1_parse_tree((const char *)data, size, cfg, &tree, &tp);
    if (r == -ENOMEM || rt == -ENOMEM) {
        if (rt == 0)
            sl_v1_request_done(&tree);
        return;
    }
    if (r != rt)
        abort();
    if (r == -EINVAL) {
        if (p->status != tp.status || strcmp(p->message, tp.message) != 0 || p->param != tp.param ||
            strcmp(p->code, tp.code) != 0)
            abort();
        return;
    }
    if (strcmp(req->model, tree.model) != 0 || req->stream != tree.stream ||
        req->client_asked_usage != tree.client_asked_usage || req->reservation != tree.reservation)
        abort();
    a = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    b = json_loadb(tree.body, tree.body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!a || !b || !json_equal(a, b))
        abort();
    json_decref(a);
    json_decref(b);
    sl_v1_request_done(&tree);
}

/* The stream_options rewrite alone, on any bytes. */
static void include_usage(const char *data, size_t size)
{
    char *out = NULL, *again = NULL;
    size_t out_len = 0;
    bool asked = false, asked2 = false;
    int r = sl_v1_include_usage(data, size, &out, &out_len, &asked);

    if (r != 0) {
        if (out || (r != -EINVAL && r != -E2BIG))
            abort();
        return;
    }
    if (!out)
        return;
    /* A rewritten body asks for usage itself, so a second pass changes nothing. */
    if (strlen(out) != out_len || sl_v1_include_usage(out, out_len, &again, NULL, &asked2) != 0 ||
        again || !asked2)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_v1_request req;
    struct sl_v1_problem problem;
    int r;

    if (!cfg)
        setup();
    memset(&problem, 0, sizeof(problem));
    r = sl_v1_parse((const char *)data, size, cfg, &req, &problem);
    check_same_as_tree(data, size, r, &req, &problem);
    if (r == 0) {
        check_accepted(&req, size);
        sl_v1_request_done(&req);
    } else if (r == -EINVAL) {
        check_refused(&problem);
    } else if (r != -ENOMEM) {
        abort();
    }
    check_raw(data, size);
    include_usage((const char *)data, size);
    return 0;
}
