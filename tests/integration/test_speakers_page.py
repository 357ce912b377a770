"""The web page's speakers (issue 15, acceptance 4): headless Chromium (tests/browser/test_speakers.mjs)
ticks "Speakers" on the server's page and uploads a two-voice conversation (diarize_fixtures.py: flite's
slt and kal with pauses); the page shows every segment with a speaker label, one colour per speaker,
two different colours, labels readable on them (contrast >= 4.5:1), a legend, and a .txt download
prefixed with the speakers.  Here the segments as shown are compared with the voices: two speakers,
a diarization error rate (test_diarize.der, 0.5 s collar) of at most 15% as the server's diarized_json
test allows.  Skipped without node and chromium (scripts/install-deps test) or without the
diarization weights (scripts/fetch-model diarization; `make test` fetches them)."""
import json
import os
import subprocess
import wave

import numpy as np
import pytest

from conftest import BROWSER_DIR, REPO, Server
import diarize_fixtures
from test_diarize import der

WEIGHTS = REPO / "models" / "diarization" / "diarization.bin"


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory):
    if not WEIGHTS.exists():
        pytest.skip(f"{WEIGHTS} is absent (scripts/fetch-model diarization)")
    if not diarize_fixtures.available():
        pytest.fail("flite, espeak-ng and sox are needed (scripts/install-deps test)")
    d = tmp_path_factory.mktemp("speakers_page")
    audio, ref = diarize_fixtures.conversation(diarize_fixtures.CONVERSATIONS["two"], d)
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(d / "two.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(pcm.tobytes())
    return d / "two.wav", ref


def test_page_colours_speakers(binary, model_dir, browser, two_voices):
    node, chromium = browser
    wav, ref = two_voices
    srv = Server(binary, ["-m", model_dir, "--workers", "1"])
    try:
        r = subprocess.run([node, str(BROWSER_DIR / "test_speakers.mjs"), srv.base, str(wav)],
                           capture_output=True, text=True, timeout=400, cwd=BROWSER_DIR,
                           env=dict(os.environ, AM_CHROMIUM=chromium))
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        line = [x for x in r.stdout.splitlines() if x.startswith("speakers ok: ")]
        assert line, r.stdout[-3000:]
        shown = json.loads(line[0][len("speakers ok: "):])
    finally:
        assert srv.stop() == 0, srv.logtext()
    assert {s["speaker"] for s in shown} == {"SPEAKER_00", "SPEAKER_01"}
    assert len({s["colour"] for s in shown}) == 2
    assert all(s["start"] <= s["end"] for s in shown)
    hyp = [(s["start"], s["end"], s["speaker"]) for s in shown]
    assert der(ref, hyp, collar=0.5) <= 0.15, der(ref, hyp, collar=0.5)
