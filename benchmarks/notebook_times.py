"""Issue 17: run every numbered notebook top to bottom, in place, and time each (what `make notebooks` runs).

Executes notebooks/[0-9]*.ipynb in order with nbclient in this Python's kernel, writes each back with its outputs
(run it on the default drawn data only: committed outputs must never come from ../shared photos), and prints one
line per notebook and the total. The profile is `$JEWEL_PROFILE` (default quick, the laptop profile); target: each
notebook at most 10 minutes on 2 CPU cores.

    JEWEL_PROFILE=quick .venv/bin/python benchmarks/notebook_times.py               # all, in place
    .venv/bin/python benchmarks/notebook_times.py notebooks/02_*.ipynb --no-write   # one, outputs not kept
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 600


def run_notebook(path: Path, write: bool = True, timeout: int = 1800) -> float:
    """Execute `path` in its folder and return its wall time in seconds; with `write`, save it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    if write:
        nbformat.write(nb, path)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", type=Path, nargs="*", default=sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")))
    ap.add_argument("--no-write", action="store_true", help="run only: keep the notebooks as they are")
    args = ap.parse_args()
    if os.environ.get("JEWEL_DATA"):
        sys.exit("notebook_times: unset JEWEL_DATA: committed outputs come from the drawn data only")
    os.environ.setdefault("JEWEL_PROFILE", "quick")
    os.environ.pop("MPLBACKEND", None)  # the kernel's own inline backend: a non-interactive one (Agg) loses the figures
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    total = 0.0
    for path in args.notebooks:
        seconds = run_notebook(path.resolve(), write=not args.no_write)
        total += seconds
        verdict = "within" if seconds <= LIMIT_S else "OVER"
        print(f"{path.name}: {seconds / 60:.1f} min ({verdict} 10 min), profile {os.environ['JEWEL_PROFILE']}", flush=True)
    print(f"all {len(args.notebooks)} notebooks: {total / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
