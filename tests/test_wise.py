"""WiSE-FT: the probe's and the fine-tuned weights mixed (`lpft.wise_state`), `--wise ALPHA` as the fine-tuned
candidate, and every LP-FT run's `wise.csv` (each mix scored on the cached maps)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from jewelhelpers.cli import main
from jewelhelpers.core import runs
from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.forward import run_logits
from jewelhelpers.recipes.fitting import KeepBest
from jewelhelpers.recipes.lpft import WISE_ALPHAS, TailModel, cut_last_stage, fit_lpft, wise_state


def test_wise_state_runs_from_the_probe_to_the_fine_tuned_weights():
    probe = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(3)}
    tuned = {"w": torch.tensor([2.0, 0.0]), "n": torch.tensor(3)}
    assert torch.equal(wise_state((probe, tuned), 0.0)["w"], probe["w"])
    assert torch.equal(wise_state((probe, tuned), 1.0)["w"], tuned["w"])
    assert torch.allclose(wise_state((probe, tuned), 0.25)["w"], torch.tensor([0.5, 3.0]))
    assert wise_state((probe, tuned), 0.5)["n"].dtype == torch.int64
    with pytest.raises(JewelError, match="between 0"):
        wise_state((probe, tuned), 1.5)


def test_a_wise_mix_is_offered_as_the_fine_tuned_candidate(lpft_setup, tmp_path):
    """With wise 0.5, history gains a `wise` row whose valid accuracy is that of the mixed ends' weights."""
    items, backbone, meta = lpft_setup
    keep = KeepBest()
    valid_items = items.iloc[1::2]
    _, _, history, ends = fit_lpft(backbone, meta, items.iloc[::2], valid_items, epochs=2, bs=8, lr=3e-3,
                                   keep=keep, soup=2, path=tmp_path, progress=False, log=lambda _: None, wise=0.5)
    assert list(history["phase"].drop_duplicates()) == ["head", "last stage 1", "last stage 2", "soup", "wise"]
    candidates = history[history["phase"].isin(["soup", "wise"])].set_index("phase")["valid_loss"]
    assert keep.where["phase"] == candidates.idxmin()  # the probe is never a candidate
    body, head = backbone.model
    TailModel(body[cut_last_stage(body):], head).load_state_dict(wise_state(ends, 0.5))
    valid = run_logits(backbone.model.eval(), meta, valid_items, progress=False)
    accuracy = float((valid.logits.argmax(1).numpy() == valid.y).mean())
    assert accuracy == pytest.approx(history.set_index("phase").loc["wise", "accuracy"], abs=1e-6)


def test_every_lpft_run_scores_each_wise_mix(smoke_run):
    """wise.csv has each alpha on valid, the test split and the other shops; the end the run kept (the soup,
    alpha 1) scores on the test split what metrics.json says, and metrics.json carries the table."""
    meta, metrics = runs.read_meta(smoke_run), runs.read_json(smoke_run / runs.METRICS)
    table = pd.read_csv(smoke_run / runs.WISE)
    assert sorted(table["alpha"].unique()) == list(WISE_ALPHAS)
    assert {"valid", "test split"} <= set(table["set"]) and len(table["set"].unique()) == 4  # + the two shops
    assert meta["best"]["phase"] == "soup"
    row = table[(table["alpha"] == 1.0) & (table["set"] == "test split")].iloc[0]
    assert row["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6) and row["n"] == metrics["n"]
    valid = table[(table["alpha"] == 1.0) & (table["set"] == "valid")].iloc[0]
    history = pd.read_csv(smoke_run / runs.HISTORY)
    assert valid["accuracy"] == pytest.approx(history[history["phase"] == "soup"]["accuracy"].iloc[-1])
    assert len(metrics["wise"]) == len(table)
    assert meta["lrs"]["wise"] == 1.0
    assert meta["lrs"]["mixstyle"] == 0.0  # MixStyle is off unless asked
    assert np.isfinite(table["macro_f1"]).all()


def test_train_refuses_a_wise_mix_outside_0_to_1(image_folder, tmp_path, capsys):
    assert main(["train", str(image_folder), "--out", str(tmp_path / "run"), "--profile", "smoke",
                 "--wise", "1.5"]) == 2
    assert "--wise must be between 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
