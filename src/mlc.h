/*
 * mlc.h — the one shared header of ml-connector.
 *
 * Sectioned by the file that implements each part; every shared function is
 * mlc_<module>_<verb>.  Structs are not typedef'd except opaque handles.
 */
#ifndef MLC_H
#define MLC_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include <jv.h>

#ifndef MLC_VERSION
#define MLC_VERSION "0.0.0"
#endif

#if defined(__GNUC__)
#define MLC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define MLC_NORETURN __attribute__((noreturn))
#else
#define MLC_PRINTF(a, b)
#define MLC_NORETURN
#endif

/* ---- exit codes (every tool, every man page: EXIT STATUS) ------------ */
/* One table for the suite, after sysexits(3).  Keep man/ml-connector.7 in step. */
enum {
	MLC_EX_OK = 0,
	MLC_EX_USAGE = 64,       /* bad command line */
	MLC_EX_DATAERR = 65,     /* bad input data (a line or field); others went on */
	MLC_EX_NOINPUT = 66,     /* an input file or named object is missing */
	MLC_EX_UNAVAILABLE = 69, /* remote service unavailable after retries */
	MLC_EX_SOFTWARE = 70,    /* internal error */
	MLC_EX_IOERR = 74,       /* write error on output (EPIPE, ENOSPC), database I/O */
	MLC_EX_TEMPFAIL = 75,    /* temporary failure: try again later (lock held, busy) */
	MLC_EX_NOPERM = 77,      /* authentication refused; vault cannot be opened */
	MLC_EX_CONFIG = 78,      /* configuration or rule error */
	MLC_EX_UNDELIVERED = 79  /* ml-connector run: deliveries refused for good (recorded) */
};

/* ---- util.c: program name, messages, usage, signals, memory, buffers, time */
extern const char *mlc_progname;

void mlc_util_setprogname(const char *argv0);
/* Messages on stderr, one write each, in the form the environment asks for
 * (text, ML_CONNECTOR_LOG=json, journald priorities: util.c, and
 * ml-connector(7) MESSAGES).  mlc_warn is a warning, mlc_die an error. */
enum {
	MLC_LOG_ERR = 3,      /* <3>, sd-daemon(3) SD_ERR */
	MLC_LOG_WARNING = 4,  /* <4> */
	MLC_LOG_INFO = 6,     /* <6> */
	MLC_LOG_DEBUG = 7     /* <7>: traces */
};
void mlc_log(int level, const char *fmt, ...) MLC_PRINTF(2, 3);
/* One message of n bytes (not NUL-terminated), as mlc_log writes it. */
void mlc_log_line(int level, const char *msg, size_t n);
void mlc_warn(const char *fmt, ...) MLC_PRINTF(1, 2);
/* A message into err (errlen bytes; nothing when err is NULL or errlen 0);
 * returns -1, for "return mlc_errf(err, errlen, ...)". */
int mlc_errf(char *err, size_t errlen, const char *fmt, ...) MLC_PRINTF(3, 4);
void mlc_die(int code, const char *fmt, ...) MLC_PRINTF(2, 3) MLC_NORETURN;
/* A progress line on stderr, redrawn in place ("\r"), when stderr is a
 * terminal, stdout is not, messages are text and ML_CONNECTOR_PROGRESS is
 * not "no"; at most five redraws a second; wiped at exit and before any
 * message. */
void mlc_progress(const char *fmt, ...) MLC_PRINTF(1, 2);
void mlc_progress_end(void);
/* The rule the orchestrator runs this stage for (ML_CONNECTOR_RULE, the one
 * the messages name), or NULL. */
const char *mlc_util_rule(void);
/* The standard --help/--version handling: returns 1 if argv[1] was one of them
 * (after printing usage or version to stdout), else 0. */
int mlc_util_std_args(int argc, char **argv, const char *usage);
/* A usage error: the message (if fmt is not NULL), then usage, on stderr;
 * exit 64.  The default case of a getopt_long loop, for one. */
void mlc_util_usage(const char *usage, const char *fmt, ...) MLC_PRINTF(2, 3) MLC_NORETURN;
/* The number of option opt's argument s, from lo to hi; else "OPT S:
 * expected a number from LO to HI" and exit 64. */
long mlc_util_num_arg(const char *opt, const char *s, long lo, long hi);
/* The one signal setup, once the options are read: SIGPIPE ignored (a write
 * to a closed pipe is EPIPE, reported and exited on); and when stop is not
 * NULL, SIGINT and SIGTERM store their number in *stop, without SA_RESTART,
 * so that a blocking call returns EINTR and the loop looks at the flag. */
void mlc_util_signals(volatile sig_atomic_t *stop);
/* Grow the pipe on fd to 1 MiB where it is a pipe and the kernel allows
 * (best effort): a stage that waits per batch keeps its writer going. */
void mlc_util_pipe_room(int fd);
/* Exit after flushing stdout; a failed flush or close is an I/O error (74). */
void mlc_util_exit(int code) MLC_NORETURN;
/* Disable core dumps and ptrace attach: for processes that hold secrets. */
void mlc_util_nodump(void);

void *mlc_xmalloc(size_t n);
void *mlc_xcalloc(size_t n, size_t m);
void *mlc_xrealloc(void *p, size_t n);
char *mlc_xstrdup(const char *s);
char *mlc_xstrndup(const char *s, size_t n);

/* Growable byte buffer, always NUL-terminated. */
struct mlc_buf {
	char *p;
	size_t len, cap;
};
void mlc_buf_init(struct mlc_buf *b);
void mlc_buf_reset(struct mlc_buf *b);          /* len = 0, keeps memory */
void mlc_buf_free(struct mlc_buf *b);
void mlc_buf_add(struct mlc_buf *b, const void *data, size_t n);
void mlc_buf_adds(struct mlc_buf *b, const char *s);
void mlc_buf_addc(struct mlc_buf *b, char c);
void mlc_buf_printf(struct mlc_buf *b, const char *fmt, ...) MLC_PRINTF(2, 3);
/* Append s as a JSON string literal with quotes; invalid UTF-8 becomes U+FFFD. */
void mlc_buf_json_str(struct mlc_buf *b, const char *s, size_t n);
/* Wipe the contents (sodium_memzero) and free. */
void mlc_buf_wipe(struct mlc_buf *b);

/* The value of hexadecimal digit c, or -1. */
int mlc_hexval(int c);
/* u's decimal digits into out (MLC_ULL_DIGITS bytes: 20 and the NUL), at
 * least min of them (zeros in front, min at most 20): their number.  By
 * hand, without printf: it runs for numbers on every line. */
#define MLC_ULL_DIGITS 21
size_t mlc_ull_digits(char *out, unsigned long long u, size_t min);
/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int mlc_utf8_valid(const char *s, size_t n);
/* The length of the longest valid UTF-8 prefix of s[0..n): n if it is all
 * valid, else the offset of the first bad byte. */
size_t mlc_utf8_valid_len(const char *s, size_t n);
/* Percent-encode for application/x-www-form-urlencoded (space -> '+'). */
void mlc_buf_form_enc(struct mlc_buf *b, const char *s, size_t n);

/* Replace the file at path with data[0..n) so that a reader sees the old
 * file or the new one, never a part: a temporary file beside it
 * (mkstemp), made mode, written whole, fsync'd, then renamed over path.
 * Returns 0, or -1 with errno set and path left as it was (the temporary
 * removed). */
int mlc_file_replace(const char *path, const void *data, size_t n, mode_t mode);

/* Current time.  ML_CONNECTOR_NOW (RFC 3339 or @epoch) overrides it, so that
 * tests and --now can travel in time; returns 0 or -1 on a bad override. */
int mlc_time_now(struct timespec *ts);
/* Format as RFC 3339 UTC with milliseconds: 2024-01-15T08:00:00.000Z (25 bytes). */
void mlc_time_fmt(char out[32], const struct timespec *ts);
/* Parse RFC 3339 ("2024-01-15T08:00:00Z", offsets, fractions) or "@epoch". */
int mlc_time_parse(const char *s, struct timespec *ts);
/* Now (mlc_time_now) formatted by mlc_time_fmt. */
void mlc_time_now_text(char out[32]);
/* A monotonic clock in milliseconds, for timeouts and pacing. */
uint64_t mlc_time_mono_ms(void);
/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12). */
long mlc_time_days(int y, int m, int d);

/* Time zones.  An IANA name is a zone when it is "UTC" or names a TZif file
 * under $TZDIR (default /usr/share/zoneinfo): not a directory, not "..",
 * not absolute.  The C library converts only in the process's TZ, so code
 * that needs another zone enters it and leaves it again at once, with no
 * call in between that could depend on the caller's zone:
 *     struct mlc_tz_saved sv;
 *     if (mlc_tz_enter(&sv, zone) < 0) ...unknown zone, TZ unchanged...
 *     localtime_r(...);
 *     mlc_tz_leave(&sv);      TZ as it was (set, or unset), tzset() again */
struct mlc_tz_saved {
	char *old;
	int had;
};
int mlc_tz_valid(const char *zone);
int mlc_tz_enter(struct mlc_tz_saved *sv, const char *zone);
void mlc_tz_leave(struct mlc_tz_saved *sv);

/* ---- ndjson.c: line reading and whole-line writing ------------------- */
#define MLC_NDJSON_MAXLINE (16u << 20) /* default cap: 16 MiB per line */

struct mlc_ndjson_reader; /* opaque */
/* name is used in messages ("-" shows as "stdin"). maxline 0 = the default. */
struct mlc_ndjson_reader *mlc_ndjson_open(FILE *f, const char *name, size_t maxline);
/*
 * Read the next line into *line (NUL-terminated, without '\n'; valid until the
 * next call).  Returns 1 for a line, 0 at end of input, or -1 on an error
 * already reported on stderr with the line number:
 *   line too long (the rest of that line is skipped; reading may continue),
 *   unterminated last line (truncated input; end of input follows),
 *   read error (errno kept; end of input follows).
 * mlc_ndjson_error() then tells which: MLC_EX_DATAERR or MLC_EX_IOERR.
 */
int mlc_ndjson_read(struct mlc_ndjson_reader *r, char **line, size_t *len);
unsigned long mlc_ndjson_lineno(const struct mlc_ndjson_reader *r);
int mlc_ndjson_error(const struct mlc_ndjson_reader *r);
/* After a -1: what happened, as reported but without "NAME: line N: "
 * ("line longer than 16777216 bytes; skipped", "truncated input ..."). */
const char *mlc_ndjson_errmsg(const struct mlc_ndjson_reader *r);
/* 1 if a whole line is already buffered, so that the next read will not
 * block: lets a reader group work (one database commit for many lines). */
int mlc_ndjson_pending(const struct mlc_ndjson_reader *r);
void mlc_ndjson_close(struct mlc_ndjson_reader *r);

/* Write buf[0..n) plus '\n' (added if missing) to fd 1 as one whole line:
 * write(2) is retried until done; stdout is unbuffered for NDJSON so that a
 * line is never half out.  Returns 0 or -1 (errno set; EPIPE, ENOSPC, ...).
 * Callers stop and exit MLC_EX_IOERR on -1. */
int mlc_ndjson_write(int fd, const char *buf, size_t n);
/* Same for a struct mlc_buf; convenient and identical. */
int mlc_ndjson_put(int fd, struct mlc_buf *b);

/* ---- wire.c: what the filters accept (checks of one wire-format line) -- */
/*
 * One home for the checks of a line between the filters (ml-connector.7):
 * each filter calls those of what it reads, and alert-log calls the same
 * ones for the program it feeds (alert-log --before PROGRAM, alert-log
 * replay), so that the tee refuses what the next program would refuse.
 * A refusal names the member it is about as a path: "body",
 * "row.F0411_RMK", "recipients[0].name" ("" for the line as a whole).
 */
struct mlc_wire_err {
	char field[160]; /* the member's path, or "" */
	char what[320];  /* "not valid UTF-8 (at byte 57)", "not an E.164 number" */
};
/* "field \"body\": not valid UTF-8 (at byte 57)", or what alone. */
void mlc_wire_errmsg(const struct mlc_wire_err *e, char *out, size_t outlen);
/*
 * Every line, every program: at most MLC_NDJSON_MAXLINE bytes, valid UTF-8
 * (checked before parsing: jq would turn bad bytes into U+FFFD silently),
 * no NUL byte and no \u0000 escape, no unpaired UTF-16 surrogate escape
 * (jq would make it U+FFFD), one JSON object.  0 with *obj the object (the
 * caller frees it), or -1 with e set; *obj is then the object as jq reads
 * the line when it is one (to name the line's ids), else jv_invalid().
 */
int mlc_wire_line(const char *line, size_t len, jv *obj, struct mlc_wire_err *e);
/*
 * mlc_wire_line, building only some members of the object: of an object
 * read the fast way, the members keep names (each with its own keep for
 * an object value, NULL for all of it), and the others if rest is 1.
 * The checks are those of the whole line, and a line jq's parser reads
 * (wire.c) is built whole.  For a reader that knows every member it reads
 * (alert-render's templates in C): the values it reads are the same.
 */
struct mlc_wire_keep {
	int rest;
	size_t n;
	char **name;
	size_t *len;
	struct mlc_wire_keep **sub;
};
int mlc_wire_line_keep(const char *line, size_t len, jv *obj, struct mlc_wire_err *e,
                       const struct mlc_wire_keep *keep);
/* alert-render's input: 1 a "suppressed" line (passed through), 0 an alert
 * (alert_id and rule non-empty strings, record an object, recipients an
 * array), -1 not an alert (e set).  obj is not consumed. */
int mlc_wire_alert(jv obj, struct mlc_wire_err *e);
/* mlc_wire_alert on the members already read (borrowed; jv_invalid() or
 * jv_null() for one absent). */
int mlc_wire_alert_of(jv suppressed, jv alert_id, jv rule, jv record, jv recipients,
                      struct mlc_wire_err *e);
/* 1 if twilio-send takes obj as a delivery: it has "delivery_id" or
 * "channel" and none of status, event, suppressed, deferred, dropped,
 * capped, dry_run (results and bookkeeping lines pass through). */
int mlc_wire_is_delivery(jv obj);
/* 1 if obj is jde-fetch --trailer's last line, {"end":{...}}: a read that
 * went through; it is no record. */
int mlc_wire_is_trailer(jv obj);
/* twilio-send's checks of a delivery: delivery_id a string; channel sms,
 * whatsapp or email; to an address of the channel's kind (addr.c: E.164,
 * whatsapp: with or without the prefix, e-mail); sms and whatsapp a non-empty
 * body of at most MLC_SMS_MAXCHARS UTF-16 code units, or for whatsapp a
 * template instead: content_sid (mlc_content_sid_ok), content_variables
 * (mlc_content_vars_check) if present, and no body; email a non-empty
 * subject and text, html a string if present.  0, or -1 with e set.  obj is
 * not consumed. */
int mlc_wire_delivery(jv obj, struct mlc_wire_err *e);
/* The one reading of a string member k of o: 1 (*s points into *v, which
 * the caller frees), 0 absent or null, -1 another type or a NUL inside
 * (*v is then to be freed too).  o is not consumed. */
int mlc_wire_str(jv o, const char *k, jv *v, const char **s);

/* ---- addr.c: what a message address is (E.164, WhatsApp, e-mail) ------- */
/*
 * The one check of each kind of address, called by every stage and by the
 * simulator; the rules, and why they are these, open addr.c.
 */
#define MLC_ADDR_E164_MIN 7    /* digits after the "+" */
#define MLC_ADDR_E164_MAX 15   /* ITU-T E.164 */
#define MLC_ADDR_E164_SIZE 17  /* "+", 15 digits, NUL */
#define MLC_ADDR_EMAIL_MAX 254 /* bytes: RFC 5321's path less "<>" */
#define MLC_ADDR_WHATSAPP "whatsapp:"
/* The E.164 rule in words, for messages. */
#define MLC_ADDR_E164_RULE "+ and 7 to 15 digits; +1 and 10 more"
/* "+", then 7 to 15 digits, the first not 0; "+1" and exactly 10 more. */
int mlc_addr_e164_ok(const char *s);
/* s starts with "whatsapp:". */
int mlc_addr_is_whatsapp(const char *s);
/* "whatsapp:" and an E.164 number, or a plain E.164 number. */
int mlc_addr_whatsapp_ok(const char *s);
/* s with the "whatsapp:" prefix, added unless s has it: appended to b, or
 * as a new string (mlc_xmalloc'd; the caller frees it). */
void mlc_addr_whatsapp_add(struct mlc_buf *b, const char *s);
char *mlc_addr_whatsapp(const char *s);
/* At most 254 bytes, one "@" with a local part before it, a domain of two
 * or more non-empty dot-separated labels, no control character, blank,
 * <, >, comma, semicolon or double quote. */
int mlc_addr_email_ok(const char *s);
/* E.164 from an Address Book phone number; cc is the default calling code
 * ("1", "49").  Punctuation ( ) - . / and blanks go; a leading "+" keeps
 * its country code, "00" (and "011" for cc 1) is international, a national
 * number gets cc (losing its trunk prefix: 1 for NANP, else 0).  0 with
 * out = "+...", which passes mlc_addr_e164_ok, or -1: not a number we can
 * be sure of. */
int mlc_addr_e164_norm(const char *raw, const char *cc, char out[MLC_ADDR_E164_SIZE]);
/* The channels, each the kind of address it takes; every list of them is
 * written in this order. */
enum mlc_channel { MLC_CH_SMS, MLC_CH_WHATSAPP, MLC_CH_EMAIL, MLC_CH_COUNT };
#define MLC_CHANNELS_WORDS "sms, whatsapp or email"
/* The channel named by the n bytes at s, or -1. */
int mlc_addr_channel(const char *s, size_t n);
/* The name of channel ch ("sms", "whatsapp", "email"), or NULL. */
const char *mlc_addr_channel_name(int ch);
/* to is an address of channel ch's kind (mlc_addr_e164_ok,
 * mlc_addr_whatsapp_ok or mlc_addr_email_ok). */
int mlc_addr_ok(int ch, const char *to);
/* What an address of channel ch is, for messages: "an E.164 number". */
const char *mlc_addr_what(int ch);

/* ---- content.c: WhatsApp Content templates (ContentSid, ContentVariables) */
/*
 * The one check of a template send's parts, for alert-render, wire.c and
 * the simulator; the facts and their sources open content.c.
 */
#define MLC_CONTENT_MAX_VARS 100   /* pairs in ContentVariables */
#define MLC_CONTENT_VALUE_MAX 1600 /* characters (UTF-16 code units) of one value */
/* "HX" and 32 hex digits, nothing more. */
int mlc_content_sid_ok(const char *s);
/* A ContentVariables object: keys "1".."N", each once, no gap, at most
 * MLC_CONTENT_MAX_VARS; every value a non-empty string of at most
 * MLC_CONTENT_VALUE_MAX characters without a NUL, line break, tab or more
 * than 4 spaces in a row.  0, or -1 with field (the key, "" for the whole)
 * and what set.  vars is not consumed. */
int mlc_content_vars_check(jv vars, char *field, size_t flen, char *what, size_t wlen);
/* s[0..n) appended to out with every run of blanks (space, tab, CR, LF)
 * made one space and none at either end: what 21656 lets through. */
void mlc_content_value_clean(const char *s, size_t n, struct mlc_buf *out);
/* The JSON text of a checked ContentVariables object appended to out,
 * compact, its keys in the order of their numbers ({"1":"..","2":".."}):
 * the delivery line's member and Twilio's form field alike.  vars is not
 * consumed. */
void mlc_content_vars_json(jv vars, struct mlc_buf *out);

/* ---- conf.c: the key = value file format of configs and rules -------- */
/*
 * Format (documented in ml-connector.5):
 *   # comment          ; comment          blank lines ignored
 *   [section]
 *   key = value
 *   key = first line
 *     continuation lines start with white space; they are joined with "\n"
 *     and their leading white space is removed.
 * Keys and section names: [a-z0-9_.-]+.  A key may repeat; the schema says
 * whether it may.  Values keep inner white space; trailing white space is cut.
 */
struct mlc_conf_entry {
	char *section; /* "" before the first [section] */
	char *key;
	char *value;
	unsigned line;
};
struct mlc_conf {
	char *path;
	struct mlc_conf_entry *v;
	size_t n;
};
/* Parse a file ("-" = stdin).  Returns 0, or -1 with a message in err
 * ("PATH:LINE: ...").  A missing file sets *missing = 1 if missing != NULL. */
int mlc_conf_load(struct mlc_conf *c, const char *path, char *err, size_t errlen, int *missing);
int mlc_conf_parse(struct mlc_conf *c, const char *path, const char *text, size_t n,
                   char *err, size_t errlen);
void mlc_conf_free(struct mlc_conf *c);
/* Last value of section.key, or NULL. */
const char *mlc_conf_get(const struct mlc_conf *c, const char *section, const char *key);
const struct mlc_conf_entry *mlc_conf_find(const struct mlc_conf *c, const char *section,
                                           const char *key);
/* Check every entry against a schema: a NULL-terminated list of
 * "section.key" strings; "section.key*" allows the key to repeat and
 * "section.*" allows any key in that section; keys before any [section]
 * are written ".key".  Unknown keys, unknown
 * sections and repeats are errors: "PATH:LINE: unknown key "x" in [s]". */
int mlc_conf_check(const struct mlc_conf *c, const char *const *schema, char *err, size_t errlen);

/* ---- conf.c: where the configuration, the rules and the state live ---- */
/*
 * One order for each, used by every program and by the orchestrator (via
 * mlc-conf(1)): the command line, the environment, the configuration file,
 * the default (ml-connector(5) FILES).  No secret ever lives in the
 * configuration: those are in the vault.
 */
/* The -c option of this process (NULL or "": none); call it before any
 * lookup, so that everything in the process reads the same file. */
void mlc_config_use(const char *path);
/* The configuration file: the -c given to mlc_config_use, else
 * $ML_CONNECTOR_CONF, else $XDG_CONFIG_HOME/ml-connector/ml-connector.conf
 * ($XDG_CONFIG_HOME if absolute, else ~/.config) if that file exists, else
 * /etc/ml-connector/ml-connector.conf.  Whether or not it exists. */
const char *mlc_config_path(void);
/* section.key of that file, joined as mlc_conf_parse joins continuation
 * lines: 1 with *val (malloc'd), 0 when unset or when there is no such
 * file, -1 with err when it cannot be read or parsed. */
int mlc_config_lookup(const char *section, const char *key, char **val, char *err,
                      size_t errlen);
/* The state directory: opt (a -d option), else $ML_CONNECTOR_STATE, else
 * the configuration's [general] state_dir, else $XDG_STATE_HOME/ml-connector
 * (absolute only), else /var/lib/ml-connector when run as root (a system
 * install, as ml-connector(8)), else ~/.local/state/ml-connector, else
 * /var/lib/ml-connector.  Empty values count as unset.  A static string, or
 * NULL with err (the configuration is unreadable or invalid). */
const char *mlc_state_dir(const char *opt, char *err, size_t errlen);
/* The rules directory: opt (-R), else $ML_CONNECTOR_RULES, else [general]
 * rules_dir, else rules/ beside the configuration file.  As mlc_state_dir. */
const char *mlc_rule_dir(const char *opt, char *err, size_t errlen);

/* ---- http.c: libcurl, the one way out --------------------------------- */
/* URL policy: https always; http only when the caller allows it. */
enum {
	MLC_HTTP_ALLOW_HTTP = 1,          /* the configured URL is explicitly http:// */
	MLC_HTTP_ALLOW_HTTP_LOOPBACK = 2  /* http only to 127.0.0.0/8, ::1, localhost */
};
struct mlc_http_opts {
	const char *cainfo;       /* customer CA bundle (CURLOPT_CAINFO), or NULL */
	long connect_timeout_ms;  /* 0 = 10000 */
	long timeout_ms;          /* total per request; 0 = 30000 */
	int url_policy;           /* MLC_HTTP_ALLOW_* */
	int trace;                /* redacted request/response header trace on stderr */
	int secret_url;           /* the URL is itself a secret (heartbeat.url): never
	                           * traced, whatever trace or ML_CONNECTOR_TRACE say */
	const char *user_agent;   /* NULL = "ml-connector/VERSION" */
	int cookies;              /* keep cookies for the handle's life, in memory only
	                           * (a load balancer's session affinity) */
};
/* What happened to one request, for the retry policy. */
enum mlc_http_outcome {
	MLC_HTTP_DONE = 0,     /* a response arrived; look at status */
	MLC_HTTP_NOT_SENT,     /* resolve/connect/TLS-before-send failure: safe to retry */
	MLC_HTTP_UNKNOWN,      /* the request left and no (complete) answer came */
	MLC_HTTP_TLS,          /* certificate refused: configuration, never retried */
	MLC_HTTP_POLICY,       /* URL refused by policy (scheme) */
	MLC_HTTP_ERROR         /* other local error */
};
struct mlc_http_resp {
	enum mlc_http_outcome outcome;
	long status;              /* HTTP status, 0 if none */
	struct mlc_buf body;      /* response body (capped at 64 MiB) */
	long retry_after_ms;      /* from Retry-After (seconds or HTTP-date), -1 if absent */
	long ratelimit_reset;     /* X-RateLimit-Reset epoch seconds, -1 if absent */
	char message_id[128];     /* X-Message-Id (SendGrid), "" if absent */
	char error[256];          /* curl's message when outcome != DONE */
	/* at most once (mlc_http_once); reset by mlc_http_capture */
	int once;                 /* libcurl may not issue the request twice */
	int issues;               /* times libcurl was about to issue it */
	int resend_refused;       /* it was about to issue it again: refused */
};
struct mlc_http; /* opaque: one easy handle, reused (keep-alive) */
struct mlc_http *mlc_http_new(const struct mlc_http_opts *o);
void mlc_http_free(struct mlc_http *h);
void mlc_http_resp_init(struct mlc_http_resp *r);
/* The handle's cookies (opts.cookies) as libcurl's cookie-file lines, each
 * ending in a newline, appended to b: the count.  _add: one such line into
 * the handle's cookies; 0, or -1.  For a session handed to another process. */
size_t mlc_http_cookies_get(struct mlc_http *h, struct mlc_buf *b);
int mlc_http_cookie_add(struct mlc_http *h, const char *line);
void mlc_http_resp_free(struct mlc_http_resp *r);
/*
 * One request.  headers: NULL-terminated "Name: value" strings.  body may be
 * NULL (no body).  user/pass: HTTP Basic through CURLOPT_USERNAME/PASSWORD;
 * user NULL and pass set: pass is a bearer token (Authorization: Bearer,
 * CURLOPT_XOAUTH2_BEARER; SendGrid); both NULL: none.  Returns 0 when a response arrived (resp->outcome == DONE), -1
 * otherwise with resp->outcome and resp->error set.  For requests that may
 * be repeated only: libcurl may send one again by itself on a new
 * connection (see mlc_http_once).
 */
int mlc_http_request(struct mlc_http *h, const char *method, const char *url,
                     const char *const *headers, const char *body, size_t bodylen,
                     const char *user, const char *pass, struct mlc_http_resp *resp);
/* Check a URL against a policy; 0 or -1 with a message in err. */
int mlc_http_url_ok(const char *url, int policy, char *err, size_t errlen);
/* Copy url into out with the values of token=, password= and similar query
 * parameters replaced by "REDACTED": for messages and traces.  Parameter
 * names (case-insensitive): token, password, pwd, secret, key, sig,
 * signature, auth; a password in user:password@ is redacted too.  Works on
 * any text holding a URL (a request line "GET /p?token=x HTTP/1.1"). */
void mlc_http_redact_url(const char *url, char *out, size_t outlen);
/* curl_global_init, once per process (idempotent; call at start, before
 * threads).  mlc_http_new calls it too. */
void mlc_http_global_init(void);
/*
 * The same policy for a raw CURL easy handle (void * = CURL *, so that this
 * header needs no curl.h), for callers that drive transfers through the
 * multi interface (twilio-send):
 *   mlc_http_setup_easy  URL policy check, then URL, timeouts, protocols,
 *                        TLS verification (always on), CA bundle, no
 *                        redirects, user agent, NOSIGNAL and the redacting
 *                        trace.  0, or -1 with err (the URL was refused:
 *                        outcome MLC_HTTP_POLICY).  Method, body, headers
 *                        and credentials are the caller's to set.
 *   mlc_http_capture     reset r and point the body/header callbacks and
 *                        the error buffer at r (r must outlive the transfer).
 *   mlc_http_finish      after the transfer: r->outcome, status, error from
 *                        curlcode (a CURLcode) and the handle's info.
 * Environment: ML_CONNECTOR_TRACE=1 turns the trace on for every handle.
 */
int mlc_http_setup_easy(void *curl, const struct mlc_http_opts *o, const char *url, char *err,
                        size_t errlen);
void mlc_http_capture(void *curl, struct mlc_http_resp *r);
void mlc_http_finish(void *curl, int curlcode, struct mlc_http_resp *r);
/*
 * After mlc_http_capture: the request of this transfer is not idempotent
 * (a create: Twilio Messages, SendGrid mail send) and goes at most once.
 * libcurl re-sends a request by itself when a reused connection dies before
 * the answer (and in the other cases listed in http.c); for this transfer it
 * may not: the transfer ends UNKNOWN instead ("the first copy may have
 * arrived") and every re-send is the caller's decision.  mlc_http_request
 * leaves libcurl's re-sends on: it is for requests that may be repeated
 * (GET, AIS queries and logins).
 */
void mlc_http_once(struct mlc_http_resp *r);
/* "DONE", "NOT_SENT", "UNKNOWN", "TLS", "POLICY", "ERROR". */
const char *mlc_http_outcome_name(enum mlc_http_outcome o);

/* ---- retry.c: which failures to retry, and how long to wait ----------- */
enum mlc_retry_class {
	MLC_RETRY_NO = 0,    /* success, or a permanent error: do not retry */
	MLC_RETRY_YES,       /* transient: 408, 429, 5xx (see below), not sent */
	MLC_RETRY_UNKNOWN,   /* the request may have taken effect: never resend blindly */
	MLC_RETRY_AUTH       /* 401/403/444 and the like: re-authenticate, not retry */
};
/* Classify a response.  idempotent: 1 for GET/polls, where a timeout after
 * sending and a 500 may be retried; 0 for a create POST, where they are UNKNOWN. */
enum mlc_retry_class mlc_retry_classify(const struct mlc_http_resp *r, int idempotent);
struct mlc_retry {
	int max_attempts;        /* including the first; default 5 */
	long base_ms;            /* first backoff ceiling; default 500 */
	long cap_ms;             /* backoff ceiling cap; default 30000 */
	long retry_after_max_ms; /* Retry-After is clamped to this; default 120000 */
	long budget_ms;          /* total wall time for all attempts; default 300000 */
	/* state */
	int attempt;             /* attempts made so far */
	long waited_ms;
	struct timespec start;
	uint32_t rng;
};
void mlc_retry_init(struct mlc_retry *rt);
/* Called after each failed attempt (counted in rt->attempt): returns the
 * delay in ms before the next one (full jitter: uniform in [0, min(cap,
 * base*2^(attempt-1))], raised to retry_after_ms clamped to
 * retry_after_max_ms; retry_after_ms < 0 = none), or -1 when max_attempts
 * are used up or the delay would end past the budget (time used = the
 * larger of the wall time since init and the delays handed out). */
long mlc_retry_next(struct mlc_retry *rt, long retry_after_ms);
/* Sleep ms milliseconds (nanosleep, restarted on EINTR unless *stop is set). */
void mlc_retry_sleep(long ms, volatile int *stop);
/* "NO", "YES", "UNKNOWN", "AUTH". */
const char *mlc_retry_class_name(enum mlc_retry_class c);
/* The fix for a permanent Twilio error that the rule or the account must
 * make (63016: a WhatsApp template), as one sentence, or NULL. */
const char *mlc_retry_hint(long code);
/* 1 when a Twilio error code refuses the To address itself for good
 * (21211, 21614): the alert is not sent to that address again (realert.c). */
int mlc_retry_bad_address(long code);
/* Environment: ML_CONNECTOR_RETRY_SEED=N seeds the jitter generator (tests);
 * otherwise it is seeded from libsodium's randombytes. */

/* ---- store.c: the state database (SQLite) ----------------------------- */
/* Database: DIR/state.db, DIR from mlc_state_dir (conf.c). */
struct mlc_store; /* opaque */
struct sqlite3_stmt; /* sqlite3.h's sqlite3_stmt */
/* Open (creating the directory 0700 and migrating the schema).  Returns NULL
 * with a message in err and *code set to MLC_EX_CONFIG or MLC_EX_IOERR
 * (MLC_EX_TEMPFAIL only after a bounded wait). */
struct mlc_store *mlc_store_open(const char *dir, char *err, size_t errlen, int *code);
void mlc_store_close(struct mlc_store *s);
void *mlc_store_db(struct mlc_store *s); /* the sqlite3 * for binding and columns */
/*
 * Locks (see the top of store.c): a lock held by another process is waited
 * for as long as it is held, with a note on stderr after a second
 * ("PROG: PATH is locked by another process; waiting to WHAT"), every 30 s
 * and when it is gone.  WHAT is set by mlc_store_doing or mlc_store_tx.
 */
void mlc_store_doing(struct mlc_store *s, const char *what);
/* For this process: give up waiting after ML_CONNECTOR_BUSY_TIMEOUT ms
 * (default 5000, at most 10000), then MLC_EX_TEMPFAIL.  twilio-status only. */
void mlc_store_bounded_wait(void);
/* For this process: stop waiting (MLC_EX_TEMPFAIL) once *flag is set. */
void mlc_store_stop_on(volatile int *flag);
/* This connection's commits are not fsync'd (PRAGMA synchronous = NORMAL):
 * for a writer whose every write is followed, before anything leaves the
 * machine, by a commit of a full-sync connection (see store.c).  0 or -1. */
int mlc_store_sync_later(struct mlc_store *s);
/* sqlite3_prepare_v2 and sqlite3_step that wait while another process holds
 * a lock.  prepare: 0, or -1 (mlc_store_warn/code tell).  step: SQLite's
 * code (SQLITE_ROW, SQLITE_DONE, or an error; inside mlc_store_tx a lock
 * comes back as SQLITE_BUSY and the transaction runs again). */
int mlc_store_prepare(struct mlc_store *s, const char *sql, struct sqlite3_stmt **st);
int mlc_store_step(struct mlc_store *s, struct sqlite3_stmt *st);
/* A statement kept prepared for the life of s (finalized by
 * mlc_store_close), reset and with its bindings cleared: for writes made
 * once per line (trail.c).  sql must be a string constant: the cache goes by
 * its address.  Never finalize it; reset it after stepping.  0 or -1. */
int mlc_store_cached(struct mlc_store *s, const char *sql, struct sqlite3_stmt **st);
/*
 * The one way to write: fn(s, arg) inside BEGIN IMMEDIATE .. COMMIT.  fn
 * returns 0 to commit, -1 after a failed store call (reported with
 * mlc_store_warn, which keeps quiet about locks inside a transaction), or
 * an MLC_EX_* code of its own to roll back and return it.  Where SQLite
 * reports a lock without waiting, the transaction is rolled back and fn is
 * run again: fn may run more than once, so it must do nothing outside the
 * database that it cannot do again (build output in a buffer that it
 * resets; write it after mlc_store_tx returns 0).  Returns 0 (committed),
 * fn's code, or the exit code of the database error (reported on stderr
 * with WHAT: MLC_EX_IOERR for I/O, corruption and a full disk).
 */
int mlc_store_tx(struct mlc_store *s, const char *what,
                 int (*fn)(struct mlc_store *s, void *arg), void *arg);
/* After a failure on s: the exit code it deserves (MLC_EX_IOERR for I/O,
 * corruption and a full disk, MLC_EX_SOFTWARE for constraint and misuse
 * errors, MLC_EX_TEMPFAIL after a bounded wait), and the message
 * "PROG: STATE/state.db: <what SQLite said> (what)" on stderr. */
int mlc_store_code(struct mlc_store *s);
void mlc_store_warn(struct mlc_store *s, const char *what);
/* The same message in err instead of stderr; returns mlc_store_code(s). */
int mlc_store_error(struct mlc_store *s, char *err, size_t errlen);
/* The state directory s was opened in (for files beside the database). */
const char *mlc_store_statedir(struct mlc_store *s);
/* Environment: ML_CONNECTOR_BUSY_TIMEOUT, see mlc_store_bounded_wait. */
/* Table schedule: the last scheduled slot a rule fired (see sched.c).
 * get: 1 with the row (strings malloc'd), 0 if there is none, -1 on error
 * (message on stderr; mlc_store_code).  put: insert or replace; 0 or -1.
 * fired_at NULL marks a baseline (the rule's first check), not a run. */
struct mlc_store_sched {
	char *schedule, *zone, *slot, *slot_at, *fired_at;
};
int mlc_store_sched_get(struct mlc_store *s, const char *rule, struct mlc_store_sched *row);
int mlc_store_sched_put(struct mlc_store *s, const char *rule, const struct mlc_store_sched *row);
void mlc_store_sched_free(struct mlc_store_sched *row);
/* Tables watermark and watermark_pending: a rule's committed incremental
 * position, and the position each run reached (jde-fetch writes and reads
 * the value; its form is jde-fetch's).  get: 1 with *value malloc'd, 0 if
 * there is none, -1 on a database error, not yet reported (the caller says
 * what it was doing with mlc_store_warn).  put and commit run inside the
 * caller's mlc_store_tx: 0 or -1.  commit makes value the watermark and
 * drops every pending value of the rule. */
int mlc_store_wm_get(struct mlc_store *s, const char *rule, char **value);
int mlc_store_wm_pending_get(struct mlc_store *s, const char *rule, const char *run_id,
                             char **value);
int mlc_store_wm_pending_put(struct mlc_store *s, const char *rule, const char *run_id,
                             const char *value);
int mlc_store_wm_commit(struct mlc_store *s, const char *rule, const char *value);

/* ---- trail.c: the audit trail's statements (tables of store.c) -------- */
/*
 * Every read and write of tables audit, message_status, run, deferred,
 * quarantine, realert, open_alert, ack and escalation: programs call these
 * instead of holding SQL.
 * Writers are called inside the caller's mlc_store_tx (they may run again)
 * and return 0 or -1; readers are called anywhere.  -1 is a database error,
 * not yet reported: the caller says what it was doing with mlc_store_warn,
 * and mlc_store_code gives the exit code.
 */
/* One audit row (NULL members: NULL columns; line NULL: no line). */
struct mlc_trail_event {
	const char *ts, *stage, *rule, *table, *key, *alert_id, *delivery_id, *to, *channel;
	const char *sid, *status, *detail;
	long long error_code, attempt;
	int has_error_code, has_attempt;
	const char *line;
	size_t len;
};
int mlc_trail_record(struct mlc_store *s, const struct mlc_trail_event *e);
/* The stored form of lines (schema v11): register SQL trail_line(line, refs)
 * on the connection (mlc_store_open), and convert the rows an older
 * schema wrote, in place (the migration's step).  0 or -1. */
int mlc_trail_setup(struct mlc_store *s);
int mlc_trail_compact_all(struct mlc_store *s);
/* Reader: 1 when the latest audit row of delivery_id (else of alert_id, among
 * rows without a delivery) holds exactly line's len bytes, 0 when not or
 * when there is none, -1 on a database error. */
int mlc_trail_latest_is(struct mlc_store *s, const char *delivery_id, const char *alert_id,
                        const char *line, size_t len);
/* The stage of the newest audit row of a delivery, in buf: 1, 0 none, -1. */
int mlc_trail_latest_stage(struct mlc_store *s, const char *delivery_id, char *buf,
                           size_t len);
/* The ids of the first delivery row that names a message SID (malloc'd;
 * mlc_trail_ids_free): 1, 0 none, -1. */
struct mlc_trail_ids {
	char *rule, *table, *key, *alert_id, *delivery_id, *to, *channel;
};
int mlc_trail_sid_delivery(struct mlc_store *s, const char *sid, struct mlc_trail_ids *ids);
void mlc_trail_ids_free(struct mlc_trail_ids *ids);
/* Deliveries recorded as sent to any of addr[0..2] (NULL: none) since the
 * instant since (RFC 3339), in *n: 0 or -1. */
int mlc_trail_sent_count(struct mlc_store *s, const char *const addr[3], const char *since,
                         long *n);
/* A row handed to a reader's callback, valid during the call.  s: the
 * value as text (an integer's decimal digits, a BLOB's bytes), NULL for
 * NULL; len: its bytes. */
#define MLC_TRAIL_MAXCOLS 20
enum { MLC_TRAIL_NULL, MLC_TRAIL_INT, MLC_TRAIL_TEXT };
struct mlc_trail_col {
	const char *name, *s;
	size_t len;
	int type;
	long long i;
};
struct mlc_trail_row {
	int n;
	struct mlc_trail_col c[MLC_TRAIL_MAXCOLS];
};
/* 0 goes on; anything else stops the reader, which returns it. */
typedef int (*mlc_trail_fn)(const struct mlc_trail_row *r, void *arg);
/* Readers: 0 (every row handed out), the callback's stop value, or -1. */
/* Audit rows in the columns of mlc_trail_audit_cols, by id.  Filters NULL
 * are not applied; since (>=) and until (<) compare ts; limit < 0: none. */
#define MLC_TRAIL_AUDIT_NCOLS 16
extern const char *const mlc_trail_audit_cols[MLC_TRAIL_AUDIT_NCOLS];
struct mlc_trail_filter {
	const char *rule, *since, *until, *record, *alert, *delivery, *recipient, *sid, *stage;
	long limit;
};
int mlc_trail_query(struct mlc_store *s, const struct mlc_trail_filter *f, mlc_trail_fn fn,
                    void *arg);
/* Everything about a record key, alert, delivery or SID: the rows naming
 * it, every row of its alerts and deliveries, and the status history of
 * their SIDs (id NULL, stage "status:SOURCE"), in time order. */
int mlc_trail_why(struct mlc_store *s, const char *what, mlc_trail_fn fn, void *arg);
/* Reader: every record the trail knows (columns rule, jde_table,
 * record_key, rows), one row each, in key order. */
int mlc_trail_records(struct mlc_store *s, mlc_trail_fn fn, void *arg);
/* Deliveries whose latest row's stage is in the comma list stages (and
 * channel in channels, NULL any; rule, since NULL any), not quarantined:
 * columns line, id, rule, delivery_id, alert_id, jde_table, record_key,
 * recipient, channel of their latest "queued" row, or with latest of the
 * latest row itself. */
int mlc_trail_replay(struct mlc_store *s, int latest, const char *rule, const char *since,
                     const char *stages, const char *channels, mlc_trail_fn fn, void *arg);
/* Audit rows older than cutoff: counted (0 or -1), or (writer) deleted,
 * with a "retention" row that says so at ts; *n: rows deleted. */
int mlc_trail_count_older(struct mlc_store *s, const char *cutoff, long long *n);
int mlc_trail_retention(struct mlc_store *s, const char *cutoff, const char *ts,
                        long long *n);
/* Writer: a (sid, status) of a message once (a repeat is a no-op: *fresh 0,
 * when fresh is not NULL); error_code NULL: none.  source: "send", "poll",
 * "callback". */
int mlc_trail_status_put(struct mlc_store *s, const char *sid, const char *status,
                         const long long *error_code, const char *ts, const char *source,
                         int *fresh);
/* Writer: a run's begin (begin 1; status, detail unused) or end, in table
 * run and as an audit row of stage "run". */
int mlc_trail_run(struct mlc_store *s, int begin, const char *rule, const char *run_id,
                  const char *ts, const char *status, const char *detail);
/* Writer: a preview of a rule (ml-connector preview): one audit row of
 * stage "preview", nothing in table run. */
int mlc_trail_preview(struct mlc_store *s, const char *rule, const char *run_id, const char *ts,
                      const char *status, const char *detail);
/* Per rule (NULL: every rule), in the columns of mlc_trail_status_cols: the
 * last run and its outcome, then the deliveries counted by their latest
 * stage, the quarantined lines, (on the row of rule "-") the status
 * callbacks for SIDs the trail does not know, and the acknowledgements of
 * the rule's alerts (table ack), the resolved notices sent, and the
 * addresses Twilio refused for good. */
#define MLC_TRAIL_STATUS_NCOLS 19
extern const char *const mlc_trail_status_cols[MLC_TRAIL_STATUS_NCOLS];
int mlc_trail_status(struct mlc_store *s, const char *rule, mlc_trail_fn fn, void *arg);
/* Writer, table metric: a counter grows by value (gauge 0), a gauge takes
 * it (gauge 1), for the metric name and its labels (NULL: unused), at ts.
 * Readers: every metric row, in columns name, kind, rule, channel, outcome,
 * system, value, by name and labels; per rule, its last finished run
 * (rule, started_at, finished_at, status) and last_ok, the end of its last
 * run with status ok (NULL: none). */
int mlc_trail_metric_put(struct mlc_store *s, int gauge, const char *name, const char *rule,
                         const char *channel, const char *outcome, const char *system_,
                         double value, const char *ts);
int mlc_trail_metrics(struct mlc_store *s, mlc_trail_fn fn, void *arg);
int mlc_trail_run_times(struct mlc_store *s, mlc_trail_fn fn, void *arg);
/* Writer: a delivery held by quiet hours (one row per delivery id, the
 * newest rendering).  Reader: the held deliveries of rule due at now, after
 * (after_nb, after_id), at most limit, in columns delivery_id, line,
 * recipient, not_before.  Writer: drop one. */
int mlc_trail_defer(struct mlc_store *s, const char *delivery_id, const char *rule,
                    const char *to, const char *channel, const char *not_before,
                    const char *line, size_t len);
int mlc_trail_deferred_due(struct mlc_store *s, const char *rule, const char *now,
                           const char *after_nb, const char *after_id, int limit,
                           mlc_trail_fn fn, void *arg);
int mlc_trail_deferred_drop(struct mlc_store *s, const char *delivery_id);
/* What is known of a line set aside in the quarantine. */
struct mlc_trail_qitem {
	const char *origin;      /* "before twilio-send", "tee", "replay" */
	unsigned long lineno;    /* in the tee's input; 0 none */
	const char *line;        /* its bytes, or NULL (unread, or in audit row audit_id) */
	size_t len;
	long long audit_id;      /* the trail row holding the line (replay), 0 none */
	const char *rule, *run_id, *delivery_id, *alert_id, *table, *key, *to, *channel;
	const char *field, *reason;
};
/* Writer: file a line (a new row, or the row of the same rule and ident
 * seen again: *qid) and a "quarantined" audit row. */
int mlc_trail_quarantine_put(struct mlc_store *s, const struct mlc_trail_qitem *q,
                             const char *ts, long long *qid);
/* Quarantined lines of rule, run_id and id (NULL: any), by id, in the
 * columns of mlc_trail_quarantine_cols; counted; or (writer) dropped, each
 * with a "discarded" audit row naming who, and dropped(id, arg) told. */
#define MLC_TRAIL_QUARANTINE_NCOLS 16
extern const char *const mlc_trail_quarantine_cols[MLC_TRAIL_QUARANTINE_NCOLS];
int mlc_trail_quarantine_list(struct mlc_store *s, const char *rule, const char *run_id,
                              const char *id, mlc_trail_fn fn, void *arg);
int mlc_trail_quarantine_count(struct mlc_store *s, const char *rule, const char *run_id,
                               long long *n);
int mlc_trail_quarantine_drop(struct mlc_store *s, const char *rule, const char *id,
                              const char *ts, const char *who,
                              void (*dropped)(long long id, void *arg), void *arg);
/* The re-alert row of (rule, key, recipient) (malloc'd; free with
 * mlc_trail_realert_free): 1, 0 none, -1.  Writer: record a send at sent_at
 * (RFC 3339): first_sent kept, last_sent and fingerprint set, count + 1;
 * the same sent_at and fingerprint again is a no-op. */
struct mlc_trail_realert {
	char *last_sent, *fingerprint;
	long count;
	char *refused_to, *refused_at; /* an address refused for good, or NULL */
	long refused_code;
};
int mlc_trail_realert_get(struct mlc_store *s, const char *rule, const char *key,
                          const char *recipient, struct mlc_trail_realert *row);
void mlc_trail_realert_free(struct mlc_trail_realert *row);
int mlc_trail_realert_mark(struct mlc_store *s, const char *rule, const char *key,
                           const char *recipient, const char *fingerprint, const char *sent_at);
/* Writer: Twilio refused the address to of this alert and recipient for
 * good (code, at); a repeat of the same refusal changes nothing. */
int mlc_trail_realert_refuse(struct mlc_store *s, const char *rule, const char *key,
                             const char *recipient, const char *to, long code, const char *at);

/*
 * Tables inbound and optout (store.c v6; what a message means is
 * optout.c's).  Writers: a recipient's message, once per sid (*fresh 1
 * when new, 0 a repeat); (ours, theirs) opted out (out 1) or back in (0)
 * at since, unless the row holds a newer event.  Readers: whether (ours,
 * theirs) is opted out now (1 with row malloc'd, mlc_trail_optout_free;
 * 0 not); the newest date_sent of the messages to our_number the trail
 * holds, by webhook or poll (1 with *out malloc'd, 0 none).
 */
struct mlc_trail_inbound {
	const char *sid, *received_at, *date_sent, *ours, *our_number, *theirs, *channel;
	const char *body, *keyword, *source;
};
int mlc_trail_inbound_put(struct mlc_store *s, const struct mlc_trail_inbound *m, int *fresh);
int mlc_trail_inbound_since(struct mlc_store *s, const char *our_number, char **out);
int mlc_trail_optout_set(struct mlc_store *s, const char *ours, const char *theirs, int out,
                         const char *since, const char *how, const char *sid);
struct mlc_trail_optout {
	char *since, *how, *sid;
};
int mlc_trail_optout_get(struct mlc_store *s, const char *ours, const char *theirs,
                         struct mlc_trail_optout *row);
void mlc_trail_optout_free(struct mlc_trail_optout *row);

/* ---- optout.c: what a recipient's message means, and its record ------- */
/* The keyword class of a message as Twilio reads it: OptOutType when
 * given, else the whole body, trimmed, case ignored (the sets open
 * optout.c); else an acknowledgement (mlc_ack_parse); its name ("STOP",
 * "START", "HELP", "ACK", or NULL for none). */
enum { MLC_KW_NONE, MLC_KW_STOP, MLC_KW_START, MLC_KW_HELP, MLC_KW_ACK };
int mlc_optout_classify(const char *body, const char *opt_out_type);
const char *mlc_optout_kw_name(int kw);
/* One inbound message (webhook or poll; NULL members absent). */
struct mlc_inbound {
	const char *sid, *from, *to, *mss, *body, *opt_out_type, *date_sent, *source;
};
/* Its wire line, {"event":"inbound",...}, appended to b. */
void mlc_optout_line(struct mlc_buf *b, const struct mlc_inbound *m);
/* Writers (inside mlc_store_tx): the message once per sid (*fresh 0: a
 * repeat, nothing written), its opt-out or opt-in, an audit row (stage
 * opt_out, opt_in, help or inbound) holding line; and Twilio's 21610 on a
 * send from ours to theirs: opted out, an audit row.  0 or -1. */
int mlc_optout_record(struct mlc_store *s, const struct mlc_inbound *m, const char *ts,
                      const char *line, size_t len, int *fresh);
int mlc_optout_refused(struct mlc_store *s, const char *ours, const char *theirs,
                       const char *delivery_id, const char *ts);
/* How and when (ours, theirs) opted out, in words, appended to b. */
void mlc_optout_detail(struct mlc_buf *b, const char *ours, const struct mlc_trail_optout *row);

/* ---- ack.c: acknowledgement by reply, and reply codes ----------------- */
/* Whether body is an acknowledgement (ACK, ACKNOWLEDGE, ACKNOWLEDGED first,
 * case, blanks and punctuation ignored: the forms open ack.c): 1 with
 * tok the first word with a digit in it after it ("" none: the latest
 * alert), or 0. */
#define MLC_ACK_TOKMAX 64
int mlc_ack_parse(const char *body, char tok[MLC_ACK_TOKMAX]);
/* Whether a part of key (between '|') is what: equal, case ignored, or
 * both digits and equal without leading zeros (a document number: ACK
 * 4711, and ml-connector why 4711). */
int mlc_key_has_part(const char *key, const char *what);
/* The reply code of alert_id for address to ("whatsapp:" ignored), at now
 * (RFC 3339): the one it holds, else the smallest free one; with assign
 * (inside mlc_store_tx) it is held from now.  0 or -1. */
#define MLC_ACK_CODEMAX 24
#define MLC_ACK_CODE_DAYS 7
int mlc_ack_code(struct mlc_store *s, const char *to, const char *alert_id, const char *rule,
                 const char *key, const char *now, int assign, char code[MLC_ACK_CODEMAX]);
/* Append the code to an SMS (sms 1: never another segment) or WhatsApp
 * text: 0 "\nReply ACK 2", 1 "\nACK 2", -1 neither fits (nothing
 * appended); mlc_ack_shown_name gives "full", "short", "none". */
int mlc_ack_suffix(struct mlc_buf *body, const char *code, int sms);
const char *mlc_ack_shown_name(int form);
/* Writer (inside mlc_store_tx, from mlc_optout_record for a fresh message
 * that is an ACK): the alert it picks acknowledged (table ack, an audit
 * row of stage acked) or, picking none, an audit row ack_unmatched
 * saying why; when is the reply's time (RFC 3339).  0 or -1. */
int mlc_ack_record(struct mlc_store *s, const struct mlc_inbound *m, const char *ts,
                   const char *when, const char *line, size_t len);
/* Tables monitor and monitor_notice (alert-log monitor).  Reader: per rule
 * but except, columns rule, fails (failed runs since the last that went
 * through), last_ok, first_run, status, started_at, finished_at (of its
 * last finished run), unknown (deliveries left unknown by a reconcile),
 * in_doubt, refused (deliveries failed or undelivered during its last run)
 * and quarantined. */
int mlc_trail_monitor_rules(struct mlc_store *s, const char *except, mlc_trail_fn fn,
                            void *arg);
/* One condition of one subject ("" none) as the monitor keeps it. */
struct mlc_trail_cond {
	const char *cond, *subject, *since, *value, *told_at, *notice;
	int active, told;
};
/* Reader: every condition, in columns cond, subject, active, since, value,
 * told, told_at, notice.  Writer: one condition, replaced whole. */
int mlc_trail_monitor_state(struct mlc_store *s, mlc_trail_fn fn, void *arg);
int mlc_trail_monitor_put(struct mlc_store *s, const struct mlc_trail_cond *c, const char *ts);
/* Writer: a notice made (kind notice, summary or fallback; its alert line),
 * once per id; marked done once its deliveries are in the trail.  Readers:
 * the notices not done (latest 0), or the newest notice or summary
 * (latest 1), in columns id, kind, created_at, done, line, recorded (its
 * delivery rows in the trail); the deliveries of an alert with the stage
 * of their latest row (delivery_id, channel, stage). */
int mlc_trail_notice_put(struct mlc_store *s, const char *id, const char *kind, const char *line,
                         const char *ts);
int mlc_trail_notice_done(struct mlc_store *s, const char *id);
int mlc_trail_notices(struct mlc_store *s, int latest, mlc_trail_fn fn, void *arg);
int mlc_trail_alert_deliveries(struct mlc_store *s, const char *alert_id, mlc_trail_fn fn,
                               void *arg);

/* Table open_alert ([resolved] of ml-connector.5): writer, an alert key's
 * delivery sent on channel to address to (a repeat is a no-op); writer,
 * its resolved notice recorded: the row goes; writer, the re-alert rows of
 * (rule, key) go, so that a match after the notice is a new alert; reader,
 * the open rows of rule by key, in columns alert_key, channel, to_addr,
 * jde_table, alert_id, recipient, sent_at and line (the alert's latest
 * "matched" audit line, NULL when retention dropped it). */
int mlc_trail_open_put(struct mlc_store *s, const char *rule, const char *key,
                       const char *channel, const char *to, const char *table,
                       const char *alert_id, const char *recipient, const char *sent_at);
int mlc_trail_open_close(struct mlc_store *s, const char *rule, const char *key,
                         const char *channel, const char *to);
int mlc_trail_realert_forget(struct mlc_store *s, const char *rule, const char *key);
int mlc_trail_open_list(struct mlc_store *s, const char *rule, mlc_trail_fn fn, void *arg);
/*
 * Table escalation ([escalation] of a rule): one row per (rule, alert key)
 * whose alert was sent and whose steps are not over: the steps as written
 * ("2h,24h"), when the first delivery went (started_at), the last step
 * taken (0: none), when the next is due (NULL: all taken).  Writers (inside
 * mlc_store_tx): open (the first sent delivery; again once all steps are
 * taken), step (a step's delivery recorded, at any stage: once per step),
 * stop (acknowledged, resolved, no longer matching).  Readers: active (1
 * if the row exists, 0, -1), due (the rows of rule with a step due at now or
 * a step's delivery held by quiet hours due for release, in columns
 * alert_key, alert_id, jde_table, steps, started_at, step, next_at, line:
 * the alert's latest matched line), of (the rows of an alert key or id, for
 * why: rule, alert_key, alert_id, steps, started_at, step, next_at).
 */
int mlc_trail_esc_open(struct mlc_store *s, const char *rule, const char *key,
                       const char *alert_id, const char *table, const char *steps,
                       const char *started_at, const char *next_at);
int mlc_trail_esc_step(struct mlc_store *s, const char *rule, const char *key, int step,
                       const char *next_at);
int mlc_trail_esc_stop(struct mlc_store *s, const char *rule, const char *key);
int mlc_trail_esc_active(struct mlc_store *s, const char *rule, const char *key);
/* How often a step's line ("RULE:KEY/escN") was recorded (stage escalated). */
int mlc_trail_esc_tries(struct mlc_store *s, const char *step_alert_id, long *n);
int mlc_trail_esc_due(struct mlc_store *s, const char *rule, const char *now, mlc_trail_fn fn,
                      void *arg);
int mlc_trail_esc_of(struct mlc_store *s, const char *what, mlc_trail_fn fn, void *arg);

/*
 * Table ack (store.c v9; what a reply means is ack.c's): who acknowledged
 * which alert, when and how.  The contract for every reader (escalation
 * among them):
 *   - an alert is acknowledged when it has a row with acked_at at or
 *     after the instant the reader cares about (since): an alert id is
 *     the same for every send of one record under one rule ("RULE:KEY"),
 *     so an acknowledgement of an earlier episode (before a resolved
 *     notice, a long-ago re-alert) must not count for a new one: pass
 *     the instant the episode began (its first send), or NULL for any;
 *   - acked_at is RFC 3339 UTC with milliseconds, mlc_time_now_text's
 *     form ("2024-01-15T08:00:00.000Z"), when the person sent the reply
 *     (Twilio's date of the message, else when it reached us); strings of
 *     that form compare in time order, so give since in it too;
 *   - by is the sender's address as Twilio gives it ("+15551234567",
 *     "whatsapp:+15551234567"); how is "latest" (ACK alone), "code"
 *     ("ACK 2") or "document" ("ACK 123456"); token what picked the alert
 *     ("2", "123456"; NULL for latest); sid the inbound MessageSid.
 * Writer (inside mlc_store_tx): one acknowledgement of a->alert_id by the
 * message a->sid; *fresh 1 when recorded, 0 when (sid, alert_id) was
 * already (a redelivered webhook, a poll seeing it again: nothing
 * changes).  All members but ours and token are required.  It writes only
 * table ack: the audit row is the caller's (ack.c).
 * Readers: 1 when acknowledged since since (row malloc'd, the newest such
 * acknowledgement; free with mlc_trail_acked_free), 0 when not, -1 on a
 * database error.  By alert id; or by (rule, alert key), over every alert
 * id of that key (a storm's or a digest's alert names its own key).
 */
struct mlc_trail_ack {
	const char *sid, *alert_id, *rule, *alert_key, *acked_at, *by, *ours, *how, *token;
};
int mlc_trail_ack_put(struct mlc_store *s, const struct mlc_trail_ack *a, int *fresh);
struct mlc_trail_acked {
	char *alert_id, *acked_at, *by, *how, *token, *sid;
};
int mlc_trail_ack_get(struct mlc_store *s, const char *alert_id, const char *since,
                      struct mlc_trail_acked *row);
int mlc_trail_ack_get_key(struct mlc_store *s, const char *rule, const char *key,
                          const char *since, struct mlc_trail_acked *row);
void mlc_trail_acked_free(struct mlc_trail_acked *row);

/*
 * Table reply_code (store.c v9), per recipient number theirs (without
 * "whatsapp:").  Readers: the code of alert_id (1 with *code malloc'd, 0
 * none); the alert a code names (1 with ids->alert_id, rule and key
 * malloc'd, mlc_trail_ids_free; 0 none); the codes still held, in column
 * code: assigned at or after expired and not acknowledged since.  Writer:
 * code names alert_id for theirs from at on (the row a code held before
 * goes).  Reader over the audit trail: the alerts sent to number (as
 * "+1..." or "whatsapp:+1..."; channel NULL any), newest first, one row
 * each (latest 1: only the newest), in columns alert_id, rule, jde_table,
 * record_key, ts; resolved notices and digests are no alerts here.
 */
int mlc_trail_code_of(struct mlc_store *s, const char *theirs, const char *alert_id,
                      char **code);
int mlc_trail_code_get(struct mlc_store *s, const char *theirs, const char *code,
                       struct mlc_trail_ids *ids);
int mlc_trail_codes_held(struct mlc_store *s, const char *theirs, const char *expired,
                         mlc_trail_fn fn, void *arg);
int mlc_trail_code_put(struct mlc_store *s, const char *theirs, const char *code,
                       const char *alert_id, const char *rule, const char *key, const char *at);
int mlc_trail_sent_alerts(struct mlc_store *s, const char *number, const char *channel,
                          int latest, mlc_trail_fn fn, void *arg);
/* The newest delivery to number whose outcome is not recorded (its latest
 * row queued or unknown: a run sending it, or killed between Twilio's
 * accept and the trail's record), queued at or after since and after the
 * last sent row of after_alert (NULL: any), in columns delivery_id,
 * alert_id, stage, ts: an ACK alone cannot tell which alert it answers. */
int mlc_trail_in_doubt_to(struct mlc_store *s, const char *number, const char *after_alert,
                          const char *since, mlc_trail_fn fn, void *arg);

/* ---- vault.c: encrypted credentials (libsodium) ----------------------- */
/*
 * Each secret is sealed with XChaCha20-Poly1305 (crypto_aead_xchacha20poly1305_
 * ietf: the AEAD form of secretbox's cipher, with the same 24-byte random
 * nonce, fresh for every write) and the secret's name as additional data,
 * so a box copied under another name fails to open.  Stored in the state
 * database (table secret).  The key is either a 32-byte file
 * STATE/vault.key (mode 0600, owner only; refused otherwise) or derived from
 * a passphrase with Argon2id (crypto_pwhash_ALG_ARGON2ID13; salt and limits
 * stored in table vault_kdf).  Plaintext lives only in sodium_malloc'd
 * (locked, guarded) memory and is wiped on free.  A check value (a known
 * text sealed at init) detects a wrong key before any secret is opened.
 * Passphrases come from a file (0600) or the terminal, never argv or the
 * environment.  Opening a vault disables core dumps (mlc_util_nodump).
 * Environment: ML_CONNECTOR_KDF_FAST=1 makes init use Argon2id's minimum
 * limits instead of the INTERACTIVE ones: for tests only, never production.
 */
#define MLC_VAULT_KEYFILE "vault.key"
#define MLC_VAULT_MAXSECRET 8192   /* bytes of one secret */
#define MLC_VAULT_MAXPASS 1024     /* bytes of a passphrase */
struct mlc_vault; /* opaque */
/* Create the vault of an open store: the key file (O_EXCL, 0600), or with
 * passphrase != 0 the Argon2id parameters from a passphrase read from
 * passfile or (twice) from the terminal; then the check value.  Refuses an
 * existing vault or key file.  0, or -1 with err and *code (MLC_EX_CONFIG
 * exists or passphrase file too open, MLC_EX_DATAERR bad passphrase,
 * MLC_EX_NOINPUT no terminal, MLC_EX_IOERR, MLC_EX_TEMPFAIL). */
int mlc_vault_init(struct mlc_store *s, int passphrase, const char *passfile,
                   char *err, size_t errlen, int *code);
/* Open the vault of an open store.  Key source: the key file, or the
 * passphrase read from the file named by passfile (0600) or from the
 * terminal when passfile is NULL and the vault uses a passphrase.
 * NULL on failure with err and *code (MLC_EX_NOPERM wrong key/tampered,
 * MLC_EX_CONFIG key file missing or too open, MLC_EX_NOINPUT no vault). */
struct mlc_vault *mlc_vault_open(struct mlc_store *s, const char *passfile,
                                 char *err, size_t errlen, int *code);
void mlc_vault_close(struct mlc_vault *v);
/* Returns a sodium_malloc'd NUL-terminated plaintext (free with
 * mlc_vault_free_secret), or NULL: *code MLC_EX_NOINPUT (no such secret,
 * nothing printed) or MLC_EX_NOPERM (tampered) and others (database), with
 * a message on stderr that never contains secret bytes. */
char *mlc_vault_get(struct mlc_vault *v, const char *name, size_t *len, int *code);
void mlc_vault_free_secret(char *secret);
/* Seal and store (insert or replace).  0, or an MLC_EX_* code with a message
 * on stderr (MLC_EX_USAGE bad name, MLC_EX_DATAERR empty/NUL/too long). */
int mlc_vault_put(struct mlc_vault *v, const char *name, const char *secret, size_t len);
/* 0, MLC_EX_NOINPUT (no such secret; nothing printed) or another code. */
int mlc_vault_remove(struct mlc_vault *v, const char *name);
/* Call fn for each secret's name and updated_at, in name order; needs no key.
 * 0, a non-zero value returned by fn, or an MLC_EX_* code (message printed). */
int mlc_vault_list(struct mlc_store *s,
                   int (*fn)(const char *name, const char *updated_at, void *arg), void *arg);
/* Authenticate every secret; *count = how many opened.  0, MLC_EX_NOPERM
 * (each bad name reported on stderr) or a database code. */
int mlc_vault_check(struct mlc_vault *v, unsigned long *count);
/* 1 if name is a valid secret name ([a-z0-9_.-]+, at most 128 bytes). */
int mlc_vault_name_ok(const char *name);
/* Read one line from /dev/tty with echo off into buf (cap bytes including
 * the NUL; use sodium_malloc'd memory).  Signals restore the terminal.
 * 0 with *len, or -1 with err (no terminal, too long, interrupted). */
int mlc_vault_ttyread(const char *prompt, char *buf, size_t cap, size_t *len,
                      char *err, size_t errlen);

/* ---- twsig.c: X-Twilio-Signature ------------------------------------- */
/*
 * Twilio signs each webhook: base64(HMAC-SHA1(key = Auth Token, msg = the
 * full URL it requested + every POST parameter name and value, names in
 * code-point order, a repeated name's distinct values sorted)).  Values are
 * decoded form values.  JSON webhooks instead carry bodySHA256=<hex SHA-256
 * of the raw body> in the URL's query and sign the URL alone.
 */
#define MLC_TWSIG_LEN 28 /* base64 of a 20-byte digest, with padding */
void mlc_twsig_compute(const char *token, const char *url, const char *const *names,
                       const char *const *values, size_t n, char out[MLC_TWSIG_LEN + 1]);
/*
 * 1 if header_sig is a valid signature, else 0.  Follows the official
 * validators: tries the URL with any port removed and with the default port
 * (:443 https, :80 http) added, each also with an apostrophe in the query
 * written as %27 and the other way round.  is_json: the request body was
 * application/json; then bodySHA256 in the URL's query must equal the hex
 * SHA-256 of raw_body[0..body_len) and names/values are ignored.  Every
 * comparison is constant-time.
 */
int mlc_twsig_validate(const char *token, const char *url, const char *const *names,
                       const char *const *values, size_t n, const char *raw_body,
                       size_t body_len, int is_json, const char *header_sig);
/* Lowercase hex SHA-256 of data (65 bytes with the NUL). */
void mlc_twsig_sha256_hex(const void *data, size_t n, char out[65]);
/*
 * Parse application/x-www-form-urlencoded text (a POST body or a query
 * string): '&'-separated name=value pairs, '+' and %XX decoded, duplicates
 * kept in order, empty pieces skipped, a name without '=' gets "".  A '%' not
 * followed by two hex digits is kept as it is.  Returns 0, or -1 if a
 * decoded name or value would contain a NUL byte (nothing is returned then).
 * Free with mlc_form_free.
 */
int mlc_form_parse(const char *body, size_t n, char ***names, char ***values, size_t *count);
void mlc_form_free(char **names, char **values, size_t count);
/* First value of name in a parsed form, or NULL. */
const char *mlc_form_get(char *const *names, char *const *values, size_t count,
                         const char *name);

/* ---- sms.c: GSM-7 / UCS-2, segments, transliteration, truncation ------ */
/*
 * Twilio's arithmetic (reference/twilio.md 5.1): 160 GSM-7 septets or 70
 * UCS-2 code units in one segment, 153 or 67 per segment of a multi-part
 * message; extension characters (^ { } \ [ ~ ] | euro, form feed) cost two
 * septets; one character outside GSM 03.38 makes the whole text UCS-2.
 * A character cluster (escape pair, surrogate pair, emoji sequence) is
 * never split across segments: it moves whole to the next one.
 */
enum { MLC_SMS_GSM7 = 0, MLC_SMS_UCS2 = 1 };
#define MLC_SMS_MAXCHARS 1600 /* Twilio's Body limit, counted in UTF-16 units */
struct mlc_sms_info {
	int encoding;     /* MLC_SMS_GSM7 or MLC_SMS_UCS2 */
	size_t units;     /* septets (GSM-7) or UTF-16 code units (UCS-2) */
	size_t segments;  /* 0 for an empty text */
	size_t chars;     /* Unicode code points */
	size_t utf16;     /* UTF-16 code units (what the 1600 limit counts) */
};
/* "GSM-7" or "UCS-2". */
const char *mlc_sms_encoding_name(int enc);
/* Measure utf8[0..n).  0, or -1 if it is not valid UTF-8 (then out
 * describes the valid part before the first bad byte). */
int mlc_sms_measure(const char *utf8, size_t n, struct mlc_sms_info *out);
/* Append to out the text cut to at most max_segments (< 1 counts as 1) and
 * MLC_SMS_MAXCHARS: unchanged if it fits, else the longest prefix of whole
 * clusters, trailing blanks removed, plus "..." (GSM-7) or U+2026 (UCS-2),
 * whichever encoding keeps more.  *encoding and *segments (either may be
 * NULL) get the result's encoding and segments.  Returns the input bytes
 * kept (n if not cut).  An invalid UTF-8 sequence ends the text. */
size_t mlc_sms_truncate(const char *utf8, size_t n, int max_segments, int *encoding,
                        size_t *segments, struct mlc_buf *out);
/* Append in[0..n) to out with typographic look-alikes (curly quotes,
 * dashes, ellipsis, no-break and other spaces, bullets, primes, tabs)
 * replaced by GSM-7 characters and invisible ones (soft hyphen, zero width
 * space, BOM) removed.  Letters are never changed. */
void mlc_sms_transliterate(const char *in, size_t n, struct mlc_buf *out);
/* One code point's transliteration (NULL if none). */
const char *mlc_sms_translit_char(uint32_t cp);
/* Append to b the first of forms[0..n) that keeps b within MLC_SMS_MAXCHARS
 * and (keep_segments) within its segment count and encoding: the form's
 * index, or -1 with b as it was, when every form would cost a segment. */
int mlc_sms_suffix(struct mlc_buf *b, const char *const *forms, int n, int keep_segments);

/* ---- rule.c: loading rule files (format: ml-connector.5) --------------- */
struct mlc_rule {
	char *path;
	char *name;         /* [rule] name, equal to the file's base name */
	char *severity;     /* info | warning | critical (default warning) */
	int enabled;        /* [rule] enabled: yes (default) 1, no 0 */
	struct mlc_conf conf; /* every entry: tools read their own sections */
};
/* Load and check a rule: arg is a path (contains '/' or ends in .rule) or a
 * rule name looked up as RULES_DIR/NAME.rule, RULES_DIR being
 * mlc_rule_dir(rules_dir) (conf.c).  Checks the schema of every section (unknown keys are
 * errors), the name, severity, enabled, schedule (mlc_sched_parse) and time zone
 * (mlc_tz_valid).  0, or -1 with err set ("PATH:LINE: ...") and *code
 * MLC_EX_NOINPUT (no such rule) or MLC_EX_CONFIG. */
int mlc_rule_load(struct mlc_rule *r, const char *arg, const char *rules_dir, char *err,
                  size_t errlen, int *code);
void mlc_rule_free(struct mlc_rule *r);
/* Every key a rule file may hold, in mlc_conf_check's schema form. */
extern const char *const mlc_rule_schema[];
/* 1 if s can name a rule: a-z 0-9 - _, not first -, 1 to 64 bytes. */
int mlc_rule_name_ok(const char *s);
/* Shorthands over r->conf. */
const char *mlc_rule_get(const struct mlc_rule *r, const char *section, const char *key);
/* Turn a [rule] schedule into the five cron fields ("0 8 * * *");
 * 0, or -1 with err set. */
int mlc_rule_cron(const char *schedule, char *out, size_t outlen, char *err, size_t errlen);

/* 1 if the rule has [join], [lookup] or [sums] entries: jde-join has work. */
int mlc_rule_joins(const struct mlc_rule *r);
/* A rule's [escalation] steps ("step = DELAY TO..."), in order: at most
 * MLC_ESC_MAX, delays strictly growing, each counted from the alert's first
 * delivery.  to points into r's entry: the recipients, blank-separated, in
 * [recipients] to's forms (alert-match checks them).  The number of steps
 * (0: none), or -1 with err set ("PATH:LINE: ..."). */
#define MLC_ESC_MAX 8
struct mlc_esc_step {
	long after;          /* seconds after the first delivery */
	char after_text[32]; /* as written: "2h" */
	const char *to;
	unsigned line;
};
int mlc_rule_escalation(const struct mlc_rule *r, struct mlc_esc_step *steps, char *err,
                        size_t errlen);

/* ---- lookup.c: a rule's [lookup] section (format: jde-join.1 Lookups) -- */
#define MLC_LOOKUP_MAXBY 8
#define MLC_LOOKUP_MAXCOLS 32
#define MLC_LOOKUP_MAXTOP 10
struct mlc_lookup {
	char *name;                      /* the entry's key: .lookups.NAME */
	char *table;                     /* F4101 */
	unsigned line;
	char *by[MLC_LOOKUP_MAXBY];      /* the table's key columns */
	char *src[MLC_LOOKUP_MAXBY];     /* each one's source: a record column, or a column of */
	int src_lookup[MLC_LOOKUP_MAXBY]; /* this earlier lookup (-1: the record) */
	size_t nby;
	char *cols[MLC_LOOKUP_MAXCOLS];  /* the columns read: .lookups.NAME.COL */
	size_t ncols;
	int top;                         /* "largest N COL": an array of the N rows with the */
	int topcol;                      /* largest cols[topcol], largest first (0: one row) */
	int each;                        /* a key from a "largest" lookup, each_src: an array, */
	int each_src;                    /* one result per element of its array (0: one) */
};
struct mlc_lookups {
	struct mlc_lookup *v;
	size_t n;
};
/* The rule's [lookup] entries in declaration order into l; 0, or -1 with
 * err set ("PATH:LINE: [lookup] NAME: ..."), l then empty. */
int mlc_lookup_parse(const struct mlc_rule *r, struct mlc_lookups *l, char *err, size_t errlen);
void mlc_lookup_free(struct mlc_lookups *l);
/* 1 if s[0..n) can be a JDE alias of a table or column: 1 to 12 of A-Z 0-9. */
int mlc_lookup_alias_ok(const char *s, size_t n);
/* The index of lookup name[0..n), or -1. */
int mlc_lookup_find(const struct mlc_lookups *l, const char *name, size_t n);
/* The index of column col[0..n) among k's columns read, or -1. */
int mlc_lookup_col(const struct mlc_lookup *k, const char *col, size_t n);
/* Warn ("PATH:LINE: warning: WHAT reads .lookups.X.COL ...") for each
 * .lookups.NAME[.COL] in s[a..b) that no lookup provides, line being s's
 * first line; 1 if it warned, else 0. */
int mlc_lookup_check_refs(const struct mlc_lookups *l, const char *path, unsigned line,
                          const char *what, const char *s, size_t a, size_t b);

/* ---- sched.c: a schedule's slots in a zone, and when a rule is due ---- */
/*
 * Slots are wall-clock minutes in the rule's zone, counted as civil minutes
 * since 1970-01-01 00:00 of the wall clock (no zone in the number).  A slot
 * is reached at the first instant the zone's clock shows it or a later time:
 * a skipped time at the end of its gap, a repeated time at its first
 * occurrence.  The functions taking a time_t work in the current TZ: wrap
 * them in mlc_tz_enter/mlc_tz_leave.  See sched.c for the whole design.
 */
#define MLC_SCHED_NEVER LLONG_MAX  /* no next slot (within ten years) */
#define MLC_SCHED_NONE LLONG_MIN   /* no previous slot; no slot fired yet */
struct mlc_sched {
	uint64_t min;     /* bit m: minute m matches */
	uint32_t hour;    /* bit h */
	uint32_t dom;     /* bits 1..31 */
	uint16_t mon;     /* bits 1..12 */
	uint8_t dow;      /* bits 0..6, Sunday 0 */
	unsigned char dom_star, dow_star; /* field began with '*' (cron's OR rule) */
};
/* Parse a [rule] schedule (through mlc_rule_cron); 0, or -1 with err set,
 * also for a schedule that names no existing day ("cron 0 0 31 2 *"). */
int mlc_sched_parse(struct mlc_sched *s, const char *schedule, char *err, size_t errlen);
/* One cron field f[0..n) ('*', numbers, a-b ranges, lists, /steps) in lo..hi
 * as a bit set; 0 or -1 if malformed.  The one parser of cron fields. */
int mlc_sched_field(const char *f, size_t n, int lo, int hi, uint64_t *bits);
/* The first slot after cmin (or MLC_SCHED_NEVER), the last one at or before
 * cmin (or MLC_SCHED_NONE), and how many slots lie in (after, upto], at most cap. */
long long mlc_sched_next(const struct mlc_sched *s, long long cmin);
long long mlc_sched_prev(const struct mlc_sched *s, long long cmin);
long mlc_sched_count(const struct mlc_sched *s, long long after, long long upto, long cap);
/* "2027-03-14T02:30" and back (-1 if malformed). */
void mlc_sched_fmt(long long cmin, char out[32]);
int mlc_sched_scan(const char *s, long long *cmin);
/* Current TZ: the latest wall time (civil seconds) the clock has shown at or
 * before t, and the instant a slot is reached. */
long long mlc_sched_hwm(time_t t);
time_t mlc_sched_reach(long long cmin);
/* Current TZ: the first instant after t at which the clock shows wall
 * minute cmin or later: mlc_sched_reach's, unless the clock went back since
 * and shows an earlier time at t (the repeated hour of a fall-back night):
 * then when it shows cmin again.  A window that ends at cmin (quiet hours)
 * ends there. */
time_t mlc_sched_reach_after(long long cmin, time_t t);
/* Current TZ.  A rule new to the state counts as having fired the last slot
 * reached a minute before its first check (baseline): a slot reached in that
 * minute still runs, older ones do not.  Due at now: 1 if a slot after last
 * (MLC_SCHED_NONE: never) has been reached, with *upto = the latest slot reached,
 * the one to record as fired when the run starts. */
long long mlc_sched_baseline(const struct mlc_sched *s, time_t now);
int mlc_sched_due(const struct mlc_sched *s, long long last, time_t now, long long *upto);
/* Current TZ: the wall times of day (seconds after midnight) at which the
 * clock comes out of a DST gap that swallows a slot, for the transitions
 * in [from, to) (and the next full hour, where systemd cannot fire at the
 * exit itself: see sched.c); sorted, distinct, at most max.  Returns how
 * many. */
int mlc_sched_gap_exits(const struct mlc_sched *s, time_t from, time_t to, int *tod, int max);
/* The schedule as systemd OnCalendar= values with the zone, one per line
 * (two when both day fields are restricted: cron takes either). */
void mlc_sched_oncalendar(const struct mlc_sched *s, const char *zone, struct mlc_buf *b);

/* ---- monitor.c: the [monitor] settings and the monitor's built-in rule - */
/*
 * Who hears about the connector itself, and when (ml-connector(5)
 * [monitor]).  Every threshold has a default; 0 (or "off") turns its
 * condition off.  The notices go through the delivery path as alerts of the
 * built-in rule MLC_MONITOR_RULE, whose text is here (mlc_rule_load loads
 * it by that name; no rule file can take it).
 */
#define MLC_MONITOR_RULE "_monitor"
#define MLC_MONITOR_MAXTO 16
struct mlc_monitor {
	int configured;                  /* [monitor] names at least one recipient */
	char *to[MLC_MONITOR_MAXTO];     /* addresses, normalized (E.164, whatsapp:+, e-mail) */
	int to_ch[MLC_MONITOR_MAXTO];    /* each one's channel (enum mlc_channel) */
	size_t nto;
	int channels;                    /* bit (1 << channel): the channels notices go on first */
	long failed_runs;                /* runs failed in a row (default 3) */
	long no_success_s;               /* no run went through for (default 24h) */
	long unknown;                    /* unknown and in doubt above (default 0) */
	long refused;                    /* refused for good in one run above (default 3) */
	long watermark_s;                /* the watermark still for (default off) */
	long quarantine;                 /* quarantined lines above (default 0) */
	long window_s;                   /* at most one notice per condition per (default 1h) */
	char *summary;                   /* "08:00" (the daily summary), or NULL: off */
	struct mlc_sched summary_sched;  /* summary as a daily schedule (sched.c) */
	char *timezone;                  /* [general] timezone, or NULL (UTC) */
};
/* The [monitor] section of c (and [general] default_country, timezone):
 * 0 (configured 0 when it names nobody), or -1 with err naming the line. */
int mlc_monitor_load(struct mlc_monitor *m, const struct mlc_conf *c, char *err, size_t errlen);
void mlc_monitor_free(struct mlc_monitor *m);
/* The text of the built-in rule MLC_MONITOR_RULE (ml-connector.5 format). */
const char *mlc_monitor_rule_text(void);

/* ---- jqrule.c: libjq, compiled once, run per record -------------------- */
/*
 * Every program is compiled once with ml-connector's jq function library
 * prepended (days_since($d), days_ago, days_until, trim, blank,
 * first_nonblank(f), amount, amount($sep): see jqrule.c and ml-connector.5)
 * and with JQ_LIBRARY_PATH set to an empty array.  Named arguments are
 * bound at compile time: $now (RFC 3339 UTC with milliseconds), $today
 * ("YYYY-MM-DD" in the rule's time zone) and $now_local (RFC 3339 with the
 * zone's offset); build them with mlc_jq_time_args.  Any of the three the
 * caller leaves out is filled in from mlc_time_now() in UTC.  Compile
 * errors name "line N" of the caller's program (not of the library).
 */
struct mlc_jq; /* opaque */
/* what names the program in messages, e.g. "rule ap-aging: [match] expr".
 * args: a jv object of named arguments (consumed), or jv_null(). */
struct mlc_jq *mlc_jq_compile(const char *program, const char *what, jv args, char *err,
                              size_t errlen);
/* A template: the body of a jq string, so "\(.x)" interpolates.  Compiled as
 * a program that yields one string.  A bare '"' in the literal text is
 * escaped for the caller (config values have no quoting). */
struct mlc_jq *mlc_jq_template(const char *tmpl, const char *what, jv args, char *err,
                               size_t errlen);
/* The same compiled as @html "...": every interpolated value is HTML-escaped
 * by jq's @html format; the literal text is not (it is the author's HTML). */
struct mlc_jq *mlc_jq_template_html(const char *tmpl, const char *what, jv args, char *err,
                                    size_t errlen);
/* The top-level interpolations of template t, in order: \(EXPR) has EXPR at
 * t[a..b).  jq's lexical rules (see jqrule.c): in jq code # starts a comment
 * to the end of the line, in text and strings it is a character.  Returns
 * 0, or -1 when an interpolation (or a string inside one) is not closed
 * (the last span then ends at the end of t).  *v is malloc'd (free it),
 * *n the number of spans. */
struct mlc_jq_span {
	size_t a, b;
};
int mlc_jq_template_scan(const char *t, struct mlc_jq_span **v, size_t *n);
/* Run on input (consumed).  Exactly one output is expected: 0 with *out
 * set; -1 runtime error (message in err); -2 no output or more than one;
 * -3 the program halted (a configuration error: do not run it again; later
 * calls return -3 without running it). */
int mlc_jq_run1(struct mlc_jq *q, jv input, jv *out, char *err, size_t errlen);
void mlc_jq_free(struct mlc_jq *q);
/* {"now":..,"today":..,"now_local":..} for the instant now in the IANA time
 * zone tz (NULL or "" = the process's TZ).  jv_invalid() with err set on an
 * unknown zone. */
jv mlc_jq_time_args(const struct timespec *now, const char *tz, char *err, size_t errlen);
/* A template's plain forms in C (jqrule.c says which: paths, "//", string
 * literals, trim, amount, amount($sep), days_ago, first_nonblank), giving
 * what mlc_jq_template (html: _html) gives; NULL when any interpolation is
 * another form (use jq).  args as for mlc_jq_template ($today), borrowed. */
struct mlc_tmpl; /* opaque */
struct mlc_tmpl *mlc_tmpl_plain(const char *tmpl, int html, jv args);
size_t mlc_tmpl_nexpr(const struct mlc_tmpl *t); /* its interpolations */
/* Render on input (borrowed), appended to out.  An interpolation whose
 * value is null gives null_text (NULL: nothing) and its index goes into
 * nulls[] (room for mlc_tmpl_nexpr).  Returns the number of nulls, or -1
 * when this input is for jq to decide (an error of jq's, a NUL, U+E000):
 * out is then as it was. */
int mlc_tmpl_run(const struct mlc_tmpl *t, jv input, struct mlc_buf *out, const char *null_text,
                 size_t *nulls);
/* Whether an interpolation reads the input's member field (.field...). */
int mlc_tmpl_reads(const struct mlc_tmpl *t, const char *field);
/*
 * A memo of the plain templates' path values: with gen not 0, a path read
 * again in the same gen gives the value it gave (the caller changes gen
 * whenever the input may have changed, but for the members whose names
 * are in first, set before any template is made: the paths into them are
 * never memoized).  mlc_tmpl_memo(0): off, the values dropped.
 */
void mlc_tmpl_memo_skip(const char *const *first);
void mlc_tmpl_memo(unsigned long gen);
void mlc_tmpl_memo_free(void);
/* Every path an interpolation reads (.a.b: keys "a", "b"), to cb. */
void mlc_tmpl_paths(const struct mlc_tmpl *t, void (*cb)(void *arg, const jv *keys, size_t n),
                    void *arg);
void mlc_tmpl_free(struct mlc_tmpl *t);
/* jv_dump_string(v, 0)'s text (v consumed) appended to b: faster for
 * plain strings and whole numbers. */
void mlc_jq_dump(struct mlc_buf *b, jv v);
/* k as a jv string (a copy of one made once for k's address and text):
 * for member names looked up again and again. */
jv mlc_jq_key(const char *k);

/* ---- realert.c: the re-alert index (table realert of store.c) --------- */
/*
 * Per (rule, alert key, recipient id): when an alert was last *sent* and
 * with which fingerprint.  alert-match only checks; alert-log marks when a
 * delivery is recorded as sent, so a match that was never delivered does
 * not start a window.  The recipient id is the "id" member of an alert's
 * recipient: "an8:4242" when it has an address number, else its sms
 * number, else its e-mail address, else "whatsapp:+..." (alert-render
 * derives the same id from the same members; alert-log marks with it).
 * window_s: < 0 never again (until the fingerprint changes), 0 no
 * suppression, > 0 seconds.  fingerprint may be NULL (no fingerprint).
 */
/* 0 may send, 1 suppressed (last_sent: RFC 3339, count: sends so far; both
 * also set when 0 and a row exists), 2 Twilio refused an address of this
 * recipient for good (refused: which, the code, when; the caller compares
 * it with the address it would send to now: the same address is not sent
 * to again, whatever the window and the fingerprint; a new one may be),
 * -1 database error (message on stderr; mlc_store_code(s) for the exit
 * code). */
struct mlc_realert_refusal {
	char to[256], at[32];
	long code;
};
int mlc_realert_check(struct mlc_store *s, const char *rule, const char *key,
                      const char *recipient, const char *fingerprint, time_t now, long window_s,
                      char last_sent[32], long *count, struct mlc_realert_refusal *refused);
/* Marking a send: mlc_trail_realert_mark (trail.c). */
/* A [match] realert value: "never" (or empty) -1, "0"/"always" 0, "30s"
 * "90m" "24h" "7d" "2w" seconds; -2 if malformed. */
long mlc_realert_window(const char *s);

/* ---- catalog.c: the JDE tables known by name ------------------------- */
/* Adding a table is one line of catalog.c's catalog[]. */
struct mlc_catalog_table {
	const char *table; /* "F0411" */
	const char *key;   /* primary key aliases in the record key's order, "KCO DCT DOC SFX" */
	const char *time;  /* the time column JDE writes beside UPMJ: "UPMT" or "TDAY" */
};
/* The i-th table of the catalog, or NULL past the end. */
const struct mlc_catalog_table *mlc_catalog_entry(size_t i);
/* Primary key aliases of a known table, or NULL. */
const char *mlc_catalog_key(const char *table);
/* A rule's [source] incremental value for table: "UPMJ UPMT", "UPMJ TDAY",
 * "DGJ" (a date item, optionally followed by a time item), "UPMJ" alone
 * (the catalog's time column is added; outside the catalog the watermark
 * is by the day), or "none"/NULL.  1 with the columns in *inc, 0 for none,
 * -1 with a message in err ("incremental \"...\" (UPMJ UPMT, ...)").  On 1,
 * err holds a warning when the time column given is not the catalog's
 * (the one given is used), else "". */
struct mlc_catalog_incr {
	char date[16], time[16]; /* time "" when none */
};
int mlc_catalog_incremental(const char *table, const char *spec, struct mlc_catalog_incr *inc,
                            char *err, size_t errlen);

/* ---- jde.c: JD Edwards conventions and the AIS data service ------------ */
/*
 * Pure logic, no I/O: date and time items, where conditions, date literals,
 * Julian dates, E.164, and a strict JSON scanner for data-service pages
 * that hands out each row's bytes as received (see jde-fetch.1).
 */
#define MLC_JDE_MAXKEY 16
int mlc_jde_is_date(const char *alias); /* a Julian-date data item (DDJ, UPMJ...) */
int mlc_jde_is_time(const char *alias); /* an HHMMSS time item (UPMT, TDAY) */
/* Dates travel as long yyyymmdd; 0 is "no date". */
int mlc_jde_ymd_ok(long ymd);
void mlc_jde_iso(long ymd, char out[11]);          /* "YYYY-MM-DD" */
long mlc_jde_julian(long cyyddd);                  /* CYYDDD -> yyyymmdd, or 0 */
long mlc_jde_parse_ymd(const char *s, size_t n);   /* "yyyyMMdd" or ISO, or 0 */
int mlc_jde_hms(long hhmmss, char out[9]);         /* "HH:MM:SS"; -1 if invalid */

/* The logged-in user's date format, for query literals. */
struct mlc_jde_datefmt {
	char order[4]; /* "MDY", "DMY" or "YMD" */
	char sep;
};
/* From userInfo.simpleDateFormat ("MM/dd/yyyy") or a dateFormat code
 * ("MDE", "DME", "YMD"), and dateSeperator (NULL: from the pattern, else
 * '/').  0, or -1 if it is not one. */
int mlc_jde_datefmt_set(struct mlc_jde_datefmt *f, const char *simple, const char *sep);
void mlc_jde_date_literal(const struct mlc_jde_datefmt *f, long ymd, char out[16]);

/* One [source] where condition (syntax: ml-connector.5). */
struct mlc_jde_val {
	char *content;
	const char *special; /* "LITERAL", "TODAY", "TODAY_MINUS_DAY", ... */
	long ymd;            /* a date literal, written in the user's format; or 0 */
};
struct mlc_jde_cond {
	char *column;        /* alias: "DDJ" */
	const char *op;      /* AIS operator: "EQUAL", "LIST", ... */
	struct mlc_jde_val *v;
	size_t nv;
};
int mlc_jde_cond_parse(const char *text, struct mlc_jde_cond *c, char *err, size_t errlen);
void mlc_jde_cond_free(struct mlc_jde_cond *c);
/* Append {"controlId":"T.COL","operator":..,"value":[{"content":..,
 * "specialValueId":..}]}. */
void mlc_jde_cond_json(struct mlc_buf *b, const char *table, const struct mlc_jde_cond *c,
                       const struct mlc_jde_datefmt *f);

/* A data-service response page.  Spans point into the parsed body. */
struct mlc_jde_page {
	char target[64];     /* T of the fs_DATABROWSE_T member */
	int found;           /* there was an fs_DATABROWSE_ member */
	const char *rowset;  /* the rowset array, "[...]", or NULL */
	size_t rowset_len;
	long records;        /* summary.records, -1 if absent */
	int more;            /* summary.moreRecords */
	char *next;          /* links[rel=next].href, decoded, or NULL */
	char *error;         /* first item of fs_*.errors or sysErrors, or NULL */
	int nerrors;
	/* What a /next body names (reference 3.2), as text ("" if absent):
	 * the top-level stackId, stateId, rid and gridData.fullGridId. */
	char stack_id[24], state_id[24], rid[64], grid_id[24];
};
/* Check that body is one complete JSON object (strict: UTF-8, no trailing
 * text) and pick out the parts above.  0, or -1 with err ("malformed JSON
 * at byte N of M: ..."). */
int mlc_jde_page_parse(const char *body, size_t n, struct mlc_jde_page *pg, char *err,
                       size_t errlen);
void mlc_jde_page_free(struct mlc_jde_page *pg);
/* Next row object of the rowset; *pos starts at 0.  1, 0 at the end, -1 if
 * an element is not an object. */
int mlc_jde_page_row(const struct mlc_jde_page *pg, size_t *pos, const char **row,
                     size_t *rowlen);
/* Member name of the JSON object text obj[0..n): 1 with its value's span. */
int mlc_jde_json_member(const char *obj, size_t n, const char *name, const char **v,
                        size_t *vn);
/* Append the decoded JSON string literal v[0..n) to b; -1 if not a string. */
int mlc_jde_json_string(const char *v, size_t n, struct mlc_buf *b);
/* Member name of obj[0..n) as a decoded string in b (reset), the bytes of
 * trim ("" for none) cut from both ends: 1, or 0 if it is absent or not a
 * string.  JDE pads character columns with blanks (" \t"); AIS's messages
 * end in line breaks. */
int mlc_jde_member_str(const char *obj, size_t n, const char *name, const char *trim,
                       struct mlc_buf *b);

/*
 * A row's position in an ordered read: the values of the columns the read
 * is ordered by (aggregation.orderBy), compared the way the database
 * orders them: null (a blank date) first, numbers as numbers, strings
 * byte-wise without their trailing blanks, business units (MCU and the
 * like, right-justified in the database) by trimmed length, then bytes.
 * A read remembers only the last position written: constant memory.
 */
#define MLC_JDE_MAXPOS (MLC_JDE_MAXKEY + 2)
struct mlc_jde_posval {
	int kind;             /* 0 null, 1 number, 2 string */
	int bu;               /* a business-unit column */
	double num;
	struct mlc_buf raw;   /* a number's JSON text; a string decoded, as received */
};
struct mlc_jde_pos {
	size_t n;             /* 0: no position yet */
	struct mlc_jde_posval v[MLC_JDE_MAXPOS];
};
/* A business-unit alias (MCU, MMCU, ...): right-justified in the database. */
int mlc_jde_is_bu(const char *alias);
void mlc_jde_pos_init(struct mlc_jde_pos *p);
void mlc_jde_pos_free(struct mlc_jde_pos *p);
void mlc_jde_pos_copy(struct mlc_jde_pos *dst, const struct mlc_jde_pos *src);
/* The position of a row object (TABLE_ALIAS members).  0, or -1 with err
 * (a column is missing or not a number, string or null). */
int mlc_jde_pos_read(struct mlc_jde_pos *p, const char *table, const char *const *cols,
                     size_t n, const char *row, size_t rowlen, char *err, size_t errlen);
/* <0, 0, >0 as a sorts before, with or after b (same columns). */
int mlc_jde_pos_cmp(const struct mlc_jde_pos *a, const struct mlc_jde_pos *b);
/* Append "aggregation":{"orderBy":[{"column":"T.C","direction":"ASC"},...]}. */
void mlc_jde_orderby_json(struct mlc_buf *b, const char *table, const char *const *cols,
                          size_t n);
/*
 * Append a query object (matchType, condition, complexQuery: reference 2.2)
 * that selects the rows after position p in the order of cols:
 *   form 0  exactly after p: c1 > v1 OR (c1 = v1 AND c2 > v2) OR ... , an
 *           OR of ANDs in complexQuery (one condition for one column);
 *   form 1  c1 >= v1 only (for a server that refuses the complex query;
 *           the caller skips the rows up to p).
 * Dates are written in the user's format; a null value is STR_BLANK /
 * STR_NOT_BLANK.  Returns 0, or -1 when form 1 would select everything (a
 * null first value): send no condition then.
 */
int mlc_jde_after_json(struct mlc_buf *b, const char *table, const char *const *cols,
                       const struct mlc_jde_pos *p, const struct mlc_jde_datefmt *df, int form);
/* The one condition of form 1, or of form 0 on one column, alone (to join
 * a MATCH_ALL condition list without complexQuery); -1 otherwise or when
 * it would select everything. */
int mlc_jde_after_cond(struct mlc_buf *b, const char *table, const char *const *cols,
                       const struct mlc_jde_pos *p, const struct mlc_jde_datefmt *df, int form);

/* How rows become record lines (the wire format in jde-fetch.1). */
struct mlc_jde_fmt {
	const char *table;
	const char *const *key; /* key aliases, at most MLC_JDE_MAXKEY */
	size_t nkey;
	const char *rule;       /* or NULL: no "rule" member */
	const char *fetched_at; /* or NULL */
	const char *wm_date;    /* incremental columns ("UPMJ", "UPMT"), or NULL */
	const char *wm_time;
};
/* Scratch space reused from row to row, and what the caller needs. */
struct mlc_jde_rowinfo {
	struct mlc_buf key;   /* "00001|PV|123456|001" */
	long wm_date, wm_time; /* the row's incremental position (yyyymmdd, HHMMSS) */
	int has_wm;           /* wm_date was a date */
	struct mlc_buf dates, times, trim, tmp, part[MLC_JDE_MAXKEY];
};
void mlc_jde_rowinfo_init(struct mlc_jde_rowinfo *ri);
void mlc_jde_rowinfo_free(struct mlc_jde_rowinfo *ri);
/* Build the record line of one row object into out.  0, or -1 with err (a
 * key column is missing). */
int mlc_jde_row_record(const char *row, size_t n, const struct mlc_jde_fmt *f,
                       struct mlc_buf *out, struct mlc_jde_rowinfo *ri, char *err,
                       size_t errlen);

/* ---- aisrefusal.c: the memory of an AIS password refused ----------- */
/* A login refused for its password stops every later login with that
 * password (77, before anything is sent; ais.c) until it is set again or a
 * forced login (a->force) succeeds.  mlc_ais_refusal: 1 with the reason
 * in out while that holds; dir NULL is mlc_state_dir's.  _clear lifts it.
 * _of: 1 when password is the one refused (when, why: the file's), 0 when
 * none is or another was (that refusal is then lifted).  _write: remember
 * password as refused, with AIS's answer (best effort, said). */
int mlc_ais_refusal(const char *dir, char *out, size_t outlen);
void mlc_ais_refusal_clear(const char *dir);
int mlc_ais_refusal_of(const char *password, char *when, size_t wn, char *why, size_t yn);
void mlc_ais_refusal_write(const char *password, const char *why);

/* ---- ais.c: the AIS session (login, token, paging, logout) for jde-fetch and jde-join */
/*
 * One session per run: the [ais] settings of the configuration, the
 * password from the vault (secret ais.password), one login, the token in
 * the jde-AIS-Auth header only (never in a URL, argv, the environment or
 * a message), cookies kept in memory, the CA bundle and timeout from
 * [ais], logout at the end and on every exit through mlc_ais_fatal.
 * With dry set, nothing is sent: each request is printed on stdout as
 * {"method","url","body"}, the login without a password.
 */
struct mlc_ais {
	struct mlc_http *h;
	char *base;             /* [ais] url without a trailing '/' */
	const char *user, *env, *role, *device;
	char *password;         /* sodium_malloc'd (vault); NULL in dry-run */
	char *token;            /* sodium_malloc'd; NULL when logged out */
	struct mlc_jde_datefmt df; /* the user's date format (from the login) */
	int dry;
	int policy;
	int by_query;           /* [ais] paging = query: every page a fresh query */
	int force;              /* log in even with a password AIS refused (ping) */
	int handed;             /* the token was handed on (mlc_ais_session_give): not ours to log out */
	long requests;          /* requests sent, not yet counted in the trail */
	const char *count_rule; /* the rule they are counted for (mlc_remote_requests_total
	                         * of alert-log metrics) when the session ends; NULL: not */
};
/* The stop flag of mlc_util_signals: a session stops after the current
 * request when it is set (exit 75, after logout). */
void mlc_ais_stop_on(volatile sig_atomic_t *stop);
/* Print "PROG: message", log out of the open session, exit with code. */
void mlc_ais_fatal(int code, const char *fmt, ...) MLC_PRINTF(2, 3) MLC_NORETURN;
/* Exit 75 naming the signal (after logout). */
void mlc_ais_interrupted(void) MLC_NORETURN;
/* Load the configuration (mlc_config_path) into conf and check its [ais]
 * keys; exits 78 on an error. */
void mlc_ais_config(struct mlc_conf *conf);
/* Read [ais] of conf (kept: a points into it) into a; exits 78 on a bad or missing key. */
void mlc_ais_open(struct mlc_ais *a, const struct mlc_conf *conf, int dry);
/* Log out (if logged in), free everything. */
void mlc_ais_close(struct mlc_ais *a);
/* The state database, or exit with its code. */
struct mlc_store *mlc_ais_store_open(void);
/* The session's requests not yet counted, added to the trail's counter
 * mlc_remote_requests_total{rule, system="ais"} (alert-log metrics) in st
 * (NULL: opened here) when a->count_rule names the rule; after the stage's
 * last request (mlc_ais_fatal does it for a stage that stops).  A count
 * that cannot be written is said, never fatal. */
void mlc_ais_count(struct mlc_ais *a, struct mlc_store *st);
/* The vault's ais.password into a->password; exits 78/77 otherwise. */
void mlc_ais_password(struct mlc_ais *a, struct mlc_store *st);
/* POST tokenrequest (retried by the shared policy); sets a->token and
 * a->df from userInfo.  A refusal exits 77. */
void mlc_ais_login(struct mlc_ais *a);
/*
 * One login per run (see "the session handed on" in ais.c): jde-fetch
 * hands its session to jde-join through a FIFO (mode 0600, ours, never a
 * regular file or a symlink) instead of logging out, and jde-join uses it
 * instead of logging in.  _give writes it to path without ever blocking:
 * 1 when handed on (a->handed: no logout here), 0 when not (warned; the
 * session stays ours).  _open opens path's read end (never blocks): an fd,
 * or -1 (warned).  _take reads a session handed on through *fd (closed,
 * set to -1): 1 with a->token, the date format and the cookies set, 0 when
 * none was handed on (or it is for another URL or user: warned).
 */
int mlc_ais_session_give(struct mlc_ais *a, const char *path);
int mlc_ais_session_open(const char *path);
int mlc_ais_session_take(struct mlc_ais *a, int *fd);

/*
 * One query with its pages (see the block comment in ais.c): ordered by
 * order[] when given, so that a read that starts over (token refused,
 * JAS_MSG347, a failed next page) resumes after the last row delivered;
 * without an order it restarts from its first page (restart is called).
 */
struct mlc_ais_query {
	const char *table;
	const char *rcids;         /* returnControlIDs, or NULL: every column */
	long pagesize;
	struct mlc_buf qobj;       /* the conditions' query object, or empty */
	int match_any;             /* qobj is MATCH_ANY */
	const char *const *order;  /* order columns (aliases), or NULL */
	size_t norder;
	/* per row; returns, or exits */
	void (*row)(void *arg, const char *row, size_t n, const char *fetched_at);
	/* without an order: the query starts over, rows already delivered come again */
	void (*restart)(void *arg);
	void *arg;
	/* 1: an error answer to the query's first request (the error arrays of
	 * a 200 other than JAS_MSG347, HTTP 400 or 500: how AIS may refuse a
	 * query it cannot express) returns with refused set instead of exiting */
	int may_refuse;
	int refused;
	/* mlc_ais_query_run's */
	struct mlc_jde_pos last, cur, prev;
	int form;                  /* the after-last condition AIS accepts (0, 1, 2) */
	unsigned long repeats;     /* rows dropped: not after the last one written */
	int shifted;               /* a next page repeated rows */
};
void mlc_ais_query_init(struct mlc_ais_query *q);
void mlc_ais_query_free(struct mlc_ais_query *q);
/* The conditions as a query object into b (reset): {"autoFind":true,
 * "matchType":.., "condition":[...]} with extra_cond (JSON condition
 * objects) appended; nothing without conditions. */
void mlc_ais_query_obj(struct mlc_buf *b, const char *table, const char *match,
                       const struct mlc_jde_cond *c, size_t nc, const struct mlc_jde_datefmt *df,
                       const char *extra_cond);
/* Read every page of q, calling q->row per row (logs in when needed). */
void mlc_ais_query_run(struct mlc_ais *a, struct mlc_ais_query *q);
/* A read's order: the incremental columns wm_date, wm_time (either may be
 * NULL), then the key columns of spec; v points into *buf (free it).  The
 * number of columns, 0 if spec is NULL or bad. */
size_t mlc_ais_read_order(const char *spec, const char *wm_date, const char *wm_time,
                          const char **v, char **buf);
/* Split a column list (blanks or commas) in place into v; the count, or
 * max + 1 if there are more. */
size_t mlc_ais_words(char *buf, const char **v, size_t max);
/* Add TABLE.COL to a returnControlIDs list ("T.A|T.B"), once. */
void mlc_ais_rcid_add(struct mlc_buf *rc, const char *table, const char *col);

#endif
