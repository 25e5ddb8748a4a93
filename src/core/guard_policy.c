/* SPDX-License-Identifier: MIT */
/* guard_policy.c - one input-guard policy: its settings, parsed from the configuration's
 * text, and its deny patterns, compiled by PCRE2 and matched under bounds. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard_policy.h"

#include <setjmp.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/cpu_alarm.h"

#define MAX_COUNT 1000000000ULL /* max_message_chars, max_messages */
#define LIST_SEPS ", \t"

/* The bounds of one match, measured over 64 KiB texts (the default max_body_bytes) with the
 * worst patterns we could build: nested quantifiers ((a+)+$, (a|a)*b, (x+x+)+y, ^(\w+\s?)*$),
 * backreferences and lookaheads inside repeats.  Each ends within 3 ms of CPU under JIT and
 * 20 ms in the interpreter (what runs where the JIT cannot map executable memory), while
 * words, alternations, \d{3}-\d{4} and even .*word over one 64 KiB line stay far below them.
 * PCRE2 counts the match limit afresh at each start position, so it bounds backtracking, not
 * a pattern that does modest work at every position of a long text: that is the operator's
 * to avoid (etc/sluice.conf says so). */
#define MATCH_LIMIT 500000    /* backtracking steps from one start position */
#define DEPTH_LIMIT 10000     /* nested backtracking points (interpreter) */
#define HEAP_LIMIT_KIB 4096   /* the interpreter's backtracking frames */
#define JIT_STACK_START 32768 /* bytes */
#define JIT_STACK_MAX 524288  /* deeper JIT recursion ends in PCRE2_ERROR_JIT_STACKLIMIT */
#define COMPILE_OPTIONS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)
/* A match over a text this long runs under a CPU-time alarm of SL_GUARD_MATCH_CPU_MS: the
 * worst patterns measured take about 1 ms per KiB at every start position (with JIT), so a
 * shorter text stays far below the bound without paying for the timer's two system calls. */
#define SL_GUARD_WATCH_BYTES 4096
#define SL_GUARD_MATCH_CPU_MS 40

static const char *const role_names[SL_GUARD_ROLE_COUNT] = {
    [SL_GUARD_ROLE_USER] = "user",           [SL_GUARD_ROLE_SYSTEM] = "system",
    [SL_GUARD_ROLE_DEVELOPER] = "developer", [SL_GUARD_ROLE_ASSISTANT] = "assistant",
    [SL_GUARD_ROLE_TOOL] = "tool",
};

/* One word of a list: the bit it stands for, or -1 with why filled in. */
typedef int (*word_fn)(const char *s, size_t n, char *why, size_t why_sz);

/* ---- names ---- */

const char *sl_guard_role_name(enum sl_guard_role r)
{
    return (unsigned)r < SL_GUARD_ROLE_COUNT ? role_names[r] : "unknown";
}

int sl_guard_role_from_name(const char *s, size_t n)
{
    int r;

    for (r = 0; r < SL_GUARD_ROLE_COUNT; r++)
        if (strlen(role_names[r]) == n && memcmp(role_names[r], s, n) == 0)
            return r;
    return -1;
}

/* The kind named s[0, n) when it is one of the family's (bits), or -1. */
static int kind_in(unsigned family, const char *s, size_t n)
{
    int k = sl_guard_kind_from_name(s, n);

    return k >= 0 && (family & SL_GUARD_BIT(k)) ? k : -1;
}

/* s[0, n) cut to 40 bytes, anything unprintable as '?': it is the file's text. */
static const char *quoted(const char *s, size_t n, char out[48])
{
    size_t i;

    for (i = 0; i < n && i < 40; i++)
        out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    strcpy(out + i, n > 40 ? "..." : "");
    return out;
}

static int markup_word(const char *s, size_t n, char *why, size_t why_sz)
{
    int k = kind_in(SL_GUARD_MARKUP_KINDS, s, n);
    char q[48];

    if (k >= 0)
        return k;
    snprintf(why, why_sz, "unknown markup '%s' (one of html, md_image, md_link, md_code)%s",
             quoted(s, n, q),
             kind_in(SL_GUARD_PII_KINDS, s, n) >= 0 ? "; personal data goes in pii" : "");
    return -1;
}

static int pii_word(const char *s, size_t n, char *why, size_t why_sz)
{
    int k = kind_in(SL_GUARD_PII_KINDS, s, n);
    char q[48];

    if (k >= 0)
        return k;
    snprintf(why, why_sz, "unknown personal data '%s' (one of email, phone, card, ssn, iban)%s",
             quoted(s, n, q),
             kind_in(SL_GUARD_MARKUP_KINDS, s, n) >= 0 ? "; markup goes in deny_markup" : "");
    return -1;
}

static int role_word(const char *s, size_t n, char *why, size_t why_sz)
{
    int r = sl_guard_role_from_name(s, n);
    char q[48];

    if (r < 0)
        snprintf(why, why_sz, "unknown role '%s' (one of user, system, developer, assistant, tool)",
                 quoted(s, n, q));
    return r;
}

/* ---- values ---- */

static int parse_count(const char *v, uint64_t *out, char *why, size_t why_sz)
{
    size_t i, n = strlen(v);
    uint64_t x = 0;
    char q[48];

    if (n == 0) {
        snprintf(why, why_sz, "missing value");
        return -EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            snprintf(why, why_sz, "not a decimal integer: '%s'", quoted(v, n, q));
            return -EINVAL;
        }
        if (x <= MAX_COUNT) /* past it, stop growing: the value is out of range anyway */
            x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > MAX_COUNT) {
        snprintf(why, why_sz, "%s is out of range 0..%llu", quoted(v, n, q), MAX_COUNT);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

/* Separators between two words: blanks and at most one comma. */
static bool bad_separators(const char *s, size_t n, bool edge)
{
    size_t i, commas = 0;

    for (i = 0; i < n; i++)
        commas += s[i] == ',';
    return edge ? commas > 0 : commas > 1;
}

/* A comma- or blank-separated list of words, each one bit; none twice. */
static int parse_list(const char *v, word_fn word, unsigned *out, char *why, size_t why_sz)
{
    unsigned bits = 0;
    const char *p = v;
    size_t gap, n;
    char q[48];
    int b;

    for (;;) {
        gap = strspn(p, LIST_SEPS);
        n = strcspn(p + gap, LIST_SEPS);
        if (bad_separators(p, gap, p == v || n == 0)) {
            snprintf(why, why_sz, "empty item in the list");
            return -EINVAL;
        }
        p += gap;
        if (n == 0)
            break;
        if ((b = word(p, n, why, why_sz)) < 0)
            return -EINVAL;
        if (bits & (1u << b)) {
            snprintf(why, why_sz, "'%s' is listed twice", quoted(p, n, q));
            return -EINVAL;
        }
        bits |= 1u << b;
        p += n;
    }
    *out = bits;
    return 0;
}

static int action_word(const char *s, size_t n, enum sl_guard_action *out)
{
    if (n == 6 && memcmp(s, "reject", 6) == 0)
        *out = SL_GUARD_ACTION_REJECT;
    else if (n == 4 && memcmp(s, "mask", 4) == 0)
        *out = SL_GUARD_ACTION_MASK;
    else
        return -1;
    return 0;
}

/* One word of pii_action: an action for every kind, or KIND:ACTION for one. */
static int action_item(const char *s, size_t n, enum sl_guard_action *all, bool *have_all,
                       unsigned *set, unsigned *masked, char *why, size_t why_sz)
{
    const char *colon = memchr(s, ':', n);
    enum sl_guard_action a;
    char q[48];
    int k;

    if (!colon) {
        if (*have_all || action_word(s, n, all) < 0) {
            snprintf(why, why_sz, "%s '%s': expected reject or mask, then KIND:ACTION overrides",
                     *have_all ? "a second action" : "unknown action", quoted(s, n, q));
            return -EINVAL;
        }
        *have_all = true;
        return 0;
    }
    if ((k = pii_word(s, (size_t)(colon - s), why, why_sz)) < 0)
        return -EINVAL;
    if (action_word(colon + 1, n - (size_t)(colon - s) - 1, &a) < 0 || (*set & (1u << k))) {
        snprintf(why, why_sz, "'%s': %s", quoted(s, n, q),
                 *set & (1u << k) ? "that kind has an action already"
                                  : "expected KIND:reject or KIND:mask");
        return -EINVAL;
    }
    *set |= 1u << k;
    if (a == SL_GUARD_ACTION_MASK)
        *masked |= 1u << k;
    return 0;
}

/* "reject" or "mask", then KIND:ACTION overrides ("mask, card:reject"): the kinds masked. */
static int parse_action(const char *v, struct sl_guard_policy *p, char *why, size_t why_sz)
{
    enum sl_guard_action all = SL_GUARD_ACTION_REJECT;
    unsigned set = 0, masked = 0;
    bool have_all = false;
    const char *at = v;
    size_t gap, n;

    for (;;) {
        gap = strspn(at, LIST_SEPS);
        n = strcspn(at + gap, LIST_SEPS);
        if (bad_separators(at, gap, at == v || n == 0)) {
            snprintf(why, why_sz, "empty item in the list");
            return -EINVAL;
        }
        at += gap;
        if (n == 0)
            break;
        if (action_item(at, n, &all, &have_all, &set, &masked, why, why_sz) < 0)
            return -EINVAL;
        at += n;
    }
    if (!have_all && !set) {
        snprintf(why, why_sz, "missing value: reject or mask");
        return -EINVAL;
    }
    p->pii_action = all;
    p->pii_masked = masked | (all == SL_GUARD_ACTION_MASK ? SL_GUARD_PII_KINDS & ~set : 0);
    return 0;
}

static int parse_roles(const char *v, unsigned *out, char *why, size_t why_sz)
{
    unsigned roles;

    if (parse_list(v, role_word, &roles, why, why_sz) < 0)
        return -EINVAL;
    if (roles == 0) {
        snprintf(why, why_sz,
                 "at least one role is needed (user, system, developer, assistant, tool)");
        return -EINVAL;
    }
    *out = roles;
    return 0;
}

int sl_guard_policy_set(struct sl_guard_policy *p, const char *key, const char *value, char *why,
                        size_t why_sz)
{
    if (strcmp(key, "max_message_chars") == 0)
        return parse_count(value, &p->max_message_chars, why, why_sz);
    if (strcmp(key, "max_messages") == 0)
        return parse_count(value, &p->max_messages, why, why_sz);
    if (strcmp(key, "deny_markup") == 0)
        return parse_list(value, markup_word, &p->markup, why, why_sz);
    if (strcmp(key, "pii") == 0)
        return parse_list(value, pii_word, &p->pii, why, why_sz);
    if (strcmp(key, "pii_action") == 0)
        return parse_action(value, p, why, why_sz);
    if (strcmp(key, "roles") == 0)
        return parse_roles(value, &p->roles, why, why_sz);
    snprintf(why, why_sz, "unknown key");
    return -ENOENT;
}

bool sl_guard_policy_empty(const struct sl_guard_policy *p)
{
    return p->max_message_chars == 0 && p->max_messages == 0 && p->markup == 0 && p->pii == 0 &&
           p->npatterns == 0;
}

/* ---- patterns ---- */

/* The match context with its bounds, the JIT stack it hands out, and the one match data:
 * made with the first pattern, so a policy without patterns costs PCRE2 nothing. */
static int make_matcher(struct sl_guard_policy *p)
{
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_jit_stack *js = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);

    if (!mc || !md) {
        pcre2_match_context_free(mc);
        pcre2_jit_stack_free(js);
        pcre2_match_data_free(md);
        return -ENOMEM;
    }
    pcre2_set_match_limit(mc, MATCH_LIMIT);
    pcre2_set_depth_limit(mc, DEPTH_LIMIT);
    pcre2_set_heap_limit(mc, HEAP_LIMIT_KIB);
    /* Without a JIT stack of our own (no JIT support, or no memory for it) the JIT uses 32
     * KiB of the machine stack, which is bounded as well. */
    pcre2_jit_stack_assign(mc, NULL, js);
    p->match_context = mc;
    p->jit_stack = js;
    p->match_data = md;
    return 0;
}

static int compile(const char *source, size_t len, pcre2_code **out, char *why, size_t why_sz)
{
    PCRE2_UCHAR msg[160];
    PCRE2_SIZE offset;
    int err;

    *out = pcre2_compile((PCRE2_SPTR)source, len, COMPILE_OPTIONS, &err, &offset, NULL);
    if (*out)
        return 0;
    if (err == PCRE2_ERROR_HEAP_FAILED)
        return -ENOMEM;
    if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0)
        snprintf((char *)msg, sizeof(msg), "error %d", err);
    snprintf(why, why_sz, "%s at offset %zu", (const char *)msg, (size_t)offset);
    return -EINVAL;
}

static int check_source(const struct sl_guard_policy *p, size_t len, char *why, size_t why_sz)
{
    if (p->npatterns == SL_GUARD_MAX_PATTERNS) {
        snprintf(why, why_sz, "too many patterns (max %d per policy)", SL_GUARD_MAX_PATTERNS);
        return -E2BIG;
    }
    if (len > SL_GUARD_PATTERN_MAX) {
        snprintf(why, why_sz, "pattern too long: %zu bytes (max %d)", len, SL_GUARD_PATTERN_MAX);
        return -E2BIG;
    }
    if (len == 0) {
        snprintf(why, why_sz, "an empty pattern would match every text");
        return -EINVAL;
    }
    return 0;
}

static int append(struct sl_guard_policy *p, const char *source, int line, pcre2_code *code)
{
    struct sl_guard_pattern *t = realloc(p->patterns, (p->npatterns + 1) * sizeof(*t));
    char *copy;

    if (!t)
        return -ENOMEM;
    p->patterns = t;
    if (!p->match_context && make_matcher(p) < 0)
        return -ENOMEM;
    if (!(copy = strdup(source)))
        return -ENOMEM;
    p->patterns[p->npatterns++] = (struct sl_guard_pattern){ copy, line, code };
    return 0;
}

int sl_guard_policy_add_pattern(struct sl_guard_policy *p, const char *source, int line, char *why,
                                size_t why_sz)
{
    size_t len = strlen(source);
    pcre2_code *code;
    int r;

    if ((r = check_source(p, len, why, why_sz)) < 0 ||
        (r = compile(source, len, &code, why, why_sz)) < 0)
        return r;
    /* Failing to JIT is fine: the interpreter runs under the same bounds. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    if ((r = append(p, source, line, code)) < 0)
        pcre2_code_free(code);
    return r;
}

static bool jitted(const pcre2_code *code)
{
    size_t size = 0;

    return pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &size) == 0 && size > 0;
}

static int run_match(const struct sl_guard_policy *p, pcre2_code *code, PCRE2_SPTR subject,
                     size_t len)
{
    if (jitted(code))
        return pcre2_jit_match(code, subject, len, 0, 0, p->match_data, p->match_context);
    return pcre2_match(code, subject, len, 0, 0, p->match_data, p->match_context);
}

/* PCRE2's limits count from each start position afresh: on a long text a CPU-time alarm
 * bounds the whole match (cpu_alarm.h), and its end reads as a limit. */
static int run_watched(const struct sl_guard_policy *p, pcre2_code *code, PCRE2_SPTR subject,
                       size_t len)
{
    sigjmp_buf cut_off;
    int rc;

    if (sigsetjmp(cut_off, 0))
        return PCRE2_ERROR_MATCHLIMIT;
    if (!sl_cpu_alarm_arm(&cut_off, SL_GUARD_MATCH_CPU_MS))
        return run_match(p, code, subject, len);
    rc = run_match(p, code, subject, len);
    sl_cpu_alarm_disarm();
    return rc;
}

enum sl_guard_match sl_guard_pattern_match(const struct sl_guard_policy *p, size_t i,
                                           const char *text, size_t len)
{
    PCRE2_SPTR subject = (PCRE2_SPTR)(text ? text : "");
    pcre2_code *code;
    int rc;

    if (i >= p->npatterns)
        return SL_GUARD_NO_MATCH;
    code = p->patterns[i].code;
    rc = len >= SL_GUARD_WATCH_BYTES ? run_watched(p, code, subject, len)
                                     : run_match(p, code, subject, len);
    /* 0 is a match whose groups did not fit the one-pair ovector. */
    if (rc >= 0)
        return SL_GUARD_MATCHED;
    return rc == PCRE2_ERROR_NOMATCH ? SL_GUARD_NO_MATCH : SL_GUARD_LIMIT;
}

/* ---- life ---- */

struct sl_guard_policy *sl_guard_policy_new(const char *name)
{
    struct sl_guard_policy *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->pii_action = SL_GUARD_ACTION_REJECT;
    p->roles = 1u << SL_GUARD_ROLE_USER;
    return p;
}

void sl_guard_policy_free(struct sl_guard_policy *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; i < p->npatterns; i++) {
        pcre2_code_free(p->patterns[i].code);
        free(p->patterns[i].source);
    }
    free(p->patterns);
    pcre2_match_data_free(p->match_data);
    pcre2_match_context_free(p->match_context);
    pcre2_jit_stack_free(p->jit_stack);
    free(p);
}
