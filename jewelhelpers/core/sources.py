"""Training on several sources (a shop's catalogue plus other photos): one manifest, each source weighed equally.

The first DATA is the shop's own: split train / valid / test as `jewel train DATA` always did. Every further
source is training rows only (its images are never in valid or test; with `valid_from="all"` each also gives its
valid share, so the best epoch is chosen on every source's photos), keeps only the first DATA's classes, and is
named by its folder (or CSV) name in the manifest's `source` column. Per-source balancing repeats each source's
training rows up to the largest source's count (whole copies, then a seeded share for the remainder), so each
source gives as many rows to the probe and to every epoch; the recipes' class balancing applies on top of that.
`--balance cells` shares as many rows evenly among the (source, class) cells instead.

Not taught in a notebook (notebook 02's `train` uses it with one source); several sources: README.md,
"Several sources".
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import JewelError
from .images import read_items
from .manifest import make_split
from .metrics import match_classes
from .settings import BALANCE, VALID_FROM

SOURCE = "source"  # the manifest's column naming each row's source


def source_name(data: str | Path) -> str:
    """A source's name: its folder name, or its CSV's name without `.csv`."""
    data = Path(data).expanduser()
    return data.stem if data.suffix.lower() == ".csv" else data.name


def source_names(datas: Sequence[str | Path]) -> list[str]:
    """The names of `datas`, refused (JewelError) when two sources share one."""
    names = [source_name(d) for d in datas]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise JewelError(f"two sources are named {', '.join(twice)}: give each DATA a folder or CSV of its own name")
    return names


def known_classes(items: pd.DataFrame, classes: Sequence[str], name: str) -> None:
    """JewelError when source `name`'s items (path, label) hold none of `classes`."""
    if not set(items["label"]) & set(classes):
        raise JewelError(f"source {name}: none of its classes ({', '.join(sorted(set(items['label'])))}) is one "
                         f"of the first DATA's ({', '.join(classes)}): train on it with DATA of its classes, "
                         "or leave it out")


def check_sources(datas: Sequence[str | Path], classes: Sequence[str] | None = None) -> None:
    """Before anything is written: distinct names, and each further source holds a class of the first (or `classes`)."""
    names = source_names(datas)
    items = [read_items(d) for d in datas]
    classes = sorted(classes or set(items[0]["label"]))
    for name, rows in zip(names[1:], items[1:]):
        known_classes(rows, classes, name)


def sources_split(datas: Sequence[str | Path], valid: float, test: float, seed: int = 0,
                  max_per_class: int | None = None, classes: Sequence[str] | None = None,
                  valid_from: str = "first") -> pd.DataFrame:
    """The split manifest of several sources (path, label, split, group, source).

    `datas[0]` is split as `make_split` does; the others are training rows only (with `valid_from="all"`, training
    and valid rows; a source too small for a valid share of each class stays training rows, said), limited to
    `classes` (default the first DATA's). A source with none of them is refused (JewelError); rows of other classes
    are left out, said.
    """
    if valid_from not in VALID_FROM:
        raise JewelError(f"unknown valid source {valid_from!r}: choose one of {', '.join(VALID_FROM)}")
    names = source_names(datas)
    parts = []
    for i, (data, name) in enumerate(zip(datas, names)):
        part = _split_source(data, name, valid if i == 0 or valid_from == "all" else 0, test if i == 0 else 0,
                             seed, max_per_class)
        if classes is None:
            classes = sorted(part["label"].unique())
        if i or set(part["label"]) - set(classes):
            known_classes(part, classes, name)
            part = match_classes(part, list(classes))[0]
        offset = 1 + max((int(p["group"].max()) for p in parts), default=-1)
        parts.append(part.assign(group=part["group"] + offset, **{SOURCE: name}))
    return pd.concat(parts, ignore_index=True)


def _split_source(data: str | Path, name: str, valid: float, test: float, seed: int,
                  max_per_class: int | None) -> pd.DataFrame:
    """`make_split` of one source; a further source (test 0) too small for its valid share trains only, said."""
    try:
        return make_split(data, valid=valid, test=test, seed=seed, max_per_class=max_per_class)
    except JewelError:
        if test or not valid:
            raise
        print(f"source {name}: too few images per class for a valid share, so all of it trains", flush=True)
        return make_split(data, valid=0, test=0, seed=seed, max_per_class=max_per_class)


def balance_sources(rows: pd.DataFrame, seed: int = 0, by: str = "sources") -> np.ndarray:
    """Positions into `rows` that weigh each source's rows (`by="sources"`), or each (source, label) cell's
    (`"cells"`), alike.

    "sources": each source's rows are repeated up to the largest source's count. "cells": the same number of
    positions is shared evenly among the cells, and each cell's rows are repeated up to its share (a cell larger
    than its share keeps its rows once: nothing is dropped), so a class is not learnt mostly from the one source that
    has most of it, at the sources' cost. Repeating means whole copies and a seeded sample of the remainder; with one
    source (or no `source` column) the positions are `0..n-1` unchanged.
    """
    if by not in BALANCE:
        raise JewelError(f"balance by one of {', '.join(BALANCE)}, not {by!r}")
    if SOURCE not in rows or rows[SOURCE].nunique() < 2:
        return np.arange(len(rows))
    rng = np.random.default_rng(seed)
    rows = rows.reset_index(drop=True)
    sources = rows.groupby(SOURCE).indices
    target = max(len(pos) for pos in sources.values())
    groups = sources
    if by == "cells":
        groups = rows.groupby([SOURCE, "label"]).indices
        target = -(-target * len(sources) // len(groups))
    picked = []
    for name in sorted(groups):
        pos = groups[name]
        reps, extra = divmod(max(target, len(pos)), len(pos))
        picked += [np.tile(pos, reps), rng.choice(pos, extra, replace=False)]
    return np.sort(np.concatenate(picked))
