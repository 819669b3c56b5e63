"""The worker team (``src/team.c``): parts of a job give the records of one call."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import dpa
from dpa import _core, _team, engine, records

MOD = dpa.get_preset("moderate")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _kernels():
    return [
        ("dpa", dpa.Seeding().kernel(MOD), True),
        ("philox", dpa.Seeding("philox", key=99, epoch=3).kernel(MOD), False),
    ]


def _fill(kernel, n, bounds, ids=None, hash=False, team=None, first=5, step=3):
    out = np.zeros(n, records.record_dtype(hash))
    offset = records.HASH_OFFSET if hash else -1
    _core.fill(kernel, out, bounds, ids, first, step, offset, engine.kernel_path_bits(), team)
    return out


@pytest.mark.parametrize("name,kernel,hash", _kernels())
@pytest.mark.parametrize("bounds", [
    [0, 300], [0, 150, 300], [0, 0, 299, 300], [0, 1, 2, 3, 300, 300], [0, 37, 74, 111, 200, 250, 300],
])
def test_parts_in_workers_equal_one_part(name, kernel, hash, bounds):
    ref = _fill(kernel, 300, [0, 300], hash=hash)
    _team.team()._grow(len(bounds) - 2)
    assert _fill(kernel, 300, bounds, hash=hash, team=_team.team()._team).tobytes() == ref.tobytes()
    assert _fill(kernel, 300, bounds, hash=hash).tobytes() == ref.tobytes()
    # ids given as an array take the same path through the parts
    ids = np.arange(5, 5 + 3 * 300, 3, dtype=np.int64)
    got = _fill(kernel, 300, bounds, ids=ids, hash=hash, team=_team.team()._team)
    assert got.tobytes() == ref.tobytes()
    expected = dpa.generate(range(5, 905, 3), MOD, hash=hash, scheme=name,
                            base_seed=99 if name == "philox" else 0,
                            epoch=3 if name == "philox" else 0, threads=1)
    assert got.tobytes() == expected.tobytes()


def test_many_back_to_back_jobs_and_thread_counts():
    """Short jobs in a row (a batch loop): every one complete and right."""
    n = 65_536
    ref = dpa.generate(range(n * 8), MOD, scheme="philox", base_seed=1, threads=1)
    buf = np.empty(n, dpa.PARAM_DTYPE)
    for threads in (2, 3, 5):
        for a in range(0, n * 8, n // 4):
            part = buf[: n // 4]
            dpa.generate(range(a, a + n // 4), MOD, scheme="philox", base_seed=1, out=part,
                         threads=threads)
            assert part.tobytes() == ref[a: a + n // 4].tobytes()


def test_concurrent_callers_share_the_team():
    """Threads generating at once: one uses the team, the others run their own parts."""
    n = 50_000
    refs = {s: dpa.generate(range(n), MOD, scheme="philox", base_seed=s, threads=1).tobytes()
            for s in range(4)}
    errors = []

    def worker(seed):
        for _ in range(20):
            got = dpa.generate(range(n), MOD, scheme="philox", base_seed=seed, threads=2)
            if got.tobytes() != refs[seed]:
                errors.append(seed)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_no_spin_gives_same_records():
    """DPA_SPIN_US=0: workers and caller sleep at once; same records.  Workers
    asleep when the caller has done every piece of a small call are revoked:
    many two-part calls, all right."""
    code = (
        "import numpy as np, dpa\n"
        "r = range(0, 40000)\n"
        "a = dpa.generate(r, scheme='philox', threads=3)\n"
        "b = dpa.generate(r, scheme='philox', threads=1)\n"
        "c = dpa.generate(range(9000), hash=True, threads=2)\n"
        "d = dpa.generate(range(9000), hash=True, threads=1)\n"
        "ok = a.tobytes() == b.tobytes() and c.tobytes() == d.tobytes()\n"
        "ref = dpa.generate(range(19200), threads=1)\n"
        "buf = np.empty(64, dpa.PARAM_DTYPE)\n"
        "for s in range(0, 19200, 64):\n"
        "    dpa.generate(range(s, s + 64), out=buf, threads=2)\n"
        "    ok = ok and buf.tobytes() == ref[s:s + 64].tobytes()\n"
        "print(ok)\n"
    )
    proc = _run(code, DPA_SPIN_US="0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


@pytest.mark.parametrize("value", ["-1", "fast", "1.5"])
def test_bad_spin_env(value):
    proc = _run("import dpa; dpa.generate(range(100000), threads=2, scheme='philox')",
                DPA_SPIN_US=value)
    assert proc.returncode != 0
    assert "DPA_SPIN_US should be a non-negative integer" in proc.stderr


def test_workers_stop_at_exit():
    """The interpreter exits promptly after the team has run (workers stop)."""
    proc = _run("import dpa; dpa.generate(range(100000), threads=2, scheme='philox'); print('ok')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("bounds,exc,match", [
    ([0], ValueError, "1 to 256 parts"),
    (list(range(258)), ValueError, "1 to 256 parts"),
    ([1, 10], ValueError, "start at 0"),
    ([0, 6, 5, 10], ValueError, "must not decrease"),
    ([0, 11], IndexError, "past the 10 records"),
])
def test_fill_rejects_bad_bounds(bounds, exc, match):
    kernel = dpa.Seeding("philox").kernel(MOD)
    out = np.zeros(10, dpa.PARAM_DTYPE)
    with pytest.raises(exc, match=match):
        _core.fill(kernel, out, bounds, None, 0, 1, -1, 0)


def test_fill_rejects_bad_layouts():
    dk = dpa.Seeding().kernel(MOD)
    pk = dpa.Seeding("philox").kernel(MOD)
    out = np.zeros(10, dpa.PARAM_DTYPE)
    with pytest.raises(ValueError, match="no hash field"):
        _core.fill(pk, out, [0, 10], None, 0, 1, 48, 0)
    with pytest.raises(ValueError, match="does not fit"):
        _core.fill(dk, out, [0, 10], None, 0, 1, 48, 0)  # no room for a hash
    with pytest.raises(TypeError, match="kernel should be a dpa kernel"):
        _core.fill(object(), out, [0, 10], None, 0, 1, -1, 0)
    with pytest.raises(ValueError, match="covering the records"):
        _core.fill(pk, out, [0, 10], np.arange(9), 0, 1, -1, 0)
    with pytest.raises(ValueError, match="writeable"):
        ro = np.zeros(10, dpa.PARAM_DTYPE)
        ro.flags.writeable = False
        _core.fill(pk, ro, [0, 10], None, 0, 1, -1, 0)
    with pytest.raises(ValueError, match="spin_ns"):
        _core.Team(-1)
    with pytest.raises(ValueError, match="worker index"):
        _core.Team(0).work(0)


@pytest.mark.parametrize("scheme", dpa.SCHEMES)
def test_kernels_declare_what_fill_needs(scheme):
    """Every scheme's kernel is a _core.Kernel whose declared layout matches the
    registry (dpa.seeding) and the record dtypes: fill asks nothing else of it."""
    seeding = dpa.Seeding.from_args(scheme)
    kernel = seeding.kernel(MOD)
    assert isinstance(kernel, _core.Kernel)
    assert kernel.scheme == scheme
    assert kernel.has_hash == seeding.has_hash
    assert kernel.record_size == records.PARAM_DTYPE.itemsize
    if kernel.has_hash:
        assert kernel.hash_size == records.PARAM_HASH_DTYPE.fields["hash"][0].itemsize
        assert records.HASH_OFFSET >= kernel.record_size
    else:
        assert kernel.hash_size == 0


def test_fill_checks_layout_from_the_kernels_declaration():
    dk = dpa.Seeding().kernel(MOD)
    pk = dpa.Seeding("philox").kernel(MOD)
    wide = np.zeros(10, records.PARAM_HASH_DTYPE)
    # room for the hash: the DPA kernel takes it, philox declares none
    _core.fill(dk, wide, [0, 10], None, 0, 1, records.HASH_OFFSET, 0)
    assert wide["hash"][3] == dpa.generate([3], MOD, hash=True)["hash"][0]
    with pytest.raises(ValueError, match="the philox scheme has no hash field"):
        _core.fill(pk, wide, [0, 10], None, 0, 1, records.HASH_OFFSET, 0)
    for offset in (-5, 0, 47, records.HASH_OFFSET + 1):
        with pytest.raises(ValueError, match="does not fit"):
            _core.fill(dk, wide, [0, 10], None, 0, 1, offset, 0)
    narrow = np.zeros(10, [("sample_id", "<i8"), ("rotation", "<f8")])
    for kernel in (dk, pk):
        with pytest.raises(ValueError, match="does not fit"):
            _core.fill(kernel, narrow, [0, 10], None, 0, 1, -1, 0)
    # the base type alone has no fill function and is refused, not called
    with pytest.raises(TypeError, match="has no fill function"):
        _core.fill(_core.Kernel(), np.zeros(10, dpa.PARAM_DTYPE), [0, 10], None, 0, 1, -1, 0)


# ---- background jobs, stop requests, fork --------------------------------------------

def _background(n, seeding, threads=None, hash=False, ids=None):
    out = np.zeros(n, records.record_dtype(hash))
    handle = engine.generate_background(range(n) if ids is None else ids, MOD, seeding,
                                        out=out, threads=threads, hash=hash)
    return handle, out


@pytest.mark.parametrize("scheme,n", [("dpa", 20_000), ("philox", 400_000)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_background_equals_foreground(scheme, n, threads):
    seeding = dpa.Seeding.from_args(scheme)
    handle, out = _background(n, seeding, threads)
    assert handle.wait(help=threads == 1) is out  # help: the waiter takes pieces too
    assert handle.done() and _team.team()._owner is None
    assert out.tobytes() == engine.generate_seeded(range(n), MOD, seeding, threads=1).tobytes()
    ids = np.arange(7, 7 + 3 * n, 3)[::-1].copy()
    handle, out = _background(n, seeding, threads, ids=ids)
    assert handle.wait().tobytes() == engine.generate_seeded(ids, MOD, seeding).tobytes()


@pytest.mark.parametrize("threads", [None, 1])
def test_an_empty_background_job_is_done_at_once(threads):
    out = np.zeros(0, dpa.PARAM_DTYPE)
    handle = engine.generate_background(range(0), None, dpa.Seeding(), out=out, threads=threads)
    assert handle.done()
    assert handle.wait() is out


def test_a_late_cancel_never_stops_the_next_job():
    """A cancel names its job: cancelling a finished job (as a finalizer may, in
    any thread) while the next one runs leaves the next one whole."""
    seeding = dpa.Seeding.from_args("philox")
    n = 2_000_000
    ref = engine.generate_seeded(range(n), MOD, seeding, threads=1)
    for _ in range(5):
        old, _ = _background(10_000, seeding, threads=2)
        old.wait()
        gen = old._gen
        new, out = _background(n, seeding, threads=2)
        _team.team()._core_team().cancel(gen)  # the old job's cancel, after the new one started
        assert new.wait().tobytes() == ref.tobytes()
        assert out.tobytes() == ref.tobytes()


def test_background_while_team_busy_runs_at_wait():
    seeding = dpa.Seeding()
    first, out1 = _background(50_000, seeding)
    second, out2 = _background(3_000, seeding)  # the team is owned by the first job
    assert second._state == "lazy" and not second.done()
    ref = dpa.generate(range(50_000), MOD)
    assert second.wait().tobytes() == ref[:3_000].tobytes()
    assert first.wait().tobytes() == ref.tobytes()


def test_cancelled_background_is_made_whole_by_wait():
    seeding = dpa.Seeding()
    handle, out = _background(100_000, seeding)
    handle.cancel()
    assert not handle.done()
    assert handle.wait().tobytes() == dpa.generate(range(100_000), MOD).tobytes()


def test_foreground_call_reaps_a_finished_background_job():
    seeding = dpa.Seeding("philox")
    handle, out = _background(100_000, seeding)
    while not handle.done():
        pass
    team = _team.team()
    assert team._owner is handle  # complete, not yet reaped
    dpa.generate(range(200_000), MOD, scheme="philox", threads=2)  # reaps it, uses the team
    assert team._owner is None
    assert handle.wait().tobytes() == dpa.generate(range(100_000), MOD, scheme="philox").tobytes()


_FORK_CODE = """
import os, numpy as np, dpa
from dpa import engine
ref = dpa.generate(range(60000), threads=1)
out = np.zeros(60000, dpa.PARAM_DTYPE)
handle = engine.generate_background(range(60000), None, dpa.Seeding(), out=out)
pid = os.fork()
if pid == 0:  # the parent's workers did not come along: the child refills its copy
    ok = handle.wait().tobytes() == ref.tobytes()
    ok = ok and dpa.generate(range(60000), threads=2).tobytes() == ref.tobytes()
    os._exit(0 if ok else 1)
ok = handle.wait().tobytes() == ref.tobytes()
_, status = os.waitpid(pid, 0)
print(ok, os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_while_a_background_job_runs():
    proc = _run(_FORK_CODE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "0"]


_SIGINT_CODE = """
import sys, time, numpy as np, dpa
from dpa import engine
n = 4_000_000  # several seconds on two threads
out = np.zeros(n, dpa.PARAM_DTYPE)
for threads in (2, 1):
    print("go", flush=True)
    t0 = time.monotonic()
    try:
        dpa.generate(range(n), out=out, threads=threads)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    snapshot = out.view(np.uint64).copy()
    time.sleep(0.15)
    same = np.array_equal(out.view(np.uint64), snapshot)
    print("unchanged" if same else "written", flush=True)
print("waiting", flush=True)
handle = engine.generate_background(range(n), None, dpa.Seeding(), out=out)
try:
    handle.wait()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
ref = dpa.generate(range(20000), threads=1)
ok = dpa.generate(range(20000), threads=2).tobytes() == ref.tobytes()
part = np.empty(20000, dpa.PARAM_DTYPE)
handle = engine.generate_background(range(20000), None, dpa.Seeding(), out=part)
ok = ok and handle.wait().tobytes() == ref.tobytes()
print("healthy" if ok else "broken", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32",
                    reason="POSIX signals")
def test_ctrl_c_stops_a_long_generate_quickly():
    """SIGINT during a long generate (team and one thread) and during a wait for
    a background job: KeyboardInterrupt within a fraction of a second, the
    buffer not written afterwards, and the process generates correctly again."""
    proc = subprocess.Popen([sys.executable, "-c", _SIGINT_CODE], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(3):
            assert proc.stdout.readline().strip() in ("go", "waiting")
            time.sleep(0.2)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            assert proc.stdout.readline().strip() == "interrupted"
            assert time.monotonic() - sent < 1.0  # the whole call takes several seconds
            if _ < 2:
                assert proc.stdout.readline().strip() == "unchanged"
        assert proc.stdout.readline().strip() == "healthy"
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
