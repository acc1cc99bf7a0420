"""`jewel review`: which labels of DATA look wrong, judged by a run's features, and near duplicates that disagree.

Read-only on DATA, like `audit`: the photos are read (embedded by the run's body, hashed by the audit) and
nothing is written under DATA. The ranking is `core.review`: out-of-fold probe probabilities, then cleanlab.

Taught in: 05_beyond_labels.ipynb.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..core.errors import JewelError
from ..core.findings import audit
from ..core.forward import run_logits
from ..core.images import check_outside_data, read_items
from ..core.interpret import plot_suspects
from ..core.metrics import match_classes
from ..core.output import check_table_out
from ..core.review import duplicate_conflicts, label_issues, out_of_fold
from ..core.runs import load_model
from ..core.settings import REVIEW_FOLDS


def review(data: str | Path, run_dir: str | Path, folds: int = REVIEW_FOLDS, progress: bool = True) -> pd.DataFrame:
    """Ranked suspicious rows of DATA: cleanlab's label issues first, then near duplicates with other labels."""
    model, meta = load_model(run_dir, "cpu")
    items, _ = match_classes(read_items(data), meta["classes"])
    if items.empty:
        raise JewelError(f"no image of {data} has a class the run knows ({', '.join(meta['classes'])})")
    res = run_logits(model, meta, items, progress=progress, features=True)
    for u in res.unreadable:
        print(f"skipped an unreadable file: {u['reason']}", file=sys.stderr)
    probs = out_of_fold(res.features.numpy(), res.items["label"], meta["classes"], folds)
    return pd.concat([label_issues(res.items, probs, meta["classes"]),
                      duplicate_conflicts(audit(data, progress=progress).conflicts)], ignore_index=True)


def run(data: str | Path, run_dir: str | Path, out: str | Path, gallery: str | Path | None = None,
        folds: int = REVIEW_FOLDS) -> pd.DataFrame:
    """Write the review as CSV to `out` (and the top suspects to `gallery`), both outside DATA; say how many."""
    for path in (out, gallery):
        if path is not None:
            check_outside_data(check_table_out(path), data)
    table = review(data, run_dir, folds)
    table.to_csv(out, index=False)
    if gallery is not None:
        plot_suspects(table[table["issue"] == "label issue"]).savefig(gallery, dpi=100)
    n_dup = int((table["issue"] != "label issue").sum())
    print(f"{len(table) - n_dup} suspicious labels, {n_dup} near duplicates with another label; written to {out}")
    return table
