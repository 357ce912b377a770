"""WhisperModel: faster-whisper's API over the C library (include/amanuensis.h).

    from amanuensis import WhisperModel          # was: from faster_whisper import WhisperModel
    model = WhisperModel("tiny.en", device="cpu", compute_type="int8", cpu_threads=2)
    segments, info = model.transcribe("speech.wav", beam_size=5, word_timestamps=True)
    for s in segments:                            # transcription runs as the generator is consumed
        print("[%.2fs -> %.2fs] %s" % (s.start, s.end, s.text))

One model may be shared by any number of threads: every transcribe() holds only its own working
state in C (am_transcribe), and num_workers of them run at once (more wait).

Beyond faster-whisper, diarize=True gives each segment and word its speaker ("SPEAKER_00", ...):

    segments, info = model.transcribe("meeting.wav", diarize=True, num_speakers=2)
    for s in segments:                            # with diarize, they come once the whole file is done
        print("[%.2fs -> %.2fs] %s:%s" % (s.start, s.end, s.speaker, s.text))
    for t in info.speaker_turns:                  # filled once the segments are all out
        print("%s %.2f-%.2f" % (t.speaker, t.start, t.end))"""
import ctypes
import math
import os
import queue
import threading
import warnings
from ctypes import POINTER, byref, c_float, c_size_t, c_void_p
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _native as N

__all__ = ["AmanuensisError", "Word", "Segment", "SpeakerTurn", "TranscriptionInfo", "WhisperModel",
           "decode_audio", "available_backends"]

AudioInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO, Any]
_VAD_WEIGHTS = Path(__file__).resolve().parent / "data" / "silero-vad-v6.2.0-ggml.bin"
_DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
_PREPEND_PUNCTUATIONS = "\"'“¿([{-"
_APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
# transcribe()'s options with faster-whisper's defaults (those of am_params_default too)
_DEFAULT_OPTIONS: Dict[str, Any] = dict(
    language=None, task="transcribe", beam_size=5, best_of=5, patience=1, length_penalty=1,
    temperature=_DEFAULT_TEMPERATURES, compression_ratio_threshold=2.4, log_prob_threshold=-1.0,
    no_speech_threshold=0.6, condition_on_previous_text=True, initial_prompt=None, prefix=None, suppress_blank=True,
    suppress_tokens=[-1], without_timestamps=False, max_initial_timestamp=1.0, word_timestamps=False,
    prepend_punctuations=_PREPEND_PUNCTUATIONS, append_punctuations=_APPEND_PUNCTUATIONS, vad_filter=False,
    vad_parameters=None, max_new_tokens=None, hallucination_silence_threshold=None, batch_size=1, seed=0,
    max_context=None, diarize=False, num_speakers=None, min_speakers=None, max_speakers=None, diarize_model=None,
    diarize_threshold=None)
_DIARIZE_WEIGHTS = os.path.join("diarization", "diarization.bin")


class AmanuensisError(RuntimeError):
    """An error of the C library: the message is its one line; `status` its am_status code
    (negative) and `status_name` the code's name ("AM_E_AUDIO", ...)."""

    def __init__(self, message: str, status: int = -7):
        super().__init__(message)
        self.status = status
        self.status_name = N.STATUS_NAMES.get(status, "AM_E_INTERNAL")


def _raise(status: int, err, what: str) -> None:
    if status != N.AM_OK:
        message = N.text(err.value) or N.text(N.lib().am_status_string(status)) or what
        raise AmanuensisError(message, status)


@dataclass
class Word:
    """A word with its times in seconds (with word_timestamps=True), as faster-whisper's; `speaker`
    ("SPEAKER_00", ...) with diarize=True, else None."""
    start: float
    end: float
    word: str
    probability: float
    speaker: Optional[str] = None

    def _asdict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class Segment:
    """A segment as faster-whisper's: times in seconds, `seek` in 10 ms frames, `tokens` the text and
    timestamp token ids, `words` a list of Word with word_timestamps=True, else None; `speaker`
    ("SPEAKER_00", ...) with diarize=True, else None."""
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: List[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: Optional[List[Word]]
    temperature: Optional[float]
    speaker: Optional[str] = None

    def _asdict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class SpeakerTurn:
    """Who spoke when (diarize=True): a speaker's turn from `start` to `end` seconds.  Turns of two
    speakers overlap where both talk; silence has none.  The RTTM output's lines."""
    start: float
    end: float
    speaker: str

    def _asdict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class TranscriptionInfo:
    """What transcribe() knows before the segments: the language (given, "en" for .en models, or
    detected on the first 30 s window) and its probability, every language's probability when it
    was detected (else None), the audio's duration in seconds, and the options used.  With
    diarize=True, speaker_turns is a list that the segments' generator fills (SpeakerTurn, by start)
    when the transcription is over, before its last segment comes out; None without diarization."""
    language: str
    language_probability: float
    duration: float
    duration_after_vad: Optional[float]
    all_language_probs: Optional[List[Tuple[str, float]]]
    transcription_options: Dict[str, Any] = field(default_factory=dict)
    vad_options: Optional[Dict[str, Any]] = None
    speaker_turns: Optional[List[SpeakerTurn]] = None

    def _asdict(self) -> Dict[str, Any]:
        return asdict(self)


def available_backends() -> List[str]:
    """The backends this build of the library has ("cpu", ...): values for WhisperModel(device=...)."""
    lib = N.lib()
    return [N.text(lib.am_backend_name(i)) for i in range(lib.am_backend_count())]


class _Audio:
    """16 kHz mono float samples for am_transcribe: read by the C library (freed by close) or a
    NumPy array's own memory (kept alive here).  With spool, a path is opened with am_audio_open
    instead (decoded to a temporary file, read window by window by am_transcribe_audio: memory does
    not grow with the length of the recording); `pointer` is then None and `handle` is set."""

    def __init__(self, audio: AudioInput, spool: bool = False):
        self._c_samples = None
        self._array = None
        self.handle = None
        lib = N.lib()
        samples, n, err = POINTER(c_float)(), c_size_t(0), N.err_buffer()
        if spool and isinstance(audio, (str, os.PathLike)):
            handle = c_void_p()
            status = lib.am_audio_open(os.fsencode(audio), byref(handle), err, N.ERR_SIZE)
            _raise(status, err, "cannot read the audio")
            self.handle = handle
            self.pointer = None
            self.n_samples = int(lib.am_audio_n_samples(handle))
            return
        if isinstance(audio, (str, os.PathLike)):
            status = lib.am_audio_read_file(os.fsencode(audio), byref(samples), byref(n), err, N.ERR_SIZE)
        elif isinstance(audio, (bytes, bytearray, memoryview)) or hasattr(audio, "read"):
            data = bytes(audio.read() if hasattr(audio, "read") else audio)
            status = lib.am_audio_read_memory(data, len(data), byref(samples), byref(n), err, N.ERR_SIZE)
        else:
            import numpy as np
            array = np.ascontiguousarray(audio, dtype=np.float32)
            if array.ndim != 1:
                raise ValueError(f"audio must be 16 kHz mono: a 1-D array, not shape {array.shape}")
            self._array = array
            self.pointer = array.ctypes.data_as(POINTER(c_float))
            self.n_samples = int(array.shape[0])
            return
        _raise(status, err, "cannot read the audio")
        self._c_samples = samples
        self.pointer = samples
        self.n_samples = int(n.value)

    @property
    def duration(self) -> float:
        return self.n_samples / N.SAMPLE_RATE

    def close(self) -> None:
        if self.handle is not None:
            N.lib().am_audio_close(self.handle)
            self.handle = None
        if self._c_samples is not None:
            N.lib().am_audio_free(self._c_samples)
            self._c_samples = None
        self._array = None
        self.pointer = None

    def __del__(self):
        self.close()


def decode_audio(input_file: AudioInput, sampling_rate: int = 16000, split_stereo: bool = False):
    """The audio of a file (path, file-like object or bytes) as a float32 NumPy array of 16 kHz mono
    samples in [-1, 1], decoded by the C library (WAV, and every format FFmpeg reads when the library
    was built with it), as faster_whisper.decode_audio."""
    import numpy as np
    if sampling_rate != N.SAMPLE_RATE:
        raise ValueError(f"amanuensis decodes to {N.SAMPLE_RATE} Hz only")
    if split_stereo:
        raise ValueError("split_stereo is not supported: amanuensis mixes every channel to mono")
    audio = _Audio(input_file)
    try:
        return np.ctypeslib.as_array(audio.pointer, shape=(audio.n_samples,)).copy() if audio.n_samples else \
            np.zeros(0, dtype=np.float32)
    finally:
        audio.close()


class _Result:
    """An am_result, freed with the object."""

    def __init__(self, handle: c_void_p):
        self.handle = handle

    def language(self) -> Optional[str]:
        return N.text(N.lib().am_result_language(self.handle))

    def language_probs(self) -> List[Tuple[str, float]]:
        lib = N.lib()
        return [(N.text(lib.am_result_language_code(self.handle, i)), float(lib.am_result_language_prob(self.handle, i)))
                for i in range(lib.am_result_n_languages(self.handle))]

    def close(self) -> None:
        if self.handle:
            N.lib().am_result_free(self.handle)
            self.handle = None

    def __del__(self):
        self.close()


def _segment_from_c(s: N.AmSegment, with_words: bool) -> Segment:
    words = None
    if with_words:
        words = [Word(start=w.start, end=w.end, word=N.text(w.word) or "", probability=float(w.probability),
                      speaker=N.text(w.speaker))
                 for w in (s.words[i] for i in range(s.n_words))]
    return Segment(id=s.id, seek=s.seek, start=s.start, end=s.end, text=N.text(s.text) or "",
                   tokens=[s.tokens[i] for i in range(s.n_tokens)], avg_logprob=float(s.avg_logprob),
                   compression_ratio=float(s.compression_ratio), no_speech_prob=float(s.no_speech_prob),
                   words=words, temperature=float(s.temperature), speaker=N.text(s.speaker))


def _temperature_schedule(temperature: Union[float, Sequence[float]]) -> Tuple[float, float, bool]:
    """(first temperature, increment, no_fallback) for faster-whisper's temperature argument: a
    number (one attempt) or an increasing arithmetic sequence that ends where the library's schedule
    does (the last step at most 1.0: src/decode/transcribe.c)."""
    temps = [float(t) for t in temperature] if isinstance(temperature, (list, tuple)) else [float(temperature)]
    if not temps:
        raise ValueError("temperature: an empty sequence")
    if len(temps) == 1:
        return temps[0], 0.2, True
    inc = temps[1] - temps[0]
    n = 1 + math.floor((1.0 - temps[0]) / inc + 1e-4) if inc > 0 else 0
    if inc <= 0 or len(temps) != n or any(abs(t - (temps[0] + i * inc)) > 1e-4 for i, t in enumerate(temps)):
        raise ValueError(f"temperature {list(temperature)}: amanuensis takes one temperature or an even schedule "
                         f"from t0 by a step up to 1.0, as (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)")
    return temps[0], inc, False


def _vad_option(vad_parameters: Any, name: str, default: Any) -> Any:
    if vad_parameters is None:
        return default
    if isinstance(vad_parameters, dict):
        return vad_parameters.get(name, default)
    return getattr(vad_parameters, name, default)


class WhisperModel:
    """A loaded Whisper model, as faster_whisper.WhisperModel.

    model_size_or_path: a CTranslate2 model directory (faster-whisper's), a whisper.cpp ggml file,
        or a name ("tiny.en", "base", "Systran/faster-whisper-base") looked up in download_root,
        $AMANUENSIS_MODELS, ./models and the models/ folder of the checkout the package was built
        from (scripts/fetch-model fills it).  Nothing is downloaded.
    device: "auto" (a GPU backend when the library has one and a device is present, else the CPU),
        "cpu", or another name from available_backends(); device_index picks the device.
    compute_type: "int8" (W8A8, also "default", "auto", "int8_float32", "int8_float16",
        "int8_bfloat16") or "float32"; "float16", "bfloat16" and "int16" run as float32, as
        CTranslate2 does where a type is not available.
    cpu_threads: threads of each transcription (0: every core).
    num_workers: transcriptions that run at once on this model when several threads call
        transcribe(); the others wait (as faster-whisper).  The weights are shared, never copied.

    Raises AmanuensisError (a RuntimeError) with the library's message when the model cannot be
    found or loaded."""

    def __init__(self, model_size_or_path: str, device: str = "auto", device_index: Union[int, List[int]] = 0,
                 compute_type: str = "default", cpu_threads: int = 0, num_workers: int = 1,
                 download_root: Optional[str] = None, local_files_only: bool = False,
                 files: Optional[dict] = None, **model_kwargs: Any):
        if files is not None:
            raise ValueError("files= (in-memory model files) is not supported: give a path")
        self._handle = c_void_p()
        lib = N.lib()
        opts = lib.am_load_options_default()
        opts.precision = self._precision(compute_type)
        backend = self._backend(device)
        opts.backend = backend.encode()
        opts.device = int(device_index[0] if isinstance(device_index, (list, tuple)) else device_index)
        self.model_path = self._resolve(str(model_size_or_path), download_root)
        err = N.err_buffer()
        _raise(lib.am_model_load_ex(os.fsencode(self.model_path), byref(opts), byref(self._handle), err,
                                    N.ERR_SIZE), err, "cannot load the model")
        info = N.AmModelInfo()
        lib.am_model_get_info(self._handle, byref(info))
        self.is_multilingual = bool(info.multilingual)
        self.size_name = N.text(info.size_name)
        self.device = N.text(lib.am_model_backend(self._handle))
        self.compute_type = N.text(lib.am_model_precision(self._handle))
        self.cpu_threads = int(cpu_threads)
        self.num_workers = max(1, int(num_workers))
        self._workers = threading.BoundedSemaphore(self.num_workers)

    # ---- loading ------------------------------------------------------------------------------

    @staticmethod
    def _precision(compute_type: str) -> int:
        ct = compute_type.lower()
        if ct in ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16"):
            return N.AM_PRECISION_INT8
        if ct == "float32":
            return N.AM_PRECISION_F32
        if ct in ("float16", "bfloat16", "int16"):
            warnings.warn(f"compute_type {compute_type!r}: amanuensis computes in float32 instead", stacklevel=3)
            return N.AM_PRECISION_F32
        raise ValueError(f"compute_type {compute_type!r}: use 'int8', 'float32' or 'default'")

    @staticmethod
    def _backend(device: str) -> str:
        names = available_backends()
        if device in ("auto", "cpu") or device in names:
            return device
        raise ValueError(f"device {device!r}: this build has {', '.join(names)} (or 'auto')")

    @staticmethod
    def _resolve(name: str, download_root: Optional[str]) -> str:
        if os.path.exists(name):
            return name
        short = name.rsplit("/", 1)[-1]
        if "/" in name and short.startswith("faster-whisper-"):
            short = short[len("faster-whisper-"):]  # "Systran/faster-whisper-base" -> "base"
        candidates = [short] if "/" in name else [name]
        for n in candidates:
            if download_root and os.path.exists(os.path.join(download_root, n)):
                return os.path.join(download_root, n)
            out, err = ctypes.create_string_buffer(4096), N.err_buffer()
            if N.lib().am_model_resolve(n.encode(), out, 4096, err, N.ERR_SIZE) == N.AM_OK:
                return out.value.decode()
            try:
                from ._build_info import SOURCE_MODELS_DIR
            except ImportError:
                SOURCE_MODELS_DIR = str(Path(__file__).resolve().parents[2] / "models")
            if os.path.exists(os.path.join(SOURCE_MODELS_DIR, n)):
                return os.path.join(SOURCE_MODELS_DIR, n)
        raise AmanuensisError(
            f"model '{name}' not found (as a path, in download_root, $AMANUENSIS_MODELS, ./models or the "
            f"repository's models/; scripts/fetch-model {short} fetches it there)", -3)

    def close(self) -> None:
        """Free the model (also done when the object is collected)."""
        if getattr(self, "_handle", None):
            N.lib().am_model_free(self._handle)
            self._handle = None

    def __del__(self):
        self.close()

    def __enter__(self) -> "WhisperModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- transcription ------------------------------------------------------------------------

    def _params(self, *, language, task, beam_size, best_of, patience, length_penalty, temperature,
                compression_ratio_threshold, log_prob_threshold, no_speech_threshold, condition_on_previous_text,
                initial_prompt, prefix, suppress_blank, suppress_tokens, without_timestamps,
                max_initial_timestamp, word_timestamps, prepend_punctuations, append_punctuations,
                vad_filter, vad_parameters, max_new_tokens, hallucination_silence_threshold, batch_size, seed,
                max_context, diarize, num_speakers, min_speakers, max_speakers, diarize_model,
                diarize_threshold=None) -> Tuple[N.AmParams, list]:
        """am_params from faster-whisper's arguments, and the Python objects its pointers refer to."""
        p = N.lib().am_params_default()
        keep: list = []

        def cstr(value: Optional[str]):
            if value is None:
                return None
            b = value.encode("utf-8")
            keep.append(b)
            return b

        if task not in ("transcribe", "translate"):
            raise ValueError(f"task {task!r}: 'transcribe' or 'translate'")
        p.n_threads = self.cpu_threads
        p.language = cstr(language)
        p.translate = 1 if task == "translate" else 0
        p.beam_size, p.best_of = int(beam_size), int(best_of)
        p.patience, p.length_penalty = float(patience), float(1.0 if length_penalty is None else length_penalty)
        p.temperature, p.temperature_increment, no_fallback = _temperature_schedule(temperature)
        p.no_fallback = int(no_fallback)
        p.compression_ratio_threshold = -1.0 if compression_ratio_threshold is None else compression_ratio_threshold
        p.logprob_threshold = -1e10 if log_prob_threshold is None else log_prob_threshold
        p.no_speech_threshold = -1.0 if no_speech_threshold is None else no_speech_threshold
        p.condition_on_previous_text = int(bool(condition_on_previous_text))
        if initial_prompt is not None and not isinstance(initial_prompt, str):
            raise ValueError("initial_prompt: amanuensis takes the prompt as text, not token ids")
        p.initial_prompt = cstr(initial_prompt)
        p.prefix = cstr(prefix)
        p.suppress_blank = int(bool(suppress_blank))
        p.suppress_tokens = cstr(",".join(str(int(t)) for t in (suppress_tokens or [])))
        p.without_timestamps = int(bool(without_timestamps))
        p.max_initial_timestamp = float(max_initial_timestamp)
        p.word_timestamps = int(bool(word_timestamps))
        p.prepend_punctuations = cstr(prepend_punctuations)
        p.append_punctuations = cstr(append_punctuations)
        if max_new_tokens is not None:
            p.max_new_tokens = int(max_new_tokens)
        p.hallucination_silence_threshold = float(hallucination_silence_threshold or 0.0)
        p.seed = int(seed)
        p.batch_size = int(batch_size)
        if max_context is not None:
            p.max_context = int(max_context)
        if vad_filter:
            p.vad = N.AM_VAD_SILERO
            if _VAD_WEIGHTS.is_file() and not os.environ.get("AMANUENSIS_VAD_MODEL"):
                p.vad_model = cstr(str(_VAD_WEIGHTS))
            if _vad_option(vad_parameters, "neg_threshold", None) is not None:
                raise ValueError("vad_parameters: neg_threshold is not supported")
            p.vad_threshold = float(_vad_option(vad_parameters, "threshold", p.vad_threshold))
            p.vad_min_speech_ms = int(_vad_option(vad_parameters, "min_speech_duration_ms", p.vad_min_speech_ms))
            p.vad_min_silence_ms = int(_vad_option(vad_parameters, "min_silence_duration_ms", p.vad_min_silence_ms))
            p.vad_speech_pad_ms = int(_vad_option(vad_parameters, "speech_pad_ms", p.vad_speech_pad_ms))
            max_speech = float(_vad_option(vad_parameters, "max_speech_duration_s", p.vad_max_speech_s))
            p.vad_max_speech_s = 0.0 if math.isinf(max_speech) else max_speech
            p.vad_chunk_gap_ms = int(_vad_option(vad_parameters, "chunk_gap_ms", p.vad_chunk_gap_ms))
        counts = {"num_speakers": num_speakers, "min_speakers": min_speakers, "max_speakers": max_speakers}
        for name, value in counts.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64):
                raise ValueError(f"{name}={value!r}: a whole number 1..64 (or None)")
        if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
            raise ValueError(f"min_speakers={min_speakers} is above max_speakers={max_speakers}")
        if diarize_threshold is not None and (isinstance(diarize_threshold, bool)
                                              or not isinstance(diarize_threshold, (int, float))
                                              or not 0 < diarize_threshold < 2):
            raise ValueError(f"diarize_threshold={diarize_threshold!r}: a number between 0 and 2 (exclusive), or None")
        if (diarize or diarize_model is not None or diarize_threshold is not None
                or any(v is not None for v in counts.values())):
            p.diarize = 1
            # word times, so that a segment is split where its words change speaker (as the server
            # does); the words are returned only with word_timestamps=True
            p.word_timestamps = 1
            p.num_speakers, p.min_speakers, p.max_speakers = (int(v or 0) for v in counts.values())
            if diarize_threshold is not None:
                p.diarize_threshold = float(diarize_threshold)
            weights = self._diarize_weights(diarize_model)
            p.diarize_model = cstr(weights)
        return p, keep

    @staticmethod
    def _diarize_weights(diarize_model: Optional[str]) -> Optional[str]:
        """The diarization weight file: diarize_model, else $AMANUENSIS_DIARIZE_MODEL (None: the
        library reads it), else the first that exists of ./models, $AMANUENSIS_MODELS and the models/
        folder of the checkout the package was built from (scripts/fetch-model diarization fills
        it) + diarization/diarization.bin.  Raises AmanuensisError (AM_E_IO) when none is found."""
        if diarize_model is not None:
            path = os.fspath(diarize_model)
            if not os.path.isfile(path):
                raise AmanuensisError(f"{path}: no such diarization weight file", -3)
            return path
        if os.environ.get("AMANUENSIS_DIARIZE_MODEL"):
            return None
        try:
            from ._build_info import SOURCE_MODELS_DIR
        except ImportError:
            SOURCE_MODELS_DIR = str(Path(__file__).resolve().parents[2] / "models")
        for root in ("models", os.environ.get("AMANUENSIS_MODELS"), SOURCE_MODELS_DIR):
            if root and os.path.isfile(os.path.join(root, _DIARIZE_WEIGHTS)):
                return os.path.join(root, _DIARIZE_WEIGHTS)
        raise AmanuensisError(f"no diarization weights: {_DIARIZE_WEIGHTS} not found in ./models, $AMANUENSIS_MODELS "
                              f"or {SOURCE_MODELS_DIR} (scripts/fetch-model diarization; or diarize_model=PATH)", -3)

    def _check(self, params: N.AmParams) -> None:
        """The library's parameter check, at once rather than from the generator: am_transcribe
        checks the parameters before it looks at the samples (src/decode/transcribe.c), so no samples
        give the parameter error, or AM_E_AUDIO when the parameters are good."""
        out, err = c_void_p(), N.err_buffer()
        status = N.lib().am_transcribe(self._handle, None, 0, byref(params), byref(out), err, N.ERR_SIZE)
        if out:
            N.lib().am_result_free(out)
        if status not in (N.AM_OK, N.AM_E_AUDIO):
            _raise(status, err, "bad parameters")

    def _run(self, audio: "_Audio", params: N.AmParams) -> _Result:
        """am_transcribe with the GIL released, within the num_workers limit."""
        out, err = c_void_p(), N.err_buffer()
        with self._workers:
            if not self._handle:
                raise AmanuensisError("the model was closed", -1)
            if audio.handle is not None:
                status = N.lib().am_transcribe_audio(self._handle, audio.handle, byref(params), byref(out), err,
                                                     N.ERR_SIZE)
            else:
                status = N.lib().am_transcribe(self._handle, audio.pointer, audio.n_samples, byref(params),
                                               byref(out), err, N.ERR_SIZE)
        _raise(status, err, "transcription failed")
        return _Result(out)

    def detect_language(self, audio: AudioInput, vad_filter: bool = False, vad_parameters: Any = None,
                        **unused: Any) -> Tuple[str, float, List[Tuple[str, float]]]:
        """(language, probability, [(language, probability), ...] most likely first) on the first
        30 s window (of speech, with vad_filter); ("en", 1.0, [("en", 1.0)]) on .en models."""
        if not self.is_multilingual:
            return "en", 1.0, [("en", 1.0)]
        source = _Audio(audio, spool=True)
        try:
            return self._detect(source, dict(_DEFAULT_OPTIONS, vad_filter=vad_filter, vad_parameters=vad_parameters))
        finally:
            source.close()

    def _detect(self, source: "_Audio", options: Dict[str, Any]) -> Tuple[str, float, List[Tuple[str, float]]]:
        """Language detection alone (am_params.detect_language_only) with the options of a
        transcription, so that it sees the first window the transcription will see."""
        p, keep = self._params(**dict(options, language=None, diarize=False, num_speakers=None, min_speakers=None,
                                      max_speakers=None, diarize_model=None, diarize_threshold=None))
        p.detect_language_only = 1
        result = self._run(source, p)
        try:
            probs = result.language_probs()
            language = result.language() or (probs[0][0] if probs else "en")
        finally:
            result.close()
        return language, (probs[0][1] if probs else 1.0), probs

    def transcribe(self, audio: AudioInput, language: Optional[str] = None, task: str = "transcribe",
                   log_progress: bool = False, beam_size: int = 5, best_of: int = 5, patience: float = 1,
                   length_penalty: float = 1, repetition_penalty: float = 1, no_repeat_ngram_size: int = 0,
                   temperature: Union[float, Sequence[float]] = _DEFAULT_TEMPERATURES,
                   compression_ratio_threshold: Optional[float] = 2.4, log_prob_threshold: Optional[float] = -1.0,
                   no_speech_threshold: Optional[float] = 0.6, condition_on_previous_text: bool = True,
                   prompt_reset_on_temperature: float = 0.5, initial_prompt: Optional[str] = None,
                   prefix: Optional[str] = None, suppress_blank: bool = True,
                   suppress_tokens: Optional[List[int]] = [-1], without_timestamps: bool = False,
                   max_initial_timestamp: float = 1.0, word_timestamps: bool = False,
                   prepend_punctuations: str = _PREPEND_PUNCTUATIONS,
                   append_punctuations: str = _APPEND_PUNCTUATIONS, multilingual: bool = False,
                   vad_filter: bool = False, vad_parameters: Any = None, max_new_tokens: Optional[int] = None,
                   chunk_length: Optional[int] = None, clip_timestamps: Union[str, List[float]] = "0",
                   hallucination_silence_threshold: Optional[float] = None, hotwords: Optional[str] = None,
                   language_detection_threshold: Optional[float] = 0.5, language_detection_segments: int = 1,
                   *, batch_size: int = 1, seed: int = 0, max_context: Optional[int] = None,
                   diarize: bool = False, num_speakers: Optional[int] = None, min_speakers: Optional[int] = None,
                   max_speakers: Optional[int] = None, diarize_model: Optional[str] = None,
                   diarize_threshold: Optional[float] = None
                   ) -> Tuple[Iterator[Segment], TranscriptionInfo]:
        """Transcribe audio, as faster_whisper.WhisperModel.transcribe.

        audio: a path, a file-like object or bytes of any format the library decodes, or a float32
            NumPy array of 16 kHz mono samples in [-1, 1].
        The arguments are faster-whisper's, with its defaults (beam 5, the temperature fallback
        0.0..1.0, thresholds 2.4 / -1.0 / 0.6).  vad_parameters is a dict or an object with
        faster-whisper's VadOptions names (threshold, min_speech_duration_ms, max_speech_duration_s,
        min_silence_duration_ms, speech_pad_ms; also chunk_gap_ms: speech further apart starts a new
        chunk, -1 packs as faster-whisper).  Options the library does not have (repetition_penalty,
        no_repeat_ngram_size, hotwords, clip_timestamps, multilingual, chunk_length other than 30,
        prompt_reset_on_temperature other than 0.5, several language detection segments) raise
        ValueError when set to anything but their defaults.  Beyond faster-whisper: batch_size (VAD
        chunks decoded together), seed (sampling) and max_context (previous-text tokens).

        Speakers (am_params.diarize, the CLI's --diarize): with diarize=True every segment and word
        carries `speaker` ("SPEAKER_00", "SPEAKER_01", ... in order of first appearance), a segment
        is split where its words change speaker, and the segments come once the whole recording is
        transcribed and diarized.  num_speakers (exactly), min_speakers and max_speakers (bounds on
        the estimated count) take 1..64, diarize_threshold (the clustering's cosine distance, in
        (0, 2), default 0.45; higher: fewer speakers estimated) the CLI's --diarize-threshold, and
        any of them turns diarize on, as on the CLI;
        diarize_model is the weight file (default: models/diarization/diarization.bin, fetched by
        scripts/fetch-model diarization, looked up as WhisperModel looks up models).

        Returns (segments, info): a generator of Segment that transcribes as it is consumed (in a
        worker thread; closing the generator early cancels the transcription), and a
        TranscriptionInfo whose language is known at once (detected on the first window when not
        given).  Raises AmanuensisError with the library's message for unreadable audio and bad
        parameters, at the call or, for failures during decoding, from the generator."""
        unsupported = {"repetition_penalty": (repetition_penalty, 1), "no_repeat_ngram_size": (no_repeat_ngram_size, 0),
                       "prompt_reset_on_temperature": (prompt_reset_on_temperature, 0.5),
                       "multilingual": (multilingual, False), "hotwords": (hotwords, None),
                       "language_detection_segments": (language_detection_segments, 1)}
        for name, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(f"{name}={value!r} is not supported by amanuensis (only {default!r})")
        if chunk_length not in (None, 30):
            raise ValueError("chunk_length: amanuensis decodes 30 s windows only")
        if clip_timestamps not in ("0", "", [], [0], [0.0], None):
            raise ValueError("clip_timestamps is not supported by amanuensis")
        options = dict(language=language, task=task, beam_size=beam_size, best_of=best_of, patience=patience,
                       length_penalty=length_penalty, temperature=temperature,
                       compression_ratio_threshold=compression_ratio_threshold,
                       log_prob_threshold=log_prob_threshold, no_speech_threshold=no_speech_threshold,
                       condition_on_previous_text=condition_on_previous_text, initial_prompt=initial_prompt,
                       prefix=prefix, suppress_blank=suppress_blank, suppress_tokens=suppress_tokens,
                       without_timestamps=without_timestamps, max_initial_timestamp=max_initial_timestamp,
                       word_timestamps=word_timestamps, prepend_punctuations=prepend_punctuations,
                       append_punctuations=append_punctuations, vad_filter=vad_filter,
                       vad_parameters=vad_parameters, max_new_tokens=max_new_tokens,
                       hallucination_silence_threshold=hallucination_silence_threshold, batch_size=batch_size,
                       seed=seed, max_context=max_context, diarize=diarize, num_speakers=num_speakers,
                       min_speakers=min_speakers, max_speakers=max_speakers, diarize_model=diarize_model,
                       diarize_threshold=diarize_threshold)
        params, keep = self._params(**options)
        self._check(params)
        source = _Audio(audio, spool=True)
        try:
            all_probs = None
            if language is not None:
                lang, lang_prob = language, 1.0
            elif not self.is_multilingual:
                lang, lang_prob = "en", 1.0
            else:
                lang, lang_prob, all_probs = self._detect(source, options)
        except BaseException:
            source.close()
            raise
        vad_options = None
        if vad_filter:
            vad_options = {"threshold": params.vad_threshold, "min_speech_duration_ms": params.vad_min_speech_ms,
                           "max_speech_duration_s": params.vad_max_speech_s or math.inf,
                           "min_silence_duration_ms": params.vad_min_silence_ms,
                           "speech_pad_ms": params.vad_speech_pad_ms, "chunk_gap_ms": params.vad_chunk_gap_ms}
        info = TranscriptionInfo(language=lang, language_probability=lang_prob, duration=source.duration,
                                 duration_after_vad=None if vad_filter else source.duration,
                                 all_language_probs=all_probs,
                                 transcription_options={k: v for k, v in options.items() if k != "vad_parameters"},
                                 vad_options=vad_options, speaker_turns=[] if params.diarize else None)
        return self._segments(source, params, keep, bool(word_timestamps), info.speaker_turns), info

    def _segments(self, source: "_Audio", params: N.AmParams, keep: list, with_words: bool,
                  turns: Optional[List[SpeakerTurn]] = None) -> Iterator[Segment]:
        """Run am_transcribe in a worker thread; segments arrive through on_segment as each is final,
        with diarization from the result at the end (speakers are attached after transcription; the
        result's speaker turns go into `turns` first)."""
        items: "queue.Queue[Any]" = queue.Queue()
        stop = threading.Event()
        done = object()

        def on_segment(segment, _user):
            try:
                items.put(_segment_from_c(segment.contents, with_words))
            except BaseException as e:  # never unwind through C
                items.put(e)
                stop.set()

        def should_abort(_user):
            return 1 if stop.is_set() else 0

        diarize = bool(params.diarize)
        segment_cb, abort_cb = N.SEGMENT_CALLBACK(on_segment), N.ABORT_CALLBACK(should_abort)
        params.abort_callback = abort_cb
        if not diarize:
            params.on_segment = segment_cb

        def worker():
            try:
                result = self._run(source, params)
                try:
                    if diarize:
                        lib = N.lib()
                        start, end, speaker = ctypes.c_double(), ctypes.c_double(), ctypes.c_char_p()
                        for i in range(lib.am_result_n_turns(result.handle)):
                            status = lib.am_result_turn(result.handle, i, byref(start), byref(end), byref(speaker))
                            if status != N.AM_OK:
                                raise AmanuensisError(N.text(lib.am_status_string(status)) or "am_result_turn", status)
                            if turns is not None:
                                turns.append(SpeakerTurn(start.value, end.value, N.text(speaker.value)))
                        for i in range(lib.am_result_n_segments(result.handle)):
                            items.put(_segment_from_c(lib.am_result_segment(result.handle, i).contents, with_words))
                finally:
                    result.close()
                items.put(done)
            except BaseException as e:
                items.put(e)

        thread = threading.Thread(target=worker, name="amanuensis-transcribe", daemon=True)
        thread.start()
        try:
            while True:
                item = items.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    if isinstance(item, AmanuensisError) and item.status == N.AM_E_ABORTED and stop.is_set():
                        return
                    raise item
                yield item
        finally:
            stop.set()
            thread.join()
            source.close()
