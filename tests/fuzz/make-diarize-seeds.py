#!/usr/bin/env python3
"""Write the seed corpus of fuzz_diarize_weights (tests/fuzz/corpus/diarize_weights/): small AMDZ
files in the layout of src/diarize/weights.h, made with scripts/diarize_weights.py's writer.

    python3 tests/fuzz/make-diarize-seeds.py tests/fuzz/corpus/diarize_weights
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import diarize_weights  # noqa: E402


def floats(n, start=0.0):
    return struct.pack(f"<{n}f", *[start + i * 0.5 for i in range(n)])


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
seeds = {
    "one_scalar.bin": [("s", (), floats(1))],
    "three.bin": [("campplus.a.weight", (2, 3), floats(6)), ("campplus.a.bias", (2,), floats(2, 1)),
                  ("segmentation.lstm.weight_ih_l0", (4, 1, 1, 2), floats(8, -2))],
    "conv.bin": [("campplus.head.conv1.weight", (4, 1, 3, 3), floats(36)),
                 ("campplus.head.bn1.running_var", (4,), floats(4, 1))],
}
for name, tensors in seeds.items():
    diarize_weights.write_weights(os.path.join(out, name), tensors)
