"""The frozen-feature baseline beside every fine-tuned run: did fine-tuning help where it matters?

A linear probe (balanced logistic regression on the pooled features of the *frozen* pretrained body) is
trained on the run's own train split and scored beside the fine-tuned model on the test split and on every
other shop's folder given. In-domain accuracy is nearly saturated; other shops' photos tell the two apart.

Taught in: 03_evaluation.ipynb.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..core.backbones import build_model
from ..core.forward import PooledBody, RunLogits, run_logits
from ..core.manifest import manifest_split
from ..core.metrics import classification_metrics, match_classes
from ..core.probe import fit_probe
from .fitting import seed_everything

COLUMNS = ["set", "n", "probe_accuracy", "fine_tuned_accuracy", "probe_macro_f1", "fine_tuned_macro_f1"]


def frozen_features(meta: dict, weights: str | Path | None = None, seed: int = 0) -> PooledBody:
    """The run's backbone as it was before fine-tuning (ImageNet weights, or the same seeded random init)."""
    seed_everything(seed)
    backbone = build_model(meta["arch"], len(meta["classes"]), meta["pretrained"], weights,
                           features=meta.get("features", "last"))
    return PooledBody(backbone.model[0])


def probe_beside(run_dir: str | Path, meta: dict, sets: dict[str, pd.DataFrame], tuned: dict[str, dict],
                 weights: str | Path | None = None, progress: bool = False) -> pd.DataFrame:
    """One row per test set (name -> items with path, label): the probe beside the fine-tuned model's metrics.

    `tuned[name]` is the fine-tuned model's metrics on that set (from `core.scoring.score_items`, the same path
    as metrics.json). The probe sees the same preprocessed images and is fitted on the run's train split.
    """
    features = frozen_features(meta, weights, meta.get("seed", 0))
    train = run_logits(features, meta, manifest_split(run_dir, meta, "train")[["path", "label"]], progress=progress)
    frozen = {name: run_logits(features, meta, match_classes(items, meta["classes"])[0], progress=progress)
              for name, items in sets.items()}
    return probe_table(meta, train, frozen, tuned)


def probe_table(meta: dict, train: RunLogits, sets: dict[str, RunLogits], tuned: dict[str, dict]) -> pd.DataFrame:
    """`probe_beside` on frozen pooled features already computed: the run's train split and each test set's.

    `jewel train` after LP-FT gets them from its cached frozen pass (`recipes.lpft.FrozenPass.features`).
    """
    probe = fit_probe(train.logits.numpy(), [meta["classes"][i] for i in train.y], meta["classes"])
    rows = []
    for name, frozen in sets.items():
        probe_logits = torch.from_numpy(probe.logits(frozen.logits.numpy())).float()
        m_probe = classification_metrics(probe_logits, frozen.y, meta["classes"])
        m_tuned = tuned[name]
        rows.append([name, m_tuned["n"], m_probe["accuracy"], m_tuned["accuracy"], m_probe["macro_f1"],
                     m_tuned["macro_f1"]])
    return pd.DataFrame(rows, columns=COLUMNS).set_index("set")
