"""The frozen-feature probe is reported beside every fine-tuned model, on the test split and other shops."""
from __future__ import annotations

import json
import shutil

import pandas as pd

from conftest import CLASSES, make_image_folder
from jewelhelpers.cli import main
from jewelhelpers.core.forward import run_logits
from jewelhelpers.core.images import read_items
from jewelhelpers.core.metrics import classification_metrics
from jewelhelpers.core.runs import load_model
from jewelhelpers.recipes.baseline import probe_beside


def test_train_reports_probe_beside_fine_tune_on_every_external_folder(tmp_path, image_folder, capsys):
    shop_a = make_image_folder(tmp_path / "shop_a", per_class=3, seed=7)
    shop_b = make_image_folder(tmp_path / "shop_b", per_class=2, seed=8)
    shutil.rmtree(shop_b / "watch")  # a shop without watches
    shutil.copytree(shop_b / "ring", shop_b / "brooch")  # and a class the model does not know
    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--out", str(run), "--profile", "smoke",
                 "--external", str(shop_a), "--external", str(shop_b)]) == 0
    table = pd.read_csv(run / "baseline.csv", index_col="set")
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(table.index) == ["test split", "shop_a", "shop_b"]
    assert table.loc["test split", "n"] == metrics["n"]
    assert table.loc["shop_a", "n"] == 3 * len(CLASSES) and table.loc["shop_b", "n"] == 2 * (len(CLASSES) - 1)
    assert table.drop(columns="n").stack().between(0, 1).all()
    assert [row["set"] for row in metrics["baseline"]] == list(table.index)
    out = capsys.readouterr().out
    assert "probe_accuracy" in out and "brooch" in out  # the table is printed; the unknown class is named


def test_a_missing_external_folder_is_refused_before_training(tmp_path, image_folder, capsys):
    assert main(["train", str(image_folder), "--out", str(tmp_path / "run"), "--profile", "smoke",
                 "--external", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_probe_learns_its_training_images(tiny_run, image_folder):
    """Scored on all images (a third of them its own training images), the probe is far above chance."""
    model, meta = load_model(tiny_run)
    items = read_items(image_folder)
    tuned = run_logits(model, meta, items, progress=False)
    table = probe_beside(tiny_run, meta, {"data": items},
                         {"data": classification_metrics(tuned.logits, tuned.y, meta["classes"])})
    assert table.loc["data", "n"] == 6 * len(CLASSES)
    assert table.loc["data", "probe_accuracy"] >= 0.6
