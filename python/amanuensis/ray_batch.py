"""Batch transcription on a Ray cluster with Ray Data: every node runs the amanuensis package.

    python -m amanuensis.ray_batch --model tiny.en --input FOLDER|MANIFEST.txt --output-dir DIR \\
        [--address auto|HOST:PORT] [--actors N] [--threads-per-actor T] [--beam-size 5] [--language en] ...

Inputs.  A FOLDER is walked as `amanuensis transcribe` walks one (src/cli/inputs.c): every regular
file below it, hidden ones left out, in name order, and each writes <output-dir>/<its path inside
the folder without extension>.json.  A MANIFEST is a text file with one audio path per line (blank
lines and lines starting with '#' skipped; relative paths are taken from the manifest's folder), and
each writes <output-dir>/<its name without extension>.json.  As in the CLI, an input whose output
name is already that of an earlier input fails with a one-line error naming the earlier.  Every
path (inputs, output folder, a model given as a path) must be the same on every node: a shared
filesystem, or the same copy everywhere.

The run.  The driver lists the inputs and leaves out those whose JSON exists (resume: rerun the
same command after a crash, a killed node or a stopped run).  The rest become a Ray Dataset, one
block per file, mapped with map_batches through a callable class on a fixed pool of --actors
actors (ray.data.ActorPoolStrategy), each reserving --threads-per-actor CPUs: each actor loads the
model once (amanuensis.WhisperModel, cpu_threads=T) and transcribes one file per call.  Ray Data
restarts the actors of a lost node and resubmits their files; an actor skips a file whose JSON
appeared meanwhile, so a resubmitted file is not transcribed again once its JSON is written.

Outputs.  Each JSON is written to a hidden temporary file in its own folder, flushed, then renamed
over its final name: a killed actor leaves no partial <name>.json (a run removes the temporary
files that killed ones left).  The JSON is the layout of `amanuensis transcribe -o json`
(schema/transcript.schema.json, src/result/json.c): text, language, duration, segments with id,
seek, start, end, text, tokens, temperature, avg_logprob, compression_ratio, no_speech_prob (and
words with --word-timestamps), numbers printed as the C writer prints them (seconds with 3
decimals, other reals with 6 significant digits), so that the same options give the same bytes as
the CLI.  Each actor also appends one line per event to <output-dir>/events.jsonl (or --events):
{"event": "start" | "finish" | "skip" | "error", "name", "file", "node" (the Ray node's id), "pid",
"time"[, "seconds", "error"]}, one write(2) per line with O_APPEND.  A file that cannot be transcribed gets an "error"
line with the library's one-line message, no JSON, and the run goes on; the next run tries it again.

At the end the driver prints a summary (done, failed, skipped) and exits 0, or 1 when a file
failed; 2 for bad arguments or when Ray cannot be imported or reached."""
import argparse
import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

PROG = "amanuensis.ray_batch"
EVENTS_NAME = "events.jsonl"
_TMP_PREFIX = ".amanuensis-ray-"


class InputError(Exception):
    """A bad --input (one line)."""


# ---- inputs --------------------------------------------------------------------------------------

def _stem(rel: str) -> str:
    """`rel` without the extension of its last component, as the CLI's stem_of ("x/a.b.wav" ->
    "x/a.b"; ".wav" stays)."""
    head, sep, base = rel.rpartition("/")
    dot = base.rfind(".")
    return head + sep + (base[:dot] if dot > 0 else base)


def _walk(folder: Path, rel: str, out: List[Tuple[str, str]]) -> None:
    """The regular files under `folder` (links to files followed, to folders not), hidden names left
    out, depth first in name order (byte order, as the CLI's strcmp)."""
    try:
        names = sorted((n for n in os.listdir(folder) if not n.startswith(".")), key=os.fsencode)
    except OSError as e:
        raise InputError(f"{folder}: cannot read the folder: {e.strerror}") from None
    for name in names:
        path = folder / name
        sub = f"{rel}/{name}" if rel else name
        if path.is_symlink():
            if path.is_file():
                out.append((str(path), sub))
        elif path.is_dir():
            _walk(path, sub, out)
        elif path.is_file():
            out.append((str(path), sub))


def _read_manifest(manifest: Path) -> List[Tuple[str, str]]:
    try:
        text = manifest.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{manifest}: not a manifest (a UTF-8 text file with one audio path per line)") from None
    except OSError as e:
        raise InputError(f"{manifest}: cannot read the manifest: {e.strerror}") from None
    if "\0" in text:
        raise InputError(f"{manifest}: not a manifest (a UTF-8 text file with one audio path per line)")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line).expanduser()
        if not path.is_absolute():
            path = manifest.parent / path
        out.append((os.path.abspath(path), path.name))
    return out


def list_inputs(source: str) -> List[Dict[str, Optional[str]]]:
    """[{"path", "name", "error"}] in input order: `name` is the output's path inside --output-dir
    without ".json"; `error` is set for an input whose name an earlier input already has."""
    src = Path(source)
    if src.is_dir():
        pairs: List[Tuple[str, str]] = []
        _walk(src.resolve(), "", pairs)
    elif src.exists():
        pairs = _read_manifest(src.resolve())
    else:
        raise InputError(f"{source}: no such folder or manifest")
    items: List[Dict[str, Optional[str]]] = []
    first: Dict[str, str] = {}
    for path, rel in pairs:
        name = _stem(rel)
        error = None
        if name in first:
            error = (f"{path}: its output name '{name}' is already that of {first[name]} (give their folder to "
                     "mirror subfolders, or rename one)")
        else:
            first[name] = path
        items.append({"path": path, "name": name, "error": error})
    return items


def output_path(output_dir: str, name: str) -> Path:
    return Path(output_dir) / (name + ".json")


# ---- the JSON of `amanuensis transcribe -o json` ------------------------------------------------------

def _seconds(v: Optional[float]) -> str:
    return "null" if v is None or not math.isfinite(v) else "%.3f" % v


def _real(v: Optional[float]) -> str:
    return "null" if v is None or not math.isfinite(v) else "%.6g" % v


def _string(s: Optional[str]) -> str:
    # src/result/json.c escapes '"', '\\' and control characters, and keeps every other character
    return json.dumps(s or "", ensure_ascii=False)


def transcript_json(segments: List[Any], language: str, duration: float) -> str:
    """One line, as src/result/json.c writes it (json_result with its defaults): "id" is the
    segment's index, "words" only on segments that have them."""
    parts = []
    for i, s in enumerate(segments):
        seg = (f'{{"id": {i}, "seek": {int(s.seek)}, "start": {_seconds(s.start)}, "end": {_seconds(s.end)}, '
               f'"text": {_string(s.text)}, "tokens": [{", ".join(str(int(t)) for t in s.tokens)}], '
               f'"temperature": {_real(s.temperature)}, "avg_logprob": {_real(s.avg_logprob)}, '
               f'"compression_ratio": {_real(s.compression_ratio)}, "no_speech_prob": {_real(s.no_speech_prob)}')
        if s.words is not None:
            seg += ', "words": [' + ", ".join(
                f'{{"word": {_string(w.word)}, "start": {_seconds(w.start)}, "end": {_seconds(w.end)}, '
                f'"probability": {_real(w.probability)}}}' for w in s.words) + "]"
        parts.append(seg + "}")
    text = "".join(s.text for s in segments)
    return (f'{{"text": {_string(text)}, "language": {_string(language)}, "duration": {_seconds(duration)}, '
            f'"segments": [{", ".join(parts)}]}}')


def write_atomically(path: Path, data: str) -> None:
    """`data` into `path` through a temporary file in the same folder and a rename: readers (and a
    resumed run) see the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{_TMP_PREFIX}{os.getpid()}-{path.name}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(data)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove_leftovers(output_dir: str) -> int:
    """Remove the temporary files of actors killed while writing (none run now). Returns the count."""
    n = 0
    for root, _dirs, files in os.walk(output_dir):
        for f in files:
            if f.startswith(_TMP_PREFIX):
                try:
                    os.unlink(os.path.join(root, f))
                    n += 1
                except OSError:
                    pass
    return n


# ---- the actors ----------------------------------------------------------------------------------

class Transcriber:
    """A Ray Data callable class: one model per actor, one file per call (batch_size=1)."""

    def __init__(self, model: str, threads: int, output_dir: str, events: str, options: Dict[str, Any],
                 device: str = "cpu", compute_type: str = "default"):
        self.output_dir = output_dir
        # a model that cannot be loaded here fails every file given to this actor (with the reason)
        # rather than the constructor: Ray would restart a failing actor for ever
        self.load_error: Optional[str] = None
        try:
            from amanuensis import WhisperModel
            self.model = WhisperModel(model, device=device, compute_type=compute_type, cpu_threads=threads)
        except Exception as e:  # AmanuensisError, ImportError (the package or its library missing), ValueError
            self.load_error = " ".join(str(e).split()) or type(e).__name__
        self.events = events
        self.options = options
        self.node = socket.gethostname()
        try:
            import ray
            self.node = ray.get_runtime_context().get_node_id() or self.node
        except Exception:  # outside Ray
            pass

    def _event(self, event: str, name: str, path: str, **extra: Any) -> None:
        record = dict(event=event, name=name, file=path, node=self.node, pid=os.getpid(),
                      time=round(time.time(), 3), **extra)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def transcribe_one(self, path: str, name: str) -> Tuple[str, Optional[str], float]:
        """("done" | "skipped" | "failed", the error's one line, seconds)."""
        out = output_path(self.output_dir, name)
        if out.exists():  # written by an earlier attempt of this file (a resubmitted block)
            self._event("skip", name, path)
            return "skipped", None, 0.0
        if self.load_error:
            self._event("error", name, path, error=self.load_error)
            return "failed", self.load_error, 0.0
        self._event("start", name, path)
        t0 = time.monotonic()
        try:
            segments, info = self.model.transcribe(path, **self.options)
            segments = list(segments)
            write_atomically(out, transcript_json(segments, info.language, info.duration))
        except Exception as e:  # AmanuensisError (unreadable audio, ...) or an OSError writing the JSON
            message = " ".join(str(e).split()) or type(e).__name__
            seconds = time.monotonic() - t0
            self._event("error", name, path, seconds=round(seconds, 3), error=message)
            return "failed", message, seconds
        seconds = time.monotonic() - t0
        self._event("finish", name, path, seconds=round(seconds, 3))
        return "done", None, seconds

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        rows: Dict[str, List[Any]] = {"name": [], "path": [], "status": [], "error": [], "seconds": []}
        for path, name in zip(batch["path"], batch["name"]):
            status, error, seconds = self.transcribe_one(str(path), str(name))
            rows["name"].append(str(name))
            rows["path"].append(str(path))
            rows["status"].append(status)
            rows["error"].append(error or "")
            rows["seconds"].append(float(seconds))
        return rows


# ---- the driver ----------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=(
        "Transcribe a folder or a manifest of audio files on a Ray cluster, one JSON per file "
        "(the layout of `amanuensis transcribe -o json`); rerun to resume."))
    p.add_argument("--model", required=True, help="model name (tiny.en, base, ...) or path, the same on every node")
    p.add_argument("--input", required=True, metavar="FOLDER|MANIFEST",
                   help="a folder (walked as the CLI walks one) or a text file with one audio path per line")
    p.add_argument("--output-dir", required=True, metavar="DIR", help="where <name>.json go (created when missing)")
    p.add_argument("--address", default=None,
                   help="the cluster: 'auto' (the one this machine joined with `ray start`) or the head's HOST:PORT; "
                        "default: $RAY_ADDRESS, else a Ray instance of this machine alone")
    p.add_argument("--actors", type=int, default=None, metavar="N",
                   help="actors, each with its own model (default: the cluster's CPUs / --threads-per-actor)")
    p.add_argument("--threads-per-actor", type=int, default=1, metavar="T",
                   help="threads of each transcription, and CPUs each actor reserves (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default), auto or a backend `amanuensis info` lists")
    p.add_argument("--compute-type", default="default", help="int8 (default) or float32")
    p.add_argument("--beam-size", type=int, default=5, metavar="N", help="beam width (default 5; 1 = greedy)")
    p.add_argument("--language", default=None, metavar="CODE", help="spoken language (default: detected)")
    p.add_argument("--task", default="transcribe", choices=("transcribe", "translate"))
    p.add_argument("--word-timestamps", action="store_true", help="word-level times in the JSON")
    p.add_argument("--vad", action="store_true", help="Silero voice activity detection (vad_filter)")
    p.add_argument("--events", default=None, metavar="FILE",
                   help=f"the actors' event log (default: <output-dir>/{EVENTS_NAME})")
    return p


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads_per_actor < 1:
        return _fail("--threads-per-actor must be at least 1")
    if args.actors is not None and args.actors < 1:
        return _fail("--actors must be at least 1")
    if args.beam_size < 1:
        return _fail("--beam-size must be at least 1")
    try:
        items = list_inputs(args.input)
    except InputError as e:
        return _fail(str(e))
    output_dir = os.path.abspath(args.output_dir)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as e:
        return _fail(f"{args.output_dir}: cannot create the output folder: {e.strerror}")
    events = os.path.abspath(args.events or os.path.join(output_dir, EVENTS_NAME))
    remove_leftovers(output_dir)

    failed: List[Tuple[str, str]] = [(it["path"], it["error"]) for it in items if it["error"]]
    for _path, error in failed:
        print(f"{PROG}: {error}", file=sys.stderr)
    todo = [it for it in items if not it["error"] and not output_path(output_dir, it["name"]).exists()]
    skipped = len(items) - len(failed) - len(todo)
    done = 0
    t0 = time.monotonic()
    if todo:
        try:
            import ray
            import ray.data
        except ImportError as e:
            return _fail(f"Ray Data cannot be imported ({e}): pip install 'ray[data]'")
        try:
            ray.init(address=args.address, logging_level="WARNING", log_to_driver=False)
        except Exception as e:
            return _fail(f"cannot reach the Ray cluster ({args.address or 'default'}): "
                         + " ".join(str(e).split()))
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            actors = args.actors or max(1, cpus // args.threads_per_actor)
            actors = min(actors, len(todo))
            options = dict(beam_size=args.beam_size, language=args.language, task=args.task,
                           word_timestamps=args.word_timestamps, vad_filter=args.vad)
            ds = ray.data.from_items([{"path": it["path"], "name": it["name"]} for it in todo],
                                     override_num_blocks=len(todo))
            ds = ds.map_batches(
                Transcriber, batch_size=1, num_cpus=args.threads_per_actor,
                compute=ray.data.ActorPoolStrategy(size=actors),
                fn_constructor_kwargs=dict(model=args.model, threads=args.threads_per_actor, output_dir=output_dir,
                                           events=events, options=options, device=args.device,
                                           compute_type=args.compute_type))
            for row in ds.iter_rows():
                if row["status"] == "done":
                    done += 1
                elif row["status"] == "skipped":
                    skipped += 1
                else:
                    failed.append((row["path"], row["error"]))
                    error = row["error"] if row["path"] in row["error"] else f"{row['path']}: {row['error']}"
                    print(f"{PROG}: {error}", file=sys.stderr)
        except Exception as e:
            print(f"{PROG}: the run stopped: " + " ".join(str(e).split())[:2000], file=sys.stderr)
            print(f"{PROG}: {len(items)} files: done {done}, failed {len(failed)}, skipped {skipped}, "
                  f"unfinished {len(items) - done - len(failed) - skipped} (rerun to resume)")
            return 1
        finally:
            ray.shutdown()
    print(f"{PROG}: {len(items)} files: done {done}, failed {len(failed)}, skipped {skipped} "
          f"({time.monotonic() - t0:.1f} s); transcripts in {output_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
