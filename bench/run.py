"""Run the benchmarks and print one table of medians.

    python bench/run.py                     # every bench/bench_*.py
    python bench/run.py foundation replay   # only these (with or without the bench_ prefix)

Each ``bench_*.py`` module has ``main() -> list[tuple[str, float, str]]`` (label, median, unit).
A module that fails is reported on stderr and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from _util import format_table  # noqa: E402  (needs the sys.path set-up above)


def available() -> list[str]:
    """Module names of every benchmark in bench/, sorted."""
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def resolve(names: list[str]) -> list[str]:
    """Module names for the names given (``foundation`` or ``bench_foundation``)."""
    known = available()
    if not names:
        return known
    chosen = []
    for name in names:
        stem = Path(name).stem
        module = stem if stem.startswith("bench_") else f"bench_{stem}"
        if module not in known:
            have = ", ".join(m.removeprefix("bench_") for m in known)
            raise SystemExit(f"no benchmark '{name}' (have: {have})")
        chosen.append(module)
    return chosen


def run(modules: list[str]) -> tuple[list[tuple[str, float, str, str]], list[str]]:
    """Rows of every module (with the module's short name) and the modules that failed."""
    rows: list[tuple[str, float, str, str]] = []
    failed: list[str] = []
    for module in modules:
        short = module.removeprefix("bench_")
        print(f"{module}:", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            result = importlib.import_module(module).main()
            for label, median, unit in result:
                rows.append((str(label), float(median), str(unit), short))
        except Exception:
            traceback.print_exc()
            failed.append(module)
        print(f"  {module} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return rows, failed


def main(argv: list[str] | None = None) -> int:
    """Parse the names, run the modules, print the table; 1 when a module failed."""
    parser = argparse.ArgumentParser(description="Run trader-cli benchmarks and print medians.")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(available())})")
    args = parser.parse_args(argv)
    modules = resolve(args.names)
    started = time.perf_counter()
    rows, failed = run(modules)
    print(format_table(rows, title=f"trader-cli benchmarks (medians; {time.perf_counter() - started:.0f} s)"))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
