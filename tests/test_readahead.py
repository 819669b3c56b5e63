"""gen_augmentation_params served from blocks computed ahead (dpa._readahead)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import dpa
from dpa import _reference
from dpa import _readahead
from dpa.records import records_to_dicts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MILD, MOD = dpa.get_preset("mild"), dpa.get_preset("moderate")


def dicts(ids, config):
    return records_to_dicts(dpa.generate(ids, config, hash=True))


def test_consecutive_random_and_mixed_ids():
    n = 3 * _readahead.MAX_BLOCK + 100  # long enough for blocks made in the background
    ref = dicts(range(n), MOD)
    assert [dpa.gen_augmentation_params(i, MOD) for i in range(n)] == ref
    rng = np.random.default_rng(1)
    ids = rng.integers(0, n, 300).tolist()
    assert [dpa.gen_augmentation_params(i, MOD) for i in ids] == [ref[i] for i in ids]
    mixed = list(range(50, 150)) + [7, 3000] + list(range(9000, 9300)) + [8, 9, 10]
    assert [dpa.gen_augmentation_params(i, MOD) for i in mixed] == [ref[i] for i in mixed]
    # switching configs between calls
    got = [dpa.gen_augmentation_params(i, MILD if i % 2 else None) for i in range(200)]
    exp_mild, exp_mod = dicts(range(200), MILD), dicts(range(200), MOD)
    assert got == [exp_mild[i] if i % 2 else exp_mod[i] for i in range(200)]
    assert dpa.gen_augmentation_params(5, MOD) == _reference.params(5, MOD)


def test_each_call_returns_a_new_dict():
    a = dpa.gen_augmentation_params(40, MOD)
    a["rotation"] = "changed"
    assert dpa.gen_augmentation_params(40, MOD) == dicts([40], MOD)[0]
    assert dpa.gen_augmentation_params(41, MOD) is not dpa.gen_augmentation_params(41, MOD)


def test_ids_near_the_end_and_argument_checks():
    top = 2**63 - 1
    assert [dpa.gen_augmentation_params(i, MOD) for i in range(top - 40, top + 1)] == \
        dicts(range(top - 40, top + 1), MOD)
    assert dpa.gen_augmentation_params(np.int64(3), MOD) == dicts([3], MOD)[0]
    with pytest.raises(TypeError):
        dpa.gen_augmentation_params(True, MOD)
    with pytest.raises(ValueError, match="non-negative"):
        dpa.gen_augmentation_params(-1, MOD)
    with pytest.raises(TypeError, match="config"):
        dpa.gen_augmentation_params(1, "moderate")
    assert dpa.gen_augmentation_params(2, MOD, rank=0)["rank"] == 0


def test_threads_keep_their_own_blocks():
    refs = {id(c): dicts(range(6000), c) for c in (MILD, MOD)}
    errors = []

    def loop(config):
        got = [dpa.gen_augmentation_params(i, config) for i in range(6000)]
        if got != refs[id(config)]:
            errors.append(config)

    threads = [threading.Thread(target=loop, args=(c,)) for c in (MILD, MOD, MILD)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_mid_loop():
    code = (
        "import os, dpa\n"
        "from dpa.records import records_to_dicts\n"
        "ref = records_to_dicts(dpa.generate(range(20000), hash=True))\n"
        "got = [dpa.gen_augmentation_params(i) for i in range(10000)]\n"
        "pid = os.fork()\n"
        "got += [dpa.gen_augmentation_params(i) for i in range(10000, 20000)]\n"
        "ok = got == ref\n"
        "if pid == 0:\n"
        "    os._exit(0 if ok else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(ok, os.waitstatus_to_exitcode(status))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "0"]
