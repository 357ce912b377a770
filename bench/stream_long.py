#!/usr/bin/env python3
"""stream_long.py — a long live stream: compute per audio second and memory over time (issue 14).

Makes an N-minute recording as bench/memory.py does (the English clips of tests/data/speech and
samples/jfk.wav, shuffled, with pauses of 0.3 to 3 s between them; deterministic from --seed), then
runs

  build/amanuensis stream -m MODEL -t THREADS --speed max --output jsonl --timing --stats FILE

and samples the process's resident memory (VmRSS from /proc) every second.  Reports the RSS at each
tenth of the run, its growth from the second tenth to the last (flat: a few percent at most), the
wall time, compute seconds (--stats: wall seconds inside the stream's feed and finish calls, VAD
and decodes) per audio second, the events
and committed words, and whether samples fed == samples processed.

    python3 bench/stream_long.py --minutes 60 [--vad off] [--model models/tiny.en] [--threads 2]

Prints a Markdown table for BENCHMARKS.md; work files go to bench/out/stream_long/ (ignored)."""
import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import make_recording  # noqa: E402  (the same recordings as the memory benchmark)
from soak import rss_kb  # noqa: E402  (VmRSS of a process, KiB)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--model", default=str(ROOT / "models" / "tiny.en"))
    ap.add_argument("--binary", default=str(ROOT / "build" / "amanuensis"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--step", type=float, default=1.0)
    ap.add_argument("--vad", choices=["on", "off"], default="on")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    work = ROOT / "bench" / "out" / "stream_long"
    work.mkdir(parents=True, exist_ok=True)
    audio = make_recording(args.minutes, args.seed, work, False)
    cmd = [args.binary, "stream", "-m", args.model, "-t", str(args.threads), "--step", str(args.step),
           "--vad", args.vad, "--speed", "max", "--output", "jsonl", "--timing", "--stats", str(audio)]
    events = work / "events.jsonl"
    t0 = time.time()
    with open(events, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
        samples = []  # (seconds since start, RSS KiB)
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                r = rss_kb(p.pid)
                if r is not None:
                    samples.append((time.time() - t0, r))
                stop.wait(1.0)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        err = p.stderr.read()
        p.wait()
        stop.set()
        th.join()
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {err.strip()}")

    n_events = n_words = 0
    with open(events) as f:
        for line in f:
            e = json.loads(line)
            n_events += 1
            if e["type"] == "final":
                n_words += len(e.get("words", []))
    # --stats: samples fed and processed, and the wall seconds spent inside feed and finish (VAD and decodes)
    m = re.search(r"samples fed (\d+), processed (\d+); audio ([\d.]+) s, compute ([\d.]+) s", err)
    fed, processed, compute = (int(m.group(1)), int(m.group(2)), float(m.group(4))) if m else (None, None, float("nan"))

    audio_s = args.minutes * 60
    tenths = []
    for k in range(1, 11):
        t = wall * k / 10
        vals = [r for (s, r) in samples if s <= t]
        tenths.append(vals[-1] / 1024 if vals else float("nan"))
    growth = 100.0 * (tenths[-1] - tenths[1]) / tenths[1]
    print(f"| stream, {args.minutes:g} min, VAD {args.vad}, step {args.step:g} s, {args.threads} threads | |")
    print("|---|---|")
    print(f"| wall seconds (--speed max) | {wall:.0f} |")
    print(f"| compute seconds (VAD and decodes) per audio second | {compute / audio_s:.3f} |")
    print(f"| events / committed words | {n_events} / {n_words} |")
    print(f"| samples fed / processed | {fed} / {processed} |")
    print("| RSS MiB at each tenth of the run | " + " ".join(f"{v:.0f}" for v in tenths) + " |")
    print(f"| RSS growth, 2nd to last tenth | {growth:+.1f}% |")
    print(f"| peak RSS MiB | {max(r for _, r in samples) / 1024:.0f} |")
    print(f"\ncommand: {' '.join(cmd)}")
    return 0 if fed is not None and fed == processed else 1


if __name__ == "__main__":
    sys.exit(main())
