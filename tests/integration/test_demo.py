"""`make demo` (the README's first command) builds, finds the model and prints the JFK transcript."""
import subprocess

from conftest import REPO


def test_make_demo_prints_the_jfk_transcript():
    r = subprocess.run(["make", "-s", "demo"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout.lower()
    assert "ask not what your country can do for you" in out, r.stdout[-2000:]
    assert "ask what you can do for your country" in out
    assert "[00:00.000 --> " in r.stdout
