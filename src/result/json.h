/* json.h — the program's one JSON serialiser: string escaping, number formatting and an am_result
 * (segments, words, language, duration, speakers) as JSON, into an sbuf.  The json writer
 * (am_write_result with AM_FORMAT_JSON) and the server's responses (verbose_json, errors, ...) both
 * use it.
 *
 * Strings are written as well-formed UTF-8 (each ill-formed unit becomes U+FFFD, see text/utf8.h),
 * not ASCII-escaped; '"', '\\' and the control characters U+0000..U+001F are escaped (\" \\ \b \f
 * \n \r \t, else \u00XX), as Python's json.dumps(..., ensure_ascii=False) does.  Numbers that are
 * NaN or infinite are written as null.  Members are separated as Python's json.dumps does by
 * default (", " and ": "). */
#ifndef AM_RESULT_JSON_H
#define AM_RESULT_JSON_H

#include <stddef.h>

#include "amanuensis.h"
#include "text/sbuf.h"

/* s[0..n) as a JSON string literal, quotes included. */
void json_string(sbuf *b, const char *s, size_t n);
/* A NUL-terminated string as a JSON string literal (NULL as ""). */
void json_cstring(sbuf *b, const char *s);
/* Seconds: three decimals ("%.3f"), or null. */
void json_seconds(sbuf *b, double seconds);
/* Any other real (probabilities, log-probabilities, ratios, temperature): six significant digits
 * ("%.6g"), or null. */
void json_real(sbuf *b, double v);

/* Where json_result puts word timestamps. */
enum {
    JSON_WORDS_NONE = 0,
    JSON_WORDS_IN_SEGMENTS, /* each segment that has word timestamps carries "words" (openai-whisper)  */
    JSON_WORDS_TOP_LEVEL    /* one "words" array after "segments" (OpenAI's verbose_json)             */
};

/* What differs between the json file (openai-whisper's result) and OpenAI's verbose_json. */
typedef struct json_result_options {
    const char *task;     /* non-NULL: a leading "task" member (verbose_json: "transcribe"/"translate") */
    const char *language; /* non-NULL: written instead of the result's language code (verbose_json
                             names the language: "english")                                          */
    int strip;            /* "text" and each word stripped as Python's str.strip() (verbose_json)     */
    int segments;         /* write "segments"                                                          */
    int words;            /* JSON_WORDS_*                                                              */
} json_result_options;

/* The result as one JSON object (no trailing newline):
 *   {["task", ]"text", "language", "duration"[, "segments": [{"id", "seek", "start", "end", "text",
 *    "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"[, "speaker"]
 *    [, "words"]}]] [, "words"]}
 * with each word {"word", "start", "end", "probability"[, "speaker"]} ("speaker" where diarization
 * set one).  A segment's "id" is its 0-based index in
 * the result (as openai-whisper's), whatever am_segment.id holds. */
void json_result(sbuf *b, const am_result *r, const json_result_options *o);

/* OpenAI's diarized_json (the response of its diarizing model, TranscriptionDiarized):
 *   {"task", "duration", "text", "segments": [{"type": "transcript.text.segment", "id": "seg_0",
 *    "start", "end", "text", "speaker"}], "usage": {"type": "duration", "seconds"}}
 * texts stripped; a segment without a speaker (no diarization) has "speaker": "". */
void json_diarized(sbuf *b, const am_result *r, const char *task);

#endif
