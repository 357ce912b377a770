"""`amanuensis stream`: live transcription from the command line (src/cli/stream.c over am_stream_*).

The jsonl events' schema, two --speed max runs giving the same bytes, committed text never retracted
or repeated, samples fed == samples processed, the final text of jfk.wav close to the offline
transcript, raw s16le on standard input at 8 kHz (the same events as the 8 kHz WAV file) and 48 kHz,
-o srt, SIGINT, and usage errors.
"""
import json
import os
import re
import signal
import subprocess
import time
import wave

import pytest

from conftest import REPO, run_am, sanitizer_env
from textnorm import normalize, word_errors

STATS = re.compile(r"stream: samples fed (\d+), processed (\d+); audio ([\d.]+) s, compute ([\d.]+) s")
TIME3 = re.compile(r'"(start|end|emitted_at)": -?\d+\.\d{3}[,}]')
# the Silero weights wherever the binary and the working folder are (-o runs in a temporary folder)
ENV = dict(os.environ, AMANUENSIS_VAD_MODEL=str(REPO / "data" / "silero-vad-v6.2.0-ggml.bin"))


def stream_args(model_dir, *extra):
    return ["stream", "-m", model_dir, "-t", "2", "--speed", "max", "--output", "jsonl", "--stats"] + list(extra)


def events(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def final_text(evs):
    return "".join(e["text"] for e in evs if e["type"] == "final")


def stats(stderr):
    m = STATS.search(stderr)
    assert m, f"no stats line in stderr:\n{stderr[-2000:]}"
    return int(m.group(1)), int(m.group(2)), float(m.group(3))


def resampled(test_data, tmp, rate):
    """jfk.wav at `rate` (sox without dither) as a WAV file and as its raw s16le frames."""
    wav = tmp / f"jfk_{rate}.wav"
    if not wav.exists():
        subprocess.run(["sox", "-D", str(test_data / "jfk.wav"), "-r", str(rate), str(wav)], check=True)
    with wave.open(str(wav)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == rate
        raw = w.readframes(w.getnframes())
    return wav, raw


def run_stdin(binary, args, data, timeout=300):
    return subprocess.run([str(binary)] + [str(a) for a in args], input=data, capture_output=True,
                          env=sanitizer_env(ENV), timeout=timeout)


@pytest.fixture(scope="module")
def jfk_stream(binary, model_dir, test_data, session_tmp):
    """Two --speed max runs of jfk.wav (the first also writes -o srt and -o json)."""
    out = session_tmp / "stream-out"
    out.mkdir(exist_ok=True)
    a = run_am(binary, stream_args(model_dir, "-o", "srt", "-o", "json", test_data / "jfk.wav"), env=ENV, cwd=out,
               check=True)
    b = run_am(binary, stream_args(model_dir, test_data / "jfk.wav"), env=ENV, check=True)
    return a, b, out


@pytest.fixture(scope="module")
def jfk_offline(binary, model_dir, test_data):
    """The offline greedy transcript (stdout's "[a --> b]  text" lines)."""
    r = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "--beam-size", "1", test_data / "jfk.wav"],
               check=True)
    return " ".join(line.split("]  ", 1)[1] for line in r.stdout.splitlines() if "]  " in line)


def test_jsonl_schema(jfk_stream):
    a, _, _ = jfk_stream
    lines = a.stdout.splitlines()
    assert lines, "no events"
    kinds = set()
    last_emitted = 0.0
    for line in lines:
        e = json.loads(line)
        kinds.add(e["type"])
        assert e["type"] in ("partial", "final", "speech_start", "speech_end"), line
        assert isinstance(e["text"], str)
        assert list(e)[:5] == ["type", "text", "start", "end", "emitted_at"], line
        assert len(TIME3.findall(line)) == 3 + 2 * len(e.get("words", [])), f"times not in seconds.3f: {line}"
        assert 0.0 <= e["start"] <= e["end"] <= 11.0 + 1e-3, line
        assert e["emitted_at"] >= last_emitted, "emitted_at went back"
        last_emitted = e["emitted_at"]
        assert "compute" not in e, "compute is only written with --timing"
        if e["type"] == "final":
            assert e["words"], line
            assert "".join(w["word"] for w in e["words"]) == e["text"], line
            for w in e["words"]:
                assert set(w) == {"word", "start", "end", "probability"}
                assert e["start"] - 1e-3 <= w["start"] <= w["end"] <= e["end"] + 1e-3, line
                assert 0.0 <= w["probability"] <= 1.0
            assert e["emitted_at"] + 1e-3 >= e["end"], f"a word committed before it was heard: {line}"
        else:
            assert "words" not in e, line
    assert {"partial", "final", "speech_start", "speech_end"} <= kinds


def test_two_max_runs_identical(jfk_stream):
    a, b, _ = jfk_stream
    assert a.stdout == b.stdout


def test_committed_text_never_retracted(jfk_stream):
    """Every event: a final starts where the committed text ends (nothing re-committed or taken
    back), a partial lies after it; the -o json result is the finals' text."""
    a, _, out = jfk_stream
    committed_end = 0.0
    committed = ""
    for e in events(a.stdout):
        if e["type"] == "final":
            # word times come from separate alignments: a few tens of ms of overlap are not a repeat
            assert e["words"][0]["start"] >= committed_end - 0.1, f"final overlaps committed words: {e}"
            committed += e["text"]
            committed_end = e["words"][-1]["end"]
        elif e["type"] == "partial" and e["text"]:
            assert e["start"] >= committed_end - 0.1, f"partial before the committed end: {e}"
    result = json.loads((out / "jfk.json").read_text())
    assert result["text"] == committed


def test_fed_equals_processed(jfk_stream):
    a, _, _ = jfk_stream
    fed, processed, audio = stats(a.stderr)
    assert fed == processed == 11 * 16000
    assert audio == pytest.approx(11.0)


def test_final_text_close_to_offline(jfk_stream, jfk_offline):
    a, _, _ = jfk_stream
    errors, n = word_errors(jfk_offline, final_text(events(a.stdout)))
    assert n >= 20
    assert errors <= 2, (jfk_offline, final_text(events(a.stdout)))


def test_srt_output(jfk_stream):
    a, _, out = jfk_stream
    srt = (out / "jfk.srt").read_text()
    cues = [c for c in srt.strip().split("\n\n") if c]
    assert cues
    for i, cue in enumerate(cues, 1):
        lines = cue.splitlines()
        assert lines[0] == str(i)
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", lines[1]), cue
    text = " ".join(" ".join(c.splitlines()[2:]) for c in cues)
    assert normalize(text) == normalize(final_text(events(a.stdout)))


def test_text_output(binary, model_dir, test_data, jfk_stream):
    """--output text: not a terminal, the committed text as lines; on a terminal (a pty) the partial
    is drawn after it and rewritten in place, and the lines end up the same."""
    a, _, _ = jfk_stream
    committed = normalize(final_text(events(a.stdout)))
    r = run_am(binary, ["stream", "-m", model_dir, "-t", "2", "--speed", "max", test_data / "jfk.wav"], env=ENV,
               check=True)
    assert "\r" not in r.stdout and "\033" not in r.stdout
    assert normalize(r.stdout) == committed
    assert len(r.stdout.splitlines()) >= 2  # sentences end lines
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([str(binary), "stream", "-m", str(model_dir), "-t", "2", "--speed", "max",
                          str(test_data / "jfk.wav")], stdout=slave, stderr=subprocess.PIPE, env=sanitizer_env(ENV))
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    assert p.wait(timeout=120) == 0, p.stderr.read()
    tty = raw.decode(errors="replace").replace("\r\n", "\n")  # the terminal's own CR before each LF
    assert "\r\033[2K" in tty and "\033[2m" in tty  # rewritten in place, the partial dimmed
    shown = [re.sub(r"\033\[[0-9;]*[A-Za-z]", "", line.rsplit("\r", 1)[-1]) for line in tty.split("\n")]
    assert normalize(" ".join(shown)) == committed


def test_alignatt_policy(binary, model_dir, test_data, jfk_offline):
    r = run_am(binary, stream_args(model_dir, "--policy", "alignatt", test_data / "jfk.wav"), env=ENV, check=True)
    evs = events(r.stdout)
    fed, processed, _ = stats(r.stderr)
    assert fed == processed == 11 * 16000
    errors, _ = word_errors(jfk_offline, final_text(evs))
    assert errors <= 3, final_text(evs)


def test_raw_s16le_stdin_8k(binary, model_dir, test_data, session_tmp, jfk_offline):
    """Raw 8 kHz PCM resampled block by block gives the samples, so the events, of the WAV file."""
    wav, raw = resampled(test_data, session_tmp, 8000)
    r = run_stdin(binary, stream_args(model_dir, "--format", "s16le", "--rate", "8000", "-"), raw)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    f = run_am(binary, stream_args(model_dir, wav), env=ENV, check=True)
    assert r.stdout.decode() == f.stdout
    fed, processed, _ = stats(r.stderr.decode())
    assert fed == processed == 2 * (len(raw) // 2)
    errors, _ = word_errors(jfk_offline, final_text(events(f.stdout)))
    assert errors <= 3


def test_raw_s16le_stdin_48k(binary, model_dir, test_data, session_tmp, jfk_offline):
    _, raw = resampled(test_data, session_tmp, 48000)
    r = run_stdin(binary, stream_args(model_dir, "--format", "s16le", "--rate", "48000", "--step", "2", "-"), raw)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    fed, processed, _ = stats(r.stderr.decode())
    assert fed == processed == -(-(len(raw) // 2) // 3)  # ceil(n / 3): the resampler's length
    errors, _ = word_errors(jfk_offline, final_text(events(r.stdout.decode())))
    assert errors <= 3


def test_sigint_finishes_and_writes(binary, model_dir, test_data, tmp_path):
    """SIGINT during a realtime run: the rest is committed, -o written, exit 0."""
    p = subprocess.Popen([str(binary), "stream", "-m", str(model_dir), "-t", "2", "--output", "jsonl", "--stats",
                          "-o", "txt", "--output-file", str(tmp_path / "out.txt"), str(test_data / "jfk.wav")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sanitizer_env(ENV))
    time.sleep(4)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    fed, processed, audio = stats(err)
    assert fed == processed and 0 < audio < 11.0
    evs = events(out)
    assert evs and evs[-1]["emitted_at"] == pytest.approx(audio, abs=1e-3)
    assert normalize((tmp_path / "out.txt").read_text()) == normalize(final_text(evs))


@pytest.mark.parametrize("args", [
    ["--format", "s24", "-"],
    ["--format", "s16le", "-"],          # no --rate
    ["--step", "0", "x.wav"],
    ["--speed", "fast", "x.wav"],
    ["--output", "xml", "x.wav"],
    ["-o", "docx", "x.wav"],
    ["/nonexistent/missing.wav"],
    ["--mic", "x.wav"],
    ["--policy", "greedy", "x.wav"],
])
def test_bad_input(args, checked_binary, model_dir):
    """One line on stderr, nothing on stdout, a non-zero exit; --mic without a device (or without
    libavdevice in this build) is one line too."""
    r = run_am(checked_binary, ["stream", "-m", model_dir] + args)
    assert r.returncode in (1, 2), r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amanuensis: "), r.stderr
    assert r.stdout == ""


def test_undecodable_stdin(checked_binary, model_dir):
    r = run_stdin(checked_binary, ["stream", "-m", model_dir, "-"], b"\x01\x02 not audio " * 100)
    assert r.returncode == 1
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("amanuensis: stdin: "), lines


def test_no_word_repeated_at_tiny_trims(binary, model_dir, test_data, jfk_offline):
    """A 2 s trim length and a 4 s cap (no VAD) cut the buffer many times in jfk.wav's 11 s: no
    final starts by repeating the words that ended the committed text, and the committed text
    stays close to the offline one."""
    r = run_am(binary, stream_args(model_dir, "--vad", "off", "--trim", "2", "--max-buffer", "4",
                                   test_data / "jfk.wav"), env=ENV, check=True)
    evs = events(r.stdout)
    committed = []
    for e in evs:
        if e["type"] != "final":
            continue
        new = normalize(e["text"]).split()
        for k in (1, 2, 3):
            if len(committed) >= k and len(new) >= k:
                assert committed[-k:] != new[:k], f"repeated at a trim: {committed[-k:]} then {e['text']!r}"
        committed += new
    errors, n = word_errors(jfk_offline, " ".join(committed))
    assert errors <= 4, (jfk_offline, " ".join(committed))
    fed, processed, _ = stats(r.stderr)
    assert fed == processed


def test_bad_buffer_lengths(checked_binary, model_dir, test_data):
    for args in (["--max-buffer", "40"], ["--trim", "0.5"], ["--trim", "20", "--max-buffer", "10"]):
        r = run_am(checked_binary, ["stream", "-m", model_dir] + args + [test_data / "jfk.wav"], env=ENV)
        assert r.returncode == 1, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "stream" in lines[0], r.stderr
