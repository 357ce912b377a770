/* vad.h — voice activity detection: Silero VAD v6 (16 kHz) in plain C, an energy detector as a
 * fallback, faster-whisper's speech-segment logic, chunking into <= 30 s pieces and the map from
 * chunk time back to the original timeline.
 *
 * Framing (both detectors): the audio is cut into frames of VAD_WINDOW = 512 samples (32 ms at
 * 16 kHz).  As faster-whisper's SileroVADModel, the audio is first zero-padded by
 * 512 - n % 512 samples (a whole extra frame when n is a multiple of 512), so
 * n_frames = n / 512 + 1.  Frame i covers samples [512 i, 512 i + 512); Silero also sees the 64
 * samples before it (the "context", zeros for frame 0) and carries its LSTM state from frame to
 * frame.
 *
 * No global state: a loaded vad_silero is read-only and may be shared by threads. */
#ifndef AM_VAD_H
#define AM_VAD_H

#include <stddef.h>

#define VAD_WINDOW 512   /* samples per frame (32 ms)          */
#define VAD_CONTEXT 64   /* samples of the previous frame seen  */

/* ---- Silero VAD ------------------------------------------------------------------------- */

typedef struct vad_silero vad_silero;

/* Load whisper.cpp's ggml Silero VAD file (e.g. silero-vad-v6.2.0-ggml.bin).  The file is
 * untrusted: every header field, dimension and byte count is checked.  Returns AM_OK,
 * AM_E_IO (cannot read) or AM_E_MODEL (malformed) with a one-line message. */
int vad_silero_load(const char *path, vad_silero **out, char *err, size_t err_size);
int vad_silero_load_memory(const void *data, size_t size, vad_silero **out, char *err, size_t err_size);
void vad_silero_free(vad_silero *v);

/* Speech probability of every frame: *probs = malloc'd float[*n_frames], n_frames = n / 512 + 1
 * (see the framing note above).  `n_threads` <= 0: one.  Returns AM_OK, AM_E_NOMEM or
 * AM_E_INVALID_ARG. */
int vad_silero_probs(const vad_silero *v, const float *pcm, size_t n, int n_threads, float **probs,
                     size_t *n_frames);
/* The same over a sample store (audio/pcm.h), read block by block (16 s at a time). */
struct pcm_store;
int vad_silero_probs_store(const vad_silero *v, const struct pcm_store *pcm, int n_threads, float **probs,
                           size_t *n_frames);

/* Frame by frame, for audio that arrives over time: the LSTM state and the last 64 samples are
 * carried in a vad_silero_state (zeroed by vad_silero_state_reset).  Feeding frames 0, 1, ... of a
 * signal gives exactly vad_silero_probs' probabilities of those frames. */
typedef struct vad_silero_state {
    float h[128], c[128];          /* LSTM state                                   */
    float context[VAD_CONTEXT];    /* the last 64 samples of the previous frame    */
} vad_silero_state;
void vad_silero_state_reset(vad_silero_state *st);
/* The speech probability of frame[VAD_WINDOW], the next frame of the stream. */
float vad_silero_frame(const vad_silero *v, vad_silero_state *st, const float *frame);

/* ---- energy detector (fallback) --------------------------------------------------------- */

/* Pseudo speech probabilities from frame energy with the same framing as Silero: a frame's
 * level (dBFS) is compared with the noise floor (a low percentile of all frame levels) and with an
 * absolute floor, and mapped to [0, 1] so that vad_speech_segments applies unchanged.  Steady
 * noise and silence give ~0; anything well above the floor gives ~1 (music too: it is a fallback). */
int vad_energy_probs(const float *pcm, size_t n, float **probs, size_t *n_frames);
int vad_energy_probs_store(const struct pcm_store *pcm, float **probs, size_t *n_frames);

/* ---- speech segments (faster-whisper's get_speech_timestamps) ---------------------------- */

typedef struct vad_options {
    float threshold;          /* speech when prob >= threshold (0.5)                        */
    float neg_threshold;      /* silence when prob < this; < 0: max(threshold - 0.15, 0.01) */
    int min_speech_ms;        /* shorter speech is dropped (0)                               */
    float max_speech_s;       /* longer speech is split; <= 0 or inf: no limit              */
    int min_silence_ms;       /* silence needed to end speech (2000)                         */
    int speech_pad_ms;        /* padding added on each side (400)                            */
} vad_options;

vad_options vad_options_default(void);

typedef struct vad_segment {
    size_t start, end; /* samples in the original audio, start < end <= n_samples */
} vad_segment;

/* faster_whisper.vad.get_speech_timestamps on precomputed probabilities: *segs = malloc'd
 * vad_segment[*n_segs] (NULL when none), in order, non-overlapping.  n_samples is the length of
 * the unpadded audio.  Returns AM_OK, AM_E_NOMEM or AM_E_INVALID_ARG. */
int vad_speech_segments(const float *probs, size_t n_frames, size_t n_samples, const vad_options *o,
                        vad_segment **segs, size_t *n_segs);

/* ---- chunks (faster-whisper's collect_chunks + SpeechTimestampsMap) ---------------------- */

/* A chunk is the concatenation of the speech segments segs[first .. first + count) with the
 * silences between them removed; its audio is n_samples long. */
typedef struct vad_chunk {
    size_t first, count;   /* range in the segment array            */
    size_t n_samples;      /* sum of the segments' lengths           */
} vad_chunk;

/* Group consecutive segments greedily into chunks of at most max_samples (a segment longer than
 * that gets a chunk of its own).  *chunks = malloc'd vad_chunk[*n_chunks] (NULL when no segments). */
int vad_collect_chunks(const vad_segment *segs, size_t n_segs, size_t max_samples, size_t max_gap, vad_chunk **chunks,
                       size_t *n_chunks);

/* Copy a chunk's audio into out[chunk->n_samples].  Returns AM_OK or AM_E_IO (the store). */
int vad_chunk_audio(const vad_chunk *chunk, const vad_segment *segs, const struct pcm_store *pcm, float *out);

/* Map a time (seconds) inside a chunk's audio back to the original timeline (seconds).  As
 * SpeechTimestampsMap: the segment whose chunk-local end is the first past `t` is used (the last
 * one for times beyond the end); with is_end, a time exactly on a segment's end stays in it. */
double vad_chunk_time_to_original(const vad_chunk *chunk, const vad_segment *segs, double t, int is_end);

#endif
