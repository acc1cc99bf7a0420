"""jewel review: a flipped label is found, near duplicates with other labels are listed, DATA stays byte-identical."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jewelhelpers.cli import main
from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.images import read_items
from jewelhelpers.core.review import label_issues, out_of_fold


def _hashes(folder: Path) -> dict:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_of_fold_and_cleanlab_find_flipped_labels_on_separable_features():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    labels = np.repeat(classes, 40)
    feats = rng.normal(size=(120, 8)) + 4 * np.eye(8)[np.repeat([0, 1, 2], 40)]
    noisy = labels.copy()
    noisy[[5, 50, 90]] = ["c", "a", "b"]
    probs = out_of_fold(feats, noisy, classes)
    issues = label_issues(pd.DataFrame({"path": range(120), "label": noisy}), probs, classes)
    assert 2 <= len(issues) and set(issues["path"]) <= {5, 50, 90}
    assert list(issues["suggested"]) == list(labels[issues["path"].to_numpy()])
    with pytest.raises(JewelError, match="at least 5 images per class"):
        out_of_fold(feats[:12], noisy[:12], classes)


def test_cli_review_is_read_only_and_lists_conflicting_duplicates(smoke_run, image_folder, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(image_folder, data)
    shutil.copy(data / "ring" / "ring_00.jpg", data / "watch" / "copy_of_ring.jpg")  # same photo, other label
    before = _hashes(data)
    out = tmp_path / "review.csv"
    assert main(["review", str(data), "--run", str(smoke_run), "--out", str(out), "--gallery",
                 str(tmp_path / "g.png"), "--folds", "3"]) == 0
    assert _hashes(data) == before and (tmp_path / "g.png").is_file()
    table = pd.read_csv(out)
    assert list(table.columns[:4]) == ["path", "label", "suggested", "confidence"]
    dup = table[table["issue"].str.startswith("near duplicate")]
    assert {Path(p).name for p in dup["path"]} == {"ring_00.jpg", "copy_of_ring.jpg"}
    issues = table[table["issue"] == "label issue"]
    assert issues["label_probability"].is_monotonic_increasing and set(issues["path"]) <= set(read_items(data)["path"])
    assert main(["review", str(data), "--run", str(smoke_run), "--out", str(data / "r.csv")]) == 2


def test_review_finds_flipped_labels_on_a_small_drawn_set_with_the_smoke_run(smoke_run, tmp_path):
    """5% of a drawn set's labels flipped (files moved to another class folder): the smoke run's features find them."""
    from conftest import CLASSES, make_image_folder
    from jewelhelpers.jobs.review import review
    data = make_image_folder(tmp_path / "drawn", per_class=20, seed=5)
    items = read_items(data)
    rng = np.random.default_rng(0)
    truth = {}
    for i in rng.choice(len(items), 5, replace=False):
        path, label = Path(items["path"][i]), items["label"][i]
        moved = data / rng.choice([c for c in CLASSES if c != label]) / path.name
        shutil.move(path, moved)
        truth[str(moved)] = label
    issues = review(data, smoke_run, progress=False).query("issue == 'label issue'")
    found = issues[issues["path"].isin(truth)]
    assert len(found) >= 4 and len(issues) <= 3 * len(truth)
    top = issues.head(3)
    assert top["path"].isin(truth).all() and list(top["suggested"]) == [truth[p] for p in top["path"]]
