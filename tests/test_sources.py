"""Training on several sources: the manifest's sources, per-source balancing, leave-one-source-out (issue 16)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jewelhelpers.cli import main
from jewelhelpers.core.drawing import draw_item, make_synth
from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.sources import SOURCE, balance_sources, sources_split


def _snapshot(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def drawn_shops(tmp_path_factory) -> list[Path]:
    """Two drawn shops (`jewel synth`, other seeds): 8 and 6 images per class, 64 px; shop_two has a ring on white."""
    root = tmp_path_factory.mktemp("drawn-shops")
    shops = [make_synth(root / "shop_one", per_class=8, size=64, seed=11, progress=False),
             make_synth(root / "shop_two", per_class=6, size=64, seed=12, progress=False)]
    draw_item("ring", np.random.default_rng(56), 64).save(shops[1] / "ring" / "ring_on_white.png")
    return shops


def test_balance_sources_gives_each_source_as_many_rows():
    rows = pd.DataFrame({SOURCE: ["big"] * 10 + ["small"] * 3, "label": ["ring"] * 13})
    picked = balance_sources(rows, seed=0)
    counts = rows[SOURCE].iloc[picked].value_counts()
    assert counts["big"] == counts["small"] == 10
    assert sorted(set(picked[rows[SOURCE].iloc[picked].to_numpy() == "big"])) == list(range(10))  # each row once
    assert np.bincount(picked[picked >= 10] - 10).min() == 3  # 10 = 3 whole copies of 3 rows + 1 more
    assert list(balance_sources(rows.assign(**{SOURCE: "one"}))) == list(range(13))


def test_balance_by_cells_shares_the_sources_rows_evenly_among_each_sources_classes():
    rows = pd.DataFrame({SOURCE: ["big"] * 12 + ["small"] * 4,
                         "label": ["ring"] * 10 + ["watch"] * 2 + ["ring"] * 3 + ["watch"]})
    by_source = rows.iloc[balance_sources(rows, seed=0)].value_counts([SOURCE, "label"])
    assert by_source["big", "ring"] == 10 and by_source["small", "watch"] == 3  # sources alone keep the class mix
    picked = balance_sources(rows, seed=0, by="cells")
    by_cell = rows.iloc[picked].value_counts([SOURCE, "label"])
    # 24 positions (2 sources x 12) shared by 4 cells: 6 each; the ring cell of 10 keeps its 10 rows once
    assert by_cell.to_dict() == {("big", "ring"): 10, ("big", "watch"): 6, ("small", "ring"): 6, ("small", "watch"): 6}
    assert sorted(picked[:10]) == list(range(10))
    with pytest.raises(JewelError, match="balance by one of"):
        balance_sources(rows, by="classes")


def test_only_the_first_source_is_split_and_others_keep_its_classes(drawn_shops, tmp_path, capsys):
    extra = tmp_path / "extra"
    shutil.copytree(drawn_shops[1], extra)
    other = make_synth(tmp_path / "other", per_class=2, size=64, seed=13, progress=False)
    shutil.copytree(other / "earring", extra / "brooch")  # a class the first shop does not sell
    manifest = sources_split([drawn_shops[0], extra], valid=0.1, test=0.1)
    assert set(manifest[SOURCE]) == {"shop_one", "extra"}
    assert set(manifest.loc[manifest[SOURCE] == "extra", "split"]) == {"train"}
    assert set(manifest.loc[manifest[SOURCE] == "shop_one", "split"]) == {"train", "valid", "test"}
    assert "brooch" not in set(manifest["label"]) and "left out" in capsys.readouterr().out
    assert manifest["group"].is_unique  # drawn images are all distinct: one group each, across sources too


def test_valid_from_all_draws_valid_rows_from_every_source_and_test_from_the_first(drawn_shops, tmp_path, capsys):
    tiny = make_synth(tmp_path / "tiny", per_class=1, size=64, seed=14, progress=False)  # no valid share possible
    manifest = sources_split([*drawn_shops, tiny], valid=0.2, test=0.2, valid_from="all")
    splits = manifest.groupby(SOURCE)["split"].agg(set).to_dict()
    assert splits == {"shop_one": {"train", "valid", "test"}, "shop_two": {"train", "valid"}, "tiny": {"train"}}
    assert "source tiny: too few images per class for a valid share" in capsys.readouterr().out
    second = manifest[manifest[SOURCE] == "shop_two"]
    assert second.groupby("label")["split"].apply(lambda s: (s == "valid").sum()).min() >= 1  # every class
    first = sources_split(drawn_shops, valid=0.2, test=0.2)
    assert set(first.loc[first[SOURCE] == "shop_two", "split"]) == {"train"}  # the default: the first DATA only
    with pytest.raises(JewelError, match="choose one of first, all"):
        sources_split(drawn_shops, valid=0.2, test=0.2, valid_from="every")


def test_multi_source_train_writes_sources_and_the_holdout_report(drawn_shops, tmp_path):
    before = [_snapshot(d) for d in drawn_shops]
    run = tmp_path / "run"
    code = main(["train", *map(str, drawn_shops), "--out", str(run), "--profile", "smoke", "--lr", "1e-3",
                 "--soup", "1", "--composites", "2", "--holdout-sources", "--balance", "cells"])
    assert code == 0
    manifest = pd.read_csv(run / "split.csv")
    assert manifest.groupby(SOURCE).size().to_dict() == {"shop_one": 40, "shop_two": 31}
    meta = json.loads((run / "meta.json").read_text())
    assert set(meta["sources"]) == {"shop_one", "shop_two"}
    assert meta["lrs"]["composites"] >= 2  # at least the ring on white, twice
    held_meta = json.loads((run / "holdout" / "shop_two" / "meta.json").read_text())
    assert meta["profile_settings"]["balance"] == held_meta["profile_settings"]["balance"] == "cells"
    table = pd.read_csv(run / "holdout_sources.csv")
    assert list(table["source"]) == ["shop_one", "shop_two"] and list(table["n"]) == [40, 31]
    assert list(table["trained_on"]) == ["shop_two", "shop_one"]
    assert table["accuracy"].between(0, 1).all()
    report = json.loads((run / "holdout_sources.json").read_text())
    assert report["mean_accuracy"] == pytest.approx(table["accuracy"].mean())
    assert (run / "holdout_sources.png").stat().st_size > 5000
    held = pd.read_csv(run / "holdout" / "shop_one" / "split.csv")
    assert set(held[SOURCE]) == {"shop_two"}  # the model scored on shop_one never saw it
    assert [_snapshot(d) for d in drawn_shops] == before
    assert main(["evaluate", str(run), str(drawn_shops[1])]) == 2  # all of it was trained on: refused


@pytest.mark.parametrize("case", ["missing", "no known class", "same name", "one source"])
def test_bad_sources_are_one_line_errors(drawn_shops, tmp_path, capsys, case):
    other = {"missing": [str(tmp_path / "nope")], "same name": [str(tmp_path / "b" / "shop_one")],
             "no known class": [str(tmp_path / "brooches")], "one source": []}[case]
    (tmp_path / "brooches" / "brooch").mkdir(parents=True)
    for p in sorted((drawn_shops[1] / "ring").glob("*.png"))[:4]:
        shutil.copy(p, tmp_path / "brooches" / "brooch" / p.name)
    shutil.copytree(drawn_shops[1], tmp_path / "b" / "shop_one")
    before = _snapshot(drawn_shops[0])
    assert main(["train", str(drawn_shops[0]), *other, "--out", str(tmp_path / "run"), "--profile", "smoke",
                 "--holdout-sources"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jewel train: error:") and len(err.splitlines()) == 1, err
    assert {"missing": "nope", "no known class": "source brooches", "same name": "named shop_one",
            "one source": "two DATA"}[case] in err
    assert _snapshot(drawn_shops[0]) == before
