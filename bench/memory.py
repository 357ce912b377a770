#!/usr/bin/env python3
"""Peak memory against recording length: a 10-minute and a 3-hour recording, with and without --vad.

The recordings are made here, deterministically from --seed: the English clips of tests/data/speech
and samples/jfk.wav (decoded to 16 kHz by build/amanuensis's own reader is not needed: sox does it),
shuffled again for every pass, with pauses of 0.3 to 3 s between them, written as 16 kHz mono
16-bit WAV (and the long one also as FLAC with --flac).  Each run is
`amanuensis transcribe -m MODEL -t THREADS -o txt FILE [--vad]`; its peak RSS is the child's
ru_maxrss (os.wait4).  With --baseline BINARY the same runs are made with another build (an older
commit) and the transcripts compared byte for byte.

    python3 bench/memory.py --minutes 10 180 [--baseline /tmp/base/build/amanuensis] [--flac]

Prints a Markdown table for BENCHMARKS.md.  Work files go to bench/out/memory/ (ignored)."""
import argparse
import os
import random
import subprocess
import sys
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ["tritonasr_1089-134686-0001.wav", "tritonasr_1221-135766-0001.wav", "lhotse_2412-153948-0000.flac",
         "leopard_test.wav", "whisper_jfk.flac", "joinly_OSR_us_000_0034_8k.wav",
         "lhotse_ES2011a.Headset-0-40s-46s.wav", "pyannote_sample.wav"]
RATE = 16000


def clip_pcm(path, work):
    """16 kHz mono s16 bytes of a clip (sox: the same for every run)."""
    out = work / (path.stem + ".raw")
    if not out.exists():
        subprocess.run(["sox", str(path), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                        "-t", "raw", str(out)], check=True)
    return out.read_bytes()


def make_recording(minutes, seed, work, flac):
    name = work / f"speech-{minutes:g}min-seed{seed}.wav"
    if not name.exists():
        clips = [clip_pcm(ROOT / "tests/data/speech" / c, work) for c in CLIPS]
        clips.append(clip_pcm(ROOT / "samples/jfk.wav", work))
        rng = random.Random(seed)
        target = int(minutes * 60 * RATE)
        tmp = name.with_suffix(".tmp")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            n = 0
            while n < target:
                order = list(range(len(clips)))
                rng.shuffle(order)
                for i in order:
                    pause = int(rng.uniform(0.3, 3.0) * RATE)
                    take = min(len(clips[i]) // 2, target - n)
                    w.writeframes(clips[i][:2 * take])
                    n += take
                    gap = min(pause, target - n)
                    w.writeframes(b"\0\0" * gap)
                    n += gap
                    if n >= target:
                        break
        tmp.rename(name)
    if flac:
        f = name.with_suffix(".flac")
        if not f.exists():
            subprocess.run(["sox", str(name), str(f)], check=True)
        return f
    return name


def run(binary, model, path, vad, threads, outdir):
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary), "transcribe", "-m", str(model), "-t", str(threads), "-o", "txt", "--output-dir", str(outdir),
           str(path)] + (["--vad"] if vad else [])
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {err.strip()}")
    text = (outdir / (path.stem + ".txt")).read_text()
    return ru.ru_maxrss / 1024.0, wall, text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "build/amanuensis"))
    ap.add_argument("--baseline", help="another build to compare with (transcripts must match)")
    ap.add_argument("--model", default=str(ROOT / "models/tiny.en"))
    ap.add_argument("--minutes", type=float, nargs="+", default=[10, 180])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--flac", action="store_true", help="feed FLAC instead of WAV (the FFmpeg reader)")
    ap.add_argument("--no-vad-runs", action="store_true")
    ap.add_argument("--work", default=str(ROOT / "bench/out/memory"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} CPUs, {cpu}; model {a.model}; -t {a.threads}", flush=True)
    rows = []
    builds = [("new", a.binary)] + ([("baseline", a.baseline)] if a.baseline else [])
    vads = [False, True] if not a.no_vad_runs else [True]
    for minutes in a.minutes:
        path = make_recording(minutes, a.seed, work, a.flac)
        for vad in vads:
            texts = {}
            for label, binary in builds:
                rss, wall, text = run(binary, a.model, path, vad, a.threads, work / f"out-{label}")
                texts[label] = text
                rows.append((minutes, vad, label, rss, wall))
                print(f"{minutes:g} min {'--vad' if vad else 'no vad'} {label}: peak RSS {rss:.0f} MiB, "
                      f"{wall:.0f} s, {len(text.split())} words", flush=True)
            if a.baseline:
                same = texts["new"] == texts["baseline"]
                print(f"    transcripts {'identical' if same else 'DIFFER'}", flush=True)
                rows[-1] = rows[-1] + (same,)
    print()
    print("| recording | VAD | build | peak RSS (MiB) | wall (s) |")
    print("|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r[0]:g} min | {'yes' if r[1] else 'no'} | {r[2]} | {r[3]:.0f} | {r[4]:.0f} |")


if __name__ == "__main__":
    main()
