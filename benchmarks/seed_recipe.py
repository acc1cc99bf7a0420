"""Issue 13: the seed document's plain PyTorch loop beside the quick profile, on the same split, in one run.

The seed's loop: the ImageNet backbone (`--arch auto`: ResNet50 when its weights can be had, else
EfficientNet-Lite0) with a new linear head, every layer trained with Adam at 1e-3, 224 px, batch 32, no
augmentation, the epoch with the best valid accuracy kept. Its images are decoded and preprocessed once (kinder to
it than a DataLoader that decodes each epoch). After each epoch the kept model is scored on the test split (not
counted in its time). Then `jewel train --profile quick` on the same split and seed. Printed: each epoch's time and
accuracies, the time the plain loop took to reach the quick profile's test accuracy (or that it did not within
`--epochs`), and the ratio. Target: the quick profile >= 3x faster to the same test accuracy.

    nice .venv/bin/python benchmarks/seed_recipe.py                                 # the whole benchmark
    .venv/bin/python benchmarks/seed_recipe.py --epochs 2 --quick-run RUN_DIR       # reuse a quick run of this split
    .venv/bin/python benchmarks/seed_recipe.py --max-per-class 4 --size 64 --epochs 1 --data DIR   # seconds, for tests
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "jewelry_photos"
TARGET_RATIO = 3.0


def _tensors(items: pd.DataFrame, meta: dict) -> tuple[torch.Tensor, torch.Tensor]:
    from jewelhelpers.core.forward import preprocess
    x = torch.stack([preprocess(p, meta) for p in items["path"]])
    return x, torch.tensor([meta["classes"].index(c) for c in items["label"]])


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    from jewelhelpers.core.forward import in_batches
    return float((in_batches(model, x, 64).argmax(1) == y).float().mean())


def plain_loop(manifest: pd.DataFrame, arch: str, epochs: int, size: int, seed: int) -> pd.DataFrame:
    """The seed's loop; one row per epoch: seconds so far (training + valid), valid and test accuracy of the kept model."""
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.recipes.fitting import seed_everything
    seed_everything(seed)
    classes = sorted(manifest["label"].unique())
    backbone = build_model(arch, len(classes), pretrained=True, head="linear")
    model = backbone.model
    meta = {"classes": classes, "size": size, "presize": size, "mean": backbone.mean, "std": backbone.std}
    start = time.perf_counter()
    (x, y), (xv, yv) = (_tensors(manifest[manifest["split"] == s], meta) for s in ("train", "valid"))
    spent = time.perf_counter() - start  # decoding counts towards the loop's time
    xt, yt = _tensors(manifest[manifest["split"] == "test"], meta)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    best, kept, rows = -1.0, None, []
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        for batch in torch.randperm(len(x)).split(32):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
        valid = _accuracy(model, xv, yv)
        if valid > best:
            best, kept = valid, copy.deepcopy(model.state_dict())
        spent += time.perf_counter() - start
        current = copy.deepcopy(model.state_dict())
        model.load_state_dict(kept)
        rows.append({"epoch": epoch + 1, "seconds": round(spent, 1), "valid_accuracy": best,
                     "test_accuracy": _accuracy(model, xt, yt)})
        model.load_state_dict(current)
        print(f"plain loop epoch {epoch + 1}: {spent:.0f} s so far, kept model valid {best:.4f}, "
              f"test {rows[-1]['test_accuracy']:.4f}", flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--epochs", type=int, default=4, help="epochs of the plain loop")
    ap.add_argument("--size", type=int, default=224, help="image size of the plain loop")
    ap.add_argument("--max-per-class", type=int, default=None, help="a few images per class: a run in seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick-run", type=Path, default=None,
                    help="a quick-profile RUN_DIR already trained on this DATA and seed: its time and accuracy are "
                         "reused instead of training again (say so when reporting)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from jewelhelpers.core import runs
    from jewelhelpers.core.backbones import resolve_arch
    from jewelhelpers.core.manifest import make_split
    from jewelhelpers.core.settings import TEST, VALID
    from jewelhelpers.jobs.train import train
    torch.set_num_threads(args.threads)
    manifest = make_split(args.data, valid=VALID, test=TEST, seed=args.seed, max_per_class=args.max_per_class)
    manifest["path"] = [str(args.data / p) if not Path(p).is_absolute() else p for p in manifest["path"]]
    arch = resolve_arch("auto")[0]
    with tempfile.TemporaryDirectory(prefix="jewel-seed-recipe-") as tmp:
        if args.quick_run:
            meta, metrics = runs.read_meta(args.quick_run), runs.read_json(args.quick_run / runs.METRICS)
            quick = {"accuracy": metrics["accuracy"], "seconds": meta["timings"]["total"], "source": str(args.quick_run)}
        else:
            summary = train(args.data, Path(tmp) / "quick", profile="quick", seed=args.seed,
                            max_per_class=args.max_per_class, external=[])
            quick = {"accuracy": summary["accuracy"], "seconds": summary["seconds"], "source": "trained now"}
    print(f"quick profile ({arch}, {quick['source']}): test accuracy {quick['accuracy']:.4f} in {quick['seconds']:.0f} s",
          flush=True)
    epochs = plain_loop(manifest, arch, args.epochs, args.size, args.seed)
    reached = epochs[epochs["test_accuracy"] >= quick["accuracy"] - 1e-9]
    if len(reached):
        seconds = float(reached["seconds"].iloc[0])
        verdict = (f"the plain loop reached {quick['accuracy']:.4f} after {int(reached['epoch'].iloc[0])} epoch(s), "
                   f"{seconds:.0f} s: the quick profile is {seconds / quick['seconds']:.1f}x faster")
        ratio = seconds / quick["seconds"]
    else:
        seconds = float(epochs["seconds"].iloc[-1])
        ratio = seconds / quick["seconds"]
        verdict = (f"the plain loop did not reach {quick['accuracy']:.4f} in {args.epochs} epoch(s) "
                   f"(best test {epochs['test_accuracy'].max():.4f}, {seconds:.0f} s): the quick profile is more "
                   f"than {ratio:.1f}x faster")
    print(f"\n{epochs.to_string(index=False)}\n{verdict}; target >= {TARGET_RATIO:.0f}x -> "
          f"{'PASS' if ratio >= TARGET_RATIO else 'FAIL (or not reached yet)'}", flush=True)
    return {"quick": quick, "epochs": epochs, "ratio": ratio, "reached": bool(len(reached))}


if __name__ == "__main__":
    main()
