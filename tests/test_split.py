"""The stratified split manifest: proportions, seeds, duplicate groups kept together, refusals."""
from __future__ import annotations

import io
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance

from jewelhelpers.core.findings import audit
from jewelhelpers.core.manifest import read_manifest
from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.manifest import make_split, write_manifest

JEWELRY_PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "jewelry_photos"
README_COUNTS = {"bracelet": 357, "earring": 1291, "necklace": 291, "ring": 231, "watch": 171}


def pattern(seed: int, size: int = 64) -> Image.Image:
    """A smooth random RGB picture: distinct seeds give pictures far apart in dhash."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((size, size),
                                                                                    Image.Resampling.BICUBIC)


def jpeg_bytes(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_folder(root: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """An ImageFolder of distinct pictures, `sizes[label]` per class."""
    for ci, (label, n) in enumerate(sizes.items()):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / label / f"{label}_{i:03d}.jpg").write_bytes(jpeg_bytes(pattern(seed + 1000 * ci + i)))
    return root


def make_split_folder(root: Path) -> Path:
    """Three unbalanced classes, duplicate groups in two of them, a conflict, two undecodable files."""
    make_folder(root, {"ring": 60, "earring": 30, "watch": 14})
    for g in range(8):  # exact copies: groups of 2 and 3 in ring
        copy = jpeg_bytes(pattern(5000 + g))
        for k in range(2 + g % 2):
            (root / "ring" / f"copy_{g}_{k}.jpg").write_bytes(copy)
    for g in range(4):  # near duplicates: brightened and re-encoded, in earring
        (root / "earring" / f"near_{g}_a.jpg").write_bytes(jpeg_bytes(pattern(6000 + g), quality=95))
        brighter = ImageEnhance.Brightness(pattern(6000 + g)).enhance(1.06)
        (root / "earring" / f"near_{g}_b.jpg").write_bytes(jpeg_bytes(brighter, quality=75))
    shared = jpeg_bytes(pattern(7000))
    (root / "ring" / "shared.jpg").write_bytes(shared)
    (root / "watch" / "shared.jpg").write_bytes(shared)
    (root / "earring" / "empty.jpg").write_bytes(b"")
    whole = jpeg_bytes(pattern(7001))
    (root / "earring" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_split_folder(tmp_path_factory.mktemp("split") / "data")


@pytest.fixture(scope="module")
def audited(data):
    return audit(data, progress=False)


def test_fixture_holds_the_groups_the_tests_rely_on(audited):
    sizes = audited.duplicate_groups.groupby("group").size()
    assert sorted(sizes.tolist()) == [2] * 9 + [3] * 4  # 4 near pairs, 8 groups of copies, the shared pair
    assert len(audited.conflicts) == 2


def test_each_class_is_split_in_proportion_with_every_split_present(data, audited):
    manifest = make_split(data, valid=0.2, test=0.1, audit_result=audited)
    assert list(manifest.columns) == ["path", "label", "split", "group"]
    assert manifest["path"].map(os.path.isabs).all()
    counts = manifest.groupby(["label", "split"]).size().unstack(fill_value=0)
    for label, row in counts.iterrows():
        n = row.sum()
        assert (row > 0).all(), f"{label} is missing a split: {row.to_dict()}"
        assert abs(row["valid"] - 0.2 * n) <= 1.5, (label, row.to_dict())
        assert abs(row["test"] - 0.1 * n) <= 1.5, (label, row.to_dict())
    overall = manifest["split"].value_counts(normalize=True)
    assert overall["valid"] == pytest.approx(0.2, abs=0.02) and overall["test"] == pytest.approx(0.1, abs=0.02)


def test_same_seed_same_manifest_other_seed_other_split(data, audited, tmp_path):
    first = make_split(data, seed=3, audit_result=audited)
    pd.testing.assert_frame_equal(first, make_split(data, seed=3, audit_result=audited))
    pd.testing.assert_frame_equal(first, make_split(data, seed=3, progress=False))  # audits by itself
    assert first["path"].is_monotonic_increasing
    other = make_split(data, seed=4, audit_result=audited)
    assert other["path"].tolist() == first["path"].tolist()
    assert (other["split"] != first["split"]).sum() > 10
    moved = shutil.copytree(data, tmp_path / "moved")  # the split depends on paths relative to DATA only
    again = make_split(moved, seed=3, progress=False)
    assert [os.path.relpath(p, moved) for p in again["path"]] == [os.path.relpath(p, data) for p in first["path"]]
    assert again["split"].tolist() == first["split"].tolist()


@pytest.mark.parametrize("seed", range(5))
def test_duplicate_groups_never_cross_splits(data, audited, seed):
    manifest = make_split(data, valid=0.25, test=0.25, seed=seed, audit_result=audited)
    assert manifest.groupby("group")["split"].nunique().max() == 1
    names = dict(zip(manifest["path"].map(lambda p: Path(p).relative_to(data.resolve()).as_posix()),
                     manifest["group"]))
    assert names["ring/copy_1_0.jpg"] == names["ring/copy_1_1.jpg"] == names["ring/copy_1_2.jpg"]
    assert names["earring/near_2_a.jpg"] == names["earring/near_2_b.jpg"]
    assert names["ring/shared.jpg"] == names["watch/shared.jpg"]
    assert manifest["group"].nunique() == len(manifest) - 4 - 4 - 2 * 4 - 1


def test_undecodable_files_are_left_out_and_logged(data, audited, caplog):
    with caplog.at_level(logging.WARNING, logger="jewelhelpers.core.manifest"):
        manifest = make_split(data, audit_result=audited)
    names = set(manifest["path"].map(lambda p: Path(p).name))
    assert "empty.jpg" not in names and "truncated.jpg" not in names
    assert len(manifest) == audited.rows["readable"].sum() == len(audited.rows) - 2
    assert "left out 2 file(s)" in caplog.text
    assert "1 duplicate group(s) hold different labels" in caplog.text


def test_max_per_class_keeps_whole_groups(data, audited):
    manifest = make_split(data, audit_result=audited, max_per_class=10)
    per_label = manifest.groupby("label").size()  # the ring/watch pair counts where its group does
    assert len(manifest) == 30 and per_label.between(9, 11).all(), per_label.to_dict()
    full = make_split(data, audit_result=audited)
    sizes = full.groupby("group").size()
    assert (manifest.groupby("group").size() == sizes[manifest["group"].unique()]).all()


def test_too_few_images_is_refused_naming_the_class(tmp_path):
    data = make_folder(tmp_path / "data", {"ring": 2, "earring": 5, "watch": 2})
    copy = (data / "watch" / "watch_000.jpg").read_bytes()
    (data / "watch" / "watch_copy.jpg").write_bytes(copy)
    result = audit(data, progress=False)
    with pytest.raises(JewelError) as err:
        make_split(data, audit_result=result)
    message = str(err.value)
    assert "'ring' has 2 usable image(s), 2 distinct" in message
    assert "'watch' has 3 usable image(s), 2 distinct" in message
    assert "earring" not in message and "needs at least 3" in message
    manifest = make_split(data, valid=0, test=0.3, audit_result=result)  # two splits need two per class
    assert set(manifest["split"]) == {"train", "test"}
    assert manifest.groupby("label")["split"].nunique().to_dict() == {"earring": 2, "ring": 2, "watch": 2}
    with pytest.raises(JewelError, match="max_per_class=1"):
        make_split(data, valid=0, test=0.3, audit_result=result, max_per_class=1)


@pytest.mark.parametrize("valid, test", [(0.6, 0.5), (-0.1, 0.2), (0.5, 0.5), (1.0, 0.0)])
def test_impossible_fractions_are_refused(data, audited, valid, test):
    with pytest.raises(JewelError, match="fractions"):
        make_split(data, valid=valid, test=test, audit_result=audited)


def test_an_audit_of_other_data_is_refused(data, audited, tmp_path):
    other = make_folder(tmp_path / "other", {"ring": 3})
    with pytest.raises(JewelError, match="audit"):
        make_split(other, audit_result=audited)


def test_write_manifest_refuses_data_and_writes_elsewhere(data, audited, tmp_path):
    manifest = make_split(data, audit_result=audited)
    before = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    for inside in (data / "split.csv", data / "ring" / "split.csv", data / "new" / "split.csv", data):
        with pytest.raises(JewelError, match="inside the data"):
            write_manifest(manifest, inside, data)
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == before
    out = write_manifest(manifest, tmp_path / "runs" / "a" / "split.csv", data)
    assert out == (tmp_path / "runs" / "a" / "split.csv").resolve()
    pd.testing.assert_frame_equal(read_manifest(out), manifest, check_dtype=False)


def test_write_manifest_refuses_the_csv_and_its_image_folders(tmp_path):
    data = make_folder(tmp_path / "photos", {"ring": 4, "watch": 4})
    lines = ["file,label"] + [f"photos/{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(data.rglob("*.jpg"))]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    manifest = make_split(tmp_path / "labels.csv", valid=0.25, test=0.25, progress=False)
    assert len(manifest) == 8
    for inside in (tmp_path / "labels.csv", data / "ring" / "split.csv"):
        with pytest.raises(JewelError, match="inside the data"):
            write_manifest(manifest, inside, tmp_path / "labels.csv")
    assert write_manifest(manifest, tmp_path / "split.csv", tmp_path / "labels.csv").is_file()


@pytest.mark.skipif(not JEWELRY_PHOTOS.is_dir(), reason=f"real photos not present at {JEWELRY_PHOTOS}")
def test_real_jewelry_photos_audit_and_split():
    start = time.perf_counter()
    result = audit(JEWELRY_PHOTOS, progress=False)
    audit_seconds = time.perf_counter() - start
    assert result.counts.to_dict() == README_COUNTS
    assert result.rows["readable"].all(), result.rows.loc[~result.rows["readable"], ["path", "findings"]]
    assert result.flagged("exact duplicate").empty  # README: exact duplicates were removed
    assert result.duplicate_groups.groupby("group").size().max() < 50  # no runaway chain of "near" matches
    manifest = make_split(JEWELRY_PHOTOS, audit_result=result)
    assert len(manifest) == sum(README_COUNTS.values())
    assert manifest.groupby("group")["split"].nunique().max() == 1
    assert (manifest.groupby(["label", "split"]).size().unstack(fill_value=0) > 0).all().all()
    assert audit_seconds < 60
