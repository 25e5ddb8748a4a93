/* SPDX-License-Identifier: MIT */
/* ctl.h - what the parts of sluicectl share: exit codes, the parsed command line, messages. */
#ifndef SL_CTL_H
#define SL_CTL_H
#include <stdbool.h>
#include <stddef.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define REASON_MAX 400
#define POS_MAX 8

enum { EXIT_API = 1, EXIT_USAGE = 2, EXIT_CONN = 3 };

/* Options taking a value; the last six are a tenant's limits, models and guard, the body of
 * 'tenant create' and 'tenant set' (LIMIT_FIRST..O_COUNT-1). */
enum opt_id {
    O_URL,
    O_KEYFILE,
    O_TIMEOUT,
    O_RPM,
    O_TPM,
    O_BUDGET,
    O_PERIOD,
    O_MODELS,
    O_GUARD,
    O_COUNT
};
#define LIMIT_FIRST O_RPM

struct args {
    char *pos[POS_MAX];
    int npos;
    const char *val[O_COUNT]; /* value options as given, NULL when absent */
    bool help;
    bool version;
};

/* Each option's name as typed ("--url"), indexed by enum opt_id. */
extern const char *const opt_names[O_COUNT];

/* main.c: one printable line from s in out, with every occurrence of secret redacted. */
void sanitize(const char *s, const char *secret, char *out, size_t outsz);
/* A user-supplied word made safe to quote in a message (one static buffer). */
const char *shown(const char *s);
/* Print "sluicectl: MESSAGE" as the one line of a failure on stderr; returns code. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A decimal integer 0..max, digits only (no sign, blanks or exponent). */
bool parse_uint(const char *s, long long max, long long *ret_v);
#endif /* SL_CTL_H */
