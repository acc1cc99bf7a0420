"""Notebook 02's comparison: four fine-tuning strategies trained on one split, scored in-domain and on other shops.

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ..core import runs
from ..core.backbones import build_model
from ..core.figures import new_figure
from ..core.forward import run_logits
from ..core.images import read_items
from ..core.metrics import classification_metrics, match_classes
from ..core.settings import Profile
from ..recipes.classic import fit_recipe
from ..recipes.dls import profile_dls
from ..recipes.fitting import KeepBest, fit_phase, make_learner, seed_everything
from ..recipes.lpft import fit_lpft_recipe

STRATEGIES = ("head only", "whole network, one rate", "frozen then discriminative", "LP-FT (the default)")


def compare_strategies(manifest: pd.DataFrame, arch: str, profile: Profile, lr: float, seed: int = 0,
                       weights: str | Path | None = None, external: list[str | Path] = ()) -> pd.DataFrame:
    """Train four fresh models on the same split and score each on its test rows and on every `external` folder.

    Head only (body frozen), the whole network at one rate `lr`, fastbook's recipe (head at `lr`, then
    discriminative rates), each for the profile's epochs_head + epochs on augmented images; and LP-FT (`lpft`, the
    default of `jewel train`). Returns one row per strategy: accuracy and macro F1 on the test split, accuracy on
    each external folder (a column per folder name), seconds.
    """
    n_total = profile.epochs_head + profile.epochs
    sets = {"test split": manifest.loc[manifest["split"] == "test", ["path", "label"]]}
    sets |= {Path(f).name: match_classes(read_items(f), sorted(manifest["label"].unique()))[0] for f in external}
    rows = []
    for strategy in STRATEGIES:
        start = time.perf_counter()
        seed_everything(seed)
        backbone = build_model(arch, manifest["label"].nunique(), profile.pretrained, weights,
                               head="linear" if strategy == STRATEGIES[3] else "fastai")
        meta = runs.model_meta(sorted(manifest["label"].unique()), backbone, profile)
        if strategy == STRATEGIES[3]:
            fit_lpft_recipe(backbone, manifest, meta, profile, KeepBest(), seed=seed, log=lambda _: None)
        else:
            learn = make_learner(profile_dls(manifest, backbone, profile), backbone)
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


def plot_strategies(table: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Bar chart of accuracy per strategy: the test split (`accuracy`) and each other shop's folder."""
    fig = new_figure((7, 1.2 + 0.9 * len(table)))
    sets = table.drop(columns=["macro_f1", "seconds"]).rename(columns={"accuracy": "test split"})
    ax = sets.plot.barh(ax=fig.subplots(), xlim=(0, 1), title="accuracy: in-domain test split and other shops")
    ax.invert_yaxis()
    if path:
        fig.savefig(path, dpi=90)
    return fig
