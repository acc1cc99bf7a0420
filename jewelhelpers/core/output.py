"""Writing a verb's result table: CSV or JSON, to a file or to standard output.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from .errors import JewelError


def write_table(table: pd.DataFrame, fmt: str = "csv", out: str | Path | None = None,
                records: list[dict] | None = None) -> None:
    """Write `table` as CSV, or as JSON (`records` when given, else the table's rows); stdout without `out`."""
    if fmt == "csv":
        text = table.to_csv(index=False)
    elif fmt == "json":
        rows = records if records is not None else json.loads(table.to_json(orient="records"))
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    else:
        raise JewelError(f"unknown format {fmt!r}: choose csv or json")
    if out is None:
        sys.stdout.write(text)
    else:
        check_table_out(out).write_text(text, encoding="utf-8")


def check_table_out(out: str | Path) -> Path:
    """`out` as a Path; JewelError when it is a folder (a table is a file): call it before long work too."""
    out = Path(out).expanduser()
    if out.is_dir():
        raise JewelError(f"{out} is a folder: give a file name for the table, e.g. {out / 'results.csv'}")
    return out
