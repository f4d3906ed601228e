/* libFuzzer target: fuzz_idx_gz (fuzz/entries.h). */
#include "fuzz/entries.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_idx_gz(data, size); }
