"""`jewel synth`: write the procedurally drawn jewelry dataset (licence-clean, offline) as an ImageFolder.

The drawing lives in `core.drawing`; this verb writes a set and says where.

Not run in a notebook: their setup cell draws the same set with `core.drawing.make_synth`; see README.md, `jewel synth`.
"""
from __future__ import annotations

from pathlib import Path

from ..core.drawing import make_synth


def run(out: str | Path, per_class: int = 100, size: int = 128, seed: int = 0, near_misses: bool = False,
        views: int = 1) -> Path:
    """Draw `per_class` images of each class at `size` px into `out` (same seed, same bytes); say where.

    `near_misses`: objects that are none of the classes (keys, coins, ...); `views`: each design in several views.
    """
    path = make_synth(out, per_class=per_class, size=size, seed=seed, near_misses=near_misses, views=views)
    what = "near misses (no jewelry class)" if near_misses else "synthetic dataset"
    print(f"wrote the {what} to {path}" + (f" ({views} views per design, listed in designs.csv)" if views > 1 else ""))
    return path
