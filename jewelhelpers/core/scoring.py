"""Scoring a run on labelled images: the one path from a model and images to `metrics.json`.

`jewel train` writes RUN_DIR/metrics.json for the test split and `jewel evaluate` writes eval-*/metrics.json for
any split or folder, both through `score_items`, so the two agree. The temperature is fitted once on the run's
validation split and kept in meta.json.

Taught in: 03_evaluation.ipynb.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

from .errors import JewelError
from .forward import TTA_ZOOM, RunLogits, probabilities, run_logits
from .manifest import manifest_split
from .metrics import classification_metrics, ece, fit_temperature, match_classes, nll
from .runs import update_meta

PREPROCESSING = ("as in validation during training: centred square crop resized to presize (PIL bilinear), "
                 "then resized to size (bilinear), normalised with the backbone's mean/std")
TTA_VIEWS = f"mean logits of: the image, its horizontal mirror, a {TTA_ZOOM - 1:.0%} zoom on the centre"
TEST_SPLIT = "the run's test split"  # what `evaluated_on` says for it
ALL_OF_DATA = "all images of DATA"  # ... and for another folder, scored whole
NOTE = ("metrics cover classes_evaluated (DATA's classes the model knows); confusion matrix rows are those classes, "
        "columns all model classes; predicting a class DATA lacks counts as an error")


def valid_temperature(run_dir: str | Path, model: torch.nn.Module, meta: dict, progress: bool = True,
                      valid: RunLogits | None = None) -> dict:
    """Fit the temperature on the run's validation split; NLL and ECE there before and after (nothing stored).

    `valid` is the model's outputs on that split when the caller has them already (LP-FT's cached pass).
    """
    if valid is None:
        items = manifest_split(run_dir, meta, "valid")
        if items.empty:
            raise JewelError("the run's manifest has no valid rows to fit a temperature on")
        valid = run_logits(model, meta, match_classes(items, meta["classes"])[0], progress=progress)
    res = valid
    if not len(res.y):
        raise JewelError("no image of the run's validation split could be read to fit a temperature on")
    t = fit_temperature(res.logits, res.y)
    return {"temperature": t, "fitted_on": "the run's valid split", "n_valid": int(len(res.y)),
            "valid_nll_before": nll(res.logits, res.y), "valid_nll_after": nll(res.logits, res.y, t),
            "valid_ece_before": ece(probabilities(res.logits).numpy(), res.y),
            "valid_ece_after": ece(probabilities(res.logits, t).numpy(), res.y)}


def calibration(run_dir: str | Path, model: torch.nn.Module, meta: dict, progress: bool = True,
                valid: RunLogits | None = None) -> dict:
    """The run's temperature: reused from meta.json, else fitted on the valid split and stored there (with how).

    `meta` (the caller's copy of meta.json) gets the temperature too, so later calls reuse it.
    """
    if meta.get("temperature"):
        return meta.get("calibration") or {"temperature": float(meta["temperature"]), "fitted_on": "reused from meta.json"}
    try:
        cal = valid_temperature(run_dir, model, meta, progress, valid)
    except JewelError as e:
        print(f"no temperature scaling: {e}")
        return {"temperature": None, "fitted_on": None, "reason": str(e)}
    update_meta(run_dir, temperature=cal["temperature"], calibration=cal)
    meta.update(temperature=cal["temperature"], calibration=cal)
    return cal


def score_items(run_dir: str | Path, model: torch.nn.Module, meta: dict, items: pd.DataFrame, data: str | Path,
                evaluated_on: str, out: str | Path, tta: bool = False, progress: bool = True,
                features: bool = False, outputs: RunLogits | None = None,
                valid: RunLogits | None = None) -> tuple[dict, RunLogits]:
    """The metrics.json of `model` on `items` (path, label), and the logits (and with `features`, the pooled
    features) behind it.

    Images of classes the model does not know are left out (said aloud), unreadable ones skipped and listed.
    `outputs` and `valid` are the model's outputs on those items and on the valid split when the caller has
    them already (`jewel train` after LP-FT: its cached frozen pass); otherwise the model runs on the images.
    """
    items, class_info = match_classes(items, meta["classes"])
    cal = calibration(run_dir, model, meta, progress, valid)
    res = outputs if outputs is not None else run_logits(model, meta, items, progress=progress, features=features)
    for u in res.unreadable:
        print(f"skipped an unreadable file: {u['reason']}", file=sys.stderr)
    if not len(res.y):
        raise JewelError(f"none of the {len(items)} images to evaluate in {data} could be read")
    metrics = {"run_dir": str(Path(run_dir).resolve()), "data": str(Path(data).resolve()),
               "evaluated_on": evaluated_on, "out": str(Path(out).resolve()), "temperature": cal["temperature"],
               **classification_metrics(res.logits, res.y, meta["classes"], cal["temperature"]),
               **class_info, "calibration": cal, "preprocessing": PREPROCESSING, "unreadable": res.unreadable,
               "note": NOTE}
    if tta:
        t = run_logits(model, meta, items, tta=True, progress=progress)
        metrics["tta"] = {"views": TTA_VIEWS, **classification_metrics(t.logits, t.y, meta["classes"], cal["temperature"])}
    return metrics, res
