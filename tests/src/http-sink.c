/*
 * http-sink — a test HTTP listener that records every request and answers
 * with a fixed status.  Used to receive the Twilio simulator's status
 * callbacks (tests/0510-twilio-sim.t).
 *
 *   http-sink --port N --port-file F --request-log F [--status CODE]
 *
 * Listens on 127.0.0.1 (port 0 = ephemeral; the port is written to F).
 * Each request becomes one NDJSON line in the log: time, method, path,
 * query (decoded), headers (as received), body (raw, as a JSON string).
 * Answers CODE (default 200) with an empty body.  Stops on SIGTERM/SIGINT.
 * Exit status: 0, 64 usage, 70 cannot listen, 74 cannot write the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>

#include <microhttpd.h>

#include "mlc.h"

static const char usage[] =
	"usage: http-sink --port N --port-file F --request-log F [--status CODE]\n";

static int logfd = -1;
static unsigned answer = 200;
static pthread_mutex_t logmu = PTHREAD_MUTEX_INITIALIZER;

struct req {
	struct mlc_buf body;
};

static enum MHD_Result
add_pair(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct mlc_buf *b = cls;

	(void)kind;
	if (b->p[b->len - 1] != '{')
		mlc_buf_addc(b, ',');
	mlc_buf_json_str(b, key, strlen(key));
	mlc_buf_addc(b, ':');
	if (value)
		mlc_buf_json_str(b, value, strlen(value));
	else
		mlc_buf_adds(b, "null");
	return MHD_YES;
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *c, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct req *rq = *con_cls;
	struct mlc_buf b;
	struct timespec ts;
	char t[32];
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!rq) {
		rq = mlc_xcalloc(1, sizeof *rq);
		mlc_buf_init(&rq->body);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		mlc_buf_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	mlc_time_fmt(t, &ts);
	mlc_buf_init(&b);
	mlc_buf_printf(&b, "{\"time\":\"%s\",\"method\":", t);
	mlc_buf_json_str(&b, method, strlen(method));
	mlc_buf_adds(&b, ",\"path\":");
	mlc_buf_json_str(&b, url, strlen(url));
	mlc_buf_adds(&b, ",\"query\":{");
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_pair, &b);
	mlc_buf_adds(&b, "},\"headers\":{");
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_pair, &b);
	mlc_buf_adds(&b, "},\"body\":");
	mlc_buf_json_str(&b, rq->body.p, rq->body.len);
	mlc_buf_adds(&b, "}\n");
	pthread_mutex_lock(&logmu);
	{
		size_t off = 0;

		while (off < b.len) {
			ssize_t w = write(logfd, b.p + off, b.len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	pthread_mutex_unlock(&logmu);
	mlc_buf_free(&b);
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(c, answer, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq) {
		mlc_buf_free(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

int
main(int argc, char **argv)
{
	const char *port_file = NULL, *log_file = NULL;
	long port = -1;
	int a, sig;
	struct sockaddr_in sin;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	sigset_t set;
	FILE *f;
	struct mlc_buf tmp;

	mlc_util_setprogname(argv[0]);
	mlc_util_std_args(argc, argv, usage);
	for (a = 1; a + 1 < argc; a += 2) {
		if (strcmp(argv[a], "--port") == 0)
			port = atol(argv[a + 1]);
		else if (strcmp(argv[a], "--port-file") == 0)
			port_file = argv[a + 1];
		else if (strcmp(argv[a], "--request-log") == 0)
			log_file = argv[a + 1];
		else if (strcmp(argv[a], "--status") == 0)
			answer = (unsigned)atoi(argv[a + 1]);
		else
			break;
	}
	if (a != argc || port < 0 || port > 65535 || !port_file || !log_file || answer < 100 ||
	    answer > 599)
		mlc_die(MLC_EX_USAGE, "%s", usage);
	if ((logfd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		mlc_die(MLC_EX_IOERR, "%s: %s", log_file, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                     MHD_USE_POLL | MHD_USE_ERROR_LOG,
	                     0, NULL, NULL, access_cb, NULL, MHD_OPTION_SOCK_ADDR, &sin,
	                     MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL, MHD_OPTION_END);
	if (!d)
		mlc_die(MLC_EX_SOFTWARE, "cannot listen on 127.0.0.1:%ld", port);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	mlc_buf_init(&tmp);
	mlc_buf_printf(&tmp, "%s.tmp", port_file);
	if (!(f = fopen(tmp.p, "w")) || fprintf(f, "%u\n", info ? info->port : (unsigned)port) < 0 ||
	    fclose(f) != 0 || rename(tmp.p, port_file) != 0)
		mlc_die(MLC_EX_IOERR, "%s: %s", port_file, strerror(errno));
	mlc_buf_free(&tmp);
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	close(logfd);
	return 0;
}
