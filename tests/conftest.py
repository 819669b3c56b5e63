"""Shared fixtures: the DPA 0.2.1 vectors and the kernel paths to run on; the
hypothesis profiles of the property tests.

Property tests (``test_properties.py``) run a fast profile by default
(``dpa-fast``: a few dozen examples each, the suite stays quick); the long
runs that hunt for new failures use ``dpa-long``::

    DPA_HYPOTHESIS_PROFILE=dpa-long python -m pytest -q tests/test_properties.py
    python -m pytest -q tests/test_properties.py --hypothesis-profile=dpa-long
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest
from hypothesis import HealthCheck, settings

import dpa

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


def _path_choices() -> list[str]:
    """'portable', each accelerated path alone, and all of them ('auto')."""
    avail = dpa.available_kernel_paths()
    return ["portable"] + list(avail) + (["auto"] if len(avail) > 1 else [])


@pytest.fixture(params=_path_choices())
def kernel_path(request):
    """Run the test on one kernel path, then restore the automatic choice."""
    previous = dpa.get_kernel_paths()
    dpa.set_kernel_paths(request.param)
    try:
        yield request.param
    finally:
        dpa.set_kernel_paths(list(previous) if previous else "portable")


def config_of(case: dict) -> dpa.AugmentationConfig:
    if "preset" in case:
        return dpa.get_preset(case["preset"])
    return dpa.AugmentationConfig.from_dict(case["config"])
