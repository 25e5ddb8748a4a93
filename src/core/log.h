/* SPDX-License-Identifier: MIT */
/* log.h - JSON lines on stderr, one object per line, written with one write(2) of at most
 * PIPE_BUF bytes so lines from several workers never interleave, even on a pipe: a value too
 * long for that is cut (between characters) and the line gets "truncated": true.  Under systemd
 * (JOURNAL_STREAM names our stderr) each line carries a "<N>" priority prefix so journald files it
 * at the right level.  Every function saves and restores errno.  Keys and prompts are the caller's
 * business: never pass them. */
#ifndef SL_LOG_H
#define SL_LOG_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"

/* No line is longer than PIPE_BUF, so no value longer than this is ever logged whole. */
#define SL_LOG_VALUE_MAX PIPE_BUF

/* role: "master" or "worker"; read once at start and after fork. */
void sl_log_init(enum sl_log_level level, const char *role);
void sl_log_set_level(enum sl_log_level level);
bool sl_log_enabled(enum sl_log_level level);
const char *sl_log_level_name(enum sl_log_level level);

/* A free-text event: {"ts","level","event","pid","role","msg"}. */
void sl_log(enum sl_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define sl_log_err(ev, ...) sl_log(SL_LOG_ERR, ev, __VA_ARGS__)
#define sl_log_warn(ev, ...) sl_log(SL_LOG_WARN, ev, __VA_ARGS__)
#define sl_log_notice(ev, ...) sl_log(SL_LOG_NOTICE, ev, __VA_ARGS__)
#define sl_log_info(ev, ...) sl_log(SL_LOG_INFO, ev, __VA_ARGS__)
#define sl_log_debug(ev, ...) sl_log(SL_LOG_DEBUG, ev, __VA_ARGS__)

/* A structured line built field by field:
 *     struct sl_log_line *l = sl_log_begin(SL_LOG_INFO, "request");
 *     sl_log_str(l, "route", "/api/chat"); sl_log_int(l, "status", 200); sl_log_end(l);
 * sl_log_begin returns NULL when the level is disabled; every other call accepts NULL.
 * Only one line may be under construction at a time (workers are single-threaded). */
struct sl_log_line;
struct sl_log_line *sl_log_begin(enum sl_log_level level, const char *event);
void sl_log_str(struct sl_log_line *l, const char *key, const char *value);
void sl_log_strn(struct sl_log_line *l, const char *key, const char *value, size_t n);
/* The field whole, or nothing at all when it does not fit in what is left of the line (then
 * the line is as it was, without "truncated"): for text that must never be seen cut.  true
 * when it was written. */
bool sl_log_strn_whole(struct sl_log_line *l, const char *key, const char *value, size_t n);
void sl_log_int(struct sl_log_line *l, const char *key, int64_t value);
void sl_log_bool(struct sl_log_line *l, const char *key, bool value);
void sl_log_end(struct sl_log_line *l);
#endif /* SL_LOG_H */
