"""The benchmark entry point runs and writes complete JSON (sizes tiny: not a timed test)."""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys

import pytest

import dpa
import dpa.bench
import dpa.seeding
from dpa.bench import __main__ as bench_main
from dpa.bench import core, machine

TINY = ["--ids", "20000", "--oracle-ids", "200", "--compressions", "20000", "--repeats", "2"]

MACHINE_KEYS = {
    "cpu_model", "sha_ni", "avx2", "avx512", "kernel_paths", "cores_available",
    "default_threads", "python", "numpy", "dpa", "git", "openssl",
}
#: A stand-in for ``openssl speed`` that prints its output line at once.
FAKE_OPENSSL = (sys.executable, "-c", "print('type 8192 bytes'); print('sha256   6400.00k')")


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _check_doc(doc: dict) -> None:
    m = doc["machine"]
    assert MACHINE_KEYS <= m.keys()
    assert m["sha_ni"] == ("sha-ni" in dpa.available_kernel_paths())
    assert m["avx2"] == ("avx2" in dpa.available_kernel_paths())
    assert m["cores_available"] >= 1 and m["default_threads"] >= 1
    assert m["dpa"] == dpa.__version__
    assert m["git"] is None or len(m["git"]["commit"]) == 40

    figures = {f["name"]: f for f in doc["figures"]}
    with_openssl = "openssl_sha256" in figures
    assert tuple(figures) == tuple(n for n in core.FIGURES
                                   if with_openssl or n not in core.OPENSSL_FIGURES)
    for f in figures.values():
        assert _positive(f["value"]), f
        assert f["unit"] in ("samples/s", "compressions/s", "calls/s")
        if f["baseline"] is not None:
            assert _positive(f["baseline_value"]) and _positive(f["ratio"]), f
            assert f["ratio"] == pytest.approx(f["value"] / f["baseline_value"])
    assert figures["generate_1_thread"]["baseline"] == "oracle"
    assert figures["generate_all_threads"]["params"]["threads"] == dpa.default_threads()
    assert figures["generate_portable_1_thread"]["params"]["kernel_paths"] == ["portable"]
    assert figures["sha256_limit_share"]["params"]["compressions_per_sample"] == 21
    assert "avx512" not in figures["generate_no_avx512_1_thread"]["params"]["kernel_paths"]
    assert figures["avx512_gain_1_thread"]["baseline"] == "generate_no_avx512_1_thread"
    assert figures["fill_1_id"]["baseline"] == "generate_1_thread"
    if with_openssl:
        bound = figures["openssl_sha256"]["value"] / 21
        assert figures["openssl_limit_share"]["baseline_value"] == pytest.approx(bound)


@pytest.fixture
def fake_openssl(monkeypatch):
    monkeypatch.setattr(core, "OPENSSL_COMMAND", FAKE_OPENSSL)


def test_command_line_writes_json(tmp_path):
    path = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "dpa.bench", "--quick", "--only", "core", *TINY, "--json", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "generate_1_thread" in done.stdout
    doc = json.loads(path.read_text())
    _check_doc(doc)
    assert doc["run"]["quick"] is True and doc["run"]["only"] == "core"


def test_kernel_paths_restored(fake_openssl):
    before = dpa.get_kernel_paths()
    core.run(True, ids=5000, oracle_ids=20, compressions=1000, repeats=1)
    assert dpa.get_kernel_paths() == before


def test_openssl_rate_and_its_absence(tmp_path):
    rate, line = core.openssl_sha256(FAKE_OPENSSL)
    assert rate == 6400.0 * 1000 / 64 and line == "sha256   6400.00k"
    assert core.openssl_sha256((str(tmp_path / "no-openssl"),)) == (
        None, f"{tmp_path / 'no-openssl'} not found")
    silent = (sys.executable, "-c", "print('no rates here')")
    assert core.openssl_sha256(silent)[0] is None
    # The section degrades to the figures without OpenSSL, and says why.
    figs = core.run(True, ids=2000, oracle_ids=10, compressions=500, repeats=1,
                    openssl=(str(tmp_path / "no-openssl"),))
    names = [f["name"] for f in figs]
    assert names == [n for n in core.FIGURES if n not in core.OPENSSL_FIGURES]
    assert "not found" in figs[1]["params"]["openssl"]
    figs = core.run(True, ids=2000, oracle_ids=10, compressions=500, repeats=2,
                    openssl=FAKE_OPENSSL)
    by = {f["name"]: f for f in figs}
    assert by["openssl_sha256"]["value"] == 100_000.0
    assert by["openssl_limit_share"]["baseline_value"] == pytest.approx(100_000.0 / 21)


def test_missing_section_is_skipped(tmp_path, monkeypatch, capsys, fake_openssl):
    sections = ("core", "no_such_section")
    monkeypatch.setattr(dpa.bench, "SECTIONS", sections)
    monkeypatch.setattr(bench_main, "SECTIONS", sections)
    path = tmp_path / "bench.json"
    assert bench_main.main(["--quick", *TINY, "--json", str(path)]) == 0
    doc = json.loads(path.read_text())
    _check_doc(doc)
    assert "no_such_section" in doc["skipped"]
    assert "skipped" in capsys.readouterr().out
    assert bench_main.main(["--only", "no_such_section"]) == 1


def test_bad_sizes_rejected():
    with pytest.raises(ValueError, match="ids should be a positive integer"):
        core.run(True, ids=0)
    with pytest.raises(SystemExit):
        bench_main.main(["--repeats", "0"])


@pytest.mark.parametrize("depth", [1, 10, 93, 300])
def test_compressions_per_sample(depth):
    # One first block, then per step the sample's 64 hex bytes and the kernel's
    # constant tail blocks (fib(i) and padding: more than one block past fib(~260)).
    _, start = dpa._core.chain_tail_blocks(dpa.seeding.fib_strings(depth))
    assert core.compressions_per_sample(depth) == 1 + depth + int(start[-1])
    if depth == 10:
        assert core.compressions_per_sample(depth) == 21


def test_git_absent(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(machine.subprocess, "run", no_git)
    assert machine.git_revision() is None
    assert machine.machine_facts()["git"] is None


def test_cpu_model_unreadable(tmp_path):
    assert machine.cpu_model(str(tmp_path / "missing")) == (platform.processor() or None)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n")
    assert machine.cpu_model(str(info)) == "Test CPU 9000"


def test_hotpath_rows_are_complete():
    """The hot-path section's rows: every figure with its baseline, ratio and target
    (tiny sizes: not a timed test)."""
    from dpa.bench import hotpath

    rows = hotpath.run(True, dpa=8192, philox=70_000, fresh=100_000, calls=3000,
                       random_calls=50, oracle_calls=50, one_id_calls=500, overlap_batches=2,
                       rss=100_000, rounds=1)
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))
    expected = {"dpa_bulk", "philox_bulk", "philox_fresh", "philox_one_id",
                "gen_augmentation_params_consecutive", "gen_augmentation_params_random",
                "dpa_overlap_b4096", "philox_stream_peak_rss", "philox_memory_optimized_default",
                "dpa_loop_b256", "dpa_loop_b4096"}
    expected |= {f"dpa_{s}_b{b}" for s in ("sequential", "round_robin", "memory_optimized")
                 for b in (8, 32, 256, 4096)}
    expected |= {f"philox_{s}_b{b}" for s in ("sequential", "round_robin", "memory_optimized")
                 for b in (256, 4096, 65536)}
    assert expected <= set(names)
    for r in rows:
        assert r["bench"] == "hotpath" and r["unit"] and r["what"]
        if r["baseline"] is not None and r["name"] != "philox_stream_peak_rss":
            assert _positive(r["value"]) and _positive(r["baseline_value"])
            assert r["ratio"] == pytest.approx(r["value"] / r["baseline_value"])
        if r["target"] is not None and r["value"] is not None:
            assert isinstance(r["met"], bool)
    with pytest.raises(ValueError, match="unknown size"):
        hotpath.run(True, bogus=1)


def test_schemes_section_rows():
    """The philox rows, each with its baseline measured in the same run (tiny
    sizes: not a timed test)."""
    from dpa.bench import schemes

    before = dpa.get_kernel_paths()
    rows = schemes.run(True, repeats=1, n=20_000)
    assert dpa.get_kernel_paths() == before
    pairs = {(r["name"], r["baseline"]) for r in rows}
    assert {("philox_1_thread", "philox_no_avx512_1_thread"),
            ("philox_all_threads", "memory_write_limit_all_threads"),
            ("philox_all_threads", "philox_no_avx512_all_threads")} <= pairs
    for r in rows:
        assert _positive(r["value"]), r
        if r["baseline"] is not None:
            assert r["ratio"] == pytest.approx(r["value"] / r["baseline_value"])
    off = next(r for r in rows if r["name"] == "philox_no_avx512_1_thread")
    assert "avx512" not in off["params"]["kernel_paths"]
