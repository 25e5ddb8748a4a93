/* SPDX-License-Identifier: MIT */
/* json_scan.h - JSON on the hot path without building a tree: a one-pass validator and a
 * reader over the text it accepted.  Pure: no allocation, no I/O, never reads outside
 * [s, s + len).
 *
 * The validator answers "valid" only for text that jansson's json_loadb() accepts with the
 * corresponding flags (no JSON_DECODE_ANY: the root is an object or an array), and "not sure"
 * for everything else: invalid text, and valid text it does not decide cheaply (nesting
 * deeper than SL_JSON_MAX_DEPTH, integers of 19 digits or more, reals that might overflow a
 * double, and under SL_JSON_REJECT_DUPLICATES an object with more than SL_JSON_MAX_KEYS keys
 * or an escaped key).  Callers fall back to jansson when it is not sure, so every verdict
 * other than "valid", and every error message, stays jansson's own; the fuzz target
 * json_scan checks the two agree.
 *
 * The reader walks accepted text and reads it as jansson would: a member lookup takes the
 * last of duplicate keys (jansson's json_object_set() replaces), keys and strings compare and
 * decode with their escapes applied.  On text the validator did not accept it stays in
 * bounds but its answers mean nothing. */
#ifndef SL_JSON_SCAN_H
#define SL_JSON_SCAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_JSON_ALLOW_NUL                                                                          \
    1u                               /* jansson's JSON_ALLOW_NUL: \u0000 in strings (never         \
                                      * in keys, which jansson always refuses) */
#define SL_JSON_REJECT_DUPLICATES 2u /* jansson's JSON_REJECT_DUPLICATES */

#define SL_JSON_MAX_DEPTH 64 /* jansson allows 2048; deeper is "not sure" */
#define SL_JSON_MAX_KEYS 32  /* per object, tracked for duplicates */

enum sl_json_type {
    SL_JSON_NONE = 0, /* "not sure", or not a value */
    SL_JSON_OBJECT,
    SL_JSON_ARRAY,
    SL_JSON_STRING,
    SL_JSON_INTEGER,
    SL_JSON_REAL,
    SL_JSON_TRUE,
    SL_JSON_FALSE,
    SL_JSON_NULL,
};

/* One value's text, from its first byte to its last (quotes and brackets included). */
struct sl_json_span {
    const char *p;
    size_t len;
};

/* Validate s[0..len).  SL_JSON_OBJECT or SL_JSON_ARRAY (the root's type) when jansson would
 * accept it with the same flags; SL_JSON_NONE when not sure.  *root (if not NULL) is set to
 * the root value's span on success. */
enum sl_json_type sl_json_check(const char *s, size_t len, unsigned flags,
                                struct sl_json_span *root);
/* The same, also capturing members of a root object on the way: vals[j] is set to the value
 * of the last member named names[j] (keys compared decoded), p NULL when there is none.  The
 * spans mean something only when the text is valid. */
enum sl_json_type sl_json_scan(const char *s, size_t len, unsigned flags, struct sl_json_span *root,
                               const char *const *names, struct sl_json_span *vals, size_t nnames);

/* ---- the walk: validating and reading in one pass ------------------------------------ */

/* sl_json_check() driven by the caller, who enters the containers it wants to read and reads
 * their members or elements as the validation passes them, handing every other value to
 * sl_json_walk_value(): each byte is looked at once.  The root is entered (jansson takes
 * only an object or an array), and the walk has accepted the text when sl_json_walk_end()
 * says so; then every span it gave is accepted text, for the reader below.  Any "false" (or
 * -1) on the way is sl_json_check()'s "not sure" and ends the walk.  SL_JSON_ALLOW_NUL is the
 * one flag it takes: under SL_JSON_REJECT_DUPLICATES it is never sure. */
struct sl_json_walk {
    const char *s;
    size_t n;
    size_t i; /* where the walk is: past any value it gave */
    /* private */
    unsigned flags, depth;
    bool fresh;  /* in a container just entered */
    bool rooted; /* the root was entered */
};

void sl_json_walk_init(struct sl_json_walk *w, const char *s, size_t len, unsigned flags);
/* The first byte of what comes next, past whitespace (w->i is then at it); 0 at the end. */
char sl_json_walk_peek(struct sl_json_walk *w);
/* Enter the object ('{') or array ('[') that comes next: false if something else does, or
 * it would nest deeper than SL_JSON_MAX_DEPTH. */
bool sl_json_walk_enter(struct sl_json_walk *w, char open);
/* In an object entered: 1 and its next member's key (quotes included; *escaped: the key
 * holds a backslash escape, so compare it decoded), the walk then at the member's value,
 * which the caller walks next; 0 when the object ended (the walk is past it); -1 when not
 * sure. */
int sl_json_walk_member(struct sl_json_walk *w, struct sl_json_span *key, bool *escaped);
/* In an array entered: 1 when an element comes next (the caller walks it next), 0 when the
 * array ended, -1 when not sure. */
int sl_json_walk_element(struct sl_json_walk *w);
/* Validate the value that comes next and pass it; *v (if not NULL) gets its span. */
bool sl_json_walk_value(struct sl_json_walk *w, struct sl_json_span *v);
/* After the root: is only whitespace left, the text accepted? */
bool sl_json_walk_end(struct sl_json_walk *w);

/* ---- the reader (accepted text only) ---------------------------------------------------- */

enum sl_json_type sl_json_type_of(struct sl_json_span v);

/* Members of an object or elements of an array, in order.  Init with the container's span;
 * each call yields the next one, false at the end (or if v is not that container). */
struct sl_json_iter {
    const char *p;
    size_t i, n;
};
void sl_json_iter_init(struct sl_json_iter *it, struct sl_json_span container);
bool sl_json_next_member(struct sl_json_iter *it, struct sl_json_span *key,
                         struct sl_json_span *val);
bool sl_json_next_element(struct sl_json_iter *it, struct sl_json_span *val);

/* The value of obj's member name (the last one, as jansson keeps it); false if obj is not an
 * object or has no such member. */
bool sl_json_get(struct sl_json_span obj, const char *name, struct sl_json_span *val);
/* sl_json_get() of several names in one pass: vals[j] for names[j] (p NULL when absent).
 * Returns how many were found. */
size_t sl_json_get_many(struct sl_json_span obj, const char *const *names,
                        struct sl_json_span *vals, size_t n);
/* An object or array without members or elements? */
bool sl_json_is_empty(struct sl_json_span v);
/* Is str a JSON string whose decoded bytes are exactly s[0..n)? */
bool sl_json_str_eq(struct sl_json_span str, const char *s, size_t n);
/* Does str hold a backslash escape?  (Without one, the decoded bytes are the raw ones.) */
bool sl_json_str_has_escape(struct sl_json_span str);
/* Decode a JSON string into out (cap bytes): the bytes jansson's json_string_value() gives,
 * NUL-terminated, their count in *len.  The decoded form is never longer than the text
 * between the quotes, so cap = str.len - 1 always suffices.  false if str is not a string
 * or cap is too small (out then holds nothing useful). */
bool sl_json_str_decode(struct sl_json_span str, char *out, size_t cap, size_t *len);
/* An integer's value (jansson's json_integer_value()); false if v is not one. */
bool sl_json_int(struct sl_json_span v, int64_t *out);
/* p[i] is a '"': the index just past the string's closing quote, or n if it has none.  A
 * backslash escapes the byte after it.  Any text, validated or not; eight bytes at a time. */
size_t sl_json_skip_string(const char *p, size_t i, size_t n);
/* Elements in an array (0 for anything else). */
size_t sl_json_array_size(struct sl_json_span v);
#endif /* SL_JSON_SCAN_H */
