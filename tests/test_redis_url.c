/* SPDX-License-Identifier: MIT */
/* test_redis_url.c - [redis] url: every form SPEC §7 names, and what must be refused. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/redis_url.h"

static struct sl_redis_target ok(const char *url)
{
    struct sl_redis_target t;
    char why[128] = "";

    cr_assert_eq(sl_redis_parse_url(url, &t, why, sizeof(why)), 0, "%s: %s", url, why);
    return t;
}

static void bad(const char *url, const char *secret)
{
    struct sl_redis_target t;
    char why[128] = "";

    cr_assert_eq(sl_redis_parse_url(url, &t, why, sizeof(why)), -EINVAL, "%s accepted", url);
    cr_assert_neq(why[0], '\0');
    if (secret)
        cr_assert_null(strstr(why, secret), "the reason quotes the password: %s", why);
}

Test(redis_url, host_alone_takes_the_default_port_and_db)
{
    struct sl_redis_target t = ok("redis://127.0.0.1");

    cr_assert_str_eq(t.host, "127.0.0.1");
    cr_assert_eq(t.port, 6379);
    cr_assert_eq(t.db, 0);
    cr_assert_str_eq(t.password, "");
    cr_assert_str_eq(t.user, "");
}

Test(redis_url, port_db_and_password)
{
    struct sl_redis_target t = ok("redis://:s3cret@redis.internal:6380/2");

    cr_assert_str_eq(t.host, "redis.internal");
    cr_assert_eq(t.port, 6380);
    cr_assert_eq(t.db, 2);
    cr_assert_str_eq(t.password, "s3cret");
    cr_assert_str_eq(t.user, "");
}

Test(redis_url, acl_user_and_escaped_password)
{
    struct sl_redis_target t = ok("redis://gw:p%40ss%3Aw@10.0.0.5:7000");

    cr_assert_str_eq(t.user, "gw");
    cr_assert_str_eq(t.password, "p@ss:w");
    cr_assert_eq(t.port, 7000);
}

Test(redis_url, a_password_may_hold_an_at_sign)
{
    struct sl_redis_target t = ok("redis://:a@b@localhost");

    cr_assert_str_eq(t.password, "a@b");
    cr_assert_str_eq(t.host, "localhost");
}

Test(redis_url, ipv6_host_in_brackets)
{
    struct sl_redis_target t = ok("redis://[::1]:6390/1");

    cr_assert_str_eq(t.host, "::1");
    cr_assert_eq(t.port, 6390);
    cr_assert_eq(t.db, 1);
}

Test(redis_url, trailing_slash_is_db_0)
{
    cr_assert_eq(ok("redis://localhost:6379/").db, 0);
}

Test(redis_url, refusals_never_quote_the_password)
{
    bad("http://localhost", NULL);
    bad("redis://", NULL);
    bad("redis://:pw@", "pw");
    bad("redis://localhost:0", NULL);
    bad("redis://localhost:65536", NULL);
    bad("redis://localhost:12ab", NULL);
    bad("redis://localhost/x", NULL);
    bad("redis://[::1", NULL);
    bad("redis://[]:6379", NULL);
    bad("redis://[::1]x:6379", NULL);
    bad("redis://nocolon@localhost", NULL);
    bad("redis://:bad%zzsecret@localhost", "zzsecret");
    bad("redis://:nul%00hidden@localhost", "hidden");
    bad("redis://a:b:c", NULL);
    bad(NULL, NULL);
}

Test(redis_url, overlong_parts_are_refused)
{
    char url[1200];

    memset(url, 0, sizeof(url));
    strcpy(url, "redis://:");
    memset(url + 9, 'p', 300);
    strcat(url, "@localhost");
    bad(url, NULL);
    strcpy(url, "redis://");
    memset(url + 8, 'h', 300);
    bad(url, NULL);
}
