/* test_diarize_weights.c — the diarization weight loader (src/diarize/weights.c) on a small file
 * built here, on every truncation of it and on each header field corrupted in turn, and on the real
 * models/diarization/diarization.bin (scripts/fetch-model diarization; skipped when absent). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amanuensis.h"
#include "diarize/weights.h"

#define REAL "models/diarization/diarization.bin"

typedef struct {
    unsigned char b[4096];
    size_t n;
} buf;

static void put32(buf *f, uint32_t v) {
    for (int k = 0; k < 4; k++) f->b[f->n++] = (unsigned char)(v >> (8 * k));
}
static void put64(buf *f, uint64_t v) {
    put32(f, (uint32_t)v);
    put32(f, (uint32_t)(v >> 32));
}
static void put_tensor(buf *f, const char *name, int nd, const uint32_t *dims, float first) {
    put32(f, (uint32_t)strlen(name));
    put32(f, (uint32_t)nd);
    memcpy(f->b + f->n, name, strlen(name));
    f->n += strlen(name);
    uint64_t numel = 1;
    for (int k = 0; k < nd; k++) {
        put32(f, dims[k]);
        numel *= dims[k];
    }
    put64(f, 4 * numel);
    for (uint64_t i = 0; i < numel; i++) {
        float v = first + (float)i;
        memcpy(f->b + f->n, &v, 4);
        f->n += 4;
    }
}

/* "AMDZ", v1, three tensors: a.w [2][3], b.bias [4], c.s scalar.  Offsets of fields are returned for
 * the corruption tests. */
static buf good(void) {
    buf f = {.n = 0};
    memcpy(f.b, "AMDZ", 4);
    f.n = 4;
    put32(&f, 1);
    put32(&f, 3);
    put_tensor(&f, "a.w", 2, (const uint32_t[]){2, 3}, 1.0f);
    put_tensor(&f, "b.bias", 1, (const uint32_t[]){4}, 10.0f);
    put_tensor(&f, "c.s", 0, NULL, -5.0f);
    return f;
}

/* offsets in good(): header 12; tensor 0: name_len 12, n_dims 16, name 20..22, dims 23, 27, nbytes 31,
 * data 39..62; tensor 1 at 63 */
#define T0_LEN 12
#define T0_ND 16
#define T0_NAME 20
#define T0_DIM0 23
#define T0_NBYTES 31

static int load(const buf *f, diar_weights **w, char *err) {
    return diar_weights_load_memory(f->b, f->n, w, err, 256);
}

static void test_good(void **state) {
    (void)state;
    buf f = good();
    diar_weights *w = NULL;
    char err[256] = "";
    assert_int_equal(load(&f, &w, err), AM_OK);
    assert_int_equal(w->n, 3);
    const float *a = diar_weights_get(w, "a.w", 2, (const int64_t[]){2, 3}, err, sizeof err);
    assert_non_null(a);
    assert_true(a[0] == 1.0f && a[5] == 6.0f);
    const float *b = diar_weights_get(w, "b.bias", 1, (const int64_t[]){4}, err, sizeof err);
    assert_non_null(b);
    assert_true(b[3] == 13.0f);
    const float *c = diar_weights_get(w, "c.s", 0, NULL, err, sizeof err);
    assert_non_null(c);
    assert_true(c[0] == -5.0f);
    assert_null(diar_weights_get(w, "a.w", 2, (const int64_t[]){3, 2}, err, sizeof err));
    assert_non_null(strstr(err, "a.w: shape 2x3, expected 3x2"));
    assert_null(diar_weights_get(w, "b.bias", 2, (const int64_t[]){4, 1}, err, sizeof err));
    assert_null(diar_weights_get(w, "nope", 1, (const int64_t[]){4}, err, sizeof err));
    assert_non_null(strstr(err, "nope: missing"));
    assert_null(diar_weights_find(w, "a"));
    diar_weights_free(w);
}

static void test_truncated(void **state) {
    (void)state;
    buf f = good();
    size_t full = f.n;
    for (size_t n = 0; n < full; n++) {
        f.n = n;
        diar_weights *w = (diar_weights *)1;
        char err[256] = "";
        assert_int_equal(load(&f, &w, err), AM_E_MODEL);
        assert_null(w);
        assert_non_null(strstr(err, "diarization weights: "));
        assert_null(strchr(err, '\n'));
    }
}

/* one field changed: the load fails with a message naming the problem */
static void expect_bad(buf f, const char *what) {
    diar_weights *w = NULL;
    char err[256] = "";
    assert_int_equal(load(&f, &w, err), AM_E_MODEL);
    assert_null(w);
    if (!strstr(err, what)) fail_msg("message '%s' lacks '%s'", err, what);
}

static void set32(buf *f, size_t at, uint32_t v) {
    for (int k = 0; k < 4; k++) f->b[at + k] = (unsigned char)(v >> (8 * k));
}

static void test_corrupt(void **state) {
    (void)state;
    buf f;
    f = good(); f.b[0] = 'X'; expect_bad(f, "bad magic");
    f = good(); set32(&f, 4, 2); expect_bad(f, "version 2");
    f = good(); set32(&f, 8, 0); expect_bad(f, "0 tensors");
    f = good(); set32(&f, 8, DIAR_MAX_TENSORS + 1); expect_bad(f, "tensors (1..");
    f = good(); set32(&f, 8, 4); expect_bad(f, "truncated in the header of tensor 3");
    f = good(); set32(&f, 8, 2); expect_bad(f, "bytes after the last tensor");
    f = good(); f.b[f.n++] = 0; expect_bad(f, "1 bytes after the last tensor");
    f = good(); set32(&f, T0_LEN, 0); expect_bad(f, "name of 0 bytes");
    f = good(); set32(&f, T0_LEN, DIAR_MAX_NAME + 1); expect_bad(f, "name of 128 bytes");
    f = good(); set32(&f, T0_LEN, 0xffffffffu); expect_bad(f, "name of 4294967295 bytes");
    f = good(); f.b[T0_NAME + 1] = '/'; expect_bad(f, "name has byte 0x2f");
    f = good(); f.b[T0_NAME + 1] = 0; expect_bad(f, "name has byte 0x00");
    f = good(); set32(&f, T0_ND, 5); expect_bad(f, "5 dimensions");
    f = good(); set32(&f, T0_DIM0, 0); expect_bad(f, "dimension 0 is 0");
    f = good(); set32(&f, T0_DIM0, DIAR_MAX_DIM + 1); expect_bad(f, "dimension 0 is");
    f = good(); set32(&f, T0_DIM0, 1u << 20); expect_bad(f, "larger than the file");
    f = good(); set32(&f, T0_DIM0, 3); expect_bad(f, "24 data bytes for 9 values");
    f = good(); set32(&f, T0_NBYTES, 28); expect_bad(f, "28 data bytes for 6 values");
    f = good(); set32(&f, T0_NBYTES + 4, 1); expect_bad(f, "data bytes for 6 values");
    f = good(); f.b[T0_NAME + 2] = 's'; f.b[T0_NAME] = 'c'; f.b[T0_NAME + 1] = '.'; /* "c.s" twice */
    expect_bad(f, "tensor c.s appears twice");
}

static void test_files(void **state) {
    (void)state;
    diar_weights *w = NULL;
    char err[256] = "";
    assert_int_equal(diar_weights_load("/nonexistent/diarization.bin", &w, err, sizeof err), AM_E_IO);
    assert_null(w);
    char path[] = "/tmp/test_diarize_weights.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    buf f = good();
    f.n -= 1;
    assert_int_equal(write(fd, f.b, f.n), (ssize_t)f.n);
    close(fd);
    assert_int_equal(diar_weights_load(path, &w, err, sizeof err), AM_E_MODEL);
    assert_true(strncmp(err, path, strlen(path)) == 0);
    assert_non_null(strstr(err, ": diarization weights: tensor 2 (c.s): truncated in its data"));
    unlink(path);
}

/* the converted checkpoints: every tensor the networks read, with the shapes of
 * docs/ARCHITECTURE.md's description */
static void test_real(void **state) {
    (void)state;
    if (access(REAL, R_OK) != 0) skip();
    diar_weights *w = NULL;
    char err[256] = "";
    assert_int_equal(diar_weights_load(REAL, &w, err, sizeof err), AM_OK);
    assert_int_equal(w->n, 869);
    static const struct {
        const char *name;
        int nd;
        int64_t dims[4];
    } want[] = {
        {"campplus.head.conv1.weight", 4, {32, 1, 3, 3}},
        {"campplus.head.layer1.0.shortcut.0.weight", 4, {32, 32, 1, 1}},
        {"campplus.xvector.tdnn.linear.weight", 3, {128, 320, 5}},
        {"campplus.xvector.block3.tdnnd16.linear1.weight", 3, {128, 992, 1}},
        {"campplus.xvector.block3.tdnnd16.cam_layer.linear_local.weight", 3, {32, 128, 3}},
        {"campplus.xvector.dense.linear.weight", 3, {192, 1024, 1}},
        {"campplus.xvector.dense.nonlinear.batchnorm.running_var", 1, {192}},
        {"segmentation.sincnet.conv1d.0.filterbank.low_hz_", 2, {40, 1}},
        {"segmentation.sincnet.conv1d.0.filterbank.window_", 1, {125}},
        {"segmentation.lstm.weight_ih_l0", 2, {512, 60}},
        {"segmentation.lstm.weight_hh_l3_reverse", 2, {512, 128}},
        {"segmentation.classifier.weight", 2, {7, 128}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const float *p = diar_weights_get(w, want[i].name, want[i].nd, want[i].dims, err, sizeof err);
        if (!p) fail_msg("%s", err);
    }
    assert_null(diar_weights_find(w, "campplus.head.bn1.num_batches_tracked"));
    diar_weights_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),  cmocka_unit_test(test_truncated), cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_files), cmocka_unit_test(test_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
