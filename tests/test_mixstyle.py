"""MixStyle before the last stage (`--mixstyle P`): a training batch's maps keep their content and take mixed style
statistics; evaluation, the weights' keys and a run's record are as without it; a share outside 0-1 is refused."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from jewelhelpers.cli import main
from jewelhelpers.recipes import lpft
from jewelhelpers.recipes.lpft import MixStyle, TailModel, fit_lpft


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(dim=(2, 3)), x.std(dim=(2, 3), unbiased=False)


def test_a_batch_keeps_its_content_and_takes_another_rows_style():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 5, 5) * torch.rand(6, 3, 1, 1).add(0.5) * 3 + torch.randn(6, 3, 1, 1) * 4
    mix = MixStyle(p=1.0).train()
    mix.beta = torch.distributions.Uniform(0.0, 1e-9)  # lambda 0: all of the other row's style
    y = mix(x)
    mu, sig = _stats(x)
    out_mu, out_sig = _stats(y)
    for i in range(len(x)):  # each row's statistics are some row's, and its normalised content is its own
        j = int(((out_mu[i] - mu).abs().sum(1) + (out_sig[i] - sig).abs().sum(1)).argmin())
        assert torch.allclose(out_mu[i], mu[j], atol=1e-4) and torch.allclose(out_sig[i], sig[j], atol=1e-4)
    content = (x - mu[..., None, None]) / sig[..., None, None]
    assert torch.allclose((y - out_mu[..., None, None]) / out_sig[..., None, None], content, atol=1e-3)
    assert not torch.allclose(y, x, atol=1e-2)  # 6 rows shuffled: some row took another's style


def test_evaluation_is_untouched_and_the_weights_keep_their_keys():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5)
    assert torch.equal(MixStyle(p=1.0).eval()(x), x) and torch.equal(MixStyle(p=0.0).train()(x), x)
    tail = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    plain, mixed = TailModel(tail, head), TailModel(tail, head, mixstyle=1.0)
    assert plain.state_dict().keys() == mixed.state_dict().keys()  # soups and WiSE-FT average the same weights
    assert torch.equal(plain.eval()(x), mixed.eval()(x))
    assert not torch.allclose(plain.train()(x), mixed.train()(x))


def test_fit_lpft_mixes_the_training_batches_only(lpft_setup, tmp_path, monkeypatch):
    items, backbone, meta = lpft_setup
    modes = []
    forward = lpft.MixStyle.forward
    monkeypatch.setattr(lpft.MixStyle, "forward", lambda self, x: modes.append(self.training) or forward(self, x))
    fit_lpft(backbone, meta, items.iloc[::2], items.iloc[1::2], epochs=1, bs=8, lr=1e-3, path=tmp_path,
             progress=False, log=lambda _: None, mixstyle=0.5)
    assert True in modes and False in modes  # training batches pass through it; validation's pass untouched


def test_train_refuses_a_mixstyle_share_outside_0_to_1(image_folder, tmp_path, capsys):
    assert main(["train", str(image_folder), "--out", str(tmp_path / "run"), "--profile", "smoke",
                 "--mixstyle", "1.5"]) == 2
    assert "--mixstyle must be a share of batches between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
