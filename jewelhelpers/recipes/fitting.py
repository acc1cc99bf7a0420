"""The fitting blocks every fastai recipe here is built from: the learner, its parameter groups, lr_find,
discriminative rates, keeping the best epoch, seeds, and progress that suits a terminal, a notebook or a log.

Everything fastai pickles into `export.pkl` (image type, splitter, metrics) lives in this library, so it loads
in any fresh process. The recipes themselves are `recipes.classic` (fastbook's) and `recipes.lpft` (the default).

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from fastai.vision.all import (
    Callback, CrossEntropyLossFlat, EarlyStoppingCallback, F1Score, Learner, ProgressCallback, SuggestionMethod,
    TrackerCallback, accuracy, apply_init, noop, set_seed,
)
from torch import nn

from ..core.backbones import Backbone, body_head_split
from ..core.progress import interactive
from ..core.settings import MONITORS

__all__ = ["KeepBest", "RecipeResult", "discriminative_lrs", "find_lr", "fit_phase", "make_learner", "make_metrics",
           "param_group_table", "seed_everything", "show_progress", "snapshot", "timed", "MONITORS"]

LO_DIVISOR = 100  # discriminative rates: the earliest layers get the top rate / 100
GROUP_NAMES = ("early body", "late body", "head")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (fastai's `set_seed`, deterministic kernels): call it once before a run.

    Python's `random` matters too: fastai's DataLoader shuffles with it.
    """
    set_seed(seed, reproducible=True)


class EpochLines(Callback):
    """Where no bar is watched: one line per epoch (epoch, losses, metrics, time) instead of bar redraws.

    Like fastai's ProgressCallback it takes the learner's logger only for real fits, so `validate` and `lr_find`
    (which silence logging) print nothing.
    """

    order = ProgressCallback.order

    def before_fit(self) -> None:
        self.old_logger = None
        if self.learn.logger is not noop:
            self.old_logger, self.learn.logger = self.learn.logger, self._line

    def after_fit(self) -> None:
        if self.old_logger is not None:
            self.learn.logger, self.old_logger = self.old_logger, None

    def _line(self, log: list) -> None:
        names = self.recorder.metric_names[1:]
        values = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in log[1:]]
        print(f"epoch {log[0] + 1}/{self.n_epoch}: " + ", ".join(f"{n} {v}" for n, v in zip(names, values)),
              flush=True)


def show_progress(learn: Learner, enabled: bool = True) -> Learner:
    """Progress that fits where it goes: fastai's bars in a notebook or on a terminal, one line per epoch in a log,
    nothing when not `enabled`."""
    if enabled and interactive(sys.stdout):
        return learn
    learn.remove_cbs(learn.cbs.filter(lambda cb: isinstance(cb, (ProgressCallback, EpochLines))))
    if enabled:
        learn.add_cb(EpochLines())
    else:
        learn.logger = noop
    return learn


# ---- the learner and its parameter groups ---------------------------------------------------------------

def make_metrics() -> list:
    """Accuracy and macro F1: with imbalanced classes, F1 says whether the small classes are learnt too."""
    return [accuracy, F1Score(average="macro")]


def make_learner(dls, backbone: Backbone, path: str | Path | None = None, new_head: bool = True) -> Learner:
    """A fastai Learner over `Sequential(body, head)`, split in three parameter groups, frozen (head only).

    `new_head` initialises the head (Kaiming normal); pass False for a model that is trained already.
    """
    if new_head:
        apply_init(backbone.model[1], nn.init.kaiming_normal_)
    learn = Learner(dls, backbone.model, loss_func=CrossEntropyLossFlat(), metrics=make_metrics(),
                    splitter=body_head_split, path=Path(path) if path else Path("."))
    if torch.cuda.is_available():
        learn.to_fp16()
    learn.freeze()
    return show_progress(learn)


def param_group_table(learn: Learner, lr: float | slice | None = None) -> pd.DataFrame:
    """One row per parameter group: tensors, parameters, how many train, and the rate it gets.

    With `lr` (a number or `slice(lo, hi)`), the rates are set the way `fit_one_cycle(n, lr)` sets them.
    """
    if learn.opt is None:
        learn.create_opt()
    if lr is not None:
        learn.opt.set_hyper("lr", lr)
    rows = []
    for name, group, hypers in zip(GROUP_NAMES, learn.opt.param_lists, learn.opt.hypers):
        rows.append({"group": name, "tensors": len(group), "params": sum(p.numel() for p in group),
                     "trainable": sum(p.numel() for p in group if p.requires_grad), "lr": float(hypers["lr"])})
    return pd.DataFrame(rows).set_index("group")


def lr_find_iters() -> int:
    """Steps of lr_find's mock training: fastai's 100 on a GPU; 30 on a CPU (a coarser curve, a third of the cost)."""
    return 100 if torch.cuda.is_available() else 30


def find_lr(learn: Learner, path: str | Path | None = None, show: bool = False, suggestion: str = "valley") -> float:
    """Run lr_find and return its suggestion; save the plot to `path`, and keep it on screen if `show`.

    `valley` (fastai's default) sits on the steepest stretch of a clear descent: right for a frozen model with a
    new head. `minimum` is a tenth of the rate with the lowest loss: right for an unfrozen model, whose curve is
    flat and then climbs.
    """
    funcs = {"valley": SuggestionMethod.Valley, "minimum": SuggestionMethod.Minimum}
    found = getattr(learn.lr_find(num_it=lr_find_iters(), show_plot=True, suggest_funcs=funcs[suggestion]),
                    suggestion)
    scratch = learn.path / learn.model_dir  # lr_find kept a copy of the weights there, then deleted it
    if scratch.is_dir() and not any(scratch.iterdir()):
        scratch.rmdir()
    fig = plt.gcf()
    if path:
        fig.savefig(path, dpi=90, bbox_inches="tight")
    if not show:
        plt.close(fig)
    return float(found)


def discriminative_lrs(lr_head: float, lr_body: float) -> slice:
    """`slice(lo, hi)` after unfreezing: `hi` is the unfrozen model's suggestion, at most half the head's rate (the
    head is trained already), and `lo = hi / 100` for the earliest layers, whose edges and textures already fit."""
    hi = min(lr_body, lr_head / 2)
    return slice(hi / LO_DIVISOR, hi)


# ---- fitting, keeping the best epoch ----------------------------------------------------------------------

def snapshot(model: nn.Module) -> dict:
    """A detached copy of `model`'s state_dict, unaffected by further training."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class KeepBest(TrackerCallback):
    """Keep the weights of the best epoch (by `monitor`) across every fit it joins.

    Each new best is copied in memory and passed to `on_best` (e.g. to write model.pth and meta.json), so the
    best checkpoint so far is on disk if training is interrupted. After each fit, the best weights go back
    into the model.
    """

    def __init__(self, monitor: str = "valid_loss", on_best: Callable[[dict], None] | None = None):
        super().__init__(monitor=monitor, reset_on_fit=False)
        self.on_best, self.state, self.where, self.phase = on_best, None, None, ""

    def start_from(self, model: nn.Module, value: float, where: dict) -> None:
        """Make `model`'s current weights the first candidate (e.g. a probe before fine-tuning), scored `value`."""
        self.best, self.state = value, snapshot(model)
        self.where = where | {"monitor": self.monitor, "value": float(value)}
        if self.on_best:
            self.on_best(self.where)

    def hold(self, model: nn.Module, value: float, where: dict) -> None:
        """Keep `model`'s current weights (and checkpoint) only until the next candidate, whatever its score: e.g. the
        probe, on disk should fine-tuning be interrupted, but never preferred to the fine-tuned model."""
        self.start_from(model, value, where)
        self.best = None

    def offer(self, model: nn.Module, value: float, where: dict) -> bool:
        """Take `model`'s weights as the new best if `value` beats the best so far (e.g. a weight average)."""
        better = self.best is None or bool(self.comp(value, self.best))
        if better:
            self.start_from(model, value, where)
        return better

    def after_epoch(self):
        super().after_epoch()
        if self.new_best:
            self.state = snapshot(self.model)
            self.where = {"phase": self.phase, "epoch": int(self.epoch), "monitor": self.monitor,
                          "value": float(self.best)}
            if self.on_best:
                self.on_best(self.where)

    def after_fit(self):
        super().after_fit()
        if self.state is not None:
            self.model.load_state_dict(self.state)


def fit_phase(learn: Learner, n_epochs: int, lr: float | slice, keep: KeepBest, phase: str,
              patience: int = 3, reset_opt: bool = False) -> pd.DataFrame:
    """`fit_one_cycle` with early stopping and best-epoch keeping; the phase's per-epoch history.

    `reset_opt` starts a fresh optimizer (no momentum carried over from an earlier fit).
    """
    keep.phase = phase
    stop = EarlyStoppingCallback(monitor=keep.monitor, patience=patience)
    learn.fit_one_cycle(n_epochs, lr, cbs=[keep, stop], reset_opt=reset_opt)
    names = list(learn.recorder.metric_names[1:-1])
    history = pd.DataFrame([[float(v) for v in row] for row in learn.recorder.values], columns=names)
    return history.assign(phase=phase, epoch=range(len(history)))[["phase", "epoch", *names]]


@dataclass
class RecipeResult:
    """What the recipe did: the rates it used, per-epoch history, the best epoch, seconds per step, and (LP-FT) the
    probe's and the fine-tuned weights of the trained part (`lpft.wise_table`)."""

    lrs: dict
    history: pd.DataFrame
    best: dict | None
    timings: dict = field(default_factory=dict)
    ends: tuple[dict, dict] | None = None


def timed(timings: dict, step: str, fn: Callable, *args):
    """`fn(*args)`, its wall time stored as `timings[step]` (seconds)."""
    start = time.perf_counter()
    value = fn(*args)
    timings[step] = round(time.perf_counter() - start, 2)
    return value
