/* fuzz_ffmpeg.c — fuzz target for the FFmpeg decoding path (src/audio/ffmpeg.c): the custom I/O
 * over memory and over a FILE*, stream selection, the decoder loop, libswresample and the output
 * buffer.  Every input is read with am_audio_read_memory and, written to a file, with
 * am_audio_read_file (the streaming FILE* path).  Inputs starting with RIFF/RF64 belong to the WAV
 * parser (fuzz_wav.c) and are skipped, as are inputs over FUZZ_FFMPEG_MAX_BYTES: FFmpeg is slow
 * and the interesting structure of a container is in its first kilobytes.
 *
 * A result must be finite samples or a non-empty one-line message with no samples.  Needs a build
 * with FFmpeg (AM_HAVE_FFMPEG); the Makefile builds this target only then. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "fuzz_util.h"

#define FUZZ_FFMPEG_MAX_BYTES 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(int rc, const float *samples, size_t n, const char *err) {
    if (rc == AM_OK) {
        if (n && !samples) abort();
        for (size_t i = 0; i < n; i++)
            if (!isfinite(samples[i])) abort();
    } else if (err[0] == '\0' || samples || n || strchr(err, '\n')) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > FUZZ_FFMPEG_MAX_BYTES) return 0;
    if (size >= 4 && (memcmp(data, "RIFF", 4) == 0 || memcmp(data, "RF64", 4) == 0)) return 0;
    float *samples = NULL;
    size_t n = 0;
    char err[512] = "";
    int rc = am_audio_read_memory(data, size, &samples, &n, err, sizeof err);
    check_result(rc, samples, n, err);
    am_audio_free(samples);

    char path[512];
    fuzz_write_file(fuzz_path("input.bin", path, sizeof path), data, size);
    samples = NULL;
    n = 0;
    char ferr[1024] = "";
    rc = am_audio_read_file(path, &samples, &n, ferr, sizeof ferr);
    check_result(rc, samples, n, ferr);
    am_audio_free(samples);
    return 0;
}
