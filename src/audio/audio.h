/* audio.h — internal audio helpers (the public entry points am_audio_* are in amanuensis.h). */
#ifndef AM_AUDIO_H
#define AM_AUDIO_H

#include <stddef.h>
#include <stdio.h>

/* Resample mono float audio from `in_rate` to `out_rate` with a windowed-sinc (Kaiser) low-pass
 * filter; *out is malloc'd.  Identity copy when the rates are equal. */
int audio_resample(const float *in, size_t n_in, int in_rate, int out_rate, float **out, size_t *n_out);

struct pcm_store;

/* Decode a file ("-": standard input) or bytes in memory to 16 kHz mono float, appended to `dst`
 * (audio/pcm.h) block by block: the one reader behind am_audio_read_file/_memory (wav.c) and
 * am_transcribe_file.  On failure `dst` may hold a part, and err has the one-line message. */
int audio_read_file(const char *path, struct pcm_store *dst, char *err, size_t err_size);
int audio_read_memory(const void *data, size_t size, struct pcm_store *dst, char *err, size_t err_size);

#ifdef AM_HAVE_FFMPEG
/* FFmpeg decoding (ffmpeg.c) to 16 kHz mono float, appended to `dst`.  From a FILE*: `seekable`
 * files are rewound and read from the start; a pipe (stdin) is read forward only, the `prefix`
 * bytes (already read from it to sniff the format) first.  `who` ("" or "path: ") prefixes the
 * one-line messages.  Returns AM_OK, AM_E_AUDIO, AM_E_IO or AM_E_NOMEM. */
int audio_ffmpeg_read_stream(FILE *f, int seekable, const void *prefix, size_t prefix_len, const char *who,
                             struct pcm_store *dst, char *err, size_t err_size);
int audio_ffmpeg_read_memory(const void *data, size_t size, const char *who, struct pcm_store *dst, char *err,
                             size_t err_size);
/* An input the caller opened with avformat_open_input (a capture device of libavdevice: `amanuensis
 * stream --mic`), decoded the same way until it ends or an append to `dst` fails; an append that
 * returns AM_E_ABORTED stops it quietly (AM_E_ABORTED, no message).  The context is closed. */
struct AVFormatContext;
int audio_ffmpeg_read_opened(struct AVFormatContext *fmt, const char *who, struct pcm_store *dst, char *err,
                             size_t err_size);
#endif

#endif
