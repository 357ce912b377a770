"""Reference helpers for the Silero VAD tests.

- onnx_to_ggml(onnx_path, out_path): write the weights of a Silero VAD v5/v6 ONNX export (e.g.
  faster-whisper's assets/silero_vad_v6.onnx) in whisper.cpp's ggml Silero layout (float32), so the
  C forward pass can be checked against onnxruntime on the very same weights.
- fw_probs(audio): faster-whisper's SileroVADModel probabilities (audio padded as get_speech_timestamps does).
- op15_probs(onnx_path, audio): probabilities of silero-vad's own silero_vad_16k_op15.onnx, frame by
  frame with 64 samples of context and the state carried (silero's OnnxWrapper).
- fw_segments(probs, n_samples, **opts): faster_whisper.vad.get_speech_timestamps on given probabilities.
"""
import struct
from unittest import mock

import numpy as np

FW_LAYERS = ["encoder.conv_layers.%d.weight", "encoder.conv_layers.%d.bias"]


def onnx_to_ggml(onnx_path, out_path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(str(onnx_path))
    w = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in m.graph.initializer}
    lstm = [n for n in m.graph.node if n.op_type == "LSTM"][0]
    W, R, B = (w[lstm.input[1]][0], w[lstm.input[2]][0], w[lstm.input[3]][0])

    def ifgo(x):  # ONNX gate order i, o, f, c -> PyTorch i, f, g(c), o
        i, o, f, c = np.split(x, 4)
        return np.concatenate([i, f, c, o])

    tensors = []
    for l in range(4):
        tensors.append((f"_model.encoder.{l}.reparam_conv.weight", w[f"encoder.conv_layers.{l}.weight"]))
        tensors.append((f"_model.encoder.{l}.reparam_conv.bias", w[f"encoder.conv_layers.{l}.bias"]))
    tensors += [("_model.decoder.rnn.weight_ih", ifgo(W)), ("_model.decoder.rnn.weight_hh", ifgo(R)),
                ("_model.decoder.rnn.bias_ih", ifgo(B[:512])), ("_model.decoder.rnn.bias_hh", ifgo(B[512:])),
                ("_model.decoder.decoder.2.weight", w["decoder.conv1d.weight"].reshape(128)),
                ("_model.decoder.decoder.2.bias", w["decoder.conv1d.bias"].reshape(())),
                ("_model.stft.forward_basis_buffer", w["encoder.feature_extractor.forward_basis_buffer"])]
    with open(out_path, "wb") as f:
        f.write(struct.pack("<i", 0x67676d6c))
        f.write(struct.pack("<i", 10) + b"silero-16k")
        f.write(struct.pack("<6i", 6, 0, 0, 512, 64, 4))
        for dims in ([129, 128, 3], [128, 64, 3], [64, 64, 3], [64, 128, 3]):
            f.write(struct.pack("<3i", *dims))
        f.write(struct.pack("<4i", 128, 128, 128, 1))
        for name, a in tensors:
            shape = list(a.shape)[::-1]
            nb = name.encode()
            f.write(struct.pack("<3i", len(shape), len(nb), 0))
            f.write(struct.pack(f"<{len(shape)}i", *shape))
            f.write(nb)
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def pad_audio(audio):
    return np.pad(audio, (0, 512 - audio.shape[0] % 512))


def fw_probs(audio):
    from faster_whisper.vad import get_vad_model
    return np.asarray(get_vad_model()(pad_audio(audio))).reshape(-1)


def op15_probs(onnx_path, audio):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    s = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"], sess_options=opts)
    padded = pad_audio(audio).astype(np.float32)
    state = np.zeros((2, 1, 128), np.float32)
    ctx = np.zeros(64, np.float32)
    out = []
    sr = np.array(16000, dtype=np.int64)
    for i in range(0, len(padded), 512):
        x = np.concatenate([ctx, padded[i:i + 512]])[None]
        o, state = s.run(None, {"input": x, "state": state, "sr": sr})
        out.append(float(np.asarray(o).ravel()[0]))
        ctx = padded[i + 448:i + 512]
    return np.array(out, dtype=np.float32)


def fw_segments(probs, n_samples, **opts):
    """get_speech_timestamps with the model replaced by the given probabilities."""
    from faster_whisper import vad
    probs = np.asarray(probs, dtype=np.float32)

    class Fixed:
        def __call__(self, audio, *a, **k):
            assert audio.shape[0] // 512 == len(probs)
            return probs

    with mock.patch.object(vad, "get_vad_model", lambda: Fixed()):
        return vad.get_speech_timestamps(np.zeros(n_samples, np.float32), vad.VadOptions(**opts))
