"""Issue 6: does a model trained on jewelry_photos sort OTHER shops' photos? Baseline probe vs the recipe.

Trains on jewelry_photos only (the training part of a stratified 15% test split, seed 0) and prints accuracy
on that test split and on each other_shops folder, for
  - baseline: logistic regression (sklearn defaults, no class weights) on frozen EfficientNet-Lite0
    pooled features of the plain 224 px centre crop;
  - recipe:   the same frozen features, standardised, balanced class weights, strong L2 (C=0.01), plus
    80 procedurally drawn synthetic images per class (jewelhelpers.core.drawing.make_synth, drawn into the cache
    folder) mixed into the probe's training set.
See benchmarks/RESULTS.md, "Generalisation to other shops (issue 6)".

    nice -n 10 .venv/bin/python benchmarks/shift_check.py                      # full run
    .venv/bin/python benchmarks/shift_check.py --max-per-class 4 --no-cache    # seconds, for tests
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jewelhelpers.core.backbones import norm_stats
from jewelhelpers.core.images import read_items
from jewelhelpers.core.probe import extract_features, fit_probe, probe_accuracy
from jewelhelpers.core.drawing import make_synth

CLASSES = ["bracelet", "earring", "necklace", "ring", "watch"]
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
SHOPS = ("myntra_fashion", "western_lifestyle")
ARCH = "efficientnet_lite0"
SIZE = 224  # pixels of the centre crop the features are computed on (160 measured worse)
RECIPE = {"C": 0.01, "balanced": True, "standardize": True, "synth_per_class": 80, "synth_seed": 0}


def load_sets(data: Path, max_per_class: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """(train, test) of jewelry_photos (stratified 15% test, seed 0) with their labels.csv columns, and the shops."""
    from sklearn.model_selection import train_test_split
    photos = data / "jewelry_photos"
    items = read_items(photos, max_per_class=max_per_class)
    meta = pd.read_csv(photos / "labels.csv").drop(columns="category")
    meta["path"] = [str((photos / f).resolve()) for f in meta["file"]]
    items = items.merge(meta, on="path", how="left")
    n_test = max(int(np.ceil(0.15 * len(items))), items["label"].nunique())  # every class once, even when tiny
    train, test = train_test_split(items, test_size=n_test, stratify=items["label"], random_state=0)
    shops = {name: read_items(data / "other_shops" / name, max_per_class=max_per_class) for name in SHOPS}
    return train.sort_values("path").reset_index(drop=True), test.sort_values("path").reset_index(drop=True), shops


def shift_val_mask(train: pd.DataFrame) -> np.ndarray:
    """A validation set that differs in source from the rest: per class, the smallest (origin_repo, render)
    group when the class has several; else a seeded 30% of the class. For choosing hyper-parameters."""
    group = train["origin_repo"].astype(str) + "|" + train["likely_cgi_render"].fillna("photo").astype(str)
    mask = np.zeros(len(train), dtype=bool)
    rng = np.random.default_rng(0)
    for label, rows in train.groupby("label"):
        sizes = group[rows.index].value_counts()
        if len(sizes) > 1:
            mask[rows.index[group[rows.index] == sizes.idxmin()]] = True
        else:
            mask[rng.choice(rows.index, size=max(1, len(rows) * 3 // 10), replace=False)] = True
    return mask


def run(data: Path, max_per_class: int | None, cache_dir: str | None, progress: bool) -> pd.DataFrame:
    """Fit baseline and recipe; return a table of accuracies (rows: test sets) with timings in `attrs`."""
    train, test, shops = load_sets(data, max_per_class)
    mean, std = norm_stats(ARCH)
    sets = {"in-domain test": test, **shops}

    def feats(paths):
        return extract_features(ARCH, list(paths), SIZE, mean, std, cache_dir=cache_dir, progress=progress)[:, 0]

    t0 = time.time()
    x_train = feats(train.path)
    x_sets = {name: feats(df.path) for name, df in sets.items()}
    t1 = time.time()
    base = fit_probe(x_train, train.label, CLASSES, balanced=False, standardize=False, C=1.0)
    t2 = time.time()
    r = RECIPE
    per_class = min(r["synth_per_class"], max_per_class or r["synth_per_class"])
    with tempfile.TemporaryDirectory() as tmp:  # synthetic images live in the cache folder, else only for this run
        root = Path(cache_dir or tmp) / f"synth-{per_class}-{SIZE}-{r['synth_seed']}"
        synth = read_items(make_synth(root, per_class=per_class, size=SIZE, seed=r["synth_seed"], progress=progress))
        x_synth = feats(synth.path)
    probe = fit_probe(np.concatenate([x_train, x_synth]), [*train.label, *synth.label], CLASSES,
                      balanced=r["balanced"], C=r["C"], standardize=r["standardize"])
    t3 = time.time()
    table = pd.DataFrame({"images": [len(df) for df in sets.values()],
                          "baseline": [probe_accuracy(base, x_sets[n], df.label) for n, df in sets.items()],
                          "recipe": [probe_accuracy(probe, x_sets[n], df.label) for n, df in sets.items()]},
                         index=list(sets))
    table.attrs.update(features_s=t1 - t0, baseline_s=t2 - t1, recipe_s=t3 - t2, train_images=len(train),
                       synth_images=len(synth))
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding jewelry_photos/ and other_shops/")
    ap.add_argument("--max-per-class", type=int, default=None, help="a few images per class: a run in seconds")
    ap.add_argument("--cache-dir", default="/tmp/jewel-cache/feat", help="feature cache (reused between runs)")
    ap.add_argument("--no-cache", action="store_true", help="compute every feature afresh (honest wall time)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    table = run(args.data, args.max_per_class, None if args.no_cache else args.cache_dir, not args.quiet)
    a = table.attrs
    print(f"\ntrained on {a['train_images']} jewelry_photos images (recipe: + {a['synth_images']} synthetic); "
          f"recipe: {RECIPE}")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"wall time: features of all real images {a['features_s']:.0f}s "
          f"({'cached where present' if not args.no_cache else 'no cache'}, {args.threads} threads), "
          f"baseline fit {a['baseline_s']:.0f}s, recipe extra (synthetic images, their features, fit) {a['recipe_s']:.0f}s")


if __name__ == "__main__":
    main()
