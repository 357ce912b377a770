/* fuzz_wav.c — libFuzzer target for the WAV reader.
 *
 *   clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
 *         -Iinclude -Isrc tests/fuzz/fuzz_wav.c src/audio/wav.c src/audio/resample.c \
 *         src/common/util.c -lm -o fuzz_wav
 *   ./fuzz_wav -max_len=4096 corpus/
 *
 * Any input must either decode (non-empty, finite samples) or fail with a non-empty message. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "amanuensis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    float *samples = NULL;
    size_t n = 0;
    char err[256] = "";
    int rc = am_audio_read_memory(data, size, &samples, &n, err, sizeof err);
    if (rc == AM_OK) {
        if (n == 0 || !samples) abort();
        for (size_t i = 0; i < n; i++)
            if (!isfinite(samples[i])) abort();
    } else if (err[0] == '\0' || samples) {
        abort();
    }
    am_audio_free(samples);
    return 0;
}
