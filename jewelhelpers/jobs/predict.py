"""`jewel predict`: classify image files and folders with a trained run, one row per file, in CSV or JSON.

Files are only read, never written; an unreadable file gets a row with its `error`, never a traceback. The
model is `core.predictor.Predictor` (no pickle executed), with the torch or an ONNX engine.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import JewelError
from ..core.images import collect_files
from ..core.predictor import COLUMNS, Predictor
from ..core.progress import progress as progress_steps


def predict_files(run_dir: str | Path, paths: Sequence[str | Path], top_k: int = 3,
                  min_confidence: float | None = None, batch_size: int = 32, engine: str = "torch",
                  unknown: bool = True) -> pd.DataFrame:
    """Predict every file under `paths`, `batch_size` at a time: one row per file, unreadable ones with an `error`.

    With `unknown`, each row has an `unknown_score` and photos above the run's threshold get the label `unknown`.
    Files are only read, never written. Progress goes to stderr when there is more than one batch.
    """
    if batch_size < 1:
        raise JewelError("--batch-size must be at least 1")
    files = collect_files(paths)
    predictor = Predictor.from_run(run_dir, engine, unknown=unknown)
    parts = []
    starts = range(0, len(files), batch_size)
    for start in progress_steps(starts, "predict", "batches", enabled=len(starts) > 1):
        parts.append(predictor.predict_batch(files[start:start + batch_size], top_k, min_confidence, batch_size))
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS[1:])
    df.insert(0, "path", [str(f) for f in files])
    return df


def write_predictions(df: pd.DataFrame, fmt: str = "csv", out: str | Path | None = None) -> None:
    """Write predictions as CSV (top_k as `ring:0.9100;earring:0.0500`) or JSON (top_k as a list); stdout if no `out`."""
    if fmt == "csv":
        table = df.assign(top_k=[";".join(f"{c}:{p:.4f}" for c, p in t) if isinstance(t, list) else ""
                                 for t in df["top_k"]])
        text = table.to_csv(index=False)
    elif fmt == "json":
        records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                   for r in df.to_dict(orient="records")]
        for r in records:
            r["top_k"] = [{"label": c, "probability": p} for c, p in r["top_k"]] if r["top_k"] else []
        text = json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    else:
        raise JewelError(f"unknown format {fmt!r}: choose csv or json")
    if out is None:
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
