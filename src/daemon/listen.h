/* SPDX-License-Identifier: MIT */
/* listen.h - the master's listening sockets: opened from [server] listen (TCP v4/v6 or a unix
 * socket), or inherited from systemd socket activation (LISTEN_FDS/LISTEN_PID).  Sockets are
 * non-blocking; workers inherit them across fork and accept on them. */
#ifndef SL_LISTEN_H
#define SL_LISTEN_H
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

struct sl_listener {
    int fd;
    bool from_systemd; /* not ours to unlink or re-open */
    struct sl_listen_spec spec;
};

/* Bind and listen.  Returns the fd, or -errno with a reason in err. */
int sl_listen_open(const struct sl_listen_spec *spec, char *err, size_t errsz);
/* Take over sockets passed by systemd.  Returns how many (0 when not socket-activated), at
 * most max, and clears LISTEN_* from the environment so children do not see them. */
int sl_listen_from_systemd(struct sl_listener *out, size_t max);
/* Close, and unlink a unix socket this process created. */
void sl_listen_close(struct sl_listener *l);
bool sl_listen_spec_equal(const struct sl_listen_spec *a, const struct sl_listen_spec *b);
/* "127.0.0.1:8080", "[::1]:8080" or "unix:/path" */
void sl_listen_spec_format(const struct sl_listen_spec *s, char *out, size_t n);
#endif /* SL_LISTEN_H */
