"""Every format through FFmpeg: the same recording as wav, mp3, flac, ogg/vorbis, opus, m4a/aac,
mp4 (with a black H.264 video track) and webm gives the same greedy transcript as the WAV (after
textnorm normalisation); "-" reads stdin; WAV files of other codecs (mu-law, A-law, ADPCM) are
decoded by FFmpeg; corrupt, truncated and non-audio files and a video
without an audio stream end in one error line."""
import shutil
import subprocess

import pytest

from conftest import PSPHINX, REPO, run_am
from textnorm import normalize

FORMATS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    "opus": ["-c:a", "libopus", "-b:a", "48k"],
    "m4a": ["-c:a", "aac", "-b:a", "96k"],
    "webm": ["-c:a", "libopus", "-b:a", "48k"],
}
SOURCES = {"jfk": REPO / "samples" / "jfk.wav",
           "librivox": PSPHINX / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav"}

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg CLI not installed")


def _ffmpeg(args):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y"] + [str(a) for a in args], check=True)


@pytest.fixture(scope="session")
def converted(session_tmp):
    out = {}
    for name, src in SOURCES.items():
        if not src.exists():
            continue
        files = {"wav": src}
        for ext, codec in FORMATS.items():
            p = session_tmp / f"fmt-{name}.{ext}"
            _ffmpeg(["-i", src] + codec + [p])
            files[ext] = p
        p = session_tmp / f"fmt-{name}.mp4"  # audio after a video stream: the first *audio* stream is used
        _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=64x64:r=5", "-i", src, "-shortest", "-map", "0:v", "-map", "1:a",
                 "-c:v", "libx264", "-c:a", "aac", p])
        files["mp4"] = p
        p = session_tmp / f"fmt-{name}-video.webm"
        _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=64x64:r=5", "-i", src, "-shortest", "-map", "0:v", "-map", "1:a",
                 "-c:v", "libvpx", "-c:a", "libopus", p])
        files["video.webm"] = p
        out[name] = files
    return out


def _transcribe(binary, model_dir, path, stdin=None):
    args = [str(binary), "transcribe", "-m", str(model_dir), "-t", "2", "--no-fallback", "-q", "-o", "txt",
            "--output-dir", str(path.parent if stdin is None else path), "-" if stdin is not None else str(path)]
    r = subprocess.run(args, capture_output=True, text=True, stdin=stdin, timeout=600)
    assert r.returncode == 0, r.stderr
    txt = (path / "-.txt") if stdin is not None else path.with_suffix(".txt")
    if path.name.endswith("-video.webm"):
        txt = path.parent / (path.name[: -len(".webm")] + ".txt")
    return normalize(txt.read_text())


@pytest.mark.parametrize("name", list(SOURCES))
def test_formats_same_transcript(binary, model_dir, converted, session_tmp, name):
    if name not in converted:
        pytest.skip(f"{SOURCES[name]} not found")
    files = converted[name]
    ref_dir = session_tmp / f"fmt-ref-{name}"
    ref_dir.mkdir(exist_ok=True)
    wav = ref_dir / files["wav"].name
    shutil.copy(files["wav"], wav)
    ref = _transcribe(binary, model_dir, wav)
    assert ref
    for ext, p in files.items():
        if ext == "wav":
            continue
        got = _transcribe(binary, model_dir, p)
        assert got == ref, f"{ext}: {got!r} != {ref!r}"


def test_stdin(binary, model_dir, converted, session_tmp):
    files = converted["jfk"]
    ref = None
    for ext in ("wav", "mp3", "ogg"):
        d = session_tmp / f"stdin-{ext}"
        d.mkdir(exist_ok=True)
        with open(files[ext], "rb") as f:
            got = _transcribe(binary, model_dir, d, stdin=f)
        if ref is None:
            ref = got
        assert got and "ask not what your country can do for you" in got, f"{ext}: {got!r}"


@pytest.mark.parametrize("codec", ["pcm_mulaw", "pcm_alaw", "adpcm_ima_wav"])
def test_wav_codecs_other_than_pcm(binary, model_dir, session_tmp, codec):
    """A RIFF/WAVE file holding mu-law, A-law or ADPCM (8 kHz telephone audio) is not for the
    built-in PCM/float parser: FFmpeg decodes it, from a file and from stdin."""
    p = session_tmp / f"codec-{codec}.wav"
    _ffmpeg(["-i", SOURCES["jfk"], "-ar", "8000", "-c:a", codec, p])
    for stdin in (False, True):
        d = session_tmp / f"codec-{codec}-{int(stdin)}"
        d.mkdir(exist_ok=True)
        if stdin:
            with open(p, "rb") as f:
                got = _transcribe(binary, model_dir, d, stdin=f)
        else:
            q = d / p.name
            shutil.copy(p, q)
            got = _transcribe(binary, model_dir, q)
        assert "ask not what your country can do for you" in got, f"{codec} (stdin {stdin}): {got!r}"


@pytest.fixture(scope="session")
def bad_files(session_tmp, converted):
    jfk = converted["jfk"]
    cases = {}
    p = session_tmp / "bad-text.mp3"
    p.write_text("this is not audio at all\n" * 20)
    cases["text"] = p
    p = session_tmp / "bad-random.bin"
    import random
    rnd = random.Random(7)
    p.write_bytes(bytes(rnd.randrange(256) for _ in range(50000)))
    cases["random"] = p
    data = jfk["flac"].read_bytes()
    p = session_tmp / "bad-trunc-head.flac"
    p.write_bytes(data[:300])
    cases["truncated_header"] = p
    p = session_tmp / "bad-trunc-half.flac"
    p.write_bytes(data[: len(data) // 3])
    cases["truncated_flac"] = p
    p = session_tmp / "bad-trunc.m4a"
    p.write_bytes(jfk["m4a"].read_bytes()[:2000])
    cases["truncated_m4a"] = p
    mp3 = bytearray(jfk["mp3"].read_bytes())
    for i in range(2000, len(mp3)):
        mp3[i] = rnd.randrange(256)
    p = session_tmp / "bad-corrupt.mp3"
    p.write_bytes(bytes(mp3))
    cases["corrupt_mp3"] = p
    p = session_tmp / "bad-novideo.mp4"
    _ffmpeg(["-f", "lavfi", "-i", "color=c=black:s=64x64:r=5", "-t", "3", "-c:v", "libx264", p])
    cases["video_without_audio"] = p
    p = session_tmp / "bad-empty.ogg"
    p.write_bytes(b"")
    cases["empty"] = p
    return cases


@pytest.mark.parametrize("case", ["text", "random", "truncated_header", "truncated_flac", "truncated_m4a", "corrupt_mp3",
                                  "video_without_audio", "empty"])
def test_bad_files_one_error(checked_binary, model_dir, bad_files, case):
    r = run_am(checked_binary, ["transcribe", "-m", model_dir, "-t", "2", bad_files[case]])
    lines = r.stderr.splitlines()
    assert r.returncode == 1, f"{case}: exit {r.returncode}\n{r.stderr[-3000:]}"
    assert len(lines) == 1 and lines[0].startswith("amanuensis: "), f"{case}: {r.stderr[-3000:]}"
    if case == "video_without_audio":
        assert "no audio stream" in lines[0]
