/* SPDX-License-Identifier: MIT */
/* guard.c - the input guard over one request body: the fields a route's shape holds, the
 * rules in order, and the masked body. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_scan.h"

/* A masked span of the body: raw[from, to) becomes the kind's placeholder. */
struct edit {
    size_t from, to;
    enum sl_guard_kind kind;
};

struct walk {
    const struct sl_guard_policy *p;
    enum sl_guard_shape shape;
    const char *body;
    struct sl_guard_verdict *v;
    char *text; /* the field being checked, decoded */
    size_t text_cap;
    struct sl_guard_span *found; /* its personal data to mask, in text order */
    size_t nfound, found_cap;
    struct edit *edits; /* every field's, raw offsets into body */
    size_t nedits, edits_cap;
    uint64_t skip; /* patterns that hit a bound here: they are not run again */
    int err;
};

static const char *const rule_names[SL_GUARD_RULE_KIND] = { "max_messages", "max_message_chars",
                                                            "deny_patterns" };

const char *sl_guard_rule_name(enum sl_guard_rule rule)
{
    if (rule < SL_GUARD_RULE_KIND)
        return rule_names[rule];
    if (rule < SL_GUARD_RULE_COUNT)
        return sl_guard_kind_name((enum sl_guard_kind)(rule - SL_GUARD_RULE_KIND));
    return "unknown";
}

static void refuse(struct walk *w, enum sl_guard_rule rule, const char *param)
{
    w->v->refused = true;
    w->v->rule = rule;
    snprintf(w->v->param, sizeof(w->v->param), "%s", param);
}

static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 8;
    void *q;

    if (need <= *cap)
        return true;
    while (n < need)
        n *= 2;
    if (!(q = realloc(*arr, n * size)))
        return false;
    *arr = q;
    *cap = n;
    return true;
}

/* ---- raw JSON strings ---- */

static unsigned hex4(const char *s)
{
    unsigned v = 0;
    int k;

    for (k = 0; k < 4; k++) {
        char c = s[k];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* One unit of a validated string's raw text at s[i] (a byte, an escape, or a surrogate
 * pair's two escapes): the index after it; *dec grows by the bytes it decodes to and *cps by
 * the code points. */
static size_t raw_unit(const char *s, size_t i, size_t end, size_t *dec, size_t *cps)
{
    unsigned cp;

    if (s[i] != '\\') {
        *dec += 1;
        *cps += ((unsigned char)s[i] & 0xC0) != 0x80; /* continuation bytes end no code point */
        return i + 1;
    }
    *cps += 1;
    if (s[i + 1] != 'u') {
        *dec += 1;
        return i + 2;
    }
    cp = hex4(s + i + 2);
    if (cp >= 0xD800 && cp < 0xDC00 && i + 12 <= end && s[i + 6] == '\\') {
        *dec += 4;
        return i + 12;
    }
    *dec += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
    return i + 6;
}

/* Code points in s[0, n) of valid UTF-8: the bytes that are not continuation bytes. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t i, k = 0;

    for (i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Code points a string decodes to, without decoding it: runs without a backslash counted
 * as UTF-8, escapes one unit at a time. */
static size_t string_chars(struct sl_json_span str)
{
    size_t i = 1, end = str.len - 1, dec = 0, cps = 0;
    const char *bs;

    while (i < end) {
        bs = memchr(str.p + i, '\\', end - i);
        if (!bs)
            return cps + utf8_chars(str.p + i, end - i);
        cps += utf8_chars(str.p + i, (size_t)(bs - str.p) - i);
        i = raw_unit(str.p, (size_t)(bs - str.p), end, &dec, &cps);
    }
    return cps;
}

/* The field's masked spans, decoded offsets, as raw offsets into the body. */
static void add_edits(struct walk *w, struct sl_json_span str)
{
    size_t i = 1, end = str.len - 1, dec = 0, cps = 0, k, base = (size_t)(str.p - w->body);
    struct edit *e;

    if (!grow((void **)&w->edits, &w->edits_cap, w->nedits + w->nfound, sizeof(*w->edits))) {
        w->err = -ENOMEM;
        return;
    }
    for (k = 0; k < w->nfound; k++) {
        e = &w->edits[w->nedits++];
        e->kind = w->found[k].kind;
        while (i < end && dec < w->found[k].start)
            i = raw_unit(str.p, i, end, &dec, &cps);
        e->from = base + i;
        while (i < end && dec < w->found[k].end)
            i = raw_unit(str.p, i, end, &dec, &cps);
        e->to = base + i;
    }
}

/* ---- one text field ---- */

static bool on_found(const struct sl_guard_span *span, void *arg)
{
    struct walk *w = arg;
    unsigned bit = SL_GUARD_BIT(span->kind);

    if ((w->p->markup & bit) || !(w->p->pii_masked & bit)) {
        w->v->refused = true;
        w->v->rule = (enum sl_guard_rule)(SL_GUARD_RULE_KIND + span->kind);
        return false;
    }
    if (!grow((void **)&w->found, &w->found_cap, w->nfound + 1, sizeof(*w->found))) {
        w->err = -ENOMEM;
        return false;
    }
    w->found[w->nfound++] = *span;
    return true;
}

static void run_patterns(struct walk *w, const char *param, const char *text, size_t len)
{
    size_t i;

    for (i = 0; i < w->p->npatterns && !w->v->refused; i++) {
        if (w->skip & (1ull << i))
            continue;
        switch (sl_guard_pattern_match(w->p, i, text, len)) {
        case SL_GUARD_MATCHED:
            refuse(w, SL_GUARD_RULE_DENY_PATTERNS, param);
            w->v->pattern = (int)i;
            break;
        case SL_GUARD_LIMIT:
            w->skip |= 1ull << i;
            w->v->limited |= 1ull << i;
            break;
        case SL_GUARD_NO_MATCH: break;
        }
    }
}

/* The detectors in one pass, then the deny patterns; personal data to mask becomes edits. */
/* A string's decoded text: its raw bytes when it holds no escape (most prompts), else decoded
 * into the walk's scratch space.  NULL on failure (w->err says why). */
static const char *text_of(struct walk *w, struct sl_json_span str, size_t *len)
{
    if (!memchr(str.p + 1, '\\', str.len - 2)) {
        *len = str.len - 2;
        return str.p + 1;
    }
    if (!grow((void **)&w->text, &w->text_cap, str.len, 1)) {
        w->err = -ENOMEM;
        return NULL;
    }
    if (!sl_json_str_decode(str, w->text, w->text_cap, len)) {
        w->err = -EINVAL;
        return NULL;
    }
    return w->text;
}

static void check_text(struct walk *w, struct sl_json_span str, const char *param)
{
    const char *text;
    size_t len;

    if (sl_json_type_of(str) != SL_JSON_STRING || w->v->refused || w->err ||
        !(text = text_of(w, str, &len)))
        return;
    w->nfound = 0;
    if (w->p->markup | w->p->pii)
        sl_guard_detect(text, len, w->p->markup | w->p->pii, on_found, w);
    if (w->v->refused) {
        snprintf(w->v->param, sizeof(w->v->param), "%s", param);
        return;
    }
    run_patterns(w, param, text, len);
    if (!w->v->refused && !w->err && w->nfound)
        add_edits(w, str);
}

/* ---- messages ---- */

/* What message_text() does with each text of a message. */
enum text_op {
    TEXT_CHECK, /* check it */
    TEXT_BYTES, /* sum its raw length: a bound on its code points */
    TEXT_CHARS, /* sum its code points */
};

static size_t text_size(struct sl_json_span str, enum text_op op)
{
    return op == TEXT_BYTES ? str.len - 2 : string_chars(str);
}

/* A message's text: a string, or the text of its parts of the given types (NULL-terminated
 * list), checked or measured into *size. */
static void message_text(struct walk *w, struct sl_json_span content, const char *param,
                         const char *const *types, enum text_op op, size_t *size)
{
    struct sl_json_iter it;
    struct sl_json_span part, text, type;
    char sub[SL_GUARD_PARAM_MAX];
    size_t j = 0, t;

    if (sl_json_type_of(content) == SL_JSON_STRING) {
        if (op == TEXT_CHECK)
            check_text(w, content, param);
        else
            *size += text_size(content, op);
        return;
    }
    sl_json_iter_init(&it, content); /* not an array: no elements */
    for (; sl_json_next_element(&it, &part); j++) {
        if (!sl_json_get(part, "type", &type) || !sl_json_get(part, "text", &text) ||
            sl_json_type_of(text) != SL_JSON_STRING)
            continue;
        for (t = 0; types[t] && !sl_json_str_eq(type, types[t], strlen(types[t])); t++)
            ;
        if (!types[t])
            continue;
        if (op != TEXT_CHECK) {
            *size += text_size(text, op);
            continue;
        }
        snprintf(sub, sizeof(sub), "%s[%zu].text", param, j);
        check_text(w, text, sub);
    }
}

/* max_message_chars first (code points counted only when the raw bytes, which are never
 * fewer, pass the limit), then the text itself. */
static void check_message(struct walk *w, struct sl_json_span content, const char *param,
                          const char *const *types)
{
    size_t bytes = 0, chars = 0;

    if (w->v->refused || w->err)
        return;
    if (w->p->max_message_chars) {
        message_text(w, content, param, types, TEXT_BYTES, &bytes);
        if (bytes > w->p->max_message_chars)
            message_text(w, content, param, types, TEXT_CHARS, &chars);
        if (chars > w->p->max_message_chars) {
            refuse(w, SL_GUARD_RULE_MAX_MESSAGE_CHARS, param);
            return;
        }
    }
    message_text(w, content, param, types, TEXT_CHECK, NULL);
}

static bool too_many(struct walk *w, size_t n, const char *param)
{
    if (w->p->max_messages && n > w->p->max_messages) {
        refuse(w, SL_GUARD_RULE_MAX_MESSAGES, param);
        return true;
    }
    return false;
}

/* The role a message names, as a bit of the policy's roles (0 for one it does not know),
 * and its content (p NULL when it has none): one pass over the message. */
static unsigned role_bit(struct sl_json_span msg, struct sl_json_span *content)
{
    static const char *const names[] = { "role", "content" };
    struct sl_json_span v[2], role;
    char name[16];
    size_t n;
    int r;

    sl_json_get_many(msg, names, v, 2);
    role = v[0];
    *content = v[1];
    if (!role.p || sl_json_type_of(role) != SL_JSON_STRING || role.len > sizeof(name) ||
        !sl_json_str_decode(role, name, sizeof(name), &n))
        return 0;
    if (strcmp(name, "function") == 0) /* the tool role's deprecated name */
        return 1u << SL_GUARD_ROLE_TOOL;
    r = sl_guard_role_from_name(name, n);
    return r < 0 ? 0 : 1u << r;
}

static void check_chat(struct walk *w, struct sl_json_span root)
{
    static const char *const types[] = { "text", NULL };
    unsigned roles = w->shape == SL_GUARD_SHAPE_API_CHAT ? 1u << SL_GUARD_ROLE_USER : w->p->roles;
    struct sl_json_span msgs, msg, content;
    struct sl_json_iter it;
    char param[SL_GUARD_PARAM_MAX];
    size_t i = 0, n;

    if (!sl_json_get(root, "messages", &msgs) || sl_json_type_of(msgs) != SL_JSON_ARRAY) {
        w->err = -EINVAL;
        return;
    }
    /* /api/chat's operator system prompt is not the client's message. */
    if (w->p->max_messages) {
        n = w->shape == SL_GUARD_SHAPE_API_CHAT ? 1 : sl_json_array_size(msgs);
        if (too_many(w, n, "messages"))
            return;
    }
    sl_json_iter_init(&it, msgs);
    for (; sl_json_next_element(&it, &msg) && !w->v->refused && !w->err; i++) {
        if (!(role_bit(msg, &content) & roles) || !content.p)
            continue;
        snprintf(param, sizeof(param), "messages[%zu].content", i);
        check_message(w, content, param, types);
    }
}

/* A Responses input: a string (the user's), or items; an item with a role is a message. */
static void check_responses(struct walk *w, struct sl_json_span root)
{
    static const char *const types[] = { "input_text", "output_text", NULL };
    unsigned sys = 1u << SL_GUARD_ROLE_SYSTEM | 1u << SL_GUARD_ROLE_DEVELOPER;
    struct sl_json_span input, item, content, instr, role;
    struct sl_json_iter it;
    char param[SL_GUARD_PARAM_MAX];
    size_t i = 0, n = 0;
    unsigned bit;

    if ((w->p->roles & sys) && sl_json_get(root, "instructions", &instr))
        check_message(w, instr, "instructions", types);
    if (!sl_json_get(root, "input", &input))
        return;
    if (sl_json_type_of(input) == SL_JSON_STRING) {
        if (!too_many(w, 1, "input") && (w->p->roles & 1u << SL_GUARD_ROLE_USER))
            check_message(w, input, "input", types);
        return;
    }
    sl_json_iter_init(&it, input);
    while (w->p->max_messages && sl_json_next_element(&it, &item))
        n += sl_json_get(item, "role", &role);
    if (too_many(w, n, "input"))
        return;
    sl_json_iter_init(&it, input);
    for (; sl_json_next_element(&it, &item) && !w->v->refused && !w->err; i++) {
        bit = role_bit(item, &content);
        if (!(bit & w->p->roles) || !content.p)
            continue;
        snprintf(param, sizeof(param), "input[%zu].content", i);
        check_message(w, content, param, types);
    }
}

/* Every string of input is a message; token arrays are not text. */
static void check_embeddings(struct walk *w, struct sl_json_span root)
{
    static const char *const none[] = { NULL };
    struct sl_json_span input, el;
    struct sl_json_iter it;
    char param[SL_GUARD_PARAM_MAX];
    size_t i = 0;

    if (!sl_json_get(root, "input", &input))
        return;
    if (sl_json_type_of(input) == SL_JSON_STRING) {
        if (!too_many(w, 1, "input"))
            check_message(w, input, "input", none);
        return;
    }
    if (w->p->max_messages && too_many(w, sl_json_array_size(input), "input"))
        return;
    sl_json_iter_init(&it, input);
    for (; sl_json_next_element(&it, &el) && !w->v->refused && !w->err; i++) {
        if (sl_json_type_of(el) != SL_JSON_STRING)
            continue;
        snprintf(param, sizeof(param), "input[%zu]", i);
        check_message(w, el, param, none);
    }
}

/* ---- the masked body ---- */

static int cmp_edit(const void *a, const void *b)
{
    const struct edit *x = a, *y = b;

    return x->from < y->from ? -1 : x->from > y->from;
}

static int apply_edits(struct walk *w, size_t len)
{
    struct sl_guard_verdict *v = w->v;
    size_t k, at = 0, o = 0, cap = len + 1, n;
    const char *mask;

    qsort(w->edits, w->nedits, sizeof(*w->edits), cmp_edit);
    for (k = 0; k < w->nedits; k++)
        cap += strlen(sl_guard_mask_text(w->edits[k].kind));
    if (!(v->body = malloc(cap)))
        return -ENOMEM;
    for (k = 0; k < w->nedits; k++) {
        mask = sl_guard_mask_text(w->edits[k].kind);
        n = strlen(mask);
        memcpy(v->body + o, w->body + at, w->edits[k].from - at);
        o += w->edits[k].from - at;
        memcpy(v->body + o, mask, n);
        o += n;
        at = w->edits[k].to;
        v->masked[w->edits[k].kind]++;
    }
    memcpy(v->body + o, w->body + at, len - at);
    o += len - at;
    v->body[o] = '\0';
    v->body_len = o;
    return 0;
}

int sl_guard_check(const struct sl_guard_policy *p, enum sl_guard_shape shape, const char *body,
                   size_t len, struct sl_guard_verdict *v)
{
    struct walk w = { .p = p, .shape = shape, .body = body, .v = v };
    struct sl_json_span root = { body, len };
    int rc;

    memset(v, 0, sizeof(*v));
    v->pattern = -1;
    if (shape == SL_GUARD_SHAPE_NONE)
        return 0;
    while (root.len && memchr(" \t\r\n", root.p[0], 4)) /* JSON's whitespace around the root */
        root.p++, root.len--;
    while (root.len && memchr(" \t\r\n", root.p[root.len - 1], 4))
        root.len--;
    if (sl_json_type_of(root) != SL_JSON_OBJECT)
        return -EINVAL;
    if (shape == SL_GUARD_SHAPE_API_CHAT || shape == SL_GUARD_SHAPE_CHAT)
        check_chat(&w, root);
    else if (shape == SL_GUARD_SHAPE_RESPONSES)
        check_responses(&w, root);
    else
        check_embeddings(&w, root);
    rc = w.err;
    if (!rc && !v->refused && w.nedits)
        rc = apply_edits(&w, len);
    free(w.text);
    free(w.found);
    free(w.edits);
    return rc;
}

void sl_guard_verdict_done(struct sl_guard_verdict *v)
{
    free(v->body);
    v->body = NULL;
}
