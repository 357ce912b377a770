"""Encoder parity with CTranslate2 (float32) on the same log-mel input.

build/tools/dump_encoder MODEL_DIR MEL.f32 OUT.f32 reads a [n_mels][3000] float32 log-mel and writes the
encoder output [1500][d_model] float32; the reference is ctranslate2.models.Whisper.encode.
"""
import os
import subprocess

import numpy as np
import pytest

from conftest import REPO, sanitizer_env

MAX_REL_ERR = 1e-3


@pytest.fixture(scope="module")
def dump_encoder():
    p = REPO / "build" / "tools" / "dump_encoder"
    if not os.access(p, os.X_OK):
        pytest.fail(f"{p} is not built: run `make tools`")
    return p


@pytest.fixture(scope="module")
def ct2_model(model_dir):
    import ctranslate2
    return ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=2)


def _jfk_mel(test_data):
    from faster_whisper.audio import decode_audio, pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor
    audio = decode_audio(str(test_data / "jfk.wav"), sampling_rate=16000)
    mel = FeatureExtractor(feature_size=80)(audio)
    return pad_or_trim(mel[:, :3000], 3000).astype(np.float32)


def _random_mel():
    rng = np.random.default_rng(20240611)
    return rng.uniform(-1.0, 1.5, size=(80, 3000)).astype(np.float32)


def _compare(name, mel, dump_encoder, ct2_model, model_dir, tmp):
    import ctranslate2
    assert mel.shape == (80, 3000) and mel.dtype == np.float32
    mel_path, out_path = tmp / f"{name}.mel.f32", tmp / f"{name}.enc.f32"
    np.ascontiguousarray(mel).tofile(mel_path)
    r = subprocess.run([str(dump_encoder), str(model_dir), str(mel_path), str(out_path)], env=sanitizer_env(),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    ref = np.array(ct2_model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                    to_cpu=True))[0]
    ours = np.fromfile(out_path, dtype=np.float32)
    assert ours.size == ref.size, f"dump_encoder wrote {ours.size} floats, expected {ref.shape}"
    ours = ours.reshape(ref.shape)
    assert np.all(np.isfinite(ours))
    rel = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
    print(f"\nencoder {name}: relative error {rel:.3e}, max abs error {np.abs(ours - ref).max():.3e}, "
          f"max abs ref {np.abs(ref).max():.3f}")
    assert rel <= MAX_REL_ERR


def test_encoder_jfk(dump_encoder, ct2_model, model_dir, test_data, session_tmp):
    _compare("jfk", _jfk_mel(test_data), dump_encoder, ct2_model, model_dir, session_tmp)


def test_encoder_random_mel(dump_encoder, ct2_model, model_dir, session_tmp):
    _compare("random", _random_mel(), dump_encoder, ct2_model, model_dir, session_tmp)
