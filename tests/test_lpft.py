"""LP-FT: where the body is cut, the probe copied into the head, frozen BatchNorm and early layers, class weights,
the drawn images mixed in, and the `lpft` recipe's run (including Ctrl-C before any fine-tuning epoch)."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from jewelhelpers.core import runs
from jewelhelpers.core.forward import run_logits
from jewelhelpers.core.manifest import manifest_split
from jewelhelpers.recipes import lpft
from jewelhelpers.core.backbones import build_model
from jewelhelpers.cli import main
from jewelhelpers.core.errors import JewelError
from jewelhelpers.recipes.lpft import (
    TailModel, average_states, balanced_weights, cut_last_stage, fit_lpft, head_from_probe)
from jewelhelpers.core.probe import fit_probe
from jewelhelpers.core import drawing
from jewelhelpers.core.drawing import drawn_once, synth_items
from jewelhelpers.recipes.fitting import KeepBest


@pytest.mark.parametrize("arch, first", [("resnet18", "BasicBlock"), ("efficientnet_lite0", "InvertedResidual")])
def test_the_cut_keeps_only_the_last_stage_and_what_follows(arch, first):
    body = build_model(arch, 5, pretrained=False).model[0]
    cut = cut_last_stage(body)
    assert type(body[cut][0]).__name__ == first
    assert not any(isinstance(m, nn.Sequential) for m in body[cut + 1:])
    assert sum(isinstance(m, nn.Sequential) for m in body[:cut]) >= 3  # the earlier stages stay frozen
    with pytest.raises(JewelError, match="no stage"):
        cut_last_stage(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))


def test_the_head_reproduces_the_probe():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (60, 8)).astype(np.float32)
    labels = [("a", "b", "c")[i % 3] for i in range(60)]
    x[np.arange(60) % 3 == 1, 0] += 4  # something to learn
    probe = fit_probe(x, labels, ["a", "b", "c"], C=1.0)
    linear = nn.Linear(8, 3)
    head_from_probe(linear, probe)
    with torch.no_grad():
        ours = linear(torch.from_numpy(x)).numpy()
    assert np.allclose(ours, probe.logits(x), atol=1e-4)


def test_balanced_weights_make_every_present_class_count_the_same():
    y = torch.tensor([0, 0, 0, 1])
    w = balanced_weights(y, 3)
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2, 0.0]))
    assert torch.isclose((w[y]).sum(), torch.tensor(4.0))  # the total weight equals the number of samples


def test_batchnorm_stays_frozen_while_the_tail_trains():
    torch.manual_seed(0)
    tail = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    model = TailModel(tail, head).train()
    bn = tail[1]
    assert not bn.training and not any(p.requires_grad for p in bn.parameters())
    stats, conv = bn.running_mean.clone(), tail[0].weight.detach().clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    nn.functional.cross_entropy(model(torch.randn(8, 4, 6, 6) * 5 + 3), torch.tensor([0, 1] * 4)).backward()
    opt.step()
    assert torch.equal(bn.running_mean, stats) and not torch.equal(tail[0].weight, conv)


def test_the_channels_last_tail_gives_the_numbers_of_the_usual_layout():
    """TailModel trains channels_last (faster oneDNN kernels): Lite0's last stage gives NCHW's loss and gradients
    to float rounding, and `contiguous()` hands the weights back in the usual layout."""
    torch.manual_seed(0)
    body, head = build_model("efficientnet_lite0", 5, pretrained=False, head="linear").model
    cut = cut_last_stage(body)
    x, y = torch.randn(6, 192, 4, 4), torch.tensor([0, 1, 2, 3, 4, 0])
    grads = []
    for layout in ("nchw", "channels_last"):
        tail, top = copy.deepcopy(body[cut:]), copy.deepcopy(head)
        model = TailModel(tail, top).train()
        run = model if layout == "channels_last" else nn.Sequential(model.contiguous().tail, model.head)
        loss = nn.functional.cross_entropy(run(x), y)
        loss.backward()
        grads.append([loss.detach()] + [p.grad for p in model.parameters() if p.requires_grad])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * b.abs().max().item())
    model.contiguous()
    assert all(p.is_contiguous() for p in model.parameters())


def test_drawn_images_only_for_the_classes_the_drawer_knows(tmp_path):
    items = synth_items(tmp_path / "a", ["ring", "watch", "shoe"], per_class=2, size=32)
    assert sorted(items["label"]) == ["ring", "ring", "watch", "watch"]
    assert all(str(p).startswith(str(tmp_path)) for p in items["path"])
    assert synth_items(tmp_path / "b", ["shoe", "hat"], per_class=2, size=32).empty
    assert synth_items(tmp_path / "c", ["ring"], per_class=0, size=32).empty


def test_drawn_once_draws_each_setting_once_per_process(monkeypatch):
    """A leave-one-source-out trains up to seven times on the same drawn images: they are drawn once."""
    calls = []
    make = drawing.make_synth
    monkeypatch.setattr(drawing, "make_synth", lambda *a, **k: calls.append(k["seed"]) or make(*a, **k))
    first = drawn_once(["ring", "watch"], 2, 32, seed=7)
    first.loc[0, "label"] = "changed by the caller"
    again = drawn_once(["ring", "watch"], 2, 32, seed=7)
    assert calls == [7] and sorted(again["label"]) == ["ring", "ring", "watch", "watch"]
    assert all(Path(p).is_file() for p in again["path"])
    other = drawn_once(["ring", "watch"], 2, 32, seed=8)
    assert calls == [7, 8] and set(other["path"]).isdisjoint(again["path"])


def test_fit_lpft_moves_the_last_stage_only_and_keeps_the_best(lpft_setup, tmp_path):
    items, backbone, meta = lpft_setup
    train_items, valid_items = items.iloc[::2], items.iloc[1::2]
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    keep = KeepBest()
    learn, lr, history, _ = fit_lpft(backbone, meta, train_items, valid_items, epochs=2, bs=8, lr=3e-3, keep=keep,
                                     path=tmp_path, progress=False, log=lambda _: None)
    assert lr == 3e-3 and list(history["phase"]) == ["head", "last stage", "last stage"]
    tuned = history[history["phase"] == "last stage"]
    assert keep.where["phase"] == "last stage" and keep.where["value"] == pytest.approx(tuned["valid_loss"].min())
    after = backbone.model.state_dict()
    early = [k for k in before if k.startswith("0.") and int(k.split(".")[1]) < cut_last_stage(backbone.model[0])]
    assert early and all(torch.equal(before[k], after[k]) for k in early)
    tail = [k for k in before if k.startswith("0.7.") and k.endswith("conv1.weight")]
    assert any(not torch.equal(before[k], after[k]) for k in tail)
    assert not torch.equal(before["1.2.weight"], after["1.2.weight"])  # the probe became the head
    with pytest.raises(JewelError, match="linear head"):
        fit_lpft(build_model("resnet18", 5, pretrained=False), meta, train_items, valid_items, 1, 8, 1e-3)


def test_a_soup_averages_runs_from_the_probe_and_is_kept_over_it(lpft_setup, tmp_path):
    """The soup is kept even where the probe scores better on validation (as it does at a rate too high, 0.3)."""
    items, backbone, meta = lpft_setup
    keep = KeepBest()
    _, _, history, _ = fit_lpft(backbone, meta, items.iloc[::2], items.iloc[1::2], epochs=2, bs=8, lr=0.3,
                                keep=keep, soup=3, path=tmp_path, progress=False, log=lambda _: None)
    assert list(history["phase"].drop_duplicates()) == ["head", "last stage 1", "last stage 2", "last stage 3", "soup"]
    losses = history[history["phase"].isin(["head", "soup"])].set_index("phase")["valid_loss"]
    assert keep.where["phase"] == "soup" and keep.best == pytest.approx(losses["soup"])
    assert losses["head"] < losses["soup"]
    state = backbone.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in _prefixed(keep.state).items())


def _prefixed(tail_state: dict) -> dict:
    """TailModel keys (tail.*, head.*) -> Sequential(body, head) keys (0.*, 1.*): a sliced body keeps its indices."""
    return {("0." if k.startswith("tail.") else "1.") + k.split(".", 1)[1]: v for k, v in tail_state.items()}


def test_average_states_is_the_elementwise_mean():
    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(4)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(4)}
    mean = average_states([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0])) and mean["n"].dtype == torch.int64 and mean["n"] == 4


def test_the_lpft_run_records_its_recipe(smoke_run):
    """meta.json says what ran (from the profile: soup 2, 2 drawn images per class), and the model on disk is the
    candidate meta.json names: its accuracy on the valid images is the one history.csv recorded for that phase."""
    meta = runs.read_meta(smoke_run)
    assert meta["recipe"] == "lpft" and meta["head"] == "linear" and meta["lrs"]["soup"] == 2
    assert meta["lrs"]["drawn_images"] == 2 * len(meta["classes"]) and meta["lrs"]["fine_tune"] == meta["lrs"]["lr_find"]
    history = pd.read_csv(smoke_run / "history.csv")
    assert list(history["phase"].drop_duplicates()) == ["head", "last stage 1", "last stage 2", "soup"]
    kept = history[history["phase"] == meta["best"]["phase"]].iloc[-1]
    valid = run_logits(runs.load_model(smoke_run)[0], meta, manifest_split(smoke_run, meta, "valid"), progress=False)
    accuracy = float((valid.logits.argmax(1).numpy() == valid.y).mean())
    assert accuracy == pytest.approx(kept["accuracy"], abs=1e-6)
    assert meta["best"]["phase"] == "soup"


def test_ctrl_c_during_fine_tuning_leaves_the_probe_on_disk(image_folder, tmp_path, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lpft, "fit_phase", interrupt)
    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--out", str(run), "--profile", "smoke", "--size", "32"]) == 130
    assert "interrupted: the best checkpoint so far" in capsys.readouterr().out
    meta = runs.read_meta(run)
    assert meta["complete"] is False and meta["best"]["phase"] == "head" and meta["best"]["epoch"] == 0
    model, _ = runs.load_model(run)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def test_profiles_refuse_an_unknown_recipe_or_an_empty_soup():
    from jewelhelpers.core.settings import get_profile
    with pytest.raises(JewelError, match="unknown recipe"):
        get_profile("smoke", recipe="magic")
    with pytest.raises(JewelError, match="soup"):
        get_profile("smoke", soup=0)
    assert get_profile("quick").recipe == "lpft" and get_profile("quick", recipe="classic").recipe == "classic"


def test_drawn_sets_how_many_drawn_images_per_class_join_training(image_folder, tmp_path, capsys):
    """`jewel train --drawn N` replaces the profile's drawn images per class (2 in smoke); 0 mixes in none;
    a negative count, or --drawn with the classic recipe, is a one-line error before any training."""
    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--out", str(run), "--profile", "smoke", "--size", "32",
                 "--drawn", "3"]) == 0
    meta = runs.read_meta(run)
    assert meta["profile_settings"]["synth_mix"] == 3 and meta["lrs"]["drawn_images"] == 3 * len(meta["classes"])
    assert main(["train", str(image_folder), "--out", str(tmp_path / "none"), "--profile", "smoke", "--size", "32",
                 "--drawn", "0"]) == 0
    assert runs.read_meta(tmp_path / "none")["lrs"]["drawn_images"] == 0
    capsys.readouterr()
    for bad in (["--drawn", "-1"], ["--drawn", "5", "--recipe", "classic"]):
        assert main(["train", str(image_folder), "--out", str(tmp_path / "bad"), "--profile", "smoke", *bad]) == 2
        assert "--drawn" in capsys.readouterr().err and not (tmp_path / "bad").exists()
