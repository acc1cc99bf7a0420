"""`jewel train`: the RUN_DIR it writes, reloading both model formats in a fresh process, refusing to
overwrite, --force, --no-pretrained, Ctrl-C, and the quick benchmark on a few real photos."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import JEWELRY_PHOTOS
from jewelhelpers.core import runs
from jewelhelpers.core.manifest import MANIFEST
from jewelhelpers.recipes import classic
from jewelhelpers.cli import main
from jewelhelpers.jobs.train import summary_line

ROOT = Path(__file__).resolve().parents[1]
RUN_FILES = ("split.csv", "meta.json", "model.pth", "export.pkl", "history.csv", "metrics.json", "curves.png",
             "lr_find_unfrozen.png", "baseline.csv", "wise.csv")
META_KEYS = ("classes", "arch", "pretrained", "weights_source", "arch_reason", "size", "presize", "mean", "std",
             "profile", "seed", "versions", "timings", "temperature", "data", "manifest", "created", "lrs", "recipe",
             "head")


def predictions(run_dir: str) -> dict:
    """Test-split probabilities from export.pkl (fastai) and from model.pth (plain torch) on the same batches."""
    from fastai.learner import load_learner
    learn = load_learner(Path(run_dir) / runs.EXPORT, cpu=True)
    test = pd.read_csv(Path(run_dir) / MANIFEST).query("split == 'test'")
    dl = learn.dls.test_dl(test)
    from_export = learn.get_preds(dl=dl)[0]
    model, _ = runs.load_model(run_dir)
    with torch.no_grad():
        from_weights = torch.cat([model(b[0].as_subclass(torch.Tensor)) for b in dl]).softmax(1)
    return {"export": from_export.tolist(), "weights": from_weights.tolist(), "labels": test["label"].tolist(),
            "vocab": list(learn.dls.vocab)}


def test_smoke_run_writes_every_file(smoke_run):
    assert all((smoke_run / name).is_file() for name in RUN_FILES)
    assert not (smoke_run / "models").exists()
    meta = runs.read_meta(smoke_run)
    assert all(key in meta for key in META_KEYS) and meta["complete"]
    assert meta["temperature"] > 0 and meta["calibration"]["fitted_on"] == "the run's valid split"
    assert meta["arch"] == "resnet18" and meta["profile"] == "smoke" and meta["size"] == 64
    assert meta["pretrained"] is False and "random" in meta["weights_source"]
    assert math.isfinite(meta["lrs"]["fine_tune"]) and meta["lrs"]["fine_tune"] == meta["lrs"]["lr_find"] > 0
    manifest = pd.read_csv(smoke_run / "split.csv")
    metrics = runs.read_json(smoke_run / "metrics.json")
    assert metrics["n"] == (manifest["split"] == "test").sum()
    assert metrics["confusion_matrix"]["columns"] == meta["classes"] and sum(map(sum, metrics["confusion_matrix"]["counts"])) == metrics["n"]
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1
    history = pd.read_csv(smoke_run / "history.csv")
    assert list(history["phase"]) == ["head", "last stage 1", "last stage 2", "soup"]
    assert meta["best"]["phase"] == "soup"  # the probe only held the place
    assert meta["best"]["value"] == pytest.approx(history.set_index("phase").loc["soup", "valid_loss"])


def test_both_formats_reload_in_a_fresh_process_with_the_same_predictions(smoke_run):
    here = predictions(str(smoke_run))
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_train; " \
           f"print(json.dumps(test_train.predictions({str(smoke_run)!r})))"
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    there = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("export", "weights"):
        assert torch.allclose(torch.tensor(here[key]), torch.tensor(there[key]), atol=1e-5)
    assert torch.allclose(torch.tensor(there["export"]), torch.tensor(there["weights"]), atol=1e-4)
    predicted = [there["vocab"][i] for i in torch.tensor(there["weights"]).argmax(1)]
    accuracy = sum(p == y for p, y in zip(predicted, there["labels"])) / len(predicted)
    assert accuracy == pytest.approx(runs.read_json(smoke_run / "metrics.json")["accuracy"])


def test_run_metrics_are_what_jewel_evaluate_writes(smoke_run, image_folder, tmp_path):
    """RUN_DIR/metrics.json and `jewel evaluate RUN DATA` (its test split) come from one path and agree."""
    assert main(["evaluate", str(smoke_run), str(image_folder), "--out", str(tmp_path / "ev")]) == 0
    stored = runs.read_json(smoke_run / "metrics.json")
    evaluated = runs.read_json(tmp_path / "ev" / "metrics.json")
    assert stored["evaluated_on"] == "the run's test split" and "baseline" in stored and "wise" in stored
    drop = {"out", "baseline", "wise"}  # where the report went, and what only training adds (probe, WiSE-FT mixes)
    # training scores from its cached frozen pass (onnxruntime), evaluate runs eager PyTorch: the same numbers
    # to float rounding, every count and label exactly
    _assert_close({k: v for k, v in stored.items() if k not in drop}, {k: v for k, v in evaluated.items() if k not in drop})


def _assert_close(a, b, where: str = "") -> None:
    """JSON values equal, floats to 1e-5 (relative) or 1e-6 (absolute)."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_a_logged_run_prints_one_line_per_step_not_bar_redraws(smoke_run):
    """Piped to a file, training says each epoch and each step once: no carriage returns, no bar frames."""
    log = (smoke_run.parent / "train.log").read_text()
    assert "\r" not in log and "|----" not in log and "%" not in log
    lines = log.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    meta = runs.read_meta(smoke_run)
    assert len(epochs) == meta["lrs"]["soup"] * meta["profile_settings"]["epochs"]
    assert all("valid_loss" in line and "accuracy" in line for line in epochs)
    assert any(line.startswith("audit: 30 files") for line in lines) and len(lines) < 60, log


def test_train_refuses_out_inside_data_and_creates_nothing(image_folder, capsys):
    before = sorted(p.relative_to(image_folder) for p in image_folder.rglob("*"))
    assert main(["train", str(image_folder), "--out", str(image_folder / "run"), "--profile", "smoke"]) == 2
    assert "inside the data" in capsys.readouterr().err
    assert sorted(p.relative_to(image_folder) for p in image_folder.rglob("*")) == before


def test_the_kept_model_is_the_best_epoch(smoke_run):
    from fastai.learner import load_learner
    learn = load_learner(smoke_run / runs.EXPORT, cpu=True)
    valid = pd.read_csv(smoke_run / MANIFEST).query("split == 'valid'")
    valid_loss = learn.validate(dl=learn.dls.test_dl(valid, with_labels=True))[0]
    assert valid_loss == pytest.approx(runs.read_meta(smoke_run)["best"]["value"], rel=1e-4)


def test_a_non_empty_run_dir_is_refused(smoke_run, image_folder, capsys):
    before = sorted(p.name for p in smoke_run.iterdir())
    assert main(["train", str(image_folder), "--out", str(smoke_run), "--profile", "smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--force" in err
    assert sorted(p.name for p in smoke_run.iterdir()) == before


def test_classic_recipe_runs_both_phases_with_discriminative_rates(image_folder, tmp_path):
    run = tmp_path / "classic"
    assert main(["train", str(image_folder), "--out", str(run), "--profile", "smoke", "--recipe", "classic"]) == 0
    meta = runs.read_meta(run)
    assert meta["recipe"] == "classic" and meta["head"] == "fastai" and meta["complete"]
    lo, hi = meta["lrs"]["unfrozen"]
    assert all(math.isfinite(v) and v > 0 for v in (meta["lrs"]["head"], lo, hi)) and lo < hi
    assert list(pd.read_csv(run / "history.csv")["phase"]) == ["head", "unfrozen"]
    assert (run / "lr_find_head.png").is_file() and (run / "lr_find_unfrozen.png").is_file()
    model, _ = runs.load_model(run)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 5)


def test_force_no_pretrained_and_ctrl_c_keep_the_best_so_far(smoke_run, image_folder, tmp_path, monkeypatch, capsys):
    """--force replaces the earlier run; Ctrl-C after the classic recipe's head phase leaves its best epoch loadable."""
    run = shutil.copytree(smoke_run, tmp_path / "run")
    real_find_lr, calls = classic.find_lr, []

    def interrupt_second_lr_find(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_find_lr(*args, **kwargs)

    monkeypatch.setattr(classic, "find_lr", interrupt_second_lr_find)
    args = ["train", str(image_folder), "--out", str(run), "--profile", "quick", "--arch", "resnet18", "--size", "32",
            "--epochs-head", "1", "--epochs", "1", "--no-pretrained", "--force", "--recipe", "classic"]
    assert main(args) == 130
    out = capsys.readouterr().out
    assert "!! weights: random initialisation" in out and "interrupted" in out
    assert not (run / "export.pkl").exists() and not (run / "metrics.json").exists()
    meta = runs.read_meta(run)
    assert meta["profile"] == "quick" and meta["pretrained"] is False and "random" in meta["weights_source"]
    assert meta["complete"] is False and meta["best"]["phase"] == "head" and meta["size"] == 32
    model, _ = runs.load_model(run)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 5)


def test_summary_line_says_random_init_loudly():
    summary = {"run_dir": "runs/x", "arch": "resnet50", "pretrained": False, "profile": "smoke", "accuracy": 0.5,
               "macro_f1": 0.25, "n_test": 10, "seconds": 75.4}
    line = summary_line(summary)
    assert "RANDOM INIT" in line and "0.500" in line and "0.250" in line and "1m15s" in line
    assert "RANDOM" not in summary_line(summary | {"pretrained": True})


@pytest.mark.skipif(not JEWELRY_PHOTOS.is_dir(), reason="needs ../shared/datasets/jewelry_photos")
def test_quick_benchmark_runs_on_a_few_photos(tmp_path):
    args = ["--max-per-class", "4", "--size", "64", "--epochs-head", "1", "--epochs", "1", "--probe-size", "64",
            "--out", str(tmp_path / "run")]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_quick.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("fine-tuned") and "accuracy" in line and "macro F1" in line for line in lines)
    assert any(line.startswith("linear probe") and "accuracy" in line for line in lines)
    assert "frozen probe vs the recipe" in done.stdout
    shops = [name for name in ("myntra_fashion", "western_lifestyle") if (JEWELRY_PHOTOS.parent / "other_shops" / name).is_dir()]
    side = pd.read_csv(tmp_path / "run" / "baseline.csv", index_col="set")
    assert list(side.index) == ["test split", *shops] and all(any(line.startswith(n) for line in lines) for n in shops)


def test_a_run_whose_head_reads_the_last_two_stages_reloads_and_exports(image_folder, tmp_path):
    from jewelhelpers.core.backbones import WithInput
    from jewelhelpers.core.onnx import export_onnx, OnnxModule
    run = tmp_path / "two"
    assert main(["train", str(image_folder), "--out", str(run), "--profile", "smoke", "--features", "last-two"]) == 0
    meta = runs.read_meta(run)
    assert meta["features"] == "last-two" and meta["profile_settings"]["features"] == "last-two"
    model, _ = runs.load_model(run)
    assert isinstance(model[0][-1], WithInput) and model[1][-1].in_features == 256 + 512  # resnet18: layer3 + layer4
    got = predictions(str(run))
    assert torch.allclose(torch.tensor(got["export"]), torch.tensor(got["weights"]), atol=1e-5)
    predicted = [got["vocab"][i] for i in torch.tensor(got["weights"]).argmax(1)]
    accuracy = sum(p == y for p, y in zip(predicted, got["labels"])) / len(predicted)
    assert accuracy == pytest.approx(runs.read_json(run / "metrics.json")["accuracy"])
    x = torch.rand(3, 3, meta["size"], meta["size"])
    with torch.no_grad():
        expected = model(x)
    onnx_logits = OnnxModule(export_onnx(run))(x)
    assert torch.allclose(torch.as_tensor(onnx_logits), expected, atol=1e-4)
    from jewelhelpers.jobs.train import train
    from jewelhelpers.core.errors import JewelError
    with pytest.raises(JewelError, match="--features must be one of last, last-two"):
        train(image_folder, tmp_path / "bad", profile="smoke", features="middle")
    with pytest.raises(JewelError, match="--balance must be one of sources, cells"):
        train(image_folder, tmp_path / "bad", profile="smoke", balance="classes")
    assert not (tmp_path / "bad").exists()
