/*
 * http-fixture-server — a scripted HTTP(S) server on loopback for the http
 * module's tests (libmicrohttpd, one thread per connection).
 *
 *   http-fixture-server --port N --port-file F --request-log F
 *                       [--tls-cert C --tls-key K] [--blackhole | --expect-417]
 *                       [--reply FILE]...
 *
 * Routes (any method):
 *   /status/NNN          reply NNN with {"status":NNN}
 *   /retry-after/N       429 with Retry-After: N
 *   /retry-after-date/N  429 with Retry-After: <HTTP-date now + N s>
 *   /message-id          202 with X-Message-Id and X-RateLimit-Reset
 *   /slow/MS             sleep MS ms, then 200
 *   /barrier/N           wait until N requests are at the barrier at once,
 *                        then 200 (504 if they are not within 30 s): proves
 *                        concurrency without measuring time
 *   /drop                read the request, close the connection unanswered
 *   /drop-reused         200 to the first request of a connection; a later
 *                        one is read and the connection closed unanswered
 *                        (a keep-alive connection that dies under a request)
 *   /expect-417          417 to a request sent with Expect: 100-continue,
 *                        before its body (as some proxies do); else 200
 *   /headers             200 with the request headers as a JSON object (raw)
 *   /echo                200 with the request body
 *   /big/N               200 with N bytes
 *   /short/N             201 announcing N bytes, closing after N/2
 *   anything else        404
 * With --reply (tests/sim/ scenarios, tests/0520), every request gets a
 * canned reply instead: the Nth request the Nth FILE, and the last FILE
 * again after that.  A FILE is a status line ("HTTP/1.1 201 Created" or
 * "201"), header lines, an empty line and the body, as on the wire
 * (LF or CRLF); no header is added but libmicrohttpd's own.
 * Every request is logged to the request log as one JSON line:
 *   {"conn":ID,"conn_req":N,"method":..,"url":..,"args":{..},"headers":{..},"body":..}
 * where ID numbers the TCP connection (keep-alive shows as a repeated ID)
 * and N counts the requests on it.
 *
 * --blackhole listens with a backlog of 0 and never accepts: the first
 * connection waits in the kernel's queue (the handshake completes, nothing
 * answers), later connection attempts are not answered at all.
 *
 * --expect-417 serves plain HTTP/1.1 by hand, one connection at a time:
 * a request sent with Expect: 100-continue gets 417 at once, before its
 * body, and the connection stays open (libmicrohttpd closes a connection
 * that answered before the body, and then libcurl does not retry); any
 * other request is read whole and answered 200 {"body_len":N}.  Logged as
 * {"conn":ID,"conn_req":N,"method":..,"url":..,"expect":..,"body_len":N}.
 *
 * The port is written to the port file once listening; SIGTERM or SIGINT
 * stops the server (exit 0).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../../sim/httpd.h"

static FILE *reqlog;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t id_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t bar_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bar_cv = PTHREAD_COND_INITIALIZER;
static unsigned long bar_waiting, bar_round;
static unsigned long next_conn; /* --expect-417's own connections (MHD's: httpd.c) */

#define MAX_REPLIES 16
struct canned {
	unsigned status;
	char *text;    /* the whole file, cut into the pieces below */
	char *hdr[64]; /* name, value, ..., NULL */
	const char *body;
	size_t bodylen;
};
static struct canned replies[MAX_REPLIES];
static unsigned nreplies, nserved;
static pthread_mutex_t reply_mu = PTHREAD_MUTEX_INITIALIZER;

struct kv {
	struct mlc_buf *b;
	int n;
};

static enum MHD_Result
add_kv(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct kv *k = cls;

	(void)kind;
	if (k->n++)
		mlc_buf_addc(k->b, ',');
	mlc_buf_json_str(k->b, key, strlen(key));
	mlc_buf_addc(k->b, ':');
	if (value)
		mlc_buf_json_str(k->b, value, strlen(value));
	else
		mlc_buf_adds(k->b, "null");
	return MHD_YES;
}

static void
add_values(struct mlc_buf *b, struct MHD_Connection *c, enum MHD_ValueKind kind)
{
	struct kv k = { b, 0 };

	mlc_buf_addc(b, '{');
	MHD_get_connection_values(c, kind, add_kv, &k);
	mlc_buf_addc(b, '}');
}

/* Count the request on its connection, log it; returns its number there. */
static unsigned long
log_request(struct MHD_Connection *c, const char *method, const char *url, const char *body,
            size_t bodylen)
{
	unsigned long conn_id, nreq = mlc_httpd_conn_request(c, &conn_id);
	struct mlc_buf b;

	mlc_buf_init(&b);
	mlc_buf_printf(&b, "{\"conn\":%lu,\"conn_req\":%lu,\"method\":", conn_id, nreq);
	mlc_buf_json_str(&b, method, strlen(method));
	mlc_buf_adds(&b, ",\"url\":");
	mlc_buf_json_str(&b, url, strlen(url));
	mlc_buf_adds(&b, ",\"args\":");
	add_values(&b, c, MHD_GET_ARGUMENT_KIND);
	mlc_buf_adds(&b, ",\"headers\":");
	add_values(&b, c, MHD_HEADER_KIND);
	mlc_buf_adds(&b, ",\"body\":");
	mlc_buf_json_str(&b, body, bodylen);
	mlc_buf_adds(&b, "}\n");
	if (reqlog) {
		pthread_mutex_lock(&log_mu);
		fwrite(b.p, 1, b.len, reqlog);
		fflush(reqlog);
		pthread_mutex_unlock(&log_mu);
	}
	mlc_buf_free(&b);
	return nreq;
}

static ssize_t
big_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	memset(buf, 'x', max);
	return (ssize_t)max;
}

/* Half of the announced length, then an error: MHD closes the connection. */
static ssize_t
short_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	uint64_t half = (uint64_t)(uintptr_t)cls / 2;

	if (pos >= half)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (max > half - pos)
		max = (size_t)(half - pos);
	memset(buf, 'y', max);
	return (ssize_t)max;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *body, size_t n,
      const char *const *hdrs)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	for (; hdrs && hdrs[0]; hdrs += 2)
		MHD_add_response_header(r, hdrs[0], hdrs[1]);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Cut the line at p (LF or CRLF) off; returns the next line. */
static char *
cut_line(char *p)
{
	char *nl = strchr(p, '\n');

	if (!nl)
		nl = p + strlen(p);
	if (nl > p && nl[-1] == '\r')
		nl[-1] = '\0';
	if (*nl)
		*nl++ = '\0';
	return nl;
}

static void
load_reply(struct canned *r, const char *path)
{
	char *p, *next, *colon;
	unsigned nh = 0;

	r->text = mlc_httpd_read_pem(path);
	p = r->text;
	next = cut_line(p);
	if (sscanf(p, "HTTP/%*s %u", &r->status) != 1 && sscanf(p, "%u", &r->status) != 1)
		mlc_die(MLC_EX_DATAERR, "%s: line 1: not a status line", path);
	for (p = next; *p; p = next) {
		next = cut_line(p);
		if (!*p)
			break; /* the empty line: the body follows */
		if (!(colon = strchr(p, ':')) || nh + 2 >= sizeof r->hdr / sizeof r->hdr[0])
			mlc_die(MLC_EX_DATAERR, "%s: not a header line: %s", path, p);
		*colon++ = '\0';
		while (*colon == ' ' || *colon == '\t')
			colon++;
		r->hdr[nh++] = p;
		r->hdr[nh++] = colon;
	}
	r->hdr[nh] = NULL;
	r->body = next;
	r->bodylen = strlen(next);
}

static enum MHD_Result
canned_reply(struct MHD_Connection *c)
{
	struct canned *r;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char **h;

	pthread_mutex_lock(&reply_mu);
	r = &replies[nserved < nreplies ? nserved : nreplies - 1];
	nserved++;
	pthread_mutex_unlock(&reply_mu);
	resp = MHD_create_response_from_buffer(r->bodylen, (void *)r->body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	for (h = r->hdr; h[0]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct mlc_httpd_req *rq;
	char msg[128];
	unsigned long n, nreq;

	(void)cls;
	(void)version;
	if (!*con_cls && strcmp(url, "/expect-417") == 0) {
		const char *e = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");

		if (e && strcasecmp(e, "100-continue") == 0) {
			/* the first call has the headers only: refuse the body */
			log_request(c, method, url, "", 0);
			return reply(c, 417, "{\"status\":417}", 14, NULL);
		}
	}
	if (!(rq = mlc_httpd_body(con_cls, upload, upload_size, 0)))
		return MHD_YES;
	nreq = log_request(c, method, url, rq->body.p, rq->body.len);
	if (nreplies)
		return canned_reply(c);

	if (sscanf(url, "/status/%lu", &n) == 1 && n >= 100 && n <= 999) {
		snprintf(msg, sizeof msg, "{\"status\":%lu}", n);
		return reply(c, (unsigned)n, msg, strlen(msg), NULL);
	}
	if (sscanf(url, "/retry-after/%lu", &n) == 1) {
		char v[32];
		const char *h[] = { "Retry-After", v, NULL };

		snprintf(v, sizeof v, "%lu", n);
		return reply(c, 429, "{\"status\":429}", 14, h);
	}
	if (sscanf(url, "/retry-after-date/%lu", &n) == 1) {
		char v[64];
		const char *h[] = { "Retry-After", v, NULL };
		time_t t = time(NULL) + (time_t)n;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(v, sizeof v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		return reply(c, 429, "{\"status\":429}", 14, h);
	}
	if (strcmp(url, "/message-id") == 0) {
		const char *h[] = { "X-Message-Id", "msg-4242.filter0001", "X-RateLimit-Reset",
			            "1700000000", NULL };

		return reply(c, 202, "", 0, h);
	}
	if (sscanf(url, "/slow/%lu", &n) == 1) {
		struct timespec ts = { (time_t)(n / 1000), (long)(n % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return reply(c, 200, "{\"slow\":true}", 13, NULL);
	}
	if (sscanf(url, "/barrier/%lu", &n) == 1) {
		/* Released together when the Nth arrives; a round at a time. */
		struct timespec end;
		unsigned long round;
		int ok = 1;

		clock_gettime(CLOCK_REALTIME, &end);
		end.tv_sec += 30;
		pthread_mutex_lock(&bar_mu);
		round = bar_round;
		if (++bar_waiting >= n) {
			bar_waiting = 0;
			bar_round++;
			pthread_cond_broadcast(&bar_cv);
		}
		while (ok && round == bar_round)
			if (pthread_cond_timedwait(&bar_cv, &bar_mu, &end) == ETIMEDOUT && round == bar_round) {
				bar_waiting--;
				ok = 0;
			}
		pthread_mutex_unlock(&bar_mu);
		return ok ? reply(c, 200, "{\"barrier\":true}", 16, NULL)
		          : reply(c, 504, "{\"barrier\":false}", 17, NULL);
	}
	if (strcmp(url, "/drop") == 0)
		return MHD_NO; /* MHD closes the connection without a response */
	if (strcmp(url, "/drop-reused") == 0) {
		if (nreq > 1)
			return MHD_NO;
		return reply(c, 200, "{\"first\":true}", 14, NULL);
	}
	if (strcmp(url, "/expect-417") == 0) {
		snprintf(msg, sizeof msg, "{\"body_len\":%zu}", rq->body.len);
		return reply(c, 200, msg, strlen(msg), NULL);
	}
	if (strcmp(url, "/headers") == 0) {
		struct mlc_buf b;
		enum MHD_Result ret;

		mlc_buf_init(&b);
		add_values(&b, c, MHD_HEADER_KIND);
		ret = reply(c, 200, b.p, b.len, NULL);
		mlc_buf_free(&b);
		return ret;
	}
	if (strcmp(url, "/echo") == 0)
		return reply(c, 200, rq->body.p, rq->body.len, NULL);
	if (sscanf(url, "/big/%lu", &n) == 1) {
		struct MHD_Response *r =
			MHD_create_response_from_callback(n, 64 * 1024, big_cb, NULL, NULL);
		enum MHD_Result ret;

		if (!r)
			return MHD_NO;
		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (sscanf(url, "/short/%lu", &n) == 1 && n >= 2) {
		struct MHD_Response *r = MHD_create_response_from_callback(
			n, 1024, short_cb, (void *)(uintptr_t)n, NULL);
		enum MHD_Result ret;

		if (!r)
			return MHD_NO;
		ret = MHD_queue_response(c, 201, r);
		MHD_destroy_response(r);
		return ret;
	}
	return reply(c, 404, "{\"status\":404}", 14, NULL);
}

/* ---- --expect-417 ---- */

/* The value of header name in the header block h (NUL-terminated), into
 * out; 0 if absent. */
static int
raw_header(const char *h, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	const char *p;

	for (p = strstr(h, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		size_t len;

		if (strncasecmp(p + 2, name, n) != 0 || p[2 + n] != ':')
			continue;
		p += 3 + n;
		while (*p == ' ')
			p++;
		len = strcspn(p, "\r");
		snprintf(out, outlen, "%.*s", (int)len, p);
		return 1;
	}
	return 0;
}

static void
raw_log(unsigned long id, unsigned long nreq, const char *line, const char *expect,
        size_t bodylen)
{
	char method[16] = "", url[256] = "";
	struct mlc_buf b;

	sscanf(line, "%15s %255s", method, url);
	mlc_buf_init(&b);
	mlc_buf_printf(&b, "{\"conn\":%lu,\"conn_req\":%lu,\"method\":", id, nreq);
	mlc_buf_json_str(&b, method, strlen(method));
	mlc_buf_adds(&b, ",\"url\":");
	mlc_buf_json_str(&b, url, strlen(url));
	mlc_buf_adds(&b, ",\"expect\":");
	if (*expect)
		mlc_buf_json_str(&b, expect, strlen(expect));
	else
		mlc_buf_adds(&b, "null");
	mlc_buf_printf(&b, ",\"body_len\":%zu}\n", bodylen);
	if (reqlog) {
		fwrite(b.p, 1, b.len, reqlog);
		fflush(reqlog);
	}
	mlc_buf_free(&b);
}

/* One connection: requests until the client closes. */
static void
raw_serve(int c, unsigned long id)
{
	char h[8192], v[64], out[128];
	unsigned long nreq = 0;
	size_t have = 0;

	for (;;) {
		char *end;
		size_t hlen, clen = 0, got;
		ssize_t k;
		int n;

		while (!(h[have] = '\0', end = strstr(h, "\r\n\r\n"))) {
			if (have + 1 >= sizeof h ||
			    (k = read(c, h + have, sizeof h - 1 - have)) <= 0)
				return;
			have += (size_t)k;
		}
		hlen = (size_t)(end + 4 - h);
		end[2] = '\0'; /* the header block, last CRLF kept */
		nreq++;
		if (raw_header(h, "Content-Length", v, sizeof v))
			clen = (size_t)strtoul(v, NULL, 10);
		if (raw_header(h, "Expect", v, sizeof v) && strcasecmp(v, "100-continue") == 0) {
			raw_log(id, nreq, h, v, 0);
			memmove(h, h + hlen, have - hlen);
			have -= hlen;
			n = snprintf(out, sizeof out, "HTTP/1.1 417 Expectation Failed\r\n"
			             "Content-Length: 0\r\n\r\n");
			if (write(c, out, (size_t)n) != n)
				return;
			continue;
		}
		/* the body: what came with the headers, then the rest */
		raw_log(id, nreq, h, "", clen);
		got = have - hlen;
		if (got > clen) {
			memmove(h, h + hlen + clen, got - clen);
			have = got - clen;
		} else {
			have = 0;
			while (got < clen) {
				char sink[65536];
				size_t want = clen - got < sizeof sink ? clen - got : sizeof sink;

				if ((k = read(c, sink, want)) <= 0)
					return;
				got += (size_t)k;
			}
		}
		n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		             "Content-Length: %d\r\n\r\n{\"body_len\":%zu}",
		             snprintf(NULL, 0, "{\"body_len\":%zu}", clen), clen);
		if (write(c, out, (size_t)n) != n)
			return;
	}
}

static void *
raw_thread(void *arg)
{
	int fd = (int)(intptr_t)arg, c;

	while ((c = accept(fd, NULL, NULL)) >= 0) {
		unsigned long id;

		pthread_mutex_lock(&id_mu);
		id = ++next_conn;
		pthread_mutex_unlock(&id_mu);
		raw_serve(c, id);
		close(c);
	}
	return NULL;
}

static const char usage[] =
	"usage: http-fixture-server --port N --port-file F --request-log F\n"
	"                           [--tls-cert C --tls-key K] [--blackhole | --expect-417]\n"
	"                           [--reply FILE]...\n";

int
main(int argc, char **argv)
{
	const char *portfile = NULL, *logpath = NULL, *cert = NULL, *key = NULL;
	char *certpem = NULL, *keypem = NULL;
	unsigned port = 0;
	int blackhole = 0, expect417 = 0, i;
	struct sockaddr_in sa;
	struct MHD_Daemon *d = NULL;
	sigset_t set;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--blackhole") == 0) {
			blackhole = 1;
			continue;
		}
		if (strcmp(a, "--expect-417") == 0) {
			expect417 = 1;
			continue;
		}
		if (!v) {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
		i++;
		if (strcmp(a, "--port") == 0)
			port = (unsigned)atoi(v);
		else if (strcmp(a, "--port-file") == 0)
			portfile = v;
		else if (strcmp(a, "--request-log") == 0)
			logpath = v;
		else if (strcmp(a, "--tls-cert") == 0)
			cert = v;
		else if (strcmp(a, "--tls-key") == 0)
			key = v;
		else if (strcmp(a, "--reply") == 0 && nreplies < MAX_REPLIES)
			load_reply(&replies[nreplies++], v);
		else {
			fputs(usage, stderr);
			return MLC_EX_USAGE;
		}
	}
	if (!cert != !key) {
		fputs(usage, stderr);
		return MLC_EX_USAGE;
	}
	if (logpath && !(reqlog = fopen(logpath, "a")))
		mlc_die(MLC_EX_IOERR, "%s: %s", logpath, strerror(errno));

	/* Every thread inherits the blocked set; main waits for the signal. */
	mlc_httpd_signals(&set);
	mlc_httpd_addr(&sa, "127.0.0.1", port);

	if (blackhole || expect417) {
		socklen_t sl = sizeof sa;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		pthread_t t;

		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
		    listen(fd, blackhole ? 0 : 16) < 0 ||
		    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
			mlc_die(MLC_EX_SOFTWARE, "listen: %s", strerror(errno));
		port = ntohs(sa.sin_port);
		if (expect417 && pthread_create(&t, NULL, raw_thread, (void *)(intptr_t)fd) != 0)
			mlc_die(MLC_EX_SOFTWARE, "cannot start a thread");
	} else {
		const struct MHD_OptionItem opts[] = {
			{ MHD_OPTION_END, 0, NULL }
		};

		if (cert) {
			certpem = mlc_httpd_read_pem(cert);
			keypem = mlc_httpd_read_pem(key);
		}
		d = mlc_httpd_start(&sa, 0, handle, certpem, keypem, opts);
		if (!d)
			mlc_die(MLC_EX_SOFTWARE, "cannot start the HTTP daemon");
		port = mlc_httpd_port(d, port);
	}
	if (portfile)
		mlc_httpd_write_port(portfile, port);
	mlc_httpd_wait(&set);
	if (d)
		MHD_stop_daemon(d);
	free(certpem);
	free(keypem);
	for (i = 0; i < (int)nreplies; i++)
		free(replies[i].text);
	if (reqlog)
		fclose(reqlog);
	return 0;
}
