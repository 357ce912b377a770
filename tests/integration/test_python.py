"""The Python package (python/): installed with pip into a fresh virtual environment, offline, from a
copy of the checkout's files (tracked and untracked, not ignored: what a clone would have plus the
work in progress); a faster-whisper style script whose only change is the import gives the CLI's
segments, words and language (jfk.wav with tiny.en; a German clip with the multilingual base model);
NumPy input equals path input; four threads sharing one model give the single-thread results; the
ctypes structures match the header's layout; diarize=True on a two-voice conversation
(diarize_fixtures.py) gives the CLI's speakers on segments and words (skipped without the
diarization weights: scripts/fetch-model diarization).

The venv uses --system-site-packages (NumPy, setuptools and wheel come from the test environment:
scripts/install-deps test) and pip runs with --no-build-isolation --no-index, so nothing is
downloaded."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_am

THREADS = 2

# faster-whisper's usage, only the import changed
SCRIPT = r"""
import json, sys
from amanuensis import WhisperModel

model = WhisperModel(sys.argv[1], device="cpu", compute_type="int8", cpu_threads=2)
segments, info = model.transcribe(sys.argv[2], beam_size=5, word_timestamps=True)
print("Detected language '%s' with probability %f" % (info.language, info.language_probability), file=sys.stderr)
out = {"language": info.language, "language_probability": info.language_probability, "duration": info.duration,
       "segments": []}
for segment in segments:
    print("[%.2fs -> %.2fs] %s" % (segment.start, segment.end, segment.text), file=sys.stderr)
    out["segments"].append(dict(
        id=segment.id, seek=segment.seek, start=segment.start, end=segment.end, text=segment.text,
        tokens=segment.tokens, avg_logprob=segment.avg_logprob, compression_ratio=segment.compression_ratio,
        no_speech_prob=segment.no_speech_prob, temperature=segment.temperature,
        words=[dict(start=w.start, end=w.end, word=w.word, probability=w.probability) for w in segment.words]))
print(json.dumps(out))
"""

# NumPy input, threads sharing one model, errors
SCRIPT_SHARED = r"""
import json, sys, threading
import amanuensis
from amanuensis import AmanuensisError, WhisperModel, decode_audio

model = WhisperModel(sys.argv[1], cpu_threads=1, num_workers=4)
def run(audio, **kw):
    segments, info = model.transcribe(audio, word_timestamps=True, **kw)
    return [s._asdict() for s in segments]

path = sys.argv[2]
single = run(path)
array = decode_audio(path)
out = {"package": amanuensis.__file__, "numpy_dtype": str(array.dtype), "n_samples": len(array),
       "single": single, "numpy_equal": run(array) == single,
       "bytes_equal": run(open(path, "rb").read()) == single, "file_equal": run(open(path, "rb")) == single}
results = [None] * 4
def worker(i):
    results[i] = run(array if i % 2 else path)
threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
out["threads_equal"] = [r == single for r in results]
try:
    model.transcribe(b"this is not audio")
    out["error"] = None
except AmanuensisError as e:
    out["error"] = [str(e), e.status_name, isinstance(e, RuntimeError)]
try:
    model.transcribe(path, beam_size=0)
    out["param_error"] = None
except AmanuensisError as e:
    out["param_error"] = [str(e), e.status_name]
print(json.dumps(out))
"""


# speakers (issue 15): the package's diarize / num_speakers / min_speakers / max_speakers / diarize_model
SCRIPT_SPEAKERS = r"""
import json, sys
import amanuensis
from amanuensis import AmanuensisError, WhisperModel

model = WhisperModel(sys.argv[1], cpu_threads=2)
wav, weights, corrupt = sys.argv[2:5]
turns = {}
def run(**kw):
    segments, info = model.transcribe(wav, **kw)
    out = [s._asdict() for s in segments]
    turns[json.dumps(kw, sort_keys=True)] = None if info.speaker_turns is None else \
        [[t.start, t.end, t.speaker] for t in info.speaker_turns]
    return out
def error(**kw):
    try:
        run(**kw)
        return None
    except (AmanuensisError, ValueError) as e:
        return [type(e).__name__, str(e), getattr(e, "status_name", None)]
# an aborted transcription cancels the diarization begun beside it (src/diarize/attach.h), and the
# model diarizes as before afterwards (the runs below)
from ctypes import POINTER, byref, c_float, c_void_p
from amanuensis import _native as N
x = amanuensis.decode_audio(wav)
p = N.lib().am_params_default()
p.n_threads, p.diarize, p.diarize_model = 2, 1, weights.encode()
abort = N.ABORT_CALLBACK(lambda _user: 1)
p.abort_callback = abort
res, err = c_void_p(), N.err_buffer()
status = N.lib().am_transcribe(model._handle, x.ctypes.data_as(POINTER(c_float)), len(x), byref(p), byref(res), err,
                               N.ERR_SIZE)
aborted = [status, res.value is None]
out = {"package": amanuensis.__file__, "aborted": aborted,
       "diarized": run(diarize=True, word_timestamps=True),  # weights found in ./models (cwd: the checkout)
       "diarized_no_words": run(diarize_model=weights),
       "one": run(num_speakers=1), "at_most_one": run(max_speakers=1),
       "merged": run(diarize_threshold=1.99),  # every voice within 1.99 of cosine distance: one speaker
       "plain": run(word_timestamps=True),
       "missing": error(diarize_model=weights + ".missing"), "corrupt": error(diarize_model=corrupt),
       "bounds": error(min_speakers=3, max_speakers=2), "zero": error(num_speakers=0),
       "threshold_zero": error(diarize_threshold=0), "threshold_two": error(diarize_threshold=2.0),
       "threshold_text": error(diarize_threshold="0.5")}
out["turns"] = turns[json.dumps(dict(diarize=True, word_timestamps=True), sort_keys=True)]
out["plain_turns"] = turns[json.dumps(dict(word_timestamps=True), sort_keys=True)]
print(json.dumps(out))
"""


def _copy_checkout(dest):
    """The files a clone would have, plus untracked ones that are not ignored."""
    r = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                       capture_output=True, check=True)
    for name in r.stdout.decode().split("\0"):
        src = REPO / name
        if name and src.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("python")
    src = tmp / "checkout"
    _copy_checkout(src)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
                        str(src / "python")], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"pip install failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    shutil.rmtree(src)  # the installed package must not need the checkout
    return py


def _run_script(py, script, *args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMANUENSIS_")}
    r = subprocess.run([str(py), "-c", script, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout)


def _cli_json(binary, model, audio, tmp):
    run_am(binary, ["transcribe", "-m", model, "-t", THREADS, "--word-timestamps", "-o", "json", "--output-dir", tmp,
                    "-q", audio], check=True)
    return json.loads((Path(tmp) / (Path(audio).stem + ".json")).read_text(encoding="utf-8"))


def _cli_language_probability(binary, model, audio):
    r = run_am(binary, ["transcribe", "-m", model, "-t", THREADS, "--detect-language", audio], check=True)
    first = r.stdout.splitlines()[0].rsplit(" ", 2)
    return first[1], float(first[2])


def _close(a, b, abs_tol):
    return abs(a - b) <= abs_tol + 1e-6 * abs(b)


def _compare_with_cli(py_out, cli):
    """Same segments, tokens, texts and words; numbers as far as the JSON's rounding allows."""
    assert py_out["language"] == cli["language"]
    assert _close(py_out["duration"], cli["duration"], 5e-4)
    assert len(py_out["segments"]) == len(cli["segments"]), (py_out["segments"], cli["segments"])
    for s, c in zip(py_out["segments"], cli["segments"]):
        for key in ("id", "seek", "text", "tokens"):
            assert s[key] == c[key], (key, s, c)
        for key in ("start", "end"):
            assert _close(s[key], c[key], 5e-4), (key, s, c)
        for key in ("avg_logprob", "compression_ratio", "no_speech_prob", "temperature"):
            assert _close(s[key], c[key], 1e-5 * max(1.0, abs(c[key]))), (key, s[key], c[key])
        assert [w["word"] for w in s["words"]] == [w["word"] for w in c["words"]]
        for w, cw in zip(s["words"], c["words"]):
            assert _close(w["start"], cw["start"], 5e-4) and _close(w["end"], cw["end"], 5e-4), (w, cw)
            assert _close(w["probability"], cw["probability"], 1e-5), (w, cw)


def test_faster_whisper_script_english(venv_python, binary, model_dir, tmp_path):
    jfk = REPO / "samples" / "jfk.wav"
    py_out = _run_script(venv_python, SCRIPT, model_dir, jfk, cwd=tmp_path)
    _compare_with_cli(py_out, _cli_json(binary, model_dir, jfk, tmp_path))
    assert py_out["language"] == "en" and py_out["language_probability"] == 1.0
    assert "ask not what your country can do for you" in "".join(s["text"] for s in py_out["segments"])


def test_faster_whisper_script_multilingual(venv_python, binary, test_data, tmp_path):
    base = REPO / "models" / "base"
    if not (base / "model.bin").exists():
        pytest.skip("the multilingual base model is absent (scripts/fetch-model base)")
    clip = test_data / "speech" / "leopard_test_de.wav"
    py_out = _run_script(venv_python, SCRIPT, base, clip, cwd=tmp_path)
    _compare_with_cli(py_out, _cli_json(binary, base, clip, tmp_path))
    language, probability = _cli_language_probability(binary, base, clip)
    assert py_out["language"] == language == "de"
    assert abs(py_out["language_probability"] - probability) < 1e-4


def test_numpy_input_and_threads_sharing_a_model(venv_python, model_dir, tmp_path):
    out = _run_script(venv_python, SCRIPT_SHARED, model_dir, REPO / "samples" / "jfk.wav", cwd=tmp_path)
    assert Path(out["package"]).resolve().is_relative_to(venv_python.parent.parent.resolve()), out["package"]
    assert out["numpy_dtype"] == "float32" and out["n_samples"] == 176000
    assert out["single"] and all(s["words"] for s in out["single"])
    assert out["numpy_equal"] and out["bytes_equal"] and out["file_equal"]
    assert out["threads_equal"] == [True] * 4
    message, status, is_runtime_error = out["error"]
    assert status == "AM_E_AUDIO" and is_runtime_error and "\n" not in message and message
    assert out["param_error"][1] == "AM_E_INVALID_ARG" and "beam" in out["param_error"][0]


def _load_native():
    spec = importlib.util.spec_from_file_location("amanuensis_native", REPO / "python" / "amanuensis" / "_native.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ctypes_layout_matches_header(tmp_path):
    """Every field the package mirrors sits where the header puts it; am_word has the header's
    size (the package indexes arrays of it); the other structures fit in their mirrors."""
    import ctypes
    native = _load_native()
    structs = {"am_params": native.AmParams, "am_segment": native.AmSegment, "am_word": native.AmWord,
               "am_load_options": native.AmLoadOptions, "am_model_info": native.AmModelInfo}
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "amanuensis.h"', "int main(void) {"]
    for cname, cls in structs.items():
        lines.append(f'printf("{cname} sizeof %zu\\n", sizeof({cname}));')
        for fname, _ in cls._fields_:
            if fname != "_reserved":
                lines.append(f'printf("{cname} {fname} %zu\\n", offsetof({cname}, {fname}));')
    lines += ["return 0;", "}"]
    (tmp_path / "layout.c").write_text("\n".join(lines))
    cc = os.environ.get("CC") or "cc"
    subprocess.run([cc, "-std=c11", f"-I{REPO / 'include'}", "layout.c", "-o", "layout"], cwd=tmp_path, check=True)
    c_layout = {}
    for line in subprocess.run(["./layout"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split("\n"):
        if line:
            s, f, v = line.split()
            c_layout[(s, f)] = int(v)
    for cname, cls in structs.items():
        for fname, _ in cls._fields_:
            if fname != "_reserved":
                assert getattr(cls, fname).offset == c_layout[(cname, fname)], (cname, fname)
        assert ctypes.sizeof(cls) >= c_layout[(cname, "sizeof")], cname
    assert ctypes.sizeof(native.AmWord) == c_layout[("am_word", "sizeof")]


def test_speakers(venv_python, binary, model_dir, tmp_path):
    """diarize=True gives the CLI's segments with their speakers (`transcribe --diarize`), on
    segments and words, two speakers on a two-voice conversation; without word_timestamps the same
    segments without words; num_speakers=1, max_speakers=1 and diarize_threshold=1.99 one speaker;
    without diarization `speaker` is None; a missing or corrupt weight file, bad counts and bad
    thresholds raise at once or from the generator with the library's one line."""
    weights = REPO / "models" / "diarization" / "diarization.bin"
    if not weights.exists():
        pytest.skip(f"{weights} is absent (scripts/fetch-model diarization)")
    import wave
    import numpy as np
    import diarize_fixtures
    if not diarize_fixtures.available():
        pytest.fail("flite, espeak-ng and sox are needed (scripts/install-deps test)")
    audio, ref = diarize_fixtures.conversation(diarize_fixtures.CONVERSATIONS["two"], tmp_path)
    wav = tmp_path / "two.wav"
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2").tobytes())
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    out = _run_script(venv_python, SCRIPT_SPEAKERS, model_dir, wav, weights, corrupt, cwd=REPO)
    assert Path(out["package"]).resolve().is_relative_to(venv_python.parent.parent.resolve()), out["package"]
    assert out["aborted"] == [-8, True]  # AM_E_ABORTED, no result

    run_am(binary, ["transcribe", "-m", model_dir, "-t", THREADS, "--diarize", "--word-timestamps", "-o", "json",
                    "-o", "rttm", "--output-dir", tmp_path, "-q", wav], cwd=REPO, check=True, timeout=300)
    # info.speaker_turns: the CLI's RTTM turns (to its 3 decimals); None without diarization
    rttm = [(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in
            (line.split() for line in (tmp_path / "two.rttm").read_text().splitlines())]
    assert len(out["turns"]) == len(rttm) >= 2 and out["plain_turns"] is None
    for (a, b, s), (ra, rb, rs) in zip(out["turns"], rttm):
        assert s == rs and _close(a, ra, 1.5e-3) and _close(b, rb, 1.5e-3), ((a, b, s), (ra, rb, rs))
    cli = json.loads((tmp_path / "two.json").read_text(encoding="utf-8"))["segments"]
    segs = out["diarized"]
    assert {s["speaker"] for s in segs} == {"SPEAKER_00", "SPEAKER_01"}
    assert [(s["text"], s["speaker"]) for s in segs] == [(c["text"], c["speaker"]) for c in cli]
    for s, c in zip(segs, cli):
        assert _close(s["start"], c["start"], 5e-4) and _close(s["end"], c["end"], 5e-4), (s, c)
        assert [(w["word"], w["speaker"]) for w in s["words"]] == [(w["word"], w["speaker"]) for w in c["words"]]
    # one voice per speaker: the turns alternate slt, kal, slt, ... and so do the segments' speakers
    voices = [v for _, _, v in ref]
    mid = [next(v for a, b, v in ref if a - 0.3 <= (s["start"] + s["end"]) / 2 <= b + 0.3) for s in segs]
    assert len({(v, s["speaker"]) for v, s in zip(mid, segs)}) == 2 and set(mid) == set(voices)

    assert [(s["text"], s["speaker"], s["words"]) for s in out["diarized_no_words"]] == \
        [(s["text"], s["speaker"], None) for s in segs]
    for key in ("one", "at_most_one", "merged"):
        assert out[key] and {s["speaker"] for s in out[key]} == {"SPEAKER_00"}, key
    assert out["plain"] and all(s["speaker"] is None for s in out["plain"])
    assert all(w["speaker"] is None for s in out["plain"] for w in s["words"])

    kind, message, status = out["missing"]
    assert kind == "AmanuensisError" and status == "AM_E_IO" and "diarization.bin.missing" in message
    kind, message, status = out["corrupt"]
    assert kind == "AmanuensisError" and str(corrupt) in message and "\n" not in message, out["corrupt"]
    assert out["bounds"][0] == "ValueError" and "max_speakers" in out["bounds"][1]
    assert out["zero"][0] == "ValueError" and "num_speakers" in out["zero"][1]
    for key in ("threshold_zero", "threshold_two", "threshold_text"):
        assert out[key][0] == "ValueError" and "diarize_threshold" in out[key][1], out[key]
