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
from torch import nn

from .backbones import build_model
from .data import read_items
from .evaluate import classification_metrics, manifest_split, match_classes, run_logits
from .probe import fit_probe

COLUMNS = ["set", "n", "probe_accuracy", "fine_tuned_accuracy", "probe_macro_f1", "fine_tuned_macro_f1"]


class PooledBody(nn.Module):
    """A frozen body followed by global average pooling: image batch -> feature vectors."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


def frozen_features(meta: dict, weights: str | Path | None = None, seed: int = 0) -> PooledBody:
    """The run's backbone as it was before fine-tuning (ImageNet weights, or the same seeded random init)."""
    torch.manual_seed(seed)
    backbone = build_model(meta["arch"], len(meta["classes"]), meta["pretrained"], weights)
    return PooledBody(backbone.model[0])


def probe_beside(run_dir: str | Path, model: nn.Module, meta: dict, external: list[Path] = (),
                 weights: str | Path | None = None, progress: bool = False) -> pd.DataFrame:
    """One row per test set (the run's test split, then each folder in `external`): probe vs fine-tuned.

    The probe sees the same preprocessed images as the fine-tuned model and is fitted on the run's train split.
    """
    features = frozen_features(meta, weights, meta.get("seed", 0))
    train = run_logits(features, meta, manifest_split(run_dir, meta, "train")[["path", "label"]], progress=progress)
    probe = fit_probe(train.logits.numpy(), [meta["classes"][i] for i in train.y], meta["classes"])
    sets = [("test split", manifest_split(run_dir, meta, "test")[["path", "label"]])]
    sets += [(Path(folder).name, match_classes(read_items(folder), meta["classes"])[0]) for folder in external]
    rows = []
    for name, items in sets:
        tuned = run_logits(model, meta, items, progress=progress)
        frozen = run_logits(features, meta, items, progress=progress)
        probe_logits = torch.from_numpy(probe.logits(frozen.logits.numpy())).float()
        m_tuned = classification_metrics(tuned.logits, tuned.y, meta["classes"])
        m_probe = classification_metrics(probe_logits, frozen.y, meta["classes"])
        rows.append([name, m_tuned["n"], m_probe["accuracy"], m_tuned["accuracy"], m_probe["macro_f1"],
                     m_tuned["macro_f1"]])
    return pd.DataFrame(rows, columns=COLUMNS).set_index("set")
