"""`amanuensis serve` against misbehaving clients (issue 17, "server under abuse").

Loopback only, bounded loops, short audio (slices of jfk.wav).  Every server runs with its own
TMPDIR, and after each abuse case it must still answer /health and transcribe a short slice
correctly, and leave no upload file behind.  The slow upload and the half-sent body that waits for
the idle timeout are in test_server.py (test_truncated_and_slow_clients) and are not repeated here.
AM_BINARY selects the binary (the ASan build works too: timeouts are generous).
"""
import io
import json
import os
import re
import resource
import signal
import socket
import threading
import time
import wave
from pathlib import Path

import pytest

from conftest import Server
from test_server import assert_error, multipart



def _wav(pcm, seconds=None):
    if seconds is not None:
        pcm = pcm[: int(seconds * 16000) * 2]
    buf = io.BytesIO()
    w = wave.open(buf, "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(16000)
    w.writeframes(pcm)
    w.close()
    return buf.getvalue()


@pytest.fixture(scope="module")
def audio(test_data):
    w = wave.open(str(test_data / "jfk.wav"))
    pcm = w.readframes(w.getnframes())
    w.close()
    return {"short": _wav(pcm, 3.0),         # "And so my fellow Americans" (96 KB)
            "jfk": _wav(pcm),                 # 11 s
            "long": _wav(pcm * 3)}            # 33 s: keeps a worker busy for a while


class Srv(Server):
    """A server on model_dir whose uploads go to its own TMPDIR (checked empty after every case)."""

    def __init__(self, binary, model_dir, args, tmpdir, preexec=None, env=None):
        self.tmpdir = Path(tmpdir)
        e = dict(os.environ if env is None else env)
        e["TMPDIR"] = str(tmpdir)
        super().__init__(binary, ["-m", model_dir] + list(args), env=e, preexec=preexec)

    def transcribe(self, wav, fields=(("response_format", "text"),), timeout=120):
        body, ct = multipart(list(fields), [("file", "a.wav", wav)])
        return self.request("POST", "/v1/audio/transcriptions", body=body, headers={"Content-Type": ct},
                            timeout=timeout)

    def raw_request(self, wav, fields=(("response_format", "text"),)):
        body, ct = multipart(list(fields), [("file", "a.wav", wav)])
        head = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        return head, body

    def uploads_left(self):
        return sorted(p.name for p in self.tmpdir.iterdir()) if self.tmpdir.is_dir() else []

    def settle(self, timeout=20):
        """Wait until nothing but the /metrics request itself is in flight."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.metrics()
            if m["amanuensis_requests_in_flight"] <= 1 and m["amanuensis_jobs_running"] == 0 \
                    and m["amanuensis_queue_depth"] == 0:
                return m
            time.sleep(0.05)
        raise AssertionError("requests still in flight:\n" + self.logtext())

    def assert_healthy(self, audio):
        """The invariant after every abuse case."""
        assert self.proc.poll() is None, "server died:\n" + self.logtext()
        st, _, b = self.request("GET", "/health", timeout=10)
        assert st == 200 and json.loads(b) == {"status": "ok"}
        st, _, b = self.transcribe(audio["short"])
        assert st == 200, b
        assert "fellow americans" in b.decode().lower(), b
        self.settle()
        assert self.uploads_left() == [], "upload files left in TMPDIR"


@pytest.fixture
def serve(binary, model_dir, tmp_path):
    """serve(*args, tmpdir=None, preexec=None) -> Srv; every server is stopped (killed at worst)."""
    servers = []

    def _serve(*args, tmpdir=None, preexec=None):
        d = tmpdir or (tmp_path / f"tmp{len(servers)}")
        if tmpdir is None:
            d.mkdir()
        s = Srv(binary, model_dir, list(args), d, preexec=preexec)
        servers.append(s)
        return s

    try:
        yield _serve
    finally:
        bad = []
        for s in servers:
            try:
                rc = s.stop()
            except AssertionError as e:
                bad.append(str(e))
                continue
            if rc not in (0, -signal.SIGKILL):
                bad.append(f"server exit status {rc}:\n" + s.logtext())
        assert not bad, "\n".join(bad)


def _connect(port, timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def _reset(s):
    """close with an RST instead of a FIN"""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def _read_response(s, limit=10):
    """status, headers (lowercase), body of one HTTP/1.1 response with Content-Length; (None, ..) if closed."""
    s.settimeout(limit)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return None, {}, data
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None, {}, data
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    n = int(headers.get("content-length", "0"))
    try:
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return status, headers, body


def _fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# ---- 1. clients that go away ---------------------------------------------------------------------

def test_disconnect_mid_upload_and_mid_response(serve, audio):
    srv = serve("--workers", "1", "--queue", "4", "-t", "1")
    fds = _fd_count(srv.proc.pid)
    head, body = srv.raw_request(audio["jfk"])
    # mid-upload: headers and part of the body, then FIN or RST, at several points of the body
    for i, frac in enumerate((0.01, 0.3, 0.5, 0.7, 0.99)):
        s = _connect(srv.port)
        s.sendall(head + body[: int(len(body) * frac)])
        time.sleep(0.02)
        (_reset if i % 2 else socket.socket.close)(s)
    # only the headers, then gone
    s = _connect(srv.port)
    s.sendall(head)
    s.close()
    srv.settle()
    assert srv.uploads_left() == []
    # mid-response: the whole request, then gone before the answer (the job is cancelled)
    for closer in (socket.socket.close, _reset):
        s = _connect(srv.port)
        s.sendall(head + body)
        deadline = time.time() + 20
        while srv.metrics()["amanuensis_jobs_running"] < 1 and time.time() < deadline:
            time.sleep(0.01)
        closer(s)
        time.sleep(0.3)
    m = srv.settle()
    assert m["amanuensis_client_disconnects_total"] >= 1
    # counted as 499 (client closed request) when the handler saw them; a connection that ends before
    # its headers are handled is only a closed connection
    assert m['amanuensis_http_requests_total{endpoint="/v1/audio/transcriptions",code="499"}'] >= 2
    srv.assert_healthy(audio)
    assert _fd_count(srv.proc.pid) <= fds + 2, "file descriptors leaked"


# ---- 2. slow readers -------------------------------------------------------------------------------

def test_slow_readers(serve, audio):
    srv = serve("--workers", "1", "--idle-timeout", "5")
    # the web page (tens of KB) to a client with a tiny receive buffer that reads a byte at a time
    st, h, page = srv.request("GET", "/")
    assert st == 200 and len(page) > 1000
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    t0 = time.time()
    n = 0
    while time.time() - t0 < 2.0 and n < 400 and not _complete(got):   # bounded: at most 2 s
        c = s.recv(1)
        if not c:
            break
        got += c
        n += 1
        time.sleep(0.004)
        if n == 100:
            # meanwhile, others are served at once
            t1 = time.time()
            assert srv.request("GET", "/health", timeout=5)[0] == 200
            assert time.time() - t1 < 2
    s.settimeout(10)
    status, _, b = _read_response_from(s, got)
    s.close()
    assert status == 200 and b == page
    # a transcription whose answer is read a byte at a time, with pauses
    head, body = srv.raw_request(audio["short"], [("response_format", "verbose_json")])
    s = _connect(srv.port)
    s.sendall(head + body)
    s.settimeout(30)
    got = s.recv(1)
    t0 = time.time()
    while time.time() - t0 < 1.5 and not _complete(got):
        c = s.recv(1)
        if not c:
            break
        got += c
        time.sleep(0.002)
    s.settimeout(10)
    status, headers, rest = _read_response_from(s, got)
    s.close()
    assert status == 200
    assert "fellow americans" in json.loads(rest)["text"].lower()
    srv.assert_healthy(audio)


def _complete(got):
    if b"\r\n\r\n" not in got:
        return False
    head, body = got.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    return m is not None and len(body) >= int(m.group(1))


def _read_response_from(s, got):
    while b"\r\n\r\n" not in got:
        c = s.recv(65536)
        assert c, got
        got += c
    head, body = got.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    cl = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < cl:
        c = s.recv(65536)
        assert c
        body += c
    return status, head, body


# ---- 3. header floods, oversized fields -----------------------------------------------------------

def _send_expect_4xx_or_close(port, data):
    s = _connect(port)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return None
        status, _, body = _read_response(s, limit=15)
    finally:
        s.close()
    assert status is None or 400 <= status < 500, (status, body[:300])
    return status


def test_header_floods_and_oversized_fields(serve, audio):
    srv = serve()
    # one header of 256 KB
    st = _send_expect_4xx_or_close(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (256 << 10)
                                   + b"\r\n\r\n")
    # 20 000 small headers
    st2 = _send_expect_4xx_or_close(srv.port, b"GET /health HTTP/1.1\r\nHost: x\r\n"
                                    + b"".join(b"X-H%d: v\r\n" % i for i in range(20000)) + b"\r\n")
    # a URL of 128 KB
    _send_expect_4xx_or_close(srv.port, b"GET /" + b"a" * (128 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    # a header flood in front of an upload
    head, body = srv.raw_request(audio["short"])
    _send_expect_4xx_or_close(srv.port, head[:-2] + b"".join(b"X-F%d: %s\r\n" % (i, b"z" * 64)
                                                             for i in range(5000)) + b"\r\n" + body)
    assert srv.proc.poll() is None
    # many headers that do fit are fine
    st3, _, _ = srv.request("GET", "/health", headers={f"X-Ok-{i}": "v" for i in range(100)})
    assert st3 == 200
    assert (st, st2) != (200, 200)

    def post(fields, files=(("file", "a.wav", audio["short"]),), raw=None):
        if raw is not None:
            body, ct = raw
        else:
            body, ct = multipart(list(fields), list(files))
        return srv.request("POST", "/v1/audio/transcriptions", body=body, headers={"Content-Type": ct})

    # oversized text fields -> 400 JSON
    st, _, b = post([("prompt", "x" * 20000)])
    assert_error(st, b, 400)
    st, _, b = post([("model", "m" * 1000)])
    assert_error(st, b, 400, "model")
    st, _, b = post([("language", "e" * 5000)])
    assert_error(st, b, 400, "language")
    st, _, b = post([("response_format", "j" * 100000)])
    assert_error(st, b, 400)
    # ... an unknown field is ignored however large (bounded by --max-upload-mb), and the request works
    st, _, b = post([("junk", "j" * (1 << 20)), ("response_format", "text")])
    assert st == 200 and b"fellow" in b.lower(), b
    # a field name and a file name longer than the parser allows, a part header of 16 KB, 1000 parts
    bnd = "----amabuse"
    for part in (f'Content-Disposition: form-data; name="{"n" * 5000}"\r\n\r\nv\r\n',
                 f'Content-Disposition: form-data; name="file"; filename="{"f" * 5000}"\r\n\r\nRIFF\r\n',
                 'Content-Disposition: form-data; name="x"\r\nX-Pad: ' + "p" * 16384 + "\r\n\r\nv\r\n"):
        raw = (f"--{bnd}\r\n{part}--{bnd}--\r\n".encode(), f"multipart/form-data; boundary={bnd}")
        st, _, b = post(None, raw=raw)
        assert_error(st, b, 400)
    st, _, b = post([(f"f{i}", "v") for i in range(1000)])
    assert_error(st, b, 400)
    # a boundary longer than RFC 2046 allows
    st, _, b = post(None, raw=(b"--" + b"b" * 200 + b"--\r\n", "multipart/form-data; boundary=" + "b" * 200))
    assert_error(st, b, 400)
    m = srv.metrics()
    assert m['amanuensis_http_requests_total{endpoint="/v1/audio/transcriptions",code="400"}'] >= 9
    srv.assert_healthy(audio)


# ---- 4. too many connections ------------------------------------------------------------------------

def test_too_many_connections(serve, audio):
    srv = serve("--max-connections", "32", "--idle-timeout", "2")
    fds = _fd_count(srv.proc.pid)
    socks = []
    try:
        for _ in range(200):
            try:
                socks.append(_connect(srv.port, timeout=5))
            except OSError:
                break
        assert len(socks) >= 32
        # half of them start a request and stall (slowloris), the rest say nothing
        for i, s in enumerate(socks):
            if i % 2:
                try:
                    s.sendall(b"GET /health HTTP/1.1\r\nHo")
                except OSError:
                    pass
        # the over-limit ones are refused (closed); the idle ones are dropped after --idle-timeout, so a
        # new client is served within a few seconds even while all 200 are still open on our side
        deadline = time.time() + 15
        ok = False
        while time.time() < deadline and not ok:
            try:
                ok = srv.request("GET", "/health", timeout=2)[0] == 200
            except OSError:
                time.sleep(0.2)
        assert ok, "never served /health while connections were held"
    finally:
        for s in socks:
            s.close()
    m = srv.settle()
    assert m["amanuensis_requests_in_flight"] == 1
    assert m["amanuensis_connections_refused_total"] >= 1        # past --max-connections, counted
    assert m["amanuensis_connections_total"] >= 32
    srv.assert_healthy(audio)
    deadline = time.time() + 10
    open_now = srv.metrics()["amanuensis_connections_open"]
    while open_now > 1 and time.time() < deadline:          # the server notices closes as they come
        time.sleep(0.1)
        open_now = srv.metrics()["amanuensis_connections_open"]
    assert open_now == 1                                     # this /metrics request only
    deadline = time.time() + 10
    while _fd_count(srv.proc.pid) > fds + 2 and time.time() < deadline:
        time.sleep(0.1)
    assert _fd_count(srv.proc.pid) <= fds + 2, "file descriptors leaked"


# ---- 5. a request every millisecond against a full queue ---------------------------------------------

def test_request_flood_full_queue(serve, audio):
    srv = serve("--workers", "1", "--queue", "0", "-t", "1")     # the smallest settings
    long_out = []
    t = threading.Thread(target=lambda: long_out.append(srv.transcribe(audio["long"])))
    t.start()
    try:
        deadline = time.time() + 30
        while srv.metrics()["amanuensis_jobs_running"] < 1 and time.time() < deadline:
            time.sleep(0.01)
        assert srv.metrics()["amanuensis_jobs_running"] == 1
        st, _, b = srv.request("GET", "/ready")
        assert st == 503 and json.loads(b)["reason"] == "queue full", b
        head, body = srv.raw_request(audio["short"])
        codes = []
        t0 = time.time()
        while len(codes) < 300 and time.time() - t0 < 2.0 and srv.metrics()["amanuensis_jobs_running"] == 1:
            s = _connect(srv.port)
            try:
                s.sendall(head + body)          # the 429 may come from the headers, before the body is read
            except (BrokenPipeError, ConnectionResetError):
                pass
            status, headers, b = _read_response(s)
            s.close()
            assert status is not None, "connection closed without an answer"
            if status == 200:                                   # the long job ended meanwhile
                break
            assert status in (429, 503), (status, b)
            err = assert_error(status, b, status)
            if status == 429:
                assert err["code"] == "queue_full" and int(headers["retry-after"]) >= 1
            codes.append(status)
            time.sleep(0.001)
        assert len(codes) >= 10, codes
    finally:
        t.join(timeout=120)
    assert long_out and long_out[0][0] == 200 and b"country" in long_out[0][2]
    m = srv.settle()
    assert m["amanuensis_rejected_total"] == codes.count(429)
    assert m['amanuensis_requests_rejected_total{reason="queue_full"}'] == codes.count(429)
    assert m['amanuensis_http_requests_total{endpoint="/v1/audio/transcriptions",code="429"}'] == codes.count(429)
    assert srv.request("GET", "/ready")[0] == 200
    srv.assert_healthy(audio)


# ---- 6. SIGTERM under load, SIGKILL and restart --------------------------------------------------------

def test_sigterm_under_load_answers_every_accepted_request(serve, audio):
    srv = serve("--workers", "1", "--queue", "8", "-t", "1")
    out = [None] * 4
    def one(i):
        try:
            out[i] = srv.transcribe(audio["long" if i == 0 else "jfk"], timeout=120)   # the first runs a while
        except Exception as e:                                   # recorded, asserted below
            out[i] = (None, {}, repr(e).encode())
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    threads[0].start()
    deadline = time.time() + 30
    while srv.metrics()["amanuensis_jobs_running"] < 1 and time.time() < deadline:
        time.sleep(0.01)
    for th in threads[1:]:
        th.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        m = srv.metrics()
        if m["amanuensis_jobs_running"] == 1 and m["amanuensis_queue_depth"] == 3:
            break
        time.sleep(0.01)
    assert m["amanuensis_jobs_running"] == 1 and m["amanuensis_queue_depth"] == 3, m
    srv.proc.send_signal(signal.SIGTERM)
    for th in threads:
        th.join(timeout=120)
    for st, _, b in out:
        assert st == 200, b
        assert b"country" in b, b
    assert srv.proc.wait(timeout=60) == 0
    assert srv.uploads_left() == []
    with pytest.raises(OSError):
        _connect(srv.port, timeout=2).close()


def test_sigkill_mid_job_then_restart(serve, audio, tmp_path):
    tmpdir = tmp_path / "shared_tmp"
    tmpdir.mkdir()
    srv = serve("--workers", "1", "-t", "1", tmpdir=tmpdir)
    head, body = srv.raw_request(audio["long"])
    s = _connect(srv.port)
    s.sendall(head + body)
    deadline = time.time() + 30
    while srv.metrics()["amanuensis_jobs_running"] < 1 and time.time() < deadline:
        time.sleep(0.01)
    srv.proc.kill()
    assert srv.proc.wait(timeout=30) == -signal.SIGKILL
    status, _, _ = _read_response(s)
    s.close()
    assert status is None                                       # the connection just ends
    # the upload of the killed job is not left behind by name in TMPDIR
    assert srv.uploads_left() == []
    # nothing to recover: a new server in the same TMPDIR serves at once
    srv2 = serve("--workers", "1", "-t", "1", tmpdir=tmpdir)
    srv2.assert_healthy(audio)
    st, _, b = srv2.transcribe(audio["jfk"])
    assert st == 200 and b"country" in b


# ---- 7. a full temporary directory --------------------------------------------------------------------

def _limit_file_size():
    # the upload file may not grow past 100 KB: as a full disk, writes fail (EFBIG, with SIGXFSZ)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100 << 10, 100 << 10))


def test_full_temp_directory(serve, audio, tmp_path):
    srv = serve("--workers", "1", preexec=_limit_file_size)
    st, _, b = srv.transcribe(audio["jfk"])                      # 352 KB: more than fits
    err = assert_error(st, b, 507)
    assert err["type"] == "server_error" and err["code"] == "insufficient_storage"
    assert "temporary file" in err["message"]
    assert srv.uploads_left() == []
    m = srv.metrics()
    assert m['amanuensis_requests_rejected_total{reason="storage"}'] == 1
    srv.assert_healthy(audio)                                    # 96 KB fits
    # a TMPDIR that does not exist: the same kind of answer, and the server lives on
    missing = tmp_path / "missing"
    srv2 = serve("--workers", "1", tmpdir=missing)
    st, _, b = srv2.transcribe(audio["short"])
    err = assert_error(st, b, 500)
    assert err["type"] == "server_error" and "temporary file" in err["message"], b
    assert srv2.proc.poll() is None and srv2.request("GET", "/health")[0] == 200
