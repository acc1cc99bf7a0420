"""`jewel export`: the run's model as ONNX (dynamic batch axis), or int8 for fast CPU inference.

The export itself lives in `core.onnx`, which the predictor also uses to export on first use. After an int8
export, how often int8 gives float32's label is measured on the test split and on other shops' folders
(`core.onnx.int8_agreement`), printed and kept in meta.json: int8 is trusted only where it agrees on 99%.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

from pathlib import Path

from ..core.images import check_outside_data, read_items
from ..core.onnx import MIN_AGREEMENT, export_onnx, int8_agreement
from ..core.runs import read_meta
from ..core.settings import external_dirs


def run(run_dir: str | Path, fmt: str = "onnx", out: str | Path | None = None,
        external: list[str | Path] | None = None) -> Path:
    """Export RUN_DIR's model in `fmt` (onnx | onnx-int8) to `out` (default inside RUN_DIR); say where.

    For int8, its label agreement with float32 on the test split and every folder of `external` (default
    `$JEWEL_EXTERNAL_DATA`) is printed and recorded in meta.json.
    """
    meta = read_meta(run_dir)
    if out is not None:  # never into the data the run was trained on
        for data in {meta.get("data"), *meta.get("sources", {}).values()} - {None}:
            if Path(data).exists():
                check_outside_data(out, data)
    external = [Path(e) for e in external] if external is not None else external_dirs()
    for folder in external if fmt == "onnx-int8" else []:  # a wrong path is said before anything is written
        read_items(folder)
    path = export_onnx(run_dir, out=out, quantize=fmt == "onnx-int8")
    print(f"exported {path}")
    if fmt == "onnx-int8":
        agreement = int8_agreement(run_dir, external)
        for name, a in agreement.items():
            share = "n/a" if a["agreement"] is None else f"{a['agreement']:.1%}"
            print(f"int8 gives float32's label on {share} of {name} ({a['n']} images)"
                  + ("" if a["trusted"] else f": under {MIN_AGREEMENT:.0%}, use --engine onnx for such photos"))
    return path
