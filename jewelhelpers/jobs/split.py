"""`jewel split`: a stratified train/valid/test manifest of DATA that keeps duplicate groups together.

No file is copied or moved: the manifest lists paths. The split itself lives in `core.manifest`, which
`jewel train` uses too.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.images import check_outside_data
from ..core.manifest import make_split, write_manifest
from ..core.output import check_table_out
from ..core.settings import TEST, VALID


def run(data: str | Path, out: str | Path, valid: float = VALID, test: float = TEST, seed: int = 0) -> pd.DataFrame:
    """Split DATA, write the manifest to `out` (refused inside DATA), and print images per split and class."""
    check_outside_data(check_table_out(out), data)  # before the audit's minutes, not after
    df = make_split(data, valid=valid, test=test, seed=seed)
    write_manifest(df, out, data)
    print(df.groupby(["split", "label"]).size().unstack(fill_value=0).to_string())
    print(f"manifest: {out}")
    return df
