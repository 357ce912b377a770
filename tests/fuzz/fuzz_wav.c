/* fuzz_wav.c — fuzz target for the WAV reader (src/audio/wav.c), through both public entry points.
 *
 * Inputs that do not start like a RIFF/RF64 file go to FFmpeg (fuzz_ffmpeg.c covers that path) and
 * are skipped.  Each input is read from memory (am_audio_read_memory) and, when it has a RIFF/WAVE
 * header, also from a file (am_audio_read_file: the mapped path that releases pages as it decodes).
 * Both must agree exactly.  A result must be either samples (non-empty, finite) or a non-empty
 * one-line message with no samples.
 *
 * Built by the Makefile (make fuzz-short / make fuzz) with tests/fuzz/driver.c, or with libFuzzer. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(int rc, const float *samples, size_t n, const char *err) {
    if (rc == AM_OK) {
        if (n == 0 || !samples) abort();
        for (size_t i = 0; i < n; i++)
            if (!isfinite(samples[i])) abort();
    } else if (err[0] == '\0' || samples || n || strchr(err, '\n')) {
        abort();
    }
}

static int is_riff_wave(const uint8_t *data, size_t size) {
    return size >= 12 && (!memcmp(data, "RIFF", 4) || !memcmp(data, "RF64", 4)) && !memcmp(data + 8, "WAVE", 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4 || (memcmp(data, "RIFF", 4) != 0 && memcmp(data, "RF64", 4) != 0)) return 0;
    float *mem = NULL;
    size_t n_mem = 0;
    char err[512] = "";
    int rc_mem = am_audio_read_memory(data, size, &mem, &n_mem, err, sizeof err);
    check_result(rc_mem, mem, n_mem, err);

    if (is_riff_wave(data, size)) {
        char path[512];
        fuzz_write_file(fuzz_path("input.wav", path, sizeof path), data, size);
        float *file = NULL;
        size_t n_file = 0;
        char ferr[1024] = "";
        int rc_file = am_audio_read_file(path, &file, &n_file, ferr, sizeof ferr);
        check_result(rc_file, file, n_file, ferr);
        if (rc_file != rc_mem || n_file != n_mem || (n_mem && memcmp(file, mem, n_mem * sizeof *mem) != 0)) abort();
        am_audio_free(file);
    }
    am_audio_free(mem);
    return 0;
}
