"""Issue 16: do the body's middle stages, read beside its last, name the thin catalogue rings?

The head, the probe and the unknown score read the body's last map only (1,280 channels after `conv_head`), made
to name ImageNet's classes. A thin band against a thick one is a matter of shape and edges, which earlier stages
describe with less of ImageNet's class semantics; features of middle layers are often said to carry over better
between styles of photo. Lever: the shipped probe (288 px, class-balanced, C=0.01, 80 drawn v2 images per class)
on the spatial means of stage 5, 6 and 7's outputs (`blocks[4..6]`: 112, 192, 320 channels), alone or concatenated
beside the last map's, each feature standardised as the probe does (and a few of the probe's C); against the same
probe on the last map alone (the shipped features), on `loso.py`'s probe-level leave-one-source-out, 3 seeds, paired
(the same rows and drawn images). One pass of the frozen body gives every stage.

    .venv/bin/python benchmarks/experiments/stage_probe.py --cache /tmp/jewel-loso   # about 6 min for the pass once
    .venv/bin/python benchmarks/experiments/stage_probe.py --cache /tmp/jewel-loso --first-seed 3 \
        --sets "stages 6-7" "stage 6 + last" "stages 6-7 + last"                     # a confirmation on other seeds

`jewel train --features last-two` is the "stages 6-7" set as a model (`core.backbones.WithInput`): the head reads
the output of the frozen stage 6 beside the fine-tuned stage 7, without the 1x1 head convolution.
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

STAGES = {"stage 5": 6, "stage 6": 7, "stage 7": 8, "last": 10}  # name -> index of its end in `_body`'s Sequential
BASE = "last (shipped)"
SETS = {BASE: (["last"], 0.01), "stage 7 + last": (["stage 7", "last"], 0.01),  # name -> (stages, the probe's C)
        "stages 6-7 + last": (["stage 6", "stage 7", "last"], 0.01),
        "stages 5-7 + last": (["stage 5", "stage 6", "stage 7", "last"], 0.01),
        "stage 6 + last": (["stage 6", "last"], 0.01), "stages 6-7": (["stage 6", "stage 7"], 0.01),
        "stages 5-6": (["stage 5", "stage 6"], 0.01), "stage 7 alone": (["stage 7"], 0.01),
        "stage 6 alone": (["stage 6"], 0.01), "stage 6 alone, C=0.003": (["stage 6"], 0.003),
        "stage 6 alone, C=0.03": (["stage 6"], 0.03), "stage 6 + last, C=0.003": (["stage 6", "last"], 0.003),
        "stages 6-7 + last, C=0.003": (["stage 6", "stage 7", "last"], 0.003),
        "stages 6-7 + last, C=0.03": (["stage 6", "stage 7", "last"], 0.03)}


class Stages(nn.Module):
    """The frozen body's stage outputs, each averaged over space, stacked on the channels as a 1 x 1 map (so the
    feature extractor's pooling keeps them; the buffer makes the feature cache's key differ from the plain body's)."""

    def __init__(self, body: nn.Sequential):
        super().__init__()
        self.body = body.eval()
        self.register_buffer("ends", torch.tensor(list(STAGES.values())))

    def means(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each of STAGES' outputs averaged over space, (batch, channels, 1, 1), in STAGES' order."""
        means, ends = [], set(STAGES.values())
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in ends:
                means.append(x.mean(dim=(2, 3), keepdim=True))
        return means

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.means(x), dim=1)


def stage_features(items: pd.DataFrame, cache: Path) -> dict[str, np.ndarray]:
    """stage name -> (n, channels) spatial means of that stage's output, frozen ARCH at the shipped size."""
    mean, std = norm_stats(ARCH)
    body = _body(ARCH, imagenet_model(ARCH)[0])
    stages = Stages(body)
    with torch.no_grad():
        widths = [m.shape[1] for m in stages.means(torch.zeros(1, 3, 64, 64))]
    x = extract_features(stages, list(items["path"]), SHIPPED_SIZE, mean, std, cache_dir=cache)[:, 0]
    return dict(zip(STAGES, np.split(x, np.cumsum(widths)[:-1], axis=1)))


def main() -> None:
    t0 = time.time()
    args, loso = shipped_args(__doc__.splitlines()[0], **{
        "--first-seed": dict(type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1 (3: a confirmation)"),
        "--sets": dict(nargs="+", choices=list(SETS), default=list(SETS), help="the feature sets to measure")})
    real = stage_features(loso.real, args.cache / "features")
    drawn = stage_features(loso.pools[SHIPPED.drawing], args.cache / "features")
    print(f"stage features in {time.time() - t0:.0f}s", flush=True)
    levers = {}
    for name in dict.fromkeys([BASE, *args.sets]):
        stages, C = SETS[name]
        levers[name] = np.hstack([real[s] for s in stages]), np.hstack([drawn[s] for s in stages]), C
    print_levers(feature_lever_rows(loso, levers, range(args.first_seed, args.first_seed + args.seeds)), BASE,
                 ["rings called bracelets", "necklaces called bracelets"])
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
