/* tests/fuzz/replay-main.c — run a fuzz target's LLVMFuzzerTestOneInput on
 * each file named on the command line (no libFuzzer needed).  Used by
 * tests/1200-fuzz-corpus.t to replay the corpus and the regression inputs. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		unsigned char *buf = NULL;
		size_t n = 0, cap = 0, r;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		for (;;) {
			if (cap - n < 4096) {
				unsigned char *nb;
				cap = cap ? cap * 2 : 8192;
				if (!(nb = realloc(buf, cap))) {
					perror("realloc");
					return 1;
				}
				buf = nb;
			}
			r = fread(buf + n, 1, cap - n, f);
			n += r;
			if (r == 0)
				break;
		}
		if (ferror(f)) {
			perror(argv[i]);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		free(buf);
	}
	return 0;
}
