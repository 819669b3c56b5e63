"""What people expect of a command line: ``--version``, the name they typed,
one error prefix, short usage errors, negative numbers, consistent statuses,
conflicting options refused, help that says what the docs say, Ctrl-C at
start-up, a full disk announced before writing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

import dpa
import dpa.io as dio
from dpa import _startup
from dpa.cli import main

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
USAGE = re.compile(r"^usage: (python -m dpa|dpa)( \w+)? .*\[options\]  \('.* --help' for more\)$")


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def usage_error(err: str, command: str, pattern: str) -> None:
    """argparse's errors: one short usage line, then the one error line."""
    lines = err.strip().splitlines()
    assert len(lines) == 2 and USAGE.match(lines[0]), err
    prefix = f"dpa {command}: error: " if command else "dpa: error: "
    assert lines[1].startswith(prefix) and re.search(pattern, lines[1]), lines[1]


@pytest.fixture
def npy(tmp_path):
    out = tmp_path / "h.npy"
    dio.save_npy(dpa.stream_augmentation_chain(20), out, hash=True)
    return out


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert (status, out) == (0, f"dpa {dpa.__version__}\n")


def test_run_as_dpa_it_says_dpa(tmp_path):
    """The console script (what ``pip install`` writes for ``dpa = "dpa.cli:main"``)."""
    script = tmp_path / "dpa"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom dpa.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    helped = subprocess.run([str(script), "export", "--help"], env=ENV, capture_output=True,
                            text=True, timeout=60)
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: dpa export ") and "\n  dpa export -o params.npy" in helped.stdout
    assert "python -m dpa" not in helped.stdout
    bad = subprocess.run([str(script), "export", "-n", "ten", "-o", "x.npy"], env=ENV,
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        "usage: dpa export -o OUT.npy -n N [options]  ('dpa export --help' for more)",
        "dpa export: error: argument -n/--num-samples: not a whole number: 'ten'"]
    moduled = subprocess.run([sys.executable, "-m", "dpa", "head", "--help"], env=ENV,
                             capture_output=True, text=True, timeout=60)
    assert moduled.stdout.startswith("usage: python -m dpa head ")


@pytest.mark.parametrize("argv, command, pattern", [
    (["export", "-o", "x.npy", "-n", "ten"], "export", "not a whole number: 'ten'"),
    (["export", "-o", "x.npy"], "export", "the following arguments are required: -n/--num-samples"),
    (["export", "-o", "x.npy", "-n", "5", "--bogus"], "export", "unrecognized arguments: --bogus"),
    (["export", "-o", "", "-n", "5"], "export", "argument -o/--output: should be a file name, but got ''"),
    (["convert", "", "-o", "x.npy"], "convert", "argument INPUT: should be a file name"),
    (["stats", ""], "stats", "argument FILE.npy: should be a file name"),
    (["bogus"], "", "invalid choice: 'bogus'"),
    ([], "", "the following arguments are required: COMMAND"),
    (["head", "x.npy", "-n", "-3"], "head", r"argument -n/--records: must be >= 0, got '-3'"),
])
def test_usage_errors_are_two_lines(capsys, tmp_path, argv, command, pattern):
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    usage_error(err, command, pattern)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("low, high", [("-30", "30"), ("-1e3", "1e3"), ("-.5", "-0.25"),
                                       ("-10", "-5")])
def test_negative_numbers_are_values(capsys, tmp_path, low, high):
    out = tmp_path / "r.npy"
    status, _, err = run(capsys, "export", "-o", out, "-n", "50", "--rotation-range", low, high, "-q")
    assert (status, err) == (0, "")
    prov = dio.read_provenance(out)
    assert prov["config"]["rotation_range"] == [json.loads(v if v[1] != "." else v[0] + "0" + v[1:])
                                                for v in (low, high)]


def test_infinite_bounds_are_parsed_as_numbers_then_refused(capsys, tmp_path):
    status, _, err = run(capsys, "export", "-o", tmp_path / "r.npy", "-n", "5", "--rotation-range",
                         "-inf", "inf")
    assert status == 2
    assert err.strip() == ("dpa export: error: rotation_range[0] should be a finite real number, "
                           "but got rotation_range[0]=-inf")


@pytest.mark.parametrize("value", ["0", "-1", "-5", "x"])
@pytest.mark.parametrize("command", ["export", "convert", "stats"])
def test_threads_zero_and_negative_are_described_alike(capsys, tmp_path, npy, command, value):
    argv = {"export": ["export", "-o", tmp_path / "o.npy", "-n", "5"],
            "convert": ["convert", tmp_path / "in.json", "-o", tmp_path / "o.npy"],
            "stats": ["stats", npy, "--verify"]}[command]
    status, _, err = run(capsys, *argv, "--threads", value)
    assert status == 2
    usage_error(err, command, rf"argument --threads: should be a positive integer, but got '{value}'$")


@pytest.mark.parametrize("command", ["head", "stats"])
@pytest.mark.parametrize("fields, pattern", [("bogus", r"has no field\(s\) \['bogus'\]"),
                                             ("rotation,,", None), (",", "at least one field")])
def test_the_same_mistake_has_the_same_status(capsys, npy, command, fields, pattern):
    status, out, err = run(capsys, command, npy, "--fields", fields)
    if pattern is None:
        assert status == 0 and err == ""
        return
    assert status == 2 and out == ""
    assert re.fullmatch(rf"dpa {command}: error: .*{pattern}.*\n", err), err


def test_stats_fields_that_are_not_floats_are_a_usage_error(capsys, npy):
    status, _, err = run(capsys, "stats", npy, "--fields", "rotation,hash")
    assert status == 2 and err == f"dpa stats: error: --fields: ['hash'] of {npy} are not float fields\n"


def test_hash_and_no_hash_conflict(capsys, tmp_path):
    status, _, err = run(capsys, "convert", "in.json", "-o", tmp_path / "o.npy", "--hash", "--no-hash")
    assert status == 2
    usage_error(err, "convert", "argument --no-hash: not allowed with argument --hash")


def test_help_carries_what_the_docs_say(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    text = " ".join(out.split())
    for words in ("exit status: 0 success; 1 a problem with an input or output file",
                  "2 bad options", "3 --verify found", "130 interrupted (SIGINT)",
                  "143 terminated (SIGTERM)", "--resume", "never through a symbolic link",
                  "'dpa COMMAND: error: ...'"):
        assert words in text, words
    assert "docs/" not in out and "http" not in out


def test_every_error_has_one_prefix(capsys, tmp_path, npy):
    """Usage errors, library errors, I/O errors and warnings: ``dpa COMMAND: ...``."""
    (tmp_path / "side.npy").write_bytes(npy.read_bytes())
    (tmp_path / "side.npy.json").write_text('{"format": "dpa-provenance/1", "source": 3}')
    cases = [
        (["export", "-o", tmp_path / "x.npy", "-n", "ten"], "export", 2),
        (["export", "-o", tmp_path / "x.npy", "-n", "5", "--rotation-range", "5", "1"], "export", 2),
        (["export", "-o", npy, "-n", "5"], "export", 1),
        (["convert", tmp_path / "missing.json", "-o", tmp_path / "x.npy"], "convert", 1),
        (["stats", tmp_path / "missing.npy"], "stats", 1),
        (["head", npy, "--fields", "spin"], "head", 2),
        (["stats", tmp_path / "side.npy"], "stats", 0),
    ]
    for argv, command, status in cases:
        got, _, err = run(capsys, *argv)
        assert got == status, (argv, err)
        for line in err.strip().splitlines():
            assert line.startswith(f"dpa {command}: ") or line.startswith("usage: "), line


def test_full_disk_is_announced_before_writing(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(dio.files, "free_bytes", lambda d: 69 * 10**9)
    status, out, err = run(capsys, "export", "-o", tmp_path / "big.npy", "-n", "100G")
    assert status == 1 and out == ""
    assert re.fullmatch(r"dpa export: error: cannot write .*big.npy: not enough free space: it needs "
                        r"4.8 TB \(4,800,000,000,256 bytes\) but .* has 69 GB \(69,000,000,000 "
                        r"bytes\) free\n", err), err
    assert list(tmp_path.iterdir()) == []


# ---- Ctrl-C while the command line starts ---------------------------------------------


def test_command_line_detection():
    assert _startup.is_command_line(["python", "-m", "dpa", "export"])
    assert _startup.is_command_line(["/venv/bin/python", "-X", "dev", "-mdpa"])
    assert _startup.is_command_line(["/venv/bin/python", "/venv/bin/dpa", "head", "x.npy"])
    assert not _startup.is_command_line(["python", "-m", "pytest", "tests"])
    assert not _startup.is_command_line(["python", "train.py"])
    assert not _startup.is_command_line(["python", "-c", "import dpa"])
    assert not _startup.is_command_line(["python"])


@pytest.mark.parametrize("command_line", [True, False])
def test_ctrl_c_while_importing_is_one_line(tmp_path, command_line):
    """A KeyboardInterrupt before ``main`` runs (here raised right after ``import
    dpa``, as SIGINT during the imports would): one line, status 130, for the
    command line only; a library user's traceback is untouched."""
    argv = "['python', '-m', 'dpa', 'export']" if command_line else "['python', 'train.py']"
    code = f"import sys; sys.orig_argv[:] = {argv}; import dpa; raise KeyboardInterrupt"
    proc = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    if command_line:
        assert proc.returncode == 130
        assert proc.stderr == "dpa: interrupted (SIGINT) while starting; nothing written\n"
    else:
        assert "Traceback" in proc.stderr and proc.stderr.rstrip().endswith("KeyboardInterrupt")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_parsing_is_one_line(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dpa.cli, "build_parser", interrupted)
    assert main(["export", "-o", "x.npy", "-n", "5"]) == 130
    assert capsys.readouterr().err == "dpa: interrupted (SIGINT)\n"


@pytest.mark.parametrize("field, shown", [(("f8", (2,)), "[0.0, 0.0]"), (("f8", (0,)), "[]"),
                                          ("S4", ""), ("U3", ""), ("V0", "")],
                         ids=["subarray", "zero-size", "bytes", "unicode", "void"])
def test_head_prints_any_field(capsys, tmp_path, field, shown):
    dtype = [("rotation",) + (field if isinstance(field, tuple) else (field,)), ("noise", "f8")]
    np.save(tmp_path / "f.npy", np.zeros(2, dtype=dtype))
    status, out, err = run(capsys, "head", tmp_path / "f.npy")
    assert (status, err) == (0, "")
    rows = out.splitlines()
    assert rows[0].split() == ["rotation", "noise"] and len(rows) == 3
    assert rows[1].strip().startswith(shown) and rows[1].rstrip().endswith("0.0")
    status, _, err = run(capsys, "stats", tmp_path / "f.npy")
    assert status == 1 and err.endswith("is not a float field\n")
