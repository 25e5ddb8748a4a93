/* SPDX-License-Identifier: MIT */
/* fuzz_json_scan.c - libFuzzer target: the one-pass JSON validator against jansson.  Under
 * each of the four flag combinations, whatever sl_json_check() calls valid jansson must
 * accept with the same root type, and the reader must see the very document jansson built:
 * the same types, integers, decoded strings and keys (the last duplicate winning), in the
 * same order for arrays.  The walk, entering any containers, gives sl_json_check()'s
 * verdict. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(struct sl_json_span v, json_t *j);

static char *decode(struct sl_json_span s, size_t *len)
{
    char *out = malloc(s.len);

    if (!out || !sl_json_str_decode(s, out, s.len, len))
        abort();
    if (out[*len] != '\0' || !sl_json_str_eq(s, out, *len))
        abort();
    return out;
}

static void same_string(struct sl_json_span v, json_t *j)
{
    size_t len;
    char *s = decode(v, &len);

    if (!json_is_string(j) || json_string_length(j) != len ||
        memcmp(json_string_value(j), s, len) != 0)
        abort();
    if (sl_json_str_has_escape(v) != (memchr(v.p + 1, '\\', v.len - 2) != NULL))
        abort();
    free(s);
}

static void same_array(struct sl_json_span v, json_t *j)
{
    struct sl_json_iter it;
    struct sl_json_span e;
    size_t i = 0;

    if (!json_is_array(j) || sl_json_array_size(v) != json_array_size(j) ||
        sl_json_is_empty(v) != (json_array_size(j) == 0))
        abort();
    sl_json_iter_init(&it, v);
    while (sl_json_next_element(&it, &e))
        same(e, json_array_get(j, i++));
    if (i != json_array_size(j))
        abort();
}

/* sl_json_get_many() with the first three keys (and one that is never there) finds what
 * jansson's json_object_getn() does. */
static void same_many(struct sl_json_span v, json_t *j)
{
    struct sl_json_iter it;
    struct sl_json_span k, val, got[4];
    char *keys[3] = { NULL, NULL, NULL };
    const char *names[4];
    size_t n = 0, len, i, e;

    sl_json_iter_init(&it, v);
    while (n < 3 && sl_json_next_member(&it, &k, &val)) {
        keys[n] = decode(k, &len);
        names[n] = keys[n];
        n++;
    }
    names[n++] = "\x01never";
    if (sl_json_get_many(v, names, got, n) > n)
        abort();
    for (i = 0; i < n; i++) {
        json_t *jv = json_object_get(j, names[i]);
        bool dup = false;

        for (e = 0; e < i; e++)
            dup = dup || strcmp(names[e], names[i]) == 0;
        if (dup)
            continue; /* a repeated name fills only its first slot */
        if (!got[i].p != !jv)
            abort();
        if (jv)
            same(got[i], jv);
    }
    for (i = 0; i < 3; i++)
        free(keys[i]);
}

/* Every key the reader yields finds jansson's member, and sl_json_get() gives its value;
 * the distinct keys are jansson's count. */
static void same_object(struct sl_json_span v, json_t *j)
{
    struct sl_json_iter it, it2;
    struct sl_json_span k, val, k2, v2, got;
    size_t distinct = 0, len;

    if (!json_is_object(j))
        abort();
    sl_json_iter_init(&it, v);
    while (sl_json_next_member(&it, &k, &val)) {
        char *key = decode(k, &len);
        bool later = false;

        if (memchr(key, '\0', len) || !sl_json_get(v, key, &got))
            abort();
        same(got, json_object_getn(j, key, len));
        it2 = it;
        while (!later && sl_json_next_member(&it2, &k2, &v2))
            later = sl_json_str_eq(k2, key, len);
        distinct += !later;
        free(key);
    }
    if (distinct != json_object_size(j) || sl_json_is_empty(v) != (distinct == 0))
        abort();
    same_many(v, j);
}

static void same(struct sl_json_span v, json_t *j)
{
    int64_t x;

    if (!j)
        abort();
    switch (sl_json_type_of(v)) {
    case SL_JSON_OBJECT: same_object(v, j); break;
    case SL_JSON_ARRAY: same_array(v, j); break;
    case SL_JSON_STRING: same_string(v, j); break;
    case SL_JSON_INTEGER:
        if (!json_is_integer(j) || !sl_json_int(v, &x) || x != json_integer_value(j))
            abort();
        break;
    case SL_JSON_REAL:
        if (!json_is_real(j))
            abort();
        break;
    case SL_JSON_TRUE:
        if (!json_is_true(j))
            abort();
        break;
    case SL_JSON_FALSE:
        if (!json_is_false(j))
            abort();
        break;
    case SL_JSON_NULL:
        if (!json_is_null(j))
            abort();
        break;
    default: abort();
    }
}

/* sl_json_scan() captures the root members jansson's json_object_get() finds. */
static void same_capture(const char *s, size_t size, unsigned flags, enum sl_json_type t, json_t *j)
{
    static const char *const names[] = { "a", "b", "model", "usage", "choices", "\xc3\xa9" };
    struct sl_json_span vals[6], root;
    size_t k;

    if (sl_json_scan(s, size, flags, &root, names, vals, 6) != t)
        abort();
    for (k = 0; k < 6; k++) {
        json_t *jv = json_is_object(j) ? json_object_get(j, names[k]) : NULL;

        if (!vals[k].p != !jv)
            abort();
        if (jv)
            same(vals[k], jv);
    }
}

/* sl_json_skip_string() against the plain byte loop, from every quote of any text. */
static void same_skip(const char *s, size_t n)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        if (s[i] != '"')
            continue;
        for (j = i + 1; j < n; j++) {
            if (s[j] == '\\')
                j++;
            else if (s[j] == '"')
                break;
        }
        j = j < n ? j + 1 : n;
        if (sl_json_skip_string(s, i, n) != j)
            abort();
    }
}

/* Walk the value that comes next, entering containers to the depth given by the bits of
 * enter (bit d: enter at depth d; the root always): every key and span the walk gives is
 * where the reader finds it. */
static bool walk_all(struct sl_json_walk *w, unsigned enter)
{
    struct sl_json_span key, v;
    size_t at;
    bool esc;
    int r;
    char open = sl_json_walk_peek(w);

    if ((open != '{' && open != '[') || (w->depth > 0 && !(enter >> (w->depth % 16) & 1)))
        return sl_json_walk_value(w, &v) && sl_json_type_of(v) != SL_JSON_NONE;
    at = w->i;
    if (!sl_json_walk_enter(w, open))
        return false;
    for (;;) {
        if (open == '{') {
            r = sl_json_walk_member(w, &key, &esc);
            if (r > 0 && (key.p[0] != '"' || sl_json_skip_string(key.p, 0, key.len) != key.len ||
                          esc != (memchr(key.p, '\\', key.len) != NULL)))
                abort();
        } else {
            r = sl_json_walk_element(w);
        }
        if (r <= 0)
            break;
        if (!walk_all(w, enter))
            return false;
    }
    /* The container's span is the one the reader skips. */
    if (r == 0 && w->depth > 0 &&
        sl_json_type_of((struct sl_json_span){ w->s + at, w->i - at }) !=
            (open == '{' ? SL_JSON_OBJECT : SL_JSON_ARRAY))
        abort();
    return r == 0;
}

/* The walk, whatever it enters, accepts what sl_json_check() does (it takes no
 * REJECT_DUPLICATES, and is never sure under it). */
static void same_walk(const char *s, size_t size, unsigned flags, enum sl_json_type t,
                      unsigned enter)
{
    struct sl_json_walk w;
    bool ok;

    sl_json_walk_init(&w, s, size, flags);
    ok = walk_all(&w, enter) && sl_json_walk_end(&w);
    if (ok != (t != SL_JSON_NONE && !(flags & SL_JSON_REJECT_DUPLICATES)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned ours[] = { 0, SL_JSON_ALLOW_NUL, SL_JSON_REJECT_DUPLICATES,
                                     SL_JSON_ALLOW_NUL | SL_JSON_REJECT_DUPLICATES };
    static const size_t theirs[] = { 0, JSON_ALLOW_NUL, JSON_REJECT_DUPLICATES,
                                     JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES };
    const char *s = (const char *)data;
    struct sl_json_span root;
    enum sl_json_type t;
    json_t *j;
    size_t i;

    same_skip(s, size);
    for (i = 0; i < 4; i++) {
        t = sl_json_check(s, size, ours[i], &root);
        same_walk(s, size, ours[i], t, size ? (unsigned)data[0] << 8 | data[size - 1] : 0);
        same_walk(s, size, ours[i], t, ~0u);
        if (t == SL_JSON_NONE)
            continue;
        j = json_loadb(s, size, theirs[i], NULL);
        if (!j || (t == SL_JSON_OBJECT) != json_is_object(j) || sl_json_type_of(root) != t)
            abort();
        same(root, j);
        same_capture(s, size, ours[i], t, j);
        json_decref(j);
    }
    return 0;
}
