/* pcm.h — a store of 16 kHz mono float samples that the pipeline reads by range (pcm.c).
 *
 * The decoders append to it block by block; transcription reads back only the ranges it needs
 * (a 30 s window for the log-mel, a VAD block, a chunk's speech).  Two kinds:
 *  - memory: one growing buffer (am_audio_read_file, or a caller's samples viewed in place);
 *  - spool:  an unlinked temporary file in $TMPDIR (or /tmp) read with pread, so that a recording
 *            of any length costs a few blocks of memory.  Nothing is left on disk, even when the
 *            process is killed. */
#ifndef AM_PCM_H
#define AM_PCM_H

#include <stddef.h>

typedef struct pcm_store pcm_store;

/* A new empty store: spool = 1 asks for a temporary file, and falls back to memory when none can
 * be created.  Returns NULL when out of memory. */
pcm_store *pcm_store_new(int spool);
/* A read-only view of samples[n] owned by the caller (no copy). */
pcm_store *pcm_store_view(const float *samples, size_t n);
/* A store that keeps nothing: each append is handed to fn as it is decoded (a live reader's
 * blocks, `amanuensis stream`) and only the count is kept; fn returns AM_OK or an error, which the
 * append returns.  Reading it gives zeros. */
pcm_store *pcm_store_sink(int (*fn)(void *user, const float *x, size_t n), void *user);
void pcm_store_free(pcm_store *s);

/* Append n samples.  A spool whose file cannot be written (full disk, file size limit) moves to
 * memory and goes on.  Returns AM_OK, AM_E_NOMEM, or AM_E_IO (the file could not be read back:
 * pcm_store_error says why). */
int pcm_store_append(pcm_store *s, const float *x, size_t n);
size_t pcm_store_size(const pcm_store *s);
/* Samples [start, start + n) into dst; positions at or past the end read as zeros.
 * Returns AM_OK or AM_E_IO. */
int pcm_store_read(const pcm_store *s, size_t start, size_t n, float *dst);
/* The whole signal when the store is in memory; NULL for a spool. */
const float *pcm_store_memory(const pcm_store *s);
/* A memory store's buffer, handed to the caller (the store becomes empty); NULL for a spool. */
float *pcm_store_take(pcm_store *s);
/* Why the last AM_E_IO happened ("" when none). */
const char *pcm_store_error(const pcm_store *s);

#endif
