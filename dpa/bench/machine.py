"""Facts about the machine and the software a benchmark ran on.

Every value is read, never guessed: where a fact cannot be found (no
``/proc/cpuinfo``, not a git checkout, no ``psutil``) it is ``None``.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import platform
import subprocess
from typing import Any

import numpy as np

import dpa
from dpa import _core

__all__ = ["machine_facts", "cpu_model", "git_revision", "openssl_version"]


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The CPU model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                # x86: "model name"; some ARM kernels: "Model" or "Hardware".
                if sep and key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _cores_available() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _physical_cores() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.cpu_count(logical=False)


def _cpu_busy_percent(interval: float = 0.25) -> float | None:
    """Share of all CPUs busy over ``interval`` seconds, now (this process idles meanwhile)."""
    try:
        import psutil
    except ImportError:
        return None
    return psutil.cpu_percent(interval=interval)


def _git(args: list[str], cwd: pathlib.Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_revision() -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout dpa was imported from, else None.

    Only a checkout that holds this very ``dpa`` package counts: an installed
    copy that happens to sit inside some other repository has no revision.
    """
    package = pathlib.Path(dpa.__file__).resolve().parent
    top = _git(["rev-parse", "--show-toplevel"], package)
    if top is None:
        return None
    if pathlib.Path(top).resolve() / "dpa" != package:
        return None
    commit = _git(["rev-parse", "HEAD"], package)
    if commit is None:
        return None
    status = _git(["status", "--porcelain"], package)
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def openssl_version() -> str | None:
    """``openssl version``'s output (the OpenSSL baseline of the core section), else None."""
    try:
        done = subprocess.run(["openssl", "version"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _chain_choice() -> dict[str, Any] | None:
    """The DPA kernel's measured choice for its hash chain, where it has one."""
    bit, avx512_ns, shani_ns = _core.chain_choice()
    if not (avx512_ns and shani_ns):
        return None
    return {"chain": "avx512" if bit == _core.PATH_AVX512 else "sha-ni",
            "ns_per_16_lanes": {"avx512": avx512_ns, "sha-ni": shani_ns}}


def machine_facts() -> dict[str, Any]:
    """Everything needed to read a benchmark's figures later, as a JSON-ready dict.

    Keys: ``cpu_model``, ``sha_ni``, ``avx2``, ``avx512`` (the CPU and OS
    support dpa's path), ``kernel_paths`` (the accelerated paths in effect),
    ``dpa_chain`` (where AVX-512 and SHA-NI are both there, which the DPA
    kernel measured faster for its hash chain, with the times), ``openssl``
    (the version of the core section's baseline, or None), ``cores_available``
    (CPUs this process may run on), ``cpu_count``, ``physical_cores``,
    ``default_threads``, ``cpu_busy_percent`` (all CPUs, sampled for 0.25 s
    at the start) and ``load_average`` (1, 5, 15 min): other work on the
    machine skews every figure; ``platform``, ``python``,
    ``numpy``, ``dpa``, ``git``, ``env`` (dpa's environment switches that are
    set) and ``time_utc``.
    """
    available = dpa.available_kernel_paths()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "cpu_model": cpu_model(),
        "sha_ni": "sha-ni" in available,
        "avx2": "avx2" in available,
        "avx512": "avx512" in available,
        "dpa_chain": _chain_choice(),
        "openssl": openssl_version(),
        "kernel_paths": list(dpa.get_kernel_paths()),
        "cores_available": _cores_available(),
        "cpu_count": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "default_threads": dpa.default_threads(),
        "cpu_busy_percent": _cpu_busy_percent(),
        "load_average": load,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": np.__version__,
        "dpa": dpa.__version__,
        "git": git_revision(),
        "env": {k: v for k, v in os.environ.items() if k.startswith("DPA_")},
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
