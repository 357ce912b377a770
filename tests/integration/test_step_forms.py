"""The CPU backend's two forms of a decoder step (decode_step: rules, log-softmax and top-k on the
backend; decode_logits: the raw logits, with the reference rules of src/backend/step.c applied by
the search) choose the same tokens at beam 1 and beam 5 on real speech, silence and noise
(tests/tools/step_forms.c)."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_decode_step_equals_logits_and_reference_rules(model_dir, test_data):
    tool = REPO / "build" / "tools" / "step_forms"
    if not os.access(tool, os.X_OK):
        pytest.fail(f"{tool} is not built: run `make tools`")
    files = [test_data / "jfk.wav"] + [test_data / "speech" / n for n in (
        "tritonasr_1221-135766-0001.wav", "pyannote_sample.wav", "leopard_empty.wav", "sb_noise1.wav",
        "lhotse_ES2011a.Headset-0-40s-46s.wav")]
    r = subprocess.run([str(tool), str(model_dir)] + [str(f) for f in files] + ["-t", "2"], capture_output=True,
                       text=True, timeout=600)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(lines) == 2 * len(files) and all(": same " in line for line in lines), r.stdout
