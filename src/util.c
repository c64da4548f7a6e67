/*
 * util.c — program name, messages, usage errors, signal setup, allocation,
 * byte buffers, JSON string literals, UTF-8 checks, form encoding and time.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ (Linux) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <sodium.h>

#include "mlc.h"

const char *mlc_progname = "ml-connector";

void
mlc_util_setprogname(const char *argv0)
{
	const char *p;

	if (!argv0 || !*argv0)
		return;
	p = strrchr(argv0, '/');
	mlc_progname = p ? p + 1 : argv0;
}

/*
 * Messages.  Every message of every program is built here, whole, and
 * reaches stderr in one write (a line of one program is never cut by a
 * line of another sharing the stream).  What a message looks like depends
 * on the environment, read once:
 *   text (default)   PROG: [rule=RULE ][run=ID: ]MESSAGE
 *   ML_CONNECTOR_LOG=json   one JSON object a line:
 *                    {"ts","prog","level","rule","run","msg"}
 *   under systemd    JOURNAL_STREAM names stderr (device:inode): each line
 *                    starts with its syslog priority, <3> to <7>, which
 *                    journald strips and keeps as PRIORITY (sd-daemon(3)).
 * ML_CONNECTOR_RULE and ML_CONNECTOR_RUN_ID are the orchestrator's: the
 * rule and the run a stage works for, so that a stage's message can be
 * found with the run's others.
 */
static struct {
	int ready;
	int json, journal;
	int progress;           /* progress may be drawn: see mlc_progress */
	int shown;              /* a progress line of ours is on the terminal */
	uint64_t drawn_ms;
	const char *rule, *run;
} lg;

static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void log_setup(void);

const char *
mlc_util_rule(void)
{
	log_setup();
	return lg.rule;
}

static void
log_setup(void)
{
	const char *v, *term;
	struct stat st;

	if (lg.ready)
		return;
	lg.ready = 1;
	v = getenv("ML_CONNECTOR_LOG");
	lg.json = v && strcmp(v, "json") == 0;
	/* systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream it
	 * connected; a child whose stderr was redirected inherits the variable
	 * with another stderr, which then gets no prefixes. */
	if ((v = env_nonempty("JOURNAL_STREAM")) && fstat(2, &st) == 0) {
		unsigned long long dev, ino;
		char extra;

		if (sscanf(v, "%llu:%llu%c", &dev, &ino, &extra) == 2 &&
		    dev == (unsigned long long)st.st_dev && ino == (unsigned long long)st.st_ino)
			lg.journal = 1;
	}
	lg.rule = env_nonempty("ML_CONNECTOR_RULE");
	lg.run = env_nonempty("ML_CONNECTOR_RUN_ID");
	v = getenv("ML_CONNECTOR_PROGRESS");
	term = getenv("TERM");
	lg.progress = !lg.json && !lg.journal && isatty(2) && !isatty(1) &&
	              !(v && (strcmp(v, "no") == 0 || strcmp(v, "0") == 0 || strcmp(v, "off") == 0)) &&
	              term && *term && strcmp(term, "dumb") != 0;
}

static void
write_all2(const char *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(2, p + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static const char *const level_names[8] = {
	[MLC_LOG_ERR] = "error", [MLC_LOG_WARNING] = "warning",
	[MLC_LOG_INFO] = "info", [MLC_LOG_DEBUG] = "debug",
};

void
mlc_log_line(int level, const char *msg, size_t n)
{
	struct mlc_buf b;

	log_setup();
	if (level < MLC_LOG_ERR || level > MLC_LOG_DEBUG || !level_names[level])
		level = MLC_LOG_WARNING;
	mlc_buf_init(&b);
	if (lg.journal)
		mlc_buf_printf(&b, "<%d>", level);
	if (lg.json) {
		struct timespec ts;
		char t[32];

		/* the real clock: ML_CONNECTOR_NOW moves the programs' time,
		 * not the moment a line was written */
		clock_gettime(CLOCK_REALTIME, &ts);
		mlc_time_fmt(t, &ts);
		mlc_buf_printf(&b, "{\"ts\":\"%s\",\"prog\":", t);
		mlc_buf_json_str(&b, mlc_progname, strlen(mlc_progname));
		mlc_buf_printf(&b, ",\"level\":\"%s\"", level_names[level]);
		if (lg.rule) {
			mlc_buf_adds(&b, ",\"rule\":");
			mlc_buf_json_str(&b, lg.rule, strlen(lg.rule));
		}
		if (lg.run) {
			mlc_buf_adds(&b, ",\"run\":");
			mlc_buf_json_str(&b, lg.run, strlen(lg.run));
		}
		mlc_buf_adds(&b, ",\"msg\":");
		mlc_buf_json_str(&b, msg, n);
		mlc_buf_addc(&b, '}');
	} else {
		/* on a terminal, a progress line (ours or another stage's) is
		 * wiped first, so that the message starts its own line */
		if (lg.progress)
			mlc_buf_adds(&b, "\r\033[K");
		mlc_buf_printf(&b, "%s: ", mlc_progname);
		if (lg.rule)
			mlc_buf_printf(&b, "rule=%s%s", lg.rule, lg.run ? " " : ": ");
		if (lg.run)
			mlc_buf_printf(&b, "run=%s: ", lg.run);
		/* one message, one line: a line break from the data (a server's
		 * text, a name) would make a second line, in the journal one
		 * without the priority and the rule */
		for (size_t i = 0; i < n; i++)
			mlc_buf_addc(&b, msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i]);
	}
	mlc_buf_addc(&b, '\n');
	write_all2(b.p, b.len);
	mlc_buf_free(&b);
	lg.shown = 0;
}

static void
vlog(int level, const char *fmt, va_list ap)
{
	struct mlc_buf m;
	va_list aq;
	int n;

	mlc_buf_init(&m);
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n > 0) {
		while (m.cap - m.len <= (size_t)n) {
			m.cap *= 2;
			m.p = mlc_xrealloc(m.p, m.cap);
		}
		vsnprintf(m.p, m.cap, fmt, ap);
		m.len = (size_t)n;
	}
	mlc_log_line(level, m.p, m.len);
	mlc_buf_free(&m);
}

void
mlc_log(int level, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
	errno = e;
}

void
mlc_warn(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vlog(MLC_LOG_WARNING, fmt, ap);
	va_end(ap);
	errno = e;
}

int
mlc_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void
mlc_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(MLC_LOG_ERR, fmt, ap);
	va_end(ap);
	exit(code);
}

static void
progress_wipe(void)
{
	if (lg.shown)
		write_all2("\r\033[K", 4);
	lg.shown = 0;
}

void
mlc_progress(const char *fmt, ...)
{
	static int registered;
	struct mlc_buf b;
	va_list ap;
	uint64_t now;
	int n;

	log_setup();
	if (!lg.progress)
		return;
	/* a few redraws a second are enough for a person */
	now = mlc_time_mono_ms();
	if (lg.shown && now - lg.drawn_ms < 200)
		return;
	if (!registered) {
		registered = 1;
		atexit(progress_wipe);
	}
	mlc_buf_init(&b);
	mlc_buf_printf(&b, "\r%s: ", mlc_progname);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0) {
		char *t = mlc_xmalloc((size_t)n + 1);

		va_start(ap, fmt);
		vsnprintf(t, (size_t)n + 1, fmt, ap);
		va_end(ap);
		mlc_buf_add(&b, t, (size_t)n);
		free(t);
	}
	mlc_buf_adds(&b, "\033[K");
	write_all2(b.p, b.len);
	mlc_buf_free(&b);
	lg.shown = 1;
	lg.drawn_ms = now;
}

void
mlc_progress_end(void)
{
	progress_wipe();
}

int
mlc_util_std_args(int argc, char **argv, const char *usage)
{
	if (argc < 2)
		return 0;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, stdout);
		mlc_util_exit(MLC_EX_OK);
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s (ml-connector) %s\n", mlc_progname, MLC_VERSION);
		mlc_util_exit(MLC_EX_OK);
	}
	return 0;
}

void
mlc_util_usage(const char *usage, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vlog(MLC_LOG_ERR, fmt, ap);
		va_end(ap);
	}
	fputs(usage, stderr);
	exit(MLC_EX_USAGE);
}

long
mlc_util_num_arg(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		mlc_die(MLC_EX_USAGE, "%s %s: expected a number from %ld to %ld", opt, s, lo, hi);
	return v;
}

static volatile sig_atomic_t *stop_flag;

static void
on_stop(int sig)
{
	*stop_flag = sig;
}

void
mlc_util_signals(volatile sig_atomic_t *stop)
{
	struct sigaction sa;

	signal(SIGPIPE, SIG_IGN);
	if (!stop)
		return;
	stop_flag = stop;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * A pipe's buffer is 64 KiB on Linux: less than one AIS page of joined
 * records.  A stage that waits on the network per batch (jde-join's lookups)
 * would stop the writer before it (jde-fetch) from writing its next page,
 * and the two round trips would follow one another instead of overlapping.
 * Best effort: 1 MiB (the default /proc/sys/fs/pipe-max-size, allowed
 * without privilege), nothing on a file, a tty, or a kernel that refuses.
 */
void
mlc_util_pipe_room(int fd)
{
#ifdef F_SETPIPE_SZ
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fcntl(fd, F_GETPIPE_SZ) < (1 << 20))
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
#else
	(void)fd;
#endif
}

void
mlc_util_exit(int code)
{
	/* Like sbase's fshut: an output error found only at close still fails. */
	if (fflush(stdout) == EOF || ferror(stdout) || fclose(stdout) == EOF) {
		if (code == MLC_EX_OK || code == MLC_EX_DATAERR)
			mlc_warn("write error on stdout: %s", strerror(errno));
		exit(code == MLC_EX_OK || code == MLC_EX_DATAERR ? MLC_EX_IOERR : code);
	}
	exit(code);
}

void
mlc_util_nodump(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* ---- memory ---- */

static void
oom(size_t n)
{
	mlc_die(MLC_EX_SOFTWARE, "out of memory (%zu bytes)", n);
}

void *
mlc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *
mlc_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p)
		oom(n * m);
	return p;
}

void *
mlc_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

char *
mlc_xstrdup(const char *s)
{
	return mlc_xstrndup(s, strlen(s));
}

char *
mlc_xstrndup(const char *s, size_t n)
{
	char *p = mlc_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- buffers ---- */

void
mlc_buf_init(struct mlc_buf *b)
{
	b->cap = 256;
	b->len = 0;
	b->p = mlc_xmalloc(b->cap);
	b->p[0] = '\0';
}

void
mlc_buf_reset(struct mlc_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void
mlc_buf_free(struct mlc_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
mlc_buf_wipe(struct mlc_buf *b)
{
	if (b->p)
		sodium_memzero(b->p, b->cap);
	mlc_buf_free(b);
}

static void
grow_more(struct mlc_buf *b, size_t n)
{
	size_t need;

	if (!b->p)
		mlc_buf_init(b);
	need = b->len + n + 1;
	if (need < b->len)
		oom(SIZE_MAX);
	if (need <= b->cap)
		return;
	while (b->cap < need)
		b->cap = b->cap < SIZE_MAX / 2 ? b->cap * 2 : need;
	b->p = mlc_xrealloc(b->p, b->cap);
}

/* Room for n more bytes and the NUL: the common case inline (len < cap). */
static inline void
grow(struct mlc_buf *b, size_t n)
{
	if (!b->p || n >= b->cap - b->len)
		grow_more(b, n);
}

void
mlc_buf_add(struct mlc_buf *b, const void *data, size_t n)
{
	grow(b, n);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
mlc_buf_adds(struct mlc_buf *b, const char *s)
{
	mlc_buf_add(b, s, strlen(s));
}

void
mlc_buf_addc(struct mlc_buf *b, char c)
{
	grow(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void
mlc_buf_printf(struct mlc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

int
mlc_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
mlc_ull_digits(char *out, unsigned long long u, size_t min)
{
	char dig[MLC_ULL_DIGITS], *p = dig + sizeof dig - 1;
	size_t n;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u || (size_t)(dig + sizeof dig - 1 - p) < min);
	n = (size_t)(dig + sizeof dig - 1 - p);
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}

/*
 * Eight bytes at a time (word-at-a-time tests, "Bit Twiddling Hacks"):
 * w8_ascii, none has its high bit; w8_bad, those that mlc_buf_json_str
 * does not copy as they are (it copies 0x20 to 0x7f but '"' and '\\').
 */
#define W8_ONES 0x0101010101010101ull
#define W8_HIGH 0x8080808080808080ull
static uint64_t
w8_load(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof w);
	return w;
}

static int
w8_ascii(uint64_t w)
{
	return !(w & W8_HIGH);
}

/*
 * The bytes of w that are not plain, as high bits: 0 for none, and
 * the lowest set bit is the first such byte's (a borrow only carries
 * upward from a byte that is one), so that a run is copied up to it.
 */
static uint64_t
w8_bad(uint64_t w)
{
	uint64_t q = w ^ (W8_ONES * '"'), b = w ^ (W8_ONES * '\\');

	return (w | ((w - W8_ONES * 0x20) & ~w) | ((q - W8_ONES) & ~q) | ((b - W8_ONES) & ~b)) &
	       W8_HIGH;
}

size_t
mlc_utf8_valid_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (i + 8 <= n && w8_ascii(w8_load(p + i))) {
			i += 8;
			continue;
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (!(k = utf8_seq(p + i, n - i)))
			return i;
		i += k;
	}
	return n;
}

int
mlc_utf8_valid(const char *s, size_t n)
{
	return mlc_utf8_valid_len(s, n) == n;
}

void
mlc_buf_json_str(struct mlc_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, k;
	char *o;

	grow(b, n + 2);
	b->p[b->len++] = '"';
	while (i < n) {
		unsigned c = p[i];

		if (i + 8 <= n) {
			uint64_t m = w8_bad(w8_load(p + i));

			if (!m) {
				i += 8;
				continue;
			}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* to the first byte that is not plain */
			i += (size_t)__builtin_ctzll(m) >> 3;
			c = p[i];
#endif
		}
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_seq(p + i, n - i))) {
			i += k;
			continue;
		}
		/* the run before, then the escape: at most 6 bytes; the rest and the quote: n - i + 1 */
		grow(b, i - run + 6 + (n - i) + 1);
		memcpy(b->p + b->len, s + run, i - run);
		b->len += i - run;
		o = b->p + b->len;
		switch (c) {
		case '"': o[0] = '\\'; o[1] = '"'; b->len += 2; break;
		case '\\': o[0] = '\\'; o[1] = '\\'; b->len += 2; break;
		case '\n': o[0] = '\\'; o[1] = 'n'; b->len += 2; break;
		case '\r': o[0] = '\\'; o[1] = 'r'; b->len += 2; break;
		case '\t': o[0] = '\\'; o[1] = 't'; b->len += 2; break;
		case '\b': o[0] = '\\'; o[1] = 'b'; b->len += 2; break;
		case '\f': o[0] = '\\'; o[1] = 'f'; b->len += 2; break;
		default:
			if (c < 0x20) {
				char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

				memcpy(o, u, 6);
				b->len += 6;
			} else {
				memcpy(o, "\xEF\xBF\xBD", 3); /* invalid UTF-8 */
				b->len += 3;
			}
		}
		run = ++i;
	}
	grow(b, i - run + 1);
	memcpy(b->p + b->len, s + run, i - run);
	b->len += i - run;
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

void
mlc_buf_form_enc(struct mlc_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '*') {
			mlc_buf_addc(b, (char)c);
		} else if (c == ' ') {
			mlc_buf_addc(b, '+');
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			mlc_buf_add(b, e, 3);
		}
	}
}

/* ---- time ---- */

static int
digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
long
mlc_time_days(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
mlc_time_parse(const char *s, struct timespec *ts)
{
	int Y, M, D, h, m, sec, oh, om;
	long nsec = 0;
	const char *p;
	long long t;

	if (s[0] == '@') {
		char *end;

		errno = 0;
		t = strtoll(s + 1, &end, 10);
		if (errno || end == s + 1 || *end)
			return -1;
		ts->tv_sec = (time_t)t;
		ts->tv_nsec = 0;
		return 0;
	}
	if (strlen(s) < 19 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
	    s[7] != '-' || digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		long scale = 100000000;

		for (p++; *p >= '0' && *p <= '9'; p++) {
			nsec += (*p - '0') * scale;
			scale /= 10;
		}
	}
	t = (long long)mlc_time_days(Y, M, D) * 86400 + h * 3600 + m * 60 + sec;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && !digits(p + 1, 2, &oh) && p[3] == ':' &&
	           !digits(p + 4, 2, &om)) {
		long off = oh * 3600L + om * 60L;

		t += *p == '+' ? -off : off;
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	ts->tv_sec = (time_t)t;
	ts->tv_nsec = nsec;
	return 0;
}

int
mlc_file_replace(const char *path, const void *data, size_t n, mode_t mode)
{
	size_t len = strlen(path) + sizeof ".XXXXXX";
	char *tmp = mlc_xmalloc(len);
	const char *p = data;
	int fd, e;

	snprintf(tmp, len, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		e = errno;
		free(tmp);
		errno = e;
		return -1;
	}
	/* mkstemp makes 0600; a umask such as a unit's UMask=0077 is not ours
	 * to keep when the caller names the mode */
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		n -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	errno = e;
	return -1;
}

int
mlc_time_now(struct timespec *ts)
{
	const char *o = getenv("ML_CONNECTOR_NOW");

	if (o && *o)
		return mlc_time_parse(o, ts);
	clock_gettime(CLOCK_REALTIME, ts);
	return 0;
}

void
mlc_time_fmt(char out[32], const struct timespec *ts)
{
	struct tm tm;
	time_t t = ts->tv_sec;

	gmtime_r(&t, &tm);
	char ymd[16];

	strftime(ymd, sizeof ymd, "%Y-%m-%d", &tm);
	snprintf(out, 32, "%.10sT%02u:%02u:%02u.%03uZ", ymd, (unsigned)tm.tm_hour % 24,
	         (unsigned)tm.tm_min % 60, (unsigned)tm.tm_sec % 61,
	         (unsigned)(ts->tv_nsec / 1000000) % 1000);
}

void
mlc_time_now_text(char out[32])
{
	struct timespec ts;

	mlc_time_now(&ts);
	mlc_time_fmt(out, &ts);
}

uint64_t
mlc_time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- time zones ---- */

int
mlc_tz_valid(const char *zone)
{
	const char *dir = getenv("TZDIR");
	char path[4096], magic[4];
	struct stat st;
	int fd, ok;

	if (!zone || !*zone || zone[0] == '/' || zone[0] == ':' || strstr(zone, ".."))
		return 0;
	if (strcmp(zone, "UTC") == 0)
		return 1;
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, zone) >= sizeof path)
		return 0;
	/* A directory ("America") or any other file would make the C library
	 * fall back to UTC without a word: only a TZif file is a zone. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, magic, 4) == 4 &&
	     memcmp(magic, "TZif", 4) == 0;
	close(fd);
	return ok;
}

int
mlc_tz_enter(struct mlc_tz_saved *sv, const char *zone)
{
	const char *o = getenv("TZ");

	sv->old = NULL;
	sv->had = o != NULL;
	if (!mlc_tz_valid(zone))
		return -1;
	if (o)
		sv->old = mlc_xstrdup(o);
	/* "UTC0" is POSIX and needs no file. */
	setenv("TZ", strcmp(zone, "UTC") == 0 ? "UTC0" : zone, 1);
	tzset();
	return 0;
}

void
mlc_tz_leave(struct mlc_tz_saved *sv)
{
	if (sv->had)
		setenv("TZ", sv->old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(sv->old);
	sv->old = NULL;
}
