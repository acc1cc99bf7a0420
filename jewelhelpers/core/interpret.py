"""Looking inside predictions: Grad-CAM heatmaps, top losses, and image galleries of what the model saw.

Taught in: 03_evaluation.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from .figures import image_grid, new_figure
from .forward import preprocess
from .images import open_rgb

__all__ = ["grad_cam", "model_view", "top_losses", "pick_right_wrong", "plot_gallery", "plot_grad_cam"]


def grad_cam(model: torch.nn.Sequential, x: torch.Tensor, target: int | Sequence[int] | None = None) -> torch.Tensor:
    """Grad-CAM heatmaps (N x H x W, each scaled to [0, 1]) for a preprocessed batch `x` (N x 3 x H x W).

    The feature map is the output of the body's last block (`model[0][-1]`), weighted by the spatial mean of
    the gradient of the `target` class score (an int for all images, one per image, or None: the predicted
    class). Works for every backbone of `backbones` (ResNet `layer4`, EfficientNet-Lite0's last conv block).
    """
    x = x if x.dim() == 4 else x[None]
    x = x.to(next(model.parameters()).device)
    saved: dict[str, torch.Tensor] = {}

    def keep(module, inputs, output) -> None:
        saved["acts"] = output
        output.register_hook(lambda grad: saved.__setitem__("grads", grad))

    handle = model[0][-1].register_forward_hook(keep)
    try:
        model.eval()
        with torch.enable_grad():
            scores = model(x.detach().requires_grad_(True))
            if target is None:
                target = scores.argmax(1).tolist()
            idx = torch.as_tensor(target, device=scores.device).expand(len(x))
            model.zero_grad()
            scores.gather(1, idx[:, None]).sum().backward()
    finally:
        handle.remove()
    weights = saved["grads"].mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * saved["acts"]).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    top = cam.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None]
    model.zero_grad()
    return (cam / top).cpu()


def model_view(path: str | Path, meta: dict) -> np.ndarray:
    """The image as the model sees it (centre crop at `size`), denormalised to H x W x 3 in [0, 1]."""
    x = preprocess(path, meta)
    mean = torch.tensor(meta["mean"])[:, None, None]
    std = torch.tensor(meta["std"])[:, None, None]
    return (x * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def top_losses(preds: pd.DataFrame, k: int = 9) -> pd.DataFrame:
    """The `k` images with the highest loss (-log p(truth)): label errors or model errors, look and decide."""
    return preds.sort_values("loss", ascending=False).head(k)


def pick_right_wrong(preds: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The `n` most confident right predictions and the `n` most confident wrong ones."""
    by_conf = preds.sort_values("confidence", ascending=False)
    return pd.concat([by_conf[by_conf["correct"]].head(n), by_conf[~by_conf["correct"]].head(n)])


def _caption(row) -> str:
    mark = "" if row["correct"] else " ✗"
    return f"truth {row['truth']}\npred {row['pred']} ({row['confidence']:.2f}){mark}"


def plot_gallery(rows: pd.DataFrame, meta: dict, title: str = "", ncols: int = 3) -> Figure:
    """A grid of images as the model saw them, each captioned with truth, prediction and its probability."""
    fig, axes = image_grid(len(rows), ncols, (3, 3.3))
    for ax, (_, row) in zip(axes, rows.iterrows()):
        ax.imshow(model_view(row["path"], meta))
        ax.set_title(_caption(row), fontsize=9, color="black" if row["correct"] else "firebrick")
    fig.suptitle(title)
    return fig


def plot_grad_cam(model: torch.nn.Sequential, meta: dict, rows: pd.DataFrame, title: str = "") -> Figure:
    """For each row: the image, and Grad-CAM of the predicted class over it (where did the model look?)."""
    classes = meta["classes"]
    x = torch.stack([preprocess(p, meta) for p in rows["path"]])
    cams = grad_cam(model, x, [classes.index(p) for p in rows["pred"]])
    fig = new_figure((5, 2.6 * max(1, len(rows))))
    axes = fig.subplots(max(1, len(rows)), 2, squeeze=False)
    for (ax_img, ax_cam), (_, row), cam in zip(axes, rows.iterrows(), cams):
        img = model_view(row["path"], meta)
        ax_img.imshow(img)
        ax_img.set_title(_caption(row), fontsize=8, color="black" if row["correct"] else "firebrick")
        ax_cam.imshow(img)
        ax_cam.imshow(cam.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax_cam.set_title(f"Grad-CAM for {row['pred']}", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title)
    return fig


def plot_suspects(rows: pd.DataFrame, n: int = 12, ncols: int = 4, size: int = 128) -> Figure:
    """The `n` most suspicious labels of a review: each photo with its label, the suggested one, and its probability.

    Taught in: 05_beyond_labels.ipynb.
    """
    rows = rows.head(n)
    fig, axes = image_grid(len(rows), ncols, (2.6, 2.9))
    for ax, (_, row) in zip(axes, rows.iterrows()):
        ax.imshow(open_rgb(row["path"]).resize((size, size)))
        ax.set_title(f"labelled {row['label']}\nlooks {row['suggested']} ({row['confidence']:.2f})", fontsize=8,
                     color="firebrick")
    return fig
