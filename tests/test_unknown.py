"""Unknown photos: scores, the threshold stored at training and applied by predict, evaluate --unknown-data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jewelhelpers.cli import main
from jewelhelpers.core.drawing import make_synth
from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.images import list_images
from jewelhelpers.core.runs import META, read_meta, write_json
from jewelhelpers.core.unknown import (
    BANK, fit_threshold, knn_distances, separation, split_outputs, unknown_scores)


@pytest.fixture(scope="module")
def near_misses(tmp_path_factory) -> Path:
    return make_synth(tmp_path_factory.mktemp("nm") / "near", per_class=2, size=64, near_misses=True, progress=False)


def test_scores_and_separation_on_known_numbers():
    logits = np.array([[4.0, 0.0], [0.0, 0.0]])
    assert unknown_scores("msp", logits) == pytest.approx([1 - 1 / (1 + np.exp(-4)), 0.5], rel=1e-5)
    assert unknown_scores("energy", logits) == pytest.approx([-np.logaddexp(4, 0), -np.log(2)], rel=1e-5)
    bank = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert knn_distances(np.array([[2.0, 0.0]]), bank, 2)[0] == pytest.approx([0.0, 1.0], abs=1e-6)
    s = separation(np.arange(100.0), np.array([50.0, 200.0, 300.0]))
    assert s["auroc"] == pytest.approx((50.5 + 200) / 300) and s["fpr_at_95tpr"] == pytest.approx(1 / 3)
    with pytest.raises(JewelError, match="choose one of"):
        unknown_scores("mahalanobis", logits)


def test_threshold_stored_at_training_keeps_95_percent_of_valid(smoke_run):
    record = read_meta(smoke_run)["unknown"]
    assert record["method"] == "knn" and (smoke_run / BANK).is_file()
    from jewelhelpers.core.runs import load_model
    model, meta = load_model(smoke_run)
    bank = np.load(smoke_run / BANK)
    assert len(bank) == record["n_bank"] and np.linalg.norm(bank, axis=1) == pytest.approx(1, abs=1e-5)
    logits, feats = split_outputs(smoke_run, model, meta, "valid", progress=False)
    assert record["threshold"] == pytest.approx(fit_threshold(unknown_scores("knn", logits, feats, bank, record["k"])),
                                                rel=1e-4)


def test_predict_applies_the_threshold_and_off_turns_it_off(smoke_run, near_misses, tmp_path, capsys):
    run = Path(shutil.copytree(smoke_run, tmp_path / "run"))
    photo = pd.read_csv(run / "split.csv").query("split == 'train'")["path"].iloc[0]
    odd = list_images(near_misses)[0]
    assert main(["predict", str(run), photo, str(odd), "--unknown", "off"]) == 0
    off = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert off["unknown_score"].isna().all() and "unknown" not in set(off["label"])
    assert main(["predict", str(run), photo, str(odd), "--format", "json"]) == 0
    on = json.loads(capsys.readouterr().out)
    own, other = on[0]["unknown_score"], on[1]["unknown_score"]
    meta = read_meta(run)
    meta["unknown"] |= {"k": 1, "threshold": 0.5 * other}  # the training photo's nearest neighbour is itself: 0
    write_json(run / META, meta)
    assert main(["predict", str(run), photo, str(odd), "--format", "json"]) == 0
    labels = [r["label"] for r in json.loads(capsys.readouterr().out)]
    assert own is not None and labels[0] != "unknown" and labels[1] == "unknown"


def test_evaluate_reports_unknown_data(smoke_run, image_folder, near_misses, tmp_path):
    from jewelhelpers.jobs.evaluate import evaluate, evaluation_line
    run = Path(shutil.copytree(smoke_run, tmp_path / "run"))
    metrics = evaluate(run, image_folder, out=tmp_path / "eval", progress=False, unknown_data=near_misses)
    u = metrics["unknown"]
    assert 0 < u["share_kept"] <= 1 and u["unknown_data"]["n_unknown"] == len(list_images(near_misses))
    assert 0 <= u["unknown_data"]["auroc"] <= 1 and 0 <= u["unknown_data"]["fpr_at_95tpr"] <= 1
    assert (tmp_path / "eval" / "unknown_scores.png").is_file()
    n = u["unknown_data"]["n_unknown"]
    assert f"({n} unknown photos against " in evaluation_line(metrics) and "## Unknown photos" in (tmp_path / "eval" / "report.md").read_text()


def test_synth_near_misses_are_none_of_the_classes(near_misses):
    from jewelhelpers.core.settings import NEAR_MISSES
    assert sorted(p.name for p in near_misses.iterdir() if p.is_dir()) == sorted(NEAR_MISSES)
    assert len(list_images(near_misses)) == 2 * len(NEAR_MISSES)
