"""fastbook's recipe (chapter 5): the head with the body frozen, then everything at discriminative rates.

`lr_find` on the frozen model, `fit_one_cycle` on the head, `unfreeze`, `lr_find` again, `fit_one_cycle` with
`slice(lo, hi)` so the early, general layers move less than the late ones. Each phase keeps its best epoch (valid
loss or a chosen metric) and stops early when it stalls; the best checkpoint so far is always on disk, so Ctrl-C
loses nothing. `jewel train --recipe classic` runs it; notebook 02 types it out call by call first.

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from fastai.vision.all import Learner

from ..core.runs import PLOTS
from .fitting import KeepBest, RecipeResult, discriminative_lrs, find_lr, fit_phase, timed


def fit_recipe(learn: Learner, epochs_head: int, epochs: int, monitor: str = "valid_loss", patience: int = 3,
               lr_head: float | None = None, lr_body: float | None = None, plots: str | Path | None = None,
               on_best: Callable[[dict], None] | None = None, log: Callable[[str], None] = print) -> RecipeResult:
    """Frozen: lr_find, fit the head. Unfrozen: lr_find, fit everything with `slice(lo, hi)`.

    Rates given as `lr_head`/`lr_body` skip the matching lr_find. `plots` is a folder for the lr_find plots.
    """
    keep, timings, parts = KeepBest(monitor, on_best), {}, []
    learn.freeze()
    found_head = lr_head is None
    if found_head:
        lr_head = timed(timings, "lr_find_head", find_lr, learn, plots and Path(plots) / PLOTS["head"])
    log(f"head: {epochs_head} epoch(s) at lr {lr_head:.2e}" + (" (lr_find valley)" if found_head else ""))
    parts.append(timed(timings, "fit_head", fit_phase, learn, epochs_head, lr_head, keep, "head", patience))
    learn.unfreeze()
    found_body = lr_body is None
    if found_body:
        lr_body = timed(timings, "lr_find_unfrozen", find_lr, learn, plots and Path(plots) / PLOTS["body"], False,
                         "minimum")
    lrs = discriminative_lrs(lr_head, lr_body)
    log(f"unfrozen: {epochs} epoch(s) at slice({lrs.start:.2e}, {lrs.stop:.2e})"
        + (f" (lr_find minimum/10 {lr_body:.2e})" if found_body else ""))
    parts.append(timed(timings, "fit_unfrozen", fit_phase, learn, epochs, lrs, keep, "unfrozen", patience))
    used = {"head": lr_head, "unfrozen": [lrs.start, lrs.stop], "lr_find_head": lr_head if found_head else None,
            "lr_find_unfrozen": lr_body if found_body else None}
    return RecipeResult(used, pd.concat(parts, ignore_index=True), keep.where, timings)
