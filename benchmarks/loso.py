"""Issue 16: choose the probe's settings by leave-one-source-out over every source of photos we have.

Sources: the four (origin repository x render/photo) cells of `jewelry_photos` (its labels.csv), each
`other_shops` folder, and the drawn set (`core.drawing`). For one setting, a probe (`core.probe.fit_probe`) is
trained on all sources but one and scored on the one left out, for each source in turn; the mean over sources is
what a lever must raise. Noise: the same LOSO repeated with other seeds (each trains on a seeded 90% of the real
rows and another draw of the drawn images); a lever is adopted only if the mean rises by more than twice the
seeds' standard deviation and no source drops by more than that.

Frozen EfficientNet-Lite0 features are computed once per image and setting (224 px by default, `--sizes 224 288`
adds the shipped 288 px; centre crop, or the whole image squished to a square) and cached by
`core.probe.extract_features`; then every setting costs seconds.

    flock /work/helpers/heavy.lock nice -n 10 .venv/bin/python benchmarks/loso.py --drawings v1 v2 --extract  # once
    flock /work/helpers/heavy.lock nice -n 10 .venv/bin/python benchmarks/loso.py --drawings v1 v2            # selection
    .venv/bin/python benchmarks/loso.py --drawings v1 v2 --cues   # what drawn and real photos differ in, per class
    flock /work/helpers/heavy.lock nice -n 10 .venv/bin/python benchmarks/loso.py --drawings v2 v1 --composites 40 80

`--composites N ...` measures `core.composite` (products on white cut out, pasted on drawn scenes): a pool of up to
40 composites per class of each real source is drawn once (cached with the features); a probe held out on a source
adds N per class drawn from the *other* sources' composites only.

`--archs A ...` measures other frozen bodies' features (`efficientnet_lite1`, `efficientnet_lite2`: ImageNet weights
from their pip packages) in place of Lite0's, at the base's size.

`--sizes 288 S ... --compare-sizes` measures each other size S against the base at 288 px, 3 seeds each, paired (the
drawn images, drawn at 320 px, are resized like the photos).

`--drawn N ...` measures more (or fewer) drawn images per class than the base's 80, from one pool drawn as large as
the largest N (its first 80 per class are the base's pool, image for image: the same seeds).

A pool missing from the cache is drawn with the *current* `core.drawing`: the `v1` pool of RESULTS.md was drawn
before issue 16's fix (commit 80823ea), so to compare drawings, draw each pool from its own checkout first.
    .venv/bin/python benchmarks/loso.py --max-per-class 3 --drawn-per-class 4 --seeds 1 --cache /tmp/x  # a test
"""
from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from jewelhelpers.core.backbones import norm_stats
from jewelhelpers.core.composite import composite_items
from jewelhelpers.core.drawing import CLASSES, MARKER, make_synth
from jewelhelpers.core.images import read_items
from jewelhelpers.core.probe import extract_features, fit_probe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
SHOPS = ("myntra_fashion", "western_lifestyle")
ARCH = "efficientnet_lite0"
SHIPPED_SIZE = 288  # the quick profile's image size
SQUISH_SIZE = 224  # squished views are cached at this size only (compute is scarce)
DRAWN_SIZE = 320  # the quick profile's presize: what the recipe draws its images at
REPOS = {"abhishek-kumar-017/jewellery_classifier": "abhishek", "princesegzy01/Jewellery-Classification": "prince"}


@dataclass(frozen=True)
class Squish:
    """The whole image resized to a square (aspect not kept), as `extract_features`'s view 1."""

    def __call__(self, im: Image.Image, size: int, rng: random.Random) -> Image.Image:
        return im.resize((size, size), Image.Resampling.BILINEAR)

    def key(self) -> str:
        return "squish"


@dataclass(frozen=True)
class Setting:
    """One probe setting measured by LOSO."""

    size: int = 288
    view: str = "crop"  # crop (the product's preprocessing) | squish
    C: float = 0.01
    balanced: bool = True
    drawn: int = 80  # drawn images per class added to training (0: none)
    drawing: str = "v1"  # which drawn pool (v1: before issue 16's fixes)
    composites: int = 0  # composites per class (of the sources trained on) added to training
    arch: str = ARCH  # the frozen body whose features the probe reads


SHIPPED = Setting(size=SHIPPED_SIZE, drawing="v2")  # the shipped probe's settings (the experiments' base)


def real_items(data: Path, max_per_class: int | None = None) -> pd.DataFrame:
    """path, label, source of every real photo: jewelry_photos split into repository x render cells, and the shops."""
    photos = data / "jewelry_photos"
    items = read_items(photos, max_per_class=max_per_class)
    meta = pd.read_csv(photos / "labels.csv")
    meta["path"] = [str((photos / f).resolve()) for f in meta["file"]]
    items = items.merge(meta[["path", "origin_repo", "likely_cgi_render"]], on="path", how="left")
    kind = np.where(items["likely_cgi_render"].fillna("") == "likely", "render", "photo")
    items["source"] = items["origin_repo"].map(REPOS) + "-" + kind
    shops = [read_items(data / "other_shops" / s, max_per_class=max_per_class).assign(source=s) for s in SHOPS]
    return pd.concat([items[["path", "label", "source"]], *shops], ignore_index=True)


def drawn_items(folder: Path, per_class: int) -> pd.DataFrame:
    """The drawn pool in `folder` (drawn once, seed 1 like the recipe's seed 0; never redrawn once there)."""
    if not (folder / MARKER).is_file():
        make_synth(folder, per_class=per_class, size=DRAWN_SIZE, seed=1)
    return read_items(folder).assign(source="drawn")


def composite_pool(real: pd.DataFrame, folder: Path, per_class: int = 40) -> pd.DataFrame:
    """path, label, source of up to `per_class` composites per class of each real source (drawn once, then read)."""
    listing = folder / "composites.csv"
    if not listing.is_file():
        parts = [composite_items(folder / src, rows, per_class, DRAWN_SIZE, seed=1).assign(source=src)
                 for src, rows in real.groupby("source")]
        pd.concat(parts, ignore_index=True).to_csv(listing, index=False)
    return pd.read_csv(listing)


def features(items: pd.DataFrame, size: int, view: str, cache: Path, progress: bool = True,
             arch: str = ARCH) -> np.ndarray:
    """(n, d) frozen `arch` features; squished views are computed for non-square images only (same otherwise)."""
    mean, std = norm_stats(arch)
    x = extract_features(arch, list(items["path"]), size, mean, std, cache_dir=cache, progress=progress)[:, 0]
    if view == "squish":
        wide = np.array([len(set(Image.open(p).size)) > 1 for p in items["path"]])
        if wide.any():
            x[wide] = extract_features(arch, list(items["path"][wide]), size, mean, std, views=2, aug=Squish(),
                                       cache_dir=cache, progress=progress)[:, 1]
    return x


class Loso:
    """Features of every source at every size and view, and the LOSO accuracies of a `Setting`."""

    def __init__(self, real: pd.DataFrame, pools: dict[str, pd.DataFrame], cache: Path, progress: bool = True,
                 composites: pd.DataFrame | None = None):
        self.real, self.pools, self.cache, self.progress = real, pools, cache, progress
        self.composites = composites
        self._x: dict[tuple, np.ndarray] = {}

    def x(self, part: str, size: int, view: str, arch: str = ARCH) -> np.ndarray:
        key = (part, size, view, arch)
        if key not in self._x:
            items = {"real": self.real, "composites": self.composites}.get(part)
            items = self.pools[part] if items is None else items
            self._x[key] = features(items, size, view if part == "real" else "crop", self.cache, self.progress, arch)
        return self._x[key]

    def sources(self) -> list[str]:
        return [*dict.fromkeys(self.real["source"]), "drawn"]

    def picks(self, s: Setting, seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
        """One seed's generator, the real rows it trains on (seed > 0: a seeded 90%) and the drawn rows it adds
        (`s.drawn` per class of pool `s.drawing`)."""
        rng = np.random.default_rng(seed)
        keep = rng.random(len(self.real)) < 0.9 if seed else np.ones(len(self.real), bool)
        labels = self.pools[s.drawing]["label"].to_numpy()
        picked = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:s.drawn] for c in CLASSES]).astype(int)
        return rng, keep, picked

    def folds(self, s: Setting, seed: int) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                             np.ndarray]]:
        """For each real source left out: its name, the real rows trained on (a mask), the training features (those
        rows', then the seed's drawn picks), their labels, the held-out source's features and labels."""
        xr, labels = self.x("real", s.size, s.view, s.arch), self.real["label"].to_numpy()
        pool, (_, keep, picked) = self.pools[s.drawing], self.picks(s, seed)
        xd, src = self.x(s.drawing, s.size, "crop", s.arch)[picked], self.real["source"].to_numpy()
        for held in self.sources()[:-1]:
            train = keep & (src != held)
            yield (held, train, np.concatenate([xr[train], xd]),
                   np.concatenate([labels[train], pool["label"].to_numpy()[picked]]), xr[src == held],
                   labels[src == held])

    def run(self, s: Setting, seed: int = 0) -> dict[str, float]:
        """Accuracy on each source left out (probe trained on the rest); seed > 0 trains on a seeded 90% of it."""
        xr, pool = self.x("real", s.size, s.view, s.arch), self.pools[s.drawing]
        xd = self.x(s.drawing, s.size, "crop", s.arch)
        drawn_x = np.concatenate([self.x(name, s.size, "crop", s.arch) for name in self.pools])  # every pool: comparable
        drawn_y = np.concatenate([p["label"].to_numpy() for p in self.pools.values()])
        rng, keep, picked = self.picks(s, seed)
        out, rings, as_bracelet = {}, 0, 0
        for held in self.sources():
            train = keep & (self.real["source"].to_numpy() != held)
            x, y = xr[train], list(self.real["label"][train])
            if held != "drawn" and s.drawn:
                x, y = np.concatenate([x, xd[picked]]), y + list(pool["label"].iloc[picked])
            if s.composites:
                comp = self.composites
                eligible = comp["source"].to_numpy() != held
                pick = np.concatenate([rng.permutation(np.flatnonzero(eligible & (comp["label"].to_numpy() == c)))
                                       [:s.composites] for c in CLASSES]).astype(int)
                x = np.concatenate([x, self.x("composites", s.size, "crop", s.arch)[pick]])
                y = y + list(comp["label"].iloc[pick])
            probe = fit_probe(x, y, CLASSES, balanced=s.balanced, C=s.C)
            if held == "drawn":
                test_x, test_y = drawn_x, drawn_y
            else:
                test = self.real["source"].to_numpy() == held
                test_x, test_y = xr[test], self.real["label"].to_numpy()[test]
            pred = np.array(probe.predict(test_x))
            out[held] = float(np.mean(pred == test_y))
            if held != "drawn":
                rings += int(np.sum(test_y == "ring"))
                as_bracelet += int(np.sum((test_y == "ring") & (pred == "bracelet")))
        return out | {"ring->bracelet": as_bracelet / max(rings, 1)}

    def table(self, s: Setting, seeds: int) -> pd.DataFrame:
        """Rows: seeds 0 .. seeds - 1; columns: sources, their mean, then the share of real rings called bracelets."""
        rows = [self.run(s, seed) for seed in range(seeds)]
        df = pd.DataFrame(rows)
        df.insert(len(df.columns) - 1, "mean", df[self.sources()].mean(axis=1))
        return df


def shipped_args(description: str, **more: dict) -> tuple[argparse.Namespace, Loso]:
    """The probe-level experiments' command line (--cache, --seeds, and `more`: name -> add_argument keywords) and
    their `Loso` over the real sources with the shipped drawing's pool, from `loso.py`'s cache."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jewel-loso"), help="loso.py's cache (288 px features)")
    ap.add_argument("--seeds", type=int, default=3)
    for name, kwargs in more.items():
        ap.add_argument(name, **kwargs)
    args = ap.parse_args()
    return args, shipped_loso(args.cache, real_items(DATA))


def shipped_loso(cache: Path, real: pd.DataFrame) -> Loso:
    """`Loso` over `real` with the shipped drawing's pool, from `loso.py`'s cache (features and drawn images)."""
    pools = {SHIPPED.drawing: drawn_items(cache / f"drawn-{SHIPPED.drawing}", SHIPPED.drawn)}
    return Loso(real, pools, cache / "features", progress=False)


CONFUSIONS = (("ring", "bracelet"), ("necklace", "bracelet"), ("bracelet", "necklace"), ("bracelet", "ring"))


def held_out_row(truth: np.ndarray, pred: np.ndarray, **row) -> dict:
    """`row` with the accuracy of `pred` and the count of each of CONFUSIONS ("rings called bracelets", ...)."""
    return row | {"accuracy": float(np.mean(pred == truth))} | {
        f"{t}s called {p}s": int(np.sum((truth == t) & (pred == p))) for t, p in CONFUSIONS}


def accuracy_table(rows: pd.DataFrame, lever: str, over: str = "seed") -> pd.DataFrame:
    """Mean accuracy per held-out source (rows) and value of `lever` (columns) over the `over` column (seeds, runs);
    then the mean over sources and its sd over `over`."""
    acc = rows.pivot_table(index="source", columns=lever, values="accuracy", sort=False)
    acc.loc["mean"] = acc.mean()
    acc.loc[f"sd of the mean over {over}s"] = rows.groupby([lever, over])["accuracy"].mean().unstack().std(axis=1,
                                                                                                           ddof=1)
    return acc


def feature_lever_rows(loso: Loso, levers: dict[str, tuple[np.ndarray, np.ndarray, float]],
                       seeds: range) -> pd.DataFrame:
    """The shipped probe's held-out rows for each lever (name -> features of `loso`'s real rows, of its drawn pool,
    and the probe's C) in place of the shipped features, on the same folds and seeds for every lever (paired)."""
    rows = []
    for name, (real, drawn, C) in levers.items():
        lever = Loso(loso.real, loso.pools, loso.cache, progress=False)
        lever._x = {("real", SHIPPED.size, SHIPPED.view, ARCH): real, (SHIPPED.drawing, SHIPPED.size, "crop", ARCH): drawn}
        for seed in seeds:
            for held, _, x, y, xt, truth in lever.folds(SHIPPED, seed):
                probe = fit_probe(x, list(y), CLASSES, balanced=SHIPPED.balanced, C=C)
                rows.append(held_out_row(truth, np.array(probe.predict(xt)), seed=seed, source=held, lever=name))
    return pd.DataFrame(rows)


def print_levers(rows: pd.DataFrame, base: str, errors: list[str]) -> None:
    """`feature_lever_rows`' report: accuracy per source and lever, `errors` (columns of `held_out_row`) a seed,
    and each lever's `verdict` against `base`, paired by seed."""
    print(accuracy_table(rows, "lever").round(3).to_string())
    seeds = rows["seed"].nunique()
    print(rows.groupby(["lever", "source"], sort=False)[errors].sum().div(seeds).round(1).unstack().to_string())
    per_seed = rows.pivot_table(index="seed", columns=["lever", "source"], values="accuracy", sort=False)
    tables = {lever: per_seed[lever].assign(mean=per_seed[lever].mean(axis=1)) for lever in rows["lever"].unique()}
    base_table = tables.pop(base)
    for lever, table in tables.items():
        print(f"{lever} against {base}: {verdict(base_table, table)}")


def cues(items: pd.DataFrame, side: int = 96) -> pd.DataFrame:
    """Per image: the object's share of the frame (pixels far from the corners' colour), its mean saturation
    (gems and coloured stones raise it) and its bounding box side as a share of the frame: what drawn and real
    photos of a class may differ in."""
    rows = []
    for path in items["path"]:
        im = Image.open(path).convert("RGB").resize((side, side))
        a = np.asarray(im, float)
        corners = np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]).mean(0)
        mask = np.abs(a - corners).sum(-1) > 60
        sat = np.asarray(im.convert("HSV"), float)[..., 1] / 255
        ys, xs = np.nonzero(mask)
        box = max(np.ptp(ys), np.ptp(xs)) / side if len(ys) else 0.0
        rows.append({"area": mask.mean(), "saturation": sat[mask].mean() if mask.any() else 0.0, "box": box})
    return pd.DataFrame(rows, index=items.index)


def verdict(base: pd.DataFrame, new: pd.DataFrame) -> str:
    """Adopt `new` when its mean beats the base's (same seeds, paired) by more than the noise, 2 x the sd over seeds
    (the larger of the two settings'; at least 1 point), and no source falls by more than its own noise
    (2 x its sd, at least 2 points)."""
    seeds = min(len(base), len(new))
    src = list(base.columns[:list(base.columns).index("mean")])
    sd = base.std(ddof=1) if len(base) > 1 else base.iloc[0] * 0
    if len(new) > 1:
        sd = np.maximum(sd, new.std(ddof=1))
    gain = float(new["mean"].iloc[:seeds].mean() - base["mean"].iloc[:seeds].mean())
    noise_mean = max(0.01, 2 * float(sd["mean"]))
    drops = [c for c in src if base[c].iloc[:seeds].mean() - new[c].iloc[:seeds].mean() > max(0.02, 2 * float(sd[c]))]
    why = f"mean {gain:+.3f} vs noise {noise_mean:.3f}" + (f"; drops: {', '.join(drops)}" if drops else "")
    return ("ADOPT: " if gain > noise_mean and not drops else "no: ") + why


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jewel-loso"))
    ap.add_argument("--max-per-class", type=int, default=None)
    ap.add_argument("--drawn-per-class", type=int, default=80, help="size of each drawn pool")
    ap.add_argument("--drawings", nargs="+", default=["v1"],
                    help="drawn pools: folders <cache>/drawn-<name>, drawn with the current core.drawing if missing")
    ap.add_argument("--extract", action="store_true", help="only compute the features of every size and view")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[SQUISH_SIZE],
                    help=f"image sizes to cache and compare (add {SHIPPED_SIZE}, the shipped size: about 16 more "
                         "minutes on 2 busy cores)")
    ap.add_argument("--cues", action="store_true", help="only print what drawn and real photos differ in, per class")
    ap.add_argument("--composites", type=int, nargs="+", default=None,
                    help="only measure these numbers of composites per class against the base (3 seeds each)")
    ap.add_argument("--drawn", type=int, nargs="+", default=None,
                    help="only measure these numbers of drawn images per class against the base's 80 (3 seeds each; "
                         "each pool is drawn as large as the largest)")
    ap.add_argument("--archs", nargs="+", default=None,
                    help="only measure these frozen bodies (e.g. efficientnet_lite2) against the base's Lite0, at the "
                         "base's size (3 seeds each; with --extract, cache their features)")
    ap.add_argument("--compare-sizes", action="store_true",
                    help="only measure each of --sizes against the base at the shipped size (3 seeds each, paired)")
    ap.add_argument("--out", type=Path, default=None, help="also write every row as CSV here")
    args = ap.parse_args()
    t0 = time.time()
    real = real_items(args.data, args.max_per_class)
    per_class = max([args.drawn_per_class, *(args.drawn or [])])
    pools = {name: drawn_items(args.cache / (f"drawn-{name}" + ("" if per_class == 80 else f"-{per_class}")), per_class)
             for name in args.drawings}
    comp = composite_pool(real, args.cache / "composites") if args.composites else None
    loso = Loso(real, pools, args.cache / "features", composites=comp)
    if args.extract:
        for size in args.sizes:
            for arch in args.archs or [ARCH]:
                for view in ("crop", "squish") if size == SQUISH_SIZE and not args.archs else ("crop",):
                    loso.x("real", size, view, arch)
                for name in pools:
                    loso.x(name, size, "crop", arch)
        print(f"features cached in {time.time() - t0:.0f}s", flush=True)
        return
    if args.cues:
        both = pd.concat([real.assign(kind="real"), *[p.assign(kind=f"drawn {n}") for n, p in pools.items()]],
                         ignore_index=True)
        stats = pd.concat([both, cues(both)], axis=1)
        print(stats.groupby(["label", "kind"])[["area", "box", "saturation"]].median().round(2).unstack("kind")
              .to_string())
        return
    print("sources:", real["source"].value_counts().to_dict(), "| drawn pools:",
          {k: len(v) for k, v in pools.items()}, flush=True)
    size = SHIPPED_SIZE if SHIPPED_SIZE in args.sizes else args.sizes[0]
    base = Setting(size=size, drawing=args.drawings[0], drawn=min(80, args.drawn_per_class))
    levers = [("C=0.1", {"C": 0.1}), ("C=1", {"C": 1.0}), ("no class weights", {"balanced": False}),
              *[(f"{other} px", {"size": other}) for other in args.sizes if other != size],
              ("no drawn", {"drawn": 0}), ("40 drawn", {"drawn": min(40, args.drawn_per_class)}),
              *[(f"drawing {d}", {"drawing": d}) for d in args.drawings[1:]]]
    rows, tables = [], {}

    def measure(name: str, s: Setting, seeds: int, against: str | None) -> dict:
        t = loso.table(s, seeds)
        tables[name] = t
        row = {"setting": name, "seeds": seeds, **t.mean().round(3).to_dict(),
               "sd_mean": round(float(t["mean"].std(ddof=1)), 3) if seeds > 1 else None,
               "verdict": verdict(tables[against], t) if against else ""}
        rows.append(row | {"config": json.dumps(asdict(s))})
        print(json.dumps(row), flush=True)
        return row

    measure(f"shipped probe settings at {size} px (balanced, C=0.01, {base.drawn} drawn {base.drawing})", base, args.seeds, None)
    first = rows[0]["setting"]
    if args.archs:
        for arch in args.archs:
            measure(f"frozen {arch}", replace(base, arch=arch), args.seeds, first)
        return _print_rows(rows, args.out, f"{time.time() - t0:.0f}s; base: {json.dumps(asdict(base))}")
    if args.compare_sizes:
        for other in args.sizes:
            if other != size:
                measure(f"{other} px", replace(base, size=other), args.seeds, first)
        return _print_rows(rows, args.out, f"{time.time() - t0:.0f}s; base: {json.dumps(asdict(base))}")
    if args.drawn:
        for n in args.drawn:
            measure(f"{n} drawn per class", replace(base, drawn=n), args.seeds, first)
        return _print_rows(rows, args.out, f"{time.time() - t0:.0f}s; base: {json.dumps(asdict(base))}")
    if args.composites:
        print("composites per source:", comp.groupby(["source", "label"]).size().unstack(fill_value=0).to_dict("index"))
        for n in args.composites:
            measure(f"{n} composites per class", replace(base, composites=n), args.seeds, first)
        return _print_rows(rows, args.out, f"{time.time() - t0:.0f}s; base: {json.dumps(asdict(base))}")
    adopted = {}
    for name, change in levers:  # one lever at a time, seed 0, paired with the base's seed 0
        if measure(name, replace(base, **change), 1, first)["verdict"].startswith("ADOPT"):
            adopted[name] = change
    if SQUISH_SIZE in args.sizes:
        crop = first if size == SQUISH_SIZE else f"{SQUISH_SIZE} px"
        measure(f"squish ({SQUISH_SIZE} px)", replace(base, size=SQUISH_SIZE, view="squish"), 1, crop)
    best = {}  # per field, the adopted lever with the highest mean
    for name, change in sorted(adopted.items(), key=lambda kv: tables[kv[0]]["mean"].iloc[0]):
        best.update(change)
    combined = replace(base, **best)
    if best:
        measure(f"combined: {json.dumps(best)}", combined, args.seeds, first)
    if SQUISH_SIZE in args.sizes:
        issue = replace(base, size=SQUISH_SIZE, C=1.0, balanced=False, drawn=0)
        measure(f"issue's probe ({SQUISH_SIZE} px, C=1, no class weights, no drawn)", issue, args.seeds, first)
    _print_rows(rows, args.out, f"{time.time() - t0:.0f}s; base: {json.dumps(asdict(base))}; "
                f"chosen: {json.dumps(asdict(combined))}")


def _print_rows(rows: list[dict], out: Path | None, footer: str) -> None:
    df = pd.DataFrame(rows)
    print(df.drop(columns="config").to_string(index=False))
    print(footer)
    if out:
        df.to_csv(out, index=False)


if __name__ == "__main__":
    main()
