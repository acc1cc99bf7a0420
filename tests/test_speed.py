"""The frozen pass once and fast: onnxruntime's numbers equal eager PyTorch's, a training run sends each image
through the frozen layers once (the test split's metrics and the probe baseline reuse the cached maps), and
`jewel predict` reuses current ONNX files instead of exporting again."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch

from jewelhelpers.cli import main
from jewelhelpers.core import onnx as onnx_export, runs
from jewelhelpers.core.backbones import build_model
from jewelhelpers.core.forward import PooledBody, batch_logits, preprocess, run_logits
from jewelhelpers.core.images import read_items
from jewelhelpers.core.manifest import manifest_split
from jewelhelpers.core.metrics import match_classes
from jewelhelpers.core.onnx import INT8_FILE, ONNX_FILE
from jewelhelpers.recipes.baseline import probe_beside
from jewelhelpers.recipes.lpft import FrozenPass


def test_the_onnx_frozen_pass_equals_eager_pytorch(image_folder):
    """Lite0 (the default backbone, 'same' padding and all): maps, frozen pooled features and logits within 1e-4."""
    torch.manual_seed(0)
    backbone = build_model("efficientnet_lite0", 5, pretrained=True, head="linear")
    meta = {"classes": sorted(read_items(image_folder)["label"].unique()), "size": 64, "presize": 72,
            "mean": backbone.mean, "std": backbone.std}
    items = read_items(image_folder).iloc[::3]
    fast = FrozenPass(backbone, meta, engine="onnx")
    assert type(fast.prefix).__name__ == "OnnxModule"
    maps = fast.run("some", items, progress=False)
    eager = run_logits(backbone.model[0][:fast.cut], meta, items, progress=False)
    assert maps.logits.shape == eager.logits.shape and maps.logits.abs().max() > 1
    assert (maps.logits - eager.logits).abs().max().item() < 1e-4
    full = run_logits(PooledBody(backbone.model[0]), meta, items, progress=False)
    assert (fast.features("some").logits - full.logits).abs().max().item() < 1e-4
    logits = run_logits(backbone.model, meta, items, progress=False).logits
    assert (fast.logits("some", backbone.model).logits - logits).abs().max().item() < 1e-4


def test_reading_ahead_keeps_every_image_in_its_place(image_folder, tmp_path):
    """batch_logits decodes the next batch in a thread: rows, indices and unreadable files stay in input order."""
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    paths = [str(p) for p in sorted(image_folder.rglob("*.jpg"))[:7]]
    paths.insert(4, str(bad))
    meta = {"classes": list("abcde"), "size": 32, "presize": 40, "mean": [0.5] * 3, "std": [0.25] * 3}
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 5))
    out = batch_logits(model, paths, meta, batch_size=3, progress=False)
    assert out.ok == [0, 1, 2, 3, 5, 6, 7] and list(out.errors) == [4]
    with torch.no_grad():
        alone = torch.cat([model(preprocess(paths[i], meta)[None]) for i in out.ok])
    assert torch.allclose(out.logits, alone, atol=1e-6)


def test_training_sends_each_image_through_the_frozen_layers_once(smoke_run, image_folder, shop_folders):
    """Every photo of the split, each drawn image and each other shop's photo (of a class the model knows) is
    preprocessed (= run through the frozen layers) exactly once (conftest counts it); the baseline from the
    cached maps is the probe computed again from the images."""
    seen = json.loads((smoke_run.parent / "preprocessed.json").read_text())
    manifest = pd.read_csv(smoke_run / "split.csv")
    meta = runs.read_meta(smoke_run)
    shops = {shop.name: match_classes(read_items(shop), meta["classes"])[0] for shop in shop_folders}
    expected = {str(image_folder / p) for p in manifest["path"]} | {p for s in shops.values() for p in s["path"]}
    drawn = set(seen) - expected
    assert expected <= set(seen) and len(drawn) == 2 * 5  # smoke: 2 drawn images per class
    assert set(seen.values()) == {1}
    assert {"frozen_pass", "fit_lpft", "test", "baseline"} <= set(meta["timings"])
    table = pd.read_csv(smoke_run / "baseline.csv", index_col="set")
    metrics = runs.read_json(smoke_run / "metrics.json")
    sets = {"test split": manifest_split(smoke_run, meta, "test")} | shops
    again = probe_beside(smoke_run, meta, sets, {name: metrics for name in sets})
    for name in table.index:
        one_image = 1 / table.loc[name, "n"]  # float rounding may at most flip one probe answer
        assert table.loc[name, "probe_accuracy"] == pytest.approx(again.loc[name, "probe_accuracy"], abs=one_image)


def test_predict_reuses_current_onnx_files(tmp_path, tiny_run, image_folder, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["export", str(run), "--format", "onnx-int8"]) == 0  # exports float32 first, then int8
    stamps = {f: (run / f).stat().st_mtime_ns for f in (ONNX_FILE, INT8_FILE)}

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the files are current")

    monkeypatch.setattr(onnx_export, "export_onnx", no_export)
    for engine in ("onnx", "onnx-int8"):
        assert main(["predict", str(run), str(image_folder / "ring"), "--engine", engine]) == 0
    assert stamps == {f: (run / f).stat().st_mtime_ns for f in (ONNX_FILE, INT8_FILE)}
    (run / runs.WEIGHTS).touch()  # newer weights: now the files are stale, and predict exports again
    with pytest.raises(AssertionError, match="exported again"):
        main(["predict", str(run), str(image_folder / "ring"), "--engine", "onnx"])
