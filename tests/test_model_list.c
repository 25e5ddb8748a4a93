/* SPDX-License-Identifier: MIT */
/* test_model_list.c - a tenant's models list: the canonical form and who it allows. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/model_list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "core/config.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define NAME32 "abcdefghijklmnopqrstuvwxyz-._:/@"
#define NAME127 NAME32 NAME32 NAME32 "abcdefghijklmnopqrstuvwxyz-._:/"
#define NAME128 NAME32 NAME32 NAME32 NAME32

struct allows_case {
    char list[64];
    char model[32];
    bool want;
};

ParameterizedTestParameters(model_list, allows)
{
    static struct allows_case cases[] = {
        { "", "gpt-4o", true }, /* no list: every model */
        { "", "", true },
        { "gpt-4o", "gpt-4o", true },
        { "gpt-4o-mini,gpt-4o", "gpt-4o", true },
        { "gpt-4o,gpt-4o-mini", "gpt-4o-mini", true },
        { "a,b,c", "b", true },
        { "a,b,c", "c", true },
        { "gpt-4o", "gpt-4o-mini", false }, /* a prefix is not the name */
        { "gpt-4o-mini", "gpt-4o", false },
        { "a,bc", "b", false },
        { "ab,c", "b", false },
        { "a,b", "", false },
        { "a,b", "a,b", false },
        { "a,b", "B", false }, /* names are exact */
    };
    return cr_make_param_array(struct allows_case, cases, NCASES(cases));
}

ParameterizedTest(struct allows_case *c, model_list, allows)
{
    cr_assert_eq(sl_model_list_allows(c->list, c->model), c->want, "'%s' allows '%s'", c->list,
                 c->model);
}

struct parse_case {
    char in[300];
    int rc;
    char out[300];   /* the canonical list when rc is 0 */
    char reason[64]; /* part of the error when rc is not 0 */
};

ParameterizedTestParameters(model_list, parse)
{
    static struct parse_case cases[] = {
        { "", 0, "", "" },
        { "   ", 0, "", "" },
        { "a", 0, "a", "" },
        { " a , b ", 0, "a,b", "" },
        { "a,\tb\t", 0, "a,b", "" },
        { "a,a", 0, "a", "" },
        { "b, a, b, a", 0, "b,a", "" },
        { "org/model:v1@x", 0, "org/model:v1@x", "" },
        { NAME127, 0, NAME127, "" },
        { NAME128, -EINVAL, "", "is longer than 127 bytes" },
        { "a,", -EINVAL, "", "empty model name" },
        { ",a", -EINVAL, "", "empty model name" },
        { "a,,b", -EINVAL, "", "empty model name" },
        { " , ", -EINVAL, "", "empty model name" },
        { "a b", -EINVAL, "", "model name 'a b' has a character" },
        { "caf\xc3\xa9", -EINVAL, "", "not printable ASCII" },
        { "a\x01", -EINVAL, "", "not printable ASCII" },
    };
    return cr_make_param_array(struct parse_case, cases, NCASES(cases));
}

ParameterizedTest(struct parse_case *c, model_list, parse)
{
    char out[SL_MODEL_LIST_MAX], err[128] = "";
    int rc = sl_model_list_parse(c->in, NULL, out, err, sizeof(err));

    cr_assert_eq(rc, c->rc, "'%s': %d (%s)", c->in, rc, err);
    if (rc == 0)
        cr_assert_str_eq(out, c->out, "'%s'", c->in);
    else
        cr_assert_not_null(strstr(err, c->reason), "'%s': %s", c->in, err);
}

/* A configuration with a [model.NAME] section besides allowed_models. */
static struct sl_config *config_with_models(void)
{
    char path[] = "/tmp/sl_test_model_list_XXXXXX";
    static const char text[] = "[upstream]\nallowed_models = gpt-4o-mini, o3\n[model.big]\n";
    char *envp[] = { NULL }, *errs = NULL;
    struct sl_config *cfg = NULL;
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    cr_assert_eq(sl_config_load(path, envp, &cfg, &errs), 0, "%s", errs ? errs : "");
    unlink(path);
    return cfg;
}

Test(model_list, names_must_be_configured)
{
    static const char *const good[][2] = {
        { "big", "big" },
        { "o3, gpt-4o-mini", "o3,gpt-4o-mini" },
        { " big,o3,big ", "big,o3" },
    };
    static const char *const bad[][2] = {
        { "nope", "model 'nope' is not configured" },
        { "o3, gpt-4o", "model 'gpt-4o' is not configured" },
        { "big, bi", "model 'bi' is not configured" },
    };
    struct sl_config *cfg = config_with_models();
    char out[SL_MODEL_LIST_MAX], err[128];
    size_t i;

    for (i = 0; i < NCASES(good); i++) {
        cr_assert_eq(sl_model_list_parse(good[i][0], cfg, out, err, sizeof(err)), 0, "%s: %s",
                     good[i][0], err);
        cr_assert_str_eq(out, good[i][1]);
    }
    for (i = 0; i < NCASES(bad); i++) {
        cr_assert_eq(sl_model_list_parse(bad[i][0], cfg, out, err, sizeof(err)), -EINVAL, "%s",
                     bad[i][0]);
        cr_assert_str_eq(err, bad[i][1]);
    }
    sl_config_free(cfg);
}

/* The canonical list fills SL_MODEL_LIST_MAX exactly with 8 names of 127 bytes; a 9th does
 * not fit, and a duplicate of one already in costs nothing. */
Test(model_list, longest_list)
{
    char names[9][SL_MODEL_NAME_MAX], in[2048], out[SL_MODEL_LIST_MAX], err[128];
    size_t i, n = 0;

    for (i = 0; i < 9; i++)
        snprintf(names[i], sizeof(names[i]), "%zu%.126s", i, NAME127);
    for (i = 0; i < 8; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "%s%s", i ? ", " : "", names[i]);
    cr_assert_eq(sl_model_list_parse(in, NULL, out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(strlen(out), SL_MODEL_LIST_MAX - 1);
    snprintf(in + n, sizeof(in) - n, ",%s", names[3]);
    cr_assert_eq(sl_model_list_parse(in, NULL, out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(strlen(out), SL_MODEL_LIST_MAX - 1);
    snprintf(in + n, sizeof(in) - n, ",%s", names[8]);
    cr_assert_eq(sl_model_list_parse(in, NULL, out, err, sizeof(err)), -E2BIG);
    cr_assert_not_null(strstr(err, "longer than 1023 bytes"), "%s", err);
}

/* The reason names the model, cut and made printable, within the caller's buffer. */
Test(model_list, error_text_is_bounded)
{
    char out[SL_MODEL_LIST_MAX], err[32];

    cr_assert_eq(sl_model_list_parse(NAME128 "\x7f", NULL, out, err, sizeof(err)), -EINVAL);
    cr_assert_lt(strlen(err), sizeof(err));
    cr_assert_eq(strncmp(err, "model name 'abcdef", 18), 0, "%s", err);
}
