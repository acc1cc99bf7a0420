"""Inference speed and accuracy: eager PyTorch vs ONNX Runtime vs int8 ONNX, side by side on the same images.

    .venv/bin/python benchmarks/inference_speed.py --run runs/r50 --run runs/lite0
    .venv/bin/python benchmarks/inference_speed.py            # untrained resnet50 + efficientnet_lite0: speed only

For each run (or, for an arch without a run, an untrained model built in a temporary folder: speed only,
accuracy n/a), each engine and each batch size: images per second of the model alone on preprocessed
images (decoding and resizing excluded, one warm-up batch), the ratio to eager PyTorch, and accuracy on the
run's test split with how often each engine's top-1 agrees with eager PyTorch's. Target: ONNX or int8 >= 2x
eager at batch 32, losing at most 0.5 points of accuracy.
ONNX files are exported into each RUN_DIR on first use.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from jewelhelpers.core.backbones import build_model
from jewelhelpers.core.images import read_items
from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.manifest import manifest_split
from jewelhelpers.core.forward import preprocess
from jewelhelpers.core.predictor import Predictor
from jewelhelpers.core.settings import ENGINES
from jewelhelpers.core.manifest import MANIFEST
from jewelhelpers.core.runs import META, read_meta, save_weights, versions, write_json
from jewelhelpers.core.drawing import make_synth

TARGET_SPEEDUP, MAX_ACC_DROP = 2.0, 0.005


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, action="append", default=[], help="a trained RUN_DIR (repeatable)")
    p.add_argument("--archs", nargs="*", default=["resnet50", "efficientnet_lite0"],
                   help="archs to measure; those without a --run use an untrained model (speed only)")
    p.add_argument("--size", type=int, default=224, help="image size of the untrained models")
    p.add_argument("--n-images", type=int, default=64, help="images timed per repeat")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-test", type=int, default=300, help="test images for accuracy (first N of the split)")
    return p.parse_args(argv)


def untrained_run(arch: str, size: int, folder: Path) -> Path:
    """A RUN_DIR with an untrained `arch` and a few synthetic training images (int8 calibration needs them)."""
    data = make_synth(folder / "data", per_class=2, size=size, seed=0, progress=False)
    items = read_items(data).assign(split="train", group=lambda d: range(len(d)))
    run = folder / arch
    run.mkdir()
    items.to_csv(run / MANIFEST, index=False)
    classes = sorted(items["label"].unique())
    bb = build_model(arch, len(classes), pretrained=False)
    save_weights(run, bb.model)
    write_json(run / META, {
        "classes": classes, "arch": arch, "pretrained": False, "weights_source": bb.source, "size": size,
        "presize": size, "mean": bb.mean, "std": bb.std, "profile": "benchmark", "seed": 0, "versions": versions(),
        "timings": {}, "temperature": None, "data": str(data), "manifest": MANIFEST})
    return run


def timing_images(run: Path, meta: dict, n: int, trained: bool) -> torch.Tensor:
    """`n` preprocessed test images (repeated if the split is smaller), or random ones for an untrained run."""
    size = int(meta["size"])
    paths = list(manifest_split(run, meta, "test")["path"]) if trained else []
    tensors = []
    for path in paths:
        if len(tensors) == n:
            break
        try:
            tensors.append(preprocess(path, meta))
        except JewelError:  # an unreadable test image is simply not timed
            continue
    if not tensors:
        return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))
    return torch.stack([tensors[i % len(tensors)] for i in range(n)])


def measure(run: Path, name: str, trained: bool, a: argparse.Namespace) -> list[dict]:
    """Speed of every engine at every batch size; when the run is trained, its test accuracy and how often its
    top-1 agrees with eager PyTorch's."""
    meta = read_meta(run)
    x = timing_images(run, meta, a.n_images, trained)
    rows, eager_top1 = [], None
    for engine in ENGINES:
        predictor = Predictor.from_run(run, engine)
        acc = agree = float("nan")
        if trained:
            probs, y = predictor.split_probabilities("test", limit=a.max_test)
            top1 = probs.argmax(1)
            eager_top1 = top1 if eager_top1 is None else eager_top1
            acc, agree = float((top1 == y).mean()), float((top1 == eager_top1).mean())
        for bs in a.batch_sizes:
            rows.append({"run": name, "arch": meta["arch"], "size": int(meta["size"]), "engine": engine, "batch": bs,
                         "images_per_s": predictor.throughput(x, bs, a.repeats), "accuracy": acc,
                         "agrees_with_eager": agree})
        print(f"  {meta['arch']} {engine}: done", file=sys.stderr, flush=True)
    return rows


def compare(rows: list[dict]) -> pd.DataFrame:
    """Add the ratio to eager PyTorch (same run, same batch) and the accuracy change in points."""
    df = pd.DataFrame(rows)
    eager = df[df["engine"] == "torch"].set_index(["run", "batch"])
    key = pd.MultiIndex.from_frame(df[["run", "batch"]])
    df["vs_eager"] = (df["images_per_s"].to_numpy() / eager["images_per_s"].reindex(key).to_numpy()).round(2)
    df["acc_change_points"] = 100 * (df["accuracy"].to_numpy() - eager["accuracy"].reindex(key).to_numpy())
    return df


def verdict(df: pd.DataFrame) -> list[str]:
    """Per run: does ONNX or int8 reach the target at the largest batch size?"""
    lines = []
    top = df[df["batch"] == df["batch"].max()]
    for run, g in top.groupby("run", sort=False):
        for _, r in g[g["engine"] != "torch"].iterrows():
            fast = r["vs_eager"] >= TARGET_SPEEDUP
            acc = "accuracy n/a (untrained)" if np.isnan(r["acc_change_points"]) else (
                f"accuracy change {r['acc_change_points']:+.2f} points "
                f"({'ok' if r['acc_change_points'] >= -100 * MAX_ACC_DROP else 'TOO LARGE A DROP'}), "
                f"top-1 agrees with eager on {r['agrees_with_eager']:.1%}")
            lines.append(f"{run} {r['engine']} at batch {r['batch']}: {r['vs_eager']:.2f}x eager "
                         f"({'meets' if fast else 'below'} the {TARGET_SPEEDUP:.0f}x target), {acc}")
    return lines


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark, print the table and the verdict, return the table."""
    warnings.filterwarnings("ignore")
    a = _args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in a.run:
            rows += measure(run, str(run), True, a)
        covered = {read_meta(r)["arch"] for r in a.run}
        for arch in a.archs:
            if arch not in covered:
                rows += measure(untrained_run(arch, a.size, Path(tmp) / arch), f"untrained {arch}", False, a)
    df = compare(rows)
    print(f"threads: torch {torch.get_num_threads()}, cpus {os.cpu_count()}; timed: model only on "
          f"{a.n_images} preprocessed images x {a.repeats} repeats"
          + ("; 'untrained' rows measure speed only, accuracy n/a" if df["run"].str.startswith("untrained").any() else ""))
    print(df.to_string(index=False, na_rep="n/a", float_format=lambda v: f"{v:.3f}"))
    print("\n".join(verdict(df)))
    return df


if __name__ == "__main__":
    main()
