"""Reading a user's images safely, and building fastai DataLoaders from a split manifest.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from .errors import JewelError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MAX_PIXELS = 89_478_485  # PIL's own decompression-bomb threshold: larger images are refused
SPLITS = ("train", "valid", "test")


def list_images(root: Path) -> list[Path]:
    """Every file with an image extension under `root`, recursively, sorted, hidden folders skipped."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTS]
    return sorted(found)


def read_items(source: str | Path, max_per_class: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The labelled images of an ImageFolder (`DATA/<label>/**/*.jpg`) or a CSV of `file,label`.

    Returns a DataFrame with absolute `path` and `label`, sorted by path. CSV paths are relative to the CSV;
    a `category` column is accepted in place of `label`. `max_per_class` keeps a seeded random subset.
    Raises JewelError when `source` is missing or holds no images.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise JewelError(f"data not found: {source} (give an ImageFolder DATA/<category>/*.jpg or a CSV of file,label)")
    if source.is_file():
        df = _read_csv(source)
    else:
        rows = [(str(p.resolve()), p.relative_to(source).parts[0]) for p in list_images(source)
                if len(p.relative_to(source).parts) > 1]
        df = pd.DataFrame(rows, columns=["path", "label"])
    if df.empty:
        raise JewelError(f"no images found in {source}: expected DATA/<category>/*.jpg|png|webp or a CSV of file,label")
    if max_per_class:
        df = df.sample(frac=1.0, random_state=seed).groupby("label").head(max_per_class)
    return df.sort_values("path").reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        label_col = "label" if "label" in fields else "category" if "category" in fields else None
        if "file" not in fields or label_col is None:
            raise JewelError(f"{path}: a CSV needs the columns file,label (found: {', '.join(fields) or 'none'})")
        rows = [(str((path.parent / r["file"]).resolve()), r[label_col].strip()) for r in reader if r["file"]]
    return pd.DataFrame(rows, columns=["path", "label"])


def open_rgb(path: str | Path | bytes | Image.Image, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image as 8-bit RGB with its EXIF orientation applied.

    Accepts a path, raw bytes or a PIL image. Transparent images are flattened on white, 16-bit and CMYK
    images converted. Raises JewelError for files that cannot be decoded or are decompression-bomb sized.
    """
    try:
        if isinstance(path, Image.Image):
            im = path
        else:
            import io
            fp = io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(fp)
                if im.width * im.height > max_pixels:
                    raise JewelError(f"{_name(path)}: {im.width}x{im.height} is too large to decode safely")
                im.load()
        im = ImageOps.exif_transpose(im)
        return _to_rgb(im)
    except JewelError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise JewelError(f"{_name(path)}: cannot be read as an image ({type(e).__name__}: {e})") from e


def _name(path) -> str:
    return "<bytes>" if isinstance(path, (bytes, bytearray)) else str(path)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / top * 255.0, 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im, mask=im.getchannel("A"))
        return background
    return im.convert("RGB") if im.mode != "RGB" else im


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A split manifest written by `jewel split` (columns path, label, split, group)."""
    path = Path(path)
    if not path.is_file():
        raise JewelError(f"manifest not found: {path} (make one with: jewel split DATA --out split.csv)")
    df = pd.read_csv(path)
    missing = {"path", "label", "split"} - set(df.columns)
    if missing:
        raise JewelError(f"{path} is not a split manifest: missing column(s) {', '.join(sorted(missing))}")
    return df


# ---- fastai DataLoaders -------------------------------------------------------------------------------

warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)  # noise from fastai's import

from fastai.vision.all import (  # noqa: E402  (fastai import is slow; keep the light helpers above it)
    CategoryBlock, ColReader, DataBlock, ImageBlock, Normalize, PILImage, Resize, aug_transforms,
)


class JewelImage(PILImage):
    """A fastai image that is always opened with `open_rgb` (RGB, EXIF orientation applied)."""

    @classmethod
    def create(cls, fn, **kwargs):
        if isinstance(fn, (str, Path, bytes, Image.Image)):
            return cls(open_rgb(fn))
        return super().create(fn, **kwargs)


def is_valid(row) -> bool:
    """fastai splitter helper: the manifest row belongs to the validation split."""
    return row["split"] == "valid"


def jewel_augs(size: int, strength: str = "default") -> list:
    """The batch augmentations: random crop to `size` plus flips, rotation, zoom, warp and lighting.

    `strength="strong"` widens zoom-out, lighting and warp (for photos from other shops).
    """
    if strength == "none":
        return []
    if strength == "strong":
        return aug_transforms(size=size, min_scale=0.5, max_rotate=25, max_zoom=1.3, max_lighting=0.4,
                              max_warp=0.3, p_affine=0.9, pad_mode="border")
    return aug_transforms(size=size, min_scale=0.75, max_rotate=15, max_lighting=0.3, max_warp=0.2)


def make_dls(manifest: pd.DataFrame, size: int, presize: int, bs: int, mean, std,
             balanced: bool = False, aug: str = "default", num_workers: int | None = None, seed: int = 0):
    """fastai DataLoaders over the train and valid rows of a split manifest.

    Presizing: each item is resized to `presize`, then each batch is randomly cropped to `size` and
    augmented on the batch. `mean`/`std` are the backbone's normalisation. `balanced=True` samples
    training images with weights 1/(class count) so every class is seen equally often.
    """
    from fastai.vision.all import ColSplitter, set_seed
    set_seed(seed, reproducible=True)
    df = manifest[manifest["split"].isin(["train", "valid"])].reset_index(drop=True)
    if (df["split"] == "valid").sum() == 0 or (df["split"] == "train").sum() == 0:
        raise JewelError("the manifest needs both train and valid rows (make one with: jewel split DATA --out split.csv)")
    df = df.assign(is_valid=df["split"] == "valid")
    block = DataBlock(
        blocks=(ImageBlock(cls=JewelImage), CategoryBlock(vocab=sorted(manifest["label"].unique()))),
        get_x=ColReader("path"), get_y=ColReader("label"), splitter=ColSplitter("is_valid"),
        item_tfms=Resize(presize), batch_tfms=[*jewel_augs(size, aug), Normalize.from_stats(mean, std)])
    if num_workers is None:
        import torch
        num_workers = (os.cpu_count() or 1) if torch.cuda.is_available() else 0
    if balanced:
        counts = df.loc[~df["is_valid"], "label"].value_counts()
        weights = (1.0 / df["label"].map(counts)).to_numpy()
        return block.weighted_dataloaders(df, wgts=weights, bs=bs, num_workers=num_workers)
    return block.dataloaders(df, bs=bs, num_workers=num_workers)
