/* realtime.h — the OpenAI Realtime transcription protocol (`/v1/realtime?intent=transcription`) over
 * a WebSocket whose frames libwslay parses and writes.
 *
 * A session is I/O-free: bytes come in and go out through rt_io (the server's socket in live.c, a
 * buffer in tests/fuzz/fuzz_ws.c), and the audio goes to an rt_engine (an am_stream in live.c, a
 * scripted fake in the fuzz target), whose events come back through rt_stream_event.
 *
 * Client events: `transcription_session.update` / `session.update` (`input_audio_format` "pcm16";
 * the rate is OpenAI's 24000 unless `input_audio_sample_rate` (ours) or GA's
 * `audio.input.format.rate` says 16000; `input_audio_transcription` {model, language};
 * `turn_detection` null: items end only at commit), `input_audio_buffer.append` (base64 pcm16
 * little-endian mono), `input_audio_buffer.commit`, `input_audio_buffer.clear`.
 * Server events: `session.created`, `session.updated` (`transcription_session.updated` for that
 * update), `input_audio_buffer.speech_started|speech_stopped|committed|cleared`,
 * `conversation.item.input_audio_transcription.delta` (committed words) and `.completed`
 * (transcript = the concatenation of that item's deltas), our own
 * `conversation.item.input_audio_transcription.partial` (the unconfirmed words after the deltas,
 * replacing the previous partial; not in OpenAI's API), and `error` (bad JSON, unknown type, bad
 * base64, ...: the connection stays open).  Every server event has a unique `event_id`. */
#ifndef AM_SERVER_REALTIME_H
#define AM_SERVER_REALTIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "amanuensis.h"

#define RT_MAX_MESSAGE (4u << 20)   /* longest client message (bytes)                         */

typedef struct rt_session rt_session;

typedef struct rt_io {
    /* > 0: bytes moved; 0: would block; < 0: the peer is gone */
    ssize_t (*recv)(void *ctx, uint8_t *buf, size_t len);
    ssize_t (*send)(void *ctx, const uint8_t *buf, size_t len);
    void *ctx;
} rt_io;

typedef struct rt_engine {
    /* 16 kHz samples; the engine reports its events through rt_stream_event during the call.
     * Each returns AM_OK or an am_status with a one-line message. */
    int (*feed)(void *ctx, const float *pcm, size_t n, char *err, size_t err_size);
    int (*finish)(void *ctx, char *err, size_t err_size);        /* commit: all of it final       */
    /* drop what is not committed and start again with this model name ("" = the default) and
     * language ("" = the model's); AM_E_INVALID_ARG for an unknown model */
    int (*reset)(void *ctx, const char *model, const char *language, char *err, size_t err_size);
    void *ctx;
} rt_engine;

/* A session; queues session.created.  id: the session's id ("sess_..."). */
rt_session *rt_create(const rt_io *io, const rt_engine *engine, const char *id);
void rt_free(rt_session *s);

/* Read what the peer sent (at most about `budget` bytes) and handle every complete message
 * (appends are buffered; commit and clear run at once).  Returns 0, or -1 when the connection
 * is finished (peer gone, protocol error). */
int rt_read(rt_session *s, size_t budget);
/* Feed the buffered audio to the engine (at most max_samples 16 kHz samples; 0 = all).  Returns
 * the samples fed, or -1 when the engine failed (an error event is queued and the session closes). */
long rt_pump(rt_session *s, size_t max_samples);
/* Write what is queued.  Returns 0, or -1 when the peer is gone. */
int rt_write(rt_session *s);
int rt_want_read(const rt_session *s);
int rt_want_write(const rt_session *s);
/* Queue a close frame (code 1000 normal, 1001 going away, 1011 error). */
void rt_close(rt_session *s, uint16_t code, const char *reason);
/* 16 kHz samples waiting for rt_pump. */
size_t rt_pending(const rt_session *s);

/* The engine's events (final text becomes deltas, speech boundaries items). */
void rt_stream_event(rt_session *s, const am_stream_event *ev);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2): base64(SHA-1(key + GUID)). */
void rt_accept_key(const char *key, char out[29]);

#endif
