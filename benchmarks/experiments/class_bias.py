"""Issue 16: would a per-class bias chosen on the other sources stop the model's pull towards "bracelet"?

The default's held-out models send other classes to "bracelet" more than anywhere else: 147 of abhishek's 291
necklace renders, 11 of its 60 catalogue rings (the hidden catalogue: 50 of 68 rings, bracelet precision 0.17).
A fixed shift of each class's log-probability (a bias; "logit adjustment") is the cheapest correction, and it can
be chosen honestly by nested leave-one-source-out: for the source left out, the bias is fitted on the *other*
sources' held-out predictions only (each by the model that did not see it), then applied to it. Two fits: the
bias minimising the other sources' mean cross-entropy (each source weighs equally), and the one maximising their
mean accuracy (coordinate search on a grid). The held-out probabilities are those `label_shift.py --runs` caches
(RUN/heldout_probs.npz of `loso_train.py` runs, each seed's models with their own temperature).

    .venv/bin/python benchmarks/experiments/class_bias.py /tmp/loso-train/run-s0 /tmp/loso-train/run-s1 /tmp/loso-train/run-s2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso import accuracy_table, held_out_row  # noqa: E402
from loso_train import ORDER  # noqa: E402

from jewelhelpers.core.drawing import CLASSES  # noqa: E402

GRID = np.arange(-3.0, 3.01, 0.25)


def fit_nll(sets: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Bias minimising the mean over sets of each set's cross-entropy (log-probabilities + bias)."""
    b = torch.zeros(len(CLASSES), requires_grad=True)
    opt = torch.optim.LBFGS([b], max_iter=200)
    data = [(torch.as_tensor(lp), torch.as_tensor(y)) for lp, y in sets]

    def loss() -> torch.Tensor:
        opt.zero_grad()
        value = sum(torch.nn.functional.cross_entropy(lp + b, y) for lp, y in data) / len(data)
        value.backward()
        return value

    opt.step(loss)
    return (b - b.mean()).detach().numpy()


def mean_accuracy(sets: list[tuple[np.ndarray, np.ndarray]], b: np.ndarray) -> float:
    return float(np.mean([np.mean((lp + b).argmax(axis=1) == y) for lp, y in sets]))


def fit_accuracy(sets: list[tuple[np.ndarray, np.ndarray]], passes: int = 3) -> np.ndarray:
    """Bias maximising the mean over sets of accuracy: coordinate search over GRID, ties to the smallest shift."""
    b = np.zeros(len(CLASSES))
    for _ in range(passes):
        for c in range(1, len(CLASSES)):  # the first class's bias stays 0: only differences matter
            scores = []
            for g in GRID:
                b[c] = g
                scores.append((mean_accuracy(sets, b), -abs(g)))
            b[c] = GRID[max(range(len(GRID)), key=scores.__getitem__)]
    return b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", help="loso_train.py run folders with heldout_probs.npz")
    args = ap.parse_args()
    rows, biases = [], []
    for run in args.runs:
        d = np.load(run / "heldout_probs.npz")
        sets = {s: (np.log(np.clip(d[f"{s}/p"].astype(float), 1e-12, 1)),
                    np.array([CLASSES.index(c) for c in d[f"{s}/y"]])) for s in ORDER}
        for held in ORDER:
            others = [sets[s] for s in ORDER if s != held]
            lp, y = sets[held]
            for name, b in (("none", np.zeros(len(CLASSES))), ("cross-entropy", fit_nll(others)),
                            ("accuracy", fit_accuracy(others))):
                pred = np.array(CLASSES)[(lp + b).argmax(axis=1)]
                rows.append(held_out_row(np.array(CLASSES)[y], pred, run=run.name, source=held, bias=name,
                                         **{"called bracelet": int(np.sum(pred == "bracelet"))}))
                biases.append({"run": run.name, "held": held, "bias": name, **dict(zip(CLASSES, np.round(b, 2)))})
    df = pd.DataFrame(rows)
    print(accuracy_table(df, "bias", over="run").round(3).to_string())
    print(df.pivot_table(index="source", columns="bias", values=["rings called bracelets", "called bracelet"],
                         sort=False).round(1).to_string())
    b = pd.DataFrame(biases)
    print(b[b["bias"] != "none"].groupby("bias")[list(CLASSES)].agg(["mean", "min", "max"]).round(2).T.to_string())


if __name__ == "__main__":
    main()
