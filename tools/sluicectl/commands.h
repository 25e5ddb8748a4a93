/* SPDX-License-Identifier: MIT */
/* commands.h - sluicectl's commands: the table the help and the dispatch both read. */
#ifndef SL_CTL_COMMANDS_H
#define SL_CTL_COMMANDS_H
#include <stddef.h>

/* Two halves, so that the help can break the synopsis within 80 columns. */
#define LIMIT_SYNOPSIS_1 "[--rpm N] [--tpm N] [--budget N] [--period P]"
#define LIMIT_SYNOPSIS_2 "[--models LIST] [--guard POLICY]"
#define LIMIT_SYNOPSIS LIMIT_SYNOPSIS_1 " " LIMIT_SYNOPSIS_2

enum body_kind { BODY_NONE, BODY_CREATE, BODY_LIMITS };
enum out_kind { OUT_JSON, OUT_KEY };

struct cmd {
    const char *group;
    const char *verb; /* NULL: the bare form, "usage NAME" */
    const char *arg;  /* "NAME", "KEYID" or NULL for no argument */
    const char *method;
    const char *path; /* under API_PREFIX; %s is the escaped argument */
    enum body_kind body;
    enum out_kind out;
    const char *help; /* lines indented by 6 spaces, each ending in \n */
};

struct args;
struct ctl;

/* Every command, in the order the help lists them. */
extern const struct cmd cmds[];
extern const size_t ncmds;

/* The command named by the first words; *ret_used is how many words its name took. */
int resolve(const struct args *a, const struct cmd **ret_cmd, int *ret_used);
/* The command's one argument (NAME or KEYID), checked; NULL when it takes none. */
int check_arg(const struct args *a, const struct cmd *cmd, int used, const char **ret);
/* The JSON body of the request from the limit, model and guard options, checked; NULL when
 * it has none. */
int make_body(const struct args *a, const struct cmd *cmd, const char *name, char **ret_payload);
/* Send the request and print the result; 0 or an exit code (already reported). */
int run(struct ctl *c, const struct cmd *cmd, const char *arg, const char *payload);
#endif /* SL_CTL_COMMANDS_H */
