"""Shared fixtures for the integration tests.

Fixtures: repo_root, binary (build/amanuensis), asan_binary (build/asan/amanuensis or None),
checked_binary (the ASan one when built, else the normal one), model_dir (models/tiny.en, fetched
with scripts/fetch-model when missing), test_data (tests/data, or $AM_TEST_DATA_DIR),
session_tmp (a session-scoped temporary directory), ggml_models (tiny.en converted to ggml f16/f32).
AM_BINARY / AM_ASAN_BINARY override the binaries' paths (AM_ASAN_BINARY= disables the ASan one).
Helpers: run_am(binary, args, ...) runs the CLI and returns the CompletedProcess; sanitizer_env().
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "tests" / "browser"  # the Playwright tests of the web page (tests/browser/*.mjs)
PSPHINX = Path("/usr/share/pocketsphinx/test/data")


def _test_data_dir():
    env = os.environ.get("AM_TEST_DATA_DIR")
    return Path(env) if env else (REPO / "tests" / "data")


@pytest.fixture(scope="session")
def repo_root():
    return REPO


def _binary_path():
    return Path(os.environ.get("AM_BINARY") or REPO / "build" / "amanuensis")


def _asan_path():
    return Path(os.environ.get("AM_ASAN_BINARY", REPO / "build" / "asan" / "amanuensis"))


@pytest.fixture(scope="session")
def binary():
    p = _binary_path()
    if not os.access(p, os.X_OK):
        pytest.fail(f"{p} is not built: run `make all` first")
    return p


@pytest.fixture(scope="session")
def asan_binary():
    p = _asan_path()
    return p if str(p) not in ("", ".") and os.access(p, os.X_OK) else None


@pytest.fixture(scope="session")
def checked_binary(asan_binary):
    """The sanitizer build when it exists (bad-input tests), else the normal one."""
    if asan_binary is not None:
        return asan_binary
    p = _binary_path()
    if not os.access(p, os.X_OK):
        pytest.fail(f"neither build/asan/amanuensis nor {p} is built")
    return p


@pytest.fixture(scope="session")
def model_dir():
    d = REPO / "models" / "tiny.en"
    if not (d / "model.bin").exists():
        subprocess.run([str(REPO / "scripts" / "fetch-model"), "tiny.en"], check=True)
    return d


@pytest.fixture(scope="session")
def multilingual_model():
    """faster-whisper's multilingual base model (fetched once by scripts/fetch-model)."""
    d = REPO / "models" / "base"
    if not (d / "model.bin").exists():
        subprocess.run([str(REPO / "scripts" / "fetch-model"), "base"], check=True)
    return d


@pytest.fixture(scope="session")
def test_data():
    d = _test_data_dir()
    if not (d / "jfk.wav").exists():
        pytest.fail(f"test data not found at {d} (tests/data of the repository, or $AM_TEST_DATA_DIR)")
    return d


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("am")


@pytest.fixture(scope="session")
def ggml_models(model_dir, session_tmp):
    """{'f16': path, 'f32': path}: models/tiny.en converted by scripts/ct2_to_ggml.py."""
    out = {}
    for kind, extra in (("f16", []), ("f32", ["--f32"])):
        path = session_tmp / f"ggml-tiny.en-{kind}.bin"
        if not path.exists():
            subprocess.run([sys.executable, str(REPO / "scripts" / "ct2_to_ggml.py"), str(model_dir), str(path)]
                           + extra, check=True, stdout=subprocess.DEVNULL)
        out[kind] = path
    return out


_LSAN_OK = None


def _lsan_supported():
    """LeakSanitizer cannot run under ptrace or in some containers: probe it once."""
    global _LSAN_OK
    if _LSAN_OK is None:
        asan = _asan_path()
        _LSAN_OK = False
        if str(asan) not in ("", ".") and os.access(asan, os.X_OK):
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
            r = subprocess.run([str(asan), "--version"], env=env, capture_output=True, text=True, timeout=60)
            _LSAN_OK = "LeakSanitizer has encountered a fatal error" not in r.stderr \
                and "does not work under ptrace" not in r.stderr
    return _LSAN_OK


def sanitizer_env(base=None):
    env = dict(os.environ if base is None else base)
    env["ASAN_OPTIONS"] = f"detect_leaks={1 if _lsan_supported() else 0}:exitcode=23:abort_on_error=0"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1:exitcode=24"
    return env


def run_am(binary, args, env=None, cwd=None, timeout=900, check=False):
    """Run the CLI with sanitizer options set; returns subprocess.CompletedProcess (text mode)."""
    cmd = [str(binary)] + [str(a) for a in args]
    r = subprocess.run(cmd, env=sanitizer_env(env), cwd=cwd, capture_output=True, text=True,
                       errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}\nstdout:\n{r.stdout[-3000:]}\n"
                             f"stderr:\n{r.stderr[-3000:]}")
    return r


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still part of make test)")


class Server:
    """`amanuensis serve --port 0 ARGS` started from the repository root: waits for its port (and
    /ready unless wait_ready=False), reads its log in the background; request/metrics/stop.
    Shared by test_server.py and test_server_abuse.py."""

    def __init__(self, binary, args, env=None, wait_ready=True, preexec=None):
        cmd = [str(binary), "serve", "--port", "0"] + [str(a) for a in args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace",
                                     env=sanitizer_env(env), cwd=REPO, preexec_fn=preexec)
        self.log = []
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not start:\n" + self.logtext())
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()
        if wait_ready:
            self.wait_ready()

    def _read_log(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def logtext(self):
        return "".join(self.log)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, _, _ = self.request("GET", "/ready")
            if status == 200:
                return
            time.sleep(0.05)
        raise AssertionError("server never became ready:\n" + self.logtext())

    def request(self, method, path, body=None, headers=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def metrics(self):
        status, _, body = self.request("GET", "/metrics")
        assert status == 200
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"server did not stop on {sig}:\n" + self.logtext())
        self._drain.join(timeout=5)
        return self.proc.returncode


@pytest.fixture(scope="session")
def browser():
    """(node, chromium) for the page tests in tests/browser/, with playwright-core installed there
    (npm ci); skipped without node or chromium (scripts/install-deps test installs them)."""
    node = shutil.which("node")
    chromium = os.environ.get("AM_CHROMIUM", "/usr/bin/chromium")
    if not node or not os.access(chromium, os.X_OK):
        pytest.skip("node or chromium is not installed (scripts/install-deps test installs them)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").exists():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.skip("npm ci failed (offline?): " + r.stderr[-500:])
    return node, chromium
