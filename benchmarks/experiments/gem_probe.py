"""Issue 16: does a head that pools like the similar-photos search (GeM) name the thin catalogue rings?

The head, the probe and the unknown score read the body's last feature map *averaged* over space. A thin band
on white lights up a few positions of the 9 x 9 map; averaged with the empty rest, its evidence is diluted, and
what is left may be the pose (a flat ellipse) more than the band. Generalised-mean pooling (GeM, p > 1:
`core.forward.gem_pool`, shipped for `jewel index`) weighs the strong positions more.

Lever: the shipped probe (288 px, class-balanced, C=0.01, 80 drawn v2 images per class) on GeM-pooled frozen Lite0
features, p = 2 and 3, against the same probe on mean-pooled features (p = 1, the shipped head), on `loso.py`'s
probe-level leave-one-source-out, 3 seeds, paired (the same rows and drawn images). One pass of the frozen body
gives every p: it pools x, x^2 and x^3 over space together.

    .venv/bin/python benchmarks/experiments/gem_probe.py --cache /tmp/jewel-loso   # about 6 min for the pass once
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso import ARCH, SHIPPED, SHIPPED_SIZE, feature_lever_rows, print_levers, shipped_args  # noqa: E402

from jewelhelpers.core.backbones import _body, imagenet_model, norm_stats  # noqa: E402
from jewelhelpers.core.probe import extract_features  # noqa: E402

POWERS = (1, 2, 3)


class Powers(nn.Module):
    """The frozen body's maps raised to each of POWERS, stacked on the channels: their spatial means are the
    power means every GeM p needs (the buffer makes the feature cache's key differ from the plain body's)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body.eval()
        self.register_buffer("powers", torch.tensor(POWERS, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.body(x).clamp(min=1e-6)
        return torch.cat([maps ** p for p in POWERS], dim=1)


def gem_features(items: pd.DataFrame, cache: Path) -> dict[int, np.ndarray]:
    """p -> (n, channels) GeM-pooled frozen ARCH features of `items` at the shipped size (p = 1: the mean)."""
    mean, std = norm_stats(ARCH)
    body = Powers(_body(ARCH, imagenet_model(ARCH)[0]))
    x = extract_features(body, list(items["path"]), SHIPPED_SIZE, mean, std, cache_dir=cache)[:, 0]
    parts = np.split(x, len(POWERS), axis=1)
    return {p: part ** (1 / p) for p, part in zip(POWERS, parts)}


def main() -> None:
    t0 = time.time()
    args, loso = shipped_args(__doc__.splitlines()[0])
    real = gem_features(loso.real, args.cache / "features")
    drawn = gem_features(loso.pools[SHIPPED.drawing], args.cache / "features")
    print(f"GeM features in {time.time() - t0:.0f}s", flush=True)
    levers = {f"GeM p={p}" if p > 1 else "mean (shipped)": (real[p], drawn[p], SHIPPED.C) for p in POWERS}
    print_levers(feature_lever_rows(loso, levers, range(args.seeds)), "mean (shipped)",
                 ["rings called bracelets", "bracelets called rings"])
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
