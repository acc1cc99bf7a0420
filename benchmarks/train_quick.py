"""Issues 3 and 6: the quick profile's default recipe on the real photos, beside a frozen-feature probe.

Trains `jewel train --profile quick --arch auto` on ../shared/datasets/jewelry_photos (read in place, never
copied) and prints test accuracy, macro F1 and wall time; the run's `baseline.csv` side by side (probe vs the
recipe on the test split and on each other shop's folder: ../shared/datasets/other_shops/* by default, never
trained on); then, for reference, a logistic-regression probe on frozen EfficientNet-Lite0 224 px features fitted
on the same split's train rows. Targets on 2 CPU cores: accuracy >= 0.98, macro F1 >= 0.97 (issue 3); in-domain
>= 0.97, myntra_fashion >= 0.92, western_lifestyle >= 0.75 (issue 6); under 15 minutes.

    nice -n 10 .venv/bin/python benchmarks/train_quick.py                          # the full benchmark
    .venv/bin/python benchmarks/train_quick.py --max-per-class 20                  # a reduced check
    .venv/bin/python benchmarks/train_quick.py --max-per-class 4 --size 64 --epochs-head 1 --epochs 1 \\
        --probe-size 64                                                            # seconds, for tests
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "jewelry_photos"
SHOPS = [ROOT.parent / "shared" / "datasets" / "other_shops" / name for name in ("myntra_fashion", "western_lifestyle")]
TARGET = {"accuracy": 0.98, "macro_f1": 0.97, "minutes": 15}
SHOP_TARGET = {"test split": 0.97, "myntra_fashion": 0.92, "western_lifestyle": 0.75}
PROBE_ARCH = "efficientnet_lite0"


def linear_probe(manifest: pd.DataFrame, size: int) -> dict:
    """Test accuracy and macro F1 of logistic regression on frozen Lite0 features (train rows -> test rows)."""
    from sklearn.metrics import f1_score
    from jewelhelpers.core.backbones import norm_stats
    from jewelhelpers.core.probe import extract_features, fit_probe
    start = time.perf_counter()
    mean, std = norm_stats(PROBE_ARCH)
    classes = sorted(manifest["label"].unique())
    train, test = (manifest[manifest["split"] == s] for s in ("train", "test"))
    features = [extract_features(PROBE_ARCH, list(rows["path"]), size, mean, std, views=1, progress=False)
                for rows in (train, test)]
    predicted = fit_probe(features[0], train["label"], classes).predict(features[1])
    return {"accuracy": float((test["label"] == predicted).mean()),
            "macro_f1": float(f1_score(test["label"], predicted, labels=classes, average="macro", zero_division=0)),
            "n": len(test), "seconds": time.perf_counter() - start}


def _minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-quick", help="RUN_DIR (replaced if a run)")
    ap.add_argument("--max-per-class", type=int, default=None, help="a few images per class: a run in seconds")
    ap.add_argument("--size", type=int, default=None, help="image size (default: the quick profile's)")
    ap.add_argument("--epochs-head", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--recipe", choices=("lpft", "classic"), default=None, help="default: the quick profile's")
    ap.add_argument("--lr", type=float, default=None, help="lpft fine-tuning rate (default: the profile's)")
    ap.add_argument("--soup", type=int, default=None, help="lpft runs averaged (default: the profile's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probe-size", type=int, default=224, help="image size of the linear probe's features")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--external", type=Path, nargs="*", default=[s for s in SHOPS if s.is_dir()],
                    help="other shops' folders scored beside the probe (default: ../shared/datasets/other_shops/*)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    import torch
    from jewelhelpers.jobs.train import train
    torch.set_num_threads(args.threads)
    summary = train(args.data, args.out, profile="quick", size=args.size, epochs_head=args.epochs_head,
                    epochs=args.epochs, max_per_class=args.max_per_class, force=True, recipe=args.recipe,
                    lr=args.lr, soup=args.soup, seed=args.seed, external=args.external)
    probe = linear_probe(pd.read_csv(args.out / "split.csv"), args.probe_size)
    passed = (summary["accuracy"] >= TARGET["accuracy"] and summary["macro_f1"] >= TARGET["macro_f1"]
              and summary["seconds"] < TARGET["minutes"] * 60)
    print(f"\nfine-tuned {summary['arch']} (quick profile, {args.threads} threads): test accuracy "
          f"{summary['accuracy']:.4f}, macro F1 {summary['macro_f1']:.4f} on {summary['n_test']} images, "
          f"wall {_minutes(summary['seconds'])}")
    print(f"linear probe (frozen {PROBE_ARCH} features, {args.probe_size} px, logistic regression): test accuracy "
          f"{probe['accuracy']:.4f}, macro F1 {probe['macro_f1']:.4f} on {probe['n']} images, "
          f"wall {_minutes(probe['seconds'])}")
    side = pd.read_csv(args.out / "baseline.csv", index_col="set")[["n", "probe_accuracy", "fine_tuned_accuracy"]]
    side["target"] = [SHOP_TARGET.get(name) for name in side.index]
    print(f"\nfrozen probe vs the recipe (accuracy; issue 6 targets):\n{side.to_string(float_format=lambda v: f'{v:.3f}')}")
    print(f"target: accuracy >= {TARGET['accuracy']}, macro F1 >= {TARGET['macro_f1']}, under "
          f"{TARGET['minutes']} minutes -> {'PASS' if passed else 'FAIL'}; run folder: {args.out}")


if __name__ == "__main__":
    main()
