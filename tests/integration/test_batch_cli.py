"""`amanuensis transcribe` over many files: folders as input, outputs mirrored under --output-dir, one
line per failed file and the run goes on, the summary, --skip-existing, --jobs, --stats and the progress
line (on a pipe with --progress, and in a terminal under tmux)."""
import json
import os
import re
import shutil
import struct
import subprocess
import time
import uuid
import wave

import pytest

from conftest import run_am, sanitizer_env

FAST = ["-t", "2", "--beam-size", "1", "--no-fallback"]  # the encoder dominates; keep decoding short
SUMMARY = re.compile(r"^summary: (\d+) done, (\d+) failed, (\d+) skipped; ([\d.]+) audio hours; wall ([\d.]+) s; "
                     r"real-time factor ([\d.]+)", re.M)
JFK = "ask not what your country can do for you"
RATE = 16000


def _jfk_samples(test_data):
    with wave.open(str(test_data / "jfk.wav"), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        return w.readframes(w.getnframes())


def _write_wav(path, pcm16):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm16)


def _wav_header(n_data_bytes):
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + n_data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", n_data_bytes))


def _bad_files(jfk_wav_bytes):
    """Ten kinds of files that are not audio we can read: corrupt, empty, truncated, other formats."""
    return {
        "empty.wav": b"",
        "notes.txt": b"this is not audio\n" * 20,
        "text.wav": b"hello\n" * 100,
        "cut-fmt.wav": jfk_wav_bytes[:30],
        "cut-data-header.wav": _wav_header(32000)[:40],
        "header-only.wav": _wav_header(32000),
        "zero-samples.wav": _wav_header(0),
        "riff-not-wave.wav": b"RIFF" + struct.pack("<I", len(jfk_wav_bytes) - 8) + b"AVI " + jfk_wav_bytes[12:],
        "garbage.mp3": bytes((i * 7919 + 13) % 251 for i in range(5000)),
        "data.json": b'{"a": 1}\n',
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, test_data):
    """A folder of 201 files: 101 good (98 clips of 0.3..1 s in six subfolders, jfk.wav twice under the
    same name in two folders, a link to a clip), 100 bad ones of ten kinds, plus what must be ignored: a
    link to a folder, a hidden file and a hidden folder.  Returns (root, {good path: seconds}, [bad paths])."""
    root = tmp_path_factory.mktemp("batch") / "in"
    pcm = _jfk_samples(test_data)
    n_total = len(pcm) // 2
    good = {}
    for i in range(98):
        n = 4800 + (i * 797) % 11200
        off = (i * 5231) % (n_total - n)
        path = root / f"part{i % 6}" / f"clip{i:03d}.wav"
        _write_wav(path, pcm[2 * off:2 * (off + n)])
        good[path] = n / RATE
    for sub in ("a", "b"):
        (root / sub).mkdir()
        shutil.copy(test_data / "jfk.wav", root / sub / "jfk.wav")
        good[root / sub / "jfk.wav"] = 11.0
    os.symlink(root / "part0" / "clip000.wav", root / "link.wav")
    good[root / "link.wav"] = good[root / "part0" / "clip000.wav"]
    os.symlink(root / "part1", root / "linked-folder")  # not followed: no loops, no duplicates
    shutil.copy(root / "part0" / "clip000.wav", root / ".hidden.wav")
    (root / ".cache").mkdir()
    shutil.copy(root / "part0" / "clip000.wav", root / ".cache" / "clip.wav")
    bad = []
    jfk_bytes = (test_data / "jfk.wav").read_bytes()
    for j in range(10):
        for name, data in _bad_files(jfk_bytes).items():
            path = root / ("bad" if j < 4 else f"part{j - 4}") / f"{j}-{name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            bad.append(path)
    assert len(good) + len(bad) == 201
    return root, good, bad


def _out_stem(out, root, path):
    rel = path.relative_to(root)
    return out / rel.parent / rel.stem


def _summary(stderr):
    m = SUMMARY.findall(stderr)
    assert len(m) == 1, stderr[-3000:]
    done, failed, skipped, hours, wall, rtf = m[0]
    return int(done), int(failed), int(skipped), float(hours), float(wall), float(rtf)


@pytest.fixture(scope="module")
def folder_run(binary, model_dir, corpus, tmp_path_factory):
    root, _, _ = corpus
    out = tmp_path_factory.mktemp("batch-out") / "new" / "out"  # created with its parents
    t0 = time.monotonic()
    r = run_am(binary, ["transcribe", "-m", model_dir, *FAST, "-q", "-o", "txt", "-o", "json",
                        "--output-dir", out, root])
    return r, out, time.monotonic() - t0


def test_folder_every_good_file_transcribed(folder_run, corpus):
    r, out, _ = folder_run
    root, good, _ = corpus
    assert r.returncode == 1, r.stderr[-3000:]
    assert r.stdout == ""
    for path, seconds in good.items():
        stem = _out_stem(out, root, path)
        js = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        assert js["duration"] == pytest.approx(seconds, abs=0.01), path
        assert stem.with_suffix(".txt").exists(), path
    # same name in two folders: both kept, each under its own folder
    for sub in ("a", "b"):
        assert JFK in (out / sub / "jfk.txt").read_text(encoding="utf-8").lower().replace(",", "")
    # nothing else: no hidden files, no linked folder, no partial files
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = sorted(f"{_out_stem(out, root, p).relative_to(out).as_posix()}.{ext}" for p in good
                      for ext in ("txt", "json"))
    assert made == expected


def test_folder_bad_files_named_with_their_error(folder_run, corpus):
    r, out, _ = folder_run
    root, _, bad = corpus
    lines = r.stderr.splitlines()
    errors = [ln for ln in lines if ln.startswith("amanuensis: ")]
    assert len(errors) == len(bad), r.stderr[-3000:]
    for path in bad:
        mine = [ln for ln in errors if ln.startswith(f"amanuensis: {path}: ")]
        assert len(mine) == 1, (path, r.stderr[-3000:])
        assert len(mine[0]) > len(f"amanuensis: {path}: ") + 3  # a message follows the name
        assert not list(_out_stem(out, root, path).parent.glob(_out_stem(out, root, path).name + ".*"))
    # every stderr line is an error or the summary
    assert len(lines) == len(bad) + 1, r.stderr[-3000:]


def test_folder_summary(folder_run, corpus):
    r, _, elapsed = folder_run
    _, good, bad = corpus
    done, failed, skipped, hours, wall, rtf = _summary(r.stderr)
    assert (done, failed, skipped) == (len(good), len(bad), 0)
    audio = sum(good.values())
    assert hours == pytest.approx(audio / 3600, abs=1e-4)
    assert 0 < wall <= elapsed
    assert rtf == pytest.approx(wall / audio, rel=0.02, abs=1e-4)


def test_skip_existing_does_no_work(binary, model_dir, folder_run, corpus):
    _, out, _ = folder_run
    root, good, bad = corpus
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    t0 = time.monotonic()
    r = run_am(binary, ["transcribe", "-m", model_dir, *FAST, "-q", "-o", "txt", "-o", "json",
                        "--output-dir", out, "--skip-existing", "--stats", root])
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, r.stderr[-3000:]  # the bad files are tried again, and fail again
    assert _summary(r.stderr)[:3] == (0, len(bad), len(good))
    assert re.search(r"^stats: encode_calls 0$", r.stderr, re.M), r.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert elapsed < 20, elapsed


def test_skip_existing_resumes(binary, model_dir, corpus, tmp_path):
    """Files with a missing output are done again; with nothing left the model is not even loaded."""
    root, good, _ = corpus
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(p for p in good if p.parent.name == "part3")[:5]:
        shutil.copy(p, src / p.name)
    out = tmp_path / "out"
    args = ["transcribe", "-m", model_dir, *FAST, "-q", "-o", "txt", "-o", "srt", "--output-dir", out,
            "--skip-existing", "--stats", src]
    n = 5
    r = run_am(binary, args, check=True)
    assert _summary(r.stderr)[:3] == (n, 0, 0)
    (out / "clip003.srt").unlink()  # one output of one file missing
    for f in out.glob("clip009.*"):  # every output of another
        f.unlink()
    (out / "clip015.txt").write_text("kept\n")
    r = run_am(binary, args, check=True)
    assert _summary(r.stderr)[:3] == (2, 0, n - 2)
    assert (out / "clip003.srt").exists() and (out / "clip009.txt").exists()
    assert (out / "clip015.txt").read_text() == "kept\n"
    r = run_am(binary, args, check=True)
    assert _summary(r.stderr)[:3] == (0, 0, n)
    assert re.search(r"^stats: load_seconds 0\.000$", r.stderr, re.M), r.stderr


def test_skip_existing_needs_a_format(binary, model_dir, test_data):
    r = run_am(binary, ["transcribe", "-m", model_dir, "--skip-existing", test_data / "jfk.wav"])
    assert r.returncode == 2 and r.stderr.startswith("amanuensis: "), r.stderr


@pytest.fixture(scope="module")
def jobs_subset(corpus, test_data, tmp_path_factory):
    """Eight files of different lengths for the --jobs comparison."""
    root, good, _ = corpus
    d = tmp_path_factory.mktemp("jobs-in")
    clips = sorted(p for p in good if p.parent.name == "part2")[:6]
    for p in clips:
        shutil.copy(p, d / p.name)
    shutil.copy(test_data / "jfk.wav", d / "jfk.wav")
    shutil.copy(test_data / "speech" / "leopard_test.wav", d / "leopard.wav")
    return d


@pytest.fixture(scope="module")
def jobs_runs(binary, model_dir, jobs_subset, tmp_path_factory):
    """The subset with --jobs 1 and with --jobs 2 (default decoding: beam search, fallback sampling),
    every output format; the second run with --stats."""
    out = tmp_path_factory.mktemp("jobs-out")
    runs = {}
    for jobs in (1, 2):
        runs[jobs] = run_am(binary, ["transcribe", "-m", model_dir, "-t", "2", "--jobs", str(jobs), "-o", "all",
                                     "--output-dir", out / f"j{jobs}"] + (["--stats"] if jobs == 2 else [])
                            + [jobs_subset], check=True)
    return runs, out / "j1", out / "j2"


def test_jobs_outputs_identical(jobs_runs):
    runs, j1, j2 = jobs_runs
    names = sorted(p.name for p in j1.iterdir())
    assert len(names) == 8 * 5
    assert names == sorted(p.name for p in j2.iterdir())
    for name in names:
        assert (j1 / name).read_bytes() == (j2 / name).read_bytes(), name
    # the same segment lines on stdout (a file's lines together, files in the order they finish)
    assert sorted(runs[1].stdout.splitlines()) == sorted(runs[2].stdout.splitlines())
    assert JFK in runs[1].stdout.lower().replace(",", "")
    for r in runs.values():
        assert _summary(r.stderr)[:3] == (8, 0, 0)


def test_stats_fields(jobs_runs, jobs_subset):
    r = jobs_runs[0][2]
    stats = dict(re.findall(r"^stats: (\w+) ([\d.]+)$", r.stderr, re.M))
    for key in ("load_seconds", "read_seconds", "mel_seconds", "encode_seconds", "decode_seconds", "diarize_seconds",
                "encode_calls",
                "decode_calls", "windows", "rows_decoded", "bytes_to_device", "bytes_from_device", "audio_seconds",
                "wall_seconds", "real_time_factor"):
        assert key in stats, (key, r.stderr)
    v = {k: float(x) for k, x in stats.items()}
    assert v["load_seconds"] > 0 and v["mel_seconds"] > 0 and v["encode_seconds"] > 0 and v["decode_seconds"] > 0
    assert v["diarize_seconds"] == 0  # no --diarize
    assert v["encode_calls"] >= 8 and v["windows"] >= 8 and v["decode_calls"] > v["encode_calls"]
    assert v["rows_decoded"] >= v["decode_calls"]
    audio = 0.0
    for p in jobs_subset.iterdir():
        with wave.open(str(p), "rb") as w:
            audio += w.getnframes() / w.getframerate()
    assert v["audio_seconds"] == pytest.approx(audio, abs=0.01)
    assert v["real_time_factor"] == pytest.approx(v["wall_seconds"] / v["audio_seconds"], rel=0.01, abs=1e-3)


def test_stats_single_file(binary, model_dir, test_data):
    r = run_am(binary, ["transcribe", "-m", model_dir, *FAST, "-q", "--stats", test_data / "jfk.wav"], check=True)
    assert "summary:" not in r.stderr  # one file: no summary, as before
    assert re.search(r"^stats: encode_calls 1$", r.stderr, re.M), r.stderr
    assert re.search(r"^stats: audio_seconds 11\.000$", r.stderr, re.M), r.stderr


def test_same_name_from_two_folders_named_as_files(binary, model_dir, corpus, tmp_path):
    """Files named on the command line keep their bare name in --output-dir; a second file with the
    same name fails (it would overwrite the first) and the others go on."""
    root, _, _ = corpus
    out = tmp_path / "out"
    a, b, c = root / "a" / "jfk.wav", root / "b" / "jfk.wav", root / "part4" / "clip004.wav"
    r = run_am(binary, ["transcribe", "-m", model_dir, *FAST, "-q", "-o", "txt", "--output-dir", out, a, b, c])
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("amanuensis: ")]
    assert len(errors) == 1 and errors[0].startswith(f"amanuensis: {b}: ") and str(a) in errors[0], r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip004.txt", "jfk.txt"]
    assert _summary(r.stderr)[:3] == (2, 1, 0)


def test_empty_folder(binary, model_dir, tmp_path):
    (tmp_path / "nothing").mkdir()
    r = run_am(binary, ["transcribe", "-m", model_dir, "-q", tmp_path / "nothing"])
    assert r.returncode == 1
    assert r.stderr.startswith("amanuensis: ") and len(r.stderr.splitlines()) == 1, r.stderr


def test_progress_forced_on_a_pipe(binary, model_dir, test_data):
    args = [str(binary), "transcribe", "-m", str(model_dir), *FAST, "-q", str(test_data / "jfk.wav")]
    env = sanitizer_env()
    r = subprocess.run(args[:-1] + ["--progress", args[-1]], capture_output=True, env=env, check=True, timeout=300)
    err = r.stderr.decode()
    assert re.search(r"\rfile 1 of 1: \S*jfk\.wav +100%  [\d.]+x real time  ETA \d+:\d\d", err), repr(err)
    assert err.endswith("\r") and "\n" not in err, repr(err)  # rewritten in place, erased at the end
    quiet = subprocess.run(args, capture_output=True, env=env, check=True, timeout=300)
    assert quiet.stderr == b""  # not a terminal, no --progress: nothing


@pytest.fixture(scope="module")
def long_wav(test_data, tmp_path_factory):
    """jfk.wav twelve times: 132 s, five windows."""
    pcm = _jfk_samples(test_data)
    path = tmp_path_factory.mktemp("long") / "long.wav"
    _write_wav(path, pcm * 12)
    return path


def test_progress_line_in_a_terminal(binary, model_dir, long_wav, tmp_path):
    """Under tmux stderr is a terminal: the progress line appears (rewritten in place) while the file is
    transcribed, with a percent strictly between 0 and 100, and is gone when the run ends."""
    tmux = shutil.which("tmux")
    if not tmux:
        pytest.skip("tmux is not installed (scripts/install-deps --test installs it)")
    sock = f"am-progress-{uuid.uuid4().hex[:8]}"
    base = [tmux, "-L", sock, "-f", "/dev/null"]
    cmd = (f"{binary} transcribe -m {model_dir} {' '.join(FAST)} -q {long_wav}; echo EXIT=$?; sleep 120")
    subprocess.run(base + ["new-session", "-d", "-s", "p", "-x", "160", "-y", "20", cmd], check=True,
                   env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    seen, screens = [], []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            screen = subprocess.run(base + ["capture-pane", "-p", "-t", "p"], capture_output=True, text=True).stdout
            screens.append(screen)
            for m in re.finditer(r"file 1 of 1: \S*long\.wav +(\d+)%  ([\d.]+)x real time  ETA (\d+:\d\d|--:--)",
                                 screen):
                seen.append(int(m.group(1)))
            if "EXIT=" in screen:
                break
            time.sleep(0.05)
    finally:
        subprocess.run(base + ["kill-server"], capture_output=True)
    final = screens[-1]
    assert "EXIT=0" in final, final
    assert any(0 < pct < 100 for pct in seen), (seen, screens[-3:])
    assert seen == sorted(seen), seen  # one line, rewritten as the file advances
    assert "file 1 of 1" not in final  # cleared at the end
    assert all(s.count("file 1 of 1") <= 1 for s in screens)  # never a second line
