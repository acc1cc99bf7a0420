"""Reading a user's images safely: listing an ImageFolder or a CSV, decoding as RGB, and never writing into DATA.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from .errors import JewelError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MAX_PIXELS = 89_478_485  # PIL's own decompression-bomb threshold: larger images are refused


def list_images(root: Path) -> list[Path]:
    """Every file with an image extension under `root`, recursively, sorted, hidden folders skipped."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTS]
    return sorted(found)


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files given explicitly (any extension, attempted) and the images found under folders, in order given."""
    paths, files = list(paths), []
    for p in map(Path, paths):
        if not p.exists():
            raise JewelError(f"{p} does not exist: give image files or folders of images")
        files += list_images(p) if p.is_dir() else [p]
    if not files:
        raise JewelError(f"no images in {', '.join(map(str, paths))}: give photo files or folders holding them "
                         f"({', '.join(sorted(IMAGE_EXTS))})")
    return files


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
    if path.suffix.lower() in IMAGE_EXTS:
        raise JewelError(f"{path} is an image: give the folder of class folders (DATA/<category>/*.jpg) or a CSV "
                         "of file,label")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            label_col = "label" if "label" in fields else "category" if "category" in fields else None
            if "file" not in fields or label_col is None:
                raise JewelError(f"{path}: a CSV needs the columns file,label (found: {', '.join(fields) or 'none'})")
            rows = [(r["file"], (r[label_col] or "").strip(), line) for line, r in enumerate(reader, start=2)
                    if r["file"]]
    except UnicodeDecodeError:
        raise JewelError(f"{path} is not a text CSV (not UTF-8): give a CSV of file,label") from None
    unlabelled = [line for _, label, line in rows if not label]
    if unlabelled:
        raise JewelError(f"{path}: line {unlabelled[0]} has no label ({len(unlabelled)} such rows): give every file "
                         "a class or remove the row")
    return pd.DataFrame([(str((path.parent / f).resolve()), label) for f, label, _ in rows], columns=["path", "label"])


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


def check_outside_data(out: str | Path, data: str | Path, paths: Iterable[str] = ()) -> Path:
    """`out`, resolved; JewelError when it lies in DATA (the folder, the CSV, or a folder holding its images).

    Call it before creating anything at `out`: nothing is ever written, moved or deleted under DATA.
    """
    out, data = Path(out).expanduser().resolve(), Path(data).expanduser().resolve()
    roots = [data] if data.is_dir() else [data, *sorted({Path(p).parent for p in paths})]
    inside = next((root for root in roots if out.is_relative_to(root)), None)
    if inside is not None:
        raise JewelError(f"refusing to write {out}: it is inside the data ({inside}), and nothing is ever "
                         "written there; choose a path outside it")
    return out


def check_outside_inputs(out: str | Path, paths: Iterable[str | Path]) -> Path:
    """`out`, resolved; JewelError when it lies in a folder of photos given, or is a photo given."""
    resolved = Path(out).expanduser().resolve()
    for p in map(Path, paths):
        if p.is_dir():
            check_outside_data(out, p)
        elif resolved == p.expanduser().resolve():
            raise JewelError(f"refusing to write {resolved}: it is one of the photos given; choose another path")
    return resolved
