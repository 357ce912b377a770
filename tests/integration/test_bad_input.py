"""Malformed audio and model files: every one must end in a clean error.

Each case must exit with status 1, write exactly one line to stderr starting with "amanuensis: ",
and show no sanitizer report or crash. Uses build/asan/amanuensis when it is built.
"""
import json
import struct
import subprocess
import sys

import pytest

from conftest import REPO, run_am


def _wav_header(n_data_bytes, rate=16000, channels=1, bits=16):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + n_data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", n_data_bytes))


@pytest.fixture(scope="module")
def bad_audio(session_tmp, test_data):
    d = session_tmp / "bad-audio"
    d.mkdir(exist_ok=True)
    jfk = (test_data / "jfk.wav").read_bytes()
    cases = {
        "missing_file": d / "does-not-exist.wav",
        "empty_file": d / "empty.wav",
        "text_file": d / "text.wav",
        "header_only": d / "header-only.wav",
        "cut_in_fmt_chunk": d / "cut-fmt.wav",
        "cut_in_data_chunk_header": d / "cut-data-header.wav",
        "zero_samples": d / "zero-samples.wav",
        "riff_not_wave": d / "riff-not-wave.wav",
    }
    cases["empty_file"].write_bytes(b"")
    cases["text_file"].write_text("this is not a wav file\n" * 50)
    cases["header_only"].write_bytes(_wav_header(32000))
    cases["cut_in_fmt_chunk"].write_bytes(_wav_header(32000)[:28])
    cases["cut_in_data_chunk_header"].write_bytes(_wav_header(32000)[:40])
    cases["zero_samples"].write_bytes(_wav_header(0))
    cases["riff_not_wave"].write_bytes(b"RIFF" + struct.pack("<I", len(jfk) - 8) + b"AVI " + jfk[12:])
    return cases


@pytest.fixture(scope="module")
def bad_models(session_tmp, model_dir, ggml_models):
    out = session_tmp / "bad-models"
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "make-bad-models.py"), str(out),
                        "--model", str(model_dir), "--ggml", str(ggml_models["f16"])],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def _assert_clean_error(r, what):
    lines = r.stderr.splitlines()
    detail = f"{what}: exit {r.returncode}\nstderr:\n{r.stderr[-4000:]}"
    assert r.returncode > 0, "killed by a signal or succeeded — " + detail
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, detail
    assert r.returncode == 1, detail
    assert len(lines) == 1, "expected exactly one line on stderr — " + detail
    assert lines[0].startswith("amanuensis: "), detail


AUDIO_CASES = ["missing_file", "empty_file", "text_file", "header_only", "cut_in_fmt_chunk",
               "cut_in_data_chunk_header", "zero_samples", "riff_not_wave"]


@pytest.mark.parametrize("case", AUDIO_CASES)
def test_bad_audio(case, bad_audio, checked_binary, model_dir):
    r = run_am(checked_binary, ["transcribe", "-m", model_dir, "-t", "2", bad_audio[case]], timeout=600)
    _assert_clean_error(r, case)


MODEL_CASES = ["ct2_random", "ct2_trunc_10", "ct2_trunc_header", "ct2_trunc_data", "ct2_trunc_aliases",
               "ct2_missing", "ggml_bad_magic", "ggml_bad_shape", "ggml_trunc_vocab", "ggml_trunc_data",
               "empty_model"]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_bad_model(case, bad_models, checked_binary, test_data):
    r = run_am(checked_binary, ["transcribe", "-m", bad_models[case], "-t", "2", test_data / "jfk.wav"],
               timeout=600)
    _assert_clean_error(r, case)
