"""Live transcription in `amanuensis serve`: `stream=true` (server-sent events, through the official
`openai` client), the WebSocket `/v1/realtime?intent=transcription` (OpenAI's Realtime transcription
events, through `websocket-client`), `--max-streams` and the stream figures of /metrics.

Each test starts the server (conftest.py's Server) on a free port with models/tiny.en.
"""
import base64
import json
import os
import socket
import subprocess
import threading
import wave

import pytest

from conftest import BROWSER_DIR, Server
from textnorm import normalize, word_errors

WANT = "ask not what your country can do for you"


@pytest.fixture
def start(binary, model_dir):
    servers = []

    def _start(*args):
        s = Server(binary, ["-m", model_dir, "--threads", "2"] + list(args))
        servers.append(s)
        return s

    yield _start
    for s in servers:
        rc = s.stop()
        assert rc == 0, f"server exit status {rc}:\n" + s.logtext()


def has_websocket(srv, headers=None):
    """False when the binary was built without libwslay (the endpoint answers 501)."""
    status, _, _ = srv.request("GET", "/v1/realtime?intent=transcription", headers=headers)
    return status != 501


def pcm16(path, rate):
    """The WAV's 16 kHz mono int16 samples as pcm16 bytes at `rate` (linear interpolation)."""
    import numpy as np
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    if rate != 16000:
        n = int(len(x) * rate / 16000)
        x = np.interp(np.arange(n) * 16000 / rate, np.arange(len(x)), x)
    return np.round(x).astype("<i2").tobytes()


def ws_connect(srv, query="intent=transcription", **kw):
    websocket = pytest.importorskip("websocket")
    return websocket.create_connection(f"ws://127.0.0.1:{srv.port}/v1/realtime?{query}", timeout=120, **kw)


def send(ws, **event):
    ws.send(json.dumps(event))


def recv(ws):
    return json.loads(ws.recv())


def stream_audio(ws, audio, rate, chunk_s=0.1):
    step = int(rate * chunk_s) * 2
    for i in range(0, len(audio), step):
        send(ws, type="input_audio_buffer.append", audio=base64.b64encode(audio[i:i + step]).decode())


def collect_until_commit(ws):
    """Send the commit, then an unknown event as a marker: the server handles messages in order,
    so every event the commit causes comes before the marker's error.  Returns (events,
    {item: [deltas]}, {item: transcript})."""
    send(ws, type="input_audio_buffer.commit")
    send(ws, type="marker.after_commit", event_id="marker")
    events, deltas, done = [], {}, {}
    while True:
        ev = recv(ws)
        if ev["type"] == "error" and ev["error"]["event_id"] == "marker":
            return events, deltas, done
        events.append(ev)
        assert ev["event_id"] and ev["type"] != "error", ev
        if ev["type"] == "conversation.item.input_audio_transcription.delta":
            assert ev["item_id"] not in done, "delta after completed"
            assert ev["content_index"] == 0
            deltas.setdefault(ev["item_id"], []).append(ev["delta"])
        elif ev["type"] == "conversation.item.input_audio_transcription.completed":
            assert ev["item_id"] not in done
            done[ev["item_id"]] = ev["transcript"]


# ---- stream=true: server-sent events --------------------------------------------------------------

def test_sse_openai_client(start, test_data):
    openai = pytest.importorskip("openai")
    srv = start()
    client = openai.OpenAI(base_url=srv.base + "/v1", api_key="unused", max_retries=0, timeout=120)
    with open(test_data / "jfk.wav", "rb") as f:
        offline = client.audio.transcriptions.create(model="whisper-1", file=f).text
    with open(test_data / "jfk.wav", "rb") as f:
        stream = client.audio.transcriptions.create(model="whisper-1", file=f, stream=True)
        events = list(stream)
    types = [e.type for e in events]
    assert types[-1] == "transcript.text.done" and types.count("transcript.text.done") == 1, types
    assert set(types[:-1]) == {"transcript.text.delta"} and len(types) >= 3, types
    deltas = "".join(e.delta for e in events[:-1])
    assert deltas == events[-1].text
    assert WANT in normalize(deltas)
    errors, words = word_errors(offline, deltas)
    assert errors <= 0.15 * words, (offline, deltas)
    # the slot comes back when the server frees the finished response, just after its last byte
    import time
    deadline = time.time() + 10
    while (m := srv.metrics())["amanuensis_streams_active"] != 0:
        assert time.time() < deadline, "the finished stream still holds its slot"
        time.sleep(0.1)
    assert m['amanuensis_streams_total{kind="sse"}'] == 1
    assert abs(m["amanuensis_stream_audio_seconds_total"] - 11.0) < 0.01
    assert m["amanuensis_stream_final_latency_seconds_count"] >= 2


def test_sse_bad_requests(start, test_data):
    from test_server import assert_error, transcribe
    srv = start()
    jfk = (test_data / "jfk.wav").read_bytes()
    st, _, b = transcribe(srv, b"RIFF\x10\x00\x00\x00WAVEjunk", [("stream", "true")])
    assert assert_error(st, b, 400, "file")["code"] == "invalid_audio"
    st, _, b = transcribe(srv, jfk, [("stream", "maybe")])
    assert_error(st, b, 400, "stream")
    st, _, b = transcribe(srv, jfk, [("stream", "true")], path="/v1/audio/translations")
    assert_error(st, b, 400, "stream")
    st, h, b = transcribe(srv, jfk, [("stream", "false")])      # false: the ordinary answer
    assert st == 200 and h["Content-Type"] == "application/json" and WANT in normalize(json.loads(b)["text"])
    assert srv.metrics()["amanuensis_streams_active"] == 0


def test_sse_client_gone_ends_stream(start, test_data):
    """A client that leaves after the headers cancels its stream: the slot comes back."""
    from test_server import multipart
    srv = start("--max-streams", "1")
    long_audio = pcm16(test_data / "jfk.wav", 16000) * 6          # 66 s
    import io
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(long_audio)
    body, ct = multipart([("stream", "true")], [("file", "long.wav", buf.getvalue())])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    s.close()
    import time
    deadline = time.time() + 30
    while srv.metrics()["amanuensis_streams_active"] != 0:
        assert time.time() < deadline, "the stream was not cancelled"
        time.sleep(0.2)
    from test_server import transcribe
    st, _, b = transcribe(srv, (test_data / "jfk.wav").read_bytes(), [("stream", "true")])
    assert st == 200 and b"transcript.text.done" in b


# ---- the realtime WebSocket ------------------------------------------------------------------------

def realtime_run(srv, test_data, rate, session):
    ws = ws_connect(srv)
    created = recv(ws)
    assert created["type"] == "session.created" and created["session"]["id"].startswith("sess_")
    send(ws, type="transcription_session.update", session=session)
    upd = recv(ws)
    assert upd["type"] == "transcription_session.updated", upd
    assert upd["session"]["input_audio_sample_rate"] == rate
    stream_audio(ws, pcm16(test_data / "jfk.wav", rate), rate)
    events, deltas, done = collect_until_commit(ws)
    ws.close()
    return events, deltas, done


def check_items(events, deltas, done):
    assert done, events
    for item, transcript in done.items():
        assert "".join(deltas.get(item, [])) == transcript, (item, deltas.get(item), transcript)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    text = "".join(done[i] for i in sorted(done))
    assert WANT in normalize(text), text
    # speech_started/stopped pair up around their items
    started = [e["item_id"] for e in events if e["type"] == "input_audio_buffer.speech_started"]
    stopped = [e["item_id"] for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    assert started and set(stopped) <= set(started)
    return text


def test_realtime_24k_chunks(start, test_data):
    srv = start()
    if not has_websocket(srv):
        pytest.skip("built without libwslay")
    events, deltas, done = realtime_run(srv, test_data, 24000, {"input_audio_format": "pcm16"})
    text = check_items(events, deltas, done)
    m = srv.metrics()
    assert m['amanuensis_streams_total{kind="websocket"}'] == 1
    assert abs(m["amanuensis_stream_audio_seconds_total"] - 11.0) < 0.05, m
    assert m['amanuensis_http_requests_total{endpoint="/v1/realtime",code="101"}'] == 1
    # partials (ours, non-standard) name an item and carry text
    partials = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.partial"]
    assert all(isinstance(e["text"], str) and e["item_id"] for e in partials)
    assert text


def test_realtime_16k_and_manual_turns(start, test_data):
    """input_audio_sample_rate 16000 (ours), and turn_detection null: one item, ended by the commit."""
    srv = start()
    if not has_websocket(srv):
        pytest.skip("built without libwslay")
    events, deltas, done = realtime_run(srv, test_data, 16000,
                                        {"input_audio_format": "pcm16", "input_audio_sample_rate": 16000,
                                         "turn_detection": None})
    assert len(done) == 1, done
    (item, transcript), = done.items()
    assert "".join(deltas[item]) == transcript and WANT in normalize(transcript)
    assert not [e for e in events if e["type"].startswith("input_audio_buffer.speech_")]


def test_realtime_errors_keep_the_connection(start, test_data):
    srv = start()
    if not has_websocket(srv):
        pytest.skip("built without libwslay")
    ws = ws_connect(srv)
    assert recv(ws)["type"] == "session.created"
    bad = [
        ("not json", "invalid_json"),
        (json.dumps({"type": "input_audio_buffer.append", "audio": "!!!!", "event_id": "ev1"}), "invalid_value"),
        (json.dumps({"type": "input_audio_buffer.append"}), "missing_required_parameter"),
        (json.dumps({"type": "response.create"}), "invalid_event"),
        (json.dumps({"no_type": 1}), "missing_required_parameter"),
        (json.dumps({"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}), "invalid_value"),
        (json.dumps({"type": "session.update", "session": {"input_audio_sample_rate": 44100}}), "invalid_value"),
        (json.dumps({"type": "session.update", "session": {"input_audio_transcription": {"model": "nope"}}}),
         "invalid_value"),
        (json.dumps({"type": "input_audio_buffer.commit"}), "input_audio_buffer_commit_empty"),
        ("[" * 100, "invalid_json"),
    ]
    for msg, code in bad:
        ws.send(msg)
        ev = recv(ws)
        assert ev["type"] == "error" and ev["error"]["code"] == code, (msg, ev)
        assert ev["error"]["message"]
    # the client's event_id comes back in the error
    ws.send(bad[1][0])
    assert recv(ws)["error"]["event_id"] == "ev1"
    ws.send_binary(b"\x00\x01")
    assert recv(ws)["type"] == "error"
    # clear, then a whole utterance still transcribes on the same connection
    stream_audio(ws, pcm16(test_data / "jfk.wav", 24000)[:48000], 24000)
    send(ws, type="input_audio_buffer.clear")
    while True:
        ev = recv(ws)
        assert ev["type"] != "error", ev
        if ev["type"] == "input_audio_buffer.cleared":
            break
    stream_audio(ws, pcm16(test_data / "jfk.wav", 24000), 24000)
    events, deltas, done = collect_until_commit(ws)
    check_items(events, deltas, done)
    ws.close()


def test_realtime_handshake_refusals(start):
    srv = start()
    if not has_websocket(srv):
        pytest.skip("built without libwslay")
    status, h, _ = srv.request("GET", "/v1/realtime?intent=transcription")     # no Upgrade
    assert status == 426 and h["Upgrade"] == "websocket"
    ws_headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    status, _, b = srv.request("GET", "/v1/realtime?intent=conversation", headers=ws_headers)
    assert status == 400 and json.loads(b)["error"]["param"] == "intent"
    status, _, _ = srv.request("GET", "/v1/realtime?intent=transcription",
                               headers=dict(ws_headers, **{"Sec-WebSocket-Version": "8"}))
    assert status == 400
    status, _, _ = srv.request("POST", "/v1/realtime?intent=transcription", headers=ws_headers)
    assert status == 405


def test_realtime_api_key(start, binary, model_dir):
    srv = start("--api-key", "sekrit")
    if not has_websocket(srv, {"Authorization": "Bearer sekrit"}):
        pytest.skip("built without libwslay")
    websocket = pytest.importorskip("websocket")
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        ws_connect(srv)
    assert e.value.status_code == 401
    ws = ws_connect(srv, header=["Authorization: Bearer sekrit"])
    assert recv(ws)["type"] == "session.created"
    ws.close()
    # a browser's way: the key as a subprotocol, "realtime" chosen
    ws = ws_connect(srv, subprotocols=["realtime", "openai-insecure-api-key.sekrit"])
    assert recv(ws)["type"] == "session.created"
    ws.close()


def test_max_streams_429(start, test_data):
    from test_server import assert_error, transcribe
    srv = start("--max-streams", "0")
    st, h, b = transcribe(srv, (test_data / "jfk.wav").read_bytes(), [("stream", "true")])
    assert assert_error(st, b, 429)["code"] == "streams_full" and h["Retry-After"] == "1"
    n = 1
    if has_websocket(srv):
        websocket = pytest.importorskip("websocket")
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            ws_connect(srv)
        assert e.value.status_code == 429
        n = 2
    m = srv.metrics()
    assert m['amanuensis_requests_rejected_total{reason="streams_full"}'] == n
    assert m["amanuensis_streams_max"] == 0
    # ordinary transcriptions are not streams
    st, _, _ = transcribe(srv, (test_data / "jfk.wav").read_bytes())
    assert st == 200


def test_sigterm_closes_websocket(start, test_data):
    """SIGTERM: an open WebSocket is closed (1001) and the server exits 0."""
    srv = start()
    if not has_websocket(srv):
        pytest.skip("built without libwslay")
    websocket = pytest.importorskip("websocket")
    ws = ws_connect(srv)
    assert recv(ws)["type"] == "session.created"
    import signal
    srv.proc.send_signal(signal.SIGTERM)
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        while True:
            ws.recv()
    assert srv.proc.wait(timeout=30) == 0


# ---- the web page's Live mode in a real browser -----------------------------------------------------

def test_browser_live_microphone(start, browser, test_data):
    """Chromium's fake microphone plays jfk.wav into the page's Live mode (tests/browser/test_live.mjs)."""
    node, chromium = browser
    srv = start()
    if not has_websocket(srv):
        pytest.skip("built without libwslay")
    r = subprocess.run([node, str(BROWSER_DIR / "test_live.mjs"), srv.base, str(test_data / "jfk.wav")],
                       capture_output=True, text=True, timeout=180, cwd=BROWSER_DIR,
                       env=dict(os.environ, AM_CHROMIUM=chromium))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "live ok" in r.stdout
    m = srv.metrics()
    assert m['amanuensis_streams_total{kind="websocket"}'] == 1
