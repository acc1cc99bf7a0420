"""Issue 16: does re-estimating a shop's class mix (EM label-shift adaptation) fix "rings called bracelets"?

A shop sorts a whole catalogue at once, and its mix of classes is not the training mix: the hidden minimalist
catalogue has no watches and many rings; a held-out source here is often one or two classes. The EM of Saerens,
Latinne and Decaestecker (2002; `quapy`'s `EMQ.EM`) re-estimates the catalogue's class prevalences from the
model's probabilities on it, unlabelled, and re-weights each probability by (new prior / training prior). The
training prior is uniform: the probe and the fine-tuning both weight classes to balance. Variants: EM to
convergence; one step (the prior = the mean probability); EM's prior square-rooted (half-way in log space).

Two levels, each held-out source scored without and with adaptation (paired: the same model):
- the probe-level leave-one-source-out of `benchmarks/loso.py` (shipped probe settings, the 288 px features it
  cached), seeds 0..n-1; also with a temperature fitted on a seeded 15% of the training rows (EM wants
  calibrated probabilities, Alexandari et al. 2020);
- `--runs RUN ...`: the held-out models of `benchmarks/loso_train.py` runs (the shipped recipe, fine-tuned; their
  own temperature), each scored on the source it did not see (probabilities cached as RUN/heldout_probs.npz).

    .venv/bin/pip install quapy   # this experiment only: not a dependency of the project
    .venv/bin/python benchmarks/experiments/label_shift.py --cache /tmp/jewel-loso --seeds 3
    .venv/bin/python benchmarks/experiments/label_shift.py --runs /tmp/loso-train/run-s0 /tmp/loso-train/run-s0-ep2
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso import DATA, SHIPPED, SHIPPED_SIZE, Loso, real_items, shipped_loso  # noqa: E402
from loso_train import ORDER, heldout_probs  # noqa: E402

from jewelhelpers.core.drawing import CLASSES  # noqa: E402
from jewelhelpers.core.metrics import fit_temperature  # noqa: E402
from jewelhelpers.core.probe import fit_probe  # noqa: E402


def reweight(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Probabilities of a model trained on a uniform prior, moved to `prior` (Bayes' rule, renormalised)."""
    r = probs * prior
    return r / r.sum(axis=1, keepdims=True)


def variants(probs: np.ndarray) -> dict[str, np.ndarray]:
    """The model's probabilities, then each adaptation of them."""
    try:
        from quapy.method.aggregative import EMQ
    except ImportError:
        sys.exit("label_shift.py needs quapy: .venv/bin/pip install quapy")
    prior, adapted = EMQ.EM(np.full(probs.shape[1], 1 / probs.shape[1]), probs)
    return {"shipped": probs, "EM": adapted, "one step": reweight(probs, probs.mean(axis=0)),
            "EM^0.5": reweight(probs, np.sqrt(prior))}


def scored(probs: np.ndarray, truth: np.ndarray, **row) -> list[dict]:
    """One row per variant: accuracy, and how many real rings it calls bracelets."""
    out = []
    for name, p in variants(probs).items():
        pred = np.array(CLASSES)[p.argmax(axis=1)]
        out.append(row | {"variant": name, "accuracy": float(np.mean(pred == truth)),
                          "rings called bracelets": int(np.sum((truth == "ring") & (pred == "bracelet")))})
    return out


def probe_level(loso: Loso, seed: int, drawn: int = 80, C: float = 0.01) -> list[dict]:
    """`loso.py`'s shipped probe (288 px, v2 drawing) held out on each real source, with and without adaptation."""
    xr, pool = loso.x("real", SHIPPED_SIZE, "crop"), loso.pools[SHIPPED.drawing]
    xd = loso.x(SHIPPED.drawing, SHIPPED_SIZE, "crop")
    rng, keep, picked = loso.picks(replace(SHIPPED, drawn=drawn), seed)
    rows = []
    for held in loso.sources()[:-1]:
        train = keep & (loso.real["source"].to_numpy() != held)
        x = np.concatenate([xr[train], xd[picked]])
        y = np.array(list(loso.real["label"][train]) + list(pool["label"].iloc[picked]))
        test = loso.real["source"].to_numpy() == held
        truth = loso.real["label"].to_numpy()[test]
        rows += scored(fit_probe(x, list(y), CLASSES, C=C).predict_proba(xr[test]), truth, seed=seed, source=held)
        cal = rng.random(len(y)) < 0.15
        probe = fit_probe(x[~cal], list(y[~cal]), CLASSES, C=C)
        t = fit_temperature(torch.as_tensor(probe.logits(x[cal])), np.array([CLASSES.index(c) for c in y[cal]]))
        z = torch.as_tensor(probe.logits(xr[test]) / t)
        rows += [r | {"variant": "85% + T, " + r["variant"]}
                 for r in scored(torch.softmax(z, dim=1).numpy(), truth, seed=seed, source=held)]
    return rows


def table(rows: list[dict], runs: str) -> pd.DataFrame:
    """Accuracy per source and variant (mean over `runs`), the mean row, rings called bracelets per source."""
    df = pd.DataFrame(rows)
    acc = df.pivot_table(index="source", columns="variant", values="accuracy", sort=False)
    acc.loc["mean"] = acc.mean()
    per_run = df.groupby(["variant", runs], sort=False)["accuracy"].mean().unstack()
    acc.loc[f"sd of the mean over {runs}s"] = per_run.std(axis=1, ddof=1)
    rb = df.pivot_table(index="source", columns="variant", values="rings called bracelets", sort=False)
    return pd.concat([acc.round(3), rb.add_suffix(": rings called bracelets")], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jewel-loso"), help="loso.py's cache (288 px features)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--runs", type=Path, nargs="+", help="loso_train.py run folders: score their held-out models")
    args = ap.parse_args()
    t0 = time.time()
    real = real_items(DATA)
    if args.runs:
        rows = []
        for run in args.runs:
            probs = heldout_probs(run, real)
            for source in ORDER:
                rows += scored(probs[f"{source}/p"].astype(float), probs[f"{source}/y"], run=run.name, source=source)
        print(table(rows, "run").to_string())
    else:
        loso = shipped_loso(args.cache, real)
        print(table([r for s in range(args.seeds) for r in probe_level(loso, s)], "seed").to_string())
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
