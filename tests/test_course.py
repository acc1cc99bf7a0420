"""The course as committed: notebooks carry their outputs (from the drawn data only), notebook 02 types fastai's
recipe out, and every figure the notebooks quote from the fair comparison is the one RESULTS.md records."""
from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHARED_PATH = re.compile(r"\.\./shared|/work/shared|shared/datasets")
# calls whose cell shows nothing even when they end it (they change the learner or the figure in place)
SILENT = {"freeze", "unfreeze", "remove", "zero_grad", "axis", "seed_everything"}


def cells(path: Path, kind: str = "code") -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def displays(code: str) -> bool:
    """Whether a code cell shows something when run: it prints, or ends with an expression not silenced by `;`."""
    try:
        tree = ast.parse(code)
    except SyntaxError:  # IPython syntax (`!command`, `%magic`): shell output
        return True
    if any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print" for n in ast.walk(tree)):
        return True
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr) or code.rstrip().endswith(";"):
        return False
    call = last.value
    return not (isinstance(call, ast.Call) and getattr(call.func, "attr", getattr(call.func, "id", "")) in SILENT)


def output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts += out.get("text", []) + out.get("traceback", [])
        for mime, value in out.get("data", {}).items():
            if not mime.startswith("image/"):
                parts += value if isinstance(value, list) else [str(value)]
    return "".join(parts)


def test_displays_knows_what_shows():
    assert displays("x = 1\nx") and displays("print(1)") and displays("learn.fit_one_cycle(2, lr)")
    assert not displays("x = 1") and not displays("assert x") and not displays("plt.plot(x);")
    assert not displays("learn.freeze()") and displays("!jewel --help")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_carries_its_outputs(path):
    """Every cell that shows something has its output; plots are there as images; no path under ../shared."""
    code = cells(path)
    missing = [source(c).splitlines()[0] for c in code if displays(source(c)) and not c.get("outputs")]
    assert not missing, f"{path.name}: run `make notebooks` (cells without output: {missing[:3]})"
    images = sum("image/png" in out.get("data", {}) for c in code for out in c.get("outputs", []))
    assert images >= 1, f"{path.name}: no figure in the outputs"
    errors = [c for c in code for out in c.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, f"{path.name}: a cell failed when it was run"
    leaked = [source(c).splitlines()[0] for c in code if SHARED_PATH.search(output_text(c))]
    assert not leaked, f"{path.name}: outputs name a path of the real photos (commit only drawn-data outputs): {leaked}"


def test_notebook_02_types_the_recipe_out():
    code = "\n".join(source(c) for c in cells(ROOT / "notebooks" / "02_transfer_learning_resnet50.ipynb"))
    for call in ["DataBlock(", "Learner(", "learn.freeze()", "learn.lr_find(", "learn.fit_one_cycle(n_epochs, lr)",
                 "learn.unfreeze()", "slice(", "learn.fit_one_cycle(n_epochs, lrs)", ".fine_tune("]:
        assert call in code, call
    assert "compare_strategies" not in code  # many trainings: the notebook quotes the benchmark instead


def fair_section() -> str:
    """RESULTS.md's section of the fair comparison, up to the next section."""
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    start = results.index("## The fair comparison (issue 17)")
    end = results.find("\n## ", start + 1)
    return results[start:end if end > 0 else None]


def test_quoted_fair_comparison_rows_are_the_recorded_ones():
    """The fair-comparison table rows in notebook 02 appear, cell for cell, in benchmarks/RESULTS.md's section."""
    results = fair_section()
    text = "\n".join(source(c) for c in cells(ROOT / "notebooks" / "02_transfer_learning_resnet50.ipynb", "markdown"))
    rows = [line for line in text.splitlines() if line.startswith("| ") and re.search(r"\d\.\d{3}", line)]
    assert len(rows) >= 5, "notebook 02 quotes the fair comparison (all five strategies)"
    for row in rows:
        assert row in results, f"not in RESULTS.md: {row}"


def test_recorded_fair_comparison_means_are_those_of_its_seeds():
    """RESULTS.md's mean ± sd rows are what benchmarks/fair_comparison.py makes of the per-seed rows it records."""
    spec = importlib.util.spec_from_file_location("fair_comparison", ROOT / "benchmarks" / "fair_comparison.py")
    fair = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fair)
    section = fair_section()
    header = next((line for line in section.splitlines() if line.startswith("| seed | strategy |")), None)
    assert header, "RESULTS.md records every seed's row of the fair comparison (benchmarks/fair_comparison.py --table)"
    names = [c.strip() for c in header.strip("|").split("|")]
    columns = {v: k for k, v in fair.SCORES.items()}
    per_seed = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
                if re.match(r"\| \d+ \| ", line)]
    table = pd.DataFrame(per_seed, columns=[columns.get(n, n) for n in names])
    table = table.astype({c: float for c in table.columns if c not in ("strategy", "rates")}).astype({"seed": int})
    assert table["seed"].nunique() >= 3 and set(table["strategy"]) == set(fair.STRATEGIES), "3 seeds, 5 strategies"
    means = [line for line in fair.markdown_tables(table).splitlines() if "±" in line]
    assert len(means) == len(fair.STRATEGIES)
    for row in means:
        assert row in section, f"RESULTS.md's mean is not that of its seeds: {row}"
