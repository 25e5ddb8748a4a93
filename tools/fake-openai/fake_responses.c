/* SPDX-License-Identifier: MIT */
/* fake_responses.c - the Responses API of the fake OpenAI upstream: POST /v1/responses read
 * the way chat is read, the Response object it answers, and its stream of typed events. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include "fake_openai.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#define ID_RANDOM_BYTES 24 /* 48 hex digits, as OpenAI's resp_ and msg_ ids */
#define DEFAULT_ERROR_MESSAGE "The server had an error while processing your request."

/* The stream's events, in order; the phase always names the next event to produce. */
enum rphase {
    RP_CREATED,
    RP_IN_PROGRESS,
    RP_ITEM_ADDED,
    RP_PART_ADDED,
    RP_DELTA,
    RP_TEXT_DONE,
    RP_PART_DONE,
    RP_ITEM_DONE,
    RP_TERMINAL,
    RP_END,
};

/* ---- the request ---- */

static uint64_t tokens_of_bytes(size_t bytes)
{
    return (bytes + 3) / 4 + 4;
}

static json_t *text_part(const char *role, json_t *text)
{
    bool said = role != NULL && strcmp(role, "assistant") == 0;

    return json_pack("[{s:s,s:O}]", "type", said ? "output_text" : "input_text", "text", text);
}

static bool is_message(json_t *given)
{
    json_t *type = json_object_get(given, "type");

    if (type == NULL)
        return json_is_string(json_object_get(given, "role"));
    return json_is_string(type) && strcmp(json_string_value(type), "message") == 0;
}

/* One input item as input_items lists it, keys in OpenAI's order: an easy message {role,
 * content} becomes a "message" item with an id, a status and its content as parts; any
 * other member is kept as given. */
static json_t *input_item(json_t *given)
{
    json_t *item = json_object(), *id = json_object_get(given, "id");
    json_t *role = json_object_get(given, "role"), *content = json_object_get(given, "content");
    bool message = is_message(given);
    char made[2 * ID_RANDOM_BYTES + 8];

    if (item == NULL)
        return NULL;
    if (!json_is_string(id)) {
        int at = snprintf(made, sizeof(made), "%s_", message ? "msg" : "item");

        sl_fake_hex_id(made + at, ID_RANDOM_BYTES);
    }
    json_object_set_new(item, "id", json_is_string(id) ? json_incref(id) : json_string(made));
    if (message) {
        json_object_set_new(item, "type", json_string("message"));
        json_object_set(item, "role", role);
        json_object_set_new(item, "content",
                            json_is_string(content) ? text_part(json_string_value(role), content)
                                                    : json_incref(content));
        if (json_object_get(given, "status") == NULL)
            json_object_set_new(item, "status", json_string("completed"));
    }
    json_object_update_missing(item, given);
    return item;
}

/* The input: a string (one user message) or an array of items.  Counts prompt tokens as
 * chat counts messages, and finds the last user text for the echo. */
static void read_input(struct sl_fake_req *c, json_t *input, const char **echo, size_t *echo_len)
{
    size_t i;
    json_t *it;

    if (json_is_string(input)) {
        json_t *msg = json_pack("{s:s,s:O}", "role", "user", "content", input);

        c->prompt_tokens += tokens_of_bytes(json_string_length(input));
        *echo = json_string_value(input);
        *echo_len = json_string_length(input);
        json_array_append_new(c->items, input_item(msg));
        json_decref(msg);
        return;
    }
    json_array_foreach(input, i, it)
    {
        const char *first = NULL, *role = json_string_value(json_object_get(it, "role"));
        size_t first_len = 0;

        if (!json_is_object(it)) {
            sl_fake_bad(c, 400, "input", "Invalid 'input[%zu]': expected an object.", i);
            return;
        }
        c->prompt_tokens += tokens_of_bytes(
            sl_fake_content_text(json_object_get(it, "content"), &first, &first_len));
        if (role != NULL && strcmp(role, "user") == 0) {
            *echo = first != NULL ? first : "";
            *echo_len = first != NULL ? first_len : 0;
        }
        json_array_append_new(c->items, input_item(it));
    }
}

/* A conversation continues only from a response this fake created and still holds, as
 * OpenAI refuses an id it does not know (which also catches a gateway that sends the
 * follow-up to another upstream). */
static void read_previous(struct sl_fake_req *c, json_t *v)
{
    if (json_is_string(v) && !sl_fake_store_has(json_string_value(v)))
        sl_fake_bad(c, 400, "previous_response_id", "Previous response with id '%.128s' not found.",
                    json_string_value(v));
    else if (v != NULL && !json_is_null(v) && !json_is_string(v))
        sl_fake_bad(c, 400, "previous_response_id",
                    "Invalid type for 'previous_response_id': expected a string.");
}

static void read_fields(struct sl_fake_req *c, json_t *body)
{
    json_t *v = json_object_get(body, "input");

    if (v != NULL && !json_is_null(v) && !json_is_string(v) && !json_is_array(v))
        sl_fake_bad(c, 400, "input",
                    "Invalid type for 'input': expected a string or an array of input items.");
    v = json_object_get(body, "instructions");
    if (json_is_string(v))
        c->prompt_tokens += tokens_of_bytes(json_string_length(v));
    else if (v != NULL && !json_is_null(v))
        sl_fake_bad(c, 400, "instructions", "Invalid type for 'instructions': expected a string.");
    v = json_object_get(body, "max_output_tokens");
    if (json_is_integer(v) && json_integer_value(v) >= 1)
        c->max_output_tokens = json_integer_value(v);
    else if (v != NULL && !json_is_null(v))
        sl_fake_bad(c, 400, "max_output_tokens",
                    "Invalid 'max_output_tokens': expected an integer of at least 1.");
    read_previous(c, json_object_get(body, "previous_response_id"));
    c->stream = json_is_true(json_object_get(body, "stream"));
    c->background = json_is_true(json_object_get(body, "background"));
    c->store = !json_is_false(json_object_get(body, "store"));
}

/* In "bytes" mode the Response repeats the text (done events, the stored object), so unlike
 * a chat stream it is held whole. */
static int materialise_bytes(struct sl_fake_req *c)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL)
        return -ENOMEM;
    sl_fake_put_pattern(b, 0, c->bytes);
    c->text_len = evbuffer_get_length(b);
    c->text = malloc(c->text_len + 1);
    if (c->text != NULL) {
        evbuffer_remove(b, c->text, c->text_len);
        c->text[c->text_len] = '\0';
    }
    evbuffer_free(b);
    return c->text != NULL ? 0 : -ENOMEM;
}

/* ---- the Response object ---- */

static const char *final_status(const struct sl_fake_req *c)
{
    switch (c->beh.response_status) {
    case SL_FAKE_RS_COMPLETED: return "completed";
    case SL_FAKE_RS_INCOMPLETE: return "incomplete";
    case SL_FAKE_RS_FAILED: return "failed";
    default: return c->cut ? "incomplete" : "completed";
    }
}

static json_t *usage_json(const struct sl_fake_req *c)
{
    if (c->beh.usage != NULL)
        return json_incref(c->beh.usage);
    return json_pack("{s:I,s:{s:i},s:I,s:{s:i},s:I}", "input_tokens", (json_int_t)c->prompt_tokens,
                     "input_tokens_details", "cached_tokens", 0, "output_tokens",
                     (json_int_t)c->tokens, "output_tokens_details", "reasoning_tokens", 0,
                     "total_tokens", (json_int_t)(c->prompt_tokens + c->tokens));
}

static json_t *output_part(const struct sl_fake_req *c, size_t text_len)
{
    return json_pack("{s:s,s:s%,s:[],s:[]}", "type", "output_text", "text", c->text, text_len,
                     "annotations", "logprobs");
}

static json_t *message_item(const struct sl_fake_req *c, const char *status)
{
    json_t *content = json_array();

    if (strcmp(status, "in_progress") != 0)
        json_array_append_new(content, output_part(c, c->text_len));
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", c->msg_id, "type", "message", "status", status,
                     "role", "assistant", "content", content);
}

static json_t *final_error(const struct sl_fake_req *c)
{
    const char *code = c->beh.has_error_code ? c->beh.error_code : "server_error";
    const char *msg = c->beh.error_message != NULL ? c->beh.error_message : DEFAULT_ERROR_MESSAGE;

    return json_pack("{s:s?,s:s}", "code", code, "message", msg);
}

/* Set the members that follow from the final status. */
static void set_outcome(struct sl_fake_req *c, json_t *r)
{
    const char *status = final_status(c);
    const char *reason = c->beh.incomplete_reason;

    json_object_set_new(r, "status", json_string(status));
    if (strcmp(status, "failed") == 0) {
        json_object_set_new(r, "error", final_error(c));
        json_object_set_new(r, "output", json_array());
        return;
    }
    if (strcmp(status, "incomplete") == 0)
        json_object_set_new(r, "incomplete_details",
                            json_pack("{s:s}", "reason", reason ? reason : "max_output_tokens"));
    json_object_set_new(r, "output", json_pack("[o]", message_item(c, status)));
}

static json_t *nullable_str(json_t *v)
{
    return json_is_string(v) ? json_incref(v) : json_null();
}

static json_t *build_response(struct sl_fake_req *c, json_t *body)
{
    char id[2 * ID_RANDOM_BYTES + 6] = "resp_";
    json_t *r;

    sl_fake_hex_id(id + 5, ID_RANDOM_BYTES);
    r = json_pack(
        "{s:s,s:s,s:I,s:s,s:b,s:n,s:n,s:o,s:o,s:n,s:s,s:[],s:b,s:o,s:{s:n,s:n}}", "id", id,
        "object", "response", "created_at", (json_int_t)c->created, "status", "in_progress",
        "background", c->background, "error", "incomplete_details", "instructions",
        nullable_str(json_object_get(body, "instructions")), "max_output_tokens",
        c->max_output_tokens > 0 ? json_integer(c->max_output_tokens) : json_null(),
        "max_tool_calls", "model", c->model, "output", "parallel_tool_calls", 1,
        "previous_response_id", nullable_str(json_object_get(body, "previous_response_id")),
        "reasoning", "effort", "summary");
    if (r == NULL)
        return NULL;
    json_object_update_new(
        r, json_pack("{s:s,s:b,s:f,s:{s:{s:s}},s:s,s:[],s:i,s:f,s:s,s:o,s:n,s:{}}", "service_tier",
                     "default", "store", c->store, "temperature", 1.0, "text", "format", "type",
                     "text", "tool_choice", "auto", "tools", "top_logprobs", 0, "top_p", 1.0,
                     "truncation", "disabled", "usage", usage_json(c), "user", "metadata"));
    set_outcome(c, r);
    return r;
}

/* The Response as it looks before it has finished: status, no output, no usage yet. */
json_t *sl_fake_responses_pending(json_t *final, const char *status)
{
    json_t *r = json_copy(final);

    if (r == NULL)
        return NULL;
    json_object_set_new(r, "status", json_string(status));
    json_object_set_new(r, "output", json_array());
    json_object_set_new(r, "usage", json_null());
    json_object_set_new(r, "error", json_null());
    json_object_set_new(r, "incomplete_details", json_null());
    return r;
}

int sl_fake_responses_prepare(struct sl_fake_req *c, json_t *body)
{
    const char *echo = "";
    size_t echo_len = 0;
    json_t *model = json_object_get(body, "model");
    int rc;

    if (c->bad_msg != NULL)
        return 0;
    if (!json_is_string(model)) {
        c->bad_msg = "you must provide a model parameter";
        return 0;
    }
    c->items = json_array();
    if (c->items == NULL)
        return -ENOMEM;
    read_fields(c, body);
    if (c->bad_msg == NULL)
        read_input(c, json_object_get(body, "input"), &echo, &echo_len);
    if (c->bad_msg != NULL)
        return 0;
    rc = sl_fake_set_model(c, json_string_value(model), true);
    if (rc == 0)
        rc = sl_fake_make_text(c, echo, echo_len, c->max_output_tokens);
    if (rc == 0 && c->bytes_mode)
        rc = materialise_bytes(c);
    if (rc != 0)
        return rc;
    memcpy(c->msg_id, "msg_", 4);
    sl_fake_hex_id(c->msg_id + 4, ID_RANDOM_BYTES);
    c->answer = build_response(c, body);
    return c->answer != NULL ? 0 : -ENOMEM;
}

void sl_fake_responses_commit(struct sl_fake_req *c)
{
    size_t bytes = c->text_len + evbuffer_get_length(evhttp_request_get_input_buffer(c->req));

    if (c->store)
        sl_fake_store_put(json_incref(c->answer), json_incref(c->items),
                          c->background && !c->stream, c->beh.background_ms, sl_fake_now_ms(),
                          bytes);
}

void sl_fake_responses_put(struct sl_fake_req *c, struct evbuffer *out)
{
    json_t *queued;

    if (!c->background) {
        sl_fake_put_json(out, c->answer);
        return;
    }
    queued = sl_fake_responses_pending(c->answer, "queued");
    sl_fake_put_json(out, queued);
    json_decref(queued);
}

/* ---- the stream ---- */

static void ev_open(struct sl_fake_req *c, struct evbuffer *out, const char *type)
{
    evbuffer_add_printf(out, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%" PRId64, type,
                        type, c->seq_no++);
}

static void ev_member(struct evbuffer *out, const char *name, json_t *v)
{
    evbuffer_add_printf(out, ",\"%s\":", name);
    sl_fake_put_json(out, v);
    json_decref(v);
}

static void ev_where(struct sl_fake_req *c, struct evbuffer *out)
{
    evbuffer_add_printf(out, ",\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0",
                        c->msg_id);
}

static void ev_close(struct evbuffer *out)
{
    evbuffer_add(out, "}\n\n", 3);
}

static bool failed(const struct sl_fake_req *c)
{
    return strcmp(final_status(c), "failed") == 0;
}

/* Where the text ends: a failed response goes straight to its terminal event. */
static enum rphase after_text(const struct sl_fake_req *c)
{
    return failed(c) ? RP_TERMINAL : RP_TEXT_DONE;
}

/* One word (its trailing whitespace included) per delta, or SL_FAKE_BYTES_DELTA bytes in
 * "bytes" mode, as chat's deltas. */
static void put_delta(struct sl_fake_req *c, struct evbuffer *out)
{
    size_t e = c->cursor;

    if (c->bytes_mode)
        e = c->text_len - e < SL_FAKE_BYTES_DELTA ? c->text_len : e + SL_FAKE_BYTES_DELTA;
    else {
        while (e < c->text_len && strchr(" \t\n\r\f\v", c->text[e]) != NULL)
            e++;
        while (e < c->text_len && strchr(" \t\n\r\f\v", c->text[e]) == NULL)
            e++;
        while (e < c->text_len && strchr(" \t\n\r\f\v", c->text[e]) != NULL)
            e++;
    }
    if (c->unit + 1 == c->units)
        e = c->text_len;
    ev_open(c, out, "response.output_text.delta");
    ev_where(c, out);
    evbuffer_add(out, ",\"delta\":", 9);
    sl_fake_put_str(out, c->text + c->cursor, e - c->cursor);
    evbuffer_add(out, ",\"logprobs\":[]", 14);
    ev_close(out);
    c->cursor = e;
    if (++c->unit == c->units)
        c->rphase = after_text(c);
}

static void put_text_event(struct sl_fake_req *c, struct evbuffer *out)
{
    json_t *item = json_array_get(json_object_get(c->answer, "output"), 0);

    switch ((enum rphase)c->rphase) {
    case RP_ITEM_ADDED:
        ev_open(c, out, "response.output_item.added");
        evbuffer_add(out, ",\"output_index\":0", 17);
        ev_member(out, "item", message_item(c, "in_progress"));
        break;
    case RP_PART_ADDED:
        ev_open(c, out, "response.content_part.added");
        ev_where(c, out);
        ev_member(out, "part", output_part(c, 0));
        break;
    case RP_TEXT_DONE:
        ev_open(c, out, "response.output_text.done");
        ev_where(c, out);
        evbuffer_add(out, ",\"text\":", 8);
        sl_fake_put_str(out, c->text, c->text_len);
        evbuffer_add(out, ",\"logprobs\":[]", 14);
        break;
    case RP_PART_DONE:
        ev_open(c, out, "response.content_part.done");
        ev_where(c, out);
        ev_member(out, "part", output_part(c, c->text_len));
        break;
    default:
        ev_open(c, out, "response.output_item.done");
        evbuffer_add(out, ",\"output_index\":0", 17);
        ev_member(out, "item", json_incref(item));
        break;
    }
    ev_close(out);
}

static void put_state_event(struct sl_fake_req *c, struct evbuffer *out, const char *type)
{
    ev_open(c, out, type);
    ev_member(out, "response", sl_fake_responses_pending(c->answer, "in_progress"));
    ev_close(out);
}

static void put_terminal(struct sl_fake_req *c, struct evbuffer *out)
{
    char type[48];

    snprintf(type, sizeof(type), "response.%s", final_status(c));
    ev_open(c, out, type);
    ev_member(out, "response", json_incref(c->answer));
    ev_close(out);
}

bool sl_fake_responses_sse_next(struct sl_fake_req *c, struct evbuffer *out)
{
    switch ((enum rphase)c->rphase) {
    case RP_CREATED: put_state_event(c, out, "response.created"); break;
    case RP_IN_PROGRESS: put_state_event(c, out, "response.in_progress"); break;
    case RP_DELTA: put_delta(c, out); return true;
    case RP_TERMINAL: put_terminal(c, out); break;
    case RP_END: return false;
    default: put_text_event(c, out); break;
    }
    c->rphase++;
    if (c->rphase == RP_DELTA && c->units == 0)
        c->rphase = after_text(c);
    return true;
}

bool sl_fake_responses_sse_finished(const struct sl_fake_req *c)
{
    return c->rphase == RP_END;
}

bool sl_fake_responses_sse_next_is_last(const struct sl_fake_req *c)
{
    return c->rphase == RP_TERMINAL;
}

void sl_fake_responses_sse_error(struct sl_fake_req *c, struct evbuffer *out)
{
    const char *code = c->beh.has_error_code ? c->beh.error_code : "server_error";
    const char *msg = c->beh.error_message != NULL ? c->beh.error_message : DEFAULT_ERROR_MESSAGE;
    json_t *e = json_pack("{s:s,s:s?,s:s,s:n,s:I}", "type", "error", "code", code, "message", msg,
                          "param", "sequence_number", (json_int_t)c->seq_no++);

    evbuffer_add(out, "event: error\ndata: ", 19);
    sl_fake_put_json(out, e);
    evbuffer_add(out, "\n\n", 2);
    json_decref(e);
}
