"""bench/soak.py --quick: 40 varied inputs (speech, TTS when installed, silence, noise, hum, music,
telephone, stereo, containers, truncated / corrupt / zero-length / random / lying-extension files)
through one `amanuensis transcribe` run over their folder and through `amanuensis serve` with 32
concurrent clients.  Every input must be accounted for (a transcript or one error), nothing may
crash or hang, valid inputs must be transcribed and the ones that are not audio refused.  The
full 1000-input soak is `python3 bench/soak.py` (BENCHMARKS.md)."""
import json
import subprocess
import sys

from conftest import REPO


def test_soak_quick(binary, model_dir, tmp_path):
    out = tmp_path / "soak"
    cmd = [sys.executable, str(REPO / "bench" / "soak.py"), "--quick", "--mode", "both", "--out", str(out),
           "--binary", str(binary), "--model", str(model_dir), "--max-seconds", "400", "--request-timeout", "400"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert (out / "report.json").exists(), r.stdout + r.stderr
    rep = json.loads((out / "report.json").read_text())
    plan, runs = rep["plan"], rep["runs"]
    assert len(plan) == 40
    kinds = {it["kind"] for it in plan}
    assert {"speech", "silence", "noise", "music", "telephone", "stereo", "container", "bad"} <= kinds
    assert {it["detail"] for it in plan if it["kind"] == "bad"} >= {
        "truncated", "corrupt-middle", "zero-length", "random-bytes", "text-as-wav", "wav-as-mp3", "mp3-as-wav"}
    assert [run["mode"] for run in runs] == ["cli", "server"]
    for run in runs:
        what = f"{run['mode']}: {run['checks']['problems']}\n{r.stdout[-3000:]}"
        assert not run["crash"], what
        assert run["hangs"] == 0, what
        assert len(run["results"]) == len(plan), what
        assert run["checks"]["unaccounted"] == 0, what
        assert run["checks"]["wrong"] == 0, what
        for it in plan:  # every file was read: each has its latency (cli: its --file-times line)
            assert "latency" in run["results"][it["name"]], (run["mode"], it["name"])
        speech = [run["results"][it["name"]]["text"] for it in plan if it["kind"] == "speech" and it["seconds"] >= 3]
        assert speech and all(t.strip() for t in speech), what
    assert runs[1]["alive_at_end"]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
