"""Issue 16: do the held-out models name another shop's photos better with BatchNorm statistics of that shop's photos?

AdaBN (Li et al. 2016): a network's BatchNorm layers normalise with the mean and variance of the photos it was
trained on (here ImageNet's, since LP-FT keeps BatchNorm frozen). A shop sorting its catalogue has all of its photos
at once, unlabelled; recomputing every BatchNorm layer's statistics on them moves their features back to where
the head expects them, with no label and no training. The head is untouched.

Each held-out model of `loso_train.py` is scored on its held-out source three ways: as shipped; with the frozen
prefix's BatchNorm statistics recomputed on that source ("prefix"); and with the fine-tuned last stage's too
("all"). The frozen prefix is the same in every run, so its adapted maps are computed once per source (a
statistics pass, then the maps); each held-out model then recomputes its last stage's statistics on them. The
statistics are cumulative means over batches of 32 photos in training mode (`momentum=None`).

    .venv/bin/python benchmarks/experiments/adabn.py --work /tmp/loso-train --seeds 1 3 4 5 6
    .venv/bin/python benchmarks/experiments/adabn.py --work /tmp/loso-train --seeds 13 14 15 --rule "all"
"""
from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso_train import ORDER, heldout_parser, rule_by_seed, run_dir, shared_frozen  # noqa: E402

from jewelhelpers.core.forward import in_batches, run_logits  # noqa: E402
from jewelhelpers.core.metrics import classification_metrics  # noqa: E402
from jewelhelpers.core.runs import load_model  # noqa: E402
from jewelhelpers.recipes.lpft import cut_last_stage  # noqa: E402


class Recount(nn.Module):
    """`module` with its BatchNorm layers reset, then counting the statistics of whatever passes through it
    (training mode, cumulative mean); its output is dropped (one zero per row), only the statistics matter."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for bn in self.norms:
            bn.reset_running_stats()
            bn.momentum = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for bn in self.norms:
            bn.train()
        with torch.no_grad():
            self.module(x)
        for bn in self.norms:
            bn.eval()
        return x.new_zeros(len(x), 1)


def main() -> None:
    args = heldout_parser(__doc__.splitlines()[0], "apply issue 16's rule to COLUMN ('prefix' or 'all') against "
                          "the shipped model, paired by seed").parse_args()
    torch.set_num_threads(2)
    t0 = time.time()
    real, model, meta, frozen = shared_frozen(args)
    body = model[0]
    cut = cut_last_stage(body)
    adapted = {}
    for src in ORDER:
        items = real.loc[real["source"] == src, ["path", "label"]]
        frozen.run(src, items, progress=False)
        prefix = copy.deepcopy(body[:cut])
        run_logits(Recount(prefix), meta, items, progress=False)
        adapted[src] = run_logits(prefix.eval(), meta, items, progress=False).logits
        print(f"{src}: maps and adapted maps of {len(items)} photos ({time.time() - t0:.0f}s)", flush=True)
    rows = []
    for seed in args.seeds:
        run = run_dir(args.work, seed, args.lever)
        for row in json.loads((run / "holdout_sources.json").read_text())["sources"]:
            src = row["source"]
            model, _ = load_model(run / row["run_dir"], "cpu")
            out = frozen.logits(src, model)
            y = np.asarray(out.y)

            def accuracy(logits: torch.Tensor) -> float:
                return classification_metrics(logits, y, meta["classes"])["accuracy"]

            tail, head = model[0][cut:], model[1]
            result = {"seed": seed, "source": src, "shipped": accuracy(out.logits),
                      "prefix": accuracy(in_batches(nn.Sequential(tail, head), adapted[src]))}
            tail = copy.deepcopy(tail)
            in_batches(Recount(tail), adapted[src], batch_size=32)
            result["all"] = accuracy(in_batches(nn.Sequential(tail.eval(), head), adapted[src]))
            rows.append(result)
            print(f"seed {seed} {src}: shipped {result['shipped']:.3f}, prefix {result['prefix']:.3f}, "
                  f"all {result['all']:.3f} ({time.time() - t0:.0f}s)", flush=True)
    table = pd.DataFrame(rows)
    means = table.drop(columns="seed").groupby("source").mean().reindex(ORDER)
    means.loc["mean"] = means.mean()
    print(means.round(3).to_string())
    print("gain over the shipped model, points (mean of seeds):")
    print((means.sub(means["shipped"], axis=0) * 100).round(2).to_string())
    if args.rule:
        rule_by_seed(table, "shipped", args.rule)
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
