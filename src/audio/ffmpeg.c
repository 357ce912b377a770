/* ffmpeg.c — every format the FFmpeg libraries decode (mp3, flac, ogg/vorbis, opus, m4a/aac, webm,
 * the first audio stream of video files, ...) to 16 kHz mono float, streaming in blocks.
 *
 * Input comes through a custom AVIOContext (64 KiB buffer) over a FILE* (a seekable file, or a pipe
 * such as stdin, read forward only, with the bytes already peeked at served first) or over bytes in
 * memory.  Packets of the first audio stream are decoded one at a time and each decoded frame goes
 * through libswresample (all channels averaged to mono, resampled to 16 kHz, float) and is
 * appended to the caller's sample store (audio/pcm.h): memory is FFmpeg's bounded working buffers
 * plus what the store keeps (nothing more than a block when it spools to a file).
 *
 * The input is untrusted: secondary resources (playlists, concat lists, image sequences...) are
 * refused (io_open fails), FFmpeg's own logging is silenced, and every failure is one line:
 * "not an audio file", "no audio stream", "unsupported audio codec", "truncated or corrupt audio". */
#ifdef AM_HAVE_FFMPEG

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "amanuensis.h"
#include "audio/audio.h"
#include "audio/pcm.h"
#include "common/util.h"

#define FF_IO_BUFFER (64 * 1024)
#define FF_MAX_CHANNELS 64

/* Where the bytes come from. */
typedef struct ff_source {
    FILE *f;                  /* file or pipe (NULL: memory)               */
    int seekable;
    const uint8_t *pre;       /* bytes already read from a pipe, served first */
    size_t pre_len, pre_pos;
    const uint8_t *mem;       /* memory input                              */
    size_t mem_size, mem_pos;
} ff_source;

static int ff_read(void *opaque, uint8_t *buf, int size) {
    ff_source *s = opaque;
    if (size <= 0) return 0;
    if (!s->f) {
        size_t left = s->mem_size - s->mem_pos, n = (size_t)size < left ? (size_t)size : left;
        if (n == 0) return AVERROR_EOF;
        memcpy(buf, s->mem + s->mem_pos, n);
        s->mem_pos += n;
        return (int)n;
    }
    if (s->pre_pos < s->pre_len) {
        size_t left = s->pre_len - s->pre_pos, n = (size_t)size < left ? (size_t)size : left;
        memcpy(buf, s->pre + s->pre_pos, n);
        s->pre_pos += n;
        return (int)n;
    }
    size_t n = fread(buf, 1, (size_t)size, s->f);
    if (n == 0) return ferror(s->f) ? AVERROR(EIO) : AVERROR_EOF;
    return (int)n;
}

static int64_t ff_seek(void *opaque, int64_t offset, int whence) {
    ff_source *s = opaque;
    whence &= ~AVSEEK_FORCE;
    if (!s->f) {
        int64_t base;
        if (whence == AVSEEK_SIZE) return (int64_t)s->mem_size;
        if (whence == SEEK_SET) base = 0;
        else if (whence == SEEK_CUR) base = (int64_t)s->mem_pos;
        else if (whence == SEEK_END) base = (int64_t)s->mem_size;
        else return AVERROR(EINVAL);
        if (offset < -base || base + offset > (int64_t)s->mem_size) return AVERROR(EINVAL);
        s->mem_pos = (size_t)(base + offset);
        return (int64_t)s->mem_pos;
    }
    if (!s->seekable) return AVERROR(ENOSYS);
    if (whence == AVSEEK_SIZE) {
        struct stat st;
        if (fstat(fileno(s->f), &st) != 0) return AVERROR(errno);
        return (int64_t)st.st_size;
    }
    if (fseeko(s->f, (off_t)offset, whence) != 0) return AVERROR(errno ? errno : EIO);
    return (int64_t)ftello(s->f);
}

/* Refuse every secondary resource a demuxer would open (playlists, concat, image2, ...). */
static int ff_io_open_refuse(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                             AVDictionary **options) {
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

/* The resampler's output block, handed to the store after each input frame. */
typedef struct ff_out {
    float *v;
    size_t n, cap;
} ff_out;

static int out_reserve(ff_out *o, size_t extra) {
    if (o->cap - o->n >= extra) return AM_OK;
    size_t cap = o->cap ? o->cap : 16000 * 30;
    while (cap - o->n < extra) {
        if (cap > SIZE_MAX / 2 / sizeof(float)) return AM_E_NOMEM;
        cap *= 2;
    }
    float *g = realloc(o->v, cap * sizeof *g); /* large blocks: mremap, no copy, no double RSS */
    if (!g) return AM_E_NOMEM;
    o->v = g;
    o->cap = cap;
    return AM_OK;
}

/* Decoder + resampler state. */
typedef struct ff_state {
    AVFormatContext *fmt;
    AVIOContext *io;
    AVCodecContext *dec;
    SwrContext *swr;
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    int swr_fmt, swr_rate, swr_channels; /* what swr was set up for */
    ff_out out;
    pcm_store *dst;
    size_t total;        /* samples handed to dst */
    int store_rc;        /* AM_E_IO / AM_E_NOMEM from dst */
    size_t n_packets, n_bad;
} ff_state;

static void ff_state_free(ff_state *s) {
    av_frame_free(&s->frame);
    av_packet_free(&s->pkt);
    swr_free(&s->swr);
    avcodec_free_context(&s->dec);
    if (s->fmt) avformat_close_input(&s->fmt);
    if (s->io) {
        av_freep(&s->io->buffer);
        avio_context_free(&s->io);
    }
    free(s->out.v);
    s->out.v = NULL;
}

/* Resampler output for `in` frames (NULL: flush) appended to s->out. */
static int ff_resample(ff_state *s, const uint8_t **in, int n_in) {
    for (;;) {
        int room = swr_get_out_samples(s->swr, n_in);
        if (room < 0) return AM_E_AUDIO;
        if (room < 256) room = 256;
        if (out_reserve(&s->out, (size_t)room) != AM_OK) return AM_E_NOMEM;
        uint8_t *dst = (uint8_t *)(s->out.v + s->out.n);
        int got = swr_convert(s->swr, &dst, room, in, n_in);
        if (got < 0) return AM_E_AUDIO;
        s->out.n += (size_t)got;
        if (in || got == 0) break; /* one call per input; flush until empty */
    }
    int rc = pcm_store_append(s->dst, s->out.v, s->out.n);
    if (rc != AM_OK) {
        s->store_rc = rc;
        return rc;
    }
    s->total += s->out.n;
    s->out.n = 0;
    return AM_OK;
}

/* (Re)configure swr for this frame's format: all channels averaged to mono float at 16 kHz. */
static int ff_setup_swr(ff_state *s, const AVFrame *fr) {
    int channels = fr->ch_layout.nb_channels;
    if (s->swr && fr->format == s->swr_fmt && fr->sample_rate == s->swr_rate && channels == s->swr_channels)
        return AM_OK;
    if (channels < 1 || channels > FF_MAX_CHANNELS || fr->sample_rate < 1000 || fr->sample_rate > 768000)
        return AM_E_AUDIO;
    if (s->swr) { /* the stream changed format mid-way: drain the old resampler first */
        int rc = ff_resample(s, NULL, 0);
        swr_free(&s->swr);
        if (rc != AM_OK) return rc;
    }
    AVChannelLayout in_layout, mono = AV_CHANNEL_LAYOUT_MONO;
    /* zeroed: av_channel_layout_copy uninitialises its destination first, and stack garbage read as a
     * custom layout was freed (tests/fuzz/regressions/ffmpeg/) */
    memset(&in_layout, 0, sizeof in_layout);
    if (fr->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check(&fr->ch_layout) == 0)
        av_channel_layout_default(&in_layout, channels);
    else if (av_channel_layout_copy(&in_layout, &fr->ch_layout) < 0)
        return AM_E_NOMEM;
    int ret = swr_alloc_set_opts2(&s->swr, &mono, AV_SAMPLE_FMT_FLT, AM_SAMPLE_RATE, &in_layout,
                                  (enum AVSampleFormat)fr->format, fr->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in_layout);
    if (ret < 0 || !s->swr) return AM_E_AUDIO;
    /* plain average of the channels, as the WAV reader does */
    double matrix[FF_MAX_CHANNELS];
    for (int c = 0; c < channels; c++) matrix[c] = 1.0 / channels;
    if (channels > 1 && swr_set_matrix(s->swr, matrix, channels) < 0) return AM_E_AUDIO;
    if (swr_init(s->swr) < 0) return AM_E_AUDIO;
    s->swr_fmt = fr->format;
    s->swr_rate = fr->sample_rate;
    s->swr_channels = channels;
    return AM_OK;
}

/* Receive every frame the decoder has ready and resample it. */
static int ff_drain(ff_state *s) {
    for (;;) {
        int ret = avcodec_receive_frame(s->dec, s->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return AM_OK;
        if (ret < 0) {
            s->n_bad++;
            return AM_OK;
        }
        int rc = ff_setup_swr(s, s->frame);
        if (rc == AM_OK) rc = ff_resample(s, (const uint8_t **)s->frame->extended_data, s->frame->nb_samples);
        av_frame_unref(s->frame);
        if (rc != AM_OK) return rc;
    }
}

static void ff_errstr(int ret, char *buf, size_t n) {
    if (av_strerror(ret, buf, n) < 0) snprintf(buf, n, "error %d", ret);
}

/* The whole decode; `who` ("" or "path: ") prefixes every message.  `opened`: an input the caller
 * opened (a capture device), read instead of src. */
static int ff_decode(ff_source *src, AVFormatContext *opened, const char *who, pcm_store *dst, char *err,
                     size_t err_size) {
    ff_state s;
    memset(&s, 0, sizeof s);
    s.stream = -1;
    s.dst = dst;
    char why[128] = "";
    int rc = AM_OK, ret;

    av_log_set_level(AV_LOG_QUIET); /* FFmpeg would print to stderr; our errors are one line */

    if (opened) {
        s.fmt = opened;
        s.pkt = av_packet_alloc();
        s.frame = av_frame_alloc();
        if (!s.pkt || !s.frame) {
            rc = am_fail(err, err_size, AM_E_NOMEM, "%sout of memory", who);
            goto done;
        }
        goto find_stream;
    }
    uint8_t *iobuf = av_malloc(FF_IO_BUFFER);
    if (!iobuf) return am_fail(err, err_size, AM_E_NOMEM, "%sout of memory", who);
    s.io = avio_alloc_context(iobuf, FF_IO_BUFFER, 0, src, ff_read, NULL,
                              (src->f == NULL || src->seekable) ? ff_seek : NULL);
    if (!s.io) {
        av_free(iobuf);
        return am_fail(err, err_size, AM_E_NOMEM, "%sout of memory", who);
    }
    if (src->f && !src->seekable) s.io->seekable = 0;
    s.fmt = avformat_alloc_context();
    s.pkt = av_packet_alloc();
    s.frame = av_frame_alloc();
    if (!s.fmt || !s.pkt || !s.frame) {
        rc = am_fail(err, err_size, AM_E_NOMEM, "%sout of memory", who);
        goto done;
    }
    s.fmt->pb = s.io;
    s.fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    s.fmt->io_open = ff_io_open_refuse;

    ret = avformat_open_input(&s.fmt, "", NULL, NULL);
    if (ret < 0) {
        /* avformat_open_input frees the context on failure */
        s.fmt = NULL;
        if (ret == AVERROR_INVALIDDATA)
            rc = am_fail(err, err_size, AM_E_AUDIO,
                         "%snot an audio file (not a WAV file (no RIFF/WAVE header), nor a format FFmpeg recognises)",
                         who);
        else {
            ff_errstr(ret, why, sizeof why);
            rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (%s)", who, why);
        }
        goto done;
    }
find_stream:
    ret = avformat_find_stream_info(s.fmt, NULL);
    if (ret < 0) {
        ff_errstr(ret, why, sizeof why);
        rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (%s)", who, why);
        goto done;
    }
    for (unsigned i = 0; i < s.fmt->nb_streams; i++) {
        if (s.stream < 0 && s.fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) s.stream = (int)i;
        else s.fmt->streams[i]->discard = AVDISCARD_ALL;
    }
    if (s.stream < 0) {
        rc = am_fail(err, err_size, AM_E_AUDIO, "%sno audio stream (the file holds %u stream%s, none of them audio)",
                     who, s.fmt->nb_streams, s.fmt->nb_streams == 1 ? "" : "s");
        goto done;
    }
    AVStream *st = s.fmt->streams[s.stream];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec) {
        rc = am_fail(err, err_size, AM_E_AUDIO, "%sunsupported audio codec '%s'", who,
                     avcodec_get_name(st->codecpar->codec_id));
        goto done;
    }
    s.dec = avcodec_alloc_context3(codec);
    if (!s.dec) {
        rc = am_fail(err, err_size, AM_E_NOMEM, "%sout of memory", who);
        goto done;
    }
    if (avcodec_parameters_to_context(s.dec, st->codecpar) < 0 || (s.dec->pkt_timebase = st->time_base,
                                                                   avcodec_open2(s.dec, codec, NULL) < 0)) {
        rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (cannot open the %s decoder)", who,
                     codec->name);
        goto done;
    }

    /* read packet by packet */
    int read_err = 0;
    for (;;) {
        ret = av_read_frame(s.fmt, s.pkt);
        if (ret < 0) {
            if (ret != AVERROR_EOF) read_err = ret;
            break;
        }
        if (s.pkt->stream_index == s.stream) {
            s.n_packets++;
            ret = avcodec_send_packet(s.dec, s.pkt);
            if (ret < 0 && ret != AVERROR(EAGAIN)) s.n_bad++;
            rc = ff_drain(&s);
        }
        av_packet_unref(s.pkt);
        if (rc != AM_OK) break;
    }
    if (rc == AM_OK) {
        avcodec_send_packet(s.dec, NULL); /* flush the decoder */
        rc = ff_drain(&s);
    }
    if (rc == AM_OK && s.swr) rc = ff_resample(&s, NULL, 0); /* flush the resampler */
    if (rc == AM_E_ABORTED && s.store_rc == AM_E_ABORTED) goto done; /* the store said stop */
    if (rc == AM_E_IO && s.store_rc == AM_E_IO) {
        rc = am_fail(err, err_size, AM_E_IO, "%s%s", who, pcm_store_error(dst));
        goto done;
    }
    if (rc == AM_E_NOMEM) {
        rc = am_fail(err, err_size, AM_E_NOMEM, "%sout of memory (%zu samples decoded)", who, s.total);
        goto done;
    }
    if (rc != AM_OK) {
        rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (unusable sample format or rate)", who);
        goto done;
    }
    if (s.total == 0) {
        rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (no audio could be decoded)", who);
        goto done;
    }
    if (read_err && read_err != AVERROR(EIO)) {
        ff_errstr(read_err, why, sizeof why);
        rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (%s after %.1f s)", who, why,
                     (double)s.total / AM_SAMPLE_RATE);
        goto done;
    }
    if (s.n_bad * 10 > s.n_packets) {
        rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (%zu of %zu packets could not be decoded)",
                     who, s.n_bad, s.n_packets);
        goto done;
    }
    /* A duration the container knows exactly (not estimated from the bitrate) that the decoded audio
     * falls well short of: the file was cut. */
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0 &&
        s.fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE) {
        double expect = (double)st->duration * av_q2d(st->time_base);
        double got = (double)s.total / AM_SAMPLE_RATE;
        if (expect > 0 && got < 0.9 * expect - 0.5) {
            rc = am_fail(err, err_size, AM_E_AUDIO, "%struncated or corrupt audio (%.1f s decoded of %.1f s)", who, got,
                         expect);
            goto done;
        }
    }

done:
    ff_state_free(&s);
    return rc;
}

int audio_ffmpeg_read_stream(FILE *f, int seekable, const void *prefix, size_t prefix_len, const char *who,
                             pcm_store *dst, char *err, size_t err_size) {
    ff_source src;
    memset(&src, 0, sizeof src);
    src.f = f;
    src.seekable = seekable;
    src.pre = prefix;
    src.pre_len = seekable ? 0 : prefix_len;
    if (seekable && fseeko(f, 0, SEEK_SET) != 0)
        return am_fail(err, err_size, AM_E_IO, "%scannot seek: %s", who, strerror(errno));
    return ff_decode(&src, NULL, who, dst, err, err_size);
}

int audio_ffmpeg_read_opened(struct AVFormatContext *fmt, const char *who, pcm_store *dst, char *err,
                             size_t err_size) {
    return ff_decode(NULL, fmt, who, dst, err, err_size);
}

int audio_ffmpeg_read_memory(const void *data, size_t size, const char *who, pcm_store *dst, char *err,
                             size_t err_size) {
    ff_source src;
    memset(&src, 0, sizeof src);
    src.mem = data;
    src.mem_size = size;
    return ff_decode(&src, NULL, who, dst, err, err_size);
}

#else
/* Built without FFmpeg: wav.c reports non-WAV input itself. */
typedef int am_ffmpeg_disabled;
#endif
