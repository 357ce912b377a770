/* vad_plan.c — voice activity detection before transcription (params.vad != 0): where the speech
 * is, and the chunks of at most 30 s of speech that transcribe.c decodes as streams.
 *
 *   samples[n] --VAD--> probs[n/512 + 1] --vad_speech_segments--> speech segments (original samples)
 *              --vad_collect_chunks--> chunks (<= 30 s of speech each, silences between segments removed)
 *
 * The Silero model file: params.vad_model, else $AMANUENSIS_VAD_MODEL, else
 * <directory of the executable>/../data/silero-vad-v6.2.0-ggml.bin (the build tree), else
 * <directory of the executable, then of libamanuensis.so>/../share/amanuensis/silero-vad-v6.2.0-ggml.bin
 * (an installed tree: `make install` puts the program in bin/, the library in lib/ and the weights in
 * share/amanuensis/, so the program and programs linked with the shared library find them wherever
 * PREFIX was), else ./data/silero-vad-v6.2.0-ggml.bin.  An explicitly named file that
 * cannot be loaded is an error; when none is named and none is found, the energy detector is used
 * instead. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"
#include "decode/vad_plan.h"
#include "audio/pcm.h"

#define VAD_MODEL_FILE "silero-vad-v6.2.0-ggml.bin"

void vad_plan_free(vad_plan *pl) {
    free(pl->segs);
    free(pl->chunks);
    memset(pl, 0, sizeof *pl);
}

int vad_plan_model_path(const am_params *p, char *out, size_t size, int *explicit_) {
    const char *named = p->vad_model && *p->vad_model ? p->vad_model : getenv("AMANUENSIS_VAD_MODEL");
    *explicit_ = named && *named;
    return am_find_data_file(named, "data", VAD_MODEL_FILE, out, size);
}

int vad_plan_build(const pcm_store *pcm, const am_params *p, vad_plan *pl, char *err, size_t err_size) {
    const size_t n = pcm_store_size(pcm);
    memset(pl, 0, sizeof *pl);
    float *probs = NULL;
    size_t n_frames = 0;
    int rc;
    pl->detector = p->vad == 2 ? 2 : 1;
    if (pl->detector == 1) {
        char path[4096];
        int explicit_ = 0;
        if (vad_plan_model_path(p, path, sizeof path, &explicit_)) {
            vad_silero *v = NULL;
            rc = vad_silero_load(path, &v, err, err_size);
            if (rc != AM_OK) return rc; /* the message names the file */
            int threads = p->n_threads > 0 ? p->n_threads : am_cpu_count();
            rc = vad_silero_probs_store(v, pcm, threads, &probs, &n_frames);
            vad_silero_free(v);
            if (rc != AM_OK) return am_fail(err, err_size, rc, "voice activity detection failed: %s", am_status_string(rc));
        } else {
            pl->detector = 2; /* no model anywhere: the energy detector */
        }
    }
    if (pl->detector == 2) {
        rc = vad_energy_probs_store(pcm, &probs, &n_frames);
        if (rc != AM_OK) return am_fail(err, err_size, rc, "voice activity detection failed: %s", am_status_string(rc));
    }

    vad_options o = vad_options_default();
    o.threshold = p->vad_threshold;
    o.min_speech_ms = p->vad_min_speech_ms;
    o.min_silence_ms = p->vad_min_silence_ms;
    o.speech_pad_ms = p->vad_speech_pad_ms;
    o.max_speech_s = p->vad_max_speech_s > 0.0f ? p->vad_max_speech_s : INFINITY;
    rc = vad_speech_segments(probs, n_frames, n, &o, &pl->segs, &pl->n_segs);
    free(probs);
    if (rc == AM_OK) rc = vad_collect_chunks(pl->segs, pl->n_segs, VAD_CHUNK_SAMPLES,
                                            p->vad_chunk_gap_ms < 0 ? SIZE_MAX
                                                                    : (size_t)p->vad_chunk_gap_ms * (AM_SAMPLE_RATE / 1000),
                                            &pl->chunks, &pl->n_chunks);
    if (rc != AM_OK) {
        vad_plan_free(pl);
        return am_fail(err, err_size, rc, "voice activity detection failed: %s", am_status_string(rc));
    }
    return AM_OK;
}

