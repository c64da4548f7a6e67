/*
 * ndjson.c — reading newline-delimited input with a line cap and line
 * numbers, and writing whole lines.
 *
 * The reader keeps one buffer and hands out lines in place, so memory is
 * bounded by the longest accepted line (at most the cap), not by the input.
 * A line over the cap is reported and skipped up to its newline, so one
 * hostile record cannot stop the stream.  An unterminated last line means
 * the producer died mid-write: it is reported as truncated input, never
 * passed on as data.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include "mlc.h"

struct mlc_ndjson_reader {
	FILE *f;
	char *name;
	size_t maxline;
	char *buf;
	size_t cap, start, end;
	unsigned long lineno;
	int eof;
	int err;      /* MLC_EX_DATAERR or MLC_EX_IOERR after a -1 */
	int skipping; /* discarding the rest of an over-long line */
	char msg[160]; /* what the last -1 was, without the line number */
};

struct mlc_ndjson_reader *
mlc_ndjson_open(FILE *f, const char *name, size_t maxline)
{
	struct mlc_ndjson_reader *r = mlc_xcalloc(1, sizeof *r);

	r->f = f;
	r->name = mlc_xstrdup(!name || strcmp(name, "-") == 0 ? "stdin" : name);
	r->maxline = maxline ? maxline : MLC_NDJSON_MAXLINE;
	r->cap = 65536;
	r->buf = mlc_xmalloc(r->cap);
	return r;
}

void
mlc_ndjson_close(struct mlc_ndjson_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->name);
	free(r);
}

unsigned long
mlc_ndjson_lineno(const struct mlc_ndjson_reader *r)
{
	return r->lineno;
}

int
mlc_ndjson_pending(const struct mlc_ndjson_reader *r)
{
	return r->end > r->start && memchr(r->buf + r->start, '\n', r->end - r->start) != NULL;
}

int
mlc_ndjson_error(const struct mlc_ndjson_reader *r)
{
	return r->err;
}

const char *
mlc_ndjson_errmsg(const struct mlc_ndjson_reader *r)
{
	return r->msg;
}

/* Report a bad line: "NAME: line N: MSG" on stderr, MSG kept for the caller. */
static void
bad_line(struct mlc_ndjson_reader *r, const char *msg)
{
	snprintf(r->msg, sizeof r->msg, "%s", msg);
	mlc_warn("%s: line %lu: %s", r->name, r->lineno, r->msg);
	r->err = MLC_EX_DATAERR;
}

/* Read more input after the data kept; 1 if some came, 0 at EOF, -1 error. */
static int
fill(struct mlc_ndjson_reader *r)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		size_t ncap = r->cap * 2;

		if (ncap > r->maxline + 1)
			ncap = r->maxline + 1;
		if (ncap <= r->cap)
			return 1; /* full at the cap: the caller sees an over-long line */
		r->cap = ncap;
		r->buf = mlc_xrealloc(r->buf, r->cap);
	}
	/*
	 * read(2), not fread(3): fread waits until its whole count is there,
	 * so a line would sit in our buffer until 64 KiB or end of input came
	 * after it.  read returns what the pipe holds, and a filter passes each
	 * line on as soon as it is complete.
	 */
	for (;;) {
		ssize_t k = read(fileno(r->f), r->buf + r->end, r->cap - r->end);

		if (k > 0) {
			r->end += (size_t)k;
			return 1;
		}
		if (k == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

int
mlc_ndjson_read(struct mlc_ndjson_reader *r, char **line, size_t *len)
{
	for (;;) {
		char *nl = NULL;
		int k;

		if (r->end > r->start)
			nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl) {
			size_t n = (size_t)(nl - (r->buf + r->start));
			char *p = r->buf + r->start;

			r->start += n + 1;
			if (r->skipping) {
				r->skipping = 0;
				continue;
			}
			r->lineno++;
			if (n > r->maxline) {
				char m[96];

				snprintf(m, sizeof m, "line longer than %zu bytes; skipped", r->maxline);
				bad_line(r, m);
				return -1;
			}
			*nl = '\0';
			if (n > 0 && p[n - 1] == '\r')
				p[--n] = '\0';
			*line = p;
			*len = n;
			return 1;
		}
		if (r->skipping) {
			r->start = r->end; /* drop what we have of the long line */
		} else if (r->end - r->start > r->maxline) {
			char m[96];

			r->lineno++;
			snprintf(m, sizeof m, "line longer than %zu bytes; skipped", r->maxline);
			bad_line(r, m);
			r->skipping = 1;
			r->start = r->end;
			return -1;
		}
		if (r->eof)
			return 0;
		k = fill(r);
		if (k < 0) {
			snprintf(r->msg, sizeof r->msg, "read error: %s", strerror(errno));
			mlc_warn("%s: read error after line %lu: %s", r->name, r->lineno,
			         strerror(errno));
			r->eof = 1;
			r->start = r->end = 0;
			r->err = MLC_EX_IOERR;
			return -1;
		}
		if (k == 0) {
			r->eof = 1;
			if (r->end > r->start && !r->skipping) {
				r->lineno++;
				bad_line(r, "truncated input (no newline at end); line discarded");
				r->start = r->end;
				return -1;
			}
			r->start = r->end;
			return 0;
		}
	}
}

int
mlc_ndjson_write(int fd, const char *buf, size_t n)
{
	struct iovec iov[2];
	int cnt;

	if (n > 0 && buf[n - 1] == '\n')
		n--;
	iov[0].iov_base = (void *)buf;
	iov[0].iov_len = n;
	iov[1].iov_base = "\n";
	iov[1].iov_len = 1;
	cnt = 2;
	while (cnt > 0) {
		ssize_t w = writev(fd, iov + (2 - cnt), cnt);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (cnt > 0 && (size_t)w >= iov[2 - cnt].iov_len) {
			w -= (ssize_t)iov[2 - cnt].iov_len;
			cnt--;
		}
		if (cnt > 0) {
			iov[2 - cnt].iov_base = (char *)iov[2 - cnt].iov_base + w;
			iov[2 - cnt].iov_len -= (size_t)w;
		}
	}
	return 0;
}

int
mlc_ndjson_put(int fd, struct mlc_buf *b)
{
	return mlc_ndjson_write(fd, b->p, b->len);
}
