/* libFuzzer target: fuzz_safetensors_header (fuzz/entries.h). */
#include "fuzz/entries.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_safetensors_header(data, size);
}
