"""Issue 16: does removing the sources' style from the features stop "thin gold on white = bracelet"?

In `jewelry_photos` the class and the origin are tangled: every bracelet and watch comes from one repository
(prince), every necklace from the other (abhishek), and each has its own way of rendering. A model can learn
"this rendering style, so bracelet" where it should learn the object. Held out on abhishek's renders, the
default's model calls 147 of their 291 gold necklaces bracelets; held out on prince's renders, it calls 103 of
their 287 bracelets necklaces: the same confusion both ways, where the style and not the object was seen in
training.

Nuisance attribute projection (Solomonoff et al. 2005, from speaker verification): within each class that more than
one training source shows, the difference between each source's mean feature and the class's mean is style, not
class. The top `k` directions of those differences (SVD) are projected out of every feature, training and test,
before the probe is fitted. Only the training sources are used to find them (leave-one-source-out stays honest).

Measured on `loso.py`'s probe-level leave-one-source-out (the shipped probe: 288 px, class-balanced, C=0.01, 80
drawn v2 images per class as a source of their own; its feature cache), 3 seeds, paired with k = 0:

    .venv/bin/python benchmarks/experiments/style_directions.py --cache /tmp/jewel-loso --k 0 2 4 8 16
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso import SHIPPED, Loso, accuracy_table, held_out_row, shipped_args  # noqa: E402

from jewelhelpers.core.drawing import CLASSES  # noqa: E402
from jewelhelpers.core.probe import fit_probe  # noqa: E402


def style_basis(x: np.ndarray, labels: np.ndarray, sources: np.ndarray, k: int) -> np.ndarray:
    """(k, d) orthonormal directions of within-class differences between source means (x already standardised)."""
    diffs = []
    for c in np.unique(labels):
        inside = labels == c
        means = [x[inside & (sources == s)].mean(axis=0) for s in np.unique(sources[inside])]
        if len(means) > 1:
            diffs += list(np.array(means) - np.mean(means, axis=0))
    if not diffs or k == 0:
        return np.zeros((0, x.shape[1]))
    _, _, vt = np.linalg.svd(np.array(diffs), full_matrices=False)
    return vt[:k]


def run(loso: Loso, ks: list[int], seed: int) -> list[dict]:
    """Accuracy of each held-out real source, for each k, on one seed (seed > 0: a seeded 90% of the real rows)."""
    src, rows = loso.real["source"].to_numpy(), []
    for held, train, x, y, xt, truth in loso.folds(SHIPPED, seed):
        s = np.concatenate([src[train], np.full(len(x) - train.sum(), "drawn")])
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z, zt = (x - mean) / scale, (xt - mean) / scale
        for k in ks:
            v = style_basis(z, y, s, k)
            probe = fit_probe(z - z @ v.T @ v, list(y), CLASSES, C=0.01)
            pred = np.array(probe.predict(zt - zt @ v.T @ v))
            rows.append(held_out_row(truth, pred, seed=seed, source=held, k=k))
    return rows


def main() -> None:
    t0 = time.time()
    args, loso = shipped_args(__doc__.splitlines()[0], **{"--k": dict(
        type=int, nargs="+", default=[0, 2, 4, 8, 16], help="style directions removed (0: none)")})
    df = pd.DataFrame([r for seed in range(args.seeds) for r in run(loso, args.k, seed)])
    print(accuracy_table(df, "k").round(3).to_string())
    errors = ["rings called bracelets", "necklaces called bracelets", "bracelets called necklaces"]
    print(df.groupby("k")[errors].sum().div(args.seeds).round(1).to_string())
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
