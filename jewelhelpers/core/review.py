"""Suspicious labels: out-of-fold probabilities of a probe on a run's features, ranked by cleanlab.

A model trained on a photo has seen its label, right or wrong, so its own probabilities cannot accuse it.
`out_of_fold` fits the linear probe (`core.probe.fit_probe`) on k - 1 folds of the run's pooled features and
predicts the k-th, so every photo is judged by a probe that never saw it. cleanlab's `find_label_issues`
(confident learning, Northcutt et al. 2021) then flags the photos whose given label the probabilities
contradict, ranked by self-confidence (the probability of the given label, lowest first). Near duplicates
(`core.findings`' dhash groups) that carry different labels are listed too: one of each pair is wrong.

Taught in: 05_beyond_labels.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import JewelError
from .probe import fit_probe
from .settings import REVIEW_FOLDS

REVIEW_COLUMNS = ["path", "label", "suggested", "confidence", "label_probability", "issue"]
C = 1.0  # the probe's inverse L2 strength (0.1 gives probabilities too soft for cleanlab's thresholds)


def out_of_fold(features: np.ndarray, labels: Sequence[str], classes: Sequence[str], folds: int = REVIEW_FOLDS,
                seed: int = 0) -> np.ndarray:
    """(n, n_classes) probabilities, each row from a probe fitted on the other folds (stratified, seeded)."""
    from sklearn.model_selection import StratifiedKFold
    labels = np.asarray(list(labels))
    counts = pd.Series(labels).value_counts()
    if counts.min() < folds:
        raise JewelError(f"review needs at least {folds} images per class (class {counts.idxmin()!r} has "
                         f"{counts.min()}): add photos or use fewer folds")
    probs = np.zeros((len(labels), len(classes)))
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        probs[held] = fit_probe(features[train], labels[train], classes, C=C).predict_proba(features[held])
    return probs


def label_issues(items: pd.DataFrame, probs: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """cleanlab's label issues among `items` (path, label), most suspicious first, in REVIEW_COLUMNS."""
    from cleanlab.filter import find_label_issues
    classes = list(classes)
    y = items["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    ranked = find_label_issues(y, probs, return_indices_ranked_by="self_confidence")
    best = probs[ranked].argmax(axis=1)
    return pd.DataFrame({"path": items["path"].to_numpy()[ranked], "label": items["label"].to_numpy()[ranked],
                         "suggested": [classes[i] for i in best], "confidence": probs[ranked, best],
                         "label_probability": probs[ranked, y[ranked]], "issue": "label issue"},
                        columns=REVIEW_COLUMNS)


def duplicate_conflicts(conflicts: pd.DataFrame) -> pd.DataFrame:
    """The audit's near duplicates with different labels (its `conflicts` rows), in REVIEW_COLUMNS."""
    rows = []
    for _, group in conflicts.groupby("group"):
        for _, r in group.iterrows():
            others = sorted(set(group["label"]) - {r["label"]})
            rows.append({"path": r["path"], "label": r["label"], "suggested": "/".join(others), "confidence": None,
                         "label_probability": None,
                         "issue": "near duplicate of " + ", ".join(group.loc[group["path"] != r["path"], "path"])})
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)
