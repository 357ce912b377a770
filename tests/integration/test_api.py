"""The public API's hygiene: include/amanuensis.h is the one public header, and the shared library
exports exactly the functions it declares (AM_API), all named am_*; the header compiles on its own
(C and C++), its usage example compiles and links against build/libamanuensis.so, and am_version()
and the CLI's --version report AM_VERSION.

AM_SHARED_LIB overrides the shared library's path (default build/libamanuensis.so)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "include" / "amanuensis.h"
CC = os.environ.get("CC") or "cc"


def _shared_lib():
    p = Path(os.environ.get("AM_SHARED_LIB") or REPO / "build" / "libamanuensis.so")
    if not p.is_file():
        pytest.fail(f"{p} is not built: run `make all` first")
    return p


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _header_code():
    """The header as C sees it, preprocessed without its #includes and with AM_API kept as a word."""
    text = "\n".join(ln for ln in HEADER.read_text(encoding="utf-8").splitlines()
                     if not ln.lstrip().startswith("#include"))
    r = subprocess.run([CC, "-E", "-P", "-x", "c", "-DAM_API=AM_API", "-"], input=text,
                       capture_output=True, text=True, check=True)
    return _strip_comments(r.stdout)


def _statements(code):
    """Top-level statements of the header (struct/enum bodies kept inside their statement)."""
    out, depth, cur = [], 0, []
    for ch in code:
        cur.append(ch)
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            out.append(" ".join("".join(cur).split()))
            cur = []
    return out


def _name_of(stmt):
    m = re.search(r"\b(am_\w+)\s*\(", stmt)
    return m.group(1) if m else None


def header_functions():
    """(every function the header declares, those of them declared with AM_API)."""
    declared, api = set(), set()
    for stmt in _statements(_header_code()):
        if stmt.startswith("typedef") or stmt.startswith("extern \"C\""):
            continue
        name = _name_of(stmt)
        if name is None:
            continue
        declared.add(name)
        if stmt.startswith("AM_API "):
            api.add(name)
    return declared, api


def am_version_macro():
    m = re.search(r'#define\s+AM_VERSION\s+"([^"]+)"', HEADER.read_text(encoding="utf-8"))
    assert m, "AM_VERSION is not defined in include/amanuensis.h"
    return m.group(1)


def exported_symbols(lib):
    """{name: nm type letter} of the defined dynamic symbols of `lib`."""
    r = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out[parts[2].split("@")[0]] = parts[1]
    return out


def test_every_header_function_is_am_api():
    declared, api = header_functions()
    assert len(declared) >= 20, f"parsed only {sorted(declared)} from {HEADER}"
    assert declared == api, f"declared without AM_API: {sorted(declared - api)}"
    assert all(n.startswith("am_") for n in api)
    assert "am_version" in api and "am_status_string" in api


def test_shared_library_exports_exactly_the_public_api():
    syms = exported_symbols(_shared_lib())
    functions = {n for n, t in syms.items() if t in "TtWi"}
    leaked = sorted(n for n in functions if not n.startswith("am_"))
    assert not leaked, f"{len(leaked)} internal functions are exported: {leaked[:20]}"
    _, api = header_functions()
    missing = sorted(api - functions)
    assert not missing, f"public functions missing from {_shared_lib().name}: {missing}"
    internal = sorted(functions - api)
    assert not internal, f"am_* functions exported but not declared in amanuensis.h: {internal}"
    # no data symbols either (no global state)
    data = sorted(n for n, t in syms.items() if t not in "TtWi" and not n.startswith("_"))
    assert not data, f"exported data symbols: {data}"


def _fallible_signatures():
    """{name: return type} of the header's functions."""
    out = {}
    for stmt in _statements(_header_code()):
        if stmt.startswith("AM_API "):
            name = _name_of(stmt)
            out[name] = stmt[len("AM_API "):stmt.index(name)].strip()
    return out


def test_fallible_functions_return_am_status():
    """Functions that take (char *err, size_t err_size) or return an AM_E_* code return am_status."""
    sigs = _fallible_signatures()
    code = _header_code()
    for stmt in _statements(code):
        if stmt.startswith("AM_API ") and "err_size" in stmt:
            name = _name_of(stmt)
            assert sigs[name] == "am_status", f"{name} returns {sigs[name]}, not am_status"
    for name in ("am_write_result", "am_write_result_ex", "am_backend_device_describe"):
        if name in sigs:
            assert sigs[name] == "am_status", f"{name} returns {sigs[name]}, not am_status"
    assert re.search(r"am_status_string\s*\(\s*am_status\b", code)


def _compile(tmp_path, source, *extra, lang="c", compiler=None):
    src = tmp_path / ("t.c" if lang == "c" else "t.cc")
    src.write_text(source, encoding="utf-8")
    compiler = compiler or (CC if lang == "c" else "c++")
    cmd = [compiler, str(src), "-I", str(REPO / "include"), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    return r


@pytest.mark.parametrize("std", ["c99", "c11"])
def test_header_compiles_alone_pedantic(tmp_path, std):
    _compile(tmp_path, '#include "amanuensis.h"\nint main(void) { return AM_OK; }\n',
             f"-std={std}", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only")


def test_header_compiles_as_cplusplus(tmp_path):
    if shutil.which("c++") is None:
        pytest.skip("no C++ compiler")
    _compile(tmp_path, '#include "amanuensis.h"\nint main() { am_params p = am_params_default(); '
                       'p.vad = AM_VAD_ENERGY; p.frontend = AM_FRONTEND_F32; return p.vad == AM_VAD_OFF; }\n',
             "-Wall", "-Wextra", "-Werror", "-fsyntax-only", lang="c++")


def usage_example():
    """The usage example in the header's opening comment, as C statements."""
    text = HEADER.read_text(encoding="utf-8")
    head = text[:text.index("*/")]
    lines = [ln[len(" *     "):] for ln in head.splitlines() if ln.startswith(" *     ")]
    assert any("am_transcribe" in ln for ln in lines), "no usage example found at the top of the header"
    return "\n".join(lines)


def test_usage_example_compiles_and_links(tmp_path):
    lib = _shared_lib()
    src = ("#include <stdio.h>\n#include \"amanuensis.h\"\n"
           "int main(void) {\n" + usage_example() + "\n    return 0;\n}\n")
    _compile(tmp_path, src, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(tmp_path / "example"),
             "-L", str(lib.parent), "-l:" + lib.name)


def test_am_version_and_status_strings(tmp_path):
    lib = _shared_lib()
    src = r'''#include <stdio.h>
#include <string.h>
#include "amanuensis.h"
int main(void) {
    printf("%s\n", am_version());
    for (int s = 0; s >= -9; s--) printf("%d %s\n", s, am_status_string((am_status)s));
    printf("%s\n", am_status_string((am_status)-100));
    return strcmp(am_version(), AM_VERSION) != 0;
}
'''
    exe = tmp_path / "version"
    _compile(tmp_path, src, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
             "-L", str(lib.parent), "-l:" + lib.name, f"-Wl,-rpath,{lib.parent}")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == am_version_macro()
    names = [ln.split(" ", 1)[1] for ln in lines[1:11]]
    assert len(set(names)) == 10, names          # every code has its own name
    assert "unknown error" not in names
    assert "backend" in names[9]                 # AM_E_BACKEND = -9
    assert lines[11] == "unknown error"


def test_cli_version_is_am_version(binary):
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.strip() == f"amanuensis {am_version_macro()}"


def test_no_backend_internals_outside_the_backend():
    """decode/, model/ and everything else reach a backend only through src/backend/backend.h and
    step.h: no file outside src/backend includes a backend's own headers (the unit tests of the CPU
    kernels in tests/unit are the exception: they test those kernels).  One more, named here: the
    speaker networks in src/diarize/ have no backend path yet and run on the host with the CPU
    backend's GEMM, element-wise and thread-pool kernels (gemm_int8.h, kernels.h, attention.h's
    gemm_nn_f32, vmath.h, threadpool.h) and nothing else of it."""
    host_kernels = {"backend/cpu/gemm_int8.h", "backend/cpu/kernels.h", "backend/cpu/threadpool.h",
                    "backend/cpu/attention.h", "backend/cpu/vmath.h"}
    offenders = []
    for root in ("src", "bench", "tests/tools", "tests/fuzz"):
        for path in (REPO / root).rglob("*.[ch]"):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith("src/backend/"):
                continue
            for inc in re.findall(r'#include\s+"(backend/[a-z0-9_]+/[^"]+)"', path.read_text(errors="replace")):
                if not (rel.startswith("src/diarize/") and inc in host_kernels):
                    offenders.append(f"{rel}: {inc}")
    assert offenders == []
