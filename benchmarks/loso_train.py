"""Issue 16: leave-one-source-out of full `jewel train` runs (the shipped recipe, fine-tuning and WiSE-FT included),
where `benchmarks/loso.py` measures the frozen probe only.

The six real sources of `loso.py` (the four repository x render/photo cells of `jewelry_photos`, written as CSVs of
absolute paths into `--work`, outside the data, and the two `other_shops` folders) go to
`jewel train SOURCE... --holdout-sources` (`jobs.train`): one training on all of them, then one per source on the
others, scored on all of that source. Every held-out run writes wise.csv, so each WiSE-FT mix (alpha 0 = the probe
head, 1 = the fine-tuned model) is scored on the source it did not see. Printed: per source, the probe, the shipped
model and each mix; the means.

    flock /work/helpers/heavy.lock .venv/bin/python benchmarks/loso_train.py --seed 0 --work /tmp/loso-train  # ~25 min

`--valid-from all`, `--composites N`, `--size PX`, `--lr LR`, `--epochs N`, `--drawn N`, `--arch A`, `--features
last-two`, `--balance cells` and `--mixstyle P` measure those levers the same way (each lever set gets its own run folder in
--work). `--paired LEVER COLUMN --seeds ...` applies issue 16's rule to such runs: a lever's column (e.g. `wise 1`)
against the default's shipped model (or its `--base-column`), paired by seed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent), str(ROOT)]

from loso import DATA, real_items  # noqa: E402
from jewelhelpers.core.drawing import CLASSES  # noqa: E402

ORDER = ["prince-photo", "abhishek-render", "prince-render", "abhishek-photo", "myntra_fashion", "western_lifestyle"]


def source_files(data: Path, work: Path) -> list[Path]:
    """The jewelry_photos cells as CSVs (file, label) in `work` (each written whole, then renamed), then the shop
    folders, in ORDER."""
    items = real_items(data)
    work.mkdir(parents=True, exist_ok=True)
    files = []
    for name in ORDER:
        if name.startswith(("prince", "abhishek")):
            path, part = work / f"{name}.csv", work / f"{name}.csv.{os.getpid()}"
            items.loc[items["source"] == name, ["path", "label"]].rename(columns={"path": "file"}).to_csv(part, index=False)
            part.replace(path)  # whole or not at all: seeds started together read these files while others write them
            files.append(path)
        else:
            files.append(data / "other_shops" / name)
    return files


def report(run_dir: Path) -> pd.DataFrame:
    """Per held-out source: the probe, the shipped model, and every WiSE-FT mix's accuracy on it; a mean row."""
    rows = []
    for row in json.loads((run_dir / "holdout_sources.json").read_text())["sources"]:
        wise = pd.read_csv(run_dir / row["run_dir"] / "wise.csv")
        held = wise[~wise["set"].isin(["valid", "test split"])].set_index("alpha")["accuracy"]
        rows.append({"source": row["source"], "n": row["n"], "probe": row["probe_accuracy"],
                     "shipped": row["accuracy"], **{f"wise {a:g}": v for a, v in held.items()}})
    table = pd.DataFrame(rows).set_index("source")
    table.loc["mean"] = table.mean()
    return table


def rule(base: dict[int, pd.Series], new: dict[int, pd.Series], names: tuple[str, str]) -> dict[str, bool]:
    """Issue 16's rule for a lever in full trainings: both arms' held-out accuracy per seed (source -> accuracy, a
    `mean` row included; paired by seed), the gains in points per source, and conditions (1)-(3), printed and
    returned."""
    seeds = list(base)
    print(pd.concat({f"s{seed}": pd.DataFrame({names[0]: base[seed], names[1]: new[seed]}) for seed in seeds},
                    axis=1).round(3).to_string())
    gains = pd.DataFrame({seed: new[seed] - base[seed] for seed in seeds}) * 100
    gains["mean"] = gains.mean(axis=1)
    mean = gains.loc["mean", seeds]
    se = mean.std(ddof=1) / np.sqrt(len(seeds)) if len(seeds) > 1 else float("nan")
    worst = gains["mean"].drop("mean").idxmin()
    fall, rings = gains.loc[worst, "mean"], gains.loc["abhishek-photo", "mean"]
    checks = {f"(1) mean gain {mean.mean():+.2f} > 2 x SE {2 * se:.2f}": mean.mean() > 2 * se,
              f"(2) largest source fall {worst} {fall:+.2f} >= -2": fall >= -2,
              f"(3) catalogue rings {rings:+.2f} >= 0": rings >= 0}
    print(gains.round(2).to_string())
    for check, ok in checks.items():
        print(check, "holds" if ok else "fails")
    return checks


def adopted(checks: dict[str, bool], seeds: int) -> str:
    """The rule's verdict: every check holds, over at least three seeds."""
    return "adopted" if seeds >= 3 and all(checks.values()) else "not adopted" + (
        f" (only {seeds} seeds)" if seeds < 3 else "")


def heldout_parser(description: str, rule_help: str) -> argparse.ArgumentParser:
    """The command line of the experiments that score the held-out models of earlier runs again: --data, --work,
    --seeds, --lever and --rule COLUMN (`rule_by_seed`)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--work", type=Path, default=Path("/tmp/loso-train"))
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--lever", default="default", help="runs run-sN-LEVER (default: run-sN)")
    ap.add_argument("--rule", metavar="COLUMN", help=rule_help)
    return ap


def shared_frozen(args: argparse.Namespace):
    """The real photos, the first held-out model of `args`' runs with its meta, and a `FrozenPass` over its frozen
    prefix, which every run shares (LP-FT never tunes it): (real, model, meta, frozen)."""
    from types import SimpleNamespace
    from jewelhelpers.core.runs import load_model
    from jewelhelpers.recipes.lpft import FrozenPass
    model, meta = load_model(run_dir(args.work, args.seeds[0], args.lever) / "holdout" / ORDER[0], "cpu")
    return real_items(args.data), model, meta, FrozenPass(SimpleNamespace(model=model), meta)


def rule_by_seed(table: pd.DataFrame, base: str, column: str) -> None:
    """`rule` for `column` against `base` of a table of one row per seed and held-out source, paired by seed, and
    its verdict, printed."""
    per_seed = {seed: part.set_index("source")[[base, column]].reindex(ORDER) for seed, part in table.groupby("seed")}
    for part in per_seed.values():
        part.loc["mean"] = part.mean()
    print(adopted(rule({s: p[base] for s, p in per_seed.items()}, {s: p[column] for s, p in per_seed.items()},
                       (base, column)), len(per_seed)))


def run_dir(work: Path, seed: int, lever: str = "default") -> Path:
    """A seed's run in `work`: `run-s{seed}` for the default, `run-s{seed}-{lever}` for a lever."""
    return work / (f"run-s{seed}" + ("" if lever == "default" else f"-{lever}"))


def paired(work: Path, seeds: list[int], lever: str, column: str, base_column: str = "shipped") -> None:
    """`rule` for `column` of `run_dir(work, seed, lever)` (`default`: the default's own runs) against
    `base_column` of the default's run of the same seed."""
    base = {seed: report(run_dir(work, seed))[base_column] for seed in seeds}
    new = {seed: report(run_dir(work, seed, lever))[column] for seed in seeds}
    print(adopted(rule(base, new, (f"default {base_column}", f"{lever} {column}")), len(seeds)))


def heldout_probs(run: Path, real: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per held-out source, the probabilities of the model that did not see it (cached in the run folder)."""
    cache = run / "heldout_probs.npz"
    if not cache.is_file():
        from jewelhelpers.core.predictor import Predictor
        out = {}
        for row in json.loads((run / "holdout_sources.json").read_text())["sources"]:
            items = real[real["source"] == row["source"]]
            probs, ok, _ = Predictor.from_run(run / row["run_dir"]).probabilities(list(items["path"]), progress=True)
            out[row["source"] + "/p"], out[row["source"] + "/y"] = probs.numpy(), items["label"].to_numpy()[ok].astype(str)
        np.savez(cache, **out)
    return dict(np.load(cache))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--work", type=Path, default=Path("/tmp/loso-train"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--valid-from", default="first", help="first | all: the valid split's sources (jobs.train)")
    ap.add_argument("--composites", type=int, help="per class, products on white pasted on drawn scenes")
    ap.add_argument("--size", type=int, help="training image size (default: the profile's)")
    ap.add_argument("--lr", type=float, help="the last stage's fine-tuning rate (default: the profile's)")
    ap.add_argument("--epochs", type=int, help="the last stage's epochs (default: the profile's)")
    ap.add_argument("--drawn", type=int, help="drawn images per class mixed into training (default: the profile's)")
    ap.add_argument("--arch", help="backbone (default: the profile's, auto: efficientnet_lite0 offline)")
    ap.add_argument("--features", help="what the head reads: last | last-two (default: the profile's, last)")
    ap.add_argument("--balance", help="several sources: sources | cells (default: the profile's, sources)")
    ap.add_argument("--mixstyle", type=float, help="share of training batches whose maps swap style statistics")
    ap.add_argument("--report-only", action="store_true", help="print the table of an earlier run in --work")
    ap.add_argument("--paired", nargs=2, metavar=("LEVER", "COLUMN"),
                    help="rule only: COLUMN (e.g. 'wise 1') of run-sN-LEVER (LEVER default: run-sN) "
                         "against run-sN's shipped, for --seeds")
    ap.add_argument("--seeds", type=int, nargs="+", help="with --paired: the seeds paired")
    ap.add_argument("--base-column", default="shipped",
                    help="with --paired: the default's column the lever is set against (e.g. 'wise 1': the soup "
                         "always kept, what runs before KeepBest.hold ship now)")
    args = ap.parse_args()
    if args.paired:
        paired(args.work, args.seeds or [args.seed], *args.paired, args.base_column)
        return
    run = args.work / (f"run-s{args.seed}" + ("" if args.valid_from == "first" else f"-valid-{args.valid_from}")
                       + "".join(f"-{name}{value:g}" for name, value in (("comp", args.composites), ("size", args.size),
                                                                          ("lr", args.lr), ("ep", args.epochs),
                                                                          ("drawn", args.drawn), ("mix", args.mixstyle))
                                                if value is not None)
                       + "".join(f"-{value}" for value in (args.arch, args.features, args.balance) if value))
    if not args.report_only:
        from jewelhelpers.jobs.train import train
        train(source_files(args.data, args.work), run, profile=args.profile, seed=args.seed, external=[],
              classes=list(CLASSES), holdout_sources=True, force=True, valid_from=args.valid_from,
              composites=args.composites, size=args.size, lr=args.lr, epochs=args.epochs,
              drawn=args.drawn, arch=args.arch, features=args.features, balance=args.balance,
              mixstyle=args.mixstyle)
    print(report(run).round(3).to_string())


if __name__ == "__main__":
    main()
