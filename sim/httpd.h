/*
 * httpd.h — the plumbing shared by the libmicrohttpd servers: the two
 * simulators (sim/mlc-ais-sim.c, sim/mlc-twilio-sim.c) and the test
 * servers (tests/src/http-sink.c, tests/src/http-fixture-server.c).
 *
 * Apart from mlc.h because it needs <microhttpd.h>: sim/httpd.o is linked
 * into those four programs only, never into libmlc.a, so that the filters
 * do not depend on libmicrohttpd.  Same prefix rule: mlc_httpd_<verb>.
 */
#ifndef MLC_HTTPD_H
#define MLC_HTTPD_H

#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "mlc.h"

/* One request's body as it arrives: the connection's con_cls. */
struct mlc_httpd_req {
	struct mlc_buf body;
	int too_big; /* more than the limit arrived; the rest was dropped */
};

/*
 * The first part of every access handler.  Returns NULL while libmicrohttpd
 * is still delivering the request (the handler then returns MHD_YES), else
 * the request with its whole body.  Past max bytes (0: no limit) the body
 * stops growing and too_big is set.
 */
struct mlc_httpd_req *mlc_httpd_body(void **con_cls, const char *upload, size_t *upload_size,
                                     size_t max);
/* The MHD_OPTION_NOTIFY_COMPLETED callback: frees the request. */
void mlc_httpd_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
/* The peer's address as text (IPv4 or IPv6); "" if unknown. */
void mlc_httpd_peer_ip(struct MHD_Connection *c, char *out, size_t n);
/* The clock in whole seconds: the one mlc_httpd_set_now set, else mlc_time_now
 * (ML_CONNECTOR_NOW when set). */
time_t mlc_httpd_now_s(void);
/* Set that clock to t (whole seconds; 0: back to mlc_time_now). */
void mlc_httpd_set_now(time_t t);
/* nbytes (at most 32) random bytes as 2 * nbytes hex digits and a NUL. */
void mlc_httpd_hex(char *out, size_t nbytes);
/* An Authorization header's Basic pair: the user, with *pass (both
 * malloc'd; the caller wipes *pass), or NULL if it is none. */
char *mlc_httpd_basic(const char *auth, char **pass);
/* An MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's messages through mlc_warn. */
void mlc_httpd_log(void *cls, const char *fmt, va_list ap);

/* A whole file (a PEM certificate or key); exits MLC_EX_NOINPUT if unreadable. */
char *mlc_httpd_read_pem(const char *path);
/* Open a request log for appending (one write per line, mode 0600); exits
 * with code if it cannot. */
int mlc_httpd_open_log(const char *path, int code);
/* Fill in an IPv4 socket address; -1 if addr is not a dotted quad. */
int mlc_httpd_addr(struct sockaddr_in *sin, const char *addr, unsigned port);
/*
 * Start a daemon on sin, one thread per connection, with TLS if cert (and
 * key) are given; flags are added to the usual ones, extra options (ending
 * in MHD_OPTION_END, or NULL) come first, so that a logger sees the rest.
 * Requests are freed by mlc_httpd_completed; connections are numbered
 * (mlc_httpd_conn_request).  NULL if it cannot listen.
 */
struct MHD_Daemon *mlc_httpd_start(const struct sockaddr_in *sin, unsigned flags,
                                   MHD_AccessHandlerCallback handler, const char *cert,
                                   const char *key, const struct MHD_OptionItem *extra);
/*
 * Connections are numbered as they are accepted (from 1), and each counts
 * its requests, so that a log shows keep-alive reuse and a fault can pick
 * the nth request of a connection.  mlc_httpd_start installs the counting.
 * conn_request: count one more request on c and return its number there
 * (1 = the first), with *id the connection's number (0 and 0 if unknown).
 */
unsigned long mlc_httpd_conn_request(struct MHD_Connection *c, unsigned long *id);
/* The port the daemon listens on (port if it cannot tell). */
unsigned mlc_httpd_port(struct MHD_Daemon *d, unsigned port);
/* Write the port to path whole (a temporary file, then rename), so that a
 * reader never sees a partial number; exits MLC_EX_IOERR if it cannot. */
void mlc_httpd_write_port(const char *path, unsigned port);
/* Ignore SIGPIPE; block SIGTERM and SIGINT (set) in this thread and every
 * thread started after, so that only mlc_httpd_wait sees them. */
void mlc_httpd_signals(sigset_t *set);
/* Wait for SIGTERM or SIGINT. */
void mlc_httpd_wait(const sigset_t *set);

#endif
