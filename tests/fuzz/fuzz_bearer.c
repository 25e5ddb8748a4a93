/* SPDX-License-Identifier: MIT */
/* fuzz_bearer.c - libFuzzer target: an Authorization header value (up to its first NUL)
 * through the bearer-key extractor, checking that the key it returns lies inside the header,
 * is bounded and carries no surrounding spaces. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admission/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = malloc(size + 1);
    const char *key;
    size_t len = 0, hlen;
    unsigned char sha[32];

    if (!header)
        abort();
    memcpy(header, data, size);
    header[size] = '\0';
    hlen = strlen(header);
    key = sl_auth_bearer(header, &len);
    if (key) {
        if (strncasecmp(header, "Bearer ", 7) != 0 || key < header + 7 ||
            key + len > header + hlen || len == 0 || len > SL_AUTH_KEY_MAX || key[0] == ' ' ||
            key[len - 1] == ' ')
            abort();
        sl_auth_hash(key, len, sha);
    } else if (strncasecmp(header, "Bearer ", 7) == 0 && hlen - 7 <= SL_AUTH_KEY_MAX &&
               header[hlen - 1] != ' ' && header[7] != ' ') {
        abort(); /* a well-formed short key must be found */
    }
    if (sl_auth_bearer(NULL, &len) != NULL)
        abort();
    free(header);
    return 0;
}
