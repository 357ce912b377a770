"""make install / make uninstall (the Makefile's install section) and amanuensis.pc.

Installs into a temporary PREFIX, compiles a ten-line C program with `pkg-config --cflags --libs
amanuensis`, runs it on samples/jfk.wav against the installed shared library, checks that the
installed program and library find the installed VAD weights (share/amanuensis/), then uninstalls
and requires that nothing is left under PREFIX.

The build directory is that of $AM_BINARY (conftest.py) when set, else build/."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

CC = os.environ.get("CC") or "cc"
VAD_FILE = "silero-vad-v6.2.0-ggml.bin"

PROGRAM = r"""
#include <amanuensis.h>
#include <stdio.h>
int main(int argc, char **argv) {
    char err[256]; am_model *model; am_result *res; float *pcm; size_t n;
    am_params p = am_params_default(); p.n_threads = 2; p.vad = argc > 3 ? AM_VAD_SILERO : AM_VAD_OFF;
    if (am_model_load(argv[1], &model, err, sizeof err) || am_audio_read_file(argv[2], &pcm, &n, err, sizeof err)
        || am_transcribe(model, pcm, n, &p, &res, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    printf("%s\n%s\n", am_version(), am_result_text(res));
    am_result_free(res); am_audio_free(pcm); am_model_free(model); return 0;
}
"""


def _build_dir():
    env = os.environ.get("AM_BINARY")
    return Path(env).resolve().parent if env else REPO / "build"


def _make(target, prefix, check=True):
    r = subprocess.run(["make", "--no-print-directory", f"BUILD={_build_dir()}", target, f"PREFIX={prefix}"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError(f"make {target} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("AMANUENSIS_VAD_MODEL", "LD_LIBRARY_PATH")}
    env.update(extra)
    return env


def _version():
    import re
    return re.search(r'#define\s+AM_VERSION\s+"([^"]+)"', (REPO / "include" / "amanuensis.h").read_text()).group(1)


@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="pkg-config is not installed")
def test_install_pkg_config_uninstall(tmp_path, model_dir):
    prefix = tmp_path / "prefix"
    _make("install", prefix)
    version = _version()
    lib = prefix / "lib"
    expected = {
        "bin/amanuensis", "lib/libamanuensis.a", f"lib/libamanuensis.so.{version}",
        f"lib/libamanuensis.so.{version.split('.')[0]}", "lib/libamanuensis.so", "include/amanuensis.h",
        "lib/pkgconfig/amanuensis.pc", f"share/amanuensis/{VAD_FILE}",
    }
    installed = {str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file() or p.is_symlink()}
    assert expected <= installed, f"missing: {expected - installed}"
    assert installed - expected <= {"share/amanuensis/installed-dirs"}, f"unexpected: {installed - expected}"
    # the versioned library, its soname link and the development link
    soname = f"libamanuensis.so.{version.split('.')[0]}"
    assert os.readlink(lib / soname) == f"libamanuensis.so.{version}"
    assert os.readlink(lib / "libamanuensis.so") == soname
    dyn = subprocess.run(["readelf", "-d", str(lib / f"libamanuensis.so.{version}")], capture_output=True,
                         text=True, check=True).stdout
    assert f"Library soname: [{soname}]" in dyn

    # pkg-config
    env = _clean_env(PKG_CONFIG_PATH=str(lib / "pkgconfig"))
    pc = lambda *a: subprocess.run(["pkg-config", *a, "amanuensis"], env=env, capture_output=True, text=True,
                                   check=True).stdout.split()
    assert pc("--modversion") == [version]
    flags = pc("--cflags", "--libs")
    assert f"-I{prefix}/include" in flags and f"-L{lib}" in flags and "-lamanuensis" in flags
    static = pc("--libs", "--static")
    assert "-lz" in static and "-lm" in static

    # a program built against the installed tree only (cwd away from the repository)
    work = tmp_path / "work"
    work.mkdir()
    (work / "hello.c").write_text(PROGRAM)
    subprocess.run([CC, "hello.c", "-o", "hello", *flags], cwd=work, env=env, check=True)
    run_env = _clean_env(LD_LIBRARY_PATH=str(lib))
    ldd = subprocess.run(["ldd", "hello"], cwd=work, env=run_env, capture_output=True, text=True).stdout
    assert str(lib / soname) in ldd, ldd
    jfk = REPO / "samples" / "jfk.wav"
    r = subprocess.run(["./hello", str(model_dir), str(jfk)], cwd=work, env=run_env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == version
    assert "ask not what your country can do for you" in out[1]

    # the VAD weights are found in share/amanuensis/ by the installed library and program: a corrupt
    # copy there must be the file they report, the real one must work
    weights = prefix / "share" / "amanuensis" / VAD_FILE
    good = weights.read_bytes()
    weights.write_bytes(b"not a ggml file")
    r = subprocess.run(["./hello", str(model_dir), str(jfk), "vad"], cwd=work, env=run_env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1 and VAD_FILE in r.stderr, r.stderr
    r = subprocess.run([str(prefix / "bin" / "amanuensis"), "transcribe", "-m", str(model_dir), "-t", "2", "--vad",
                        str(jfk)], cwd=work, env=run_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and VAD_FILE in r.stderr, r.stderr
    weights.write_bytes(good)
    r = subprocess.run(["./hello", str(model_dir), str(jfk), "vad"], cwd=work, env=run_env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "ask not what your country" in r.stdout, r.stderr
    r = subprocess.run([str(prefix / "bin" / "amanuensis"), "transcribe", "-m", str(model_dir), "-t", "2", "--vad",
                        str(jfk)], cwd=work, env=run_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ask not what your country" in r.stdout, r.stderr

    _make("uninstall", prefix)
    left = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*"))
    assert left == [], f"left after make uninstall: {left}"
    assert not prefix.exists(), "make install created PREFIX; make uninstall should remove it once empty"


def test_uninstall_keeps_directories_it_did_not_create(tmp_path):
    """A PREFIX that already has bin/ and lib/ (with other files) keeps them after uninstall."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / "bin" / "other-tool").write_text("#!/bin/sh\n")
    _make("install", prefix)
    _make("uninstall", prefix)
    left = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*"))
    assert left == ["bin", "bin/other-tool", "lib"]
