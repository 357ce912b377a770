/* fuzz_vad.c — fuzz target for the Silero VAD weights reader (vad_silero_load_memory in
 * src/vad/silero.c).  A file that loads is also run on 0.07 s of deterministic noise: one
 * probability per frame, none outside [0, 1] (NaN is allowed: finite weights of any size can
 * overflow the float forward pass).  A failed load must
 * leave no model and give a non-empty one-line message.  Seeds: the real weights
 * (data/silero-vad-v6.2.0-ggml.bin, passed by the Makefile) and small headers in the corpus. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "vad/vad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_model(const vad_silero *v) {
    float pcm[1100];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof pcm / sizeof pcm[0]; i++) {
        x = x * 1103515245u + 12345u;
        pcm[i] = (float)((x >> 16) & 0x7fff) / 32768.0f - 0.5f;
    }
    float *probs = NULL;
    size_t n = 0;
    if (vad_silero_probs(v, pcm, sizeof pcm / sizeof pcm[0], 1, &probs, &n) != AM_OK) abort();
    if (n != sizeof pcm / sizeof pcm[0] / VAD_WINDOW + 1) abort();
    for (size_t i = 0; i < n; i++)
        if (probs[i] < 0.0f || probs[i] > 1.0f) abort();
    free(probs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vad_silero *v = NULL;
    char err[512] = "";
    int rc = vad_silero_load_memory(data, size, &v, err, sizeof err);
    if (rc == AM_OK) {
        if (!v) abort();
        run_model(v);
        vad_silero_free(v);
    } else if (v || err[0] == '\0' || strchr(err, '\n')) {
        abort();
    }
    return 0;
}
