#!/usr/bin/env python3
"""The Vulkan rows next to the CPU rows, in one run on one machine.

    bench/vulkan.py [--models tiny.en,base] [--long FILE | --minutes M] [--batch N] [--parity] [--precision f16]

For each model and backend (cpu, vulkan): one long file (default: samples/jfk.wav repeated to 10
minutes with sox), and N files transcribed at once on the one model with --jobs N (default 16 copies
of jfk.wav under different names).  Each row: wall seconds, real-time factor (audio / wall), the
share of wall time the process spent on CPUs (user + sys over wall: what is left of the host's
work when the device computes), and the backend counters of --stats (submissions, bytes read
back per decoder call).  With --parity: the parity set of tests/integration/test_parity.py
greedy in float32 (float front end) on both backends, how many transcripts are identical, and
the WER of each (beam 5 too with --parity-beam5).  Prints markdown tables for BENCHMARKS.md; `vulkaninfo --summary` names the device.
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from textnorm import word_errors  # noqa: E402

BIN = REPO / "build" / "amanuensis"
PSPHINX = Path("/usr/share/pocketsphinx/test/data")


def run(args):
    """(wall seconds, CPU seconds of the child, stderr)"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([str(BIN)] + [str(a) for a in args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"bench/vulkan.py: {' '.join(map(str, args))} failed:\n{r.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stderr


def stats(stderr):
    return {k: float(v) for k, v in re.findall(r"^stats: (\w+) ([\d.]+)$", stderr, re.M)}


def row(model, backend, what, wall, cpu, st):
    audio = st.get("audio_seconds", 0.0)
    dec = st.get("decode_calls", 0) or 1
    return (f"| {model} | {backend} | {what} | {audio:.0f} | {wall:.2f} | {audio / wall:.1f}x | "
            f"{100 * cpu / wall:.0f}% | {st.get('submissions', 0):.0f} | {st.get('bytes_from_device', 0) / dec:.0f} |")


def parity_files():
    """The parity set of tests/integration/test_parity.py: pocketsphinx's LibriVox and cards
    recordings, jfk.wav and the English recordings of tests/data/speech (FLAC converted by sox)."""
    files, refs = [], {}
    for sub, trans in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for line in (PSPHINX / sub / trans).read_text().splitlines():
            m = re.match(r"^(.*)\(([^()]*)\)\s*$", line.strip())
            if m:
                refs[m.group(2).strip()] = " ".join(m.group(1).replace("<s>", " ").replace("</s>", " ").split())
        files += sorted((PSPHINX / sub).glob("*.wav"))
    files.append(REPO / "samples" / "jfk.wav")
    refs["jfk"] = ("And so my fellow Americans, ask not what your country can do for you, "
                   "ask what you can do for your country.")
    speech = REPO / "tests" / "data" / "speech"
    lines = (speech / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    conv = Path(tempfile.mkdtemp(prefix="am-vk-parity-"))
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t") + [""] * len(header)))
        if not line.strip() or row["language"] != "en":
            continue
        src = speech / row["file"]
        if src.suffix.lower() != ".wav":
            dst = conv / (src.stem + ".wav")
            subprocess.run(["sox", str(src), "-b", "16", "-e", "signed-integer", str(dst)], check=True)
            src = dst
        files.append(src)
        refs[src.stem] = row["reference_transcript"].strip()
    return files, refs


def parity(model, tmp, precision, beams):
    files, refs = parity_files()
    out = {}
    for backend in ("cpu", "vulkan"):
        for beam in beams:
            d = tmp / f"parity-{backend}-{beam}"
            d.mkdir()
            run(["transcribe", "-m", model, "-l", "en", "--backend", backend, "--precision", precision,
                 "--frontend", "f32", "--beam-size", beam, "-o", "json", "--output-dir", d] + files)
            out[backend, beam] = {f.stem: json.loads((d / (f.stem + ".json")).read_text())["text"] for f in files}
    same = sum(out["cpu", 1][f.stem] == out["vulkan", 1][f.stem] for f in files)
    lines = [f"\nParity set ({len(files)} files, {model}, {precision}): greedy transcripts identical "
             f"on {same} of {len(files)}"]
    lines += [f"- DIFFERENT {f.name}: cpu {out['cpu', 1][f.stem]!r} vulkan {out['vulkan', 1][f.stem]!r}"
              for f in files if out["cpu", 1][f.stem] != out["vulkan", 1][f.stem]]
    for beam in beams:
        for backend in ("cpu", "vulkan"):
            e = n = 0
            for f in files:
                if not refs.get(f.stem):
                    continue
                a, b = word_errors(refs[f.stem], out[backend, beam][f.stem])
                e, n = e + a, n + b
            lines.append(f"- beam {beam} WER {backend}: {100 * e / n:.2f}% ({n} words)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en")
    ap.add_argument("--long", help="a long recording (default: jfk.wav repeated to --minutes)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the default long recording")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--precision", default="f16", help="for the Vulkan rows (the CPU rows run int8)")
    ap.add_argument("--backends", default="cpu,vulkan")
    ap.add_argument("--parity", action="store_true", help="the parity set at beam 1 (and 5 with --parity-beam5)")
    ap.add_argument("--parity-beam5", action="store_true")
    ap.add_argument("--no-speed", action="store_true", help="skip the long-file and many-file rows")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="am-vk-bench-"))
    try:
        long_file = Path(args.long) if args.long else tmp / "long.wav"
        if not args.long:
            repeats = max(0, round(args.minutes * 60 / 11.0) - 1)  # jfk.wav is 11 s
            subprocess.run(["sox", str(REPO / "samples" / "jfk.wav"), str(long_file), "repeat", str(repeats)],
                           check=True)
        batch = []
        for i in range(args.batch):
            p = tmp / f"b{i:02d}.wav"
            shutil.copy(REPO / "samples" / "jfk.wav", p)
            batch.append(p)
        info = subprocess.run(["vulkaninfo", "--summary"], capture_output=True, text=True) if shutil.which(
            "vulkaninfo") else None
        dev = re.findall(r"deviceName\s*=\s*(.*)", info.stdout) if info else []
        cpu_name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        print(f"Machine: {cpu_name}, {os.cpu_count()} CPUs; Vulkan devices: {', '.join(dev) or 'none'}\n")
        print("| model | backend | input | audio s | wall s | speed | CPU share | submissions | bytes back per step |")
        print("|---|---|---|---|---|---|---|---|---|")
        for model in [] if args.no_speed else args.models.split(","):
            for backend in args.backends.split(","):
                prec = args.precision if backend != "cpu" else "int8"
                common = ["-m", model, "--backend", backend, "--precision", prec, "-l", "en", "--stats"]
                wall, cpu, err = run(["transcribe"] + common + ["-o", "txt", "--output-dir", tmp / "o1", long_file])
                print(row(model, f"{backend} {prec}", "1 long file", wall, cpu, stats(err)), flush=True)
                wall, cpu, err = run(["transcribe"] + common + ["--jobs", args.batch, "-o", "txt",
                                                                "--output-dir", tmp / "o2"] + batch)
                print(row(model, f"{backend} {prec}", f"{args.batch} files, --jobs {args.batch}", wall, cpu, stats(err)), flush=True)
        if args.parity:
            for model in args.models.split(","):
                print(parity(model, tmp, "f32", (1, 5) if args.parity_beam5 else (1,)), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
