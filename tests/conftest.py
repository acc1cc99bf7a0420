"""Shared fixtures: a tiny image folder, a hand-made (untrained) run, and a real smoke training run."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections import Counter
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
    """Small ImageFolder whose classes differ by a drawn shape (learnable, but not meaningful jewelry).

    Position, size and colours vary per image, so no two images are near-duplicates.
    """
    rng = np.random.default_rng(seed)
    for ci, label in enumerate(CLASSES):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(150, 256, 3)))
            d = ImageDraw.Draw(im)
            for _ in range(3):  # background clutter
                x, y = (int(v) for v in rng.integers(0, size, 2))
                d.rectangle([x, y, x + 6, y + 6], fill=tuple(int(v) for v in rng.integers(100, 256, 3)))
            x0, y0 = (int(v) for v in rng.integers(2, size // 3, 2))
            x1, y1 = (int(v) for v in rng.integers(2 * size // 3, size - 2, 2))
            c = tuple(int(v) for v in rng.integers(0, 120, 3))
            box = [(x0, y0), (x1, y1)]
            if ci == 0:
                d.ellipse(box, outline=c, width=4)
            elif ci == 1:
                d.ellipse([(x0, y0), ((x0 + x1) // 2, (y0 + y1) // 2)], fill=c)
                d.ellipse([((x0 + x1) // 2, (y0 + y1) // 2), (x1, y1)], fill=c)
            elif ci == 2:
                d.line([(x0, y0), ((x0 + x1) // 2, y1), (x1, y0)], fill=c, width=3)
            elif ci == 3:
                d.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=c)
            else:
                d.rectangle(box, fill=c)
            im.save(root / label / f"{label}_{i:02d}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("images") / "data")


@pytest.fixture
def lpft_setup(image_folder):
    """For one LP-FT fit: the image folder's items, classes, a fresh untrained resnet18 with a linear head (seed 0)
    and the meta (32 px) `fit_lpft` needs."""
    import torch
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.core.images import read_items
    torch.manual_seed(0)
    items = read_items(image_folder)
    classes = sorted(items["label"].unique())
    backbone = build_model("resnet18", len(classes), pretrained=False, head="linear")
    meta = {"classes": classes, "size": 32, "presize": 40, "mean": backbone.mean, "std": backbone.std}
    return items, backbone, meta


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, image_folder) -> Path:
    """A RUN_DIR written by hand (untrained resnet18, 32 px): fast, for tests of loading and prediction."""
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.core.images import read_items
    from jewelhelpers.core.manifest import MANIFEST
    from jewelhelpers.core.runs import META, save_weights, versions, write_json
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
def shop_folders(tmp_path_factory) -> list[Path]:
    """Two other shops: shop_a with every class; shop_b without watches and with a class no model knows."""
    root = tmp_path_factory.mktemp("shops")
    shop_a = make_image_folder(root / "shop_a", per_class=3, seed=7)
    shop_b = make_image_folder(root / "shop_b", per_class=2, seed=8)
    shutil.rmtree(shop_b / "watch")
    shutil.copytree(shop_b / "ring", shop_b / "brooch")
    return [shop_a, shop_b]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, image_folder, shop_folders) -> Path:
    """A real `jewel train --profile smoke --external shop_a --external shop_b` run through the CLI (random init,
    tiny): every RUN_DIR file. What it printed (to streams that are not terminals, as in a log) is kept beside it
    in `train.log`, and how many times each image was preprocessed (= run through the frozen layers) in
    `preprocessed.json`.
    """
    from jewelhelpers.cli import main
    from jewelhelpers.core import forward
    run = tmp_path_factory.mktemp("runs") / "smoke"
    log = io.StringIO()
    externals = [arg for shop in shop_folders for arg in ("--external", str(shop))]
    seen: Counter = Counter()
    preprocess = forward.preprocess

    def counted(img, meta):
        seen[str(img)] += 1
        return preprocess(img, meta)

    forward.preprocess = counted
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = main(["train", str(image_folder), "--out", str(run), "--profile", "smoke", "--seed", "0", *externals])
    finally:
        forward.preprocess = preprocess
    (run.parent / "train.log").write_text(log.getvalue())
    (run.parent / "preprocessed.json").write_text(json.dumps(seen))
    assert code == 0, log.getvalue()[-2000:]
    return run
