/* SPDX-License-Identifier: MIT */
/* fake_embeddings.c - POST /v1/embeddings of the fake OpenAI upstream: the request's inputs,
 * and small deterministic vectors (the same input always gets the same vector). */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "fake_openai.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#define DIMS_DEFAULT 8
#define DIMS_MAX 3072
#define INPUTS_MAX 2048 /* OpenAI's own ceiling */
#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

static bool is_token_array(json_t *v)
{
    size_t i;
    json_t *t;

    if (!json_is_array(v) || json_array_size(v) == 0)
        return false;
    json_array_foreach(v, i, t)
    {
        if (!json_is_integer(t) || json_integer_value(t) < 0)
            return false;
    }
    return true;
}

/* One input: a non-empty string (⌈bytes/4⌉ tokens) or a non-empty array of token ids (one
 * token each).  False when it is neither. */
static bool read_one(struct sl_fake_req *c, json_t *v)
{
    uint64_t h = FNV_OFFSET;
    size_t i;
    json_t *t;

    if (json_is_string(v) && json_string_length(v) > 0) {
        h = fnv(h, json_string_value(v), json_string_length(v));
        c->prompt_tokens += (json_string_length(v) + 3) / 4;
    } else if (is_token_array(v)) {
        json_array_foreach(v, i, t)
        {
            json_int_t tok = json_integer_value(t);

            h = fnv(h, &tok, sizeof(tok));
        }
        c->prompt_tokens += json_array_size(v);
    } else
        return false;
    c->emb_hashes[c->emb_count++] = h;
    return true;
}

static int read_inputs(struct sl_fake_req *c, json_t *input)
{
    bool single = json_is_string(input) || is_token_array(input);
    size_t n = single ? 1 : json_array_size(input), i;
    bool ok = n > 0 && n <= INPUTS_MAX;

    if (input == NULL || json_is_null(input)) {
        sl_fake_bad(c, 400, "input", "Missing required parameter: 'input'.");
        return 0;
    }
    if (ok)
        c->emb_hashes = calloc(n, sizeof(*c->emb_hashes));
    if (ok && c->emb_hashes == NULL)
        return -ENOMEM;
    if (single && ok)
        ok = read_one(c, input);
    for (i = 0; ok && !single && i < n; i++)
        ok = read_one(c, json_array_get(input, i));
    if (!ok)
        sl_fake_bad(c, 400, "input",
                    "'$.input' is invalid: expected a non-empty string, an "
                    "array of up to 2048 of them, or token arrays.");
    return 0;
}

static void read_format(struct sl_fake_req *c, json_t *body)
{
    json_t *v = json_object_get(body, "encoding_format");

    c->emb_dims = DIMS_DEFAULT;
    if (json_is_string(v) && strcmp(json_string_value(v), "base64") == 0)
        c->emb_base64 = true;
    else if (v != NULL && !json_is_null(v) &&
             !(json_is_string(v) && strcmp(json_string_value(v), "float") == 0))
        sl_fake_bad(c, 400, "encoding_format",
                    "Invalid 'encoding_format': expected one of 'float' or 'base64'.");
    v = json_object_get(body, "dimensions");
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= DIMS_MAX)
        c->emb_dims = (int)json_integer_value(v);
    else if (v != NULL && !json_is_null(v))
        sl_fake_bad(c, 400, "dimensions",
                    "Invalid 'dimensions': expected an integer from 1 to 3072.");
}

int sl_fake_embeddings_prepare(struct sl_fake_req *c, json_t *body)
{
    json_t *model = json_object_get(body, "model");
    int rc;

    if (c->bad_msg != NULL)
        return 0;
    if (!json_is_string(model)) {
        c->bad_msg = "you must provide a model parameter";
        return 0;
    }
    rc = read_inputs(c, json_object_get(body, "input"));
    if (rc == 0)
        read_format(c, body);
    return rc == 0 ? sl_fake_set_model(c, json_string_value(model), false) : rc;
}

/* ---- the answer ---- */

/* Newton's square root: the fake links no libm for one call. */
static double root(double x)
{
    double r = x > 1 ? x : 1;
    int i;

    for (i = 0; i < 64 && x > 0; i++)
        r = (r + x / r) / 2;
    return r;
}

/* A unit vector drawn from the input's hash. */
static void vector(uint64_t seed, float *v, int dims)
{
    uint64_t x = seed | 1;
    double norm = 0;
    int i;

    for (i = 0; i < dims; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = (float)((double)(x >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
        norm += (double)v[i] * v[i];
    }
    norm = root(norm);
    for (i = 0; i < dims && norm > 0; i++)
        v[i] = (float)(v[i] / norm);
}

/* The vector as OpenAI's base64 form: its little-endian float32 bytes. */
static void put_base64(struct evbuffer *out, const float *v, int dims)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[DIMS_MAX * 4];
    size_t n = (size_t)dims * 4, i;
    uint32_t w;

    for (i = 0; i < (size_t)dims; i++) {
        memcpy(&w, &v[i], 4);
        raw[4 * i] = (unsigned char)w;
        raw[4 * i + 1] = (unsigned char)(w >> 8);
        raw[4 * i + 2] = (unsigned char)(w >> 16);
        raw[4 * i + 3] = (unsigned char)(w >> 24);
    }
    evbuffer_add(out, "\"", 1);
    for (i = 0; i < n; i += 3) {
        w = (uint32_t)raw[i] << 16 | (i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0) |
            (i + 2 < n ? raw[i + 2] : 0);
        evbuffer_add_printf(out, "%c%c%c%c", b64[w >> 18], b64[(w >> 12) & 63],
                            i + 1 < n ? b64[(w >> 6) & 63] : '=', i + 2 < n ? b64[w & 63] : '=');
    }
    evbuffer_add(out, "\"", 1);
}

static void put_vector(struct sl_fake_req *c, struct evbuffer *out, uint64_t seed)
{
    float v[DIMS_MAX];
    int i;

    vector(seed, v, c->emb_dims);
    if (c->emb_base64) {
        put_base64(out, v, c->emb_dims);
        return;
    }
    evbuffer_add(out, "[", 1);
    for (i = 0; i < c->emb_dims; i++)
        evbuffer_add_printf(out, "%s%.9g", i > 0 ? "," : "", (double)v[i]);
    evbuffer_add(out, "]", 1);
}

void sl_fake_embeddings_put(struct sl_fake_req *c, struct evbuffer *out)
{
    size_t i;

    evbuffer_add(out, "{\"object\":\"list\",\"data\":[", 25);
    for (i = 0; i < c->emb_count; i++) {
        evbuffer_add_printf(
            out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i > 0 ? "," : "", i);
        put_vector(c, out, c->emb_hashes[i]);
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add(out, "],\"model\":", 10);
    sl_fake_put_str(out, c->model, strlen(c->model));
    evbuffer_add(out, ",\"usage\":", 9);
    if (c->beh.usage != NULL)
        sl_fake_put_json(out, c->beh.usage);
    else
        evbuffer_add_printf(out, "{\"prompt_tokens\":%" PRIu64 ",\"total_tokens\":%" PRIu64 "}",
                            c->prompt_tokens, c->prompt_tokens);
    evbuffer_add(out, "}", 1);
}
