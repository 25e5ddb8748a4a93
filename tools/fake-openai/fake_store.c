/* SPDX-License-Identifier: MIT */
/* fake_store.c - the responses the fake OpenAI upstream created, kept in memory (bounded,
 * oldest dropped first) for the follow-up routes: GET and DELETE /v1/responses/{id},
 * GET .../input_items and POST .../cancel. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "fake_openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#define STORE_MAX 10000
#define STORE_BYTES_MAX (256u * 1024 * 1024)
#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100

/* A background response is pending until a GET finds it ready, or a cancel ends it. */
enum bg_state { BG_NONE, BG_PENDING, BG_DONE, BG_CANCELLED };

struct stored {
    json_t *response; /* NULL: free slot */
    json_t *items;
    enum bg_state bg;
    uint64_t ready_ms;
    size_t bytes;
};

static struct stored slots[STORE_MAX];
static json_t *by_id; /* id -> slot number */
static uint64_t next_put, oldest;
static size_t held_bytes;

static const char *id_of(const struct stored *s)
{
    return json_string_value(json_object_get(s->response, "id"));
}

static void drop(struct stored *s)
{
    if (s->response == NULL)
        return;
    if (id_of(s) != NULL)
        json_object_del(by_id, id_of(s));
    json_decref(s->response);
    json_decref(s->items);
    held_bytes -= s->bytes;
    memset(s, 0, sizeof(*s));
}

static enum bg_state bg_of(json_t *response, bool pending)
{
    if (!json_is_true(json_object_get(response, "background")))
        return BG_NONE;
    return pending ? BG_PENDING : BG_DONE;
}

void sl_fake_store_put(json_t *response, json_t *items, bool pending, int64_t background_ms,
                       uint64_t now_ms, size_t bytes)
{
    struct stored *s;
    const char *id = json_string_value(json_object_get(response, "id"));

    if (by_id == NULL)
        by_id = json_object();
    if (id == NULL || by_id == NULL) {
        json_decref(response);
        json_decref(items);
        return;
    }
    if (next_put - oldest == STORE_MAX)
        drop(&slots[oldest++ % STORE_MAX]);
    s = &slots[next_put % STORE_MAX];
    json_object_set_new(by_id, id, json_integer((json_int_t)(next_put++ % STORE_MAX)));
    s->response = response;
    s->items = items;
    s->bg = bg_of(response, pending);
    s->ready_ms = now_ms + (uint64_t)(background_ms > 0 ? background_ms : 0);
    s->bytes = bytes;
    held_bytes += bytes;
    while (held_bytes > STORE_BYTES_MAX && next_put - oldest > 1)
        drop(&slots[oldest++ % STORE_MAX]);
}

static struct stored *find(const char *id)
{
    json_t *at = json_object_get(by_id, id);

    return at != NULL ? &slots[json_integer_value(at)] : NULL;
}

bool sl_fake_store_has(const char *id)
{
    return find(id) != NULL;
}

void sl_fake_store_clear(void)
{
    size_t i;

    for (i = 0; i < STORE_MAX; i++)
        drop(&slots[i]);
    json_decref(by_id);
    by_id = NULL;
    next_put = oldest = 0;
    held_bytes = 0;
}

/* ---- the follow-up routes ---- */

static void replace_response(struct stored *s, json_t *r)
{
    if (r == NULL)
        return;
    json_decref(s->response);
    s->response = r;
}

/* A pending background response turns "completed" (or as scripted) once a GET comes at least
 * background_ms after its creation; until then it is "in_progress". */
static json_t *get(struct stored *s)
{
    if (s->bg != BG_PENDING)
        return json_incref(s->response);
    if (sl_fake_now_ms() < s->ready_ms)
        return sl_fake_responses_pending(s->response, "in_progress");
    s->bg = BG_DONE;
    return json_incref(s->response);
}

static void cancel(struct sl_fake_req *c, struct stored *s)
{
    switch (s->bg) {
    case BG_NONE: sl_fake_bad(c, 400, NULL, "Only background responses can be cancelled."); return;
    case BG_DONE: sl_fake_bad(c, 400, NULL, "Cannot cancel a completed response."); return;
    case BG_PENDING:
        replace_response(s, sl_fake_responses_pending(s->response, "cancelled"));
        s->bg = BG_CANCELLED;
        break;
    case BG_CANCELLED: break;
    }
    c->answer = json_incref(s->response);
}

/* The query's limit (1..100, default 20) and order (asc or desc, default desc); false with
 * c->bad_msg set when one is invalid. */
static bool list_params(struct sl_fake_req *c, struct evkeyvalq *q, long *limit, bool *asc)
{
    const char *v = evhttp_find_header(q, "limit");
    char *end;

    *limit = LIST_LIMIT_DEFAULT;
    if (v != NULL) {
        *limit = strtol(v, &end, 10);
        if (end == v || *end != '\0' || *limit < 1 || *limit > LIST_LIMIT_MAX) {
            sl_fake_bad(c, 400, "limit", "Invalid 'limit': expected an integer from 1 to 100.");
            return false;
        }
    }
    v = evhttp_find_header(q, "order");
    *asc = v != NULL && strcmp(v, "asc") == 0;
    if (v != NULL && !*asc && strcmp(v, "desc") != 0) {
        sl_fake_bad(c, 400, "order", "Invalid 'order': expected one of 'asc' or 'desc'.");
        return false;
    }
    return true;
}

static json_t *item_at(json_t *items, size_t k, bool asc)
{
    size_t n = json_array_size(items);

    return json_array_get(items, asc ? k : n - 1 - k);
}

/* The items in the requested order, starting after the item whose id is `after` (NULL: at the
 * first; unknown: nothing), at most limit of them. */
static json_t *list_page(json_t *items, const char *after, long limit, bool asc, bool *more)
{
    size_t n = json_array_size(items), k, start = after != NULL ? n : 0;
    json_t *data = json_array();

    for (k = 0; after != NULL && k < n; k++) {
        const char *id = json_string_value(json_object_get(item_at(items, k, asc), "id"));

        if (id != NULL && strcmp(id, after) == 0) {
            start = k + 1;
            break;
        }
    }
    for (k = start; k < n && json_array_size(data) < (size_t)limit; k++)
        json_array_append(data, item_at(items, k, asc));
    *more = k < n;
    return data;
}

static json_t *id_or_null(json_t *item)
{
    json_t *id = json_object_get(item, "id");

    return id != NULL ? json_incref(id) : json_null();
}

static void input_items(struct sl_fake_req *c, struct stored *s)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));
    struct evkeyvalq q;
    json_t *data;
    long limit;
    bool asc, more;

    TAILQ_INIT(&q);
    if (query != NULL && evhttp_parse_query_str(query, &q) != 0)
        sl_fake_bad(c, 400, NULL, "The query string could not be parsed.");
    else if (list_params(c, &q, &limit, &asc)) {
        data = list_page(s->items, evhttp_find_header(&q, "after"), limit, asc, &more);
        c->answer = json_pack("{s:s,s:o,s:o,s:o,s:b}", "object", "list", "data", data, "first_id",
                              id_or_null(json_array_get(data, 0)), "last_id",
                              id_or_null(json_array_get(data, json_array_size(data) - 1)),
                              "has_more", more);
    }
    evhttp_clear_headers(&q);
}

void sl_fake_store_answer(struct sl_fake_req *c)
{
    struct stored *s = find(c->id);

    if (s == NULL) {
        sl_fake_bad(c, 404, NULL, "Response with id '%s' not found.", c->id);
        return;
    }
    switch (c->kind) {
    case SL_FAKE_RESPONSE_GET: c->answer = get(s); break;
    case SL_FAKE_RESPONSE_CANCEL: cancel(c, s); break;
    case SL_FAKE_RESPONSE_INPUT_ITEMS: input_items(c, s); break;
    default:
        c->answer = json_pack("{s:s,s:s,s:b}", "id", c->id, "object", "response", "deleted", 1);
        drop(s);
        break;
    }
}
