"""Predictor: safe loading (no pickle), `unknown` thresholding, and `jewel predict` over awkward folders."""
from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
import textwrap
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from jewelhelpers.cli import main
from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.metrics import coverage_curve, pick_threshold
from jewelhelpers.core.predictor import Predictor
from jewelhelpers.core.runs import EXPORT, update_meta


class _Trap:
    """Unpickling this writes a marker file: what a malicious export.pkl could do instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran while unpickling"))


@pytest.fixture(scope="module")
def predictor(tiny_run) -> Predictor:
    return Predictor.from_run(tiny_run)


@pytest.fixture
def trapped_run(tmp_path, tiny_run) -> tuple[Path, Path]:
    """A copy of the tiny run whose export.pkl runs code when unpickled, and the marker that code writes."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    marker = tmp_path / "pwned.txt"
    (run / EXPORT).write_bytes(pickle.dumps(_Trap(marker)))
    return run, marker


def test_from_run_executes_no_pickle_in_a_fresh_process(trapped_run, image_folder):
    run, marker = trapped_run
    image = next(image_folder.glob("ring/*.jpg"))
    script = textwrap.dedent(f"""
        import pickle, torch
        def refuse(*a, **k):
            raise AssertionError("a pickle was loaded")
        pickle.load = pickle.loads = refuse
        real_load = torch.load
        def weights_only_load(*a, **k):
            assert k.get("weights_only") is True, "torch.load without weights_only=True"
            return real_load(*a, **k)
        torch.load = weights_only_load
        from jewelhelpers.core.predictor import Predictor
        pred = Predictor.from_run({str(run)!r}).predict({str(image)!r})
        print(pred.label, pred.probability)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] in json.loads((run / "meta.json").read_text())["classes"]
    assert not marker.exists()


def test_from_export_needs_trusted_because_pickles_run_code(trapped_run):
    run, marker = trapped_run
    with pytest.raises(JewelError, match="arbitrary code"):
        Predictor.from_export(run)
    assert not marker.exists()
    with pytest.raises(Exception):  # trusted: the pickle is run (and is no Learner)
        Predictor.from_export(run, trusted=True)
    assert marker.exists(), "trusted=True does unpickle: that is exactly why it must be asked for"


def test_predict_top_k_probabilities_and_temperature(tmp_path, tiny_run, predictor, image_folder):
    image = next(image_folder.glob("ring/*.jpg"))
    pred = predictor.predict(image, top_k=5)
    probs = [p for _, p in pred.top_k]
    assert len(pred.top_k) == 5 and abs(sum(probs) - 1) < 1e-5 and probs == sorted(probs, reverse=True)
    assert pred.label == pred.best_guess == pred.top_k[0][0] and pred.probability == probs[0]
    run = tmp_path / "hot"
    shutil.copytree(tiny_run, run)
    update_meta(run, temperature=0.01)
    sharp = Predictor.from_run(run).predict(image, top_k=5)
    assert sharp.best_guess == pred.best_guess and sharp.probability > max(0.9, pred.probability)


def test_predict_accepts_path_bytes_and_pil_alike(predictor, image_folder):
    image = next(image_folder.glob("watch/*.jpg"))
    answers = [predictor.predict(x).top_k for x in (image, str(image), image.read_bytes(), Image.open(image))]
    assert all(a == answers[0] for a in answers)
    with pytest.raises(JewelError, match="cannot be read"):
        predictor.predict(b"not an image")


def test_min_confidence_turns_low_predictions_into_unknown(predictor, image_folder):
    images = sorted(image_folder.glob("*/*.jpg"))[:6]
    plain = predictor.predict_batch(images)
    threshold = float(plain["probability"].median())
    gated = predictor.predict_batch(images, min_confidence=threshold)
    low = plain["probability"] < threshold
    assert low.any() and (~low).any()
    assert (gated.loc[low, "label"] == "unknown").all()
    assert (gated.loc[~low, "label"] == plain.loc[~low, "label"]).all()
    assert (gated["best_guess"] == plain["best_guess"]).all()


def test_coverage_curve_and_threshold():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.55, 0.45], [0.2, 0.8]])
    y = np.array([0, 1, 0, 1])
    curve = coverage_curve(probs, y, thresholds=[0.0, 0.58, 0.85, 0.95])
    assert curve["coverage"].tolist() == [1.0, 0.75, 0.25, 0.0]
    assert curve["error"].tolist()[:3] == pytest.approx([0.25, 1 / 3, 0.0]) and np.isnan(curve["error"].iloc[3])
    assert pick_threshold(curve, max_error=0.3) == 0.0 and pick_threshold(curve, max_error=0.1) == 0.85
    assert pick_threshold(curve.iloc[:2], max_error=0.1) == 1.0


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def awkward_folder(tmp_path, image_folder) -> Path:
    """Good photos (one with a unicode name, one PNG in a subfolder), a corrupt jpg, an empty file, text as .jpg."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    good = sorted(image_folder.glob("*/*.jpg"))
    shutil.copy(good[0], folder / "bague_été_💍.jpg")
    shutil.copy(good[7], folder / "plain.jpg")
    Image.open(good[13]).save(folder / "sub" / "deep.png")
    (folder / "corrupt.jpg").write_bytes(good[1].read_bytes()[:300] + b"\x00garbage" * 50)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is a shopping list, not a photo\n")
    return folder


def test_cli_predicts_a_folder_reports_bad_files_and_changes_nothing(awkward_folder, tiny_run, capsys):
    before = _hashes(awkward_folder)
    assert main(["predict", str(tiny_run), str(awkward_folder), "--batch-size", "2", "--top-k", "2",
                 "--unknown", "off"]) == 0
    df = pd.read_csv(BytesIO(capsys.readouterr().out.encode()), keep_default_na=False)
    assert _hashes(awkward_folder) == before
    rows = {Path(p).name: r for p, r in zip(df["path"], df.to_dict("records"))}
    assert set(rows) == {"bague_été_💍.jpg", "plain.jpg", "deep.png", "corrupt.jpg", "empty.jpg", "notes.jpg"}
    for name in ("corrupt.jpg", "empty.jpg", "notes.jpg"):
        assert "cannot be read" in rows[name]["error"] and rows[name]["label"] == ""
    for name in ("bague_été_💍.jpg", "plain.jpg", "deep.png"):
        row = rows[name]
        assert row["error"] == "" and row["label"] == row["best_guess"]
        top = [kv.split(":") for kv in row["top_k"].split(";")]
        assert len(top) == 2 and top[0][0] == row["label"] and float(top[0][1]) == pytest.approx(float(row["probability"]), abs=1e-4)


def test_cli_json_output_file_and_explicit_file_of_any_extension(awkward_folder, tiny_run, tmp_path):
    odd = tmp_path / "photo.download"
    shutil.copy(awkward_folder / "plain.jpg", odd)
    out = tmp_path / "preds.json"
    code = main(["predict", str(tiny_run), str(odd), str(awkward_folder / "empty.jpg"), "--format", "json",
                 "--out", str(out), "--min-confidence", "1.0"])
    assert code == 0
    records = json.loads(out.read_text(encoding="utf-8"))
    assert [r["error"] is None for r in records] == [True, False]
    assert records[0]["label"] == "unknown" and records[0]["best_guess"] == records[0]["top_k"][0]["label"]
    assert len(records[0]["top_k"]) == 3 and records[1]["top_k"] == []


def test_cli_exit_codes(awkward_folder, tiny_run, tmp_path, capsys):
    bad_only = [str(awkward_folder / n) for n in ("corrupt.jpg", "empty.jpg", "notes.jpg")]
    assert main(["predict", str(tiny_run), *bad_only]) == 1
    assert "0 of 3 files predicted: none could be read" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "no_run"), str(awkward_folder)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["predict", str(tiny_run), str(awkward_folder / "missing.jpg")]) == 2
    assert "does not exist" in capsys.readouterr().err
