"""ggml model files converted by scripts/ct2_to_ggml.py: format checks and CT2-vs-ggml transcripts.

A float16 CT2 model and its ggml f16 conversion hold the same weights bit for bit, so the engine must
produce identical tokens from both; the f32 conversion widens the same f16 values, so it must too.
"""
import importlib.util
import json
import struct

import numpy as np
import pytest

from conftest import PSPHINX, REPO, run_am


def _converter():
    spec = importlib.util.spec_from_file_location("ct2_to_ggml", REPO / "scripts" / "ct2_to_ggml.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _read_ggml(path):
    buf = path.read_bytes()
    pos = 0

    def ints(n):
        nonlocal pos
        v = struct.unpack_from(f"<{n}i", buf, pos)
        pos += 4 * n
        return v

    magic = struct.unpack_from("<I", buf, 0)[0]
    pos = 4
    hp = ints(11)
    n_mel, n_fft = ints(2)
    filters = np.frombuffer(buf, "<f4", n_mel * n_fft, pos).reshape(n_mel, n_fft)
    pos += 4 * n_mel * n_fft
    (n_tok,) = ints(1)
    toks = []
    for _ in range(n_tok):
        (n,) = ints(1)
        toks.append(buf[pos:pos + n])
        pos += n
    tensors = {}
    while pos < len(buf):
        n_dims, name_len, ttype = ints(3)
        ne = ints(n_dims)
        name = buf[pos:pos + name_len].decode()
        pos += name_len
        dt = np.dtype("<f4") if ttype == 0 else np.dtype("<f2")
        count = int(np.prod(ne))
        tensors[name] = (ttype, ne, np.frombuffer(buf, dt, count, pos).reshape(tuple(reversed(ne))))
        pos += count * dt.itemsize
    return magic, hp, filters, toks, tensors


def test_converted_header_matches_whisper_cpp(ggml_models, test_data):
    """Header, mel filters and vocabulary agree with whisper.cpp's own tiny.en test file."""
    magic, hp, filters, toks, tensors = _read_ggml(ggml_models["f16"])
    rmagic, rhp, rfilters, rtoks, rtensors = _read_ggml(test_data / "ggml-vocab-tiny.en.bin")
    assert magic == rmagic == 0x67676D6C
    assert hp == rhp
    assert np.abs(filters - rfilters).max() < 1e-6
    assert len(toks) == len(rtoks)
    for i, (a, b) in enumerate(zip(toks, rtoks)):
        # whisper.cpp stores partial UTF-8 sequences lossily as U+FFFD; we keep the raw bytes
        assert a == b or a.decode("utf-8", "replace").encode() == b, (i, a, b)
    assert not rtensors


def test_converted_weights_equal_ct2(ggml_models, model_dir):
    conv = _converter()
    _spec, _rev, v, _aliases = conv.read_ct2_model(str(model_dir / "model.bin"))
    _m, hp, _f, _t, t16 = _read_ggml(ggml_models["f16"])
    _m, hp32, _f, _t, t32 = _read_ggml(ggml_models["f32"])
    assert hp[10] == 1 and hp32[10] == 0
    d = hp[2]
    assert len(t16) == len(t32) == 5 + 4 * 15 + 2 + 2 + 4 * 24 + 2  # tiny: 167 tensors
    # shapes in ggml order (innermost first)
    assert t16["encoder.conv1.weight"][1] == (3, 80, d)
    assert t16["encoder.conv1.bias"][1] == (1, d)
    assert t16["encoder.positional_embedding"][1] == (d, 1500)
    assert t16["decoder.token_embedding.weight"][1] == (d, 51864)
    assert t16["decoder.blocks.0.cross_attn.key.weight"][1] == (d, d)
    assert "encoder.blocks.0.attn.key.bias" not in t16
    assert t16["encoder.conv1.bias"][0] == 0 and t16["decoder.positional_embedding"][0] == 0
    assert t16["encoder.blocks.0.attn_ln.weight"][0] == 0
    assert t16["encoder.blocks.0.mlp.0.weight"][0] == 1
    assert all(t[0] == 0 for t in t32.values())
    # values
    qkv = v["encoder/layer_2/self_attention/linear_0/weight"]
    np.testing.assert_array_equal(t16["encoder.blocks.2.attn.value.weight"][2], qkv[2 * d:])
    np.testing.assert_array_equal(t32["encoder.blocks.2.attn.key.weight"][2], qkv[d:2 * d].astype(np.float32))
    kv = v["decoder/layer_3/attention/linear_1/bias"]
    np.testing.assert_array_equal(t16["decoder.blocks.3.cross_attn.value.bias"][2], kv[d:].astype(np.float32))
    assert not np.any(kv[:d])  # the key half of the fused bias is zero in CT2 too
    np.testing.assert_array_equal(t16["decoder.token_embedding.weight"][2], v["decoder/embeddings/weight"])
    np.testing.assert_array_equal(t16["decoder.ln.bias"][2], v["decoder/layer_norm/beta"].astype(np.float32))


def _transcribe(binary, model, files, outdir):
    outdir.mkdir(parents=True, exist_ok=True)
    run_am(binary, ["transcribe", "-m", model, "--no-fallback", "--temperature", "0", "--beam-size", "1",
                    "--precision", "f32", "--frontend", "f32", "-l", "en", "-t", "2",
                    "-q", "-o", "json", "--output-dir", outdir] + files, check=True)
    res = {}
    for f in files:
        js = json.loads((outdir / (f.stem + ".json")).read_text(encoding="utf-8"))
        res[f.name] = [(s["text"], list(s["tokens"])) for s in js["segments"]]
    return res


@pytest.fixture(scope="module")
def files(test_data):
    lib = sorted((PSPHINX / "librivox").glob("*.wav"))
    return [test_data / "jfk.wav", lib[0], lib[3]]


@pytest.fixture(scope="module")
def ct2_result(binary, model_dir, files, session_tmp):
    return _transcribe(binary, model_dir, files, session_tmp / "ggml-ct2")


@pytest.mark.parametrize("kind", ["f16", "f32"])
def test_ggml_transcripts_equal_ct2(kind, binary, ggml_models, files, ct2_result, session_tmp):
    got = _transcribe(binary, ggml_models[kind], files, session_tmp / f"ggml-{kind}")
    for name in ct2_result:
        assert ct2_result[name], f"no segments for {name}"
        assert got[name] == ct2_result[name], f"{name}: ggml-{kind} differs from CT2"
