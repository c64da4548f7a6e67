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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sim/httpd.h"

static const char usage[] =
	"usage: http-sink --port N --port-file F --request-log F [--status CODE]\n";

static int logfd = -1;
static unsigned answer = 200;

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
	struct mlc_httpd_req *rq = mlc_httpd_body(con_cls, upload, upload_size, 0);
	struct mlc_buf b;
	struct timespec ts;
	char t[32];
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	if (!rq)
		return MHD_YES;
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
	mlc_buf_addc(&b, '}');
	/* O_APPEND and one write per line: lines from threads never interleave. */
	mlc_ndjson_put(logfd, &b);
	mlc_buf_free(&b);
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(c, answer, resp);
	MHD_destroy_response(resp);
	return ret;
}

int
main(int argc, char **argv)
{
	const char *port_file = NULL, *log_file = NULL;
	long port = -1;
	int a;
	struct sockaddr_in sin;
	struct MHD_Daemon *d;
	sigset_t set;

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
	logfd = mlc_httpd_open_log(log_file, MLC_EX_IOERR);
	mlc_httpd_signals(&set);
	mlc_httpd_addr(&sin, "127.0.0.1", (unsigned)port);
	d = mlc_httpd_start(&sin, MHD_USE_POLL, access_cb, NULL, NULL, NULL);
	if (!d)
		mlc_die(MLC_EX_SOFTWARE, "cannot listen on 127.0.0.1:%ld", port);
	mlc_httpd_write_port(port_file, mlc_httpd_port(d, (unsigned)port));
	mlc_httpd_wait(&set);
	MHD_stop_daemon(d);
	close(logfd);
	return 0;
}
