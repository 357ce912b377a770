"""Speaker diarization in the transcript (issue 15): `amanuensis transcribe --diarize` with tiny.en.

- A two-voice conversation (diarize_fixtures.py: flite's slt and kal, pauses between turns): two
  speakers in the JSON segments and words, each word's speaker the voice that said it (mapped one to
  one), every segment one speaker, the JSON valid under schema/transcript.schema.json, srt and txt lines prefixed "[SPEAKER_0k] ", a valid RTTM named
  after the input; the same audio as stereo and at 8 kHz gives the same two speakers;
  --num-speakers 1 gives one, and so does --diarize-threshold 1.99 (every merge closer than that);
  --diarize-threshold outside (0, 2) is a one-line usage error.
- A one-voice recording (jfk.wav) gives one speaker.
- Missing and corrupt weight files: one line on stderr naming the file, exit status 1; -o rttm
  without --diarize is a usage error; without --diarize no output carries a speaker.
- The server: the official `openai` client gets response_format=diarized_json (OpenAI's
  TranscriptionDiarized) with both speakers; verbose_json with diarize=true carries speakers;
  diarize_threshold=1.99 gives one speaker, a bad diarize_threshold answers 400 naming it.
- The attaching of turns to words and segments (src/diarize/attach.c) on a described result
  (build/tools/write_result, no model): a segment is split where its words change speaker.
"""
import json
import os
import re
import subprocess
import wave

import numpy as np
import pytest

from conftest import REPO, run_am
import diarize_fixtures
from test_diarize import der, rttm_turns

WEIGHTS = REPO / "models" / "diarization" / "diarization.bin"
WRITE_RESULT = (
    REPO / "build" / "tools" / "write_result" if not os.environ.get("AM_BINARY")
    else __import__("pathlib").Path(os.environ["AM_BINARY"]).parent / "tools" / "write_result")
RTTM_LINE = re.compile(r"^SPEAKER (\S+) 1 (\d+\.\d{3}) (\d+\.\d{3}) <NA> <NA> (SPEAKER_\d\d) <NA> <NA>$")


@pytest.fixture(scope="module")
def weights():
    if not WEIGHTS.exists():
        subprocess.run([str(REPO / "scripts" / "fetch-model"), "diarization"], check=True)
    return WEIGHTS


def write_wav(path, x, rate=16000, channels=1):
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    if channels == 2:
        pcm = np.stack([pcm, pcm], axis=1).reshape(-1)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory):
    """(wav path, reference turns) of the "two" conversation, and its stereo and 8 kHz copies."""
    if not diarize_fixtures.available():
        pytest.fail("flite, espeak-ng and sox are needed (scripts/install-deps test)")
    d = tmp_path_factory.mktemp("diar_cli")
    audio, ref = diarize_fixtures.conversation(diarize_fixtures.CONVERSATIONS["two"], d)
    write_wav(d / "two.wav", audio)
    write_wav(d / "two_stereo.wav", audio, channels=2)
    subprocess.run(["sox", str(d / "two.wav"), "-r", "8000", str(d / "two_8k.wav")], check=True, capture_output=True)
    return d, ref


def transcribe(binary, model_dir, wav, out_dir, *args):
    return run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-q", "--output-dir", out_dir, *args, wav],
                  timeout=300)


def rttm_check(text, file_id):
    turns = []
    for line in text.splitlines():
        m = RTTM_LINE.match(line)
        assert m, line
        assert m.group(1) == file_id and float(m.group(3)) > 0
        turns.append((float(m.group(2)), float(m.group(2)) + float(m.group(3)), m.group(4)))
    assert turns == sorted(turns, key=lambda t: t[0])
    return turns


def test_two_voices(binary, model_dir, weights, two_voices, tmp_path):
    d, ref = two_voices
    r = transcribe(binary, model_dir, d / "two.wav", tmp_path, "--diarize", "--word-timestamps", "-o", "json",
                   "-o", "srt", "-o", "txt", "-o", "rttm")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "two.json").read_text())
    import jsonschema
    jsonschema.Draft202012Validator(json.loads((REPO / "schema" / "transcript.schema.json").read_text())).validate(res)
    segs = res["segments"]
    assert {s["speaker"] for s in segs} == {"SPEAKER_00", "SPEAKER_01"}
    words = [w for s in segs for w in s["words"]]
    assert all(w["speaker"] == s["speaker"] for s in segs for w in s["words"])  # split where it changes
    assert [s["id"] for s in segs] == list(range(len(segs)))
    # each word's speaker is the voice whose turn holds the word's middle, under one mapping
    pairs = []
    for w in words:
        mid = (w["start"] + w["end"]) / 2
        voice = [v for a, b, v in ref if a - 0.2 <= mid <= b + 0.2]
        if len(voice) == 1:
            pairs.append((voice[0], w["speaker"]))
    mapping = {v: max({s for vv, s in pairs if vv == v}, key=lambda s: pairs.count((v, s))) for v, _ in pairs}
    assert len(set(mapping.values())) == 2, mapping
    agree = sum(mapping[v] == s for v, s in pairs) / len(pairs)
    assert len(pairs) >= 0.8 * len(words) and agree >= 0.95, (agree, len(pairs), len(words))

    srt = (tmp_path / "two.srt").read_text()
    cues = [c.splitlines() for c in srt.strip().split("\n\n")]
    assert cues and all(re.match(r"^\[SPEAKER_0[01]\] \S", c[2]) for c in cues), srt
    txt = (tmp_path / "two.txt").read_text().splitlines()
    assert [t.split("] ", 1)[0] + "]" for t in txt] == [f"[{s['speaker']}]" for s in segs]

    hyp = rttm_check((tmp_path / "two.rttm").read_text(), "two")
    assert {s for _, _, s in hyp} == {"SPEAKER_00", "SPEAKER_01"}
    assert der(ref, hyp, collar=0.5) <= 0.05, der(ref, hyp, collar=0.5)


@pytest.mark.parametrize("variant", ["two_stereo", "two_8k"])
def test_stereo_and_8khz(binary, model_dir, weights, two_voices, tmp_path, variant):
    d, ref = two_voices
    r = transcribe(binary, model_dir, d / f"{variant}.wav", tmp_path, "--diarize", "-o", "rttm")
    assert r.returncode == 0, r.stderr
    hyp = rttm_check((tmp_path / f"{variant}.rttm").read_text(), variant)
    assert {s for _, _, s in hyp} == {"SPEAKER_00", "SPEAKER_01"}
    assert der(ref, hyp, collar=0.5) <= 0.10, der(ref, hyp, collar=0.5)


def test_num_speakers(binary, model_dir, weights, two_voices, tmp_path):
    d, _ = two_voices
    r = transcribe(binary, model_dir, d / "two.wav", tmp_path, "--num-speakers", "1", "-o", "json", "--stats")
    assert r.returncode == 0, r.stderr
    segs = json.loads((tmp_path / "two.json").read_text())["segments"]
    assert segs and {s["speaker"] for s in segs} == {"SPEAKER_00"}
    stats = dict(re.findall(r"^stats: (\w+) ([\d.]+)$", r.stderr, re.M))
    assert 0 < float(stats["diarize_seconds"]) < float(stats["wall_seconds"]), r.stderr


def test_diarize_threshold(binary, model_dir, weights, two_voices, tmp_path):
    d, _ = two_voices
    r = transcribe(binary, model_dir, d / "two.wav", tmp_path, "--diarize-threshold", "1.99", "-o", "json")
    assert r.returncode == 0, r.stderr
    segs = json.loads((tmp_path / "two.json").read_text())["segments"]
    assert segs and {s["speaker"] for s in segs} == {"SPEAKER_00"}


@pytest.mark.parametrize("value", ["0", "2", "-0.3", "nan", "0.5x", ""])
def test_diarize_threshold_bad(binary, model_dir, test_data, tmp_path, value):
    r = transcribe(binary, model_dir, test_data / "jfk.wav", tmp_path, "--diarize-threshold", value, "-o", "json")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "--diarize-threshold" in lines[0], r.stderr
    assert not (tmp_path / "jfk.json").exists()


def test_one_voice(binary, model_dir, weights, test_data, tmp_path):
    r = transcribe(binary, model_dir, test_data / "jfk.wav", tmp_path, "--diarize", "--word-timestamps",
                   "-o", "json", "-o", "rttm")
    assert r.returncode == 0, r.stderr
    segs = json.loads((tmp_path / "jfk.json").read_text())["segments"]
    assert {s["speaker"] for s in segs} == {"SPEAKER_00"}
    assert {w["speaker"] for s in segs for w in s["words"]} == {"SPEAKER_00"}
    assert {s for _, _, s in rttm_check((tmp_path / "jfk.rttm").read_text(), "jfk")} == {"SPEAKER_00"}


def test_without_diarize(binary, model_dir, test_data, tmp_path):
    r = transcribe(binary, model_dir, test_data / "jfk.wav", tmp_path, "--word-timestamps", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert '"speaker"' not in (tmp_path / "jfk.json").read_text()
    r = transcribe(binary, model_dir, test_data / "jfk.wav", tmp_path, "-o", "rttm")
    assert r.returncode == 2 and "-o rttm needs --diarize" in r.stderr


def test_bad_weight_files(binary, model_dir, weights, test_data, tmp_path):
    data = weights.read_bytes()
    cases = {"truncated.bin": data[: len(data) // 3], "magic.bin": b"XMDZ" + data[4:64], "empty.bin": b""}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    for name in list(cases) + ["missing.bin"]:
        p = tmp_path / name
        r = transcribe(binary, model_dir, test_data / "jfk.wav", tmp_path, "--diarize-model", p, "-o", "json")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and str(p) in lines[0], (name, r.stderr)
        assert not (tmp_path / "jfk.json").exists()


def describe(lines):
    return "".join(line + "\n" for line in lines)


def hexs(s):
    return s.encode().hex() or "-"


def test_attach_splits_segments_at_speaker_changes():
    """Turns attached to a described result: words by most overlap (" Only": the nearest turn, in a gap),
    segments split where the words' speaker changes, a segment without words by overlap."""
    if not os.access(WRITE_RESULT, os.X_OK):
        pytest.fail(f"{WRITE_RESULT} is not built (make tools)")
    desc = describe([
        "D 10", f"S 0.0 4.0 {hexs(' Hello there. Hi you.')}",
        f"W 0.0 1.0 0.9 {hexs(' Hello')}", f"W 1.0 1.9 0.9 {hexs(' there.')}",
        f"W 2.1 3.0 0.9 {hexs(' Hi')}", f"W 3.0 4.0 0.9 {hexs(' you.')}",
        f"S 4.0 9.0 {hexs(' Only one.')}", f"W 4.6 5.2 0.9 {hexs(' Only')}", f"W 7.6 9.0 0.9 {hexs(' one.')}",
        "T 0.0 2.0 0", "T 2.0 4.5 1", "T 5.5 7.0 1", "T 8.0 9.0 0",
    ])
    r = subprocess.run([str(WRITE_RESULT), "json"], input=desc, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    segs = json.loads(r.stdout)["segments"]
    assert [(s["id"], s["start"], s["end"], s["text"], s["speaker"]) for s in segs] == [
        (0, 0.0, 1.9, " Hello there.", "SPEAKER_00"), (1, 2.1, 4.0, " Hi you.", "SPEAKER_01"),
        (2, 4.0, 5.2, " Only", "SPEAKER_01"), (3, 7.6, 9.0, " one.", "SPEAKER_00")]
    assert [w["speaker"] for s in segs for w in s["words"]] == ["SPEAKER_00"] * 2 + ["SPEAKER_01"] * 3 + ["SPEAKER_00"]
    r = subprocess.run([str(WRITE_RESULT), "rttm"], input=desc, capture_output=True, text=True)
    assert r.stdout.splitlines() == [
        "SPEAKER audio 1 0.000 2.000 <NA> <NA> SPEAKER_00 <NA> <NA>",
        "SPEAKER audio 1 2.000 2.500 <NA> <NA> SPEAKER_01 <NA> <NA>",
        "SPEAKER audio 1 5.500 1.500 <NA> <NA> SPEAKER_01 <NA> <NA>",
        "SPEAKER audio 1 8.000 1.000 <NA> <NA> SPEAKER_00 <NA> <NA>"]
    # without words: the segment's own overlap (2.1 s of SPEAKER_01 against 2.0 s of SPEAKER_00)
    r = subprocess.run([str(WRITE_RESULT), "txt"], input=describe(["S 0.0 4.1 " + hexs(" All of it."),
                                                                    "T 0.0 2.0 0", "T 2.0 4.5 1"]),
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "[SPEAKER_01] All of it.\n", r.stdout


# ---- the server: response_format=diarized_json and diarize=true --------------------------------

def test_server_diarized_json(binary, model_dir, weights, two_voices):
    """The official client gets OpenAI's diarized_json (TranscriptionDiarized) with both speakers;
    verbose_json with diarize=true carries "speaker" on segments and words; stream=true refuses."""
    openai = pytest.importorskip("openai")
    from conftest import Server
    from test_server import multipart
    d, ref = two_voices
    srv = Server(binary, ["-m", model_dir, "--workers", "1"])
    try:
        client = openai.OpenAI(base_url=srv.base + "/v1", api_key="unused", max_retries=0, timeout=300)
        with open(d / "two.wav", "rb") as f:
            r = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="diarized_json")
        with wave.open(str(d / "two.wav"), "rb") as w:
            seconds = w.getnframes() / w.getframerate()
        assert r.task == "transcribe" and abs(r.duration - seconds) < 0.01
        assert r.segments and {s.speaker for s in r.segments} == {"SPEAKER_00", "SPEAKER_01"}
        assert [s.id for s in r.segments] == [f"seg_{i}" for i in range(len(r.segments))]
        assert all(s.type == "transcript.text.segment" and s.text and s.start <= s.end for s in r.segments)
        assert r.text and r.segments[0].text in r.text
        assert der(ref, [(s.start, s.end, s.speaker) for s in r.segments], collar=0.5) <= 0.15

        body, ct = multipart([("model", "whisper-1"), ("response_format", "verbose_json"), ("diarize", "true"),
                              ("timestamp_granularities[]", "word"), ("timestamp_granularities[]", "segment")],
                             [("file", "a.wav", (d / "two.wav").read_bytes())])
        status, _, out = srv.request("POST", "/v1/audio/transcriptions", body=body,
                                     headers={"Content-Type": ct}, timeout=300)
        assert status == 200, out
        v = json.loads(out)
        assert {s["speaker"] for s in v["segments"]} == {"SPEAKER_00", "SPEAKER_01"}
        assert v["words"] and {w["speaker"] for w in v["words"]} == {"SPEAKER_00", "SPEAKER_01"}

        body, ct = multipart([("model", "whisper-1"), ("response_format", "verbose_json"),
                              ("diarize_threshold", "1.99")], [("file", "a.wav", (d / "two.wav").read_bytes())])
        status, _, out = srv.request("POST", "/v1/audio/transcriptions", body=body,
                                     headers={"Content-Type": ct}, timeout=300)
        assert status == 200, out
        assert {s["speaker"] for s in json.loads(out)["segments"]} == {"SPEAKER_00"}
        for bad in ("0", "2", "x", ""):
            body, ct = multipart([("model", "whisper-1"), ("diarize_threshold", bad)],
                                 [("file", "a.wav", (d / "two.wav").read_bytes())])
            status, _, out = srv.request("POST", "/v1/audio/transcriptions", body=body, headers={"Content-Type": ct})
            assert status == 400 and json.loads(out)["error"]["param"] == "diarize_threshold", (bad, out)

        body, ct = multipart([("model", "whisper-1"), ("response_format", "diarized_json"), ("stream", "true")],
                             [("file", "a.wav", (d / "two.wav").read_bytes())])
        status, _, out = srv.request("POST", "/v1/audio/transcriptions", body=body, headers={"Content-Type": ct})
        assert status == 400 and json.loads(out)["error"]["param"] == "stream", out
    finally:
        assert srv.stop() == 0, srv.logtext()
