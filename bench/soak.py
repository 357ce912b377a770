#!/usr/bin/env python3
"""soak.py — a soak of `amanuensis transcribe` over many files and of `amanuensis serve` under
concurrent clients, on 1000+ varied inputs generated from a seed.

The inputs (deterministic from --seed; cached in --out/inputs, so a rerun only generates what is
missing): speech of many lengths cut from the repository's recordings (tests/data/speech, jfk.wav,
Debian's pocketsphinx-testdata when installed) and, when espeak-ng / flite are installed, synthesized
with varied voices and rates; long files made by concatenation (1, 5, 10 and --long-minutes
minutes); silence, noise, hum and synthesized music; 8 kHz telephone audio; stereo; every container
FFmpeg here writes; and bad files: truncated, corrupted, header garbled, zero-length, random bytes,
text named .wav, and files whose extension lies (valid content: these must succeed).

(a) cli: one `build/amanuensis transcribe -m MODEL -q -o json --output-dir OUT/cli --jobs J
    --file-times INPUTS/` process over all of them.  Latency per file: its `time:` line (read to
    output written; queueing between files is not in it).
(b) server: `build/amanuensis serve -m MODEL --port 0 --workers 2 --threads 1 --queue 64`, with
    --clients threads each posting the next file (multipart, response_format=json) until every file
    was posted once.  Latency per request: client side, queueing in the server included.

Both: the process's VmRSS every second; every input must be accounted for (cli: an output file or
exactly one error line naming it; server: a 200 with text, or a 4xx/5xx JSON error), no crash (exit
status; the server alive and ready at the end), no hang (cli: the whole run within --max-seconds;
server: every request answered within --request-timeout); RSS growth between the second and the
last tenth of the run (median of the samples in each) at most 5%.  Every input has an expected
outcome: "ok" (must be transcribed), "fail" (must be refused) or "any" (a damaged file: either, as
long as it is one of the two).  Prints Markdown tables; writes OUT/report.json.  Exit status 1 when
any check fails.

  python3 bench/soak.py --n 1000 --mode both --out bench/out/soak      # the full soak (~75 min on 2 busy cores)
  python3 bench/soak.py --quick --out bench/out/soak-quick             # ~40 inputs, both modes
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SR = 16000
PSPHINX = Path("/usr/share/pocketsphinx/test/data")
GEN_VERSION = 1  # bump when the generator changes: the cache is regenerated

TEXTS = [
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    "A gold ring will please most any girl. The long journey home took a year.",
    "She saw a cat in the neighbor's house. A pink shell was found on the sandy beach.",
    "The grass and bushes were wet with dew. The blind man counted his old coins.",
    "Please call Stella. Ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.",
    "The quick brown fox jumps over the lazy dog while the committee reviews the quarterly budget.",
    "Turn left at the second light, then continue for three kilometres until you reach the station.",
    "Meeting notes: the release is on Tuesday, the tests pass, and the documentation still needs a review.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "Numbers like 42, 1999 and 3.14 are read aloud differently by every voice.",
    "Good morning. This is a recorded message. Your call is important to us. Please stay on the line.",
]

# ---- the speech pool --------------------------------------------------------------------------------


def decode(path, sr=SR):
    """Any file FFmpeg reads -> float32 mono at sr."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(sr),
                        "-f", "s16le", "-"], capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype=np.int16).astype(np.float32) / 32768.0


def speech_sources():
    """The English recordings of the repository (and pocketsphinx-testdata when installed)."""
    out = []
    man = REPO / "tests" / "data" / "speech" / "MANIFEST.tsv"
    if man.exists():
        lines = man.read_text().splitlines()
        head = lines[0].split("\t")
        for line in lines[1:]:
            row = dict(zip(head, line.split("\t")))
            if row.get("language") == "en" and row.get("kind") != "nonspeech":
                p = man.parent / row["file"]
                if p.exists():
                    out.append(p)
    for p in (REPO / "samples" / "jfk.wav",):
        if p.exists():
            out.append(p)
    if PSPHINX.exists():
        out += sorted(PSPHINX.glob("librivox/*.wav")) + sorted(PSPHINX.glob("cards/*.wav"))
    return out


def load_pool(cache):
    srcs = speech_sources()
    if not srcs:
        sys.exit("soak: no speech recordings found (tests/data/speech, samples/jfk.wav)")
    key = hashlib.sha1("\n".join(str(p) for p in srcs).encode()).hexdigest()[:12]
    f = cache / f"pool-{key}.npz"
    if f.exists():
        z = np.load(f)
        return [z[k] for k in sorted(z.files, key=int)]
    pool = [decode(p) for p in srcs]
    np.savez(f, **{str(i): a for i, a in enumerate(pool)})
    return pool


def speech(rng, pool, seconds):
    """`seconds` of speech: a random cut of one recording, or recordings joined with short gaps."""
    n = max(1, int(seconds * SR))
    src = pool[rng.randrange(len(pool))]
    if len(src) >= n:
        o = rng.randrange(len(src) - n + 1)
        return src[o:o + n].copy()
    parts, have = [], 0
    while have < n:
        a = pool[rng.randrange(len(pool))]
        gap = np.zeros(int(rng.uniform(0.2, 1.5) * SR), np.float32)
        parts += [a, gap]
        have += len(a) + len(gap)
    return np.concatenate(parts)[:n]


# ---- synthesized signals ------------------------------------------------------------------------------


def db(x):
    return 10 ** (x / 20)


def coloured_noise(nprng, n, colour):
    w = nprng.standard_normal(n).astype(np.float64)
    if colour == "white":
        x = w
    elif colour == "pink":
        spec = np.fft.rfft(w)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1
        x = np.fft.irfft(spec / np.sqrt(f), n)
    else:  # brown: integrated white, its drift taken out
        x = np.cumsum(w)
        x -= np.convolve(x, np.ones(2001) / 2001, mode="same")
    x = x / (np.sqrt(np.mean(x * x)) + 1e-12)
    return x.astype(np.float32)


def silence(nprng, n, variant):
    if variant == "zero":
        return np.zeros(n, np.float32)
    if variant == "dither":  # +-1 LSB triangular dither
        return ((nprng.random(n) - nprng.random(n)) / 32768.0).astype(np.float32)
    return coloured_noise(nprng, n, "pink") * db(-66)  # room tone


def hum(rng, n):
    f0 = rng.choice([50.0, 60.0])
    t = np.arange(n) / SR
    x = sum((0.5 / k) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) for k in range(1, 8))
    return (x / np.max(np.abs(x)) * db(rng.uniform(-40, -12))).astype(np.float32)


def note(freq, n, nprng, kind="tone"):
    t = np.arange(n) / SR
    if kind == "pluck":
        env = np.exp(-t * 6)
    else:
        env = np.minimum(1, t / 0.02) * np.minimum(1, (n / SR - t) / 0.05).clip(0)
    x = sum((0.6 ** k) * np.sin(2 * np.pi * freq * (k + 1) * t) for k in range(4))
    return (x * env).astype(np.float32)


def music(rng, nprng, n, style):
    out = np.zeros(n, np.float32)
    if style == "chords":
        roots = [220.0, 246.9, 261.6, 293.7, 329.6, 349.2, 392.0]
        pos = 0
        while pos < n:
            d = int(rng.uniform(0.5, 2.0) * SR)
            r = rng.choice(roots)
            seg = sum(note(r * m, min(d, n - pos), nprng) for m in (1.0, 1.26, 1.5))
            out[pos:pos + len(seg)] += seg
            pos += d
    elif style == "melody":
        scale = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3]
        pos = 0
        while pos < n:
            d = int(rng.uniform(0.12, 0.5) * SR)
            seg = note(rng.choice(scale) * rng.choice([0.5, 1, 2]), min(d, n - pos), nprng, "pluck")
            out[pos:pos + len(seg)] += seg
            pos += d
    elif style == "sweep":
        t = np.arange(n) / SR
        f0, f1 = rng.uniform(100, 400), rng.uniform(1000, 6000)
        period = rng.uniform(1, 6)
        ph = np.cumsum(f0 + (f1 - f0) * ((t / period) % 1.0)) * 2 * np.pi / SR
        out = np.sin(ph).astype(np.float32)
    else:  # drums: a kick (falling sine) and hats (noise bursts) on a grid
        beat = int(SR * 60 / rng.uniform(80, 160))
        kick_n = min(int(0.25 * SR), n)
        kt = np.arange(kick_n) / SR
        kick = (np.sin(2 * np.pi * (50 + 100 * np.exp(-kt * 20)) * kt) * np.exp(-kt * 12)).astype(np.float32)
        hat_n = min(int(0.05 * SR), n)
        hat = (nprng.standard_normal(hat_n) * np.exp(-np.arange(hat_n) / SR * 80)).astype(np.float32) * 0.3
        for i, pos in enumerate(range(0, n, beat // 2)):
            src = kick if i % 2 == 0 else hat
            m = min(len(src), n - pos)
            out[pos:pos + m] += src[:m]
    peak = np.max(np.abs(out)) or 1.0
    return (out / peak * db(rng.uniform(-20, -3))).astype(np.float32)


def bandpass(x, lo, hi):
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def write_wav(path, x, sr=SR, channels=1):
    x = np.clip(x, -1, 1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((x * 32767).astype("<i2").tobytes())


def ffmpeg(src, dst, args, pre=()):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *pre, "-i", str(src), *args, str(dst)],
                   check=True, capture_output=True)


# ---- containers --------------------------------------------------------------------------------------

# (name, extension, ffmpeg output arguments, encoder needed)
CONTAINERS = [
    ("wav-s16-44k", "wav", ["-ar", "44100", "-c:a", "pcm_s16le"], None),
    ("wav-s24-48k", "wav", ["-ar", "48000", "-c:a", "pcm_s24le"], None),
    ("wav-f32-22k", "wav", ["-ar", "22050", "-c:a", "pcm_f32le"], None),
    ("wav-u8-11k", "wav", ["-ar", "11025", "-c:a", "pcm_u8"], None),
    ("wav-adpcm", "wav", ["-c:a", "adpcm_ima_wav"], "adpcm_ima_wav"),
    ("w64", "w64", ["-f", "w64"], None),
    ("flac", "flac", ["-c:a", "flac"], None),
    ("mp3-128k", "mp3", ["-c:a", "libmp3lame", "-b:a", "128k", "-ar", "44100"], "libmp3lame"),
    ("mp3-32k", "mp3", ["-c:a", "libmp3lame", "-b:a", "32k"], "libmp3lame"),
    ("ogg-vorbis", "ogg", ["-c:a", "libvorbis", "-q:a", "3"], "libvorbis"),
    ("opus", "opus", ["-c:a", "libopus", "-b:a", "24k"], "libopus"),
    ("ogg-opus", "ogg", ["-c:a", "libopus", "-b:a", "48k"], "libopus"),
    ("m4a-aac", "m4a", ["-c:a", "aac", "-b:a", "64k"], "aac"),
    ("m4a-alac", "m4a", ["-c:a", "alac"], "alac"),
    ("aac-adts", "aac", ["-c:a", "aac", "-f", "adts"], "aac"),
    ("webm-opus", "webm", ["-c:a", "libopus"], "libopus"),
    ("mkv-flac", "mkv", ["-c:a", "flac"], None),
    ("mka-vorbis", "mka", ["-c:a", "libvorbis"], "libvorbis"),
    ("mp4-video", "mp4", ["-c:v", "mpeg4", "-c:a", "aac", "-shortest"], "mpeg4"),
    ("mkv-h264", "mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libvorbis", "-shortest"], "libx264"),
    ("aiff", "aiff", ["-c:a", "pcm_s16be"], None),
    ("au", "au", ["-c:a", "pcm_s16be"], None),
    ("caf", "caf", ["-c:a", "pcm_s16le"], None),
    ("wma", "wma", ["-c:a", "wmav2", "-b:a", "64k"], "wmav2"),
    ("mp2", "mp2", ["-c:a", "mp2", "-b:a", "128k"], "mp2"),
    ("ac3", "ac3", ["-c:a", "ac3", "-b:a", "96k"], "ac3"),
    ("wavpack", "wv", ["-c:a", "wavpack"], "wavpack"),
    ("tta", "tta", ["-c:a", "tta"], "tta"),
    ("gsm-wav", "wav", ["-ar", "8000", "-c:a", "libgsm_ms"], "libgsm_ms"),
    ("voc", "voc", ["-c:a", "pcm_u8"], None),
]
VIDEO = {"mp4-video", "mkv-h264"}
TELEPHONE = [
    ("mulaw-wav", "wav", ["-ar", "8000", "-c:a", "pcm_mulaw"]),
    ("alaw-wav", "wav", ["-ar", "8000", "-c:a", "pcm_alaw"]),
    ("mulaw-au", "au", ["-ar", "8000", "-c:a", "pcm_mulaw"]),
    ("s16-8k", "wav", ["-ar", "8000", "-c:a", "pcm_s16le"]),
]


def encoders():
    r = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return {m.group(1) for m in re.finditer(r"^ [VAS][\w.]{5} (\S+)", r.stdout, re.M)}


def to_container(src_wav, dst, spec, seconds):
    name, _ext, args, _enc = spec
    if name in VIDEO:
        pre = ["-f", "lavfi", "-i", f"color=c=gray:s=64x48:r=5:d={seconds + 0.5:.2f}"]
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *pre, "-i", str(src_wav), *args, str(dst)],
                       check=True, capture_output=True)
    else:
        ffmpeg(src_wav, dst, args)


# ---- the plan -----------------------------------------------------------------------------------------


def loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def make_plan(n, seed, long_minutes, quick, have_tts, encs):
    """The inputs: [{"kind", "detail", "expect", "seconds", "ext", ...}] in the order they are run."""
    rng = random.Random(seed)
    conts = [c for c in CONTAINERS if c[3] is None or c[3] in encs]
    longs = [] if quick else [m for m in (1, 5, 10) if m < long_minutes] + [long_minutes]
    shares = [("speech", 0.50), ("tts", 0.10 if have_tts else 0.0), ("silence", 0.04), ("noise", 0.05),
              ("hum", 0.015), ("music", 0.05), ("telephone", 0.04), ("stereo", 0.04), ("container", 0.08),
              ("bad", 0.085)]
    if not have_tts:
        shares[0] = ("speech", 0.60)
    if quick:  # every bad kind at least once, shorter speech
        shares = [("speech", 0.30), ("tts", 0.05 if have_tts else 0.0), ("silence", 0.05), ("noise", 0.05),
                  ("hum", 0.025), ("music", 0.05), ("telephone", 0.05), ("stereo", 0.05), ("container", 0.10),
                  ("bad", 0.30)]
    max_s = 20.0 if quick else 60.0
    n_rest = n - len(longs)
    counts = {k: int(round(s * n_rest)) for k, s in shares}
    counts["speech"] += n_rest - sum(counts.values())
    items = []
    for kind, c in counts.items():
        for j in range(c):
            it = {"kind": kind}
            if kind in ("speech", "tts"):
                it["seconds"] = round(loguniform(rng, 0.1, max_s), 3)
                if kind == "tts":
                    it["engine"] = rng.choice(["espeak-ng", "flite"] if "flite" in have_tts else ["espeak-ng"]) \
                        if "espeak-ng" in have_tts else "flite"
            elif kind in ("silence", "noise", "hum", "music"):
                it["seconds"] = round(loguniform(rng, 0.5, max_s), 3)
                if kind == "silence":
                    it["detail"] = ["zero", "dither", "roomtone"][j % 3]
                elif kind == "noise":
                    it["detail"] = ["white", "pink", "brown"][j % 3]
                    it["level_db"] = round(rng.uniform(-50, -6), 1)
                elif kind == "music":
                    it["detail"] = ["chords", "melody", "sweep", "drums"][j % 4]
            elif kind == "telephone":
                it["seconds"] = round(loguniform(rng, 1.0, 30.0), 3)
                it["detail"] = TELEPHONE[j % len(TELEPHONE)][0]
            elif kind == "stereo":
                it["seconds"] = round(loguniform(rng, 1.0, 30.0), 3)
                it["detail"] = ["same", "two-talkers", "left-only", "right-noise"][j % 4]
            elif kind == "container":
                it["seconds"] = round(loguniform(rng, 1.0, 30.0), 3)
                it["detail"] = conts[j % len(conts)][0]
            elif kind == "bad":
                bads = ["truncated", "corrupt-middle", "header-garbled", "zero-length", "random-bytes",
                        "text-as-wav", "wav-as-mp3", "mp3-as-wav", "flac-as-ogg", "header-only-wav",
                        "ogg-as-m4a"]
                it["detail"] = bads[j % len(bads)]
                it["seconds"] = round(loguniform(rng, 1.0, 20.0), 3)
                it["container"] = rng.choice(conts)[0]
            items.append(it)
    rng.shuffle(items)
    # The long files go between 10% and 50% of the run, so that the last tenth (RSS growth) measures
    # the steady state rather than the buffers of one long file.
    for k, m in enumerate(longs):
        pos = int(len(items) * (0.1 + 0.4 * k / max(1, len(longs))))
        items.insert(pos, {"kind": "long", "seconds": 60.0 * m, "detail": f"{m:g}min"})
    for i, it in enumerate(items):
        it["id"] = i
        it["expect"] = expected(it)
        it["ext"] = extension(it, conts)
        it["name"] = f"{i:04d}_{it['kind']}" + (f"_{it['detail']}" if "detail" in it else "") + "." + it["ext"]
    return items


def expected(it):
    if it["kind"] != "bad":
        return "ok"
    d = it["detail"]
    if d in ("wav-as-mp3", "mp3-as-wav", "flac-as-ogg", "ogg-as-m4a"):
        return "ok"  # the extension lies, the content is valid
    if d in ("zero-length", "text-as-wav"):
        return "fail"
    return "any"     # damaged: a transcript of what is left, or one error


def extension(it, conts):
    k, d = it["kind"], it.get("detail")
    if k == "container":
        return next(c[1] for c in conts if c[0] == d)
    if k == "telephone":
        return next(c[1] for c in TELEPHONE if c[0] == d)
    if k == "long":
        return "flac" if it["seconds"] >= 600 else "wav"
    if k == "stereo":
        return ["wav", "flac", "ogg", "mp3"][it["id"] % 4]
    if k == "bad":
        return {"truncated": None, "corrupt-middle": None, "header-garbled": None, "zero-length": "wav",
                "random-bytes": ["wav", "mp3", "ogg", "bin"][it["id"] % 4], "text-as-wav": "wav",
                "wav-as-mp3": "mp3", "mp3-as-wav": "wav", "flac-as-ogg": "ogg", "header-only-wav": "wav",
                "ogg-as-m4a": "m4a"}[d] or next(c[1] for c in conts if c[0] == it["container"])
    return ["wav", "flac", "mp3", "ogg", "m4a"][it["id"] % 5] if k in ("speech", "tts") else "wav"


# ---- generation ---------------------------------------------------------------------------------------


def tts(it, rng, tmp):
    text = " ".join(rng.sample(TEXTS, rng.randint(1, 4)))
    raw = tmp / "tts.wav"
    if it["engine"] == "flite":
        voice = rng.choice(["kal", "kal16", "awb", "rms", "slt"])
        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={rng.uniform(0.7, 1.5):.2f}",
                        "-t", text, "-o", str(raw)], check=True, capture_output=True)
    else:
        voice = rng.choice(["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan"])
        variant = rng.choice(["", "+m1", "+m3", "+f1", "+f3", "+f4", "+croak", "+whisper"])
        subprocess.run(["espeak-ng", "-v", voice + variant, "-s", str(rng.randint(90, 320)),
                        "-p", str(rng.randint(20, 80)), "-w", str(raw), text], check=True, capture_output=True)
    x = decode(raw)
    n = int(it["seconds"] * SR)
    if len(x) > n:
        o = rng.randrange(len(x) - n + 1)
        x = x[o:o + n]
    return x


def generate(it, seed, pool, conts, dst, tmp):
    rng = random.Random(f"{seed}-{it['id']}")
    nprng = np.random.default_rng(rng.randrange(2 ** 32))
    k, d = it["kind"], it.get("detail")
    n = max(1, int(it.get("seconds", 1.0) * SR))
    wav = tmp / "x.wav"

    def emit(x):
        if it["ext"] == "wav":
            write_wav(dst, x)
        else:  # FFmpeg's default codec for the extension
            write_wav(wav, x)
            ffmpeg(wav, dst, [])

    if k == "speech":
        emit(speech(rng, pool, it["seconds"]))
    elif k == "tts":
        emit(tts(it, rng, tmp))
    elif k == "long":
        emit(speech(rng, pool, it["seconds"]))
    elif k == "silence":
        emit(silence(nprng, n, d))
    elif k == "noise":
        emit(coloured_noise(nprng, n, d) * db(it["level_db"]))
    elif k == "hum":
        emit(hum(rng, n))
    elif k == "music":
        emit(music(rng, nprng, n, d))
    elif k == "telephone":
        x = bandpass(speech(rng, pool, it["seconds"]), 300, 3400)
        write_wav(wav, x)
        ffmpeg(wav, dst, next(t[2] for t in TELEPHONE if t[0] == d))
    elif k == "stereo":
        a = speech(rng, pool, it["seconds"])
        b = {"same": a, "two-talkers": speech(rng, pool, it["seconds"]), "left-only": np.zeros_like(a),
             "right-noise": coloured_noise(nprng, len(a), "pink") * db(-30)}[d]
        x = np.stack([a, b], axis=1).reshape(-1)
        write_wav(wav, x, SR, 2)
        ffmpeg(wav, dst, ["-ar", str(rng.choice([16000, 44100, 48000]))])
    elif k == "container":
        write_wav(wav, speech(rng, pool, it["seconds"]))
        to_container(wav, dst, next(c for c in conts if c[0] == d), it["seconds"])
    elif k == "bad":
        bad(it, rng, pool, conts, dst, tmp)
    else:
        raise ValueError(k)


def bad(it, rng, pool, conts, dst, tmp):
    d = it["detail"]
    wav = tmp / "x.wav"
    if d in ("truncated", "corrupt-middle", "header-garbled"):
        spec = next(c for c in conts if c[0] == it["container"])
        write_wav(wav, speech(rng, pool, it["seconds"]))
        good = tmp / ("good." + spec[1])
        to_container(wav, good, spec, it["seconds"])
        data = bytearray(good.read_bytes())
        if d == "truncated":
            data = data[:rng.randrange(1, len(data))]
        elif d == "corrupt-middle":
            for _ in range(rng.randint(1, 50)):
                o = rng.randrange(len(data) // 4, max(len(data) // 4 + 1, 3 * len(data) // 4))
                m = rng.randint(1, 64)
                data[o:o + m] = bytes(rng.randrange(256) for _ in range(len(data[o:o + m])))
        else:
            m = min(len(data), rng.randint(4, 64))
            data[0:m] = bytes(rng.randrange(256) for _ in range(m))
        dst.write_bytes(bytes(data))
    elif d == "zero-length":
        dst.write_bytes(b"")
    elif d == "random-bytes":
        dst.write_bytes(rng.randbytes(rng.choice([1, 7, 44, 512, 4096, 100000, 1000000])))
    elif d == "text-as-wav":
        dst.write_text(" ".join(rng.sample(TEXTS, 3)) + "\n")
    elif d == "header-only-wav":
        write_wav(dst, np.zeros(0, np.float32))
    else:  # valid content, lying extension
        src_ext = {"wav-as-mp3": "wav", "mp3-as-wav": "mp3", "flac-as-ogg": "flac", "ogg-as-m4a": "ogg"}[d]
        write_wav(wav, speech(rng, pool, it["seconds"]))
        real = tmp / ("real." + src_ext)
        if src_ext == "wav":
            shutil.copy(wav, real)
        else:
            ffmpeg(wav, real, [])
        shutil.copy(real, dst)


def build_inputs(a, out):
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    have_tts = {t for t in ("espeak-ng", "flite") if shutil.which(t)}
    encs = encoders()
    plan = make_plan(a.n, a.seed, a.long_minutes, a.quick, have_tts, encs)
    conts = [c for c in CONTAINERS if c[3] is None or c[3] in encs]
    key = hashlib.sha1(json.dumps([GEN_VERSION, plan]).encode()).hexdigest()[:16]
    inputs = out / f"inputs-{key}"
    done_marker = inputs / ".complete"
    if done_marker.exists():
        return plan, inputs, sorted(have_tts)
    for old in out.glob("inputs-*"):
        if old != inputs:
            shutil.rmtree(old)
    inputs.mkdir(parents=True, exist_ok=True)
    pool = load_pool(cache)
    t0 = time.time()

    def one(it):
        dst = inputs / it["name"]
        if dst.exists():
            return
        with tempfile.TemporaryDirectory(dir=cache) as td:
            part = Path(td) / ("part." + it["ext"])
            generate(it, a.seed, pool, conts, part, Path(td))
            os.replace(part, dst)

    with ThreadPoolExecutor(max_workers=2) as ex:
        list(ex.map(one, plan))
    (out / "plan.json").write_text(json.dumps(plan, indent=0))
    done_marker.write_text("")
    print(f"soak: generated {len(plan)} inputs in {time.time() - t0:.0f} s ({inputs})", flush=True)
    return plan, inputs, sorted(have_tts)


# ---- measuring ------------------------------------------------------------------------------------------


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        t0 = time.time()
        while not self.stop.is_set():
            v = rss_kb(self.pid)
            if v is not None:
                self.samples.append((time.time() - t0, v))
            self.stop.wait(1.0)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def rss_summary(samples):
    """RSS (MiB) in the second and the last tenth of the run (median of the samples in each).  The
    tenths are of the samples, taken about once a second: a window of the run's time could hold none
    of them when the sampler was held up (a loaded machine), and the median of nothing fails."""
    n = len(samples)
    if n < 10:
        return {"samples": n}
    second = [v for _, v in samples[n // 10: n // 5]]
    last = [v for _, v in samples[n - n // 10:]]
    r2, rl = statistics.median(second) / 1024, statistics.median(last) / 1024
    return {"samples": len(samples), "second_tenth_mib": r2, "last_tenth_mib": rl,
            "growth_pct": 100 * (rl - r2) / r2, "peak_mib": max(v for _, v in samples) / 1024}


def run_cli(a, plan, inputs, out):
    od = out / "cli"
    if od.exists():
        shutil.rmtree(od)
    od.mkdir(parents=True)
    cmd = [a.binary, "transcribe", "-m", a.model, "-q", "-o", "json", "--output-dir", str(od),
           "--jobs", str(a.jobs), "--file-times", str(inputs)]
    if a.threads:
        cmd += ["-t", str(a.threads)]
    print("soak: cli:", " ".join(cmd), flush=True)
    t0 = time.time()
    with open(od / "stderr.txt", "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
        s = RssSampler(p.pid)
        s.start()
        hang = False
        try:
            rc = p.wait(timeout=a.max_seconds)
        except subprocess.TimeoutExpired:
            hang = True
            p.kill()
            rc = p.wait()
        s.stop.set()
        s.join()
    wall = time.time() - t0
    lines = (od / "stderr.txt").read_text(errors="replace").splitlines()
    res = {}
    times = {}
    for line in lines:
        m = re.match(r"time: ([\d.]+) (ok|failed) (.*)$", line)
        if m:
            times[Path(m.group(3)).name] = (float(m.group(1)), m.group(2))
    for it in plan:
        path = str(inputs / it["name"])
        errs = [ln for ln in lines if ln.startswith("amanuensis: ") and path in ln]
        js = od / (Path(it["name"]).stem + ".json")
        if js.exists() and not errs:
            try:
                text = json.loads(js.read_text()).get("text", "")
                res[it["name"]] = {"outcome": "ok", "text": text}
            except ValueError:
                res[it["name"]] = {"outcome": "unaccounted", "why": "output is not JSON"}
        elif len(errs) == 1 and not js.exists():
            res[it["name"]] = {"outcome": "fail", "error": errs[0]}
        else:
            res[it["name"]] = {"outcome": "unaccounted", "why": f"{len(errs)} error lines, output {js.exists()}"}
        if it["name"] in times:
            res[it["name"]]["latency"] = times[it["name"]][0]
    crash = hang or rc not in (0, 1)
    summary = [ln for ln in lines if ln.startswith("summary:")]
    return {"mode": "cli", "command": " ".join(cmd), "rc": rc, "crash": crash, "hangs": int(hang),
            "wall": wall, "rss": rss_summary(s.samples), "results": res, "summary": summary[-1] if summary else ""}


CTYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg", "m4a": "audio/mp4",
          "webm": "audio/webm", "mp4": "video/mp4", "opus": "audio/ogg"}


def run_server(a, plan, inputs, out):
    od = out / "server"
    if od.exists():
        shutil.rmtree(od)
    od.mkdir(parents=True)
    cmd = [a.binary, "serve", "-m", a.model, "--port", "0", "--workers", str(a.workers), "--threads",
           str(a.server_threads), "--queue", str(max(64, a.clients * 2)), "--max-connections", str(a.clients + 16),
           "--timeout", str(int(a.request_timeout)), "--max-upload-mb", "200"]
    print("soak: server:", " ".join(cmd), flush=True)
    errf = open(od / "stderr.txt", "w+")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf, cwd=REPO)
    port = None
    t_end = time.time() + 120
    while time.time() < t_end and port is None and p.poll() is None:
        errf.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", errf.read())
        port = int(m.group(1)) if m else None
        time.sleep(0.1)
    if port is None:
        p.kill()
        return {"mode": "server", "command": " ".join(cmd), "crash": True, "hangs": 0, "wall": 0, "rss": {},
                "results": {}, "rc": p.wait(), "why": "the server did not start"}

    def get(path):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            return r.status
        except OSError:
            return None

    t_end = time.time() + 120
    while time.time() < t_end and get("/ready") != 200:
        time.sleep(0.2)
    s = RssSampler(p.pid)
    s.start()
    lock = threading.Lock()
    queue = list(plan)
    res = {}

    def post(it):
        data = (inputs / it["name"]).read_bytes()
        b = "----amsoak" + uuid.uuid4().hex
        body = (f'--{b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
                f'--{b}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\njson\r\n'
                f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{it["name"]}"\r\n'
                f'Content-Type: {CTYPES.get(it["ext"], "application/octet-stream")}\r\n\r\n').encode() \
            + data + f"\r\n--{b}--\r\n".encode()
        t0 = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=a.request_timeout + 60)
            c.request("POST", "/v1/audio/transcriptions", body=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={b}"})
            r = c.getresponse()
            payload = r.read()
            c.close()
        except TimeoutError:
            return {"outcome": "hang", "latency": time.perf_counter() - t0}
        except Exception as e:  # noqa: BLE001 — a connection error is an unaccounted input
            return {"outcome": "unaccounted", "why": f"{type(e).__name__}: {e}", "latency": time.perf_counter() - t0}
        lat = time.perf_counter() - t0
        try:
            j = json.loads(payload)
        except ValueError:
            return {"outcome": "unaccounted", "why": f"HTTP {r.status}, body not JSON", "latency": lat}
        if r.status == 200 and isinstance(j.get("text"), str):
            return {"outcome": "ok", "text": j["text"], "latency": lat}
        if r.status >= 400 and isinstance(j.get("error"), dict):
            return {"outcome": "fail", "status": r.status, "error": j["error"].get("message", ""), "latency": lat}
        return {"outcome": "unaccounted", "why": f"HTTP {r.status}: {payload[:200]!r}", "latency": lat}

    def client():
        while True:
            with lock:
                if not queue:
                    return
                it = queue.pop(0)
            r = post(it)
            with lock:
                res[it["name"]] = r

    t0 = time.time()
    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    s.stop.set()
    s.join()
    alive = p.poll() is None and get("/ready") == 200
    p.terminate()
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    errf.close()
    hangs = sum(1 for r in res.values() if r["outcome"] == "hang")
    return {"mode": "server", "command": " ".join(cmd), "rc": rc, "alive_at_end": alive, "crash": not alive,
            "hangs": hangs, "wall": wall, "rss": rss_summary(s.samples), "results": res,
            "clients": a.clients}


# ---- report -----------------------------------------------------------------------------------------------


def check(plan, run):
    """Per input: accounted for, and the outcome its kind expects."""
    res = run["results"]
    bad = []
    for it in plan:
        r = res.get(it["name"], {"outcome": "unaccounted", "why": "no result"})
        o = r["outcome"]
        if o in ("unaccounted", "hang"):
            bad.append((it, o, r.get("why", "")))
        elif it["expect"] != "any" and o != it["expect"]:
            bad.append((it, f"expected {it['expect']}, got {o}", r.get("error", "")))
    return bad


# Valid inputs this build refuses, a known limitation rather than a soak failure: RIFF WAVE files are
# always read by the built-in parser (src/audio/wav.c), which takes PCM and IEEE float only, so WAV
# files holding mu-law, A-law, IMA ADPCM or GSM are refused even where FFmpeg could decode them.
KNOWN_REFUSED = {"telephone/mulaw-wav", "telephone/alaw-wav", "container/wav-adpcm", "container/gsm-wav"}


def detail_key(it):
    return it["kind"] + (f"/{it['detail']}" if "detail" in it else "")


def kind_key(it):
    return it["kind"] + (f"/{it['detail']}" if it["kind"] == "bad" else "")


def report(plan, runs, a, out, tools):
    lines = []
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    lines.append(f"Machine: {cpu}, {os.cpu_count()} CPUs (nproc). Inputs: {len(plan)} "
                 f"({sum(it.get('seconds', 0) for it in plan if it['kind'] != 'bad') / 3600:.2f} h of audio), "
                 f"seed {a.seed}; TTS: {', '.join(tools) or 'none'}.")
    lines.append("")
    lines.append("| mode | inputs | transcribed | refused | unaccounted | wrong outcome (known) | crashes | hangs | "
                 "p50 (s) | p95 (s) | p99 (s) | max (s) | RSS 2nd tenth (MiB) | RSS last tenth (MiB) | growth | "
                 "peak RSS (MiB) | wall (s) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ok_all = True
    for run in runs:
        res = run["results"]
        lat = [r["latency"] for r in res.values() if "latency" in r and r["outcome"] in ("ok", "fail")]
        n_ok = sum(1 for r in res.values() if r["outcome"] == "ok")
        n_fail = sum(1 for r in res.values() if r["outcome"] == "fail")
        bad = check(plan, run)
        unacc = sum(1 for _, o, _ in bad if o == "unaccounted")
        wrong = sum(1 for it, o, _ in bad if o.startswith("expected") and detail_key(it) not in KNOWN_REFUSED)
        known = sum(1 for it, o, _ in bad if o.startswith("expected") and detail_key(it) in KNOWN_REFUSED)
        rs = run.get("rss", {})
        g = rs.get("growth_pct", float("nan"))
        run["checks"] = {"unaccounted": unacc, "wrong": wrong, "known_refused": known,
                         "problems": [(it["name"], o, w) for it, o, w in bad]}
        crashes = int(bool(run["crash"]))
        passed = not crashes and run["hangs"] == 0 and unacc == 0 and wrong == 0 and len(res) == len(plan) \
            and (a.quick or g <= 5.0)  # a quick run is too short for a warm-up: RSS is shown, not checked
        run["passed"] = passed
        ok_all &= passed
        lines.append(f"| {run['mode']} | {len(plan)} | {n_ok} | {n_fail} | {unacc} | {wrong} ({known}) | {crashes} | "
                     f"{run['hangs']} | {pct(lat, 50):.2f} | {pct(lat, 95):.2f} | {pct(lat, 99):.2f} | "
                     f"{max(lat) if lat else float('nan'):.2f} | {rs.get('second_tenth_mib', float('nan')):.0f} | "
                     f"{rs.get('last_tenth_mib', float('nan')):.0f} | {g:+.1f}% | {rs.get('peak_mib', float('nan')):.0f} | "
                     f"{run['wall']:.0f} |")
    lines.append("")
    kinds = sorted({kind_key(it) for it in plan} | {detail_key(it) for it in plan if detail_key(it) in KNOWN_REFUSED})
    head = "| kind | inputs | expected | " + " | ".join(f"{r['mode']}: transcribed / refused" for r in runs) + " |"
    lines.append(head)
    lines.append("|---|---|---|" + "---|" * len(runs))
    for k in kinds:
        its = [it for it in plan if kind_key(it) == k or detail_key(it) == k]
        cells = []
        for run in runs:
            res = run["results"]
            o = [res.get(it["name"], {}).get("outcome") for it in its]
            cells.append(f"{o.count('ok')} / {o.count('fail')}")
        lines.append(f"| {k} | {len(its)} | {its[0]['expect']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Known refusals (valid inputs this build refuses; not counted as wrong): "
                 + ", ".join(sorted(KNOWN_REFUSED)) + ": WAV format codes other than PCM and float.")
    for run in runs:
        lines.append(f"{run['mode']}: `{run['command']}` — exit status {run.get('rc')}"
                     + (f", alive and ready at the end: {run.get('alive_at_end')}" if run["mode"] == "server" else "")
                     + ("; " + run["summary"] if run.get("summary") else ""))
        for name, o, w in run["checks"]["problems"][:40]:
            known = detail_key(next(it for it in plan if it["name"] == name)) in KNOWN_REFUSED
            lines.append(f"  - {'known refusal' if known else 'PROBLEM'} {name}: {o} {w}")
    text = "\n".join(lines)
    print(text)
    (out / "report.md").write_text(text + "\n")
    slim = [{k: v for k, v in r.items()} for r in runs]
    (out / "report.json").write_text(json.dumps({"plan": plan, "runs": slim}, indent=1, default=str))
    return ok_all


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="inputs (default 1000)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "soak"))
    ap.add_argument("--mode", choices=["cli", "server", "both"], default="both")
    ap.add_argument("--jobs", type=int, default=2, help="cli: --jobs (default 2)")
    ap.add_argument("--threads", type=int, default=0, help="cli: -t (default: every core)")
    ap.add_argument("--clients", type=int, default=32, help="server: concurrent clients (default 32)")
    ap.add_argument("--workers", type=int, default=2, help="server: --workers (default 2)")
    ap.add_argument("--server-threads", type=int, default=1, help="server: --threads (default 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--long-minutes", type=float, default=30, help="the longest input (default 30 minutes)")
    ap.add_argument("--quick", action="store_true", help="40 inputs, no long ones (the test's mode)")
    ap.add_argument("--binary", default=str(REPO / "build" / "amanuensis"))
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("--max-seconds", type=float, default=4 * 3600, help="cli: the whole run's bound (a hang)")
    ap.add_argument("--request-timeout", type=float, default=3600, help="server: --timeout, and the client's + 60")
    ap.add_argument("--generate-only", action="store_true")
    a = ap.parse_args()
    if a.quick and a.n == ap.get_default("n"):
        a.n = 40
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    plan, inputs, tools = build_inputs(a, out)
    if a.generate_only:
        return 0
    runs = []
    if a.mode in ("cli", "both"):
        runs.append(run_cli(a, plan, inputs, out))
    if a.mode in ("server", "both"):
        runs.append(run_server(a, plan, inputs, out))
    return 0 if report(plan, runs, a, out, tools) else 1


if __name__ == "__main__":
    sys.exit(main())
