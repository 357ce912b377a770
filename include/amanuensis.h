/*
 * amanuensis.h — the one public header of libamanuensis.
 *
 * Whisper speech-to-text in C.  Usage (load a model, read audio, transcribe, read the segments):
 *
 *     am_model *model;  am_result *res;  float *pcm;  size_t n;  char err[256];
 *     if (am_model_load("models/tiny.en", &model, err, sizeof err) != AM_OK) { puts(err); return 1; }
 *     if (am_audio_read_file("speech.wav", &pcm, &n, err, sizeof err) != AM_OK) { puts(err); return 1; }
 *     am_params p = am_params_default();
 *     if (am_transcribe(model, pcm, n, &p, &res, err, sizeof err) != AM_OK) { puts(err); return 1; }
 *     for (size_t i = 0; i < am_result_n_segments(res); i++) {
 *         const am_segment *s = am_result_segment(res, i);
 *         printf("[%.2f --> %.2f]%s\n", s->start, s->end, s->text);
 *     }
 *     am_result_free(res);  am_audio_free(pcm);  am_model_free(model);
 *
 * Conventions
 *  - Every fallible function returns an am_status (AM_OK == 0, errors negative) and, where it takes
 *    (char *err, size_t err_size), writes a one-line human-readable message there (may be NULL).
 *    Functions that return a count, a name or a value return it directly.
 *  - Only the functions declared here (all AM_API, all named am_*) are exported by the shared
 *    library; everything else in it is internal.
 *  - No global state.  A loaded am_model is read-only after loading and may be shared by threads;
 *    each am_transcribe call allocates its own working state (KV caches, scratch).
 */
#ifndef AMANUENSIS_H
#define AMANUENSIS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* AM_API marks the exported functions.  The library is compiled with -fvisibility=hidden, so only
 * these are visible in libamanuensis.so.  Define AM_API before including this header to override. */
#ifndef AM_API
#if defined(__GNUC__) || defined(__clang__)
#define AM_API __attribute__((visibility("default")))
#else
#define AM_API
#endif
#endif

#define AM_VERSION "0.1.0"
#define AM_SAMPLE_RATE 16000

/* AM_VERSION of the library actually linked (which may differ from the header's). */
AM_API const char *am_version(void);

/* ---- errors ------------------------------------------------------------------------------ */

typedef enum am_status {
    AM_OK = 0,
    AM_E_INVALID_ARG = -1,   /* a parameter is out of range or NULL                          */
    AM_E_NOMEM = -2,         /* an allocation failed                                         */
    AM_E_IO = -3,            /* a file could not be opened, read or written                  */
    AM_E_AUDIO = -4,         /* the audio is malformed, truncated, empty or unsupported      */
    AM_E_MODEL = -5,         /* the model file is malformed, truncated or inconsistent       */
    AM_E_UNSUPPORTED = -6,   /* a valid request this build or model cannot serve             */
    AM_E_INTERNAL = -7,      /* a bug: please report it                                      */
    AM_E_ABORTED = -8,       /* params.abort_callback returned nonzero                       */
    AM_E_BACKEND = -9        /* the compute backend failed or is unavailable (device lost, out
                                of device memory)                                            */
} am_status;

/* A static string naming the error code ("bad or unsupported model file", ...; "unknown error"
 * for a value that is not an am_status). */
AM_API const char *am_status_string(am_status status);

/* ---- models ------------------------------------------------------------------------------ */

typedef struct am_model am_model;

typedef struct am_model_info {
    const char *format;      /* "ctranslate2" or "ggml"                                       */
    const char *size_name;   /* "tiny", "base", ... guessed from the shapes ("custom" if none) */
    int multilingual;        /* 1 for multilingual vocabularies, 0 for .en                   */
    int n_vocab;
    int n_mels;
    int n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer;
    const char *backend;     /* where it runs ("cpu", ...)                                     */
    uint64_t weight_bytes;   /* bytes of weights the backend placed, once, at load; every
                                transcription shares them                                       */
} am_model_info;

/* Load a model.  `path` is a CTranslate2 model directory (model.bin + config.json + vocabulary),
 * a CTranslate2 model.bin file inside such a directory, or a whisper.cpp ggml .bin file. */
AM_API am_status am_model_load(const char *path, am_model **out, char *err, size_t err_size);

/* How linear layers are stored and computed.  INT8: W8A8 — int8 weights with per-output-channel
 * scales (CTranslate2 int8 tensors kept as they are, float ones quantised at load; the float copies
 * are not kept), activations quantised per row at run time, int32 accumulation; layer norm, softmax,
 * attention and the residual stream stay float32.  F32: everything float32 (int8 files dequantised). */
typedef enum am_precision {
    AM_PRECISION_INT8 = 0,
    AM_PRECISION_F32 = 1,
    /* half-precision weight storage with float32 arithmetic on device backends (Vulkan); the CPU
     * backend computes such a model in float32 */
    AM_PRECISION_F16 = 2
} am_precision;
typedef struct am_load_options {
    am_precision precision; /* AM_PRECISION_INT8 (default) | AM_PRECISION_F32 | AM_PRECISION_F16 */
    /* Where the model runs: a backend name from am_backend_name() ("cpu"), or "auto" / NULL
     * (default): the best device this build can reach, else the CPU.  The backend places the
     * weights in its own layout once, at load; every transcription on the model shares them. */
    const char *backend;
    int device;          /* device index within the backend (0: the first)                      */
} am_load_options;
AM_API am_load_options am_load_options_default(void);
/* am_model_load with options (opts NULL: defaults); am_model_load(p, ...) == am_model_load_ex(p, NULL, ...). */
AM_API am_status am_model_load_ex(const char *path, const am_load_options *opts, am_model **out, char *err,
                                  size_t err_size);
/* The backends this build has, by index (0 .. am_backend_count()-1), and their devices. */
AM_API int am_backend_count(void);
AM_API const char *am_backend_name(int index);
/* Number of devices the backend `name` can use now (0 when none; the CPU backend has 1), and a
 * one-line description of device `device` (writes "" and returns AM_E_INVALID_ARG when none). */
AM_API int am_backend_device_count(const char *name);
AM_API am_status am_backend_device_describe(const char *name, int device, char *out, size_t out_size);
/* The backend a loaded model runs on ("cpu", ...). */
AM_API const char *am_model_backend(const am_model *model);
/* Why `auto` did not use a GPU it could have (the one line a CLI prints as a warning: a Vulkan
 * loader without any device, or a device that failed), or "" when nothing needs saying. */
AM_API const char *am_model_backend_warning(const am_model *model);
/* "int8", "f32" or "f16": how `model` was loaded. */
AM_API const char *am_model_precision(const am_model *model);
AM_API void am_model_free(am_model *model);
AM_API void am_model_get_info(const am_model *model, am_model_info *info);

/* Resolve a -m argument: an existing file or directory is taken as is; otherwise a `name` without
 * '/' is looked up in $AMANUENSIS_MODELS/ then ./models/ as <name>, <name>.bin and ggml-<name>.bin.
 * Writes the path to `out`; returns AM_OK, AM_E_INVALID_ARG (empty name) or AM_E_IO (not found),
 * with a message. */
AM_API am_status am_model_resolve(const char *name, char *out, size_t out_size, char *err, size_t err_size);

/* ---- transcription ---------------------------------------------------------------------- */

typedef struct am_word {
    double start, end;       /* seconds                                                      */
    const char *word;        /* UTF-8, with its leading space and merged punctuation         */
    float probability;
    const char *speaker;     /* with params.diarize: "SPEAKER_00", ... (most time overlap), else
                                NULL                                                          */
} am_word;

typedef struct am_segment {
    int id;
    int seek;                /* frame (10 ms) where the 30 s window of this segment started  */
    double start, end;       /* seconds                                                      */
    const char *text;        /* UTF-8, with the leading space Whisper emits                  */
    const int *tokens;       /* text and timestamp tokens of the segment                     */
    int n_tokens;
    float avg_logprob;
    float no_speech_prob;
    float temperature;
    float compression_ratio;
    const am_word *words;    /* with params.word_timestamps, else NULL                       */
    int n_words;
    const char *speaker;     /* with params.diarize: "SPEAKER_00", ... (most time overlap), else
                                NULL; not yet set in on_segment calls                         */
} am_segment;

typedef struct am_result am_result;

typedef void (*am_segment_callback)(const am_segment *segment, void *user_data);

/* How the log-mel spectrogram is computed (am_params.frontend). */
typedef enum am_frontend {
    AM_FRONTEND_Q15 = 0, /* integer-only Q15 kernel (the accelerator-shaped one), src/frontend/mel_q15.h */
    AM_FRONTEND_F32 = 1  /* float32 (default: with int8 weights it decides as faster-whisper does) */
} am_frontend;

/* Voice activity detection (am_params.vad). */
typedef enum am_vad_mode {
    AM_VAD_OFF = 0,      /* transcribe all of the audio (default)                              */
    AM_VAD_SILERO = 1,   /* the Silero model (vad_model); the energy detector when no file is
                            named and none is found                                            */
    AM_VAD_ENERGY = 2    /* a built-in energy detector (no model file)                         */
} am_vad_mode;

typedef struct am_params {
    int n_threads;                      /* 0: every core                                     */
    const char *language;               /* "en", ... ; NULL or "auto" (default): detected on
                                           multilingual models, "en" on .en models           */
    int translate;                      /* 0 transcribe (default), 1 translate to English
                                           (multilingual models only)                        */
    float temperature;                  /* first temperature of the fallback schedule, in
                                           [0, 1] (default 0: beam search / greedy)          */
    int without_timestamps;             /* 1: no timestamp tokens are predicted              */
    int condition_on_previous_text;     /* default 1                                         */
    int suppress_blank;                 /* default 1                                         */
    float max_initial_timestamp;        /* seconds, default 1.0                              */
    int max_new_tokens;                 /* per window, default 224                           */
    float no_speech_threshold;          /* default 0.6; <0 disables                          */
    float logprob_threshold;            /* default -1.0; <= -1e9 disables                    */
    float compression_ratio_threshold;  /* default 2.4; <0 disables                          */
    int no_fallback;                    /* 1: decode once at `temperature`                   */
    /* search: at T = 0 beam search (beam_size > 1) or greedy (beam_size 1); at T > 0 best_of
     * sampled candidates.  Defaults as faster-whisper and openai-whisper's CLI. */
    int beam_size;                      /* beams at T = 0, 1..64 (default 5; 1 = greedy)     */
    int best_of;                        /* candidates sampled at T > 0, 1..64 (default 5)    */
    float patience;                     /* beam search patience (default 1.0)                */
    float length_penalty;               /* 1.0: average log-prob ranking (default)           */
    float temperature_increment;        /* fallback schedule step (default 0.2)              */
    uint64_t seed;                      /* sampling seed (default 0: a fixed seed)           */
    const char *initial_prompt;         /* text before the first window (NULL: none)         */
    const char *prefix;                 /* forced start of the first window (NULL: none)     */
    const char *suppress_tokens;        /* comma-separated ids, "-1" = non-speech symbols
                                           (default "-1")                                    */
    int max_context;                    /* previous-text tokens in the prompt, at most 223
                                           (default -1: 223)                                 */
    int word_timestamps;                /* 1: fill am_segment.words                          */
    const char *prepend_punctuations;   /* word timestamps: merged into the next word        */
    const char *append_punctuations;    /* word timestamps: merged into the previous word    */
    float hallucination_silence_threshold; /* seconds; <= 0 disables (needs word timestamps) */
    int detect_language_only;           /* 1: stop after language detection                  */
    am_segment_callback on_segment;     /* called as each segment is final (may be NULL)     */
    void *user_data;
    /* voice activity detection (CLI: --vad, --vad-energy, --vad-*): speech is found, the
     * non-speech removed, the speech cut at pauses into chunks <= 30 s, each chunk transcribed and
     * every timestamp mapped back to the original timeline. */
    am_vad_mode vad;                    /* AM_VAD_OFF (default) | AM_VAD_SILERO | AM_VAD_ENERGY */
    const char *vad_model;              /* Silero ggml file; NULL: $AMANUENSIS_VAD_MODEL, then
                                           <exe dir>/../data/, <exe or library dir>/../share/
                                           amanuensis/ (make install), ./data/ for
                                           silero-vad-v6.2.0-ggml.bin                        */
    float vad_threshold;                /* speech probability threshold (0.5)                */
    int vad_min_speech_ms;              /* shorter speech is dropped (0)                     */
    int vad_min_silence_ms;             /* silence that ends speech (2000)                   */
    int vad_speech_pad_ms;              /* padding on each side of speech (400)              */
    float vad_max_speech_s;             /* longer speech is cut at a pause (30; <= 0: none)  */
    /* Cancellation: polled between decoder steps (and windows); a nonzero return stops the
     * transcription, which then returns AM_E_ABORTED with no result.  NULL: never aborts. */
    int (*abort_callback)(void *abort_user_data);
    void *abort_user_data;
    am_frontend frontend;               /* log-mel: AM_FRONTEND_F32 (default) | AM_FRONTEND_Q15 */
    int batch_size;                     /* with vad: chunks encoded and decoded together (1)  */
    int vad_chunk_gap_ms;               /* speech further apart than this starts a new chunk, so
                                           a segment never spans a long removed silence (1000);
                                           -1: pack speech into 30 s chunks as faster-whisper */
    /* Progress: called from the transcribing thread after each round of windows with the fraction
     * of the audio decoded so far, in [0, 1] (with VAD: of the speech found), and once with 1 at
     * the end of a successful transcription.  NULL: no reports. */
    void (*progress_callback)(double fraction, void *progress_user_data);
    void *progress_user_data;
    /* Speaker diarization (CLI: --diarize, --num-speakers, ...): after transcription the same
     * samples are diarized (src/diarize/pipeline.h), each word and segment gets the speaker it
     * overlaps most, a segment with words is split where its words' speaker changes, and the result
     * holds the speaker turns (am_result_turn).  Speakers are "SPEAKER_00", "SPEAKER_01", ... in
     * order of first appearance. */
    int diarize;                        /* 1: diarize (default 0)                            */
    const char *diarize_model;          /* weight file; NULL: $AMANUENSIS_DIARIZE_MODEL, then
                                           <exe dir>/../models/diarization/, <exe or library
                                           dir>/../share/amanuensis/, ./models/diarization/
                                           for diarization.bin                               */
    int num_speakers;                   /* > 0: exactly this many (0: estimated)             */
    int min_speakers;                   /* > 0: at least this many (0: no bound)             */
    int max_speakers;                   /* > 0: at most this many (0: no bound)              */
    float diarize_threshold;            /* clustering: cosine distance below which two groups
                                           of speaker embeddings merge, in (0, 2) (0.45);
                                           higher: fewer speakers estimated                  */
} am_params;

AM_API am_params am_params_default(void);

/* Transcribe 16 kHz mono float samples in [-1, 1] of any length (params NULL: defaults).  On
 * AM_OK *out is a result to free with am_result_free; on an error *out is NULL. */
AM_API am_status am_transcribe(const am_model *model, const float *samples, size_t n_samples, const am_params *params,
                               am_result **out, char *err, size_t err_size);

/* Long recordings without holding them.  am_audio_open decodes a file ("-": standard input; every
 * format am_audio_read_file reads) into an unlinked temporary file in $TMPDIR (into memory when
 * none can be made), and am_transcribe_audio computes the log-mel window by window from it, so
 * memory does not grow with the length of the recording.  The result is am_transcribe's on the same
 * samples (with the float front end on a device backend, a recording longer than 10 minutes has its
 * log-mel computed on the host).
 * One am_audio may be transcribed by several threads at once.  am_transcribe_file is open,
 * transcribe, close. */
typedef struct am_audio am_audio;
AM_API am_status am_audio_open(const char *path, am_audio **out, char *err, size_t err_size);
AM_API size_t am_audio_n_samples(const am_audio *audio);  /* 16 kHz samples */
AM_API void am_audio_close(am_audio *audio);
AM_API am_status am_transcribe_audio(const am_model *model, const am_audio *audio, const am_params *params,
                                     am_result **out, char *err, size_t err_size);
AM_API am_status am_transcribe_file(const am_model *model, const char *path, const am_params *params, am_result **out,
                                    char *err, size_t err_size);

AM_API size_t am_result_n_segments(const am_result *result);
AM_API const am_segment *am_result_segment(const am_result *result, size_t i);
AM_API const char *am_result_text(const am_result *result);       /* all segments' text joined   */
AM_API const char *am_result_language(const am_result *result);
/* Language probabilities from detection (multilingual models with language "auto"/NULL). */
AM_API int am_result_n_languages(const am_result *result);
AM_API const char *am_result_language_code(const am_result *result, int i); /* sorted, most likely first */
AM_API float am_result_language_prob(const am_result *result, int i);
AM_API double am_result_duration(const am_result *result);        /* seconds of audio            */
/* Speaker turns (params.diarize; none otherwise), sorted by start; overlapped speech gives
 * overlapping turns.  am_result_turn returns AM_OK, or AM_E_INVALID_ARG for i out of range;
 * *speaker stays valid while the result lives.  Any out pointer may be NULL. */
AM_API size_t am_result_n_turns(const am_result *result);
AM_API am_status am_result_turn(const am_result *result, size_t i, double *start, double *end, const char **speaker);
/* What a transcription asked of its backend: calls (device submissions), windows and decoder
 * rows, bytes moved to and from the device (0 on the CPU), the memory of its session, and where
 * its time went. */
typedef struct am_stats {
    uint64_t encode_calls, decode_calls;
    uint64_t windows_encoded, rows_decoded;
    uint64_t bytes_to_device, bytes_from_device;
    uint64_t session_bytes;
    /* wall seconds spent computing log-mel (front end), in encoder calls, and decoding: language
     * detection, search and fallback, whose time is almost all the backend's decoder steps */
    double mel_seconds, encode_seconds, decode_seconds;
    /* device queue submissions (0 on the CPU): one per encoder batch and per decoder step */
    uint64_t submissions;
    /* wall seconds of speaker diarization (am_params.diarize), 0 without it */
    double diarize_seconds;
} am_stats;
AM_API void am_result_stats(const am_result *result, am_stats *stats);
AM_API void am_result_free(am_result *result);

/* ---- live streaming ---------------------------------------------------------------------- */

/* Live transcription of audio that arrives over time (a microphone, a call, a socket).  Samples
 * are fed as they come; every `step_s` seconds of new speech the stream re-decodes its buffer (the
 * audio since the last trim point, at most max_buffer_s), prompted with the text committed so far,
 * and commits the words that two successive hypotheses agree on (LocalAgreement-2; AlignAtt is the
 * other policy).  Committed
 * words are never retracted; the rest is reported as a partial that the next one replaces.  A
 * Silero VAD, run frame by frame, gates decoding: nothing is decoded in silence, and the end of
 * speech commits what is left.
 *
 * Time is counted in samples: an event's times are seconds of audio fed, so a run that feeds the
 * same samples in the same pieces gives the same events whatever the machine's speed.  The stream
 * decodes at most once per am_stream_feed call, so a caller that falls behind and feeds what has
 * piled up gets a longer step, and no audio is dropped.
 *
 * Each stream owns its working state; many streams may share one loaded model (one thread per
 * stream at a time).  Events are delivered by the callback, from the thread that feeds. */
typedef struct am_stream am_stream;

typedef enum am_stream_event_type {
    AM_STREAM_PARTIAL = 0,      /* the words after the committed text, not yet confirmed; replaces
                                   the previous partial ("" clears it)                          */
    AM_STREAM_FINAL = 1,        /* newly committed words, after the previous final's            */
    AM_STREAM_SPEECH_START = 2, /* the VAD heard speech begin at `start`                        */
    AM_STREAM_SPEECH_END = 3    /* ... and end at `end` (what was pending is final now)         */
} am_stream_event_type;

typedef struct am_stream_event {
    am_stream_event_type type;
    const char *text;           /* UTF-8 (words with their leading spaces); "" for speech events */
    double start, end;          /* seconds of audio: the words' span, or the speech boundary      */
    double emitted_at;          /* seconds of audio fed when the event was produced               */
    const am_word *words;       /* the words of `text` with their times (NULL for speech events)  */
    int n_words;
    double compute_seconds;     /* wall seconds after emitted_at until the decode that produced the
                                   event had finished: its whole compute, or what was left of it when
                                   an earlier decode's words are committed (0 for speech events); not
                                   deterministic, so not part of the audio clock                    */
} am_stream_event;

typedef void (*am_stream_callback)(const am_stream_event *event, void *user_data);

/* How a stream decides which words are final. */
typedef enum am_stream_policy {
    /* LocalAgreement-2 (default): the words two successive hypotheses agree on */
    AM_STREAM_LOCAL_AGREEMENT = 0,
    /* AlignAtt: the words whose cross-attention alignment (the word timestamps) ends at least
     * alignatt_margin_s before the end of the audio heard so far: what the model has seen audio
     * after is taken as settled, without waiting for a second hypothesis */
    AM_STREAM_ALIGNATT = 1
} am_stream_policy;

typedef struct am_stream_params {
    /* Decoding as am_transcribe's: language, n_threads, beam_size (stream default 1: greedy),
     * suppression, frontend.  vad: AM_VAD_SILERO (stream default) gates decoding with the Silero
     * model (vad_model, found as am_transcribe finds it; with none found and none named, no gate),
     * AM_VAD_OFF decodes every step; vad_threshold and vad_min_silence_ms (stream default 500)
     * apply; initial_prompt is the prompt until committed text takes its place.  Word timestamps
     * are always on; on_segment, progress and temperature fallback are not used. */
    am_params decode;
    float step_s;               /* new audio between decodes (1.0 s; at least 0.1)               */
    float trim_s;               /* past this much buffered audio, the buffer is trimmed at the end
                                   of the last finished segment that is committed (15 s)         */
    float max_buffer_s;         /* hard cap: past it, what is pending is committed and the buffer
                                   trimmed (25 s; at most 30)                                    */
    am_stream_policy policy;    /* AM_STREAM_LOCAL_AGREEMENT (default) | AM_STREAM_ALIGNATT        */
    float alignatt_margin_s;    /* AlignAtt: audio that must follow a word before it is final (0.6) */
    am_stream_callback on_event;
    void *user_data;
} am_stream_params;

AM_API am_stream_params am_stream_params_default(void);
/* Start a stream on a loaded model.  Returns AM_OK, AM_E_INVALID_ARG, AM_E_NOMEM, AM_E_IO or
 * AM_E_MODEL (the VAD weights) with a message. */
AM_API am_status am_stream_create(const am_model *model, const am_stream_params *params, am_stream **out, char *err,
                                  size_t err_size);
/* Feed 16 kHz mono samples in [-1, 1] (any count, 0 too).  Events are delivered before it
 * returns.  An error leaves the stream usable only for am_stream_free. */
AM_API am_status am_stream_feed(am_stream *stream, const float *samples, size_t n_samples, char *err,
                                size_t err_size);
/* End of input: decode what is buffered and commit all of it (a final event, and speech_end when
 * speech was open).  Feeding after finish starts a new utterance on the same stream. */
AM_API am_status am_stream_finish(am_stream *stream, char *err, size_t err_size);
/* The committed text so far as a result (one segment per committed run of words between trims
 * and pauses, with words), for the writers.  *out is freed with am_result_free. */
AM_API am_status am_stream_result(const am_stream *stream, am_result **out, char *err, size_t err_size);
/* Samples fed, and samples the stream has consumed (VAD and buffer), since it was created. */
AM_API uint64_t am_stream_samples_fed(const am_stream *stream);
AM_API uint64_t am_stream_samples_processed(const am_stream *stream);
/* 1 when a VAD gates the stream's decoding (decode.vad on and the Silero weights found), else 0. */
AM_API int am_stream_gated(const am_stream *stream);
AM_API void am_stream_free(am_stream *stream);

/* ---- audio ------------------------------------------------------------------------------- */

/* Read an audio file ("-": standard input) and return 16 kHz mono float samples (free with
 * am_audio_free).  WAV (PCM 8/16/24/32-bit, float 32/64, any rate, any channel count) is read by a
 * built-in parser; any other format is decoded by FFmpeg when the library is built with it (the
 * default when its development files are found), and is an AM_E_AUDIO error without it. */
AM_API am_status am_audio_read_file(const char *path, float **samples, size_t *n_samples, char *err, size_t err_size);
/* The same from bytes in memory. */
AM_API am_status am_audio_read_memory(const void *data, size_t size, float **samples, size_t *n_samples,
                                      char *err, size_t err_size);
AM_API void am_audio_free(float *samples);

/* ---- writers ----------------------------------------------------------------------------- */

typedef enum am_format {
    AM_FORMAT_TXT = 0,
    AM_FORMAT_SRT,
    AM_FORMAT_VTT,
    AM_FORMAT_JSON,
    AM_FORMAT_TSV,
    AM_FORMAT_RTTM           /* NIST RTTM: one line per speaker turn (params.diarize)           */
} am_format;

/* Subtitle layout (srt, vtt) as openai-whisper's writers: 0 = unset. Line options need word
 * timestamps in the result; without words they are ignored. */
typedef struct am_writer_options {
    int max_line_width;      /* characters per line                                            */
    int max_line_count;      /* lines per cue                                                  */
    int max_words_per_line;  /* words per line (exclusive with max_line_width)                 */
    int highlight_words;     /* underline the current word (vtt/srt)                           */
    const char *file_id;     /* rttm: the file id column (NULL: "audio")                       */
} am_writer_options;

/* "txt" -> AM_FORMAT_TXT ...; returns -1 for an unknown name. */
AM_API int am_format_from_name(const char *name);
AM_API const char *am_format_extension(am_format format);

/* Write a result in the given format.  Returns AM_OK, AM_E_IO, AM_E_INVALID_ARG or AM_E_NOMEM. */
AM_API am_status am_write_result(const am_result *result, am_format format, FILE *out);
/* The same with subtitle layout options (NULL: defaults). */
AM_API am_status am_write_result_ex(const am_result *result, am_format format, const am_writer_options *options,
                                    FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* AMANUENSIS_H */
