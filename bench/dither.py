#!/usr/bin/env python3
"""bench/dither.py — how much a 1-LSB change of the input audio moves transcripts and WER.

    python3 bench/dither.py [--seeds 12] [--file-seeds 3] [--write] [--part wer|files|both]

A dithered copy of a recording adds an independent random integer from {-1, 0, +1} to every 16-bit
sample (seeded: the copies are the same on every run): the audio's own last bit, far below anything
a listener or the float front end can tell apart.  Two measurements:

  files  On the parity test set (tests/integration/test_parity.py: pocketsphinx LibriVox + cards,
         jfk, tests/data/speech English), at --precision f32 and int8, greedy (beam 1, no fallback)
         and with the default options (beam 5, temperature fallback): the number of files whose
         transcript changes when the front end goes from f32 to q15, next to the number that change
         when the f32 front end reads a dithered copy (per seed).  If q15 changes no more files than a
         1-LSB dither does, the differences come from the model's sensitivity, not from the front end.

  wer    On bench/compare.py's benchmark audio (bench/out/speech-5min.wav) and its dithered copies:
         the WER of amanuensis int8 and faster-whisper int8 at beams 1 and 5 (2 threads, temperature 0,
         no fallback, as compare.py).  The single recording decides a handful of near-ties one way or
         the other; the mean over dithered copies estimates each system's expected WER on this speech,
         and the spread shows how far one run can land from it.  The difference of the means comes
         with a 95% interval from a bootstrap over the seeds (paired: both systems read the same copy).

--write replaces the sections "## Input sensitivity: ... (bench/dither.py ...)" of BENCHMARKS.md that
the parts run.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import (FW_SCRIPT, REPO, build_audio, commit_label, cpu_model, report, run_child,  # noqa: E402
                     sources)
from textnorm import normalize  # noqa: E402

SECTIONS = {"files": "## Input sensitivity: front end vs a 1-LSB dither (bench/dither.py --part files)",
            "wer": "## Input sensitivity: WER over dithered copies (bench/dither.py --part wer)"}
BINARY = REPO / "build" / "amanuensis"
MODES = {"greedy": ["--beam-size", "1", "--no-fallback", "--temperature", "0"], "default": []}


def dither(src, dst, seed):
    """dst = src (16-bit PCM WAV) + an independent integer in {-1, 0, +1} per sample, clipped."""
    with wave.open(str(src)) as w:
        params = w.getparams()
        if params.sampwidth != 2:
            raise ValueError(f"{src}: not 16-bit PCM")
        x = np.frombuffer(w.readframes(params.nframes), dtype="<i2").astype(np.int32)
    y = np.clip(x + np.random.default_rng(seed).integers(-1, 2, x.size), -32768, 32767).astype("<i2")
    with wave.open(str(dst), "wb") as w:
        w.setparams(params)
        w.writeframes(y.tobytes())


def test_set_files(tmp):
    """The parity test set's recordings (compare.sources, those without a transcript too) as 16-bit
    WAV: FLAC converted with sox into tmp."""
    files = []
    for src, _ in sources(with_reference=False):
        if src.suffix.lower() != ".wav":
            dst = tmp / (src.stem + ".wav")
            subprocess.run(["sox", str(src), "-b", "16", "-e", "signed-integer", str(dst)], check=True)
            src = dst
        files.append(src)
    return files


def transcribe_many(files, outdir, args, options):
    """{file name: normalised text} from one amanuensis run over all files with these options."""
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    subprocess.run([str(BINARY), "transcribe", "-m", args.model, "-l", "en", "-t", str(args.threads), "-q",
                    "-o", "json", "--output-dir", str(outdir)] + options + [str(f) for f in files], check=True)
    return {f.name: normalize(json.loads((outdir / (f.stem + ".json")).read_text(encoding="utf-8"))["text"])
            for f in files}


def part_files(args, tmp):
    files = test_set_files(tmp)
    copies = {}
    for seed in range(1, args.file_seeds + 1):
        d = tmp / f"dither-{seed}"
        d.mkdir()
        copies[seed] = [d / f.name for f in files]
        for i, (f, g) in enumerate(zip(files, copies[seed])):
            dither(f, g, seed * 1000 + i)
    lines = [f"Test set: {len(files)} recordings (tests/integration/test_parity.py). Files whose transcript differs "
             "from the one with `--frontend f32` on the original audio:", "",
             "| precision | decoding | `--frontend q15` | f32 front end, audio dithered: " +
             ", ".join(f"seed {s}" for s in copies) + " |", "|---|---|---|---|"]
    for prec in ("f32", "int8"):
        for mode, extra in MODES.items():
            opts = extra + ["--precision", prec]
            base = transcribe_many(files, tmp / "o", args, opts + ["--frontend", "f32"])
            q15 = transcribe_many(files, tmp / "o", args, opts + ["--frontend", "q15"])
            cells = [_differ(base, q15)]
            for fs in copies.values():
                cells.append(_differ(base, transcribe_many(fs, tmp / "o", args, opts + ["--frontend", "f32"])))
            row = f"| {prec} | {mode} | {cells[0]} | {'; '.join(cells[1:])} |"
            print(row, flush=True)
            lines.append(row)
    lines += ["", "Decoding: greedy = `--beam-size 1 --no-fallback --temperature 0`; default = beam 5 with "
              "temperature fallback. Threads: %d." % args.threads]
    return lines


def _differ(a, b):
    names = [k for k in a if a[k] != b[k]]
    return f"{len(names)}" + (f" ({', '.join(Path(n).stem for n in names)})" if names else "")


def part_wer(args, tmp):
    import jiwer
    audio, reference = build_audio()
    ref = normalize(reference)
    beams = (1, 5)
    systems = ("amanuensis int8", "faster-whisper int8")
    wer = {(s, b): [] for s in systems for b in beams}  # index 0: the original audio
    for seed in range(args.seeds + 1):
        src = audio
        if seed:
            src = tmp / f"speech-5min-dither-{seed}.wav"
            dither(audio, src, seed)
        for beam in beams:
            for name in systems:
                if name.startswith("amanuensis"):
                    outdir = tmp / "wer"
                    outdir.mkdir(exist_ok=True)
                    run_child([str(BINARY), "transcribe", "-m", args.model, "--precision", "int8", "-t", str(args.threads),
                               "--beam-size", str(beam), "--no-fallback", "--temperature", "0", "-l", "en", "-q",
                               "-o", "json", "--output-dir", str(outdir), str(src)])
                    text = json.loads((outdir / (src.stem + ".json")).read_text(encoding="utf-8"))["text"]
                else:
                    _, _, out = run_child([sys.executable, "-c", FW_SCRIPT, args.model, str(src), "int8", str(beam),
                                           str(args.threads)])
                    text = json.loads(out.strip().splitlines()[-1])["text"]
                wer[(name, beam)].append(jiwer.wer(ref, normalize(text)) * 100)
            print(f"  {'original' if not seed else f'seed {seed}'} beam {beam}: " +
                  ", ".join(f"{n} {wer[(n, beam)][-1]:.2f}%" for n in systems), flush=True)
        if seed:
            src.unlink()
    lines = [f"Benchmark audio: {audio.relative_to(REPO)} and {args.seeds} dithered copies; WER in % "
             "(2 threads, temperature 0, no fallback, as bench/compare.py):", "",
             "| system | beam | original audio | copies: mean | sd | median | min | max |",
             "|---|---|---|---|---|---|---|---|"]
    for beam in beams:
        for name in systems:
            w = np.array(wer[(name, beam)])
            d = w[1:]
            lines.append(f"| {name} | {beam} | {w[0]:.2f} | {d.mean():.2f} | {d.std(ddof=1):.2f} | {np.median(d):.2f} | "
                         f"{d.min():.2f} | {d.max():.2f} |")
    lines.append("")
    for beam in beams:
        a, b = np.array(wer[(systems[0], beam)][1:]), np.array(wer[(systems[1], beam)][1:])
        diff = a - b
        pick = np.random.default_rng(0).integers(0, len(diff), size=(10000, len(diff)))
        lo, hi = np.percentile(diff[pick].mean(1), [2.5, 97.5])
        lines.append(f"Beam {beam}: mean WER amanuensis int8 − faster-whisper int8 = {diff.mean():+.2f} points "
                     f"(95% interval {lo:+.2f} to {hi:+.2f}, bootstrap over the {len(diff)} copies); median of the "
                     f"differences {np.median(diff):+.2f}; amanuensis lower on {(diff < 0).sum()} copies, equal on "
                     f"{(diff == 0).sum()}, higher on {(diff > 0).sum()}; on the original audio "
                     f"{wer[(systems[0], beam)][0] - wer[(systems[1], beam)][0]:+.2f}.")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("files", "wer", "both"), default="both")
    ap.add_argument("--seeds", type=int, default=12, help="dithered copies of the benchmark audio")
    ap.add_argument("--file-seeds", type=int, default=3, help="dithered copies of the test set")
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="record the result in BENCHMARKS.md")
    args = ap.parse_args()
    if not os.access(BINARY, os.X_OK):
        sys.exit("dither.py: build/amanuensis is not built (make all)")
    if args.seeds < 2 or args.file_seeds < 1:
        sys.exit("dither.py: --seeds must be >= 2 and --file-seeds >= 1")
    if not (Path(args.model) / "model.bin").exists():
        subprocess.run([str(REPO / "scripts" / "fetch-model"), "tiny.en"], check=True)
    import faster_whisper

    load = os.getloadavg()[0]
    parts = ("files", "wer") if args.part == "both" else (args.part,)
    cmd = "python3 bench/dither.py" + (f" --part {args.part}" if args.part != "both" else "") + \
        (f" --seeds {args.seeds}" if args.seeds != 12 else "") + \
        (f" --file-seeds {args.file_seeds}" if args.file_seeds != 3 else "") + (" --write" if args.write else "")
    # before anything is written: the files part's --write must not count as a local change of the next
    commit = commit_label()
    with tempfile.TemporaryDirectory() as td:
        for part in parts:
            body = (part_files if part == "files" else part_wer)(args, Path(td))
            head = [SECTIONS[part], "",
                    f"{datetime.date.today().isoformat()}, commit {commit}. "
                    f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; load "
                    f"average {load:.2f} at the start. faster-whisper {faster_whisper.__version__}. Model "
                    f"{Path(args.model).name}. Command: `{cmd}`.", "",
                    "A dithered copy adds an independent random integer from {-1, 0, +1} to each 16-bit sample "
                    "(fixed seeds): a change in the audio's last bit.", ""]
            report("dither.py", SECTIONS[part], "\n".join(head + body), args.write)


if __name__ == "__main__":
    main()
