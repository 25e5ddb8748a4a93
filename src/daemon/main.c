/* SPDX-License-Identifier: MIT */
/* main.c - sluiced: command line, configuration check, hand-over to the master. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <curl/curl.h>

#include "core/config.h"
#include "core/log.h"
#include "daemon/master.h"

#ifndef SL_SYSCONFDIR
#define SL_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SL_SYSCONFDIR "/sluice/sluice.conf"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out, "Usage: sluiced [-c FILE] [-t] [-V] [-h]\n"
                 "\n"
                 "sluice gateway daemon: admission control and retries in front of the OpenAI\n"
                 "Chat Completions API.  Runs in the foreground and logs JSON lines to stderr.\n"
                 "\n"
                 "  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
                 "  -t       check the configuration, print what is wrong, and exit 0 or 1\n"
                 "  -V       print the version and exit\n"
                 "  -h       print this help and exit\n"
                 "\n"
                 "Every key can be overridden by SLUICE_<SECTION>_<KEY> in the environment.\n"
                 "Signals: TERM/INT stop gracefully, HUP reloads the configuration.\n");
}

static void print_errors(const char *errs)
{
    const char *p = errs, *nl;

    while (p && *p) {
        nl = strchr(p, '\n');
        fprintf(stderr, "sluiced: %.*s\n", (int)(nl ? nl - p : (ptrdiff_t)strlen(p)), p);
        p = nl ? nl + 1 : NULL;
    }
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_CONFIG;
    struct sl_config *cfg = NULL;
    char *errs = NULL, *api_key = NULL;
    bool test_only = false;
    int opt, r;

    while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': test_only = true; break;
        case 'V': printf("sluiced %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    r = sl_config_load(path, environ, &cfg, &errs);
    if (r < 0) {
        if (errs && *errs)
            print_errors(errs);
        else
            fprintf(stderr, "sluiced: %s: %s\n", path, strerror(-r));
        free(errs);
        if (test_only)
            fprintf(stderr, "sluiced: configuration file %s test failed\n", path);
        return 1;
    }
    free(errs);
    if (test_only) {
        fprintf(stderr, "sluiced: configuration file %s test is successful\n", path);
        sl_config_free(cfg);
        return 0;
    }
    sl_log_init(cfg->log_level, "master");
    /* SPEC §5: the key must never reach a core file.  libcurl copies it into buffers we
     * cannot mark, so no process of ours dumps core at all (workers inherit this). */
    (void)prctl(PR_SET_DUMPABLE, 0);
    if (sl_master_load_key(cfg, &api_key) < 0) {
        sl_config_free(cfg);
        return 1;
    }
    /* Once, before any fork: it initialises OpenSSL.  Workers create their handles later. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "sluiced: curl_global_init() failed\n");
        return 1;
    }
    return sl_master_run(cfg, path, api_key);
}
