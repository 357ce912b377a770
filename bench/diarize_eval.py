#!/usr/bin/env python3
"""Speaker diarization against issue 15's acceptance 2 and 3: DER, speaker count, time and memory.

1. The synthetic conversations of tests/integration/diarize_fixtures.py (2, 3 and 4 voices, pauses,
   back-channels, overlapped turns), each run as
   `amanuensis transcribe -m MODEL -t THREADS --diarize -o rttm FILE` told the count
   (--num-speakers N) and estimating it; the RTTM scored with pyannote.metrics'
   DiarizationErrorRate(collar=0.0, skip_overlap=False) and collar=0.5 (the NIST +-0.25 s), and
   whether the estimated count is right.  Then the same for real speech: pyannote's two-speaker
   sample against its RTTM (tests/data/speech/; not counted among the fixtures).
2. A --minutes long two-speaker conversation (default 10) made here from the same voices (slt and
   kal, the fixtures' lines and back-channels, seeded pauses and a few overlaps): the wall time of
   the transcription without and with --diarize, run one after the other --repeat times (the best
   of each kept, with its CPU time: --diarize runs beside the transcription on the cores it leaves
   idle, so it adds more CPU time than wall time), and the DER of the --diarize run.
3. A --long-minutes conversation (default 60) made the same way: peak RSS (the child's ru_maxrss,
   os.wait4) with --diarize.  --long-minutes 0 skips it.

    python3 bench/diarize_eval.py [--binary build/amanuensis] [--model models/tiny.en] [--threads 2] [--detailed]
    python3 bench/diarize_eval.py --step 1.5 --every 7 --minutes 0 --long-minutes 0   # other chunk settings

Prints a Markdown table for BENCHMARKS.md.  Work files go to bench/out/diarize/ (ignored).  Needs
flite, espeak-ng and sox (scripts/install-deps test), pyannote.metrics (same) and the diarization
weights (scripts/fetch-model diarization)."""
import argparse
import json
import os
import random
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import diarize_fixtures as fx  # noqa: E402

BACK_CHANNELS = ["Yeah.", "Right.", "Okay.", "I see."]


def write_wav(path, x):
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(fx.SR)
        f.writeframes(pcm.tobytes())


def fixture(name, work):
    """(wav, reference turns) of one of the fixtures' conversations, made once."""
    wav, ref = work / f"{name}.wav", work / f"{name}.json"
    if not (wav.exists() and ref.exists()):
        audio, turns = fx.conversation(fx.CONVERSATIONS[name], work)
        write_wav(wav, audio)
        ref.write_text(json.dumps(turns))
    return wav, [tuple(t) for t in json.loads(ref.read_text())]


SAMPLE = "pyannote_sample"  # real speech: pyannote's two-speaker sample and its RTTM, from tests/data/speech


def sample():
    """(wav, reference turns) of pyannote's two-speaker sample (tests/data/README.md)."""
    d = ROOT / "tests" / "data" / "speech"
    return d / f"{SAMPLE}.wav", rttm_turns((d / f"{SAMPLE}.rttm").read_text())


def rttm_turns(text):
    """[(start, end, speaker)] of an RTTM's SPEAKER lines."""
    turns = []
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            turns.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return turns


def long_conversation(minutes, seed, work):
    """(wav, reference turns) of a two-voice conversation of about `minutes`: slt and kal take turns
    with the fixtures' lines, pauses of 0.2 to 1.5 s, one turn in 8 a back-channel, one in 10
    starting up to 0.8 s before the previous one ends."""
    wav, ref = work / f"two_{minutes}min.wav", work / f"two_{minutes}min.json"
    if wav.exists() and ref.exists():
        return wav, [tuple(t) for t in json.loads(ref.read_text())]
    cache = {}

    def utt(voice, text):
        if (voice, text) not in cache:
            x = fx.utterance(voice, text, work)
            a, b = fx.speech_extent(x)
            cache[(voice, text)] = x[a:b]
        return cache[(voice, text)]

    rng = random.Random(seed)
    pieces, turns, t, voice = [], [], 0.5, "slt"
    while t < minutes * 60:
        text = rng.choice(BACK_CHANNELS) if rng.random() < 0.125 else rng.choice(fx.LINES)
        x = utt(voice, text)
        gap = -rng.uniform(0.2, 0.8) if turns and rng.random() < 0.1 else rng.uniform(0.2, 1.5)
        start = max(0.0, t + gap) if turns else t
        pieces.append((int(round(start * fx.SR)), x))
        turns.append((start, start + x.shape[0] / fx.SR, voice))
        t = start + x.shape[0] / fx.SR
        voice = "kal" if voice == "slt" else "slt"
    total = max(s + x.shape[0] for s, x in pieces) + fx.SR // 2
    audio = np.zeros(total)
    for s, x in pieces:
        audio[s: s + x.shape[0]] += x
    write_wav(wav, audio / max(1.0, np.abs(audio).max() / 0.9))
    ref.write_text(json.dumps(turns))
    return wav, turns


def run(args, wav, out_dir, *extra):
    """(wall seconds, peak RSS MiB, the RTTM's turns or None, CPU seconds: user + system) of one
    transcription."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(args.binary), "transcribe", "-m", str(args.model), "-t", str(args.threads), "-q",
           "--output-dir", str(out_dir), *extra, str(wav)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"diarize_eval: {' '.join(cmd)} failed: {err.strip()}")
    rttm = out_dir / (wav.stem + ".rttm")
    turns = rttm_turns(rttm.read_text()) if "--diarize" in extra else None
    return wall, ru.ru_maxrss / 1024.0, turns, ru.ru_utime + ru.ru_stime


def run_pipeline(args, wav, n):
    """The turns of `diar_dump diarize` (the pipeline alone, int8 CAM++ as the CLI runs it) on wav
    with --step / --every; told n speakers when n > 0."""
    with wave.open(str(wav), "rb") as f:
        x = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype("<f4") / 32768.0
    f32 = args.work / "pipeline.f32"
    x.tofile(f32)
    cmd = [str(args.binary.parent / "tools" / "diar_dump"), "diarize", "--int8", "--threads", str(args.threads),
           "--step", str(args.step)] + (["--every", str(args.every)] if args.every else []) + \
          (["--max-embed", str(args.max_embed)] if args.max_embed is not None else []) + \
          (["--num", str(n)] if n else []) + [str(ROOT / "models" / "diarization" / "diarization.bin"), str(f32), "x"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"diarize_eval: {' '.join(cmd)} failed: {out.stderr.strip()}")
    return rttm_turns(out.stdout)


def annotation(turns):
    from pyannote.core import Annotation, Segment
    a = Annotation()
    for i, (s, e, who) in enumerate(turns):
        a[Segment(s, e), i] = who
    return a


def der(ref, hyp, wav, detailed=False):
    """(DER without collar, DER with collar 0.5) in percent, overlap scored, over the whole file;
    detailed: (missed, false alarm, confusion) without collar, in percent of the reference speech."""
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate
    with wave.open(str(wav), "rb") as f:
        uem = Timeline([Segment(0.0, f.getnframes() / f.getframerate())])
    r, h = annotation(ref), annotation(hyp)
    if detailed:
        d = DiarizationErrorRate(collar=0.0, skip_overlap=False)(r, h, uem=uem, detailed=True)
        return tuple(100.0 * d[k] / d["total"] for k in ("missed detection", "false alarm", "confusion"))
    return tuple(100.0 * DiarizationErrorRate(collar=c, skip_overlap=False)(r, h, uem=uem) for c in (0.0, 0.5))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", type=Path, default=ROOT / "build" / "amanuensis")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "tiny.en")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", type=int, default=10, help="the timed two-speaker file (0: none)")
    ap.add_argument("--long-minutes", type=int, default=60, help="the file whose peak RSS is measured (0: none)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each kind (the best kept)")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--no-fixtures", action="store_true", help="skip part 1")
    ap.add_argument("--detailed", action="store_true",
                    help="part 1: also the DER's parts without collar (missed, false alarm, confusion)")
    ap.add_argument("--step", type=float, help="part 1 through the pipeline alone (tests/tools/diar_dump beside "
                    "--binary) with chunks every STEP seconds instead of the CLI's default")
    ap.add_argument("--every", type=int, default=0, help="with --step: the anchor chunks' spacing (0: the default)")
    ap.add_argument("--max-embed", type=float, help="with --step: the seconds of speech an embedding takes at most "
                    "(default: the pipeline's)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "diarize")
    args = ap.parse_args()
    if not fx.available():
        sys.exit("diarize_eval: flite, espeak-ng and sox are needed (scripts/install-deps test)")
    try:
        import pyannote.metrics  # noqa: F401
    except ImportError:
        sys.exit("diarize_eval: pyannote.metrics is needed (scripts/install-deps test)")
    args.work.mkdir(parents=True, exist_ok=True)

    if not args.no_fixtures:
        print("| file | voices | told the count: DER / collar 0.5 | estimated: DER / collar 0.5 | estimated count |")
        print("|---|---:|---:|---:|---:|")
    hits, parts = 0, []
    files = [] if args.no_fixtures else list(fx.CONVERSATIONS) + [SAMPLE]
    for name in files:
        wav, ref = fixture(name, args.work) if name != SAMPLE else sample()
        n = len({v for _, _, v in ref})
        if args.step:
            told, est = run_pipeline(args, wav, n), run_pipeline(args, wav, 0)
        else:
            told = run(args, wav, args.work / "told", "--diarize", "-o", "rttm", "--num-speakers", str(n))[2]
            est = run(args, wav, args.work / "est", "--diarize", "-o", "rttm")[2]
        k = len({s for _, _, s in est})
        hits += k == n and name != SAMPLE
        d0, d1 = der(ref, told, wav)
        e0, e1 = der(ref, est, wav)
        print(f"| {name} | {n} | {d0:.1f}% / {d1:.1f}% | {e0:.1f}% / {e1:.1f}% | {k}{'' if k == n else ' (wrong)'} |",
              flush=True)
        if args.detailed:
            parts.append((name, der(ref, told, wav, True), der(ref, est, wav, True)))
    if not args.no_fixtures:
        print(f"\nspeaker count right on {hits} of {len(fx.CONVERSATIONS)} fixtures\n")
    if parts:
        print("| file | told: missed / false alarm / confusion | estimated: missed / false alarm / confusion |")
        print("|---|---:|---:|")
        for name, t, e in parts:
            print(f"| {name} | {' / '.join(f'{x:.1f}%' for x in t)} | {' / '.join(f'{x:.1f}%' for x in e)} |")
        print()

    if args.minutes > 0:
        wav, ref = long_conversation(args.minutes, args.seed, args.work)
        plain, diar, hyp = [], [], None
        for _ in range(args.repeat):  # alternated; the fastest of each kept, with its CPU time
            w, _, _, cpu = run(args, wav, args.work / "plain", "-o", "txt")
            plain.append((w, cpu))
            w, _, hyp, cpu = run(args, wav, args.work / "long", "--diarize", "-o", "rttm")
            diar.append((w, cpu))
        (a, ca), (b, cb) = min(plain), min(diar)
        d0, d1 = der(ref, hyp, wav)
        k = len({s for _, _, s in hyp})
        print(f"| {args.minutes}-minute two-voice file, -t {args.threads} | wall | CPU (user + system) |")
        print("|---|---:|---:|")
        print(f"| transcription | {a:.1f} s | {ca:.1f} s |")
        print(f"| transcription --diarize | {b:.1f} s (+{100 * (b - a) / a:.0f}%) | {cb:.1f} s "
              f"(+{100 * (cb - ca) / ca:.0f}%) |")
        print(f"| DER / collar 0.5 (count estimated: {k}) | {d0:.1f}% / {d1:.1f}% | |\n")
    if args.long_minutes > 0:
        wav, ref = long_conversation(args.long_minutes, args.seed, args.work)
        w, rss, hyp, _ = run(args, wav, args.work / "long", "--diarize", "-o", "rttm")
        k = len({s for _, _, s in hyp})
        d0, d1 = der(ref, hyp, wav)
        print(f"| {args.long_minutes}-minute two-voice file --diarize, -t {args.threads} | |")
        print("|---|---:|")
        print(f"| peak RSS | {rss:.0f} MiB |")
        print(f"| wall | {w:.0f} s |")
        print(f"| DER / collar 0.5 (count estimated: {k}) | {d0:.1f}% / {d1:.1f}% |")


if __name__ == "__main__":
    main()
