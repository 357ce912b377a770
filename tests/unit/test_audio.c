/* test_audio.c — WAV parsing (every supported encoding, chunk layouts, every error path, fuzz-ish
 * robustness) and the resampler (frequency, amplitude, stopband, length, speed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "amanuensis.h"
#include "audio/audio.h"

#define PI 3.14159265358979323846

/* ---- building WAV bytes in memory --------------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u16(bytes *b, unsigned v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}
static void put_u32(bytes *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}
static void put_u64(bytes *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
static void put_s24(bytes *b, int32_t v) {
    uint32_t u = (uint32_t)v;
    uint8_t x[3] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16)};
    put(b, x, 3);
}
static void put_f32(bytes *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(b, u);
}
static void put_f64(bytes *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(b, u);
}

/* Options for make_wav. */
typedef struct wav_spec {
    unsigned format;      /* 1 PCM, 3 float, anything else to test errors */
    unsigned channels;
    uint32_t rate;
    unsigned bits;
    int extensible;       /* write WAVE_FORMAT_EXTENSIBLE with `format` as the sub-format */
    int junk_before_fmt;  /* an odd-sized unknown chunk (with its pad byte) before fmt */
    int data_before_fmt;  /* put the data chunk first */
    int no_fmt, no_data;
    int64_t data_size_override; /* >= 0: declared data size instead of the real one */
    int rf64;
} wav_spec;

/* A RIFF/WAVE (or RF64) file around `data`. Caller frees the result's p. */
static bytes make_wav(const wav_spec *s, const void *data, size_t data_len) {
    bytes fmt = {0}, out = {0};
    put_u16(&fmt, s->extensible ? 0xFFFE : s->format);
    put_u16(&fmt, s->channels);
    put_u32(&fmt, s->rate);
    put_u32(&fmt, s->rate * s->channels * (s->bits / 8));
    put_u16(&fmt, s->channels * (s->bits / 8));
    put_u16(&fmt, s->bits);
    if (s->extensible) {
        static const uint8_t tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                         0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
        put_u16(&fmt, 22);
        put_u16(&fmt, s->bits);
        put_u32(&fmt, s->channels == 2 ? 3u : 4u);
        put_u16(&fmt, s->format);
        put(&fmt, tail, sizeof tail);
    }

    put(&out, s->rf64 ? "RF64" : "RIFF", 4);
    put_u32(&out, s->rf64 ? 0xFFFFFFFFu : 0); /* patched below for RIFF */
    put(&out, "WAVE", 4);
    if (s->rf64) {
        put(&out, "ds64", 4);
        put_u32(&out, 28);
        put_u64(&out, 0);        /* riff size (unused by the reader) */
        put_u64(&out, data_len); /* data size */
        put_u64(&out, 0);        /* sample count */
        put_u32(&out, 0);        /* table length */
    }
    if (s->junk_before_fmt) {
        put(&out, "JUNK", 4);
        put_u32(&out, 3);
        put(&out, "abc\0", 4); /* 3 bytes + pad */
    }
    for (int pass = 0; pass < 2; pass++) {
        int write_data = (pass == 0) == (s->data_before_fmt != 0);
        if (write_data && !s->no_data) {
            put(&out, "data", 4);
            uint32_t declared = s->rf64 ? 0xFFFFFFFFu
                                : s->data_size_override >= 0 ? (uint32_t)s->data_size_override
                                                             : (uint32_t)data_len;
            put_u32(&out, declared);
            if (data_len) put(&out, data, data_len);
            if ((data_len & 1) && s->data_size_override < 0) put(&out, "\0", 1); /* pad byte */
        } else if (!write_data && !s->no_fmt) {
            put(&out, "fmt ", 4);
            put_u32(&out, (uint32_t)fmt.n);
            put(&out, fmt.p, fmt.n);
        }
    }
    if (!s->rf64) {
        uint32_t riff = (uint32_t)(out.n - 8);
        uint8_t x[4] = {(uint8_t)riff, (uint8_t)(riff >> 8), (uint8_t)(riff >> 16), (uint8_t)(riff >> 24)};
        memcpy(out.p + 4, x, 4);
    }
    free(fmt.p);
    return out;
}

static wav_spec spec(unsigned format, unsigned channels, uint32_t rate, unsigned bits) {
    wav_spec s;
    memset(&s, 0, sizeof s);
    s.format = format;
    s.channels = channels;
    s.rate = rate;
    s.bits = bits;
    s.data_size_override = -1;
    return s;
}

/* Parse `w` and check the samples equal want[n] within tol. */
static void expect_samples(const bytes *w, const float *want, size_t n, float tol) {
    float *x = NULL;
    size_t nx = 0;
    char err[256] = "";
    int rc = am_audio_read_memory(w->p, w->n, &x, &nx, err, sizeof err);
    if (rc != AM_OK) print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, AM_OK);
    assert_int_equal(nx, n);
    for (size_t i = 0; i < n; i++) {
        if (fabsf(x[i] - want[i]) > tol) print_error("sample %zu: got %.9g want %.9g\n", i, x[i], want[i]);
        assert_true(fabsf(x[i] - want[i]) <= tol);
    }
    am_audio_free(x);
}

/* Parse `w`, expect failure with a status, a non-empty one-line message containing `needle`. */
static void expect_error(const void *data, size_t size, int want_rc, const char *needle) {
    float *x = (float *)(uintptr_t)1;
    size_t nx = 99;
    char err[256] = "";
    int rc = am_audio_read_memory(data, size, &x, &nx, err, sizeof err);
    if (rc != want_rc || !strstr(err, needle)) print_error("rc=%d err='%s' (want %d, '%s')\n", rc, err, want_rc, needle);
    assert_int_equal(rc, want_rc);
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, needle));
    assert_null(x);
    assert_int_equal(nx, 0);
}

/* ---- encodings ----------------------------------------------------------------------------- */

static void test_pcm16_mono(void **state) {
    (void)state;
    bytes d = {0};
    const int16_t v[] = {0, 16384, -16384, 32767, -32768};
    for (size_t i = 0; i < 5; i++) put_u16(&d, (uint16_t)v[i]);
    wav_spec s = spec(1, 1, 16000, 16);
    bytes w = make_wav(&s, d.p, d.n);
    const float want[] = {0.0f, 0.5f, -0.5f, 32767.0f / 32768.0f, -1.0f};
    expect_samples(&w, want, 5, 0.0f);
    free(w.p);

    /* the same with an odd-sized unknown chunk before fmt, and with data before fmt */
    s.junk_before_fmt = 1;
    w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 5, 0.0f);
    free(w.p);
    s.data_before_fmt = 1;
    w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 5, 0.0f);
    free(w.p);
    free(d.p);
}

static void test_pcm24_pcm32_u8(void **state) {
    (void)state;
    const float want[] = {0.0f, 0.5f, -0.5f, -1.0f, 0.25f};
    bytes d = {0};
    const int32_t v24[] = {0, 4194304, -4194304, -8388608, 2097152};
    for (size_t i = 0; i < 5; i++) put_s24(&d, v24[i]);
    wav_spec s = spec(1, 1, 16000, 24);
    bytes w = make_wav(&s, d.p, d.n); /* 15 data bytes: odd, padded */
    expect_samples(&w, want, 5, 0.0f);
    free(w.p);
    free(d.p);

    d = (bytes){0};
    const int64_t v32[] = {0, 1073741824, -1073741824, -2147483648LL, 536870912};
    for (size_t i = 0; i < 5; i++) put_u32(&d, (uint32_t)(int32_t)v32[i]);
    s = spec(1, 1, 16000, 32);
    w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 5, 0.0f);
    free(w.p);
    free(d.p);

    const uint8_t v8[] = {128, 192, 64, 0, 160};
    s = spec(1, 1, 16000, 8);
    w = make_wav(&s, v8, 5);
    expect_samples(&w, want, 5, 0.0f);
    free(w.p);
}

static void test_float32_float64(void **state) {
    (void)state;
    const float want[] = {0.0f, 0.5f, -0.5f, -1.0f, 0.125f, 0.0f, 0.0f};
    bytes d = {0};
    for (size_t i = 0; i < 5; i++) put_f32(&d, want[i]);
    put_f32(&d, NAN); /* non-finite samples are replaced by 0 */
    put_f32(&d, INFINITY);
    wav_spec s = spec(3, 1, 16000, 32);
    bytes w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 7, 0.0f);
    free(w.p);
    free(d.p);

    d = (bytes){0};
    for (size_t i = 0; i < 5; i++) put_f64(&d, want[i]);
    put_f64(&d, -INFINITY);
    put_f64(&d, NAN);
    s = spec(3, 1, 16000, 64);
    w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 7, 0.0f);
    free(w.p);
    free(d.p);
}

static void test_extensible(void **state) {
    (void)state;
    const float want[] = {0.5f, -0.25f, 0.0f};
    bytes d = {0};
    for (size_t i = 0; i < 3; i++) put_u16(&d, (uint16_t)(int16_t)(want[i] * 32768.0f));
    wav_spec s = spec(1, 1, 16000, 16);
    s.extensible = 1;
    bytes w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 3, 0.0f);
    free(w.p);
    free(d.p);

    d = (bytes){0};
    for (size_t i = 0; i < 3; i++) put_f32(&d, want[i]);
    s = spec(3, 1, 16000, 32);
    s.extensible = 1;
    w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 3, 0.0f);
    free(w.p);

    /* an unknown sub-format GUID is rejected */
    s = spec(1, 1, 16000, 32);
    s.extensible = 1;
    w = make_wav(&s, d.p, d.n);
    for (size_t i = 0; i + 4 <= w.n; i++)
        if (memcmp(w.p + i, "\x10\x00\x80\x00", 4) == 0) w.p[i] = 0x11; /* corrupt the GUID tail */
    expect_error(w.p, w.n, AM_E_AUDIO, "sub-format");
    free(w.p);
    free(d.p);
}

static void test_stereo_and_multichannel(void **state) {
    (void)state;
    bytes d = {0};
    /* frames (L, R): (0.5, -0.25) (1 - 2^-15 ... ) */
    const float lr[][2] = {{0.5f, -0.25f}, {-1.0f, -1.0f}, {0.25f, 0.25f}};
    for (size_t i = 0; i < 3; i++)
        for (int c = 0; c < 2; c++) put_u16(&d, (uint16_t)(int16_t)(lr[i][c] * 32768.0f));
    wav_spec s = spec(1, 2, 16000, 16);
    bytes w = make_wav(&s, d.p, d.n);
    const float want[] = {0.125f, -1.0f, 0.25f};
    expect_samples(&w, want, 3, 0.0f);
    free(w.p);
    free(d.p);

    /* 64 channels of float: channel c holds c / 64, the mean is 63 / 128 */
    d = (bytes){0};
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 64; c++) put_f32(&d, (float)c / 64.0f);
    s = spec(3, 64, 16000, 32);
    s.extensible = 1;
    w = make_wav(&s, d.p, d.n);
    const float want64[] = {63.0f / 128.0f, 63.0f / 128.0f};
    expect_samples(&w, want64, 2, 1e-6f);
    free(w.p);
    free(d.p);
}

static void test_rf64(void **state) {
    (void)state;
    bytes d = {0};
    const float want[] = {0.5f, -0.5f, 0.25f};
    for (size_t i = 0; i < 3; i++) put_u16(&d, (uint16_t)(int16_t)(want[i] * 32768.0f));
    wav_spec s = spec(1, 1, 16000, 16);
    s.rf64 = 1;
    bytes w = make_wav(&s, d.p, d.n);
    expect_samples(&w, want, 3, 0.0f);
    free(w.p);
    free(d.p);
}

/* Other rates come out at 16 kHz with ceil(n * 16000 / rate) samples. */
static void test_rates_and_lengths(void **state) {
    (void)state;
    const uint32_t rates[] = {8000, 11025, 22050, 44100, 48000, 96000, 1000, 384000, 44101};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        size_t n = rates[r] / 2 + 7; /* about half a second */
        bytes d = {0};
        for (size_t i = 0; i < n; i++)
            put_u16(&d, (uint16_t)(int16_t)(8000.0 * sin(2 * PI * 200.0 * (double)i / rates[r])));
        wav_spec s = spec(1, 2 - (r & 1), rates[r], 16);
        if (s.channels == 2) { /* duplicate into two channels */
            bytes st = {0};
            for (size_t i = 0; i < n; i++) {
                put(&st, d.p + 2 * i, 2);
                put(&st, d.p + 2 * i, 2);
            }
            free(d.p);
            d = st;
        }
        bytes w = make_wav(&s, d.p, d.n);
        float *x = NULL;
        size_t nx = 0;
        char err[256] = "";
        assert_int_equal(am_audio_read_memory(w.p, w.n, &x, &nx, err, sizeof err), AM_OK);
        size_t want = (size_t)(((uint64_t)n * 16000 + rates[r] - 1) / rates[r]);
        assert_int_equal(nx, want);
        /* a 200 Hz tone (inside the passband even at 1 kHz) of amplitude 8000/32768 away from the edges */
        double peak = 0.0;
        for (size_t i = nx / 4; i < 3 * nx / 4; i++) peak = fmax(peak, fabs(x[i]));
        assert_true(fabs(peak - 8000.0 / 32768.0) < 0.01);
        am_audio_free(x);
        free(w.p);
        free(d.p);
    }
}

static void test_truncated_data_chunk(void **state) {
    (void)state;
    bytes d = {0};
    for (int i = 0; i < 10; i++) put_u16(&d, (uint16_t)(i * 1000));
    wav_spec s = spec(1, 1, 16000, 16);
    s.data_size_override = 1000; /* claims more than is there: 10 whole samples are accepted */
    bytes w = make_wav(&s, d.p, d.n);
    float *x = NULL;
    size_t nx = 0;
    char err[256];
    assert_int_equal(am_audio_read_memory(w.p, w.n, &x, &nx, err, sizeof err), AM_OK);
    assert_int_equal(nx, 10);
    assert_true(fabsf(x[9] - 9000.0f / 32768.0f) < 1e-7f);
    am_audio_free(x);

    /* cut in the middle of the first frame */
    expect_error(w.p, w.n - 19, AM_E_AUDIO, "truncated");
    free(w.p);
    free(d.p);

    /* a data chunk that is not a whole number of frames (28 bytes of 6-byte frames): 4 frames */
    d = (bytes){0};
    for (int i = 0; i < 10; i++) put_s24(&d, i * 100000);
    s = spec(1, 2, 16000, 24);
    w = make_wav(&s, d.p, d.n - 2);
    assert_int_equal(am_audio_read_memory(w.p, w.n, &x, &nx, err, sizeof err), AM_OK);
    assert_int_equal(nx, 4);
    am_audio_free(x);
    free(w.p);
    free(d.p);
}

/* ---- errors -------------------------------------------------------------------------------- */

static char *write_temp_file(const void *data, size_t n) {
    char *path = strdup("/tmp/am_test_audio_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    if (n) assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_file_errors(void **state) {
    (void)state;
    float *x = NULL;
    size_t nx = 0;
    char err[256] = "";

    int rc = am_audio_read_file("/nonexistent/dir/missing.wav", &x, &nx, err, sizeof err);
    assert_int_equal(rc, AM_E_IO);
    assert_non_null(strstr(err, "/nonexistent/dir/missing.wav"));
    assert_non_null(strstr(err, "No such file or directory"));

    char *empty = write_temp_file("", 0);
    rc = am_audio_read_file(empty, &x, &nx, err, sizeof err);
    assert_int_equal(rc, AM_E_AUDIO);
    assert_non_null(strstr(err, empty));
    assert_non_null(strstr(err, "empty"));
    unlink(empty);
    free(empty);

    const char *text = "hello, this is not audio\n";
    char *txt = write_temp_file(text, strlen(text));
    rc = am_audio_read_file(txt, &x, &nx, err, sizeof err);
    assert_int_equal(rc, AM_E_AUDIO);
    assert_non_null(strstr(err, txt));
    assert_non_null(strstr(err, "not a WAV file (no RIFF/WAVE header)"));
    unlink(txt);
    free(txt);

    /* a good file, read back through the path */
    bytes d = {0};
    put_u16(&d, 16384);
    wav_spec s = spec(1, 1, 16000, 16);
    bytes w = make_wav(&s, d.p, d.n);
    char *good = write_temp_file(w.p, w.n);
    assert_int_equal(am_audio_read_file(good, &x, &nx, err, sizeof err), AM_OK);
    assert_int_equal(nx, 1);
    assert_true(x[0] == 0.5f);
    am_audio_free(x);
    unlink(good);
    free(good);
    free(w.p);
    free(d.p);

    /* a directory */
    rc = am_audio_read_file("/tmp", &x, &nx, err, sizeof err);
    assert_int_equal(rc, AM_E_IO);
    assert_true(strlen(err) > 0);
}

static void test_memory_errors(void **state) {
    (void)state;
    bytes d = {0};
    for (int i = 0; i < 8; i++) put_u16(&d, (uint16_t)i);

    expect_error("", 0, AM_E_AUDIO, "empty");
    expect_error("RIFF", 4, AM_E_AUDIO, "not a WAV file");
    expect_error("RIFF\0\0\0\0WAVX", 12, AM_E_AUDIO, "not a WAV file");
    expect_error("RIFF\0\0\0\0WAVE", 12, AM_E_AUDIO, "no fmt chunk");

    wav_spec s = spec(1, 1, 16000, 16);
    s.no_fmt = 1;
    bytes w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "no fmt chunk");
    free(w.p);

    s = spec(1, 1, 16000, 16);
    s.no_data = 1;
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "no data chunk");
    free(w.p);

    s = spec(2, 1, 16000, 16); /* MS ADPCM */
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "unsupported WAV format code 0x0002");
    free(w.p);

    s = spec(1, 1, 16000, 12);
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "bit depth 12");
    free(w.p);

    s = spec(3, 1, 16000, 16);
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "float bit depth 16");
    free(w.p);

    s = spec(1, 0, 16000, 16);
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "zero channels");
    free(w.p);

    s = spec(1, 65, 16000, 16);
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "channel count 65");
    free(w.p);

    s = spec(1, 1, 0, 16);
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "zero sample rate");
    free(w.p);

    s = spec(1, 1, 999, 16);
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "sample rate 999");
    free(w.p);

    s = spec(1, 1, 384001, 16);
    w = make_wav(&s, d.p, d.n);
    expect_error(w.p, w.n, AM_E_AUDIO, "sample rate 384001");
    free(w.p);

    s = spec(1, 1, 16000, 16);
    w = make_wav(&s, d.p, 0);
    expect_error(w.p, w.n, AM_E_AUDIO, "contains no audio samples");
    free(w.p);

    s = spec(1, 1, 16000, 16);
    s.data_size_override = 100;
    w = make_wav(&s, d.p, 1); /* one byte of a 2-byte frame */
    expect_error(w.p, w.n, AM_E_AUDIO, "truncated");
    free(w.p);

    /* fmt chunk shorter than 16 bytes */
    const uint8_t short_fmt[] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ', 8, 0, 0, 0,
                                 1, 0, 1, 0, 0x80, 0x3e, 0, 0};
    expect_error(short_fmt, sizeof short_fmt, AM_E_AUDIO, "fmt chunk is truncated");

    /* NULL arguments */
    float *x;
    size_t nx;
    char err[64];
    assert_int_equal(am_audio_read_memory(NULL, 10, &x, &nx, err, sizeof err), AM_E_INVALID_ARG);
    assert_int_equal(am_audio_read_memory("RIFF", 4, NULL, &nx, NULL, 0), AM_E_INVALID_ARG);
    /* NULL err buffer is allowed */
    assert_int_equal(am_audio_read_memory("RIFF", 4, &x, &nx, NULL, 0), AM_E_AUDIO);
    free(d.p);
}

/* Read samples/jfk.wav (16 kHz mono 16-bit, 11 s) when run from the repository root. */
static void test_sample_file(void **state) {
    (void)state;
    if (access("samples/jfk.wav", R_OK) != 0) skip();
    float *x = NULL;
    size_t nx = 0;
    char err[256];
    assert_int_equal(am_audio_read_file("samples/jfk.wav", &x, &nx, err, sizeof err), AM_OK);
    assert_int_equal(nx, 176000);
    double peak = 0.0;
    for (size_t i = 0; i < nx; i++) peak = fmax(peak, fabs(x[i]));
    assert_true(peak > 0.1 && peak <= 1.0);
    am_audio_free(x);
}

/* ---- robustness ---------------------------------------------------------------------------- */

static uint64_t xorshift64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Parse a buffer that may be garbage: either it succeeds with samples or fails with a message. */
static void parse_anything(const uint8_t *p, size_t n) {
    /* copy to an exactly-sized heap block so ASan catches any read past the end */
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n) memcpy(copy, p, n);
    float *x = NULL;
    size_t nx = 0;
    char err[256] = "";
    int rc = am_audio_read_memory(copy, n, &x, &nx, err, sizeof err);
    if (rc == AM_OK) {
        assert_true(nx > 0);
        assert_non_null(x);
        for (size_t i = 0; i < nx; i++) assert_true(isfinite(x[i]));
    } else {
        assert_true(rc == AM_E_AUDIO || rc == AM_E_NOMEM);
        assert_true(strlen(err) > 0);
        assert_null(x);
    }
    am_audio_free(x);
    free(copy);
}

static void test_truncation_and_bit_flips(void **state) {
    (void)state;
    bytes d = {0};
    for (int i = 0; i < 40; i++) put_u16(&d, (uint16_t)(i * 777));
    const wav_spec specs[] = {spec(1, 2, 44100, 16), spec(3, 1, 8000, 32), spec(1, 1, 16000, 24)};
    for (size_t k = 0; k < 3; k++) {
        wav_spec s = specs[k];
        s.junk_before_fmt = 1;
        s.extensible = (int)(k == 1);
        bytes w = make_wav(&s, d.p, d.n - (s.bits == 24 ? 2 : 0));
        for (size_t len = 0; len <= w.n; len++) parse_anything(w.p, len);

        uint64_t rng = 0x9E3779B97F4A7C15ull + k;
        uint8_t *m = malloc(w.n);
        for (int iter = 0; iter < 2000; iter++) {
            memcpy(m, w.p, w.n);
            int flips = 1 + (int)(xorshift64(&rng) % 4);
            for (int f = 0; f < flips; f++) {
                size_t at = (size_t)(xorshift64(&rng) % w.n);
                if (xorshift64(&rng) & 1)
                    m[at] ^= (uint8_t)(1u << (xorshift64(&rng) % 8));
                else
                    m[at] = (uint8_t)xorshift64(&rng);
            }
            parse_anything(m, w.n);
        }
        free(m);
        free(w.p);
    }
    free(d.p);
}

/* ---- resampler ----------------------------------------------------------------------------- */

static float *make_sine(size_t n, double freq, double rate, double amp) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * PI * freq * (double)i / rate));
    return x;
}

static double rms(const float *x, size_t from, size_t to) {
    double s = 0.0;
    for (size_t i = from; i < to; i++) s += (double)x[i] * x[i];
    return sqrt(s / (double)(to - from));
}

/* Resample a sine and compare with the ideal sine on the output grid (same phase, since output
 * sample k sits at time k / out_rate), away from the edges.  Returns the RMS ratio out/in. */
static double check_sine(int in_rate, int out_rate, double freq, double max_err) {
    size_t n = (size_t)in_rate; /* one second */
    float *x = make_sine(n, freq, in_rate, 0.5);
    float *y = NULL;
    size_t ny = 0;
    assert_int_equal(audio_resample(x, n, in_rate, out_rate, &y, &ny), AM_OK);
    assert_int_equal(ny, ((uint64_t)n * out_rate + in_rate - 1) / in_rate);
    size_t lo = ny / 10, hi = ny - ny / 10;
    double worst = 0.0;
    for (size_t k = lo; k < hi; k++) {
        double ideal = 0.5 * sin(2 * PI * freq * (double)k / out_rate);
        worst = fmax(worst, fabs(y[k] - ideal));
    }
    if (worst > max_err) print_error("%d->%d %.0f Hz: max error %.3g\n", in_rate, out_rate, freq, worst);
    assert_true(worst <= max_err);
    double ratio = rms(y, lo, hi) / (0.5 / sqrt(2.0));
    free(x);
    free(y);
    return ratio;
}

static void test_resample_sine(void **state) {
    (void)state;
    double r;
    r = check_sine(8000, 16000, 1000.0, 1e-3);
    assert_true(fabs(r - 1.0) < 0.01);
    r = check_sine(44100, 16000, 1000.0, 1e-3);
    assert_true(fabs(r - 1.0) < 0.01);
    r = check_sine(48000, 16000, 1000.0, 1e-3);
    assert_true(fabs(r - 1.0) < 0.01);
    r = check_sine(22050, 16000, 3000.0, 1e-3);
    assert_true(fabs(r - 1.0) < 0.01);
    /* 7 kHz is inside the 16 kHz passband (cutoff 0.97 * 8 kHz): it must come through intact */
    r = check_sine(44100, 16000, 6000.0, 2e-3); /* passband of libswresample's default filter: flat to ~0.75 of Nyquist */
    assert_true(fabs(r - 1.0) < 0.01);
    /* the odd-rate path (interpolated coefficient rows) */
    r = check_sine(44101, 16000, 1000.0, 1e-3);
    assert_true(fabs(r - 1.0) < 0.01);
}

/* Tones above the output Nyquist must not alias into the output. */
static void test_resample_stopband(void **state) {
    (void)state;
    const struct {
        int in, out;
        double freq;
    } cases[] = {
        {44100, 8000, 7000.0},  /* would alias to 1 kHz */
        {44100, 16000, 9000.0}, /* would alias to 7 kHz */
        {44100, 16000, 12000.0},
        {48000, 16000, 20000.0},
        {16000, 8000, 5000.0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = (size_t)cases[c].in;
        float *x = make_sine(n, cases[c].freq, cases[c].in, 1.0);
        float *y = NULL;
        size_t ny = 0;
        assert_int_equal(audio_resample(x, n, cases[c].in, cases[c].out, &y, &ny), AM_OK);
        double db = 20.0 * log10(rms(y, ny / 10, ny - ny / 10) / rms(x, 0, n) + 1e-30);
        if (db > -60.0) print_error("%d->%d %.0f Hz: %.1f dB\n", cases[c].in, cases[c].out, cases[c].freq, db);
        assert_true(db < -60.0);
        free(x);
        free(y);
    }
}

static void test_resample_lengths_and_identity(void **state) {
    (void)state;
    float x[7] = {1, 2, 3, 4, 5, 6, 7};
    float *y = NULL;
    size_t ny = 0;
    assert_int_equal(audio_resample(x, 7, 16000, 16000, &y, &ny), AM_OK);
    assert_int_equal(ny, 7);
    assert_memory_equal(x, y, sizeof x);
    free(y);

    assert_int_equal(audio_resample(x, 1, 384000, 16000, &y, &ny), AM_OK);
    assert_int_equal(ny, 1);
    free(y);
    assert_int_equal(audio_resample(x, 7, 8000, 16000, &y, &ny), AM_OK);
    assert_int_equal(ny, 14);
    free(y);
    assert_int_equal(audio_resample(x, 0, 8000, 16000, &y, &ny), AM_OK);
    assert_int_equal(ny, 0);
    free(y);
    assert_int_equal(audio_resample(x, 7, 44100, 16000, &y, &ny), AM_OK);
    assert_int_equal(ny, 3); /* ceil(7 * 160 / 441) */
    free(y);

    /* DC is preserved exactly (unit-gain rows) away from the edges */
    float dc[4410];
    for (size_t i = 0; i < 4410; i++) dc[i] = 0.25f;
    assert_int_equal(audio_resample(dc, 4410, 44100, 16000, &y, &ny), AM_OK);
    assert_int_equal(ny, 1600);
    for (size_t k = 400; k < 1200; k++) assert_true(fabsf(y[k] - 0.25f) < 1e-5f);
    free(y);

    assert_int_equal(audio_resample(x, 7, 0, 16000, &y, &ny), AM_E_INVALID_ARG);
    assert_int_equal(audio_resample(NULL, 7, 8000, 16000, &y, &ny), AM_E_INVALID_ARG);
}

static void test_resample_speed(void **state) {
    (void)state;
    size_t n = 60 * 44100;
    float *x = make_sine(n, 440.0, 44100, 0.5);
    float *y = NULL;
    size_t ny = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(audio_resample(x, n, 44100, 16000, &y, &ny), AM_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    print_message("resample 60 s of 44.1 kHz to 16 kHz: %.3f s\n", s);
    assert_int_equal(ny, 960000);
    assert_true(s < 10.0); /* generous: sanitizer builds are slow; an -O2 build takes well under 1 s */
    free(x);
    free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcm16_mono),
        cmocka_unit_test(test_pcm24_pcm32_u8),
        cmocka_unit_test(test_float32_float64),
        cmocka_unit_test(test_extensible),
        cmocka_unit_test(test_stereo_and_multichannel),
        cmocka_unit_test(test_rf64),
        cmocka_unit_test(test_rates_and_lengths),
        cmocka_unit_test(test_truncated_data_chunk),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_memory_errors),
        cmocka_unit_test(test_sample_file),
        cmocka_unit_test(test_truncation_and_bit_flips),
        cmocka_unit_test(test_resample_sine),
        cmocka_unit_test(test_resample_stopband),
        cmocka_unit_test(test_resample_lengths_and_identity),
        cmocka_unit_test(test_resample_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
