/* SPDX-License-Identifier: MIT */
/* guard_policy.h - one input-guard policy (SPEC §13), a [guard] or [guard.NAME] section: its
 * limits, the built-in detectors it uses, and its deny patterns compiled once with PCRE2 (JIT
 * where available).  Pure apart from PCRE2's own allocations; built by the configuration
 * reader, immutable afterwards except for the match data a worker reuses, one text at a time.
 *
 * A pattern's match is bounded (match, depth and heap limits, and the JIT stack): the worst
 * pattern over the largest body the server accepts ends in well under 50 ms of CPU, and a
 * bound that ends a match counts as no match (SL_GUARD_LIMIT), never a hang. */
#ifndef SL_GUARD_POLICY_H
#define SL_GUARD_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guard_detect.h"

#define SL_GUARD_NAME_MAX 64       /* [guard.NAME]: 1-63 of [A-Za-z0-9_.-], not none or default */
#define SL_GUARD_DEFAULT "default" /* the policy of [guard], as metrics and logs name it */
#define SL_GUARD_NONE "none"       /* a tenant's guard = none: no policy */
#define SL_GUARD_MAX_POLICIES 64
#define SL_GUARD_MAX_PATTERNS 64  /* deny_patterns per policy */
#define SL_GUARD_PATTERN_MAX 1024 /* bytes of one pattern */

enum sl_guard_role {
    SL_GUARD_ROLE_USER,
    SL_GUARD_ROLE_SYSTEM,
    SL_GUARD_ROLE_DEVELOPER,
    SL_GUARD_ROLE_ASSISTANT,
    SL_GUARD_ROLE_TOOL,
    SL_GUARD_ROLE_COUNT
};

enum sl_guard_action { SL_GUARD_ACTION_REJECT, SL_GUARD_ACTION_MASK };

struct sl_guard_pattern {
    char *source; /* as the file wrote it: for errors and logs (it is never a client's text) */
    int line;     /* where in the file */
    void *code;   /* pcre2_code (8-bit, UTF), JIT-compiled where available */
};

struct sl_guard_policy {
    char name[SL_GUARD_NAME_MAX];             /* SL_GUARD_DEFAULT for [guard] */
    uint64_t max_message_chars, max_messages; /* 0 = no limit */
    unsigned markup;                          /* SL_GUARD_BIT() of markup kinds denied */
    unsigned pii;                             /* SL_GUARD_BIT() of personal-data kinds */
    enum sl_guard_action pii_action;          /* pii_action's first word: reject (default) or
                                               * mask, for the kinds it does not name */
    unsigned pii_masked;                      /* SL_GUARD_BIT() of the kinds masked, after the
                                               * KIND:ACTION overrides; the others refuse */
    unsigned roles;                           /* 1u << enum sl_guard_role; default user */
    struct sl_guard_pattern *patterns;
    size_t npatterns;
    void *match_context; /* pcre2_match_context: the limits */
    void *jit_stack;     /* pcre2_jit_stack the context hands JIT code: bounded too */
    void *match_data;    /* pcre2_match_data, reused by the one thread of a worker */
};

/* A policy with the defaults (no rules, reject, roles = user).  NULL on OOM. */
struct sl_guard_policy *sl_guard_policy_new(const char *name);
/* NULL-safe. */
void sl_guard_policy_free(struct sl_guard_policy *p);

/* One key of the section: max_message_chars, max_messages, deny_markup, pii, pii_action
 * ("reject" or "mask", then KIND:ACTION overrides: "mask, card:reject"), roles (deny_patterns goes
 * through sl_guard_policy_add_pattern).  0; -EINVAL with why (why_sz bytes) naming the problem;
 * -ENOENT for a key the section does not have. */
int sl_guard_policy_set(struct sl_guard_policy *p, const char *key, const char *value, char *why,
                        size_t why_sz);
/* Compile one deny pattern.  0; -EINVAL with PCRE2's message and offset in why; -E2BIG past
 * SL_GUARD_MAX_PATTERNS or SL_GUARD_PATTERN_MAX; -ENOMEM. */
int sl_guard_policy_add_pattern(struct sl_guard_policy *p, const char *source, int line, char *why,
                                size_t why_sz);
/* Does the policy check anything at all?  An empty one is a configuration error. */
bool sl_guard_policy_empty(const struct sl_guard_policy *p);

enum sl_guard_match { SL_GUARD_NO_MATCH, SL_GUARD_MATCHED, SL_GUARD_LIMIT };
/* Does pattern i match anywhere in text[0, len) (UTF-8; invalid sequences never match)?
 * SL_GUARD_LIMIT when a bound ended the match first. */
enum sl_guard_match sl_guard_pattern_match(const struct sl_guard_policy *p, size_t i,
                                           const char *text, size_t len);

/* "user", "system", "developer", "assistant", "tool". */
const char *sl_guard_role_name(enum sl_guard_role r);
/* The role named s[0, n), or -1. */
int sl_guard_role_from_name(const char *s, size_t n);
#endif /* SL_GUARD_POLICY_H */
