"""Exports killed with SIGKILL at every file-system call, and resumed.

Each case runs ``python -m dpa export`` in a real process (forked by
``_fault_child.py serve``, which imported dpa once; it counts the calls that
change files and checks at each that renamed files were flushed, that the
journal claims only flushed bytes and that a finished file is never written
in place) and kills it with SIGKILL just before call ``k``, for every ``k``
of the export: right after it starts, inside every checkpoint, and between
the renames of the commit.  Then:

* the destination is absent or complete (with ``--force`` over an older
  file: that older file, untouched, or the new one complete);
* ``--resume``, itself killed right after it starts in some cases, and then
  run to the end, finishes the export byte-identically, with its provenance
  and nothing left behind.

Two processes at a time; under a minute on a 2-core machine.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import dpa
import dpa.io as dio

CHILD = Path(__file__).with_name("_fault_child.py")
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
N, START = 5000, 7
#: One write, one checkpoint per 1000-record batch (the write buffers hold one
#: batch within 0.15 MB), all on one thread.
EXPORT = ["export", "-o", "p.npy", "-n", str(N), "--start-id", str(START), "--batch-size", "1000",
          "--max-memory-mb", "0.15", "--checkpoint-seconds", "0", "--threads", "1", "-q"]
CASES = {"fresh": [], "force-hash": ["--force", "--hash", "--io", "buffered"]}
OLD = b"an older file at the destination"


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@dataclass
class Run:
    returncode: int
    stderr: str


class Server:
    """One ``_fault_child.py serve`` process: runs are forked from it, one at a time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(CHILD), "serve"], env=ENV, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, directory: Path, kill_at: int, args: list[str]) -> Run:
        output = directory.parent / f"{directory.name}.out"
        request = {"cwd": str(directory), "kill_at": kill_at, "dest": "p.npy", "args": args,
                   "output": str(output)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fault server died"
        text = output.read_text()
        output.unlink()
        return Run(json.loads(line)["returncode"], text)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


_servers: queue.Queue = queue.Queue()


def child(directory: Path, kill_at: int, args: list[str]) -> Run:
    server = _servers.get()
    try:
        return server.run(directory, kill_at, args)
    finally:
        _servers.put(server)


@pytest.fixture(scope="module", autouse=True)
def servers():
    started = [Server() for _ in range(2)]
    for server in started:
        _servers.put(server)
    yield
    while not _servers.empty():
        _servers.get().close()


def calls(proc: Run) -> int:
    assert proc.returncode == 0, proc.stderr
    return int(proc.stderr.strip().splitlines()[-1].split()[-1])


def state(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def check_killed(proc: Run, dest: Path, allowed: tuple[bytes, ...],
                 what: str) -> None:
    assert "violation" not in proc.stderr, f"{what}: {proc.stderr}"
    assert proc.returncode in (-signal.SIGKILL, 0), f"{what}: {proc.returncode} {proc.stderr}"
    assert not dest.exists() or dest.read_bytes() in allowed, f"{what}: a half-written destination"


def run_case(tmp: Path, name: str, k: int, want: bytes) -> None:
    extra = CASES[name]
    args = EXPORT + extra
    directory = tmp / f"{name}-{k}"
    directory.mkdir()
    dest = directory / "p.npy"
    allowed = (want,)
    if "--force" in extra:
        dest.write_bytes(OLD)
        (directory / "p.npy.json").write_text("{}")
        allowed = (OLD, want)
    what = f"{name}: killed at call {k}"
    check_killed(child(directory, k, args), dest, allowed, what)
    done = dest.exists() and dest.read_bytes() == want and state(directory) == ["p.npy", "p.npy.json"]
    if done:
        return
    resume = args + ["--resume"]
    if k % 3 == 0:  # a resume killed right after it starts, then again a little later
        for j in (1, 2 + k % 7):
            check_killed(child(directory, j, resume), dest, allowed, f"{what}, resume at {j}")
    proc = child(directory, 0, resume)
    assert proc.returncode == 0, f"{what}: the resume failed: {proc.stderr}"
    assert "violation" not in proc.stderr, f"{what}: {proc.stderr}"
    assert dest.read_bytes() == want, f"{what}: resumed, not byte-identical"
    assert state(directory) == ["p.npy", "p.npy.json"], f"{what}: {state(directory)}"
    assert dio.read_provenance(dest)["count"] == N


@pytest.mark.parametrize("name", list(CASES))
def test_sigkill_at_every_call_then_resume(tmp_path, name):
    want = npy_bytes(dpa.generate(range(START, START + N), hash="--hash" in CASES[name]))
    (tmp_path / "dry").mkdir()
    total = calls(child(tmp_path / "dry", 0, EXPORT + CASES[name]))
    assert (tmp_path / "dry" / "p.npy").read_bytes() == want
    assert total > 8 * N // 1000  # a checkpoint per batch: the kills land inside each
    with ThreadPoolExecutor(max_workers=2) as pool:
        for result in pool.map(lambda k: run_case(tmp_path, name, k, want), range(1, total + 1)):
            assert result is None
