"""`jewel audit`: a read-only report on a dataset (counts, unreadable files, odd modes, duplicates, conflicts).

The checks live in `core.findings` (the split uses them too); this verb prints the summary and, when asked,
writes the per-file report outside DATA.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

from pathlib import Path

from ..core.findings import AuditResult, audit
from ..core.output import check_table_out


def run(data: str | Path, out: str | Path | None = None) -> AuditResult:
    """Audit DATA, print what was found and what to do, and write the per-file CSV to `out` if given."""
    if out:
        check_table_out(out)  # before the audit's minutes, not after
    result = audit(data)
    print(result.summary())
    if out:
        result.to_csv(out)
        print(f"per-file report: {out}")
    return result
