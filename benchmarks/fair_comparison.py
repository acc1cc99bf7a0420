"""Issue 17: five ways to use a pretrained body, trained on the same rows and scored on the same images.

For each seed (which also draws the split): one split of DATA, one set of drawn images mixed into the training
rows (the same files for every strategy), one image size, then

- **frozen probe**: balanced logistic regression (C = LP-FT's) on the frozen body's pooled features of the
  training rows (drawn images included): what the pretrained features give without any fine-tuning;
- **head only**: fastai's head on the frozen body, `lr_find` valley, `epochs_head + epochs` epochs;
- **whole network, one rate**: unfrozen from the first step, `lr_find` valley, `epochs_head + epochs` epochs;
- **fastbook's recipe**: head `epochs_head` epochs at the frozen `lr_find` valley, unfrozen `epochs` epochs at
  `slice(lo, hi)` from a second `lr_find` (`recipes.classic.fit_recipe`, what `--recipe classic` runs);
- **LP-FT**: the default recipe (`recipes.lpft.fit_lpft`: probe as head, last stage tuned at the profile's rate,
  soup), on the same training rows.

Each is scored on the split's test rows and on every other shop's folder (never trained on, never used to choose).
The three fastai strategies see augmented, presized batches; the probe and LP-FT see the centre crop (as in the
product). Prints a line per seed and strategy, then the markdown tables RESULTS.md holds (mean ± sd over the
seeds, and every seed); `--out` gets the rows as CSV (outside the repository: the figures come from real photos).

    flock /work/helpers/heavy.lock .venv/bin/python benchmarks/fair_comparison.py --size 128 --max-per-class 30 \\
        --epochs-head 1 --epochs 2 --synth-mix 12 --seeds 0 1 2 --out /tmp/fair3.csv  # what RESULTS.md records
    .venv/bin/python benchmarks/fair_comparison.py --table /tmp/fair3.csv    # its tables again, from the CSV
    .venv/bin/python benchmarks/fair_comparison.py --max-per-class 4 --size 64 --epochs-head 1 --epochs 1 --soup 1 \\
        --synth-mix 2                                                          # seconds: a check that it runs
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from tempfile import TemporaryDirectory

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "jewelry_photos"
SHOPS = [ROOT.parent / "shared" / "datasets" / "other_shops" / name for name in ("myntra_fashion", "western_lifestyle")]
STRATEGIES = ("frozen probe", "LP-FT", "fastbook's recipe", "head only", "whole network, one rate")


def training_manifest(manifest: pd.DataFrame, drawn: pd.DataFrame) -> pd.DataFrame:
    """The split's rows plus the drawn images as training rows (each its own duplicate group)."""
    extra = drawn.assign(split="train", group=[f"drawn-{i}" for i in range(len(drawn))])
    return pd.concat([manifest, extra[manifest.columns]], ignore_index=True)


def score(model, meta: dict, sets: dict[str, pd.DataFrame]) -> dict:
    """Accuracy on every set (and macro F1 on the test split), through the product's one forward pass."""
    from jewelhelpers.core.forward import run_logits
    from jewelhelpers.core.metrics import classification_metrics
    row = {}
    for name, items in sets.items():
        out = run_logits(model, meta, items, progress=False)
        scores = classification_metrics(out.logits, out.y, meta["classes"])
        row[name] = scores["accuracy"]
        if name == "test split":
            row["test macro F1"] = scores["macro_f1"]
    return row


def run_strategy(strategy: str, full: pd.DataFrame, classes: list[str], sets: dict, prof, arch: str,
                 seed: int) -> dict:
    """Train one strategy on `full`'s train rows (valid rows pick the best epoch) and score it on `sets`."""
    import torch
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.core.forward import PooledBody, run_logits
    from jewelhelpers.core.probe import fit_probe
    from jewelhelpers.core.runs import model_meta
    from jewelhelpers.recipes.classic import fit_recipe
    from jewelhelpers.recipes.dls import profile_dls
    from jewelhelpers.recipes.fitting import KeepBest, find_lr, fit_phase, make_learner, seed_everything, show_progress
    from jewelhelpers.recipes.lpft import PROBE_C, fit_lpft

    start = time.perf_counter()
    seed_everything(seed)
    linear = strategy in ("frozen probe", "LP-FT")
    backbone = build_model(arch, len(classes), prof.pretrained, head="linear" if linear else "fastai")
    meta = model_meta(classes, backbone, prof)
    train_items, valid_items = (full.loc[full["split"] == s, ["path", "label"]] for s in ("train", "valid"))
    rates = ""
    if strategy == "frozen probe":
        features = PooledBody(backbone.model[0])
        out = run_logits(features, meta, train_items, progress=False)
        probe = fit_probe(out.logits.numpy(), [classes[i] for i in out.y], classes, balanced=True, C=PROBE_C)

        class Probe(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.features = features

            def forward(self, x):
                return torch.from_numpy(probe.logits(self.features(x).numpy())).float()

        model = Probe()
    elif strategy == "LP-FT":
        _, lr, _, _ = fit_lpft(backbone, meta, train_items, valid_items, prof.epochs, prof.bs, prof.lr, None, KeepBest(),
                            prof.soup, ".", False, lambda _: None)
        model, rates = backbone.model, f"{lr:.1e}"
    else:
        learn = show_progress(make_learner(profile_dls(full, backbone, prof), backbone), enabled=False)
        n_total = prof.epochs_head + prof.epochs
        if strategy == "fastbook's recipe":
            used = fit_recipe(learn, prof.epochs_head, prof.epochs, log=lambda _: None).lrs
            rates = f"{used['head']:.1e}, slice({used['unfrozen'][0]:.1e}, {used['unfrozen'][1]:.1e})"
        else:
            if strategy == "whole network, one rate":
                learn.unfreeze()
            lr = find_lr(learn)
            fit_phase(learn, n_total, lr, KeepBest(), strategy)
            rates = f"{lr:.1e}"
        model = learn.model
    model.eval()
    with torch.no_grad():
        row = score(model, meta, sets)
    return {"seed": seed, "strategy": strategy, **row, "rates": rates, "seconds": round(time.perf_counter() - start)}


SCORES = {"test split": "test accuracy", "test macro F1": "test macro F1"}  # the CSV's columns, as the tables name them


def markdown_tables(table: pd.DataFrame) -> str:
    """The rows of `--out` as two markdown tables: per strategy, mean ± sd (n - 1) over the seeds; then every seed.

    The means are those of the printed (3-decimal) figures, so anyone can redo them from the second table.
    """
    shops = [c for c in table.columns if c not in {"seed", "strategy", "rates", "seconds", *SCORES}]
    columns = [*SCORES, *shops]
    table = table.round({c: 3 for c in columns})
    names = [SCORES.get(c, c) for c in columns]
    seeds = sorted(table["seed"].unique())
    groups = table.groupby("strategy", sort=False)
    lines = [f"| strategy | {' | '.join(names)} | seconds |", "|---" * (len(columns) + 2) + "|"]
    for strategy, rows in groups:
        cells = [f"{rows[c].mean():.3f} ± {rows[c].std(ddof=1) if len(rows) > 1 else 0.0:.3f}" for c in columns]
        lines.append(f"| {strategy} | {' | '.join(cells)} | {rows['seconds'].mean():.0f} |")
    lines += ["", f"| seed | strategy | {' | '.join(names)} | rates | seconds |", "|---" * (len(columns) + 4) + "|"]
    for seed in seeds:
        for strategy, rows in groups:
            row = rows[rows["seed"] == seed].iloc[0]
            cells = [f"{row[c]:.3f}" for c in columns]
            rates = row["rates"] if isinstance(row["rates"], str) else "-"
            lines.append(f"| {seed} | {strategy} | {' | '.join(cells)} | {rates} | {row['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--external", type=Path, nargs="*", default=SHOPS, help="other shops' folders (never trained on)")
    ap.add_argument("--arch", default="auto")
    ap.add_argument("--size", type=int, default=None, help="image size (default: the quick profile's; presize keeps its ratio)")
    ap.add_argument("--max-per-class", type=int, default=None, help="a class-balanced subset of DATA")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs-head", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--soup", type=int, default=None)
    ap.add_argument("--synth-mix", type=int, default=None, help="drawn images per class, the same for every strategy")
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--out", type=Path, default=None, help="CSV of every row (keep it outside the repository)")
    ap.add_argument("--table", type=Path, default=None, help="print the tables of an earlier run's --out CSV, train nothing")
    args = ap.parse_args()
    if args.table:
        print(markdown_tables(pd.read_csv(args.table)))
        return
    warnings.filterwarnings("ignore")

    from jewelhelpers.core.backbones import resolve_arch
    from jewelhelpers.core.drawing import synth_items
    from jewelhelpers.core.images import read_items
    from jewelhelpers.core.manifest import make_split
    from jewelhelpers.core.metrics import match_classes
    from jewelhelpers.core.settings import profile_for

    prof = profile_for("quick", args.size, arch=args.arch, epochs_head=args.epochs_head, epochs=args.epochs,
                       soup=args.soup, synth_mix=args.synth_mix)
    arch, why = resolve_arch(prof.arch, pretrained=prof.pretrained)
    print(f"{why}; {prof.size} px (presize {prof.presize}), head {prof.epochs_head} + {prof.epochs} epochs, "
          f"LP-FT lr {prof.lr} soup {prof.soup}, {prof.synth_mix} drawn images per class; seeds {args.seeds}", flush=True)
    rows = []
    for seed in args.seeds:
        manifest = make_split(args.data, seed=seed, max_per_class=args.max_per_class, progress=False)
        classes = sorted(manifest["label"].unique())
        sets = {"test split": manifest.loc[manifest["split"] == "test", ["path", "label"]]}
        sets |= {f.name: match_classes(read_items(f), classes)[0] for f in args.external}
        with TemporaryDirectory(prefix="jewel-fair-") as tmp:
            drawn = synth_items(tmp, classes, prof.synth_mix, prof.presize, seed=seed + 1)
            full = training_manifest(manifest, drawn)
            counts = full["split"].value_counts()
            print(f"seed {seed}: {counts['train']} train ({len(drawn)} drawn) / {counts['valid']} valid / "
                  f"{counts['test']} test; " + ", ".join(f"{k} {len(v)}" for k, v in sets.items()), flush=True)
            for strategy in args.strategies:
                rows.append(run_strategy(strategy, full, classes, sets, prof, arch, seed))
                print("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in rows[-1].items()), flush=True)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    print(f"\nmean ± sd of {len(args.seeds)} seed(s), then every seed; {arch}, {prof.size} px:")
    print(markdown_tables(table))


if __name__ == "__main__":
    main()
