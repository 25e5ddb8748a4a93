/* SPDX-License-Identifier: MIT */
/* listen.c - opening and inheriting listening sockets. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "daemon/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3
#define LISTEN_BACKLOG 4096 /* the kernel clamps it to net.core.somaxconn */

static int open_tcp(const struct sl_listen_spec *spec, char *err, size_t errsz)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    char port[8];
    int fd, one = 1, r;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", spec->port);
    r = getaddrinfo(spec->host, port, &hints, &res);
    if (r != 0) {
        snprintf(err, errsz, "getaddrinfo(%s) failed: %s", spec->host, gai_strerror(r));
        return -EADDRNOTAVAIL;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        r = -errno;
        snprintf(err, errsz, "socket() failed: %s", strerror(errno));
        goto out;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* "[::]:8080" means IPv6 only; an operator who wants both lists both. */
    if (res->ai_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
        r = -errno;
        snprintf(err, errsz, "bind() failed: %s", strerror(errno));
        close(fd);
        goto out;
    }
    if (listen(fd, LISTEN_BACKLOG) == -1) {
        r = -errno;
        snprintf(err, errsz, "listen() failed: %s", strerror(errno));
        close(fd);
        goto out;
    }
    r = fd;
out:
    freeaddrinfo(res);
    return r;
}

enum unix_owner { UNIX_NOBODY, UNIX_LISTENER, UNIX_UNKNOWN };

/* Who has the unix socket at sa?  Only a refused connect() says nobody: a socket file left by
 * a process that died.  A connect that succeeds, or finds the backlog full (EAGAIN on a
 * non-blocking socket), means a live listener; any other error (no permission, say) says
 * nothing either way. */
static enum unix_owner unix_owner(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    enum unix_owner who = UNIX_UNKNOWN;

    if (fd == -1)
        return UNIX_UNKNOWN;
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN ||
        errno == EINPROGRESS)
        who = UNIX_LISTENER;
    else if (errno == ECONNREFUSED)
        who = UNIX_NOBODY;
    close(fd);
    return who;
}

static int open_unix(const struct sl_listen_spec *spec, char *err, size_t errsz)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd, r;

    if (strlen(spec->path) >= sizeof(sa.sun_path)) {
        snprintf(err, errsz, "unix socket path too long");
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, spec->path, strlen(spec->path) + 1);
    /* A socket left by a previous run that died is in the way, and goes.  One that a
     * running process (another sluiced?) accepts on is not ours to steal, and anything else
     * (a regular file, a directory, a socket we cannot probe) is left for bind() to
     * refuse. */
    if (lstat(spec->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        switch (unix_owner(&sa)) {
        case UNIX_NOBODY: (void)unlink(spec->path); break;
        case UNIX_LISTENER:
            snprintf(err, errsz,
                     "%s is in use: another process accepts on it (is sluiced "
                     "already running?)",
                     spec->path);
            return -EADDRINUSE;
        case UNIX_UNKNOWN: break;
        }
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errsz, "socket() failed: %s", strerror(errno));
        return -errno;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
        r = -errno;
        snprintf(err, errsz, "bind(%s) failed: %s", spec->path, strerror(errno));
        close(fd);
        return r;
    }
    return fd;
}

int sl_listen_open(const struct sl_listen_spec *spec, char *err, size_t errsz)
{
    if (spec->kind == SL_LISTEN_UNIX)
        return open_unix(spec, err, errsz);
    return open_tcp(spec, err, errsz);
}

int sl_listen_from_systemd(struct sl_listener *out, size_t max)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    char *end;
    long pid, n, i;
    int flags;

    if (!pid_s || !fds_s)
        return 0;
    errno = 0;
    pid = strtol(pid_s, &end, 10);
    if (errno || *end || pid != (long)getpid())
        return 0;
    n = strtol(fds_s, &end, 10);
    if (errno || *end || n <= 0)
        return 0;
    if ((size_t)n > max)
        n = (long)max;
    for (i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + (int)i;

        flags = fcntl(fd, F_GETFL);
        if (flags != -1)
            (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        memset(&out[i], 0, sizeof(out[i]));
        out[i].fd = fd;
        out[i].from_systemd = true;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return (int)n;
}

void sl_listen_close(struct sl_listener *l)
{
    if (l->fd < 0)
        return;
    close(l->fd);
    if (!l->from_systemd && l->spec.kind == SL_LISTEN_UNIX)
        (void)unlink(l->spec.path);
    l->fd = -1;
}

bool sl_listen_spec_equal(const struct sl_listen_spec *a, const struct sl_listen_spec *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == SL_LISTEN_UNIX)
        return strcmp(a->path, b->path) == 0;
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

void sl_listen_spec_format(const struct sl_listen_spec *s, char *out, size_t n)
{
    if (s->kind == SL_LISTEN_UNIX)
        snprintf(out, n, "unix:%s", s->path);
    else if (strchr(s->host, ':'))
        snprintf(out, n, "[%s]:%u", s->host, s->port);
    else
        snprintf(out, n, "%s:%u", s->host, s->port);
}
