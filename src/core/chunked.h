/* SPDX-License-Identifier: MIT */
/* chunked.h - follows a chunked request body (RFC 9112 §7.1) as libevent 2.1's evhttp will
 * read it, just far enough to say which byte of a chunk-size line must become a space.
 *
 * evhttp reads a chunk-size line with strtoll() and accepts it only when the digits are
 * followed by the end of the line or a space; whatever follows that space it ignores.  A
 * chunk extension ("18;name=value") is therefore refused, as a body too large, although
 * RFC 9112 §7.1.1 has recipients ignore extensions they do not know.  Turning the byte
 * after the digits (the ';', or the first of the blanks before it) into a space makes evhttp
 * read the same size and skip the extension.
 *
 * The reader sees each byte once, as it arrives, and keeps no copy: chunk data is skipped by
 * count, lines are read byte by byte with a few bits of state.  Lines end where evhttp's end:
 * at LF, a CR before it dropped.  A rewrite is only ever asked for inside a chunk-size line
 * that is complete (its LF read), at most SL_CHUNKED_LINE_MAX bytes long, and whose
 * extension holds no control character; any other line is left exactly as it came.  Lines
 * that strtoll() reads in ways not followed here (leading blanks, a sign, "0x", NUL bytes)
 * end the reading (SL_CHUNKED_LOST), and evhttp decides alone, as it did before.  Reading
 * stops after the last chunk's line: the trailer section, and whatever follows on the
 * connection, is never read. */
#ifndef SL_CHUNKED_H
#define SL_CHUNKED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest chunk-size line, extension included, that is rewritten: a longer one is left
 * as it is, for evhttp to refuse. */
#define SL_CHUNKED_LINE_MAX 1024

enum sl_chunked_state {
    SL_CHUNKED_READING,   /* more of the body to come */
    SL_CHUNKED_DONE,      /* the last chunk's line was read; the trailer section follows */
    SL_CHUNKED_TOO_LARGE, /* a chunk size takes the body over max_body: evhttp refuses it */
    SL_CHUNKED_MALFORMED, /* a chunk-size line evhttp refuses as corrupt */
    SL_CHUNKED_LOST,      /* a line read differently by strtoll(): nothing more is read */
};

/* Embedded by its user; the fields are the reader's. */
struct sl_chunked {
    uint64_t max_body; /* evhttp's limit on the sum of the chunk sizes */
    uint64_t body;     /* the sum of the chunk sizes read */
    uint64_t pos;      /* bytes read since the body's first */
    uint64_t left;     /* chunk data still to skip */
    uint64_t size;     /* the digits of the chunk-size line being read */
    uint64_t delim;    /* position of the byte after those digits */
    uint32_t line_len; /* bytes of that line so far, saturating */
    uint8_t line;      /* where in the line (chunked.c) */
    bool cr;           /* the last byte was a CR: the line's end if an LF follows */
    bool ext_bad;      /* the extension holds a control character */
    bool has_edit;
    enum sl_chunked_state state;
};

/* Ready for a body's first byte, under evhttp's max_body. */
void sl_chunked_init(struct sl_chunked *c, uint64_t max_body);
/* Reads up to n more bytes of the body from p; returns how many it took.  It stops early
 * when the state leaves SL_CHUNKED_READING (the bytes after are not the body's, or not
 * followed), and right after a chunk-size line with a byte to rewrite: take it with
 * sl_chunked_take_edit() before feeding more (until then nothing more is read). */
size_t sl_chunked_feed(struct sl_chunked *c, const char *p, size_t n);
/* The position (counted from the body's first byte) of the byte that must become a space,
 * if the last feed asked for one; the request is forgotten. */
bool sl_chunked_take_edit(struct sl_chunked *c, uint64_t *pos);
/* The next n bytes are all chunk data: counted without being read (a large chunk arrives in
 * many reads, and none of its bytes can hold a line).  false, and nothing counted, when they
 * are not all data. */
bool sl_chunked_skip(struct sl_chunked *c, size_t n);
#endif /* SL_CHUNKED_H */
