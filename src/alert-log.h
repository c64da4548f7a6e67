/*
 * alert-log.h — what the files of the one program alert-log share: the tee
 * and main (alert-log.c), the auditor's reports (alert-log-query.c), and
 * replay and the quarantine (alert-log-quarantine.c), the Prometheus
 * metrics (alert-log-metrics.c), and the monitor (alert-log-monitor.c).
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
/* The line in b on stdout: 0, or -1 (said) on a write error. */
int put_line(struct mlc_buf *b);
/* Append the first ncols columns of r: one NDJSON object (NULL columns
 * left out), or one CSV record. */
void json_row(struct mlc_buf *b, const struct mlc_trail_row *r, int ncols);
void csv_row(struct mlc_buf *b, const struct mlc_trail_row *r, int ncols);
/* The CSV header line of cols[0..ncols) on stdout (b is reset): 0, or -1. */
int csv_head(struct mlc_buf *b, const char *const *cols, int ncols);
/* A trail reader's result as an exit code: a write error (rc > 0) is
 * MLC_EX_IOERR; a store error (rc < 0) is said (what) and coded. */
int read_code(int rc, const char *what);

/* The commands: argv[0] is the command's name; an exit code. */
int cmd_query(int argc, char **argv);
int cmd_why(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_retention(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_open(int argc, char **argv);
int cmd_escalations(int argc, char **argv);

#endif
