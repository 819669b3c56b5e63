"""The bench's torch section runs and reports every figure with its baseline (tiny sizes:
not a timed test), and degrades to "skipped" without Kornia or torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")

from dpa.bench import torch as bench  # noqa: E402

TINY = dict(repeats=1, batch=2, side=24, loader_samples=128, loader_side=8)
BASELINES = {"pixel_noise": "torch_randn", "pixel_noise_1_thread": "torch_randn",
             "pixel_noise_small": "torch_randn_small",
             "loader_epoch": "loader_epoch_rand", "loader_only": "loader_only_plain"}


def _check(rows):
    by_name = {r["name"]: r for r in rows}
    for name, base in BASELINES.items():
        row = by_name[name]
        assert row["baseline"] == base and row["value"] > 0
        assert row["ratio"] == pytest.approx(row["value"] / by_name[base]["value"])
    return by_name


def test_section_reports_every_figure_against_its_baseline(monkeypatch):
    rows = None
    try:
        import kornia  # noqa: F401
    except ImportError:
        pass
    else:
        rows = _check(bench.run(True, **TINY))
        assert rows["apply_params"]["baseline"] == "kornia_pipeline"
    monkeypatch.setattr(bench, "_kornia_pipeline", lambda: (None, "kornia not installed (x)"))
    rows = _check(bench.run(True, **TINY))
    assert rows["apply_params"]["baseline"] is None
    assert rows["apply_params"]["params"]["kornia_pipeline"] == "skipped: kornia not installed (x)"


def test_section_is_skipped_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from dpa.bench.__main__ import main\n"
            "sys.exit(main(['--only', 'torch']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1  # the one section asked for did not run
    assert "[torch] skipped: ImportError: torch not installed" in proc.stdout
