/*
 * mlc-ais-sim — a JD Edwards EnterpriseOne AIS Server simulator on loopback.
 *
 * usage: mlc-ais-sim [--port N] [--port-file F] [--request-log F] [--data DIR]
 *                    [--tls-cert F --tls-key F] [--user U] [--password-file F]
 *                    [--environment E] [--role R] [--token-ttl S]
 *                    [--result-set-timeout S] [--date-format MDE|DME|YMD]
 *                    [--today YYYY-MM-DD] [--bad-token-status 444|403]
 *                    [--listen ADDR] [--fault SPEC]...
 *
 * It answers the AIS REST calls jde-fetch makes, in the shapes of
 * reference/ais-rest-api.md and the real samples beside it:
 *   POST /jderest/v2/tokenrequest            login (JSON body or Basic + headers)
 *   POST /jderest/v2/tokenrequest/validate   {"isValidSession":true} or 444/403
 *   POST /jderest/v2/tokenrequest/logout     {"status":"Success"} or 444
 *   POST /jderest/v2/dataservice             BROWSE of a table in --data
 *   POST|GET /jderest/v2/dataservice/next    the next page of an open result set
 *   GET  /jderest/defaultconfig              a small, unauthenticated server info
 * and a control plane for the tests: POST /_sim/fault, POST /_sim/reset,
 * GET /_sim/state.  Nothing is read from stdin and nothing is written to
 * stdout; requests are recorded in the --request-log (one NDJSON line each).
 *
 * Tables are NDJSON files DIR/<TABLE>.ndjson whose lines are GRID_DATA rows;
 * DIR/columns.json gives each table's title and its columns (alias, label,
 * type).  A result is in the order of aggregation.orderBy (else the
 * table's); an open result set counts the rows it returned, so rows added
 * or removed behind it move its next page (fault shift).  While the file
 * holds the result in order already, a result streams it from an offset,
 * so tables of millions of rows cost no memory; else its sorted row ids
 * are kept.  Faults change tables in memory only, never the files.
 *
 * Exit status: 0 stopped by SIGTERM or SIGINT; 64 usage; 66 an input file
 * (data directory, columns.json, password file, certificate) is missing or
 * unreadable; 70 the server could not start; 74 the port file or the request
 * log cannot be written; 78 a bad --fault spec or columns.json.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <fcntl.h>
#include <unistd.h>

#include <jv.h>
#include <sodium.h>

#include "fault.h"
#include "httpd.h"

static const char usage[] =
	"usage: mlc-ais-sim [--port N] [--port-file F] [--request-log F] [--data DIR]\n"
	"                   [--tls-cert F --tls-key F] [--user U] [--password-file F]\n"
	"                   [--environment E] [--role R] [--token-ttl SECONDS]\n"
	"                   [--result-set-timeout SECONDS] [--date-format MDE|DME|YMD]\n"
	"                   [--today YYYY-MM-DD] [--bad-token-status 444|403]\n"
	"                   [--listen ADDR] [--fault SPEC]...\n";

#define MAX_BODY (8u << 20)

/* ---- configuration ---- */

static struct {
	const char *listen;
	unsigned port;
	const char *port_file;
	const char *log_path;
	char *data_dir;
	int tls;
	const char *user;
	char *password;
	const char *environment;
	const char *role;
	long token_ttl;
	long rs_timeout;
	char datefmt[4];
	int today; /* yyyymmdd; 0 = the real date, taken per request */
	int bad_token_status;
} cfg = {
	"127.0.0.1", 0, NULL, NULL, NULL, 0, "JDE", NULL, "JDV920", "*ALL",
	3600, 60, "MDE", 0, 444
};

static int log_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- tables (columns.json) ---- */

enum ctype { CT_STRING, CT_NUMBER, CT_DATE, CT_TIME, CT_MCU };

struct column {
	char *alias; /* DOC */
	char *key;   /* F0411_DOC */
	char *label;
	enum ctype type;
	jv jkey;
};

struct table {
	char *name;
	char *title;
	struct column *cols;
	size_t ncols;
	/* Changes made by shift faults, in memory (the file is never
	 * written): rows added (ids -1, -2, ...), each placed just before or
	 * after a file row in the table's own order (ins_at, ins_side -1 or
	 * 1), and file rows removed (by offset).  gen counts the changes. */
	char **ins;
	int *ins_dead;
	off_t *ins_at;
	int *ins_side;
	size_t nins;
	off_t *del;
	size_t ndel;
	unsigned long gen;
};

static struct table *tables;
static size_t ntables;

/* ---- queries ---- */

enum op {
	OP_EQUAL, OP_NOT_EQUAL, OP_LESS, OP_LESS_EQUAL, OP_GREATER, OP_GREATER_EQUAL,
	OP_BETWEEN, OP_LIST, OP_STR_START_WITH, OP_STR_END_WITH, OP_STR_CONTAIN,
	OP_STR_BLANK, OP_STR_NOT_BLANK
};
static const char *const opnames[] = {
	"EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL",
	"BETWEEN", "LIST", "STR_START_WITH", "STR_END_WITH", "STR_CONTAIN",
	"STR_BLANK", "STR_NOT_BLANK"
};

struct lit {
	char *s;  /* string form (trimmed for string columns) */
	double n; /* number, time, or date as yyyymmdd */
};

struct cond {
	const struct column *col;
	enum op op;
	struct lit *v;
	size_t nv;
};

struct query;
struct subq {
	int or;
	struct query *q;
};
struct query {
	int any; /* MATCH_ANY */
	struct cond *c;
	size_t nc;
	struct subq *sub;
	size_t nsub;
};

/* ---- sessions and result sets ---- */

struct session {
	char *token;
	char *device; /* NULL: bound to ip */
	char ip[64];
	char *user;
	time_t expires;
	int next_stack;
	long uses;        /* successful token checks (fault token-life) */
	char backend[24]; /* the node behind the load balancer (fault sticky) */
	struct session *next;
};

/* aggregation.orderBy: a column and its direction. */
struct order {
	const struct column *col;
	int desc;
};

/*
 * An open result set counts the rows it has returned: a page is the next
 * pagesize rows of the result, in its order (aggregation.orderBy, else the
 * table's own order), as the table is now; so rows added or removed
 * before that count shift the pages (as a server that re-counts does).
 * While the table file is in that order already and unchanged, the result
 * streams the file from an offset (no memory); else the result's row ids
 * are kept, sorted.
 */
struct rset {
	char rid[24];
	struct session *sess;
	int stack_id, state_id;
	struct table *t;
	const struct column **cols; /* selected columns, NULL = all */
	size_t ncols;
	struct query *q;
	struct order *ord;
	size_t nord;
	long pagesize; /* 0 = No Max */
	off_t offset;  /* the stream's cursor */
	size_t ovl;
	long returned; /* ordered: rows returned so far */
	off_t *ids;    /* ordered, not streaming: the sorted result */
	size_t nids;
	int stream;
	unsigned long gen; /* the table's changes and file, as the result saw them */
	off_t fsize;
	struct timespec fmtime;
	char backend[24];
	char *rcids;
	time_t last;
	struct rset *next;
};

static struct session *sessions;
static struct rset *rsets;

/* ---- faults ---- */

enum fkind {
	F_TOKEN_EXPIRE, F_STATUS, F_SLOW, F_TRUNCATE, F_MALFORMED, F_DROP,
	F_APP_ERROR, F_SYS_ERROR, F_EXPIRE_RESULTS, F_TOKEN_LIFE, F_SHIFT, F_STICKY, F_NO_COMPLEX
};
static const char *const fnames[] = {
	"token-expire", "status", "slow", "truncate", "malformed", "drop",
	"app-error", "sys-error", "expire-results", "token-life", "shift", "sticky", "no-complex"
};

struct fault {
	enum fkind kind;
	char *path; /* NULL = any; a trailing '*' makes a prefix */
	long count; /* remaining; -1 = unlimited */
	long after, seen;
	int status;
	long ms;
	char *table;
	char *code, *desc;
	char *exception;  /* status: the ServiceErrorResponse's exception class */
	long requests;    /* token-life */
	int insert, ahead; /* shift: insert or delete, ahead of or behind the cursor */
	long rows;        /* shift */
	char *cookie;     /* sticky: the cookie's name */
	int miss_token;   /* sticky: without the cookie the token is unknown (else the result set) */
	int as;           /* no-complex: 0 an application error, 1 a system error, 2 HTTP 400, 3 500 */
	struct fault *next;
};

/* Load balancer nodes handed out in sticky cookies (fault sticky). */
#define MAX_BACKENDS 256
static char backends[MAX_BACKENDS][24];
static size_t nbackends, backend_next;
static long token_in_url; /* /next requests whose URL carried a token */

static struct fault *faults;

/* ---- small helpers ---- */

/* "2025-09-19T20:16:27.934+0000", as in ais-samples/error_invalid_token.json */
static void
err_timestamp(char out[40])
{
	struct timespec ts;
	struct tm tm;
	char b[32];

	mlc_time_now(&ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%.24s.%03d+0000", b, (int)(ts.tv_nsec / 1000000 % 1000));
}

/* "2017-05-16:10.56.18", as in the data service samples */
static void
data_timestamp(char out[32])
{
	time_t t = mlc_httpd_now_s();
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%d:%H.%M.%S", &tm);
}

static void
b64(struct mlc_buf *out, const void *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = mlc_xmalloc(cap);

	sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	mlc_buf_adds(out, s);
	free(s);
}

/* A token shaped like the real one in tokenrequest_v1_response.json:
 * "044" + base64(32 random bytes) + base64(digits + device + epoch ms). */
static char *
new_token(const char *device)
{
	struct mlc_buf b, tail;
	unsigned char r[32];
	char digits[25];
	struct timespec ts;

	randombytes_buf(r, sizeof r);
	for (size_t i = 0; i < 24; i++)
		digits[i] = (char)('0' + randombytes_uniform(10));
	digits[24] = '\0';
	mlc_time_now(&ts);
	mlc_buf_init(&b);
	mlc_buf_init(&tail);
	mlc_buf_adds(&b, "044");
	b64(&b, r, sizeof r);
	mlc_buf_printf(&tail, "%s%s%lld%03ld", digits, device ? device : "aisClient",
	               (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	b64(&b, tail.p, tail.len);
	mlc_buf_free(&tail);
	return b.p;
}

static void
add_json_str(struct mlc_buf *b, const char *s)
{
	mlc_buf_json_str(b, s, strlen(s));
}

/* jv helpers.  jget() borrows o and returns a new reference. */
static jv
jget(jv o, const char *k)
{
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(o), jv_string(k));
}

/* A string field of o, copied (NULL if absent or not a string). */
static char *
jstrdup(jv o, const char *k)
{
	jv v = jget(o, k);
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		s = mlc_xstrdup(jv_string_value(v));
	jv_free(v);
	return s;
}

static void
percent_enc(struct mlc_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
			mlc_buf_addc(b, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			mlc_buf_add(b, e, 3);
		}
	}
}

/* ---- dates ---- */

static int
days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

static int
valid_ymd(int y, int m, int d)
{
	return y >= 1900 && y <= 2999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static int
today_ymd(void)
{
	time_t t;
	struct tm tm;

	if (cfg.today)
		return cfg.today;
	t = mlc_httpd_now_s();
	localtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* today shifted by days, months or years (month ends clamp: Jan 31 + 1 month = Feb 28/29) */
static int
shift_date(int ymd, int days, int months, int years)
{
	int y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
	struct tm tm;
	time_t t;

	if (months || years) {
		long mm = (long)y * 12 + (m - 1) + months + (long)years * 12;

		y = (int)(mm / 12);
		m = (int)(mm % 12) + 1;
		if (d > days_in_month(y, m))
			d = days_in_month(y, m);
	}
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d + days;
	tm.tm_hour = 12;
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static const char *
simple_date_format(void)
{
	if (strcmp(cfg.datefmt, "DME") == 0)
		return "dd/MM/yyyy";
	if (strcmp(cfg.datefmt, "YMD") == 0)
		return "yyyy/MM/dd";
	return "MM/dd/yyyy";
}

static int
parse_num_part(const char **p, int mind, int maxd, int *out)
{
	int n = 0, k = 0;

	while (**p >= '0' && **p <= '9' && k < maxd) {
		n = n * 10 + (**p - '0');
		(*p)++;
		k++;
	}
	*out = n;
	return k >= mind;
}

/* A date literal in the user's format (MM/dd/yyyy for MDE); 0 if it is not one. */
static int
parse_user_date(const char *s)
{
	int a, b, c, y, m, d;
	const char *p = s;

	if (strcmp(cfg.datefmt, "YMD") == 0) {
		if (!parse_num_part(&p, 4, 4, &a) || *p++ != '/' || !parse_num_part(&p, 1, 2, &b) ||
		    *p++ != '/' || !parse_num_part(&p, 1, 2, &c) || *p)
			return 0;
		y = a, m = b, d = c;
	} else {
		if (!parse_num_part(&p, 1, 2, &a) || *p++ != '/' || !parse_num_part(&p, 1, 2, &b) ||
		    *p++ != '/' || !parse_num_part(&p, 4, 4, &c) || *p)
			return 0;
		y = c;
		if (strcmp(cfg.datefmt, "DME") == 0)
			d = a, m = b;
		else
			m = a, d = b;
	}
	return valid_ymd(y, m, d) ? y * 10000 + m * 100 + d : 0;
}

/* ---- columns.json ---- */

static enum ctype
parse_ctype(const char *s, int *ok)
{
	*ok = 1;
	if (strcmp(s, "string") == 0)
		return CT_STRING;
	if (strcmp(s, "number") == 0)
		return CT_NUMBER;
	if (strcmp(s, "date") == 0)
		return CT_DATE;
	if (strcmp(s, "time") == 0)
		return CT_TIME;
	if (strcmp(s, "mcu") == 0)
		return CT_MCU;
	*ok = 0;
	return CT_STRING;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct mlc_buf b;
	char tmp[65536];
	size_t n;

	if (!f)
		return NULL;
	mlc_buf_init(&b);
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		mlc_buf_add(&b, tmp, n);
	if (ferror(f)) {
		fclose(f);
		mlc_buf_free(&b);
		return NULL;
	}
	fclose(f);
	*len = b.len;
	return b.p;
}

static void
load_columns(void)
{
	struct mlc_buf path;
	size_t len;
	char *text;
	jv all;

	mlc_buf_init(&path);
	mlc_buf_printf(&path, "%s/columns.json", cfg.data_dir);
	if (!(text = slurp(path.p, &len)))
		mlc_die(MLC_EX_NOINPUT, "%s: %s", path.p, strerror(errno));
	all = jv_parse_sized(text, (int)len);
	free(text);
	if (jv_get_kind(all) != JV_KIND_OBJECT)
		mlc_die(MLC_EX_CONFIG, "%s: not a JSON object", path.p);
	tables = mlc_xcalloc((size_t)jv_object_length(jv_copy(all)), sizeof *tables);
	jv_object_foreach(all, k, v) {
		struct table *t = &tables[ntables++];
		jv cols = jget(v, "columns");
		int n, i;

		t->name = mlc_xstrdup(jv_string_value(k));
		t->title = jstrdup(v, "title");
		if (!t->title)
			t->title = mlc_xstrdup(t->name);
		if (jv_get_kind(cols) != JV_KIND_ARRAY)
			mlc_die(MLC_EX_CONFIG, "%s: %s: \"columns\" must be an array", path.p, t->name);
		n = jv_array_length(jv_copy(cols));
		t->cols = mlc_xcalloc((size_t)n, sizeof *t->cols);
		for (i = 0; i < n; i++) {
			jv c = jv_array_get(jv_copy(cols), i);
			struct column *col = &t->cols[t->ncols++];
			char *type = jstrdup(c, "type");
			int ok = 0;
			struct mlc_buf key;

			col->alias = jstrdup(c, "alias");
			col->label = jstrdup(c, "label");
			if (!col->alias || !col->label || !type)
				mlc_die(MLC_EX_CONFIG, "%s: %s: column %d needs alias, label and type",
				        path.p, t->name, i);
			col->type = parse_ctype(type, &ok);
			if (!ok)
				mlc_die(MLC_EX_CONFIG, "%s: %s.%s: unknown type \"%s\"", path.p,
				        t->name, col->alias, type);
			free(type);
			mlc_buf_init(&key);
			mlc_buf_printf(&key, "%s_%s", t->name, col->alias);
			col->key = key.p;
			col->jkey = jv_string(col->key);
			jv_free(c);
		}
		jv_free(cols);
		jv_free(k);
		jv_free(v);
	}
	jv_free(all);
	mlc_buf_free(&path);
}

static struct table *
find_table(const char *name)
{
	for (size_t i = 0; i < ntables; i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

static const struct column *
find_column(const struct table *t, const char *alias)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].alias, alias) == 0)
			return &t->cols[i];
	return NULL;
}

/* "F0411.DOC" -> the column, or NULL */
static const struct column *
control_column(const struct table *t, const char *cid)
{
	size_t n = strlen(t->name);

	if (strncmp(cid, t->name, n) != 0 || cid[n] != '.')
		return NULL;
	return find_column(t, cid + n + 1);
}

static char *
table_path(const struct table *t)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	mlc_buf_printf(&b, "%s/%s.ndjson", cfg.data_dir, t->name);
	return b.p;
}

/* ---- application errors: {CODE, TITLE, ERRORCONTROL, DESC, MOBILE} ---- */

static void
app_error(struct mlc_buf *errs, const char *code, const char *title, const char *control,
          const char *fmt, ...) MLC_PRINTF(5, 6);

static void
app_error(struct mlc_buf *errs, const char *code, const char *title, const char *control,
          const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof desc, fmt, ap);
	va_end(ap);
	if (errs->len)
		mlc_buf_addc(errs, ',');
	mlc_buf_adds(errs, "{\"CODE\":");
	add_json_str(errs, code);
	mlc_buf_adds(errs, ",\"TITLE\":");
	add_json_str(errs, title);
	mlc_buf_adds(errs, ",\"ERRORCONTROL\":");
	add_json_str(errs, control);
	mlc_buf_adds(errs, ",\"DESC\":");
	add_json_str(errs, desc);
	mlc_buf_adds(errs, ",\"MOBILE\":");
	add_json_str(errs, desc);
	mlc_buf_addc(errs, '}');
}

/* ---- query compilation ---- */

static void
query_free(struct query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nc; i++) {
		for (size_t j = 0; j < q->c[i].nv; j++)
			free(q->c[i].v[j].s);
		free(q->c[i].v);
	}
	free(q->c);
	for (size_t i = 0; i < q->nsub; i++)
		query_free(q->sub[i].q);
	free(q->sub);
	free(q);
}

static size_t
trimmed_len(const char *s, size_t n)
{
	while (n > 0 && s[n - 1] == ' ')
		n--;
	return n;
}

static int
full_number(const char *s, double *out)
{
	char *end;

	while (*s == ' ')
		s++;
	if (!*s)
		return 0;
	errno = 0;
	*out = strtod(s, &end);
	while (*end == ' ')
		end++;
	return !*end && errno == 0;
}

/* One value of a condition, resolved against the column's type. */
static int
compile_value(const struct table *t, const struct column *col, enum op op, jv val,
              struct lit *out, struct mlc_buf *errs, const char *cid)
{
	char *content = jstrdup(val, "content");
	char *special = jstrdup(val, "specialValueId");
	int rc = -1;
	jv cj = jget(val, "content");

	(void)t;
	if (!content && jv_get_kind(cj) == JV_KIND_NUMBER) {
		/* Jackson would coerce a JSON number to the String field. */
		struct mlc_buf b;

		mlc_buf_init(&b);
		mlc_buf_printf(&b, "%.17g", jv_number_value(cj));
		content = b.p;
	}
	jv_free(cj);
	if (!special)
		special = mlc_xstrdup("LITERAL");
	memset(out, 0, sizeof *out);
	if (strncmp(special, "TODAY", 5) == 0) {
		double k = 0;
		int d = today_ymd();

		if (col->type != CT_DATE) {
			app_error(errs, "SIM013", "Invalid Special Value", cid,
			          "%s is not a date column: %s cannot apply", cid, special);
			goto out;
		}
		if (strcmp(special, "TODAY") != 0) {
			if (!content || !full_number(content, &k) || k < 0 || k != (long)k || k > 100000) {
				app_error(errs, "SIM014", "Invalid Special Value", cid,
				          "%s needs a whole offset count in content, got \"%s\"", special,
				          content ? content : "");
				goto out;
			}
			if (strcmp(special, "TODAY_PLUS_DAY") == 0)
				d = shift_date(d, (int)k, 0, 0);
			else if (strcmp(special, "TODAY_MINUS_DAY") == 0)
				d = shift_date(d, -(int)k, 0, 0);
			else if (strcmp(special, "TODAY_PLUS_MONTH") == 0)
				d = shift_date(d, 0, (int)k, 0);
			else if (strcmp(special, "TODAY_MINUS_MONTH") == 0)
				d = shift_date(d, 0, -(int)k, 0);
			else if (strcmp(special, "TODAY_PLUS_YEAR") == 0)
				d = shift_date(d, 0, 0, (int)k);
			else if (strcmp(special, "TODAY_MINUS_YEAR") == 0)
				d = shift_date(d, 0, 0, -(int)k);
			else {
				app_error(errs, "SIM012", "Invalid Special Value", cid,
				          "unknown specialValueId \"%s\"", special);
				goto out;
			}
		}
		out->n = d;
		out->s = mlc_xmalloc(16);
		snprintf(out->s, 16, "%08d", d);
		rc = 0;
		goto out;
	}
	if (strcmp(special, "LOGIN_USER") == 0) {
		free(content);
		content = mlc_xstrdup(cfg.user);
	} else if (strcmp(special, "LITERAL") != 0) {
		app_error(errs, "SIM012", "Invalid Special Value", cid,
		          "unknown specialValueId \"%s\"", special);
		goto out;
	}
	if (!content) {
		app_error(errs, "SIM011", "Missing Value", cid, "%s %s: value without content",
		          cid, opnames[op]);
		goto out;
	}
	if (op == OP_STR_START_WITH || op == OP_STR_END_WITH || op == OP_STR_CONTAIN) {
		out->s = content;
		content = NULL;
		rc = 0;
		goto out;
	}
	switch (col->type) {
	case CT_STRING:
	case CT_MCU: {
		const char *s = content;
		size_t n;

		if (col->type == CT_MCU)
			while (*s == ' ')
				s++;
		n = trimmed_len(s, strlen(s));
		out->s = mlc_xstrndup(s, n);
		break;
	}
	case CT_NUMBER:
	case CT_TIME:
		if (!full_number(content, &out->n)) {
			app_error(errs, "SIM015", "Invalid Numeric Value", cid,
			          "\"%s\" is not a number for %s", content, cid);
			goto out;
		}
		break;
	case CT_DATE: {
		int d = parse_user_date(content);

		if (!d) {
			app_error(errs, "SIM016", "Invalid Date", cid,
			          "\"%s\" is not a date in the user's format %s (%s)", content,
			          simple_date_format(), cfg.datefmt);
			goto out;
		}
		out->n = d;
		break;
	}
	}
	out->s = out->s ? out->s : content;
	if (out->s == content)
		content = NULL;
	rc = 0;
out:
	free(content);
	free(special);
	return rc;
}

static struct query *
compile_query(const struct table *t, jv qj, struct mlc_buf *errs, int depth)
{
	struct query *q = mlc_xcalloc(1, sizeof *q);
	char *mt = jstrdup(qj, "matchType");
	jv conds = jget(qj, "condition"), cq = jget(qj, "complexQuery");
	int bad = 0;

	if (depth > 16) {
		app_error(errs, "SIM017", "Invalid Query", "query", "complexQuery nested too deeply");
		bad = 1;
		goto out;
	}
	if (mt && strcmp(mt, "MATCH_ANY") == 0)
		q->any = 1;
	else if (mt && strcmp(mt, "MATCH_ALL") != 0) {
		app_error(errs, "SIM017", "Invalid Query", "query.matchType",
		          "matchType must be MATCH_ALL or MATCH_ANY, got \"%s\"", mt);
		bad = 1;
	}
	if (jv_get_kind(conds) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(conds));

		q->c = mlc_xcalloc((size_t)n, sizeof *q->c);
		for (int i = 0; i < n; i++) {
			jv c = jv_array_get(jv_copy(conds), i);
			char *cid = jstrdup(c, "controlId"), *opn = jstrdup(c, "operator");
			jv vals = jget(c, "value");
			struct cond *cd = &q->c[q->nc];
			int nv = jv_get_kind(vals) == JV_KIND_ARRAY ? jv_array_length(jv_copy(vals)) : 0;
			size_t k;

			if (!cid || !(cd->col = control_column(t, cid))) {
				app_error(errs, "SIM010", "Invalid Column", cid ? cid : "condition",
				          "unknown controlId \"%s\" for %s", cid ? cid : "", t->name);
				bad = 1;
				goto next;
			}
			for (k = 0; k < sizeof opnames / sizeof *opnames; k++)
				if (opn && strcmp(opn, opnames[k]) == 0)
					break;
			if (k == sizeof opnames / sizeof *opnames) {
				app_error(errs, "SIM018", "Invalid Operator", cid,
				          "unknown operator \"%s\"", opn ? opn : "");
				bad = 1;
				goto next;
			}
			cd->op = (enum op)k;
			if ((cd->op == OP_BETWEEN && nv != 2) || (cd->op == OP_LIST && nv < 1) ||
			    (cd->op != OP_BETWEEN && cd->op != OP_LIST && cd->op != OP_STR_BLANK &&
			     cd->op != OP_STR_NOT_BLANK && nv != 1)) {
				app_error(errs, "SIM019", "Invalid Value Count", cid,
				          "%s %s: wrong number of values (%d)", cid, opn, nv);
				bad = 1;
				goto next;
			}
			if (cd->op == OP_STR_BLANK || cd->op == OP_STR_NOT_BLANK)
				nv = 0;
			cd->v = mlc_xcalloc((size_t)(nv ? nv : 1), sizeof *cd->v);
			for (int j = 0; j < nv; j++) {
				jv v = jv_array_get(jv_copy(vals), j);

				if (compile_value(t, cd->col, cd->op, v, &cd->v[cd->nv], errs, cid) == 0)
					cd->nv++;
				else
					bad = 1;
				jv_free(v);
			}
			q->nc++;
next:
			free(cid);
			free(opn);
			jv_free(vals);
			jv_free(c);
		}
	} else if (jv_get_kind(conds) != JV_KIND_INVALID && jv_get_kind(conds) != JV_KIND_NULL) {
		app_error(errs, "SIM017", "Invalid Query", "query.condition", "condition must be an array");
		bad = 1;
	}
	if (jv_get_kind(cq) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(cq));

		q->sub = mlc_xcalloc((size_t)n, sizeof *q->sub);
		for (int i = 0; i < n; i++) {
			jv item = jv_array_get(jv_copy(cq), i);
			char *ao = jstrdup(item, "andOr");
			jv sq = jget(item, "query");

			if (ao && strcmp(ao, "OR") != 0 && strcmp(ao, "AND") != 0) {
				app_error(errs, "SIM017", "Invalid Query", "complexQuery.andOr",
				          "andOr must be AND or OR, got \"%s\"", ao);
				bad = 1;
			} else if (jv_get_kind(sq) != JV_KIND_OBJECT) {
				app_error(errs, "SIM017", "Invalid Query", "complexQuery.query",
				          "complexQuery item without a query object");
				bad = 1;
			} else {
				struct query *s = compile_query(t, sq, errs, depth + 1);

				if (!s)
					bad = 1;
				else {
					q->sub[q->nsub].or = ao && strcmp(ao, "OR") == 0;
					q->sub[q->nsub++].q = s;
				}
			}
			free(ao);
			jv_free(sq);
			jv_free(item);
		}
	}
out:
	free(mt);
	jv_free(conds);
	jv_free(cq);
	if (bad) {
		query_free(q);
		return NULL;
	}
	return q;
}

/* ---- query evaluation on one row ---- */

/*
 * A row is read raw: the value of a column is found by searching the line
 * for "KEY": (in compact JSON a raw quote cannot occur inside a string, so
 * the match preceded by '{' or ',' is the key itself) and read in place.
 * Only when that fails (spaces around the colon, escapes in a string) is
 * the whole line parsed with libjq, once.  This keeps a scan of a
 * million-row table in seconds.
 */
struct row {
	const char *line;
	size_t n;
	jv j;       /* parsed on demand */
	int parsed; /* 0 no, 1 yes, -1 not a JSON object */
};

static int
row_parse(struct row *r)
{
	if (!r->parsed) {
		r->j = jv_parse_sized(r->line, (int)r->n);
		r->parsed = jv_get_kind(r->j) == JV_KIND_OBJECT ? 1 : -1;
	}
	return r->parsed;
}

static void
row_free(struct row *r)
{
	if (r->parsed)
		jv_free(r->j);
	r->parsed = 0;
}

/* The raw bytes of the value of col in the line, or -1. */
static int
raw_value(const struct row *r, const struct column *col, const char **v, size_t *vn)
{
	const char *p = r->line, *end = r->line + r->n, *s;
	size_t kl = strlen(col->key);

	for (;;) {
		p = memchr(p, '"', (size_t)(end - p));
		if (!p || (size_t)(end - p) < kl + 3)
			return -1;
		if ((p[-1] == ',' || p[-1] == '{') && memcmp(p + 1, col->key, kl) == 0 &&
		    p[kl + 1] == '"' && p[kl + 2] == ':')
			break;
		p++;
	}
	s = p += kl + 3;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++)
			if (*p == '\\')
				return -1; /* escapes: let libjq decode */
		if (p >= end)
			return -1;
		p++;
	} else {
		while (p < end && *p != ',' && *p != '}')
			p++;
		if (p == s || *s == ' ')
			return -1;
	}
	*v = s;
	*vn = (size_t)(p - s);
	return 0;
}

struct cell {
	const char *s; /* string value (not NUL-terminated at n) */
	size_t n;
	double num;
	int blank;
	char tmp[40];
};

static void
cell_from_string(const struct column *col, const char *s, size_t n, struct cell *c)
{
	if (col->type == CT_MCU)
		while (n > 0 && *s == ' ')
			s++, n--;
	c->s = s;
	c->n = trimmed_len(s, n);
	c->blank = c->n == 0;
	if (col->type == CT_DATE || col->type == CT_NUMBER || col->type == CT_TIME) {
		char t[40];

		snprintf(t, sizeof t, "%.*s", (int)(c->n < 39 ? c->n : 39), c->s);
		c->num = strtod(t, NULL);
	}
}

static void
cell_from_number(double d, struct cell *c)
{
	c->num = d;
	snprintf(c->tmp, sizeof c->tmp, "%.15g", c->num);
	c->s = c->tmp;
	c->n = strlen(c->tmp);
}

static void
get_cell(const struct column *col, struct row *r, struct cell *c)
{
	const char *v;
	size_t vn;
	jv x;
	jv_kind k;

	memset(c, 0, sizeof *c);
	c->s = "";
	if (r->parsed != 1 && raw_value(r, col, &v, &vn) == 0) {
		if (*v == '"') {
			cell_from_string(col, v + 1, vn - 2, c);
		} else if (*v == 'n' || *v == 't' || *v == 'f') {
			c->blank = 1; /* null: a blank date (0 in the database) */
		} else {
			char t[48];

			snprintf(t, sizeof t, "%.*s", (int)(vn < 47 ? vn : 47), v);
			cell_from_number(strtod(t, NULL), c);
		}
		return;
	}
	if (row_parse(r) != 1) {
		c->blank = 1;
		return;
	}
	/* Strings stay alive in the parsed row, which the caller keeps. */
	x = jv_object_get(jv_copy(r->j), jv_copy(col->jkey));
	k = jv_get_kind(x);
	if (k == JV_KIND_STRING)
		cell_from_string(col, jv_string_value(x), (size_t)jv_string_length_bytes(jv_copy(x)), c);
	else if (k == JV_KIND_NUMBER)
		cell_from_number(jv_number_value(x), c);
	else
		c->blank = 1;
	jv_free(x);
}

static int
cmp_cell(const struct column *col, const struct cell *c, const struct lit *l)
{
	if (col->type == CT_STRING || col->type == CT_MCU) {
		size_t ln = strlen(l->s), m = c->n < ln ? c->n : ln;
		int r;

		/* A business unit is right-justified in the database: a
		 * shorter one is a smaller one ("50" < "100"). */
		if (col->type == CT_MCU && c->n != ln)
			return c->n < ln ? -1 : 1;
		r = memcmp(c->s, l->s, m);

		if (r)
			return r < 0 ? -1 : 1;
		return c->n < ln ? -1 : c->n > ln;
	}
	return c->num < l->n ? -1 : c->num > l->n;
}

static int
eval_cond(const struct cond *cd, struct row *row)
{
	struct cell c;
	size_t ln;

	get_cell(cd->col, row, &c);
	switch (cd->op) {
	case OP_EQUAL: return cmp_cell(cd->col, &c, &cd->v[0]) == 0;
	case OP_NOT_EQUAL: return cmp_cell(cd->col, &c, &cd->v[0]) != 0;
	case OP_LESS: return cmp_cell(cd->col, &c, &cd->v[0]) < 0;
	case OP_LESS_EQUAL: return cmp_cell(cd->col, &c, &cd->v[0]) <= 0;
	case OP_GREATER: return cmp_cell(cd->col, &c, &cd->v[0]) > 0;
	case OP_GREATER_EQUAL: return cmp_cell(cd->col, &c, &cd->v[0]) >= 0;
	case OP_BETWEEN:
		return cmp_cell(cd->col, &c, &cd->v[0]) >= 0 && cmp_cell(cd->col, &c, &cd->v[1]) <= 0;
	case OP_LIST:
		for (size_t i = 0; i < cd->nv; i++)
			if (cmp_cell(cd->col, &c, &cd->v[i]) == 0)
				return 1;
		return 0;
	case OP_STR_START_WITH:
		ln = strlen(cd->v[0].s);
		return c.n >= ln && memcmp(c.s, cd->v[0].s, ln) == 0;
	case OP_STR_END_WITH:
		ln = strlen(cd->v[0].s);
		return c.n >= ln && memcmp(c.s + c.n - ln, cd->v[0].s, ln) == 0;
	case OP_STR_CONTAIN:
		ln = strlen(cd->v[0].s);
		if (ln == 0)
			return 1;
		for (size_t i = 0; i + ln <= c.n; i++)
			if (memcmp(c.s + i, cd->v[0].s, ln) == 0)
				return 1;
		return 0;
	case OP_STR_BLANK: return c.blank;
	case OP_STR_NOT_BLANK: return !c.blank;
	}
	return 0;
}

/* -1 = no terms (matches everything), else 0/1 */
static int
eval_query(const struct query *q, struct row *row)
{
	int r = -1;

	for (size_t i = 0; i < q->nc; i++) {
		int m = eval_cond(&q->c[i], row);

		if (r < 0)
			r = m;
		else
			r = q->any ? (r || m) : (r && m);
		if (q->any ? r == 1 : r == 0)
			break;
	}
	for (size_t i = 0; i < q->nsub; i++) {
		int m = eval_query(q->sub[i].q, row);

		if (m < 0)
			continue;
		if (r < 0)
			r = m;
		else
			r = q->sub[i].or ? (r || m) : (r && m);
	}
	return r;
}

/* Append the selected columns of a row as a JSON object. */
static void
emit_row(struct row *r, const struct column **cols, size_t ncols, struct mlc_buf *out)
{
	size_t start = out->len;
	const char *v;
	size_t vn;

	if (r->parsed != 1) {
		mlc_buf_addc(out, '{');
		for (size_t i = 0; i < ncols; i++) {
			if (raw_value(r, cols[i], &v, &vn) != 0)
				goto slow;
			if (i)
				mlc_buf_addc(out, ',');
			mlc_buf_printf(out, "\"%s\":", cols[i]->key);
			mlc_buf_add(out, v, vn);
		}
		mlc_buf_addc(out, '}');
		return;
	}
slow:
	out->len = start;
	out->p[start] = '\0';
	if (row_parse(r) == 1) {
		jv o = jv_object();
		jv s;

		for (size_t i = 0; i < ncols; i++)
			o = jv_object_set(o, jv_copy(cols[i]->jkey),
			                  jv_object_get(jv_copy(r->j), jv_copy(cols[i]->jkey)));
		s = jv_dump_string(o, 0);
		mlc_buf_adds(out, jv_string_value(s));
		jv_free(s);
	}
}

/* ---- paging through a table ---- */

/*
 * The rows of a table: the file's lines (minus those a shift fault
 * removed), then the rows a shift fault added.  A row's id is its file
 * offset, or -(i + 1) for added row i.
 */
struct scan {
	const struct table *t;
	FILE *f;
	char *path;
	off_t pos;   /* the file offset of the next line */
	size_t ovl;  /* the next added row, once the file is read */
	int eof;
	char *line;
	size_t cap;
	unsigned long bad;
};

static int
is_deleted(const struct table *t, off_t id)
{
	for (size_t i = 0; i < t->ndel; i++)
		if (t->del[i] == id)
			return 1;
	return 0;
}

/* 0, or -1 (the file cannot be read: warned). */
static int
scan_open(struct scan *sc, const struct table *t, off_t pos, size_t ovl)
{
	memset(sc, 0, sizeof *sc);
	sc->t = t;
	sc->path = table_path(t);
	sc->pos = pos;
	sc->ovl = ovl;
	if (!(sc->f = fopen(sc->path, "r"))) {
		mlc_warn("%s: %s", sc->path, strerror(errno));
		free(sc->path);
		return -1;
	}
	if (pos && fseeko(sc->f, pos, SEEK_SET) != 0) {
		mlc_warn("%s: seek: %s", sc->path, strerror(errno));
		fclose(sc->f);
		free(sc->path);
		return -1;
	}
	return 0;
}

static void
scan_close(struct scan *sc)
{
	if (sc->f)
		fclose(sc->f);
	free(sc->line);
	free(sc->path);
}

/* The next row: 1 with its id and compact line, 0 at the end. */
static int
scan_next(struct scan *sc, off_t *id, const char **line, size_t *len)
{
	ssize_t n;

	while (!sc->eof && (n = getline(&sc->line, &sc->cap, sc->f)) > 0) {
		off_t start = sc->pos;

		sc->pos += n;
		while (n > 0 && (sc->line[n - 1] == '\n' || sc->line[n - 1] == '\r' ||
		                 sc->line[n - 1] == ' '))
			sc->line[--n] = '\0';
		if (n == 0 || (sc->t->ndel && is_deleted(sc->t, start)))
			continue;
		if (sc->line[0] != '{' || sc->line[n - 1] != '}') {
			if (!sc->bad++)
				mlc_warn("%s: the line at offset %lld is not a JSON object; skipped",
				         sc->path, (long long)start);
			continue;
		}
		*id = start;
		*line = sc->line;
		*len = (size_t)n;
		return 1;
	}
	sc->eof = 1;
	while (sc->ovl < sc->t->nins) {
		size_t i = sc->ovl++;

		if (sc->t->ins_dead[i])
			continue;
		*id = -(off_t)i - 1;
		*line = sc->t->ins[i];
		*len = strlen(sc->t->ins[i]);
		return 1;
	}
	return 0;
}

/* The line of one row by id into *buf (file rows) or in place; 0 or -1. */
static int
fetch_row(FILE *f, const struct table *t, off_t id, char **buf, size_t *cap, const char **line,
          size_t *len)
{
	ssize_t n;

	if (id < 0) {
		*line = t->ins[-id - 1];
		*len = strlen(*line);
		return 0;
	}
	if (fseeko(f, id, SEEK_SET) != 0 || (n = getline(buf, cap, f)) <= 0)
		return -1;
	while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r' || (*buf)[n - 1] == ' '))
		(*buf)[--n] = '\0';
	*line = *buf;
	*len = (size_t)n;
	return 0;
}

/* Append a row (all columns, or the selected ones) to rows. */
static void
add_row(struct mlc_buf *rows, long count, struct row *r, const struct column **cols, size_t ncols)
{
	if (count)
		mlc_buf_addc(rows, ',');
	if (!cols)
		mlc_buf_add(rows, r->line, r->n);
	else
		emit_row(r, cols, ncols, rows);
}

/*
 * Without an order: append up to pagesize matching rows (0 = all) to rows,
 * from the cursor (*offset, *ovl); on return the cursor is where the next
 * page starts and *more says whether a further matching row exists.
 * Returns the number of rows, or -1 if the file cannot be read.
 */
static long
read_page(const struct table *t, const struct query *q, const struct column **cols,
          size_t ncols, long pagesize, off_t *offset, size_t *ovl, int *more,
          struct mlc_buf *rows)
{
	struct scan sc;
	const char *line;
	size_t n;
	off_t id;
	long count = 0;

	*more = 0;
	if (scan_open(&sc, t, *offset, *ovl) < 0)
		return -1;
	for (;;) {
		off_t pos = sc.pos;
		size_t o = sc.ovl;
		struct row r;
		int m;

		if (scan_next(&sc, &id, &line, &n) != 1)
			break;
		memset(&r, 0, sizeof r);
		r.line = line;
		r.n = n;
		m = q ? eval_query(q, &r) : -1;
		if (m == 0) {
			row_free(&r);
			continue;
		}
		if (pagesize && count >= pagesize) {
			/* this row starts the next page */
			*more = 1;
			*offset = id >= 0 ? id : pos;
			*ovl = id >= 0 ? 0 : o;
			row_free(&r);
			break;
		}
		add_row(rows, count, &r, cols, ncols);
		count++;
		row_free(&r);
	}
	if (!*more) {
		*offset = sc.pos;
		*ovl = sc.ovl;
	}
	scan_close(&sc);
	return count;
}

/*
 * A sort key for the order columns, comparable with memcmp: numbers, times
 * and dates (a blank one is 0) as order-preserving doubles; strings without
 * trailing blanks, 0-terminated; business units (right-justified in the
 * database) as their length, then their bytes; DESC columns inverted.
 */
static void
sort_key(struct row *r, const struct order *ord, size_t nord, struct mlc_buf *k)
{
	mlc_buf_reset(k);
	for (size_t i = 0; i < nord; i++) {
		const struct column *col = ord[i].col;
		struct cell c;
		size_t start = k->len;

		get_cell(col, r, &c);
		if (col->type == CT_NUMBER || col->type == CT_TIME || col->type == CT_DATE) {
			double d = c.blank ? 0 : c.num;
			uint64_t u;
			unsigned char b[8];

			if (d == 0)
				d = 0; /* -0 */
			memcpy(&u, &d, sizeof u);
			u = u >> 63 ? ~u : u | 1ull << 63;
			for (int j = 0; j < 8; j++)
				b[j] = (unsigned char)(u >> (56 - 8 * j));
			mlc_buf_add(k, b, 8);
		} else if (col->type == CT_MCU) {
			unsigned char b[2] = { (unsigned char)(c.n >> 8), (unsigned char)c.n };

			mlc_buf_add(k, b, 2);
			mlc_buf_add(k, c.s, c.n);
		} else {
			for (size_t j = 0; j < c.n; j++)
				mlc_buf_addc(k, c.s[j] ? c.s[j] : '\1');
			mlc_buf_addc(k, '\0');
		}
		if (ord[i].desc)
			for (size_t j = start; j < k->len; j++)
				k->p[j] = (char)~(unsigned char)k->p[j];
	}
}

/* A row of a result being sorted: its sort key (in the arena) and its
 * place in the table's own order (file offset; an added row just before or
 * after its file row, added rows in the order they came). */
struct sent {
	off_t id;
	size_t koff, klen;
	off_t at;
	int side;
	size_t seq;
};

static const char *sort_arena;

static int
cmp_sent(const void *a, const void *b)
{
	const struct sent *x = a, *y = b;
	size_t m = x->klen < y->klen ? x->klen : y->klen;
	int r = memcmp(sort_arena + x->koff, sort_arena + y->koff, m);

	if (r)
		return r;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	/* equal keys (no orderBy: every key) keep the table's order */
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->side != y->side)
		return x->side < y->side ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The table-order place of a row id. */
static void
table_place(const struct table *t, off_t id, struct sent *e)
{
	if (id >= 0) {
		e->at = id;
		e->side = 0;
		e->seq = 0;
	} else {
		e->at = t->ins_at[-id - 1];
		e->side = t->ins_side[-id - 1];
		e->seq = (size_t)(-id - 1);
	}
}

static int
table_stat(const struct table *t, off_t *size, struct timespec *mtime)
{
	char *path = table_path(t);
	struct stat st;
	int rc = stat(path, &st);

	free(path);
	if (rc != 0)
		return -1;
	*size = st.st_size;
	*mtime = st.st_mtim;
	return 0;
}

/*
 * The ordered result of rs's query over the table as it is now.  When the
 * file already holds the matching rows in that order and nothing was added
 * or removed, the result streams the file (nothing kept); else the sorted
 * ids are kept (the sort keys are dropped once sorted), as they are when
 * want_ids.  0, or -1 if the file cannot be read.
 */
static int
order_build(struct rset *rs, int want_ids)
{
	struct scan sc;
	struct mlc_buf k, prev, arena;
	struct sent *v = NULL;
	size_t nv = 0, cap = 0;
	const char *line;
	size_t n;
	off_t id;
	int sorted = 1, have_prev = 0;

	free(rs->ids);
	rs->ids = NULL;
	rs->nids = 0;
	rs->stream = 0;
	rs->gen = rs->t->gen;
	if (table_stat(rs->t, &rs->fsize, &rs->fmtime) < 0)
		return -1;
	mlc_buf_init(&k);
	mlc_buf_init(&prev);
	mlc_buf_init(&arena);
	rs->offset = 0;
	rs->ovl = 0;
	if (!want_ids && !rs->t->nins && !rs->t->ndel && !rs->nord) {
		/* the table's own order: the file as it is */
		rs->stream = 1;
		goto done;
	}
	if (!want_ids && !rs->t->nins && !rs->t->ndel) {
		/* pass 1: is the file in order already? */
		if (scan_open(&sc, rs->t, 0, 0) < 0)
			goto fail;
		while (sorted && scan_next(&sc, &id, &line, &n) == 1) {
			struct row r;

			memset(&r, 0, sizeof r);
			r.line = line;
			r.n = n;
			if (!rs->q || eval_query(rs->q, &r) != 0) {
				sort_key(&r, rs->ord, rs->nord, &k);
				if (have_prev && (memcmp(prev.p, k.p, prev.len < k.len ? prev.len : k.len) > 0 ||
				                  (memcmp(prev.p, k.p, prev.len < k.len ? prev.len : k.len) == 0 &&
				                   prev.len > k.len)))
					sorted = 0;
				mlc_buf_reset(&prev);
				mlc_buf_add(&prev, k.p, k.len);
				have_prev = 1;
			}
			row_free(&r);
		}
		scan_close(&sc);
		if (sorted) {
			rs->stream = 1;
			goto done;
		}
	}
	/* pass 2: sort the matching rows' ids */
	if (scan_open(&sc, rs->t, 0, 0) < 0)
		goto fail;
	while (scan_next(&sc, &id, &line, &n) == 1) {
		struct row r;

		memset(&r, 0, sizeof r);
		r.line = line;
		r.n = n;
		if (!rs->q || eval_query(rs->q, &r) != 0) {
			sort_key(&r, rs->ord, rs->nord, &k);
			if (nv == cap) {
				cap = cap ? cap * 2 : 1024;
				v = mlc_xrealloc(v, cap * sizeof *v);
			}
			v[nv].id = id;
			v[nv].koff = arena.len;
			v[nv].klen = k.len;
			table_place(rs->t, id, &v[nv]);
			mlc_buf_add(&arena, k.p, k.len);
			nv++;
		}
		row_free(&r);
	}
	scan_close(&sc);
	sort_arena = arena.p;
	if (nv)
		qsort(v, nv, sizeof *v, cmp_sent);
	rs->ids = mlc_xcalloc(nv ? nv : 1, sizeof *rs->ids);
	for (size_t i = 0; i < nv; i++)
		rs->ids[i] = v[i].id;
	rs->nids = nv;
done:
	free(v);
	mlc_buf_free(&k);
	mlc_buf_free(&prev);
	mlc_buf_free(&arena);
	return 0;
fail:
	mlc_buf_free(&k);
	mlc_buf_free(&prev);
	mlc_buf_free(&arena);
	return -1;
}

/* Whether the table changed since rs's result was built. */
static int
order_stale(const struct rset *rs)
{
	off_t size;
	struct timespec mt;

	if (rs->gen != rs->t->gen)
		return 1;
	if (table_stat(rs->t, &size, &mt) < 0)
		return 1;
	return size != rs->fsize || mt.tv_sec != rs->fmtime.tv_sec || mt.tv_nsec != rs->fmtime.tv_nsec;
}

/*
 * The next page of an ordered result: the rows from rs->returned on, of
 * the result as the table is now (rebuilt if it changed).  The count of
 * rows, or -1 if the file cannot be read.
 */
static long
order_page(struct rset *rs, int *more, struct mlc_buf *rows)
{
	long count = 0;

	*more = 0;
	if (order_stale(rs)) {
		if (order_build(rs, 0) < 0)
			return -1;
		if (rs->stream) {
			/* skip the rows already returned */
			struct mlc_buf junk;
			long skip = rs->returned, got;
			int m2;

			mlc_buf_init(&junk);
			rs->offset = 0;
			rs->ovl = 0;
			got = skip ? read_page(rs->t, rs->q, NULL, 0, skip, &rs->offset, &rs->ovl, &m2,
			                       &junk) : 0;
			mlc_buf_free(&junk);
			if (got < 0)
				return -1;
		}
	}
	if (rs->stream) {
		count = read_page(rs->t, rs->q, rs->cols, rs->ncols, rs->pagesize, &rs->offset,
		                  &rs->ovl, more, rows);
	} else {
		char *path = table_path(rs->t), *buf = NULL;
		FILE *f = fopen(path, "r");
		size_t cap = 0, len, i;
		const char *line;

		if (!f) {
			mlc_warn("%s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		for (i = (size_t)rs->returned; i < rs->nids && (!rs->pagesize || count < rs->pagesize);
		     i++) {
			struct row r;

			if (fetch_row(f, rs->t, rs->ids[i], &buf, &cap, &line, &len) < 0) {
				mlc_warn("%s: the row at offset %lld cannot be read again", path,
				         (long long)rs->ids[i]);
				continue;
			}
			memset(&r, 0, sizeof r);
			r.line = line;
			r.n = len;
			add_row(rows, count, &r, rs->cols, rs->ncols);
			count++;
			row_free(&r);
		}
		*more = i < rs->nids;
		free(buf);
		fclose(f);
		free(path);
	}
	if (count >= 0)
		rs->returned += count;
	return count;
}

/* The text of a value for the row at ordered index i (behind: smaller in
 * the order, else larger), variant j; 0, or -1 if the column cannot be
 * shifted. */
static int
shift_value(const struct column *col, const char *v, size_t vn, int smaller, int j,
            struct mlc_buf *out)
{
	mlc_buf_reset(out);
	if (*v != '"') {
		double d, step = 1;
		char t[48];

		if (col->type == CT_DATE || *v == 'n')
			return -1;
		snprintf(t, sizeof t, "%.*s", (int)(vn < 47 ? vn : 47), v);
		d = strtod(t, NULL);
		for (int k = 0; k <= j; k++)
			step /= 2;
		mlc_buf_printf(out, "%.17g", smaller ? d - step : d + step);
		return 0;
	}
	{
		struct mlc_buf sv;
		size_t n;

		if (col->type == CT_DATE)
			return -1;
		mlc_buf_init(&sv);
		if (mlc_jde_json_string(v, vn, &sv) < 0) {
			mlc_buf_free(&sv);
			return -1;
		}
		n = trimmed_len(sv.p, sv.len);
		sv.p[n] = '\0';
		sv.len = n;
		if (smaller) {
			if (!n || (unsigned char)sv.p[n - 1] <= (unsigned char)(' ' + 1 + j)) {
				mlc_buf_free(&sv);
				return -1;
			}
			if (col->type == CT_MCU) {
				/* same length, smaller last character */
				sv.p[n - 1] = (char)(sv.p[n - 1] - 1 - j);
			} else {
				sv.p[n - 1] = (char)(sv.p[n - 1] - 1);
				for (int k = 0; k <= j; k++)
					mlc_buf_addc(&sv, '~');
			}
		} else {
			for (int k = 0; k <= j; k++)
				mlc_buf_addc(&sv, '~');
		}
		mlc_buf_json_str(out, sv.p, sv.len);
		mlc_buf_free(&sv);
	}
	return 0;
}

/* Whether a row of the table has the order key k (the key of a new row
 * must be new). */
static int
key_taken(const struct rset *rs, const struct mlc_buf *k)
{
	struct scan sc;
	struct mlc_buf x;
	const char *line;
	size_t n;
	off_t id;
	int hit = 0;

	if (scan_open(&sc, rs->t, 0, 0) < 0)
		return 1;
	mlc_buf_init(&x);
	while (!hit && scan_next(&sc, &id, &line, &n) == 1) {
		struct row r;

		if (!rs->nord) {
			/* no order: a row is taken if it is the same row */
			hit = n == k->len && memcmp(line, k->p, n) == 0;
			continue;
		}
		memset(&r, 0, sizeof r);
		r.line = line;
		r.n = n;
		sort_key(&r, rs->ord, rs->nord, &x);
		hit = x.len == k->len && memcmp(x.p, k->p, k->len) == 0;
		row_free(&r);
	}
	mlc_buf_free(&x);
	scan_close(&sc);
	return hit;
}

/*
 * Fault shift, between two pages of rs: remove the rows just behind the
 * cursor (already returned) or just ahead of it, or add rows there: copies
 * of the row at the cursor's edge with one order column moved a little
 * (the last number column by a fraction, else the last string column by
 * its last character), so that they sort just behind or just ahead and
 * their key is new.  The
 * table changes for every later query too (until reset with "data").
 * 0, or -1 with a warning when it cannot apply.
 */
static int
shift_apply(struct rset *rs, const struct fault *f)
{
	struct table *t = rs->t;
	size_t c = (size_t)rs->returned, k = (size_t)f->rows;

	if (order_build(rs, 1) < 0)
		return -1;
	if (!f->insert) {
		size_t lo = f->ahead ? c : (c >= k ? c - k : 0);
		size_t hi = f->ahead ? (c + k < rs->nids ? c + k : rs->nids) : c;

		if (lo >= hi) {
			mlc_warn("fault shift: no row %s the cursor to delete", f->ahead ? "ahead of" : "behind");
			return -1;
		}
		for (size_t i = lo; i < hi; i++) {
			off_t id = rs->ids[i];

			if (id < 0) {
				t->ins_dead[-id - 1] = 1;
			} else {
				t->del = mlc_xrealloc(t->del, (t->ndel + 1) * sizeof *t->del);
				t->del[t->ndel++] = id;
			}
		}
	} else {
		/* The column that moves: the last number of the order (a
		 * document number, so that a copy is a record of its own), else
		 * its last column; without an order, the table's first number. */
		const struct column *col = rs->nord ? rs->ord[rs->nord - 1].col : NULL;
		char *path = table_path(t), *buf = NULL;
		FILE *fp = fopen(path, "r");
		size_t cap = 0, len, anchor, added = 0;
		int smaller = !f->ahead, desc = rs->nord ? rs->ord[rs->nord - 1].desc : 0;
		const char *line, *v;
		size_t vn;
		struct row r;
		struct mlc_buf val, nl, key;
		struct sent place;

		free(path);
		for (size_t i = rs->nord; i-- > 0;)
			if (rs->ord[i].col->type == CT_NUMBER) {
				col = rs->ord[i].col;
				desc = rs->ord[i].desc;
				break;
			}
		for (size_t i = 0; !col && i < t->ncols; i++)
			if (t->cols[i].type == CT_NUMBER)
				col = &t->cols[i];
		if (!col || !rs->nids || (smaller && c == 0)) {
			if (fp)
				fclose(fp);
			mlc_warn("fault shift: no row %s the cursor to copy", smaller ? "behind" : "at");
			return -1;
		}
		anchor = smaller ? c - 1 : (c < rs->nids ? c : rs->nids - 1);
		/* in the table's order, just before (behind) or after the row */
		table_place(t, rs->ids[anchor], &place);
		if (!fp || fetch_row(fp, t, rs->ids[anchor], &buf, &cap, &line, &len) < 0) {
			if (fp)
				fclose(fp);
			free(buf);
			mlc_warn("fault shift: the row to copy cannot be read");
			return -1;
		}
		memset(&r, 0, sizeof r);
		r.line = line;
		r.n = len;
		if (raw_value(&r, col, &v, &vn) != 0) {
			fclose(fp);
			free(buf);
			mlc_warn("fault shift: the row to copy has no plain %s", col->key);
			return -1;
		}
		mlc_buf_init(&val);
		mlc_buf_init(&nl);
		mlc_buf_init(&key);
		for (int j = 0; added < k && j < (int)k + 20; j++) {
			struct row nr;

			/* a DESC column's "behind" is the larger value */
			if (shift_value(col, v, vn, desc ? !smaller : smaller, j, &val) < 0)
				break;
			mlc_buf_reset(&nl);
			mlc_buf_add(&nl, line, (size_t)(v - line));
			mlc_buf_add(&nl, val.p, val.len);
			mlc_buf_add(&nl, v + vn, len - (size_t)(v + vn - line));
			memset(&nr, 0, sizeof nr);
			nr.line = nl.p;
			nr.n = nl.len;
			sort_key(&nr, rs->ord, rs->nord, &key);
			row_free(&nr);
			if (key_taken(rs, rs->nord ? &key : &nl))
				continue;
			t->ins = mlc_xrealloc(t->ins, (t->nins + 1) * sizeof *t->ins);
			t->ins_dead = mlc_xrealloc(t->ins_dead, (t->nins + 1) * sizeof *t->ins_dead);
			t->ins_at = mlc_xrealloc(t->ins_at, (t->nins + 1) * sizeof *t->ins_at);
			t->ins_side = mlc_xrealloc(t->ins_side, (t->nins + 1) * sizeof *t->ins_side);
			t->ins[t->nins] = mlc_xstrndup(nl.p, nl.len);
			t->ins_dead[t->nins] = 0;
			t->ins_at[t->nins] = place.at;
			t->ins_side[t->nins++] = place.side ? place.side : smaller ? -1 : 1;
			added++;
		}
		mlc_buf_free(&val);
		mlc_buf_free(&nl);
		mlc_buf_free(&key);
		fclose(fp);
		free(buf);
		if (!added) {
			mlc_warn("fault shift: %s cannot be moved %s", col->key,
			         smaller ? "behind" : "ahead");
			return -1;
		}
	}
	t->gen++;
	return 0;
}

/* Forget every change of the shift faults. */
static void
tables_reset_data(void)
{
	for (size_t i = 0; i < ntables; i++) {
		struct table *t = &tables[i];

		for (size_t j = 0; j < t->nins; j++)
			free(t->ins[j]);
		free(t->ins);
		free(t->ins_dead);
		free(t->ins_at);
		free(t->ins_side);
		free(t->del);
		t->ins = NULL;
		t->ins_dead = NULL;
		t->ins_at = NULL;
		t->ins_side = NULL;
		t->del = NULL;
		t->nins = t->ndel = 0;
		t->gen++;
	}
}

/* ---- sessions ---- */

static void
rset_free(struct rset *r)
{
	query_free(r->q);
	free(r->ord);
	free(r->ids);
	free(r->cols);
	free(r->rcids);
	free(r);
}

static void
rset_remove(struct rset *r)
{
	for (struct rset **pp = &rsets; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			rset_free(r);
			return;
		}
	}
}

static void
session_remove(struct session *s)
{
	struct rset **pp = &rsets;

	/* An open result set belongs to its session: it dies with it. */
	while (*pp) {
		if ((*pp)->sess == s) {
			struct rset *r = *pp;

			*pp = r->next;
			rset_free(r);
		} else {
			pp = &(*pp)->next;
		}
	}
	for (struct session **sp = &sessions; *sp; sp = &(*sp)->next) {
		if (*sp == s) {
			*sp = s->next;
			break;
		}
	}
	sodium_memzero(s->token, strlen(s->token));
	free(s->token);
	free(s->device);
	free(s->user);
	free(s);
}

static void
sweep(void)
{
	time_t now = mlc_httpd_now_s();
	struct session *s = sessions;
	struct rset *r = rsets;

	while (s) {
		struct session *n = s->next;

		if (now >= s->expires)
			session_remove(s);
		s = n;
	}
	r = rsets;
	while (r) {
		struct rset *n = r->next;

		if (now - r->last > cfg.rs_timeout)
			rset_remove(r);
		r = n;
	}
}

static struct session *
find_session(const char *token)
{
	for (struct session *s = sessions; s; s = s->next)
		if (strcmp(s->token, token) == 0)
			return s;
	return NULL;
}

/* ---- faults ---- */

static void
fault_free(struct fault *f)
{
	free(f->path);
	free(f->table);
	free(f->code);
	free(f->desc);
	free(f->exception);
	free(f->cookie);
	free(f);
}

/* A whole number, 0 or more (*ok); fault.c reads it. */
static long
parse_long(const char *s, int *ok)
{
	long v = -1;

	*ok = mlc_fault_long(s, 0, LONG_MAX, &v) == 0;
	return v;
}

/* KIND[:key=value[,key=value]...]; returns NULL with a message in err. */
static struct fault *
fault_parse(const char *spec, char *err, size_t errlen)
{
	struct fault *f = mlc_xcalloc(1, sizeof *f);
	char *s = mlc_xstrdup(spec), *args = mlc_fault_kind(s), *key, *val, *save = NULL;
	size_t k;

	for (k = 0; k < sizeof fnames / sizeof *fnames; k++)
		if (strcmp(s, fnames[k]) == 0)
			break;
	if (k == sizeof fnames / sizeof *fnames) {
		snprintf(err, errlen, "unknown fault \"%s\"", s);
		goto bad;
	}
	f->kind = (enum fkind)k;
	/* token-life and sticky are modes: until reset, unless counted */
	f->count = f->kind == F_TOKEN_LIFE || f->kind == F_STICKY || f->kind == F_NO_COMPLEX ? -1 : 1;
	f->status = f->kind == F_TOKEN_EXPIRE ? 444 : f->kind == F_STATUS ? 503 :
	            f->kind == F_TOKEN_LIFE ? 0 : 200;
	if (f->kind == F_SLOW)
		f->ms = 1000;
	if (f->kind == F_SHIFT) {
		f->insert = 1;
		f->rows = 1;
	}
	for (key = mlc_fault_item(args, &save, &val); key; key = mlc_fault_item(NULL, &save, &val)) {
		int ok = 1;

		if (!val) {
			snprintf(err, errlen, "\"%s\": expected key=value", key);
			goto bad;
		}
		if (strcmp(key, "path") == 0) {
			if (val[0] != '/') {
				snprintf(err, errlen, "path must start with /");
				goto bad;
			}
			free(f->path);
			f->path = mlc_xstrdup(val);
		} else if (strcmp(key, "count") == 0) {
			f->count = parse_long(val, &ok);
			if (ok && f->count == 0)
				f->count = -1;
		} else if (strcmp(key, "after") == 0 && (f->kind == F_TOKEN_EXPIRE || f->kind == F_SHIFT)) {
			f->after = parse_long(val, &ok);
		} else if (strcmp(key, "requests") == 0 && f->kind == F_TOKEN_LIFE) {
			f->requests = parse_long(val, &ok);
			ok = ok && f->requests >= 1;
		} else if (strcmp(key, "op") == 0 && f->kind == F_SHIFT) {
			ok = strcmp(val, "insert") == 0 || strcmp(val, "delete") == 0;
			f->insert = strcmp(val, "insert") == 0;
		} else if (strcmp(key, "at") == 0 && f->kind == F_SHIFT) {
			ok = strcmp(val, "behind") == 0 || strcmp(val, "ahead") == 0;
			f->ahead = strcmp(val, "ahead") == 0;
		} else if (strcmp(key, "rows") == 0 && f->kind == F_SHIFT) {
			f->rows = parse_long(val, &ok);
			ok = ok && f->rows >= 1 && f->rows <= 1000;
		} else if (strcmp(key, "cookie") == 0 && f->kind == F_STICKY) {
			ok = *val && strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                    "0123456789_-") == strlen(val);
			free(f->cookie);
			f->cookie = mlc_xstrdup(val);
		} else if (strcmp(key, "as") == 0 && f->kind == F_NO_COMPLEX) {
			ok = strcmp(val, "app") == 0 || strcmp(val, "sys") == 0 || strcmp(val, "400") == 0 ||
			     strcmp(val, "500") == 0;
			f->as = strcmp(val, "sys") == 0 ? 1 : strcmp(val, "400") == 0 ? 2 :
			        strcmp(val, "500") == 0 ? 3 : 0;
		} else if (strcmp(key, "miss") == 0 && f->kind == F_STICKY) {
			ok = strcmp(val, "context") == 0 || strcmp(val, "token") == 0;
			f->miss_token = strcmp(val, "token") == 0;
		} else if ((strcmp(key, "status") == 0 || strcmp(key, "code") == 0) &&
		           (f->kind == F_TOKEN_EXPIRE || f->kind == F_STATUS || f->kind == F_MALFORMED ||
		            f->kind == F_TOKEN_LIFE)) {
			long v = parse_long(val, &ok);

			ok = ok && v >= 100 && v <= 999;
			f->status = (int)v;
		} else if (strcmp(key, "ms") == 0 && f->kind == F_SLOW) {
			f->ms = parse_long(val, &ok);
			ok = ok && f->ms <= 600000;
		} else if (strcmp(key, "table") == 0 && f->kind == F_APP_ERROR) {
			free(f->table);
			f->table = mlc_xstrdup(val);
		} else if (strcmp(key, "code") == 0 && (f->kind == F_APP_ERROR || f->kind == F_SYS_ERROR)) {
			free(f->code);
			f->code = mlc_xstrdup(val);
		} else if (strcmp(key, "exception") == 0 && f->kind == F_STATUS) {
			free(f->exception);
			f->exception = mlc_xstrdup(val);
		} else if (strcmp(key, "desc") == 0 &&
		           (f->kind == F_APP_ERROR || f->kind == F_SYS_ERROR || f->kind == F_STATUS)) {
			free(f->desc);
			f->desc = mlc_xstrdup(val);
		} else {
			snprintf(err, errlen, "%s: unknown key \"%s\"", fnames[f->kind], key);
			goto bad;
		}
		if (!ok) {
			snprintf(err, errlen, "%s: bad value for %s: \"%s\"", fnames[f->kind], key, val);
			goto bad;
		}
	}
	if ((f->kind == F_TOKEN_EXPIRE || (f->kind == F_TOKEN_LIFE && f->status)) &&
	    f->status != 444 && f->status != 403 && f->status != 401) {
		snprintf(err, errlen, "%s: status must be 444, 403 or 401", fnames[f->kind]);
		goto bad;
	}
	if (f->kind == F_TOKEN_LIFE && !f->requests) {
		snprintf(err, errlen, "token-life: requests=N is required");
		goto bad;
	}
	if (f->kind == F_SHIFT && !f->path)
		f->path = mlc_xstrdup("/jderest/v2/dataservice/next");
	if (f->kind == F_STICKY && !f->cookie)
		f->cookie = mlc_xstrdup("AISLB");
	free(s);
	return f;
bad:
	free(s);
	fault_free(f);
	return NULL;
}

static void
fault_add(struct fault *f)
{
	struct fault **pp = &faults;

	while (*pp)
		pp = &(*pp)->next;
	*pp = f;
}

static int
path_match(const struct fault *f, const char *path)
{
	return !f->path || mlc_fault_path(f->path, path);
}

/* Consume one use of f; it is removed when its count is spent. */
static void
fault_use(struct fault *f)
{
	if (f->count < 0 || --f->count > 0)
		return;
	for (struct fault **pp = &faults; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			fault_free(f);
			return;
		}
	}
}

/* The first fault of kind matching path (and table, for app-error), or NULL. */
static struct fault *
fault_find(enum fkind kind, const char *path, const char *table)
{
	for (struct fault *f = faults; f; f = f->next) {
		if (f->kind != kind || !path_match(f, path))
			continue;
		if (kind == F_APP_ERROR && f->table && (!table || strcmp(f->table, table) != 0))
			continue;
		return f;
	}
	return NULL;
}

/* ---- one request ---- */

struct req {
	struct MHD_Connection *c;
	const char *path, *method;
	struct mlc_httpd_req *cc;
	jv body; /* parsed JSON object, or jv_null() */
	char ip[64];
	/* the reply */
	int status;
	struct mlc_buf out;
	const char *ctype;
	int drop;
	int truncate;
	const char *fault; /* name of the fault that shaped the reply */
	/* fault sticky: the node this request reached, and a cookie to set */
	const struct fault *sticky;
	char backend[24];
	char set_cookie[160];
	int token_in_url;  /* a /next request with token= in its URL */
};

static const char *
header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

static const char *
qarg(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

/* A ServiceErrorResponse: {"message":..,"exception":..,"timeStamp":..} */
static void
reply_error2(struct req *r, int status, const char *message, const char *exception)
{
	char ts[40];

	err_timestamp(ts);
	r->status = status;
	mlc_buf_reset(&r->out);
	mlc_buf_adds(&r->out, "{\"message\":");
	add_json_str(&r->out, message);
	mlc_buf_adds(&r->out, ",\"exception\":");
	add_json_str(&r->out, exception);
	mlc_buf_adds(&r->out, ",\"timeStamp\":");
	add_json_str(&r->out, ts);
	mlc_buf_addc(&r->out, '}');
}

static void
reply_error(struct req *r, int status, const char *message)
{
	reply_error2(r, status, message, "Exception");
}

static void
reply_bad_token(struct req *r, int status)
{
	reply_error(r, status, status == 444 ? "Invalid Token" : "Authorization Failure");
}

static void
reply_expired(struct req *r)
{
	static const char msg[] =
		"JAS_MSG347: The query results expired.  Refresh them by clicking Find again.";

	r->status = 500;
	mlc_buf_reset(&r->out);
	mlc_buf_printf(&r->out, "{\"sysErrors\":[{\"TITLE\":\"%s\",\"DESC\":\"%s\"}]}", msg, msg);
}

/* A credential of a call (the token, the device): its header first, then
 * the field of the JSON body, then (for /next links) the query string. */
static const char *
req_cred(struct req *r, const char *hname, const char *field, char **owned)
{
	const char *v = header(r, hname);

	*owned = NULL;
	if (v && *v)
		return v;
	if ((*owned = jstrdup(r->body, field)))
		return *owned;
	return qarg(r, field);
}

static const char *
req_token(struct req *r, char **owned)
{
	return req_cred(r, "jde-AIS-Auth", "token", owned);
}

/*
 * Check the caller's token.  Returns the session, or NULL after setting the
 * reply (444, or --bad-token-status).  Every successful check counts
 * towards a token-expire fault.
 */
static struct session *
authenticate(struct req *r, int status_bad)
{
	char *tok_owned, *dev_owned;
	const char *tok = req_token(r, &tok_owned),
	           *dev = req_cred(r, "jde-AIS-Auth-Device", "deviceName", &dev_owned);
	struct session *s = tok ? find_session(tok) : NULL;
	struct fault *f;

	if (s && mlc_httpd_now_s() >= s->expires) {
		session_remove(s);
		s = NULL;
	}
	if (s && s->device && (!dev || strcmp(dev, s->device) != 0))
		s = NULL;
	if (s && !s->device && strcmp(r->ip, s->ip) != 0)
		s = NULL;
	/* Behind a sticky load balancer, a request without the node's
	 * cookie reaches another node, which does not know the token. */
	if (s && r->sticky && r->sticky->miss_token && strcmp(s->backend, r->backend) != 0) {
		s = NULL;
		r->fault = "sticky";
	}
	if (s && (f = fault_find(F_TOKEN_EXPIRE, r->path, NULL))) {
		if (++f->seen > f->after) {
			status_bad = f->status;
			session_remove(s);
			s = NULL;
			f->seen = 0;
			r->fault = "token-expire";
			fault_use(f);
		}
	}
	if (s && (f = fault_find(F_TOKEN_LIFE, r->path, NULL)) && ++s->uses > f->requests) {
		/* The token has served its requests: it dies on the next. */
		if (f->status)
			status_bad = f->status;
		session_remove(s);
		s = NULL;
		r->fault = "token-life";
		fault_use(f);
	}
	if (!s)
		reply_bad_token(r, status_bad);
	free(tok_owned);
	free(dev_owned);
	return s;
}

/* ---- /jderest/v2/tokenrequest ---- */

static void
do_tokenrequest(struct req *r)
{
	char *user = NULL, *pass = NULL, *dev = NULL, *env = NULL, *role = NULL;
	struct session *s;
	struct mlc_buf *o = &r->out;
	char cookie[80], aisnum[24];
	const char *h;

	if ((user = jstrdup(r->body, "username"))) {
		pass = jstrdup(r->body, "password");
		dev = jstrdup(r->body, "deviceName");
		env = jstrdup(r->body, "environment");
		role = jstrdup(r->body, "role");
	} else if ((user = mlc_httpd_basic(header(r, "Authorization"), &pass))) {
		if ((h = header(r, "jde-AIS-Auth-Device")) && *h)
			dev = mlc_xstrdup(h);
		if ((h = header(r, "jde-AIS-Auth-Environment")) && *h)
			env = mlc_xstrdup(h);
		if ((h = header(r, "jde-AIS-Auth-Role")) && *h)
			role = mlc_xstrdup(h);
	}
	/* The reference does not state a failed login's status: 403, as for
	 * "Authorization Failure" on the data service pages. */
	if (!user || !pass || strcasecmp(user, cfg.user) != 0 || strcmp(pass, cfg.password) != 0) {
		reply_error(r, 403, "Authorization Failure: invalid user name or password");
		goto out;
	}
	if (env && strcmp(env, cfg.environment) != 0) {
		reply_error(r, 403, "Authorization Failure: the user is not authorized for this environment");
		goto out;
	}
	if (role && strcmp(role, cfg.role) != 0 && strcmp(role, "*ALL") != 0) {
		reply_error(r, 403, "Authorization Failure: the user is not authorized for this role");
		goto out;
	}
	s = mlc_xcalloc(1, sizeof *s);
	s->token = new_token(dev);
	s->device = dev && *dev ? mlc_xstrdup(dev) : NULL;
	snprintf(s->ip, sizeof s->ip, "%s", r->ip);
	s->user = mlc_xstrdup(cfg.user);
	s->expires = mlc_httpd_now_s() + cfg.token_ttl;
	s->next_stack = 1;
	snprintf(s->backend, sizeof s->backend, "%s", r->backend);
	s->next = sessions;
	sessions = s;

	mlc_httpd_hex(cookie, 24);
	snprintf(aisnum, sizeof aisnum, "%lld", (long long)mlc_httpd_now_s() * 1000);
	r->status = 200;
	mlc_buf_adds(o, "{\"username\":");
	add_json_str(o, cfg.user);
	mlc_buf_adds(o, ",\"environment\":");
	add_json_str(o, cfg.environment);
	mlc_buf_adds(o, ",\"role\":");
	add_json_str(o, role ? role : cfg.role);
	mlc_buf_adds(o, ",\"jasserver\":\"http://127.0.0.1:7020\",\"userInfo\":{\"token\":");
	add_json_str(o, s->token);
	mlc_buf_printf(o, ",\"langPref\":\"  \",\"locale\":\"en\",\"dateFormat\":\"%s\","
	               "\"dateSeperator\":\"/\",\"simpleDateFormat\":\"%s\",\"decimalFormat\":\".\","
	               "\"addressNumber\":0,\"alphaName\":", cfg.datefmt, simple_date_format());
	add_json_str(o, cfg.user);
	mlc_buf_adds(o, ",\"appsRelease\":\"E920\",\"country\":\" \",\"username\":");
	add_json_str(o, cfg.user);
	mlc_buf_printf(o, "},\"userAuthorized\":false,\"version\":null,\"poStringJSON\":null,"
	               "\"altPoStringJSON\":null,\"aisSessionCookie\":\"%s!-1217528743!%s\","
	               "\"adminAuthorized\":false}", cookie, aisnum);
out:
	if (pass) {
		sodium_memzero(pass, strlen(pass));
		free(pass);
	}
	free(user);
	free(dev);
	free(env);
	free(role);
}

static void
do_validate(struct req *r)
{
	if (!authenticate(r, cfg.bad_token_status)) {
		if (r->status == 403)
			reply_error(r, 403, "Token is Invalid");
		return;
	}
	r->status = 200;
	mlc_buf_adds(&r->out, "{\"isValidSession\":true}");
}

static void
do_logout(struct req *r)
{
	/* Logout lists only 444 for an unknown token. */
	struct session *s = authenticate(r, 444);

	if (!s)
		return;
	session_remove(s);
	r->status = 200;
	mlc_buf_adds(&r->out, "{\"status\":\"Success\"}");
}

/* ---- /jderest/v2/dataservice and /next ---- */

struct page {
	const struct table *t;
	const char *tname;
	struct mlc_buf errs, syserrs, rows, cols;
	long nrows;
	int more;
	int stack_id, state_id;
	char rid[24];
	struct mlc_buf link;
};

static void
page_init(struct page *p)
{
	memset(p, 0, sizeof *p);
	mlc_buf_init(&p->errs);
	mlc_buf_init(&p->syserrs);
	mlc_buf_init(&p->rows);
	mlc_buf_init(&p->cols);
	mlc_buf_init(&p->link);
	p->stack_id = 1;
	p->state_id = 1;
	mlc_httpd_hex(p->rid, 8);
}

static void
page_free(struct page *p)
{
	mlc_buf_free(&p->errs);
	mlc_buf_free(&p->syserrs);
	mlc_buf_free(&p->rows);
	mlc_buf_free(&p->cols);
	mlc_buf_free(&p->link);
}

static void
page_columns(struct page *p, const struct table *t, const struct column **cols, size_t ncols)
{
	size_t n = cols ? ncols : t->ncols;

	for (size_t i = 0; i < n; i++) {
		const struct column *c = cols ? cols[i] : &t->cols[i];

		if (i)
			mlc_buf_addc(&p->cols, ',');
		add_json_str(&p->cols, c->key);
		mlc_buf_addc(&p->cols, ':');
		add_json_str(&p->cols, c->label);
	}
}

/* Apply app-error / sys-error faults: the page then carries no rows. */
static int
page_faults(struct req *r, struct page *p)
{
	struct fault *f;

	if ((f = fault_find(F_APP_ERROR, r->path, p->tname))) {
		app_error(&p->errs, f->code ? f->code : "SIM100", "Simulated application error",
		          p->tname, "%s", f->desc ? f->desc : "Simulated application error (fault app-error)");
		r->fault = "app-error";
		fault_use(f);
		return 1;
	}
	if ((f = fault_find(F_SYS_ERROR, r->path, NULL))) {
		const char *d = f->desc ? f->desc : "Simulated system error (fault sys-error)";

		mlc_buf_adds(&p->syserrs, "{\"TITLE\":");
		add_json_str(&p->syserrs, f->code ? f->code : "SIM900");
		mlc_buf_adds(&p->syserrs, ",\"DESC\":");
		add_json_str(&p->syserrs, d);
		mlc_buf_addc(&p->syserrs, '}');
		r->fault = "sys-error";
		fault_use(f);
		return 1;
	}
	return 0;
}

static void
page_reply(struct req *r, struct page *p)
{
	struct mlc_buf *o = &r->out;
	char ts[32];
	const struct table *t = p->t;

	data_timestamp(ts);
	r->status = 200;
	mlc_buf_reset(o);
	mlc_buf_adds(o, "{\"fs_DATABROWSE_");
	mlc_buf_adds(o, p->tname);
	mlc_buf_adds(o, "\":{\"title\":");
	{
		struct mlc_buf title;

		mlc_buf_init(&title);
		mlc_buf_printf(&title, "Data Browser - %s [%s]", p->tname, t ? t->title : p->tname);
		add_json_str(o, title.p);
		mlc_buf_free(&title);
	}
	mlc_buf_adds(o, ",\"data\":{\"gridData\":{\"id\":1,\"fullGridId\":\"1\",\"columns\":{");
	mlc_buf_add(o, p->cols.p, p->cols.len);
	mlc_buf_adds(o, "},\"rowset\":[");
	mlc_buf_add(o, p->rows.p, p->rows.len);
	mlc_buf_printf(o, "],\"summary\":{\"records\":%ld,\"moreRecords\":%s}}},\"errors\":[",
	               p->nrows, p->more ? "true" : "false");
	mlc_buf_add(o, p->errs.p, p->errs.len);
	mlc_buf_printf(o, "],\"warnings\":[]},\"stackId\":%d,\"stateId\":%d,\"rid\":\"%s\","
	               "\"currentApp\":\"DATABROWSE_", p->stack_id, p->state_id, p->rid);
	mlc_buf_adds(o, p->tname);
	mlc_buf_printf(o, "\",\"timeStamp\":\"%s\",\"sysErrors\":[", ts);
	mlc_buf_add(o, p->syserrs.p, p->syserrs.len);
	mlc_buf_addc(o, ']');
	if (p->link.len) {
		mlc_buf_adds(o, ",\"links\":[{\"rel\":\"next\",\"href\":");
		add_json_str(o, p->link.p);
		mlc_buf_adds(o, "}]");
	}
	mlc_buf_addc(o, '}');
}

static void
make_link(struct req *r, struct page *p, const struct rset *rs, const char *token)
{
	const char *host = header(r, "Host");
	char hb[64];

	if (!host || !*host) {
		snprintf(hb, sizeof hb, "127.0.0.1:%u", cfg.port);
		host = hb;
	}
	mlc_buf_printf(&p->link, "%s://%s/jderest/v2/dataservice/next?stackId=%d&stateId=%d&rid=%s"
	               "&fullGridId=1&formOID=", cfg.tls ? "https" : "http", host, rs->stack_id,
	               rs->state_id, rs->rid);
	percent_enc(&p->link, rs->t->name);
	mlc_buf_adds(&p->link, "&token=");
	percent_enc(&p->link, token);
	mlc_buf_adds(&p->link, "&outputType=GRID_DATA&returnControlIDs=");
	percent_enc(&p->link, rs->rcids ? rs->rcids : "");
}

/* maxPageSize: a string number, "No Max", or (coerced) a JSON number. */
static int
parse_pagesize(jv body, long *out, struct mlc_buf *errs)
{
	jv v = jget(body, "maxPageSize");
	int ok = 1;

	*out = 100;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		int ok2;

		if (strcasecmp(s, "No Max") == 0)
			*out = 0;
		else if ((*out = parse_long(s, &ok2)), !ok2 || *out < 1)
			ok = 0;
	} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);

		ok = d >= 1 && d == (long)d;
		*out = (long)d;
	} else if (jv_get_kind(v) != JV_KIND_INVALID && jv_get_kind(v) != JV_KIND_NULL) {
		ok = 0;
	}
	if (!ok)
		app_error(errs, "SIM020", "Invalid Page Size", "maxPageSize",
		          "maxPageSize must be a positive number or \"No Max\"");
	jv_free(v);
	return ok ? 0 : -1;
}

static int
truthy(jv body, const char *k)
{
	jv v = jget(body, k);
	int r = jv_get_kind(v) == JV_KIND_TRUE ||
	        (jv_get_kind(v) == JV_KIND_STRING && strcasecmp(jv_string_value(v), "true") == 0);

	jv_free(v);
	return r;
}

static void
do_dataservice(struct req *r)
{
	struct session *s;
	struct page p;
	char *tname = NULL, *ttype = NULL, *dst = NULL, *rcids = NULL, *otype = NULL;
	struct table *t = NULL;
	const struct column **cols = NULL;
	size_t ncols = 0;
	struct query *q = NULL;
	struct order *ord = NULL;
	size_t nord = 0;
	struct rset *rs;
	long pagesize = 100;
	int bad = 0, next_pages, refuse_status = 0;
	char *tok_owned;
	const char *tok;
	jv qj, ag;

	if (!(s = authenticate(r, cfg.bad_token_status)))
		return;
	if (!(tname = jstrdup(r->body, "targetName")) || !*tname) {
		free(tname);
		reply_error(r, 400, "targetName is required");
		return;
	}
	page_init(&p);
	p.tname = tname;
	p.stack_id = s->next_stack++;
	ttype = jstrdup(r->body, "targetType");
	dst = jstrdup(r->body, "dataServiceType");
	rcids = jstrdup(r->body, "returnControlIDs");
	otype = jstrdup(r->body, "outputType");
	next_pages = truthy(r->body, "enableNextPageProcessing");

	if (!ttype || strcmp(ttype, "table") != 0) {
		app_error(&p.errs, "SIM002", "Invalid Target Type", "targetType",
		          "targetType \"%s\" is not supported by the simulator (table only)",
		          ttype ? ttype : "");
		bad = 1;
	} else {
		char *path = NULL;

		if ((t = find_table(tname)))
			path = table_path(t);
		/* An unknown table is an application error inside HTTP 200, like
		 * every other error the data service reports (reference §7.8). */
		if (!t || access(path, R_OK) != 0) {
			app_error(&p.errs, "SIM001", "Invalid Table", "targetName",
			          "Table %s does not exist or is not available", tname);
			t = NULL;
			bad = 1;
		}
		free(path);
	}
	p.t = t;
	if (!dst || strcmp(dst, "BROWSE") != 0) {
		app_error(&p.errs, "SIM003", "Invalid Data Service Type", "dataServiceType",
		          "dataServiceType \"%s\" is not supported by the simulator (BROWSE only)",
		          dst ? dst : "");
		bad = 1;
	}
	if (otype && strcmp(otype, "GRID_DATA") != 0) {
		app_error(&p.errs, "SIM004", "Invalid Output Type", "outputType",
		          "outputType \"%s\" is not supported by the simulator (GRID_DATA only)", otype);
		bad = 1;
	}
	if (parse_pagesize(r->body, &pagesize, &p.errs) != 0)
		bad = 1;
	if (t && rcids && *rcids) {
		char *copy = mlc_xstrdup(rcids), *save = NULL, *id;

		cols = mlc_xcalloc(strlen(rcids) / 2 + 1, sizeof *cols);
		for (id = strtok_r(copy, "|", &save); id; id = strtok_r(NULL, "|", &save)) {
			const struct column *c = control_column(t, id);

			if (!c) {
				app_error(&p.errs, "SIM010", "Invalid Column", id,
				          "unknown column \"%s\" in returnControlIDs for %s", id, t->name);
				bad = 1;
				continue;
			}
			cols[ncols++] = c;
		}
		free(copy);
	}
	qj = jget(r->body, "query");
	if (t && jv_get_kind(qj) == JV_KIND_OBJECT) {
		jv cq = jget(qj, "complexQuery");
		struct fault *f;

		if (jv_get_kind(cq) == JV_KIND_ARRAY && jv_array_length(jv_copy(cq)) > 0 &&
		    (f = fault_find(F_NO_COMPLEX, r->path, NULL))) {
			/* a server that cannot express it: the error arrays of a
			 * 200 (application or system error), or HTTP 400 */
			if (f->as == 1) {
				mlc_buf_adds(&p.syserrs, "{\"TITLE\":\"SIM022\",\"DESC\":\"complexQuery is not "
				             "supported (fault no-complex)\"}");
			} else if (f->as >= 2) {
				refuse_status = f->as == 2 ? 400 : 500;
			} else {
				app_error(&p.errs, "SIM022", "Invalid Query", "query.complexQuery",
				          "complexQuery is not supported (fault no-complex)");
			}
			r->fault = "no-complex";
			fault_use(f);
			bad = 1;
		} else if (!(q = compile_query(t, qj, &p.errs, 0))) {
			bad = 1;
		}
		jv_free(cq);
	} else if (jv_get_kind(qj) != JV_KIND_INVALID && jv_get_kind(qj) != JV_KIND_NULL) {
		app_error(&p.errs, "SIM017", "Invalid Query", "query", "query must be an object");
		bad = 1;
	}
	jv_free(qj);
	/* aggregation.orderBy: [{column, direction}] (reference 2.1) */
	ag = jget(r->body, "aggregation");
	if (t && jv_get_kind(ag) == JV_KIND_OBJECT) {
		jv ob = jget(ag, "orderBy");

		if (jv_get_kind(ob) == JV_KIND_ARRAY) {
			int n = jv_array_length(jv_copy(ob));

			ord = mlc_xcalloc((size_t)(n ? n : 1), sizeof *ord);
			for (int i = 0; i < n; i++) {
				jv item = jv_array_get(jv_copy(ob), i);
				char *cid = jstrdup(item, "column"), *dir = jstrdup(item, "direction");
				const struct column *c = cid ? control_column(t, cid) : NULL;

				if (!c) {
					app_error(&p.errs, "SIM010", "Invalid Column", cid ? cid : "orderBy",
					          "unknown column \"%s\" in aggregation.orderBy for %s",
					          cid ? cid : "", t->name);
					bad = 1;
				} else if (dir && strcmp(dir, "ASC") != 0 && strcmp(dir, "DESC") != 0) {
					app_error(&p.errs, "SIM021", "Invalid Order", cid,
					          "direction must be ASC or DESC, got \"%s\"", dir);
					bad = 1;
				} else {
					ord[nord].col = c;
					ord[nord++].desc = dir && strcmp(dir, "DESC") == 0;
				}
				free(cid);
				free(dir);
				jv_free(item);
			}
		} else if (jv_get_kind(ob) != JV_KIND_INVALID && jv_get_kind(ob) != JV_KIND_NULL) {
			app_error(&p.errs, "SIM021", "Invalid Order", "aggregation.orderBy",
			          "aggregation.orderBy must be an array");
			bad = 1;
		}
		jv_free(ob);
	} else if (jv_get_kind(ag) != JV_KIND_INVALID && jv_get_kind(ag) != JV_KIND_NULL) {
		app_error(&p.errs, "SIM017", "Invalid Query", "aggregation",
		          "aggregation must be an object");
		bad = 1;
	}
	jv_free(ag);
	if (t)
		page_columns(&p, t, cols, ncols);
	if (refuse_status) {
		reply_error2(r, refuse_status, "complexQuery is not supported (fault no-complex)",
		             "javax.ws.rs.BadRequestException");
		goto out;
	}
	if (bad || page_faults(r, &p)) {
		page_reply(r, &p);
		goto out;
	}
	/* The result set, kept only if another page is asked for. */
	rs = mlc_xcalloc(1, sizeof *rs);
	snprintf(rs->rid, sizeof rs->rid, "%s", p.rid);
	rs->sess = s;
	rs->stack_id = p.stack_id;
	rs->state_id = p.state_id;
	rs->t = t;
	rs->cols = cols;
	rs->ncols = ncols;
	rs->q = q;
	rs->ord = ord;
	rs->nord = nord;
	rs->pagesize = pagesize;
	rs->rcids = rcids;
	rs->last = mlc_httpd_now_s();
	snprintf(rs->backend, sizeof rs->backend, "%s", r->backend);
	cols = NULL;
	q = NULL;
	rcids = NULL;
	ord = NULL;
	if (order_build(rs, 0) < 0)
		p.nrows = -1;
	else
		p.nrows = order_page(rs, &p.more, &p.rows);
	if (p.nrows < 0) {
		mlc_buf_reset(&p.rows);
		p.nrows = 0;
		p.more = 0;
		mlc_buf_adds(&p.syserrs, "{\"TITLE\":\"SIM901\",\"DESC\":\"the table file cannot be read\"}");
	}
	if (p.more && next_pages) {
		rs->next = rsets;
		rsets = rs;
		tok = req_token(r, &tok_owned);
		make_link(r, &p, rs, tok);
		free(tok_owned);
	} else {
		rset_free(rs);
	}
	page_reply(r, &p);
out:
	page_free(&p);
	query_free(q);
	free(ord);
	free(cols);
	free(tname);
	free(ttype);
	free(dst);
	free(rcids);
	free(otype);
}

/* A parameter of /next: the JSON body first, then the query string. */
static char *
next_param(struct req *r, const char *name)
{
	jv v = jget(r->body, name);
	char *s = NULL;
	const char *q;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		s = mlc_xstrdup(jv_string_value(v));
	} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
		s = mlc_xmalloc(32);
		snprintf(s, 32, "%.0f", jv_number_value(v));
	} else if ((q = qarg(r, name))) {
		s = mlc_xstrdup(q);
	}
	jv_free(v);
	return s;
}

static void
do_next(struct req *r)
{
	struct session *s;
	char *stack = next_param(r, "stackId"), *state = next_param(r, "stateId");
	char *rid = next_param(r, "rid"), *otype = next_param(r, "outputType");
	struct rset *rs;
	struct fault *f;
	struct page p;
	char *tok_owned;
	const char *tok;

	/* Oracle documents the token in the body or the headers; a link
	 * followed as it is carries it in the URL, where a proxy logs it. */
	if (qarg(r, "token")) {
		r->token_in_url = 1;
		token_in_url++;
	}
	if (!stack || !state || !rid) {
		reply_error(r, 400, "stackId, stateId and rid are required");
		goto out;
	}
	if (!(s = authenticate(r, cfg.bad_token_status)))
		goto out;
	for (rs = rsets; rs; rs = rs->next)
		if (strcmp(rs->rid, rid) == 0)
			break;
	if ((f = fault_find(F_EXPIRE_RESULTS, r->path, NULL))) {
		if (rs && rs->sess == s)
			rset_remove(rs);
		r->fault = "expire-results";
		fault_use(f);
		reply_expired(r);
		goto out;
	}
	if (!rs) {
		reply_expired(r);
		goto out;
	}
	if (rs->sess != s) {
		/* A result set belongs to the session that opened it. */
		reply_bad_token(r, cfg.bad_token_status);
		goto out;
	}
	if (r->sticky && strcmp(rs->backend, r->backend) != 0) {
		/* Another node behind the load balancer: it has no such
		 * result set (the one that has it keeps it). */
		r->fault = "sticky";
		reply_expired(r);
		goto out;
	}
	if (mlc_httpd_now_s() - rs->last > cfg.rs_timeout || atoi(stack) != rs->stack_id ||
	    atoi(state) != rs->state_id) {
		rset_remove(rs);
		reply_expired(r);
		goto out;
	}
	if ((f = fault_find(F_SHIFT, r->path, NULL)) && ++f->seen > f->after) {
		/* Rows added or removed between two page requests. */
		if (shift_apply(rs, f) == 0)
			r->fault = "shift";
		f->seen = 0;
		fault_use(f);
	}
	page_init(&p);
	p.t = rs->t;
	p.tname = rs->t->name;
	p.stack_id = rs->stack_id;
	p.state_id = rs->state_id + 1;
	snprintf(p.rid, sizeof p.rid, "%s", rs->rid);
	page_columns(&p, rs->t, rs->cols, rs->ncols);
	if (otype && strcmp(otype, "GRID_DATA") != 0) {
		app_error(&p.errs, "SIM004", "Invalid Output Type", "outputType",
		          "outputType \"%s\" is not supported by the simulator (GRID_DATA only)", otype);
		page_reply(r, &p);
		page_free(&p);
		goto out;
	}
	if (page_faults(r, &p)) {
		page_reply(r, &p);
		page_free(&p);
		goto out;
	}
	p.nrows = order_page(rs, &p.more, &p.rows);
	if (p.nrows < 0) {
		mlc_buf_reset(&p.rows);
		p.nrows = 0;
		mlc_buf_adds(&p.syserrs, "{\"TITLE\":\"SIM901\",\"DESC\":\"the table file cannot be read\"}");
	}
	rs->state_id = p.state_id;
	rs->last = mlc_httpd_now_s();
	if (p.more) {
		tok = req_token(r, &tok_owned);
		make_link(r, &p, rs, tok);
		free(tok_owned);
	}
	page_reply(r, &p);
	page_free(&p);
	if (!p.more)
		rset_remove(rs);
out:
	free(stack);
	free(state);
	free(rid);
	free(otype);
}

static void
do_defaultconfig(struct req *r)
{
	r->status = 200;
	mlc_buf_adds(&r->out, "{\"jasHost\":\"127.0.0.1\",\"jasPort\":\"7020\",\"jasProtocol\":\"http\","
	             "\"aisVersion\":\"mlc-ais-sim " MLC_VERSION "\",\"requiredCapabilities\":\"\","
	             "\"capabilityList\":[{\"name\":\"grid\"},{\"name\":\"dataService\"},"
	             "{\"name\":\"nextPage\"},{\"name\":\"simpleGetServices\"}],"
	             "\"keepJasSessionOpen\":true,\"jasSessionCookieName\":\"JSESSIONID\"}");
}

/* ---- control plane ---- */

static void
do_sim(struct req *r)
{
	if (strcmp(r->path, "/_sim/fault") == 0 && strcmp(r->method, "POST") == 0) {
		char *spec = jstrdup(r->body, "spec");
		char err[256];
		struct fault *f;

		if (!spec)
			spec = jstrdup(r->body, "fault");
		if (!spec) {
			reply_error(r, 400, "expected {\"spec\":\"KIND[:key=value,...]\"}");
			return;
		}
		if (!(f = fault_parse(spec, err, sizeof err))) {
			reply_error(r, 400, err);
		} else {
			fault_add(f);
			r->status = 200;
			mlc_buf_adds(&r->out, "{\"status\":\"ok\",\"fault\":");
			add_json_str(&r->out, spec);
			mlc_buf_addc(&r->out, '}');
		}
		free(spec);
	} else if (strcmp(r->path, "/_sim/reset") == 0 && strcmp(r->method, "POST") == 0) {
		while (faults) {
			struct fault *n = faults->next;

			fault_free(faults);
			faults = n;
		}
		if (truthy(r->body, "sessions"))
			while (sessions)
				session_remove(sessions);
		if (truthy(r->body, "data"))
			tables_reset_data();
		token_in_url = 0;
		r->status = 200;
		mlc_buf_adds(&r->out, "{\"status\":\"ok\"}");
	} else if (strcmp(r->path, "/_sim/state") == 0 && strcmp(r->method, "GET") == 0) {
		long ns = 0, nr = 0, nf = 0;

		for (struct session *s = sessions; s; s = s->next)
			ns++;
		for (struct rset *x = rsets; x; x = x->next)
			nr++;
		r->status = 200;
		mlc_buf_printf(&r->out, "{\"sessions\":%ld,\"resultSets\":%ld,\"tokenInUrl\":%ld,"
		               "\"faults\":[", ns, nr, token_in_url);
		for (struct fault *f = faults; f; f = f->next) {
			if (nf++)
				mlc_buf_addc(&r->out, ',');
			add_json_str(&r->out, fnames[f->kind]);
		}
		mlc_buf_adds(&r->out, "]}");
	} else {
		reply_error(r, 404, "no such control endpoint");
	}
}

/* ---- routing ---- */

static int
is_json_ctype(const char *ct)
{
	size_t n = strlen("application/json");

	return ct && strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Fault sticky: the node of this request, from the load balancer's cookie;
 * a request without a known one reaches a new node, which sets it. */
static void
sticky_route(struct req *r, const struct fault *f)
{
	const char *ck = MHD_lookup_connection_value(r->c, MHD_COOKIE_KIND, f->cookie);

	r->sticky = f;
	for (size_t i = 0; ck && i < nbackends; i++) {
		if (strcmp(backends[i], ck) == 0) {
			snprintf(r->backend, sizeof r->backend, "%s", ck);
			return;
		}
	}
	mlc_httpd_hex(r->backend, 8);
	memcpy(backends[backend_next], r->backend, sizeof backends[0]);
	backend_next = (backend_next + 1) % MAX_BACKENDS;
	if (nbackends < MAX_BACKENDS)
		nbackends++;
	snprintf(r->set_cookie, sizeof r->set_cookie, "%s=%s; Path=/; HttpOnly%s", f->cookie,
	         r->backend, cfg.tls ? "; Secure" : "");
}

static void
route(struct req *r)
{
	int post = strcmp(r->method, "POST") == 0, get = strcmp(r->method, "GET") == 0;
	int sim = strncmp(r->path, "/_sim/", 6) == 0;
	struct fault *f;

	if (!sim && (f = fault_find(F_STICKY, r->path, NULL)))
		sticky_route(r, f);
	if (!sim) {
		if ((f = fault_find(F_DROP, r->path, NULL))) {
			r->drop = 1;
			r->fault = "drop";
			fault_use(f);
			return;
		}
		if ((f = fault_find(F_STATUS, r->path, NULL))) {
			char msg[64];

			snprintf(msg, sizeof msg, "Simulated HTTP %d (fault status)", f->status);
			r->fault = "status";
			reply_error2(r, f->status, f->desc ? f->desc : msg,
			             f->exception ? f->exception : "Exception");
			fault_use(f);
			return;
		}
		if ((f = fault_find(F_MALFORMED, r->path, NULL))) {
			r->status = f->status;
			r->fault = "malformed";
			mlc_buf_adds(&r->out, "<html><head><title>Error</title></head>"
			             "<body>Proxy Error: the upstream server sent an invalid response"
			             "</body></html>");
			fault_use(f);
			return;
		}
		if ((f = fault_find(F_TRUNCATE, r->path, NULL))) {
			r->truncate = 1;
			r->fault = "truncate";
			fault_use(f);
		}
	}
	if (r->cc->too_big) {
		reply_error(r, 413, "request body too large");
		return;
	}
	if (post && r->cc->body.len > 0) {
		jv b;

		if (!is_json_ctype(header(r, "Content-Type"))) {
			reply_error(r, 415, "Unsupported Media Type: Content-Type must be application/json");
			return;
		}
		b = jv_parse_sized(r->cc->body.p, (int)r->cc->body.len);
		if (jv_get_kind(b) != JV_KIND_OBJECT) {
			jv_free(b);
			reply_error(r, 400, "Bad Request: the body is not a JSON object");
			return;
		}
		r->body = b;
	}
	if (sim)
		do_sim(r);
	else if (strcmp(r->path, "/jderest/v2/tokenrequest") == 0 && post)
		do_tokenrequest(r);
	else if (strcmp(r->path, "/jderest/v2/tokenrequest/validate") == 0 && post)
		do_validate(r);
	else if (strcmp(r->path, "/jderest/v2/tokenrequest/logout") == 0 && post)
		do_logout(r);
	else if (strcmp(r->path, "/jderest/v2/dataservice") == 0 && post)
		do_dataservice(r);
	else if (strcmp(r->path, "/jderest/v2/dataservice/next") == 0 && (post || get))
		do_next(r);
	else if (strcmp(r->path, "/jderest/defaultconfig") == 0 && get)
		do_defaultconfig(r);
	else if (strncmp(r->path, "/jderest/", 9) == 0 &&
	         (strcmp(r->path, "/jderest/v2/tokenrequest") == 0 ||
	          strncmp(r->path, "/jderest/v2/tokenrequest/", 25) == 0 ||
	          strcmp(r->path, "/jderest/v2/dataservice") == 0 ||
	          strcmp(r->path, "/jderest/v2/dataservice/next") == 0 ||
	          strcmp(r->path, "/jderest/defaultconfig") == 0))
		reply_error(r, 405, "Method Not Allowed");
	else
		reply_error(r, 404, "Not Found");
}

/* ---- the request log ---- */

/* Replace every "password" value, at any depth, by "REDACTED". */
static jv
redact(jv v)
{
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv out = jv_object();

		jv_object_foreach(v, k, x) {
			if (strcasecmp(jv_string_value(k), "password") == 0) {
				jv_free(x);
				x = jv_string("REDACTED");
			} else {
				x = redact(x);
			}
			out = jv_object_set(out, k, x);
		}
		jv_free(v);
		return out;
	}
	if (jv_get_kind(v) == JV_KIND_ARRAY) {
		jv out = jv_array();
		int i, n = jv_array_length(jv_copy(v));

		for (i = 0; i < n; i++)
			out = jv_array_append(out, redact(jv_array_get(jv_copy(v), i)));
		jv_free(v);
		return out;
	}
	return v;
}

struct kv_ctx {
	struct mlc_buf *b;
	int n;
	int lower;
};

static enum MHD_Result
kv_add(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct kv_ctx *k = cls;
	char name[128];
	size_t i;

	(void)kind;
	if (k->n++)
		mlc_buf_addc(k->b, ',');
	snprintf(name, sizeof name, "%s", key);
	if (k->lower)
		for (i = 0; name[i]; i++)
			if (name[i] >= 'A' && name[i] <= 'Z')
				name[i] = (char)(name[i] - 'A' + 'a');
	add_json_str(k->b, name);
	mlc_buf_addc(k->b, ':');
	if (!value) {
		mlc_buf_adds(k->b, "null");
	} else if (k->lower && strcmp(name, "authorization") == 0) {
		char *pass = NULL, *user = mlc_httpd_basic(value, &pass);
		struct mlc_buf v;

		mlc_buf_init(&v);
		if (user)
			mlc_buf_printf(&v, "Basic %s:REDACTED", user);
		else
			mlc_buf_printf(&v, "%.*s REDACTED", (int)strcspn(value, " "), value);
		add_json_str(k->b, v.p);
		mlc_buf_free(&v);
		if (pass) {
			sodium_memzero(pass, strlen(pass));
			free(pass);
		}
		free(user);
	} else if (!k->lower && strcasecmp(name, "password") == 0) {
		add_json_str(k->b, "REDACTED");
	} else {
		add_json_str(k->b, value);
	}
	return MHD_YES;
}

static void
log_request(struct req *r)
{
	struct mlc_buf b;
	struct kv_ctx k;
	char when[32];

	if (log_fd < 0)
		return;
	mlc_time_now_text(when);
	mlc_buf_init(&b);
	mlc_buf_adds(&b, "{\"time\":");
	add_json_str(&b, when);
	mlc_buf_adds(&b, ",\"method\":");
	add_json_str(&b, r->method);
	mlc_buf_adds(&b, ",\"path\":");
	add_json_str(&b, r->path);
	mlc_buf_adds(&b, ",\"query\":{");
	k.b = &b;
	k.n = 0;
	k.lower = 0;
	MHD_get_connection_values(r->c, MHD_GET_ARGUMENT_KIND, kv_add, &k);
	mlc_buf_adds(&b, "},\"headers\":{");
	k.n = 0;
	k.lower = 1;
	MHD_get_connection_values(r->c, MHD_HEADER_KIND, kv_add, &k);
	mlc_buf_adds(&b, "},\"body\":");
	if (jv_get_kind(r->body) == JV_KIND_OBJECT) {
		jv s = jv_dump_string(redact(jv_copy(r->body)), 0);

		mlc_buf_adds(&b, jv_string_value(s));
		jv_free(s);
	} else if (r->cc->body.len) {
		mlc_buf_adds(&b, "null,\"body_bytes\":");
		mlc_buf_printf(&b, "%zu", r->cc->body.len);
	} else {
		mlc_buf_adds(&b, "null");
	}
	if (r->drop)
		mlc_buf_adds(&b, ",\"status\":null");
	else
		mlc_buf_printf(&b, ",\"status\":%d", r->status);
	if (r->fault) {
		mlc_buf_adds(&b, ",\"fault\":");
		add_json_str(&b, r->fault);
	}
	if (r->token_in_url)
		mlc_buf_adds(&b, ",\"token_in_url\":true");
	if (r->set_cookie[0])
		mlc_buf_adds(&b, ",\"set_cookie\":true");
	mlc_buf_addc(&b, '}');
	if (mlc_ndjson_write(log_fd, b.p, b.len) != 0)
		mlc_warn("request log: %s", strerror(errno));
	mlc_buf_free(&b);
}

/* ---- libmicrohttpd glue ---- */

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **con_cls)
{
	struct mlc_httpd_req *cc = mlc_httpd_body(con_cls, upload_data, upload_data_size, MAX_BODY);
	struct req r;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	struct fault *f;
	long slow = 0;
	size_t len;

	(void)cls;
	(void)version;
	if (!cc)
		return MHD_YES;

	memset(&r, 0, sizeof r);
	r.c = c;
	r.path = url;
	r.method = method;
	r.cc = cc;
	r.body = jv_null();
	r.status = 500;
	r.ctype = "application/json";
	mlc_buf_init(&r.out);
	mlc_httpd_peer_ip(c, r.ip, sizeof r.ip);

	pthread_mutex_lock(&lock);
	if (strncmp(url, "/_sim/", 6) != 0 && (f = fault_find(F_SLOW, url, NULL))) {
		slow = f->ms;
		fault_use(f);
	}
	pthread_mutex_unlock(&lock);
	if (slow) {
		struct timespec ts = { slow / 1000, (slow % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}

	pthread_mutex_lock(&lock);
	sweep();
	route(&r);
	if (slow && !r.fault)
		r.fault = "slow";
	log_request(&r);
	pthread_mutex_unlock(&lock);

	jv_free(r.body);
	if (r.drop) {
		mlc_buf_free(&r.out);
		return MHD_NO;
	}
	len = r.out.len;
	if (r.truncate && len > 1)
		len = len / 2;
	resp = MHD_create_response_from_buffer(len, r.out.p, MHD_RESPMEM_MUST_COPY);
	mlc_buf_free(&r.out);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", r.ctype);
	if (r.set_cookie[0])
		MHD_add_response_header(resp, "Set-Cookie", r.set_cookie);
	ret = MHD_queue_response(c, (unsigned)r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- main ---- */

static char *
read_first_line(const char *path)
{
	size_t len;
	char *s = slurp(path, &len);

	if (!s)
		mlc_die(MLC_EX_NOINPUT, "%s: %s", path, strerror(errno));
	s[strcspn(s, "\r\n")] = '\0';
	return s;
}

static char *
default_data_dir(void)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	struct mlc_buf b;
	struct stat st;

	/* Run from the source tree (bin/mlc-ais-sim): its data/jde; installed:
	 * share/ml-connector/jde beside its bin/, whatever PREFIX the build
	 * was made with (make install PREFIX=/opt/x after make); then the
	 * build's DATADIR. */
	static const char *const beside[] = { "data/jde", "share/ml-connector/jde" };
	size_t i;

	mlc_buf_init(&b);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/'))) {
			*slash = '\0';
			for (i = 0; i < sizeof beside / sizeof beside[0]; i++) {
				mlc_buf_reset(&b);
				mlc_buf_printf(&b, "%s/../%s/columns.json", exe, beside[i]);
				if (stat(b.p, &st) == 0) {
					b.len -= strlen("/columns.json");
					b.p[b.len] = '\0';
					return b.p;
				}
			}
		}
	}
	mlc_buf_reset(&b);
	mlc_buf_adds(&b, MLC_DATADIR "/jde");
	return b.p;
}

int
main(int argc, char **argv)
{
	enum {
		O_PORT = 256, O_PORT_FILE, O_LOG, O_DATA, O_CERT, O_KEY, O_USER, O_PASSFILE,
		O_ENV, O_ROLE, O_TTL, O_RST, O_DATEFMT, O_TODAY, O_FAULT, O_BADTOK, O_LISTEN
	};
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, O_PORT },
		{ "port-file", required_argument, NULL, O_PORT_FILE },
		{ "request-log", required_argument, NULL, O_LOG },
		{ "data", required_argument, NULL, O_DATA },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "user", required_argument, NULL, O_USER },
		{ "password-file", required_argument, NULL, O_PASSFILE },
		{ "environment", required_argument, NULL, O_ENV },
		{ "role", required_argument, NULL, O_ROLE },
		{ "token-ttl", required_argument, NULL, O_TTL },
		{ "result-set-timeout", required_argument, NULL, O_RST },
		{ "date-format", required_argument, NULL, O_DATEFMT },
		{ "today", required_argument, NULL, O_TODAY },
		{ "fault", required_argument, NULL, O_FAULT },
		{ "bad-token-status", required_argument, NULL, O_BADTOK },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ NULL, 0, NULL, 0 }
	};
	const struct MHD_OptionItem mhd_opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mlc_httpd_log, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL },
		{ MHD_OPTION_END, 0, NULL }
	};
	const char *cert_path = NULL, *key_path = NULL;
	char *cert = NULL, *key = NULL;
	struct MHD_Daemon *d;
	struct sockaddr_in sin;
	sigset_t set;
	int opt, ok;
	long v;
	char err[256];

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case O_PORT:
			v = parse_long(optarg, &ok);
			if (!ok || v > 65535)
				mlc_die(MLC_EX_USAGE, "--port: bad port \"%s\"", optarg);
			cfg.port = (unsigned)v;
			break;
		case O_PORT_FILE: cfg.port_file = optarg; break;
		case O_LOG: cfg.log_path = optarg; break;
		case O_DATA: cfg.data_dir = mlc_xstrdup(optarg); break;
		case O_CERT: cert_path = optarg; break;
		case O_KEY: key_path = optarg; break;
		case O_USER: cfg.user = optarg; break;
		case O_PASSFILE: free(cfg.password); cfg.password = read_first_line(optarg); break;
		case O_ENV: cfg.environment = optarg; break;
		case O_ROLE: cfg.role = optarg; break;
		case O_TTL:
		case O_RST:
			v = parse_long(optarg, &ok);
			if (!ok || v < 1)
				mlc_die(MLC_EX_USAGE, "%s: expected a number of seconds, got \"%s\"",
				        opt == O_TTL ? "--token-ttl" : "--result-set-timeout", optarg);
			*(opt == O_TTL ? &cfg.token_ttl : &cfg.rs_timeout) = v;
			break;
		case O_DATEFMT:
			if (strcmp(optarg, "MDE") && strcmp(optarg, "DME") && strcmp(optarg, "YMD"))
				mlc_die(MLC_EX_USAGE, "--date-format: expected MDE, DME or YMD");
			snprintf(cfg.datefmt, sizeof cfg.datefmt, "%s", optarg);
			break;
		case O_TODAY: {
			int y, m, dd;
			char extra;

			if (sscanf(optarg, "%4d-%2d-%2d%c", &y, &m, &dd, &extra) != 3 || !valid_ymd(y, m, dd))
				mlc_die(MLC_EX_USAGE, "--today: expected YYYY-MM-DD, got \"%s\"", optarg);
			cfg.today = y * 10000 + m * 100 + dd;
			break;
		}
		case O_FAULT: {
			struct fault *f = fault_parse(optarg, err, sizeof err);

			if (!f)
				mlc_die(MLC_EX_CONFIG, "--fault %s: %s", optarg, err);
			fault_add(f);
			break;
		}
		case O_BADTOK:
			v = parse_long(optarg, &ok);
			if (!ok || (v != 444 && v != 403 && v != 401))
				mlc_die(MLC_EX_USAGE, "--bad-token-status: expected 444, 403 or 401");
			cfg.bad_token_status = (int)v;
			break;
		case O_LISTEN: cfg.listen = optarg; break;
		default:
			fputs(usage, stderr);
			exit(MLC_EX_USAGE);
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		exit(MLC_EX_USAGE);
	}
	if (!!cert_path != !!key_path)
		mlc_die(MLC_EX_USAGE, "--tls-cert and --tls-key go together");
	if (sodium_init() < 0)
		mlc_die(MLC_EX_SOFTWARE, "libsodium cannot be initialised");
	if (!cfg.password)
		cfg.password = mlc_xstrdup("JDE");
	if (!cfg.data_dir)
		cfg.data_dir = default_data_dir();
	load_columns();
	if (cert_path) {
		cert = mlc_httpd_read_pem(cert_path);
		key = mlc_httpd_read_pem(key_path);
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			mlc_die(MLC_EX_SOFTWARE, "this libmicrohttpd has no TLS support");
		cfg.tls = 1;
	}
	if (cfg.log_path)
		log_fd = mlc_httpd_open_log(cfg.log_path, MLC_EX_IOERR);
	if (mlc_httpd_addr(&sin, cfg.listen, cfg.port) < 0)
		mlc_die(MLC_EX_USAGE, "--listen: expected an IPv4 address, got \"%s\"", cfg.listen);

	/* Signals are taken by sigwait() in this thread only. */
	mlc_httpd_signals(&set);
	d = mlc_httpd_start(&sin, 0, on_request, cert, key, mhd_opts);
	if (!d)
		mlc_die(MLC_EX_SOFTWARE, "cannot listen on %s:%u", cfg.listen, cfg.port);
	cfg.port = mlc_httpd_port(d, cfg.port);
	if (cfg.port_file)
		mlc_httpd_write_port(cfg.port_file, cfg.port);

	mlc_httpd_wait(&set);
	MHD_stop_daemon(d);

	while (sessions)
		session_remove(sessions);
	while (faults) {
		struct fault *n = faults->next;

		fault_free(faults);
		faults = n;
	}
	tables_reset_data();
	for (size_t i = 0; i < ntables; i++) {
		for (size_t j = 0; j < tables[i].ncols; j++) {
			free(tables[i].cols[j].alias);
			free(tables[i].cols[j].key);
			free(tables[i].cols[j].label);
			jv_free(tables[i].cols[j].jkey);
		}
		free(tables[i].cols);
		free(tables[i].name);
		free(tables[i].title);
	}
	free(tables);
	if (cert) {
		sodium_memzero(key, strlen(key));
		free(key);
		free(cert);
	}
	sodium_memzero(cfg.password, strlen(cfg.password));
	free(cfg.password);
	free(cfg.data_dir);
	if (log_fd >= 0)
		close(log_fd);
	return MLC_EX_OK;
}
