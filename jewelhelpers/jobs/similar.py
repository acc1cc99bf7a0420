"""`jewel similar`: the indexed photos most like each query photo, as CSV or JSON rows, and a gallery.

Rows are `query, rank, path, score, label` (score = cosine similarity of the run's embeddings, 1 = the same
picture; label = the run's best class for the indexed photo); an unreadable query gets one row with its `error`.

Taught in: 05_beyond_labels.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..core.figures import plot_similar
from ..core.images import check_outside_inputs
from ..core.index import PhotoIndex, similar_table
from ..core.output import check_table_out, write_table
from ..core.runs import load_model


def run(index_dir: str | Path, photos: Sequence[str | Path], top_k: int = 5, fmt: str = "csv",
        out: str | Path | None = None, gallery: str | Path | None = None) -> pd.DataFrame:
    """Search INDEX_DIR for each photo's `top_k` nearest; write the rows (stdout without `out`) and the gallery."""
    for path in (out, gallery):
        if path is not None:
            check_outside_inputs(check_table_out(path), photos)
    index = PhotoIndex.load(index_dir)
    model, meta = load_model(index.info["run_dir"], "cpu")
    table = similar_table(index, model, meta, photos, top_k)
    write_table(table, fmt, out)
    if gallery is not None:
        plot_similar(table).savefig(gallery, dpi=100)
    return table
