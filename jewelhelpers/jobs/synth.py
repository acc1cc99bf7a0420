"""`jewel synth`: write the procedurally drawn jewelry dataset (licence-clean, offline) as an ImageFolder.

The drawing lives in `core.drawing`; this verb writes a set and says where.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

from pathlib import Path

from ..core.drawing import make_synth


def run(out: str | Path, per_class: int = 100, size: int = 128, seed: int = 0) -> Path:
    """Draw `per_class` images of each class at `size` px into `out` (same seed, same bytes); say where."""
    path = make_synth(out, per_class=per_class, size=size, seed=seed)
    print(f"wrote the synthetic dataset to {path}")
    return path
