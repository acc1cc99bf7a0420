"""Issue 12: unknown photos, similar products and suspicious labels, measured on a trained run.

    flock /work/helpers/heavy.lock .venv/bin/python benchmarks/beyond_labels.py RUN_DIR [--with-run RUN_DIR]
        [--part unknown|retrieval|rotations|review|speed]

- unknown: in-distribution = the run's test split (and other shops' jewelry photos); unknown = far-from-jewelry
  photos (scikit-image's `skimage.data` pictures, each whole and its four quarters, written to the cache folder)
  and drawn near misses (`jewel synth --near-misses`). Scores: max softmax, energy, kNN (k = 1..10) on the
  fine-tuned body's L2-normalised pooled features, and kNN on the frozen ImageNet body's. Threshold: 95% of the
  valid split kept. Also the test accuracy of all photos and of the accepted ones.
- retrieval: Recall@1/5 and MAP@R of a design's other views (`jewel synth --views 4`) and of the real photos'
  near-duplicate groups (`core.findings` dhash groups, searched among all the real photos, the query left out),
  for each run given and the frozen ImageNet body, for candidate embeddings of the last feature map (mean, GeM,
  max, foreground-only pooling, earlier stages' means concatenated), each also PCA-whitened (sklearn, fitted on
  the run's train split). LP-FT never tunes the prefix, so one pass of it (onnxruntime) serves every body.
- rotations: drawn designs, GeM of one view vs the mean over the view turned 0/90/180/270 degrees.
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
import torch
from torch import nn

from jewelhelpers.core.backbones import build_model
from jewelhelpers.core.drawing import make_synth
from jewelhelpers.core.forward import batch_logits, gem_pool, mean_pool
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


def retrieval_scores(features: np.ndarray, groups: np.ndarray, gallery: np.ndarray | None = None,
                     gallery_groups: np.ndarray | None = None, query_rows: np.ndarray | None = None) -> dict:
    """Recall@1/5 (a photo of the same group among the k nearest other photos) and MAP@R over every photo whose
    group has another member; the search runs over `gallery` (default: the photos themselves), each query's own
    row (`query_rows`: its row in the gallery; all rows by default) left out."""
    import faiss
    if gallery is None:
        gallery, gallery_groups, query_rows = features, groups, np.arange(len(features))
    own = np.full(len(features), -1) if query_rows is None else np.asarray(query_rows)
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(normalise(gallery))
    counts = pd.Series(gallery_groups).value_counts()
    r_max = int(counts.max())
    _, rows = index.search(normalise(features), r_max + 1)
    recall1, recall5, maps = [], [], []
    for g, hits, me in zip(groups, rows, own):
        hits = [h for h in hits if h != me][:r_max]
        r = int(counts.get(g, 0)) - (me >= 0)
        if r < 1:
            continue
        same = np.array([gallery_groups[h] == g for h in hits])
        recall1.append(same[:1].any())
        recall5.append(same[:5].any())
        top = same[:r]
        maps.append(float(np.sum(top * np.cumsum(top) / np.arange(1, r + 1)) / r))
    return {"queries": len(maps), "recall@1": float(np.mean(recall1)), "recall@5": float(np.mean(recall5)),
            "map@r": float(np.mean(maps))}


def prefix_maps(frozen_pass, cache: Path, name: str, items: pd.DataFrame) -> torch.Tensor:
    """The frozen prefix's maps (LP-FT never tunes it: every body here shares it) of `items`, cached as .npy."""
    f = cache / f"prefix-{frozen_pass.meta['arch']}-{frozen_pass.meta['size']}-{name}.npy"
    if f.is_file():
        maps = np.load(f)
        if len(maps) == len(items):
            return torch.from_numpy(maps)
    t = time.perf_counter()
    out = frozen_pass.run(name, items, progress=False)
    if out.unreadable:
        raise SystemExit(f"unreadable files in {name}: {out.unreadable[:3]}")
    np.save(f, out.logits.numpy())
    print(f"  [prefix] {name}: {len(items)} images in {time.perf_counter() - t:.0f}s", flush=True)
    return out.logits


@torch.no_grad()
def pooled_variants(tail: nn.Module, head: nn.Module | None, maps: torch.Tensor, batch: int = 128) -> dict:
    """Every candidate embedding of the images whose prefix maps are `maps`, by a body's last stage `tail`
    (`head`: the run's linear head, for class-activation weights; None for the frozen body)."""
    import torch.nn.functional as F
    parts: dict[str, list] = {}
    linear = None if head is None else [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    for i in range(0, len(maps), batch):
        p = maps[i:i + batch]
        stage = tail[0](p)
        m = tail[1:](stage)
        avg = mean_pool(m)
        act = m.sum(1)  # activation mass per position (CroW's spatial weight)
        fg = (act > act.mean((1, 2), keepdim=True)).float()[:, None]
        row = {"mean": avg, "GeM p=3 (shipped)": gem_pool(m), "max": F.adaptive_max_pool2d(m, 1).flatten(1),
               "fg (activation > mean)": (m * fg).sum((2, 3)) / fg.sum((2, 3)),
               "mean + last block's mean": torch.cat([_unit(avg), _unit(mean_pool(stage))], 1),
               "mean + prefix's mean": torch.cat([_unit(avg), _unit(mean_pool(p))], 1)}
        if linear is not None:
            cam = torch.einsum("bchw,bc->bhw", m, linear.weight[linear(avg).argmax(1)])
            soft = cam.clamp(min=0)[:, None]
            hard = (cam > cam.mean((1, 2), keepdim=True)).float()[:, None]
            row |= {"cam-weighted": (m * soft).sum((2, 3)) / soft.sum((2, 3)).clamp(min=1e-6),
                    "fg (cam > mean)": (m * hard).sum((2, 3)) / hard.sum((2, 3)),
                    "GeM fg (cam > mean)": gem_pool(m * hard)}
        for k, v in row.items():
            parts.setdefault(k, []).append(v.float())
    return {k: normalise(torch.cat(v)) for k, v in parts.items()}


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)


def whitened(train: np.ndarray, *sets: np.ndarray, dims: int = 256) -> list[np.ndarray]:
    """PCA-whitening (sklearn) fitted on the training photos' embeddings, applied to `sets`, L2-normalised again."""
    from sklearn.decomposition import PCA
    pca = PCA(n_components=min(dims, len(train) - 1, train.shape[1]), whiten=True, random_state=0).fit(train)
    return [normalise(pca.transform(s)) for s in sets]


def part_retrieval(run_dirs: list[Path], cache: Path) -> pd.DataFrame:
    """Recall@1/5, MAP@R of every candidate embedding, frozen and fine-tuned bodies, with and without whitening."""
    from jewelhelpers.core.findings import audit
    from jewelhelpers.recipes.lpft import FrozenPass, cut_last_stage
    runs = {Path(r).name: load_model(r) for r in run_dirs}
    meta0 = next(iter(runs.values()))[1]
    for name, (_, meta) in runs.items():
        if (meta["arch"], meta["size"], meta["presize"], meta["mean"], meta["std"]) != \
                (meta0["arch"], meta0["size"], meta0["presize"], meta0["mean"], meta0["std"]):
            raise SystemExit(f"{name} is not preprocessed like the first run: one prefix pass cannot serve both")
    fp = FrozenPass(build_model(meta0["arch"], len(meta0["classes"]), pretrained=True, head="linear"), meta0)
    views_dir = make_synth(cache / "views", per_class=VIEW_DESIGNS, size=160, seed=0, views=VIEWS, progress=False)
    views = designs(views_dir).assign(path=lambda d: [str(views_dir / p) for p in d["path"]])
    real = read_items(ROOT.parent / "shared" / "datasets" / "jewelry_photos")
    found = audit(ROOT.parent / "shared" / "datasets" / "jewelry_photos", progress=False).duplicate_groups
    groups = np.array([f"solo{i}" for i in range(len(real))], dtype=object)
    dup_rows = np.array([real["path"].tolist().index(p) for p in found["path"]])
    groups[dup_rows] = found["group"].astype(str).to_numpy()
    maps = {"views": prefix_maps(fp, cache, "views", views), "real": prefix_maps(fp, cache, "real", real)}
    print(f"views: {len(views)} ({views['design'].nunique()} designs); real: {len(real)} photos, "
          f"{found['group'].nunique()} near-duplicate groups ({len(found)} photos)")
    real_row = {p: i for i, p in enumerate(real["path"])}
    rows, frozen_emb = [], {}
    for run_dir, (name, (model, meta)) in zip(run_dirs, runs.items()):
        train = split_paths(Path(run_dir), meta, "train")
        inside = [real_row.get(str(Path(p).resolve())) for p in train["path"]]
        maps["train"] = maps["real"][inside] if None not in inside else prefix_maps(fp, cache, f"train-{name}", train)
        cut = cut_last_stage(model[0])
        if not frozen_emb:
            frozen_emb = {k: pooled_variants(fp.frozen_tail, None, maps[k]) for k in ("views", "real")}
        tuned_emb = {k: pooled_variants(model[0][cut:], model[1], maps[k]) for k in ("views", "real", "train")}
        for body, emb in (("fine-tuned", tuned_emb),
                          ("frozen ImageNet", frozen_emb | {"train": pooled_variants(fp.frozen_tail, None, maps["train"])})):
            for k, e in emb.items():  # kept for a second look without another pass
                np.savez(cache / f"emb-{name}-{body.split()[0]}-{k}.npz", **e)
            for variant in emb["views"]:
                v, r, t = emb["views"][variant], emb["real"][variant], emb["train"][variant]
                for white in (False, True):
                    vv, rr = whitened(t, v, r) if white else (v, r)
                    drawn = retrieval_scores(vv, views["design"].to_numpy())
                    dup = retrieval_scores(rr[dup_rows], groups[dup_rows], rr, groups, dup_rows)
                    rows.append({"run": name, "body": body, "embedding": variant + (" + PCA-whitening" if white else ""),
                                 "drawn R@1": drawn["recall@1"], "drawn R@5": drawn["recall@5"],
                                 "drawn MAP@R": drawn["map@r"], "real R@1": dup["recall@1"],
                                 "real R@5": dup["recall@5"], "real MAP@R": dup["map@r"]})
        print(f"{name}: train split {len(train)} photos (whitening fitted on them)", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_rows", 500):
        print(table.round(3).to_string(index=False))
    return table


def part_rotations(run_dirs: list[Path], cache: Path) -> pd.DataFrame:
    """Drawn designs only: GeM (p = 3) of each view alone vs averaged over the view turned by 0, 90, 180 and 270
    degrees (test-time augmentation, 4 passes per photo): how much of the miss is the pose?"""
    from jewelhelpers.core.forward import in_batches, preprocess
    from jewelhelpers.recipes.lpft import FrozenPass, cut_last_stage
    runs = {Path(r).name: load_model(r) for r in run_dirs}
    meta = next(iter(runs.values()))[1]
    fp = FrozenPass(build_model(meta["arch"], len(meta["classes"]), pretrained=True, head="linear"), meta)
    views = designs(cache / "views").assign(path=lambda d: [str(cache / "views" / p) for p in d["path"]])
    f = cache / f"prefix-{meta['arch']}-{meta['size']}-views-turned.npy"
    if not f.is_file():
        t, parts = time.perf_counter(), []
        for i in range(0, len(views), 64):
            x = torch.stack([preprocess(p, meta) for p in views["path"][i:i + 64]])
            parts.append(torch.stack([in_batches(fp.prefix, torch.rot90(x, k, (2, 3))) for k in (1, 2, 3)], 1))
        np.save(f, torch.cat(parts).numpy())
        print(f"  [prefix] views turned 3 ways: {len(views)} images in {time.perf_counter() - t:.0f}s", flush=True)
    turned = torch.from_numpy(np.load(f))
    upright = prefix_maps(fp, cache, "views", views)
    tails = {f"{n} fine-tuned": m[0][cut_last_stage(m[0]):] for n, (m, _) in runs.items()} | {"frozen ImageNet": fp.frozen_tail}
    rows = []
    for body, tail in tails.items():
        gem = [normalise(gem_pool(in_batches(tail, maps))) for maps in (upright, *turned.unbind(1))]
        for how, e in (("one view", gem[0]), ("mean of 4 turns", normalise(np.mean(gem, 0)))):
            rows.append({"body": body, "GeM p=3": how, **retrieval_scores(e, views["design"].to_numpy())})
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    return table


def flip_labels(labels: np.ndarray, classes: list[str], share: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`share` of the labels changed at random to another class (in memory); the new labels and which changed."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), int(round(share * len(labels))), replace=False)
    noisy = labels.copy()
    for i in flipped:
        noisy[i] = rng.choice([c for c in classes if c != labels[i]])
    mask = np.zeros(len(labels), bool)
    mask[flipped] = True
    return noisy, mask


def review_scores(features: np.ndarray, labels: np.ndarray, classes: list[str], seeds=(0, 1, 2)) -> dict:
    """Precision / recall of the flipped labels among cleanlab's flagged ones, and precision at recall 0.8."""
    from cleanlab.rank import get_label_quality_scores
    from jewelhelpers.core.review import label_issues, out_of_fold
    out = []
    for seed in seeds:
        noisy, truth = flip_labels(labels, classes, seed=seed)
        items = pd.DataFrame({"path": np.arange(len(labels)), "label": noisy})
        probs = out_of_fold(features, noisy, classes, seed=seed)
        flagged = np.zeros(len(labels), bool)
        flagged[label_issues(items, probs, classes)["path"].to_numpy(dtype=int)] = True
        quality = get_label_quality_scores(items["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(), probs)
        order = np.argsort(quality)
        hits = np.cumsum(truth[order])
        at = int(np.searchsorted(hits, np.ceil(0.8 * truth.sum()))) + 1
        out.append({"flipped": int(truth.sum()), "flagged": int(flagged.sum()),
                    "precision": float((flagged & truth).sum() / max(flagged.sum(), 1)),
                    "recall": float((flagged & truth).sum() / truth.sum()), "precision@recall0.8": float(0.8 * truth.sum() / at)})
    return pd.DataFrame(out).mean().to_dict() | {"seeds": len(seeds)}


def part_review(run_dir: Path, meta: dict, tuned: Outputs, frozen: Outputs, cache: Path) -> pd.DataFrame:
    named = named_sets(run_dir, meta, cache)
    labels = np.concatenate([split_paths(run_dir, meta, s)["label"].to_numpy() for s in ("train", "valid", "test")])
    views = designs(cache / "views")["label"].to_numpy()
    rows = []
    for body, outputs in (("fine-tuned (the run's)", tuned), ("frozen ImageNet", frozen)):
        feats = np.concatenate([outputs(s, named[s])[1] for s in ("train", "valid", "test")])
        rows.append({"body": body, "data": f"real photos ({len(labels)})", **review_scores(feats, labels, meta["classes"])})
        rows.append({"body": body, "data": f"drawn ({len(views)})",
                     **review_scores(outputs("views", named["views"])[1], views, meta["classes"])})
    table = pd.DataFrame(rows)
    print("5% of labels flipped at random (3 seeds, means); flagged = cleanlab find_label_issues on out-of-fold probe "
          "probabilities")
    print(table.round(3).to_string(index=False))
    return table


def part_speed(dim: int = 1280, n: int = 100_000, repeats: int = 50) -> dict:
    """Milliseconds per single-photo query of IndexFlatIP over `n` random unit vectors (median of `repeats`)."""
    import faiss
    rng = np.random.default_rng(0)
    vectors = normalise(rng.standard_normal((n, dim), dtype=np.float32))
    t = time.perf_counter()
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    build = time.perf_counter() - t
    queries = normalise(rng.standard_normal((repeats, dim), dtype=np.float32))
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None], 10)
        times.append(time.perf_counter() - t)
    res = {"vectors": n, "dim": dim, "threads": faiss.omp_get_max_threads(), "build_ms": build * 1000,
           "query_ms_median": float(np.median(times) * 1000), "query_ms_p95": float(np.quantile(times, 0.95) * 1000)}
    print(f"faiss IndexFlatIP, {n} x {dim} float32 unit vectors, top-10 of one query, {res['threads']} threads: "
          f"median {res['query_ms_median']:.1f} ms, p95 {res['query_ms_p95']:.1f} ms (index built in {build * 1000:.0f} ms)")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--part", choices=("extract", "unknown", "retrieval", "rotations", "review", "speed", "all"),
                   default="all")
    p.add_argument("--with-run", type=Path, action="append", default=[],
                   help="retrieval, rotations: another run of the same arch and size beside RUN_DIR (repeatable)")
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
    if a.part in ("retrieval", "all"):
        part_retrieval([a.run_dir, *a.with_run], a.cache)
    if a.part in ("rotations", "all"):
        part_rotations([a.run_dir, *a.with_run], a.cache)
    if a.part in ("review", "all"):
        part_review(a.run_dir, meta, tuned, frozen, a.cache)
    if a.part in ("speed", "all"):
        part_speed(len(tuned("test", list(split_paths(a.run_dir, meta, "test")["path"]))[1][0]))


if __name__ == "__main__":
    main()
