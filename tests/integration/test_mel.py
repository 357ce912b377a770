"""Log-mel front end vs a float64 NumPy reference (faster-whisper's FeatureExtractor algorithm).

The reference below is written from the algorithm (not imported): append 160 zeros, numpy
'reflect' padding of 200 each side, periodic Hann 400, hop 160, np.fft.rfft in float64, drop the
last frame, |X|^2, Slaney mel filters (float64), log10(max(m, 1e-10)), max(x, max - 8), (x + 4) / 4.
It is compared with build/tools/dump_mel (max abs <= 1e-3 per element).
"""
import glob
import os
import subprocess
import wave

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DUMP_MEL = os.path.join(REPO, "build", "tools", "dump_mel")
DATA = os.environ.get("AM_TEST_DATA_DIR") or os.path.join(REPO, "tests", "data")
TOL = 1e-3

N_FFT, HOP, SR = 400, 160, 16000


def slaney_filters(n_mels, sr=SR, n_fft=N_FFT):
    """[n_mels][n_fft/2+1] float64, librosa.filters.mel(sr, n_fft, n_mels) with htk=False, norm='slaney'."""
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz,
                        min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    edges = mel_to_hz(np.linspace(0.0, float(hz_to_mel(sr / 2.0)), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    w = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    return w * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def reference_log_mel(samples, n_mels=80):
    x = np.asarray(samples, dtype=np.float32).astype(np.float64)
    x = np.pad(x, (0, HOP))
    x = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    n_frames = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    window = np.hanning(N_FFT + 1)[:-1]
    spec = np.fft.rfft(x[idx] * window, axis=-1)[:-1]       # [frames-1][201]
    power = (spec.real ** 2 + spec.imag ** 2).T              # [201][frames-1]
    mel = slaney_filters(n_mels) @ power                     # [n_mels][frames-1]
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def run_dump_mel(samples, tmp_path, n_mels=80, n_threads=1):
    if not os.access(DUMP_MEL, os.X_OK):
        pytest.skip(f"{DUMP_MEL} not built")
    inp, out = tmp_path / "in.f32", tmp_path / "out.f32"
    np.asarray(samples, dtype="<f4").tofile(inp)
    res = subprocess.run([DUMP_MEL, str(inp), str(out), str(n_mels), str(n_threads)],
                         capture_output=True, text=True, check=True)
    n_frames = int(res.stdout.strip())
    mel = np.fromfile(out, dtype="<f4")
    assert mel.size == n_mels * n_frames
    return mel.reshape(n_mels, n_frames)


def read_wav_16k(path):
    """float32 samples of a 16 kHz PCM wav (mono, or channels averaged); None if not 16 kHz PCM."""
    try:
        with wave.open(path, "rb") as w:
            if w.getframerate() != SR or w.getsampwidth() not in (2, 4):
                return None
            ch, width, raw = w.getnchannels(), w.getsampwidth(), w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        return None
    dt, scale = ("<i2", 32768.0) if width == 2 else ("<i4", 2147483648.0)
    data = np.frombuffer(raw, dtype=dt).astype(np.float64) / scale
    data = data.reshape(-1, ch).mean(axis=1)
    return data.astype(np.float32)


def speech_files():
    files = [os.path.join(DATA, "jfk.wav")]
    picked = 0
    for path in sorted(glob.glob(os.path.join(DATA, "speech", "*.wav"))):
        if picked < 4 and read_wav_16k(path) is not None:
            files.append(path)
            picked += 1
    return files


def compare(samples, tmp_path, n_mels=80, n_threads=1):
    ours = run_dump_mel(samples, tmp_path, n_mels, n_threads)
    ref = reference_log_mel(samples, n_mels)
    assert ours.shape == ref.shape
    assert np.all(np.isfinite(ours))
    err = float(np.max(np.abs(ours.astype(np.float64) - ref)))
    print(f"n={len(samples)} n_mels={n_mels}: max abs err {err:.3g}")
    assert err <= TOL, err
    return err


@pytest.mark.parametrize("path", speech_files(), ids=os.path.basename)
def test_real_audio(path, tmp_path):
    if not os.path.exists(path):
        pytest.fail(f"{path} missing (tests/data of the repository)")
    samples = read_wav_16k(path)
    if samples is None:
        pytest.skip("not 16 kHz PCM")
    compare(samples, tmp_path, 80, n_threads=2)


def test_real_audio_128_mels(tmp_path):
    path = os.path.join(DATA, "jfk.wav")
    if not os.path.exists(path):
        pytest.fail(f"{path} missing (tests/data of the repository)")
    compare(read_wav_16k(path), tmp_path, 128)


@pytest.mark.parametrize("n", [1, 7, 41, 199, 399, 401, 16001, 48017])
def test_random_odd_lengths(n, tmp_path):
    rng = np.random.default_rng(1000 + n)
    samples = (0.3 * rng.standard_normal(n)).astype(np.float32)
    compare(samples, tmp_path, 80)


def test_numpy_reflect_matches_repeated_reflection():
    """Sanity check of the reference's padding on a signal shorter than the pad (n + 160 < 200)."""
    x = np.arange(5, dtype=np.float64)
    padded = np.pad(x, (7, 7), mode="reflect")
    period = 2 * (len(x) - 1)
    idx = np.arange(-7, len(x) + 7) % period
    idx = np.where(idx >= len(x), period - idx, idx)
    assert np.array_equal(padded, x[idx])
