/* tests/fuzz/fuzz.h — shared declaration for the fuzz targets (libFuzzer
 * entry point; also called by replay-main.c in the gcc-built replayers). */
#ifndef MLC_FUZZ_H
#define MLC_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * MLC_FUZZ_JQ_LEAK("leak:FUNCTION\n"): the sanitizer options of a target
 * that meets a known libjq 1.6 leak (the target says which, and why it is
 * not ours).  LeakSanitizer ignores leaks whose stack goes through
 * FUNCTION, and only those; libjq has no frame pointers, so stacks are
 * taken the slow way for that to match.  That is too slow for fuzzing: the
 * libFuzzer build (MLC_LIBFUZZER) runs without leak checks, and the replay
 * in the ASan suite (tests/1200) checks leaks.
 */
#ifdef MLC_LIBFUZZER
#define MLC_FUZZ_ASAN_OPTIONS "detect_leaks=0"
#else
#define MLC_FUZZ_ASAN_OPTIONS "fast_unwind_on_malloc=0"
#endif
#define MLC_FUZZ_JQ_LEAK(suppressions) \
	const char *__asan_default_options(void); \
	const char *__asan_default_options(void) { return MLC_FUZZ_ASAN_OPTIONS; } \
	const char *__lsan_default_suppressions(void); \
	const char *__lsan_default_suppressions(void) { return suppressions; }
#endif
