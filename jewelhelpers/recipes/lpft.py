"""LP-FT: fit a linear probe on frozen features, then fine-tune only the body's last stage, starting from it.

Fine-tuning a whole pretrained body from a random head distorts the features other shops' photos need
(Kumar et al. 2022, "Fine-tuning can distort pretrained features"); measured here in a reduced setting
(Lite0, 128 px, 30 photos per class, 3 seeds: benchmarks/RESULTS.md, the fair comparison), fastbook's whole-body
recipe scored 13 points below the frozen probe in-domain and 3 and 21 below it on two other shops, while LP-FT was
level with the probe in-domain (-1.7), 8 points above it on one shop and 3 below on the other, and above fastbook's
recipe on every seed. LP-FT keeps what transfers:

1. The body is cut before its last stage. The first part stays frozen, so its output for every image is
   computed once (`FrozenPass`, on onnxruntime: several times faster than eager PyTorch on a CPU, the same
   numbers to float rounding) and kept in memory: an epoch then costs the last stage only (seconds on a CPU).
   `jewel train` reuses those maps for the test split's metrics and the frozen-probe baseline, so no image goes
   through the frozen layers twice.
2. **LP**: a balanced, standardised logistic regression on the last stage's pooled features becomes the head
   (a linear layer, the standardisation folded in). The head starts right, so no random gradients reach the body.
3. **FT**: the last stage and the head train together with `fit_one_cycle`, BatchNorm frozen, class-balanced
   loss, keeping the best epoch. Early layers get rate 0, the last stage and head the profile's rate (1e-3 in
   quick/full), else lr_find's.

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import copy
import time
from dataclasses import replace
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
import torch
from fastai.vision.all import CrossEntropyLossFlat, DataLoaders, Learner
from torch import nn
from torch.utils.data import TensorDataset

from ..core.backbones import Backbone
from ..core.composite import composite_items
from ..core.drawing import drawn_once
from ..core.errors import JewelError
from ..core.forward import PooledBody, RunLogits, in_batches, logits_and_pooled, passed_on, run_logits
from ..core.metrics import classification_metrics
from ..core.onnx import onnx_engine
from ..core.probe import LinearProbe, fit_probe
from ..core.runs import PLOTS
from ..core.settings import Profile
from ..core.sources import SOURCE, balance_sources
from .fitting import KeepBest, RecipeResult, find_lr, fit_phase, make_metrics, show_progress, snapshot, timed

__all__ = ["PROBE_C", "FrozenPass", "MixStyle", "TailModel", "average_states", "balanced_weights", "cut_last_stage", "fit_lpft", "fit_lpft_recipe",
           "head_from_probe", "stage_inputs", "tune_last_stage", "WISE_ALPHAS", "wise_state", "wise_table"]

PROBE_C = 0.01  # inverse L2 strength of the probe (chosen on a shift-aware validation set, RESULTS.md)
WISE_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)  # the WiSE-FT mixes every LP-FT run scores (wise.csv)


def cut_last_stage(body: nn.Sequential) -> int:
    """Index where the body's last stage starts: its last `nn.Sequential` child (ResNet `layer4`, Lite0 `blocks[6]`).

    Everything from there on (for Lite0 also `conv_head` and `bn2`) is trained; everything before stays frozen.
    """
    stages = [i for i, m in enumerate(body) if isinstance(m, nn.Sequential)]
    if not stages:
        raise JewelError("the body has no stage (nn.Sequential child) to fine-tune")
    return stages[-1]


def _batchnorms(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class MixStyle(nn.Module):
    """MixStyle (Zhou et al. 2021): in training, with probability `p` a batch's feature maps keep their content
    (each map normalised by its own per-channel mean and std) but take a mix of their own style statistics and
    another row's (weights drawn from Beta(alpha, alpha)), so the layers after it learn from the object and not
    from one source's way of photographing it. The identity in eval mode and at `p` 0; no parameters."""

    def __init__(self, p: float = 0.5, alpha: float = 0.1, eps: float = 1e-6):
        super().__init__()
        self.p, self.beta, self.eps = p, torch.distributions.Beta(alpha, alpha), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or len(x) < 2 or torch.rand(()) >= self.p:
            return x
        mu = x.mean(dim=(2, 3), keepdim=True).detach()
        sig = (x.var(dim=(2, 3), keepdim=True) + self.eps).sqrt().detach()
        lam = self.beta.sample((len(x), 1, 1, 1)).to(x)
        other = torch.randperm(len(x), device=x.device)
        return (x - mu) / sig * (lam * sig + (1 - lam) * sig[other]) + lam * mu + (1 - lam) * mu[other]


class TailModel(nn.Module):
    """The trained part: last stage(s) of the body, then the head. BatchNorm layers stay in eval mode and frozen,
    so their ImageNet statistics are kept (they would otherwise drift to the training shop's photos).

    Maps and convolution weights are held `channels_last` while it trains: oneDNN's CPU kernels then run a training
    step about twice and an evaluation several times as fast, with the same numbers to float rounding
    (benchmarks/tail_speed.py). `contiguous()` gives the weights back in the usual layout. With `mixstyle` > 0 the
    training batches' input maps go through `MixStyle(mixstyle)` first.
    """

    def __init__(self, tail: nn.Module, head: nn.Module, mixstyle: float = 0.0):
        super().__init__()
        self.tail, self.head = tail, head
        self.mix = MixStyle(mixstyle) if mixstyle > 0 else nn.Identity()
        for bn in _batchnorms(tail):
            bn.requires_grad_(False)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.tail(self.mix(x).contiguous(memory_format=torch.channels_last)))

    def contiguous(self) -> TailModel:
        """The weights back in PyTorch's default layout (NCHW), as the rest of the model holds them."""
        return self.to(memory_format=torch.contiguous_format)

    def train(self, mode: bool = True) -> TailModel:
        super().train(mode)
        for bn in _batchnorms(self.tail):
            bn.eval()
        return self

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The tail's pooled features (what the probe is fitted on), without gradients."""
        self.eval()
        return in_batches(PooledBody(self.tail), x)


def _prefix_outputs(prefix: nn.Module, meta: dict, items: pd.DataFrame, progress: bool) -> RunLogits:
    out = run_logits(prefix, meta, items, progress=progress)
    if out.unreadable:
        print(f"{len(out.unreadable)} unreadable image(s) left out, e.g. {out.unreadable[0]['path']}: "
              f"{out.unreadable[0]['reason']}", flush=True)
    return out


def _labelled(out: RunLogits) -> tuple[torch.Tensor, torch.Tensor]:
    return out.logits, torch.tensor(out.y, dtype=torch.long)


def stage_inputs(prefix: nn.Module, meta: dict, items: pd.DataFrame,
                 progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen prefix outputs (feature maps) and class indices of `items`, preprocessed as in validation.

    Unreadable files are left out (their count is said). `meta` needs classes, size, presize, mean, std.
    """
    return _labelled(_prefix_outputs(prefix, meta, items, progress))


class FrozenPass:
    """The frozen layers' work for one run, done once per image: the prefix's feature maps of each set, kept.

    The prefix (`body[:cut]`) runs on onnxruntime when training on the CPU (`core.onnx.onnx_engine`), eager
    PyTorch otherwise. A copy of the last stage taken now, before fine-tuning, turns cached maps into the
    *frozen* body's pooled features (`features`: the probe baseline); the fine-tuned last stage and head turn
    the same maps into the trained model's logits (`logits`: the test split's metrics.json).
    """

    def __init__(self, backbone: Backbone, meta: dict, engine: str | None = None):
        body = backbone.model[0]
        self.cut, self.meta = cut_last_stage(body), meta
        prefix = body[:self.cut].eval().requires_grad_(False)
        engine = engine or ("torch" if torch.cuda.is_available() else "onnx")
        self.prefix = onnx_engine(prefix, int(meta["size"])) if engine == "onnx" else prefix
        self.frozen_tail = copy.deepcopy(body[self.cut:]).eval().requires_grad_(False)
        self.maps: dict[str, RunLogits] = {}

    def run(self, name: str, items: pd.DataFrame, progress: bool = True) -> RunLogits:
        """The prefix's maps of `items` (path, label), computed the first time set `name` is asked, then reused."""
        if name not in self.maps:
            self.maps[name] = _prefix_outputs(self.prefix, self.meta, items, progress)
        return self.maps[name]

    def features(self, name: str) -> RunLogits:
        """The frozen body's pooled features of set `name`: the frozen last stage on its cached maps."""
        return passed_on(self.maps[name], PooledBody(self.frozen_tail))

    def logits(self, name: str, model: nn.Sequential, batch_size: int = 128) -> RunLogits:
        """Logits and pooled body features of `model` (`Sequential(body, head)` whose body starts with this prefix)
        on set `name`'s maps, as `core.forward.logits_and_pooled` gives them from the images."""
        body, head = model
        tail, res = nn.Sequential(body[self.cut:], head), self.maps[name]
        with torch.no_grad():
            parts = [logits_and_pooled(tail, res.logits[i:i + batch_size]) for i in range(0, len(res.logits), batch_size)]
        logits, features = zip(*parts) if parts else ((torch.empty(0),), (torch.empty(0),))
        return replace(res, logits=torch.cat(logits), features=torch.cat(features))


def head_from_probe(linear: nn.Linear, probe: LinearProbe) -> None:
    """Copy the probe into `linear`: logits = ((f - mean) / scale) @ coef.T + b = f @ (coef / scale).T + b'."""
    w = probe.coef / probe.scale
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        linear.bias.copy_(torch.as_tensor(probe.intercept - w @ probe.mean, dtype=torch.float32))


def balanced_weights(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Loss weight per class, n / (k * count): each class counts as much as the others (an absent class gets 0)."""
    counts = torch.bincount(y, minlength=n_classes).float()
    present = counts > 0
    weights = torch.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def average_states(states: list[dict], weights: list[float] | None = None) -> dict:
    """The element-wise mean of state_dicts of one architecture (a uniform "model soup"), or with `weights`
    (summing to 1) their weighted mean."""
    weights = weights or [1 / len(states)] * len(states)
    return {k: sum(w * s[k].double() for w, s in zip(weights, states)).to(states[0][k].dtype) for k in states[0]}


def wise_state(ends: tuple[dict, dict], alpha: float) -> dict:
    """WiSE-FT (Wortsman et al. 2022): the weights `(1 - alpha) * probe + alpha * fine-tuned` of the tail and head.

    `ends` is `tune_last_stage`'s (probe, fine-tuned) pair; alpha 0 is the probe, 1 the fine-tuned model.
    """
    if not 0 <= alpha <= 1:
        raise JewelError(f"the WiSE-FT mix must be between 0 (the probe) and 1 (fine-tuned), not {alpha}")
    return average_states(list(ends), [1 - alpha, alpha])


def fit_lpft(backbone: Backbone, meta: dict, train_items: pd.DataFrame, valid_items: pd.DataFrame,
             epochs: int, bs: int, lr: float | None = None, lr_find: Callable[[Learner], float] | None = None,
             keep: KeepBest | None = None, soup: int = 1, path: str | Path = ".", progress: bool = True,
             log: Callable[[str], None] = print, wise: float = 1.0,
             mixstyle: float = 0.0) -> tuple[Learner, float, pd.DataFrame, tuple]:
    """Train `backbone.model` (its head must be `linear_head`) in place with LP-FT on images (path, label).

    Computes the frozen part's feature maps of both sets once (`FrozenPass`), then `tune_last_stage`; returns
    what it returns.
    """
    _check_linear_head(backbone)
    frozen = FrozenPass(backbone, meta)
    return tune_last_stage(backbone, meta["classes"], _labelled(frozen.run("train", train_items, progress)),
                           _labelled(frozen.run("valid", valid_items, progress)), epochs, bs, lr, lr_find, keep,
                           soup, path, progress, log, wise, mixstyle)


def _check_linear_head(backbone: Backbone) -> None:
    head = backbone.model[1]
    if len(head) != 3 or not isinstance(head[2], nn.Linear):
        raise JewelError("LP-FT needs a linear head: build_model(..., head='linear')")


def tune_last_stage(backbone: Backbone, classes: list[str], train_maps: tuple[torch.Tensor, torch.Tensor],
                    valid_maps: tuple[torch.Tensor, torch.Tensor], epochs: int, bs: int, lr: float | None = None,
                    lr_find: Callable[[Learner], float] | None = None, keep: KeepBest | None = None, soup: int = 1,
                    path: str | Path = ".", progress: bool = True, log: Callable[[str], None] = print,
                    wise: float = 1.0, mixstyle: float = 0.0) -> tuple[Learner, float, pd.DataFrame, tuple[dict, dict]]:
    """LP, then FT of the last stage and head of `backbone.model` (in place), on cached (feature maps, labels).

    With `soup` > 1, that many fine-tunings start from the same probe (each sees the data in another order, keeps
    its best epoch) and their weights are averaged: one model, steadier than any single run (Wortsman et al. 2022).
    With `wise` < 1, the fine-tuned candidate is WiSE-FT's mix of it with the probe (`wise_state`). With `mixstyle`
    > 0, that share of the training batches swap style statistics before the last stage (`MixStyle`).
    Returns the Learner over the maps, the rate used, the history, whose first row (phase `head`, epoch 0) is the
    probe alone, and the ends (probe, fine-tuned) of the tail and head's weights, for `wise_table`. With
    `soup` 1 the fine-tuned end is what `keep` kept, its best epoch. `lr` None asks `lr_find(learn)` (e.g.
    `fitting.find_lr`). `keep` is a `KeepBest` callback; it holds the probe (on disk should fine-tuning be
    interrupted) but always gives it up for the fine-tuned model: a valid split of a few photos chose the probe head
    in 11 of the 18 held-out trainings of seeds 10-12, and on the held-out sources the fine-tuned model did better
    (benchmarks/RESULTS.md, issue 16).
    """
    body, head = backbone.model
    model = TailModel(body[cut_last_stage(body):], head, mixstyle)
    (x_train, y_train), (x_valid, y_valid) = train_maps, valid_maps
    probe = fit_probe(model.pooled(x_train).numpy(), [classes[i] for i in y_train], classes, balanced=True, C=PROBE_C)
    head_from_probe(head[-1], probe)
    # the maps are tensors in memory: worker processes would only add forks (which can deadlock after threads)
    dls = DataLoaders.from_dsets(TensorDataset(x_train, y_train), TensorDataset(x_valid, y_valid), bs=bs,
                                 num_workers=0)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(weight=balanced_weights(y_train, len(classes))),
                    metrics=make_metrics(), splitter=lambda m: [list(m.tail.parameters()), list(m.head.parameters())],
                    path=Path(path))
    show_progress(learn, progress)

    def scores() -> dict:
        return dict(zip(["valid_loss", "accuracy", "f1_score"], map(float, learn.validate())))

    probe_row = scores()
    log(f"linear probe (the head): valid accuracy {probe_row['accuracy']:.3f}, macro F1 {probe_row['f1_score']:.3f}")
    keep = keep or KeepBest()
    keep.hold(model, probe_row[keep.monitor], {"phase": "head", "epoch": 0})
    if lr is None:
        if lr_find is None:
            raise JewelError("LP-FT needs a rate: give lr or lr_find")
        lr = lr_find(learn)
    log(f"last stage + head: {epochs} epoch(s) at lr {lr:.2e}" + (f", {soup} runs averaged" if soup > 1 else "")
        + "; earlier layers frozen, BatchNorm frozen")
    first = pd.DataFrame([{"phase": "head", "epoch": 0, "train_loss": np.nan, **probe_row}])
    start = snapshot(model)
    if soup == 1:
        parts = [fit_phase(learn, epochs, lr, keep, "last stage")]
        tuned = snapshot(model)
    else:
        parts, states = [], []
        for i in range(soup):
            model.load_state_dict(start)
            parts.append(fit_phase(learn, epochs, lr, KeepBest(keep.monitor), f"last stage {i + 1}", reset_opt=True))
            states.append(snapshot(model))
        tuned = average_states(states)
        model.load_state_dict(tuned)
        soup_row = scores()
        parts.append(pd.DataFrame([{"phase": "soup", "epoch": epochs - 1, "train_loss": np.nan, **soup_row}]))
        keep.offer(model, soup_row[keep.monitor], {"phase": "soup", "epoch": epochs})
    if wise != 1:
        model.load_state_dict(wise_state((start, tuned), wise))
        wise_row = scores()
        log(f"WiSE-FT mix {wise:g} of the fine-tuned weights with the probe's: valid accuracy {wise_row['accuracy']:.3f}")
        parts.append(pd.DataFrame([{"phase": "wise", "epoch": epochs - 1, "train_loss": np.nan, **wise_row}]))
        keep.offer(model, wise_row[keep.monitor], {"phase": "wise", "epoch": epochs, "alpha": wise})
    model.load_state_dict(keep.state)
    model.contiguous()
    history = pd.concat(parts, ignore_index=True)
    history["epoch"] += 1
    return learn, lr, pd.concat([first, history], ignore_index=True)[history.columns], (start, tuned)


def wise_table(frozen: FrozenPass, backbone: Backbone, ends: tuple[dict, dict], sets: dict[str, str],
               alphas: tuple[float, ...] = WISE_ALPHAS) -> pd.DataFrame:
    """Accuracy and macro F1 of each WiSE-FT mix (`wise_state`) on cached sets: `sets` maps a row name to the
    name of a `frozen` set. One row per (alpha, set); the model is given back as it was."""
    body, head = backbone.model
    model = TailModel(body[frozen.cut:], head)
    kept, rows = snapshot(model), []
    for alpha in alphas:
        model.load_state_dict(wise_state(ends, alpha))
        model.contiguous().eval()
        for row, name in sets.items():
            out = frozen.logits(name, backbone.model)
            scored = classification_metrics(out.logits, np.asarray(out.y), frozen.meta["classes"])
            rows.append({"alpha": alpha, "set": row, "n": scored["n"], "accuracy": scored["accuracy"],
                         "macro_f1": scored["macro_f1"]})
    model.load_state_dict(kept)
    model.contiguous()
    return pd.DataFrame(rows)


def fit_lpft_recipe(backbone: Backbone, manifest: pd.DataFrame, meta: dict, prof: Profile, keep: KeepBest,
                    plots: str | Path | None = None, seed: int = 0, log: Callable[[str], None] = print,
                    frozen: FrozenPass | None = None) -> RecipeResult:
    """LP-FT on the manifest's train rows plus `prof.synth_mix` drawn images per shared class, and `prof.composites`
    per class of the train rows' products on white pasted on drawn scenes (`core.composite`).

    With a `source` column, each source's rows (or each source's class's, `prof.balance`) are repeated to weigh
    equally (`core.sources.balance_sources`); each image still goes through the frozen layers once.

    The fine-tuning rate is `prof.lr`, else lr_find's valley (plot in `plots`). The drawn images are drawn in a
    thread while the photos go through the frozen layers, into a temporary folder kept for the process's next
    training with the same drawing (`core.drawing.drawn_once`) and gone at exit. `frozen` (made here if not
    given) keeps the maps of the sets `train`, `drawn` and `valid` for the caller to reuse.
    """
    _check_linear_head(backbone)
    timings: dict = {}
    columns = ["path", "label"]
    frozen = frozen or FrozenPass(backbone, meta)
    start = time.perf_counter()
    with TemporaryDirectory(prefix="jewel-composites-") as tmp, ThreadPoolExecutor(max_workers=1) as drawer:
        # drawing (one core) runs while the photos go through the frozen layers; the same seed, the same images
        drawing = drawer.submit(drawn_once, meta["classes"], prof.synth_mix, prof.presize, seed + 1)
        train_rows = manifest.loc[manifest["split"] == "train", [c for c in (*columns, SOURCE) if c in manifest]]
        photos = frozen.run("train", train_rows)
        valid = frozen.run("valid", manifest.loc[manifest["split"] == "valid", columns])
        drawn = drawing.result()
        if len(drawn):
            log(f"drawn images mixed into training: {len(drawn)} ({prof.synth_mix} per class shared with the drawer)")
        drawn_maps = frozen.run("drawn", drawn[columns])
        pasted = composite_items(Path(tmp) / "composites", train_rows, prof.composites, prof.presize, seed=seed + 2)
        if len(pasted):
            log(f"composites mixed into training: {len(pasted)} (products on white pasted on drawn scenes)")
        composites = frozen.run("composites", pasted)
    balanced = balance_sources(photos.items, seed, prof.balance)
    parts = [replace(photos, logits=photos.logits[balanced], y=photos.y[balanced])]
    parts += [maps for maps in (drawn_maps, composites) if len(maps.y)]
    train_maps = tuple(torch.cat(t) for t in zip(*map(_labelled, parts)))
    timings["frozen_pass"] = round(time.perf_counter() - start, 2)
    find = (lambda learn: find_lr(learn, plots and Path(plots) / PLOTS["body"])) if prof.lr is None else None
    _, lr, history, ends = timed(timings, "fit_lpft", tune_last_stage, backbone, meta["classes"], train_maps,
                                 _labelled(valid), prof.epochs, prof.bs, prof.lr, find, keep, prof.soup,
                                 plots or ".", True, log, prof.wise, prof.mixstyle)
    lrs = {"recipe": "lpft", "fine_tune": lr, "lr_find": None if prof.lr else lr, "probe_C": PROBE_C,
           "drawn_images": len(drawn), "composites": len(pasted), "soup": prof.soup, "wise": prof.wise,
           "mixstyle": prof.mixstyle}
    return RecipeResult(lrs, history, keep.where, timings, ends)
