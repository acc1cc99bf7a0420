"""Issue 13 / 16: the quick default with the drawn rings and bracelets of before commit 7593763 (v1) or as now (v2),
everything else as on main; and a summary of such runs, WiSE-FT mixes included (each run's wise.csv).

    drawing_ablation.py train v1|v2 ARGS...        # `jewel train ARGS...` (jewelhelpers.cli.main, unchanged) with that drawing
    drawing_ablation.py summary RUN_DIR...         # test / other shops / probe / wall per run, the WiSE table's means

v1's `_ring` and `_bracelet` are read from git (`git show 7593763^:jewelhelpers/core/drawing.py`), so this needs the
repository's history; every other drawer and helper is today's.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OLD = "7593763^:jewelhelpers/core/drawing.py"


def use_v1_drawing() -> None:
    """Put the v1 ring and bracelet drawers into `core.drawing.DRAWERS` (compiled in that module's namespace)."""
    import jewelhelpers.core.drawing as drawing
    source = subprocess.run(["git", "show", OLD], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in ("_ring", "_bracelet"):
            exec(compile(ast.get_source_segment(source, node), f"{OLD}:{node.name}", "exec"), drawing.__dict__)
    drawing.DRAWERS["ring"], drawing.DRAWERS["bracelet"] = drawing._ring, drawing._bracelet
    print("drawing v1: rings and bracelets as before commit 7593763", flush=True)


def summary(run_dirs: list[Path]) -> pd.DataFrame:
    """One row per run: seed, test accuracy and macro F1, each other shop, the probe, wall and timings; then the
    WiSE-FT table averaged over the runs."""
    rows, wise = [], []
    for run in run_dirs:
        meta, metrics = json.loads((run / "meta.json").read_text()), json.loads((run / "metrics.json").read_text())
        base = pd.read_csv(run / "baseline.csv", index_col="set")
        row = {"run": run.name, "seed": meta["seed"], "test": metrics["accuracy"], "test_f1": metrics["macro_f1"],
               "best": meta["best"]["phase"], "wall_s": meta["timings"]["total"],
               "fit_lpft_s": meta["timings"]["fit_lpft"], "frozen_pass_s": meta["timings"]["frozen_pass"]}
        for name in base.index:
            row[f"{name} tuned"] = base.loc[name, "fine_tuned_accuracy"]
            row[f"{name} probe"] = base.loc[name, "probe_accuracy"]
        rows.append(row)
        if (run / "wise.csv").is_file():
            wise.append(pd.read_csv(run / "wise.csv").assign(run=run.name))
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    if wise:
        mixes = pd.concat(wise).pivot_table(index="alpha", columns="set", values="accuracy", aggfunc="mean")
        print(f"\nWiSE-FT: accuracy of each mix, mean of {len(wise)} run(s)\n{mixes.round(3).to_string()}")
    return table


if __name__ == "__main__":
    if sys.argv[1:2] == ["summary"]:
        summary([Path(p) for p in sys.argv[2:]])
    else:
        if sys.argv[2] == "v1":
            use_v1_drawing()
        from jewelhelpers.cli import main
        sys.exit(main(sys.argv[3:]))
