"""Settings in one place: the smoke / quick / full profiles and the JEWEL_* environment variables.

Taught in: 01_data_preparation.ipynb (the setup cell).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .errors import JewelError

PROFILE_NAMES = ("smoke", "quick", "full")
RECIPES = ("lpft", "classic")


@dataclass(frozen=True)
class Profile:
    """How big a run is: data, image size, recipe, epochs and backbone."""

    name: str
    synth_per_class: int  # images per class when the synthetic set is generated
    synth_size: int  # pixel size of generated images
    max_per_class: int | None  # cap on images per class read from real data (None = all)
    size: int  # training image size (square crop on the batch)
    presize: int  # item resize before the random crop (fastai presizing)
    bs: int
    epochs_head: int  # classic recipe: epochs with the body frozen
    epochs: int  # epochs after unfreezing (classic: the whole body; lpft: the last stage)
    arch: str  # default backbone ("auto": resnet50 when its weights can be had, else efficientnet_lite0)
    pretrained: bool
    recipe: str = "lpft"  # lpft: probe, then the last stage (train.py, lpft.py); classic: fastbook's recipe
    lr: float | None = None  # lpft fine-tuning rate (None: lr_find)
    synth_mix: int = 0  # lpft: drawn images per class added to the training photos
    soup: int = 1  # lpft: fine-tunings from the same probe whose weights are averaged

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", synth_per_class=12, synth_size=64, max_per_class=12, size=64, presize=72,
                     bs=16, epochs_head=1, epochs=1, arch="resnet18", pretrained=False, synth_mix=2, soup=2),
    "quick": Profile("quick", synth_per_class=80, synth_size=160, max_per_class=None, size=288, presize=320,
                     bs=32, epochs_head=3, epochs=4, arch="auto", pretrained=True, lr=1e-3, synth_mix=80, soup=3),
    "full": Profile("full", synth_per_class=300, synth_size=256, max_per_class=None, size=224, presize=256,
                    bs=64, epochs_head=4, epochs=4, arch="auto", pretrained=True, lr=1e-3, synth_mix=80, soup=3),
}


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The profile called `name`, else `$JEWEL_PROFILE`, else quick; `overrides` replace fields (None is ignored)."""
    name = name or os.environ.get("JEWEL_PROFILE") or "quick"
    if name not in PROFILES:
        raise JewelError(f"unknown profile {name!r}: choose one of {', '.join(PROFILE_NAMES)} (JEWEL_PROFILE or --profile)")
    profile = replace(PROFILES[name], **{k: v for k, v in overrides.items() if v is not None})
    if profile.recipe not in RECIPES:
        raise JewelError(f"unknown recipe {profile.recipe!r}: choose one of {', '.join(RECIPES)}")
    if profile.soup < 1 or profile.epochs < 1:
        raise JewelError(f"soup and epochs must be at least 1 (got soup={profile.soup}, epochs={profile.epochs})")
    return profile


def data_dir() -> Path | None:
    """`$JEWEL_DATA` as a Path (real photos to use instead of the synthetic set), or None."""
    value = os.environ.get("JEWEL_DATA")
    return Path(value).expanduser() if value else None


def external_dirs() -> list[Path]:
    """`$JEWEL_EXTERNAL_DATA`: other shops' folders, separated by the OS path separator (':' on Linux)."""
    value = os.environ.get("JEWEL_EXTERNAL_DATA", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def weights_path() -> Path | None:
    """`$JEWEL_WEIGHTS`: a local ResNet weights file to use when the download cannot be made."""
    value = os.environ.get("JEWEL_WEIGHTS")
    return Path(value).expanduser() if value else None
