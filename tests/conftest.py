"""Shared fixtures: a tiny image folder, a hand-made (untrained) run, and a real smoke training run."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

os.environ.setdefault("MPLBACKEND", "Agg")

CLASSES = ["bracelet", "earring", "necklace", "ring", "watch"]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
JEWELRY_PHOTOS = SHARED / "jewelry_photos"
OTHER_SHOPS = SHARED / "other_shops"


def make_image_folder(root: Path, per_class: int = 6, size: int = 48, seed: int = 0) -> Path:
    """Small ImageFolder whose classes differ by a drawn shape (learnable, but not meaningful jewelry)."""
    rng = np.random.default_rng(seed)
    for ci, label in enumerate(CLASSES):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(150, 256, 3)))
            d = ImageDraw.Draw(im)
            c = tuple(int(v) for v in rng.integers(0, 120, 3))
            m = int(rng.integers(4, 10))
            [d.ellipse, d.rectangle, d.line, d.polygon, d.arc][ci](
                [(m, m), (size - m, size - m)] if ci in (0, 1, 4) else
                [(m, m), (size - m, size - m), (m, size - m)] if ci == 3 else [(m, m), (size - m, size - m)],
                **({"fill": c} if ci in (0, 1, 2, 3) else {"fill": c, "start": 0, "end": 270}))
            im.save(root / label / f"{label}_{i:02d}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("images") / "data")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, image_folder) -> Path:
    """A RUN_DIR written by hand (untrained resnet18, 32 px): fast, for tests of loading and prediction."""
    from jewelhelpers.backbones import build_model
    from jewelhelpers.data import read_items
    from jewelhelpers.runs import MANIFEST, META, save_weights, versions, write_json
    import torch
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("runs") / "tiny"
    run.mkdir()
    items = read_items(image_folder)
    items["split"] = ["train", "train", "valid", "test", "test", "test"] * (len(items) // 6)
    items["group"] = range(len(items))
    items.to_csv(run / MANIFEST, index=False)
    bb = build_model("resnet18", len(CLASSES), pretrained=False)
    save_weights(run, bb.model)
    write_json(run / META, {
        "classes": CLASSES, "arch": "resnet18", "pretrained": False, "weights_source": bb.source,
        "size": 32, "presize": 40, "mean": bb.mean, "std": bb.std, "profile": "smoke", "seed": 0,
        "versions": versions(), "timings": {}, "temperature": None, "data": str(image_folder),
        "manifest": MANIFEST})
    return run


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, image_folder) -> Path:
    """A real `jewel train --profile smoke` run through the CLI (random init, tiny): every RUN_DIR file."""
    from jewelhelpers.cli import main
    run = tmp_path_factory.mktemp("runs") / "smoke"
    assert main(["train", str(image_folder), "--out", str(run), "--profile", "smoke", "--seed", "0"]) == 0
    return run
