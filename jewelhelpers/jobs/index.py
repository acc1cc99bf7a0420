"""`jewel index`: embed photos with a run's body into an INDEX_DIR that `jewel similar` searches.

The format and the search live in `core.index`; this verb loads the run, embeds the new files (a bar, and one
row per unreadable file, never fatal) and says what it did. Photos are only read.

Taught in: 05_beyond_labels.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..core.index import build_index
from ..core.runs import load_model


def run(run_dir: str | Path, paths: Sequence[str | Path], out: str | Path, batch_size: int = 32,
        progress: bool = True) -> pd.DataFrame:
    """Add the photos under `paths` to INDEX_DIR `out` (new files only); print the unreadable ones and a summary."""
    model, meta = load_model(run_dir, "cpu")
    index, status = build_index(model, meta, run_dir, paths, out, batch_size, progress)
    for row in status[status["status"] == "error"].itertuples():
        print(f"skipped {row.path}: {row.error}")
    counts = status["status"].value_counts()
    print(f"{counts.get('added', 0)} photos added, {counts.get('already indexed', 0)} already indexed, "
          f"{counts.get('error', 0)} unreadable; {out} holds {index.info['n']} photos")
    return status
