/*
 * httpd.c — the plumbing shared by the libmicrohttpd servers (see httpd.h):
 * the request body, the daemon, the port file and the signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "httpd.h"

struct mlc_httpd_req *
mlc_httpd_body(void **con_cls, const char *upload, size_t *upload_size, size_t max)
{
	struct mlc_httpd_req *rq = *con_cls;

	if (!rq) {
		rq = mlc_xcalloc(1, sizeof *rq);
		mlc_buf_init(&rq->body);
		*con_cls = rq;
		return NULL;
	}
	if (*upload_size) {
		if (max && rq->body.len + *upload_size > max)
			rq->too_big = 1;
		else
			mlc_buf_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return NULL;
	}
	return rq;
}

void
mlc_httpd_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
	struct mlc_httpd_req *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!rq)
		return;
	mlc_buf_free(&rq->body);
	free(rq);
	*con_cls = NULL;
}

void
mlc_httpd_peer_ip(struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa;

	out[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
		          (socklen_t)n);
}

/* The clock a test set (POST /_sim/clock), 0 none: a test that moves its
 * ML_CONNECTOR_NOW moves the simulator's with it, as the real Twilio's
 * clock moves with the real one. */
static pthread_mutex_t clock_mu = PTHREAD_MUTEX_INITIALIZER;
static time_t clock_set;

time_t
mlc_httpd_now_s(void)
{
	struct timespec ts;
	time_t t;

	pthread_mutex_lock(&clock_mu);
	t = clock_set;
	pthread_mutex_unlock(&clock_mu);
	if (t)
		return t;
	mlc_time_now(&ts);
	return ts.tv_sec;
}

void
mlc_httpd_set_now(time_t t)
{
	pthread_mutex_lock(&clock_mu);
	clock_set = t;
	pthread_mutex_unlock(&clock_mu);
}

void
mlc_httpd_hex(char *out, size_t nbytes)
{
	unsigned char b[32];

	if (nbytes > sizeof b)
		nbytes = sizeof b;
	randombytes_buf(b, nbytes);
	sodium_bin2hex(out, nbytes * 2 + 1, b, nbytes);
}

char *
mlc_httpd_basic(const char *auth, char **pass)
{
	unsigned char dec[1024];
	size_t n = 0;
	char *colon, *user = NULL;

	*pass = NULL;
	if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
		return NULL;
	auth += 6;
	while (*auth == ' ')
		auth++;
	if (sodium_base642bin(dec, sizeof dec - 1, auth, strlen(auth), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return NULL;
	dec[n] = '\0';
	if ((colon = strchr((char *)dec, ':'))) {
		*colon = '\0';
		*pass = mlc_xstrdup(colon + 1);
		user = mlc_xstrdup((char *)dec);
	}
	sodium_memzero(dec, sizeof dec);
	return user;
}

void
mlc_httpd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	mlc_warn("%s", msg);
}

char *
mlc_httpd_read_pem(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct mlc_buf b;
	char tmp[4096];
	size_t n;

	if (!f)
		mlc_die(MLC_EX_NOINPUT, "%s: %s", path, strerror(errno));
	mlc_buf_init(&b);
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		mlc_buf_add(&b, tmp, n);
	if (ferror(f))
		mlc_die(MLC_EX_NOINPUT, "%s: %s", path, strerror(errno));
	fclose(f);
	return b.p;
}

int
mlc_httpd_open_log(const char *path, int code)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		mlc_die(code, "%s: %s", path, strerror(errno));
	return fd;
}

int
mlc_httpd_addr(struct sockaddr_in *sin, const char *addr, unsigned port)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, addr, &sin->sin_addr) == 1 ? 0 : -1;
}

/* One thread per connection: only the numbering needs the lock. */
struct conn {
	unsigned long id, nreq;
};
static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long next_conn;

static void
notify_conn(void *cls, struct MHD_Connection *c, void **sockctx,
            enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)c;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn *k = mlc_xcalloc(1, sizeof *k);

		pthread_mutex_lock(&conn_mu);
		k->id = ++next_conn;
		pthread_mutex_unlock(&conn_mu);
		*sockctx = k;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		free(*sockctx);
		*sockctx = NULL;
	}
}

unsigned long
mlc_httpd_conn_request(struct MHD_Connection *c, unsigned long *id)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *k = ci ? ci->socket_context : NULL;

	*id = k ? k->id : 0;
	return k ? ++k->nreq : 0;
}

struct MHD_Daemon *
mlc_httpd_start(const struct sockaddr_in *sin, unsigned flags, MHD_AccessHandlerCallback handler,
                const char *cert, const char *key, const struct MHD_OptionItem *extra)
{
	static const struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };
	const struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key },
		{ MHD_OPTION_END, 0, NULL }
	};

	flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	if (cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
	                        MHD_OPTION_ARRAY, extra ? extra : none,
	                        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)sin,
	                        MHD_OPTION_NOTIFY_COMPLETED, mlc_httpd_completed, NULL,
	                        MHD_OPTION_NOTIFY_CONNECTION, notify_conn, NULL,
	                        MHD_OPTION_ARRAY, cert ? tls : none, MHD_OPTION_END);
}

unsigned
mlc_httpd_port(struct MHD_Daemon *d, unsigned port)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

	return di && di->port ? di->port : port;
}

void
mlc_httpd_write_port(const char *path, unsigned port)
{
	struct mlc_buf tmp;
	FILE *f;

	mlc_buf_init(&tmp);
	mlc_buf_printf(&tmp, "%s.tmp", path);
	if (!(f = fopen(tmp.p, "w")) || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp.p, path) != 0)
		mlc_die(MLC_EX_IOERR, "%s: %s", path, strerror(errno));
	mlc_buf_free(&tmp);
}

void
mlc_httpd_signals(sigset_t *set)
{
	mlc_util_signals(NULL);
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

void
mlc_httpd_wait(const sigset_t *set)
{
	int sig;

	while (sigwait(set, &sig) != 0)
		;
}
