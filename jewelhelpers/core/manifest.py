"""The split manifest: a stratified train/valid/test split that keeps duplicates inside one split, as a CSV.

`jewel split` writes one; `jewel train` writes one into RUN_DIR (`split.csv`); every later step reads it back.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pandas as pd

from .errors import JewelError
from .findings import AuditResult, audit
from .images import check_outside_data
from .settings import TEST, VALID

SPLITS = ("train", "valid", "test")
MANIFEST = "split.csv"  # its name inside a RUN_DIR

log = logging.getLogger(__name__)


def make_split(data: str | Path, valid: float = VALID, test: float = TEST, seed: int = 0,
               audit_result: AuditResult | None = None, max_per_class: int | None = None,
               progress: bool = True) -> pd.DataFrame:
    """The split manifest of DATA: columns path (absolute), label, split, group; sorted by path.

    Whole duplicate groups (from the audit, run when not given) go to one split, so no picture leaks from
    train into valid/test. Each class gets about `valid`/`test` of its images, and at least one in every
    split with a non-zero fraction. Undecodable files are left out. The same data and seed give the same
    split; `max_per_class` keeps a seeded subset of each class's groups.
    """
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise JewelError(f"valid={valid} and test={test} must be fractions >= 0 that leave some images for "
                         "training (valid + test < 1)")
    if max_per_class is not None and max_per_class < 1:
        raise JewelError(f"max_per_class must be at least 1, not {max_per_class}")
    data = Path(data).expanduser()
    if audit_result is None:
        audit_result = audit(data, progress=progress)
    elif audit_result.data.resolve() != data.resolve():
        raise JewelError(f"the audit given is of {audit_result.data}, not of {data}: audit {data} first")
    rows = audit_result.rows
    unreadable = rows[~rows["readable"]]
    if len(unreadable):
        log.warning("split: left out %d file(s) that cannot be read or decoded, e.g. %s (see: jewel audit %s)",
                    len(unreadable), ", ".join(unreadable["path"].head(3)), data)
    conflicts = rows.loc[rows["findings"].str.contains("conflicting labels", regex=False), "group"].nunique()
    if conflicts:
        log.warning("split: %d duplicate group(s) hold different labels; each stays in one split under its "
                    "most common label's quota: fix the labels (see: jewel audit %s)", conflicts, data)
    usable = rows.loc[rows["readable"], ["path", "label", "group"]]
    groups = _groups(usable, data if data.is_dir() else data.parent, seed)
    if max_per_class:
        groups = pd.concat([_first_fit(g, max_per_class) for _, g in groups.groupby("label")])
    _check_enough(groups, sorted(rows["label"].unique()), valid, test, max_per_class)
    split_of: dict[int, str] = {}
    for _, class_groups in groups.groupby("label"):
        split_of.update(_assign(class_groups, valid, test))
    manifest = usable[usable["group"].isin(split_of)].assign(split=lambda d: d["group"].map(split_of))
    return (manifest[["path", "label", "split", "group"]]
            .sort_values(["path", "label"], kind="stable").reset_index(drop=True))


def write_manifest(df: pd.DataFrame, out: str | Path, data: str | Path) -> Path:
    """Write a split manifest as CSV, creating parent folders; refused (JewelError) inside DATA."""
    out = check_outside_data(out, data, df["path"])
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return out


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


def manifest_split(run_dir: str | Path, meta: dict, split: str) -> pd.DataFrame:
    """The rows of a run's manifest in `split` (train / valid / test), with absolute paths."""
    df = read_manifest(Path(run_dir) / meta.get("manifest", MANIFEST))
    root = Path(meta.get("data", "."))
    root = root.parent if root.suffix.lower() == ".csv" else root
    df["path"] = [p if Path(p).is_absolute() else str(root / p) for p in df["path"]]
    return df[df["split"] == split].reset_index(drop=True)


def _groups(usable: pd.DataFrame, root: Path, seed: int) -> pd.DataFrame:
    """One row per duplicate group: group, label (its most common), size, and a seeded shuffle order.

    The order comes from a hash of the seed and the group's first path relative to DATA, so adding images
    moves few others, and moving DATA changes nothing.
    """
    per_label = usable.groupby(["group", "label"]).size().rename("n").reset_index()
    top = per_label.sort_values(["group", "n", "label"], ascending=[True, False, True]).drop_duplicates("group")
    first = usable.groupby("group")["path"].min()
    groups = top.set_index("group").assign(
        size=usable.groupby("group").size(),
        key=first.map(lambda p: hashlib.md5(f"{seed}:{os.path.relpath(p, root)}".encode()).hexdigest()))
    return groups.reset_index()[["group", "label", "size", "key"]].sort_values(["label", "key"])


def _first_fit(groups: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The groups, in order, that fit within `limit` images."""
    keep, total = [], 0
    for size in groups["size"]:
        keep.append(total + size <= limit)
        total += size * keep[-1]
    return groups[keep]


def _check_enough(groups: pd.DataFrame, labels: list[str], valid: float, test: float,
                  max_per_class: int | None) -> None:
    """JewelError naming each class with fewer distinct images (groups) than splits to fill."""
    needed = 1 + (valid > 0) + (test > 0)
    have = groups.groupby("label").agg(groups=("group", "size"), images=("size", "sum"))
    have = have.reindex(labels, fill_value=0)
    short = have[have["groups"] < needed]
    if len(short):
        limited = f" (with max_per_class={max_per_class})" if max_per_class else ""
        names = "/".join(s for s, f in zip(SPLITS, (1, valid, test)) if f)
        classes = "; ".join(f"'{label}' has {r.images} usable image(s){limited}, {r.groups} distinct once "
                            "duplicates are merged" for label, r in short.iterrows())
        raise JewelError(f"too few images to split: {classes}. A {names} split needs at least {needed} distinct "
                         "images per class, one per split: add images, or set valid/test to 0.")


def _assign(groups: pd.DataFrame, valid: float, test: float) -> dict[int, str]:
    """Split of each group of one class, in their shuffle order; every split with a fraction gets one."""
    fractions = {"train": 1.0, "valid": valid, "test": test}
    total = int(groups["size"].sum())
    target = {s: max(1, round(fractions[s] * total)) if fractions[s] else 0 for s in ("valid", "test")}
    members: dict[str, list[tuple[int, int]]] = {s: [] for s in SPLITS}
    count = dict.fromkeys(SPLITS, 0)
    for group, size in zip(groups["group"], groups["size"]):
        split = next((s for s in ("test", "valid") if count[s] + size <= target[s]), "train")
        members[split].append((size, group))
        count[split] += size
    # A group too big for a small target can leave a split empty: give it the smallest group of the fullest.
    for split in SPLITS:
        if fractions[split] and not members[split]:
            donor = max(SPLITS, key=lambda s: len(members[s]))
            smallest = min(members[donor])
            members[donor].remove(smallest)
            members[split].append(smallest)
    return {group: split for split, pairs in members.items() for _, group in pairs}
