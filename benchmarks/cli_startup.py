"""How long the light `jewel` verbs take from a cold process: --help, audit and split on a small drawn set.

Each command runs in a fresh Python process (as a user types it), `--repeats` times; the median is printed. With
`--against DIR` (a checkout of another revision, e.g. `git worktree add /tmp/old 906ab2f`), the same commands run
with DIR's `jewelhelpers` first on the path, side by side in the same run, and the ratio is printed.

    .venv/bin/python benchmarks/cli_startup.py --against /tmp/old
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"--help": ["--help"], "audit --help": ["audit", "--help"], "audit DATA": ["audit", "{data}"],
            "split DATA": ["split", "{data}", "--out", "{out}/split.csv"]}


def timed(tree: Path, args: list[str]) -> float:
    """Seconds for one `jewel ARGS` in a fresh process importing `jewelhelpers` from `tree`."""
    code = "import sys; from jewelhelpers.cli import main; sys.exit(main(sys.argv[1:]))"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tempfile.gettempdir(),
                          env=os.environ | {"PYTHONPATH": str(tree)})  # not run from a checkout: `-c` puts cwd first
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not done.stderr + done.stdout:
        raise SystemExit(f"jewel {' '.join(args)} failed in {tree}: {done.stderr[-500:]}")
    return seconds


def imported_from(tree: Path) -> str:
    """Where a process with `tree` first on the path imports jewelhelpers from (checked, not assumed)."""
    code = "import jewelhelpers; print(jewelhelpers.__file__)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir(),
                          env=os.environ | {"PYTHONPATH": str(tree)}).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", type=Path, action="append", default=[], help="another checkout to time beside")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--per-class", type=int, default=6, help="drawn images per class for audit and split")
    args = ap.parse_args()
    trees = [ROOT, *args.against]
    for tree in trees:
        where = imported_from(tree)
        if not where.startswith(str(tree.resolve())):
            raise SystemExit(f"with {tree} first on the path, jewelhelpers still comes from {where}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synth"
        timed(ROOT, ["synth", str(data), "--per-class", str(args.per_class), "--size", "48"])
        medians: dict[str, list[float]] = {}
        for name, template in COMMANDS.items():
            for tree in trees:
                out = Path(tmp) / f"out-{trees.index(tree)}"
                out.mkdir(exist_ok=True)
                command = [a.format(data=data, out=out) for a in template]
                medians.setdefault(name, []).append(
                    statistics.median(timed(tree, command) for _ in range(args.repeats)))
    print(f"median seconds of {args.repeats} cold runs, {5 * args.per_class} drawn images; trees: "
          + ", ".join(str(t) for t in trees))
    header = f"{'command':<14}" + "".join(f"{'tree ' + str(i):>10}" for i in range(len(trees)))
    print(header + ("   ratio (other / this)" if len(trees) > 1 else ""))
    for name, values in medians.items():
        ratio = "   " + "  ".join(f"{v / values[0]:.1f}x" for v in values[1:]) if len(values) > 1 else ""
        print(f"{name:<14}" + "".join(f"{v:>10.2f}" for v in values) + ratio)


if __name__ == "__main__":
    main()
