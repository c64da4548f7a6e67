/* Fuzz target: the NDJSON line reader (ndjson.c) with a small line cap.
 * The reader uses read(2) on fileno(f), so the input goes through a real
 * file (one temporary file, rewritten for every input), not fmemopen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlc.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *f, *devnull;
	FILE *saved_err;
	struct mlc_ndjson_reader *r;
	char *line;
	size_t len;
	int rc, n = 0, fd;

	if (size == 0)
		return 0;
	if (!f && !(f = tmpfile()))
		abort();
	fd = fileno(f);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	/* Messages go to stderr: silence them. */
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	saved_err = stderr;
	if (devnull)
		stderr = devnull;
	r = mlc_ndjson_open(f, "fuzz", 64 + (size_t)(data[0] & 0x3f) * 64);
	if (r) {
		while ((rc = mlc_ndjson_read(r, &line, &len)) != 0 && n++ < 100000) {
			if (rc > 0 && strlen(line) > len)
				abort(); /* the line must be NUL-terminated at len */
			(void)mlc_ndjson_pending(r);
		}
		(void)mlc_ndjson_lineno(r);
		(void)mlc_ndjson_error(r);
		mlc_ndjson_close(r);
	}
	stderr = saved_err;
	return 0;
}
