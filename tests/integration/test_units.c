/* SPDX-License-Identifier: MIT */
/* test_units.c - the shipped systemd units pass `systemd-analyze verify` with no complaint,
 * once their paths point at the binaries this build made. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "harness.h"

static char *run(const char *cmd, int *status)
{
    char *out = calloc(1, 16384);
    size_t n;
    FILE *p = popen(cmd, "r");

    cr_assert_not_null(p);
    n = fread(out, 1, 16383, p);
    out[n] = '\0';
    *status = pclose(p);
    return out;
}

Test(units, systemd_analyze_verify_is_clean, .timeout = 60)
{
    const char *dir = h_tmpdir();
    char cmd[4096], etc[300];
    char *out;
    int st;

    snprintf(etc, sizeof(etc), "%s/etc/sluice", dir);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s && cp %s/etc/sluice.conf %s/ && echo sk-unit > "
             "%s/openai_api_key",
             etc, SL_TEST_SRCDIR, etc, etc);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd),
             "sed -e 's|@bindir@|%s/src|g' -e 's|@sysconfdir@|%s/etc|g' "
             "-e 's|@docdir@|/usr/share/doc/sluice|g' %s/systemd/sluice.service.in "
             "> %s/sluice.service && cp %s/systemd/sluice.socket %s/",
             SL_TEST_BUILDDIR, dir, SL_TEST_SRCDIR, dir, SL_TEST_SRCDIR, dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(system("command -v systemd-analyze >/dev/null"), 0,
                 "systemd-analyze is missing: apt-get install systemd");
    snprintf(cmd, sizeof(cmd),
             "systemd-analyze verify --man=no %s/sluice.service "
             "%s/sluice.socket 2>&1",
             dir, dir);
    out = run(cmd, &st);
    cr_assert_eq(WEXITSTATUS(st), 0, "%s", out);
    cr_assert_str_eq(out, "", "systemd-analyze complained:\n%s", out);
    free(out);

    /* The unit's ExecStartPre is `sluiced -t`: the shipped sample must pass it. */
    snprintf(cmd, sizeof(cmd), "%s -t -c %s/sluice.conf 2>&1", H_SLUICED, etc);
    out = run(cmd, &st);
    cr_assert_eq(WEXITSTATUS(st), 0, "%s", out);
    free(out);
}

/* The unit `make` generates (and `make install` installs) names real paths: no placeholder of
 * the .in file may survive, or systemd refuses the unit. */
Test(units, the_generated_unit_names_installed_paths)
{
    char path[600];
    char *unit;

    snprintf(path, sizeof(path), "%s/systemd/sluice.service", SL_TEST_BUILDDIR);
    unit = h_read_file(path, NULL);
    cr_assert_not_null(unit, "the build did not generate %s", path);
    cr_assert_null(strstr(unit, "bindir@"), "@bindir@ survived in the generated unit:\n%s", unit);
    cr_assert_null(strstr(unit, "sysconfdir@"), "@sysconfdir@ survived:\n%s", unit);
    cr_assert_null(strstr(unit, "docdir@"), "@docdir@ survived:\n%s", unit);
    cr_assert_not_null(strstr(unit, "ExecStart=/"), "ExecStart is not an absolute path:\n%s", unit);
    cr_assert_not_null(strstr(unit, "/bin/sluiced -c /"), "ExecStart does not run sluiced:\n%s",
                       unit);
    free(unit);
}

Test(units, service_has_the_hardening_the_operator_expects)
{
    char path[600];
    char *unit;

    snprintf(path, sizeof(path), "%s/systemd/sluice.service.in", SL_TEST_SRCDIR);
    unit = h_read_file(path, NULL);
    static const char *want[] = {
        "Type=notify",
        "NotifyAccess=main",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "DynamicUser=yes",
        "LoadCredential=openai_api_key",
        "KillMode=mixed",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert_not_null(strstr(unit, want[i]), "sluice.service lacks %s", want[i]);
    free(unit);
}
