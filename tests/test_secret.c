/* SPDX-License-Identifier: MIT */
/* test_secret.c - where the upstream key comes from, in SPEC §5 order, and what is refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "core/config.h"
#include "core/secret.h"

static char dir[] = "/tmp/sluice-secret-XXXXXX";
static struct sl_config *cfg;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chdir(dir), 0);
    cfg = sl_config_new();
    cr_assert_not_null(cfg);
    free(cfg->api_key_env);
    cfg->api_key_env = strdup("SL_TEST_KEY");
    unsetenv("SL_TEST_KEY");
    unsetenv("CREDENTIALS_DIRECTORY");
}

static void teardown(void)
{
    char cmd[128];

    sl_config_free(cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void)system(cmd);
}

TestSuite(secret, .init = setup, .fini = teardown);

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static int load(char **key, char *source, char *err)
{
    return sl_secret_load(cfg, key, source, 128, err, 512);
}

Test(secret, environment_comes_first)
{
    char source[128], err[512], *key;

    setenv("SL_TEST_KEY", "sk-from-env", 1);
    write_file(".env", "SL_TEST_KEY=sk-from-dotenv\n");
    cr_assert_eq(load(&key, source, err), 0, "%s", err);
    cr_assert_str_eq(key, "sk-from-env");
    cr_assert_str_eq(source, "env SL_TEST_KEY");
    sl_secret_free(key);
}

Test(secret, file_then_credential_then_dotenv)
{
    char source[128], err[512], path[300], *key;

    /* .env alone */
    write_file(".env", "# comment\nexport SL_TEST_KEY=\"sk-from-dotenv\"\nOTHER=x\n");
    cr_assert_eq(load(&key, source, err), 0, "%s", err);
    cr_assert_str_eq(key, "sk-from-dotenv");
    sl_secret_free(key);

    /* the systemd credential beats .env */
    snprintf(path, sizeof(path), "%s/creds", dir);
    cr_assert_eq(system("mkdir -p creds"), 0);
    write_file("creds/openai_api_key", "sk-from-credential\n");
    setenv("CREDENTIALS_DIRECTORY", path, 1);
    cr_assert_eq(load(&key, source, err), 0, "%s", err);
    cr_assert_str_eq(key, "sk-from-credential");
    cr_assert_str_eq(source, "credential openai_api_key");
    sl_secret_free(key);

    /* api_key_file beats both; surrounding whitespace is trimmed */
    write_file("key.txt", "  sk-from-file \n");
    cfg->api_key_file = strdup("key.txt");
    cr_assert_eq(load(&key, source, err), 0, "%s", err);
    cr_assert_str_eq(key, "sk-from-file");
    cr_assert_str_eq(source, "file key.txt");
    sl_secret_free(key);
}

Test(secret, a_missing_key_file_is_an_error_not_a_fallthrough)
{
    char source[128], err[512], *key;

    write_file(".env", "SL_TEST_KEY=sk-from-dotenv\n");
    cfg->api_key_file = strdup("/nonexistent/key");
    cr_assert_eq(load(&key, source, err), -ENOENT);
    cr_assert_not_null(strstr(err, "/nonexistent/key"));
}

Test(secret, nothing_found)
{
    char source[128], err[512], *key;

    cr_assert_eq(load(&key, source, err), -ENOENT);
    cr_assert_null(key);
    cr_assert_not_null(strstr(err, "no upstream API key"), "%s", err);
}

Test(secret, malformed_keys_are_refused_without_echoing_them)
{
    char source[128], err[512], *key;

    setenv("SL_TEST_KEY", "sk-with space-SECRETPART", 1);
    cr_assert_eq(load(&key, source, err), -EINVAL);
    cr_assert_null(strstr(err, "SECRETPART"), "the error echoed the key: %s", err);
    setenv("SL_TEST_KEY", "sk-ctl\x01-SECRETPART", 1);
    cr_assert_eq(load(&key, source, err), -EINVAL);
    cr_assert_null(strstr(err, "SECRETPART"));
}

struct url_case {
    char url[64];
    bool local;
};

ParameterizedTestParameters(secret, local_urls)
{
    static struct url_case cases[] = {
        { "http://127.0.0.1:8080/v1", true },
        { "http://127.1.2.3/v1", true },
        { "http://localhost:9/v1", true },
        { "http://LOCALHOST/v1", true },
        { "http://[::1]:8080/v1", true },
        { "https://api.openai.com/v1", false },
        { "http://127.example.com/v1", false },
        { "http://localhost.evil.com/v1", false },
        { "http://10.0.0.1/v1", false },
        { "not a url", false },
        /* Issue 9: user-info; the host is what follows the '@'. */
        { "http://localhost:1@example.com/v1", false },
        { "http://127.0.0.1@evil.example/v1", false },
        { "http://localhost@127.0.0.1.evil.example/", false },
        { "http://[::1]x.example/v1", false },
        { "http://[::1]", true },
        { "http://localhost/v1/team@x", true },
    };
    return cr_make_param_array(struct url_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct url_case *c, secret, local_urls)
{
    cr_assert_eq(sl_secret_url_is_local(c->url), c->local, "%s", c->url);
}
