"""A linear probe: logistic regression on the pooled features of a frozen pretrained body.

Features are computed once (optionally for several augmented views of each image) and cached on disk,
keyed by each file's md5 and the extraction settings, so trying another head costs seconds. A probe is
saved as plain arrays and JSON (no pickle).

Taught in: 02_transfer_learning_resnet50.ipynb (the probe as LP-FT's head), 03_evaluation.ipynb (the frozen
probe beside the fine-tuned model, `recipes.baseline.probe_beside`) and 05_beyond_labels.ipynb (out of fold,
`core.review`).
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps
from torch import nn

from .backbones import _body, imagenet_model
from .errors import JewelError
from .forward import center_square, image_tensor, pooled
from .images import open_rgb
from .progress import progress as progress_steps


# ---- augmented views ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShiftAug:
    """Random view aimed at other shops' photos: zoom-out onto a plain background, crop, flip, rotation,
    perspective, colour/brightness changes, grayscale and blur. Returns a `size` x `size` image."""

    zoom_out: tuple[float, float] = (0.45, 1.0)  # object's share of the canvas side after zooming out
    crop: tuple[float, float] = (0.6, 1.0)  # side of a random crop, as a share of the shorter side
    p_zoom_out: float = 0.5
    max_rotate: float = 20.0
    p_perspective: float = 0.3
    colour: float = 0.4  # brightness / contrast / saturation jitter amplitude
    p_gray: float = 0.2
    p_blur: float = 0.3

    def __call__(self, im: Image.Image, size: int, rng: random.Random) -> Image.Image:
        w, h = im.size
        side = min(w, h) * rng.uniform(*self.crop)
        x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
        im = im.crop((int(x0), int(y0), int(x0 + side), int(y0 + side))).resize((size, size), Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        if rng.random() < self.p_zoom_out:
            inner = max(8, int(size * rng.uniform(*self.zoom_out)))
            bg = _background(im, rng)
            canvas = Image.new("RGB", (size, size), bg)
            canvas.paste(im.resize((inner, inner), Image.Resampling.BILINEAR),
                         (rng.randint(0, size - inner), rng.randint(0, size - inner)))
            im = canvas
        fill = im.getpixel((0, 0))
        im = im.rotate(rng.uniform(-self.max_rotate, self.max_rotate), Image.Resampling.BILINEAR, fillcolor=fill)
        if rng.random() < self.p_perspective:
            im = _perspective(im, rng, fill)
        im = _jitter(im, rng, self.colour)
        if rng.random() < self.p_gray:
            im = ImageOps.grayscale(im).convert("RGB")
        if rng.random() < self.p_blur:
            im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
        return im

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _background(im: Image.Image, rng: random.Random) -> tuple[int, int, int]:
    """White, the image's own corner colour, or a random light/dark/skin-like tone."""
    r = rng.random()
    if r < 0.35:
        return (255, 255, 255)
    if r < 0.6:
        return im.getpixel((0, 0))
    return tuple(rng.randint(40, 250) for _ in range(3))


def _perspective(im: Image.Image, rng: random.Random, fill) -> Image.Image:
    s = im.size[0]
    d = lambda: rng.uniform(0, 0.15 * s)  # noqa: E731
    quad = (d(), d(), d(), s - d(), s - d(), s - d(), s - d(), d())
    return im.transform(im.size, Image.Transform.QUAD, quad, Image.Resampling.BILINEAR, fillcolor=fill)


def _jitter(im: Image.Image, rng: random.Random, amount: float) -> Image.Image:
    from PIL import ImageEnhance
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        im = enhancer(im).enhance(rng.uniform(1 - amount, 1 + amount))
    return im


# ---- features ---------------------------------------------------------------------------------------------

def _body_and_key(model_or_arch: str | nn.Module) -> tuple[nn.Module, str]:
    """The feature body and a string identifying its weights (for the cache key)."""
    if isinstance(model_or_arch, str):
        full, _ = imagenet_model(model_or_arch)
        return _body(model_or_arch, full).eval(), f"imagenet:{model_or_arch}"
    body = model_or_arch[0] if isinstance(model_or_arch, nn.Sequential) and len(model_or_arch) == 2 else model_or_arch
    digest = hashlib.md5()
    for name, tensor in body.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return body.eval(), f"weights:{digest.hexdigest()}"


def _file_md5(path: str | Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def extract_features(model_or_arch: str | nn.Module, paths: Sequence[str | Path], size: int,
                     mean: Sequence[float], std: Sequence[float], views: int = 1,
                     aug: Callable[[Image.Image, int, random.Random], Image.Image] | None = ShiftAug(),
                     batch_size: int = 64, cache_dir: str | Path | None = None, progress: bool = True) -> np.ndarray:
    """Pooled body features of every image: an array (n_images, views, n_features), float32.

    `model_or_arch` is an arch name (its ImageNet body) or a `Sequential(body, head)` from `build_model`.
    View 0 is the evaluation view (`forward.center_square` at `size`, as `preprocess` with presize = size); view k >= 1 is `aug(image, size, rng)` with `rng` seeded by the
    file's md5 and k, so a view is the same on every call. With `cache_dir`, each view's features are
    stored as `<cache_dir>/<settings hash>/<file md5>_<k>.npy` and reused (also by calls with more views).
    """
    if views > 1 and aug is None:
        raise JewelError("views > 1 needs an augmentation (aug)")
    body, model_key = _body_and_key(model_or_arch)
    aug_key = aug.key() if hasattr(aug, "key") else repr(aug)
    folders: list[Path | None] = [None, None]
    if cache_dir:
        for k, setting in enumerate(([model_key, size, list(mean), list(std), "center_square"],
                                     [model_key, size, list(mean), list(std), aug_key])):
            text = json.dumps(setting)
            folders[k] = Path(cache_dir) / hashlib.md5(text.encode()).hexdigest()[:16]
            folders[k].mkdir(parents=True, exist_ok=True)
            (folders[k] / "settings.json").write_text(text)
    md5s = [_file_md5(p) for p in paths]

    def cache_file(i: int, v: int) -> Path | None:
        folder = folders[min(v, 1)]
        return folder / f"{md5s[i]}_{v}.npy" if folder else None

    found: dict[tuple[int, int], np.ndarray] = {}
    todo = []
    for i in range(len(paths)):
        for v in range(views):
            f = cache_file(i, v)
            if f is not None and f.is_file():
                found[i, v] = np.load(f)
            else:
                todo.append((i, v))
    steps = range(0, len(todo), batch_size)
    with torch.inference_mode():
        for start in progress_steps(steps, f"features {size}px", "batches", enabled=progress and bool(todo)):
            chunk = todo[start:start + batch_size]
            ims, opened = [], {}
            for i, v in chunk:
                im = opened.setdefault(i, open_rgb(paths[i]))
                ims.append(center_square(im, size) if v == 0 else aug(im, size, random.Random(f"{md5s[i]}:{v}")))
            x = torch.stack([image_tensor(im, size, mean, std) for im in ims])
            feats = pooled(body, x).numpy().astype(np.float32)
            for (i, v), f in zip(chunk, feats):
                found[i, v] = f
                if cache_file(i, v) is not None:
                    np.save(cache_file(i, v), f)
    if len(paths) == 0:
        return np.zeros((0, views, 0), dtype=np.float32)
    return np.stack([np.stack([found[i, v] for v in range(views)]) for i in range(len(paths))])


# ---- the probe ----------------------------------------------------------------------------------------------

@dataclass
class LinearProbe:
    """Softmax(((features - mean) / scale) @ coef.T + intercept), averaged over views."""

    classes: list[str]
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    mean: np.ndarray  # (n_features,) standardisation applied before the linear layer
    scale: np.ndarray  # (n_features,)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Logits for (n, d) features, or (n, views, d) -> (n, views, n_classes)."""
        return ((features - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (n, n_classes); for (n, views, d) features, the mean over views (TTA)."""
        z = self.logits(features)
        p = np.exp(z - z.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        return p.mean(axis=1) if p.ndim == 3 else p

    def predict(self, features: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(features).argmax(axis=1)]

    def save(self, folder: str | Path) -> None:
        """Write `probe.json` (classes) and `probe.npz` (arrays) into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "probe.json").write_text(json.dumps({"classes": self.classes}))
        np.savez(folder / "probe.npz", coef=self.coef, intercept=self.intercept, mean=self.mean, scale=self.scale)

    @classmethod
    def load(cls, folder: str | Path) -> "LinearProbe":
        folder = Path(folder)
        if not (folder / "probe.json").is_file():
            raise JewelError(f"no probe in {folder} (expected probe.json and probe.npz)")
        arrays = np.load(folder / "probe.npz", allow_pickle=False)
        return cls(json.loads((folder / "probe.json").read_text())["classes"],
                   **{k: arrays[k] for k in ("coef", "intercept", "mean", "scale")})


def fit_probe(features: np.ndarray, labels: Sequence[str], classes: Sequence[str], balanced: bool = True,
              C: float = 1.0, standardize: bool = True, max_iter: int = 2000) -> LinearProbe:
    """Fit multinomial logistic regression on (n, d) or (n, views, d) features (every view is a sample).

    `balanced=True` weights each class by 1/(its count), so the probe does not lean towards the largest
    class; `C` is the inverse L2 strength; `standardize` scales each feature to unit variance first.
    """
    from sklearn.linear_model import LogisticRegression
    classes = list(classes)
    unknown = set(labels) - set(classes)
    if unknown:
        raise JewelError(f"labels not in classes: {', '.join(sorted(unknown))}")
    y = np.array([classes.index(label) for label in labels])
    x = features
    if x.ndim == 3:
        y = np.repeat(y, x.shape[1])
        x = x.reshape(-1, x.shape[-1])
    mean = x.mean(axis=0) if standardize else np.zeros(x.shape[1], dtype=x.dtype)
    scale = x.std(axis=0) + 1e-6 if standardize else np.ones(x.shape[1], dtype=x.dtype)
    clf = LogisticRegression(C=C, max_iter=max_iter, class_weight="balanced" if balanced else None)
    clf.fit((x - mean) / scale, y)
    coef = np.zeros((len(classes), x.shape[1]))
    intercept = np.full(len(classes), -1e4)  # a class absent from training is never predicted
    coef[clf.classes_] = clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_, clf.coef_]) / 2
    intercept[clf.classes_] = clf.intercept_ if len(clf.classes_) > 2 else np.array([-1, 1]) * clf.intercept_ / 2
    return LinearProbe(classes, coef, intercept, mean.astype(np.float64), scale.astype(np.float64))


def probe_accuracy(probe: LinearProbe, features: np.ndarray, labels: Sequence[str]) -> float:
    """Share of images whose most probable class is their label."""
    return float(np.mean(np.array(probe.predict(features)) == np.array(list(labels))))
