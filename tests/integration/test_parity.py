"""Transcript parity with faster-whisper (greedy, temperature 0, tiny.en, float32) and WER.

Test set: pocketsphinx-testdata LibriVox and cards recordings, jfk.wav and the English recordings of
tests/data/speech (FLAC ones converted to 16-bit WAV with sox). The faster-whisper reference is
computed once and cached in build/ref/ (keyed by audio content, model.bin size, faster-whisper version).
"""
import hashlib
import json
import re
import shutil
import subprocess

import pytest

from conftest import PSPHINX, REPO, run_am
from textnorm import normalize

REF_DIR = REPO / "build" / "ref"
MIN_MATCH_FRACTION = 0.95
MAX_WER_EXCESS = 0.005  # 0.5 percentage points


def _psphinx_refs(trans_file):
    refs = {}
    for line in trans_file.read_text().splitlines():
        m = re.match(r"^(.*)\(([^()]*)\)\s*$", line.strip())
        if not m:
            continue
        text = m.group(1).replace("<s>", " ").replace("</s>", " ")
        refs[m.group(2).strip()] = " ".join(text.split())
    return refs


def _manifest(test_data):
    rows = []
    lines = (test_data / "speech" / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        if line.strip():
            cells = line.split("\t") + [""] * len(header)
            rows.append(dict(zip(header, cells)))
    return rows


@pytest.fixture(scope="module")
def test_set(test_data, session_tmp):
    """List of (wav path, reference transcript or None)."""
    items = []
    lib = PSPHINX / "librivox"
    refs = _psphinx_refs(lib / "transcription")
    for wav in sorted(lib.glob("*.wav")):
        items.append((wav, refs.get(wav.stem)))
    cards = PSPHINX / "cards"
    refs = _psphinx_refs(cards / "cards.transcription")
    for wav in sorted(cards.glob("*.wav")):
        items.append((wav, refs.get(wav.stem)))
    items.append((test_data / "jfk.wav",
                  "And so my fellow Americans, ask not what your country can do for you, "
                  "ask what you can do for your country."))
    conv = session_tmp / "parity-wav"
    conv.mkdir(exist_ok=True)
    for row in _manifest(test_data):
        if row["language"] != "en":
            continue
        src = test_data / "speech" / row["file"]
        if src.suffix.lower() != ".wav":
            dst = conv / (src.stem + ".wav")
            if not dst.exists():
                subprocess.run(["sox", str(src), "-b", "16", "-e", "signed-integer", str(dst)], check=True)
            src = dst
        items.append((src, row["reference_transcript"].strip() or None))
    assert len(items) >= 15, items
    return items


def _ref_key(path, model_dir):
    import faster_whisper
    h = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
    size = (model_dir / "model.bin").stat().st_size
    return f"{path.stem}-{h}-m{size}-fw{faster_whisper.__version__}.json"


@pytest.fixture(scope="module")
def reference(test_set, model_dir):
    """{wav path: {"text", "segments": [{start, end, text}]}} from faster-whisper (cached)."""
    REF_DIR.mkdir(parents=True, exist_ok=True)
    out, todo = {}, []
    for wav, _ in test_set:
        cache = REF_DIR / _ref_key(wav, model_dir)
        if cache.exists():
            out[wav] = json.loads(cache.read_text())
        else:
            todo.append((wav, cache))
    if todo:
        from faster_whisper import WhisperModel
        model = WhisperModel(str(model_dir), device="cpu", compute_type="float32", cpu_threads=2)
        for wav, cache in todo:
            segments, _info = model.transcribe(
                str(wav), beam_size=1, best_of=1, temperature=[0.0], condition_on_previous_text=True,
                language="en", vad_filter=False, without_timestamps=False)
            segs = [{"start": s.start, "end": s.end, "text": s.text, "tokens": list(s.tokens)}
                    for s in segments]
            res = {"file": str(wav), "text": "".join(s["text"] for s in segs), "segments": segs}
            cache.write_text(json.dumps(res, indent=1))
            out[wav] = res
    return out


@pytest.fixture(scope="module")
def ours(test_set, binary, model_dir, session_tmp):
    """{wav path: parsed JSON output of build/amanuensis}; all files in one process."""
    outdir = session_tmp / "parity-out"
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir()
    stems = [w.stem for w, _ in test_set]
    assert len(set(stems)) == len(stems), "input basenames collide"
    args = ["transcribe", "-m", model_dir, "--no-fallback", "--temperature", "0", "--beam-size", "1",
            "--precision", "f32", "--frontend", "f32", "-l", "en", "-t", "2",
            "-o", "json", "--output-dir", outdir] + [w for w, _ in test_set]
    run_am(binary, args, check=True, timeout=1800)
    res = {}
    for wav, _ in test_set:
        js = outdir / (wav.stem + ".json")
        assert js.exists(), f"no JSON output for {wav}"
        res[wav] = json.loads(js.read_text(encoding="utf-8"))
    return res


def test_transcripts_match_faster_whisper(test_set, reference, ours):
    matches, lines = 0, []
    for wav, _ in test_set:
        a = normalize(ours[wav]["text"])
        b = normalize(reference[wav]["text"])
        if a == b:
            matches += 1
            oseg, rseg = ours[wav].get("segments", []), reference[wav]["segments"]
            times_o = [(round(s["start"], 2), round(s["end"], 2)) for s in oseg]
            times_r = [(round(s["start"], 2), round(s["end"], 2)) for s in rseg]
            note = "" if times_o == times_r else f"\n      times ours {times_o}\n      times ref  {times_r}"
            lines.append(f"  same  {wav.name}{note}")
        else:
            lines.append(f"  DIFF  {wav.name}\n      ours: {a}\n      ref:  {b}")
    frac = matches / len(test_set)
    print(f"\nparity: {matches}/{len(test_set)} transcripts equal to faster-whisper ({frac:.1%})")
    print("\n".join(lines))
    assert frac >= MIN_MATCH_FRACTION, f"only {matches}/{len(test_set)} transcripts match faster-whisper"


def test_wer_not_worse_than_faster_whisper(test_set, reference, ours):
    import jiwer
    refs, hyp_ours, hyp_fw = [], [], []
    for wav, ref in test_set:
        if not ref:
            continue
        refs.append(normalize(ref))
        hyp_ours.append(normalize(ours[wav]["text"]))
        hyp_fw.append(normalize(reference[wav]["text"]))
    wer_ours = jiwer.wer(refs, hyp_ours)
    wer_fw = jiwer.wer(refs, hyp_fw)
    print(f"\ncorpus WER over {len(refs)} files: amanuensis {wer_ours:.2%}, faster-whisper {wer_fw:.2%}")
    assert wer_ours <= wer_fw + MAX_WER_EXCESS
