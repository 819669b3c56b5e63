"""The package's structure: no import cycle, every module importable on its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tools" / "check_import_cycles.py"

spec = importlib.util.spec_from_file_location("check_import_cycles", CHECKER)
check_import_cycles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_import_cycles)

#: Packages (and their modules) that need an optional extra, and the package providing it.
OPTIONAL = {"dpa.torch": "torch", "dpa.bench.torch": "torch", "dpa.dask": "distributed",
            "dpa.bench.scale": "distributed"}


def _extra(name: str) -> str | None:
    """The optional package module ``name`` needs, if any."""
    for prefix, extra in OPTIONAL.items():
        if name == prefix or name.startswith(prefix + "."):
            return extra
    return None


def test_no_import_cycle_in_dpa():
    proc = subprocess.run([sys.executable, str(CHECKER), str(ROOT / "dpa")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("no import cycle among the ")


def test_checker_finds_cycles_through_function_level_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    (pkg / "c.py").write_text("from . import a\n")  # depends on the cycle, is not in it
    proc = subprocess.run([sys.executable, str(CHECKER), str(pkg)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "import cycle among pkg.a, pkg.sub.b" in proc.stdout
    assert "pkg.c" not in proc.stdout.splitlines()[0]


def test_submodule_does_not_depend_on_its_own_package(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import x\n")
    (pkg / "a.py").write_text("from . import b\nx = 1\n")
    (pkg / "b.py").write_text("")
    modules = check_import_cycles.module_names(pkg)
    assert check_import_cycles.dependencies("pkg.a", pkg / "a.py", modules) == {"pkg.b"}
    assert check_import_cycles.dependencies("pkg", pkg / "__init__.py", modules) == {"pkg.a"}


def _import_alone(name: str) -> tuple[str, int, str]:
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    return name, proc.returncode, proc.stderr


def test_every_module_imports_on_its_own():
    names = sorted(check_import_cycles.module_names(ROOT / "dpa"))
    assert "dpa.engine" in names and "dpa.distributed.layout" in names
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_import_alone, names))
    for name, rc, err in results:
        extra = _extra(name)
        if extra is not None and importlib.util.find_spec(extra) is None:
            assert rc != 0 and "pip install" in err, (name, err)
            continue
        assert rc == 0, f"import {name} failed in a fresh interpreter:\n{err}"


@pytest.mark.parametrize("module", ["dpa.engine", "dpa.seeding", "dpa._validate", "dpa.records"])
def test_the_core_does_not_import_the_layers_above(module):
    """The engine and the values below it never import the layers above them."""
    modules = check_import_cycles.module_names(ROOT / "dpa")
    graph = {n: check_import_cycles.dependencies(n, p, modules) for n, p in modules.items()}
    reach, todo = set(), [module]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in reach:
                reach.add(dep)
                todo.append(dep)
    above = sorted(m for m in reach if m.split(".")[1:2] and m.split(".")[1] in
                   ("compat", "io", "cli", "batch", "distributed", "torch", "stream", "bench"))
    assert above == []
