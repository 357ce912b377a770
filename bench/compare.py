#!/usr/bin/env python3
"""bench/compare.py — amanuensis (f32, int8) against faster-whisper (int8, float32), side by side.

    python3 bench/compare.py [--write] [--runs N] [--model models/tiny.en] [--threads 2] [--beams 1,5]
    python3 bench/compare.py --audio OTHER.wav --reference OTHER.txt     (prints the table only)
    python3 bench/compare.py --baseline /path/to/older/build/amanuensis   (adds its int8 rows: before/after)

One command, one run of every row on the same audio and the same weights (models/tiny.en, the
CTranslate2 directory faster-whisper loads), 2 threads each (faster-whisper: cpu_threads=2,
num_workers=1), greedy/beam at temperature 0 without fallback, no VAD, language en:

    amanuensis --precision f32 | int8 (front end: the default q15)   faster-whisper compute_type int8 | float32
    at beam 1 and beam 5 (amanuensis --beam-size N; rows are "n/a" if the build has no beam search).

Audio: every English recording with a reference transcript from Debian's pocketsphinx-testdata
(LibriVox, cards), jfk.wav and tests/data/speech (MANIFEST.tsv), resampled to 16 kHz 16-bit,
concatenated with 0.5 s of silence between files and the list repeated until it lasts >= 5 minutes;
cached in bench/out/ (ignored by git).  The reference transcript is the concatenation of theirs.

Per row: wall time of the whole process (model load included), RTF = wall / audio, peak RSS of the
process (ru_maxrss from wait4), WER (jiwer over the textnorm-normalised text), for int8 rows the
word error rate against the same system's float32 transcript at the same beam (how far quantisation
moves it), and the speed ratio to faster-whisper int8 at the same beam (> 1: faster).  The
WER difference to faster-whisper int8 comes with a 95% interval from a paired bootstrap over the
source recordings (each recording's repetitions count as one: the same speech), to show how many
words the comparison can resolve.  Also the encoder-only timing of
build/tools/encoder_bench (f32 vs int8, 1 vs 2 threads).  --write replaces the section
"## amanuensis vs faster-whisper (bench/compare.py)" of BENCHMARKS.md (other sections are kept).
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from textnorm import normalize  # noqa: E402

PSPHINX = Path("/usr/share/pocketsphinx/test/data")
DATA = Path(os.environ.get("AM_TEST_DATA_DIR") or REPO / "tests" / "data")
OUT = REPO / "bench" / "out"
SECTION = "## amanuensis vs faster-whisper (bench/compare.py)"
MIN_SECONDS = 300.0
GAP = 0.5
JFK = ("And so my fellow Americans, ask not what your country can do for you, "
       "ask what you can do for your country.")


def psphinx_refs(path):
    refs = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^(.*)\(([^()]*)\)\s*$", line.strip())
        if m:
            refs[m.group(2).strip()] = " ".join(m.group(1).replace("<s>", " ").replace("</s>", " ").split())
    return refs


def sources(with_reference=True):
    """[(recording, reference transcript)]: pocketsphinx LibriVox and cards, jfk, the English files of
    tests/data/speech; with_reference=False also keeps those without a transcript (reference "")."""
    items = []
    for sub, trans in (("librivox", "transcription"), ("cards", "cards.transcription")):
        refs = psphinx_refs(PSPHINX / sub / trans)
        items += [(w, refs.get(w.stem, "")) for w in sorted((PSPHINX / sub).glob("*.wav"))]
    items.append((DATA / "jfk.wav", JFK))
    lines = (DATA / "speech" / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t") + [""] * len(header)))
        if row.get("language") == "en":
            items.append((DATA / "speech" / row["file"], row.get("reference_transcript", "").strip()))
    return [(w, r) for w, r in items if r or not with_reference]


def build_audio():
    """bench/out/speech-5min.wav + .txt (reference); made once."""
    OUT.mkdir(parents=True, exist_ok=True)
    wav_path, ref_path = OUT / "speech-5min.wav", OUT / "speech-5min.txt"
    if wav_path.exists() and ref_path.exists():
        return wav_path, ref_path.read_text()
    pieces, refs, total = [], [], 0.0
    items = sources()
    with tempfile.TemporaryDirectory() as td:
        for i, (src, ref) in enumerate(items):
            dst = Path(td) / f"{i}.raw"
            subprocess.run(["sox", str(src), "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer",
                            str(dst)], check=True)
            pieces.append((dst.read_bytes(), ref))
    silence = b"\0\0" * int(16000 * GAP)
    data = bytearray()
    while total < MIN_SECONDS:
        for pcm, ref in pieces:
            data += pcm + silence
            refs.append(ref)
            total += len(pcm) / 32000 + GAP
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(data))
    ref_path.write_text(" ".join(refs) + "\n")
    return wav_path, ref_path.read_text()


def run_child(cmd, env=None):
    """(wall seconds, peak RSS MiB, stdout) of one child process; outputs go through temporary files."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read().decode("utf-8", "replace"), fe.read().decode("utf-8", "replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {p.returncode}: {err[-2000:]}")
    return wall, ru.ru_maxrss / 1024.0, out


FW_SCRIPT = r"""
import sys, json
from faster_whisper import WhisperModel
model_dir, audio, ctype, beam, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
m = WhisperModel(model_dir, device="cpu", compute_type=ctype, cpu_threads=threads, num_workers=1)
segs, _ = m.transcribe(audio, beam_size=beam, best_of=1, temperature=[0.0], language="en",
                       condition_on_previous_text=True, vad_filter=False)
print(json.dumps({"text": "".join(s.text for s in segs)}))
"""


def word_errors(ref, hyp):
    """Errors per reference word of the alignment of hyp to ref (word lists): substitutions and
    deletions at their word, insertions at the word before them."""
    import jiwer
    import numpy as np
    e = np.zeros(len(ref))
    for c in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        if c.type in ("substitute", "delete"):
            e[c.ref_start_idx:c.ref_end_idx] += 1
        elif c.type == "insert":
            e[max(0, min(c.ref_start_idx, len(ref)) - 1)] += c.hyp_end_idx - c.hyp_start_idx
    return e


def clusters_of(ref_words, built):
    """A cluster id per reference word for the bootstrap: the source recording for the built audio
    (its repetitions are one cluster: the same speech, correlated errors), else blocks of 100 words."""
    import numpy as np
    if built:
        ids, flat, pieces = [], [], [normalize(r).split() for _, r in sources()]
        while pieces and len(ids) < len(ref_words):  # build_audio's order: the list repeated
            for i, p in enumerate(pieces):
                ids += [i] * len(p)
                flat += p
        if flat[:len(ref_words)] == ref_words:
            return np.array(ids[:len(ref_words)])
    return np.arange(len(ref_words)) // 100


def wer_difference_interval(ref, hyp_a, hyp_b, clusters, draws=10000):
    """95% interval of WER(a) − WER(b) in points, by a paired bootstrap over clusters of the reference."""
    import numpy as np
    ea, eb = word_errors(ref, hyp_a), word_errors(ref, hyp_b)
    ids = np.unique(clusters)
    sa = np.array([ea[clusters == c].sum() for c in ids])
    sb = np.array([eb[clusters == c].sum() for c in ids])
    n = np.array([(clusters == c).sum() for c in ids])
    pick = np.random.default_rng(0).integers(0, len(ids), size=(draws, len(ids)))
    d = (sa[pick].sum(1) - sb[pick].sum(1)) / n[pick].sum(1) * 100
    return float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5)), len(ids)


def cpu_model():
    """The CPU's model name from lscpu, or "unknown"."""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def commit_label():
    """The checkout's short commit, with " (+local changes)" when tracked files other than
    BENCHMARKS.md (which the bench scripts write themselves) differ from it."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md"],
                           capture_output=True, text=True, cwd=REPO).stdout.strip()
    return commit + (" (+local changes)" if dirty else "")


def write_section(title, text):
    """Replace the section of BENCHMARKS.md that starts with `title` (up to the next "## ") by
    `text`, appended at the end; the other sections are kept."""
    path = REPO / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = old.find(title)
    if start >= 0:
        nxt = old.find("\n## ", start + len(title))
        old = old[:start] + (old[nxt + 1:] if nxt >= 0 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
    return path


def report(script, title, section, write):
    """Print a BENCHMARKS.md section; with write, also put it in the file (write_section)."""
    print()
    print(section)
    if write:
        print(f"{script}: wrote the section to {write_section(title, section)}")


def am_has_beam(binary):
    r = subprocess.run([str(binary), "--help"], capture_output=True, text=True)
    return "--beam-size" in r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="record the table in BENCHMARKS.md")
    ap.add_argument("--runs", type=int, default=1, help="runs per row (median wall time)")
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beams", default="1,5")
    ap.add_argument("--skip-encoder", action="store_true")
    ap.add_argument("--audio", help="another 16 kHz WAV instead of the built one (prints only; no --write)")
    ap.add_argument("--reference", help="with --audio: a text file with its reference transcript")
    ap.add_argument("--baseline", help="another amanuensis binary (e.g. an older commit's build): its int8 rows run "
                                       "in the same run, next to this build's")
    args = ap.parse_args()
    commit = commit_label()  # before anything is written
    if args.audio and (args.write or not args.reference):
        sys.exit("compare.py: --audio needs --reference and cannot be combined with --write")
    binary = REPO / "build" / "amanuensis"
    if not os.access(binary, os.X_OK):
        sys.exit("compare.py: build/amanuensis is not built (make all)")
    if not (Path(args.model) / "model.bin").exists():
        subprocess.run([str(REPO / "scripts" / "fetch-model"), "tiny.en"], check=True)
    import faster_whisper
    import jiwer

    if args.audio:
        audio, reference = Path(args.audio), Path(args.reference).read_text(encoding="utf-8")
    else:
        audio, reference = build_audio()
    with wave.open(str(audio)) as w:
        duration = w.getnframes() / w.getframerate()
    ref_norm = normalize(reference)
    has_beam = am_has_beam(binary)
    beams = [int(b) for b in args.beams.split(",")]
    load = os.getloadavg()
    print(f"audio: {audio} ({duration:.1f} s); load average at start {load[0]:.2f}", flush=True)

    systems = [("amanuensis", "f32"), ("amanuensis", "int8"), ("faster-whisper", "int8"), ("faster-whisper", "float32")]
    if args.baseline:
        systems.insert(2, ("amanuensis (baseline)", "int8"))
    rows = []
    for beam in beams:
        for name, prec in systems:
            row = {"system": name, "precision": prec, "beam": beam}
            if name.startswith("amanuensis"):
                exe = Path(args.baseline) if name != "amanuensis" else binary
                if beam > 1 and not has_beam:
                    row["na"] = "n/a (beam search not yet in this build)"
                    rows.append(row)
                    continue
                cmd = [str(exe), "transcribe", "-m", args.model, "--precision", prec, "-t", str(args.threads),
                       "--beam-size", str(beam), "--no-fallback", "--temperature", "0", "-l", "en", "-q", "-o", "json",
                       "--output-dir", str(OUT), str(audio)]
            else:
                cmd = [sys.executable, "-c", FW_SCRIPT, args.model, str(audio), prec, str(beam), str(args.threads)]
            walls, rss = [], 0.0
            for _ in range(args.runs):
                wall, peak, out = run_child(cmd)
                walls.append(wall)
                rss = max(rss, peak)
            if name.startswith("amanuensis"):
                text = json.loads((OUT / (audio.stem + ".json")).read_text(encoding="utf-8"))["text"]
            else:
                text = json.loads(out.strip().splitlines()[-1])["text"]
            walls.sort()
            row.update(wall=walls[len(walls) // 2], rss=rss, wer=jiwer.wer(ref_norm, normalize(text)),
                       text=normalize(text))
            row["rtf"] = row["wall"] / duration
            rows.append(row)
            print(f"  {name} {prec} beam {beam}: wall {row['wall']:.2f} s, RTF {row['rtf']:.4f}, "
                  f"peak RSS {rss:.0f} MiB, WER {row['wer']:.2%}", flush=True)
    # int8 fidelity: the int8 transcript scored against the same system's float32 transcript (same
    # beam) as if that were the reference — how far quantisation moves each system, independent of
    # how right the float model is
    for r in rows:
        f32 = next((b for b in rows if b["system"] == r["system"] and b["precision"] in ("f32", "float32")
                    and b["beam"] == r["beam"] and "text" in b), None)
        if r["precision"] == "int8" and "text" in r and f32:
            r["vs_f32"] = jiwer.wer(f32["text"], r["text"])
    for r in rows:
        base = next((b for b in rows if b["system"] == "faster-whisper" and b["precision"] == "int8"
                     and b["beam"] == r["beam"] and "wall" in b), None)
        if "wall" in r and base:
            r["ratio"] = base["wall"] / r["wall"]

    enc = ""
    if not args.skip_encoder and os.access(REPO / "build" / "tools" / "encoder_bench", os.X_OK):
        enc = subprocess.run([str(REPO / "build" / "tools" / "encoder_bench"), args.model, "5"], capture_output=True,
                             text=True, check=True).stdout.strip()

    cpu = cpu_model()
    lines = [
        "| system | precision | beam | wall (s) | RTF | peak RSS (MiB) | WER | int8 vs own f32 | speed vs faster-whisper int8 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "na" in r:
            lines.append(f"| {r['system']} | {r['precision']} | {r['beam']} | {r['na']} | | | | | |")
            continue
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        fid = f"{r['vs_f32']:.2%}" if "vs_f32" in r else ""
        lines.append(f"| {r['system']} | {r['precision']} | {r['beam']} | {r['wall']:.2f} | {r['rtf']:.4f} | "
                     f"{r['rss']:.0f} | {r['wer']:.2%} | {fid} | {ratio} |")
    table = "\n".join(lines)
    checks = []
    clusters = clusters_of(ref_norm.split(), not args.audio)
    for beam in beams:
        ours = next((r for r in rows if r["system"] == "amanuensis" and r["precision"] == "int8" and r["beam"] == beam
                     and "wall" in r), None)
        fw = next((r for r in rows if r["system"] == "faster-whisper" and r["precision"] == "int8" and r["beam"] == beam
                   and "wall" in r), None)
        if ours and fw:
            lo, hi, n_cl = wer_difference_interval(ref_norm.split(), ours["text"].split(), fw["text"].split(), clusters)
            checks.append(f"beam {beam}: amanuensis int8 is {ours['ratio']:.2f}x faster-whisper int8's speed (target "
                          f">= 1.5x: {'met' if ours['ratio'] >= 1.5 else 'MISSED by %.1fx' % (1.5 / ours['ratio'])}), "
                          f"WER {ours['wer']:.2%} vs {fw['wer']:.2%} ({'not higher' if ours['wer'] <= fw['wer'] else 'HIGHER'}; "
                          f"difference {(ours['wer'] - fw['wer']) * 100:+.2f} points, 95% interval {lo:+.2f} to {hi:+.2f} "
                          f"by a paired bootstrap over {n_cl} {'source recordings' if not args.audio else 'blocks of 100 reference words'}), "
                          f"peak RSS {ours['rss']:.0f} vs {fw['rss']:.0f} MiB "
                          f"({'not higher' if ours['rss'] <= fw['rss'] else 'HIGHER'}).")
    for beam in beams:
        new = next((r for r in rows if r["system"] == "amanuensis" and r["precision"] == "int8" and r["beam"] == beam
                    and "wall" in r), None)
        old = next((r for r in rows if r["system"] == "amanuensis (baseline)" and r["beam"] == beam and "wall" in r), None)
        if new and old:
            checks.append(f"beam {beam}: this build int8 {new['wall']:.2f} s against the baseline's {old['wall']:.2f} s "
                          f"({old['wall'] / new['wall']:.3f}x), WER {new['wer']:.2%} vs {old['wer']:.2%}, "
                          f"transcripts {'identical' if new['text'] == old['text'] else 'DIFFERENT'}.")
    cmdline = "python3 bench/compare.py" + (" --write" if args.write else "") + \
        (f" --baseline {args.baseline}" if args.baseline else "") + \
        (f" --runs {args.runs}" if args.runs != 1 else "") + \
        (f" --audio {args.audio} --reference {args.reference}" if args.audio else "") + \
        (" --skip-encoder" if args.skip_encoder else "")
    what = (f"{audio} (reference {args.reference})" if args.audio else
            "English speech (pocketsphinx-testdata LibriVox + cards, jfk, tests/data/speech English files with "
            "references, 0.5 s gaps, repeated to >= 5 min; bench/out/speech-5min.wav)")
    body = [
        SECTION, "",
        f"{datetime.date.today().isoformat()}, commit {commit}. "
        f"Machine: {cpu}, {os.cpu_count()} CPUs (nproc), {platform.system()} {platform.release()}; "
        f"load average {load[0]:.2f} at the start (the machine is shared: compare rows of one run only). "
        f"faster-whisper {faster_whisper.__version__}. Command: `{cmdline}`.",
        "",
        f"Audio: {duration:.1f} s, {what}. Model "
        f"{Path(args.model).name} (same CTranslate2 weights for every row), {args.threads} threads, temperature 0, "
        f"no fallback, no VAD. Wall time includes loading the model; runs per row: {args.runs}.",
        "",
        table, "",
    ] + (["Targets: " + " ".join(checks), ""] if checks else [])
    if enc:
        body += ["Encoder only (build/tools/encoder_bench, one 30 s window):", "", "```", enc, "```", ""]
    report("compare.py", SECTION, "\n".join(body), args.write)


if __name__ == "__main__":
    main()
