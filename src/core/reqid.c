/* SPDX-License-Identifier: MIT */
/* reqid.c - request id validation and generation. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/reqid.h"

#include <stdint.h>
#include <string.h>

#include "core/rng.h"

bool sl_reqid_is_valid(const char *s)
{
    size_t i;

    if (!s)
        return false;
    for (i = 0; s[i]; i++) {
        if (i >= SL_REQID_MAX)
            return false;
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    }
    return i > 0;
}

void sl_reqid_new(char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = sl_rng_u64(), b = sl_rng_u64();
    int i;

    for (i = 0; i < 16; i++) {
        out[i] = hex[(a >> (60 - 4 * i)) & 15];
        out[16 + i] = hex[(b >> (60 - 4 * i)) & 15];
    }
    out[32] = '\0';
}

void sl_reqid_pick(const char *client_value, char *out)
{
    if (sl_reqid_is_valid(client_value)) {
        memcpy(out, client_value, strlen(client_value) + 1);
        return;
    }
    sl_reqid_new(out);
}
