#!/usr/bin/env python3
"""Write corrupt model inputs for the error-path tests.

    python3 scripts/make-bad-models.py OUTDIR [--model models/tiny.en] [--ggml CONVERTED.bin]

Creates in OUTDIR (and prints as JSON {case: path}):
  ct2_random/          model.bin = 4 KiB of random bytes (other files linked from the real model)
  ct2_trunc_10/        model.bin cut to 10 bytes
  ct2_trunc_header/    model.bin cut inside the first variable's header
  ct2_trunc_data/      model.bin cut in the middle of a tensor's data
  ct2_trunc_aliases/   model.bin cut just before its alias table ends
  ct2_missing/         a directory that does not exist
  ggml_bad_magic.bin   a converted ggml file with its magic changed
  ggml_bad_shape.bin   encoder.conv1.weight's dims swapped (same byte count, wrong shape)
  ggml_trunc_vocab.bin cut inside the vocabulary
  ggml_trunc_data.bin  cut in the middle of a tensor's data
  empty_model.bin      an empty file
Without --ggml, the ggml file is converted from --model with scripts/ct2_to_ggml.py.
"""
import argparse
import importlib.util
import json
import os
import random
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def load_converter():
    spec = importlib.util.spec_from_file_location("ct2_to_ggml", os.path.join(HERE, "ct2_to_ggml.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def model_dir_with(out, name, model_dir, model_bin_bytes):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for f in os.listdir(model_dir):
        if f == "model.bin":
            continue
        src = os.path.abspath(os.path.join(model_dir, f))
        try:
            os.symlink(src, os.path.join(d, f))
        except OSError:
            shutil.copy(src, os.path.join(d, f))
    with open(os.path.join(d, "model.bin"), "wb") as fh:
        fh.write(model_bin_bytes)
    return d


def ct2_offsets(buf):
    """(end of first variable's name, start of the first big tensor's data, its size, start of aliases)."""
    pos = 0

    def u32():
        nonlocal pos
        v = struct.unpack_from("<I", buf, pos)[0]
        pos += 4
        return v

    def string():
        nonlocal pos
        n = struct.unpack_from("<H", buf, pos)[0]
        pos += 2 + n

    u32()
    string()
    u32()
    n_vars = u32()
    first_name_end = None
    big = None
    for _ in range(n_vars):
        string()
        if first_name_end is None:
            first_name_end = pos
        rank = buf[pos]
        pos += 1 + 4 * rank
        pos += 1  # dtype
        nbytes = u32()
        if big is None and nbytes > 100000:
            big = (pos, nbytes)
        pos += nbytes
    return first_name_end, big[0], big[1], pos


def ggml_offsets(buf):
    """(start of vocabulary, {tensor name: (header offset, data offset, n_dims)}) of a ggml file."""
    pos = 4 + 11 * 4
    n_mel, n_fft = struct.unpack_from("<2i", buf, pos)
    pos += 8 + 4 * n_mel * n_fft
    vocab_start = pos
    n_tok = struct.unpack_from("<i", buf, pos)[0]
    pos += 4
    for _ in range(n_tok):
        n = struct.unpack_from("<i", buf, pos)[0]
        pos += 4 + n
    tensors = {}
    ftype_size = {0: 4, 1: 2}
    while pos < len(buf):
        hdr = pos
        n_dims, name_len, ttype = struct.unpack_from("<3i", buf, pos)
        pos += 12
        dims = struct.unpack_from(f"<{n_dims}i", buf, pos)
        pos += 4 * n_dims
        name = buf[pos:pos + name_len].decode()
        pos += name_len
        count = 1
        for d in dims:
            count *= d
        tensors[name] = (hdr, pos, n_dims, dims)
        pos += count * ftype_size[ttype]
    return vocab_start, tensors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--model", default=os.path.join(REPO, "models", "tiny.en"))
    ap.add_argument("--ggml", help="an already converted ggml f16 file (default: convert --model)")
    args = ap.parse_args(argv)

    out = os.path.abspath(args.outdir)
    os.makedirs(out, exist_ok=True)
    cases = {}
    rng = random.Random(1234)

    with open(os.path.join(args.model, "model.bin"), "rb") as fh:
        ct2 = fh.read()
    name_end, data_start, data_len, alias_start = ct2_offsets(ct2)
    cases["ct2_random"] = model_dir_with(out, "ct2_random", args.model, bytes(rng.getrandbits(8) for _ in range(4096)))
    cases["ct2_trunc_10"] = model_dir_with(out, "ct2_trunc_10", args.model, ct2[:10])
    cases["ct2_trunc_header"] = model_dir_with(out, "ct2_trunc_header", args.model, ct2[:name_end + 2])
    cases["ct2_trunc_data"] = model_dir_with(out, "ct2_trunc_data", args.model,
                                             ct2[:data_start + data_len // 2])
    cases["ct2_trunc_aliases"] = model_dir_with(out, "ct2_trunc_aliases", args.model, ct2[:alias_start + 6])
    missing = os.path.join(out, "ct2_missing")
    shutil.rmtree(missing, ignore_errors=True)
    cases["ct2_missing"] = missing

    ggml_path = args.ggml
    if not ggml_path:
        ggml_path = os.path.join(out, "converted-f16.bin")
        if not os.path.exists(ggml_path):
            load_converter().convert(args.model, ggml_path, False)
    with open(ggml_path, "rb") as fh:
        gg = bytearray(fh.read())
    vocab_start, tensors = ggml_offsets(gg)

    def write(name, data):
        p = os.path.join(out, name)
        with open(p, "wb") as fh:
            fh.write(data)
        cases[name.rsplit(".", 1)[0]] = p

    bad = bytearray(gg)
    struct.pack_into("<I", bad, 0, 0x12345678)
    write("ggml_bad_magic.bin", bad)

    bad = bytearray(gg)
    hdr, _data, n_dims, dims = tensors["encoder.conv1.weight"]
    swapped = (dims[1], dims[0]) + tuple(dims[2:])
    struct.pack_into(f"<{n_dims}i", bad, hdr + 12, *swapped)
    write("ggml_bad_shape.bin", bad)

    write("ggml_trunc_vocab.bin", gg[:vocab_start + 1000])
    _hdr, data, _n, dims = tensors["decoder.token_embedding.weight"]
    write("ggml_trunc_data.bin", gg[:data + 12345])
    write("empty_model.bin", b"")

    json.dump(cases, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
