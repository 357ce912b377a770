#!/usr/bin/env python3
"""load_test.py — loopback load test of `amanuensis serve`.

Starts the server (build/amanuensis serve --port 0 on 127.0.0.1) unless --url is given, then runs
--clients concurrent clients (threads, http.client) that send --requests short transcription
requests in total (the first --clip seconds of jfk.wav), bounded by --max-seconds.  Prints the status
counts, p50/p95/p99 latency of the successful requests and the throughput.  Exit status 1 when a
request got anything but 200 (or 429 with --allow-429), or the time bound was hit.

  bench/load_test.py                                   # 32 clients, 400 requests, queue 64: all 200
  bench/load_test.py --queue 2 --allow-429             # a deliberately small queue: 200s and 429s
"""
import argparse
import http.client
import io
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def clip_wav(path, seconds):
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(int(w.getframerate() * seconds))
        params = w.getparams()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setparams(params)
        w.writeframes(frames)
    return out.getvalue()


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an already running server (http://127.0.0.1:PORT); loopback only")
    ap.add_argument("--binary", default=str(REPO / "build" / "amanuensis"))
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--audio", default=None, help="WAV file (default: tests/data/jfk.wav or samples/jfk.wav)")
    ap.add_argument("--clip", type=float, default=1.0, help="seconds of the audio to send (default 1)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per job")
    ap.add_argument("--queue", type=int, default=64)
    ap.add_argument("--allow-429", action="store_true")
    ap.add_argument("--max-seconds", type=float, default=900)
    a = ap.parse_args()

    audio = Path(a.audio) if a.audio else (REPO / "tests" / "data" / "jfk.wav")
    if not audio.exists():
        audio = REPO / "samples" / "jfk.wav"
    data = clip_wav(audio, a.clip)
    b = "----amload" + uuid.uuid4().hex
    body = (f'--{b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\njson\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="clip.wav"\r\n'
            f"Content-Type: audio/wav\r\n\r\n").encode() + data + f"\r\n--{b}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={b}"}

    proc = None
    if a.url:
        m = re.match(r"http://(127\.0\.0\.1|localhost|\[::1\]):(\d+)/?$", a.url)
        if not m:
            sys.exit("load_test: --url must be a loopback http URL")
        host, port = "127.0.0.1" if m.group(1) != "[::1]" else "::1", int(m.group(2))
    else:
        cmd = [a.binary, "serve", "-m", a.model, "--port", "0", "--workers", str(a.workers),
               "--threads", str(a.threads), "--queue", str(a.queue), "--max-connections", str(a.clients + 16)]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO)
        port = None
        for line in proc.stderr:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            sys.exit("load_test: the server did not start")
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
        host = "127.0.0.1"
        t_end = time.time() + 60
        while time.time() < t_end:
            try:
                c = http.client.HTTPConnection(host, port, timeout=5)
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)

    lock = threading.Lock()
    next_i = [0]
    results = []          # (status, latency)
    deadline = time.time() + a.max_seconds

    def client():
        conn = None
        while True:
            with lock:
                if next_i[0] >= a.requests or time.time() > deadline:
                    return
                next_i[0] += 1
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=max(1.0, deadline - time.time()))
                conn.request("POST", "/v1/audio/transcriptions", body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                status = r.status
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 — any failure is counted
                status = f"error:{type(e).__name__}"
                if conn:
                    conn.close()
                conn = None
            with lock:
                results.append((status, time.perf_counter() - t0))

    t_start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start

    if proc:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()

    counts = {}
    for s, _ in results:
        counts[s] = counts.get(s, 0) + 1
    ok = [lat for s, lat in results if s == 200]
    allowed = {200} | ({429} if a.allow_429 else set())
    unexpected = sum(n for s, n in counts.items() if s not in allowed)
    print(f"load_test: {len(results)} requests ({a.clip:g} s clips), {a.clients} clients, "
          f"workers {a.workers} x {a.threads} thread(s), queue {a.queue}")
    print("load_test: status counts: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)))
    if ok:
        print(f"load_test: latency of 200s (s): p50 {pct(ok, 50):.3f}  p95 {pct(ok, 95):.3f}  "
              f"p99 {pct(ok, 99):.3f}  mean {statistics.mean(ok):.3f}  max {max(ok):.3f}")
    print(f"load_test: wall {wall:.1f} s, throughput {len(ok) / wall:.2f} req/s "
          f"({len(ok) * a.clip / wall:.2f} s of audio per s)")
    print(f"load_test: unexpected errors: {unexpected}")
    if len(results) < a.requests:
        print(f"load_test: only {len(results)} of {a.requests} requests ran before --max-seconds")
        return 1
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
