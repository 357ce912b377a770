"""Synthetic conversations with a known answer for the diarization tests: clearly different voices
(flite's slt, rms, awb and kal; espeak-ng; a sox pitch shift of one of them), turns with pauses,
short back-channels, and some turns that start before the previous one ends (overlap).

    audio, turns = conversation(spec, tmp_dir)

spec: a list of (voice, text, gap) where gap is the seconds between the end of the previous turn and
the start of this one (negative: overlap).  audio: float64 16 kHz mono; turns: [(start, end,
voice)] of the speech actually in each utterance (the synthesiser's leading and trailing silence
cut at -40 dB of the utterance's peak, in 10 ms frames).  Needs flite, espeak-ng and sox
(scripts/install-deps test).
"""
import shutil
import subprocess
import wave

import numpy as np

SR = 16000
VOICES = {
    "slt": ["flite", "-voice", "slt"],
    "rms": ["flite", "-voice", "rms"],
    "awb": ["flite", "-voice", "awb"],
    "kal": ["flite", "-voice", "kal16"],
    "esp": ["espeak-ng", "-v", "en-us+f3", "-s", "150"],
    "slt_low": ["flite", "-voice", "slt"],  # then 5 semitones down with sox
}


def available():
    return all(shutil.which(t) for t in ("flite", "espeak-ng", "sox"))


def _read(path):
    with wave.open(str(path), "rb") as f:
        raw = f.readframes(f.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def utterance(voice, text, tmp):
    raw, out = tmp / "raw.wav", tmp / "utt.wav"
    cmd = VOICES[voice]
    if cmd[0] == "flite":
        subprocess.run(cmd + ["-t", text, "-o", str(raw)], check=True, capture_output=True)
    else:
        subprocess.run(cmd + ["-w", str(raw), text], check=True, capture_output=True)
    effects = ["pitch", "-500"] if voice == "slt_low" else []
    subprocess.run(["sox", str(raw), "-r", str(SR), "-c", "1", "-b", "16", str(out)] + effects, check=True,
                   capture_output=True)
    return _read(out)


def speech_extent(x):
    """(first, last) sample of the 10 ms frames above -40 dB of the peak frame."""
    n = x.shape[0] // 160
    rms = np.sqrt((x[: n * 160].reshape(n, 160) ** 2).mean(axis=1))
    on = np.nonzero(rms > rms.max() * 0.01)[0]
    return on[0] * 160, (on[-1] + 1) * 160


def conversation(spec, tmp):
    pieces, turns, t = [], [], 0.5
    for voice, text, gap in spec:
        x = utterance(voice, text, tmp)
        a, b = speech_extent(x)
        x = x[a:b]
        start = max(0.0, t + gap) if turns else t
        pieces.append((int(round(start * SR)), x))
        turns.append((start, start + x.shape[0] / SR, voice))
        t = start + x.shape[0] / SR
    total = max(s + x.shape[0] for s, x in pieces) + SR // 2
    audio = np.zeros(total)
    for s, x in pieces:
        audio[s: s + x.shape[0]] += x
    return audio / max(1.0, np.abs(audio).max() / 0.9), turns


LINES = [
    "Good morning everyone, thank you for joining the meeting today.",
    "I have a quick question about the budget for next quarter.",
    "We should discuss the schedule first, before anything else.",
    "The report will be ready by the end of the week, I promise.",
    "That sounds reasonable to me, but let us check with the team.",
    "Could you send me the numbers from last month as well?",
    "Of course, I will put them in the shared folder this afternoon.",
    "Then we can decide on Friday and move on to the next item.",
]

# four conversations: two voices; three voices with back-channels; three voices with overlaps;
# four voices including a pitch-shifted one
CONVERSATIONS = {
    "two": [("slt", LINES[0], 0), ("kal", LINES[1], 0.6), ("slt", LINES[2], 0.5), ("kal", LINES[3], 0.7),
            ("slt", LINES[4], 0.4), ("kal", LINES[5], 0.6)],
    "three": [("rms", LINES[0], 0), ("esp", LINES[1], 0.5), ("slt", "Yeah.", 0.3), ("esp", LINES[2], 0.4),
              ("rms", LINES[3], 0.6), ("slt", LINES[4], 0.5), ("rms", "Right.", 0.3), ("esp", LINES[5], 0.5)],
    "overlap": [("awb", LINES[0], 0), ("slt", LINES[1], -0.8), ("esp", LINES[2], 0.4), ("awb", LINES[3], -0.6),
                ("slt", LINES[4], 0.5), ("esp", LINES[5], -0.7), ("awb", LINES[6], 0.4)],
    "four": [("kal", LINES[0], 0), ("esp", LINES[1], 0.5), ("rms", LINES[2], 0.6), ("slt_low", LINES[3], 0.5),
             ("kal", LINES[4], 0.4), ("esp", "Okay.", 0.3), ("rms", LINES[5], 0.5), ("slt_low", LINES[6], 0.6),
             ("kal", LINES[7], 0.5)],
}
