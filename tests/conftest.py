"""Shared fixtures: the DPA 0.2.1 vectors and the kernel paths to run on; the
hypothesis profiles of the property tests.

Kernel tests run on every path this CPU has (``kernel_path`` or
``each_kernel_path``); the session header names them, and the summary at the
end counts the tests that ran on each, so a run on a machine without, say,
AVX-512 says so.

Property tests (``test_properties.py``) run a fast profile by default
(``dpa-fast``: a few dozen examples each, the suite stays quick); the long
runs that hunt for new failures use ``dpa-long``::

    DPA_HYPOTHESIS_PROFILE=dpa-long python -m pytest -q tests/test_properties.py
    python -m pytest -q tests/test_properties.py --hypothesis-profile=dpa-long
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import pathlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import dpa
from dpa import _core

_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile("dpa-fast", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("dpa-long", max_examples=5000, deadline=None,
                          suppress_health_check=_QUIET, print_blob=True)
settings.load_profile(os.environ.get("DPA_HYPOTHESIS_PROFILE", "dpa-fast"))

ROOT = pathlib.Path(__file__).resolve().parent.parent
_VECTOR_DIRS = [ROOT / "tests" / "data", ROOT.parent / "shared" / "vectors"]


def vectors_dir() -> pathlib.Path:
    for d in _VECTOR_DIRS:
        if (d / "dpa-0.2.1-vectors.json").exists():
            return d
    raise FileNotFoundError("dpa-0.2.1-vectors.json not found in " + ", ".join(map(str, _VECTOR_DIRS)))


@pytest.fixture(scope="session")
def vectors() -> dict:
    return json.loads((vectors_dir() / "dpa-0.2.1-vectors.json").read_text())


def path_choices() -> list[str]:
    """'portable', each accelerated path alone, all of them ('auto') and, on a
    CPU with AVX-512, 'avx2,sha-ni': the best path of a CPU without it."""
    avail = dpa.available_kernel_paths()
    choices = ["portable"] + list(avail) + (["auto"] if len(avail) > 1 else [])
    if "avx512" in avail and {"avx2", "sha-ni"} <= set(avail):
        choices.append("avx2,sha-ni")
    return choices


#: Tests that ran on each kernel path choice (``pytest_terminal_summary``).
PATH_RUNS: collections.Counter = collections.Counter()


@contextlib.contextmanager
def on_kernel_path(choice: str) -> Iterator[str]:
    """Set the kernel path ``choice`` (``set_kernel_paths`` syntax), then restore
    the previous one."""
    previous = dpa.get_kernel_paths()
    dpa.set_kernel_paths(choice)
    PATH_RUNS[choice] += 1
    try:
        yield choice
    finally:
        dpa.set_kernel_paths(list(previous) if previous else "portable")


def each_kernel_path() -> Iterator[str]:
    """Every choice of ``path_choices()`` in turn, inside a test (for hypothesis
    tests, which cannot take function-scoped fixtures): ``for p in
    each_kernel_path(): ...`` runs the body on each path."""
    for choice in path_choices():
        with on_kernel_path(choice):
            yield choice


@pytest.fixture(params=path_choices())
def kernel_path(request):
    """Run the test on one kernel path, then restore the automatic choice."""
    with on_kernel_path(request.param) as choice:
        yield choice


def _chain_choice_line() -> str | None:
    bit, avx512_ns, shani_ns = _core.chain_choice()
    if not (avx512_ns and shani_ns):
        return None
    name = "avx512" if bit == _core.PATH_AVX512 else "sha-ni"
    return (f"dpa scheme's hash chain where avx512 and sha-ni are both on: {name} "
            f"(measured for 16 lanes: AVX-512 {avx512_ns / 1000:.2f} us, "
            f"SHA-NI {shani_ns / 1000:.2f} us)")


def pytest_report_header(config):
    avail = dpa.available_kernel_paths()
    lines = [f"dpa kernel paths on this CPU and OS: {', '.join(avail) or 'none (portable only)'}; "
             f"kernel tests run on: {', '.join(path_choices())}"]
    chain = _chain_choice_line()
    if chain:
        lines.append(chain)
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if PATH_RUNS:
        order = path_choices() + sorted(set(PATH_RUNS) - set(path_choices()))
        ran = ", ".join(f"{p} {PATH_RUNS[p]}" for p in order if PATH_RUNS[p])
        missing = [p for p in path_choices() if not PATH_RUNS[p]]
        terminalreporter.write_line(
            f"dpa kernel paths exercised (test runs per path choice): {ran}"
            + (f"; not run: {', '.join(missing)}" if missing else ""))


#: Bounds whose span ``high - low`` stays below the largest float (1.797e308).
WIDE = 8.9e307


@st.composite
def extreme_ranges(draw):
    """Ranges at the edges: float spans near the float limit, integers far
    beyond 2**53 (their difference exact, then rounded once), spans of one
    ulp and of one integer where ints no longer fit a double, and ordinary
    ones."""
    kind = draw(st.sampled_from(["plain", "float_wide", "int_huge", "ulp", "int_adjacent"]))
    if kind == "plain":
        a = draw(st.one_of(st.floats(min_value=-1e6, max_value=1e6),
                           st.integers(min_value=-10**6, max_value=10**6)))
        return (a, a + draw(st.one_of(st.floats(min_value=1e-3, max_value=1e6),
                                      st.integers(min_value=1, max_value=10**6))))
    if kind == "float_wide":
        low = draw(st.floats(min_value=-WIDE, max_value=WIDE))
        high = draw(st.floats(min_value=low, max_value=WIDE))
        return (low, high if high > low else math.nextafter(low, math.inf))
    if kind == "int_huge":
        low = draw(st.integers(min_value=-(8 * 10**307), max_value=8 * 10**307 - 1))
        return (low, draw(st.integers(min_value=low + 1, max_value=8 * 10**307)))
    if kind == "ulp":
        low = draw(st.floats(min_value=-1e300, max_value=1e300))
        return (low, math.nextafter(low, math.inf))
    low = draw(st.integers(min_value=-(2**80), max_value=2**80))
    return (low, low + 1)


def config_of(case: dict) -> dpa.AugmentationConfig:
    if "preset" in case:
        return dpa.get_preset(case["preset"])
    return dpa.AugmentationConfig.from_dict(case["config"])
