"""How a model holds up when photos get worse: corruptions at fixed severities, and white backgrounds swapped.

Each corruption is an albumentations transform with fixed parameters per severity (1 mild, 2, 3 strong), seeded,
so a report is the same on every run. Occlusion covers a share of the *object* (its bounding box, found by
cutting the product out of a white background), not of the frame. The background swap keeps only photos on white,
cuts the product out (pixels darker than near-white) and pastes it on drawn backdrops (`drawing.backdrop`: light
gradients, textures, dark velvet): a model that learnt "white background" as part of a class loses here.

`jewel evaluate RUN DATA --robustness` writes the report into metrics.json and `robustness.png`.

Taught in: 03_evaluation.ipynb.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .drawing import backdrop
from .errors import JewelError
from .forward import batch_logits
from .images import open_rgb
from .metrics import classification_metrics

SEVERITIES = (1, 2, 3)
OCCLUDED = (0.1, 0.25, 0.4)  # share of the object's bounding box hidden, per severity
WHITE = 235  # a pixel whose darkest channel is above this is background
CORRUPTIONS: dict[str, Callable[[ModuleType, int], Any]] = {  # (albumentations, severity) -> transform
    "blur": lambda A, s: A.GaussianBlur(blur_limit=0, sigma_limit=((1.0, 2.0, 4.0)[s - 1],) * 2, p=1),
    "jpeg": lambda A, s: A.ImageCompression(quality_range=((30, 15, 6)[s - 1],) * 2, p=1),
    "noise": lambda A, s: A.GaussNoise(std_range=((0.04, 0.08, 0.16)[s - 1],) * 2, p=1),
    "brightness": lambda A, s: A.RandomBrightnessContrast(brightness_limit=((-0.2, -0.35, -0.5)[s - 1],) * 2,
                                                       contrast_limit=0, p=1),
    "contrast": lambda A, s: A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=((-0.3, -0.5, -0.7)[s - 1],) * 2,
                                                     p=1),
    "occlusion": lambda A, s: A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(OCCLUDED[s - 1] ** 0.5,) * 2,
                                           hole_width_range=(OCCLUDED[s - 1] ** 0.5,) * 2, fill=128, p=1),
}


def albumentations() -> ModuleType:
    """albumentations, imported when a report is made (it costs seconds, and `jewel evaluate` mostly needs none)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network on import
    import albumentations as A
    return A


def object_mask(im: Image.Image) -> np.ndarray:
    """Boolean mask of the product on a white background: pixels whose darkest channel is not near-white."""
    return np.asarray(im.convert("RGB")).min(axis=-1) <= WHITE


def cut_out(im: Image.Image) -> Image.Image:
    """The product of a photo on white as RGBA, cropped to its bounding box, alpha 0 on the background."""
    rgba = im.convert("RGBA")
    rgba.putalpha(Image.fromarray(object_mask(im).astype(np.uint8) * 255))
    box = rgba.getchannel("A").getbbox()
    if box is None:
        raise JewelError("nothing but white: no product to cut out")
    return rgba.crop(box)


def on_white(im: Image.Image, border: int = 4) -> bool:
    """True when the image's border is (nearly all) white: a product shot a cut-out can be made of."""
    a = np.asarray(im.convert("RGB"))
    edge = np.concatenate([a[:border].reshape(-1, 3), a[-border:].reshape(-1, 3), a[:, :border].reshape(-1, 3),
                           a[:, -border:].reshape(-1, 3)])
    return bool((edge.min(axis=-1) > WHITE).mean() > 0.95)


def corrupt(im: Image.Image, name: str, severity: int, seed: int = 0) -> Image.Image:
    """`im` with corruption `name` at `severity`; occlusion hides a share of the object's bounding box."""
    transform = CORRUPTIONS[name](albumentations(), severity)
    transform.set_random_seed(seed)
    a = np.asarray(im.convert("RGB")).copy()
    if name != "occlusion":
        return Image.fromarray(transform(image=a)["image"])
    ys, xs = np.nonzero(object_mask(im))
    if not len(ys):  # nothing but white: occlude the frame
        ys, xs = np.array([0, a.shape[0] - 1]), np.array([0, a.shape[1] - 1])
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a[top:bottom, left:right] = transform(image=a[top:bottom, left:right])["image"]
    return Image.fromarray(a)


def swap_background(im: Image.Image, seed: int = 0) -> Image.Image:
    """The product cut out of its white background and pasted, same place and size, on a drawn non-white backdrop."""
    rng = np.random.default_rng(seed)
    a = np.asarray(im.convert("RGB"), float)
    side = max(a.shape[:2])
    while True:  # backdrop kind 0 is near-white: draw again
        bg = backdrop(rng, side)[:a.shape[0], :a.shape[1]]
        if bg.mean() < 225:
            break
    mask = object_mask(im)[..., None]
    return Image.fromarray(np.clip(np.where(mask, a, bg), 0, 255).astype(np.uint8))


def _accuracy(model: torch.nn.Module, meta: dict, images: Sequence[Image.Image], y: np.ndarray) -> float:
    out = batch_logits(model, list(images), meta, progress=False)
    return float(classification_metrics(out.logits, y[out.ok], meta["classes"])["accuracy"])


def robustness_report(model: torch.nn.Module, meta: dict, items: pd.DataFrame, max_images: int = 120,
                      seed: int = 0) -> dict:
    """Accuracy on `items` (path, label; a seeded `max_images` of them) clean, per corruption and severity, and
    before / after the background swap on the photos on white. Unreadable files are left out."""
    if len(items) > max_images:
        items = items.sample(max_images, random_state=seed)
    images, labels = [], []
    for path, label in zip(items["path"], items["label"]):
        try:
            images.append(open_rgb(path))
            labels.append(label)
        except JewelError:  # unreadable: the plain evaluation reports it
            continue
    y = np.array([meta["classes"].index(label) for label in labels])
    report: dict = {"n": len(images), "severities": list(SEVERITIES), "occluded_share": list(OCCLUDED),
                    "clean": _accuracy(model, meta, images, y), "corruptions": {}}
    for name in CORRUPTIONS:
        report["corruptions"][name] = [_accuracy(model, meta, [corrupt(im, name, s, seed + i)
                                                               for i, im in enumerate(images)], y)
                                       for s in SEVERITIES]
    white = [i for i, im in enumerate(images) if on_white(im) and object_mask(im).mean() > 0.01]
    swap = {"n": len(white), "original": None, "swapped": None}
    if white:
        swap["original"] = _accuracy(model, meta, [images[i] for i in white], y[white])
        swap["swapped"] = _accuracy(model, meta, [swap_background(images[i], seed + i) for i in white], y[white])
    report["background_swap"] = swap
    return report
