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
    am_load_options opts = am_load_options_default();
    opts.backend = "cpu";
    opts.precision = size & 1 ? AM_PRECISION_F32 : AM_PRECISION_INT8;
    am_model *m = NULL;
    char err[1024] = "";
    int rc = am_model_load_ex(path, &opts, &m, err, sizeof err);
    if (rc == AM_OK) {
        if (!m) abort();
        am_model_info info;
        am_model_get_info(m, &info);
        if (info.n_vocab < 51864 || info.n_text_layer < 1) abort();
        am_model_free(m);
    } else if (m || err[0] == '\0' || strchr(err, '\n')) {
        abort();
    }
    return 0;
}
