"""The command-line interface: output files, model lookup by name, usage errors."""
import json
import os
import re

import pytest

from conftest import REPO, run_am
from textnorm import normalize

LINE = re.compile(r"^\[(\d\d:)?\d\d:\d\d\.\d{3} --> (\d\d:)?\d\d:\d\d\.\d{3}\]  \S")
JFK = "ask not what your country can do for you"


@pytest.fixture(scope="module")
def jfk_run(binary, model_dir, test_data, session_tmp):
    outdir = session_tmp / "cli-out"
    outdir.mkdir(exist_ok=True)
    r = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-o", "txt", "-o", "srt", "-o", "vtt",
                        "-o", "json", "--output-dir", outdir, test_data / "jfk.wav"], check=True)
    return r, outdir


def test_stdout_lines(jfk_run):
    r, _ = jfk_run
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines, "nothing printed on stdout"
    for ln in lines:
        assert LINE.match(ln), f"unexpected stdout line: {ln!r}"
    assert JFK in normalize(r.stdout)


def test_output_files(jfk_run):
    _, outdir = jfk_run
    names = sorted(p.name for p in outdir.iterdir())
    assert names == ["jfk.json", "jfk.srt", "jfk.txt", "jfk.vtt"]
    txt = (outdir / "jfk.txt").read_text(encoding="utf-8")
    assert JFK in normalize(txt)
    srt = (outdir / "jfk.srt").read_text(encoding="utf-8")
    assert re.match(r"^1\r?\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\r?\n\S", srt), srt[:200]
    assert JFK in normalize(srt)
    vtt = (outdir / "jfk.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT")
    assert re.search(r"^(\d\d:)?\d\d:\d\d\.\d{3} --> (\d\d:)?\d\d:\d\d\.\d{3}", vtt, re.M), vtt[:200]
    js = json.loads((outdir / "jfk.json").read_text(encoding="utf-8"))
    for key in ("text", "language", "duration", "segments"):
        assert key in js, key
    assert js["language"] == "en"
    assert abs(js["duration"] - 11.0) < 0.05
    assert JFK in normalize(js["text"])
    assert js["segments"]
    prev_end = 0.0
    for i, s in enumerate(js["segments"]):
        for key in ("id", "seek", "start", "end", "text", "tokens", "avg_logprob", "compression_ratio",
                    "no_speech_prob", "temperature"):
            assert key in s, (i, key)
        # consecutive ids from 0, as openai-whisper (a regression test: ids once started at 1)
        assert s["id"] == i
        assert 0.0 <= s["start"] <= s["end"] <= 11.0 + 1e-6
        assert s["start"] >= prev_end - 1e-6
        prev_end = s["end"]
        assert all(isinstance(t, int) for t in s["tokens"]) and s["tokens"]
        assert s["avg_logprob"] <= 0.0 and 0.0 <= s["no_speech_prob"] <= 1.0


def _write_silence(path, seconds=1.0):
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * int(16000 * seconds))


def test_output_dir_created(binary, model_dir, tmp_path):
    """--output-dir new/sub/ is created with its parents when missing (openai-whisper's
    os.makedirs); a regression test: it was an error."""
    wav = tmp_path / "quiet.wav"
    _write_silence(wav)
    out = tmp_path / "new" / "sub"
    run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-q", "-o", "txt", "-o", "json",
                    "--output-dir", f"{out}/", wav], check=True)
    assert sorted(p.name for p in out.iterdir()) == ["quiet.json", "quiet.txt"]
    assert json.loads((out / "quiet.json").read_text(encoding="utf-8"))["duration"] == pytest.approx(1.0, abs=0.01)
    # an existing folder is fine too
    run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-q", "-o", "txt", "--output-dir", out, wav],
           check=True)


def test_output_dir_cannot_be_created(binary, model_dir, tmp_path):
    wav = tmp_path / "quiet.wav"
    _write_silence(wav, 0.5)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for bad in (blocker / "sub", blocker):
        r = run_am(binary, ["transcribe", "-m", model_dir, "-q", "-o", "txt", "--output-dir", bad, wav])
        assert r.returncode == 1, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("amanuensis: ") and str(bad) in lines[0], r.stderr
        assert "Not a directory" in lines[0] or "not a directory" in lines[0].lower()
    assert blocker.read_text() == "not a folder"


def test_model_by_name_via_env(binary, model_dir, test_data, session_tmp):
    """-m tiny.en is looked up in $AMANUENSIS_MODELS (run from a folder without ./models)."""
    cwd = session_tmp / "elsewhere"
    cwd.mkdir(exist_ok=True)
    env = dict(os.environ, AMANUENSIS_MODELS=str(model_dir.parent))
    r = run_am(binary, ["transcribe", "-m", "tiny.en", "-t", "2", test_data / "jfk.wav"], env=env, cwd=cwd,
               check=True)
    assert JFK in normalize(r.stdout)


def test_unknown_model_name(binary, test_data, session_tmp):
    cwd = session_tmp / "elsewhere2"
    cwd.mkdir(exist_ok=True)
    env = dict(os.environ, AMANUENSIS_MODELS=str(session_tmp / "no-models-here"))
    r = run_am(binary, ["transcribe", "-m", "no-such-model", test_data / "jfk.wav"], env=env, cwd=cwd)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("amanuensis: ")


def test_without_timestamps(binary, model_dir, test_data):
    r = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "--without-timestamps",
                        "--no-condition-on-previous-text", test_data / "jfk.wav"], check=True)
    assert JFK in normalize(r.stdout)


@pytest.mark.parametrize("args", [
    [],
    ["no-such-command"],
    ["transcribe"],
    ["transcribe", "-m", "models/tiny.en"],
    ["transcribe", "--bogus-option", "-m", "models/tiny.en", "x.wav"],
    ["transcribe", "-m", "models/tiny.en", "-o", "xml", "x.wav"],
    ["transcribe", "-m", "models/tiny.en", "-t", "abc", "x.wav"],
    ["transcribe", "-m", "models/tiny.en", "--temperature", "hot", "x.wav"],
    ["transcribe", "-m"],
], ids=["no-args", "unknown-command", "no-files", "no-files-with-model", "unknown-option", "bad-format",
        "bad-threads", "bad-temperature", "missing-value"])
def test_usage_errors(args, binary):
    r = run_am(binary, args, cwd=REPO)
    assert r.returncode == 2, f"{args}: exit {r.returncode}, stderr {r.stderr!r}"
    assert r.stderr.strip(), "usage errors must say something on stderr"
    assert "amanuensis" in r.stderr


def test_info_lists_backends(binary, model_dir):
    r = run_am(binary, ["info"], check=True)
    assert r.stdout.startswith("backends:\n")
    assert re.search(r"^  cpu: 1 device\n    0: \d+ threads, int8 kernels ", r.stdout, re.M), r.stdout
    r = run_am(binary, ["info", "-m", model_dir, "--backend", "cpu"], check=True)
    assert "\nbackend cpu\n" in r.stdout and "\nprecision int8\n" in r.stdout


def test_unknown_backend_or_device(binary, model_dir, test_data, session_tmp):
    for args, words in ((["--backend", "nope"], ["unknown backend 'nope'", "cpu"]),
                        (["--backend", "cpu", "--device", "3"], ["backend cpu", "device"])):
        r = run_am(binary, ["transcribe", "-m", model_dir] + args + [test_data / "jfk.wav"])
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("amanuensis: "), r.stderr
        assert all(w in lines[0] for w in words), lines[0]
    out = session_tmp / "backend-auto"
    run_am(binary, ["transcribe", "-m", model_dir, "--backend", "auto", "-q", "-o", "txt", "--output-dir", out,
                    test_data / "jfk.wav"], check=True)
    assert "ask not what your country" in (out / "jfk.txt").read_text()
