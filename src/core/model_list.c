/* SPDX-License-Identifier: MIT */
/* model_list.c - a tenant's models as one canonical string. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/model_list.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"

bool sl_model_list_allows(const char *list, const char *model)
{
    size_t n = strlen(model);
    const char *p = list;

    if (!*list)
        return true;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len == n && memcmp(p, model, n) == 0)
            return true;
        p += len + (end != NULL);
    }
    return false;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One name of the list into copy[SL_MODEL_NAME_MAX], or a reason why not. */
static int take_name(const char *name, size_t len, const struct sl_config *cfg, char *copy,
                     char *err, size_t err_size)
{
    char shown[64];
    size_t i;

    if (len == 0) {
        snprintf(err, err_size, "empty model name in the list");
        return -EINVAL;
    }
    memcpy(copy, name, len < SL_MODEL_NAME_MAX ? len : SL_MODEL_NAME_MAX - 1);
    copy[len < SL_MODEL_NAME_MAX ? len : SL_MODEL_NAME_MAX - 1] = '\0';
    sl_str_printable(shown, sizeof(shown), copy);
    if (len >= SL_MODEL_NAME_MAX) {
        snprintf(err, err_size, "model name '%s...' is longer than %d bytes", shown,
                 SL_MODEL_NAME_MAX - 1);
        return -EINVAL;
    }
    for (i = 0; i < len; i++)
        if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] >= 0x7f) {
            snprintf(err, err_size, "model name '%s' has a character that is not printable ASCII",
                     shown);
            return -EINVAL;
        }
    if (cfg && !sl_config_model(cfg, copy)) {
        snprintf(err, err_size, "model '%s' is not configured", shown);
        return -EINVAL;
    }
    return 0;
}

int sl_model_list_parse(const char *in, const struct sl_config *cfg, char *out, char *err,
                        size_t err_size)
{
    char name[SL_MODEL_NAME_MAX];
    size_t used = 0, len;
    const char *p = in;
    int rc;

    out[0] = '\0';
    for (;;) {
        const char *end = strchr(p, ','), *stop = end ? end : p + strlen(p);

        while (p < stop && blank(*p))
            p++;
        while (stop > p && blank(stop[-1]))
            stop--;
        if (!end && stop == p && used == 0)
            return 0; /* "" or blanks: every model */
        if ((rc = take_name(p, (size_t)(stop - p), cfg, name, err, err_size)) < 0)
            return rc;
        len = strlen(name);
        if (!(used && sl_model_list_allows(out, name))) { /* a duplicate says nothing new */
            if (used + (used > 0) + len + 1 > SL_MODEL_LIST_MAX) {
                snprintf(err, err_size, "the model list is longer than %d bytes",
                         SL_MODEL_LIST_MAX - 1);
                return -E2BIG;
            }
            if (used)
                out[used++] = ',';
            memcpy(out + used, name, len + 1);
            used += len;
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}
