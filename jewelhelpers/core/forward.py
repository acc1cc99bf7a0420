"""The one forward pass: validation preprocessing replayed in plain torch, logits and pooled features of images.

Every place that scores images (evaluate, predict, the probe, LP-FT's cached maps, the baseline) goes through
here, so they all see an image the same way. The training DataLoaders (`recipes.dls.make_dls`) show the model,
at validation time: `Resize(presize)` in crop mode (the largest centred square, resized to presize x presize
with PIL bilinear), then the batch crop
(`RandomResizedCropGPU`, which on validation keeps the whole square) resampled to size x size (bilinear,
`align_corners=True`), scaled to [0, 1] and normalised with the backbone's mean/std. `preprocess` does
exactly that, so a model loaded with `runs.load_model` sees what it saw during validation.

Taught in: 03_evaluation.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .errors import JewelError
from .images import open_rgb
from .progress import progress as progress_steps

__all__ = ["preprocess", "center_square", "image_tensor", "tta_views", "logits_of", "logits_and_pooled",
           "batch_logits", "BatchLogits", "probabilities", "RunLogits", "run_logits", "in_batches", "passed_on", "pooled",
           "PooledBody", "POOLS", "mean_pool", "gem_pool"]

ImageInput = str | Path | bytes | Image.Image
TTA_ZOOM = 1.15  # the TTA view "slightly larger crop": zoom in by 15% around the centre
GEM_P = 3.0  # GeM's exponent (Radenovic et al. 2018): 1 is the mean, large values approach the maximum


def center_square(img: Image.Image, presize: int) -> Image.Image:
    """fastai's validation `Resize(presize)` (crop mode): the centred square, resized with PIL bilinear."""
    w, h = img.size
    side = int(min(w, h) / presize * presize)  # fastai's own arithmetic (float rounding included)
    left, top = int(0.5 * (w - side)), int(0.5 * (h - side))
    return img.crop((left, top, left + side, top + side)).resize((presize, presize), Image.BILINEAR)


def image_tensor(square: Image.Image, size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """A square RGB image -> 3 x size x size, resized (bilinear, align_corners) when needed, scaled and normalised."""
    x = torch.from_numpy(np.asarray(square, dtype=np.float32) / 255.0).permute(2, 0, 1)
    if size != square.width:
        x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=True)[0]
    mean_t = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (x - mean_t) / std_t


def preprocess(img: ImageInput, meta: dict) -> torch.Tensor:
    """One image (path, bytes or PIL) -> a normalised 3 x size x size float tensor, as in validation.

    `meta` is a run's meta.json (uses presize, size, mean, std). Raises JewelError for an unreadable file.
    """
    square = center_square(open_rgb(img), int(meta["presize"]))
    return image_tensor(square, int(meta["size"]), meta["mean"], meta["std"])


def tta_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The test-time views of a batch: the image itself, its mirror, and a 15% zoom on the centre."""
    size = x.shape[-1]
    big = F.interpolate(x, scale_factor=TTA_ZOOM, mode="bilinear", align_corners=True)
    top = (big.shape[-1] - size) // 2
    return [x, x.flip(-1), big[..., top:top + size, top:top + size]]


@torch.no_grad()
def logits_of(model: torch.nn.Module, x: torch.Tensor, tta: bool = False) -> torch.Tensor:
    """Model outputs for a preprocessed batch; with `tta` the mean of the logits over `tta_views`."""
    model.eval()
    x = x.to(next(model.parameters()).device)
    if not tta:
        return model(x).float().cpu()
    return torch.stack([model(v).float() for v in tta_views(x)]).mean(0).cpu()


def mean_pool(maps: torch.Tensor) -> torch.Tensor:
    """Feature maps (n, c, h, w) averaged over space: what the head, the probe and the unknown score read."""
    return maps.mean(dim=(2, 3))


def gem_pool(maps: torch.Tensor, p: float = GEM_P) -> torch.Tensor:
    """Generalised-mean pooling (GeM, Radenovic et al. 2018): per channel (mean of x^p)^(1/p), by torch's
    `lp_pool2d` (the p-norm over the map) divided by (h * w)^(1/p). Strong activations count more than in the
    mean, so the object's detail outweighs a plain background: the similar-photos embedding (`core.index`)."""
    h, w = maps.shape[-2:]
    return F.lp_pool2d(maps.clamp(min=1e-6), p, (h, w)).flatten(1) / (h * w) ** (1 / p)


POOLS = {"mean": mean_pool, "gem": gem_pool}


@torch.no_grad()
def logits_and_pooled(model: nn.Sequential, x: torch.Tensor, pool: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of `Sequential(body, head)` on a preprocessed batch: its logits and the body's pooled features
    (`pool`: a name in POOLS).

    Another module (the ONNX engine's) answers through its own `logits_and_pooled` (mean pooling only).
    """
    if not isinstance(model, nn.Sequential):
        if pool != "mean":
            raise JewelError(f"{pool} pooling needs the run's torch model; the ONNX engine gives mean-pooled features")
        return model.logits_and_pooled(x)
    model.eval()
    maps = model[0](x.to(next(model.parameters()).device))
    return model[1](maps).float().cpu(), POOLS[pool](maps).float().cpu()


@dataclass
class BatchLogits:
    """Result of `batch_logits`: one logits row per readable input, and why the others were skipped."""

    logits: torch.Tensor  # n_ok x n_classes
    ok: list[int]  # index into the inputs of each logits row
    errors: dict[int, str] = field(default_factory=dict)  # input index -> reason it could not be read
    features: torch.Tensor | None = None  # n_ok x n_features pooled body features, when asked for


def _read_batch(items: Sequence[ImageInput], meta: dict, start: int,
                batch_size: int) -> tuple[list[torch.Tensor], list[int], dict[int, str]]:
    """Preprocessed images `start` to `start + batch_size` of `items`, their indices, and why others were skipped."""
    tensors, ok, errors = [], [], {}
    for i in range(start, min(start + batch_size, len(items))):
        try:
            tensors.append(preprocess(items[i], meta))
            ok.append(i)
        except JewelError as e:
            errors[i] = str(e)
    return tensors, ok, errors


def batch_logits(model: torch.nn.Module, items: Sequence[ImageInput], meta: dict, batch_size: int = 32,
                 tta: bool = False, progress: bool = True, features: bool = False, pool: str = "mean") -> BatchLogits:
    """Logits for many images, `batch_size` at a time; unreadable files are skipped and reported, never fatal.

    The next batch is decoded in a thread while the model runs on this one (decoding and resizing release the
    GIL, so a CPU core idle during decoding now works). With `features` (no TTA) the body's pooled features
    (`pool`: a name in POOLS) come along, same pass.
    """
    starts = list(range(0, len(items), batch_size))
    rows, ok, errors, feats = [], [], {}, []
    with ThreadPoolExecutor(max_workers=1) as reader:
        ahead = reader.submit(_read_batch, items, meta, starts[0], batch_size) if starts else None
        for k in progress_steps(range(len(starts)), "forward pass", "batches", enabled=progress and len(starts) > 1):
            tensors, batch_ok, batch_errors = ahead.result()
            if k + 1 < len(starts):
                ahead = reader.submit(_read_batch, items, meta, starts[k + 1], batch_size)
            ok += batch_ok
            errors |= batch_errors
            if tensors and features:
                z, f = logits_and_pooled(model, torch.stack(tensors), pool)
                rows.append(z)
                feats.append(f)
            elif tensors:
                rows.append(logits_of(model, torch.stack(tensors), tta))
    logits = torch.cat(rows) if rows else torch.empty(0, len(meta["classes"]))
    pooled_rows = (torch.cat(feats) if feats else torch.empty(0, 0)) if features else None
    return BatchLogits(logits, ok, errors, pooled_rows)


def probabilities(logits: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """Softmax of `logits / temperature` (the run's calibrated temperature from meta.json, or 1)."""
    return torch.softmax(logits.float() / (temperature or 1.0), dim=-1)


@dataclass
class RunLogits:
    """Logits of the readable images, their true class indices, the rows kept, and the unreadable files."""

    logits: torch.Tensor
    y: np.ndarray
    items: pd.DataFrame
    unreadable: list[dict]
    features: torch.Tensor | None = None  # pooled body features, when asked for


def run_logits(model: nn.Module, meta: dict, items: pd.DataFrame, tta: bool = False,
               progress: bool = True, features: bool = False) -> RunLogits:
    """Outputs of `model` for `items` (path, label of a known class); unreadable files are listed with their reason."""
    paths = list(items["path"])
    out = batch_logits(model, paths, meta, tta=tta, progress=progress, features=features)
    kept = items.iloc[out.ok].reset_index(drop=True)
    y = kept["label"].map({c: i for i, c in enumerate(meta["classes"])}).to_numpy(dtype=int)
    return RunLogits(out.logits, y, kept, [{"path": paths[i], "reason": r} for i, r in out.errors.items()],
                     out.features)


def in_batches(model: nn.Module, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """`model(x)` in eval mode, `batch_size` rows at a time, without gradients (e.g. later layers on cached maps)."""
    model.eval()
    with torch.no_grad():
        rows = [model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)]
    return torch.cat(rows) if rows else torch.empty(0)


def passed_on(res: RunLogits, model: nn.Module) -> RunLogits:
    """`res` with its outputs fed on through `model`: the same images, labels and unreadable files."""
    return replace(res, logits=in_batches(model, res.logits))


def pooled(body: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The body's feature map averaged over space: the vector a linear probe is fitted on."""
    return mean_pool(body(x))


class PooledBody(nn.Module):
    """A body followed by global average pooling, in eval mode: image batch -> feature vectors."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pooled(self.body, x)
