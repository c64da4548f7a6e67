/*
 * alert-log.h — what the files of the one program alert-log share: the tee
 * and main (alert-log.c), the auditor's reports (alert-log-query.c), and
 * replay and the quarantine (alert-log-quarantine.c).
 */
#ifndef ALERT_LOG_H
#define ALERT_LOG_H

#include <getopt.h>

#include "mlc.h"

extern const char usage[];                  /* --help, and after a usage error */
extern struct mlc_store *store;             /* opened by open_store() */
extern const char *opt_rule, *opt_run_id;   /* the tee's --rule and --run-id */

/* Open the state database (-d, or the configured state directory), or die. */
void open_store(void);

/* Which program the tee feeds (alert-log --before): whose checks it makes. */
enum { POS_NONE, POS_MATCH, POS_RENDER, POS_SEND };
/* The checks of the program at pos (wire.c): 0 with *o, or -1 with e and *o
 * the object as jq reads the line, or jv_invalid(). */
int check_line(const char *line, size_t len, int pos, jv *o, struct mlc_wire_err *e);

/* Output formats of the reports (-f). */
enum fmt { F_NDJSON, F_CSV, F_TEXT };
enum fmt parse_fmt(const char *s);
void csv_field(struct mlc_buf *b, const char *s);
extern const struct option format_opt[];    /* -f's long name, --format */

/* The commands: argv[0] is the command's name; an exit code. */
int cmd_query(int argc, char **argv);
int cmd_why(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_retention(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);

#endif
