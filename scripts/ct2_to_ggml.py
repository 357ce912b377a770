#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model directory into a whisper.cpp ggml file.

    python3 scripts/ct2_to_ggml.py MODEL_DIR OUT.bin [--f32]

The ggml file holds the same weights as the CT2 model: 2-D and larger weights are written as
float16 (or float32 with --f32); 1-D tensors, conv biases and positional embeddings as float32.
A float16 CT2 model converted to ggml f16 keeps every weight bit for bit.

ggml layout (little endian):
    int32 magic 0x67676d6c
    int32 n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
          n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype (1 f16, 0 f32)
    int32 n_mel, int32 n_fft (201), float32 filters[n_mel][201]   (Slaney mel filterbank)
    int32 n_tokens, then per token: int32 len, raw bytes            (BPE vocabulary, ids 0..n_tokens-1)
    tensors until EOF: int32 n_dims, int32 name_len, int32 ttype (0 f32, 1 f16),
                       int32 ne[n_dims] (innermost first), name, data (row-major as PyTorch)

CT2 model.bin layout: u32 version (<= 6), strings are u16 length (with the NUL) + bytes + NUL;
spec name, u32 revision, u32 n_vars, per variable: name, u8 rank, u32 dims[rank], u8 dtype
(0 f32, 1 int8, 2 int16, 3 int32, 4 f16, 5 bf16), u32 nbytes, data; then u32 n_aliases and
(alias, target) name pairs.
"""
import argparse
import json
import os
import re
import struct
import sys

import numpy as np

GGML_MAGIC = 0x67676D6C
# Ids 0 .. 50256 of Whisper's BPE table (for .en models id 50256 is <|endoftext|>); whisper.cpp's own
# converter writes exactly these 50257 entries for every model (see tests/data/ggml-vocab-tiny*.bin).
N_BPE_TOKENS = 50257

CT2_DTYPES = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: None,  # bf16: widened below
}


class CT2Error(Exception):
    pass


def read_ct2_model(path):
    """Read a CTranslate2 model.bin. Returns (spec_name, revision, {name: ndarray}, {alias: target})."""
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(buf):
            raise CT2Error(f"{path}: truncated at byte {pos} (wanted {n} more)")
        b = buf[pos:pos + n]
        pos += n
        return b

    def u8():
        return take(1)[0]

    def u16():
        return struct.unpack("<H", take(2))[0]

    def u32():
        return struct.unpack("<I", take(4))[0]

    def string():
        n = u16()
        b = take(n)
        if n == 0 or b[-1] != 0:
            raise CT2Error(f"{path}: malformed string at byte {pos - n}")
        return b[:-1].decode("utf-8")

    version = u32()
    if version < 1 or version > 6:
        raise CT2Error(f"{path}: unsupported model.bin version {version}")
    spec = string() if version >= 2 else ""
    revision = u32() if version >= 2 else 1
    n_vars = u32()
    variables = {}
    for _ in range(n_vars):
        name = string()
        rank = u8()
        dims = struct.unpack(f"<{rank}I", take(4 * rank)) if rank else ()
        dtype_id = u8()
        nbytes = u32()
        data = take(nbytes)
        if dtype_id == 5:
            raw = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
            arr = raw.view(np.float32)
        elif dtype_id in CT2_DTYPES:
            arr = np.frombuffer(data, dtype=CT2_DTYPES[dtype_id])
        else:
            raise CT2Error(f"{path}: variable {name} has unknown dtype {dtype_id}")
        count = int(np.prod(dims)) if dims else 1
        if arr.size != count:
            raise CT2Error(f"{path}: variable {name} has {arr.size} elements, dims say {count}")
        variables[name] = arr.reshape(dims) if dims else arr.reshape(())
    aliases = {}
    if version >= 3 and pos < len(buf):
        for _ in range(u32()):
            alias = string()
            aliases[alias] = string()
    return spec, revision, variables, aliases


def to_float(arr, variables, name):
    """Dequantise int8 weights (with a per-row <name>_scale) and widen to float32."""
    if arr.dtype == np.int8:
        scale = variables.get(name + "_scale")
        if scale is None:
            raise CT2Error(f"int8 variable {name} has no scale")
        scale = np.asarray(scale, dtype=np.float32).reshape(-1, *([1] * (arr.ndim - 1)))
        return arr.astype(np.float32) / scale
    return arr


def mel_filters(sr=16000, n_fft=400, n_mels=80):
    """librosa.filters.mel(sr, n_fft, n_mels) with Slaney scale and norm, computed in float64."""
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    f_min, f_sp = 0.0, 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(f):
        return (f - f_min) / f_sp if f < min_log_hz else min_log_mel + np.log(f / min_log_hz) / logstep

    mels = np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2)
    freqs = f_min + f_sp * mels
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))

    fdiff = np.diff(freqs)
    ramps = freqs.reshape(-1, 1) - fftfreqs.reshape(1, -1)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels])
    weights *= enorm[:, None]
    return weights


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def read_vocabulary(model_dir):
    """Token strings (GPT-2 byte-level form) indexed by id."""
    txt = os.path.join(model_dir, "vocabulary.txt")
    js = os.path.join(model_dir, "vocabulary.json")
    if os.path.exists(txt):
        with open(txt, "r", encoding="utf-8", newline="") as f:
            data = f.read()
        if data.endswith("\n"):
            data = data[:-1]
        return data.split("\n")
    if os.path.exists(js):
        with open(js, "r", encoding="utf-8") as f:
            return json.load(f)
    raise CT2Error(f"{model_dir}: no vocabulary.txt or vocabulary.json")


def token_bytes(tok, byte_decoder):
    try:
        return bytes(byte_decoder[c] for c in tok)
    except KeyError:
        return tok.encode("utf-8")  # special tokens written as text


def build_tensors(v, n_audio_layer, n_text_layer, d_audio, d_text):
    """Yield (whisper.cpp name, float ndarray in PyTorch shape) in whisper.cpp's order."""
    def g(name):
        return to_float(v[name], v, name)

    def lin(prefix, ct2, bias=True):
        yield prefix + ".weight", g(ct2 + "/weight")
        if bias:
            yield prefix + ".bias", g(ct2 + "/bias")

    def ln(prefix, ct2):
        yield prefix + ".weight", g(ct2 + "/gamma")
        yield prefix + ".bias", g(ct2 + "/beta")

    def fused(prefix, ct2, parts, d):
        w = g(ct2 + "/weight")
        b = g(ct2 + "/bias")
        for i, part in enumerate(parts):
            yield f"{prefix}.{part}.weight", w[i * d:(i + 1) * d]
            if part != "key":
                yield f"{prefix}.{part}.bias", b[i * d:(i + 1) * d]

    yield "encoder.positional_embedding", g("encoder/position_encodings/encodings")
    yield "encoder.conv1.weight", g("encoder/conv1/weight")
    yield "encoder.conv1.bias", g("encoder/conv1/bias").reshape(-1, 1)
    yield "encoder.conv2.weight", g("encoder/conv2/weight")
    yield "encoder.conv2.bias", g("encoder/conv2/bias").reshape(-1, 1)
    for i in range(n_audio_layer):
        p, c = f"encoder.blocks.{i}", f"encoder/layer_{i}"
        yield from ln(p + ".attn_ln", c + "/self_attention/layer_norm")
        yield from fused(p + ".attn", c + "/self_attention/linear_0", ["query", "key", "value"], d_audio)
        yield from lin(p + ".attn.out", c + "/self_attention/linear_1")
        yield from ln(p + ".mlp_ln", c + "/ffn/layer_norm")
        yield from lin(p + ".mlp.0", c + "/ffn/linear_0")
        yield from lin(p + ".mlp.2", c + "/ffn/linear_1")
    yield from ln("encoder.ln_post", "encoder/layer_norm")

    yield "decoder.positional_embedding", g("decoder/position_encodings/encodings")
    yield "decoder.token_embedding.weight", g("decoder/embeddings/weight")
    for i in range(n_text_layer):
        p, c = f"decoder.blocks.{i}", f"decoder/layer_{i}"
        yield from ln(p + ".attn_ln", c + "/self_attention/layer_norm")
        yield from fused(p + ".attn", c + "/self_attention/linear_0", ["query", "key", "value"], d_text)
        yield from lin(p + ".attn.out", c + "/self_attention/linear_1")
        yield from ln(p + ".cross_attn_ln", c + "/attention/layer_norm")
        yield from lin(p + ".cross_attn.query", c + "/attention/linear_0")
        yield from fused(p + ".cross_attn", c + "/attention/linear_1", ["key", "value"], d_text)
        yield from lin(p + ".cross_attn.out", c + "/attention/linear_2")
        yield from ln(p + ".mlp_ln", c + "/ffn/layer_norm")
        yield from lin(p + ".mlp.0", c + "/ffn/linear_0")
        yield from lin(p + ".mlp.2", c + "/ffn/linear_1")
    yield from ln("decoder.ln", "decoder/layer_norm")


def count_layers(variables, side):
    pat = re.compile(side + r"/layer_(\d+)/")
    return len({m.group(1) for m in map(pat.match, variables) if m})


F32_NAMES = {"encoder.conv1.bias", "encoder.conv2.bias",
             "encoder.positional_embedding", "decoder.positional_embedding"}


def convert(model_dir, out_path, use_f32=False):
    model_bin = os.path.join(model_dir, "model.bin")
    spec, _rev, v, _aliases = read_ct2_model(model_bin)
    if spec and spec != "WhisperSpec":
        raise CT2Error(f"{model_bin}: spec {spec!r} is not WhisperSpec")

    n_audio_layer = count_layers(v, "encoder")
    n_text_layer = count_layers(v, "decoder")
    n_vocab, d_text = v["decoder/embeddings/weight"].shape
    n_text_ctx = v["decoder/position_encodings/encodings"].shape[0]
    d_audio, n_mels, _k = v["encoder/conv1/weight"].shape
    n_audio_ctx = v["encoder/position_encodings/encodings"].shape[0]
    n_audio_head = int(np.asarray(v["encoder/num_heads"]).reshape(-1)[0]) if "encoder/num_heads" in v \
        else d_audio // 64
    n_text_head = int(np.asarray(v["decoder/num_heads"]).reshape(-1)[0]) if "decoder/num_heads" in v \
        else d_text // 64
    ftype = 0 if use_f32 else 1

    vocab = read_vocabulary(model_dir)
    if len(vocab) < N_BPE_TOKENS:
        raise CT2Error(f"{model_dir}: vocabulary has {len(vocab)} tokens, expected at least {N_BPE_TOKENS}")
    byte_decoder = {c: b for b, c in bytes_to_unicode().items()}

    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        out.write(struct.pack("<I", GGML_MAGIC))
        out.write(struct.pack("<11i", n_vocab, n_audio_ctx, d_audio, n_audio_head, n_audio_layer,
                              n_text_ctx, d_text, n_text_head, n_text_layer, n_mels, ftype))
        filters = mel_filters(16000, 400, n_mels).astype("<f4")
        out.write(struct.pack("<2i", filters.shape[0], filters.shape[1]))
        out.write(filters.tobytes())
        out.write(struct.pack("<i", N_BPE_TOKENS))
        for tok in vocab[:N_BPE_TOKENS]:
            b = token_bytes(tok, byte_decoder)
            out.write(struct.pack("<i", len(b)))
            out.write(b)
        n_written = 0
        for name, arr in build_tensors(v, n_audio_layer, n_text_layer, d_audio, d_text):
            arr = np.asarray(arr)
            if arr.ndim == 1 or name in F32_NAMES or use_f32:
                data, ttype = np.ascontiguousarray(arr, dtype="<f4"), 0
            else:
                data, ttype = np.ascontiguousarray(arr, dtype="<f2"), 1
            nb = name.encode("utf-8")
            out.write(struct.pack("<3i", arr.ndim, len(nb), ttype))
            out.write(struct.pack(f"<{arr.ndim}i", *reversed(arr.shape)))
            out.write(nb)
            out.write(data.tobytes())
            n_written += 1
    os.replace(tmp, out_path)
    return n_written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", help="CTranslate2 Whisper model directory (model.bin, vocabulary.txt)")
    ap.add_argument("out", help="ggml .bin file to write")
    ap.add_argument("--f32", action="store_true", help="write 2-D weights as float32 (default float16)")
    args = ap.parse_args(argv)
    try:
        n = convert(args.model_dir, args.out, args.f32)
    except (CT2Error, OSError, KeyError, ValueError) as e:
        print(f"ct2_to_ggml: {e}", file=sys.stderr)
        return 1
    print(f"ct2_to_ggml: wrote {args.out} ({n} tensors, {'f32' if args.f32 else 'f16'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
