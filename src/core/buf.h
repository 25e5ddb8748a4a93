/* SPDX-License-Identifier: MIT */
/* buf.h - a growable byte buffer with a hard ceiling.  Every append either fits under the
 * ceiling or fails with -E2BIG and leaves the buffer as it was, so a hostile peer can never
 * make sluice allocate more than the ceiling it chose.  The contents stay NUL-terminated. */
#ifndef SL_BUF_H
#define SL_BUF_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct sl_buf {
    char *data; /* NUL-terminated, NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* ceiling on len */
};

void sl_buf_init(struct sl_buf *b, size_t max);
void sl_buf_done(struct sl_buf *b);
void sl_buf_reset(struct sl_buf *b); /* len = 0, keeps the allocation */
/* Hand the bytes to the caller (who frees them); the buffer is empty afterwards. */
char *sl_buf_take(struct sl_buf *b, size_t *len);
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);
/* Room for extra more bytes and the NUL, the contents unchanged, for a caller that writes
 * past len itself (then moves len and puts the NUL back): 0, or the -E2BIG or -ENOMEM that
 * appending them would give. */
int sl_buf_reserve(struct sl_buf *b, size_t extra);
int sl_buf_puts(struct sl_buf *b, const char *s);
int sl_buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s (n bytes) as a JSON string literal, quotes included.  Invalid UTF-8 and control
 * bytes are escaped or replaced so the result is always valid JSON, whatever the input. */
int sl_buf_json_str(struct sl_buf *b, const char *s, size_t n);
/* Copy the C string src (NULL reads as "") into dst, cut to dst_sz - 1 bytes, every byte
 * outside printable ASCII as '?': for untrusted text that ends up in logs and headers.  dst
 * may be NULL when dst_sz is 0. */
void sl_str_printable(char *dst, size_t dst_sz, const char *src);
#endif /* SL_BUF_H */
