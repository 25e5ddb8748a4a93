/* SPDX-License-Identifier: MIT */
/* test_log.c - log lines: one JSON object each, whatever bytes they carry, and never longer
 * than PIPE_BUF, so that lines written by several workers to one pipe never interleave. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "core/config.h"
#include "core/log.h"

static int saved_stderr = -1;
static char path[64];

static void capture(void)
{
    int fd;

    snprintf(path, sizeof(path), "/tmp/sl_test_log_XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    sl_log_init(SL_LOG_DEBUG, "worker");
}

/* Every line written since capture(), parsed; asserts each is JSON within PIPE_BUF. */
static json_t *lines(void)
{
    json_t *all = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    FILE *f;

    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t e;
        json_t *j;

        cr_assert_leq(n, PIPE_BUF, "a line of %zd bytes", n);
        cr_assert_eq(line[n - 1], '\n');
        j = json_loadb(line, (size_t)n, 0, &e);
        cr_assert_not_null(j, "not JSON (%s): %.200s", e.text, line);
        json_array_append_new(all, j);
    }
    free(line);
    fclose(f);
    unlink(path);
    return all;
}

Test(log, a_long_value_is_cut_to_fit_and_flagged)
{
    size_t n = 20000;
    char *big = malloc(n + 1);
    const char *got;
    json_t *all, *l;

    /* Multi-byte characters, so that a cut in the middle of one would show. */
    for (size_t i = 0; i + 3 <= n; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3); /* U+20AC, 3 bytes */
    n -= n % 3;
    big[n] = '\0';
    capture();
    struct sl_log_line *ln = sl_log_begin(SL_LOG_INFO, "prompt");
    sl_log_str(ln, "request_id", "abc");
    sl_log_strn(ln, "prompt", big, n);
    sl_log_int(ln, "status", 200);
    sl_log_end(ln);
    all = lines();
    cr_assert_eq(json_array_size(all), 1);
    l = json_array_get(all, 0);
    got = json_string_value(json_object_get(l, "prompt"));
    cr_assert_not_null(got, "the value was dropped instead of cut");
    cr_assert_gt(strlen(got), 3000, "cut much shorter than the line allows");
    cr_assert_lt(strlen(got), n);
    cr_assert_eq(strlen(got) % 3, 0, "cut inside a character");
    cr_assert_eq(strncmp(got, big, strlen(got)), 0);
    cr_assert(json_is_true(json_object_get(l, "truncated")));
    cr_assert_str_eq(json_string_value(json_object_get(l, "request_id")), "abc");
    cr_assert_eq(json_integer_value(json_object_get(l, "status")), 200,
                 "a field after the cut one was lost");
    json_decref(all);
    free(big);
}

Test(log, control_bytes_quotes_and_invalid_utf8_stay_json)
{
    static const char nasty[] = "a\"b\\c\x01\x1f\n\r\t\xff\xfe\xc3(\xed\xa0\x80 end";
    json_t *all;

    capture();
    struct sl_log_line *ln = sl_log_begin(SL_LOG_WARN, "request");
    sl_log_strn(ln, "user_agent", nasty, sizeof(nasty) - 1);
    sl_log_end(ln);
    sl_log(SL_LOG_ERR, "oops", "%s", nasty);
    all = lines();
    cr_assert_eq(json_array_size(all), 2);
    cr_assert_null(json_object_get(json_array_get(all, 0), "truncated"));
    cr_assert_not_null(
        strstr(json_string_value(json_object_get(json_array_get(all, 0), "user_agent")), " end"));
    json_decref(all);
}

Test(log, many_long_fields_keep_the_line_within_pipe_buf)
{
    char val[3000];
    json_t *all;

    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    capture();
    struct sl_log_line *ln = sl_log_begin(SL_LOG_INFO, "prompt");
    for (int i = 0; i < 5; i++) {
        char key[8];

        snprintf(key, sizeof(key), "f%d", i);
        sl_log_str(ln, key, val);
    }
    sl_log_end(ln);
    all = lines();
    cr_assert_eq(json_array_size(all), 1);
    cr_assert(json_is_true(json_object_get(json_array_get(all, 0), "truncated")));
    json_decref(all);
}

/* For prompts: a value too long for what is left of the line is left out whole, never cut,
 * and the line stays a line without it. */
Test(log, a_whole_value_fits_or_is_left_out)
{
    char small[800], big[2800];
    json_t *all, *l;

    memset(small, 'a', sizeof(small) - 1);
    small[sizeof(small) - 1] = '\0';
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    capture();
    struct sl_log_line *ln = sl_log_begin(SL_LOG_INFO, "prompt");
    cr_assert(sl_log_strn_whole(ln, "prompt", small, strlen(small)));
    cr_assert(sl_log_strn_whole(ln, "answer", big, strlen(big)));
    cr_assert_not(sl_log_strn_whole(ln, "more", big, strlen(big)), "past the line");
    sl_log_int(ln, "status", 200);
    sl_log_end(ln);
    cr_assert_not(sl_log_strn_whole(NULL, "prompt", small, strlen(small)));
    all = lines();
    cr_assert_eq(json_array_size(all), 1);
    l = json_array_get(all, 0);
    cr_assert_str_eq(json_string_value(json_object_get(l, "prompt")), small);
    cr_assert_str_eq(json_string_value(json_object_get(l, "answer")), big);
    cr_assert_null(json_object_get(l, "more"), "a cut value");
    cr_assert_null(json_object_get(l, "truncated"), "nothing was cut");
    cr_assert_eq(json_integer_value(json_object_get(l, "status")), 200);
    json_decref(all);
}
