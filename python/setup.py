"""Build of the amanuensis Python package (configuration in pyproject.toml).

build_py runs the repository's Makefile (`make lib` into the build's temporary folder) and puts
libamanuensis.so, the Silero VAD weights (data/) and _build_info.py (the version, and the models/
folder of the checkout the package was built from) into the package.  The wheel is platform-specific
(it carries a shared library) but does not depend on the Python ABI: the binding is ctypes.

AMANUENSIS_MAKE_ARGS adds arguments to make (for example "FFMPEG=0" for a WAV-only build)."""
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HEADER = REPO / "include" / "amanuensis.h"
VAD_WEIGHTS = REPO / "data" / "silero-vad-v6.2.0-ggml.bin"


def _version():
    if not HEADER.is_file():
        raise SystemExit(f"amanuensis: {HEADER} not found: build the package from a checkout of the repository "
                         "(pip install ./python), not from an sdist")
    m = re.search(r'#define\s+AM_VERSION\s+"([^"]+)"', HEADER.read_text(encoding="utf-8"))
    if not m:
        raise SystemExit(f"amanuensis: AM_VERSION not found in {HEADER}")
    return m.group(1)


class BuildWithLibrary(build_py):
    """build_py, plus the C library built by the Makefile and the data files it needs."""

    def run(self):
        super().run()
        build_temp = Path(self.get_finalized_command("build").build_temp).resolve()
        c_build = build_temp / "amanuensis-c"
        jobs = str(os.cpu_count() or 1)
        cmd = ["make", "-C", str(REPO), f"BUILD={c_build}", "-j", jobs, "lib"]
        cmd += shlex.split(os.environ.get("AMANUENSIS_MAKE_ARGS", ""))
        self.announce("building the C library: " + " ".join(cmd), level=2)
        subprocess.run(cmd, check=True)
        package = Path(self.build_lib) / "amanuensis"
        package.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(c_build / "libamanuensis.so", package / "libamanuensis.so")
        (package / "data").mkdir(exist_ok=True)
        shutil.copyfile(VAD_WEIGHTS, package / "data" / VAD_WEIGHTS.name)
        (package / "_build_info.py").write_text(
            '"""Written by setup.py when the package was built."""\n'
            f"VERSION = {_version()!r}\n"
            "# the models/ folder of the checkout the package was built from (looked in last)\n"
            f"SOURCE_MODELS_DIR = {str(REPO / 'models')!r}\n", encoding="utf-8")


class BinaryDistribution(Distribution):
    """A wheel with a shared library in it is tagged for the platform."""

    def has_ext_modules(self):
        return True


setup(version=_version(), cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
