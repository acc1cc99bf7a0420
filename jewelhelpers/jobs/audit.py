"""`jewel audit`: a read-only report on a dataset (counts, unreadable files, odd modes, duplicates, conflicts).

The checks live in `core.findings` (the split uses them too); this verb prints the summary and, when asked,
writes the per-file report outside DATA.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

from pathlib import Path

from ..core.findings import AuditResult, audit


def run(data: str | Path, out: str | Path | None = None) -> AuditResult:
    """Audit DATA, print what was found and what to do, and write the per-file CSV to `out` if given."""
    result = audit(data)
    print(result.summary())
    if out:
        result.to_csv(out)
        print(f"per-file report: {out}")
    return result
