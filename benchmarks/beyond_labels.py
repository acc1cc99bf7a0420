"""Issue 12: unknown photos, similar products and suspicious labels, measured on a trained run.

    flock /work/helpers/heavy.lock .venv/bin/python benchmarks/beyond_labels.py RUN_DIR [--part unknown|retrieval|review|speed]

- unknown: in-distribution = the run's test split (and other shops' jewelry photos); unknown = far-from-jewelry
  photos (scikit-image's `skimage.data` pictures, each whole and its four quarters, written to the cache folder)
  and drawn near misses (`jewel synth --near-misses`). Scores: max softmax, energy, kNN (k = 1..10) on the
  fine-tuned body's L2-normalised pooled features, and kNN on the frozen ImageNet body's. Threshold: 95% of the
  valid split kept. Also the test accuracy of all photos and of the accepted ones.
- retrieval: Recall@1/5 and MAP@R of a design's other views (`jewel synth --views 4`) and of the real photos'
  near-duplicate groups (`core.findings` dhash groups), fine-tuned body vs frozen ImageNet body.
- review: 5% of the labels flipped at random (in memory; the photos are only read), `core.review` on them;
  precision and recall of the flipped files among those flagged; on the real photos and on a drawn set.
- speed: query time of `jewel similar`'s faiss search against 100,000 random unit vectors.
Outputs of every forward pass are cached in --cache (default /tmp/beyond-cache) and reused.
See benchmarks/RESULTS.md, "Beyond five labels (issue 12)".
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jewelhelpers.core.backbones import build_model
from jewelhelpers.core.drawing import make_synth
from jewelhelpers.core.forward import batch_logits
from jewelhelpers.core.images import read_items
from jewelhelpers.core.manifest import manifest_split
from jewelhelpers.core.runs import load_model
from jewelhelpers.core.unknown import fit_threshold, knn_distances, normalise, separation, unknown_scores

ROOT = Path(__file__).resolve().parents[1]
SHOPS = ROOT.parent / "shared" / "datasets" / "other_shops"
FAR = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel",
       "horse", "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text",
       "checkerboard", "cell", "stereo_motorcycle", "shepp_logan_phantom")
VIEW_DESIGNS, VIEWS = 40, 4  # drawn designs per class, views per design (retrieval)


def far_photos(folder: Path) -> list[Path]:
    """scikit-image's sample pictures, each whole and cut in four quarters, as RGB PNGs in `folder` (cache only)."""
    import skimage.data
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in FAR:
        a = getattr(skimage.data, name)()
        a = a[0] if isinstance(a, tuple) else a
        im = Image.fromarray(np.asarray(a)).convert("RGB")
        w, h = im.size
        crops = [(0, 0, w, h)] + [(x, y, x + w // 2, y + h // 2) for x in (0, w // 2) for y in (0, h // 2)]
        for k, box in enumerate(crops):
            path = folder / f"{name}_{k}.png"
            if not path.is_file():
                im.crop(box).save(path)
            paths.append(path)
    return paths


class Outputs:
    """Logits and pooled features of a model on named lists of images, cached as .npz files."""

    def __init__(self, model, meta: dict, cache: Path, tag: str):
        self.model, self.meta, self.cache, self.tag = model, meta, cache, tag

    def __call__(self, name: str, paths: list) -> tuple[np.ndarray, np.ndarray]:
        f = self.cache / f"{self.tag}-{name}.npz"
        if f.is_file():
            d = np.load(f)
            if len(d["logits"]) == len(paths):
                return d["logits"], d["features"]
        t = time.perf_counter()
        out = batch_logits(self.model, [str(p) for p in paths], self.meta, batch_size=64, features=True)
        if out.errors:
            raise SystemExit(f"unreadable files in {name}: {list(out.errors.values())[:3]}")
        np.savez(f, logits=out.logits.numpy(), features=out.features.numpy())
        print(f"  [{self.tag}] {name}: {len(paths)} images in {time.perf_counter() - t:.0f}s", flush=True)
        return out.logits.numpy(), out.features.numpy()


def frozen_model(meta: dict):
    """The run's architecture with its ImageNet body (the head is untouched random: only features are used)."""
    return build_model(meta["arch"], len(meta["classes"]), pretrained=True, head=meta.get("head", "fastai")).model.eval()


def split_paths(run_dir: Path, meta: dict, split: str) -> pd.DataFrame:
    return manifest_split(run_dir, meta, split)[["path", "label"]].reset_index(drop=True)


def named_sets(run_dir: Path, meta: dict, cache: Path) -> dict[str, list]:
    """Every list of photos the parts use: the run's splits, other shops, far photos, near misses, drawn views."""
    sets = {s: list(split_paths(run_dir, meta, s)["path"]) for s in ("train", "valid", "test")}
    shops = pd.concat([read_items(d) for d in sorted(SHOPS.iterdir()) if d.is_dir()], ignore_index=True)
    near = read_items(make_synth(cache / "near-misses", per_class=40, size=160, seed=0, near_misses=True,
                                 progress=False))
    views = make_synth(cache / "views", per_class=VIEW_DESIGNS, size=160, seed=0, views=VIEWS, progress=False)
    return sets | {"other_shops": list(shops["path"]), "far": far_photos(cache / "far"),
                   "near_misses": list(near["path"]), "views": [str(views / p) for p in designs(views)["path"]]}


def designs(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "designs.csv")


def part_unknown(run_dir: Path, meta: dict, tuned: Outputs, frozen: Outputs, cache: Path) -> pd.DataFrame:
    named = {k: v for k, v in named_sets(run_dir, meta, cache).items() if k != "views"}
    sets = {s: split_paths(run_dir, meta, s) for s in ("train", "valid", "test")}
    print(f"unknown photos: {', '.join(f'{k} {len(v)}' for k, v in named.items())}")
    out = {k: tuned(k, v) for k, v in named.items()}
    frz = {k: frozen(k, v) for k, v in named.items()}
    bank_t, bank_f = normalise(out["train"][1]), normalise(frz["train"][1])
    scores: dict[str, dict[str, np.ndarray]] = {}
    for k in named:
        logits, feats = out[k]
        row = {"msp": unknown_scores("msp", logits), "energy": unknown_scores("energy", logits)}
        d = knn_distances(feats, bank_t, 10)
        row |= {f"knn k={j}": d[:, j - 1] for j in (1, 2, 3, 5, 10)}
        row["knn frozen k=5"] = knn_distances(frz[k][1], bank_f, 5)[:, 4]
        scores[k] = row
    rows = []
    y_test = sets["test"]["label"].map({c: i for i, c in enumerate(meta["classes"])}).to_numpy()
    right = out["test"][0].argmax(1) == y_test
    for method in scores["test"]:
        threshold = fit_threshold(scores["valid"][method])
        kept = scores["test"][method] <= threshold
        row = {"score": method, "test kept": kept.mean(), "acc all": right.mean(), "acc kept": right[kept].mean()}
        for known in ("test", "other_shops"):
            for unknown in ("far", "near_misses"):
                s = separation(scores[known][method], scores[unknown][method])
                row[f"AUROC {known}/{unknown}"] = s["auroc"]
                row[f"FPR95 {known}/{unknown}"] = float(np.mean(scores[unknown][method] <= threshold))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("score")
    print("FPR95 = share of unknown photos accepted at the threshold fitted on the valid split (95% kept)")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(3).T.to_string())
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--part", choices=("extract", "unknown", "retrieval", "review", "speed", "all"), default="all")
    p.add_argument("--cache", type=Path, default=Path("/tmp/beyond-cache"))
    a = p.parse_args()
    a.cache.mkdir(parents=True, exist_ok=True)
    model, meta = load_model(a.run_dir)
    tag = f"{Path(a.run_dir).name}-{meta['size']}"
    tuned, frozen = Outputs(model, meta, a.cache, tag), Outputs(frozen_model(meta), meta, a.cache, f"imagenet-{tag}")
    print(f"run {a.run_dir}: {meta['arch']}, {meta['size']} px, seed {meta.get('seed')}, profile {meta.get('profile')}")
    if a.part == "extract":  # every forward pass, once, into the cache (the only part that needs the lock)
        for name, paths in named_sets(a.run_dir, meta, a.cache).items():
            tuned(name, paths)
            frozen(name, paths)
    if a.part in ("unknown", "all"):
        part_unknown(a.run_dir, meta, tuned, frozen, a.cache)


if __name__ == "__main__":
    main()
