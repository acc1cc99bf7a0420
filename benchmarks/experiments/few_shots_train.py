"""Issue 16: a shop's few labelled photos as one more source, in full trainings (few_shots.py measured the probe).

For each held-out source S and seed: the shipped recipe (`jewel train`, quick profile) on the other five real
sources (`loso_train.py`'s files) plus K photos per class of S as a sixth source (a CSV in --work; every source
weighs the same, so they are repeated up to the largest source's count), scored on the photos of S that
few_shots.py scores (S less its first 10 picks per class of the seed's order). Beside it, on the same photos, the
default's model that never saw S (`loso_train.py --seed SEED`'s held-out run, `heldout_probs.npz`).

    .venv/bin/python benchmarks/experiments/few_shots_train.py --seed 0 --sources western_lifestyle myntra_fashion
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from few_shots import held_out_picks  # noqa: E402
from loso import DATA, held_out_row, real_items  # noqa: E402
from loso_train import ORDER, heldout_probs, source_files  # noqa: E402

from jewelhelpers.core.drawing import CLASSES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/loso-train"), help="loso_train.py's --work")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shots", type=int, default=5, help="labelled photos per class of the held-out source")
    ap.add_argument("--sources", nargs="+", default=["western_lifestyle", "myntra_fashion"], choices=ORDER)
    args = ap.parse_args()
    real, files = real_items(DATA), source_files(DATA, args.work)
    rows = []
    for held in args.sources:
        items = real[real["source"] == held].reset_index(drop=True)
        labels = items["label"].to_numpy()
        order, test = held_out_picks(labels, args.seed, held)
        shots = items.iloc[np.concatenate([idx[:args.shots] for idx in order.values()])]
        name = f"{held}-shots{args.shots}-s{args.seed}"
        csv = args.work / "few-shots" / f"{name}.csv"
        csv.parent.mkdir(parents=True, exist_ok=True)
        shots[["path", "label"]].rename(columns={"path": "file"}).to_csv(csv, index=False)
        run = args.work / "few-shots" / f"run-{name}"
        meta = run / "meta.json"
        if not (meta.is_file() and json.loads(meta.read_text()).get("complete")):
            from jewelhelpers.jobs.train import train
            rest = [f for f, source in zip(files, ORDER) if source != held]
            train([*rest, csv], run, profile="quick", seed=args.seed, external=[], classes=list(CLASSES), force=True)
        from jewelhelpers.core.predictor import Predictor
        probs, ok, _ = Predictor.from_run(run).probabilities(list(items["path"][test]), progress=True)
        default = heldout_probs(args.work / f"run-s{args.seed}", real)[f"{held}/p"][test]
        for model, p, truth in (("default (never saw it)", default, labels[test]),
                                (f"+ {args.shots} of its photos a class", probs.numpy(), labels[test][ok])):
            rows.append(held_out_row(truth, np.array(CLASSES)[p.argmax(axis=1)], source=held, seed=args.seed,
                                     model=model))
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
