/* dump_mel — write the normalised log-mel spectrogram of raw float32 audio.
 *
 *   dump_mel IN.f32 OUT.f32 [n_mels] [n_threads] [f32|q15]
 *
 * The last argument picks the front end: f32 (default, mel.h) or q15 (the integer kernel, mel_q15.h).
 * IN.f32: raw little-endian float32 samples (16 kHz mono).  OUT.f32: raw float32 [n_mels][n_frames]
 * (mel-major).  Prints n_frames on stdout.  n_mels defaults to 80, n_threads to 1.
 * Set DUMP_MEL_TIME=1 to also print the time of one mel_log_spectrogram call on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "amanuensis.h"
#include "common/util.h"
#include "frontend/mel.h"
#include "frontend/mel_q15.h"
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: %s IN.f32 OUT.f32 [n_mels] [n_threads] [f32|q15]\n", argv[0]);
        return 2;
    }
    const int n_mels = argc > 3 ? atoi(argv[3]) : 80;
    const int n_threads = argc > 4 ? atoi(argv[4]) : 1;
    const int q15 = argc > 5 && strcmp(argv[5], "q15") == 0;
    if (n_mels <= 0 || n_mels > 512) {
        fprintf(stderr, "dump_mel: bad n_mels\n");
        return 2;
    }

    unsigned char *data = NULL;
    size_t size = 0;
    char err[256];
    if (am_read_file(argv[1], &data, &size, err, sizeof err) != AM_OK) {
        fprintf(stderr, "dump_mel: %s\n", err);
        return 1;
    }
    const size_t n_samples = size / sizeof(float);
    float *samples = malloc((n_samples ? n_samples : 1) * sizeof *samples);
    float *filters = malloc((size_t)n_mels * AM_N_FREQ * sizeof *filters);
    if (!samples || !filters) {
        fprintf(stderr, "dump_mel: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n_samples; i++) {
        union {
            unsigned char b[4];
            float f;
        } u;
        for (int j = 0; j < 4; j++)
            u.b[j] = data[4 * i + (size_t)j];
        samples[i] = u.f; /* host is little-endian on every supported target */
    }
    free(data);

    mel_filterbank_slaney(n_mels, AM_N_FFT, 16000, filters);
    float *mel = NULL;
    int n_frames = 0;
    const double t0 = am_now();
    const int status = q15 ? mel_q15_log_spectrogram(samples, n_samples, n_mels, filters, n_threads, &mel, &n_frames)
                           : mel_log_spectrogram(samples, n_samples, n_mels, filters, n_threads, &mel, &n_frames);
    const double t1 = am_now();
    if (status != AM_OK) {
        fprintf(stderr, "dump_mel: mel_log_spectrogram failed (%d)\n", status);
        return 1;
    }
    if (getenv("DUMP_MEL_TIME"))
        fprintf(stderr, "mel_log_spectrogram: %zu samples, %d threads: %.3f ms\n", n_samples, n_threads,
                (t1 - t0) * 1e3);

    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(mel, sizeof *mel, (size_t)n_mels * (size_t)n_frames, f) != (size_t)n_mels * (size_t)n_frames ||
        fclose(f) != 0) {
        fprintf(stderr, "dump_mel: cannot write %s\n", argv[2]);
        return 1;
    }
    printf("%d\n", n_frames);
    free(mel);
    free(filters);
    free(samples);
    return 0;
}
