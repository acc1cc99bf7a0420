"""`jewel predict`: classify image files and folders with a trained run, one row per file, in CSV or JSON.

Files are only read, never written; an unreadable file gets a row with its `error`, never a traceback. The
model is `core.predictor.Predictor` (no pickle executed), with the torch or an ONNX engine. `BatchPredictor` is
the unit of work, a batch of paths in and its rows out: this process runs it batch after batch, and
`predict_on_ray` runs one per Ray worker (`core.scale`), into resumable Parquet shards and one summary file.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import JewelError
from ..core.images import check_outside_inputs, collect_files
from ..core.onnx import onnx_file
from ..core.output import write_table
from ..core.predictor import Predictor
from ..core.runs import read_meta
from ..core.scale import SHA, import_ray, run_batches
from ..core.settings import CPUS_PER_WORKER, SHARD_ROWS
from ..core.unknown import run_unknown


class BatchPredictor:
    """A run loaded once, turning a batch of file paths into one row each (`path` first, an `error` when unreadable)."""

    def __init__(self, run_dir: str | Path, engine: str = "torch", top_k: int = 3,
                 min_confidence: float | None = None, batch_size: int = 32, unknown: bool = True,
                 threads: int | None = None):
        self.predictor = Predictor.from_run(run_dir, engine, unknown, threads)
        self.top_k, self.min_confidence, self.batch_size = top_k, min_confidence, batch_size

    def __call__(self, paths: Sequence[str | Path], progress: bool = False) -> pd.DataFrame:
        rows = self.predictor.predict_batch(list(paths), self.top_k, self.min_confidence, self.batch_size, progress)
        rows.insert(0, "path", [str(p) for p in paths])
        return rows


class ShardPredictor(BatchPredictor):
    """`BatchPredictor` with `top_k` as a list of {label, probability} records, the form Parquet stores."""

    def __call__(self, paths: Sequence[str | Path]) -> pd.DataFrame:
        rows = super().__call__(paths)
        rows["top_k"] = [[{"label": c, "probability": p} for c, p in t] if isinstance(t, list) else None
                         for t in rows["top_k"]]
        return rows


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
    return BatchPredictor(run_dir, engine, top_k, min_confidence, batch_size, unknown)(files, progress=True)


def predict_on_ray(run_dir: str | Path, paths: Sequence[str | Path], out: str | Path, fmt: str = "csv",
                   top_k: int = 3, min_confidence: float | None = None, batch_size: int = 32,
                   engine: str = "onnx", address: str | None = None, workers: int | None = None,
                   unknown: bool = True, shard_rows: int = SHARD_ROWS) -> pd.DataFrame:
    """`predict_files` on Ray Data workers: Parquet shards in OUT/shards, OUT/predictions.<fmt>, the same rows.

    A re-run over the same OUT predicts only the files not done yet (by path and content). Paths are absolute.
    """
    if batch_size < 1:
        raise JewelError("--batch-size must be at least 1")
    import_ray()  # without the extra, say how to install it before anything is read or written
    files = collect_files(paths)
    check_outside_inputs(out, paths)
    if engine != "torch":
        onnx_file(run_dir, quantize=engine == "onnx-int8")  # exported once here, not by every worker at once
    if unknown:
        run_unknown(run_dir, read_meta(run_dir))  # an older run's threshold fitted once here, not by every worker
    kwargs = dict(run_dir=Path(run_dir).absolute(), engine=engine, top_k=top_k, min_confidence=min_confidence,
                  batch_size=batch_size, unknown=unknown, threads=CPUS_PER_WORKER)
    table = run_batches(ShardPredictor, kwargs, files, out, address=address, workers=workers,
                        batch_size=batch_size, shard_rows=shard_rows)
    df = table.drop(columns=SHA).assign(top_k=[[(r["label"], r["probability"]) for r in t] if t is not None
                                               else np.nan for t in table["top_k"]])
    write_predictions(df, fmt, Path(out) / f"predictions.{fmt}")
    return df


def write_predictions(df: pd.DataFrame, fmt: str = "csv", out: str | Path | None = None) -> None:
    """Write predictions as CSV (top_k as `ring:0.9100;earring:0.0500`) or JSON (top_k as a list); stdout if no `out`."""
    if fmt == "json":
        records = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                   for r in df.to_dict(orient="records")]
        for r in records:
            r["top_k"] = [{"label": c, "probability": p} for c, p in r["top_k"]] if r["top_k"] else []
        write_table(df, fmt, out, records)
    else:
        write_table(df.assign(top_k=[";".join(f"{c}:{p:.4f}" for c, p in t) if isinstance(t, list) else ""
                                     for t in df["top_k"]]), fmt, out)
