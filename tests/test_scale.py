"""`jewel predict --on ray`: the single process's rows from Ray Data workers, resumable shards, the missing extra."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jewelhelpers.cli import main
from jewelhelpers.core import scale
from jewelhelpers.core.drawing import make_synth
from jewelhelpers.core.predictor import COLUMNS
from jewelhelpers.core.settings import SCALE_EXTRA
from jewelhelpers.jobs.predict import predict_files, predict_on_ray


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray of 2 CPUs for the whole test session (it takes seconds to start)."""
    with scale.ray_session(workers=2) as n:
        yield n


@pytest.fixture
def drawn_folder(tmp_path) -> Path:
    """Drawn photos with a file that is no image and a truncated PNG among them."""
    data = make_synth(tmp_path / "data", per_class=4, size=48, seed=3, progress=False)
    (data / "ring" / "broken.jpg").write_bytes(b"not an image")
    good = (data / "watch" / "watch_0000.png").read_bytes()
    (data / "watch" / "cut.png").write_bytes(good[: len(good) // 2])
    return data


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_same_rows(ray_rows: pd.DataFrame, single: pd.DataFrame) -> None:
    assert list(ray_rows["path"]) == list(single["path"])
    for col in ("label", "best_guess", "error"):
        assert ray_rows[col].fillna("").tolist() == single[col].fillna("").tolist(), col
    np.testing.assert_allclose(ray_rows["probability"].astype(float), single["probability"].astype(float),
                               atol=1e-6)
    for a, b in zip(ray_rows["top_k"], single["top_k"]):
        a, b = (t if isinstance(t, list) else [] for t in (a, b))
        assert [c for c, _ in a] == [c for c, _ in b]
        np.testing.assert_allclose([p for _, p in a], [p for _, p in b], atol=1e-6)


def test_ray_gives_the_single_process_rows_and_writes_nothing_in_the_data(local_ray, tiny_run, drawn_folder,
                                                                          tmp_path, capsys):
    before = _snapshot(drawn_folder)
    single = predict_files(tiny_run, [drawn_folder])
    out = tmp_path / "out"
    code = main(["predict", str(tiny_run), str(drawn_folder), "--on", "ray", "--workers", "2", "--engine", "torch",
                 "--out", str(out), "--format", "json"])
    assert code == 0
    assert f"{len(single) - 2} of {len(single)} files predicted" in capsys.readouterr().err
    summary = pd.DataFrame(json.loads((out / "predictions.json").read_text()))
    summary["top_k"] = [[(r["label"], r["probability"]) for r in t] for t in summary["top_k"]]
    assert list(summary.columns) == COLUMNS
    _assert_same_rows(summary, single)
    assert summary["error"].notna().sum() == 2 and summary.loc[summary["error"].notna(), "path"].str.contains(
        "broken.jpg|cut.png").all()
    shards = scale.read_shards(out)
    assert list(shards.columns) == [*COLUMNS, scale.SHA] and len(shards) == len(single)
    assert _snapshot(drawn_folder) == before


def test_an_interrupted_run_keeps_whole_shards_and_resumes_without_loss_or_repeats(local_ray, tiny_run,
                                                                                   drawn_folder, tmp_path,
                                                                                   monkeypatch):
    out = tmp_path / "out"
    written = []
    real_write = scale.write_shard

    def crash_on_second(rows, path):
        if written:  # the second shard: half a file on disk, then Ctrl-C
            path.with_name(f".{path.name}.tmp").write_bytes(b"PAR1 half")
            raise KeyboardInterrupt
        written.append(len(rows))
        real_write(rows, path)

    monkeypatch.setattr(scale, "write_shard", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        predict_on_ray(tiny_run, [drawn_folder], out, engine="torch", batch_size=4, shard_rows=8)
    assert len(scale.shard_files(out)) == 1 and len(scale.read_shards(out)) == written[0] == 8
    monkeypatch.setattr(scale, "write_shard", real_write)

    rows = predict_on_ray(tiny_run, [drawn_folder], out, engine="torch", batch_size=4, shard_rows=8)
    single = predict_files(tiny_run, [drawn_folder])
    _assert_same_rows(rows, single)
    import pyarrow.parquet as pq
    every_row = pd.concat([pq.read_table(f).to_pandas() for f in scale.shard_files(out)])
    assert sorted(every_row["path"]) == sorted(single["path"])  # each photo once: none lost, none done twice

    changed = drawn_folder / "ring" / "ring_0000.png"
    changed.write_bytes((drawn_folder / "ring" / "ring_0001.png").read_bytes())
    n_shards = len(scale.shard_files(out))
    predict_on_ray(tiny_run, [drawn_folder], out, engine="torch", batch_size=4, shard_rows=8)
    new = pq.read_table(scale.shard_files(out)[-1]).to_pandas()
    assert len(scale.shard_files(out)) == n_shards + 1 and list(new["path"]) == [str(changed)]


def test_without_ray_the_cli_says_how_to_install_it(tiny_run, drawn_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    code = main(["predict", str(tiny_run), str(drawn_folder), "--on", "ray", "--engine", "torch",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and SCALE_EXTRA in err
    assert not (tmp_path / "out").exists()
