/* fuzz_diarize_weights.c — fuzz target for the diarization weight reader (diar_weights_load_memory
 * in src/diarize/weights.c).  A file that loads must hold n tensors whose shapes multiply to their
 * value counts, each found again by name and by its own shape; every value is read (ASan sees a
 * short copy).  A failed load must leave nothing and give a non-empty one-line message.
 * Seeds: small files in tests/fuzz/corpus/diarize_weights/ (tests/fuzz/make-diarize-seeds.py). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "diarize/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    diar_weights *w = NULL;
    char err[512] = "";
    int rc = diar_weights_load_memory(data, size, &w, err, sizeof err);
    if (rc != AM_OK) {
        if (w || err[0] == '\0' || strchr(err, '\n')) abort();
        return 0;
    }
    if (!w || w->n < 1 || w->n > DIAR_MAX_TENSORS) abort();
    volatile float sink = 0;
    for (int i = 0; i < w->n; i++) {
        const diar_tensor *t = &w->t[i];
        int64_t numel = 1;
        for (int k = 0; k < t->n_dims; k++) numel *= t->dims[k];
        if (numel != t->numel || diar_weights_find(w, t->name) != t) abort();
        if (diar_weights_get(w, t->name, t->n_dims, t->dims, err, sizeof err) != t->data) abort();
        for (int64_t j = 0; j < t->numel; j++) sink += t->data[j];
    }
    (void)sink;
    diar_weights_free(w);
    return 0;
}
