"""Notebook 03: where the temperature `jewel train` fits on its valid split lands on real photos.

On the drawn data every valid image is right, so the fit runs to the bottom of its range (`T_BOUNDS`); on real
photos some are wrong and T lands near 1. This reads the `temperature` of every `meta.json` in the default's
leave-one-source-out runs (`benchmarks/loso_train.py`: RUN = run-s<seed>, trained on the six real sources, and its
held-out runs RUN/holdout/<source>, each trained on five) and prints their spread; nothing is trained or predicted.

    .venv/bin/python benchmarks/experiments/temperatures.py /tmp/loso-train
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd


def temperatures(work: Path) -> pd.DataFrame:
    """One row per run of the default (no lever suffix) in `work`: seed, held-out source ('' for the whole run), T."""
    rows = []
    for pattern in ("run-s*/meta.json", "run-s*/holdout/*/meta.json"):
        for meta in sorted(work.glob(pattern)):
            run, *held = meta.parent.relative_to(work).parts
            if match := re.fullmatch(r"run-s(\d+)", run):
                rows.append({"seed": int(match[1]), "heldout": held[-1] if held else "",
                             "temperature": json.loads(meta.read_text())["temperature"]})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path, help="loso_train.py's --work folder")
    table = temperatures(ap.parse_args().work).dropna()
    for name, part in (("trained on all six sources", table[table["heldout"] == ""]),
                       ("held-out runs (five sources)", table[table["heldout"] != ""])):
        q = np.percentile(part["temperature"], [0, 25, 50, 75, 100])
        print(f"{name}: {len(part)} runs, seeds {sorted(set(part['seed']))}; T min {q[0]:.2f}, quartiles "
              f"{q[1]:.2f} / {q[2]:.2f} / {q[3]:.2f}, max {q[4]:.2f}")
    low = table[table["temperature"] < 0.5]
    print("T below 0.5 (every valid photo right):", ", ".join(f"s{r.seed} {r.heldout or 'all'} {r.temperature:.3f}"
                                                              for r in low.itertuples()) or "none")


if __name__ == "__main__":
    main()
