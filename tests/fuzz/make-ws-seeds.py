#!/usr/bin/env python3
"""make-ws-seeds.py — write the seed inputs of tests/fuzz/fuzz_ws.c into tests/fuzz/corpus/ws/.

Each seed is a first byte (the read size, see fuzz_ws.c) and then what a client sends: masked
WebSocket frames (RFC 6455) carrying Realtime transcription events.  Run it again after changing
the seeds; the files are committed."""
import base64
import json
import math
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ws")


def frame(payload, opcode=1, fin=True, mask=b"\x11\x22\x33\x44"):
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ev(**kw):
    return frame(json.dumps(kw))


def tone(rate, seconds):
    n = int(rate * seconds)
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(n))


def append(pcm):
    return ev(type="input_audio_buffer.append", audio=base64.b64encode(pcm).decode())


seeds = {
    "session_commit": bytes([7]) + ev(type="transcription_session.update", session={"input_audio_format": "pcm16"})
    + append(tone(24000, 0.1)) + append(tone(24000, 0.1)) + ev(type="input_audio_buffer.commit"),
    "rate16k_manual": bytes([200]) + ev(type="session.update", event_id="e1", session={
        "input_audio_sample_rate": 16000, "turn_detection": None,
        "input_audio_transcription": {"model": "whisper-1", "language": "en"}})
    + append(tone(16000, 0.2)) + ev(type="input_audio_buffer.commit"),
    "ga_rate_clear": bytes([3]) + ev(type="session.update", session={"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}})
    + append(tone(24000, 0.05)[:301]) + append(tone(24000, 0.05)[301:]) + ev(type="input_audio_buffer.clear")
    + ev(type="input_audio_buffer.commit"),
    "errors": bytes([64]) + frame("not json") + ev(type="input_audio_buffer.append", audio="@@@")
    + ev(type="nope") + frame(b"\x00\x01", opcode=2) + frame('{"type":"session.update","session":{"input_audio_transcription":{"model":"bad"}}}')
    + frame('{"type":"input_audio_buffer.append","audio":"AAAA\\/w=="}') + frame('{"a":[1,2.5e3,true,false,null,"\\u00e9\\ud83d\\ude00"]}'),
    "fragmented_ping_close": bytes([1]) + frame('{"type":"input_audio_', fin=False) + frame('buffer.commit"}', opcode=0)
    + frame(b"hi", opcode=9) + frame(struct.pack(">H", 1000) + b"bye", opcode=8),
    "long_audio": bytes([0x80]) + append(tone(24000, 0.3)) * 3 + ev(type="input_audio_buffer.commit"),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {OUT}")
