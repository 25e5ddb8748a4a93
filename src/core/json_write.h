/* SPDX-License-Identifier: MIT */
/* json_write.h - JSON written directly into a buffer, without a jansson tree, and byte for byte
 * what json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15)) writes for the same values: the
 * per-request bodies are written this way (one pass, a few hundred instructions), and each
 * keeps a tree version that tests and fuzzers hold it to.  The reading side is json_scan.h. */
#ifndef SL_JSON_WRITE_H
#define SL_JSON_WRITE_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* The output; failed sticks once an allocation failed or a string was not UTF-8, so the
 * writers need no error path of their own: check once, at sl_json_out_take(). */
struct sl_json_out {
    struct sl_buf b;
    bool failed;
};

#define SL_JSON_OUT_LIT(o, lit) sl_json_out_put((o), (lit), sizeof(lit) - 1)

void sl_json_out_init(struct sl_json_out *o, size_t max);
/* Raw bytes, already JSON. */
void sl_json_out_put(struct sl_json_out *o, const char *s, size_t n);
/* A quoted string, as jansson's dump_string() without JSON_ENSURE_ASCII or
 * JSON_ESCAPE_SLASH; fails on what json_stringn() refuses (anything but strict UTF-8). */
void sl_json_out_str(struct sl_json_out *o, const char *s, size_t n);
void sl_json_out_int(struct sl_json_out *o, long long v);
/* As jansson's jsonp_dtostr() at JSON_REAL_PRECISION(15). */
void sl_json_out_real(struct sl_json_out *o, double v);
/* The NUL-terminated text (malloc'd, length in *len if not NULL), or NULL (and nothing to
 * free) if anything failed. */
char *sl_json_out_take(struct sl_json_out *o, size_t *len);
#endif /* SL_JSON_WRITE_H */
