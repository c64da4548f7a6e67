/* tests/fuzz/fuzz.h — shared declaration for the fuzz targets (libFuzzer
 * entry point; also called by replay-main.c in the gcc-built replayers). */
#ifndef MLC_FUZZ_H
#define MLC_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#endif
