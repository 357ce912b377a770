"""Integer (Q15) log-mel front end vs the float64 NumPy reference of test_mel.py.

build/tools/dump_mel IN OUT n_mels n_threads q15 runs src/frontend/mel_q15.c.  Acceptance: Pearson
correlation >= 0.9999 and max abs error <= 0.02 (normalised log-mel units) on real speech, silence,
full-scale sine sweeps and white noise.
"""
import os
import subprocess

import numpy as np
import pytest

from test_mel import DUMP_MEL, read_wav_16k, reference_log_mel, speech_files

MAX_ABS = 0.02
MIN_PEARSON = 0.9999
SR = 16000


def run_q15(samples, tmp_path, n_mels=80, n_threads=2):
    if not os.access(DUMP_MEL, os.X_OK):
        pytest.skip(f"{DUMP_MEL} not built")
    inp, out = tmp_path / "in.f32", tmp_path / "out.f32"
    np.asarray(samples, dtype="<f4").tofile(inp)
    res = subprocess.run([DUMP_MEL, str(inp), str(out), str(n_mels), str(n_threads), "q15"],
                         capture_output=True, text=True, check=True)
    n_frames = int(res.stdout.strip())
    mel = np.fromfile(out, dtype="<f4")
    assert mel.size == n_mels * n_frames
    return mel.reshape(n_mels, n_frames)


def check(name, samples, tmp_path, n_mels=80):
    ours = run_q15(samples, tmp_path, n_mels).astype(np.float64)
    ref = reference_log_mel(samples, n_mels)
    assert ours.shape == ref.shape
    assert np.all(np.isfinite(ours))
    err = float(np.max(np.abs(ours - ref)))
    if ref.std() == 0:  # silence: a constant spectrogram, correlation undefined
        pearson = 1.0 if ours.std() == 0 else 0.0
    else:
        pearson = float(np.corrcoef(ours.ravel(), ref.ravel())[0, 1])
    print(f"{name}: n={len(samples)} n_mels={n_mels} max abs err {err:.4g}, Pearson {pearson:.7f}")
    assert err <= MAX_ABS, err
    assert pearson >= MIN_PEARSON, pearson


def sweep(seconds, f0=20.0, f1=8000.0, amp=1.0, log=False):
    t = np.arange(int(SR * seconds)) / SR
    if log:
        k = np.log(f1 / f0)
        phase = 2 * np.pi * f0 * seconds / k * (np.exp(t / seconds * k) - 1)
    else:
        phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t * t)
    return (amp * np.sin(phase)).astype(np.float32)


@pytest.mark.parametrize("path", speech_files(), ids=os.path.basename)
def test_real_speech(path, tmp_path):
    if not os.path.exists(path):
        pytest.skip(f"{path} missing")
    samples = read_wav_16k(path)
    if samples is None:
        pytest.skip("not 16 kHz PCM")
    check(os.path.basename(path), samples, tmp_path)


def test_real_speech_128_mels(tmp_path):
    path = speech_files()[0]
    if not os.path.exists(path):
        pytest.skip(f"{path} missing")
    check("jfk 128 mels", read_wav_16k(path), tmp_path, 128)


def test_silence(tmp_path):
    check("silence", np.zeros(SR * 3, dtype=np.float32), tmp_path)


@pytest.mark.parametrize("kind", ["linear", "log"])
def test_full_scale_sweep(kind, tmp_path):
    check(f"{kind} sweep", sweep(6.0, log=(kind == "log")), tmp_path)
    check(f"{kind} sweep, 128 mels", sweep(6.0, log=(kind == "log")), tmp_path, 128)


def test_clipped_full_scale_sine(tmp_path):
    check("clipped sine", np.clip(2.0 * sweep(3.0, 440.0, 440.0), -1, 1), tmp_path)


@pytest.mark.parametrize("amp", [1.0, 0.3, 0.01])
def test_white_noise(amp, tmp_path):
    rng = np.random.default_rng(int(amp * 1000))
    x = np.clip(rng.standard_normal(SR * 4) * amp / 3, -1, 1).astype(np.float32)
    check(f"white noise amp {amp}", x, tmp_path)
    check(f"uniform white noise amp {amp}", (amp * rng.uniform(-1, 1, SR * 2)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("n", [1, 7, 399, 401, 16001])
def test_odd_lengths(n, tmp_path):
    rng = np.random.default_rng(n)
    check(f"noise n={n}", (0.3 * rng.uniform(-1, 1, n)).astype(np.float32), tmp_path)
