#!/usr/bin/env python3
"""Run DPA 0.2.1's own test suite (or its examples) against ``dpa.compat``.

Usage::

    python tools/run_dpa_suite.py tests DPA_CHECKOUT [--json PATH] [--rewrite-patch-targets]
                                  [-- PYTEST_ARGS...]
    python tools/run_dpa_suite.py examples DPA_CHECKOUT --dpa-python PYTHON [--keep DIR]

``DPA_CHECKOUT`` is a folder holding DPA 0.2.1's ``tests/`` (and ``examples/``
and ``src/`` for the examples); this script neither fetches nor builds DPA and
nothing of DPA is kept in this repository.

``tests``: DPA's ``tests/`` folder is copied into a new temporary folder, and
in the copy only the import lines ``from src.X import ...`` become ``from
dpa.compat.X import ...``; pytest then runs there with this interpreter (the
``dpa`` installed in it), with DPA's own code out of reach (the run stops if
``src`` is importable).  The report gives the counts, the Python version and
every test that did not pass with the last line of its failure.  Tests of a
module that does not import are counted from the module's source (DPA's test
classes hold no parametrized tests) as errors.

``--rewrite-patch-targets`` also points the ``unittest.mock.patch("src.X...")``
strings at ``dpa.compat.X``: a second measurement, of the behaviour those tests
check, which is not the issue's figure (that rewrites import lines only).

``examples``: DPA's ``examples/`` are run in fresh scratch copies: twice with
DPA itself (``--dpa-python``, an interpreter DPA runs on, with DPA's ``src/``
beside the copy) and once with ``dpa.compat`` (import lines rewritten as
above, DPA's ``src/`` absent).  For every example that DPA itself runs to the
end, the two outputs are compared line by line after masking what depends on
the clock, the memory or the machine (timings, rates, memory figures, paths of
the scratch and temporary folders); deterministic values (parameters, hashes,
statistics, ranges, batch sizes) must be equal.  Lines that differ between
DPA's own two runs (verdicts from measured times) are left out, and outputs
that hold the same lines or words in another order (worker processes
writing concurrently) are reported as such.  Exit status 0 if nothing else
differs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

#: ``from src.X import`` at the start of a line (any indentation).
IMPORT_LINE = re.compile(r"^(\s*)from src\.(\w+) import\b", re.M)
#: ``patch("src.X...")`` targets, rewritten only with ``--rewrite-patch-targets``.
PATCH_TARGET = re.compile(r"""(patch\(\s*["'])src\.""")


def rewrite_imports(text: str, patch_targets: bool = False) -> tuple[str, int]:
    """``text`` with its ``from src.X import`` lines pointed at ``dpa.compat.X``."""
    text, n = IMPORT_LINE.subn(r"\1from dpa.compat.\2 import", text)
    if patch_targets:
        text, m = PATCH_TARGET.subn(r"\1dpa.compat.", text)
        n += m
    return text, n


def _copy_rewritten(src: Path, dst: Path, patch_targets: bool) -> int:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    lines = 0
    for path in sorted(dst.rglob("*.py")):
        text, n = rewrite_imports(path.read_text(encoding="utf-8"), patch_targets)
        path.write_text(text, encoding="utf-8")
        lines += n
    return lines


def count_tests(path: Path) -> int:
    """Test functions pytest would collect from one module (no parametrization)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    n = 0
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            n += 1
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            n += sum(1 for b in node.body if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and b.name.startswith("test"))
    return n


def _check_no_dpa_code(workdir: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import importlib.util, dpa.compat, sys; "
         "print(importlib.util.find_spec('src') is None); print(dpa.compat.__file__)"],
        cwd=workdir, capture_output=True, text=True)
    if probe.returncode != 0 or not probe.stdout.startswith("True"):
        sys.exit("refusing to run: `src` is importable here or dpa.compat is not "
                 f"({probe.stdout.strip()} {probe.stderr.strip()})")


def _parse_junit(xml_path: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """``[(test id, outcome, message)]`` and the modules that failed to collect."""
    results, broken = [], []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "").strip().splitlines()[:1]
                message = message[0] if message else ""
                break
        if outcome == "error" and not case.get("classname"):  # a module that did not import
            broken.append(case.get("name") or "")
            continue
        results.append((name, outcome, message))
    return results, broken


def run_tests(checkout: Path, pytest_args: list[str], patch_targets: bool,
              json_path: str | None) -> int:
    src_tests = checkout / "tests"
    if not (src_tests / "test_dpa.py").exists():
        sys.exit(f"{checkout} has no tests/test_dpa.py: not a DPA 0.2.1 checkout")
    with tempfile.TemporaryDirectory(prefix="dpa-suite-") as tmp:
        work = Path(tmp)
        rewritten = _copy_rewritten(src_tests, work / "tests", patch_targets)
        _check_no_dpa_code(work)
        xml = work / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
               str(work), "-o", "addopts=", "--junitxml", str(xml), "tests", *pytest_args]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        summary = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:]
        results, broken = _parse_junit(xml) if xml.exists() else ([], [])
        uncollected = {}
        for mod in broken:
            f = work / (mod.replace(".", "/") + ".py")
            if f.exists():
                uncollected[mod] = count_tests(f)
        expected = sum(count_tests(p) for p in sorted((work / "tests").glob("test_*.py")))
    passed = sum(1 for _, o, _ in results if o == "passed")
    not_passed = [(n, o, m) for n, o, m in results if o != "passed"]
    total = len(results) + sum(uncollected.values())
    print(f"DPA suite against dpa.compat, Python {sys.version.split()[0]}: "
          f"{passed} passed of {total} ({expected} test functions in the files)")
    print(f"  import lines rewritten: {rewritten}"
          + ("  (patch targets rewritten too)" if patch_targets else ""))
    print(f"  pytest: {summary[0] if summary else '(no output)'}")
    for mod, n in uncollected.items():
        print(f"  {mod}: did not import, its {n} tests count as errors")
    for name, outcome, message in not_passed:
        print(f"  {outcome.upper():7s} {name}: {message[:200]}")
    if json_path:
        doc = {"python": sys.version.split()[0], "passed": passed, "total": total,
               "patch_targets_rewritten": patch_targets, "pytest_summary": summary,
               "not_passed": [{"test": n, "outcome": o, "message": m} for n, o, m in not_passed],
               "uncollected": uncollected}
        Path(json_path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0 if not not_passed and not uncollected else 1


# ---- examples -------------------------------------------------------------------------

#: Lines whose numbers depend on the clock, the memory or the machine: masked.
_VOLATILE = re.compile(
    r"(time|took|elapsed|eta|second|\bms\b|/s\b|/sec|per sec|throughput|speed|rate|"
    r"memory|\bmb\b|\bgb\b|\bkb\b|rss|cpu|latency|overhead|improvement|faster|slower|"
    r"efficien|change|score|%|ops|recommend|benchmark|profil|python|platform|"
    r"available|used|percent|batch #|batches|avg|average|optimal|adjust|best)", re.I)
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
#: A duration such as ``0.032s``.
_SECONDS = re.compile(r"\d(?:\.\d+)?s\b")
#: Verdicts drawn from measured times ("Best strategy: ...", "... is faster").
_VERDICT = re.compile(r"\b(best|fastest|slowest|faster|slower|improved|stable|degraded)\b",
                      re.I)
#: A folder made by ``tempfile`` (``/tmp/tmpab12_x9z``).
_TEMPDIR = re.compile(r"/tmp\w{8}\b")


def _mask(line: str, roots: list[str]) -> str:
    for r in roots:
        line = line.replace(r, "<DIR>")
    line = _TEMPDIR.sub("/<TMP>", line)
    if _VERDICT.search(line):
        return "<a verdict from measured times>"
    if _VOLATILE.search(line) or _SECONDS.search(line):
        line = _NUMBER.sub("#", line)
    return line.rstrip()


def _run_example(python: str, root: Path, name: str, env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run([python, "-m", f"examples.{name}"], cwd=root, capture_output=True,
                          text=True, env=env, timeout=1800)
    return proc.returncode, proc.stdout + proc.stderr


def run_examples(checkout: Path, dpa_python: str, keep: str | None) -> int:
    names = sorted(p.stem for p in (checkout / "examples").glob("*.py") if p.stem != "__init__")
    base = Path(tempfile.mkdtemp(prefix="dpa-examples-"))
    theirs, ours = base / "dpa-0.2.1", base / "compat"
    shutil.copytree(checkout, theirs, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    ours.mkdir()
    _copy_rewritten(checkout / "examples", ours / "examples", patch_targets=False)
    _check_no_dpa_code(ours)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    status = 0
    for name in names:
        rc_t, out_t = _run_example(dpa_python, theirs, name, env)
        rc_o, out_o = _run_example(sys.executable, ours, name, env)
        if rc_t != 0:
            print(f"{name}: fails on DPA 0.2.1 itself (exit {rc_t}); "
                  f"on dpa.compat: exit {rc_o}")
            continue
        roots = [str(theirs), str(ours)]
        a = [_mask(x, roots) for x in out_t.splitlines()]
        b = [_mask(x, roots) for x in out_o.splitlines()]
        # DPA run again: lines that differ between two runs of DPA itself depend on
        # timing (verdicts such as "the fastest strategy", process interleaving).
        _, out_t2 = _run_example(dpa_python, theirs, name, env)
        a2 = [_mask(x, roots) for x in out_t2.splitlines()]
        stable = [i for i in range(len(a)) if len(a2) == len(a) and a[i] == a2[i]] \
            if len(a2) == len(a) else list(range(len(a)))
        volatile = len(a) - len(stable)
        if a == b:
            verdict = "identical"
        elif len(a) == len(b) and all(a[i] == b[i] for i in stable):
            verdict = f"identical except {volatile} lines that differ between two DPA runs too"
        elif sorted(a) == sorted(b):
            verdict = "the same lines in another order"
        elif sorted(out_t.split()) == sorted(out_o.split()) or (
                a != a2 and sorted(" ".join(a).split()) == sorted(" ".join(b).split())):
            verdict = "the same words in another order (concurrent output)"
        else:
            verdict = "DIFFERENT"
        kept = sum(1 for i in stable if "#" not in a[i] and not a[i].startswith("<a verdict"))
        print(f"{name}: DPA exit 0, dpa.compat exit {rc_o}; {len(a)} lines, {kept} "
              f"deterministic and unmasked: {verdict}")
        if verdict == "DIFFERENT" or rc_o != 0:
            status = 1
            import difflib
            for d in list(difflib.unified_diff(a, b, "dpa-0.2.1", "dpa.compat", n=0,
                                               lineterm=""))[:40]:
                print("   ", d)
    if keep:
        shutil.copytree(base, keep, dirs_exist_ok=True)
    shutil.rmtree(base, ignore_errors=True)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    p = argparse.ArgumentParser(prog="python tools/run_dpa_suite.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["tests", "examples"])
    p.add_argument("checkout", type=Path, help="a DPA 0.2.1 checkout (tests/, examples/, src/)")
    p.add_argument("--json", metavar="PATH", help="tests: also write the result as JSON")
    p.add_argument("--rewrite-patch-targets", action="store_true",
                   help="tests: also rewrite patch('src.X...') strings (a second measurement)")
    p.add_argument("--dpa-python", metavar="PYTHON",
                   help="examples: an interpreter that runs DPA 0.2.1 (it needs Python 3.12)")
    p.add_argument("--keep", metavar="DIR", help="examples: keep the scratch copies in DIR")
    args = p.parse_args(argv)
    if args.what == "tests":
        return run_tests(args.checkout.resolve(), extra, args.rewrite_patch_targets, args.json)
    if not args.dpa_python:
        p.error("examples needs --dpa-python")
    return run_examples(args.checkout.resolve(), args.dpa_python, args.keep)


if __name__ == "__main__":
    sys.exit(main())
