/* wav.c — WAV (RIFF/WAVE and RF64) reader for untrusted bytes: decodes PCM 8/16/24/32-bit and IEEE
 * float 32/64-bit (plain or WAVE_FORMAT_EXTENSIBLE), mixes any channel count to mono by averaging
 * and resamples to AM_SAMPLE_RATE.  Public entry points: am_audio_read_file, am_audio_read_memory,
 * am_audio_free.
 *
 * Robustness rules: every read is bounds-checked against the buffer; chunks are walked with their
 * odd-size padding byte; unknown chunks are skipped; the RIFF size field is not trusted (the walk
 * goes to the end of the buffer); a data chunk that claims more bytes than the buffer holds is
 * truncated to the whole frames present (an error only when not even one frame is there). */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amanuensis.h"
#include "audio/audio.h"
#include "audio/pcm.h"
#include "common/util.h"

#define WAV_FORMAT_PCM 0x0001
#define WAV_FORMAT_FLOAT 0x0003
#define WAV_FORMAT_EXTENSIBLE 0xFFFE

#define WAV_MAX_CHANNELS 64
#define WAV_OTHER_CODEC 1 /* wav_parse_format: a codec other than PCM or float (mu-law, ADPCM, ...) */
#define WAV_MIN_RATE 1000
#define WAV_MAX_RATE 384000

/* The 14 bytes that follow the format code in KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT GUIDs
 * (00000001-0000-0010-8000-00aa00389b71 and 00000003-...). */
static const uint8_t wav_guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                          0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

/* How one sample is stored. */
typedef enum wav_sample_kind {
    WAV_U8,
    WAV_S16,
    WAV_S24,
    WAV_S32,
    WAV_F32,
    WAV_F64
} wav_sample_kind;

/* What the fmt chunk says, once validated. */
typedef struct wav_format {
    wav_sample_kind kind;
    int channels;
    int rate;
    size_t bytes_per_sample;
    size_t frame_bytes; /* channels * bytes_per_sample */
} wav_format;

/* Where the chunks of interest are in the buffer. */
typedef struct wav_layout {
    const uint8_t *fmt;
    size_t fmt_size;
    const uint8_t *data;
    size_t data_size;    /* bytes actually present (clamped to the buffer) */
    int data_truncated;  /* the declared size ran past the end of the buffer */
} wav_layout;

static uint16_t read_u16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t read_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t read_u64le(const uint8_t *p) {
    return (uint64_t)read_u32le(p) | ((uint64_t)read_u32le(p + 4) << 32);
}

/* Walk the chunk list after the 12-byte RIFF/RF64 header and find fmt, data and (RF64) ds64.
 * Returns AM_OK or AM_E_AUDIO with a message prefixed by `who`. */
static int wav_find_chunks(const uint8_t *buf, size_t size, int is_rf64, wav_layout *lay, const char *who,
                           char *err, size_t err_size) {
    uint64_t rf64_data_size = 0;
    int have_ds64 = 0;
    size_t pos = 12;
    memset(lay, 0, sizeof *lay);

    while (size - pos >= 8) {
        const uint8_t *id = buf + pos;
        uint64_t declared = read_u32le(buf + pos + 4);
        size_t body = pos + 8;
        size_t avail = size - body;

        if (memcmp(id, "ds64", 4) == 0 && is_rf64 && declared >= 24 && avail >= 24) {
            rf64_data_size = read_u64le(buf + body + 8);
            have_ds64 = 1;
        } else if (memcmp(id, "fmt ", 4) == 0 && !lay->fmt) {
            if (declared < 16 || avail < 16)
                return am_fail(err, err_size, AM_E_AUDIO, "%sfmt chunk is truncated (%llu bytes)", who,
                               (unsigned long long)(declared < avail ? declared : avail));
            lay->fmt = buf + body;
            lay->fmt_size = (size_t)(declared < avail ? declared : avail);
        } else if (memcmp(id, "data", 4) == 0 && !lay->data) {
            /* RF64 puts 0xFFFFFFFF here and the real size in ds64. */
            if (is_rf64 && have_ds64 && declared == 0xFFFFFFFFu) declared = rf64_data_size;
            lay->data = buf + body;
            if (declared > avail) {
                lay->data_size = avail;
                lay->data_truncated = 1;
            } else {
                lay->data_size = (size_t)declared;
            }
        }

        /* Next chunk: body + declared + pad byte for odd sizes; stop when that is past the end. */
        uint64_t next = (uint64_t)body + declared + (declared & 1u);
        if (next > size) break;
        pos = (size_t)next;
    }

    if (!lay->fmt) return am_fail(err, err_size, AM_E_AUDIO, "%sno fmt chunk", who);
    if (!lay->data) return am_fail(err, err_size, AM_E_AUDIO, "%sno data chunk", who);
    return AM_OK;
}

/* Validate the fmt chunk and map it to a sample kind. */
static int wav_parse_format(const uint8_t *fmt, size_t fmt_size, wav_format *f, const char *who, char *err,
                            size_t err_size) {
    unsigned tag = read_u16le(fmt);
    unsigned channels = read_u16le(fmt + 2);
    uint32_t rate = read_u32le(fmt + 4);
    unsigned bits = read_u16le(fmt + 14);

    if (tag == WAV_FORMAT_EXTENSIBLE) {
        /* cbSize(2) validBits(2) channelMask(4) subFormat GUID(16) follow the 16 basic bytes. */
        if (fmt_size < 40)
            return am_fail(err, err_size, AM_E_AUDIO, "%sWAVE_FORMAT_EXTENSIBLE fmt chunk is too short (%zu bytes)",
                           who, fmt_size);
        const uint8_t *guid = fmt + 24;
        if (memcmp(guid + 2, wav_guid_tail, sizeof wav_guid_tail) != 0)
            return am_fail(err, err_size, AM_E_AUDIO, "%sunsupported WAVE_FORMAT_EXTENSIBLE sub-format", who),
                   WAV_OTHER_CODEC;
        tag = read_u16le(guid);
    }

    if (channels == 0) return am_fail(err, err_size, AM_E_AUDIO, "%szero channels", who);
    if (channels > WAV_MAX_CHANNELS)
        return am_fail(err, err_size, AM_E_AUDIO, "%sunsupported channel count %u (at most %d)", who, channels,
                       WAV_MAX_CHANNELS);
    if (rate == 0) return am_fail(err, err_size, AM_E_AUDIO, "%szero sample rate", who);
    if (rate < WAV_MIN_RATE || rate > WAV_MAX_RATE)
        return am_fail(err, err_size, AM_E_AUDIO, "%sunsupported sample rate %lu Hz (%d..%d)", who,
                       (unsigned long)rate, WAV_MIN_RATE, WAV_MAX_RATE);

    if (tag == WAV_FORMAT_PCM) {
        switch (bits) {
        case 8: f->kind = WAV_U8; break;
        case 16: f->kind = WAV_S16; break;
        case 24: f->kind = WAV_S24; break;
        case 32: f->kind = WAV_S32; break;
        default:
            return am_fail(err, err_size, AM_E_AUDIO, "%sunsupported PCM bit depth %u (8, 16, 24 or 32)", who,
                           bits);
        }
    } else if (tag == WAV_FORMAT_FLOAT) {
        switch (bits) {
        case 32: f->kind = WAV_F32; break;
        case 64: f->kind = WAV_F64; break;
        default:
            return am_fail(err, err_size, AM_E_AUDIO, "%sunsupported float bit depth %u (32 or 64)", who, bits);
        }
    } else {
        return am_fail(err, err_size, AM_E_AUDIO, "%sunsupported WAV format code 0x%04X (PCM or IEEE float only)",
                       who, tag),
               WAV_OTHER_CODEC;
    }

    f->channels = (int)channels;
    f->rate = (int)rate;
    f->bytes_per_sample = bits / 8;
    /* Frames are taken as channels * bytes_per_sample; nBlockAlign is not trusted. */
    f->frame_bytes = (size_t)channels * f->bytes_per_sample;
    return AM_OK;
}

/* A float sample in [-1, 1]: non-finite ones become 0, larger ones are clipped (as faster-whisper's
 * conversion to 16-bit PCM does).  Unclipped, a finite double beyond FLT_MAX became inf, and huge
 * finite floats overflowed the channel mix and the resampler (tests/fuzz/regressions/wav/). */
static float wav_clip_float(double v) {
    if (!isfinite(v)) return 0.0f;
    return v > 1.0 ? 1.0f : v < -1.0 ? -1.0f : (float)v;
}

/* Decode one sample to [-1, 1]; non-finite float samples become 0. */
static float wav_decode_sample(const uint8_t *p, wav_sample_kind kind) {
    switch (kind) {
    case WAV_U8: return ((float)p[0] - 128.0f) * (1.0f / 128.0f);
    case WAV_S16: return (float)(int16_t)read_u16le(p) * (1.0f / 32768.0f);
    case WAV_S24: {
        int32_t v = (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16));
        if (v & 0x800000) v -= 0x1000000; /* sign-extend */
        return (float)v * (1.0f / 8388608.0f);
    }
    case WAV_S32: return (float)((double)(int32_t)read_u32le(p) * (1.0 / 2147483648.0));
    case WAV_F32: {
        uint32_t u = read_u32le(p);
        float v;
        memcpy(&v, &u, sizeof v);
        return wav_clip_float(v);
    }
    case WAV_F64: {
        uint64_t u = read_u64le(p);
        double v;
        memcpy(&v, &u, sizeof v);
        return wav_clip_float(v);
    }
    }
    return 0.0f;
}

/* Decode n_frames interleaved frames and average the channels into mono[n_frames]. */
static void wav_decode_mono(const uint8_t *data, size_t n_frames, const wav_format *f, float *mono) {
    const float scale = 1.0f / (float)f->channels;
    for (size_t i = 0; i < n_frames; i++) {
        const uint8_t *frame = data + i * f->frame_bytes;
        if (f->channels == 1) {
            mono[i] = wav_decode_sample(frame, f->kind);
            continue;
        }
        float sum = 0.0f;
        for (int c = 0; c < f->channels; c++)
            sum += wav_decode_sample(frame + (size_t)c * f->bytes_per_sample, f->kind);
        mono[i] = sum * scale;
    }
}

/* The whole pipeline on a buffer; `who` ("" or "path: ") prefixes every message. */
/* A file mapped read-only: decoded pages are unmapped as the decoding goes, so a long file costs
 * its decoded samples, not its bytes as well. */
typedef struct wav_map {
    uint8_t *base;
    size_t size, released; /* [base, base + released) is already unmapped */
} wav_map;

static void wav_map_release(wav_map *m, const uint8_t *upto) {
    if (!m) return;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t end = (size_t)(upto - m->base) / page * page;
    if (end > m->released) {
        munmap(m->base + m->released, end - m->released);
        m->released = end;
    }
}

static int wav_read_ex(const uint8_t *buf, size_t size, const char *who, pcm_store *dst, char *err, size_t err_size,
                       wav_map *map);

static int wav_read(const uint8_t *buf, size_t size, const char *who, pcm_store *dst, char *err, size_t err_size) {
    return wav_read_ex(buf, size, who, dst, err, err_size, NULL);
}

/* At 16 kHz the blocks go to `dst` as they are decoded; other rates are decoded whole, resampled
 * (resample.c works on a whole signal) and then stored. */
static int wav_read_ex(const uint8_t *buf, size_t size, const char *who, pcm_store *dst, char *err, size_t err_size,
                       wav_map *map) {
    if (size == 0) return am_fail(err, err_size, AM_E_AUDIO, "%sempty file", who);
    if (size < 12 || (memcmp(buf, "RIFF", 4) != 0 && memcmp(buf, "RF64", 4) != 0) || memcmp(buf + 8, "WAVE", 4) != 0)
        return am_fail(err, err_size, AM_E_AUDIO, "%snot a WAV file (no RIFF/WAVE header)", who);

    wav_layout lay;
    int rc = wav_find_chunks(buf, size, memcmp(buf, "RF64", 4) == 0, &lay, who, err, err_size);
    if (rc != AM_OK) return rc;
    wav_format f = {WAV_U8, 0, 0, 0, 0};
    rc = wav_parse_format(lay.fmt, lay.fmt_size, &f, who, err, err_size);
#ifdef AM_HAVE_FFMPEG
    /* mu-law, A-law, ADPCM, GSM ... in a WAV file: FFmpeg's decoders (nothing was released yet).
     * When FFmpeg cannot decode it either, the WAV parser's message says more. */
    if (rc == WAV_OTHER_CODEC) {
        char why[256] = "";
        if (err && err_size) snprintf(why, sizeof why, "%s", err);
        rc = audio_ffmpeg_read_memory(buf, size, who, dst, err, err_size);
        if (rc == AM_E_AUDIO && why[0]) snprintf(err, err_size, "%s", why);
        return rc;
    }
#endif
    if (rc == WAV_OTHER_CODEC) rc = AM_E_AUDIO;
    if (rc != AM_OK) return rc;

    size_t n_frames = lay.data_size / f.frame_bytes;
    if (n_frames == 0) {
        if (lay.data_truncated || lay.data_size > 0)
            return am_fail(err, err_size, AM_E_AUDIO, "%struncated (data chunk holds %zu bytes, a frame is %zu)", who,
                           lay.data_size, f.frame_bytes);
        return am_fail(err, err_size, AM_E_AUDIO, "%scontains no audio samples", who);
    }

    const int direct = f.rate == AM_SAMPLE_RATE;
    const size_t block = 65536;
    float *mono = malloc((direct ? (n_frames < block ? n_frames : block) : n_frames) * sizeof *mono);
    if (!mono) return am_fail(err, err_size, AM_E_NOMEM, "%sout of memory (%zu samples)", who, n_frames);
    for (size_t i = 0; i < n_frames; i += block) { /* in blocks, releasing mapped pages behind */
        size_t nb = n_frames - i < block ? n_frames - i : block;
        wav_decode_mono(lay.data + i * f.frame_bytes, nb, &f, direct ? mono : mono + i);
        wav_map_release(map, lay.data + (i + nb) * f.frame_bytes);
        if (direct && (rc = pcm_store_append(dst, mono, nb)) != AM_OK) break;
    }
    if (direct) {
        free(mono);
        if (rc == AM_E_IO) return am_fail(err, err_size, rc, "%s%s", who, pcm_store_error(dst));
        if (rc != AM_OK) return am_fail(err, err_size, rc, "%sout of memory (%zu samples)", who, n_frames);
        return AM_OK;
    }
    float *out = NULL;
    size_t n_out = 0;
    rc = audio_resample(mono, n_frames, f.rate, AM_SAMPLE_RATE, &out, &n_out);
    free(mono);
    if (rc != AM_OK)
        return am_fail(err, err_size, rc, "%sresampling %d Hz to %d Hz failed: %s", who, f.rate, AM_SAMPLE_RATE,
                       am_status_string(rc));
    rc = pcm_store_append(dst, out, n_out);
    free(out);
    if (rc == AM_E_IO) return am_fail(err, err_size, rc, "%s%s", who, pcm_store_error(dst));
    if (rc != AM_OK) return am_fail(err, err_size, rc, "%sout of memory (%zu samples)", who, n_out);
    return AM_OK;
}

/* A RIFF/RF64 WAVE header: the built-in parser takes these (fast and exact); everything else goes
 * to FFmpeg when the build has it. */
static int is_riff_wave(const uint8_t *b, size_t n) {
    return n >= 12 && (memcmp(b, "RIFF", 4) == 0 || memcmp(b, "RF64", 4) == 0) && memcmp(b + 8, "WAVE", 4) == 0;
}

#ifndef AM_HAVE_FFMPEG
/* wav_read, with a hint about FFmpeg when the bytes are not WAV at all. */
static int wav_read_or_hint(const uint8_t *buf, size_t size, const char *who, pcm_store *dst, char *err,
                            size_t err_size) {
    if (size > 0 && !is_riff_wave(buf, size) && !(size >= 4 && (memcmp(buf, "RIFF", 4) == 0 || memcmp(buf, "RF64", 4) == 0)))
        return am_fail(err, err_size, AM_E_AUDIO,
                       "%snot a WAV file (no RIFF/WAVE header); other formats need FFmpeg and this build is "
                       "without FFmpeg",
                       who);
    return wav_read(buf, size, who, dst, err, err_size);
}
#endif

int audio_read_memory(const void *data, size_t size, pcm_store *dst, char *err, size_t err_size) {
#ifdef AM_HAVE_FFMPEG
    /* anything that starts like a RIFF file stays with the WAV parser (its messages are precise) */
    if (size > 0 && !(size >= 4 && (memcmp(data, "RIFF", 4) == 0 || memcmp(data, "RF64", 4) == 0)))
        return audio_ffmpeg_read_memory(data, size, "", dst, err, err_size);
    return wav_read(data, size, "", dst, err, err_size);
#else
    return wav_read_or_hint(data, size, "", dst, err, err_size);
#endif
}

/* A memory store's samples handed to the caller of am_audio_read_file/_memory. */
static am_status take_samples(int rc, pcm_store *st, float **samples, size_t *n_samples) {
    if (rc == AM_OK) {
        *n_samples = pcm_store_size(st);
        *samples = pcm_store_take(st);
    }
    pcm_store_free(st);
    return rc;
}

am_status am_audio_read_memory(const void *data, size_t size, float **samples, size_t *n_samples, char *err,
                               size_t err_size) {
    if (!samples || !n_samples || (!data && size))
        return am_fail(err, err_size, AM_E_INVALID_ARG, "am_audio_read_memory: NULL argument");
    *samples = NULL;
    *n_samples = 0;
    pcm_store *st = pcm_store_new(0);
    if (!st) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    return take_samples(audio_read_memory(data, size, st, err, err_size), st, samples, n_samples);
}

/* Read all of a stream (stdin) into memory after the `have` bytes already in *buf. */
static int read_all(FILE *f, unsigned char **buf, size_t have, size_t *size) {
    size_t cap = have > 65536 ? have * 2 : 65536;
    unsigned char *b = realloc(*buf, cap + 1);
    if (!b) return AM_E_NOMEM;
    *buf = b;
    for (;;) {
        if (have == cap) {
            if (cap > ((size_t)-1) / 4) return AM_E_NOMEM;
            cap *= 2;
            b = realloc(*buf, cap + 1);
            if (!b) return AM_E_NOMEM;
            *buf = b;
        }
        size_t got = fread(*buf + have, 1, cap - have, f);
        have += got;
        if (got == 0) break;
    }
    if (ferror(f)) return AM_E_IO;
    *size = have;
    return AM_OK;
}

/* The bytes of stdin, after the `have` already read into head, copied to an unlinked temporary file
 * and mapped: the WAV reader then releases the pages as it decodes them.  -1 when no temporary file
 * can be made (or written): the caller reads into memory instead. */
static int spool_stdin(const uint8_t *head, size_t have, wav_map *map) {
    const char *dir = getenv("TMPDIR");
    char path[4096];
    if (!dir || !*dir) dir = "/tmp";
    if ((size_t)snprintf(path, sizeof path, "%s/amanuensis-wav-XXXXXX", dir) >= sizeof path) return -1;
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (!f) {
        close(fd);
        return -1;
    }
    uint8_t buf[65536];
    size_t got = have, total = 0;
    int ok = fwrite(head, 1, have, f) == have;
    total += have;
    while (ok && (got = fread(buf, 1, sizeof buf, stdin)) > 0) {
        ok = fwrite(buf, 1, got, f) == got;
        total += got;
    }
    ok = ok && !ferror(stdin) && fflush(f) == 0 && total > 0;
    void *mp = ok ? mmap(NULL, total, PROT_READ, MAP_PRIVATE, fileno(f), 0) : MAP_FAILED;
    fclose(f); /* the mapping keeps the file */
    if (mp == MAP_FAILED) return -1;
    map->base = mp;
    map->size = total;
    map->released = 0;
    return 0;
}

/* "-": standard input.  WAV is spooled to a temporary file and mapped (into memory when no such
 * file can be made); anything else streams through FFmpeg. */
static int read_stdin(pcm_store *dst, char *err, size_t err_size) {
    const char *who = "stdin: ";
    unsigned char *buf = malloc(12);
    if (!buf) return am_fail(err, err_size, AM_E_NOMEM, "%sout of memory", who);
    size_t have = fread(buf, 1, 12, stdin);
    if (ferror(stdin)) {
        free(buf);
        return am_fail(err, err_size, AM_E_IO, "%sread error", who);
    }
    int rc;
#ifdef AM_HAVE_FFMPEG
    if (have > 0 && !is_riff_wave(buf, have)) {
        rc = audio_ffmpeg_read_stream(stdin, 0, buf, have, who, dst, err, err_size);
        free(buf);
        return rc;
    }
#endif
    wav_map map;
    if (have == 12 && spool_stdin(buf, have, &map) == 0) {
        free(buf);
        rc = wav_read_ex(map.base, map.size, who, dst, err, err_size, &map);
        if (map.size > map.released) munmap(map.base + map.released, map.size - map.released);
        return rc;
    }
    size_t size = have;
    if (have == 12 && (rc = read_all(stdin, &buf, have, &size)) != AM_OK) {
        free(buf);
        return am_fail(err, err_size, rc, "%s%s", who, rc == AM_E_NOMEM ? "out of memory" : "read error");
    }
#ifdef AM_HAVE_FFMPEG
    rc = wav_read(buf, size, who, dst, err, err_size);
#else
    rc = wav_read_or_hint(buf, size, who, dst, err, err_size);
#endif
    free(buf);
    return rc;
}

am_status am_audio_read_file(const char *path, float **samples, size_t *n_samples, char *err, size_t err_size) {
    if (!path || !samples || !n_samples)
        return am_fail(err, err_size, AM_E_INVALID_ARG, "am_audio_read_file: NULL argument");
    *samples = NULL;
    *n_samples = 0;
    pcm_store *st = pcm_store_new(0);
    if (!st) return am_fail(err, err_size, AM_E_NOMEM, "out of memory");
    return take_samples(audio_read_file(path, st, err, err_size), st, samples, n_samples);
}

int audio_read_file(const char *path, pcm_store *dst, char *err, size_t err_size) {
    if (!path || !dst) return am_fail(err, err_size, AM_E_INVALID_ARG, "audio_read_file: NULL argument");
    if (strcmp(path, "-") == 0) return read_stdin(dst, err, err_size);

    /* "path: " prefix for the parsers' messages. */
    size_t plen = strlen(path);
    char *who = malloc(plen + 3);
    if (!who) return am_fail(err, err_size, AM_E_NOMEM, "%s: out of memory", path);
    memcpy(who, path, plen);
    memcpy(who + plen, ": ", 3);
    int rc;

#ifdef AM_HAVE_FFMPEG
    /* Sniff the first 12 bytes: not RIFF/WAVE (and not empty or unreadable) -> FFmpeg, streaming. */
    FILE *f = fopen(path, "rb");
    if (f) {
        uint8_t head[12];
        size_t have = fread(head, 1, sizeof head, f);
        if (have > 0 && !ferror(f) && !is_riff_wave(head, have)) {
            int seekable = fseeko(f, 0, SEEK_SET) == 0; /* a FIFO given by path is read as a pipe */
            rc = audio_ffmpeg_read_stream(f, seekable, head, have, who, dst, err, err_size);
            fclose(f);
            free(who);
            return rc;
        }
        fclose(f);
    }
#endif

    /* A regular, non-empty file is mapped (pages released as they are decoded); anything else is read. */
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        struct stat st;
        void *mp = MAP_FAILED;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= (uint64_t)SIZE_MAX)
            mp = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (mp != MAP_FAILED) {
            wav_map map = {mp, (size_t)st.st_size, 0};
#ifdef AM_HAVE_FFMPEG
            rc = wav_read_ex(map.base, map.size, who, dst, err, err_size, &map);
#else
            rc = is_riff_wave(map.base, map.size) || (map.size >= 4 && (memcmp(map.base, "RIFF", 4) == 0 ||
                                                                     memcmp(map.base, "RF64", 4) == 0))
                     ? wav_read_ex(map.base, map.size, who, dst, err, err_size, &map)
                     : wav_read_or_hint(map.base, map.size, who, dst, err, err_size);
#endif
            if (map.size > map.released) munmap(map.base + map.released, map.size - map.released);
            free(who);
            return rc;
        }
    }

    unsigned char *buf = NULL;
    size_t size = 0;
    rc = am_read_file(path, &buf, &size, err, err_size); /* its messages already start with the path */
    if (rc != AM_OK) {
        free(who);
        return rc;
    }
#ifdef AM_HAVE_FFMPEG
    rc = wav_read(buf, size, who, dst, err, err_size);
#else
    rc = wav_read_or_hint(buf, size, who, dst, err, err_size);
#endif
    free(who);
    free(buf);
    return rc;
}

void am_audio_free(float *samples) { free(samples); }
