"""Silero VAD in C against the reference ONNX models, segment logic against faster-whisper, and
hallucination control with --vad (silence, white noise, music give no text).

- faster-whisper's own weights (assets/silero_vad_v6.onnx, converted to the ggml layout by
  silero_ref.onnx_to_ggml): C probabilities within 0.01 of faster-whisper's SileroVADModel
  (onnxruntime) on every 32 ms frame, and speech segments within 32 ms of
  faster_whisper.vad.get_speech_timestamps run end to end.
- The bundled data/silero-vad-v6.2.0-ggml.bin: within 0.01 of silero-vad 6.2.0's own ONNX export
  (skipped when the silero-vad package files are not installed), and segments identical to
  get_speech_timestamps applied to the same probabilities.
"""
import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, run_am
import silero_ref

# the tool next to the CLI under test (AM_BINARY=<build dir>/amanuensis), else build/tools
TOOL = (Path(os.environ["AM_BINARY"]).parent if os.environ.get("AM_BINARY") else REPO / "build") / "tools" / "vad_probs"
BUNDLED = REPO / "data" / "silero-vad-v6.2.0-ggml.bin"
SPEECH = ["tritonasr_1089-134686-0001.wav", "lhotse_2412-153948-0000.flac", "joinly_OSR_us_000_0034_8k.wav",
          "lhotse_ES2011a.Headset-0-40s-46s.wav", "pyannote_sample.wav", "sb_noise1.wav", "leopard_empty.wav"]
# (threshold, min_speech_ms, max_speech_s, min_silence_ms, speech_pad_ms)
OPTION_SETS = [(0.5, 0, 0, 2000, 400), (0.5, 250, 30, 160, 400), (0.35, 0, 10, 100, 30)]


def _audio_files(test_data):
    files = [REPO / "samples" / "jfk.wav"] + [test_data / "speech" / f for f in SPEECH]
    return [f for f in files if f.exists()]


@pytest.fixture(scope="session")
def vad_audio(test_data, session_tmp):
    """{name: (float32 16 kHz audio, raw path)} decoded once with faster-whisper's decoder."""
    from faster_whisper.audio import decode_audio
    out = {}
    for f in _audio_files(test_data):
        a = decode_audio(str(f), 16000).astype(np.float32)
        out[f.name] = a
    rng = np.random.default_rng(0)
    out["silence"] = np.zeros(16000 * 5, np.float32)
    out["noise"] = (rng.standard_normal(16000 * 5) * 0.1).astype(np.float32)
    paths = {}
    for name, a in out.items():
        p = session_tmp / f"vad-{name}.f32"
        a.tofile(p)
        paths[name] = (a, p)
    return paths


@pytest.fixture(scope="session")
def fw_weights(session_tmp):
    import faster_whisper
    onnx = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
    out = session_tmp / "fw-silero-v6-f32-ggml.bin"
    silero_ref.onnx_to_ggml(onnx, out)
    return out


def c_probs(model, raw):
    r = subprocess.run([str(TOOL), "--raw", str(model), str(raw)], capture_output=True, text=True, check=True)
    return np.array(r.stdout.split(), dtype=np.float32)


def c_segments(model, raw, opts):
    thr, ms, mx, sil, pad = opts
    r = subprocess.run([str(TOOL), "--segments", str(thr), str(ms), str(mx), str(sil), str(pad), "--raw", str(model),
                        str(raw)], capture_output=True, text=True, check=True)
    return [tuple(map(int, l.split())) for l in r.stdout.splitlines()]


def fw_opts(opts):
    thr, ms, mx, sil, pad = opts
    return dict(threshold=thr, min_speech_duration_ms=ms, max_speech_duration_s=mx if mx > 0 else float("inf"),
                min_silence_duration_ms=sil, speech_pad_ms=pad)


def test_probs_match_faster_whisper_onnx(vad_audio, fw_weights):
    worst = 0.0
    for name, (audio, raw) in vad_audio.items():
        ref = silero_ref.fw_probs(audio)
        got = c_probs(fw_weights, raw)
        assert got.shape == ref.shape, name
        d = float(np.abs(got - ref).max())
        worst = max(worst, d)
        assert d <= 0.01, f"{name}: max |C - onnxruntime| = {d}"
    print(f"max |C - faster-whisper ONNX| over {len(vad_audio)} files: {worst:.2e}")


def test_segments_match_faster_whisper(vad_audio, fw_weights):
    from faster_whisper.vad import VadOptions, get_speech_timestamps
    worst = 0
    for name, (audio, raw) in vad_audio.items():
        for opts in OPTION_SETS:
            ref = [(s["start"], s["end"]) for s in get_speech_timestamps(audio, VadOptions(**fw_opts(opts)))]
            got = c_segments(fw_weights, raw, opts)
            assert len(got) == len(ref), f"{name} {opts}: {got} vs {ref}"
            for g, r in zip(got, ref):
                worst = max(worst, abs(g[0] - r[0]), abs(g[1] - r[1]))
                assert abs(g[0] - r[0]) <= 512 and abs(g[1] - r[1]) <= 512, f"{name} {opts}: {got} vs {ref}"
    print(f"max boundary difference: {worst} samples ({worst / 16:.1f} ms)")


def test_bundled_model_segment_logic_is_faster_whispers(vad_audio):
    """Same probabilities in, the same boundaries out (to the sample)."""
    for name, (audio, raw) in vad_audio.items():
        probs = c_probs(BUNDLED, raw)
        for opts in OPTION_SETS:
            ref = [(s["start"], s["end"]) for s in silero_ref.fw_segments(probs, len(audio), **fw_opts(opts))]
            assert c_segments(BUNDLED, raw, opts) == ref, f"{name} {opts}"


def _silero_op15():
    spec = importlib.util.find_spec("silero_vad")
    if not spec or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad_16k_op15.onnx"
    return p if p.exists() else None


def test_bundled_model_matches_silero_onnx(vad_audio):
    onnx = _silero_op15()
    if onnx is None:
        pytest.skip("silero-vad 6.2.0 package files not installed (scripts/install-deps test)")
    worst = 0.0
    for name, (audio, raw) in vad_audio.items():
        ref = silero_ref.op15_probs(onnx, audio)
        got = c_probs(BUNDLED, raw)
        d = float(np.abs(got - ref).max())
        worst = max(worst, d)
        assert d <= 0.01, f"{name}: max |C - silero 6.2.0 ONNX| = {d}"
    print(f"max |C (ggml f16) - silero-vad 6.2.0 ONNX|: {worst:.4f}")


# ---- hallucination control -------------------------------------------------------------------

def _sox(args):
    subprocess.run(["sox"] + [str(a) for a in args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def nonspeech(session_tmp):
    files = {}
    files["silence"] = session_tmp / "ns-silence.wav"
    _sox(["-n", "-r", "16000", "-c", "1", "-b", "16", files["silence"], "trim", "0", "30"])
    files["white_noise"] = session_tmp / "ns-noise.wav"
    _sox(["-n", "-r", "16000", "-c", "1", "-b", "16", files["white_noise"], "synth", "30", "whitenoise", "vol", "0.3"])
    # music: a chord progression of plucked notes with a beat (sox synth), 30 s
    notes = [session_tmp / f"ns-note{i}.wav" for i in range(4)]
    chords = [("C4", "E4", "G4"), ("A3", "C4", "E4"), ("F3", "A3", "C4"), ("G3", "B3", "D4")]
    for p, ch in zip(notes, chords):
        _sox(["-n", "-r", "16000", "-c", "1", "-b", "16", p, "synth", "1.875"] + [x for n in ch for x in ("pluck", n)]
             + ["tremolo", "4", "40", "fade", "0", "1.875", "0.3", "vol", "0.6"])
    files["music"] = session_tmp / "ns-music.wav"
    _sox(notes * 4 + [files["music"]])
    return files


@pytest.mark.parametrize("kind", ["silence", "white_noise", "music"])
def test_nonspeech_gives_no_text_with_vad(binary, model_dir, nonspeech, kind):
    r = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "--vad", "-o", "txt", "--output-dir",
                        nonspeech[kind].parent, nonspeech[kind]], check=True)
    txt = nonspeech[kind].with_suffix(".txt").read_text()
    assert txt.strip() == "", f"{kind}: {txt!r}"
    assert r.stdout.strip() == "", f"{kind}: {r.stdout!r}"


def test_vad_keeps_speech_and_times(binary, model_dir, test_data, session_tmp):
    """jfk.wav with 20 s of silence before it: same words, times shifted by 20 s."""
    jfk = REPO / "samples" / "jfk.wav"
    padded = session_tmp / "jfk-after-20s.wav"
    _sox([jfk, padded, "pad", "20", "0"])
    r = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "--vad", "-o", "json", "--output-dir", session_tmp,
                        padded], check=True)
    import json
    res = json.loads((session_tmp / "jfk-after-20s.json").read_text())
    segs = res["segments"]
    assert segs and "ask not what your country can do for you" in " ".join(s["text"] for s in segs)
    assert 19.5 <= segs[0]["start"] <= 21.0, segs[0]
    assert segs[-1]["end"] <= 31.5


def test_vad_energy_and_bad_model(binary, model_dir, session_tmp):
    jfk = REPO / "samples" / "jfk.wav"
    r = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "--vad-energy", jfk], check=True)
    assert "ask not what your country" in r.stdout
    bad = session_tmp / "bad-vad.bin"
    bad.write_bytes(b"lmgg" + b"\0" * 100)
    r = run_am(binary, ["transcribe", "-m", model_dir, "--vad-model", bad, jfk])
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and r.stderr.startswith("amanuensis: "), r.stderr
