/* SPDX-License-Identifier: MIT */
/* test_hostile.c - requests a smuggler or a broken client sends: each gets a clear JSON
 * answer or a closed connection, nothing behind it is parsed, and the same workers serve on. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(hostile, .timeout = 60);

/* Send raw bytes on a fresh connection; return everything read until the server closes. */
static char *raw(int port, const char *bytes, size_t len)
{
    int fd = h_connect(port);
    char *out;

    cr_assert(fd >= 0);
    cr_assert(write(fd, bytes, len) == (ssize_t)len);
    out = h_read_all(fd, 3000, NULL);
    close(fd);
    return out;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

struct smuggle_case {
    char name[48];
    char request[256];
    char want[64];
};

Test(hostile, ambiguous_framing_is_refused_and_nothing_behind_it_is_served)
{
    static const struct smuggle_case cases[] = {
        { "space before colon", "POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\n"
          "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", "Invalid header name" },
        { "signed length", "POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Length: +4\r\n\r\n"
          "{}{}GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", "Invalid Content-Length" },
        { "odd transfer-encoding", "POST /api/chat HTTP/1.1\r\nHost: t\r\n"
          "Transfer-Encoding: gzip\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
          "Unsupported Transfer-Encoding" },
        { "no host", "GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
          "Missing or repeated Host header" },
        { "two hosts", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
          "Missing or repeated Host header" },
    };
    struct h_daemon d;
    pid_t before[4], after[4];
    size_t i;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, NULL);
    h_daemon_start(&d, NULL);
    cr_assert_eq(h_wait_children(d.pid, 1, before, 3000), 1);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = raw(d.port, cases[i].request, strlen(cases[i].request));

        cr_assert_not_null(strstr(got, "HTTP/1.1 400"), "%s: %s", cases[i].name, got);
        cr_assert_not_null(strstr(got, cases[i].want), "%s: %s", cases[i].name, got);
        cr_assert_not_null(strstr(got, "Connection: close"), "%s: %s", cases[i].name, got);
        cr_assert_eq(count(got, "HTTP/1."), 1, "%s: a smuggled request was served: %s",
                     cases[i].name, got);
        free(got);
    }
    /* HTTP/1.0 needs no Host. */
    char *ok = raw(d.port, "GET /healthz HTTP/1.0\r\n\r\n", 25);
    cr_assert_not_null(strstr(ok, "200 OK"), "%s", ok);
    free(ok);
    cr_assert_eq(h_children(d.pid, after, 4), 1);
    cr_assert_eq(after[0], before[0], "the worker must survive");
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}

Test(hostile, oversized_headers_and_garbage_get_json_errors)
{
    struct h_daemon d;
    char *big, *got;
    size_t n = 70000;

    h_daemon_init(&d);
    h_daemon_write_conf(&d, 1, "max_header_bytes = 16384\n");
    h_daemon_start(&d, NULL);
    big = malloc(n + 64);
    strcpy(big, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(big + strlen(big), 'a', n);
    strcpy(big + strlen("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ") + n, "\r\n\r\n");
    got = raw(d.port, big, strlen(big));
    /* libevent 2.1 calls an over-long header block a bad request (400). */
    cr_assert(strstr(got, "HTTP/1.1 400") || strstr(got, "HTTP/1.1 413") ||
              strstr(got, "HTTP/1.1 431") || got[0] == '\0', "%.200s", got);
    if (got[0])
        cr_assert_not_null(strstr(got, "application/json"), "%.300s", got);
    free(got);
    free(big);
    got = raw(d.port, "\x01\x02\x03 nonsense\r\n\r\n", 17);
    cr_assert(got[0] == '\0' || strstr(got, "400"), "%s", got);
    free(got);
    cr_assert(h_port_accepts(d.port));
    cr_assert_eq(h_daemon_stop(&d, 10000), 0);
}
