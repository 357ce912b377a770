#!/usr/bin/env python3
"""live_server.py — live transcription through `amanuensis serve`: stream=true (SSE) and the realtime
WebSocket, timed from the client's side.

    python3 bench/live_server.py [--binary build/amanuensis] [--model tiny.en] [--audio samples/jfk.wav]
                                 [--threads 2] [--streams 1,2]

SSE: the file posted with stream=true: seconds to the first delta and to transcript.text.done.
WebSocket: N clients at once, each sending the file as 24 kHz pcm16 in 100 ms messages at 1x real time
(paced by the wall clock), then a commit: per client, seconds from the last message to the commit's
completed event; and the server's own figures from /metrics (final latency mean, largest lag seen
while streaming, compute seconds per audio second).  Needs numpy and websocket-client.
"""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
import wave

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def metrics(base):
    out = {}
    for line in urllib.request.urlopen(base + "/metrics", timeout=30).read().decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def pcm24k(path):
    with wave.open(path) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, "16 kHz mono 16-bit WAV"
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    n = len(x) * 3 // 2
    return np.round(np.interp(np.arange(n) / 1.5, np.arange(len(x)), x)).astype("<i2").tobytes(), len(x) / 16000


def sse(base, path):
    boundary = "----amlive"
    data = open(path, "rb").read()
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="stream"\r\n\r\ntrue\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n').encode() \
        + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(base + "/v1/audio/transcriptions", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    t0 = time.time()
    first = None
    text = None
    with urllib.request.urlopen(req, timeout=600) as r:
        for line in r:
            if not line.startswith(b"data: "):
                continue
            ev = json.loads(line[6:])
            if ev["type"] == "transcript.text.delta" and first is None:
                first = time.time() - t0
            if ev["type"] == "transcript.text.done":
                text = ev["text"]
    return first, time.time() - t0, text


def ws_client(port, audio, out):
    import websocket
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription", timeout=600)
    json.loads(ws.recv())
    step = 4800                                           # 100 ms of 24 kHz pcm16
    t0 = time.time()
    for k, i in enumerate(range(0, len(audio), step)):
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio[i:i + step]).decode()}))
        delay = t0 + (k + 1) * 0.1 - time.time()
        if delay > 0:
            time.sleep(delay)
    t_end = time.time()
    ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
    ws.send(json.dumps({"type": "marker", "event_id": "end"}))
    text = []
    last_done = None
    while True:
        ev = json.loads(ws.recv())
        if ev["type"] == "error" and ev["error"]["event_id"] == "end":
            break
        if ev["type"].endswith("transcription.delta"):
            text.append(ev["delta"])
        if ev["type"].endswith("transcription.completed"):
            last_done = time.time() - t_end
    ws.close()
    out.append((last_done, "".join(text)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--binary", default=os.path.join(REPO, "build", "amanuensis"))
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--audio", default=os.path.join(REPO, "samples", "jfk.wav"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--streams", default="1,2")
    a = ap.parse_args()
    proc = subprocess.Popen([a.binary, "serve", "-m", a.model, "--port", "0", "--threads", str(a.threads),
                             "--max-streams", "64"], stderr=subprocess.PIPE, text=True, cwd=REPO)
    port = None
    for line in proc.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(base + "/ready", timeout=5).status == 200:
                    break
            except Exception:
                time.sleep(0.1)
        audio, seconds = pcm24k(a.audio)
        print(f"audio {os.path.basename(a.audio)}: {seconds:.1f} s; model {a.model}; {a.threads} threads per stream; "
              f"{os.cpu_count()} CPUs")
        first, total, text = sse(base, a.audio)
        print(f"SSE (fed as fast as it goes): first delta {first:.2f} s, done {total:.2f} s "
              f"({total / seconds:.2f} s per audio second): {text.strip()!r}")
        for n in [int(x) for x in a.streams.split(",")]:
            m0 = metrics(base)
            out, stop = [], threading.Event()
            threads = [threading.Thread(target=ws_client, args=(port, audio, out)) for _ in range(n)]
            peak = [0.0]

            def watch():
                while not stop.is_set():
                    peak[0] = max(peak[0], metrics(base)["amanuensis_stream_lag_seconds"])
                    time.sleep(0.2)
            w = threading.Thread(target=watch)
            w.start()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            stop.set()
            w.join()
            m1 = metrics(base)
            d = lambda k: m1[k] - m0[k]                  # noqa: E731
            lat = d("amanuensis_stream_final_latency_seconds_sum") / max(1, d("amanuensis_stream_final_latency_seconds_count"))
            print(f"WebSocket x{n} at 1x: commit -> completed {max(o[0] or 0 for o in out):.2f} s (slowest client); "
                  f"final latency mean {lat:.2f} s over {d('amanuensis_stream_final_latency_seconds_count'):.0f} finals; "
                  f"largest lag {peak[0]:.2f} s; compute {d('amanuensis_stream_compute_seconds_total') / (n * seconds):.2f} "
                  f"s per audio second per stream")
            for _, text in out[:1]:
                print(f"  text: {text.strip()!r}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
