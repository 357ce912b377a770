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


def _json_bytes(binary, model, wav, tmp, extra):
    out = tmp / "batch-json"
    shutil.rmtree(out, ignore_errors=True)
    run_am(binary, ["transcribe", "-m", model, "-t", "2", "-q", "--vad", "-o", "json", "--output-dir", out]
           + extra + [wav], check=True)
    return (out / (wav.stem + ".json")).read_bytes()


# beam 5 and temperature fallback are the defaults; every long-form rule on top of them
ALL_OPTIONS = ["--beam-size", "5", "--word-timestamps", "--prefix", "And so", "--prompt", "Mister Quilter",
               "--hallucination-silence-threshold", "1"]


def test_batched_json_identical_with_every_option(binary, model_dir, long_file, session_tmp):
    seq = _json_bytes(binary, model_dir, long_file, session_tmp, ALL_OPTIONS)
    bat = _json_bytes(binary, model_dir, long_file, session_tmp, ALL_OPTIONS + ["--batch-size", "8"])
    assert bat == seq
    res = json.loads(seq)
    assert len(res["segments"]) >= 10 and all(s["words"] for s in res["segments"])
    # the prefix starts the transcript (the first chunk), not every chunk
    assert res["segments"][0]["text"].startswith(" And so")
    assert sum(s["text"].startswith(" And so") for s in res["segments"]) < len(res["segments"]) // 2


@pytest.fixture(scope="module")
def language_switch(test_data, session_tmp):
    """German, English, French, German read speech with 2 s of silence between: four VAD chunks."""
    names = ["speech/leopard_test_de.wav", "speech/leopard_test.wav", "speech/leopard_test_fr.wav",
             "speech/leopard_test_de.wav"]
    parts = []
    for n in names:
        parts += [_read(test_data / n), np.zeros(32000, dtype=np.float32)]
    path = session_tmp / "language-switch.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(np.concatenate(parts), -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_batched_language_per_chunk(binary, multilingual_model, language_switch, session_tmp):
    """Each chunk detects its own language, batched or not, and the detection's probabilities are kept."""
    seq = _json_bytes(binary, multilingual_model, language_switch, session_tmp, ALL_OPTIONS[:2] + ["--word-timestamps"])
    bat = _json_bytes(binary, multilingual_model, language_switch, session_tmp,
                      ALL_OPTIONS[:2] + ["--word-timestamps", "--batch-size", "8"])
    assert bat == seq
    texts = [s["text"] for s in json.loads(seq)["segments"]]
    assert len(texts) == 4, texts
    assert "Raum" in texts[0] and "Quilter" in texts[1] and "consulat" in texts[2] and "Raum" in texts[3], texts
    r = run_am(binary, ["transcribe", "-m", multilingual_model, "-t", "2", "--vad", "--detect-language",
                        language_switch], check=True)
    first = r.stdout.splitlines()[0].rsplit(" ", 2)
    assert first[1] == "de" and float(first[2]) > 0.5, r.stdout
