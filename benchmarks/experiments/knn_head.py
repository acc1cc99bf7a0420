"""Issue 16: would the held-out models' nearest training photos name other shops' photos better than their head?

Every run keeps its train split embedded by its own body (`unknown_bank.npy`: the unknown score's bank, L2-normalised
pooled features, in split.csv's train order). So each held-out model of `loso_train.py` can also classify its held-out
source by vote of the k nearest training photos (cosine, faiss), beside its linear head, at no training cost. The
catalogue rings the default calls bracelets are a decision of the head on features: if their nearest training
photos are rings, a kNN vote (or its mix with the head) is a lever; if they are bracelets, the features themselves
carry the "thin band, bracelet" reading.

Votes are class-balanced (each neighbour weighs 1 / its class's count in the bank), so the bank's many earrings do
not outvote the rest (also printed: unweighted votes, one per neighbour). Printed per held-out source and seed: the head (the model as shipped), kNN for each k, and the
mix `(1 - w) * head + w * kNN` of their probabilities (the head's softmax at the run's calibrated temperature, as
`Predictor` gives it); and the labels and sources of the catalogue rings' nearest
training photos. The frozen layers are shared by every run (LP-FT never tunes them), so each photo goes through them
once; each held-out model then runs its last stage and head on the kept maps.

    .venv/bin/python benchmarks/experiments/knn_head.py --work /tmp/loso-train --seeds 10 11 12 --lever cells
    .venv/bin/python benchmarks/experiments/knn_head.py --work /tmp/loso-train --seeds 13 14 15 --rule "mix 0.5 knn 10"
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loso_train import ORDER, heldout_parser, rule_by_seed, run_dir, shared_frozen  # noqa: E402

from jewelhelpers.core.forward import probabilities  # noqa: E402
from jewelhelpers.core.runs import load_model  # noqa: E402
from jewelhelpers.core.unknown import BANK, nearest  # noqa: E402

KS = (5, 10, 20, 50)
MIXES = (0.25, 0.5, 0.75)
CATALOGUE = "abhishek-photo"


def vote(nn: np.ndarray, bank_y: np.ndarray, n_classes: int, balanced: bool = True) -> np.ndarray:
    """Each row's vote of its neighbours `nn` (bank indices; `balanced`: each weighs 1 / its class's count in the
    bank, else 1), as probabilities."""
    weight = 1.0 / np.maximum(np.bincount(bank_y, minlength=n_classes), 1) if balanced else np.ones(n_classes)
    votes = np.zeros((len(nn), n_classes))
    for column in nn.T:
        np.add.at(votes, (np.arange(len(nn)), bank_y[column]), weight[bank_y[column]])
    return votes / votes.sum(1, keepdims=True)


def main() -> None:
    ap = heldout_parser(__doc__.splitlines()[0], "apply issue 16's rule (loso_train.rule) to COLUMN, e.g. "
                        "'mix 0.5 knn 10', against the head, paired by seed")
    ap.add_argument("--split", metavar="COLUMN", help="COLUMN's gain over the head, split by whether each held-out "
                    "run kept its probe head (KeepBest's fallback, before it was dropped) or its fine-tuned model")
    args = ap.parse_args()
    t0 = time.time()
    real, _, meta, frozen = shared_frozen(args)
    classes = list(meta["classes"])
    maps = {src: frozen.run(src, real.loc[real["source"] == src, ["path", "label"]]) for src in ORDER}
    print(f"frozen maps of {sum(len(m.y) for m in maps.values())} photos in {time.time() - t0:.0f}s", flush=True)
    rows, neighbours = [], []
    for seed in args.seeds:
        run = run_dir(args.work, seed, args.lever)
        for row in json.loads((run / "holdout_sources.json").read_text())["sources"]:
            held = run / row["run_dir"]
            model, held_meta = load_model(held, "cpu")
            out = frozen.logits(row["source"], model)
            split = pd.read_csv(held / "split.csv")
            train = split[split["split"] == "train"]
            bank = np.load(held / BANK)
            if len(bank) != len(train):
                raise SystemExit(f"{held}: bank of {len(bank)} rows, train split of {len(train)}")
            bank_y = train["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
            y = np.asarray(out.y)
            head = probabilities(out.logits, held_meta.get("temperature")).numpy()
            kept = "probe head" if held_meta["best"]["phase"] == "head" else "fine-tuned"
            result = {"seed": seed, "source": row["source"], "kept": kept, "head": float((head.argmax(1) == y).mean())}
            _, nearest_rows = nearest(out.features.numpy(), bank, max(KS))  # one search; each k reads its first k
            for k in KS:
                nn = nearest_rows[:, :k]
                knn = vote(nn, bank_y, len(classes))
                result[f"knn {k}"] = float((knn.argmax(1) == y).mean())
                plain = vote(nn, bank_y, len(classes), balanced=False)
                result[f"knn {k}, unweighted votes"] = float((plain.argmax(1) == y).mean())
                for w in MIXES:
                    result[f"mix {w:g} knn {k}"] = float((((1 - w) * head + w * knn).argmax(1) == y).mean())
                if k == 10 and row["source"] == CATALOGUE:
                    called = np.array(classes)[head.argmax(1)]
                    for i in range(len(y)):
                        near = train.iloc[nn[i]]
                        neighbours.append({"seed": seed, "head says": called[i],
                                           **(near["source"] + " " + near["label"]).value_counts().to_dict()})
            rows.append(result)
            print(f"seed {seed} {row['source']}: head {result['head']:.3f}, knn 10 {result['knn 10']:.3f} "
                  f"({time.time() - t0:.0f}s)", flush=True)
    table = pd.DataFrame(rows)
    means = table.drop(columns=["seed", "kept"]).groupby("source").mean().reindex(ORDER)
    means.loc["mean"] = means.mean()
    pd.set_option("display.width", 250)
    print(means.T.round(3).to_string())
    gains = means.sub(means["head"], axis=0) * 100
    print("gain over the head, points (mean of seeds):")
    print(gains.T.round(2).to_string())
    if neighbours:
        near = pd.DataFrame(neighbours).fillna(0)
        shares = near.drop(columns="seed").groupby("head says").mean().T.sort_values("bracelet", ascending=False)
        counts = near.groupby("head says").size()
        print("the catalogue rings' 10 nearest training photos (source, label): mean count of 10, by what the head "
              "says (" + ", ".join(f"{c}: {n} photos" for c, n in counts.items()) + ", over the seeds)")
        print(shares.round(2).to_string())
    if args.split:
        gain = (table[args.split] - table["head"]) * 100
        split = gain.groupby([table["kept"], table["source"]]).agg(["mean", "size"]).unstack(0).reindex(ORDER)
        print(f"{args.split}: gain over the head (points) by what each held-out run kept (size: held-out runs)")
        print(split.round(2).to_string())
    if args.rule:
        rule_by_seed(table, "head", args.rule)
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
