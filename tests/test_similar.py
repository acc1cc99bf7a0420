"""jewel index / jewel similar: built, extended (new files only), queried (a photo's nearest is itself), bad files."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jewelhelpers.cli import main
from jewelhelpers.core.index import INFO, ITEMS, VECTORS, PhotoIndex


def _hashes(folder: Path) -> dict:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_index_extend_and_query(smoke_run, image_folder, tmp_path, capsys):
    photos = tmp_path / "photos"
    shutil.copytree(image_folder / "ring", photos / "ring")
    (photos / "broken.jpg").write_bytes(b"not an image")
    before = _hashes(photos)
    out = tmp_path / "index"
    assert main(["index", str(smoke_run), str(photos), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed and "broken.jpg" in printed and "6 photos added" in printed
    assert pd.read_csv(out / "errors.csv")["path"].str.endswith("broken.jpg").all()
    assert main(["index", str(smoke_run), str(photos), str(image_folder / "watch"), "--out", str(out)]) == 0
    assert "6 photos added, 6 already indexed, 1 unreadable" in capsys.readouterr().out
    index = PhotoIndex.load(out)
    assert index.vectors.shape[0] == len(index.items) == 12 and index.vectors.dtype == np.float32
    assert np.linalg.norm(index.vectors, axis=1) == pytest.approx(1, abs=1e-5)
    assert json.loads((out / INFO).read_text())["n"] == 12 and not np.load(out / VECTORS).dtype.hasobject
    query = photos / "ring" / sorted(p.name for p in (photos / "ring").iterdir())[2]
    assert main(["similar", str(out), str(query), str(photos / "broken.jpg"), "--top-k", "3", "--format", "json",
                 "--gallery", str(tmp_path / "g.png")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows[:3]] == [1, 2, 3] and Path(rows[0]["path"]) == query.resolve()
    assert rows[0]["score"] == pytest.approx(1, abs=1e-4) and rows[1]["score"] <= rows[0]["score"]
    assert rows[3]["error"] and rows[3]["path"] is None and (tmp_path / "g.png").is_file()
    assert _hashes(photos) == before and set(pd.read_csv(out / ITEMS).columns) >= {"path", "label"}


def test_index_refuses_another_run_and_a_folder_inside_the_photos(smoke_run, tiny_run, image_folder, tmp_path, capsys):
    out = tmp_path / "index"
    assert main(["index", str(smoke_run), str(image_folder / "ring"), "--out", str(out)]) == 0
    assert main(["index", str(tiny_run), str(image_folder / "ring"), "--out", str(out)]) == 2
    assert main(["index", str(smoke_run), str(image_folder), "--out", str(image_folder / "idx")]) == 2
    assert not (image_folder / "idx").exists() and "was built with the run" in capsys.readouterr().err


def test_index_refuses_an_earlier_training_of_the_same_run(smoke_run, image_folder, tmp_path):
    from jewelhelpers.core.errors import JewelError
    from jewelhelpers.core.index import build_index
    from jewelhelpers.core.runs import load_model
    model, meta = load_model(smoke_run)
    out = tmp_path / "index"
    build_index(model, meta, smoke_run, [image_folder / "ring"], out, progress=False)
    with pytest.raises(JewelError, match="earlier training"):
        build_index(model, {**meta, "created": "a later training"}, smoke_run, [image_folder / "ring"], out,
                    progress=False)


def test_synth_views_draw_one_design_several_times(tmp_path, capsys):
    out = tmp_path / "views"
    assert main(["synth", str(out), "--per-class", "2", "--size", "32", "--views", "3"]) == 0
    designs = pd.read_csv(out / "designs.csv")
    assert len(designs) == 5 * 2 * 3 and designs.groupby("design").size().eq(3).all()
    first = designs[designs["design"] == "ring_0000"]["path"]
    assert len({(out / p).read_bytes() for p in first}) == 3 and all((out / p).is_file() for p in first)


def test_gem_pool_lies_between_the_mean_and_the_max():
    import torch
    from jewelhelpers.core.forward import gem_pool, mean_pool
    maps = torch.rand(2, 4, 3, 5)
    assert torch.allclose(gem_pool(maps, p=1), mean_pool(maps), atol=1e-5)
    gem, top = gem_pool(maps), maps.amax(dim=(2, 3))
    assert (gem > mean_pool(maps)).all() and (gem <= top + 1e-6).all()
    assert torch.allclose(gem_pool(maps, p=60), top, rtol=0.05)


def test_an_index_of_mean_pooled_vectors_is_refused(smoke_run, image_folder, tmp_path):
    from jewelhelpers.core.errors import JewelError
    out = tmp_path / "index"
    assert main(["index", str(smoke_run), str(image_folder / "ring"), "--out", str(out)]) == 0
    info = json.loads((out / INFO).read_text())
    assert info["pool"] == "gem"
    (out / INFO).write_text(json.dumps({k: v for k, v in info.items() if k != "pool"}))  # as older versions wrote it
    with pytest.raises(JewelError, match="build it again"):
        PhotoIndex.load(out)
