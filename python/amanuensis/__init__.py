"""amanuensis: Whisper speech-to-text in C, with faster-whisper's Python API.

    from amanuensis import WhisperModel
    model = WhisperModel("tiny.en", device="cpu", compute_type="int8", cpu_threads=2)
    segments, info = model.transcribe("speech.wav", beam_size=5)
    print(info.language, info.language_probability)
    for segment in segments:
        print("[%.2fs -> %.2fs] %s" % (segment.start, segment.end, segment.text))

The C library (include/amanuensis.h of the repository) is bundled in the package and called through
ctypes; the GIL is released while it runs.  Errors are AmanuensisError (a RuntimeError) carrying
the library's one-line message."""
from . import _native
from .transcribe import (AmanuensisError, Segment, SpeakerTurn, TranscriptionInfo, WhisperModel, Word,
                         available_backends, decode_audio)

try:
    from ._build_info import VERSION as __version__
except ImportError:  # running from the source tree without installing
    __version__ = "0+source"


def library_version() -> str:
    """am_version() of the loaded C library."""
    return _native.text(_native.lib().am_version()) or ""


__all__ = ["WhisperModel", "Segment", "Word", "TranscriptionInfo", "AmanuensisError", "decode_audio",
           "available_backends", "library_version", "__version__"]
