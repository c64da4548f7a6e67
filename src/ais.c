/*
 * ais.c — the AIS session that jde-fetch and jde-join share: the [ais]
 * settings, the vault's password, login, token refresh, ordered paged
 * queries and logout.
 *
 * Session: one login per run (the password from the vault, secret
 * ais.password), the token sent in jde-AIS-Auth on every call and never
 * in a URL (a /next request carries Oracle's documented fields in its
 * body), printed or logged, cookies kept in memory for the run (session
 * affinity), TLS verified against [ais] ca_bundle when given, logout at
 * the end, also after errors (mlc_ais_fatal) and SIGTERM/SIGINT.
 * A login refused for its credentials (401/403/444) is remembered, and
 * the same password is not sent again (refusal_check); any other failed
 * login is named for what it is (login_failed), never as a refusal.
 * A token refused (401/403/444) means a new login and a fresh query for
 * the rows after the last one delivered, since an open result set does
 * not survive the session; so does JAS_MSG347 (query results expired) and
 * a failure in the middle of paging: every token adds rows.
 *
 * Changing how the token is obtained or refreshed is this file only:
 * mlc_ais_login and the MLC_RETRY_AUTH branch of mlc_ais_query_run.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "mlc.h"

static volatile sig_atomic_t nostop;
static volatile sig_atomic_t *stopp = &nostop; /* mlc_ais_stop_on */

void
mlc_ais_stop_on(volatile sig_atomic_t *stop)
{
	stopp = stop ? stop : &nostop;
}

/* ---- the session: login, logout, and every exit through a logout ------- */

static struct mlc_ais *session; /* for logout on the way out */

static void
secret_free(char *s)
{
	if (s)
		mlc_vault_free_secret(s);
}

static char *
secret_dup(const char *s, size_t n)
{
	char *p = sodium_malloc(n + 1);

	if (!p)
		mlc_die(MLC_EX_SOFTWARE, "out of locked memory");
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void logout(struct mlc_ais *a);

/* Leave: log out first (the session must not outlive us), then exit. */
void
mlc_ais_fatal(int code, const char *fmt, ...)
{
	va_list ap;
	struct mlc_buf m;

	mlc_buf_init(&m);
	va_start(ap, fmt);
	{
		char tmp[2048];

		vsnprintf(tmp, sizeof tmp, fmt, ap);
		mlc_buf_adds(&m, tmp);
	}
	va_end(ap);
	mlc_log(MLC_LOG_ERR, "%s", m.p);
	mlc_buf_free(&m);
	if (session) {
		logout(session);
		mlc_ais_count(session, NULL);
	}
	mlc_util_exit(code);
}

void
mlc_ais_interrupted(void)
{
	mlc_ais_fatal(MLC_EX_TEMPFAIL, "interrupted by signal %d: stopped after the current request",
		      (int)*stopp);
}

static void
dry_print(const char *url, const char *body)
{
	struct mlc_buf b;
	char red[4096];

	mlc_http_redact_url(url, red, sizeof red);
	mlc_buf_init(&b);
	mlc_buf_adds(&b, "{\"method\":\"POST\",\"url\":");
	mlc_buf_json_str(&b, red, strlen(red));
	mlc_buf_adds(&b, ",\"body\":");
	mlc_buf_adds(&b, body && *body ? body : "{}");
	mlc_buf_addc(&b, '}');
	if (mlc_ndjson_put(1, &b) < 0)
		mlc_ais_fatal(MLC_EX_IOERR, "write error on stdout: %s", strerror(errno));
	mlc_buf_free(&b);
}

/* One POST.  The token travels in headers only. */
static int
post(struct mlc_ais *a, const char *url, const char *body, struct mlc_http_resp *r)
{
	struct mlc_buf auth;
	const char *hdr[6];
	char dev[300];
	size_t n = 0;
	int rc;

	mlc_buf_init(&auth);
	hdr[n++] = "Content-Type: application/json";
	hdr[n++] = "Accept: application/json";
	snprintf(dev, sizeof dev, "jde-AIS-Auth-Device: %s", a->device);
	hdr[n++] = dev;
	if (a->token) {
		mlc_buf_adds(&auth, "jde-AIS-Auth: ");
		mlc_buf_adds(&auth, a->token);
		hdr[n++] = auth.p;
	}
	hdr[n] = NULL;
	a->requests++;
	mlc_http_resp_free(r);
	mlc_http_resp_init(r);
	rc = mlc_http_request(a->h, "POST", url, hdr, body, strlen(body), NULL, NULL, r);
	mlc_buf_wipe(&auth);
	return rc;
}

/* A member of a JSON object as text, trimmed, into m; 0 if absent or not
 * a non-empty string. */
static int
member_text(const char *obj, size_t n, const char *name, struct mlc_buf *m)
{
	return mlc_jde_member_str(obj, n, name, " \t\r\n", m) && m->len > 0;
}

/*
 * AIS's own words in a ServiceErrorResponse (reference/ais-rest-api.md
 * 1.6: message, exception, errorText, userDefinedErrorText), whatever the
 * HTTP status it came with, even 200: "message (exception class)", the
 * generic class "Exception" left out.  1 if the body is one, else 0.
 */
static int
service_error(const struct mlc_http_resp *r, char *out, size_t outlen)
{
	static const char *const texts[] = { "message", "userDefinedErrorText", "errorText" };
	struct mlc_buf m, x;
	const char *b = r->body.p ? r->body.p : "";
	int found = 0;

	mlc_buf_init(&m);
	mlc_buf_init(&x);
	for (size_t i = 0; i < sizeof texts / sizeof *texts && !found; i++)
		found = member_text(b, r->body.len, texts[i], &m);
	if (member_text(b, r->body.len, "exception", &x) && strcmp(x.p, "Exception") != 0) {
		if (found)
			snprintf(out, outlen, "%s (%s)", m.p, x.p);
		else
			snprintf(out, outlen, "%s", x.p);
		found = 1;
	} else if (found) {
		snprintf(out, outlen, "%s", m.p);
	}
	mlc_buf_free(&m);
	mlc_buf_free(&x);
	return found;
}

/* A short description of a failed response for messages: status and
 * AIS's message (sysErrors[0], or the ServiceErrorResponse's). */
static void
describe(const struct mlc_http_resp *r, char *out, size_t outlen)
{
	struct mlc_jde_page pg;
	char e[256], m[400];

	if (r->outcome != MLC_HTTP_DONE) {
		snprintf(out, outlen, "%s (%s)", r->error[0] ? r->error : "no response",
		         mlc_http_outcome_name(r->outcome));
		return;
	}
	if (mlc_jde_page_parse(r->body.p ? r->body.p : "", r->body.len, &pg, e, sizeof e) == 0) {
		if (pg.error) {
			snprintf(out, outlen, "HTTP %ld: %s", r->status, pg.error);
			mlc_jde_page_free(&pg);
			return;
		}
		mlc_jde_page_free(&pg);
	}
	if (service_error(r, m, sizeof m))
		snprintf(out, outlen, "HTTP %ld: AIS says: %s", r->status, m);
	else
		snprintf(out, outlen, "HTTP %ld", r->status);
}

static int
is_expired(const struct mlc_http_resp *r)
{
	return r->outcome == MLC_HTTP_DONE && r->status == 500 && r->body.p &&
	       strstr(r->body.p, "JAS_MSG347");
}

/* TLS and policy failures are configuration: never retried. */
static void
fatal_transport(const struct mlc_http_resp *r, const char *what)
{
	char d[512];

	describe(r, d, sizeof d);
	if (r->outcome == MLC_HTTP_TLS)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s: TLS certificate refused (check [ais] ca_bundle): %s", what, d);
	if (r->outcome == MLC_HTTP_POLICY)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s: URL refused: %s", what, d);
	mlc_ais_fatal(MLC_EX_SOFTWARE, "%s: %s", what, d);
}

/* Before a login: stop (77) if this very password was refused (aisrefusal.c). */
static void
refusal_check(const struct mlc_ais *a)
{
	char when[64], why[600];

	if (mlc_ais_refusal_of(a->password, when, sizeof when, why, sizeof why) == 1 && !a->force)
		mlc_ais_fatal(MLC_EX_NOPERM, "not logging in to AIS as %s: this password was "
			      "refused at %s (%s), and another failed login counts towards the "
			      "account's lockout.  Store the right one (ml-connector secret set "
			      "ais.password); if the account was fixed on the AIS side, "
			      "ml-connector ping tries once and lifts this when it succeeds",
			      a->user, when, why);
}

/* After a refusal of the credentials: remember it (best effort). */
static void
refusal_write(const struct mlc_ais *a, const char *why)
{
	mlc_ais_refusal_write(a->password, why);
}

/*
 * A login answered, neither accepted nor refused for its credentials
 * (those are 401, 403 and 444: MLC_RETRY_AUTH) nor worth a retry.  Only a
 * refusal of the credentials is 77: anything else sent to an operator as
 * "refused the login" has them reset a password that was right.  What is
 * wrong is where the request went, or what the server is: 78, with the
 * likely cause.
 */
static void
login_failed(const struct mlc_ais *a, const char *url, const struct mlc_http_resp *r,
             const char *d)
{
	size_t n = strlen(a->base);
	int jderest = n >= 8 && strcasecmp(a->base + n - 8, "/jderest") == 0;
	long s = r->status;

	if (s == 404 || s == 410)
		mlc_ais_fatal(MLC_EX_CONFIG, "login: no AIS v2 REST service at %s (%s): %s", url, d,
			      jderest ? "the [ais] url should be the server root, without /jderest"
			              : "the [ais] url should be the AIS server's root, "
			                "scheme://host:port, whose /jderest/v2/tokenrequest logs in");
	if (s >= 300 && s < 400)
		mlc_ais_fatal(MLC_EX_CONFIG, "login: %s answered with a redirect (%s), which is not "
			      "followed: the [ais] url should be the address AIS answers on itself "
			      "(https:// rather than http://, or the AIS server's host and port)", url, d);
	if (s == 405)
		mlc_ais_fatal(MLC_EX_CONFIG, "login: %s: %s: the HTML server's Allowed Hosts may not "
			      "accept this AIS server, or the [ais] url leads to a server that is not AIS",
			      url, d);
	if (s == 445 || s == 446)
		mlc_ais_fatal(MLC_EX_CONFIG, "login: %s: %s: AIS expects a single sign-on this login "
			      "does not do; ask the AIS administrator to allow username and password "
			      "login for user %s", url, d, a->user);
	if (s == 415)
		mlc_ais_fatal(MLC_EX_SOFTWARE, "login: %s: %s", url, d);
	if (s >= 400 && s < 500)
		mlc_ais_fatal(MLC_EX_CONFIG, "login: %s rejected the login request (%s), not the "
			      "password: check [ais] environment (%s), role (%s) and device (%s)", url, d,
			      a->env, a->role, a->device);
	mlc_ais_fatal(MLC_EX_UNAVAILABLE, "login: %s: %s", url, d);
}

void
mlc_ais_login(struct mlc_ais *a)
{
	struct mlc_http_resp r;
	struct mlc_retry rt;
	struct mlc_buf body, url;
	char d[512];

	mlc_buf_init(&body);
	mlc_buf_init(&url);
	mlc_buf_printf(&url, "%s/jderest/v2/tokenrequest", a->base);
	mlc_buf_adds(&body, "{\"username\":");
	mlc_buf_json_str(&body, a->user, strlen(a->user));
	if (!a->dry) {
		mlc_buf_adds(&body, ",\"password\":");
		mlc_buf_json_str(&body, a->password, strlen(a->password));
	}
	mlc_buf_adds(&body, ",\"deviceName\":");
	mlc_buf_json_str(&body, a->device, strlen(a->device));
	mlc_buf_adds(&body, ",\"environment\":");
	mlc_buf_json_str(&body, a->env, strlen(a->env));
	mlc_buf_adds(&body, ",\"role\":");
	mlc_buf_json_str(&body, a->role, strlen(a->role));
	mlc_buf_addc(&body, '}');
	if (a->dry) {
		dry_print(url.p, body.p);
		mlc_buf_free(&body);
		mlc_buf_free(&url);
		return;
	}
	refusal_check(a);
	mlc_http_resp_init(&r);
	mlc_retry_init(&rt);
	for (;;) {
		enum mlc_retry_class c;
		long delay;

		if (*stopp) {
			mlc_buf_wipe(&body);
			mlc_ais_interrupted();
		}
		post(a, url.p, body.p, &r);
		if (r.outcome == MLC_HTTP_DONE && r.status == 200)
			break;
		c = mlc_retry_classify(&r, 1);
		describe(&r, d, sizeof d);
		if (c == MLC_RETRY_AUTH) {
			mlc_buf_wipe(&body);
			refusal_write(a, d);
			mlc_ais_fatal(MLC_EX_NOPERM, "AIS refused the login of user %s: %s (no login "
				      "with this password is tried again until it is set again, or "
				      "ml-connector ping succeeds)", a->user, d);
		}
		if (c == MLC_RETRY_NO) {
			mlc_buf_wipe(&body);
			if (r.outcome == MLC_HTTP_DONE)
				login_failed(a, url.p, &r, d);
			fatal_transport(&r, "login");
		}
		if ((delay = mlc_retry_next(&rt, r.retry_after_ms)) < 0) {
			mlc_buf_wipe(&body);
			mlc_ais_fatal(MLC_EX_UNAVAILABLE, "login: AIS unavailable after %d attempts: %s",
				      rt.attempt, d);
		}
		mlc_warn("login: %s; retrying in %ld ms", d, delay);
		mlc_retry_sleep(delay, stopp);
	}
	mlc_buf_wipe(&body);
	{
		jv j = jv_parse_sized(r.body.p, (int)r.body.len);
		jv ui, tok, sdf, sep, code;

		if (jv_get_kind(j) != JV_KIND_OBJECT) {
			jv_free(j);
			mlc_http_resp_free(&r);
			/* a web server's page for any path, a portal, a proxy */
			mlc_ais_fatal(MLC_EX_CONFIG, "login: no AIS v2 REST service at %s: the answer "
				      "(HTTP 200) is not a JSON object: the [ais] url should be the AIS "
				      "server's root, scheme://host:port", url.p);
		}
		ui = jv_object_get(j, jv_string("userInfo"));
		if (jv_get_kind(ui) != JV_KIND_OBJECT) {
			jv_free(ui);
			if (service_error(&r, d, sizeof d)) {
				mlc_http_resp_free(&r);
				mlc_ais_fatal(MLC_EX_DATAERR, "login: HTTP 200 without a token: AIS says: %s",
					      d);
			}
			mlc_http_resp_free(&r);
			mlc_ais_fatal(MLC_EX_DATAERR, "login: the token response has no userInfo");
		}
		mlc_buf_free(&url);
		tok = jv_object_get(jv_copy(ui), jv_string("token"));
		if (jv_get_kind(tok) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(tok)) == 0) {
			jv_free(tok);
			jv_free(ui);
			mlc_http_resp_free(&r);
			mlc_ais_fatal(MLC_EX_DATAERR, "login: the token response has no userInfo.token");
		}
		a->token = secret_dup(jv_string_value(tok), (size_t)jv_string_length_bytes(jv_copy(tok)));
		a->handed = 0; /* a new session: ours, whatever became of the last one */
		if (a->force)
			mlc_ais_refusal_clear(NULL);
		jv_free(tok);
		sdf = jv_object_get(jv_copy(ui), jv_string("simpleDateFormat"));
		sep = jv_object_get(jv_copy(ui), jv_string("dateSeperator"));
		code = jv_object_get(ui, jv_string("dateFormat"));
		{
			const char *sepv = jv_get_kind(sep) == JV_KIND_STRING ? jv_string_value(sep) : NULL;

			if (!(jv_get_kind(sdf) == JV_KIND_STRING &&
			      mlc_jde_datefmt_set(&a->df, jv_string_value(sdf), sepv) == 0) &&
			    !(jv_get_kind(code) == JV_KIND_STRING &&
			      mlc_jde_datefmt_set(&a->df, jv_string_value(code), sepv) == 0)) {
				mlc_warn("login: no usable userInfo.simpleDateFormat; writing dates "
				         "as MM/dd/yyyy");
				mlc_jde_datefmt_set(&a->df, "MM/dd/yyyy", "/");
			}
		}
		jv_free(sdf);
		jv_free(sep);
		jv_free(code);
		/* The body held the token: wipe it. */
		sodium_memzero(r.body.p, r.body.len);
	}
	mlc_http_resp_free(&r);
}

static void
logout(struct mlc_ais *a)
{
	struct mlc_http_resp r;
	struct mlc_buf body, url;
	char d[512];

	if (!a->token)
		return;
	if (a->handed) {
		/* the session lives on in jde-join, which logs it out */
		secret_free(a->token);
		a->token = NULL;
		return;
	}
	mlc_buf_init(&body);
	mlc_buf_init(&url);
	mlc_buf_printf(&url, "%s/jderest/v2/tokenrequest/logout", a->base);
	mlc_buf_adds(&body, "{\"token\":");
	mlc_buf_json_str(&body, a->token, strlen(a->token));
	mlc_buf_addc(&body, '}');
	mlc_http_resp_init(&r);
	post(a, url.p, body.p, &r);
	if (!(r.outcome == MLC_HTTP_DONE && (r.status == 200 || r.status == 444))) {
		describe(&r, d, sizeof d);
		mlc_warn("logout: %s (the session ends at its timeout)", d);
	}
	mlc_buf_wipe(&body);
	mlc_buf_free(&url);
	mlc_http_resp_free(&r);
	secret_free(a->token);
	a->token = NULL;
}

/* ---- the session handed on: one login per run -------------------------- */

/*
 * A run with a [join] or [sums] stage logged in twice, once per stage, and
 * each login is a session on the HTML server and, with a wrong password,
 * a count towards the account's lockout.  Instead jde-fetch hands its
 * session on to jde-join just before its first record (with no record,
 * jde-join never needs AIS, and jde-fetch logs out as before) and does
 * not log out; jde-join takes it at its first record and logs out at its
 * end, after the last query of the run, since it reads until jde-fetch's
 * output ends.  The way is a FIFO that the orchestrator makes in the
 * run's 0700 directory: the token stays in kernel memory, never on a
 * disk, and is never in argv, the environment or a message.  What is
 * handed on is what a session is here: the token, the user's date format
 * (conditions are written in it) and the cookies (a load balancer's
 * session affinity), with the URL and user it belongs to.  Neither side
 * ever blocks on the FIFO: jde-fetch opens it O_NONBLOCK (no reader: ENXIO,
 * and the session stays its own), writes it in one write of at most
 * PIPE_BUF bytes (atomic: all or nothing; a reader gone: EPIPE, SIGPIPE
 * being ignored), and jde-join reads it O_NONBLOCK (nothing: it logs in
 * itself).  ml-connector(8) holds both ends open for the stages' lives,
 * so that jde-fetch never meets a reader not yet started.  Whatever goes
 * wrong, the worst is today's second login: a token refused in jde-join
 * (expired, ended) is the refresh of mlc_ais_query_run, and a token
 * jde-fetch gets again after the hand-off is its own to log out.
 */
#define SESSION_MAGIC "mlc-ais-session 1"

/* path as a FIFO of ours that nobody else may open: an fd, or -1 (warned). */
static int
fifo_open(const char *path, int flags, const char *opt)
{
	struct stat st;
	int fd = open(path, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		if (errno == ENXIO)
			mlc_warn("%s %s: no reader (jde-join gone?): the AIS session is not handed on",
			         opt, path);
		else
			mlc_warn("%s %s: %s: the AIS session is not handed on", opt, path,
			         errno == ELOOP ? "a symbolic link, refused" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		mlc_warn("%s %s: not a FIFO of this user's that only it may open (mkfifo -m 600): "
		         "refused, the AIS session is not handed on", opt, path);
		close(fd);
		return -1;
	}
	return fd;
}

int
mlc_ais_session_give(struct mlc_ais *a, const char *path)
{
	struct mlc_buf b;
	ssize_t w;
	int fd, ok = 0;

	if (!a->token || a->dry || (fd = fifo_open(path, O_WRONLY, "--session-out")) < 0)
		return 0;
	mlc_buf_init(&b);
	mlc_buf_printf(&b, "%s\nbase %s\nuser %s\ndatefmt %s %c\ntoken %s\n", SESSION_MAGIC,
	               a->base, a->user, a->df.order, a->df.sep, a->token);
	mlc_http_cookies_get(a->h, &b);
	mlc_buf_adds(&b, "end\n");
	if (b.len > PIPE_BUF || strchr(a->base, '\n') || strchr(a->user, '\n')) {
		mlc_warn("--session-out %s: the session is longer than one atomic write (%zu bytes): "
		         "not handed on", path, b.len);
	} else if ((w = write(fd, b.p, b.len)) == (ssize_t)b.len) {
		ok = 1;
	} else {
		mlc_warn("--session-out %s: %s: the AIS session is not handed on", path,
		         w < 0 ? strerror(errno) : "short write");
	}
	mlc_buf_wipe(&b);
	close(fd);
	a->handed = ok;
	return ok;
}

int
mlc_ais_session_open(const char *path)
{
	return fifo_open(path, O_RDONLY, "--session-in");
}

/* The value of the line "name value" in text, into out (at most n - 1 bytes). */
static int
session_line(const char *text, const char *name, char *out, size_t n)
{
	size_t l = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t len = strcspn(p, "\n");

		if (len > l && strncmp(p, name, l) == 0 && p[l] == ' ') {
			if (len - l - 1 >= n)
				return 0;
			memcpy(out, p + l + 1, len - l - 1);
			out[len - l - 1] = '\0';
			return 1;
		}
	}
	return 0;
}

/* "MDY /" (order and separator, as jde.c keeps them) into df; 1, or 0. */
static int
datefmt_take(struct mlc_jde_datefmt *df, char *text)
{
	text[3] = '\0';
	return mlc_jde_datefmt_set(df, text, text + 4) == 0;
}

int
mlc_ais_session_take(struct mlc_ais *a, int *fd)
{
	char buf[PIPE_BUF + 1], tok[PIPE_BUF], base[PIPE_BUF], user[256], df[16];
	size_t len = 0;
	ssize_t r;
	int ok = 0;

	if (*fd < 0)
		return 0;
	while (len < sizeof buf - 1 && (r = read(*fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	close(*fd);
	*fd = -1;
	buf[len] = '\0';
	if (len == 0)
		return 0; /* none: jde-fetch failed first, or kept its session */
	if (strncmp(buf, SESSION_MAGIC "\n", sizeof SESSION_MAGIC) != 0 || len < 5 ||
	    strcmp(buf + len - 5, "\nend\n") != 0 || !session_line(buf, "token", tok, sizeof tok) ||
	    !session_line(buf, "base", base, sizeof base) ||
	    !session_line(buf, "user", user, sizeof user) || !session_line(buf, "datefmt", df, sizeof df) ||
	    strlen(df) != 5 || df[3] != ' ' || !datefmt_take(&a->df, df)) {
		mlc_warn("--session-in: what came is not a session jde-fetch handed on: logging in");
	} else if (strcmp(base, a->base) != 0 || strcasecmp(user, a->user) != 0) {
		mlc_warn("--session-in: the session handed on is of %s at %s, not of this "
		         "configuration's %s at %s: logging in", user, base, a->user, a->base);
	} else {
		/* the cookies: the lines between the token and the end */
		for (char *p = strstr(buf, "\ntoken "); p && (p = strchr(p + 1, '\n')) && p[1];) {
			char *e = strchr(p + 1, '\n');

			if (!e || strcmp(p, "\nend\n") == 0)
				break;
			*e = '\0';
			if (mlc_http_cookie_add(a->h, p + 1) < 0)
				mlc_warn("--session-in: a cookie of the session was not taken");
			*e = '\n';
		}
		secret_free(a->token);
		a->token = secret_dup(tok, strlen(tok));
		a->handed = 0;
		ok = 1;
	}
	sodium_memzero(buf, sizeof buf);
	sodium_memzero(tok, sizeof tok);
	return ok;
}

/* ---- one query, with its pages ----------------------------------------- */

/*
 * A read is ordered (aggregation.orderBy) by the table's key, after the
 * incremental columns for an incremental rule, and remembers one thing:
 * the position of the last row it wrote.  A row is written only if it
 * comes strictly after that position, so a row the server sends again
 * (its pages shifted: rows were inserted or deleted behind the read
 * position between two requests) is dropped, with constant memory.  A
 * read that has to start over (token refused, JAS_MSG347, a failed next
 * page) asks again with a fresh query for the rows after that position
 * (form 0: an OR of ANDs in complexQuery; if AIS refuses it, form 1: the
 * first order column >= its value; form 2: no condition, the rows up to
 * the position skipped here), so every token adds rows and a table of any
 * size is read whatever the token's lifetime.  Only a start-over that adds
 * no row counts towards the limit.  A query without an order (a [sums]
 * table outside the catalog) restarts from its first page, at most
 * MAX_RESTARTS times, and its caller forgets what the pages gave.
 */

#define MAX_RESTARTS 5

void
mlc_ais_query_init(struct mlc_ais_query *q)
{
	memset(q, 0, sizeof *q);
	mlc_buf_init(&q->qobj);
	mlc_jde_pos_init(&q->last);
	mlc_jde_pos_init(&q->cur);
	mlc_jde_pos_init(&q->prev);
}

void
mlc_ais_query_free(struct mlc_ais_query *q)
{
	mlc_buf_free(&q->qobj);
	mlc_jde_pos_free(&q->last);
	mlc_jde_pos_free(&q->cur);
	mlc_jde_pos_free(&q->prev);
}

/* The conditions as a query object: {"autoFind":true,"matchType":..,
 * "condition":[...]}, or nothing without conditions. */
void
mlc_ais_query_obj(struct mlc_buf *b, const char *table, const char *match,
		  const struct mlc_jde_cond *c, size_t nc, const struct mlc_jde_datefmt *df,
		  const char *extra_cond)
{
	mlc_buf_reset(b);
	if (!nc && !(extra_cond && *extra_cond))
		return;
	mlc_buf_adds(b, "{\"autoFind\":true,\"matchType\":");
	mlc_buf_adds(b, match && strcmp(match, "any") == 0 ? "\"MATCH_ANY\"" : "\"MATCH_ALL\"");
	mlc_buf_adds(b, ",\"condition\":[");
	for (size_t i = 0; i < nc; i++) {
		if (i)
			mlc_buf_addc(b, ',');
		mlc_jde_cond_json(b, table, &c[i], df);
	}
	if (extra_cond && *extra_cond) {
		if (nc)
			mlc_buf_addc(b, ',');
		mlc_buf_adds(b, extra_cond);
	}
	mlc_buf_adds(b, "]}");
}

/* Whether the read pages by query: [ais] paging = query, or after the
 * pages shifted; only while AIS takes the exact after-last condition (a
 * weaker one would give the same rows again and again). */
static int
by_query(const struct mlc_ais *a, const struct mlc_ais_query *q)
{
	return q->norder && q->form == 0 && (a->by_query || q->shifted);
}

/* A BROWSE request; after: only the rows after q->last. */
static void
request_body(const struct mlc_ais *a, struct mlc_ais_query *q, int after, struct mlc_buf *b)
{
	struct mlc_buf ab;

	mlc_buf_reset(b);
	mlc_buf_adds(b, "{\"targetName\":");
	mlc_buf_json_str(b, q->table, strlen(q->table));
	mlc_buf_adds(b, ",\"targetType\":\"table\",\"dataServiceType\":\"BROWSE\","
	             "\"outputType\":\"GRID_DATA\",\"aliasNaming\":true,\"findOnEntry\":\"TRUE\"");
	if (q->rcids && *q->rcids) {
		mlc_buf_adds(b, ",\"returnControlIDs\":");
		mlc_buf_json_str(b, q->rcids, strlen(q->rcids));
	}
	/* Paging by query keeps no result set open on the server. */
	mlc_buf_printf(b, ",\"maxPageSize\":\"%ld\",\"enableNextPageProcessing\":%s,"
	               "\"nextPageTimeInterval\":\"0\"", q->pagesize,
	               by_query(a, q) ? "false" : "true");
	mlc_buf_init(&ab);
	after = after && q->norder && q->last.n && q->form < 2;
	if (after && (!q->qobj.len || !q->match_any) &&
	    mlc_jde_after_cond(&ab, q->table, q->order, &q->last, &a->df, q->form) == 0) {
		/* One condition: it joins the list, no complexQuery needed
		 * (a server that cannot express one still gets this). */
		if (q->qobj.len) {
			mlc_buf_adds(b, ",\"query\":");
			mlc_buf_add(b, q->qobj.p, q->qobj.len - 2);
			mlc_buf_addc(b, ',');
			mlc_buf_add(b, ab.p, ab.len);
			mlc_buf_adds(b, "]}");
		} else {
			mlc_buf_adds(b, ",\"query\":{\"autoFind\":true,\"matchType\":\"MATCH_ALL\","
			             "\"condition\":[");
			mlc_buf_add(b, ab.p, ab.len);
			mlc_buf_adds(b, "]}");
		}
	} else if (after &&
	           mlc_jde_after_json(&ab, q->table, q->order, &q->last, &a->df, q->form) == 0) {
		if (q->qobj.len) {
			/* Both as complexQuery items joined by AND: unambiguous
			 * whatever the conditions' matchType. */
			mlc_buf_adds(b, ",\"query\":{\"autoFind\":true,\"matchType\":\"MATCH_ALL\","
			             "\"complexQuery\":[{\"andOr\":\"AND\",\"query\":");
			mlc_buf_add(b, q->qobj.p, q->qobj.len);
			mlc_buf_adds(b, "},{\"andOr\":\"AND\",\"query\":");
			mlc_buf_add(b, ab.p, ab.len);
			mlc_buf_adds(b, "}]}");
		} else {
			mlc_buf_adds(b, ",\"query\":{\"autoFind\":true,");
			mlc_buf_add(b, ab.p + 1, ab.len - 1);
		}
	} else if (q->qobj.len) {
		mlc_buf_adds(b, ",\"query\":");
		mlc_buf_add(b, q->qobj.p, q->qobj.len);
	}
	mlc_buf_free(&ab);
	if (q->norder) {
		mlc_buf_addc(b, ',');
		mlc_jde_orderby_json(b, q->table, q->order, q->norder);
	}
	mlc_buf_addc(b, '}');
}

/* One member of a /next body; a number when asked and it is one. */
static void
next_member(struct mlc_buf *b, int *first, const char *name, const char *value, int num)
{
	if (!value)
		return;
	if (!*first)
		mlc_buf_addc(b, ',');
	*first = 0;
	mlc_buf_json_str(b, name, strlen(name));
	mlc_buf_addc(b, ':');
	if (num && *value && strspn(value, "0123456789") == strlen(value) && strlen(value) < 16)
		mlc_buf_adds(b, value);
	else
		mlc_buf_json_str(b, value, strlen(value));
}

static const char *
nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/*
 * The request for the next page: the URL is the configured server plus
 * the path of the page's link, without its query string (which carries
 * the token: a proxy would log it); the body has the fields Oracle
 * documents for /v2/dataservice/next (reference 3.1): formOID, fullGridId,
 * stackId, stateId, rid, outputType, returnControlIDs, nextPageTimeInterval
 * and deviceName; the token goes in the jde-AIS-Auth header only.  The ids
 * come from the page itself, else from the link; nothing else of the link
 * is copied.  0, or -1 when the page names no result set.
 */
static int
next_request(const struct mlc_ais *a, const struct mlc_ais_query *q, const struct mlc_jde_page *pg,
             struct mlc_buf *url, struct mlc_buf *b)
{
	char **names = NULL, **values = NULL;
	size_t n = 0;
	const char *stack, *state, *rid, *grid, *form, *rc, *path = NULL, *q0;
	int first = 1, rc_ok = -1;

	if (pg->next) {
		if ((q0 = strchr(pg->next, '?')) &&
		    mlc_form_parse(q0 + 1, strlen(q0 + 1), &names, &values, &n) < 0)
			n = 0;
		path = strstr(pg->next, "/jderest/");
	}
#define HREF(k) (n ? nonempty(mlc_form_get(names, values, n, k)) : NULL)
	stack = nonempty(pg->stack_id) ? pg->stack_id : HREF("stackId");
	state = nonempty(pg->state_id) ? pg->state_id : HREF("stateId");
	rid = nonempty(pg->rid) ? pg->rid : HREF("rid");
	grid = nonempty(pg->grid_id) ? pg->grid_id : HREF("fullGridId");
	form = HREF("formOID") ? HREF("formOID") : q->table;
	rc = q->rcids && *q->rcids ? q->rcids : n ? mlc_form_get(names, values, n, "returnControlIDs")
	                                          : NULL;
#undef HREF
	if (stack && state && rid) {
		mlc_buf_reset(url);
		mlc_buf_adds(url, a->base);
		if (path)
			mlc_buf_add(url, path, strcspn(path, "?;#"));
		else
			mlc_buf_adds(url, "/jderest/v2/dataservice/next");
		mlc_buf_reset(b);
		mlc_buf_addc(b, '{');
		next_member(b, &first, "formOID", form, 0);
		next_member(b, &first, "fullGridId", grid, 0);
		next_member(b, &first, "stackId", stack, 1);
		next_member(b, &first, "stateId", state, 1);
		next_member(b, &first, "rid", rid, 0);
		next_member(b, &first, "outputType", "GRID_DATA", 0);
		next_member(b, &first, "returnControlIDs", rc, 0);
		next_member(b, &first, "nextPageTimeInterval", "0", 0);
		next_member(b, &first, "deviceName", a->device, 0);
		mlc_buf_addc(b, '}');
		rc_ok = 0;
	}
	if (n)
		mlc_form_free(names, values, n);
	return rc_ok;
}

static void
order_text(const struct mlc_ais_query *q, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < q->norder && o + 1 < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? " " : "", q->order[i]);
}

/* A page of 200 that is no page of the table asked for, or holds AIS's
 * errors: the run stops, with AIS's own words where it gave some. */
static void
page_check(const struct mlc_ais_query *q, const struct mlc_http_resp *r,
           const struct mlc_jde_page *pg, const char *what)
{
	char d[1024];

	if (pg->error)
		mlc_ais_fatal(MLC_EX_DATAERR, "%s: AIS reported %d error%s: %s", what, pg->nerrors,
		              pg->nerrors == 1 ? "" : "s", pg->error);
	if ((!pg->found || strcmp(pg->target, q->table) != 0) && service_error(r, d, sizeof d))
		mlc_ais_fatal(MLC_EX_DATAERR, "%s: HTTP 200 without fs_DATABROWSE_%s: AIS says: %s",
		              what, q->table, d);
	if (!pg->found || strcmp(pg->target, q->table) != 0)
		mlc_ais_fatal(MLC_EX_DATAERR, "%s: the response has no fs_DATABROWSE_%s", what,
		              q->table);
	if (!pg->rowset)
		mlc_ais_fatal(MLC_EX_DATAERR, "%s: the response has no data.gridData.rowset", what);
}

/* The page's rows to q->row, in order, those up to the last one written
 * dropped (a shifted page, or a condition the server did not apply); 1 if
 * any row was new. */
static int
page_rows(struct mlc_ais_query *q, const struct mlc_jde_page *pg, const char *what,
          const char *ord, int first, int resumed, const char *now)
{
	size_t pos = 0, nrow = 0, rn;
	const char *row;
	char e[256];
	int rc, page_new = 0;

	while ((rc = mlc_jde_page_row(pg, &pos, &row, &rn)) == 1) {
		if (*stopp)
			mlc_ais_interrupted();
		nrow++;
		if (q->norder) {
			if (mlc_jde_pos_read(&q->cur, q->table, q->order, q->norder, row, rn, e,
			                     sizeof e) < 0)
				mlc_ais_fatal(MLC_EX_DATAERR, "%s: %s (the read is ordered by %s)", what, e,
				              ord);
			/* One page is one fetch of an ordered result: a row not
			 * after its predecessor means the server's order is not
			 * the one asked for (or the key is not unique), and
			 * dropping rows by position would lose some. */
			if (nrow > 1 && mlc_jde_pos_cmp(&q->cur, &q->prev) <= 0)
				mlc_ais_fatal(MLC_EX_DATAERR, "%s: row %zu is not after row %zu in the order "
				              "asked for (%s): AIS ignored the order, or these columns are "
				              "not a unique key", what, nrow, nrow - 1, ord);
			mlc_jde_pos_copy(&q->prev, &q->cur);
			if (q->last.n && mlc_jde_pos_cmp(&q->cur, &q->last) <= 0) {
				q->repeats++;
				if (!first) {
					q->shifted = 1;
				} else if (resumed && q->form == 0) {
					/* the exact condition was not applied */
					q->form = q->norder > 1 ? 1 : 2;
				}
				continue;
			}
			mlc_jde_pos_copy(&q->last, &q->cur);
			page_new = 1;
		}
		q->row(q->arg, row, rn, now);
	}
	if (rc < 0)
		mlc_ais_fatal(MLC_EX_DATAERR, "%s: a rowset element is not an object", what);
	return page_new;
}

/* One more start-over of the query, or the end of trying: an ordered read
 * counts only start-overs that brought no new row; an unordered one tells
 * its caller (q->restart), which drops what it had. */
static void
start_over(struct mlc_ais_query *q, int *restarts, int *progress, const char *what)
{
	if (q->norder) {
		if (*progress)
			*restarts = 0;
		*progress = 0;
		if (++*restarts > MAX_RESTARTS)
			mlc_ais_fatal(MLC_EX_UNAVAILABLE, "%s: the query started over %d times without "
			              "a new row; giving up", what, MAX_RESTARTS);
	} else {
		if (++*restarts > MAX_RESTARTS)
			mlc_ais_fatal(MLC_EX_UNAVAILABLE, "%s: the query had to restart %d times; "
			              "giving up", what, MAX_RESTARTS);
		if (q->restart)
			q->restart(q->arg);
	}
}

void
mlc_ais_query_run(struct mlc_ais *a, struct mlc_ais_query *q)
{
	struct mlc_http_resp r;
	struct mlc_retry rt;
	struct mlc_buf url, body;
	int first = 1, resumed = 0, auth_fails = 0, restarts = 0, stalls = 0, progress = 0;
	int warned_shift = 0;
	char d[1024], e[256], what[160], ord[256];

	mlc_buf_init(&url);
	mlc_buf_init(&body);
	mlc_http_resp_init(&r);
	mlc_retry_init(&rt);
	q->last.n = 0;
	q->form = 0;
	q->refused = 0;
	q->repeats = 0;
	q->shifted = 0;
	order_text(q, ord, sizeof ord);
	if (a->dry) {
		mlc_buf_printf(&url, "%s/jderest/v2/dataservice", a->base);
		request_body(a, q, 0, &body);
		dry_print(url.p, body.p);
		goto out;
	}
restart:
	if (!a->token)
		mlc_ais_login(a);
	mlc_buf_reset(&url);
	mlc_buf_printf(&url, "%s/jderest/v2/dataservice", a->base);
	resumed = q->last.n > 0;
	request_body(a, q, resumed, &body);
	first = 1;
	for (;;) {
		struct mlc_jde_page pg;
		enum mlc_retry_class c;
		char now[32];
		long delay;
		int page_new = 0;

		if (*stopp)
			mlc_ais_interrupted();
		snprintf(what, sizeof what, "%s %s", q->table, !first ? "next page" :
		         resumed ? "query after the last row" : "query");
		post(a, url.p, body.p, &r);
		if (r.outcome == MLC_HTTP_DONE && r.status == 200) {
			if (mlc_jde_page_parse(r.body.p, r.body.len, &pg, e, sizeof e) < 0)
				mlc_ais_fatal(MLC_EX_DATAERR, "%s: %s", what, e);
			if (pg.error && strstr(pg.error, "JAS_MSG347")) {
				mlc_jde_page_free(&pg);
				goto expired;
			}
			if (pg.error && first && !resumed && q->may_refuse) {
				/* refused before any row: the caller asks otherwise */
				mlc_warn("%s: AIS reported an error (%s)", what, pg.error);
				q->refused = 1;
				mlc_jde_page_free(&pg);
				break;
			}
			if (pg.error && first && resumed && q->form < 2) {
				/* The server may not express the condition: ask
				 * with a simpler one; rows up to the last one
				 * written are skipped here all the same. */
				q->form = q->form == 0 && q->norder > 1 ? 1 : 2;
				mlc_warn("%s: AIS reported an error (%s): asking again with %s", what,
				         pg.error, q->form == 1 ? "a condition on the first order column "
				         "only" : "no condition (the rows already written are skipped)");
				mlc_jde_page_free(&pg);
				request_body(a, q, 1, &body);
				continue;
			}
			page_check(q, &r, &pg, what);
			auth_fails = 0;
			mlc_retry_init(&rt);
			mlc_time_now_text(now);
			if ((page_new = page_rows(q, &pg, what, ord, first, resumed, now)))
				progress = 1;
			if (!pg.more) {
				sodium_memzero(r.body.p, r.body.len);
				mlc_jde_page_free(&pg);
				break;
			}
			if (q->shifted && !warned_shift) {
				warned_shift = 1;
				mlc_warn("%s: the pages shifted (rows were added or removed behind the "
				         "read position): rows already written are dropped, and the rest "
				         "is read with queries after the last row written", what);
			}
			if (by_query(a, q) || next_request(a, q, &pg, &url, &body) < 0) {
				if (!(q->norder && q->form == 0))
					mlc_ais_fatal(MLC_EX_DATAERR, "%s: moreRecords is true but there is no next "
						      "link", what);
				/* The same query again would loop: only a page that
				 * brought new rows may be followed by another query. */
				if (page_new)
					stalls = 0;
				else if (++stalls > MAX_RESTARTS)
					mlc_ais_fatal(MLC_EX_UNAVAILABLE, "%s: %d pages in a row without a new row; "
						      "giving up", what, MAX_RESTARTS + 1);
				/* Page on with a query after the last row. */
				mlc_buf_reset(&url);
				mlc_buf_printf(&url, "%s/jderest/v2/dataservice", a->base);
				request_body(a, q, 1, &body);
				resumed = 1;
				first = 1;
			} else {
				first = 0;
			}
			/* The body and the link held the token. */
			if (pg.next)
				sodium_memzero(pg.next, strlen(pg.next));
			sodium_memzero(r.body.p, r.body.len);
			mlc_jde_page_free(&pg);
			continue;
		}
		if (is_expired(&r))
			goto expired;
		c = mlc_retry_classify(&r, 1);
		describe(&r, d, sizeof d);
		/* 400, or 500 (the data service's documented statuses, a
		 * refusal's status unverified): a simpler query is right either
		 * way, and an outage goes on to fail the simpler one */
		if (first && !resumed && q->may_refuse && r.outcome == MLC_HTTP_DONE &&
		    (r.status == 400 || r.status == 500)) {
			mlc_warn("%s: %s", what, d);
			q->refused = 1;
			break;
		}
		if (first && resumed && q->form < 2 && r.outcome == MLC_HTTP_DONE && r.status == 400) {
			q->form = q->form == 0 && q->norder > 1 ? 1 : 2;
			mlc_warn("%s: %s: asking again with a simpler condition", what, d);
			request_body(a, q, 1, &body);
			continue;
		}
		if (c == MLC_RETRY_AUTH) {
			if (++auth_fails >= 2)
				mlc_ais_fatal(MLC_EX_NOPERM, "%s: the token was refused twice in a row, the "
					      "second time just after a new login: %s (the password was "
					      "accepted; a token refused as soon as it is issued points at "
					      "the user's permissions for %s, or at a session the server "
					      "does not keep)", what, d, q->table);
			mlc_warn("%s: token refused (%s): logging in again and %s", what, d,
			         q->norder && q->last.n ? "resuming after the last row written"
			                                : "restarting the query");
			secret_free(a->token);
			a->token = NULL;
			goto again;
		}
		if (c == MLC_RETRY_NO) {
			if (r.outcome == MLC_HTTP_DONE)
				mlc_ais_fatal(r.status == 400 || r.status == 415 ? MLC_EX_SOFTWARE : MLC_EX_DATAERR,
					      "%s: %s", what, d);
			fatal_transport(&r, what);
		}
		if ((delay = mlc_retry_next(&rt, r.retry_after_ms)) < 0)
			mlc_ais_fatal(MLC_EX_UNAVAILABLE, "%s: AIS unavailable after %d attempts: %s", what,
				      rt.attempt, d);
		/* A failed next page leaves the server's position unknown (it
		 * may have moved on): never send it again, start over. */
		mlc_warn("%s: %s; %s in %ld ms", what, d, first ? "retrying" :
		         q->norder && q->last.n ? "resuming after the last row written" :
		         "restarting the query", delay);
		mlc_retry_sleep(delay, stopp);
		if (first)
			continue;
		goto again;
expired:
		mlc_warn("%s: query results expired (JAS_MSG347): %s", what,
		         q->norder && q->last.n ? "resuming after the last row written"
		                                : "restarting the query");
again:
		start_over(q, &restarts, &progress, what);
		goto restart;
	}
out:
	mlc_buf_free(&url);
	mlc_buf_free(&body);
	mlc_http_resp_free(&r);
}

/* The read's order: the incremental columns (if any), then the key
 * columns of spec (copied into *buf).  The number of columns, 0 if spec
 * is NULL or bad. */
size_t
mlc_ais_read_order(const char *spec, const char *wm_date, const char *wm_time, const char **v,
		   char **buf)
{
	const char *kv[MLC_JDE_MAXKEY];
	size_t n = 0, k;

	*buf = NULL;
	if (!spec)
		return 0;
	if (wm_date)
		v[n++] = wm_date;
	if (wm_time)
		v[n++] = wm_time;
	*buf = mlc_xstrdup(spec);
	k = mlc_ais_words(*buf, kv, MLC_JDE_MAXKEY);
	if (k == 0 || k > MLC_JDE_MAXKEY) {
		free(*buf);
		*buf = NULL;
		return 0;
	}
	/* a key column that is also an incremental column (DGJ) sorts once */
	for (size_t i = 0; i < k; i++) {
		size_t j;

		for (j = 0; j < n && strcmp(kv[i], v[j]) != 0; j++)
			;
		if (j == n)
			v[n++] = kv[i];
	}
	return n;
}


/* ---- configuration and credentials ------------------------------------- */

void
mlc_ais_config(struct mlc_conf *conf)
{
	char err[1024];
	int missing = 0;
	const char *path = mlc_config_path();
	static const char *const ais_keys[] = {
		"url", "user", "environment", "role", "device", "ca_bundle", "timeout", "paging",
		"allow_plain_http", NULL
	};

	if (mlc_conf_load(conf, path, err, sizeof err, &missing) < 0)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s", err);
	for (size_t i = 0; i < conf->n; i++) {
		const struct mlc_conf_entry *e = &conf->v[i];
		size_t k;

		if (strcmp(e->section, "ais") != 0)
			continue;
		for (k = 0; ais_keys[k]; k++)
			if (strcmp(e->key, ais_keys[k]) == 0)
				break;
		if (!ais_keys[k])
			mlc_ais_fatal(MLC_EX_CONFIG, "%s:%u: unknown key \"%s\" in [ais]", path, e->line, e->key);
	}
}

static const char *
ais_get(const struct mlc_conf *conf, const char *key, const char *def, int required)
{
	const char *v = mlc_conf_get(conf, "ais", key);

	if (v && *v)
		return v;
	if (required)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s: [ais] %s is missing", mlc_config_path(), key);
	return def;
}

void
mlc_ais_open(struct mlc_ais *a, const struct mlc_conf *conf, int dry)
{
	struct mlc_http_opts ho;
	const char *url = ais_get(conf, "url", NULL, 1), *t;
	char err[512];
	size_t n;

	memset(a, 0, sizeof *a);
	memset(&ho, 0, sizeof ho);
	a->dry = dry;
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	a->base = mlc_xstrndup(url, n);
	/* Plain http to loopback (a simulator, a tunnel's end) crosses no
	 * network.  To any other host the password and the data would cross
	 * it in clear: many plant AIS servers do run on http, so it is not
	 * refused outright, but only when the configuration says so, with a
	 * warning on every run. */
	a->policy = MLC_HTTP_ALLOW_HTTP_LOOPBACK;
	if (mlc_http_url_ok(a->base, a->policy, err, sizeof err) < 0) {
		const char *plain = ais_get(conf, "allow_plain_http", "no", 0);

		if (strcmp(plain, "yes") != 0 && strcmp(plain, "no") != 0)
			mlc_ais_fatal(MLC_EX_CONFIG, "[ais] allow_plain_http \"%s\": expected yes or no",
				      plain);
		if (strncasecmp(a->base, "http://", 7) != 0 ||
		    mlc_http_url_ok(a->base, MLC_HTTP_ALLOW_HTTP, err, sizeof err) < 0)
			mlc_ais_fatal(MLC_EX_CONFIG, "[ais] url: %s", err);
		if (strcmp(plain, "yes") != 0)
			mlc_ais_fatal(MLC_EX_CONFIG, "[ais] url %s is plain http to a host that is not "
				      "loopback: the AIS password and the data would cross the network "
				      "unencrypted.  Use https:// (with [ais] ca_bundle for an internal "
				      "CA), or set [ais] allow_plain_http = yes to accept that", a->base);
		a->policy = MLC_HTTP_ALLOW_HTTP;
		mlc_warn("warning: [ais] url %s is plain http (allow_plain_http = yes): the AIS "
		         "password and the data cross the network unencrypted", a->base);
	}
	a->user = ais_get(conf, "user", NULL, 1);
	a->env = ais_get(conf, "environment", NULL, 1);
	a->role = ais_get(conf, "role", "*ALL", 0);
	a->device = ais_get(conf, "device", "ml-connector", 0);
	mlc_jde_datefmt_set(&a->df, "MM/dd/yyyy", "/");
	ho.cainfo = ais_get(conf, "ca_bundle", NULL, 0);
	if (ho.cainfo && access(ho.cainfo, R_OK) != 0)
		mlc_ais_fatal(MLC_EX_CONFIG, "[ais] ca_bundle %s: %s", ho.cainfo, strerror(errno));
	if ((t = ais_get(conf, "timeout", NULL, 0))) {
		char *end;
		long s = strtol(t, &end, 10);

		if (*end || s < 1 || s > 3600)
			mlc_ais_fatal(MLC_EX_CONFIG, "[ais] timeout \"%s\": expected seconds (1-3600)", t);
		ho.timeout_ms = s * 1000;
	} else {
		ho.timeout_ms = 60000;
	}
	if ((t = ais_get(conf, "paging", NULL, 0))) {
		if (strcmp(t, "query") == 0)
			a->by_query = 1;
		else if (strcmp(t, "next") != 0)
			mlc_ais_fatal(MLC_EX_CONFIG, "[ais] paging \"%s\": expected next or query", t);
	}
	ho.url_policy = a->policy;
	/* A load balancer that pins the session with a cookie must see it
	 * again on every call of the run (kept in memory only). */
	ho.cookies = 1;
	if (dry)
		return;
	a->h = mlc_http_new(&ho);
	session = a;
}

void
mlc_ais_count(struct mlc_ais *a, struct mlc_store *st)
{
	char err[512], ts[32];
	const char *dir;
	struct mlc_store *s = st;
	int code;

	if (!a->count_rule || a->requests <= 0 || a->dry)
		return;
	mlc_time_now_text(ts);
	if (!s && (!(dir = mlc_state_dir(NULL, err, sizeof err)) ||
	           !(s = mlc_store_open(dir, err, sizeof err, &code)))) {
		mlc_warn("the count of AIS requests is not recorded: %s", err);
	} else {
		mlc_store_doing(s, "count the AIS requests");
		if (mlc_trail_metric_put(s, 0, "mlc_remote_requests_total", a->count_rule, NULL,
		                         NULL, "ais", (double)a->requests, ts) < 0)
			mlc_warn("the count of AIS requests is not recorded (above)");
	}
	if (s != st)
		mlc_store_close(s);
	a->requests = 0;
}

void
mlc_ais_close(struct mlc_ais *a)
{
	logout(a);
	session = NULL;
	if (a->h)
		mlc_http_free(a->h);
	secret_free(a->password);
	free(a->base);
}

struct mlc_store *
mlc_ais_store_open(void)
{
	char err[512];
	int code;
	const char *dir = mlc_state_dir(NULL, err, sizeof err);
	struct mlc_store *s;

	if (!dir)
		mlc_ais_fatal(MLC_EX_CONFIG, "%s", err);
	if (!(s = mlc_store_open(dir, err, sizeof err, &code)))
		mlc_ais_fatal(code, "%s", err);
	return s;
}

void
mlc_ais_password(struct mlc_ais *a, struct mlc_store *st)
{
	char err[512];
	int code;
	size_t len;
	struct mlc_vault *v = mlc_vault_open(st, NULL, err, sizeof err, &code);

	if (!v)
		mlc_ais_fatal(code == MLC_EX_NOINPUT ? MLC_EX_CONFIG : code, "vault: %s", err);
	if (!(a->password = mlc_vault_get(v, "ais.password", &len, &code))) {
		mlc_vault_close(v);
		if (code == MLC_EX_NOINPUT)
			mlc_ais_fatal(MLC_EX_CONFIG, "vault: no secret ais.password (store it with: "
				      "mlc-vault set ais.password)");
		mlc_ais_fatal(code, "vault: cannot read ais.password");
	}
	mlc_vault_close(v);
}

size_t
mlc_ais_words(char *buf, const char **v, size_t max)
{
	size_t n = 0;

	for (char *save = NULL, *w = strtok_r(buf, " \t,", &save); w;
	     w = strtok_r(NULL, " \t,", &save)) {
		if (n == max)
			return max + 1;
		v[n++] = w;
	}
	return n;
}


void
mlc_ais_rcid_add(struct mlc_buf *rc, const char *table, const char *col)
{
	char id[64];
	size_t l;

	snprintf(id, sizeof id, "%s.%s", table, col);
	l = strlen(id);
	/* skip duplicates: "|T.C|" inside "|...|" */
	if (rc->len) {
		const char *p = rc->p;

		while ((p = strstr(p, id))) {
			if ((p == rc->p || p[-1] == '|') && (p[l] == '|' || p[l] == '\0'))
				return;
			p += l;
		}
		mlc_buf_addc(rc, '|');
	}
	mlc_buf_adds(rc, id);
}

