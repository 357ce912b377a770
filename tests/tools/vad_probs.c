/* vad_probs — speech probabilities and segments of the C VAD, for the integration tests.
 *   vad_probs [--energy] [--threads N] [--segments THR MIN_SPEECH_MS MAX_SPEECH_S MIN_SILENCE_MS PAD_MS]
 *             [--raw] VAD_MODEL AUDIO
 * AUDIO: any file am_audio_read_file reads, or with --raw a raw float32 16 kHz mono file.
 * Prints one probability per line ("%.6f"), or with --segments one "START END" (samples) per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "vad/vad.h"

int main(int argc, char **argv) {
    int energy = 0, raw = 0, threads = 1, segments = 0, a = 1;
    vad_options o = vad_options_default();
    while (a < argc && strncmp(argv[a], "--", 2) == 0) {
        if (!strcmp(argv[a], "--energy")) {
            energy = 1;
            a++;
        } else if (!strcmp(argv[a], "--raw")) {
            raw = 1;
            a++;
        } else if (!strcmp(argv[a], "--threads") && a + 1 < argc) {
            threads = atoi(argv[a + 1]);
            a += 2;
        } else if (!strcmp(argv[a], "--segments") && a + 5 < argc) {
            segments = 1;
            o.threshold = (float)atof(argv[a + 1]);
            o.min_speech_ms = atoi(argv[a + 2]);
            o.max_speech_s = (float)atof(argv[a + 3]);
            o.min_silence_ms = atoi(argv[a + 4]);
            o.speech_pad_ms = atoi(argv[a + 5]);
            a += 6;
        } else {
            break;
        }
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: vad_probs [--energy] [--threads N] [--segments THR MIN_SPEECH_MS MAX_SPEECH_S "
                        "MIN_SILENCE_MS PAD_MS] [--raw] VAD_MODEL AUDIO\n");
        return 2;
    }
    char err[512] = "";
    float *pcm = NULL;
    size_t n = 0;
    if (raw) {
        FILE *f = fopen(argv[a + 1], "rb");
        if (!f) {
            fprintf(stderr, "vad_probs: cannot open %s\n", argv[a + 1]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        n = sz > 0 ? (size_t)sz / sizeof(float) : 0;
        pcm = malloc((n ? n : 1) * sizeof *pcm);
        if (!pcm || fread(pcm, sizeof *pcm, n, f) != n) {
            fprintf(stderr, "vad_probs: cannot read %s\n", argv[a + 1]);
            return 1;
        }
        fclose(f);
    } else if (am_audio_read_file(argv[a + 1], &pcm, &n, err, sizeof err) != AM_OK) {
        fprintf(stderr, "vad_probs: %s\n", err);
        return 1;
    }
    float *p = NULL;
    size_t nf = 0;
    if (energy) {
        if (vad_energy_probs(pcm, n, &p, &nf) != AM_OK) return 1;
    } else {
        vad_silero *v;
        if (vad_silero_load(argv[a], &v, err, sizeof err) != AM_OK) {
            fprintf(stderr, "vad_probs: %s\n", err);
            return 1;
        }
        if (vad_silero_probs(v, pcm, n, threads, &p, &nf) != AM_OK) return 1;
        vad_silero_free(v);
    }
    if (segments) {
        vad_segment *s;
        size_t ns;
        if (vad_speech_segments(p, nf, n, &o, &s, &ns) != AM_OK) return 1;
        for (size_t i = 0; i < ns; i++) printf("%zu %zu\n", s[i].start, s[i].end);
        free(s);
    } else {
        for (size_t i = 0; i < nf; i++) printf("%.6f\n", p[i]);
    }
    free(p);
    free(pcm);
    return 0;
}
