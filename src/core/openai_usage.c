/* SPDX-License-Identifier: MIT */
/* openai_usage.c - the usage object of an answer or a stream's last chunk, as a tenant is charged.
 */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/openai.h"

#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "core/json_scan.h"

void sl_openai_usage_parse(const json_t *usage, struct sl_usage *out)
{
    json_t *u = (json_t *)usage; /* jansson's getters take no const */
    json_t *pt = json_object_get(u, "prompt_tokens");
    json_t *ct = json_object_get(u, "completion_tokens");
    json_t *tt = json_object_get(u, "total_tokens");
    int64_t p, c;

    memset(out, 0, sizeof(*out));
    if (!json_is_integer(pt) || !json_is_integer(ct))
        return;
    p = json_integer_value(pt);
    c = json_integer_value(ct);
    if (p < 0 || c < 0 || p > INT64_MAX - c)
        return;
    out->prompt_tokens = p;
    out->completion_tokens = c;
    out->total_tokens = p + c;
    /* A larger total is believed (it may count what the parts do not); a smaller one not. */
    if (json_is_integer(tt) && json_integer_value(tt) > out->total_tokens)
        out->total_tokens = json_integer_value(tt);
    out->present = true;
}

void sl_openai_usage_scan(const struct sl_json_span *usage, struct sl_usage *out)
{
    struct sl_json_span pt = { NULL, 0 }, ct = { NULL, 0 }, tt = { NULL, 0 }, k, v;
    struct sl_json_iter it;
    int64_t p, c, t;

    memset(out, 0, sizeof(*out));
    if (!usage || sl_json_type_of(*usage) != SL_JSON_OBJECT)
        return;
    /* One pass, the last of duplicate keys winning, as json_object_get() reads them. */
    sl_json_iter_init(&it, *usage);
    while (sl_json_next_member(&it, &k, &v)) {
        if (sl_json_str_eq(k, "prompt_tokens", 13))
            pt = v;
        else if (sl_json_str_eq(k, "completion_tokens", 17))
            ct = v;
        else if (sl_json_str_eq(k, "total_tokens", 12))
            tt = v;
    }
    if (!sl_json_int(pt, &p) || !sl_json_int(ct, &c))
        return;
    if (p < 0 || c < 0 || p > INT64_MAX - c)
        return;
    out->prompt_tokens = p;
    out->completion_tokens = c;
    out->total_tokens = p + c;
    if (sl_json_int(tt, &t) && t > out->total_tokens)
        out->total_tokens = t;
    out->present = true;
}
