/*
 * writefault.c — an LD_PRELOAD shim that makes write(2) and writev(2) on one
 * file descriptor fail after a byte budget, so the tests can prove that a
 * filter reports a write error with the I/O status and stops (tests/1210).
 *
 *   WRITEFAULT_FD=N       the descriptor to fault (default 1); others pass
 *   WRITEFAULT_AFTER=N    bytes let through before the fault (unset: never)
 *   WRITEFAULT_ERRNO=E    EPIPE, ENOSPC (default) or EIO
 *   WRITEFAULT_MODE=M     whole (default): the call that would cross the
 *                         budget fails with nothing written, as a pipe or a
 *                         disk refuses a write;  partial: that call writes
 *                         what is left of the budget and returns the short
 *                         count, and the next call fails (a disk filling up
 *                         in the middle of a write)
 *   WRITEFAULT_SHORT=K    every call writes at most K bytes, so the
 *                         caller's loop over short writes is exercised
 *   WRITEFAULT_LOG=FILE   one line appended per refused call ("refused LEN")
 *                         and per cut write ("partial GOT of LEN")
 *
 * Once a call has failed every later call on the descriptor fails too.  The
 * log shows whether the program stopped at the first error (one "refused")
 * or tried again.  Only write and writev are interposed: the filters write
 * their NDJSON with writev (src/ndjson.c), and stdio's own writes go to
 * libc's internal symbol, which no preloaded object can replace.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);

static int wf_fd = 1;
static unsigned long long wf_after = (unsigned long long)-1;
static int wf_errno = ENOSPC;
static int wf_partial;
static size_t wf_short;
static const char *wf_log;

static unsigned long long passed; /* bytes let through so far */
static int faulted;              /* every call fails from now on */

__attribute__((constructor)) static void
wf_init(void)
{
	const char *s;

	real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	if ((s = getenv("WRITEFAULT_FD")) && *s)
		wf_fd = atoi(s);
	if ((s = getenv("WRITEFAULT_AFTER")) && *s)
		wf_after = strtoull(s, NULL, 10);
	if ((s = getenv("WRITEFAULT_ERRNO")) && *s)
		wf_errno = strcmp(s, "EPIPE") == 0 ? EPIPE : strcmp(s, "EIO") == 0 ? EIO : ENOSPC;
	if ((s = getenv("WRITEFAULT_MODE")) && strcmp(s, "partial") == 0)
		wf_partial = 1;
	if ((s = getenv("WRITEFAULT_SHORT")) && *s)
		wf_short = strtoul(s, NULL, 10);
	wf_log = getenv("WRITEFAULT_LOG");
}

static void
note(const char *what, size_t got, size_t len)
{
	char line[80];
	int fd, n;

	if (!wf_log || !*wf_log || !real_write)
		return;
	if (got == (size_t)-1)
		n = snprintf(line, sizeof line, "%s %zu\n", what, len);
	else
		n = snprintf(line, sizeof line, "%s %zu of %zu\n", what, got, len);
	fd = open(wf_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (real_write(fd, line, (size_t)n) < 0) {
		/* the log is best effort */
	}
	close(fd);
}

/* How many of len bytes this call may write: len, fewer, or -1 (fail). */
static ssize_t
allow(size_t len)
{
	unsigned long long left;

	if (faulted) {
		note("refused", (size_t)-1, len);
		errno = wf_errno;
		return -1;
	}
	if (wf_short && len > wf_short)
		len = wf_short;
	left = wf_after - passed;
	if (len <= left)
		return (ssize_t)len;
	faulted = 1;
	if (wf_partial && left > 0) {
		note("partial", (size_t)left, len);
		return (ssize_t)left;
	}
	note("refused", (size_t)-1, len);
	errno = wf_errno;
	return -1;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	ssize_t n, w;

	if (!real_write)
		wf_init();
	if (fd != wf_fd || len == 0)
		return real_write(fd, buf, len);
	if ((n = allow(len)) < 0)
		return -1;
	w = real_write(fd, buf, (size_t)n);
	if (w > 0)
		passed += (unsigned long long)w;
	return w;
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	struct iovec cut[1024]; /* IOV_MAX on Linux */
	size_t len = 0, left;
	ssize_t n, w;
	int i, k;

	if (!real_writev)
		wf_init();
	for (i = 0; i < cnt; i++)
		len += iov[i].iov_len;
	if (fd != wf_fd || len == 0 || cnt < 0 || cnt > 1024)
		return real_writev(fd, iov, cnt);
	if ((n = allow(len)) < 0)
		return -1;
	/* Trim the vector to the n bytes allowed. */
	left = (size_t)n;
	for (k = 0; k < cnt && left > 0; k++) {
		cut[k] = iov[k];
		if (cut[k].iov_len > left)
			cut[k].iov_len = left;
		left -= cut[k].iov_len;
	}
	w = real_writev(fd, cut, k);
	if (w > 0)
		passed += (unsigned long long)w;
	return w;
}
