/* SPDX-License-Identifier: MIT */
/* test_guard_policy.c - one guard policy: its settings, its deny patterns' compile errors and
 * matching, and the bounds that end a pathological pattern over the largest default body. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/guard_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pcre2.h>

#define BODY_BYTES 65536 /* [server] max_body_bytes by default */
#define WHY 256

static struct sl_guard_policy *policy(void)
{
    struct sl_guard_policy *p = sl_guard_policy_new("t");

    cr_assert_not_null(p);
    return p;
}

/* A policy holding the one pattern src, which must compile. */
static struct sl_guard_policy *with_pattern(const char *src)
{
    struct sl_guard_policy *p = policy();
    char why[WHY] = "";

    cr_assert_eq(sl_guard_policy_add_pattern(p, src, 7, why, sizeof(why)), 0, "%s: %s", src, why);
    return p;
}

/* BODY_BYTES of unit repeated, tail at the very end; caller frees. */
static char *body(const char *unit, const char *tail)
{
    size_t m = strlen(unit), t = strlen(tail), i;
    char *s = malloc(BODY_BYTES + 1);

    cr_assert_not_null(s);
    for (i = 0; i < BODY_BYTES; i++)
        s[i] = unit[i % m];
    memcpy(s + BODY_BYTES - t, tail, t);
    s[BODY_BYTES] = '\0';
    return s;
}

/* ---- defaults ---- */

Test(guard_policy, new_has_the_defaults_and_is_empty)
{
    struct sl_guard_policy *p = sl_guard_policy_new("strict.v2");

    cr_assert_not_null(p);
    cr_assert_str_eq(p->name, "strict.v2");
    cr_assert_eq(p->max_message_chars, 0);
    cr_assert_eq(p->max_messages, 0);
    cr_assert_eq(p->markup, 0);
    cr_assert_eq(p->pii, 0);
    cr_assert_eq(p->pii_action, SL_GUARD_ACTION_REJECT);
    cr_assert_eq(p->roles, 1u << SL_GUARD_ROLE_USER);
    cr_assert_eq(p->npatterns, 0);
    cr_assert(sl_guard_policy_empty(p));
    sl_guard_policy_free(p);
    sl_guard_policy_free(NULL);
}

/* ---- good values ---- */

struct good_case {
    char key[24];
    char value[96];
    uint64_t chars, messages;
    unsigned markup, pii, roles;
    enum sl_guard_action action;
    bool empty; /* the policy checks nothing after it */
};

#define B(k) SL_GUARD_BIT(SL_GUARD_##k)
#define R(r) (1u << SL_GUARD_ROLE_##r)
#define USER R(USER)

ParameterizedTestParameters(guard_policy, good_value)
{
    static struct good_case cases[] = {
        { "max_message_chars", "0", 0, 0, 0, 0, USER, 0, true },
        { "max_message_chars", "4000", 4000, 0, 0, 0, USER, 0, false },
        { "max_message_chars", "1000000000", 1000000000, 0, 0, 0, USER, 0, false },
        { "max_messages", "50", 0, 50, 0, 0, USER, 0, false },
        { "max_messages", "007", 0, 7, 0, 0, USER, 0, false },
        { "deny_markup", "", 0, 0, 0, 0, USER, 0, true },
        { "deny_markup", "html", 0, 0, B(HTML), 0, USER, 0, false },
        { "deny_markup", "html, md_image,md_link  md_code", 0, 0, SL_GUARD_MARKUP_KINDS, 0, USER, 0,
          false },
        { "deny_markup", "md_code\tmd_link", 0, 0, B(MD_CODE) | B(MD_LINK), 0, USER, 0, false },
        { "pii", "email", 0, 0, 0, B(EMAIL), USER, 0, false },
        { "pii", "email,phone,card,ssn,iban", 0, 0, 0, SL_GUARD_PII_KINDS, USER, 0, false },
        { "pii", "iban ssn", 0, 0, 0, B(IBAN) | B(SSN), USER, 0, false },
        { "pii_action", "mask", 0, 0, 0, 0, USER, SL_GUARD_ACTION_MASK, true },
        { "pii_action", "reject", 0, 0, 0, 0, USER, SL_GUARD_ACTION_REJECT, true },
        { "roles", "system", 0, 0, 0, 0, R(SYSTEM), 0, true },
        { "roles", "user, system, developer, assistant, tool", 0, 0, 0, 0,
          R(USER) | R(SYSTEM) | R(DEVELOPER) | R(ASSISTANT) | R(TOOL), 0, true },
        { "roles", "tool developer", 0, 0, 0, 0, R(TOOL) | R(DEVELOPER), 0, true },
    };
    return cr_make_param_array(struct good_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct good_case *gc, guard_policy, good_value)
{
    struct sl_guard_policy *p = policy();
    char why[WHY] = "";

    cr_assert_eq(sl_guard_policy_set(p, gc->key, gc->value, why, sizeof(why)), 0, "%s = %s: %s",
                 gc->key, gc->value, why);
    cr_assert_eq(p->max_message_chars, gc->chars);
    cr_assert_eq(p->max_messages, gc->messages);
    cr_assert_eq(p->markup, gc->markup, "%s = %s: %#x", gc->key, gc->value, p->markup);
    cr_assert_eq(p->pii, gc->pii, "%s = %s: %#x", gc->key, gc->value, p->pii);
    cr_assert_eq(p->roles, gc->roles, "%s = %s: %#x", gc->key, gc->value, p->roles);
    cr_assert_eq(p->pii_action, gc->action);
    cr_assert_eq(sl_guard_policy_empty(p), gc->empty);
    sl_guard_policy_free(p);
}

/* ---- bad values ---- */

struct bad_case {
    char key[24];
    char value[96];
    int rc;
    char why[128]; /* the whole text */
};

ParameterizedTestParameters(guard_policy, bad_value)
{
    static struct bad_case cases[] = {
        { "max_message_chars", "", -EINVAL, "missing value" },
        { "max_message_chars", "-1", -EINVAL, "not a decimal integer: '-1'" },
        { "max_message_chars", "+5", -EINVAL, "not a decimal integer: '+5'" },
        { "max_message_chars", "4k", -EINVAL, "not a decimal integer: '4k'" },
        { "max_message_chars", "1000000001", -EINVAL, "1000000001 is out of range 0..1000000000" },
        { "max_messages", "99999999999999999999999", -EINVAL,
          "99999999999999999999999 is out of range 0..1000000000" },
        { "max_messages", "1 2", -EINVAL, "not a decimal integer: '1 2'" },
        { "deny_markup", "xml", -EINVAL,
          "unknown markup 'xml' (one of html, md_image, md_link, md_code)" },
        { "deny_markup", "html,email", -EINVAL,
          "unknown markup 'email' (one of html, md_image, md_link, md_code); personal data goes "
          "in pii" },
        { "deny_markup", "HTML", -EINVAL,
          "unknown markup 'HTML' (one of html, md_image, md_link, md_code)" },
        { "deny_markup", "html html", -EINVAL, "'html' is listed twice" },
        { "deny_markup", "html,,md_code", -EINVAL, "empty item in the list" },
        { "deny_markup", ",html", -EINVAL, "empty item in the list" },
        { "deny_markup", "html ,", -EINVAL, "empty item in the list" },
        { "pii", "passport", -EINVAL,
          "unknown personal data 'passport' (one of email, phone, card, ssn, iban)" },
        { "pii", "md_link", -EINVAL,
          "unknown personal data 'md_link' (one of email, phone, card, ssn, iban); markup goes "
          "in deny_markup" },
        { "pii", "card, card", -EINVAL, "'card' is listed twice" },
        { "pii_action", "drop", -EINVAL,
          "unknown action 'drop': expected reject or mask, then KIND:ACTION overrides" },
        { "pii_action", "", -EINVAL, "missing value: reject or mask" },
        { "pii_action", "Mask", -EINVAL,
          "unknown action 'Mask': expected reject or mask, then KIND:ACTION overrides" },
        { "roles", "", -EINVAL,
          "at least one role is needed (user, system, developer, assistant, tool)" },
        { "roles", " , ", -EINVAL, "empty item in the list" },
        { "roles", "user,admin", -EINVAL,
          "unknown role 'admin' (one of user, system, developer, assistant, tool)" },
        { "roles", "user user", -EINVAL, "'user' is listed twice" },
        { "deny_patterns", "x", -ENOENT, "unknown key" },
        { "max_chars", "1", -ENOENT, "unknown key" },
    };
    return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* A refused value says why and leaves the policy as it was. */
ParameterizedTest(struct bad_case *bc, guard_policy, bad_value)
{
    struct sl_guard_policy *p = policy();
    char why[WHY] = "";

    cr_assert_eq(sl_guard_policy_set(p, bc->key, bc->value, why, sizeof(why)), bc->rc, "%s = %s",
                 bc->key, bc->value);
    cr_assert_str_eq(why, bc->why);
    cr_assert(sl_guard_policy_empty(p));
    cr_assert_eq(p->roles, USER);
    cr_assert_eq(p->pii_action, SL_GUARD_ACTION_REJECT);
    sl_guard_policy_free(p);
}

Test(guard_policy, why_is_cut_to_its_size)
{
    struct sl_guard_policy *p = policy();
    char why[12];

    cr_assert_eq(sl_guard_policy_set(p, "roles", "user,admin", why, sizeof(why)), -EINVAL);
    cr_assert_str_eq(why, "unknown rol");
    sl_guard_policy_free(p);
}

Test(guard_policy, a_list_quotes_only_printable_text)
{
    struct sl_guard_policy *p = policy();
    char why[WHY];

    cr_assert_eq(sl_guard_policy_set(p, "pii", "\x1b[31m", why, sizeof(why)), -EINVAL);
    cr_assert_str_eq(why, "unknown personal data '?[31m' (one of email, phone, card, ssn, iban)");
    sl_guard_policy_free(p);
}

/* ---- pattern compile errors ---- */

struct compile_case {
    char pattern[320];
    int rc;
    char why[128];
};

ParameterizedTestParameters(guard_policy, compile_error)
{
    static struct compile_case cases[] = {
        { "(", -EINVAL, "missing closing parenthesis at offset 1" },
        { "ignore (all", -EINVAL, "missing closing parenthesis at offset 11" },
        { "a{2,1}", -EINVAL, "numbers out of order in {} quantifier at offset 5" },
        { "[z-a]", -EINVAL, "range out of order in character class at offset 3" },
        { "\\", -EINVAL, "\\ at end of pattern at offset 1" },
        { "*a", -EINVAL, "quantifier does not follow a repeatable item at offset 0" },
        { "(?<=a+)b", -EINVAL, "lookbehind assertion is not fixed length at offset 0" },
        { "\xff", -EINVAL, "UTF-8 error: illegal byte (0xfe or 0xff) at offset 0" },
        { "caf\xc3", -EINVAL, "UTF-8 error: 1 byte missing at end at offset 3" },
        { "", -EINVAL, "an empty pattern would match every text" },
    };
    return cr_make_param_array(struct compile_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct compile_case *cc, guard_policy, compile_error)
{
    struct sl_guard_policy *p = policy();
    char why[WHY] = "";

    cr_assert_eq(sl_guard_policy_add_pattern(p, cc->pattern, 3, why, sizeof(why)), cc->rc);
    cr_assert_str_eq(why, cc->why);
    cr_assert_eq(p->npatterns, 0);
    cr_assert(sl_guard_policy_empty(p));
    sl_guard_policy_free(p);
}

Test(guard_policy, pattern_size_and_count_are_bounded)
{
    struct sl_guard_policy *p = policy();
    char src[SL_GUARD_PATTERN_MAX + 2], why[WHY] = "";
    int i;

    memset(src, 'a', sizeof(src) - 1);
    src[sizeof(src) - 1] = '\0';
    cr_assert_eq(sl_guard_policy_add_pattern(p, src, 1, why, sizeof(why)), -E2BIG);
    cr_assert_str_eq(why, "pattern too long: 1025 bytes (max 1024)");
    src[SL_GUARD_PATTERN_MAX] = '\0';
    for (i = 0; i < SL_GUARD_MAX_PATTERNS; i++)
        cr_assert_eq(sl_guard_policy_add_pattern(p, src, i + 1, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(sl_guard_policy_add_pattern(p, "b", 99, why, sizeof(why)), -E2BIG);
    cr_assert_str_eq(why, "too many patterns (max 64 per policy)");
    cr_assert_eq(p->npatterns, SL_GUARD_MAX_PATTERNS);
    cr_assert_eq(p->patterns[63].line, 64);
    sl_guard_policy_free(p);
}

Test(guard_policy, a_pattern_keeps_its_source_and_line)
{
    struct sl_guard_policy *p = policy();
    char why[WHY];

    cr_assert_eq(sl_guard_policy_add_pattern(p, "(?i)secret", 12, why, sizeof(why)), 0);
    cr_assert_eq(sl_guard_policy_add_pattern(p, "\\d{4}", 13, why, sizeof(why)), 0);
    cr_assert_eq(p->npatterns, 2);
    cr_assert_str_eq(p->patterns[0].source, "(?i)secret");
    cr_assert_eq(p->patterns[1].line, 13);
    cr_assert_not_null(p->patterns[1].code);
    cr_assert_not_null(p->match_context);
    cr_assert_not_null(p->match_data);
    cr_assert_not(sl_guard_policy_empty(p));
    sl_guard_policy_free(p);
}

/* ---- matching ---- */

struct match_case {
    char pattern[64];
    char text[64];
    size_t len; /* 0: strlen(text) */
    enum sl_guard_match want;
};

ParameterizedTestParameters(guard_policy, match)
{
    static struct match_case cases[] = {
        { "secret", "the secret is out", 0, SL_GUARD_MATCHED },
        { "secret", "the Secret is out", 0, SL_GUARD_NO_MATCH }, /* case-sensitive */
        { "(?i)secret", "the SeCrEt is out", 0, SL_GUARD_MATCHED },
        { "(?i)ignore (all|previous) instructions", "Please IGNORE ALL instructions", 0,
          SL_GUARD_MATCHED },
        { "(?i)ignore (all|previous) instructions", "ignore the instructions", 0,
          SL_GUARD_NO_MATCH },
        { "\\b(secret|password)\\b", "my password: x", 0, SL_GUARD_MATCHED }, /* groups */
        { "\\b(secret|password)\\b", "passwords", 0, SL_GUARD_NO_MATCH },
        { "\\d{3}-\\d{4}", "call 555-1234 now", 0, SL_GUARD_MATCHED },
        { "\\d{3}-\\d{4}", "call 55-1234 now", 0, SL_GUARD_NO_MATCH },
        { "^hello$", "hello", 0, SL_GUARD_MATCHED },
        { "^world", "hello\nworld", 0, SL_GUARD_NO_MATCH }, /* ^ is the text's start */
        { "(?m)^world", "hello\nworld", 0, SL_GUARD_MATCHED },
        /* UTF-8: code points, not bytes; astral ones included. */
        { "^.$", "\xc3\xa9", 0, SL_GUARD_MATCHED },
        { "^.$", "\xf0\x9f\x98\x80", 0, SL_GUARD_MATCHED },
        { "\\x{1F600}", "smile \xf0\x9f\x98\x80!", 0, SL_GUARD_MATCHED },
        { "(?i)\xc3\xa9t\xc3\xa9", "\xc3\x89T\xc3\x89", 0, SL_GUARD_MATCHED },
        { "\\p{Han}", "\xe4\xb8\xad", 0, SL_GUARD_MATCHED },
        /* Invalid UTF-8 never matches, and is no error: the valid parts still can. */
        { ".", "\xff\xfe", 0, SL_GUARD_NO_MATCH },
        { "^.$", "\xc3", 0, SL_GUARD_NO_MATCH },
        { "\\x{FF}", "\xff", 0, SL_GUARD_NO_MATCH },
        { ".", "\xed\xa0\x80", 0, SL_GUARD_NO_MATCH }, /* a surrogate */
        { "secret", "\xff\xfesecret\xc0", 0, SL_GUARD_MATCHED },
        { "^secret", "\xffsecret", 0, SL_GUARD_NO_MATCH },
        /* The text is len bytes, NUL bytes included. */
        { "b", "a\0b", 3, SL_GUARD_MATCHED },
        { "a\\x00b", "a\0b", 3, SL_GUARD_MATCHED },
        { "secret", "", 0, SL_GUARD_NO_MATCH },
        { "^$", "", 0, SL_GUARD_MATCHED },
    };
    return cr_make_param_array(struct match_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct match_case *mc, guard_policy, match)
{
    struct sl_guard_policy *p = with_pattern(mc->pattern);
    size_t len = mc->len ? mc->len : strlen(mc->text);

    cr_assert_eq(sl_guard_pattern_match(p, 0, mc->text, len), mc->want, "/%s/ on '%s'", mc->pattern,
                 mc->text);
    /* The match data is reused: a second look gives the same answer. */
    cr_assert_eq(sl_guard_pattern_match(p, 0, mc->text, len), mc->want);
    sl_guard_policy_free(p);
}

Test(guard_policy, each_pattern_is_matched_on_its_own)
{
    struct sl_guard_policy *p = with_pattern("alpha");
    char why[WHY];

    cr_assert_eq(sl_guard_policy_add_pattern(p, "(?i)beta", 8, why, sizeof(why)), 0);
    cr_assert_eq(sl_guard_pattern_match(p, 0, "BETA", 4), SL_GUARD_NO_MATCH);
    cr_assert_eq(sl_guard_pattern_match(p, 1, "BETA", 4), SL_GUARD_MATCHED);
    cr_assert_eq(sl_guard_pattern_match(p, 2, "BETA", 4), SL_GUARD_NO_MATCH);
    cr_assert_eq(sl_guard_pattern_match(p, 0, NULL, 0), SL_GUARD_NO_MATCH);
    sl_guard_policy_free(p);
}

/* ---- bounds ---- */

/* The interpreter under the policy's own bounds, as where the JIT cannot be used. */
static enum sl_guard_match interpreted(const struct sl_guard_policy *p, const char *text,
                                       size_t len)
{
    int rc = pcre2_match(p->patterns[0].code, (PCRE2_SPTR)text, len, 0, PCRE2_NO_JIT, p->match_data,
                         p->match_context);

    return rc >= 0                     ? SL_GUARD_MATCHED
           : rc == PCRE2_ERROR_NOMATCH ? SL_GUARD_NO_MATCH
                                       : SL_GUARD_LIMIT;
}

struct bound_case {
    char pattern[48];
    char unit[16], tail[8]; /* the text: 64 KiB of unit, ending in tail */
    bool limit;             /* the interpreter must give up, not only fail to match */
};

ParameterizedTestParameters(guard_policy, pathological)
{
    static struct bound_case cases[] = {
        { "(a+)+$", "a", "b", true },
        { "(a|a)*b", "a", "cb", true },
        { "(x+x+)+y", "x", "zy", true },
        { "^(\\w+\\s?)*$", "a", "!", true },
        { "^(\\w+\\s?)*$", "word ", "!", true },
        { "(\\w+\\s?)*$", "word ", "!", true },
        { "(?i)(a+)+$", "A", "b", true },
        { "(.*a){12}$", "a", "b", true },
        { "(?:a+){20}$", "a", "b", true },
        { "(a|aa)+$", "a", "b", true },
        { "^(a+)+\\1b", "a", "c", true },
        { "((a+)\\2)+b", "a", "cb", true },
        { "(a*)*\\1b", "a", "cb", true },
        { "^(\\w+)(\\s*\\1)*$", "abc ", "!", true },
        { "^(?=(a|a)*b)", "a", "c", true },
        { "(?:(?=(a|a)*)a)*b", "a", "cb", true },
        { "(?=(a+)+b)a", "a", "c", false },
        { "(?:(?:a*)*)*b", "a", "c", false },
    };
    return cr_make_param_array(struct bound_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* None may claim a match the text does not hold; the catastrophic ones end in a bound. */
ParameterizedTest(struct bound_case *bc, guard_policy, pathological, .timeout = 60)
{
    struct sl_guard_policy *p = with_pattern(bc->pattern);
    char *text = body(bc->unit, bc->tail);
    enum sl_guard_match jit = sl_guard_pattern_match(p, 0, text, BODY_BYTES);
    enum sl_guard_match interp = interpreted(p, text, BODY_BYTES);

    cr_assert_neq(jit, SL_GUARD_MATCHED, "/%s/", bc->pattern);
    cr_assert_neq(interp, SL_GUARD_MATCHED, "/%s/", bc->pattern);
    if (bc->limit)
        cr_assert_eq(interp, SL_GUARD_LIMIT, "/%s/ in the interpreter: %d", bc->pattern, interp);
    free(text);
    sl_guard_policy_free(p);
}

struct ordinary_case {
    char pattern[48];
    char unit[40], tail[32];
    enum sl_guard_match want;
};

ParameterizedTestParameters(guard_policy, ordinary)
{
    static struct ordinary_case cases[] = {
        { "secret", "lorem ipsum dolor sit amet ", "x", SL_GUARD_NO_MATCH },
        { "secret", "lorem ipsum dolor sit amet ", "secret", SL_GUARD_MATCHED },
        { "\\b(secret|password)\\b", "lorem ipsum secrets passwords ", "x", SL_GUARD_NO_MATCH },
        { "\\b(secret|password)\\b", "lorem ipsum secrets ", " password", SL_GUARD_MATCHED },
        { "(?i)ignore (all|previous) instructions", "Ignore all the previous instruction ", "x",
          SL_GUARD_NO_MATCH },
        { "(?i)ignore (all|previous) instructions", "Ignore all the previous instruction ",
          "IGNORE ALL INSTRUCTIONS", SL_GUARD_MATCHED },
        { "\\d{3}-\\d{4}", "12-345 ", "x", SL_GUARD_NO_MATCH },
        { "\\d{3}-\\d{4}", "1234567890", "x", SL_GUARD_NO_MATCH },
        { "\\d{3}-\\d{4}", "12-345 ", "555-1234", SL_GUARD_MATCHED },
        { "(?i)ignore (all|previous) instructions", "\xf0\x9f\x98\x80\xc3\xa9", "x",
          SL_GUARD_NO_MATCH },
        { "(?i)pass(word)?\\s*[:=]", "password password ", "x", SL_GUARD_NO_MATCH },
        { ".*secret", "lorem ipsum dolor sit amet ", "x", SL_GUARD_NO_MATCH },
        { "\\bsecret\\b", "a", "!", SL_GUARD_NO_MATCH },
        { "\\bsecret\\b", "\xff\xfe", "secret", SL_GUARD_MATCHED },
    };
    return cr_make_param_array(struct ordinary_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Ordinary patterns over a whole default body never run into a bound. */
ParameterizedTest(struct ordinary_case *oc, guard_policy, ordinary, .timeout = 60)
{
    struct sl_guard_policy *p = with_pattern(oc->pattern);
    char *text = body(oc->unit, oc->tail);

    cr_assert_eq(sl_guard_pattern_match(p, 0, text, BODY_BYTES), oc->want, "/%s/", oc->pattern);
    cr_assert_eq(interpreted(p, text, BODY_BYTES), oc->want, "/%s/ interpreted", oc->pattern);
    free(text);
    sl_guard_policy_free(p);
}

Test(guard_policy, a_bound_leaves_the_policy_usable)
{
    struct sl_guard_policy *p = with_pattern("(a+)+$");
    char *text = body("a", "b");

    cr_assert_neq(sl_guard_pattern_match(p, 0, text, BODY_BYTES), SL_GUARD_MATCHED);
    cr_assert_eq(sl_guard_pattern_match(p, 0, "aaa", 3), SL_GUARD_MATCHED);
    free(text);
    sl_guard_policy_free(p);
}

/* PCRE2's limits count from each start position afresh: these do a bounded amount of work at
 * every position of the text, seconds in all.  On a long text the CPU-time alarm ends them,
 * as a bound, and leaves the policy and the thread as they were. */
Test(guard_policy, work_at_every_start_position_is_cut_off, .timeout = 60)
{
    static const char *const patterns[] = { "(?:a|a){3,14}y", "(a|a){3,10}y", "(?:a|aa){2,16}y" };
    char *text = body("a", "cy");
    size_t i;

    for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        struct sl_guard_policy *p = with_pattern(patterns[i]);

        cr_assert_eq(sl_guard_pattern_match(p, 0, text, BODY_BYTES), SL_GUARD_LIMIT, "/%s/",
                     patterns[i]);
        cr_assert_eq(sl_guard_pattern_match(p, 0, "aaay", 4), SL_GUARD_MATCHED, "/%s/",
                     patterns[i]);
        sl_guard_policy_free(p);
    }
    free(text);
    /* The alarm is disarmed after a match that ended by itself: a long ordinary one later
     * is not cut short by a signal left over. */
    {
        struct sl_guard_policy *p = with_pattern("secret$");
        char *plain = body("lorem ipsum ", "secret");
        int k;

        for (k = 0; k < 200; k++)
            cr_assert_eq(sl_guard_pattern_match(p, 0, plain, BODY_BYTES), SL_GUARD_MATCHED);
        free(plain);
        sl_guard_policy_free(p);
    }
}

/* ---- roles ---- */

Test(guard_policy, role_names_both_ways)
{
    static const char *const names[] = { "user", "system", "developer", "assistant", "tool" };
    int r;

    for (r = 0; r < SL_GUARD_ROLE_COUNT; r++) {
        cr_assert_str_eq(sl_guard_role_name((enum sl_guard_role)r), names[r]);
        cr_assert_eq(sl_guard_role_from_name(names[r], strlen(names[r])), r);
    }
    cr_assert_str_eq(sl_guard_role_name(SL_GUARD_ROLE_COUNT), "unknown");
    cr_assert_eq(sl_guard_role_from_name("use", 3), -1);
    cr_assert_eq(sl_guard_role_from_name("users", 5), -1);
    cr_assert_eq(sl_guard_role_from_name("User", 4), -1);
    cr_assert_eq(sl_guard_role_from_name("user!", 4), SL_GUARD_ROLE_USER);
    cr_assert_eq(sl_guard_role_from_name("", 0), -1);
}
