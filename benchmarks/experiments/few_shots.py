"""Issue 16: how many labelled photos of its own does a shop need before the model reads its style?

Leave-one-source-out says what a model does on a shop it never saw. A shop can also label a few of its own photos
and add them as one more source (`jewel train OTHER_PHOTOS... MY_FEW/`; every source weighs the same, so a few
photos are repeated up to the largest source's count). Here, at the probe level (the shipped probe's settings on
the cached 288 px frozen Lite0 features, `loso.py`'s cache), each real source is held out as in `loso.py` and K
photos per class of it, picked at random per seed, join the training rows: added once ("plain"), or repeated to
weigh as much as the largest training source ("as a source", as `jewel train` weighs them). Every K is scored on
the same photos: the held-out source less the largest K's picks.

    .venv/bin/python benchmarks/experiments/few_shots.py --cache /tmp/jewel-loso --seeds 3
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso import SHIPPED, accuracy_table, held_out_row, shipped_args  # noqa: E402

from jewelhelpers.core.drawing import CLASSES  # noqa: E402
from jewelhelpers.core.probe import fit_probe  # noqa: E402

SHOTS = (0, 1, 3, 5, 10)  # labelled photos per class of the held-out source


def held_out_picks(labels: np.ndarray, seed: int, held: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The held-out source's rows (their `labels`): per class, a seeded order (its first K rows are the shots at K,
    nested across K), and the mask of rows every K is scored on (all but the first max(SHOTS) of each class)."""
    rng = np.random.default_rng([seed, len(held)])
    order = {c: rng.permutation(np.flatnonzero(labels == c)) for c in CLASSES if (labels == c).any()}
    test = np.ones(len(labels), bool)
    for idx in order.values():
        test[idx[:max(SHOTS)]] = False
    return order, test


def main() -> None:
    args, loso = shipped_args(__doc__.splitlines()[0])
    sources = loso.real["source"].to_numpy()
    largest = pd.Series(sources).value_counts()
    rows = []
    for seed in range(args.seeds):
        for held, train, x, y, xt, yt in loso.folds(SHIPPED, seed):
            order, test = held_out_picks(yt, seed, held)
            top = int(largest.drop(held).max() * 0.9 if seed else largest.drop(held).max())
            for k in SHOTS:
                shots = np.concatenate([idx[:k] for idx in order.values()]).astype(int)
                for mode in ("plain", "as a source") if k else ("plain",):
                    repeat = max(1, round(top / max(len(shots), 1))) if mode == "as a source" else 1
                    xs, ys = np.repeat(xt[shots], repeat, axis=0), np.repeat(yt[shots], repeat)
                    probe = fit_probe(np.concatenate([x, xs]), [*y, *ys], CLASSES, balanced=SHIPPED.balanced,
                                      C=SHIPPED.C)
                    pred = np.array(probe.predict(xt[test]))
                    rows.append(held_out_row(yt[test], pred, seed=seed, source=held,
                                             lever=f"{k} a class" + ("" if not k else f", {mode}")))
            print(f"seed {seed}: {held} done", flush=True)
    df = pd.DataFrame(rows)
    print(accuracy_table(df, "lever").round(3).to_string())


if __name__ == "__main__":
    main()
