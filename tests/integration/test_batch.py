"""Batched long-form (--vad --batch-size N) gives exactly what sequential VAD chunks give: every row of
a batched encoder/decoder call is computed as it would be alone, so segments (text and times) match.
Checked with the default chunking and with chunks packed as faster-whisper packs them."""
import json
import shutil
import wave

import numpy as np
import pytest

from conftest import run_am


def _read(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


@pytest.fixture(scope="module")
def long_file(test_data, session_tmp):
    """~75 s: jfk and four 16 kHz recordings of tests/data/speech with 2-4 s of faint noise between them."""
    names = ["jfk.wav", "speech/leopard_test.wav", "speech/tritonasr_1089-134686-0001.wav",
             "speech/tritonasr_1221-135766-0001.wav", "speech/lhotse_ES2011a.Headset-0-40s-46s.wav"]
    rng = np.random.default_rng(3)
    parts = []
    for k, n in enumerate(names * 2):
        parts.append(rng.standard_normal(int(rng.uniform(2, 4) * 16000)).astype(np.float32) * 1e-4)
        parts.append(_read(test_data / n))
    x = np.concatenate(parts)
    path = session_tmp / "batch-input.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _segments(binary, model_dir, wav, tmp, extra):
    out = tmp / "batch-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-q", "--vad", "-o", "json", "--output-dir", out]
           + extra + [wav], check=True)
    res = json.loads((out / (wav.stem + ".json")).read_text(encoding="utf-8"))
    return [(s["text"], round(s["start"], 3), round(s["end"], 3)) for s in res["segments"]]


@pytest.mark.parametrize("gap", ["1000", "-1"])
def test_batched_equals_sequential(binary, model_dir, long_file, session_tmp, gap):
    seq = _segments(binary, model_dir, long_file, session_tmp, ["--vad-chunk-gap-ms", gap])
    bat = _segments(binary, model_dir, long_file, session_tmp, ["--vad-chunk-gap-ms", gap, "--batch-size", "4"])
    assert len(seq) >= 10
    assert bat == seq
    assert [s[1] for s in bat] == sorted(s[1] for s in bat)
