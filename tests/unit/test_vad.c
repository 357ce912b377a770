/* test_vad.c — the Silero VAD loader on truncated and corrupted files, the forward pass on silence,
 * the speech-segment logic (faster-whisper's get_speech_timestamps) on synthetic probabilities, the
 * chunking and time map, and the energy detector.  The model is data/silero-vad-v6.2.0-ggml.bin
 * (tests that need it are skipped when it is missing). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "common/util.h"
#include "vad/vad.h"
#include "audio/pcm.h"

#define MODEL "data/silero-vad-v6.2.0-ggml.bin"

static unsigned char *load_model_bytes(size_t *size) {
    unsigned char *buf = NULL;
    char err[256];
    if (am_read_file(MODEL, &buf, size, err, sizeof err) != AM_OK) return NULL;
    return buf;
}

static void test_load_ok(void **state) {
    (void)state;
    size_t size;
    unsigned char *buf = load_model_bytes(&size);
    if (!buf) skip();
    vad_silero *v = NULL;
    char err[256] = "";
    assert_int_equal(vad_silero_load_memory(buf, size, &v, err, sizeof err), AM_OK);
    /* silence: one frame per 512 samples + 1, all far below 0.5 */
    float *pcm = calloc(16000, sizeof *pcm), *p = NULL;
    size_t nf = 0;
    assert_int_equal(vad_silero_probs(v, pcm, 16000, 2, &p, &nf), AM_OK);
    assert_int_equal(nf, 16000 / 512 + 1);
    for (size_t i = 0; i < nf; i++) assert_true(p[i] >= 0.0f && p[i] < 0.2f);
    free(p);
    /* threads do not change the result */
    float *p1 = NULL, *p4 = NULL;
    size_t n1, n4;
    for (int i = 0; i < 16000; i++) pcm[i] = 0.3f * sinf((float)i * 0.05f) * sinf((float)i * 0.0007f);
    assert_int_equal(vad_silero_probs(v, pcm, 16000, 1, &p1, &n1), AM_OK);
    assert_int_equal(vad_silero_probs(v, pcm, 16000, 4, &p4, &n4), AM_OK);
    assert_int_equal(n1, n4);
    assert_memory_equal(p1, p4, n1 * sizeof *p1);
    free(p1);
    free(p4);
    free(pcm);
    vad_silero_free(v);
    free(buf);
    assert_int_equal(vad_silero_load("/nonexistent/vad.bin", &v, err, sizeof err), AM_E_IO);
    assert_null(v);
}

/* Frame by frame (live audio) gives exactly the whole-signal probabilities of the full frames. */
static void test_frame_by_frame(void **state) {
    (void)state;
    size_t size;
    unsigned char *buf = load_model_bytes(&size);
    if (!buf) skip();
    vad_silero *v = NULL;
    char err[256] = "";
    assert_int_equal(vad_silero_load_memory(buf, size, &v, err, sizeof err), AM_OK);
    const size_t n = 40 * VAD_WINDOW + 100;
    float *pcm = malloc(n * sizeof *pcm), *p = NULL;
    for (size_t i = 0; i < n; i++)
        pcm[i] = (i > 8000 ? 0.4f : 0.01f) * sinf((float)i * 0.09f) * sinf((float)i * 0.0011f + 0.3f);
    size_t nf = 0;
    assert_int_equal(vad_silero_probs(v, pcm, n, 2, &p, &nf), AM_OK);
    vad_silero_state st;
    vad_silero_state_reset(&st);
    for (size_t i = 0; i < n / VAD_WINDOW; i++) {
        float q = vad_silero_frame(v, &st, pcm + i * VAD_WINDOW);
        assert_memory_equal(&q, &p[i], sizeof q);
    }
    free(p);
    free(pcm);
    vad_silero_free(v);
    free(buf);
}

static void test_load_truncated(void **state) {
    (void)state;
    size_t size;
    unsigned char *buf = load_model_bytes(&size);
    if (!buf) skip();
    char err[256];
    /* every prefix up to 2 KiB, then every 997 bytes: a clean AM_E_MODEL error */
    for (size_t cut = 0; cut < size; cut += cut < 2048 ? 1 : 997) {
        vad_silero *v = (vad_silero *)1;
        err[0] = 0;
        int rc = vad_silero_load_memory(buf, cut, &v, err, sizeof err);
        assert_int_equal(rc, AM_E_MODEL);
        assert_null(v);
        assert_true(strlen(err) > 0 && !strchr(err, '\n'));
    }
    free(buf);
}

static void expect_corrupt(const unsigned char *orig, size_t size, size_t off, const void *bytes, size_t n,
                           const char *what) {
    unsigned char *b = malloc(size);
    memcpy(b, orig, size);
    memcpy(b + off, bytes, n);
    vad_silero *v = NULL;
    char err[256] = "";
    int rc = vad_silero_load_memory(b, size, &v, err, sizeof err);
    if (rc != AM_E_MODEL) fprintf(stderr, "%s: rc %d (%s)\n", what, rc, err);
    assert_int_equal(rc, AM_E_MODEL);
    assert_null(v);
    free(b);
}

static void test_load_corrupt(void **state) {
    (void)state;
    size_t size;
    unsigned char *buf = load_model_bytes(&size);
    if (!buf) skip();
    const int32_t big = 0x7fffffff, neg = -5, five = 5;
    const uint32_t nan_bits = 0x7fc00000u;
    expect_corrupt(buf, size, 0, "XXXX", 4, "magic");
    expect_corrupt(buf, size, 4, &big, 4, "type length");
    expect_corrupt(buf, size, 8, "xilero", 6, "type");
    expect_corrupt(buf, size, 4 + 4 + 10 + 12, &neg, 4, "window");
    expect_corrupt(buf, size, 4 + 4 + 10 + 24, &five, 4, "layers");
    expect_corrupt(buf, size, 4 + 4 + 10 + 28, &five, 4, "encoder channels");
    /* first tensor header at 110: n_dims, name length, type, dims */
    expect_corrupt(buf, size, 110, &five, 4, "n_dims");
    expect_corrupt(buf, size, 114, &big, 4, "name length");
    expect_corrupt(buf, size, 118, &five, 4, "type");
    expect_corrupt(buf, size, 122, &big, 4, "dimension");
    expect_corrupt(buf, size, 126, &five, 4, "shape");
    expect_corrupt(buf, size, 134, "_model.encoder.0.reparam_conv.bias  ", 36, "duplicate");
    expect_corrupt(buf, size, 224082 + 40, &nan_bits, 4, "nan");
    free(buf);
}

static void test_segments_basic(void **state) {
    (void)state;
    float p[100];
    vad_segment *s = NULL;
    size_t n = 0;
    vad_options o = vad_options_default();
    for (int i = 0; i < 100; i++) p[i] = 0.0f;
    assert_int_equal(vad_speech_segments(p, 100, 100 * 512, &o, &s, &n), AM_OK);
    assert_int_equal(n, 0);
    assert_null(s);

    for (int i = 10; i < 40; i++) p[i] = 0.9f;
    o.min_silence_ms = 100;
    o.speech_pad_ms = 0;
    assert_int_equal(vad_speech_segments(p, 100, 100 * 512, &o, &s, &n), AM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].start, 10 * 512);
    assert_int_equal(s[0].end, 40 * 512);
    free(s);

    o.speech_pad_ms = 400; /* 6400 samples each side, clamped to the audio */
    assert_int_equal(vad_speech_segments(p, 100, 100 * 512, &o, &s, &n), AM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].start, 0);
    assert_int_equal(s[0].end, 40 * 512 + 6400);
    free(s);

    /* hysteresis: 0.4 (between neg_threshold 0.35 and threshold 0.5) keeps speech going */
    for (int i = 40; i < 60; i++) p[i] = 0.4f;
    o.speech_pad_ms = 0;
    assert_int_equal(vad_speech_segments(p, 100, 100 * 512, &o, &s, &n), AM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].end, 60 * 512);
    free(s);

    /* two bursts closer than 2 * pad share the silence between them */
    for (int i = 0; i < 100; i++) p[i] = (i >= 10 && i < 30) || (i >= 50 && i < 70) ? 0.9f : 0.0f;
    o.speech_pad_ms = 400;
    assert_int_equal(vad_speech_segments(p, 100, 100 * 512, &o, &s, &n), AM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(s[0].end, 30 * 512 + 10 * 512);
    assert_int_equal(s[1].start, 50 * 512 - 10 * 512);
    free(s);

    /* min speech drops short bursts */
    for (int i = 0; i < 100; i++) p[i] = (i >= 10 && i < 12) ? 0.9f : 0.0f;
    o.min_speech_ms = 250;
    assert_int_equal(vad_speech_segments(p, 100, 100 * 512, &o, &s, &n), AM_OK);
    assert_int_equal(n, 0);
}

static void test_segments_max_speech(void **state) {
    (void)state;
    const size_t nf = 2000, ns = nf * 512;
    float *p = malloc(nf * sizeof *p);
    for (size_t i = 0; i < nf; i++) p[i] = 0.9f;
    vad_options o = vad_options_default();
    o.max_speech_s = 30.0f;
    o.speech_pad_ms = 0;
    vad_segment *s = NULL;
    size_t n = 0;
    assert_int_equal(vad_speech_segments(p, nf, ns, &o, &s, &n), AM_OK);
    assert_true(n >= 3);
    assert_int_equal(s[0].start, 0);
    assert_int_equal(s[0].end, 937 * 512); /* first frame past 30 s - 512 samples */
    for (size_t i = 0; i < n; i++) assert_true(s[i].end - s[i].start <= 30 * 16000);
    free(s);
    /* with a pause (>= 98 ms) before the limit, the cut goes there */
    for (size_t i = 700; i < 710; i++) p[i] = 0.0f;
    o.speech_pad_ms = 400;
    assert_int_equal(vad_speech_segments(p, nf, ns, &o, &s, &n), AM_OK);
    assert_true(n >= 2);
    /* cut at the pause's start (700 * 512); the 10-frame gap is shared as it is < 2 * pad */
    assert_int_equal(s[0].end, 700 * 512 + 5 * 512);
    assert_int_equal(s[1].start, 700 * 512 + 5 * 512);
    for (size_t i = 0; i < n; i++) assert_true(s[i].end - s[i].start <= 30 * 16000);
    free(s);
    free(p);
}

static void test_chunks_and_map(void **state) {
    (void)state;
    /* segments of 10 s, 15 s, 10 s, 40 s (samples) with silences between */
    vad_segment segs[4] = {{16000, 176000}, {200000, 440000}, {500000, 660000}, {700000, 1340000}};
    vad_chunk *c = NULL;
    size_t nc = 0;
    assert_int_equal(vad_collect_chunks(segs, 4, 480000, SIZE_MAX, &c, &nc), AM_OK);
    assert_int_equal(nc, 3);
    assert_int_equal(c[0].first, 0);
    assert_int_equal(c[0].count, 2);
    assert_int_equal(c[0].n_samples, 400000);
    assert_int_equal(c[1].first, 2);
    assert_int_equal(c[1].count, 1);
    assert_int_equal(c[2].first, 3);
    assert_int_equal(c[2].n_samples, 640000);
    /* chunk 0: local 0..10 s is segs[0] (original 1..11 s), local 10..25 s is segs[1] (12.5..27.5 s) */
    assert_true(fabs(vad_chunk_time_to_original(&c[0], segs, 0.0, 0) - 1.0) < 1e-9);
    assert_true(fabs(vad_chunk_time_to_original(&c[0], segs, 5.0, 0) - 6.0) < 1e-9);
    assert_true(fabs(vad_chunk_time_to_original(&c[0], segs, 10.0, 0) - 12.5) < 1e-9); /* a start: next segment */
    assert_true(fabs(vad_chunk_time_to_original(&c[0], segs, 10.0, 1) - 11.0) < 1e-9); /* an end: this one */
    assert_true(fabs(vad_chunk_time_to_original(&c[0], segs, 24.0, 1) - 26.5) < 1e-9);
    assert_true(fabs(vad_chunk_time_to_original(&c[0], segs, 99.0, 1) - 101.5) < 1e-9); /* past the end */
    assert_true(fabs(vad_chunk_time_to_original(&c[2], segs, 3.0, 0) - 46.75) < 1e-9);
    float pcm[64], out[64];
    for (int i = 0; i < 64; i++) pcm[i] = (float)i;
    vad_segment small[2] = {{2, 5}, {10, 12}};
    vad_chunk ch = {0, 2, 5};
    pcm_store *view = pcm_store_view(pcm, 64);
    assert_non_null(view);
    assert_int_equal(vad_chunk_audio(&ch, small, view, out), AM_OK);
    pcm_store_free(view);
    assert_true(out[0] == 2 && out[2] == 4 && out[3] == 10 && out[4] == 11);
    free(c);
    assert_int_equal(vad_collect_chunks(NULL, 0, 480000, SIZE_MAX, &c, &nc), AM_OK);
    assert_int_equal(nc, 0);
}

static void test_energy(void **state) {
    (void)state;
    const size_t n = 16000 * 6;
    float *pcm = calloc(n, sizeof *pcm), *p = NULL;
    uint32_t r = 1;
    for (size_t i = 0; i < n; i++) { /* faint noise (-60 dBFS) with a loud tone from 2 s to 4 s */
        r = r * 1664525u + 1013904223u;
        pcm[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.002f;
        if (i >= 32000 && i < 64000) pcm[i] += 0.3f * sinf((float)i * 0.1f);
    }
    size_t nf = 0;
    assert_int_equal(vad_energy_probs(pcm, n, &p, &nf), AM_OK);
    assert_int_equal(nf, n / 512 + 1);
    assert_true(p[10] < 0.05f);
    assert_true(p[100] > 0.95f);
    assert_true(p[170] < 0.05f);
    vad_options o = vad_options_default();
    o.min_silence_ms = 500;
    vad_segment *s = NULL;
    size_t ns = 0;
    assert_int_equal(vad_speech_segments(p, nf, n, &o, &s, &ns), AM_OK);
    assert_int_equal(ns, 1);
    assert_true(fabs((double)s[0].start - (32000 - 6400)) <= 512);
    assert_true(fabs((double)s[0].end - (64000 + 6400)) <= 512);
    free(s);
    free(p);
    free(pcm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_ok),           cmocka_unit_test(test_frame_by_frame),           cmocka_unit_test(test_load_truncated),
        cmocka_unit_test(test_load_corrupt),      cmocka_unit_test(test_segments_basic),
        cmocka_unit_test(test_segments_max_speech), cmocka_unit_test(test_chunks_and_map),
        cmocka_unit_test(test_energy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
