/*
 * twilio-status — receive Twilio's message status callbacks and incoming
 * messages.
 *
 * usage: twilio-status [-c conf] [-d statedir] [--passphrase-file F]
 *                      [--inetd] [-t sec]
 *
 * Runs behind an ordinary web server as a CGI program (the request in
 * REQUEST_METHOD, CONTENT_TYPE, CONTENT_LENGTH, HTTP_X_TWILIO_SIGNATURE,
 * QUERY_STRING and the body on stdin; the answer as CGI headers on stdout),
 * or with --inetd under inetd or a systemd socket unit with Accept=yes: one
 * HTTP/1.1 request read from stdin (the connection), one answer written,
 * exit.  Limits: 8 KiB of request line and headers, 64 KiB of body, a read
 * timeout (-t, default 10 s).  No web server of our own.
 *
 * The signature (X-Twilio-Signature, HMAC-SHA1 under the Auth Token) is
 * checked against the URL from the configuration, [twilio] status_callback:
 * the exact URL registered with Twilio, never the Host header or scheme this
 * program sees, which proxies rewrite.  JSON callbacks carry bodySHA256 in
 * the query; it is appended to that URL and checked against the raw body.
 * A missing or bad signature, or a signed callback whose AccountSid is not
 * [twilio] account_sid: 403 and nothing recorded; two signatures: 400.  A
 * valid callback:
 * (sid, status, error_code, ts, "callback") into message_status with INSERT
 * OR IGNORE, so Twilio's redeliveries are recorded once, plus one audit row
 * (stage = the status) carrying the delivery's ids when the trail knows the
 * sid, or stage "stray" when it does not; then 204.
 *
 * Incoming messages: a request for the path of [twilio] inbound_url (the
 * number's or Messaging Service's incoming-message webhook) is checked
 * against that URL the same way, then recorded once per MessageSid with
 * what it means (optout.c: STOP, START, HELP), and answered 200 with an
 * empty TwiML <Response></Response> (text/xml), also for a repeat.
 *
 * The Auth Token comes from the vault (twilio.auth_token) and is written
 * nowhere.  Messages go to stderr (the web server's error log).
 *
 * Exit: 0 recorded (or a repeat); 64 usage; 65 malformed request (400, 405,
 * 411, 413, 431, 501); 74 database I/O (500); 75 database locked by
 * another process for ML_CONNECTOR_BUSY_TIMEOUT ms (503, see record());
 * 77 bad or missing signature, or another account's callback (403), or the
 * vault refused its key (500);
 * 78 configuration (500).  Web servers ignore the status; it is for logs
 * and tests.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mlc.h"

static const char usage[] =
	"usage: twilio-status [-c conf] [-d statedir] [--passphrase-file file] [--inetd] [-t sec]\n"
	"  CGI program by default; --inetd: one HTTP/1.1 request on stdin/stdout\n";

#define MAX_HEAD (8u << 10)
#define MAX_BODY (64u << 10)

struct request {
	char method[16];
	char ctype[256];
	char sig[128];
	char *query;          /* query string of the request, or NULL */
	char path[1024];      /* the path requested (inetd: its target; CGI: SCRIPT_NAME PATH_INFO) */
	struct mlc_buf body;
	int has_sig;
	int expect_continue;
};

static struct {
	const char *conf_path, *state_dir, *passfile;
	int inetd;
	long timeout_ms;
	uint64_t deadline;
} o;

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void
write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* the client is gone; nothing to tell it */
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Answer and exit with code. */
static MLC_NORETURN void
answer(int status, int code)
{
	struct mlc_buf b;

	mlc_buf_init(&b);
	if (o.inetd) {
		mlc_buf_printf(&b, "HTTP/1.1 %d %s\r\n", status, reason(status));
		if (status == 405)
			mlc_buf_adds(&b, "Allow: POST\r\n");
		if (status != 204)
			mlc_buf_adds(&b, "Content-Length: 0\r\n");
		mlc_buf_adds(&b, "Connection: close\r\n\r\n");
	} else {
		mlc_buf_printf(&b, "Status: %d %s\r\n", status, reason(status));
		if (status == 405)
			mlc_buf_adds(&b, "Allow: POST\r\n");
		mlc_buf_adds(&b, "\r\n");
	}
	write_all(b.p, b.len);
	mlc_buf_free(&b);
	exit(code);
}

/* Answer status with a body of type ctype and exit with code. */
static MLC_NORETURN void
answer_body(int status, const char *ctype, const char *body, int code)
{
	struct mlc_buf b;
	size_t n = strlen(body);

	mlc_buf_init(&b);
	if (o.inetd)
		mlc_buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		               "Connection: close\r\n\r\n",
		               status, reason(status), ctype, n);
	else
		mlc_buf_printf(&b, "Status: %d %s\r\nContent-Type: %s\r\n\r\n", status,
		               reason(status), ctype);
	mlc_buf_add(&b, body, n);
	write_all(b.p, b.len);
	mlc_buf_free(&b);
	exit(code);
}

/* Read up to n bytes from stdin before the deadline: bytes read, 0 at EOF.
 * A timeout answers 408. */
static size_t
read_some(char *p, size_t n)
{
	for (;;) {
		struct pollfd pfd = { 0, POLLIN, 0 };
		uint64_t now = mono_ms();
		ssize_t r;
		int k;

		if (now >= o.deadline) {
			mlc_warn("request not complete within %ld ms", o.timeout_ms);
			answer(408, MLC_EX_DATAERR);
		}
		k = poll(&pfd, 1, (int)(o.deadline - now));
		if (k < 0 && errno != EINTR) {
			mlc_warn("poll: %s", strerror(errno));
			answer(500, MLC_EX_IOERR);
		}
		if (k <= 0)
			continue;
		r = read(0, p, n);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			mlc_warn("read: %s", strerror(errno));
			answer(400, MLC_EX_DATAERR);
		}
		return (size_t)r;
	}
}

static void
read_body(struct request *rq, size_t want)
{
	char buf[8192];

	while (rq->body.len < want) {
		size_t n = want - rq->body.len, got;

		if (n > sizeof buf)
			n = sizeof buf;
		got = read_some(buf, n);
		if (got == 0) {
			mlc_warn("body ends after %zu of %zu bytes", rq->body.len, want);
			answer(400, MLC_EX_DATAERR);
		}
		mlc_buf_add(&rq->body, buf, got);
	}
}

static long
parse_length(const char *s)
{
	char *end;
	long n;

	if (!s || !*s)
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno || *end || n < 0 || !isdigit((unsigned char)*s))
		return -2;
	return n;
}

static void
check_length(long n)
{
	if (n == -1) {
		mlc_warn("no Content-Length");
		answer(411, MLC_EX_DATAERR);
	}
	if (n < 0) {
		mlc_warn("bad Content-Length");
		answer(400, MLC_EX_DATAERR);
	}
	if ((unsigned long)n > MAX_BODY) {
		mlc_warn("body of %ld bytes is over the %u byte limit", n, MAX_BODY);
		answer(413, MLC_EX_DATAERR);
	}
}

static void
cgi_request(struct request *rq)
{
	const char *m = getenv("REQUEST_METHOD"), *v;
	long n;

	if (!m || !*m) {
		mlc_warn("REQUEST_METHOD is not set: not run as CGI (use --inetd for a socket)");
		answer(500, MLC_EX_USAGE);
	}
	snprintf(rq->method, sizeof rq->method, "%s", m);
	if ((v = getenv("CONTENT_TYPE")))
		snprintf(rq->ctype, sizeof rq->ctype, "%s", v);
	if ((v = getenv("HTTP_X_TWILIO_SIGNATURE")) && *v) {
		/* a web server joins repeated headers with ", "; base64 has no comma */
		if (strchr(v, ',')) {
			mlc_warn("more than one X-Twilio-Signature: refused, nothing recorded");
			answer(400, MLC_EX_DATAERR);
		}
		snprintf(rq->sig, sizeof rq->sig, "%s", v);
		rq->has_sig = 1;
	}
	if ((v = getenv("QUERY_STRING")) && *v)
		rq->query = mlc_xstrdup(v);
	snprintf(rq->path, sizeof rq->path, "%s%s", getenv("SCRIPT_NAME") ? getenv("SCRIPT_NAME") : "",
	         getenv("PATH_INFO") ? getenv("PATH_INFO") : "");
	if (strcmp(rq->method, "POST") != 0)
		return;
	n = parse_length(getenv("CONTENT_LENGTH"));
	check_length(n);
	read_body(rq, (size_t)n);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static void
inetd_request(struct request *rq)
{
	char head[MAX_HEAD + 1], *end = NULL, *line, *save = NULL, *target, *ver, *sp;
	size_t len = 0, hlen = 0, extra;
	long n = -1;
	int first = 1, chunked = 0, seen_sig = 0;

	/* request line and headers, up to the blank line */
	while (!end) {
		size_t got;

		if (len == MAX_HEAD) {
			mlc_warn("request head over %u bytes", MAX_HEAD);
			answer(431, MLC_EX_DATAERR);
		}
		got = read_some(head + len, MAX_HEAD - len);
		if (got == 0) {
			mlc_warn("connection closed before the end of the request head");
			exit(MLC_EX_DATAERR);
		}
		len += got;
		head[len] = '\0';
		if (memchr(head, '\0', len)) {
			mlc_warn("NUL byte in the request head");
			answer(400, MLC_EX_DATAERR);
		}
		if ((end = strstr(head, "\r\n\r\n")))
			hlen = (size_t)(end - head) + 4;
		else if ((end = strstr(head, "\n\n")))
			hlen = (size_t)(end - head) + 2;
	}
	*end = '\0';
	extra = len - hlen;
	for (line = strtok_r(head, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon, *name, *val;

		if (first) {
			first = 0;
			line = trim(line);
			if (!(sp = strchr(line, ' ')) || sp - line >= (long)sizeof rq->method) {
				mlc_warn("bad request line");
				answer(400, MLC_EX_DATAERR);
			}
			*sp = '\0';
			snprintf(rq->method, sizeof rq->method, "%s", line);
			target = sp + 1;
			if (!(ver = strchr(target, ' ')) || strncmp(ver + 1, "HTTP/1.", 7) != 0) {
				mlc_warn("bad request line");
				answer(400, MLC_EX_DATAERR);
			}
			*ver = '\0';
			if ((sp = strchr(target, '?')) && sp[1])
				rq->query = mlc_xstrdup(sp + 1);
			snprintf(rq->path, sizeof rq->path, "%.*s",
			         (int)(sp ? (size_t)(sp - target) : strlen(target)), target);
			continue;
		}
		if (!(colon = strchr(line, ':'))) {
			if (*trim(line))
				answer(400, MLC_EX_DATAERR);
			continue;
		}
		*colon = '\0';
		name = trim(line);
		val = trim(colon + 1);
		if (strcasecmp(name, "Content-Length") == 0) {
			long k = parse_length(val);

			if (k < 0 || (n >= 0 && k != n)) {
				mlc_warn("bad Content-Length");
				answer(400, MLC_EX_DATAERR);
			}
			n = k;
		} else if (strcasecmp(name, "Content-Type") == 0) {
			snprintf(rq->ctype, sizeof rq->ctype, "%s", val);
		} else if (strcasecmp(name, "X-Twilio-Signature") == 0) {
			/* one signature: were the last one to win, the one checked
			 * might not be the one a proxy or a log looked at */
			if (seen_sig++ || strchr(val, ',')) {
				mlc_warn("more than one X-Twilio-Signature: refused, nothing recorded");
				answer(400, MLC_EX_DATAERR);
			}
			snprintf(rq->sig, sizeof rq->sig, "%s", val);
			rq->has_sig = *val != '\0';
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			chunked = 1;
		} else if (strcasecmp(name, "Expect") == 0 && strcasecmp(val, "100-continue") == 0) {
			rq->expect_continue = 1;
		}
	}
	if (first) {
		mlc_warn("empty request");
		answer(400, MLC_EX_DATAERR);
	}
	if (strcmp(rq->method, "POST") != 0)
		return;
	if (chunked) {
		mlc_warn("Transfer-Encoding is not supported; send Content-Length");
		answer(501, MLC_EX_DATAERR);
	}
	check_length(n);
	if (extra > (size_t)n) {
		mlc_warn("more bytes than Content-Length (pipelining is not supported)");
		answer(400, MLC_EX_DATAERR);
	}
	mlc_buf_add(&rq->body, head + hlen, extra);
	if (rq->expect_continue && rq->body.len < (size_t)n) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		write_all(cont, sizeof cont - 1);
	}
	read_body(rq, (size_t)n);
}

/* ---- recording ---- */

static int
sid_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 2 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
status_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

struct callback {
	const char *sid, *status, *ecode, *ts;
	int fresh, stray;
};

/* mlc_store_tx's fn: the status row, and its audit row when it is new. */
static int
record_tx(struct mlc_store *s, void *arg)
{
	struct callback *c = arg;
	struct mlc_trail_ids ids = { 0 };
	struct mlc_trail_event e = { 0 };
	struct mlc_buf line;
	long long ecode = c->ecode ? strtoll(c->ecode, NULL, 10) : 0;
	int rc = -1;

	mlc_buf_init(&line);
	if (mlc_trail_status_put(s, c->sid, c->status, c->ecode ? &ecode : NULL, c->ts,
	                         "callback", &c->fresh) < 0)
		goto fail;
	if (c->fresh) {
		/* the audit row carries the delivery's ids when the trail knows the sid */
		if (mlc_trail_sid_delivery(s, c->sid, &ids) < 0)
			goto fail;
		mlc_buf_adds(&line, "{\"event\":\"status\",\"sid\":");
		mlc_buf_json_str(&line, c->sid, strlen(c->sid));
		mlc_buf_adds(&line, ",\"delivery_id\":");
		if (ids.delivery_id)
			mlc_buf_json_str(&line, ids.delivery_id, strlen(ids.delivery_id));
		else
			mlc_buf_adds(&line, "null");
		mlc_buf_adds(&line, ",\"status\":");
		mlc_buf_json_str(&line, c->status, strlen(c->status));
		mlc_buf_printf(&line, ",\"error_code\":%s,\"at\":\"%s\",\"source\":\"callback\"}",
		               c->ecode ? c->ecode : "null", c->ts);
		/*
		 * A SID the trail has never seen: a message of this account not
		 * sent by us (another application, the console), or a callback
		 * that overtook alert-log's record of the send.  Stage "stray",
		 * the status beside it: alert-log status counts the strays whose
		 * SID the trail still does not know.
		 */
		c->stray = ids.delivery_id == NULL;
		e.ts = c->ts;
		e.stage = c->stray ? "stray" : c->status;
		e.rule = ids.rule;
		e.table = ids.table;
		e.key = ids.key;
		e.alert_id = ids.alert_id;
		e.delivery_id = ids.delivery_id;
		e.to = ids.to;
		e.channel = ids.channel;
		e.sid = c->sid;
		e.status = c->status;
		e.error_code = ecode;
		e.has_error_code = c->ecode != NULL;
		e.detail = c->stray ? "status callback for a SID the trail does not know" :
		                      "status callback";
		e.line = line.p;
		e.len = line.len;
		if (mlc_trail_record(s, &e) < 0)
			goto fail;
	}
	rc = 0;
fail:
	if (rc < 0)
		mlc_store_warn(s, "recording a status callback");
	mlc_trail_ids_free(&ids);
	mlc_buf_free(&line);
	return rc;
}

/*
 * 0 recorded (1 if it was a repeat), else an exit code.  A lock held by
 * another process is waited for, but only ML_CONNECTOR_BUSY_TIMEOUT ms
 * (mlc_store_bounded_wait in main): Twilio waits 15 s for an answer.  Then
 * 503, and nothing is lost: Twilio sends the callback again only when the
 * callback URL's connection overrides ask for retries on 5xx, but the
 * status is also polled (twilio-send --poll, ml-connector track), which
 * records it the same way (message_status is keyed on sid and status).
 */
static int
record(struct mlc_store *s, const char *sid, const char *status, const char *ecode)
{
	struct timespec now;
	char ts[32];
	struct callback c = { sid, status, ecode, ts, 0, 0 };
	int code;

	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	code = mlc_store_tx(s, "record a status callback", record_tx, &c);
	if (code)
		return code;
	if (c.stray)
		mlc_warn("status callback for %s (%s), a SID the trail does not know: recorded as a "
		         "stray (not sent by ml-connector, or sent a moment ago)",
		         sid, status);
	return c.fresh ? 0 : 1;
}

static int
http_for(int code)
{
	switch (code) {
	case MLC_EX_TEMPFAIL: return 503;
	default: return 500;
	}
}

/* The options, into o. */
static void
parse_args(int argc, char **argv)
{
	enum { O_INETD = 256, O_PASSFILE };
	static const struct option lopts[] = {
		{ "inetd", no_argument, NULL, O_INETD },
		{ "passphrase-file", required_argument, NULL, O_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	double d;
	int c;

	o.timeout_ms = 10000;
	while ((c = getopt_long(argc, argv, "c:d:t:", lopts, NULL)) != -1) {
		switch (c) {
		case O_INETD: o.inetd = 1; break;
		case O_PASSFILE: o.passfile = optarg; break;
		case 'c': o.conf_path = optarg; break;
		case 'd': o.state_dir = optarg; break;
		case 't':
			d = strtod(optarg, &end);
			if (*end || !(d > 0) || d > 3600) {
				mlc_warn("-t: bad value \"%s\"", optarg);
				exit(MLC_EX_USAGE);
			}
			o.timeout_ms = (long)(d * 1000);
			break;
		default: mlc_util_usage(usage, NULL);
		}
	}
	if (optind < argc)
		mlc_util_usage(usage, "unexpected argument %s (the request is read from stdin)",
		               argv[optind]);
}

/* A signed callback's parts: the form fields or the JSON body, and the URL Twilio signed. */
struct signed_req {
	char **fn, **fv, *url;
	size_t fc;
	int is_json;
	jv body;
};

/* The path of URL u (from the first "/" after the authority, to "?" or "#"), in out. */
static void
url_path(const char *u, char *out, size_t len)
{
	const char *p = strstr(u, "://"), *e;

	p = p ? strchr(p + 3, '/') : NULL;
	if (!p)
		p = "/";
	e = p + strcspn(p, "?#");
	snprintf(out, len, "%.*s", (int)(e - p), p);
}

/*
 * Decides which webhook the request is, and the URL its signature is
 * checked against: a request for the path of [twilio] inbound_url is an
 * incoming message (*inbound 1, that URL); any other is a status callback
 * ([twilio] status_callback, else 500).
 */
static const char *
callback_url(struct mlc_conf *conf, const char *path, int *inbound)
{
	char err[512], ip[1024];
	const char *cb, *in;
	int missing = 0;

	mlc_config_use(o.conf_path);
	if (mlc_conf_load(conf, mlc_config_path(), err, sizeof err, &missing) < 0) {
		mlc_warn("%s", err);
		answer(500, MLC_EX_CONFIG);
	}
	*inbound = 0;
	if ((in = mlc_conf_get(conf, "twilio", "inbound_url")) && *in) {
		url_path(in, ip, sizeof ip);
		if (strcmp(ip, path) == 0) {
			*inbound = 1;
			return in;
		}
	}
	cb = mlc_conf_get(conf, "twilio", "status_callback");
	if (!cb || !*cb) {
		mlc_warn("%s: [twilio] status_callback is not set: it is the URL signatures are "
		         "checked against",
		         conf->path);
		answer(500, MLC_EX_CONFIG);
	}
	return cb;
}

/* Opens the state database and the vault and reads the Auth Token (answers on failure). */
static char *
open_trail(struct mlc_store **store, struct mlc_vault **vault)
{
	char err[512], *token;
	const char *dir;
	size_t tlen;
	int code = 0;

	if (!(dir = mlc_state_dir(o.state_dir, err, sizeof err))) {
		mlc_warn("%s", err);
		answer(500, MLC_EX_CONFIG);
	}
	/* Twilio will not wait for a lock: answer 503 after a bounded wait */
	mlc_store_bounded_wait();
	if (!(*store = mlc_store_open(dir, err, sizeof err, &code))) {
		mlc_warn("%s", err);
		answer(http_for(code), code ? code : MLC_EX_IOERR);
	}
	if (!(*vault = mlc_vault_open(*store, o.passfile, err, sizeof err, &code))) {
		mlc_warn("%s", err);
		answer(500, code ? code : MLC_EX_CONFIG);
	}
	if (!(token = mlc_vault_get(*vault, "twilio.auth_token", &tlen, &code))) {
		if (code == MLC_EX_NOINPUT) {
			mlc_warn("vault: no secret twilio.auth_token");
			code = MLC_EX_CONFIG;
		}
		answer(500, code ? code : MLC_EX_CONFIG);
	}
	return token;
}

/* Decides what Twilio signed: JSON, the URL plus the query's bodySHA256; a form, its fields. */
static void
callback_parse(const struct request *rq, const char *cb, char *token, struct signed_req *c)
{
	c->fn = c->fv = NULL;
	c->fc = 0;
	c->body = jv_invalid();
	c->is_json = strncasecmp(rq->ctype, "application/json", 16) == 0;
	if (c->is_json) {
		char **qn = NULL, **qv = NULL;
		size_t qc = 0;
		const char *h = NULL;
		struct mlc_buf u;

		if (rq->query && mlc_form_parse(rq->query, strlen(rq->query), &qn, &qv, &qc) == 0)
			h = mlc_form_get(qn, qv, qc, "bodySHA256");
		if (!h) {
			mlc_form_free(qn, qv, qc);
			mlc_vault_free_secret(token);
			mlc_warn("JSON callback without bodySHA256: refused, nothing recorded");
			answer(403, MLC_EX_NOPERM);
		}
		mlc_buf_init(&u);
		mlc_buf_adds(&u, cb);
		mlc_buf_adds(&u, strchr(cb, '?') ? "&bodySHA256=" : "?bodySHA256=");
		mlc_buf_form_enc(&u, h, strlen(h));
		c->url = u.p;
		mlc_form_free(qn, qv, qc);
		c->body = jv_parse_sized(rq->body.p ? rq->body.p : "", (int)rq->body.len);
	} else {
		if (mlc_form_parse(rq->body.p ? rq->body.p : "", rq->body.len, &c->fn, &c->fv,
		                   &c->fc) < 0) {
			mlc_vault_free_secret(token);
			mlc_warn("malformed form body");
			answer(400, MLC_EX_DATAERR);
		}
		c->url = mlc_xstrdup(cb);
	}
}

/* Decides the callback's MessageSid, MessageStatus, ErrorCode and AccountSid (NULL when
 * absent); answers 400 if malformed. */
static void
callback_fields(const struct signed_req *c, const char **sid, const char **status,
                const char **ecode, const char **acct)
{
	int i;

	if (c->is_json) {
		static char sbuf[4][128];
		static const char *const keys[4] = { "MessageSid", "MessageStatus", "ErrorCode",
		                                     "AccountSid" };
		const char **dst[4] = { sid, status, ecode, acct };
		int k;

		*sid = *status = *ecode = *acct = NULL;
		for (k = 0; k < 4 && jv_get_kind(c->body) == JV_KIND_OBJECT; k++) {
			jv v = jv_object_get(jv_copy(c->body), jv_string(keys[k]));

			if (jv_get_kind(v) == JV_KIND_STRING) {
				snprintf(sbuf[k], sizeof sbuf[k], "%s", jv_string_value(v));
				*dst[k] = sbuf[k];
			} else if (jv_get_kind(v) == JV_KIND_NUMBER) {
				snprintf(sbuf[k], sizeof sbuf[k], "%.0f", jv_number_value(v));
				*dst[k] = sbuf[k];
			}
			jv_free(v);
		}
	} else {
		*sid = mlc_form_get(c->fn, c->fv, c->fc, "MessageSid");
		if (!*sid)
			*sid = mlc_form_get(c->fn, c->fv, c->fc, "SmsSid");
		*status = mlc_form_get(c->fn, c->fv, c->fc, "MessageStatus");
		if (!*status)
			*status = mlc_form_get(c->fn, c->fv, c->fc, "SmsStatus");
		*ecode = mlc_form_get(c->fn, c->fv, c->fc, "ErrorCode");
		*acct = mlc_form_get(c->fn, c->fv, c->fc, "AccountSid");
	}
	if (*ecode && !**ecode)
		*ecode = NULL;
	if (*ecode)
		for (i = 0; (*ecode)[i]; i++)
			if (!isdigit((unsigned char)(*ecode)[i]) || i > 9)
				*ecode = "";
	if (!*sid || !*status || !sid_ok(*sid) || !status_ok(*status) || (*ecode && !**ecode)) {
		mlc_warn("signed request is not a message status callback "
		         "(MessageSid, MessageStatus, ErrorCode)");
		answer(400, MLC_EX_DATAERR);
	}
}

/*
 * The signature says the sender holds our Auth Token, not that the
 * message is ours: a parent account's token signs its subaccounts'
 * callbacks, and a token shared between accounts signs theirs.  A
 * callback names its account (AccountSid, "usually" sent): one that
 * names another is refused (403).  One that names none is taken on the
 * signature.
 */
static void
account_check(struct mlc_conf *conf, const char *acct)
{
	const char *ours;

	if (!acct)
		return;
	ours = mlc_conf_get(conf, "twilio", "account_sid");
	if (!ours || !*ours) {
		mlc_warn("%s: [twilio] account_sid is not set: the callback's AccountSid cannot be "
		         "checked",
		         conf->path);
		answer(500, MLC_EX_CONFIG);
	}
	if (strcasecmp(acct, ours) != 0) {
		mlc_warn("webhook for account %s, not ours ([twilio] account_sid %s): "
		         "refused, nothing recorded",
		         acct, ours);
		answer(403, MLC_EX_NOPERM);
	}
}

/* ---- incoming messages ([twilio] inbound_url) ---- */

struct inbound_tx {
	struct mlc_inbound m;
	const char *ts;
	struct mlc_buf line;
	int fresh;
};

static int
inbound_tx(struct mlc_store *s, void *arg)
{
	struct inbound_tx *t = arg;

	if (mlc_optout_record(s, &t->m, t->ts, t->line.p, t->line.len, &t->fresh) < 0) {
		mlc_store_warn(s, "recording an incoming message");
		return -1;
	}
	return 0;
}

/*
 * An incoming message, its signature good: recorded once per MessageSid
 * (Twilio retries a webhook; a repeat changes nothing) with what it means
 * (optout.c), then 200 with an empty TwiML <Response/>: Twilio expects
 * TwiML back, and each <Message> in it would be a billed reply.  A STOP
 * is answered by Twilio itself; we only record it.  A lock held too long:
 * 503, and the message is still in Twilio's Messages list for the poll
 * (twilio-send --poll-inbound).
 */
static MLC_NORETURN void
inbound_message(struct signed_req *c, struct mlc_conf *conf, struct mlc_store *store)
{
	static const char twiml[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
	struct inbound_tx t;
	struct timespec now;
	char ts[32];
	const char *acct;
	int code;

	memset(&t, 0, sizeof t);
	if (c->is_json) {
		mlc_warn("incoming-message webhook with a JSON body: Twilio posts a form");
		answer(400, MLC_EX_DATAERR);
	}
	t.m.sid = mlc_form_get(c->fn, c->fv, c->fc, "MessageSid");
	if (!t.m.sid)
		t.m.sid = mlc_form_get(c->fn, c->fv, c->fc, "SmsSid");
	t.m.from = mlc_form_get(c->fn, c->fv, c->fc, "From");
	t.m.to = mlc_form_get(c->fn, c->fv, c->fc, "To");
	t.m.mss = mlc_form_get(c->fn, c->fv, c->fc, "MessagingServiceSid");
	t.m.body = mlc_form_get(c->fn, c->fv, c->fc, "Body");
	t.m.opt_out_type = mlc_form_get(c->fn, c->fv, c->fc, "OptOutType");
	t.m.source = "webhook";
	acct = mlc_form_get(c->fn, c->fv, c->fc, "AccountSid");
	if (!t.m.sid || !sid_ok(t.m.sid) || !t.m.from || !*t.m.from || !t.m.to || !*t.m.to ||
	    (t.m.mss && !sid_ok(t.m.mss))) {
		mlc_warn("signed request is not an incoming message (MessageSid, From, To)");
		answer(400, MLC_EX_DATAERR);
	}
	account_check(conf, acct);
	mlc_time_now(&now);
	mlc_time_fmt(ts, &now);
	t.ts = ts;
	t.m.date_sent = ts;
	mlc_buf_init(&t.line);
	mlc_optout_line(&t.line, &t.m);
	code = mlc_store_tx(store, "record an incoming message", inbound_tx, &t);
	mlc_buf_free(&t.line);
	if (code)
		answer(http_for(code), code);
	mlc_store_close(store);
	if (t.fresh && mlc_optout_classify(t.m.body, t.m.opt_out_type) == MLC_KW_STOP)
		mlc_warn("%s opted out of messages from %s (%s)", t.m.from,
		         t.m.mss ? t.m.mss : t.m.to, t.m.sid);
	answer_body(200, "text/xml", twiml, MLC_EX_OK);
}

int
main(int argc, char **argv)
{
	struct request rq;
	struct mlc_conf conf;
	struct mlc_store *store = NULL;
	struct mlc_vault *vault = NULL;
	struct signed_req c;
	char *token;
	const char *cb, *sid, *status, *ecode, *acct;
	int code, valid, inbound;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	parse_args(argc, argv);
	mlc_util_signals(NULL);
	mlc_util_nodump();
	o.deadline = mono_ms() + (uint64_t)o.timeout_ms;

	memset(&rq, 0, sizeof rq);
	mlc_buf_init(&rq.body);
	if (o.inetd)
		inetd_request(&rq);
	else
		cgi_request(&rq);
	if (strcmp(rq.method, "POST") != 0) {
		mlc_warn("method %s refused: status callbacks are POSTs", rq.method);
		answer(405, MLC_EX_DATAERR);
	}
	if (!rq.has_sig) {
		mlc_warn("no X-Twilio-Signature: refused, nothing recorded");
		answer(403, MLC_EX_NOPERM);
	}

	cb = callback_url(&conf, rq.path, &inbound);
	token = open_trail(&store, &vault);
	callback_parse(&rq, cb, token, &c);
	valid = mlc_twsig_validate(token, c.url, (const char *const *)c.fn,
	                           (const char *const *)c.fv, c.fc, rq.body.p ? rq.body.p : "",
	                           rq.body.len, c.is_json, rq.sig);
	mlc_vault_free_secret(token);
	mlc_vault_close(vault);
	if (!valid) {
		mlc_warn("X-Twilio-Signature does not match %s (the configured %s): "
		         "refused, nothing recorded",
		         cb, inbound ? "inbound_url" : "status_callback");
		answer(403, MLC_EX_NOPERM);
	}

	if (inbound)
		inbound_message(&c, &conf, store);
	callback_fields(&c, &sid, &status, &ecode, &acct);
	account_check(&conf, acct);
	code = record(store, sid, status, ecode);
	if (code > 1)
		answer(http_for(code), code);
	mlc_store_close(store);
	mlc_form_free(c.fn, c.fv, c.fc);
	jv_free(c.body);
	free(c.url);
	free(rq.query);
	mlc_buf_free(&rq.body);
	mlc_conf_free(&conf);
	answer(204, MLC_EX_OK);
}
