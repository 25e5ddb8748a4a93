/* SPDX-License-Identifier: MIT */
/* fuzz_config.c - libFuzzer target: the input as a whole sluice.conf (through a temporary
 * file, as the master reads it), again with its SLUICE_* lines as the environment, and as one
 * listen value, checking what a loaded configuration promises (the model table and tenants'
 * model lists included) and that every reported problem names where it is. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/model_list.h"

/* Environment entries taken from the input, at most. */
#define ENV_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/sl-fuzz-config-XXXXXX";
static int fd = -1;

static void remove_file(void)
{
    (void)unlink(path);
}

/* The same path every run, so the file name in error text is stable. */
static void write_input(const uint8_t *data, size_t size)
{
    if (fd == -1) {
        fd = mkstemp(path);
        if (fd == -1)
            abort();
        atexit(remove_file);
    }
    if (ftruncate(fd, 0) == -1 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
}

static void check_listen(const struct sl_listen_spec *l)
{
    if (l->kind == SL_LISTEN_TCP) {
        if (l->host[0] == '\0' || !memchr(l->host, '\0', sizeof(l->host)) || l->port == 0)
            abort();
    } else if (l->kind == SL_LISTEN_UNIX) {
        if (l->path[0] == '\0' || !memchr(l->path, '\0', sizeof(l->path)))
            abort();
    } else {
        abort();
    }
}

/* Every model a client may name is in the table with a cap in bounds; every tenant's list is
 * canonical already and names only those. */
static void check_models(const struct sl_config *c)
{
    char list[SL_MODEL_LIST_MAX], why[256];
    size_t i;

    if (c->nmodels == 0 || c->nmodels > SL_CONFIG_MAX_MODELS || !sl_config_model(c, c->model))
        abort();
    for (i = 0; i < c->nmodels; i++)
        if (c->models[i].name[0] == '\0' ||
            !memchr(c->models[i].name, '\0', sizeof(c->models[i].name)) ||
            c->models[i].max_output_tokens < 1 || c->models[i].max_output_tokens > 1000000 ||
            sl_config_model(c, c->models[i].name) != &c->models[i])
            abort();
    for (i = 0; i < c->nallowed_models; i++)
        if (!sl_config_model(c, c->allowed_models[i]))
            abort();
    for (i = 0; i < c->ntenants; i++)
        if (sl_model_list_parse(c->tenants[i].models, c, list, why, sizeof(why)) != 0 ||
            strcmp(list, c->tenants[i].models) != 0)
            abort();
}

static void check_config(const struct sl_config *c)
{
    size_t i;
    int model_allowed = 0;

    if (c->nlisten == 0 || c->nlisten > SL_MAX_LISTEN || c->workers == 0 || c->workers > 512 ||
        !c->model || !c->base_url || c->attempt_timeout_ms > c->request_timeout_ms ||
        c->backoff_base_ms > c->backoff_max_ms || c->nallowed_models > SL_MAX_MODELS ||
        c->ntenants > SL_CONFIG_MAX_TENANTS || (c->ntenants > 0 && !c->tenants))
        abort();
    for (i = 0; i < c->nlisten; i++)
        check_listen(&c->listen[i]);
    if (c->has_metrics_listen)
        check_listen(&c->metrics_listen);
    for (i = 0; i < c->nallowed_models; i++)
        model_allowed |= strcmp(c->allowed_models[i], c->model) == 0;
    if (!model_allowed)
        abort();
    check_models(c);
    for (i = 0; i < c->ntenants; i++)
        if (c->tenants[i].name[0] == '\0' ||
            !memchr(c->tenants[i].name, '\0', sizeof(c->tenants[i].name)) ||
            c->tenants[i].nkeys > SL_MAX_TENANT_KEYS)
            abort();
}

/* Every line of the report starts with the file's name or the variable's: an operator must
 * find the place. */
static void check_errors(const char *errs, bool env)
{
    size_t plen = strlen(path);
    const char *line = errs;

    if (!errs || !*errs)
        abort();
    while (*line) {
        const char *nl = strchr(line, '\n');

        if ((strncmp(line, path, plen) != 0 || line[plen] != ':') &&
            (!env || strncmp(line, "env SLUICE_", 11) != 0))
            abort();
        if (!nl)
            break;
        line = nl + 1;
    }
}

static void load(char *const envp[])
{
    struct sl_config *cfg = NULL;
    char *errs = NULL;
    int r = sl_config_load(path, envp, &cfg, &errs);

    if (r == 0) {
        if (!cfg || errs)
            abort();
        check_config(cfg);
    } else if (r == -EINVAL) {
        if (cfg)
            abort();
        check_errors(errs, envp != NULL);
    } else {
        abort(); /* the file is there and readable; OOM cannot happen under libFuzzer */
    }
    sl_config_free(cfg);
    free(errs);
}

static void listen_value(const uint8_t *data, size_t size)
{
    struct sl_listen_spec l;
    char *s = malloc(size + 1);

    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    memset(&l, 0, sizeof(l));
    if (sl_config_parse_listen(s, &l) == 0)
        check_listen(&l);
    free(s);
}

/* Lines of the input that start with SLUICE_, as NULL-terminated environment entries; NULL
 * when there is none.  The strings live in *store (caller frees). */
static char **env_of(const uint8_t *data, size_t size, char **store)
{
    static char *envp[ENV_MAX + 1];
    size_t n = 0, i;
    char *s;

    *store = NULL;
    for (i = 0; i + 7 <= size && memcmp(data + i, "SLUICE_", 7) != 0; i++)
        ;
    if (i + 7 > size)
        return NULL;
    i = 0;
    s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    while (i < size && n < ENV_MAX) {
        char *nl = memchr(s + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - s) : size;

        s[end] = '\0';
        if (strncmp(s + i, "SLUICE_", 7) == 0)
            envp[n++] = s + i;
        i = end + 1;
    }
    envp[n] = NULL;
    *store = s;
    return n ? envp : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *store, **envp;

    write_input(data, size);
    load(NULL);
    envp = env_of(data, size, &store);
    if (envp)
        load(envp);
    free(store);
    listen_value(data, size);
    return 0;
}
