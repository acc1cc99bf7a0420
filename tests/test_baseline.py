"""The frozen-feature probe is reported beside every fine-tuned model, on the test split and other shops."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import CLASSES
from jewelhelpers.cli import main
from jewelhelpers.core.forward import run_logits
from jewelhelpers.core.images import read_items
from jewelhelpers.core.metrics import classification_metrics
from jewelhelpers.core.runs import load_model
from jewelhelpers.recipes.baseline import probe_beside


def test_train_reports_probe_beside_fine_tune_on_every_external_folder(smoke_run):
    """The smoke run was trained with --external shop_a --external shop_b (conftest)."""
    table = pd.read_csv(smoke_run / "baseline.csv", index_col="set")
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert list(table.index) == ["test split", "shop_a", "shop_b"]
    assert table.loc["test split", "n"] == metrics["n"]
    assert table.loc["shop_a", "n"] == 3 * len(CLASSES) and table.loc["shop_b", "n"] == 2 * (len(CLASSES) - 1)
    assert table.loc["test split", "fine_tuned_accuracy"] == pytest.approx(metrics["accuracy"])
    assert [row["set"] for row in metrics["baseline"]] == list(table.index)
    log = (smoke_run.parent / "train.log").read_text()
    assert "probe_accuracy" in log and "brooch" in log  # the table is printed; the unknown class is named


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
