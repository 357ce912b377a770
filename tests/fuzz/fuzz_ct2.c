/* fuzz_ct2.c — fuzz target for the CTranslate2 model.bin reader (src/model/ct2.c: the variable
 * table, aliases, scales) and everything a model file reaches at load: model_build_weights and the
 * tensor conversions (src/model/model.c, tensors.c, quantize.c) and the CPU backend placing the
 * weights (backend_create).
 *
 * The input is written as model.bin into a scratch directory that also holds a valid
 * vocabulary.txt and config.json (tests/fuzz/synth_models.h), and loaded with am_model_load_ex,
 * int8 or float32 by the input's length.  A load either succeeds or fails with a non-empty one-line
 * message.  Seeds: tiny synthetic models written by tests/fuzz/gen_seeds.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "fuzz_util.h"
#include "synth_models.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char model_dir[512], model_bin[512];

static void prepare_directory(void) {
    char path[512];
    synth_buf b = {0};
    synth_vocabulary_txt(&b);
    fuzz_write_file(fuzz_path("ct2/vocabulary.txt", path, sizeof path), b.data, b.len);
    b.len = 0;
    synth_config_json(&b);
    fuzz_write_file(fuzz_path("ct2/config.json", path, sizeof path), b.data, b.len);
    free(b.data);
    fuzz_path("ct2/model.bin", model_bin, sizeof model_bin);
    snprintf(model_dir, sizeof model_dir, "%s/ct2", fuzz_scratch_dir());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model_dir[0]) prepare_directory();
    fuzz_write_file(model_bin, data, size);
    fuzz_load_model(model_dir, size);
    return 0;
}
