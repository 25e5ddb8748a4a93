/* SPDX-License-Identifier: MIT */
/* log.c - JSON-lines logger for the master and the workers. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "core/log.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A write(2) of at most PIPE_BUF bytes to a pipe is atomic: lines from several workers never
 * interleave, whatever reads our stderr (journald, a supervisor's pipe, docker).  Room is
 * kept for the closing brace and a "truncated" flag. */
#define LOG_TAIL ",\"truncated\":true}\n"
#define LOG_LINE_MAX (PIPE_BUF - (sizeof(LOG_TAIL) - 1))
#define LOG_FIELD_ROOM 256 /* kept free by a cut value for the fields after it */
#define WRITE_WAIT_MS 100  /* a non-blocking stderr: the rest of a started line */

struct sl_log_line {
    struct sl_buf b;
    bool open;
    bool truncated; /* a value was cut to fit */
};

static enum sl_log_level log_level = SL_LOG_INFO;
static const char *log_role = "master";
static long log_pid;
static bool log_journal;
static struct sl_log_line the_line;
static time_t cached_sec = -1;
static char cached_prefix[32]; /* "2026-11-25T11:35:20" for cached_sec */

static const char *const level_names[] = {
    [SL_LOG_ERR] = "error", [SL_LOG_WARN] = "warn",   [SL_LOG_NOTICE] = "notice",
    [SL_LOG_INFO] = "info", [SL_LOG_DEBUG] = "debug",
};
static const int level_prio[] = {
    [SL_LOG_ERR] = 3, [SL_LOG_WARN] = 4, [SL_LOG_NOTICE] = 5, [SL_LOG_INFO] = 6, [SL_LOG_DEBUG] = 7,
};

/* sd-daemon(3): JOURNAL_STREAM is "dev:ino" of the stream journald gave us; it only applies
 * while stderr is still that stream (not when a test or an operator redirected it). */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) == -1)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void sl_log_init(enum sl_log_level level, const char *role)
{
    log_level = level;
    log_role = role;
    log_pid = (long)getpid();
    log_journal = stderr_is_journal();
    if (!the_line.b.max)
        sl_buf_init(&the_line.b, LOG_LINE_MAX);
}

void sl_log_set_level(enum sl_log_level level)
{
    log_level = level;
}

bool sl_log_enabled(enum sl_log_level level)
{
    return level <= log_level;
}

const char *sl_log_level_name(enum sl_log_level level)
{
    return level <= SL_LOG_DEBUG ? level_names[level] : "info";
}

static void put_ts(struct sl_buf *b)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        gmtime_r(&ts.tv_sec, &tm);
        strftime(cached_prefix, sizeof(cached_prefix), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    sl_buf_printf(b, "\"ts\":\"%s.%03ldZ\"", cached_prefix, ts.tv_nsec / 1000000);
}

struct sl_log_line *sl_log_begin(enum sl_log_level level, const char *event)
{
    struct sl_log_line *l = &the_line;

    if (!sl_log_enabled(level) || l->open)
        return NULL;
    if (!l->b.max)
        sl_buf_init(&l->b, LOG_LINE_MAX);
    sl_buf_reset(&l->b);
    l->open = true;
    l->truncated = false;
    if (log_journal)
        sl_buf_printf(&l->b, "<%d>", level_prio[level]);
    sl_buf_puts(&l->b, "{");
    put_ts(&l->b);
    sl_buf_printf(&l->b, ",\"level\":\"%s\",\"event\":", level_names[level]);
    sl_buf_json_str(&l->b, event, strlen(event));
    sl_buf_printf(&l->b, ",\"pid\":%ld,\"role\":\"%s\"", log_pid, log_role);
    return l;
}

/* ,"key": -- 0, or <0 if it did not fit (then the caller rolls the field back). */
static int put_key(struct sl_log_line *l, const char *key)
{
    if (sl_buf_puts(&l->b, ",") < 0 || sl_buf_json_str(&l->b, key, strlen(key)) < 0)
        return -1;
    return sl_buf_puts(&l->b, ":");
}

static void rollback(struct sl_log_line *l, size_t mark)
{
    if (l->b.data) {
        l->b.len = mark;
        l->b.data[mark] = '\0';
    }
}

/* A field is written whole or not at all: a key without its value would break the line.
 * rc: <0 if any part of it failed; then the line goes back to mark and says it lost one. */
static int field_done(struct sl_log_line *l, size_t mark, int rc)
{
    if (rc >= 0)
        return 0;
    rollback(l, mark);
    l->truncated = true;
    return -1;
}

/* The first n of len bytes, shortened to end between two characters. */
static size_t char_boundary(const char *s, size_t n, size_t len)
{
    if (n >= len)
        return len;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* A value too long for the line: the longest head that fits, cut between two characters
 * (never inside an escape, which the escaper writes whole), and the line says so. */
static void put_truncated(struct sl_log_line *l, size_t mark, const char *key, const char *value,
                          size_t n)
{
    size_t lo = 0, hi = n, at, max = l->b.max;

    if (put_key(l, key) < 0) {
        field_done(l, mark, -1);
        return;
    }
    at = l->b.len;
    /* Leave room for the fields that follow (status, latency...), or they would be lost. */
    l->b.max = max > at + LOG_FIELD_ROOM ? max - LOG_FIELD_ROOM : at;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;

        l->b.len = at;
        if (sl_buf_json_str(&l->b, value, char_boundary(value, mid, n)) == 0)
            lo = mid;
        else
            hi = mid - 1;
    }
    l->b.len = at;
    field_done(l, mark, sl_buf_json_str(&l->b, value, char_boundary(value, lo, n)));
    l->b.max = max;
    l->truncated = true;
}

void sl_log_strn(struct sl_log_line *l, const char *key, const char *value, size_t n)
{
    size_t mark;

    if (!l)
        return;
    mark = l->b.len;
    if (put_key(l, key) == 0 && sl_buf_json_str(&l->b, value ? value : "", value ? n : 0) == 0)
        return;
    field_done(l, mark, -1);
    if (value)
        put_truncated(l, mark, key, value, n);
}

bool sl_log_strn_whole(struct sl_log_line *l, const char *key, const char *value, size_t n)
{
    size_t mark;

    if (!l)
        return false;
    mark = l->b.len;
    if (put_key(l, key) == 0 && sl_buf_json_str(&l->b, value ? value : "", value ? n : 0) == 0)
        return true;
    rollback(l, mark);
    return false;
}

void sl_log_str(struct sl_log_line *l, const char *key, const char *value)
{
    if (!l)
        return;
    if (!value) {
        size_t mark = l->b.len;

        field_done(l, mark, put_key(l, key) < 0 ? -1 : sl_buf_puts(&l->b, "null"));
        return;
    }
    sl_log_strn(l, key, value, strlen(value));
}

void sl_log_int(struct sl_log_line *l, const char *key, int64_t value)
{
    size_t mark;

    if (!l)
        return;
    mark = l->b.len;
    field_done(l, mark, put_key(l, key) < 0 ? -1 : sl_buf_printf(&l->b, "%lld", (long long)value));
}

void sl_log_bool(struct sl_log_line *l, const char *key, bool value)
{
    size_t mark;

    if (!l)
        return;
    mark = l->b.len;
    field_done(l, mark, put_key(l, key) < 0 ? -1 : sl_buf_puts(&l->b, value ? "true" : "false"));
}

/* Wait (briefly) until stderr takes more: only for a non-blocking stderr mid-line. */
static bool wait_writable(void)
{
    struct pollfd p = { .fd = STDERR_FILENO, .events = POLLOUT };

    return poll(&p, 1, WRITE_WAIT_MS) == 1 && (p.revents & POLLOUT);
}

void sl_log_end(struct sl_log_line *l)
{
    int saved = errno;
    const char *p;
    size_t left;
    ssize_t n;

    if (!l)
        return;
    /* The tail always fits: LOG_LINE_MAX keeps room for it. */
    l->b.max += sizeof(LOG_TAIL) - 1;
    sl_buf_puts(&l->b, l->truncated ? LOG_TAIL : "}\n");
    l->b.max -= sizeof(LOG_TAIL) - 1;
    p = l->b.data;
    left = l->b.len;
    while (left > 0) {
        n = write(STDERR_FILENO, p, left);
        if (n == -1 && errno == EINTR)
            continue;
        /* A full non-blocking stderr: drop a line not begun, finish one begun (half a line
         * would break the next one too). */
        if (n == -1 && errno == EAGAIN && left < l->b.len && wait_writable())
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    l->open = false;
    errno = saved;
}

void sl_log(enum sl_log_level level, const char *event, const char *fmt, ...)
{
    int saved = errno;
    struct sl_log_line *l;
    char msg[2048];
    va_list ap;
    int n;

    l = sl_log_begin(level, event);
    if (!l) {
        errno = saved;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    sl_log_strn(l, "msg", msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    sl_log_end(l);
    errno = saved;
}
