"""Builds the C core (csrc/) as deepdream._deepdream against NumPy and OpenBLAS.

BLAS: a system OpenBLAS found by pkg-config when there is one (DEEPDREAM_BLAS=system forces it,
DEEPDREAM_BLAS=scipy-openblas32 skips it); otherwise the scipy-openblas32 wheel, whose symbols
carry the prefix "scipy_". The wheel's library is found at run time through an rpath relative to
the installed extension, and deepdream/__init__.py loads it first in any case.
"""
import glob
import os
import platform
import shlex
import subprocess

import numpy
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

WEIGHTS = ["weights/inception_v3.ddw", "weights/README.md"]


class build_py_with_weights(build_py):
    """Ships the converted weights (kept in weights/ at the top of the repo) as deepdream/data/."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "deepdream", "data")
        self.mkpath(target)
        for path in WEIGHTS:
            self.copy_file(path, target)


def system_openblas():
    try:
        out = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    flags = shlex.split(out)
    return {
        "include_dirs": [f[2:] for f in flags if f.startswith("-I")],
        "library_dirs": [f[2:] for f in flags if f.startswith("-L")],
        "libraries": [f[2:] for f in flags if f.startswith("-l")],
        "define_macros": [],
        "extra_link_args": [],
    }


def wheel_openblas():
    import scipy_openblas32

    return {
        "include_dirs": [scipy_openblas32.get_include_dir()],
        "library_dirs": [scipy_openblas32.get_lib_dir()],
        "libraries": [scipy_openblas32.get_library()],
        "define_macros": [("DD_SCIPY_OPENBLAS", "1")],
        # installed side by side in site-packages: deepdream/ and scipy_openblas32/lib/
        "extra_link_args": ["-Wl,-rpath,$ORIGIN/../scipy_openblas32/lib"],
    }


choice = os.environ.get("DEEPDREAM_BLAS", "auto")
blas = None if choice == "scipy-openblas32" else system_openblas()
if blas is None and choice == "system":
    raise SystemExit("DEEPDREAM_BLAS=system but pkg-config finds no openblas")
if blas is None:
    blas = wheel_openblas()

# OpenMP: the core's own threads (OpenBLAS is kept single-threaded inside them).
extra_compile = ["-std=c11", "-O3", "-fopenmp", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
if platform.machine().lower() in ("x86_64", "amd64"):
    # The AVX-512 clones of the hot loops (csrc/simd.h) use 512-bit vectors, not the 256-bit ones
    # the compilers prefer by default: the same arithmetic lane by lane, 2-3% faster per step.
    extra_compile.append("-mprefer-vector-width=512")
extra_compile += shlex.split(os.environ.get("DEEPDREAM_CFLAGS", ""))
extra_link = ["-fopenmp"] + blas["extra_link_args"] + shlex.split(os.environ.get("DEEPDREAM_LDFLAGS", ""))

setup(
    packages=["deepdream"],
    package_data={"deepdream": ["py.typed", "data/coffee.png", "data/LICENSES.md"]},
    cmdclass={"build_py": build_py_with_weights},
    ext_modules=[
        Extension(
            "deepdream._deepdream",
            sources=sorted(glob.glob("csrc/*.c")),
            depends=sorted(glob.glob("csrc/*.h")),
            include_dirs=[numpy.get_include()] + blas["include_dirs"],
            library_dirs=blas["library_dirs"],
            libraries=blas["libraries"],
            define_macros=blas["define_macros"],
            extra_compile_args=extra_compile,
            extra_link_args=extra_link,
        )
    ],
)
