"""Command line of ``python -m dpa.bench``: run the sections, print tables, write JSON."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from . import SECTIONS, load_section
from .core import SIZES
from .machine import machine_facts


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"should be a positive integer, but got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"should be a positive integer, but got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    full, quick = SIZES["full"], SIZES["quick"]
    p = argparse.ArgumentParser(
        prog="python -m dpa.bench",
        description="Throughput of dpa against the pure-Python oracle and the SHA-256 limit, "
        "with the machine facts needed to read the figures.",
    )
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes and fewer repeats (a few seconds per section)")
    p.add_argument("--json", metavar="PATH",
                   help='also write {"machine": ..., "figures": [...], "sections": {...}} to PATH')
    p.add_argument("--only", choices=SECTIONS, metavar="NAME",
                   help=f"run one section: {', '.join(SECTIONS)}")
    p.add_argument("--ids", type=_positive_int, metavar="N",
                   help=f"core: ids per generate run (default {full['ids']:,}; "
                   f"quick {quick['ids']:,})")
    p.add_argument("--oracle-ids", type=_positive_int, metavar="N",
                   help=f"core: ids per oracle run (default {full['oracle_ids']:,}; "
                   f"quick {quick['oracle_ids']:,})")
    p.add_argument("--compressions", type=_positive_int, metavar="N",
                   help=f"core: compressions per SHA-256 loop (default {full['compressions']:,}; "
                   f"quick {quick['compressions']:,})")
    p.add_argument("--repeats", type=_positive_int, metavar="R",
                   help=f"core: timed runs per figure, the median counts "
                   f"(default {full['repeats']}; quick {quick['repeats']})")
    return p


# ---- printing ----------------------------------------------------------------


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if unit.endswith("/s") or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _by_name(figures: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in figures}


def core_report(figures: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    """The core figures as a table, with the notes needed to read it."""
    rows = [
        [f["name"], _num(f["value"], f["unit"]), f["unit"], f["baseline"] or "",
         _num(f["baseline_value"], f["unit"]),
         f"{f['ratio']:.3g}x" if f["ratio"] is not None else "",
         f"{f['params']['spread']:.0%}" if "spread" in f["params"] else ""]
        for f in figures
    ]
    out = [_table(["figure", "value", "unit", "baseline", "baseline value", "ratio", "spread"],
                  rows, right={1, 4, 5, 6})]
    f = _by_name(figures)
    notes = []
    if {"generate_1_thread", "generate_all_threads"} <= f.keys():
        g1, ga = f["generate_1_thread"], f["generate_all_threads"]
        notes.append(
            f"{ga['params']['threads']} threads give {ga['value'] / g1['value']:.2f}x one thread "
            f"({machine.get('cores_available')} cores available, "
            f"{_num(machine.get('cpu_busy_percent'))}% busy before the start)."
        )
    if {"generate_1_thread", "generate_portable_1_thread"} <= f.keys():
        g1, gp = f["generate_1_thread"], f["generate_portable_1_thread"]
        paths = ", ".join(g1["params"]["kernel_paths"])
        notes.append(f"Run-time dispatch ({paths}) gives {g1['value'] / gp['value']:.2f}x "
                     "the portable kernel.")
    if "sha256_limit_share" in f:
        params = f["sha256_limit_share"]["params"]
        notes.append(
            f"sha256_limit = sha256_compress / {params['compressions_per_sample']} compressions "
            f"per depth-{params['depth']} sample; "
            "ratio = the kernel's share of it. sha256_compress is a dependent chain "
            "(latency bound) while the kernel interleaves independent samples and "
            "pre-expands constant blocks, so a share above 1 means the chain rate is "
            "no ceiling, not that SHA-256 got cheaper."
        )
    reps = {fig["params"].get("repeats") for fig in figures} - {None}
    notes.append("spread = (slowest - fastest run) / median run.")
    notes.append(
        f"Medians of {', '.join(map(str, sorted(reps)))} timed runs per figure, the figures "
        "taking turns after a warm-up round; moderate preset. Compare ratios, not absolute "
        "rates across machines."
    )
    out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out)


def section_report(rows: list[dict[str, Any]]) -> str:
    """Rows of any other section, as a table of their keys (``bench`` left out)."""
    if not rows:
        return "(no rows)"
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k != "bench" and k not in keys]
    body = [[_num(r.get(k)) if not isinstance(r.get(k), (dict, list)) else json.dumps(r.get(k))
             for k in keys] for r in rows]
    right = {i for i, k in enumerate(keys)
             if all(isinstance(r.get(k), (int, float)) for r in rows)}
    return _table(keys, body, right)


def _busy(machine: dict[str, Any]) -> bool:
    busy = machine.get("cpu_busy_percent")
    return busy is not None and busy > 20


# ---- main --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    args = _parser().parse_args(argv)
    machine = machine_facts()
    started = time.perf_counter()
    git = machine["git"]
    revision = "not a git checkout"
    if git:
        revision = git["commit"][:12] + (" +changes" if git["dirty"] else "")
    print(f"dpa {machine['dpa']} ({revision}), {machine['python']}, numpy {machine['numpy']}")
    yes = {True: "yes", False: "no"}
    print(f"{machine['cpu_model']}; {machine['cores_available']} cores available; "
          f"SHA-NI {yes[machine['sha_ni']]}, AVX2 {yes[machine['avx2']]}, "
          f"AVX-512 {yes[machine['avx512']]}; "
          f"kernel paths in effect: {', '.join(machine['kernel_paths']) or 'portable'}")
    if _busy(machine):
        print(f"warning: the CPUs were {machine['cpu_busy_percent']:.0f}% busy before the "
              "benchmark started: other work is running and will skew the figures")

    figures: list[dict[str, Any]] = []
    sections: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, str] = {}
    seconds: dict[str, float] = {}
    core_sizes = {"ids": args.ids, "oracle_ids": args.oracle_ids,
                  "compressions": args.compressions, "repeats": args.repeats}
    for name in SECTIONS:
        if args.only and name != args.only:
            continue
        try:
            module = load_section(name)
        except ImportError as exc:  # a section not written yet, or its dependency missing
            skipped[name] = f"{type(exc).__name__}: {exc}"
            print(f"\n[{name}] skipped: {skipped[name]}")
            continue
        print(f"\n[{name}]", flush=True)
        t0 = time.perf_counter()
        if name == "core":
            figures = module.run(args.quick, **core_sizes)
            seconds[name] = time.perf_counter() - t0
            print(core_report(figures, machine))
        else:
            rows = module.run(args.quick)
            seconds[name] = time.perf_counter() - t0
            sections[name] = rows
            print(section_report(rows))
        print(f"({seconds[name]:.1f} s)", flush=True)

    total = time.perf_counter() - started
    print(f"\ntotal {total:.1f} s")
    if args.json:
        doc = {
            "machine": machine,
            "run": {"quick": args.quick, "only": args.only,
                    "core_sizes": {k: v for k, v in core_sizes.items() if v is not None},
                    "seconds": {**seconds, "total": total}},
            "figures": figures,
            "sections": sections,
            "skipped": skipped,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, allow_nan=False)
            f.write("\n")
        print(f"wrote {args.json}")
    return 1 if args.only in skipped else 0  # the one section asked for did not run


if __name__ == "__main__":
    sys.exit(main())
