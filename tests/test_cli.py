"""``python -m dpa``: commands, user errors, and real processes killed mid-export."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, vectors_dir

import dpa
import dpa.io as dio
from dpa.__main__ import main

STREAM = "dpa-stream-150-mild-from1000.json"
CHAIN = "dpa-chain-200-aggressive.json"
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def dpa_process(*argv, cwd, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dpa", *map(str, argv)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def one_error_line(err: str, status: int, expected: int, pattern: str) -> None:
    lines = err.strip().splitlines()
    assert status == expected, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


# ---- commands --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["export", "convert", "stats", "head"])
def test_help_has_examples(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"python -m dpa {command}" in out


def test_export_head_stats(tmp_path, capsys):
    out = tmp_path / "p.npy"
    status, text, err = run(capsys, "export", "-o", out, "-n", "3k", "--start-id", "7",
                            "--preset", "mild", "--rotation-range", "-5", "5", "--hash")
    assert status == 0 and err == ""
    assert re.fullmatch(rf"wrote {re.escape(str(out))}: 3,000 samples, 336,256 bytes in .* samples/s\)\n", text)
    cfg = dpa.AugmentationConfig(**dict(dpa.get_preset("mild").to_dict(), rotation_range=(-5, 5)))
    want = dpa.generate(range(7, 3007), cfg, hash=True)
    assert out.read_bytes() == npy_bytes(want)
    assert dio.read_provenance(out)["config"]["rotation_range"] == [-5, 5]

    status, text, _ = run(capsys, "head", out, "-n", "2", "--fields", "sample_id,rotation,hash")
    lines = text.splitlines()
    assert status == 0 and lines[0].split() == ["sample_id", "rotation", "hash"]
    assert lines[1].split() == ["7", repr(float(want["rotation"][0])), want["hash"][0].decode()]
    assert lines[3] == "... 2,998 more of 3,000 records"

    status, text, _ = run(capsys, "stats", out, "--json")
    assert status == 0 and json.loads(text) == dio.compute_stats(out)
    status, text, _ = run(capsys, "stats", out, "--verify")
    assert status == 0 and "all 3,000 records equal the core kernel's" in text
    assert "method exact" in text


def test_convert_and_stats_agree_with_dpa(tmp_path, capsys):
    for name, start in ((CHAIN, 0), (STREAM, 1000)):
        out = tmp_path / (name + ".npy")
        status, text, err = run(capsys, "convert", vectors_dir() / name, "-o", out,
                                "--start-id", start, "--verify")
        assert status == 0 and err == "" and "records/s, verified)" in text
        status, text, _ = run(capsys, "stats", out, "--json")
        assert json.loads(text) == json.loads((vectors_dir() / name).read_text())["statistics"]
        status, text, _ = run(capsys, "stats", out)
        assert text.rstrip().endswith(f"identical to the statistics block of {name}")


def test_philox_and_rank_exports(tmp_path, capsys):
    status, _, _ = run(capsys, "export", "-o", tmp_path / "x.npy", "-n", "1000", "--scheme",
                       "philox", "--base-seed", "5", "--epoch", "2", "-q")
    assert status == 0
    want = dpa.generate(range(1000), scheme="philox", base_seed=5, epoch=2)
    assert (tmp_path / "x.npy").read_bytes() == npy_bytes(want)
    status, out, _ = run(capsys, "export", "-o", tmp_path / "r.npy", "-n", "100", "--rank", "3",
                         "--base-seed", "42", "-q")
    assert status == 0 and out == ""
    want = dpa.generate(range(100), rank=3, base_seed=42)
    assert (tmp_path / "r.npy").read_bytes() == npy_bytes(want)


# ---- user errors: one line, no traceback, nothing written -------------------------


@pytest.mark.parametrize(
    "argv, status, pattern",
    [
        (["export", "-o", "{out}", "-n", "10", "--rotation-range", "5", "1"], 2,
         r"^dpa export: error: rotation_range should have low < high, but got rotation_range=\(5, 1\)$"),
        (["export", "-o", "{out}", "-n", "10", "--augmentation-depth", "0"], 2, "augmentation_depth"),
        (["export", "-o", "{out}", "-n", "10", "--epoch", "3"], 2, "epoch applies to scheme='philox'"),
        (["export", "-o", "{out}", "-n", "10", "--base-seed", "3"], 2, "base_seed only applies"),
        (["export", "-o", "{out}", "-n", "10", "--rank", "-1"], 2, "rank should be a non-negative integer"),
        (["export", "-o", "{out}", "-n", "10", "--scheme", "philox", "--hash"], 2, "--hash needs --scheme dpa"),
        (["export", "-o", "{out}", "-n", "10", "--max-memory-mb", "0.00001"], 2, "too small for even one"),
        (["export", "-o", "{out}", "-n", "10", "--start-id", str(2**63 - 5)], 2, "exceeds 2\\*\\*63-1"),
        (["export", "-o", "{out}", "-n", "10", "--checkpoint-seconds", "nan"], 2,
         r"--checkpoint-seconds must be >= 0, got nan$"),
        (["export", "-o", "{out}", "-n", "10", "--config", "{tmp}/missing.json"], 1, "missing.json: no such file"),
        (["export", "-o", "{out}", "-n", "10", "--config", "{tmp}/bad.json"], 1,
         r"bad.json: the config is invalid: noise_range should have low < high"),
        (["export", "-o", "{tmp}/nodir/p.npy", "-n", "10"], 1, "directory .*nodir does not exist"),
        (["export", "-o", "{tmp}/bad.json/p.npy", "-n", "10"], 1, "is not a directory"),
        (["export", "-o", "{tmp}/existing.npy", "-n", "10"], 1, "existing.npy exists; pass --force"),
        (["convert", "{tmp}/missing.json", "-o", "{out}"], 1, "missing.json: no such file"),
        (["convert", "{tmp}/trunc.json", "-o", "{out}"], 1, "trunc.json: truncated JSON"),
        (["convert", "{tmp}/nofield.json", "-o", "{out}"], 1, r"nofield.json: record 2: field 'noise' is missing$"),
        (["convert", "{tmp}/text.json", "-o", "{out}"], 1, r"text.json: record 1: field 'scale' is not a number: 'x'$"),
        (["convert", "{tmp}/lowhigh.json", "-o", "{out}"], 1, "metadata.config is invalid: .*low < high"),
        (["convert", "{chain}", "-o", "{out}", "--verify", "--start-id", "5"], 3,
         r"record 0 \(sample id 5\): field 'rotation' is -?[\d.e-]+ in the file but -?[\d.e-]+ recomputed"),
        (["convert", "{chain}", "-o", "{out}", "--preset", "mild"], 1, "metadata.config differs"),
        (["stats", "{tmp}/missing.npy"], 1, "missing.npy: no such file"),
        (["stats", "{tmp}/bad.json"], 1, "bad.json: not a .npy file"),
        (["stats", "{tmp}/existing.npy", "--verify"], 1, "no provenance"),
        (["head", "{tmp}/existing.npy", "--fields", "spin"], 2, r"has no field\(s\) \['spin'\]"),
    ],
)
def test_user_errors(tmp_path, capsys, argv, status, pattern):
    (tmp_path / "bad.json").write_text(json.dumps(dict(dpa.get_preset("mild").to_dict(), noise_range=[1, 1])))
    np.save(tmp_path / "existing.npy", dpa.generate(range(5)))
    chain = (vectors_dir() / CHAIN).read_text()
    (tmp_path / "trunc.json").write_text(chain[:20_000])
    data = json.loads(chain)
    data["augmentations"][2].pop("noise")
    (tmp_path / "nofield.json").write_text(json.dumps(data, indent=2))
    data = json.loads(chain)
    data["augmentations"][1]["scale"] = "x"
    (tmp_path / "text.json").write_text(json.dumps(data, indent=2))
    data = json.loads(chain)
    data["metadata"]["config"]["rotation_range"] = [45, -45]
    (tmp_path / "lowhigh.json").write_text(json.dumps(data, indent=2))
    before = sorted(p.name for p in tmp_path.iterdir())
    subst = {"{out}": str(tmp_path / "out.npy"), "{tmp}": str(tmp_path), "{chain}": str(vectors_dir() / CHAIN)}
    args = []
    for a in argv:
        for k, v in subst.items():
            a = a.replace(k, v)
        args.append(a)
    code, out, err = run(capsys, *args)
    one_error_line(err, code, status, pattern)
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_bad_option_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["export", "-o", "x.npy", "-n", "ten"])
    assert info.value.code == 2
    assert "not a whole number: 'ten'" in capsys.readouterr().err


def test_user_error_in_a_real_process(tmp_path):
    proc = dpa_process("convert", "nothing.json", "-o", "out.npy", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    one_error_line(err, proc.returncode, 1, "^dpa convert: error: nothing.json: no such file$")
    assert list(tmp_path.iterdir()) == []


def test_closed_pipe_is_a_normal_end(tmp_path):
    """``dpa head big.npy | head -1``: the reader closing the pipe ends the command cleanly."""
    np.save(tmp_path / "p.npy", dpa.generate(range(200_000), scheme="philox"))
    script = f"set -o pipefail; {shlex.quote(sys.executable)} -m dpa head p.npy -n 200000 | head -1"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.split() == ["sample_id", *dpa.FIELDS]


# ---- interrupted exports: real processes, real signals -----------------------------


def wait_for_progress(out: Path, proc: subprocess.Popen, timeout: float = 60) -> int:
    """Wait until the export has made progress durable; return the record count."""
    _, journal = dio.partial_paths(out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            done = json.loads(journal.read_text())["records_durable"]
        except (FileNotFoundError, ValueError, KeyError):
            done = 0
        if done > 0:
            return done
        time.sleep(0.01)
    raise AssertionError("the export made no progress")


# Single-threaded, small batches, checkpoints after every batch: slow enough to interrupt.
SLOW = ["--threads", "1", "--batch-size", "65536", "--checkpoint-seconds", "0"]


@pytest.mark.parametrize("sig, status, name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupt_leaves_destination_untouched_and_cleans_up(tmp_path, sig, status, name):
    out = tmp_path / "p.npy"
    out.write_bytes(b"the previous export")
    (tmp_path / "p.npy.json").write_text('{"previous": true}')
    proc = dpa_process("export", "-o", out, "-n", "5M", "--force", *SLOW, cwd=tmp_path)
    wait_for_progress(out, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    one_error_line(stderr, proc.returncode, status,
                   rf"^dpa export: interrupted \({name}\); .*p.npy not written, temporary files removed$")
    assert out.read_bytes() == b"the previous export"
    assert (tmp_path / "p.npy.json").read_text() == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npy", "p.npy.json"]


def test_sigkill_then_resume_is_byte_identical(tmp_path):
    out = tmp_path / "p.npy"
    n = 3_000_000
    proc = dpa_process("export", "-o", out, "-n", n, "--start-id", "11", "--preset", "aggressive",
                       *SLOW, cwd=tmp_path)
    wait_for_progress(out, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    partial, journal = dio.partial_paths(out)
    assert not out.exists() and partial.exists() and journal.exists()
    done = json.loads(journal.read_text())["records_durable"]
    assert 0 < done < n

    again = dpa_process("export", "-o", out, "-n", n, "--start-id", "11", "--preset", "aggressive",
                        cwd=tmp_path)
    _, err = again.communicate(timeout=60)
    one_error_line(err, again.returncode, 1, r"p.npy.partial holds an interrupted export \([\d,]+ of "
                                             r"3,000,000 records\); rerun with --resume")
    assert not out.exists() and partial.exists()

    resumed = dpa_process("export", "-o", out, "-n", n, "--start-id", "11", "--preset", "aggressive",
                          "--resume", cwd=tmp_path)
    text, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0 and err == "", err
    m = re.search(r"resumed at record ([\d,]+)\)", text)
    assert m and int(m.group(1).replace(",", "")) >= done
    want = dpa.generate(range(11, 11 + n), dpa.get_preset("aggressive"))
    assert out.read_bytes() == npy_bytes(want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npy", "p.npy.json"]
    assert dio.read_provenance(out)["count"] == n


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="Linux")
def test_disk_full_is_one_line_and_cleans_up(tmp_path):
    """RLIMIT_FSIZE makes writes past 4 MiB fail (EFBIG) as a full disk would (ENOSPC)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    proc = dpa_process("export", "-o", "p.npy", "-n", "1M", "--batch-size", "16384", cwd=tmp_path,
                       preexec_fn=limit)
    _, err = proc.communicate(timeout=60)
    one_error_line(err, proc.returncode, 1, r"^dpa export: error: cannot write p.npy: File too large$")
    assert list(tmp_path.iterdir()) == []


# ---- docs/cli.md's example, run ---------------------------------------------------


def test_docs_example_runs(tmp_path):
    text = (ROOT / "docs" / "cli.md").read_text()
    block = re.search(r"<!-- cli-example -->\n```bash\n(.*?)```", text, re.S).group(1)
    shutil.copy(vectors_dir() / STREAM, tmp_path)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # A wrapper, not a symlink: a symlinked venv interpreter would not find its venv.
    (bindir / "python").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    (bindir / "python").chmod(0o755)
    env = dict(ENV, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote params.npy: 1,000,000 samples, 112,000,256 bytes" in proc.stdout
    assert "params.npy: all 1,000,000 records equal the core kernel's" in proc.stdout
    stats = json.loads((tmp_path / "mild-stats.json").read_text())
    assert stats == json.loads((vectors_dir() / STREAM).read_text())["statistics"]
