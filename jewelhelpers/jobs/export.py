"""`jewel export`: the run's model as ONNX (dynamic batch axis), or int8 for fast CPU inference.

The export itself lives in `core.onnx`, which the predictor also uses to export on first use.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

from pathlib import Path

from ..core.onnx import export_onnx


def run(run_dir: str | Path, fmt: str = "onnx", out: str | Path | None = None) -> Path:
    """Export RUN_DIR's model in `fmt` (onnx | onnx-int8) to `out` (default inside RUN_DIR); say where."""
    path = export_onnx(run_dir, out=out, quantize=fmt == "onnx-int8")
    print(f"exported {path}")
    return path
