/* test_diarize_fbank.c — properties of the diarization front end (src/diarize/fbank.c) that need no
 * reference: frame counts, the log floor on silence, a pure tone in the filter centred on it,
 * invariance to a DC offset (removed per frame), a gain of 2 adding log 4, the mean normalisation;
 * and the networks' refusal of weight files without their tensors and of too-short inputs
 * (src/diarize/campplus.c, segment.c).  The numerics against the NumPy reference are in
 * tests/integration/test_diarize.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amanuensis.h"
#include "diarize/campplus.h"
#include "diarize/fbank.h"
#include "diarize/segment.h"
#include "diarize/weights.h"

static float *fbank_of(const float *x, size_t n, size_t *nf) {
    *nf = diar_fbank_frames(n);
    float *out = malloc((*nf ? *nf : 1) * DIAR_FBANK_BINS * sizeof *out);
    assert_non_null(out);
    assert_int_equal(diar_fbank(x, n, out), AM_OK);
    return out;
}

static void test_frames(void **state) {
    (void)state;
    assert_int_equal(diar_fbank_frames(0), 0);
    assert_int_equal(diar_fbank_frames(399), 0);
    assert_int_equal(diar_fbank_frames(400), 1);
    assert_int_equal(diar_fbank_frames(559), 1);
    assert_int_equal(diar_fbank_frames(560), 2);
    assert_int_equal(diar_fbank_frames(16000), 98);
}

static void test_silence_floor(void **state) {
    (void)state;
    float *x = calloc(4000, sizeof *x);
    size_t nf;
    float *f = fbank_of(x, 4000, &nf);
    for (size_t i = 0; i < nf * DIAR_FBANK_BINS; i++) assert_float_equal(f[i], logf(FLT_EPSILON), 1e-6);
    free(f);
    free(x);
}

static double mel(double hz) { return 1127.0 * log(1.0 + hz / 700.0); }

static void test_tone(void **state) {
    (void)state;
    const size_t n = 8000;
    float *x = malloc(n * sizeof *x);
    /* the bins' centres are equally spaced on the mel scale from 20 Hz to 8 kHz: put a tone on the
     * centre of bin 30 */
    double lo = mel(20.0), delta = (mel(8000.0) - lo) / (DIAR_FBANK_BINS + 1), c = lo + 31 * delta;
    double hz = 700.0 * (exp(c / 1127.0) - 1.0);
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.5 * sin(2.0 * 3.14159265358979323846 * hz * (double)i / 16000.0));
    size_t nf;
    float *f = fbank_of(x, n, &nf);
    for (size_t t = 0; t < nf; t++) {
        int best = 0;
        for (int m = 1; m < DIAR_FBANK_BINS; m++)
            if (f[t * DIAR_FBANK_BINS + m] > f[t * DIAR_FBANK_BINS + best]) best = m;
        assert_int_equal(best, 30);
    }
    free(f);
    free(x);
}

static void test_offset_and_gain(void **state) {
    (void)state;
    const size_t n = 6400;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
    uint32_t r = 7;
    for (size_t i = 0; i < n; i++) {
        r = r * 1103515245u + 12345u;
        x[i] = (float)((r >> 8) & 0xffff) / 65536.0f - 0.5f;
        y[i] = x[i] + 0.25f;
        z[i] = 2.0f * x[i];
    }
    size_t nf;
    float *fx = fbank_of(x, n, &nf), *fy = fbank_of(y, n, &nf), *fz = fbank_of(z, n, &nf);
    for (size_t i = 0; i < nf * DIAR_FBANK_BINS; i++) {
        assert_float_equal(fy[i], fx[i], 1e-3);
        assert_float_equal(fz[i], fx[i] + logf(4.0f), 1e-4);
    }
    diar_fbank_mean_norm(fx, nf);
    for (int m = 0; m < DIAR_FBANK_BINS; m++) {
        double s = 0.0;
        for (size_t t = 0; t < nf; t++) s += fx[t * DIAR_FBANK_BINS + m];
        assert_true(fabs(s / (double)nf) < 1e-5);
    }
    free(fx);
    free(fy);
    free(fz);
    free(x);
    free(y);
    free(z);
}

/* a valid weight file holding one unrelated tensor: both networks refuse it with a one-line message */
static void test_networks_need_their_tensors(void **state) {
    (void)state;
    unsigned char b[64];
    size_t n = 0;
    uint32_t hdr[3] = {0, 1, 1};
    memcpy(hdr, "AMDZ", 4);
    memcpy(b, hdr, 12);
    n = 12;
    uint32_t len = 1, nd = 1, dim = 1;
    uint64_t nbytes = 4;
    float v = 1.0f;
    memcpy(b + n, &len, 4), n += 4;
    memcpy(b + n, &nd, 4), n += 4;
    b[n++] = 'x';
    memcpy(b + n, &dim, 4), n += 4;
    memcpy(b + n, &nbytes, 8), n += 8;
    memcpy(b + n, &v, 4), n += 4;
    diar_weights *w = NULL;
    char err[256] = "";
    assert_int_equal(diar_weights_load_memory(b, n, &w, err, sizeof err), AM_OK);
    diar_campplus *c = (diar_campplus *)1;
    diar_segmenter *s = (diar_segmenter *)1;
    assert_int_equal(diar_campplus_create(w, 0, &c, err, sizeof err), AM_E_MODEL);
    assert_null(c);
    assert_non_null(strstr(err, "campplus.head.conv1.weight: missing"));
    assert_int_equal(diar_campplus_create(w, 1, &c, err, sizeof err), AM_E_MODEL);
    assert_int_equal(diar_seg_create(w, &s, err, sizeof err), AM_E_MODEL);
    assert_null(s);
    assert_non_null(strstr(err, "segmentation.sincnet.wav_norm1d.weight: missing"));
    assert_null(strchr(err, '\n'));
    diar_weights_free(w);
}

static void test_frame_counts_of_segmentation(void **state) {
    (void)state;
    assert_int_equal(diar_seg_frames(DIAR_SEG_CHUNK), 589);
    assert_int_equal(diar_seg_frames(0), 0);
    assert_int_equal(diar_seg_frames(250), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),          cmocka_unit_test(test_silence_floor),
        cmocka_unit_test(test_tone),            cmocka_unit_test(test_offset_and_gain),
        cmocka_unit_test(test_networks_need_their_tensors), cmocka_unit_test(test_frame_counts_of_segmentation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
