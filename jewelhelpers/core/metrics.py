"""Scoring predictions: one metrics function for every split or folder, calibration, and confidence thresholds.

`classification_metrics` is the one place accuracy, F1 and the confusion matrix are computed; RUN_DIR's
`metrics.json`, `jewel evaluate`, the probe baseline and the notebooks' comparisons all read it.

Taught in: 03_evaluation.ipynb (and 04 for thresholds).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .errors import JewelError
from .forward import RunLogits, probabilities

N_BINS = 15
T_BOUNDS = (0.05, 20.0)


def match_classes(items: pd.DataFrame, classes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Leave out images of classes the model does not know (said aloud); report classes DATA lacks."""
    present = set(items["label"])
    unknown = sorted(present - set(classes))
    if unknown:
        n = int(items["label"].isin(unknown).sum())
        print(f"left out {n} image(s) of class(es) the model does not know: {', '.join(unknown)}")
    known = items[items["label"].isin(classes)].reset_index(drop=True)
    if known.empty:
        raise JewelError(f"none of DATA's classes ({', '.join(sorted(present))}) is known to the model "
                         f"({', '.join(classes)})")
    return known, {"classes_unknown_to_model": unknown,
                   "n_unknown_to_model": int(len(items) - len(known)),
                   "classes_missing_from_data": [c for c in classes if c not in present]}


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> list[dict]:
    """Equal-width bins on the top probability: count, mean confidence and accuracy of each (lo, hi] bin."""
    conf, correct = probs.max(1), probs.argmax(1) == y
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        m = idx == b
        bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "count": int(m.sum()),
                     "confidence": float(conf[m].mean()) if m.any() else None,
                     "accuracy": float(correct[m].mean()) if m.any() else None})
    return bins


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error: the count-weighted mean gap between confidence and accuracy over the bins."""
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"])
                     for b in reliability(probs, y, n_bins) if b["count"]) / len(y))


def nll(logits: torch.Tensor, y: np.ndarray, temperature: float | None = None) -> float:
    """Mean negative log-likelihood of the true class under softmax(logits / temperature)."""
    return float(F.cross_entropy(logits.float() / (temperature or 1.0), torch.tensor(y, dtype=torch.long)))


def fit_temperature(logits: torch.Tensor, y: np.ndarray) -> float:
    """The single temperature T minimising NLL of softmax(logits / T): a bounded 1-D search on log T."""
    from scipy.optimize import minimize_scalar
    lo, hi = (math.log(t) for t in T_BOUNDS)
    res = minimize_scalar(lambda log_t: nll(logits, y, math.exp(log_t)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-5})
    return float(math.exp(res.x))


def classification_metrics(logits: torch.Tensor, y: np.ndarray, classes: list[str],
                           temperature: float | None = None) -> dict:
    """Accuracy, top-2, per-class precision/recall/F1, macro/weighted F1, confusion matrix, NLL, ECE.

    Rows of the confusion matrix and the F1 averages cover the classes present in `y` (classes_evaluated);
    columns are all of the model's `classes`, so predicting a class absent from the data is an error.
    With a `temperature`, ECE, NLL and the reliability bins are also given after calibration.
    """
    probs = probabilities(logits).numpy()
    pred = probs.argmax(1)
    rows = sorted(set(y.tolist()))
    cm = np.zeros((len(rows), len(classes)), dtype=int)
    np.add.at(cm, (np.searchsorted(rows, y), pred), 1)
    per_class = {}
    for i, j in enumerate(rows):
        tp, support, predicted = cm[i, j], cm[i].sum(), cm[:, j].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[classes[j]] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                                 "support": int(support)}
    f1s = np.array([v["f1"] for v in per_class.values()])
    supports = np.array([v["support"] for v in per_class.values()])
    top2 = (np.argsort(-probs, axis=1)[:, :2] == y[:, None]).any(1)
    metrics = {
        "n": int(len(y)), "classes_evaluated": [classes[j] for j in rows],
        "accuracy": float((pred == y).mean()), "top2_accuracy": float(top2.mean()),
        "macro_f1": float(f1s.mean()), "weighted_f1": float((f1s * supports).sum() / supports.sum()),
        "per_class": per_class,
        "confusion_matrix": {"rows": [classes[j] for j in rows], "columns": list(classes), "counts": cm.tolist()},
        "nll": nll(logits, y), "ece": ece(probs, y), "reliability": {"raw": reliability(probs, y)},
    }
    if temperature:
        calibrated = probabilities(logits, temperature).numpy()
        metrics |= {"nll_calibrated": nll(logits, y, temperature), "ece_calibrated": ece(calibrated, y)}
        metrics["reliability"]["calibrated"] = reliability(calibrated, y)
    return metrics


def most_confused(metrics: dict, min_count: int = 1) -> list[tuple[str, str, int]]:
    """(truth, predicted, count) for every off-diagonal cell of the confusion matrix, most frequent first."""
    cm = metrics["confusion_matrix"]
    pairs = [(t, p, n) for t, row in zip(cm["rows"], cm["counts"]) for p, n in zip(cm["columns"], row)
             if t != p and n >= min_count]
    return sorted(pairs, key=lambda r: -r[2])


def prediction_table(res: RunLogits, classes: list[str]) -> pd.DataFrame:
    """One row per image: path, truth, pred, confidence, p_truth, loss (-log p_truth), correct."""
    probs = probabilities(res.logits).numpy()
    pred = probs.argmax(1)
    p_truth = probs[np.arange(len(res.y)), res.y]
    return pd.DataFrame({"path": res.items["path"].to_numpy(), "truth": res.items["label"].to_numpy(),
                         "pred": [classes[i] for i in pred], "confidence": probs.max(1), "p_truth": p_truth,
                         "loss": -np.log(np.clip(p_truth, 1e-12, None)), "correct": pred == res.y})


def coverage_curve(probs: np.ndarray, y: np.ndarray, thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """For each threshold: coverage (share of images answered, the rest `unknown`) and error among those answered.

    The error is NaN where nothing is answered.
    """
    thresholds = np.linspace(0, 1, 101) if thresholds is None else np.asarray(thresholds, dtype=float)
    conf, wrong = probs.max(1), probs.argmax(1) != y
    rows = []
    for t in thresholds:
        answered = conf >= t
        rows.append({"threshold": float(t), "coverage": float(answered.mean()),
                     "error": float(wrong[answered].mean()) if answered.any() else float("nan")})
    return pd.DataFrame(rows)


def pick_threshold(curve: pd.DataFrame, max_error: float) -> float:
    """The lowest threshold (most coverage) whose error among answered images is at most `max_error`; else 1.0."""
    ok = curve[curve["error"] <= max_error]
    return float(ok["threshold"].min()) if len(ok) else 1.0
