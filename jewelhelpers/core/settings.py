"""Settings in one place: the smoke / quick / full profiles, every JEWEL_* variable, and the choices the CLI offers.

Light on purpose (no torch, no fastai): `jewel --help` and every other module read their constants here.

Environment variables:
- `JEWEL_PROFILE`: smoke | quick | full (default quick).
- `JEWEL_DATA`: real photos (an ImageFolder or a CSV of file,label) to use instead of the synthetic set.
- `JEWEL_EXTERNAL_DATA`: other shops' folders, separated by ':' (scored beside the probe, never trained on).
- `JEWEL_WEIGHTS`: a local ResNet ImageNet weights file, for machines that cannot download it.
- `JEWEL_RUN`: the run folder notebooks 03, 04 and 05 read (default: notebook 02's run, runs/02-<profile>).

Taught in: 01_data_preparation.ipynb (the setup cell).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .errors import JewelError

PROFILE_NAMES = ("smoke", "quick", "full")
RECIPES = ("lpft", "classic")
LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")  # weights ship with pip packages
ARCHS = ("resnet50", "resnet18", "resnet34", *LITES)
ARCH_CHOICES = ("auto", *ARCHS)  # auto: resnet50 when its weights can be had, else efficientnet_lite0
HEADS = ("fastai", "linear")
FEATURES = ("last", "last-two")  # what the head reads: the body's last map, or its last two stages' (backbones._body)
ENGINES = ("torch", "onnx", "onnx-int8")
EXPORT_FORMATS = ("onnx", "onnx-int8")
OUTPUT_FORMATS = ("csv", "json")
PLACES = ("local", "ray")  # where `jewel predict` runs: this process, or Ray Data workers (core.scale)
SCALE_EXTRA = "pip install -e '.[scale]'"  # installs Ray Data, the optional extra behind `--on ray`
SHARD_ROWS = 1024  # rows per Parquet shard of a Ray run: at most this much finished work is redone after a crash
CPUS_PER_WORKER = 1  # each Ray model actor reserves one CPU and runs its model on one thread
MONITORS = ("valid_loss", "accuracy", "f1_score")  # what picks the best epoch
VALID, TEST = 0.15, 0.15  # split fractions of `jewel split` and `jewel train` (the rest trains)
BALANCE = ("sources", "cells")  # several DATA: each source weighs equally, or each (source, class) cell does
VALID_FROM = ("first", "all")  # `jewel train` with several DATA: the valid split from the first DATA, or from each
NEAR_MISSES = ("key", "coin", "hair_clip", "button", "bottle_cap", "cufflinks")  # `jewel synth --near-misses`
UNKNOWN_METHODS = ("msp", "energy", "knn")  # unknown-photo scores measured side by side (core.unknown)
UNKNOWN_MODES = ("on", "off")  # `jewel predict --unknown`
UNKNOWN_TPR = 0.95  # share of the valid split's photos the unknown threshold keeps
REVIEW_FOLDS = 5  # `jewel review`: folds of the out-of-fold probe
MIN_SIZE = 32  # the smallest training image side every backbone's downsampling takes


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
    recipe: str = "lpft"  # lpft: probe, then the last stage (recipes/lpft.py); classic: fastbook's (recipes/classic.py)
    lr: float | None = None  # lpft fine-tuning rate (None: lr_find)
    synth_mix: int = 0  # lpft: drawn images per class added to the training photos
    soup: int = 1  # lpft: fine-tunings from the same probe whose weights are averaged
    composites: int = 0  # lpft: per class, training products on white pasted on drawn scenes (core.composite)
    wise: float = 1.0  # lpft: WiSE-FT mix of fine-tuned and probe weights (1: fine-tuned, 0: the probe)
    features: str = "last"  # what the head reads (FEATURES): the body's last map, or its last two stages' maps
    balance: str = "sources"  # several DATA (BALANCE): repeat rows so each source, or each (source, class), weighs equally
    mixstyle: float = 0.0  # lpft: share of training batches whose maps swap style statistics (recipes.lpft.MixStyle;
    # 0.5 in quick/full: adopted by issue 16's leave-one-source-out rule, benchmarks/RESULTS.md)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", synth_per_class=12, synth_size=64, max_per_class=12, size=64, presize=72,
                     bs=16, epochs_head=1, epochs=1, arch="resnet18", pretrained=False, synth_mix=2, soup=2),
    "quick": Profile("quick", synth_per_class=80, synth_size=160, max_per_class=None, size=288, presize=320,
                     bs=32, epochs_head=3, epochs=4, arch="auto", pretrained=True, lr=1e-3, synth_mix=80, soup=3,
                     mixstyle=0.5),
    "full": Profile("full", synth_per_class=300, synth_size=256, max_per_class=None, size=224, presize=256,
                    bs=64, epochs_head=4, epochs=4, arch="auto", pretrained=True, lr=1e-3, synth_mix=80, soup=3,
                    mixstyle=0.5),
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
    if profile.synth_mix < 0:
        raise JewelError(f"--drawn must be 0 or more images per class, not {profile.synth_mix}")
    if profile.composites < 0:
        raise JewelError(f"--composites must be 0 or more images per class, not {profile.composites}")
    if profile.size < MIN_SIZE:
        raise JewelError(f"--size must be at least {MIN_SIZE} pixels, not {profile.size}")
    if profile.lr is not None and not profile.lr > 0:
        raise JewelError(f"--lr must be above 0, not {profile.lr}")
    if profile.features not in FEATURES:
        raise JewelError(f"--features must be one of {', '.join(FEATURES)}, not {profile.features!r}")
    if profile.balance not in BALANCE:
        raise JewelError(f"--balance must be one of {', '.join(BALANCE)}, not {profile.balance!r}")
    if not 0 <= profile.mixstyle <= 1:
        raise JewelError(f"--mixstyle must be a share of batches between 0 and 1, not {profile.mixstyle}")
    if not 0 <= profile.wise <= 1:
        raise JewelError(f"--wise must be between 0 (the probe) and 1 (fine-tuned), not {profile.wise}")
    return profile


def profile_for(profile: str | None, size: int | None = None, **overrides) -> Profile:
    """The named profile with the caller's settings; a new `size` keeps the profile's presize ratio."""
    base = get_profile(profile)
    presize = round(size * base.presize / base.size) if size else None
    return get_profile(base.name, size=size, presize=presize, **overrides)


def _path_var(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def data_dir() -> Path | None:
    """`$JEWEL_DATA` as a Path (real photos to use instead of the synthetic set), or None."""
    return _path_var("JEWEL_DATA")


def external_dirs() -> list[Path]:
    """`$JEWEL_EXTERNAL_DATA`: other shops' folders, separated by the OS path separator (':' on Linux)."""
    value = os.environ.get("JEWEL_EXTERNAL_DATA", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def weights_path() -> Path | None:
    """`$JEWEL_WEIGHTS`: a local ResNet weights file to use when the download cannot be made."""
    return _path_var("JEWEL_WEIGHTS")


def run_dir_var() -> Path | None:
    """`$JEWEL_RUN`: the run folder a notebook evaluates instead of notebook 02's."""
    return _path_var("JEWEL_RUN")
