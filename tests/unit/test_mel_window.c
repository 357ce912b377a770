/* test_mel_window.c — the log-mel read window by window (frontend/mel_window.h) against the
 * whole-signal functions: every window equals the same columns bit for bit, for both front ends,
 * for signals of odd and even frame counts, shorter than one FFT (reflected many times), longer than
 * a scan block, quiet stretches that the global maximum clamps, windows at odd and even starts and
 * at both ends, any thread count, and samples spooled to a temporary file (audio/pcm.h), which
 * moves to memory when its file cannot grow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "amanuensis.h"
#include "audio/pcm.h"
#include "frontend/mel.h"
#include "frontend/mel_q15.h"
#include "frontend/mel_window.h"

static uint32_t rng = 12345;
static float rand_pm1(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) / 8388608.0 - 1.0);
}

/* speech-like: tones with an envelope, noise, a silent stretch and a very quiet one */
static float *make_signal(size_t n) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / 16000.0;
        double env = 0.5 + 0.5 * sin(t * 3.1);
        x[i] = (float)(0.3 * env * sin(2 * 3.14159265 * (220 + 40 * sin(t)) * t) + 0.02 * rand_pm1());
        if (i > n / 3 && i < n / 2) x[i] = 0.0f;                 /* digital silence      */
        if (i >= n / 2 && i < n / 2 + n / 10) x[i] *= 1e-5f;     /* far below max − 8    */
    }
    return x;
}

static void check_windows(const float *x, size_t n, int q15, int spool, int threads) {
    float filters[80 * AM_N_FREQ];
    assert_int_equal(mel_filterbank_slaney(80, AM_N_FFT, 16000, filters), AM_OK);
    float *whole = NULL;
    int nf = 0;
    assert_int_equal((q15 ? mel_q15_log_spectrogram : mel_log_spectrogram)(x, n, 80, filters, 2, &whole, &nf), AM_OK);

    pcm_store *st = spool ? pcm_store_new(1) : pcm_store_view(x, n);
    assert_non_null(st);
    if (spool) assert_int_equal(pcm_store_append(st, x, n), AM_OK);
    assert_null(spool ? pcm_store_memory(st) : NULL); /* /tmp is writable here: a real spool */
    mel_reader r;
    assert_int_equal(mel_reader_init(&r, st, q15, 80, filters, threads), AM_OK);
    assert_int_equal(r.n_frames, nf);

    const int W = 3000;
    float *win = malloc((size_t)80 * W * sizeof *win);
    assert_non_null(win);
    int starts[] = {0, 1, 2, 7, 1500, 2999, 3000, 4445, nf - 1, nf - 2, nf - 2999, nf - 3000, nf / 2, nf / 2 + 1};
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        int t0 = starts[s];
        if (t0 < 0 || t0 >= nf) continue;
        int count = nf - t0 < W ? nf - t0 : W;
        memset(win, 0xff, (size_t)80 * W * sizeof *win);
        assert_int_equal(mel_reader_window(&r, t0, count, win, W), AM_OK);
        for (int m = 0; m < 80; m++)
            if (memcmp(win + (size_t)m * W, whole + (size_t)m * nf + t0, (size_t)count * sizeof(float)) != 0) {
                fprintf(stderr, "n %zu q15 %d spool %d threads %d: window at %d differs in mel %d\n", n, q15, spool,
                        threads, t0, m);
                fail();
            }
    }
    assert_int_equal(mel_reader_window(&r, nf - 1, 2, win, W), AM_E_INVALID_ARG); /* past the end */
    free(win);
    mel_reader_free(&r);
    pcm_store_free(st);
    free(whole);
}

static void test_windows_equal_whole(void **state) {
    (void)state;
    /* frame counts: even and odd, shorter than a window, longer than a 6000-frame scan block */
    size_t lengths[] = {1, 150, 399, 401, 16000, 16000 * 31 + 17, 16000 * 75 + 160, 16000 * 75 + 161};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        float *x = make_signal(lengths[i]);
        for (int q15 = 0; q15 <= 1; q15++) {
            check_windows(x, lengths[i], q15, 0, 1);
            check_windows(x, lengths[i], q15, 1, 3);
        }
        free(x);
    }
}

static void test_store_reads_zeros_past_end(void **state) {
    (void)state;
    float x[5] = {1, 2, 3, 4, 5}, out[8];
    for (int spool = 0; spool <= 1; spool++) {
        pcm_store *st = pcm_store_new(spool);
        assert_non_null(st);
        assert_int_equal(pcm_store_append(st, x, 5), AM_OK);
        assert_int_equal(pcm_store_size(st), 5);
        assert_int_equal(pcm_store_read(st, 3, 8, out), AM_OK);
        assert_true(out[0] == 4 && out[1] == 5 && out[2] == 0 && out[7] == 0);
        assert_int_equal(pcm_store_read(st, 100, 2, out), AM_OK);
        assert_true(out[0] == 0 && out[1] == 0);
        pcm_store_free(st);
    }
}

/* A spool whose file stops growing (RLIMIT_FSIZE, as a full disk) moves to memory and keeps every
 * sample; in a child, so that the limit touches nothing else. */
static void test_spool_full_moves_to_memory(void **state) {
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 << 10, 64 << 10};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
        pcm_store *st = pcm_store_new(1);
        if (!st || pcm_store_memory(st)) _exit(3); /* a real spool to begin with */
        enum { N = 100000 };                        /* 400 KB: past the limit */
        static float x[N], y[N];
        for (int i = 0; i < N; i++) x[i] = (float)i;
        for (int i = 0; i < N; i += 10000)
            if (pcm_store_append(st, x + i, 10000) != AM_OK) _exit(4);
        if (!pcm_store_memory(st) || pcm_store_size(st) != N) _exit(5);
        if (pcm_store_read(st, 0, N, y) != AM_OK || memcmp(x, y, sizeof x) != 0) _exit(6);
        pcm_store_free(st);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_equal_whole),
        cmocka_unit_test(test_store_reads_zeros_past_end),
        cmocka_unit_test(test_spool_full_moves_to_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
