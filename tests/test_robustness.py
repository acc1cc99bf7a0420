"""The robustness report: corruptions at fixed severities, occlusion of the object, the background swap (issue 16)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from jewelhelpers.core.robustness import CORRUPTIONS, OCCLUDED, SEVERITIES, corrupt, object_mask, on_white, swap_background


def _product_on_white() -> Image.Image:
    """A gold band (an ellipse outline) on a white 120 x 100 frame, off centre."""
    im = Image.new("RGB", (120, 100), (255, 255, 255))
    ImageDraw.Draw(im).ellipse((20, 30, 80, 80), outline=(200, 160, 60), width=9)
    return im


def test_occlusion_hides_the_given_share_of_the_object_only():
    im = _product_on_white()
    a = np.asarray(im)
    for severity, share in zip(SEVERITIES, OCCLUDED):
        b = np.asarray(corrupt(im, "occlusion", severity, seed=3))
        changed = (a != b).any(-1)
        inside = np.zeros_like(changed)
        inside[30:81, 20:81] = True  # the band's bounding box
        assert not changed[~inside].any()
        hidden = ((b == 128).all(-1) & inside).sum() / inside.sum()
        assert abs(hidden - share) < 0.06, (severity, hidden)


def test_background_swap_keeps_the_object_and_replaces_the_white():
    im = _product_on_white()
    assert on_white(im) and not on_white(Image.new("RGB", (50, 50), (90, 60, 40)))
    mask = object_mask(im)
    swapped = swap_background(im, seed=1)
    a, b = np.asarray(im), np.asarray(swapped)
    assert swapped.size == im.size
    assert (a[mask] == b[mask]).all()
    assert b[~mask].mean() < 225 and not on_white(swapped)


def test_every_corruption_changes_the_image_and_more_with_severity():
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(60, 200, (64, 64, 3), dtype=np.uint8))
    for name in CORRUPTIONS:
        diffs = [np.abs(np.asarray(corrupt(im, name, s), float) - np.asarray(im, float)).mean() for s in SEVERITIES]
        assert diffs[0] > 0 and diffs[-1] > diffs[0], (name, diffs)
        assert np.array_equal(np.asarray(corrupt(im, name, 2, seed=5)), np.asarray(corrupt(im, name, 2, seed=5)))


def test_evaluate_robustness_writes_the_report_and_plot(tiny_run, shop_folders, tmp_path):
    from jewelhelpers.jobs.evaluate import evaluate, evaluation_line
    shop = shop_folders[0]
    before = sorted(p.relative_to(shop) for p in shop.rglob("*"))
    metrics = evaluate(tiny_run, shop, out=tmp_path / "eval", progress=False, robustness=True)
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())["robustness"]
    assert report["n"] == metrics["n"] and set(report["corruptions"]) == set(CORRUPTIONS)
    assert all(len(v) == len(SEVERITIES) and all(0 <= x <= 1 for x in v) for v in report["corruptions"].values())
    assert set(report["background_swap"]) == {"n", "original", "swapped"}
    assert (tmp_path / "eval" / "robustness.png").stat().st_size > 5000
    assert "worst corruption" in evaluation_line(metrics)
    assert "## Robustness" in (tmp_path / "eval" / "report.md").read_text()
    assert sorted(p.relative_to(shop) for p in shop.rglob("*")) == before


def test_composite_pastes_the_cut_out_product_on_a_drawn_scene(tmp_path):
    from jewelhelpers.core.composite import composite, composite_items
    from jewelhelpers.core.drawing import SCENES, draw_item
    from jewelhelpers.core.robustness import cut_out
    product = draw_item("ring", np.random.default_rng(56), 128)  # a drawn ring on a white table
    assert on_white(product)
    alpha = np.asarray(cut_out(product).getchannel("A")) > 0
    share = object_mask(product).sum() / product.width / product.height
    assert 0.05 < share < 0.6 and alpha.sum() == object_mask(product).sum()  # the band, none of the white
    for k, kind in enumerate(SCENES):
        im = composite(product, np.random.default_rng(k), 96, kind)
        assert im.size == (96, 96) and not on_white(im), kind
    data = tmp_path / "data"
    (data / "ring").mkdir(parents=True)
    product.save(data / "ring" / "a.png")
    Image.new("RGB", (64, 64), (90, 60, 40)).save(data / "ring" / "dark.png")  # not on white: never a product
    before = sorted((p.name, p.stat().st_mtime_ns) for p in data.rglob("*"))
    rows = pd.DataFrame({"path": [str(data / "ring" / n) for n in ("a.png", "dark.png")], "label": "ring"})
    made = composite_items(tmp_path / "out", rows, per_class=3, size=64, seed=1)
    assert len(made) == 3 and set(made["label"]) == {"ring"}
    assert all(Path(p).parent == tmp_path / "out" / "ring" for p in made["path"])
    assert sorted((p.name, p.stat().st_mtime_ns) for p in data.rglob("*")) == before
    assert composite_items(tmp_path / "none", rows.iloc[1:], per_class=3, size=64).empty
