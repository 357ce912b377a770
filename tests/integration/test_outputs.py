"""Output formats end to end (-o all: txt, srt, vtt, tsv, json).

- the CLI writes every format for samples/jfk.wav; srt and vtt are read back by a real parser
  (ffmpeg): no errors, and the cues ffmpeg reads are the cues we wrote; the json validates against
  schema/transcript.schema.json (jsonschema, draft 2020-12); tsv agrees with the json;
- build/tools/write_result (the library's writers on a described result, no model) matches
  tests/tools/subtitle_ref.py — a transcription of openai-whisper's SubtitlesWriter — byte for byte
  on random results with words and random --max-line-width/--max-line-count/--max-words-per-line/
  --highlight-words;
- non-ASCII text, including CJK characters whose bytes are split across tokens and words, comes out
  as valid UTF-8 in every format and still parses (ffmpeg, json schema).
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_am

sys.path.insert(0, str(REPO / "tests" / "tools"))
import subtitle_ref  # noqa: E402

SCHEMA = REPO / "schema" / "transcript.schema.json"
TOOL = Path(os.environ.get("AM_WRITE_RESULT") or REPO / "build" / "tools" / "write_result")  # env: e.g. the ASan build
FORMATS = ("txt", "srt", "vtt", "tsv", "json")


def _ffmpeg():
    exe = shutil.which("ffmpeg")
    if not exe:
        pytest.fail("ffmpeg is not installed: run scripts/install-deps test")
    return exe


def _validator():
    try:
        import jsonschema
    except ImportError:
        pytest.fail("the jsonschema package is not installed: run scripts/install-deps test")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _tool():
    if not TOOL.exists():
        pytest.fail(f"{TOOL} is not built: run `make all`")
    return TOOL


def _ms(ts):
    """'[hh:]mm:ss.mmm' or 'hh:mm:ss,mmm' -> milliseconds."""
    parts = re.split(r"[:.,]", ts)
    parts = [int(p) for p in parts]
    if len(parts) == 3:
        parts = [0] + parts
    h, m, s, ms = parts
    return ((h * 60 + m) * 60 + s) * 1000 + ms


CUE_TIME = re.compile(r"^((?:\d+:)?\d\d:\d\d[.,]\d{3}) --> ((?:\d+:)?\d\d:\d\d[.,]\d{3})$")


def parse_cues(data):
    """Our srt/vtt (or ffmpeg's srt) -> [(start_ms, end_ms, text)]; strict about the layout."""
    lines = data.split("\n")
    i = 0
    if lines and lines[0] == "WEBVTT":
        assert lines[1] == "", "WEBVTT must be followed by a blank line"
        i = 2
    cues = []
    while i < len(lines):
        if lines[i] == "":
            i += 1
            continue
        if lines[i].isdigit():
            assert int(lines[i]) == len(cues) + 1, f"cue number {lines[i]} out of order"
            i += 1
        m = CUE_TIME.match(lines[i])
        assert m, f"not a cue timing line: {lines[i]!r}"
        i += 1
        text = []
        while i < len(lines) and lines[i] != "":
            text.append(lines[i])
            i += 1
        cues.append((_ms(m.group(1)), _ms(m.group(2)), "\n".join(text)))
    return cues


def ffmpeg_read(path):
    """Have ffmpeg parse a subtitle file: it must succeed without a message; returns the cues it
    read (re-encoded as srt)."""
    ff = _ffmpeg()
    r = subprocess.run([ff, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:s", "-c:s", "ass", "-f", "null",
                        "-"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", f"ffmpeg could not parse {path}:\n{r.stderr}"
    r = subprocess.run([ff, "-nostdin", "-v", "error", "-i", str(path), "-f", "srt", "-"], capture_output=True,
                       timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == b"", f"ffmpeg could not convert {path}:\n{r.stderr!r}"
    return parse_cues(r.stdout.decode("utf-8").replace("\r\n", "\n"))


def assert_ffmpeg_reads_same(path):
    ours = parse_cues(path.read_bytes().decode("utf-8"))
    theirs = ffmpeg_read(path)
    assert theirs == ours, f"ffmpeg read other cues from {path}:\nours:   {ours}\nffmpeg: {theirs}"
    return ours


# ---- the CLI on jfk.wav, -o all ---------------------------------------------------------------

@pytest.fixture(scope="module")
def all_outputs(binary, model_dir, session_tmp):
    outdir = session_tmp / "outputs-all"
    outdir.mkdir(exist_ok=True)
    run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-q", "-o", "all", "--output-dir", outdir,
                    REPO / "samples" / "jfk.wav"], check=True)
    return outdir


def test_all_writes_every_format(all_outputs):
    names = sorted(p.name for p in all_outputs.iterdir())
    assert names == sorted(f"jfk.{f}" for f in FORMATS)
    for f in FORMATS:
        data = (all_outputs / f"jfk.{f}").read_bytes()
        data.decode("utf-8")  # strict: raises on invalid UTF-8
        assert data.endswith(b"\n"), f


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_parse_with_ffmpeg(all_outputs, fmt):
    cues = assert_ffmpeg_reads_same(all_outputs / f"jfk.{fmt}")
    assert cues
    js = json.loads((all_outputs / "jfk.json").read_text(encoding="utf-8"))
    assert [c[2] for c in cues] == [s["text"].strip() for s in js["segments"]]
    assert [(c[0], c[1]) for c in cues] == [(round(s["start"] * 1000), round(s["end"] * 1000)) for s in js["segments"]]


def test_json_validates_against_schema(all_outputs):
    doc = json.loads((all_outputs / "jfk.json").read_text(encoding="utf-8"))
    _validator().validate(doc)
    assert doc["segments"]
    assert "words" not in doc["segments"][0]  # no word timestamps asked for


def test_tsv_agrees_with_json(all_outputs):
    lines = (all_outputs / "jfk.tsv").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "start\tend\ttext"
    assert lines[-1] == ""
    rows = [ln.split("\t") for ln in lines[1:-1]]
    js = json.loads((all_outputs / "jfk.json").read_text(encoding="utf-8"))
    assert len(rows) == len(js["segments"])
    for row, seg in zip(rows, js["segments"]):
        assert len(row) == 3, row
        assert re.fullmatch(r"\d+", row[0]) and re.fullmatch(r"\d+", row[1]), row
        assert int(row[0]) == round(seg["start"] * 1000) and int(row[1]) == round(seg["end"] * 1000)
        assert row[2] == seg["text"].strip()


def test_layout_options_are_accepted(binary, model_dir, session_tmp):
    """The subtitle options parse and the run writes valid subtitles (the layout itself needs word
    timestamps from the decoder; without words the writers ignore the options)."""
    outdir = session_tmp / "outputs-layout"
    outdir.mkdir(exist_ok=True)
    run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "-q", "-o", "srt", "-o", "vtt", "-o", "json",
                    "--max-line-width", "20", "--max-line-count", "2", "--highlight-words", "--output-dir", outdir,
                    REPO / "samples" / "jfk.wav"], check=True)
    for fmt in ("srt", "vtt"):
        assert assert_ffmpeg_reads_same(outdir / f"jfk.{fmt}")
    _validator().validate(json.loads((outdir / "jfk.json").read_text(encoding="utf-8")))
    for bad in (["--max-line-width", "0"], ["--max-line-count", "x"], ["--max-words-per-line", "-3"]):
        r = run_am(binary, ["transcribe", "-m", model_dir, *bad, REPO / "samples" / "jfk.wav"])
        assert r.returncode == 2 and r.stderr.startswith("amanuensis: "), (bad, r.stderr)


# ---- the writers on described results (build/tools/write_result) -------------------------------

def _hex(s):
    b = s if isinstance(s, bytes) else s.encode("utf-8")
    return b.hex() or "-"


def describe(result):
    """A result dict (openai layout; strings may be bytes) -> write_result's description."""
    out = [f"L {result.get('language', 'en')}", f"D {result.get('duration', 0.0)!r}"]
    for seg in result["segments"]:
        out.append(f"S {seg['start']!r} {seg['end']!r} {_hex(seg['text'])}")
        if "words" in seg:
            if not seg["words"]:
                out.append("E")
            for w in seg["words"]:
                out.append(f"W {w['start']!r} {w['end']!r} {w.get('probability', 0.5)!r} {_hex(w['word'])}")
    return "\n".join(out) + "\n"


def run_tool(result, fmt, opts=None):
    opts = opts or {}
    args = [str(_tool()), fmt]
    if opts:
        args += [str(opts.get("max_line_width") or 0), str(opts.get("max_line_count") or 0),
                 str(opts.get("max_words_per_line") or 0), "1" if opts.get("highlight_words") else "0"]
    r = subprocess.run(args, input=describe(result).encode("utf-8"), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


VOCAB = [" the", " a", " quick", " brown", " fox,", " jumps.", " over", " lazy", " dog", " hello", " world!",
         " caf\u00e9", " d\u00e9j\u00e0", " na\u00efve", " Stra\u00dfe", " \u00fcber", " \u65e5\u672c", "\u8a9e",
         "\u306e", " \u30c6\u30ad\u30b9\u30c8", " \U0001F600", " -->", " antidisestablishmentarianism", " x",
         "\u3000wide", " 42%", " e.g.", " O'Neil", " \"quoted\""]


def random_result(rng):
    t = rng.uniform(0.0, 2.0)
    segments = []
    for si in range(rng.randint(1, 5)):
        n = rng.randint(1 if si == 0 else 0, 14)
        words = []
        seg_start = t
        for _ in range(n):
            t += rng.choice([0.0, 0.0, 0.1, 0.25, 0.8, 2.9, 3.05, 4.5]) if rng.random() < 0.3 else 0.0
            d = round(rng.uniform(0.05, 0.9), 2)
            words.append({"word": rng.choice(VOCAB), "start": round(t, 2), "end": round(t + d, 2),
                          "probability": round(rng.random(), 3)})
            t = round(t + d, 2)
        t += rng.choice([0.0, 0.5, 3.5])
        segments.append({"start": round(seg_start, 2), "end": round(max(t, seg_start), 2),
                         "text": "".join(w["word"] for w in words), "words": words})
    return {"language": "en", "duration": t, "segments": segments}


def random_options(rng):
    opts = {}
    if rng.random() < 0.7:
        opts["max_line_width"] = rng.choice([1, 5, 10, 20, 42])
    if rng.random() < 0.6:
        opts["max_line_count"] = rng.choice([1, 2, 3])
    if rng.random() < 0.4:
        opts["max_words_per_line"] = rng.choice([1, 2, 3, 5])
    if rng.random() < 0.3:
        opts["highlight_words"] = True
    return opts


def test_word_layout_matches_openai_reference():
    rng = random.Random(20240611)
    for case in range(150):
        result = random_result(rng)
        opts = random_options(rng) if case % 5 else {}
        for fmt in ("srt", "vtt"):
            want = subtitle_ref.write(result, fmt, opts).encode("utf-8")
            got = run_tool(result, fmt, opts)
            assert got == want, (f"case {case} {fmt} {opts}\n{describe(result)}\n--- got\n"
                                 f"{got.decode(errors='replace')}\n--- want\n{want.decode()}")
        if case % 10 == 0:
            assert run_tool(result, "tsv") == subtitle_ref.write_tsv(result).encode("utf-8")


def test_word_subtitles_parse_with_ffmpeg(tmp_path):
    rng = random.Random(7)
    for case in range(6):
        result = random_result(rng)
        for w in (w for s in result["segments"] for w in s["words"]):
            if w["word"] == " -->":  # ffmpeg's WebVTT reader drops a bare '>' (openai writes it raw)
                w["word"] = " ok"
        for s in result["segments"]:
            s["text"] = "".join(w["word"] for w in s["words"])
        opts = [{}, {"max_line_width": 20, "max_line_count": 2}, {"max_words_per_line": 3},
                {"max_line_width": 10, "max_line_count": 2, "highlight_words": True}][case % 4]
        for fmt in ("srt", "vtt"):
            path = tmp_path / f"w{case}.{fmt}"
            path.write_bytes(run_tool(result, fmt, opts))
            assert_ffmpeg_reads_same(path)


def test_json_with_words_validates(tmp_path):
    rng = random.Random(11)
    validator = _validator()
    for _ in range(10):
        result = random_result(rng)
        doc = json.loads(run_tool(result, "json").decode("utf-8"))
        validator.validate(doc)
        for seg, want in zip(doc["segments"], result["segments"]):
            assert [w["word"] for w in seg["words"]] == [w["word"] for w in want["words"]]
            for w, ww in zip(seg["words"], want["words"]):
                assert abs(w["start"] - ww["start"]) < 1e-3 and abs(w["end"] - ww["end"]) < 1e-3
                assert abs(w["probability"] - ww["probability"]) < 1e-5


# 日本語です: E6 97 A5 | E6 9C AC | E8 AA 9E | E3 81 A7 | E3 81 99, cut the way byte-level BPE tokens
# can cut them; the decoder joins the tokens' bytes, so the segment text is whole while words or a
# window-truncated text can end inside a character.
SPLIT_RESULT = {
    "language": "ja",
    "duration": 4.0,
    "segments": [
        {"start": 0.0, "end": 2.0, "text": b" \xe6\x97" + b"\xa5\xe6" + b"\x9c\xac\xe8\xaa" + b"\x9e" + b" caf\xc3\xa9",
         "words": [{"word": b" \xe6\x97\xa5\xe6", "start": 0.0, "end": 0.6, "probability": 0.5},
                   {"word": b"\x9c\xac\xe8\xaa\x9e", "start": 0.6, "end": 1.2, "probability": 0.5},
                   {"word": b" caf\xc3\xa9", "start": 1.2, "end": 2.0, "probability": 0.5}]},
        {"start": 2.0, "end": 4.0, "text": b" \xe3\x81\xa7\xe3\x81\x99\xe3\x81",
         "words": [{"word": b" \xe3\x81\xa7\xe3\x81\x99\xe3\x81", "start": 2.0, "end": 4.0, "probability": 0.5}]},
    ],
}


@pytest.mark.parametrize("with_words", [False, True])
def test_utf8_split_across_tokens(tmp_path, with_words):
    result = json.loads(json.dumps(SPLIT_RESULT, default=lambda b: b.decode("latin-1")))  # a deep copy
    for seg, src in zip(result["segments"], SPLIT_RESULT["segments"]):
        seg["text"] = src["text"]
        if with_words:
            for w, sw in zip(seg["words"], src["words"]):
                w["word"] = sw["word"]
        else:
            del seg["words"]
    for fmt in FORMATS:
        data = run_tool(result, fmt, {"max_line_width": 8, "max_line_count": 2})
        text = data.decode("utf-8")  # strict: the writers must repair every broken sequence
        if fmt != "srt" and fmt != "vtt" or not with_words:
            assert "\u65e5\u672c\u8a9e caf\u00e9" in text  # the whole characters survive
            assert "\u3067\u3059\ufffd" in text  # the cut one is replaced
        if fmt in ("srt", "vtt"):
            path = tmp_path / f"split.{fmt}"
            path.write_bytes(data)
            assert_ffmpeg_reads_same(path)
        if fmt == "json":
            doc = json.loads(text)
            _validator().validate(doc)
            assert ("words" in doc["segments"][0]) == with_words
