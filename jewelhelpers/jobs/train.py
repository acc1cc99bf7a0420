"""`jewel train`: split DATA (one source or several), fine-tune a pretrained backbone with a recipe, write a RUN_DIR.

The recipes live in `recipes` (LP-FT by default, fastbook's with `--recipe classic`); this job wires them to the
RUN_DIR contract: `split.csv`, the best checkpoint on disk throughout (Ctrl-C loses nothing), `history.csv` and
curves, `metrics.json` for the test split through the same path as `jewel evaluate` (`core.scoring`), and the
frozen-feature probe beside the fine-tuned model (`baseline.csv`). With several DATA (`core.sources`: the first is
split, the others train only, each source weighed equally), `holdout_sources` adds the leave-one-source-out report:
one more training of this same job per source, on the others, scored on it.

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from ..core import runs
from ..core.backbones import Backbone, build_model, resolve_arch
from ..core.errors import JewelError
from ..core.figures import plot_history, plot_holdout_sources
from ..core.images import check_outside_data, read_items
from ..core.manifest import MANIFEST, write_manifest
from ..core.metrics import match_classes
from ..core.scoring import ALL_OF_DATA, TEST_SPLIT, score_items
from ..core.settings import MONITORS, TEST, VALID, Profile, external_dirs, profile_for
from ..core.sources import SOURCE, balance_sources, check_sources, source_names, sources_split
from ..core.unknown import fit_unknown, unknown_report
from ..recipes.baseline import probe_beside, probe_table
from ..recipes.classic import fit_recipe
from ..recipes.dls import profile_dls
from ..recipes.fitting import KeepBest, RecipeResult, make_learner, seed_everything
from ..recipes.lpft import FrozenPass, fit_lpft_recipe, wise_table


HOLDOUT = "holdout"  # RUN_DIR/holdout/<source>: the run without that source
HOLDOUT_REPORT = "holdout_sources"  # RUN_DIR/holdout_sources.csv, .json, .png


def _loud(message: str) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! {message}\n{bar}", flush=True)


def train(data: str | Path | Sequence[str | Path], out: str | Path, arch: str | None = None,
          profile: str | None = None, size: int | None = None, epochs_head: int | None = None,
          epochs: int | None = None, seed: int = 0, weights: str | Path | None = None,
          pretrained: bool | None = None, force: bool = False,
          monitor: str = "valid_loss", patience: int = 3, max_per_class: int | None = None,
          external: list[str | Path] | None = None, recipe: str | None = None, lr: float | None = None,
          soup: int | None = None, composites: int | None = None, holdout_sources: bool = False,
          classes: Sequence[str] | None = None, wise: float | None = None, valid_from: str = "first",
          drawn: int | None = None, features: str | None = None, balance: str | None = None,
          mixstyle: float | None = None) -> dict:
    """Split DATA, fine-tune a backbone with the recipe, and write RUN_DIR `out`; return a summary dict.

    DATA is one ImageFolder or CSV, or several (`core.sources.sources_split`: the first is split, the others are
    training rows of the first's classes, or of `classes` when given; each source weighs equally, or with
    `balance="cells"` each source's class; `valid_from="all"`
    draws the valid split, which picks the best epoch, from every source, the test split still from the first). With
    `holdout_sources`, a model per source is trained the same way on the others and scored on it (RUN_DIR/holdout/,
    `holdout_sources.csv`, `.json` and `.png`).

    `drawn` is the LP-FT recipe's drawn images per class mixed into training (`Profile.synth_mix`; 0: none);
    `features` what the head reads (`Profile.features`: the body's last map, or its last two stages').
    `mixstyle` the share of training batches whose maps swap style statistics (`Profile.mixstyle`).
    `None` arguments come from the profile (smoke / quick / full, or `$JEWEL_PROFILE`). Beside the fine-tuned
    model, a frozen-feature probe is scored on the test split and on every folder of `external` (default
    `$JEWEL_EXTERNAL_DATA`): `baseline.csv`. Refuses a non-empty `out` unless `force`, and an `out` inside DATA
    before creating anything. On Ctrl-C the best checkpoint so far stays in `out` and KeyboardInterrupt is re-raised.
    """
    if monitor not in MONITORS:
        raise JewelError(f"unknown monitor {monitor!r}: choose one of {', '.join(MONITORS)}")
    started = time.perf_counter()
    prof = profile_for(profile, size, arch=arch, epochs_head=epochs_head, epochs=epochs, pretrained=pretrained,
                       max_per_class=max_per_class, recipe=recipe, lr=lr, soup=soup, composites=composites,
                       wise=wise, synth_mix=drawn, features=features, balance=balance,
                       mixstyle=mixstyle)
    if (prof.composites or prof.wise != 1 or drawn or mixstyle) and prof.recipe != "lpft":
        raise JewelError("--composites, --drawn, --wise and --mixstyle go with the lpft recipe (the default): "
                         "leave out --recipe classic")
    if weights is not None and not prof.pretrained:
        raise JewelError(f"--weights is not used by the {prof.name} profile (random initialisation): "
                         "use --profile quick or full")
    datas = [Path(data)] if isinstance(data, (str, Path)) else [Path(d) for d in data]
    if not datas:
        raise JewelError("give at least one DATA folder or CSV to train on")
    if holdout_sources and len(datas) < 2:
        raise JewelError("--holdout-sources needs two DATA or more: give the other sources after the first")
    externals = [Path(e) for e in external] if external is not None else external_dirs()
    for folder in externals:  # a wrong path is said now, not after training
        read_items(folder)
    check_sources(datas, classes)
    for folder in datas[1:]:
        check_outside_data(out, folder)
    run_dir = runs.prepare_run_dir(out, force, data=datas[0])
    manifest = _write_split(datas, run_dir, prof, seed, classes, valid_from)
    classes = list(classes) if classes else sorted(manifest["label"].unique())
    arch_name, reason = resolve_arch(prof.arch, weights, prof.pretrained)
    if arch is None and prof.arch != "auto":
        reason = f"{arch_name}: the {prof.name} profile's"
    print(f"arch: {reason}", flush=True)
    seed_everything(seed)
    head = "linear" if prof.recipe == "lpft" else "fastai"
    backbone = build_model(arch_name, len(classes), prof.pretrained, weights, head=head, features=prof.features)
    (print if prof.pretrained else _loud)(f"weights: {backbone.source}")
    meta = runs.model_meta(classes, backbone, prof) | {
            "arch": arch_name, "recipe": prof.recipe, "head": head, "features": prof.features,
            "pretrained": prof.pretrained,
            "weights_source": backbone.source, "arch_reason": reason, "profile": prof.name,
            "profile_settings": prof.to_dict(), "seed": seed,
            "versions": runs.versions(), "timings": {}, "temperature": None, "data": str(datas[0].resolve()),
            "sources": dict(zip(source_names(datas), (str(d.resolve()) for d in datas))), "valid_from": valid_from,
            "manifest": MANIFEST,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "lrs": None, "monitor": monitor, "best": None, "complete": False}

    def save_best(where: dict) -> None:
        runs.save_weights(run_dir, backbone.model)
        runs.write_json(run_dir / runs.META, meta | {"best": where})

    frozen = None
    try:
        if prof.recipe == "lpft":
            frozen = FrozenPass(backbone, meta)  # each image's frozen maps, reused for the test split and baseline
            result = fit_lpft_recipe(backbone, manifest, meta, prof, KeepBest(monitor, save_best), run_dir, seed,
                                     frozen=frozen)
        else:
            seed_everything(seed)  # the order images are shuffled in, and the new head's initialisation
            dls = profile_dls(_sources_balanced(manifest, seed, prof.balance), backbone, prof)
            learn = make_learner(dls, backbone, path=run_dir)
            result = fit_recipe(learn, prof.epochs_head, prof.epochs, monitor, patience, plots=run_dir,
                                on_best=save_best)
    except KeyboardInterrupt:
        saved = (run_dir / runs.WEIGHTS).is_file()
        print(f"interrupted: {'the best checkpoint so far is' if saved else 'no epoch finished, nothing'} "
              f"saved in {run_dir}", flush=True)
        raise
    summary = _finish(backbone, manifest, result, meta, prof, run_dir, started, externals, weights, frozen)
    if holdout_sources:
        options = dict(arch=arch, profile=profile, size=size, epochs_head=epochs_head, epochs=epochs, seed=seed,
                       weights=weights, pretrained=pretrained, monitor=monitor, patience=patience,
                       max_per_class=max_per_class, recipe=recipe, lr=lr, soup=soup, composites=composites,
                       wise=wise, valid_from=valid_from, drawn=drawn, features=features, balance=balance,
                       mixstyle=mixstyle)
        summary["holdout_mean"] = _holdout_sources(datas, run_dir, classes, options)["mean_accuracy"]
    return summary


def _write_split(datas: list[Path], run_dir: Path, prof: Profile, seed: int,
                 classes: Sequence[str] | None, valid_from: str) -> pd.DataFrame:
    manifest = sources_split(datas, valid=VALID, test=TEST, seed=seed, max_per_class=prof.max_per_class,
                             classes=classes, valid_from=valid_from)
    write_manifest(manifest, run_dir / MANIFEST, datas[0])
    counts = manifest["split"].value_counts()
    per_source = (f" from {len(datas)} sources (" + ", ".join(f"{k} {v}" for k, v in
                                                           manifest[SOURCE].value_counts(sort=False).items()) + ")"
                  if len(datas) > 1 else "")
    print(f"data: {len(manifest)} images{per_source}, {manifest['label'].nunique()} classes; "
          + ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "valid", "test")), flush=True)
    return manifest


def _sources_balanced(manifest: pd.DataFrame, seed: int, by: str) -> pd.DataFrame:
    """The manifest with its train rows repeated so that each source (or cell, `by`) gives as many
    (`core.sources.balance_sources`)."""
    train, rest = manifest[manifest["split"] == "train"], manifest[manifest["split"] != "train"]
    return pd.concat([train.iloc[balance_sources(train, seed, by)], rest], ignore_index=True)


def _holdout_sources(datas: list[Path], run_dir: Path, classes: list[str], options: dict) -> dict:
    """Leave-one-source-out: per source, this job on the other sources (RUN_DIR/holdout/<name>), scored on all of it.

    Writes `holdout_sources.csv` (one row per source), `holdout_sources.json` (the rows and their mean) and
    `holdout_sources.png`; returns the JSON's content.
    """
    names = source_names(datas)
    rows = []
    for i, (held, name) in enumerate(zip(datas, names)):
        rest = [d for d in datas if d != held]
        print(f"leave-one-source-out {i + 1}/{len(datas)}: trained on {', '.join(n for n in names if n != name)}, "
              f"scored on {name}", flush=True)
        sub = train(rest, run_dir / HOLDOUT / name, external=[held], classes=classes, **options)
        scored = pd.read_csv(Path(sub["run_dir"]) / runs.BASELINE, index_col="set").loc[held.name]
        rows.append({"source": name, "n": int(scored["n"]), "accuracy": float(scored["fine_tuned_accuracy"]),
                     "macro_f1": float(scored["fine_tuned_macro_f1"]),
                     "probe_accuracy": float(scored["probe_accuracy"]),
                     "trained_on": "+".join(n for n in names if n != name), "run_dir": f"{HOLDOUT}/{name}"})
    table = pd.DataFrame(rows)
    table.to_csv(run_dir / f"{HOLDOUT_REPORT}.csv", index=False)
    report = {"mean_accuracy": float(table["accuracy"].mean()),
              "mean_probe_accuracy": float(table["probe_accuracy"].mean()), "sources": rows}
    runs.write_json(run_dir / f"{HOLDOUT_REPORT}.json", report)
    plot_holdout_sources(table).savefig(run_dir / f"{HOLDOUT_REPORT}.png", dpi=100)
    print(f"leave-one-source-out mean accuracy {report['mean_accuracy']:.3f} (frozen probe "
          f"{report['mean_probe_accuracy']:.3f}): " + ", ".join(f"{r['source']} {r['accuracy']:.3f}" for r in rows),
          flush=True)
    return report


def _export_pkl(backbone: Backbone, manifest: pd.DataFrame, prof: Profile, run_dir: Path) -> None:
    """fastai's `export.pkl` of the trained model (the course's pickle, loaded only when trusted)."""
    learn = make_learner(profile_dls(manifest, backbone, prof), backbone, path=run_dir, new_head=False)
    if torch.cuda.is_available():
        learn.to_fp32()
    learn.export(runs.EXPORT)


def _finish(backbone: Backbone, manifest: pd.DataFrame, result: RecipeResult, meta: dict, prof: Profile,
            run_dir: Path, started: float, external: list[Path], weights: str | Path | None,
            frozen: FrozenPass | None = None) -> dict:
    """Write history, curves, weights, export.pkl, test metrics, the probe baseline and meta.json; return the summary.

    With `frozen` (LP-FT), the test split and other shops go through the frozen layers once, and those maps give
    both the fine-tuned model's scores and the frozen probe's; without it each is run on the images.
    """
    result.history.to_csv(run_dir / runs.HISTORY, index=False)
    plot_history(result.history, run_dir / runs.PLOTS["curves"])
    runs.save_weights(run_dir, backbone.model.float())
    _export_pkl(backbone, manifest, prof, run_dir)
    t = time.perf_counter()
    test = manifest.loc[manifest["split"] == "test", ["path", "label"]]
    if test.empty:
        raise JewelError("the split has no test images: use more images per class")
    shops = {Path(f).name: (f, match_classes(read_items(f), meta["classes"])[0]) for f in external}
    sets = {"test split": (meta["data"], TEST_SPLIT, test)} | {
        name: (folder, ALL_OF_DATA, items) for name, (folder, items) in shops.items()}
    if frozen:
        model = backbone.model.eval()
        for name, (_, _, items) in sets.items():  # "scored: " keeps them apart from the recipe's train/valid sets
            frozen.run(f"scored: {name}", items, progress=False)
        valid = frozen.logits("valid", model)
        scored = {name: score_items(run_dir, model, meta, items, data, on, run_dir, progress=False,
                                    outputs=frozen.logits(f"scored: {name}", model), valid=valid)
                  for name, (data, on, items) in sets.items()}
    else:
        model = runs.load_model(run_dir)[0]  # scored exactly as `jewel evaluate` will load it
        scored = {name: score_items(run_dir, model, meta, items, data, on, run_dir, progress=False,
                                    features=name == "test split")
                  for name, (data, on, items) in sets.items()}
    tuned = {name: m for name, (m, _) in scored.items()}
    cached = dict(train=frozen.logits("train", model), valid=valid) if frozen else {}
    fit_unknown(run_dir, model, meta, progress=False, **cached)  # the unknown-photo bank and threshold, into meta
    tuned["test split"]["unknown"] = unknown_report(run_dir, model, meta, scored["test split"][1],
                                                    progress=False)[0]  # as `jewel evaluate` does
    result.timings["test"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    if frozen:
        baseline = probe_table(meta, frozen.features("train"),
                               {name: frozen.features(f"scored: {name}") for name in sets}, tuned)
    else:
        baseline = probe_beside(run_dir, meta, {name: items for name, (_, _, items) in sets.items()}, tuned, weights)
    metrics = tuned["test split"]
    if frozen and result.ends:  # each WiSE-FT mix on the cached maps: what `--wise` would have given
        table = wise_table(frozen, backbone, result.ends, {"valid": "valid"} | {n: f"scored: {n}" for n in sets})
        table.to_csv(run_dir / runs.WISE, index=False)
        metrics["wise"] = table.to_dict("records")
    result.timings["baseline"] = round(time.perf_counter() - t, 2)
    baseline.to_csv(run_dir / runs.BASELINE)
    runs.write_json(run_dir / runs.METRICS, metrics | {"baseline": baseline.reset_index().to_dict("records")})
    print("frozen-feature probe beside the fine-tuned model (accuracy):\n"
          + baseline[["n", "probe_accuracy", "fine_tuned_accuracy"]].round(3).to_string(), flush=True)
    result.timings["total"] = round(time.perf_counter() - started, 2)
    runs.write_json(run_dir / runs.META, meta | {"lrs": result.lrs, "best": result.best, "timings": result.timings,
                                                 "complete": True})
    return {"run_dir": str(run_dir), "arch": meta["arch"], "pretrained": meta["pretrained"],
            "profile": meta["profile"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "n_test": metrics["n"], "seconds": result.timings["total"]}


def summary_line(summary: dict) -> str:
    """One line for the end of `jewel train`: backbone, test accuracy and macro F1, time, run folder."""
    weights = "ImageNet-pretrained" if summary["pretrained"] else "RANDOM INIT (not pretrained)"
    minutes, seconds = divmod(int(round(summary["seconds"])), 60)
    holdout = (f", leave-one-source-out mean accuracy {summary['holdout_mean']:.3f}"
               if "holdout_mean" in summary else "")
    return (f"{summary['arch']} {weights}, profile {summary['profile']}: test accuracy {summary['accuracy']:.3f}, "
            f"macro F1 {summary['macro_f1']:.3f} on {summary['n_test']} images{holdout} in {minutes}m{seconds:02d}s "
            f"-> {summary['run_dir']}")
