"""The core figures: ``generate`` against the pure-Python oracle and the SHA-256 limits.

All figures use the ``"moderate"`` preset (DPA's defaults, chain depth 10)
and ids ``range(n)``; every rate is ``count / median seconds`` over
``repeats`` timed runs.  The measurements take turns (one untimed warm-up
round, then ``repeats`` timed rounds), so that drifting machine load hits
them alike and the ratios between them hold up.

Figures, in order (``ratio`` is always ``value / baseline_value``, both
measured in this run):

``oracle``
    ``dpa._reference.params`` per sample, one thread: DPA's algorithm in
    plain Python (hashlib and ``random.Random``), what DPA itself costs.
``generate_1_thread``, ``generate_all_threads``
    ``dpa.generate(range(n), config, out=buf, threads=...)`` into a reused
    buffer, with 1 thread and with ``dpa.default_threads()``; baseline:
    ``oracle``.
``generate_portable_1_thread``
    The same with the portable kernel forced (``set_kernel_paths("portable")``,
    then the previous choice restored); baseline: ``generate_1_thread``, so
    ``1 / ratio`` is what the run-time dispatch buys.
``generate_no_avx512_1_thread``, ``generate_no_avx512_all_threads``
    The same with the paths in effect minus ``"avx512"`` (on a CPU with
    AVX-512 and SHA-NI: the AVX2 + SHA-NI path, what a CPU without AVX-512
    runs); no baseline.
``fill_1_id``
    ``dpa._core.fill`` of one id with the seeding's compiled kernel
    (``dpa.Seeding().kernel(config)``), calls per second, 1 thread: what a
    single-id call costs in the kernel and its Cython wrapper; baseline
    ``generate_1_thread``, so ``1 / ratio`` is how many bulk samples one id
    costs.
``avx512_gain_1_thread``, ``avx512_gain_all_threads``
    ``generate_1_thread`` (``generate_all_threads``) against
    ``generate_no_avx512_1_thread`` (``..._all_threads``): what the AVX-512
    path gains, on one core and on all (where AVX-512 clock effects would
    show as a smaller gain).
``sha256_compress``, ``sha256_compress_portable``
    ``dpa._core.sha256_compress_loop``: SHA-256 compressions per second, one
    thread, each compression depending on the previous one, with the
    accelerated paths in effect and with the portable path.
``sha256_limit_share``, ``sha256_limit_share_portable``
    The 1-thread ``generate`` rate (accelerated, portable) against the
    SHA-256 limit: the compression rate divided by the compressions one
    sample needs (21 at depth 10).  ``ratio`` is the kernel's share of the
    limit.  The compression loop is a dependent chain (latency bound) while
    the kernel interleaves independent samples and pre-expands the constant
    blocks' message schedules, so the share can exceed 1: the chain rate is
    then a reference point, not a ceiling.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _core, _reference
from ..config import get_preset
from ..engine import (default_threads, generate, get_kernel_paths, kernel_path_bits,
                      set_kernel_paths)
from ..records import PARAM_DTYPE
from ..seeding import Seeding

__all__ = ["SIZES", "FIGURES", "OPENSSL_FIGURES", "compressions_per_sample",
           "openssl_sha256", "run"]

#: Work per figure: full run and ``--quick``.
SIZES: dict[str, dict[str, int]] = {
    "full": {"ids": 1_000_000, "oracle_ids": 20_000, "compressions": 2_000_000, "repeats": 5},
    "quick": {"ids": 200_000, "oracle_ids": 5_000, "compressions": 1_000_000, "repeats": 3},
}

#: Names of the figures ``run`` returns, in order (``OPENSSL_FIGURES`` only
#: where the ``openssl`` command works).
FIGURES = (
    "oracle",
    "generate_1_thread",
    "generate_all_threads",
    "generate_portable_1_thread",
    "generate_no_avx512_1_thread",
    "generate_no_avx512_all_threads",
    "fill_1_id",
    "avx512_gain_1_thread",
    "avx512_gain_all_threads",
    "sha256_compress",
    "sha256_compress_portable",
    "sha256_limit_share",
    "sha256_limit_share_portable",
    "openssl_sha256",
    "openssl_limit_share",
    "openssl_limit_share_no_avx512",
)
OPENSSL_FIGURES = ("openssl_sha256", "openssl_limit_share", "openssl_limit_share_no_avx512")

#: The OpenSSL command whose rate is the single-stream SHA-256 baseline.
#: ``-elapsed``: divide by wall-clock time, as every figure here does
#: (``openssl speed`` divides by its CPU user time by default, which on a
#: busy machine would set CPU time against the wall-clock time of the rest).
OPENSSL_COMMAND = ("openssl", "speed", "-elapsed", "-seconds", "1", "-bytes", "8192", "sha256")

PRESET = "moderate"


def compressions_per_sample(depth: int, id_digits: int = 19, prefix_len: int = 0) -> int:
    """SHA-256 compressions one sample needs at chain depth ``depth``.

    One per 64-byte block: the first message ``prefix + decimal(id)`` plus
    padding (one block for any int64 id without prefix), then for each step
    ``i`` the 64 hex characters, ``decimal(fib(i))`` and padding.  Depth 10
    gives 1 + 10 * 2 = 21.
    """
    blocks = (prefix_len + id_digits + 9 + 63) // 64
    for i in range(depth):
        blocks += (64 + len(str(_reference.fib(i))) + 9 + 63) // 64
    return blocks


def openssl_sha256(command: tuple[str, ...] = OPENSSL_COMMAND) -> tuple[float | None, str]:
    """openssl_sha256(command=OPENSSL_COMMAND) -> (compressions_per_second, note)

    Run OpenSSL's SHA-256 speed test and return its rate as SHA-256
    compressions per second (bytes per second / 64), and the output line it
    came from; ``(None, reason)`` if the command is missing, fails or prints
    no ``sha256`` line.
    """
    if shutil.which(command[0]) is None:
        return None, f"{command[0]} not found"
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=120,
                              check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{' '.join(command)} failed: {exc}"
    for line in done.stdout.splitlines():
        fields = line.split()
        # "sha256   1754890.81k": thousands of bytes per second per block size
        if len(fields) >= 2 and fields[0] == "sha256" and fields[-1].endswith("k"):
            try:
                return float(fields[-1][:-1]) * 1000.0 / 64.0, line.strip()
            except ValueError:
                break
    return None, f"{' '.join(command)} printed no sha256 rate (exit status {done.returncode})"


def _round_robin(
    jobs: dict[str, tuple[Callable[[], Any], str | None]], repeats: int
) -> dict[str, list[float]]:
    """Seconds of ``repeats`` calls of each job, taking turns, after one warm-up round.

    Each job is ``(fn, kernel_paths)``: ``kernel_paths`` (e.g. ``"portable"``)
    is set around the call, outside the timed region, and the previous choice
    restored.  Taking turns exposes every figure to the same drift in machine
    load, so the ratios between them stay meaningful on a busy machine.
    """
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for round_ in range(repeats + 1):
        for name, (fn, paths) in jobs.items():
            previous = get_kernel_paths()
            if paths is not None:
                set_kernel_paths(paths)
            try:
                t0 = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - t0
            finally:
                set_kernel_paths(previous)
            if round_:
                times[name].append(elapsed)
    return times


def _timing_params(count: int, times: list[float]) -> dict[str, Any]:
    med = statistics.median(times)
    return {
        "count": count,
        "repeats": len(times),
        "seconds_median": med,
        "seconds_min": min(times),
        "seconds_max": max(times),
        "spread": (max(times) - min(times)) / med,
    }


def _figure(
    name: str,
    value: float,
    unit: str,
    description: str,
    baseline: dict[str, Any] | tuple[str, float] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One figure; ``baseline`` is another figure or a ``(name, value)`` pair."""
    if isinstance(baseline, dict):
        baseline = (baseline["name"], baseline["value"])
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline[0] if baseline else None,
        "baseline_value": baseline[1] if baseline else None,
        "ratio": value / baseline[1] if baseline else None,
        "description": description,
        "params": params,
    }


def run(
    quick: bool = False,
    *,
    ids: int | None = None,
    oracle_ids: int | None = None,
    compressions: int | None = None,
    repeats: int | None = None,
    openssl: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """run(quick=False, *, ids=None, oracle_ids=None, compressions=None, repeats=None, openssl=None)

    Measure the core figures and return them as dicts, in ``FIGURES`` order.

    Parameters
    ----------
    quick : bool
        Use ``SIZES["quick"]`` (a few seconds) instead of ``SIZES["full"]``.
    ids, oracle_ids, compressions, repeats : int, optional
        Override the chosen sizes: ids per ``generate`` run, ids per oracle
        run, compressions per ``sha256_compress_loop`` call, timed runs per
        figure.
    openssl : tuple of str, optional
        The OpenSSL speed command of the ``openssl_*`` figures (default
        ``OPENSSL_COMMAND``; ``()`` leaves them out).  Without a working
        command they are left out and ``generate_1_thread``'s params say why.

    Returns
    -------
    list of dict
        Keys: ``name``, ``value``, ``unit``, ``baseline`` (name of the figure
        or quantity compared with, or None), ``baseline_value``, ``ratio``
        (``value / baseline_value``), ``description`` and ``params`` (counts,
        threads, kernel paths, median/min/max seconds of the runs).
    """
    sizes = dict(SIZES["quick" if quick else "full"])
    for key, value in (("ids", ids), ("oracle_ids", oracle_ids),
                       ("compressions", compressions), ("repeats", repeats)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} should be a positive integer, but got {key}={value!r}")
            sizes[key] = value
    n, m, c, reps = sizes["ids"], sizes["oracle_ids"], sizes["compressions"], sizes["repeats"]
    config = get_preset(PRESET)
    all_threads = default_threads()
    paths = get_kernel_paths()
    path_names = list(paths) or ["portable"]
    no_avx512 = [p for p in paths if p != "avx512"] or ["portable"]
    bits = kernel_path_bits()  # the paths in effect as _core's bitmask
    out = np.empty(n, PARAM_DTYPE)
    one = np.empty(1, PARAM_DTYPE)
    kernel = Seeding().kernel(config)
    calls = max(n // 500, 100)  # fill_1_id calls per round
    openssl = OPENSSL_COMMAND if openssl is None else tuple(openssl)
    openssl_rates: list[float] = []
    openssl_note = "not asked for (openssl=())"
    openssl_runs = 0

    def gen(threads: int) -> Callable[[], Any]:
        return lambda: generate(range(n), config, out=out, threads=threads)

    def compress(mask: int) -> Callable[[], Any]:
        return lambda: _core.sha256_compress_loop(c, mask)

    def fill_one() -> None:
        fill, b = _core.fill, kernel_path_bits()
        for i in range(calls):
            fill(kernel, one, [0, 1], None, 10**12 + i, 1, -1, b)

    def run_openssl() -> None:
        nonlocal openssl_note, openssl_runs
        openssl_runs += 1
        if openssl_runs == 1 or (openssl_runs > 2 and not openssl_rates):
            return  # no warm-up needed; a command that failed twice is not retried
        rate_, openssl_note = openssl_sha256(openssl)
        if rate_ is not None:
            openssl_rates.append(rate_)

    jobs: dict[str, tuple[Callable[[], Any], str | None]] = {
        "oracle": (lambda: [_reference.params(i, config) for i in range(m)], None),
        "generate_1_thread": (gen(1), None),
        "generate_all_threads": (gen(all_threads), None),
        "generate_portable_1_thread": (gen(1), "portable"),
        "generate_no_avx512_1_thread": (gen(1), ",".join(no_avx512)),
        "generate_no_avx512_all_threads": (gen(all_threads), ",".join(no_avx512)),
        "fill_1_id": (fill_one, None),
        "sha256_compress": (compress(bits), None),
        "sha256_compress_portable": (compress(0), None),
    }
    if openssl:
        jobs["openssl"] = (run_openssl, None)  # its own rate, not its elapsed time
    times = _round_robin(jobs, reps)

    def rate(name: str, count: int) -> float:
        return count / statistics.median(times[name])

    def measured(name: str, count: int, threads: int, kernel_paths: list[str], desc: str,
                 baseline: dict[str, Any] | None = None, unit: str = "samples/s"
                 ) -> dict[str, Any]:
        return _figure(name, rate(name, count), unit, desc, baseline,
                       **_timing_params(count, times[name]), threads=threads,
                       kernel_paths=kernel_paths)

    oracle = measured("oracle", m, 1, ["python"], "pure-Python twin (dpa._reference.params), "
                      "1 thread: DPA's algorithm as DPA runs it")
    gen1 = measured("generate_1_thread", n, 1, path_names,
                    "dpa.generate into a reused buffer, 1 thread", oracle)
    gen_all = measured("generate_all_threads", n, all_threads, path_names,
                       f"dpa.generate into a reused buffer, {all_threads} threads "
                       "(dpa.default_threads())", oracle)
    gen_portable = measured("generate_portable_1_thread", n, 1, ["portable"],
                            "dpa.generate, portable kernel forced, 1 thread", gen1)
    chain_bit, chain_avx512_ns, chain_shani_ns = _core.chain_choice()
    gen1["params"].update(
        chain="avx512" if chain_bit == _core.PATH_AVX512 else
        "sha-ni" if chain_bit == _core.PATH_SHANI else "portable/avx2",
        chain_measured_ns_per_16_lanes={"avx512": chain_avx512_ns, "sha-ni": chain_shani_ns},
        openssl=openssl_note)
    gen_off1 = measured("generate_no_avx512_1_thread", n, 1, no_avx512,
                        "dpa.generate, the paths in effect minus avx512, 1 thread")
    gen_off_all = measured("generate_no_avx512_all_threads", n, all_threads, no_avx512,
                           f"dpa.generate, the paths in effect minus avx512, {all_threads} threads")
    fill1 = measured("fill_1_id", calls, 1, path_names,
                     "dpa._core.fill of one id (Seeding().kernel(config)), calls/s, 1 thread; "
                     "1 / ratio = bulk samples one id costs", gen1, unit="calls/s")
    gain1 = _figure("avx512_gain_1_thread", gen1["value"], "samples/s",
                    "generate_1_thread against generate_no_avx512_1_thread",
                    gen_off1, kernel_paths=path_names)
    gain_all = _figure("avx512_gain_all_threads", gen_all["value"], "samples/s",
                       "generate_all_threads against generate_no_avx512_all_threads",
                       gen_off_all, kernel_paths=path_names, threads=all_threads)
    sha_portable = measured("sha256_compress_portable", c, 1, ["portable"],
                            "dependent SHA-256 compressions, portable C, 1 thread",
                            unit="compressions/s")
    # A single compression has no AVX2 form (AVX2 runs 8 samples side by
    # side): with the paths in effect it is SHA-NI if enabled, else portable.
    sha = measured("sha256_compress", c, 1, ["sha-ni"] if "sha-ni" in paths else ["portable"],
                   "dependent SHA-256 compressions, kernel paths in effect, 1 thread",
                   sha_portable, unit="compressions/s")

    per_sample = compressions_per_sample(config.augmentation_depth)
    share = _figure(
        "sha256_limit_share", gen1["value"], "samples/s",
        f"generate_1_thread against sha256_compress / {per_sample} compressions per sample",
        ("sha256_limit", sha["value"] / per_sample),
        compressions_per_sample=per_sample, depth=config.augmentation_depth,
        kernel_paths=sha["params"]["kernel_paths"],
    )
    share_portable = _figure(
        "sha256_limit_share_portable", gen_portable["value"], "samples/s",
        f"generate_portable_1_thread against sha256_compress_portable / {per_sample}",
        ("sha256_limit_portable", sha_portable["value"] / per_sample),
        compressions_per_sample=per_sample, depth=config.augmentation_depth,
        kernel_paths=["portable"],
    )
    figures = [oracle, gen1, gen_all, gen_portable, gen_off1, gen_off_all, fill1, gain1, gain_all,
               sha, sha_portable, share, share_portable]
    if openssl_rates:
        ossl = _figure("openssl_sha256", statistics.median(openssl_rates), "compressions/s",
                       f"{' '.join(openssl)}: bytes/s / 64, single stream", None,
                       count=len(openssl_rates), line=openssl_note,
                       spread=(max(openssl_rates) - min(openssl_rates))
                       / statistics.median(openssl_rates))
        bound = ("openssl_sha256_limit", ossl["value"] / per_sample)
        figures += [
            ossl,
            _figure("openssl_limit_share", gen1["value"], "samples/s",
                    f"generate_1_thread against openssl_sha256 / {per_sample} compressions "
                    "per sample", bound, compressions_per_sample=per_sample,
                    kernel_paths=path_names),
            _figure("openssl_limit_share_no_avx512", gen_off1["value"], "samples/s",
                    f"generate_no_avx512_1_thread against openssl_sha256 / {per_sample}",
                    bound, compressions_per_sample=per_sample, kernel_paths=no_avx512),
        ]
    assert tuple(f["name"] for f in figures) == tuple(
        name for name in FIGURES if openssl_rates or name not in OPENSSL_FIGURES)
    return figures
