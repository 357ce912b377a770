#!/usr/bin/env python3
"""bench/encoder_error.py — how far the int8 encoders are from float32, ours and CTranslate2's.

    python3 bench/encoder_error.py [--model models/tiny.en] [WAV...]

For each recording (default: leopard_test.wav and jfk.wav from tests/data): the log-mel of its
first 30 s (faster-whisper's feature extractor), the encoder output of CTranslate2 float32 (the
reference), CTranslate2 int8, and ours at int8 and f32 (build/tools/dump_encoder), and the relative
L2 error ||x - ref|| / ||ref|| of each.  Needs `make tools`.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AM_TEST_DATA_DIR") or REPO / "tests" / "data")


def main():
    import ctranslate2
    from faster_whisper.audio import decode_audio, pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(REPO / "models" / "tiny.en"))
    ap.add_argument("wavs", nargs="*", default=[str(DATA / "speech" / "leopard_test.wav"), str(DATA / "jfk.wav")])
    args = ap.parse_args()
    dump = REPO / "build" / "tools" / "dump_encoder"
    if not os.access(dump, os.X_OK):
        sys.exit("encoder_error.py: build/tools/dump_encoder is missing: run `make tools`")
    ct2 = {ct: ctranslate2.models.Whisper(args.model, device="cpu", compute_type=ct, intra_threads=2)
           for ct in ("float32", "int8")}
    fe = FeatureExtractor(feature_size=80)
    print("| recording | CTranslate2 int8 | amanuensis int8 | amanuensis f32 |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        mel_path, out_path = Path(tmp) / "mel.f32", Path(tmp) / "enc.f32"
        for wav in args.wavs:
            audio = decode_audio(wav, sampling_rate=16000)
            mel = pad_or_trim(fe(audio)[:, :3000], 3000).astype(np.float32)
            mel.tofile(mel_path)
            sv = ctranslate2.StorageView.from_array(mel[None])
            ref = np.array(ct2["float32"].encode(sv, to_cpu=True))[0]
            c8 = np.array(ct2["int8"].encode(sv, to_cpu=True))[0]
            ours = {}
            for p in ("int8", "f32"):
                subprocess.run([str(dump), args.model, str(mel_path), str(out_path), "2", p], check=True)
                ours[p] = np.fromfile(out_path, dtype=np.float32).reshape(ref.shape)

            def rel(x):
                return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))
            print(f"| {Path(wav).name} | {rel(c8):.2%} | {rel(ours['int8']):.2%} | {rel(ours['f32']):.1e} |")


if __name__ == "__main__":
    main()
