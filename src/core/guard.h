/* SPDX-License-Identifier: MIT */
/* guard.h - the input guard over one request body (SPEC §13): which of its fields are text a
 * policy checks, in what order the rules run, and the masked body when personal data is to
 * be replaced rather than refused.  Pure: no I/O; it allocates only scratch space and the
 * masked body.
 *
 * The body is the one that goes upstream, already validated by its route, so the fields are
 * where the route's shape says.  Text is checked decoded (a "\u003c" is a '<'); a masked span
 * is replaced in the raw JSON by its ASCII placeholder, which needs no escaping, and every
 * other byte of the body stays as it was.
 *
 * For each message, in body order: max_messages (once), then max_message_chars, then for each
 * of its text fields the markup and personal-data detectors in one pass, then each deny
 * pattern.  The first refusal ends the check.  Patterns run on the text as the client sent
 * it, so a pattern may refuse what masking would have replaced. */
#ifndef SL_GUARD_H
#define SL_GUARD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guard_detect.h"
#include "core/guard_policy.h"

/* Where a route's body holds the text the guard checks. */
enum sl_guard_shape {
    SL_GUARD_SHAPE_NONE,       /* nothing: the route sends no prompt */
    SL_GUARD_SHAPE_API_CHAT,   /* /api/chat's upstream body: the user's message only, whatever
                                * the policy's roles (the system prompt is the operator's) */
    SL_GUARD_SHAPE_CHAT,       /* /v1/chat/completions: the text of the checked roles' messages */
    SL_GUARD_SHAPE_RESPONSES,  /* /v1/responses: input (a string, or its items' text parts),
                                * and instructions when system or developer is checked */
    SL_GUARD_SHAPE_EMBEDDINGS, /* /v1/embeddings: input's strings (token arrays are not text) */
};

/* The rules a refusal names (and sluice_guard_rejections_total counts). */
enum sl_guard_rule {
    SL_GUARD_RULE_MAX_MESSAGES,
    SL_GUARD_RULE_MAX_MESSAGE_CHARS,
    SL_GUARD_RULE_DENY_PATTERNS,
    SL_GUARD_RULE_KIND, /* + enum sl_guard_kind: html ... iban */
    SL_GUARD_RULE_COUNT = SL_GUARD_RULE_KIND + SL_GUARD_KIND_COUNT
};

#define SL_GUARD_PARAM_MAX 64

struct sl_guard_verdict {
    bool refused;
    enum sl_guard_rule rule;        /* when refused */
    char param[SL_GUARD_PARAM_MAX]; /* the field, as OpenAI names parameters: "messages[2].content"
                                     */
    int pattern;                    /* the deny pattern that matched, or -1 */
    uint64_t limited;               /* bit i: pattern i hit a bound and counted as no match */
    unsigned masked[SL_GUARD_KIND_COUNT]; /* spans replaced, by kind */
    char *body; /* the masked body (malloc'd), NULL when nothing was masked */
    size_t body_len;
};

/* Check body against policy p.  0 with *v filled (v->refused, or v->body when masked);
 * -ENOMEM; -EINVAL when the body is not of the shape (a route's bug: callers refuse it).
 * Release v with sl_guard_verdict_done() either way. */
int sl_guard_check(const struct sl_guard_policy *p, enum sl_guard_shape shape, const char *body,
                   size_t len, struct sl_guard_verdict *v);
void sl_guard_verdict_done(struct sl_guard_verdict *v);

/* "max_messages", "max_message_chars", "deny_patterns", then the kinds' names. */
const char *sl_guard_rule_name(enum sl_guard_rule rule);
#endif /* SL_GUARD_H */
