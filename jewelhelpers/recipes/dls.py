"""fastai DataLoaders over a split manifest: presizing, batch augmentation, optional class balancing.

Taught in: 01_data_preparation.ipynb (the DataBlock) and 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch
from PIL import Image

from fastai.vision.all import (
    CategoryBlock, ColReader, ColSplitter, DataBlock, ImageBlock, Normalize, PILImage, Resize, aug_transforms,
)

from ..core.backbones import Backbone
from ..core.errors import JewelError
from ..core.images import open_rgb
from ..core.settings import Profile


class JewelImage(PILImage):
    """A fastai image that is always opened with `open_rgb` (RGB, EXIF orientation applied)."""

    @classmethod
    def create(cls, fn, **kwargs):
        if isinstance(fn, (str, Path, bytes, Image.Image)):
            return cls(open_rgb(fn))
        return super().create(fn, **kwargs)


def jewel_augs(size: int, strength: str = "default") -> list:
    """The batch augmentations: random crop to `size` plus flips, rotation, zoom, warp and lighting.

    `strength="strong"` widens zoom-out, lighting and warp (for photos from other shops); `"none"` adds nothing.
    """
    if strength == "none":
        return []
    if strength == "strong":
        return aug_transforms(size=size, min_scale=0.5, max_rotate=25, max_zoom=1.3, max_lighting=0.4,
                              max_warp=0.3, p_affine=0.9, pad_mode="border")
    return aug_transforms(size=size, min_scale=0.75, max_rotate=15, max_lighting=0.3, max_warp=0.2)


def make_dls(manifest: pd.DataFrame, size: int, presize: int, bs: int, mean, std,
             balanced: bool = False, aug: str = "default", num_workers: int | None = None):
    """fastai DataLoaders over the train and valid rows of a split manifest.

    Presizing: each item is resized to `presize`, then each batch is randomly cropped to `size` and
    augmented on the batch. `mean`/`std` are the backbone's normalisation. `balanced=True` samples
    training images with weights 1/(class count) so every class is seen equally often. Shuffling follows
    the seeds set before the call (`recipes.fitting.seed_everything`).
    """
    df = manifest[manifest["split"].isin(["train", "valid"])].reset_index(drop=True)
    if (df["split"] == "valid").sum() == 0 or (df["split"] == "train").sum() == 0:
        raise JewelError("the manifest needs both train and valid rows (make one with: jewel split DATA --out split.csv)")
    df = df.assign(is_valid=df["split"] == "valid")
    block = DataBlock(
        blocks=(ImageBlock(cls=JewelImage), CategoryBlock(vocab=sorted(manifest["label"].unique()))),
        get_x=ColReader("path"), get_y=ColReader("label"), splitter=ColSplitter("is_valid"),
        item_tfms=Resize(presize), batch_tfms=[*jewel_augs(size, aug), Normalize.from_stats(mean, std)])
    if num_workers is None:
        num_workers = (os.cpu_count() or 1) if torch.cuda.is_available() else 0
    if balanced:
        counts = df.loc[~df["is_valid"], "label"].value_counts()
        weights = (1.0 / df["label"].map(counts)).to_numpy()
        return block.weighted_dataloaders(df, wgts=weights, bs=bs, num_workers=num_workers)
    return block.dataloaders(df, bs=bs, num_workers=num_workers)


def profile_dls(manifest: pd.DataFrame, backbone: Backbone, profile: Profile):
    """`make_dls` with the profile's sizes and the backbone's normalisation; the batch never exceeds the train split."""
    bs = min(profile.bs, int((manifest["split"] == "train").sum()))
    return make_dls(manifest, profile.size, profile.presize, bs, backbone.mean, backbone.std)
