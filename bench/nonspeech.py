#!/usr/bin/env python3
"""nonspeech.py — how often text comes out of audio without speech: amanuensis against faster-whisper.

A set of --n (default 64) non-speech files, deterministic from --seed (generated into --out/inputs,
kept between runs): silence (digital zero, a +-1 LSB dither, room tone: pink noise at -66 dBFS),
noise (white, pink and brown at -50, -35, -20 and -10 dBFS RMS), mains hum (50/60 Hz and harmonics)
and music (chords, plucked melodies, sweeps and drum patterns synthesized by bench/soak.py's
generators, and chords by `sox synth` when sox is installed), 5 to 60 s each.  Both systems run
with their defaults and without VAD:

  ours:           build/amanuensis transcribe -m models/tiny.en -q -o json --output-dir OUT/ours FOLDER
  faster-whisper: WhisperModel("models/tiny.en", device="cpu", compute_type="int8").transcribe(f)
                  (beam 5, temperature fallback, thresholds and condition_on_previous_text: its defaults)

Counts per category the files where any non-empty text was produced, and the words produced.
Prints Markdown tables; writes OUT/report.json.  Exit status 1 when ours produces text on more files
than faster-whisper does.

  python3 bench/nonspeech.py                      # 64 files, both systems
  python3 bench/nonspeech.py --only ours          # without faster-whisper
  python3 bench/nonspeech.py --first-window --files 041,052   # the figures of those files' first windows
  python3 bench/nonspeech.py --only ours --ours-args='--frontend f32' --inputs bench/out/nonspeech/inputs-n64-s1 \
      --out bench/out/nonspeech-f32fe              # ours with other options, on the same files
"""
import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak  # noqa: E402  (the signal generators)

REPO = Path(__file__).resolve().parents[1]
SR = soak.SR


def make_set(n, seed):
    """[{"name", "category", "detail", "seconds"}]: n files, a quarter silence, 3/8 noise, 1/8 hum and a
    quarter music, each category cycling through its variants."""
    rng = random.Random(seed)
    variants = {
        "silence": [("zero", None), ("dither", None), ("roomtone", None)],
        "noise": [(c, lvl) for lvl in (-50, -35, -20, -10) for c in ("white", "pink", "brown")],
        "hum": [("hum", None)],
        "music": [(s, None) for s in ["chords", "melody", "sweep", "drums"]
                  + (["sox-chords"] if shutil.which("sox") else [])],
    }
    quota = {"silence": n // 4, "noise": 3 * n // 8, "hum": n // 8}
    quota["music"] = n - sum(quota.values())
    items = []
    for cat, q in quota.items():
        for j in range(q):
            detail, lvl = variants[cat][j % len(variants[cat])]
            i = len(items)
            it = {"id": i, "category": cat, "detail": detail, "seconds": round(rng.uniform(5.0, 60.0), 2)}
            if lvl is not None:
                it["level_db"] = lvl
            it["name"] = f"{i:03d}_{cat}_{detail}" + (f"_{-lvl}dB" if lvl is not None else "") + ".wav"
            items.append(it)
    return items


def sox_chords(path, seconds, rng):
    notes = [["C3", "E3", "G3"], ["A2", "C3", "E3"], ["F2", "A2", "C3"], ["G2", "B2", "D3"]]
    parts = []
    per = max(1.0, seconds / 4)
    for k in range(int(np.ceil(seconds / per))):
        ch = notes[(k + rng.randrange(4)) % 4]
        parts.append((ch, per))
    tmp = []
    for j, (ch, d) in enumerate(parts):
        t = path.with_suffix(f".{j}.wav")
        args = ["sox", "-n", "-r", str(SR), "-c", "1", "-b", "16", str(t), "synth", f"{d:.2f}"]
        for nt in ch:
            args += ["pluck", nt]
        args += ["vol", "0.3"]
        subprocess.run(args, check=True, capture_output=True)
        tmp.append(t)
    subprocess.run(["sox", *map(str, tmp), str(path), "trim", "0", f"{seconds:.2f}"], check=True, capture_output=True)
    for t in tmp:
        t.unlink()


def generate(it, seed, dst):
    rng = random.Random(f"nonspeech-{seed}-{it['id']}")
    nprng = np.random.default_rng(rng.randrange(2 ** 32))
    n = int(it["seconds"] * SR)
    c, d = it["category"], it["detail"]
    if c == "silence":
        x = soak.silence(nprng, n, d)
    elif c == "noise":
        x = soak.coloured_noise(nprng, n, d) * soak.db(it["level_db"])
    elif c == "hum":
        x = soak.hum(rng, n)
    elif d == "sox-chords":
        sox_chords(dst, it["seconds"], rng)
        return
    else:
        x = soak.music(rng, nprng, n, d)
    soak.write_wav(dst, x)


def words(text):
    return len(text.split())


def run_ours(a, items, folder, out):
    od = out / "ours"
    if od.exists():
        shutil.rmtree(od)
    cmd = [a.binary, "transcribe", "-m", a.model, "-q", "-o", "json", *a.ours_args.split(), "--output-dir", str(od),
           str(folder)]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"nonspeech: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    texts = {it["name"]: json.loads((od / (Path(it["name"]).stem + ".json")).read_text())["text"].strip()
             for it in items}
    return {"command": " ".join(cmd), "wall": wall, "texts": texts}


def run_faster_whisper(a, items, folder):
    from faster_whisper import WhisperModel
    import faster_whisper
    t0 = time.time()
    m = WhisperModel(a.model, device="cpu", compute_type=a.fw_compute_type, cpu_threads=a.fw_threads)
    texts = {}
    for it in items:
        segs, _info = m.transcribe(str(folder / it["name"]), beam_size=5)
        texts[it["name"]] = "".join(s.text for s in segs).strip()
    return {"command": f'WhisperModel("{a.model}", device="cpu", compute_type="{a.fw_compute_type}", '
                       f'cpu_threads={a.fw_threads})'
                       f'.transcribe(f, beam_size=5)', "wall": time.time() - t0, "texts": texts,
            "version": faster_whisper.__version__}


def first_window_ours(a, items, folder, out):
    """{name: figures} of each file's first window decoded once at temperature 0 and never skipped."""
    od = out / "ours-first"
    if od.exists():
        shutil.rmtree(od)
    cmd = [a.binary, "transcribe", "-m", a.model, "-q", "-o", "json", *a.ours_args.split(), "--no-fallback",
           "--no-speech-threshold", "-1", "--output-dir", str(od)] + [str(folder / it["name"]) for it in items]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        sys.exit(f"nonspeech: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    res = {}
    for it in items:
        segs = json.loads((od / (Path(it["name"]).stem + ".json")).read_text())["segments"]
        res[it["name"]] = window_figures([(s["seek"], s["tokens"], s["text"], s["avg_logprob"], s["no_speech_prob"],
                                           s["compression_ratio"]) for s in segs])
    return {"command": " ".join(cmd), "windows": res}


def first_window_faster_whisper(a, items, folder):
    from faster_whisper import WhisperModel
    m = WhisperModel(a.model, device="cpu", compute_type=a.fw_compute_type, cpu_threads=a.fw_threads)
    res = {}
    for it in items:
        segs, _info = m.transcribe(str(folder / it["name"]), beam_size=5, temperature=[0.0], no_speech_threshold=None)
        res[it["name"]] = window_figures([(s.seek, s.tokens, s.text, s.avg_logprob, s.no_speech_prob,
                                           s.compression_ratio) for s in segs])
    return {"command": f'WhisperModel("{a.model}", device="cpu", compute_type="{a.fw_compute_type}")'
                       f'.transcribe(f, beam_size=5, temperature=[0.0], no_speech_threshold=None)', "windows": res}


def window_figures(segs):
    """The seek-0 window of (seek, tokens, text, avg_logprob, no_speech_prob, compression_ratio) segments, and
    what the defaults would do with it: skip (no_speech_prob > 0.6, avg_logprob <= -1), fall back to sampling
    (compression ratio > 2.4, or avg_logprob < -1 without the no-speech condition) or keep."""
    s0 = [s for s in segs if s[0] == 0]
    if not s0:
        return None
    tokens = [t for s in s0 for t in s[1]]
    avg, nsp, cr = s0[0][3], s0[0][4], s0[0][5]
    if nsp > 0.6 and avg <= -1.0:
        fate = "skip"
    elif cr > 2.4 or avg < -1.0:
        fate = "fallback"
    else:
        fate = "keep"
    return {"n_tokens": len(tokens), "text": "".join(s[2] for s in s0).strip(), "avg_logprob": avg,
            "no_speech_prob": nsp, "compression_ratio": cr, "fate": fate}


def first_window_report(a, items, folder, out):
    if a.files:
        keys = a.files.split(",")
        items = [it for it in items if any(it["name"].startswith(k) for k in keys)]
    systems = {}
    if a.only != "faster-whisper":
        systems["amanuensis"] = first_window_ours(a, items, folder, out)
    if a.only != "ours":
        systems["faster-whisper"] = first_window_faster_whisper(a, items, folder)
    lines = ["| file | " + " | ".join(f"{s}: tokens, text | avg_logprob | no_speech_prob | compr. | at T=0"
                                      for s in systems) + " |",
             "|---|" + "---|---|---|---|---|" * len(systems)]
    for it in items:
        cells = []
        for s, r in systems.items():
            w = r["windows"][it["name"]]
            cells += ([f'{w["n_tokens"]}, "{w["text"][:24]}"', f'{w["avg_logprob"]:.3f}', f'{w["no_speech_prob"]:.3f}',
                       f'{w["compression_ratio"]:.2f}', w["fate"]] if w else ["(none)", "", "", "", ""])
        lines.append(f"| {it['name'][:-4]} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"{s}: `{r['command'][:160]}`" for s, r in systems.items()]
    text = "\n".join(lines)
    print(text)
    (out / "first-window.md").write_text(text + "\n")
    (out / "first-window.json").write_text(json.dumps(systems, indent=1))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "nonspeech"))
    ap.add_argument("--binary", default=str(REPO / "build" / "amanuensis"))
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("--fw-threads", type=int, default=0, help="faster-whisper cpu_threads (0: its default)")
    ap.add_argument("--ours-args", default="",
                    help="more transcribe options for ours, as one argument: --ours-args='--frontend f32'")
    ap.add_argument("--fw-compute-type", default="int8", help="faster-whisper compute_type (int8, float32)")
    ap.add_argument("--inputs", help="folder of the generated files (default: OUT/inputs-nN-sSEED)")
    ap.add_argument("--only", choices=["ours", "faster-whisper"])
    ap.add_argument("--first-window", action="store_true",
                    help="instead of the counts: each file's first window decoded once at temperature 0 and never "
                         "skipped, its tokens, avg_logprob, no_speech_prob and compression ratio on both sides")
    ap.add_argument("--files", help="with --first-window: these files only (comma-separated name prefixes: 041,052)")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    items = make_set(a.n, a.seed)
    folder = Path(a.inputs).resolve() if a.inputs else out / f"inputs-n{a.n}-s{a.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    for it in items:
        dst = folder / it["name"]
        if not dst.exists():
            part = folder / (".part-" + it["name"])
            generate(it, a.seed, part)
            os.replace(part, dst)
    if a.first_window:
        return first_window_report(a, items, folder, out)
    systems = {}
    if a.only != "faster-whisper":
        systems["amanuensis"] = run_ours(a, items, folder, out)
    if a.only != "ours":
        systems["faster-whisper"] = run_faster_whisper(a, items, folder)

    cats = ["silence", "noise", "hum", "music"]
    lines = [f"Files: {len(items)} ({sum(it['seconds'] for it in items) / 60:.1f} min), seed {a.seed}.", ""]
    head = "| category | files | " + " | ".join(f"{s}: files with text | {s}: words" for s in systems) + " |"
    lines += [head, "|---|---|" + "---|---|" * len(systems)]
    totals = {s: [0, 0] for s in systems}
    for c in cats + ["all"]:
        its = [it for it in items if c == "all" or it["category"] == c]
        cells = []
        for s, r in systems.items():
            nf = sum(1 for it in its if r["texts"][it["name"]])
            nw = sum(words(r["texts"][it["name"]]) for it in its)
            cells += [f"{nf} ({100 * nf / len(its):.0f}%)", str(nw)]
            if c == "all":
                totals[s] = [nf, nw]
        lines.append(f"| {c} | {len(its)} | " + " | ".join(cells) + " |")
    lines.append("")
    for s, r in systems.items():
        common = collections.Counter(t for t in r["texts"].values() if t).most_common(5)
        lines.append(f"{s}: `{r['command']}`, wall {r['wall']:.0f} s"
                     + (f", faster-whisper {r['version']}" if "version" in r else "")
                     + "; most frequent texts: " + ("; ".join(f'"{t[:60]}" x{k}' for t, k in common) or "none"))
    text = "\n".join(lines)
    print(text)
    (out / "report.md").write_text(text + "\n")
    (out / "report.json").write_text(json.dumps({"items": items, "systems": systems}, indent=1))
    if len(systems) == 2 and totals["amanuensis"][0] > totals["faster-whisper"][0]:
        print("nonspeech: ours produced text on more files than faster-whisper")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
