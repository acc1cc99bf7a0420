"""Issue 16: do two bodies together keep what each one wins on other shops' photos?

EfficientNet-Lite2 in place of the default Lite0 (full trainings, `loso_train.py --arch efficientnet_lite2`) gained
on the worn photos and myntra on both seeds measured and lost on abhishek's renders on both: a trade, not adopted.
Averaging the two models' probabilities (each with its own temperature) is the cheapest way to ask whether the
gains and the losses are the same photos. Each held-out source is scored by the models that did not see it
(`heldout_probs.npz` of each `loso_train.py` run, cached by `loso_train.heldout_probs`), per seed, paired:

- each member alone (the default is the first);
- the members' mean probability (the ensemble);
- the control: the default with itself at the next seed (two Lite0 trainings), so what an ensemble of any two
  models gains is not credited to the second body.

    .venv/bin/python benchmarks/experiments/ensemble.py --seeds 0 1 --members default efficientnet_lite2

`--rule` applies issue 16's rule (`loso_train.rule`, conditions 1-3) to the pair against the default, paired by
seed, with (4): its mean gain above the control's; the control is then the default with the next seed's in
`--seeds` (cyclic), not seed + 1 mod 3:

    .venv/bin/python benchmarks/experiments/ensemble.py --seeds 3 4 5 6 --members default last-two --rule

With `--members default` alone, `--rule` puts the control itself (the default's seed ensemble) to conditions 1-3:

    .venv/bin/python benchmarks/experiments/ensemble.py --seeds 7 8 9 --members default --rule

A member `probe:ARCH` is the shipped probe's settings on the frozen ARCH's features (`loso.py`'s cached 288 px
features; the same real rows and drawn images per seed for every body): the same question asked of the frozen
bodies, and, beside the default's runs, whether a frozen Lite2 probe (no second training) adds what Lite2 does.

    .venv/bin/python benchmarks/experiments/ensemble.py --seeds 0 1 2 --members probe:efficientnet_lite0 probe:efficientnet_lite2
    .venv/bin/python benchmarks/experiments/ensemble.py --seeds 0 1 2 --members default probe:efficientnet_lite2

Cost: the ensemble runs both bodies on every photo (Lite0 + Lite2 is about 2.7x the default's forward time).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso import DATA, SHIPPED, Loso, accuracy_table, held_out_row, real_items, shipped_loso, verdict  # noqa: E402
from loso_train import ORDER, adopted, heldout_probs, rule, run_dir  # noqa: E402

from jewelhelpers.core.drawing import CLASSES  # noqa: E402
from jewelhelpers.core.probe import fit_probe  # noqa: E402


def probe_probs(loso: Loso, arch: str, seed: int) -> dict[str, np.ndarray]:
    """`heldout_probs`'s layout for the shipped probe on the frozen `arch`: each real source's probabilities
    ("SOURCE/p") from the probe fitted on the others (seed > 0: a seeded 90% of them), and its labels ("SOURCE/y")."""
    s, out = replace(SHIPPED, arch=arch), {}
    for held, _, x, y, xt, yt in loso.folds(s, seed):
        out[f"{held}/p"], out[f"{held}/y"] = fit_probe(x, list(y), CLASSES, balanced=s.balanced, C=s.C).predict_proba(xt), yt
    return out


def scored(members: dict[str, dict[str, np.ndarray]], seed: int) -> list[dict]:
    """Per held-out source: each member's accuracy, then the mean of all members' probabilities."""
    rows = []
    for source in ORDER:
        truth = next(iter(members.values()))[f"{source}/y"]
        probs = {name: p[f"{source}/p"].astype(float) for name, p in members.items()}
        probs[" + ".join(members)] = np.mean(list(probs.values()), axis=0)
        for name, p in probs.items():
            rows.append(held_out_row(truth, np.array(CLASSES)[p.argmax(axis=1)], seed=seed, source=source,
                                     model=name))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/loso-train"), help="loso_train.py's --work")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--members", nargs="+", default=["default", "efficientnet_lite2"],
                    help="'default' (run-sSEED), a run-folder suffix (run-sSEED-SUFFIX, e.g. efficientnet_lite2), "
                         "or probe:ARCH (the shipped probe on the frozen ARCH's features, from --cache)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jewel-loso"), help="loso.py's cache (probe: members)")
    ap.add_argument("--rule", action="store_true", help="issue 16's rule for the pair, against the default and the "
                                                        "control (the next seed in --seeds, cyclic)")
    args = ap.parse_args()
    real = real_items(DATA)
    loso = cache(lambda: shipped_loso(args.cache, real))  # read only when a probe: member asks for it

    def member(spec: str, seed: int) -> dict[str, np.ndarray]:
        if spec.startswith("probe:"):
            return probe_probs(loso(), spec.removeprefix("probe:"), seed)
        return heldout_probs(run_dir(args.work, seed, spec), real)

    rows = []
    for seed in args.seeds:
        members = {m: member(m, seed) for m in args.members}
        rows += scored(members, seed)
        if args.members[0] == "default":  # the control: the default with itself at the next seed
            after = args.seeds[(args.seeds.index(seed) + 1) % len(args.seeds)] if args.rule else (seed + 1) % 3
            control = {"default": members["default"], "default, next seed": member("default", after)}
            rows += [r for r in scored(control, seed) if r["model"] == " + ".join(control)]
    df = pd.DataFrame(rows)
    table = accuracy_table(df, "model")
    print(table.round(3).to_string())
    print(df.pivot_table(index="source", columns="model", values="rings called bracelets", sort=False).to_string())
    per_seed = df.pivot_table(index=["model", "seed"], columns="source", values="accuracy", sort=False)
    per_seed["mean"] = per_seed.mean(axis=1)
    print(per_seed["mean"].unstack().round(3).to_string())
    base = df["model"].iloc[0]
    if not args.rule:
        for model in df["model"].unique()[1:]:
            print(f"{model} against {base}: {verdict(per_seed.loc[base], per_seed.loc[model])}")
        return
    control = "default + default, next seed"
    pair = " + ".join(args.members) if len(args.members) > 1 else control  # the default alone: its seed ensemble
    arm = {m: {seed: per_seed.loc[(m, seed)] for seed in args.seeds} for m in (base, pair, control)}
    checks = rule(arm[base], arm[pair], (base, pair))  # prints conditions 1-3
    if pair != control:
        gain = {m: 100 * np.mean([arm[m][s]["mean"] - arm[base][s]["mean"] for s in args.seeds]) for m in (pair, control)}
        check = f"(4) mean gain {gain[pair]:+.2f} > the control's {gain[control]:+.2f}"
        checks[check] = gain[pair] > gain[control]
        print(check, "holds" if checks[check] else "fails")
    print(adopted(checks, len(args.seeds)))


if __name__ == "__main__":
    main()
