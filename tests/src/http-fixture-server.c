/*
 * http-fixture-server — a scripted HTTP(S) server on loopback for the http
 * module's tests (libmicrohttpd, one thread per connection).
 *
 *   http-fixture-server --port N --port-file F --request-log F
 *                       [--tls-cert C --tls-key K] [--blackhole]
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
 *   /headers             200 with the request headers as a JSON object (raw)
 *   /echo                200 with the request body
 *   /big/N               200 with N bytes
 *   /short/N             201 announcing N bytes, closing after N/2
 *   anything else        404
 * Every request is logged to the request log as one JSON line:
 *   {"conn":ID,"method":..,"url":..,"args":{..},"headers":{..},"body":..}
 * where ID numbers the TCP connection (keep-alive shows as a repeated ID).
 *
 * --blackhole listens with a backlog of 0 and never accepts: the first
 * connection waits in the kernel's queue (the handshake completes, nothing
 * answers), later connection attempts are not answered at all.
 *
 * The port is written to the port file once listening; SIGTERM or SIGINT
 * stops the server (exit 0).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "httpd.h"

static FILE *reqlog;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t id_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t bar_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bar_cv = PTHREAD_COND_INITIALIZER;
static unsigned long bar_waiting, bar_round;
static unsigned long next_conn;

static void
notify_conn(void *cls, struct MHD_Connection *c, void **sockctx,
            enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)c;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		pthread_mutex_lock(&id_mu);
		*sockctx = (void *)(uintptr_t)++next_conn;
		pthread_mutex_unlock(&id_mu);
	}
}

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

static void
log_request(struct MHD_Connection *c, const char *method, const char *url,
            const struct mlc_httpd_req *rq)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct mlc_buf b;

	mlc_buf_init(&b);
	mlc_buf_printf(&b, "{\"conn\":%lu,\"method\":",
	               ci ? (unsigned long)(uintptr_t)ci->socket_context : 0UL);
	mlc_buf_json_str(&b, method, strlen(method));
	mlc_buf_adds(&b, ",\"url\":");
	mlc_buf_json_str(&b, url, strlen(url));
	mlc_buf_adds(&b, ",\"args\":");
	add_values(&b, c, MHD_GET_ARGUMENT_KIND);
	mlc_buf_adds(&b, ",\"headers\":");
	add_values(&b, c, MHD_HEADER_KIND);
	mlc_buf_adds(&b, ",\"body\":");
	mlc_buf_json_str(&b, rq->body.p, rq->body.len);
	mlc_buf_adds(&b, "}\n");
	if (reqlog) {
		pthread_mutex_lock(&log_mu);
		fwrite(b.p, 1, b.len, reqlog);
		fflush(reqlog);
		pthread_mutex_unlock(&log_mu);
	}
	mlc_buf_free(&b);
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

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct mlc_httpd_req *rq = mlc_httpd_body(con_cls, upload, upload_size, 0);
	char msg[128];
	unsigned long n;

	(void)cls;
	(void)version;
	if (!rq)
		return MHD_YES;
	log_request(c, method, url, rq);

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

static const char usage[] =
	"usage: http-fixture-server --port N --port-file F --request-log F\n"
	"                           [--tls-cert C --tls-key K] [--blackhole]\n";

int
main(int argc, char **argv)
{
	const char *portfile = NULL, *logpath = NULL, *cert = NULL, *key = NULL;
	char *certpem = NULL, *keypem = NULL;
	unsigned port = 0;
	int blackhole = 0, i;
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

	if (blackhole) {
		socklen_t sl = sizeof sa;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 0) < 0 ||
		    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
			mlc_die(MLC_EX_SOFTWARE, "listen: %s", strerror(errno));
		port = ntohs(sa.sin_port);
	} else {
		const struct MHD_OptionItem opts[] = {
			{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_conn, NULL },
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
	if (reqlog)
		fclose(reqlog);
	return 0;
}
