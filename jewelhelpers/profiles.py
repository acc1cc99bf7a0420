"""Settings in one place: the smoke / quick / full profiles and the JEWEL_* environment variables.

Taught in: 01_data_preparation.ipynb (the setup cell).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .errors import JewelError

PROFILE_NAMES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class Profile:
    """How big a run is: data, image size, epochs and backbone."""

    name: str
    synth_per_class: int  # images per class when the synthetic set is generated
    synth_size: int  # pixel size of generated images
    max_per_class: int | None  # cap on images per class read from real data (None = all)
    size: int  # training image size (square crop on the batch)
    presize: int  # item resize before the random crop (fastai presizing)
    bs: int
    epochs_head: int  # epochs with the body frozen
    epochs: int  # epochs after unfreezing
    arch: str  # default backbone ("auto": resnet50 when its weights can be had, else efficientnet_lite0)
    pretrained: bool

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", synth_per_class=12, synth_size=64, max_per_class=12, size=64, presize=72,
                     bs=16, epochs_head=1, epochs=1, arch="resnet18", pretrained=False),
    "quick": Profile("quick", synth_per_class=80, synth_size=160, max_per_class=None, size=160, presize=192,
                     bs=32, epochs_head=3, epochs=5, arch="auto", pretrained=True),
    "full": Profile("full", synth_per_class=300, synth_size=256, max_per_class=None, size=224, presize=256,
                    bs=64, epochs_head=4, epochs=10, arch="auto", pretrained=True),
}


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The profile called `name`, else `$JEWEL_PROFILE`, else quick; `overrides` replace fields (None is ignored)."""
    name = name or os.environ.get("JEWEL_PROFILE") or "quick"
    if name not in PROFILES:
        raise JewelError(f"unknown profile {name!r}: choose one of {', '.join(PROFILE_NAMES)} (JEWEL_PROFILE or --profile)")
    return replace(PROFILES[name], **{k: v for k, v in overrides.items() if v is not None})


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
