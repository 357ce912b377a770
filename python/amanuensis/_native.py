"""ctypes declarations of include/amanuensis.h and the loaded shared library.

The structures mirror the header's field for field; tests/integration/test_python.py compiles the
header and compares every offset.  am_params and am_load_options end with a reserved tail, so that
fields a newer header appends are carried with the C defaults (these structures are always obtained
from am_params_default() / am_load_options_default(), never built from zero).

ctypes releases the GIL for the duration of every foreign call (CDLL), so transcriptions in several
Python threads run in parallel; callbacks from C take the GIL back while they run."""
import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_size_t,
                    c_uint64, c_void_p)
from pathlib import Path
from typing import Optional

# am_status
AM_OK = 0
STATUS_NAMES = {
    -1: "AM_E_INVALID_ARG", -2: "AM_E_NOMEM", -3: "AM_E_IO", -4: "AM_E_AUDIO", -5: "AM_E_MODEL",
    -6: "AM_E_UNSUPPORTED", -7: "AM_E_INTERNAL", -8: "AM_E_ABORTED", -9: "AM_E_BACKEND",
}
AM_E_AUDIO = -4
AM_E_ABORTED = -8
# am_precision, am_vad_mode
AM_PRECISION_INT8 = 0
AM_PRECISION_F32 = 1
AM_VAD_OFF = 0
AM_VAD_SILERO = 1
AM_VAD_ENERGY = 2
SAMPLE_RATE = 16000
ERR_SIZE = 1024


class AmWord(Structure):
    _fields_ = [("start", c_double), ("end", c_double), ("word", c_char_p), ("probability", c_float),
                ("speaker", c_char_p)]


class AmSegment(Structure):
    _fields_ = [
        ("id", c_int), ("seek", c_int), ("start", c_double), ("end", c_double), ("text", c_char_p),
        ("tokens", POINTER(c_int)), ("n_tokens", c_int), ("avg_logprob", c_float), ("no_speech_prob", c_float),
        ("temperature", c_float), ("compression_ratio", c_float), ("words", POINTER(AmWord)), ("n_words", c_int),
        ("speaker", c_char_p),
    ]


SEGMENT_CALLBACK = CFUNCTYPE(None, POINTER(AmSegment), c_void_p)
ABORT_CALLBACK = CFUNCTYPE(c_int, c_void_p)
PROGRESS_CALLBACK = CFUNCTYPE(None, c_double, c_void_p)


class AmParams(Structure):
    _fields_ = [
        ("n_threads", c_int), ("language", c_char_p), ("translate", c_int), ("temperature", c_float),
        ("without_timestamps", c_int), ("condition_on_previous_text", c_int), ("suppress_blank", c_int),
        ("max_initial_timestamp", c_float), ("max_new_tokens", c_int), ("no_speech_threshold", c_float),
        ("logprob_threshold", c_float), ("compression_ratio_threshold", c_float), ("no_fallback", c_int),
        ("beam_size", c_int), ("best_of", c_int), ("patience", c_float), ("length_penalty", c_float),
        ("temperature_increment", c_float), ("seed", c_uint64), ("initial_prompt", c_char_p), ("prefix", c_char_p),
        ("suppress_tokens", c_char_p), ("max_context", c_int), ("word_timestamps", c_int),
        ("prepend_punctuations", c_char_p), ("append_punctuations", c_char_p),
        ("hallucination_silence_threshold", c_float), ("detect_language_only", c_int),
        ("on_segment", SEGMENT_CALLBACK), ("user_data", c_void_p),
        ("vad", c_int), ("vad_model", c_char_p), ("vad_threshold", c_float), ("vad_min_speech_ms", c_int),
        ("vad_min_silence_ms", c_int), ("vad_speech_pad_ms", c_int), ("vad_max_speech_s", c_float),
        ("abort_callback", ABORT_CALLBACK), ("abort_user_data", c_void_p),
        ("frontend", c_int), ("batch_size", c_int), ("vad_chunk_gap_ms", c_int),
        ("progress_callback", PROGRESS_CALLBACK), ("progress_user_data", c_void_p),
        ("diarize", c_int), ("diarize_model", c_char_p), ("num_speakers", c_int), ("min_speakers", c_int),
        ("max_speakers", c_int), ("diarize_threshold", c_float),
        ("_reserved", c_char * 512),  # fields a newer header appends, with their defaults
    ]


class AmLoadOptions(Structure):
    _fields_ = [("precision", c_int), ("backend", c_char_p), ("device", c_int), ("_reserved", c_char * 256)]


class AmModelInfo(Structure):
    _fields_ = [
        ("format", c_char_p), ("size_name", c_char_p), ("multilingual", c_int), ("n_vocab", c_int),
        ("n_mels", c_int), ("n_audio_ctx", c_int), ("n_audio_state", c_int), ("n_audio_head", c_int),
        ("n_audio_layer", c_int), ("n_text_ctx", c_int), ("n_text_state", c_int), ("n_text_head", c_int),
        ("n_text_layer", c_int), ("backend", c_char_p), ("weight_bytes", c_uint64),
        ("_reserved", c_char * 256),
    ]


def _library_path() -> Path:
    """$AMANUENSIS_LIBRARY, else the library bundled in the package, else build/ of the checkout
    (running from python/ of a built tree without installing)."""
    env = os.environ.get("AMANUENSIS_LIBRARY")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    bundled = here / "libamanuensis.so"
    if bundled.is_file():
        return bundled
    in_tree = here.parents[1] / "build" / "libamanuensis.so"
    return in_tree if in_tree.is_file() else bundled


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    def fn(name, restype, *argtypes):
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    err = (c_char_p, c_size_t)
    fn("am_version", c_char_p)
    fn("am_status_string", c_char_p, c_int)
    fn("am_load_options_default", AmLoadOptions)
    fn("am_model_load_ex", c_int, c_char_p, POINTER(AmLoadOptions), POINTER(c_void_p), *err)
    fn("am_model_free", None, c_void_p)
    fn("am_model_get_info", None, c_void_p, POINTER(AmModelInfo))
    fn("am_model_backend", c_char_p, c_void_p)
    fn("am_model_precision", c_char_p, c_void_p)
    fn("am_model_resolve", c_int, c_char_p, c_char_p, c_size_t, *err)
    fn("am_backend_count", c_int)
    fn("am_backend_name", c_char_p, c_int)
    fn("am_params_default", AmParams)
    fn("am_transcribe", c_int, c_void_p, POINTER(c_float), c_size_t, POINTER(AmParams), POINTER(c_void_p), *err)
    fn("am_result_n_segments", c_size_t, c_void_p)
    fn("am_result_segment", POINTER(AmSegment), c_void_p, c_size_t)
    fn("am_result_text", c_char_p, c_void_p)
    fn("am_result_language", c_char_p, c_void_p)
    fn("am_result_n_languages", c_int, c_void_p)
    fn("am_result_language_code", c_char_p, c_void_p, c_int)
    fn("am_result_language_prob", c_float, c_void_p, c_int)
    fn("am_result_duration", c_double, c_void_p)
    fn("am_result_n_turns", c_size_t, c_void_p)
    fn("am_result_turn", c_int, c_void_p, c_size_t, POINTER(c_double), POINTER(c_double), POINTER(c_char_p))
    fn("am_result_free", None, c_void_p)
    fn("am_audio_read_file", c_int, c_char_p, POINTER(POINTER(c_float)), POINTER(c_size_t), *err)
    fn("am_audio_read_memory", c_int, c_void_p, c_size_t, POINTER(POINTER(c_float)), POINTER(c_size_t), *err)
    fn("am_audio_free", None, POINTER(c_float))
    fn("am_audio_open", c_int, c_char_p, POINTER(c_void_p), *err)
    fn("am_audio_n_samples", c_size_t, c_void_p)
    fn("am_audio_close", None, c_void_p)
    fn("am_transcribe_audio", c_int, c_void_p, c_void_p, POINTER(AmParams), POINTER(c_void_p), *err)
    return lib


_LIB: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The shared library, loaded and declared on first use."""
    global _LIB
    if _LIB is None:
        path = _library_path()
        try:
            _LIB = _declare(ctypes.CDLL(str(path)))
        except OSError as e:
            raise ImportError(f"amanuensis: cannot load the C library {path}: {e}") from e
    return _LIB


def err_buffer():
    return ctypes.create_string_buffer(ERR_SIZE)


def text(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else value.decode("utf-8", errors="replace")
