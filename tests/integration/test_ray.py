"""The Ray Data pipeline (python/amanuensis/ray_batch.py) on a local Ray cluster: a head node and a
worker node started on this machine with `ray start`, both on the loopback address 127.0.0.2, one
CPU each.

200 short recordings (1.00 s to 2.99 s, every length once, cut from six English recordings of the
repository) and one file that is not audio go through the pipeline with two actors.  The worker
node is killed (SIGKILL of its whole process tree) once it has written transcripts; the run goes on
on the head node, and 10 transcripts later the run itself is stopped (SIGTERM, as a crash or ^C)
unless it has ended.  A new worker node is started and the same command is run again.  Then every
recording has exactly one complete transcript (schema/transcript.schema.json, its own duration),
the rerun transcribed exactly those the first run had not, the actors' event log shows each
recording finished exactly once over both runs (nothing written twice, nothing lost with the killed
node), the file that is not audio has error lines and no transcript, and one transcript is byte for
byte the CLI's JSON.

The nodes run the package from python/ of the checkout with the library of the build the tests
use (PYTHONPATH, AMANUENSIS_LIBRARY): tests/integration/test_python.py tests the installed
package.  Ray comes from scripts/install-deps test: without it the cluster test is skipped, except
in CI (CI=true), where it fails."""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import pytest

from conftest import REPO, run_am

N_FILES = 200
SOURCES = ["samples/jfk.wav", "tests/data/speech/leopard_test.wav", "tests/data/speech/tritonasr_1089-134686-0001.wav",
           "tests/data/speech/tritonasr_1221-135766-0001.wav", "tests/data/speech/pyannote_sample.wav",
           "tests/data/speech/lhotse_ES2011a.Headset-0-40s-46s.wav"]
RATE = 16000
BAD = "a_not_audio"


@pytest.fixture(scope="module")
def ray_module():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as e:
        why = f"Ray Data cannot be imported ({e})"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: CI installs ray[data] with scripts/install-deps test")
        pytest.skip(f"{why}: scripts/install-deps test installs it")


def _tail(path, n=3000):
    return f"--- {path.name}:\n" + path.read_text(encoding="utf-8", errors="replace")[-n:]


def _free_port():
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _wait(condition, timeout, what, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _descendants(pid):
    """`pid` and every process below it (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _kill_tree(proc):
    """SIGKILL a `ray start --block` process, every process below it and its process group."""
    if proc is None or proc.poll() is not None:
        return
    pids = _descendants(proc.pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGSTOP)  # nothing restarts what is about to die
        except ProcessLookupError:
            pass
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _make_inputs(folder):
    """200 WAVs of 1.00 s .. 2.99 s (each length once), cut from the sources at varying offsets."""
    folder.mkdir()
    sources = []
    for rel in SOURCES:
        path = REPO / rel
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2), rel
            sources.append(w.readframes(w.getnframes()))
    expected = {}
    for i in range(N_FILES):
        n = RATE + i * RATE // 100  # 1.00 s + i * 10 ms
        src = sources[i % len(sources)]
        total = len(src) // 2
        offset = (i * 7919 * 37) % max(1, total - n)
        name = f"clip{i:03d}"
        with wave.open(str(folder / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(src[2 * offset:2 * (offset + n)])
        expected[name] = n / RATE
    (folder / f"{BAD}.wav").write_bytes(b"this is not audio\n" * 100)
    return expected


# Ray replaces 127.0.0.1 (and localhost) with the machine's outward address
# (ray._private.services.resolve_ip_for_localhost); another loopback address is kept as given.
NODE_IP = "127.0.0.2"


class Cluster:
    """A head node and worker nodes advertising a loopback address, each a `ray start --block` in its
    own session.  Ray's gRPC servers listen on every interface whatever the address (no option of
    Ray 2.60 changes that): a random token (RAY_AUTH_MODE=token) keeps other clients out."""

    def __init__(self, tmp, env):
        self.tmp, self.env = tmp, env
        # Ray's sockets live under --temp-dir: a pytest path is too long for AF_UNIX (107 bytes)
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="amray-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"{NODE_IP}:{self.port}"
        self.procs = []    # the nodes
        self.drivers = []  # the pipeline's runs
        self.n_workers = 0

    def _start(self, name, extra):
        ports = ["--node-manager-port", _free_port(), "--object-manager-port", _free_port(),
                 "--dashboard-agent-listen-port", _free_port(), "--dashboard-agent-grpc-port", _free_port(),
                 "--metrics-export-port", _free_port(), "--runtime-env-agent-port", _free_port()]
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--num-cpus", "1",
               "--node-ip-address", NODE_IP, "--disable-usage-stats", *map(str, ports), *map(str, extra)]
        log = open(self.tmp / f"{name}.log", "w")
        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc, int(ports[1])

    def start_head(self):
        self.head, self.head_port = self._start("head", [
            "--head", "--port", self.port, "--include-dashboard=false",
            "--temp-dir", self.ray_tmp, "--object-store-memory", 200 * 1024 * 1024])

    def start_worker(self):
        self.n_workers += 1
        proc, port = self._start(f"worker{self.n_workers}", [
            "--address", self.address, "--object-store-memory", 200 * 1024 * 1024])
        return proc, port

    def nodes(self):
        """{node manager port: node id} of the alive nodes."""
        script = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
                  "print(json.dumps({n['NodeManagerPort']: n['NodeID'] for n in ray.nodes() if n['Alive']}))"
                  % self.address)
        try:
            r = subprocess.run([sys.executable, "-c", script], env=self.env, capture_output=True, text=True,
                               timeout=60)
        except subprocess.TimeoutExpired:
            return {}
        if r.returncode != 0:
            return {}
        return {int(k): v for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}

    def wait_nodes(self, ports, timeout=180):
        def joined():
            for proc in (self.head, self.procs[-1]):  # the head and the newest worker
                if proc.poll() is not None:
                    raise AssertionError(f"`{' '.join(map(str, proc.args))}` exited {proc.returncode}:\n"
                                         + "\n".join(_tail(p) for p in self.tmp.glob("*.log")))
            nodes = self.nodes()
            return nodes if set(ports) <= set(nodes) else None
        return _wait(joined, timeout, f"the nodes {ports} to join", step=1)

    def stop(self):
        for proc in self.drivers + self.procs:
            _kill_tree(proc)
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], env=self.env,
                       capture_output=True, timeout=120)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


@pytest.fixture
def cluster(ray_module, binary, tmp_path):
    lib = Path(binary).resolve().parent / "libamanuensis.so"
    if not lib.exists():
        pytest.fail(f"{lib} is not built: run `make all` first")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AMANUENSIS_"))}
    env.update(PYTHONPATH=str(REPO / "python"), AMANUENSIS_LIBRARY=str(lib),
               RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16),
               RAY_DISABLE_DOCKER_CPU_WARNING="1", RAY_DEDUP_LOGS="0")
    c = Cluster(tmp_path, env)
    try:
        yield c
    finally:
        c.stop()


def _events(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _pipeline(cluster, model_dir, inputs, out, log):
    cmd = [sys.executable, "-m", "amanuensis.ray_batch", "--model", str(model_dir), "--input", str(inputs),
           "--output-dir", str(out), "--address", cluster.address, "--actors", "2", "--threads-per-actor", "1"]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=cluster.env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    cluster.drivers.append(proc)
    return proc


def _summary(log):
    text = Path(log).read_text(encoding="utf-8", errors="replace")
    m = re.findall(r"amanuensis\.ray_batch: (\d+) files: done (\d+), failed (\d+), skipped (\d+)", text)
    return tuple(map(int, m[-1])) if m else None


def test_kill_worker_node_and_resume(cluster, binary, model_dir, tmp_path):
    t_start = time.monotonic()
    expected = _make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    events_path = out / "events.jsonl"

    cluster.start_head()
    worker, worker_port = cluster.start_worker()
    nodes = cluster.wait_nodes([cluster.head_port, worker_port])
    worker_node = nodes[worker_port]

    # first run: kill the worker node once it has finished a few files and 30 are done in all
    run1 = _pipeline(cluster, model_dir, tmp_path / "in", out, tmp_path / "run1.log")

    def worker_progress():
        if run1.poll() is not None:
            raise AssertionError(f"the first run ended before the kill:\n{(tmp_path / 'run1.log').read_text()[-4000:]}")
        ev = _events(events_path)
        finished = [e for e in ev if e["event"] == "finish"]
        return len(finished) >= 30 and sum(e["node"] == worker_node for e in finished) >= 5

    _wait(worker_progress, 400, "30 transcripts, 5 of them from the worker node")
    _kill_tree(worker)
    at_kill = len([e for e in _events(events_path) if e["event"] == "finish"])
    # the run goes on without the node (Ray Data resubmits the lost actor's file to the other one);
    # 10 transcripts later the run itself is stopped, as a crash or ^C would, unless it ended first
    _wait(lambda: run1.poll() is not None
          or len([e for e in _events(events_path) if e["event"] == "finish"]) >= at_kill + 10,
          300, "10 transcripts after the kill")
    if run1.poll() is None:
        os.killpg(run1.pid, signal.SIGTERM)
        try:
            run1.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run1.pid, signal.SIGKILL)
            run1.wait(timeout=30)
    rc1 = run1.returncode
    first = _summary(tmp_path / "run1.log")
    kept = len(list(out.glob("clip*.json")))  # what the rerun must skip

    # second run on the head and a new worker node
    _new_worker, new_port = cluster.start_worker()
    cluster.wait_nodes([cluster.head_port, new_port])
    run2 = _pipeline(cluster, model_dir, tmp_path / "in", out, tmp_path / "run2.log")
    rc2 = run2.wait(timeout=600)
    log2 = (tmp_path / "run2.log").read_text(encoding="utf-8", errors="replace")
    total, done, failed, skipped = _summary(tmp_path / "run2.log") or pytest.fail(f"no summary:\n{log2[-4000:]}")
    assert rc2 == 1 and (total, failed) == (N_FILES + 1, 1), log2[-4000:]
    assert done + skipped == N_FILES, log2[-4000:]
    assert f"{BAD}.wav: not an audio file" in log2

    # one complete transcript per recording, and nothing else
    import jsonschema
    validator = jsonschema.Draft202012Validator(json.loads((REPO / "schema" / "transcript.schema.json").read_text()))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{n}.json" for n in expected] + ["events.jsonl"]), names
    texts = set()
    for name, duration in expected.items():
        data = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        validator.validate(data)
        assert data["duration"] == round(duration, 3), (name, data["duration"])  # its own file: every length once
        assert data["language"] == "en"
        texts.add(data["text"])
    assert len(texts) >= 150, len(texts)  # different pieces of speech, not one transcript copied

    # each recording finished exactly once over both runs; the killed node's work was kept
    ev = _events(events_path)
    finished = {}
    for e in ev:
        if e["event"] == "finish":
            finished.setdefault(e["name"], []).append(e)
    assert sorted(finished) == sorted(expected)
    twice = {n: len(v) for n, v in finished.items() if len(v) != 1}
    assert not twice, twice
    on_worker = sum(e[0]["node"] == worker_node for e in finished.values())
    assert on_worker >= 5
    assert sum(e["event"] == "error" and e["name"] == BAD for e in ev) in (1, 2)  # once per run that reached it
    assert not [e for e in ev if e["name"] == BAD and e["event"] != "error" and e["event"] != "start"]
    assert done == N_FILES - kept and skipped == kept, (done, skipped, kept)

    # one transcript, byte for byte the CLI's (same model, options and one thread)
    spot = "clip123"
    cli_out = tmp_path / "cli"
    run_am(binary, ["transcribe", "-m", model_dir, "-t", 1, "-o", "json", "--output-dir", cli_out, "-q",
                    tmp_path / "in" / f"{spot}.wav"], check=True)
    assert (out / f"{spot}.json").read_bytes() == (cli_out / f"{spot}.json").read_bytes()

    print(f"\nray: {N_FILES} files; worker killed after {at_kill} transcripts; first run rc {rc1}, summary {first}, "
          f"{kept} transcripts; rerun rc {rc2}: done {done}, skipped {skipped}, failed {failed}; "
          f"{on_worker} on the killed worker; {time.monotonic() - t_start:.0f} s")


INPUTS_SCRIPT = r"""
import json, sys
from amanuensis import ray_batch as rb

out = {}
for source in sys.argv[1:3]:
    out[source] = rb.list_inputs(source)
for source in sys.argv[3:]:
    try:
        rb.list_inputs(source)
        out[source] = None
    except rb.InputError as e:
        out[source] = str(e)
t = rb.Transcriber("no-such-model", 1, sys.argv[1] + "-out", sys.argv[1] + "-events.jsonl", {})
out["bad_model"] = t.transcribe_one(sys.argv[1] + "/a.wav", "a")
print(json.dumps(out))
"""


def test_inputs_and_errors(binary, tmp_path):
    """Folders are walked as the CLI walks them (hidden names left out, subfolders mirrored, files
    in name order); a manifest takes comments, blank lines, relative and absolute paths; a repeated
    output name, a missing input, a manifest that is not text and a model that cannot be loaded each
    give one line; bad arguments exit 2 before Ray is started.  Ray itself is not needed here."""
    lib = Path(binary).resolve().parent / "libamanuensis.so"
    folder = tmp_path / "talks"
    (folder / "day2").mkdir(parents=True)
    (folder / "day1").mkdir()
    for rel in ("b.wav", "a.wav", "day1/a.wav", "day2/a.mp3", ".hidden.wav", "day1/.x/c.wav"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"RIFF")
    (folder / "day1" / "link.wav").symlink_to(folder / "b.wav")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"# recordings\n\nday1/a.wav\n  {folder / 'b.wav'}  \nday2/a.mp3\n", encoding="utf-8")
    (tmp_path / "day1").symlink_to(folder / "day1")
    (tmp_path / "day2").symlink_to(folder / "day2")
    binary_file = tmp_path / "audio.bin"
    binary_file.write_bytes(b"\xff\xfe\x00RIFF")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AMANUENSIS_"))}
    env.update(PYTHONPATH=str(REPO / "python"), AMANUENSIS_LIBRARY=str(lib))
    r = subprocess.run([sys.executable, "-c", INPUTS_SCRIPT, str(folder), str(manifest), str(tmp_path / "nothing"),
                        str(binary_file)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    walked = out[str(folder)]
    assert [(Path(i["path"]).relative_to(folder).as_posix(), i["name"]) for i in walked] == [
        ("a.wav", "a"), ("b.wav", "b"), ("day1/a.wav", "day1/a"), ("day1/link.wav", "day1/link"),
        ("day2/a.mp3", "day2/a")]
    assert not any(i["error"] for i in walked)
    listed = out[str(manifest)]
    assert [(i["path"], i["name"]) for i in listed] == [
        (str(tmp_path / "day1" / "a.wav"), "a"), (str(folder / "b.wav"), "b"), (str(tmp_path / "day2" / "a.mp3"), "a")]
    assert [i["error"] is None for i in listed] == [True, True, False]
    assert "its output name 'a' is already that of " + str(tmp_path / "day1" / "a.wav") in listed[2]["error"]
    assert out[str(tmp_path / "nothing")] == f"{tmp_path / 'nothing'}: no such folder or manifest"
    assert "not a manifest" in out[str(binary_file)]
    status, error, _ = out["bad_model"]
    assert status == "failed" and "no-such-model" in error and "\n" not in error

    for args, message in ((["--input", str(tmp_path / "nothing")], "no such folder or manifest"),
                          (["--input", str(folder), "--actors", "0"], "--actors must be at least 1")):
        r = subprocess.run([sys.executable, "-m", "amanuensis.ray_batch", "--model", "tiny.en", "--output-dir",
                            str(tmp_path / "o"), *args], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
