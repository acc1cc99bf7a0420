"""Real products in new scenes: products on white cut out and pasted on drawn skin, fabric, wood, marble, clutter.

Most catalogue photos show one product on white, which `core.robustness.cut_out` separates cleanly (the same
threshold as the robustness report's background swap). `composite` rotates and scales the cut-out, pastes it
anywhere on a drawn scene (`core.drawing.scene`) and, most of the time, hides part of it under an occluder (a patch
of another scene: a finger, a fold of cloth), so a model sees the catalogue's own objects in the clutter and
occlusion of worn photos. `jewel train --composites N` adds N per class to LP-FT's training rows.

Taught in: 03_evaluation.ipynb (one composite per scene, beside the robustness report).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from .drawing import scene
from .errors import JewelError
from .images import open_rgb
from .robustness import cut_out, object_mask, on_white

SCALE = (0.35, 0.9)  # the cut-out's longer side, as a share of the frame
P_OCCLUDED = 0.6  # share of composites with an occluder
OCCLUDED = (0.05, 0.25)  # share of the product's box an occluder covers
LOOKED_AT = 4  # photos opened per composite wanted, at most, when looking for products on white


def composite(product: Image.Image, rng: np.random.Generator, size: int, kind: str | None = None) -> Image.Image:
    """A size x size photo: `product` (a photo on white) cut out, turned, scaled and pasted on a drawn scene."""
    cut = cut_out(product).rotate(float(rng.uniform(-180, 180)), resample=Image.BICUBIC, expand=True)
    scale = rng.uniform(*SCALE) * size / max(cut.size)
    cut = cut.resize((max(1, round(cut.width * scale)), max(1, round(cut.height * scale))), Image.LANCZOS)
    out = Image.fromarray(scene(rng, size, kind).astype(np.uint8))
    x, y = (int(rng.integers(0, size - side + 1)) for side in cut.size)
    out.paste(cut, (x, y), cut)
    if rng.random() < P_OCCLUDED:  # an ellipse of another scene over one edge of the product's box
        share, (w, h) = rng.uniform(*OCCLUDED), cut.size
        rx, ry = (np.sqrt(share * w * h / np.pi) * rng.uniform(0.7, 1.4, 2)).tolist()
        cx, cy = x + w * rng.choice([0.0, 1.0]) * rng.uniform(0.8, 1.0), y + h * rng.uniform(0, 1)
        if rng.random() < 0.5:
            cx, cy = x + w * rng.uniform(0, 1), y + h * rng.choice([0.0, 1.0]) * rng.uniform(0.8, 1.0)
        mask = Image.new("L", out.size)
        ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        out.paste(Image.fromarray(scene(rng, size).astype(np.uint8)), (0, 0), mask)
    return out


def composite_items(out: str | Path, rows: pd.DataFrame, per_class: int, size: int, seed: int = 0) -> pd.DataFrame:
    """`per_class` composites (path, label) of each class of `rows` (path, label), written under `out`.

    Products are the rows' photos on white, looked for in a seeded order (at most `LOOKED_AT` x `per_class` opened
    per class); a class with none gets no composites. Nothing is written next to the photos.
    """
    if per_class < 1:
        return pd.DataFrame(columns=["path", "label"])
    rng, out, made = np.random.default_rng(seed), Path(out), []
    for label, group in rows.groupby("label"):
        products = []
        for path in group["path"].iloc[rng.permutation(len(group))[:LOOKED_AT * per_class]]:
            try:
                im = open_rgb(path)
            except JewelError:
                continue
            if on_white(im) and object_mask(im).mean() > 0.01:
                products.append(im)
            if len(products) == per_class:
                break
        (out / label).mkdir(parents=True, exist_ok=True)
        for k in range(per_class if products else 0):
            path = out / label / f"composite_{k:04d}.png"
            composite(products[k % len(products)], rng, size).save(path)
            made.append({"path": str(path), "label": label})
    return pd.DataFrame(made, columns=["path", "label"])
