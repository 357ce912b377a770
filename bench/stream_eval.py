#!/usr/bin/env python3
"""stream_eval.py — live transcription (`amanuensis stream`) against the offline run: issue 14's figures.

For each input it runs

  offline: build/amanuensis transcribe -m MODEL -t N --beam-size 1 --word-timestamps -q -o json FILE
  stream:  build/amanuensis stream -m MODEL -t N --step S --policy P --speed max --output jsonl --timing --stats \
               -o json --output-file OUT/NAME.stream.json FILE        (twice: the second without --timing)

and computes:
  - WER of the final (committed) transcript and of the offline one against the reference transcript
    (tests/integration/textnorm.py's word_errors), and the difference in points;
  - final-word latency: for each committed word, emitted_at + compute of the decode that committed it
    minus the end time of the same word in the offline run (words matched by aligning the two
    normalised word sequences; unmatched words are left out and counted);
  - partial latency: the same for the first event that showed the word (a partial, else its final);
  - utterance latency: the last final of each utterance (up to its speech_end) minus the offline end
    of its last word;
  - retractions: the committed text may only grow.  Checked on every event: a final must start at or
    after the end of the committed words and a partial must not start before it (else counted as an
    overlap, with the largest in seconds: word times of separate alignments may overlap by a few tens
    of ms, a repeated word by its length); at the end, the -o json result must be the finals' text
    (else "result ≠ finals");
  - partial words erased per final word: on every event the displayed words (committed + partial)
    are compared with the previous display; the words after their common prefix were erased;
  - determinism: the second run's events equal the first's without "compute"; samples fed == processed
    (--stats); compute seconds per audio second.

Inputs: FILES on the command line (references from tests/data/speech/MANIFEST.tsv by file name, or
--refs TSV with `file<TAB>transcript` lines), and/or --set: tests/data/speech's English recordings
with reference transcripts, converted to 16 kHz by sox, joined (1) with 1.5 to 3 s of silence
between them ("pauses") and (2) back to back ("continuous"), written to OUT/set/.

Prints a Markdown table (median and p90) for BENCHMARKS.md; writes OUT/report.json.

  python3 bench/stream_eval.py --set                        # tiny.en, 2 threads, 1 s step: ~5 min
  python3 bench/stream_eval.py --step 0.5 samples/jfk.wav
"""
import argparse
import csv
import difflib
import json
import random
import re
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from textnorm import normalize, word_errors  # noqa: E402

SR = 16000
SPEECH = REPO / "tests" / "data" / "speech"
STATS = re.compile(r"stream: samples fed (\d+), processed (\d+); audio ([\d.]+) s, compute ([\d.]+) s")


def manifest_refs():
    refs = {}
    with open(SPEECH / "MANIFEST.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            refs[row["file"]] = row
    return refs


def read_16k(path, tmp):
    """A file as 16 kHz mono int16 samples (sox converts it, without dither)."""
    wav = tmp / (Path(path).name + ".16k.wav")
    subprocess.run(["sox", "-D", str(path), "-r", str(SR), "-c", "1", "-b", "16", str(wav)], check=True)
    with wave.open(str(wav)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    wav.unlink()
    return x


def write_wav(path, x):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(x.astype("<i2").tobytes())


def build_set(out):
    """[(path, reference)]: the English recordings with transcripts, with pauses and back to back."""
    rows = [r for r in manifest_refs().values()
            if r["language"] == "en" and r["reference_transcript"] and r["kind"] != "nonspeech"]
    rows.sort(key=lambda r: r["file"])
    out.mkdir(parents=True, exist_ok=True)
    clips = [read_16k(SPEECH / r["file"], out) for r in rows]
    ref = " ".join(r["reference_transcript"] for r in rows)
    rng = random.Random(14)
    parts = [np.zeros(SR, dtype=np.int16)]
    for c in clips:
        parts += [c, np.zeros(int(rng.uniform(1.5, 3.0) * SR), dtype=np.int16)]
    pauses, continuous = out / "pauses.wav", out / "continuous.wav"
    write_wav(pauses, np.concatenate(parts))
    write_wav(continuous, np.concatenate(clips))
    return [(pauses, ref), (continuous, ref)]


def tokens_of(words):
    """[(normalised token, index of its word)] for a list of word strings."""
    out = []
    for i, w in enumerate(words):
        for t in normalize(w).split():
            out.append((t, i))
    return out


def match(a_tokens, b_tokens):
    """{index in a: index in b} of the tokens an alignment (difflib) pairs as equal."""
    sm = difflib.SequenceMatcher(None, [t for t, _ in a_tokens], [t for t, _ in b_tokens], autojunk=False)
    pairs = {}
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                pairs[i1 + k] = j1 + k
    return pairs


def pct(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, errors="replace", **kw)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stderr[-2000:]}")
    return r


def evaluate(args, path, ref, out):
    name = Path(path).stem
    base = [args.binary, "stream", "-m", args.model, "-t", args.threads, "--step", args.step, "--speed", "max",
            "--policy", args.policy, "--output", "jsonl", "--stats"]
    t0 = time.time()
    off_dir = out / "offline"
    run([args.binary, "transcribe", "-m", args.model, "-t", args.threads, "--beam-size", "1", "--word-timestamps",
         "-q", "-o", "json", "--output-dir", off_dir, path])
    offline = json.loads((off_dir / f"{name}.json").read_text())
    off_words = [w for s in offline["segments"] for w in s.get("words", [])]
    t1 = time.time()
    result_json = out / f"{name}.stream.json"
    r1 = run(base + ["--timing", "-o", "json", "--output-file", result_json, path])
    t2 = time.time()
    r2 = run(base + [path])
    evs = [json.loads(line) for line in r1.stdout.splitlines()]
    evs2 = [json.loads(line) for line in r2.stdout.splitlines()]
    (out / f"{name}.jsonl").write_text(r1.stdout)
    deterministic = [{k: v for k, v in e.items() if k != "compute"} for e in evs] == evs2
    m = STATS.search(r1.stderr)
    fed, processed, audio, compute = int(m.group(1)), int(m.group(2)), float(m.group(3)), float(m.group(4))

    # committed words with the time they were committed; displays for the erased-words count
    committed, commit_time, utter_last = [], [], []
    overlaps = partial_before = erased = 0
    max_overlap = 0.0
    committed_end = 0.0
    display = []
    utter_words = []
    partial_tokens_seen = []  # (time, tokens of the partial, committed word count then)
    for e in evs:
        when = e["emitted_at"] + e.get("compute", 0.0)
        if e["type"] == "final":
            ws = e["words"]
            if ws and ws[0]["start"] < committed_end - 1e-3:
                overlaps += 1
                max_overlap = max(max_overlap, committed_end - ws[0]["start"])
            for w in ws:
                committed.append(w)
                commit_time.append(when)
                utter_words.append(len(committed) - 1)
            if ws:
                committed_end = max(committed_end, ws[-1]["end"])
            new_display = normalize("".join(w["word"] for w in committed)).split()
        elif e["type"] == "partial":
            if e["text"] and e["start"] < committed_end - 1e-3:
                partial_before += 1
            partial_tokens_seen.append((when, normalize(e["text"]).split(), len(committed)))
            new_display = normalize("".join(w["word"] for w in committed) + e["text"]).split()
        else:
            if e["type"] == "speech_end" and utter_words:
                utter_last.append((utter_words[-1], commit_time[utter_words[-1]]))
                utter_words = []
            continue
        common = 0
        while common < min(len(display), len(new_display)) and display[common] == new_display[common]:
            common += 1
        erased += len(display) - common
        display = new_display
    if utter_words:
        utter_last.append((utter_words[-1], commit_time[utter_words[-1]]))
    final_text = "".join(w["word"] for w in committed)
    result_text = json.loads(result_json.read_text())["text"]

    # the stream's committed words against the offline words
    s_tok = tokens_of([w["word"] for w in committed])
    o_tok = tokens_of([w["word"] for w in off_words])
    pairs = match(s_tok, o_tok)
    word_off_end = {}  # committed word index -> offline end of its first matched token
    for si, oi in sorted(pairs.items()):
        word_off_end.setdefault(s_tok[si][1], off_words[o_tok[oi][1]]["end"])
    # when each committed word was first shown: its tokens found in a partial, or its final
    first_shown = list(commit_time)
    for when, ptoks, n_committed in partial_tokens_seen:
        rest = [(t, i) for t, i in s_tok if i >= n_committed]
        for si, _ in match(rest, [(t, 0) for t in ptoks]).items():
            wi = rest[si][1]
            first_shown[wi] = min(first_shown[wi], when)
    final_lat = [commit_time[i] - end for i, end in word_off_end.items()]
    partial_lat = [first_shown[i] - end for i, end in word_off_end.items()]
    utter_lat = [when - word_off_end.get(i, committed[i]["end"]) for i, when in utter_last]

    rec = {"input": name, "audio_s": audio, "words": len(committed), "unmatched": len(committed) - len(word_off_end),
           "final_median": pct(final_lat, 50), "final_p90": pct(final_lat, 90),
           "partial_median": pct(partial_lat, 50), "partial_p90": pct(partial_lat, 90),
           "utterances": len(utter_lat), "utterance_median": pct(utter_lat, 50), "utterance_p90": pct(utter_lat, 90),
           "overlaps": overlaps, "max_overlap_s": max_overlap, "partials_before_committed": partial_before,
           "result_equals_finals": result_text == final_text,
           "erased_per_final_word": erased / max(1, len(committed)), "deterministic": deterministic,
           "fed": fed, "processed": processed, "compute_per_audio": compute / audio if audio else float("nan"),
           "offline_s": t1 - t0, "stream_s": t2 - t1}
    if ref:
        e_off, n = word_errors(ref, offline["text"])
        e_str, _ = word_errors(ref, final_text)
        rec.update(ref_words=n, offline_wer=100.0 * e_off / n, stream_wer=100.0 * e_str / n)
    e_vs, n_vs = word_errors(offline["text"], final_text)
    rec["wer_vs_offline"] = 100.0 * e_vs / max(1, n_vs)
    rec["_final_lat"], rec["_partial_lat"], rec["_utter_lat"] = final_lat, partial_lat, utter_lat
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--set", action="store_true", help="the default set from tests/data/speech")
    ap.add_argument("--refs", help="TSV: file<TAB>reference transcript")
    ap.add_argument("--binary", default=str(REPO / "build" / "amanuensis"))
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--step", default="1.0")
    ap.add_argument("--policy", default="local-agreement", help="stream --policy (local-agreement, alignatt)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "stream"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = []
    if args.set:
        inputs += build_set(out / "set")
    refs = {k: v["reference_transcript"] for k, v in manifest_refs().items()}
    if args.refs:
        with open(args.refs) as f:
            for line in f:
                if "\t" in line:
                    k, v = line.rstrip("\n").split("\t", 1)
                    refs[Path(k).name] = v
    inputs += [(Path(f), refs.get(Path(f).name) or None) for f in args.files]
    if not inputs:
        ap.error("give FILES or --set")

    recs = []
    for path, ref in inputs:
        rec = evaluate(args, path, ref, out)
        recs.append(rec)
        print(f"{rec['input']}: {rec['audio_s']:.1f} s, {rec['words']} words, stream {rec['stream_s']:.0f} s",
              file=sys.stderr)

    def f2(v):
        return "–" if v != v else f"{v:.2f}"

    print(f"\nstream --step {args.step} --policy {args.policy} --speed max, {Path(args.model).name}, "
          f"-t {args.threads}\n")
    print("| input | audio s | WER offline | WER stream | Δ points | final-word latency median / p90 s | "
          "partial latency median / p90 s | utterance final p90 s | overlaps (max s) | erased / final word | "
          "deterministic | fed = processed | compute / audio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in recs:
        wer = (f"{r['offline_wer']:.1f} | {r['stream_wer']:.1f} | {r['stream_wer'] - r['offline_wer']:+.1f}"
               if "offline_wer" in r else f"– | {r['wer_vs_offline']:.1f} (vs offline) | –")
        print(f"| {r['input']} | {r['audio_s']:.1f} | {wer} | {f2(r['final_median'])} / {f2(r['final_p90'])} | "
              f"{f2(r['partial_median'])} / {f2(r['partial_p90'])} | {f2(r['utterance_p90'])} "
              f"({r['utterances']}) | {r['overlaps'] + r['partials_before_committed']} ({r['max_overlap_s']:.2f})"
              f"{'' if r['result_equals_finals'] else ', result ≠ finals'} | {r['erased_per_final_word']:.2f} | "
              f"{'yes' if r['deterministic'] else 'NO'} | "
              f"{'yes' if r['fed'] == r['processed'] else 'NO'} | {r['compute_per_audio']:.2f} |")
    fl = [v for r in recs for v in r["_final_lat"]]
    pl = [v for r in recs for v in r["_partial_lat"]]
    ul = [v for r in recs for v in r["_utter_lat"]]
    print(f"\nall inputs: final-word latency median {f2(pct(fl, 50))} s, p90 {f2(pct(fl, 90))} s ({len(fl)} words); "
          f"partial latency median {f2(pct(pl, 50))} s; utterance final p90 {f2(pct(ul, 90))} s ({len(ul)})")
    (out / "report.json").write_text(json.dumps(
        {"args": vars(args), "inputs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in recs]},
        indent=1))
    print(f"(details: {out / 'report.json'})", file=sys.stderr)


if __name__ == "__main__":
    main()
