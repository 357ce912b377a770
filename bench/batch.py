#!/usr/bin/env python3
"""bench/batch.py — batched long-form (--vad --batch-size N) against sequential long-form, same file.

    python3 bench/batch.py [--write] [--minutes 10] [--batch 8] [--model models/tiny.en] [--threads 2]

Audio: the recordings of bench/compare.py (pocketsphinx LibriVox and cards, jfk, the English speech
of tests/data), 16 kHz, laid end to end with 2–6 s of near-silence between them (seeded) until the file
lasts --minutes; cached in bench/out/.  Reference text: the recordings' transcripts in order.

Rows, one process each, same binary, weights and threads, temperature fallback on (the defaults):
  sequential long-form (no VAD: 30 s windows, seek by timestamps, previous-text conditioning),
  --vad (sequential chunks), --vad --batch-size N.
Per row: wall time (model load included), RTF, peak RSS, WER; and the speed-up of each row over the
sequential long-form.  --write replaces the section "## Batched long-form (bench/batch.py)" of
BENCHMARKS.md.
"""
import argparse
import datetime
import os
import platform
import random
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import OUT, REPO, run_child, sources  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "integration"))
from textnorm import normalize  # noqa: E402

SECTION = "## Batched long-form (bench/batch.py)"


def build(minutes):
    OUT.mkdir(parents=True, exist_ok=True)
    wav_path, ref_path = OUT / f"longform-{minutes:g}min.wav", OUT / f"longform-{minutes:g}min.txt"
    if wav_path.exists() and ref_path.exists():
        return wav_path, ref_path.read_text()
    rng = random.Random(1)
    pieces = []
    with tempfile.TemporaryDirectory() as td:
        for i, (src, ref) in enumerate(sources()):
            dst = Path(td) / f"{i}.raw"
            subprocess.run(["sox", str(src), "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer",
                            str(dst)], check=True)
            pieces.append((dst.read_bytes(), ref))
    total, refs, data, k = 0.0, [], bytearray(), 0
    while True:
        pcm, ref = pieces[k % len(pieces)]
        gap = rng.uniform(2.0, 6.0)
        if total + gap + len(pcm) / 32000 > minutes * 60:
            break
        noise = bytearray()
        for _ in range(int(gap * 16000)):
            noise += int(rng.gauss(0, 3)).to_bytes(2, "little", signed=True)
        data += noise + pcm
        total += gap + len(pcm) / 32000
        refs.append(ref)
        k += 1
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(data))
    ref_path.write_text(" ".join(refs) + "\n")
    return wav_path, ref_path.read_text()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gap", type=int, default=None,
                    help="--vad-chunk-gap-ms for the VAD rows (default: the engine's; -1 packs chunks)")
    args = ap.parse_args()
    import jiwer
    wav, ref = build(args.minutes)
    with wave.open(str(wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    binary = REPO / "build" / "amanuensis"
    base = [str(binary), "transcribe", "-m", args.model, "-t", str(args.threads), "-l", "en", "-q", "-o", "txt"]
    vad = ["--vad"] + (["--vad-chunk-gap-ms", str(args.gap)] if args.gap is not None else [])
    shown = " ".join(vad)
    rows = [("sequential long-form (no VAD)", []), (shown, vad),
            (f"{shown} --batch-size {args.batch}", vad + ["--batch-size", str(args.batch)])]
    results = []
    with tempfile.TemporaryDirectory() as td:
        for name, extra in rows:
            wall, rss, _ = run_child(base + ["--output-dir", td] + extra + [str(wav)])
            hyp = (Path(td) / (wav.stem + ".txt")).read_text(encoding="utf-8")
            wer = jiwer.wer(normalize(ref), normalize(hyp))
            results.append((name, wall, rss, wer))
            print(f"{name:32s} wall {wall:7.1f} s  RTF {wall / seconds:.3f}  RSS {rss:6.0f} MiB  WER {wer:.2%}", flush=True)
    seq = results[0][1]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    cmd = f"python3 bench/batch.py --minutes {args.minutes:g} --batch {args.batch} --threads {args.threads}"
    if args.gap is not None:
        cmd += f" --gap {args.gap}"
    lines = [SECTION, "",
             f"{datetime.date.today()} — {cpu}, {os.cpu_count()} CPUs (shared machine: compare rows of one run only). "
             f"Command: `{cmd}`. Audio: {seconds / 60:.1f} min ({seconds:.0f} s) of the bench recordings with 2–6 s "
             f"gaps; model {Path(args.model).name}, default precision and front end, beam 5, fallback on.", "",
             "| mode | wall (s) | RTF | peak RSS (MiB) | WER | speed-up vs sequential |", "|---|---|---|---|---|---|"]
    for name, wall, rss, wer in results:
        lines.append(f"| {name} | {wall:.1f} | {wall / seconds:.3f} | {rss:.0f} | {wer:.2%} | {seq / wall:.2f}x |")
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    if args.write:
        path = REPO / "BENCHMARKS.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        start = text.find(SECTION)
        if start >= 0:
            end = text.find("\n## ", start + len(SECTION))
            text = text[:start] + table + (text[end + 1:] if end >= 0 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + table
        path.write_text(text)


if __name__ == "__main__":
    main()
