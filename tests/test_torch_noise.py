"""philox-normal-v1: the compiled noise kernel (every path) against the specification's
known answers, and :func:`dpa.torch.pixel_noise` as a pure function of (seed, epoch, id, pixel)."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import on_kernel_path  # noqa: E402

import dpa  # noqa: E402
import dpa.torch as T  # noqa: E402
from dpa import _core, _team  # noqa: E402
from dpa.torch.noise import _SPLIT  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parent / "data"
VECTORS = DATA / "philox-normal-v1-vectors.json"
MAKER = DATA / "make_noise_vectors.py"

PATHS = [pytest.param(0, id="portable")]
if _core.cpu_paths() & _core.PATH_AVX2:
    PATHS.append(pytest.param(_core.PATH_AVX2, id="avx2"))


def _spec():
    """The stdlib implementation that wrote the vectors (imported, not dpa's)."""
    spec = importlib.util.spec_from_file_location("make_noise_vectors", MAKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SPEC = _spec()
DOC = json.loads(VECTORS.read_text())


def _fill(seed, ids, epochs, stds, count, first=0, paths=0):
    out = np.full((len(ids), count), np.nan, np.float32)
    _core.noise_fill(seed, np.asarray(ids, np.int64), np.asarray(epochs, np.uint32),
                     np.asarray(stds, np.float64), out, first, paths)
    return out


def test_vectors_file_is_the_scripts_output(tmp_path):
    out = tmp_path / "v.json"
    subprocess.run([sys.executable, str(MAKER), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_bytes() == VECTORS.read_bytes()
    assert DOC["version"] == T.NOISE_VERSION == "philox-normal-v1"


def test_box_muller_step_known_answers():
    for case in DOC["pairs"]:
        z = _core.noise_pair(*case["words"])
        assert list(z) == [float.fromhex(h) for h in case["z"]], case["words"]


@pytest.mark.parametrize("paths", PATHS)
def test_kernel_known_answers(paths):
    for case in DOC["cases"]:
        bits = case["bits"]
        got = _fill(case["seed"], [case["sample_id"]], [case["epoch"]],
                    [float.fromhex(case["std"])], len(bits), case["first_pixel"], paths)
        assert got.view(np.uint32)[0].tolist() == bits, case


@pytest.mark.parametrize("paths", PATHS)
def test_kernel_against_the_specification_on_random_runs(paths):
    """Random keys, ids, stds, starts and lengths (every alignment of the 32-pixel groups)."""
    rng = random.Random(11)
    for _ in range(12):
        seed, epoch = rng.getrandbits(64), rng.getrandbits(32)
        sample_id, std = rng.getrandbits(63), rng.random()
        first, count = rng.randrange(0, 100), rng.randrange(1, 90)
        got = _fill(seed, [sample_id], [epoch], [std], count, first, paths)
        want = SPEC.noise_values(seed, epoch, sample_id, std, first, count)
        assert got.view(np.uint32)[0].tolist() == want


def test_paths_agree_on_a_large_batch():
    if len(PATHS) < 2:
        pytest.skip("this CPU has no AVX2: only the portable path exists here")
    ids = np.arange(40, dtype=np.int64) * 1_000_003 + 5
    epochs = np.arange(40, dtype=np.uint32) % 3
    stds = np.linspace(0.0, 0.2, 40)
    a = _fill(9, ids, epochs, stds, 3 * 61 * 67, 0, 0)
    b = _fill(9, ids, epochs, stds, 3 * 61 * 67, 0, _core.PATH_AVX2)
    assert a.tobytes() == b.tobytes()


def test_noise_is_standard_normal():
    z = _fill(2024, [7], [0], [1.0], 1 << 20)[0].astype(np.float64)
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert abs((z**3).mean()) < 0.02 and abs((z**4).mean() - 3) < 0.05
    # the tails reach what 32-bit uniforms allow (|z| <= 6.67), no further
    assert 4.5 < np.abs(z).max() <= 6.67


def test_kernel_refuses_what_would_corrupt_memory():
    out = np.empty((2, 4), np.float32)
    with pytest.raises(ValueError, match="one entry per row"):
        _core.noise_fill(0, np.zeros(1, np.int64), np.zeros(2, np.uint32), np.zeros(2), out, 0, 0)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*33\)"):
        _core.noise_fill(0, np.zeros(2, np.int64), np.zeros(2, np.uint32), np.zeros(2), out,
                         2**33 - 3, 0)


# ---- pixel_noise -------------------------------------------------------------------


def _batch(ids, seed=1234, epoch=3):
    recs = dpa.generate(np.asarray(ids), dpa.get_preset("aggressive"), scheme="philox",
                        base_seed=seed, epoch=epoch)
    return T.ParamBatch.from_records(recs, seed, epoch)


def test_pixel_noise_is_a_function_of_each_sample_alone():
    ids = [5, 900, 3, 2**40, 17]
    batch = _batch(ids)
    shape = (3, 21, 19)
    whole = T.pixel_noise(batch, shape)
    assert whole.dtype == torch.float32 and tuple(whole.shape) == (5, *shape)
    for k, sid in enumerate(ids):
        alone = T.pixel_noise(_batch([sid]), shape)[0]
        assert torch.equal(alone, whole[k])
        std = float(np.float32(batch.params["noise"][k].item()))
        want = SPEC.noise_values(1234, 3, sid, std, 0, 40)
        assert whole[k].flatten()[:40].numpy().view(np.uint32).tolist() == want
    # reversed order, other batch: the same rows
    assert torch.equal(T.pixel_noise(batch.select([4, 3, 2, 1, 0]), shape), whole.flip(0))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_pixel_noise_does_not_depend_on_threads(threads):
    batch = _batch(range(6))
    want = T.pixel_noise(batch, (3, 128, 256), threads=1)
    assert torch.equal(T.pixel_noise(batch, (3, 128, 256), threads=threads), want)
    one = batch.select([2])  # fewer rows than threads: split by pixel ranges
    assert torch.equal(T.pixel_noise(one, (3, 256, 700), threads=threads)[0, :, :128, :256],
                       T.pixel_noise(one, (3, 256, 700), threads=1)[0, :, :128, :256])
    assert torch.equal(T.pixel_noise(one, (3, 256, 700), threads=threads),
                       T.pixel_noise(one, (3, 256, 700), threads=1))


def test_pixel_noise_uses_the_float32_std_and_the_epoch():
    batch = _batch(range(3))
    on_device = batch.to("cpu", torch.float32)  # what a table moved to a device holds
    assert torch.equal(T.pixel_noise(on_device, (2, 8, 8)), T.pixel_noise(batch, (2, 8, 8)))
    other = _batch(range(3), epoch=4)
    assert not torch.equal(T.pixel_noise(other, (2, 8, 8)), T.pixel_noise(batch, (2, 8, 8)))
    out = torch.empty(3, 2, 8, 8)
    assert T.pixel_noise(batch, (2, 8, 8), out=out) is out


def test_pixel_noise_checks_its_arguments():
    batch = _batch(range(3))
    with pytest.raises(TypeError, match="params should be a dpa.torch.ParamBatch"):
        T.pixel_noise({"noise": 1}, (1, 2))
    with pytest.raises(ValueError, match="out should be a contiguous float32 CPU tensor"):
        T.pixel_noise(batch, (2, 2), out=torch.empty(3, 2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="threads should be a positive integer"):
        T.pixel_noise(batch, (2, 2), threads=0)
    bad = T.ParamBatch(batch.sample_ids, batch.table.clone(), batch.seed, batch.epochs)
    bad.table[2, 1] = -0.5
    with pytest.raises(ValueError, match="noise stds should be finite and non-negative"):
        T.pixel_noise(bad, (2, 2))
    with pytest.raises(ValueError, match="at most 2\\*\\*33 pixels"):
        T.pixel_noise(batch, (2**17, 2**17))


# ---- the noise as a job of the worker team ----------------------------------------


def _rows(n, seed=77):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 2**63 - 1, n, dtype=np.int64)
    epochs = rng.integers(0, 2**32, n, dtype=np.uint32)
    stds = rng.random(n)
    return ids, epochs, stds


def _kernel(n, count, first=0, seed=2**64 - 3):
    ids, epochs, stds = _rows(n)
    out = np.full((n, count), np.nan, np.float32)
    return _core.NoiseKernel(seed, ids, epochs, stds, out, first), out, (seed, ids, epochs, stds)


@pytest.mark.parametrize("paths", PATHS)
@pytest.mark.parametrize("n,count,first", [(1, 1, 0), (3, 301, 5), (40, 7, 2**33 - 7),
                                           (2, 1000, 29)])
def test_noise_kernel_in_any_pieces_equals_one_call(paths, n, count, first):
    """Static parts and guided pieces that cut rows anywhere (grain 1), in the team
    and in this thread: every value that of one call of the kernel."""
    want = _fill(2**64 - 3, *_rows(n), count, first, 0)
    total = n * count
    cuts = [
        ([0, total], ()),                                            # one part, this thread
        ([0, total // 3, total // 3, total], ()),                   # static parts, one empty
        ([0, total // 2, total], (7, 50, 1)),                       # guided, rows cut anywhere
        ([0, 1, total], (1, 0, 1)),                                 # pieces of one value
        ([0, total // 4, total // 2, 3 * total // 4, total], (3, 31, 1)),
    ]
    for bounds, layout in cuts:
        kernel, out, _ = _kernel(n, count, first)
        _team.fill(kernel, kernel.out, bounds, None, 0, 0, -1, paths, *layout)
        assert out.tobytes() == want.tobytes(), (bounds, layout)
    kernel, out, _ = _kernel(n, count, first)  # this thread, slices of 13 values
    _core.fill(kernel, kernel.out, total, None, 0, 0, -1, paths, None, 0, 13, 1)
    assert out.tobytes() == want.tobytes()


def test_noise_kernel_refuses_what_would_corrupt_memory():
    kernel, out, (seed, ids, epochs, stds) = _kernel(3, 10)
    assert kernel.out.shape == (30,) and np.shares_memory(kernel.out, out)
    with pytest.raises(ValueError, match="fills only its own array"):
        _core.fill(kernel, np.empty(30, np.float32), 30, None, 0, 0, -1, 0)
    with pytest.raises(IndexError, match="past the 30 records"):
        _core.fill(kernel, kernel.out, 31, None, 0, 0, -1, 0)
    with pytest.raises(ValueError, match="2-D float32"):
        _core.NoiseKernel(seed, ids, epochs, stds, np.empty((3, 10)), 0)
    with pytest.raises(ValueError, match="2-D float32"):
        _core.NoiseKernel(seed, ids, epochs, stds, np.empty((10, 3), np.float32).T, 0)
    with pytest.raises(ValueError, match="ids must be"):
        _core.NoiseKernel(seed, ids[:2], epochs, stds, out, 0)
    with pytest.raises(ValueError, match="epochs must be"):
        _core.NoiseKernel(seed, ids, epochs.astype(np.int64), stds, out, 0)
    with pytest.raises(ValueError, match="stds must be"):
        _core.NoiseKernel(seed, ids, epochs, stds[::-1], out, 0)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*33\)"):
        _core.NoiseKernel(seed, ids, epochs, stds, out, 2**33 - 9)
    assert np.isnan(out).all()  # nothing was written


# (rows, one sample's shape): fills too small to split, and fills that split into
# every part asked for (many short rows, one long row, rows of no multiple of 32).
SIZES = [(1, (3, 8, 8)), (5, (3, 21, 19)), (2, (1, 97, 75)), (64, (3, 16, 16)),
         (1, (3, 256, 700)), (7, (3, 128, 129))]


@pytest.mark.parametrize("choice", ["portable", "auto"])
@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_pixel_noise_on_the_team_equals_one_call(choice, threads):
    batch = _batch(range(100, 164))
    stds = batch.table[2].to(torch.float32).to(torch.float64).numpy()
    with on_kernel_path(choice):
        for n, shape in SIZES:
            count = int(np.prod(shape))
            split = _SPLIT.parts(n * count, threads)  # what the sizes are for:
            assert (split > 1) == (threads > 1 and n * count > 14_000) and split <= threads
            part = batch.select(list(range(n)))
            got = T.pixel_noise(part, shape, threads=threads)
            want = _fill(batch.seed, part.sample_ids.numpy(), part.epochs.numpy(), stds[:n],
                         count)
            assert got.numpy().tobytes() == want.tobytes(), (n, shape, threads)
    assert _team.team()._owner is None


class _Alarm(Exception):
    pass


def _raise_alarm(signum, frame):
    raise _Alarm


@pytest.mark.parametrize("threads", [1, 2])
def test_a_signal_stops_a_long_noise_fill_and_nothing_is_written_after(threads):
    """An exception from a signal handler (as KeyboardInterrupt is) stops the fill
    after the pieces running, and once raised nothing writes into the output."""
    batch = _batch(range(8))
    shape = (3, 1024, 2048)  # 50M values: about 0.4 s (two threads) on the portable path
    out = torch.full((8, *shape), float("nan"))
    previous = signal.signal(signal.SIGALRM, _raise_alarm)
    try:
        with on_kernel_path("portable"), pytest.raises(_Alarm):
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            T.pixel_noise(batch, shape, out=out, threads=threads)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    bits = out.view(torch.int32).clone()
    time.sleep(0.15)
    assert torch.equal(out.view(torch.int32), bits)
    written = ~out.isnan()
    assert 0 < int(written.sum()) < out.numel()  # stopped part of the way through
    first = T.pixel_noise(batch.select([0]), shape, threads=1)[0]
    assert torch.equal(out[0][written[0]], first[written[0]])
    assert _team.team()._owner is None
    assert torch.equal(T.pixel_noise(batch.select([0]), shape, threads=threads)[0], first)


def test_pixel_noise_after_fork_runs_on_a_team_of_its_own():
    """A forked child (a DataLoader worker, say) has the parent's team object but
    none of its threads: its fills start workers of its own, with the same bits."""
    batch = _batch(range(4))
    shape = (3, 64, 200)
    want = T.pixel_noise(batch, shape, threads=2)
    parent_team = _team.team()
    assert parent_team._threads  # the parent's worker is running
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        ok = False
        try:
            # torch's own OpenMP threads did not come along either: one thread, as a
            # DataLoader worker sets, and numpy for the comparison
            torch.set_num_threads(1)
            got = T.pixel_noise(batch, shape, threads=2)
            ok = got.numpy().tobytes() == want.numpy().tobytes() \
                and _team.team() is not parent_team and len(_team.team()._threads) == 1
        finally:
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
    os.close(w)
    try:
        report = os.read(r, 1)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    assert report == b"1" and os.waitstatus_to_exitcode(status) == 0
    assert torch.equal(T.pixel_noise(batch, shape, threads=2), want)

