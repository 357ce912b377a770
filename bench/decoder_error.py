#!/usr/bin/env python3
"""bench/decoder_error.py — how far int8 moves the decoder's next-token distributions, ours and CTranslate2's.

    python3 bench/decoder_error.py [--model models/tiny.en] [--max-windows N] [--timestamps] [AUDIO...]
    python3 bench/decoder_error.py --write      (both modes on the default audio, recorded in BENCHMARKS.md)

Each recording (default: the English recordings of tests/data, and the bench/out/*.wav files
that bench/compare.py and bench/batch.py build) is cut into 30 s windows.  For each window:
faster-whisper's log-mel; the tokens CTranslate2 float32 decodes greedily (without timestamp tokens,
or with them with --timestamps); then, teacher-forced on those same tokens, the logits of every
position from CTranslate2 float32 and int8 and from ours at f32 and int8 (build/tools/dump_decoder;
tests/integration/fidelity.py does the work).

Per system, over all positions: the mean KL divergence KL(p_f32 || p_int8) in nats, the share of
positions whose top-1 token differs between int8 and float32, and the mean |Δ log p| of the forced
token.  Word error rates of int8 against float32 count only the near-ties that flip a word (a
handful per file); these see every position.  The row "amanuensis f32 vs CTranslate2 f32" checks
that the two float models agree.  Needs `make tools`.
"""
import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from fidelity import Fidelity, windows  # noqa: E402
from compare import commit_label, cpu_model, report  # noqa: E402  (bench/, the script's own folder)

DATA = Path(os.environ.get("AM_TEST_DATA_DIR") or REPO / "tests" / "data")
SECTION = "## int8 fidelity: decoder next-token distributions (bench/decoder_error.py)"


def default_audio():
    names = ["speech/leopard_test.wav", "speech/lhotse_2412-153948-0000.flac", "speech/joinly_OSR_us_000_0034_8k.wav",
             "speech/lhotse_ES2011a.Headset-0-40s-46s.wav", "jfk.wav"]
    out = [DATA / n for n in names] + sorted((REPO / "bench" / "out").glob("*.wav"))
    return [p for p in out if p.exists()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("--max-windows", type=int, default=0, help="stop after this many windows (0: all)")
    ap.add_argument("--timestamps", action="store_true", help="sequences with timestamp tokens")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="both modes; record them in BENCHMARKS.md")
    ap.add_argument("audio", nargs="*")
    args = ap.parse_args()
    commit = commit_label()  # before anything is written
    if args.write and (args.audio or args.max_windows or args.timestamps):
        sys.exit("decoder_error.py: --write runs both modes on the default audio (no AUDIO, --max-windows, --timestamps)")
    dump = REPO / "build" / "tools" / "dump_decoder"
    if not os.access(dump, os.X_OK):
        sys.exit("decoder_error.py: build/tools/dump_decoder is missing: run `make tools`")
    modes = [False, True] if args.write else [args.timestamps]
    audio = [Path(a) for a in args.audio] or default_audio()
    tables = []
    for ts in modes:
        fid = Fidelity(args.model, dump, threads=args.threads, timestamps=ts)
        for path in audio:
            for start, mel in windows(path):
                if args.max_windows and fid.n_windows >= args.max_windows:
                    break
                n = fid.add(mel)
                print(f"  {path.name} @ {start:.0f} s: {n} positions", file=sys.stderr, flush=True)
        s = fid.summary()
        lines = [f"{fid.n_windows} windows, {s['amanuensis int8 vs f32']['positions']} positions, "
                 f"{'with' if ts else 'without'} timestamp tokens:", "",
                 "| | mean KL (nats) | top-1 differs | mean abs Δ log p(forced token) |", "|---|---|---|---|"]
        lines += [f"| {name} | {r['kl']:.2e} | {r['top1']:.2%} ({r['top1_n']}) | {r['dlogp']:.2e} |"
                  for name, r in s.items()]
        tables.append("\n".join(lines))
        print(tables[-1] + "\n", flush=True)
    if args.write:
        cpu = cpu_model()
        body = [SECTION, "",
                f"{datetime.date.today().isoformat()}, commit {commit}. Machine: {cpu}, {os.cpu_count()} CPUs, "
                f"{platform.system()} {platform.release()}. Command: `python3 bench/decoder_error.py --write`.", "",
                f"Audio: {', '.join(p.name for p in audio)}, cut into 30 s windows; model {Path(args.model).name}. "
                "Teacher-forced on the tokens CTranslate2 float32 decodes greedily, each system's int8 "
                "next-token distributions against its own float32 ones: KL(p_f32 || p_int8), the share of "
                "positions whose top-1 token changes, and |Δ log p| of the forced token.", ""]
        body += [t + "\n" for t in tables]
        report("decoder_error.py", SECTION, "\n".join(body), True)

if __name__ == "__main__":
    main()
