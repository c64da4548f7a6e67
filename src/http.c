/*
 * http.c — libcurl, the one way out.
 *
 * One easy handle per struct mlc_http, reused for every request so that the
 * connection stays open (keep-alive).  Between requests the handle is not
 * reset (curl_easy_reset would drop nothing we need but would force every
 * policy option to be set again and is easy to forget); instead every
 * per-request option is set each time and the ones a request does not use
 * are cleared, so nothing leaks from one request into the next.
 *
 * The policy, identical for mlc_http_request and for raw handles prepared
 * with mlc_http_setup_easy (twilio-send's multi interface):
 *   - https only; http only when the caller allows it, and then maybe only
 *     to loopback; no redirects followed; no credentials in URLs;
 *   - peer and host verification always on (there is no switch), optional
 *     customer CA bundle;
 *   - connect and total timeouts; CURLOPT_NOSIGNAL (callers ignore SIGPIPE);
 *   - never CURLOPT_FAILONERROR: error bodies carry the codes we need;
 *   - the trace prints header lines and curl's informational text, never
 *     bodies, with credentials, cookies and token-like URL parameters
 *     replaced by REDACTED;
 *   - cookies only when asked (opts.cookies), in memory for the handle's
 *     life, never on disk.
 *
 * Outcome of a transfer (what the retry policy needs to know):
 *   DONE      a complete response with a status arrived.
 *   NOT_SENT  no byte of the request can have reached the server: resolve
 *             and connect failures, and timeouts or resets before the
 *             request went out.  The rule: the request counts as sent once
 *             CURLINFO_REQUEST_SIZE > 0 (curl counts the request header
 *             bytes it wrote) or CURLINFO_PRETRANSFER_TIME_T > 0 (the
 *             connection, TLS included, was ready and sending began).  In
 *             doubt a request counts as sent: UNKNOWN is the safe side.
 *   UNKNOWN   the request (maybe) left and no complete answer came: timeout,
 *             reset, empty reply, or a response cut short.  A status that
 *             did arrive is kept (a 201 cut short still created something).
 *   TLS       the certificate or handshake was refused: configuration.
 *   POLICY    the URL was refused (scheme, credentials, unsupported).
 *   ERROR     anything local, including a body over 64 MiB.
 *
 * Requests that must go at most once (mlc_http_once: Twilio's Messages
 * create, SendGrid's mail send).  libcurl sends a request again by itself,
 * inside one transfer, in these cases (curl 7.88, lib/transfer.c
 * Curl_retry_request and lib/multi.c):
 *   - a reused keep-alive connection dies before any response byte
 *     ("Connection died, retrying a fresh connect"), after the whole
 *     request was written or when the first write fails;
 *   - HTTP/2, which libcurl offers over https by ALPN (the simulators speak
 *     HTTP/1.1): the stream is refused (REFUSED_STREAM, or above a GOAWAY's
 *     last stream) or the server asks for HTTP/1.1 (HTTP_1_1_REQUIRED);
 *   - a 417 answer to "Expect: 100-continue", which curl 7.88 adds to bodies
 *     over 1 MiB unless the caller sends an empty "Expect:" header;
 *   - authentication negotiation (a 401 that picks another scheme) and
 *     redirects: neither can happen here (Basic and Bearer are sent at once,
 *     FOLLOWLOCATION is off).
 * The first is right for a stale socket and a GET, and wrong for a create:
 * the server may have received and acted on the first copy (tests/0711).
 * Every such re-send passes through curl's DO state again, where
 * CURLOPT_PREREQFUNCTION is called just before a request is issued on a
 * connection (verified on 7.88.1, tests/0300: once per issue, again after
 * the retry on a fresh connection and after a 417, with the easy and the
 * multi interface alike).  So the guard, whatever the reason: the
 * callback counts the issues of one transfer and refuses a second one
 * (CURL_PREREQFUNC_ABORT, CURLE_ABORTED_BY_CALLBACK) and the caller's own
 * policy decides (twilio-send looks the message up before it ever sends it
 * again).  The transfer ends NOT_SENT when the first copy was answered with
 * a 4xx (the 417: the server refused it before its body), else UNKNOWN when
 * any byte of it went out (request_sent), else NOT_SENT.  Connection reuse
 * stays on.  The guard cannot tell a refused HTTP/2 stream (which the server
 * promises it did not process) from a dead HTTP/1.1 connection (which it may
 * have): both end UNKNOWN, at the cost of a lookup, or of an e-mail reported
 * unknown, never of a message twice.  A read callback without a seek
 * callback (the rewind fails: CURLE_SEND_FAIL_REWIND) is weaker: it gives up
 * POSTFIELDS, and curl retries without a rewind when no body byte was
 * counted as written, so its soundness would rest on what a server makes
 * of headers that came without their body.  The prerequest callback
 * refuses every second issue, whatever was written.
 */
#include <ctype.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <curl/curl.h>

#include "mlc.h"

#define BODY_MAX ((size_t)64 << 20)

_Static_assert(sizeof(((struct mlc_http_resp *)0)->error) >= CURL_ERROR_SIZE,
               "resp.error must hold CURLOPT_ERRORBUFFER");

struct mlc_http {
	CURL *curl;
	struct mlc_http_opts o;
	char *cainfo, *user_agent; /* owned copies behind o's pointers */
};

static const char *const secret_headers[] = {
	"authorization", "proxy-authorization", "jde-ais-auth", "cookie", "set-cookie", NULL
};
static const char *const secret_params[] = {
	"token", "password", "pwd", "secret", "key", "sig", "signature", "auth", NULL
};

/* ---- init ---- */

static int global_done;

void
mlc_http_global_init(void)
{
	if (global_done)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		mlc_die(MLC_EX_SOFTWARE, "curl_global_init failed");
	global_done = 1;
}

const char *
mlc_http_outcome_name(enum mlc_http_outcome o)
{
	switch (o) {
	case MLC_HTTP_DONE: return "DONE";
	case MLC_HTTP_NOT_SENT: return "NOT_SENT";
	case MLC_HTTP_UNKNOWN: return "UNKNOWN";
	case MLC_HTTP_TLS: return "TLS";
	case MLC_HTTP_POLICY: return "POLICY";
	case MLC_HTTP_ERROR: return "ERROR";
	}
	return "ERROR";
}

/* ---- redaction ---- */

static int
name_in(const char *s, size_t n, const char *const *list)
{
	size_t i, k;

	for (i = 0; list[i]; i++) {
		if (strlen(list[i]) != n)
			continue;
		for (k = 0; k < n; k++)
			if (tolower((unsigned char)s[k]) != list[i][k])
				break;
		if (k == n)
			return 1;
	}
	return 0;
}

static void
redact_into(struct mlc_buf *b, const char *s, size_t n)
{
	size_t i = 0, start;

	while (i < n) {
		/* user:password@host after a scheme */
		if (i + 3 <= n && memcmp(s + i, "://", 3) == 0) {
			size_t j = i + 3, colon = 0, at = 0;

			for (; j < n && s[j] != '/' && s[j] != '?' && s[j] != '#' &&
			       !isspace((unsigned char)s[j]); j++) {
				if (s[j] == ':' && !colon && !at)
					colon = j;
				if (s[j] == '@')
					at = j;
			}
			mlc_buf_add(b, s + i, 3);
			i += 3;
			if (colon && at > colon) {
				mlc_buf_add(b, s + i, colon + 1 - i);
				mlc_buf_adds(b, "REDACTED");
				i = at;
			}
			continue;
		}
		if (s[i] != '?') {
			mlc_buf_addc(b, s[i++]);
			continue;
		}
		/* a query: name=value pairs separated by & or ;, up to white space or # */
		mlc_buf_addc(b, s[i++]);
		while (i < n && s[i] != '#' && !isspace((unsigned char)s[i])) {
			size_t eq = 0;

			start = i;
			while (i < n && s[i] != '&' && s[i] != ';' && s[i] != '#' &&
			       !isspace((unsigned char)s[i])) {
				if (s[i] == '=' && !eq)
					eq = i;
				i++;
			}
			if (eq && name_in(s + start, eq - start, secret_params)) {
				mlc_buf_add(b, s + start, eq + 1 - start);
				mlc_buf_adds(b, "REDACTED");
			} else {
				mlc_buf_add(b, s + start, i - start);
			}
			if (i < n && (s[i] == '&' || s[i] == ';'))
				mlc_buf_addc(b, s[i++]);
		}
	}
}

void
mlc_http_redact_url(const char *url, char *out, size_t outlen)
{
	struct mlc_buf b;

	if (!outlen)
		return;
	mlc_buf_init(&b);
	redact_into(&b, url, strlen(url));
	snprintf(out, outlen, "%s", b.p);
	mlc_buf_free(&b);
}

/* One header line for the trace: secret header values and URL parameters
 * replaced. */
static void
redact_line(struct mlc_buf *b, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);

	const char *eq;

	if (colon && name_in(s, (size_t)(colon - s), secret_headers)) {
		mlc_buf_add(b, s, (size_t)(colon - s) + 1);
		mlc_buf_adds(b, " REDACTED");
		return;
	}
	/* the cookie engine's own line: "Added cookie NAME="VALUE" for ..." */
	if (((n > 13 && memcmp(s, "Added cookie ", 13) == 0) ||
	     (n > 16 && memcmp(s, "Replaced cookie ", 16) == 0)) && (eq = memchr(s, '=', n))) {
		mlc_buf_add(b, s, (size_t)(eq - s) + 1);
		mlc_buf_adds(b, "REDACTED");
		return;
	}
	redact_into(b, s, n);
}

/* ---- trace ---- */

static int
trace_cb(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
	const char *mark;
	size_t i = 0;
	struct mlc_buf b;

	(void)c;
	(void)arg;
	switch (type) {
	case CURLINFO_TEXT: mark = "*"; break;
	case CURLINFO_HEADER_OUT: mark = ">"; break;
	case CURLINFO_HEADER_IN: mark = "<"; break;
	default: return 0; /* bodies and TLS records: never */
	}
	mlc_buf_init(&b);
	while (i < size) {
		size_t j = i, e;

		while (j < size && data[j] != '\n')
			j++;
		e = j;
		while (e > i && (data[e - 1] == '\r' || data[e - 1] == '\n'))
			e--;
		if (e > i) {
			mlc_buf_reset(&b);
			redact_line(&b, data + i, e - i);
			mlc_log(MLC_LOG_DEBUG, "%s %s", mark, b.p);
		}
		i = j + 1;
	}
	mlc_buf_free(&b);
	return 0;
}

/* ---- response capture ---- */

static size_t
body_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct mlc_http_resp *r = arg;
	size_t n = size * nmemb;

	if (n > BODY_MAX - r->body.len)
		return 0; /* CURLE_WRITE_ERROR: only this callback causes one */
	mlc_buf_add(&r->body, data, n);
	return n;
}

static int
hdr_is(const char *s, size_t n, const char *name, const char **val, size_t *vlen)
{
	size_t k = strlen(name), e;

	if (n <= k || s[k] != ':' || !name_in(s, k, (const char *const[]){ name, NULL }))
		return 0;
	s += k + 1;
	n -= k + 1;
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	e = n;
	while (e && isspace((unsigned char)s[e - 1]))
		e--;
	*val = s;
	*vlen = e;
	return 1;
}

static long
parse_retry_after(const char *v, size_t n)
{
	char tmp[128];
	size_t i;
	time_t t, now;

	if (!n || n >= sizeof tmp)
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	for (i = 0; i < n && isdigit((unsigned char)tmp[i]); i++)
		;
	if (i == n) {
		unsigned long long s = strtoull(tmp, NULL, 10);

		/* capped: 0x7fffffff ms is 24 days, far past any clamp */
		return s > 0x7fffffffULL / 1000 ? 0x7fffffffL : (long)s * 1000;
	}
	t = curl_getdate(tmp, NULL);
	if (t == (time_t)-1)
		return -1;
	now = time(NULL);
	if (t <= now)
		return 0;
	return t - now > 0x7fffffffL / 1000 ? 0x7fffffffL : (long)(t - now) * 1000;
}

static size_t
header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct mlc_http_resp *r = arg;
	size_t n = size * nmemb;
	const char *v;
	size_t vn;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue, say): forget the last one's */
		r->retry_after_ms = -1;
		r->ratelimit_reset = -1;
		r->message_id[0] = '\0';
	} else if (hdr_is(data, n, "retry-after", &v, &vn)) {
		r->retry_after_ms = parse_retry_after(v, vn);
	} else if (hdr_is(data, n, "x-ratelimit-reset", &v, &vn)) {
		char tmp[32];

		if (vn && vn < sizeof tmp) {
			char *end;
			long x;

			memcpy(tmp, v, vn);
			tmp[vn] = '\0';
			x = strtol(tmp, &end, 10);
			if (!*end && x >= 0)
				r->ratelimit_reset = x;
		}
	} else if (hdr_is(data, n, "x-message-id", &v, &vn)) {
		if (vn >= sizeof r->message_id)
			vn = sizeof r->message_id - 1;
		memcpy(r->message_id, v, vn);
		r->message_id[vn] = '\0';
	}
	return n;
}

void
mlc_http_resp_init(struct mlc_http_resp *r)
{
	memset(r, 0, sizeof *r);
	mlc_buf_init(&r->body);
	r->retry_after_ms = -1;
	r->ratelimit_reset = -1;
}

void
mlc_http_resp_free(struct mlc_http_resp *r)
{
	mlc_buf_free(&r->body);
}

/* Called by libcurl each time it is about to issue the request on a
 * connection; see "at most once" above. */
static int
prereq_cb(void *arg, char *remote_ip, char *local_ip, int remote_port, int local_port)
{
	struct mlc_http_resp *r = arg;

	(void)remote_ip;
	(void)local_ip;
	(void)remote_port;
	(void)local_port;
	if (++r->issues > 1 && r->once) {
		r->resend_refused = 1;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

void
mlc_http_once(struct mlc_http_resp *r)
{
	r->once = 1;
}

void
mlc_http_capture(void *curl, struct mlc_http_resp *r)
{
	CURL *c = curl;

	r->once = 0;
	r->issues = 0;
	r->resend_refused = 0;
	r->outcome = MLC_HTTP_ERROR;
	r->status = 0;
	mlc_buf_reset(&r->body);
	r->retry_after_ms = -1;
	r->ratelimit_reset = -1;
	r->message_id[0] = '\0';
	r->error[0] = '\0';
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);
	curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, prereq_cb);
	curl_easy_setopt(c, CURLOPT_PREREQDATA, r);
}

static int
request_sent(CURL *c)
{
	long reqsize = 0;
	curl_off_t pre = 0;

	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &reqsize);
	curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pre);
	return reqsize > 0 || pre > 0;
}

void
mlc_http_finish(void *curl, int curlcode, struct mlc_http_resp *r)
{
	CURL *c = curl;
	CURLcode rc = (CURLcode)curlcode;
	long status = 0;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	/* r may not outlive the transfer: the handle must not point at it */
	curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, (curl_prereq_callback)NULL);
	curl_easy_setopt(c, CURLOPT_PREREQDATA, (void *)NULL);
	if (r->resend_refused) {
		/* The status, if any, is the first copy's.  A 4xx to it (a 417 to
		 * Expect: 100-continue, sent before the body) refused it: not acted
		 * on.  Otherwise it went out and no answer came back. */
		if (status >= 400 && status < 500) {
			r->outcome = MLC_HTTP_NOT_SENT;
			snprintf(r->error, sizeof r->error,
			         "HTTP %ld, and libcurl was about to send the request again by "
			         "itself: not sent again", status);
		} else {
			r->outcome = request_sent(c) ? MLC_HTTP_UNKNOWN : MLC_HTTP_NOT_SENT;
			snprintf(r->error, sizeof r->error,
			         "no answer, and libcurl was about to send the request again by "
			         "itself (a reused connection died, or a refused stream): not "
			         "sent again, the first copy may have arrived");
		}
		return;
	}
	switch (rc) {
	case CURLE_OK:
		r->outcome = status > 0 ? MLC_HTTP_DONE : MLC_HTTP_ERROR;
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_LOGIN_DENIED:
		r->outcome = MLC_HTTP_POLICY;
		break;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		r->outcome = MLC_HTTP_NOT_SENT;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		r->outcome = MLC_HTTP_TLS;
		break;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
		/* A status that arrived is kept: a 201 cut short still created. */
		r->outcome = request_sent(c) ? MLC_HTTP_UNKNOWN : MLC_HTTP_NOT_SENT;
		break;
	case CURLE_WRITE_ERROR:
		r->outcome = MLC_HTTP_ERROR;
		snprintf(r->error, sizeof r->error, "response body larger than %zu MiB",
		         BODY_MAX >> 20);
		break;
	default:
		r->outcome = MLC_HTTP_ERROR;
		break;
	}
	if (r->outcome != MLC_HTTP_DONE && !r->error[0])
		snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
	/* curl's messages end with a newline at times */
	{
		size_t n = strlen(r->error);

		while (n && (r->error[n - 1] == '\n' || r->error[n - 1] == '\r'))
			r->error[--n] = '\0';
	}
	if (r->outcome == MLC_HTTP_DONE)
		r->error[0] = '\0';
}

/* ---- URL policy ---- */

static int
loopback_host(const char *h)
{
	struct in_addr a;

	if (strcasecmp(h, "localhost") == 0 || strcasecmp(h, "localhost.") == 0)
		return 1;
	if (strcmp(h, "[::1]") == 0)
		return 1;
	if (inet_pton(AF_INET, h, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127;
	return 0;
}

int
mlc_http_url_ok(const char *url, int policy, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	char shown[512];
	int ret = -1;

	mlc_http_redact_url(url, shown, sizeof shown);
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "%s: not a valid URL", shown);
		goto out;
	}
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	if (user || pass) {
		snprintf(err, errlen, "%s: credentials in a URL are refused", shown);
		goto out;
	}
	if (strcmp(scheme, "https") == 0) {
		ret = 0;
	} else if (strcmp(scheme, "http") == 0) {
		if (policy & MLC_HTTP_ALLOW_HTTP)
			ret = 0;
		else if ((policy & MLC_HTTP_ALLOW_HTTP_LOOPBACK) && loopback_host(host))
			ret = 0;
		else
			snprintf(err, errlen, "%s: plain http is refused%s", shown,
			         policy & MLC_HTTP_ALLOW_HTTP_LOOPBACK ? " except to loopback"
			                                              : " (https only)");
	} else {
		snprintf(err, errlen, "%s: scheme %s is refused (https only)", shown, scheme);
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(u);
	return ret;
}

/* ---- handles ---- */

static int
trace_on(const struct mlc_http_opts *o)
{
	const char *e = getenv("ML_CONNECTOR_TRACE");

	return !o->secret_url && (o->trace || (e && strcmp(e, "1") == 0));
}

int
mlc_http_setup_easy(void *curl, const struct mlc_http_opts *o, const char *url, char *err,
                    size_t errlen)
{
	CURL *c = curl;
	const char *protos;
	char ua[64];
	CURLcode rc = CURLE_OK;

	if (mlc_http_url_ok(url, o->url_policy, err, errlen) < 0)
		return -1;
	protos = o->url_policy & (MLC_HTTP_ALLOW_HTTP | MLC_HTTP_ALLOW_HTTP_LOOPBACK)
	             ? "http,https" : "https";
	snprintf(ua, sizeof ua, "ml-connector/%s", MLC_VERSION);

#define SET(opt, val) \
	do { \
		if (rc == CURLE_OK) \
			rc = curl_easy_setopt(c, opt, val); \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000L);
	SET(CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 30000L);
	SET(CURLOPT_PROTOCOLS_STR, protos);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->cainfo)
		SET(CURLOPT_CAINFO, o->cainfo);
	SET(CURLOPT_USERAGENT, o->user_agent ? o->user_agent : ua);
	SET(CURLOPT_FAILONERROR, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	if (trace_on(o)) {
		SET(CURLOPT_DEBUGFUNCTION, trace_cb);
		SET(CURLOPT_VERBOSE, 1L);
	} else {
		SET(CURLOPT_VERBOSE, 0L);
	}
#undef SET
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "curl_easy_setopt: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

struct mlc_http *
mlc_http_new(const struct mlc_http_opts *o)
{
	struct mlc_http *h;

	mlc_http_global_init();
	h = mlc_xcalloc(1, sizeof *h);
	h->curl = curl_easy_init();
	if (!h->curl) {
		mlc_warn("curl_easy_init failed");
		free(h);
		return NULL;
	}
	h->o = *o;
	/* libcurl's cookie engine without a file: cookies live as long as
	 * the handle and are never written anywhere (no COOKIEJAR). */
	if (o->cookies && curl_easy_setopt(h->curl, CURLOPT_COOKIEFILE, "") != CURLE_OK)
		mlc_warn("cannot keep cookies: libcurl without its cookie engine");
	if (o->cainfo)
		h->o.cainfo = h->cainfo = mlc_xstrdup(o->cainfo);
	if (o->user_agent)
		h->o.user_agent = h->user_agent = mlc_xstrdup(o->user_agent);
	return h;
}

/* The cookies of a handle, to hand its session to another process (ais.c's
 * hand-off): libcurl's own cookie-file lines, one a line, appended to b. */
size_t
mlc_http_cookies_get(struct mlc_http *h, struct mlc_buf *b)
{
	struct curl_slist *list = NULL;
	size_t n = 0;

	if (!h->o.cookies || curl_easy_getinfo(h->curl, CURLINFO_COOKIELIST, &list) != CURLE_OK)
		return 0;
	for (struct curl_slist *t = list; t; t = t->next) {
		if (strchr(t->data, '\n'))
			continue;
		mlc_buf_adds(b, t->data);
		mlc_buf_addc(b, '\n');
		n++;
	}
	curl_slist_free_all(list);
	return n;
}

int
mlc_http_cookie_add(struct mlc_http *h, const char *line)
{
	if (!h->o.cookies)
		return -1;
	return curl_easy_setopt(h->curl, CURLOPT_COOKIELIST, line) == CURLE_OK ? 0 : -1;
}

void
mlc_http_free(struct mlc_http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h->cainfo);
	free(h->user_agent);
	free(h);
}

int
mlc_http_request(struct mlc_http *h, const char *method, const char *url,
                 const char *const *headers, const char *body, size_t bodylen,
                 const char *user, const char *pass, struct mlc_http_resp *resp)
{
	CURL *c = h->curl;
	struct curl_slist *hl = NULL, *t;
	CURLcode rc;
	size_t i;

	mlc_http_capture(c, resp);
	if (mlc_http_setup_easy(c, &h->o, url, resp->error, sizeof resp->error) < 0) {
		resp->outcome = MLC_HTTP_POLICY;
		return -1;
	}
	for (i = 0; headers && headers[i]; i++) {
		if (!(t = curl_slist_append(hl, headers[i]))) {
			curl_slist_free_all(hl);
			snprintf(resp->error, sizeof resp->error, "out of memory");
			resp->outcome = MLC_HTTP_ERROR;
			return -1;
		}
		hl = t;
	}

	/* Clear what the last request may have set, then set this one's.
	 * POSTFIELDS switches the method to POST even when NULL, so it goes
	 * before HTTPGET. */
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, -1L);
	curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERNAME, user);
	curl_easy_setopt(c, CURLOPT_PASSWORD, user ? pass : NULL);
	/* no user: pass is a bearer token (SendGrid's API key) */
	curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, user ? NULL : pass);
	curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)(user || !pass ? CURLAUTH_BASIC : CURLAUTH_BEARER));

	if (!method || strcmp(method, "GET") == 0) {
		/* HTTPGET above */
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else {
		/* POSTFIELDS does not copy: body stays the caller's until we return */
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? bodylen : 0));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}

	rc = curl_easy_perform(c);
	mlc_http_finish(c, (int)rc, resp);

	/* Nothing of this request may stay referenced by the handle. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, -1L);
	curl_easy_setopt(c, CURLOPT_PASSWORD, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, (char *)NULL);
	curl_slist_free_all(hl);
	return resp->outcome == MLC_HTTP_DONE ? 0 : -1;
}
