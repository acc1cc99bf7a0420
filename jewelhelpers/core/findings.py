"""A read-only audit of a labelled image set: broken files, odd formats, duplicates and label conflicts.

Nothing under DATA is ever written: each file is read once as bytes and decoded in memory. The split
(`core.manifest`) groups duplicates with it; `jewel audit` (`jobs.audit`) prints and saves it.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .errors import JewelError
from .images import IMAGE_EXTS, MAX_PIXELS, check_outside_data, open_rgb, read_items
from .progress import progress as progress_steps

TINY_SIDE = 64
HUGE_PIXELS = 40_000_000
EXT_FORMATS = {".jpg": {"JPEG", "MPO"}, ".jpeg": {"JPEG", "MPO"}, ".png": {"PNG"}, ".webp": {"WEBP"},
               ".bmp": {"BMP", "DIB"}, ".gif": {"GIF"}, ".tif": {"TIFF"}, ".tiff": {"TIFF"}}
EXIF_ORIENTATION = 0x0112
HASH_DECODE_SIDE = 128  # JPEGs are decoded at a reduced scale (still whole) for hashing: much faster on big photos
FINE_HASH_SIZE = 16  # confirms 8x8 matches: see `audit`

# What each finding means and what to do about it, in the order the summary prints them.
FINDINGS = {
    "cannot open": "listed but missing or not readable (permissions): fix the path or the CSV row.",
    "zero-byte": "an empty file (failed download or copy): delete it or copy it again.",
    "not an image": "PIL cannot read it (text or HTML saved as .jpg, HEIC, broken header): delete it.",
    "truncated": "the file ends early (interrupted download or copy); training cannot read it: "
                 "download it again or delete it.",
    "corrupt": "the header reads but the pixels do not decode: open it in a viewer; delete it if broken.",
    "too large": f"over {MAX_PIXELS / 1e6:.1f} MP, refused as a possible decompression bomb: shrink it "
                 "or delete it.",
    "wrong extension": "the content is another format than the extension says (e.g. a PNG named .jpg); "
                       "it loads here, but other tools may refuse it: rename it.",
    "huge": "very large (checked from the header, not decoded): slow to load on every epoch; "
            "shrink it to a few megapixels.",
    "tiny": "a thumbnail or icon: enlarged to the training size it is a blur; delete it unless it is "
            "a real photo.",
    "unusual mode": "not plain RGB (CMYK, 16-bit, palette, transparent or grayscale): converted to RGB "
                    "when read (transparency flattened on white); look at a few to check they look right.",
    "exif rotation": "the camera stored it sideways with an EXIF tag; it is rotated upright when read, "
                     "but tools that ignore the tag will show it sideways.",
    "exact duplicate": "byte-identical copies: the split keeps copies together; delete the extras.",
    "near duplicate": "the same picture resized, re-encoded or retouched, or a close variant (same framing, "
                      "another colour): the split keeps them together, so they cannot leak from train into "
                      "valid/test; consider keeping one.",
    "conflicting labels": "the same or a near-identical picture under different labels: at most one label "
                          "is right; fix or remove the wrong one.",
}
GROUPED = ("exact duplicate", "near duplicate", "conflicting labels")
UNREADABLE = ("cannot open", "zero-byte", "not an image", "truncated", "corrupt", "too large")


def dhash(im: Image.Image, hash_size: int = 8) -> int:
    """Perceptual difference hash: one bit per pair of neighbouring pixels of a small grayscale copy.

    Bit = 1 where the right pixel is brighter. Similar pictures get hashes a few bits apart (see `hamming`).
    Give it an RGB or L image (e.g. from `open_rgb`).
    """
    small = im.convert("L").resize((hash_size + 1, hash_size), Image.Resampling.LANCZOS)
    px = np.asarray(small, dtype=np.int16)
    value = 0
    for bit in (px[:, 1:] > px[:, :-1]).flat:
        value = value << 1 | int(bit)
    return value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


@dataclass(repr=False)
class AuditResult:
    """What `audit` found: one row per file in `rows` (findings as '; '-joined names of FINDINGS)."""

    data: Path
    rows: pd.DataFrame
    ignored: pd.DataFrame  # files in class folders without an image extension: path, label, format
    near_dup_distance: int

    @property
    def counts(self) -> pd.Series:
        """Image files per class."""
        return self.rows.groupby("label").size().rename("images")

    @property
    def usable_counts(self) -> pd.Series:
        """Decodable images per class (0 for a class with none)."""
        usable = self.rows[self.rows["readable"]].groupby("label").size()
        return usable.reindex(self.counts.index, fill_value=0).rename("usable")

    @property
    def imbalance(self) -> float:
        """Usable images of the largest class divided by those of the smallest (inf when one has none)."""
        usable = self.usable_counts
        return float(usable.max() / usable.min()) if usable.min() else float("inf")

    def flagged(self, finding: str) -> pd.DataFrame:
        """The rows with one finding (a key of FINDINGS)."""
        if finding not in FINDINGS:
            raise ValueError(f"unknown finding {finding!r}; one of: {', '.join(FINDINGS)}")
        return self.rows[self.rows["findings"].str.split("; ").apply(lambda f: finding in f)]

    @property
    def duplicate_groups(self) -> pd.DataFrame:
        """Rows of every group of exact or near duplicates, sorted by group then path."""
        sizes = self.rows.groupby("group")["path"].transform("size")
        return self.rows[sizes > 1].sort_values(["group", "path"])

    @property
    def conflicts(self) -> pd.DataFrame:
        """Rows of the duplicate groups whose labels disagree."""
        return self.flagged("conflicting labels").sort_values(["group", "path"])

    def summary(self, examples: int = 3) -> str:
        """A human summary: images per class, imbalance, and each finding with examples and what to do."""
        counts, usable = self.counts, self.usable_counts
        lines = [f"Audit of {self.data}: {len(self.rows)} image files in {len(counts)} classes, "
                 f"{int(usable.sum())} usable."]
        width = max(len(str(label)) for label in counts.index)
        lines += [f"  {label:<{width}}  {n:>6}" + (f"  ({usable[label]} usable)" if usable[label] != n else "")
                  for label, n in counts.items()]
        if not usable.min():
            lines.append(f"No usable images in: {', '.join(usable.index[usable == 0])}.")
        elif len(counts) > 1 and usable.max() == usable.min():
            lines.append(f"Balanced: every class has {usable.max()} usable images.")
        elif len(counts) > 1:
            lines.append(f"Imbalance: the largest class has {self.imbalance:.1f}x the usable images of the "
                         f"smallest ({usable.idxmax()} {usable.max()} vs {usable.idxmin()} {usable.min()}).")
        found = [(name, self.flagged(name)) for name in FINDINGS]
        found = [(name, rows) for name, rows in found if len(rows)]
        lines.append("Findings:" if found else "No findings: every file decodes, nothing unusual, no duplicates.")
        for name, rows in found:
            groups = f" in {rows['group'].nunique()} group(s)" if name in GROUPED else ""
            within = f" (dhash within {self.near_dup_distance} bits)" if name == "near duplicate" else ""
            lines.append(f"  {name}{within}: {len(rows)} file(s){groups}"
                         + ", e.g. " + ", ".join(self._examples(name, rows, examples)))
            lines.append(f"      {FINDINGS[name]}")
        if len(self.ignored):
            shown = ", ".join(self._rel(p) + (f" [{f}]" if f else "")
                              for p, f in zip(self.ignored["path"][:examples], self.ignored["format"]))
            lines.append(f"  ignored: {len(self.ignored)} file(s) in class folders without an image extension, "
                         f"e.g. {shown}")
            lines.append("      training skips them; rename the real images among them (format in brackets) "
                         f"to one of {', '.join(sorted(IMAGE_EXTS))}.")
        if found and any(name in UNREADABLE for name, _ in found):
            lines.append("Unreadable files are left out of the split (jewel split).")
        return "\n".join(lines)

    def to_csv(self, path: str | Path) -> Path:
        """Write `rows` as CSV (outside DATA: refused inside it); returns the path."""
        out = check_outside_data(path, self.data, self.rows["path"])
        out.parent.mkdir(parents=True, exist_ok=True)
        self.rows.to_csv(out, index=False)
        return out

    def __repr__(self) -> str:
        flagged = (self.rows["findings"] != "").sum()
        return f"AuditResult({self.data}: {len(self.rows)} files, {flagged} with findings)"

    def _rel(self, path: str) -> str:
        root = self.data if self.data.is_dir() else self.data.parent
        return os.path.relpath(path, root)

    def _examples(self, name: str, rows: pd.DataFrame, n: int) -> list[str]:
        if name in GROUPED:
            members = self.rows[self.rows["group"].isin(rows["group"])]
            return [" ~ ".join(self._rel(r.path) + (f" ({r.label})" if name == "conflicting labels" else "")
                               for r in group.head(n).itertuples())
                    + (f" ~ ({len(group) - n} more)" if len(group) > n else "")
                    for _, group in list(members.groupby("group"))[:n]]
        return [self._rel(r.path) + (f" [{d}]" if (d := _detail(name, r)) else "") for r in rows.head(n).itertuples()]


def _detail(name: str, row) -> str:
    """What to show next to an example path of a finding."""
    if name in ("tiny", "huge", "too large") and pd.notna(row.width):
        return f"{row.width}x{row.height}"
    if name == "wrong extension":
        return f"{row.format} content"
    if name == "unusual mode":
        return row.mode
    if name == "exif rotation":
        return f"orientation {row.exif_orientation}"
    return "" if name == "not an image" else row.error


def audit(data: str | Path, near_dup_distance: int = 4, progress: bool = True, tiny_side: int = TINY_SIDE,
          huge_pixels: int = HUGE_PIXELS) -> AuditResult:
    """Audit an ImageFolder or a CSV of file,label without writing anything under it.

    Every listed file is read, hashed (md5) and decoded in memory; images over `huge_pixels` are only
    measured from their header. Pictures whose `dhash` differ by at most `near_dup_distance` of 64 bits,
    and whose 16x16 dhash differ by at most the same fraction of its 256 bits, are near duplicates (the 8x8
    hash alone matches different products framed alike, e.g. catalogue renders on white). Raises JewelError
    when DATA is missing or holds no images.
    """
    if not 0 <= near_dup_distance <= 64:
        raise JewelError(f"near_dup_distance must be between 0 and 64 bits, not {near_dup_distance}")
    data = Path(data).expanduser()
    items = read_items(data)
    records, hashes = [], []
    for path in progress_steps(items["path"].tolist(), "audit", "files", enabled=progress):
        record, file_hashes = _inspect(Path(path), tiny_side, huge_pixels)
        records.append(record)
        hashes.append(file_hashes)
    rows = pd.concat([items, pd.DataFrame(records)], axis=1)
    for col in ("width", "height", "exif_orientation"):
        rows[col] = rows[col].astype("Int64")
    _add_duplicates(rows, hashes, near_dup_distance)
    rows["findings"] = rows["findings"].map("; ".join)
    ignored = _ignored_files(data) if data.is_dir() else pd.DataFrame(columns=["path", "label", "format"])
    return AuditResult(data=data, rows=rows, ignored=ignored, near_dup_distance=near_dup_distance)


def _inspect(path: Path, tiny_side: int, huge_pixels: int) -> tuple[dict, tuple[int, int] | None]:
    """One file's record, and its 8x8 and 16x16 dhash when decoded. Reads the file once; never writes."""
    record = {"bytes": 0, "md5": "", "readable": False, "error": "", "format": "", "mode": "", "width": None,
              "height": None, "exif_orientation": None, "dhash": "", "findings": []}
    found = record["findings"]
    try:
        raw = path.read_bytes()
    except OSError as e:
        record["error"] = f"{type(e).__name__}: {e.strerror or e}"
        found.append("cannot open")
        return record, None
    record.update(bytes=len(raw), md5=hashlib.md5(raw).hexdigest())
    if not raw:
        found.append("zero-byte")
        return record, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(raw))
        except Image.DecompressionBombError as e:
            record["error"] = str(e).split(",")[0]  # "Image size (N pixels) exceeds limit of M pixels"
            found += ["too large", "huge"]
            return record, None
        except Exception as e:  # PIL raises many types on hostile input; the audit must go on
            record["error"] = f"{type(e).__name__}: {e}"
            found.append("not an image")
            return record, None
    width, height = im.size
    record.update(format=im.format or "", mode=im.mode, width=width, height=height)
    if im.format not in EXT_FORMATS.get(path.suffix.lower(), {im.format}):
        found.append("wrong extension")
    if width * height > MAX_PIXELS:
        found += ["too large", "huge"]
        return record, None
    if width * height > huge_pixels:
        found.append("huge")
    if min(width, height) < tiny_side:
        found.append("tiny")
    if im.mode != "RGB":
        found.append("unusual mode")
    if "huge" in found:
        record["readable"] = True  # measured from the header only: decoding it would be slow
        return record, None
    try:  # decode before anything else reads pixels: PIL stays silent on a second load() after a failed one
        im.draft(None, (HASH_DECODE_SIDE, HASH_DECODE_SIDE))
        im.load()
        rgb = open_rgb(im)
        hashes = dhash(rgb), dhash(rgb, FINE_HASH_SIZE)
    except Exception as e:  # PIL raises many types on broken pixel data; the audit must go on
        record["error"] = f"{type(e).__name__}: {e}"
        found.append("truncated" if "truncated" in str(e) else "corrupt")
        return record, None
    orientation = im.getexif().get(EXIF_ORIENTATION)
    if orientation not in (None, 1):
        record["exif_orientation"] = int(orientation)
        found.append("exif rotation")
    record.update(readable=True, dhash=f"{hashes[0]:016x}")
    return record, hashes


def _add_duplicates(rows: pd.DataFrame, hashes: list[tuple[int, int] | None], max_distance: int) -> None:
    """Set `exact_group`, `group` (every file; duplicates share one) and the duplicate findings, in place."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        parent[max(a, b)] = min(a, b)

    readable = rows["readable"].to_numpy()
    first_with_md5: dict[str, int] = {}
    for i in np.flatnonzero(readable).tolist():
        union(first_with_md5.setdefault(rows.at[i, "md5"], i), i)
    hashed = [i for i, h in enumerate(hashes) if h is not None]
    coarse = np.array([hashes[i][0] for i in hashed], dtype=np.uint64)
    fine_distance = max_distance * FINE_HASH_SIZE ** 2 // 64
    for a, b in _near_pairs(coarse, max_distance):
        i, j = hashed[a], hashed[b]
        if hamming(hashes[i][1], hashes[j][1]) <= fine_distance:
            union(i, j)
    roots = [find(i) for i in range(len(rows))]
    rows["group"] = pd.Series(roots).map({r: k for k, r in enumerate(dict.fromkeys(roots))}).to_numpy()
    exact = rows["md5"].where(readable).duplicated(keep=False) & readable
    rows["exact_group"] = rows["group"].where(exact).astype("Int64")
    by_group = rows.groupby("group")
    sizes = by_group["path"].transform("size")
    distinct = by_group["md5"].transform("nunique")
    labels = by_group["label"].transform("nunique")
    for i in rows.index:
        if exact.iloc[i]:
            rows.at[i, "findings"].append("exact duplicate")
        if sizes.iloc[i] > 1 and distinct.iloc[i] > 1:
            rows.at[i, "findings"].append("near duplicate")
        if labels.iloc[i] > 1:
            rows.at[i, "findings"].append("conflicting labels")


def _near_pairs(hashes: np.ndarray, max_distance: int, block: int = 1024) -> Iterator[tuple[int, int]]:
    """Index pairs (i < j) of 64-bit hashes at most `max_distance` bits apart; vectorised, in row blocks."""
    for start in range(0, len(hashes), block):
        distance = np.bitwise_count(hashes[start:start + block, None] ^ hashes[None, :])
        i, j = np.nonzero(distance <= max_distance)
        keep = j > i + start
        yield from zip((i[keep] + start).tolist(), j[keep].tolist())


def _ignored_files(root: Path) -> pd.DataFrame:
    """Files inside class folders that `read_items` skips for their extension, with the format PIL sees."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if Path(dirpath) == root:
            continue
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() in IMAGE_EXTS:
                continue
            path = Path(dirpath) / name
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    with Image.open(path) as im:
                        fmt = im.format or ""
            except Exception:  # not an image (or unreadable): listed without a format
                fmt = ""
            rows.append((str(path.resolve()), path.relative_to(root).parts[0], fmt))
    return pd.DataFrame(rows, columns=["path", "label", "format"])
