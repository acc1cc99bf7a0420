"""jewel evaluate: metrics against scikit-learn, ECE, temperature, class mismatch, outputs, Grad-CAM, CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn import metrics as skm

from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.metrics import classification_metrics, ece, fit_temperature, most_confused, nll
from jewelhelpers.jobs.evaluate import PLOTS, evaluate, evaluation_line
from jewelhelpers.core.forward import batch_logits, preprocess, probabilities
from jewelhelpers.core.manifest import MANIFEST
from jewelhelpers.core.runs import META, read_meta

from conftest import CLASSES


def _copy_run(src: Path, dst: Path) -> Path:
    """A private copy of a shared run fixture: evaluate stores the temperature in its meta.json."""
    return Path(shutil.copytree(src, dst))


def _snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


# ---- metrics on fixed predictions ----------------------------------------------------------------------

@pytest.mark.parametrize("present", [[0, 1, 2, 3, 4], [0, 1, 3]])
def test_metrics_equal_sklearn(present):
    rng = np.random.default_rng(1)
    y = rng.choice(present, size=200)
    logits = torch.tensor(rng.normal(size=(200, 5)) + 2.0 * np.eye(5)[y] * rng.random((200, 1)), dtype=torch.float32)
    probs = probabilities(logits).numpy()
    pred = probs.argmax(1)
    m = classification_metrics(logits, y, CLASSES)

    assert m["classes_evaluated"] == [CLASSES[i] for i in present]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["top2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, probs, k=2, labels=range(5)))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, labels=present, average="macro", zero_division=0))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, labels=present, average="weighted", zero_division=0))
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred, labels=present, zero_division=0)
    got = [m["per_class"][CLASSES[i]] for i in present]
    assert [g["precision"] for g in got] == pytest.approx(precision)
    assert [g["recall"] for g in got] == pytest.approx(recall)
    assert [g["f1"] for g in got] == pytest.approx(f1)
    assert [g["support"] for g in got] == list(support)
    assert m["confusion_matrix"]["counts"] == skm.confusion_matrix(y, pred, labels=range(5))[present].tolist()
    assert m["confusion_matrix"]["columns"] == CLASSES
    assert m["nll"] == pytest.approx(skm.log_loss(y, probs, labels=range(5)), rel=1e-4)
    assert sum(n for *_, n in most_confused(m)) == int((pred != y).sum())


def test_predicting_a_class_the_data_lacks_is_an_error():
    y = np.array([0, 0, 1, 1])
    logits = torch.tensor(np.eye(5)[[0, 4, 1, 4]] * 5.0, dtype=torch.float32)  # two "watch" predictions
    m = classification_metrics(logits, y, CLASSES)
    assert m["accuracy"] == 0.5
    assert m["confusion_matrix"]["rows"] == ["bracelet", "earring"]
    assert [row[4] for row in m["confusion_matrix"]["counts"]] == [1, 1]
    assert m["per_class"]["bracelet"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert "watch" not in m["per_class"] and m["macro_f1"] == pytest.approx(2 / 3)


def test_ece_on_a_hand_computed_case():
    # confidences 0.9 (right), 0.9 (wrong) share the bin (13/15, 14/15]: gap |0.5 - 0.9| = 0.4;
    # 0.65 and 0.62 (both right) share (9/15, 10/15]: gap |1 - 0.635| = 0.365. ECE = (2*0.4 + 2*0.365) / 4.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.35, 0.65], [0.62, 0.38]])
    y = np.array([0, 1, 1, 0])
    assert ece(probs, y) == pytest.approx(0.3825)
    assert ece(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == pytest.approx(0.0)


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(scale=4.0, size=(20000, 5)), dtype=torch.float32)
    true_t = 2.5
    p = probabilities(logits, true_t).numpy().astype(np.float64)
    y = np.array([rng.choice(5, p=row / row.sum()) for row in p])
    t = fit_temperature(logits, y)
    assert t == pytest.approx(true_t, rel=0.05)
    assert nll(logits, y, t) < nll(logits, y)


# ---- preprocessing and Grad-CAM ------------------------------------------------------------------------

def test_preprocess_matches_the_validation_pipeline_of_training(tmp_path):
    from jewelhelpers.core.backbones import IMAGENET_STATS
    from jewelhelpers.recipes.dls import make_dls
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate([(100, 80), (80, 131), (97, 97), (55, 61)]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    manifest = pd.DataFrame({"path": [str(p) for p in paths] + [str(paths[0])], "label": ["a", "b", "a", "b", "a"],
                             "split": ["valid"] * 4 + ["train"]})
    meta = {"size": 64, "presize": 72, "mean": IMAGENET_STATS[0], "std": IMAGENET_STATS[1]}
    dls = make_dls(manifest, meta["size"], meta["presize"], bs=4, mean=meta["mean"], std=meta["std"], num_workers=0)
    xb, _ = dls.valid.one_batch()
    mine = torch.stack([preprocess(p, meta) for p in dls.valid.items["path"]])
    assert mine.shape == xb.shape
    assert torch.allclose(mine, xb.cpu(), atol=1e-3)


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_lite0"])
def test_grad_cam_shape_and_class_dependence(arch):
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.core.interpret import grad_cam
    torch.manual_seed(0)
    model = build_model(arch, 5, pretrained=False).model.eval()
    x = torch.randn(2, 3, 96, 96)
    cam0, cam1 = grad_cam(model, x, 0), grad_cam(model, x, [1, 1])
    assert cam0.shape == (2, 96, 96)
    assert cam0.min() >= 0 and cam0.max() <= 1 + 1e-6
    assert not torch.allclose(cam0, cam1, atol=1e-3)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_unreadable_images_are_skipped_with_a_reason(tiny_run, image_folder, tmp_path):
    from jewelhelpers.core.runs import load_model
    model, meta = load_model(tiny_run)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    good = sorted(image_folder.glob("ring/*.jpg"))[:2]
    out = batch_logits(model, [good[0], bad, good[1]], meta, batch_size=2, progress=False)
    assert out.ok == [0, 2] and out.logits.shape == (2, 5)
    assert list(out.errors) == [1] and "bad.jpg" in out.errors[1]


# ---- the job on a run ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def other_shop(tmp_path_factory, image_folder) -> Path:
    """Another shop's photos: no necklace or watch, an extra class the model never saw, one corrupt file."""
    root = tmp_path_factory.mktemp("shop") / "other_shop"
    for label in ("bracelet", "earring", "ring"):
        shutil.copytree(image_folder / label, root / label)
    (root / "brooch").mkdir()
    shutil.copy(image_folder / "ring" / "ring_00.jpg", root / "brooch" / "brooch_00.jpg")
    shutil.copy(image_folder / "ring" / "ring_01.jpg", root / "brooch" / "brooch_01.jpg")
    (root / "ring" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root


@pytest.fixture(scope="module")
def shop_eval(tmp_path_factory, tiny_run, other_shop):
    """evaluate(..., tta=True) of a private copy of tiny_run on the other shop; (metrics, out, run, DATA before)."""
    run = _copy_run(tiny_run, tmp_path_factory.mktemp("evalrun") / "run")
    before = _snapshot(other_shop)
    metrics = evaluate(run, other_shop, tta=True, progress=False)
    return metrics, Path(metrics["out"]), run, before


def test_every_output_is_written(shop_eval, other_shop):
    metrics, out, run, before = shop_eval
    assert out == (run / "eval-other_shop").resolve()
    for name in ["metrics.json", "predictions.csv", "report.md", *PLOTS]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in (out / "report.md").read_text()
    stored = json.loads((out / "metrics.json").read_text())
    for key in ["accuracy", "top2_accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "n", "ece",
                "nll", "unreadable", "ece_calibrated", "temperature", "classes_evaluated", "classes_unknown_to_model"]:
        assert key in stored, key
    assert set(stored["tta"]) >= {"accuracy", "macro_f1", "ece", "confusion_matrix", "views"}
    assert len(pd.read_csv(out / "predictions.csv")) == stored["n"]
    assert 0 <= stored["accuracy"] <= 1 and 0 <= stored["ece"] <= 1
    assert _snapshot(other_shop) == before, "DATA must not be written"
    assert "on 18 images" in evaluation_line(metrics)


def test_temperature_is_fitted_on_valid_stored_then_reused(shop_eval, other_shop, tmp_path, monkeypatch):
    metrics, _, run, _ = shop_eval
    cal = metrics["calibration"]
    assert cal["fitted_on"] == "the run's valid split" and cal["n_valid"] == 5
    assert cal["valid_nll_after"] <= cal["valid_nll_before"] + 1e-6
    assert read_meta(run)["temperature"] == pytest.approx(cal["temperature"])
    assert read_meta(run)["calibration"] == cal

    def refit(*args, **kwargs):
        raise AssertionError("the stored temperature must be reused, not fitted again")

    monkeypatch.setattr("jewelhelpers.core.scoring.valid_temperature", refit)
    again = evaluate(run, other_shop, out=tmp_path / "again", progress=False)
    assert again["calibration"] == cal
    assert again["temperature"] == pytest.approx(cal["temperature"])
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])


def test_class_mismatch_and_unreadable_file_are_reported(shop_eval, other_shop, capsys):
    metrics, *_ = shop_eval
    assert metrics["classes_unknown_to_model"] == ["brooch"] and metrics["n_unknown_to_model"] == 2
    assert metrics["classes_missing_from_data"] == ["necklace", "watch"]
    assert metrics["classes_evaluated"] == ["bracelet", "earring", "ring"] == list(metrics["per_class"])
    cm = metrics["confusion_matrix"]
    assert cm["rows"] == ["bracelet", "earring", "ring"] and cm["columns"] == CLASSES
    assert metrics["n"] == 18 == int(np.sum(cm["counts"]))
    assert metrics["accuracy"] == pytest.approx(np.trace(np.array(cm["counts"])[:, [0, 1, 3]]) / 18)
    assert [u["path"] for u in metrics["unreadable"]] == [str(other_shop / "ring" / "corrupt.jpg")]
    assert "cannot be read" in metrics["unreadable"][0]["reason"]


def test_run_test_split_is_used_when_data_is_the_training_data(tiny_run, image_folder, tmp_path, capsys):
    run = _copy_run(tiny_run, tmp_path / "run")
    update = json.loads((run / META).read_text()) | {"temperature": 1.5}  # skip the fit: this test is about rows
    (run / META).write_text(json.dumps(update))
    metrics = evaluate(run, image_folder, out=tmp_path / "ev", progress=False)
    manifest = pd.read_csv(run / MANIFEST)
    test_paths = sorted(manifest.loc[manifest["split"] == "test", "path"])
    assert metrics["evaluated_on"] == "the run's test split"
    assert sorted(pd.read_csv(tmp_path / "ev" / "predictions.csv")["path"]) == test_paths
    assert metrics["classes_unknown_to_model"] == [] and "does not know" not in capsys.readouterr().out


def test_out_inside_data_is_refused(tiny_run, other_shop):
    with pytest.raises(JewelError, match="inside the data"):
        evaluate(tiny_run, other_shop, out=other_shop / "eval")


# ---- the command ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["run_dir", "data"])
def test_cli_exit_2_for_a_missing_run_or_data(which, tiny_run, image_folder, tmp_path, capsys):
    from jewelhelpers.cli import main
    args = {"run_dir": tiny_run, "data": image_folder} | {which: tmp_path / "missing"}
    assert main(["evaluate", str(args["run_dir"]), str(args["data"])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jewel evaluate: error:") and "missing" in err and len(err.splitlines()) == 1


def test_cli_end_to_end_on_a_trained_smoke_run(smoke_run, image_folder, tmp_path, capsys):
    from jewelhelpers.cli import main
    run = _copy_run(smoke_run, tmp_path / "run")
    out = tmp_path / "eval"
    assert main(["evaluate", str(run), str(image_folder), "--out", str(out), "--tta"]) == 0
    assert "report:" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = pd.read_csv(run / MANIFEST)
    assert metrics["n"] == int((manifest["split"] == "test").sum())
    assert metrics["evaluated_on"] == "the run's test split" and "tta" in metrics
    assert read_meta(run)["temperature"] == pytest.approx(metrics["temperature"])
