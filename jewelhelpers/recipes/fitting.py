"""Fine-tuning a pretrained backbone: the frozen-then-discriminative recipe, and the `jewel train` job.

The recipe (fastbook, chapter 5): `lr_find` on the frozen model, `fit_one_cycle` on the head, unfreeze,
`lr_find` again, `fit_one_cycle` with `slice(lo, hi)` so the early, general layers move less than the late
ones. Each phase keeps its best epoch (valid loss or a chosen metric) and stops early when it stalls; the
best checkpoint so far is always on disk, so Ctrl-C loses nothing. Everything fastai pickles into
`export.pkl` (image type, splitter, metrics) lives in this library, so it loads in any fresh process.

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from fastai.vision.all import (
    CrossEntropyLossFlat, EarlyStoppingCallback, F1Score, Learner, SuggestionMethod, TrackerCallback, accuracy,
    apply_init, set_seed,
)
from sklearn.metrics import f1_score
from torch import nn

from . import runs
from .baseline import probe_beside
from .backbones import Backbone, body_head_split, build_model, resolve_arch
from .data import make_dls, read_items
from .errors import JewelError
from .interpret import new_figure
from .profiles import Profile, external_dirs, get_profile

__all__ = ["KeepBest", "RecipeResult", "compare_strategies", "discriminative_lrs", "find_lr", "fit_lpft_recipe",
           "fit_phase", "fit_recipe", "make_learner", "make_metrics", "model_meta", "param_group_table", "plot_history",
           "plot_strategies", "profile_dls", "split_metrics", "summary_line", "train"]

VALID, TEST = 0.15, 0.15  # split fractions of `jewel train` (the rest trains)
LO_DIVISOR = 100  # discriminative rates: the earliest layers get the top rate / 100
MONITORS = ("valid_loss", "accuracy", "f1_score")  # what picks the best epoch
GROUP_NAMES = ("early body", "late body", "head")
STRATEGIES = ("head only", "whole network, one rate", "frozen then discriminative", "LP-FT (the default)")
BASELINE = "baseline.csv"  # the frozen-feature probe beside the fine-tuned model, per test set
PLOTS = {"head": "lr_find_head.png", "body": "lr_find_unfrozen.png", "curves": "curves.png"}


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
    return learn


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
    """What the recipe did: the rates it used, per-epoch history, the best epoch, and seconds per step."""

    lrs: dict
    history: pd.DataFrame
    best: dict | None
    timings: dict = field(default_factory=dict)


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
        lr_head = _timed(timings, "lr_find_head", find_lr, learn, plots and Path(plots) / PLOTS["head"])
    log(f"head: {epochs_head} epoch(s) at lr {lr_head:.2e}" + (" (lr_find valley)" if found_head else ""))
    parts.append(_timed(timings, "fit_head", fit_phase, learn, epochs_head, lr_head, keep, "head", patience))
    learn.unfreeze()
    found_body = lr_body is None
    if found_body:
        lr_body = _timed(timings, "lr_find_unfrozen", find_lr, learn, plots and Path(plots) / PLOTS["body"], False,
                         "minimum")
    lrs = discriminative_lrs(lr_head, lr_body)
    log(f"unfrozen: {epochs} epoch(s) at slice({lrs.start:.2e}, {lrs.stop:.2e})"
        + (f" (lr_find minimum/10 {lr_body:.2e})" if found_body else ""))
    parts.append(_timed(timings, "fit_unfrozen", fit_phase, learn, epochs, lrs, keep, "unfrozen", patience))
    used = {"head": lr_head, "unfrozen": [lrs.start, lrs.stop], "lr_find_head": lr_head if found_head else None,
            "lr_find_unfrozen": lr_body if found_body else None}
    return RecipeResult(used, pd.concat(parts, ignore_index=True), keep.where, timings)


def _timed(timings: dict, step: str, fn: Callable, *args):
    """`fn(*args)`, its wall time stored as `timings[step]` (seconds)."""
    start = time.perf_counter()
    value = fn(*args)
    timings[step] = round(time.perf_counter() - start, 2)
    return value


# ---- measuring and plotting -------------------------------------------------------------------------------

def split_metrics(learn: Learner, manifest: pd.DataFrame, split: str = "test") -> dict:
    """Accuracy and macro F1 (over every class) of `learn` on the manifest's `split` rows."""
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise JewelError(f"the split has no {split} images: use more images per class")
    probs, targets = learn.get_preds(dl=learn.dls.test_dl(rows, with_labels=True))
    classes = list(learn.dls.vocab)
    y, p = targets.numpy(), probs.argmax(1).numpy()
    per_class = f1_score(y, p, labels=range(len(classes)), average=None, zero_division=0)
    return {"split": split, "n": int(len(y)), "accuracy": float((y == p).mean()),
            "macro_f1": float(per_class.mean()), "classes": classes,
            "f1_per_class": dict(zip(classes, map(float, per_class)))}


def plot_history(history: pd.DataFrame, path: str | Path | None = None):
    """Loss curves (train, valid) and metric curves (accuracy, macro F1) over all epochs, phases marked."""
    fig = new_figure((10, 3.5))
    ax_loss, ax_metric = fig.subplots(1, 2)
    x = np.arange(1, len(history) + 1)
    for column, ax in (("train_loss", ax_loss), ("valid_loss", ax_loss), ("accuracy", ax_metric),
                       ("f1_score", ax_metric)):
        ax.plot(x, history[column], marker="o", label=column.replace("f1_score", "macro F1"))
    for ax, title in ((ax_loss, "loss"), (ax_metric, "valid metrics")):
        n_head = int((history["phase"] == "head").sum())
        ax.axvline(n_head + 0.5, color="grey", linestyle=":", label="unfreeze")
        ax.set(title=title, xlabel="epoch")
        ax.legend()
    if path:
        fig.savefig(path, dpi=90)
    return fig


# ---- comparing strategies (notebook 02) ---------------------------------------------------------------------

def compare_strategies(manifest: pd.DataFrame, arch: str, profile: Profile, lr: float, seed: int = 0,
                       weights: str | Path | None = None, external: list[str | Path] = ()) -> pd.DataFrame:
    """Train four fresh models on the same split and score each on its test rows and on every `external` folder.

    Head only (body frozen), the whole network at one rate `lr`, fastbook's recipe (head at `lr`, then
    discriminative rates), each for the profile's epochs_head + epochs on augmented images; and LP-FT (`lpft`, the
    default of `jewel train`). Returns one row per strategy: accuracy and macro F1 on the test split, accuracy on
    each external folder (a column per folder name), seconds.
    """
    from .evaluate import classification_metrics, match_classes, run_logits
    n_total = profile.epochs_head + profile.epochs
    sets = {"test split": manifest.loc[manifest["split"] == "test", ["path", "label"]]}
    sets |= {Path(f).name: match_classes(read_items(f), sorted(manifest["label"].unique()))[0] for f in external}
    rows = []
    for strategy in STRATEGIES:
        start = time.perf_counter()
        set_seed(seed, reproducible=True)
        backbone = build_model(arch, manifest["label"].nunique(), profile.pretrained, weights,
                               head="linear" if strategy == STRATEGIES[3] else "fastai")
        meta = model_meta(sorted(manifest["label"].unique()), backbone, profile)
        if strategy == STRATEGIES[3]:
            fit_lpft_recipe(backbone, manifest, meta, profile, KeepBest(), seed=seed, log=lambda _: None)
        else:
            learn = make_learner(profile_dls(manifest, backbone, profile, seed), backbone)
            if strategy == STRATEGIES[0]:
                fit_phase(learn, n_total, lr, KeepBest(), strategy)
            elif strategy == STRATEGIES[1]:
                learn.unfreeze()
                fit_phase(learn, n_total, lr, KeepBest(), strategy)
            else:
                fit_recipe(learn, profile.epochs_head, profile.epochs, lr_head=lr, lr_body=lr, log=lambda _: None)
        row = {"strategy": strategy}
        for name, items in sets.items():
            out = run_logits(backbone.model, meta, items, progress=False)
            scores = classification_metrics(out.logits, out.y, meta["classes"])
            row[name if name != "test split" else "accuracy"] = scores["accuracy"]
            if name == "test split":
                row["macro_f1"] = scores["macro_f1"]
        rows.append(row | {"seconds": round(time.perf_counter() - start, 1)})
    return pd.DataFrame(rows).set_index("strategy")


def model_meta(classes: list[str], backbone: Backbone, profile: Profile) -> dict:
    """What preprocessing and scoring need to know of a model (the subset of a run's meta.json)."""
    return {"classes": classes, "size": profile.size, "presize": profile.presize, "mean": backbone.mean,
            "std": backbone.std}


def profile_dls(manifest: pd.DataFrame, backbone: Backbone, profile: Profile, seed: int = 0):
    """`make_dls` with the profile's sizes and the backbone's normalisation; the batch never exceeds the train split."""
    bs = min(profile.bs, int((manifest["split"] == "train").sum()))
    return make_dls(manifest, profile.size, profile.presize, bs, backbone.mean, backbone.std, seed=seed)


def plot_strategies(table: pd.DataFrame, path: str | Path | None = None):
    """Bar chart of accuracy per strategy: the test split (`accuracy`) and each other shop's folder."""
    fig = new_figure((7, 1.2 + 0.9 * len(table)))
    sets = table.drop(columns=["macro_f1", "seconds"]).rename(columns={"accuracy": "test split"})
    ax = sets.plot.barh(ax=fig.subplots(), xlim=(0, 1), title="accuracy: in-domain test split and other shops")
    ax.invert_yaxis()
    if path:
        fig.savefig(path, dpi=90)
    return fig


# ---- the `jewel train` job ----------------------------------------------------------------------------------

def _profile_for(profile: str | None, size: int | None, **overrides) -> Profile:
    """The named profile with the caller's settings; a new `size` keeps the profile's presize ratio."""
    base = get_profile(profile)
    presize = round(size * base.presize / base.size) if size else None
    return get_profile(base.name, size=size, presize=presize, **overrides)


def _loud(message: str) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! {message}\n{bar}", flush=True)


def train(data: str | Path, out: str | Path, arch: str | None = None, profile: str | None = None,
          size: int | None = None, epochs_head: int | None = None, epochs: int | None = None, seed: int = 0,
          weights: str | Path | None = None, pretrained: bool | None = None, force: bool = False,
          monitor: str = "valid_loss", patience: int = 3, max_per_class: int | None = None,
          external: list[str | Path] | None = None, recipe: str | None = None, lr: float | None = None,
          soup: int | None = None) -> dict:
    """Split DATA, fine-tune a backbone with the recipe, and write RUN_DIR `out`; return a summary dict.

    `None` arguments come from the profile (smoke / quick / full, or `$JEWEL_PROFILE`). Beside the fine-tuned
    model, a frozen-feature probe is scored on the test split and on every folder of `external` (default
    `$JEWEL_EXTERNAL_DATA`): `baseline.csv`. Refuses a non-empty `out` unless `force`. On Ctrl-C the best checkpoint so far stays in `out` and KeyboardInterrupt is re-raised.
    """
    if monitor not in MONITORS:
        raise JewelError(f"unknown monitor {monitor!r}: choose one of {', '.join(MONITORS)}")
    started = time.perf_counter()
    prof = _profile_for(profile, size, arch=arch, epochs_head=epochs_head, epochs=epochs, pretrained=pretrained,
                        max_per_class=max_per_class, recipe=recipe, lr=lr, soup=soup)
    externals = [Path(e) for e in external] if external is not None else external_dirs()
    for folder in externals:  # a wrong path is said now, not after training
        read_items(folder)
    run_dir = runs.prepare_run_dir(out, force)
    manifest = _write_split(data, run_dir, prof, seed)
    classes = sorted(manifest["label"].unique())
    arch_name, reason = resolve_arch(prof.arch, weights, prof.pretrained)
    print(f"arch: {reason}", flush=True)
    set_seed(seed, reproducible=True)
    head = "linear" if prof.recipe == "lpft" else "fastai"
    backbone = build_model(arch_name, len(classes), prof.pretrained, weights, head=head)
    (print if prof.pretrained else _loud)(f"weights: {backbone.source}")
    meta = model_meta(classes, backbone, prof) | {
            "arch": arch_name, "recipe": prof.recipe, "head": head, "pretrained": prof.pretrained,
            "weights_source": backbone.source, "arch_reason": reason, "profile": prof.name,
            "profile_settings": prof.to_dict(), "seed": seed,
            "versions": runs.versions(), "timings": {}, "temperature": None, "data": str(Path(data).resolve()),
            "manifest": runs.MANIFEST, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "lrs": None, "monitor": monitor, "best": None, "complete": False}

    def save_best(where: dict) -> None:
        runs.save_weights(run_dir, backbone.model)
        runs.write_json(run_dir / runs.META, meta | {"best": where})

    try:
        if prof.recipe == "lpft":
            result = fit_lpft_recipe(backbone, manifest, meta, prof, KeepBest(monitor, save_best), run_dir, seed)
            learn = make_learner(profile_dls(manifest, backbone, prof, seed), backbone, path=run_dir, new_head=False)
        else:
            learn = make_learner(profile_dls(manifest, backbone, prof, seed), backbone, path=run_dir)
            result = fit_recipe(learn, prof.epochs_head, prof.epochs, monitor, patience, plots=run_dir,
                                on_best=save_best)
    except KeyboardInterrupt:
        saved = (run_dir / runs.WEIGHTS).is_file()
        print(f"interrupted: {'the best checkpoint so far is' if saved else 'no epoch finished, nothing'} "
              f"saved in {run_dir}", flush=True)
        raise
    return _finish(learn, manifest, result, meta, run_dir, started, externals, weights)


def fit_lpft_recipe(backbone: Backbone, manifest: pd.DataFrame, meta: dict, prof: Profile, keep: KeepBest,
                    plots: str | Path | None = None, seed: int = 0, log: Callable[[str], None] = print) -> RecipeResult:
    """LP-FT (`lpft.fit_lpft`) on the manifest's train rows plus `prof.synth_mix` drawn images per shared class.

    The fine-tuning rate is `prof.lr`, else lr_find's valley (plot in `plots`). The drawn images live in a
    temporary folder, gone once their feature maps are computed.
    """
    from tempfile import TemporaryDirectory
    from .lpft import PROBE_C, fit_lpft
    from .synth import synth_items
    timings: dict = {}
    columns = ["path", "label"]
    with TemporaryDirectory(prefix="jewel-drawn-") as tmp:
        drawn = synth_items(tmp, meta["classes"], prof.synth_mix, prof.presize, seed=seed + 1)
        if len(drawn):
            log(f"drawn images mixed into training: {len(drawn)} ({prof.synth_mix} per class shared with the drawer)")
        train_items = pd.concat([manifest.loc[manifest["split"] == "train", columns], drawn[columns]], ignore_index=True)
        valid_items = manifest.loc[manifest["split"] == "valid", columns]
        find = (lambda learn: find_lr(learn, plots and Path(plots) / PLOTS["body"])) if prof.lr is None else None
        _, lr, history = _timed(timings, "fit_lpft", fit_lpft, backbone, meta, train_items, valid_items, prof.epochs,
                                prof.bs, prof.lr, find, keep, prof.soup, plots or ".", True, log)
    lrs = {"recipe": "lpft", "fine_tune": lr, "lr_find": None if prof.lr else lr, "probe_C": PROBE_C,
           "drawn_images": len(drawn), "soup": prof.soup}
    return RecipeResult(lrs, history, keep.where, timings)


def _write_split(data: str | Path, run_dir: Path, prof: Profile, seed: int) -> pd.DataFrame:
    from .split import make_split, write_manifest
    manifest = make_split(data, valid=VALID, test=TEST, seed=seed, max_per_class=prof.max_per_class)
    write_manifest(manifest, run_dir / runs.MANIFEST, data)
    counts = manifest["split"].value_counts()
    print(f"data: {len(manifest)} images, {manifest['label'].nunique()} classes; "
          + ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "valid", "test")), flush=True)
    return manifest


def _finish(learn: Learner, manifest: pd.DataFrame, result: RecipeResult, meta: dict, run_dir: Path,
            started: float, external: list[Path], weights: str | Path | None) -> dict:
    """Write history, curves, test metrics, weights, export.pkl, the probe baseline and meta.json; return the summary."""
    result.history.to_csv(run_dir / runs.HISTORY, index=False)
    plot_history(result.history, run_dir / PLOTS["curves"])
    t = time.perf_counter()
    metrics = split_metrics(learn, manifest)
    result.timings["test"] = round(time.perf_counter() - t, 2)
    if torch.cuda.is_available():
        learn.to_fp32()
    runs.save_weights(run_dir, learn.model)
    learn.export(runs.EXPORT)
    t = time.perf_counter()
    baseline = probe_beside(run_dir, runs.load_model(run_dir)[0], meta, external, weights)
    result.timings["baseline"] = round(time.perf_counter() - t, 2)
    baseline.to_csv(run_dir / BASELINE)
    runs.write_json(run_dir / runs.METRICS, metrics | {"baseline": baseline.reset_index().to_dict("records")})
    print("frozen-feature probe beside the fine-tuned model (accuracy):\n"
          + baseline[["n", "probe_accuracy", "fine_tuned_accuracy"]].round(3).to_string(), flush=True)
    result.timings["total"] = round(time.perf_counter() - started, 2)
    runs.write_json(run_dir / runs.META, meta | {"lrs": result.lrs, "best": result.best, "timings": result.timings,
                                                 "complete": True})
    return {"run_dir": str(run_dir), "arch": meta["arch"], "pretrained": meta["pretrained"],
            "profile": meta["profile"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "n_test": metrics["n"], "seconds": result.timings["total"]}


def summary_line(summary: dict) -> str:
    """One line for the end of `jewel train`: backbone, test accuracy and macro F1, time, run folder."""
    weights = "ImageNet-pretrained" if summary["pretrained"] else "RANDOM INIT (not pretrained)"
    minutes, seconds = divmod(int(round(summary["seconds"])), 60)
    return (f"{summary['arch']} {weights}, profile {summary['profile']}: test accuracy {summary['accuracy']:.3f}, "
            f"macro F1 {summary['macro_f1']:.3f} on {summary['n_test']} images in {minutes}m{seconds:02d}s "
            f"-> {summary['run_dir']}")
