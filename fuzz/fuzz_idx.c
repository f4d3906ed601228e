/* libFuzzer target: fuzz_idx (fuzz/entries.h). */
#include "fuzz/entries.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_idx(data, size); }
