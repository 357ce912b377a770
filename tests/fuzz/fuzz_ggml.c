/* fuzz_ggml.c — fuzz target for the whisper.cpp ggml model reader (src/model/ggml.c: header, mel
 * filters, token list, tensor records) and what a model file reaches at load (model_build_weights,
 * tensor conversion, quantisation, the CPU backend placing the weights, the tokenizer built from
 * the token bytes).
 *
 * The input is written to a scratch file and loaded with am_model_load_ex (the format is found by
 * its magic), int8 or float32 by the input's length.  A load either succeeds or fails with a
 * non-empty one-line message.  Seeds: tiny synthetic models written by tests/fuzz/gen_seeds.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[512];
    if (!path[0]) fuzz_path("ggml-model.bin", path, sizeof path);
    fuzz_write_file(path, data, size);
    fuzz_load_model(path, size);
    return 0;
}
