"""Diarization on the inputs of issue 15's acceptance 5 that test_diarize.py and test_diarize_cli.py
leave out (`amanuensis transcribe --diarize` with tiny.en, and the server):

- One voice saying six lines with pauses (diarize_fixtures.py: flite's slt, then kal), the count
  estimated: one speaker out, on the segments, the words and the RTTM.
- A call recording: each voice on its own channel of a stereo file (the other channel silent while
  it speaks): both speakers, DER (test_diarize.der, 0.5 s collar) <= 10%.
- 44.1 kHz stereo and 48 kHz mono copies of the two-voice conversation: two speakers, DER <= 10%.
- The server with bad weight files named by $AMANUENSIS_DIARIZE_MODEL (truncated, wrong magic):
  diarize=true answers 500 with one line naming the file, and the same server still transcribes
  without diarization (200).  A missing file named there is the server's fault too: 500 naming it,
  never blamed on the upload (param "file").

Already covered elsewhere: mono 16 kHz, stereo (both channels the same) and 8 kHz in
test_diarize_cli.py (test_two_voices, test_stereo_and_8khz); jfk.wav and a LibriSpeech clip as one
speaker and silence as none (test_diarize.py test_pipeline_one_speaker, test_diarize_cli.py
test_one_voice); corrupt, truncated, empty, missing-tensor and missing weight files on the tool
and the CLI (test_diarize.py and test_diarize_cli.py test_bad_weight_files), and on the Python
package (test_python.py test_speakers).  Skipped without the diarization weights
(scripts/fetch-model diarization; `make test` fetches them)."""
import json
import subprocess

import numpy as np
import pytest

from conftest import REPO, Server, run_am
import diarize_fixtures
from test_diarize import der
from test_diarize_cli import rttm_check, write_wav

WEIGHTS = REPO / "models" / "diarization" / "diarization.bin"


@pytest.fixture(scope="module")
def weights():
    if not WEIGHTS.exists():
        pytest.skip(f"{WEIGHTS} is absent (scripts/fetch-model diarization)")
    return WEIGHTS


@pytest.fixture(scope="module")
def fixtures_available():
    if not diarize_fixtures.available():
        pytest.fail("flite, espeak-ng and sox are needed (scripts/install-deps test)")


def diarize(binary, model_dir, wav, out_dir):
    """--diarize --word-timestamps: (json segments, rttm turns)."""
    r = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-q", "--output-dir", out_dir, "--diarize",
                        "--word-timestamps", "-o", "json", "-o", "rttm", wav], cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    segs = json.loads((out_dir / (wav.stem + ".json")).read_text())["segments"]
    return segs, rttm_check((out_dir / (wav.stem + ".rttm")).read_text(), wav.stem)


def tracks(spec, tmp):
    """diarize_fixtures.conversation, each voice's speech on its own track: ({voice: track}, turns)."""
    placed, turns, t = [], [], 0.5
    for voice, text, gap in spec:
        x = diarize_fixtures.utterance(voice, text, tmp)
        a, b = diarize_fixtures.speech_extent(x)
        x = x[a:b]
        start = max(0.0, t + gap) if turns else t
        placed.append((voice, int(round(start * diarize_fixtures.SR)), x))
        turns.append((start, start + x.shape[0] / diarize_fixtures.SR, voice))
        t = turns[-1][1]
    total = max(s + x.shape[0] for _, s, x in placed) + diarize_fixtures.SR // 2
    out = {v: np.zeros(total) for v, _, _ in placed}
    for v, s, x in placed:
        out[v][s: s + x.shape[0]] += x
    peak = max(np.abs(x).max() for x in out.values())
    return {v: x / max(1.0, peak / 0.9) for v, x in out.items()}, turns


@pytest.mark.parametrize("voice", ["slt", "kal"])
def test_one_voice_monologue(binary, model_dir, weights, fixtures_available, tmp_path, voice):
    spec = [(voice, line, gap) for line, gap in zip(diarize_fixtures.LINES[:6], [0, 0.6, 0.5, 0.7, 0.4, 0.6])]
    audio, ref = diarize_fixtures.conversation(spec, tmp_path)
    wav = tmp_path / f"{voice}_alone.wav"
    write_wav(wav, audio)
    segs, turns = diarize(binary, model_dir, wav, tmp_path)
    assert len(segs) >= 3 and {s["speaker"] for s in segs} == {"SPEAKER_00"}, [(s["speaker"], s["text"]) for s in segs]
    assert {w["speaker"] for s in segs for w in s["words"]} == {"SPEAKER_00"}
    assert turns and {s for _, _, s in turns} == {"SPEAKER_00"}
    assert der(ref, turns, collar=0.5) <= 0.10, der(ref, turns, collar=0.5)


def test_voice_per_channel(binary, model_dir, weights, fixtures_available, tmp_path):
    by_voice, ref = tracks(diarize_fixtures.CONVERSATIONS["two"], tmp_path)
    left, right = (np.clip(np.round(by_voice[v] * 32767), -32768, 32767).astype("<i2") for v in ("slt", "kal"))
    wav = tmp_path / "call.wav"
    import wave
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(np.stack([left, right], axis=1).reshape(-1).tobytes())
    segs, turns = diarize(binary, model_dir, wav, tmp_path)
    assert {s["speaker"] for s in segs} == {"SPEAKER_00", "SPEAKER_01"}
    assert {s for _, _, s in turns} == {"SPEAKER_00", "SPEAKER_01"}
    assert der(ref, turns, collar=0.5) <= 0.10, der(ref, turns, collar=0.5)


@pytest.mark.parametrize("rate,channels", [(44100, 2), (48000, 1)])
def test_other_rates(binary, model_dir, weights, fixtures_available, tmp_path, rate, channels):
    audio, ref = diarize_fixtures.conversation(diarize_fixtures.CONVERSATIONS["two"], tmp_path)
    write_wav(tmp_path / "two.wav", audio)
    wav = tmp_path / f"two_{rate}_{channels}.wav"
    subprocess.run(["sox", str(tmp_path / "two.wav"), "-r", str(rate), "-c", str(channels), str(wav)], check=True,
                   capture_output=True)
    segs, turns = diarize(binary, model_dir, wav, tmp_path)
    assert {s["speaker"] for s in segs} == {"SPEAKER_00", "SPEAKER_01"}
    assert {s for _, _, s in turns} == {"SPEAKER_00", "SPEAKER_01"}
    assert der(ref, turns, collar=0.5) <= 0.10, der(ref, turns, collar=0.5)


def post(srv, wav, *fields):
    from test_server import multipart
    body, ct = multipart([("model", "whisper-1"), *fields], [("file", "a.wav", wav.read_bytes())])
    status, _, out = srv.request("POST", "/v1/audio/transcriptions", body=body, headers={"Content-Type": ct},
                                 timeout=300)
    return status, json.loads(out)


def test_server_bad_weight_files(binary, model_dir, weights, test_data, tmp_path):
    import os
    data = weights.read_bytes()
    cases = {"truncated.bin": data[: len(data) // 3], "magic.bin": b"XMDZ" + data[4:64]}
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        srv = Server(binary, ["-m", model_dir, "--workers", "1"], env=dict(os.environ, AMANUENSIS_DIARIZE_MODEL=str(p)))
        try:
            status, out = post(srv, test_data / "jfk.wav", ("diarize", "true"))
            message = out["error"]["message"]
            assert status == 500 and str(p) in message and "\n" not in message, (name, status, out)
            status, out = post(srv, test_data / "jfk.wav")
            assert status == 200 and "country" in out["text"], (name, status, out)
        finally:
            assert srv.stop() == 0, srv.logtext()


def test_server_missing_weight_file(binary, model_dir, weights, test_data, tmp_path):
    import os
    p = tmp_path / "missing.bin"
    srv = Server(binary, ["-m", model_dir, "--workers", "1"], env=dict(os.environ, AMANUENSIS_DIARIZE_MODEL=str(p)))
    try:
        status, out = post(srv, test_data / "jfk.wav", ("diarize", "true"))
    finally:
        assert srv.stop() == 0, srv.logtext()
    assert status == 500 and str(p) in out["error"]["message"], (status, out)
    assert out["error"]["param"] != "file" and "decode the audio" not in out["error"]["message"], (status, out)


def test_server_loads_weights_once_and_again_when_replaced(binary, model_dir, weights, test_data, tmp_path):
    """The networks are loaded by the first diarized request and kept with the model: the second
    request does not read the file (zeros of the same size and time still give the same answer); a
    file replaced on disk (another size or time) is loaded again: a corrupt one then gives 500, the
    good one back answers again."""
    import os
    import shutil
    p = tmp_path / "diarization.bin"
    shutil.copyfile(weights, p)
    srv = Server(binary, ["-m", model_dir, "--workers", "2"], env=dict(os.environ, AMANUENSIS_DIARIZE_MODEL=str(p)))
    try:
        status, first = post(srv, test_data / "jfk.wav", ("diarize", "true"), ("response_format", "diarized_json"))
        assert status == 200 and first["segments"], first
        data = weights.read_bytes()
        st = p.stat()
        p.write_bytes(b"\0" * len(data))  # garbage of the same size, the same time set back: not read again
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        status, again = post(srv, test_data / "jfk.wav", ("diarize", "true"), ("response_format", "diarized_json"))
        assert status == 200 and again == first, (status, again)
        p.write_bytes(data[: len(data) // 2])  # replaced: loaded again, and refused
        status, out = post(srv, test_data / "jfk.wav", ("diarize", "true"))
        assert status == 500 and str(p) in out["error"]["message"], (status, out)
        p.write_bytes(data)
        os.utime(p, ns=(1, 10**18))  # a time the cached entry does not have
        status, back = post(srv, test_data / "jfk.wav", ("diarize", "true"), ("response_format", "diarized_json"))
        assert status == 200 and back == first, (status, back)
    finally:
        assert srv.stop() == 0, srv.logtext()
