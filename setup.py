"""Build the compiled core ``dpa._core``.

Portable by construction: no ``-march=native``; CPU-specific code (AVX2,
SHA-NI) is compiled per function with target attributes and chosen at run
time.  ``-ffp-contract=off`` keeps ``low + span * u`` from becoming an FMA, so
results are bit-identical to CPython's ``random.uniform`` on every machine.

Environment switches:
  DPA_DEBUG=1   bounds checks on in Cython, -O0 -g in C (for debugging).
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("DPA_DEBUG") == "1"

link_args = []
if os.name == "nt":
    c_args = ["/O2", "/fp:precise"]
else:
    c_args = ["-O0", "-g"] if DEBUG else ["-O3"]
    c_args += ["-ffp-contract=off", "-fno-fast-math", "-std=gnu11", "-pthread"]
    link_args = ["-pthread"]

directives = {"language_level": 3}
if DEBUG:
    directives.update(boundscheck=True, wraparound=True, initializedcheck=True)

extensions = [
    Extension(
        "dpa._core",
        sources=["dpa/_core.pyx", "dpa/src/dpa_kernel.c", "dpa/src/philox_kernel.c",
                 "dpa/src/team.c"],
        depends=["dpa/src/dpa_kernel.h", "dpa/src/dpa_lanes.h", "dpa/src/philox_kernel.h",
                 "dpa/src/team.h", "dpa/_gather.pxi", "dpa/_shuffle.pxi", "dpa/_stats.pxi"],
        include_dirs=[np.get_include(), "dpa"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=c_args,
        extra_link_args=link_args,
    )
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
