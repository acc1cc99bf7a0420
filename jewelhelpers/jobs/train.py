"""`jewel train`: split DATA, fine-tune a pretrained backbone with a recipe, and write a RUN_DIR.

The recipes live in `recipes` (LP-FT by default, fastbook's with `--recipe classic`); this job wires them to the
RUN_DIR contract: `split.csv`, the best checkpoint on disk throughout (Ctrl-C loses nothing), `history.csv` and
curves, `metrics.json` for the test split through the same path as `jewel evaluate` (`core.scoring`), and the
frozen-feature probe beside the fine-tuned model (`baseline.csv`).

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from ..core import runs
from ..core.backbones import Backbone, build_model, resolve_arch
from ..core.errors import JewelError
from ..core.figures import plot_history
from ..core.images import read_items
from ..core.manifest import MANIFEST, make_split, write_manifest
from ..core.metrics import match_classes
from ..core.scoring import ALL_OF_DATA, TEST_SPLIT, score_items
from ..core.settings import MONITORS, TEST, VALID, Profile, external_dirs, profile_for
from ..core.unknown import fit_unknown, unknown_report
from ..recipes.baseline import probe_beside
from ..recipes.classic import fit_recipe
from ..recipes.dls import profile_dls
from ..recipes.fitting import KeepBest, RecipeResult, make_learner, seed_everything
from ..recipes.lpft import fit_lpft_recipe


def _loud(message: str) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! {message}\n{bar}", flush=True)


def train(data: str | Path, out: str | Path, arch: str | None = None, profile: str | None = None,
          size: int | None = None, epochs_head: int | None = None, epochs: int | None = None, seed: int = 0,
          weights: str | Path | None = None, pretrained: bool | None = None, force: bool = False,
          monitor: str = "valid_loss", patience: int = 3, max_per_class: int | None = None,
          external: list[str | Path] | None = None, recipe: str | None = None, lr: float | None = None,
          soup: int | None = None) -> dict:
    """Split DATA, fine-tune a backbone with the recipe, and write RUN_DIR `out`; return a summary dict.

    `None` arguments come from the profile (smoke / quick / full, or `$JEWEL_PROFILE`). Beside the fine-tuned
    model, a frozen-feature probe is scored on the test split and on every folder of `external` (default
    `$JEWEL_EXTERNAL_DATA`): `baseline.csv`. Refuses a non-empty `out` unless `force`, and an `out` inside DATA
    before creating anything. On Ctrl-C the best checkpoint so far stays in `out` and KeyboardInterrupt is re-raised.
    """
    if monitor not in MONITORS:
        raise JewelError(f"unknown monitor {monitor!r}: choose one of {', '.join(MONITORS)}")
    started = time.perf_counter()
    prof = profile_for(profile, size, arch=arch, epochs_head=epochs_head, epochs=epochs, pretrained=pretrained,
                       max_per_class=max_per_class, recipe=recipe, lr=lr, soup=soup)
    externals = [Path(e) for e in external] if external is not None else external_dirs()
    for folder in [data, *externals]:  # a wrong path is said now, not after training
        read_items(folder)
    run_dir = runs.prepare_run_dir(out, force, data=data)
    manifest = _write_split(data, run_dir, prof, seed)
    classes = sorted(manifest["label"].unique())
    arch_name, reason = resolve_arch(prof.arch, weights, prof.pretrained)
    print(f"arch: {reason}", flush=True)
    seed_everything(seed)
    head = "linear" if prof.recipe == "lpft" else "fastai"
    backbone = build_model(arch_name, len(classes), prof.pretrained, weights, head=head)
    (print if prof.pretrained else _loud)(f"weights: {backbone.source}")
    meta = runs.model_meta(classes, backbone, prof) | {
            "arch": arch_name, "recipe": prof.recipe, "head": head, "pretrained": prof.pretrained,
            "weights_source": backbone.source, "arch_reason": reason, "profile": prof.name,
            "profile_settings": prof.to_dict(), "seed": seed,
            "versions": runs.versions(), "timings": {}, "temperature": None, "data": str(Path(data).resolve()),
            "manifest": MANIFEST, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "lrs": None, "monitor": monitor, "best": None, "complete": False}

    def save_best(where: dict) -> None:
        runs.save_weights(run_dir, backbone.model)
        runs.write_json(run_dir / runs.META, meta | {"best": where})

    try:
        if prof.recipe == "lpft":
            result = fit_lpft_recipe(backbone, manifest, meta, prof, KeepBest(monitor, save_best), run_dir, seed)
        else:
            seed_everything(seed)  # the order images are shuffled in, and the new head's initialisation
            learn = make_learner(profile_dls(manifest, backbone, prof), backbone, path=run_dir)
            result = fit_recipe(learn, prof.epochs_head, prof.epochs, monitor, patience, plots=run_dir,
                                on_best=save_best)
    except KeyboardInterrupt:
        saved = (run_dir / runs.WEIGHTS).is_file()
        print(f"interrupted: {'the best checkpoint so far is' if saved else 'no epoch finished, nothing'} "
              f"saved in {run_dir}", flush=True)
        raise
    return _finish(backbone, manifest, result, meta, prof, run_dir, started, externals, weights)


def _write_split(data: str | Path, run_dir: Path, prof: Profile, seed: int) -> pd.DataFrame:
    manifest = make_split(data, valid=VALID, test=TEST, seed=seed, max_per_class=prof.max_per_class)
    write_manifest(manifest, run_dir / MANIFEST, data)
    counts = manifest["split"].value_counts()
    print(f"data: {len(manifest)} images, {manifest['label'].nunique()} classes; "
          + ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "valid", "test")), flush=True)
    return manifest


def _export_pkl(backbone: Backbone, manifest: pd.DataFrame, prof: Profile, run_dir: Path) -> None:
    """fastai's `export.pkl` of the trained model (the course's pickle, loaded only when trusted)."""
    learn = make_learner(profile_dls(manifest, backbone, prof), backbone, path=run_dir, new_head=False)
    if torch.cuda.is_available():
        learn.to_fp32()
    learn.export(runs.EXPORT)


def _finish(backbone: Backbone, manifest: pd.DataFrame, result: RecipeResult, meta: dict, prof: Profile,
            run_dir: Path, started: float, external: list[Path], weights: str | Path | None) -> dict:
    """Write history, curves, weights, export.pkl, test metrics, the probe baseline and meta.json; return the summary."""
    result.history.to_csv(run_dir / runs.HISTORY, index=False)
    plot_history(result.history, run_dir / runs.PLOTS["curves"])
    runs.save_weights(run_dir, backbone.model.float())
    _export_pkl(backbone, manifest, prof, run_dir)
    t = time.perf_counter()
    model = runs.load_model(run_dir)[0]  # scored exactly as `jewel evaluate` will load it
    test = manifest.loc[manifest["split"] == "test", ["path", "label"]]
    if test.empty:
        raise JewelError("the split has no test images: use more images per class")
    metrics, res = score_items(run_dir, model, meta, test, meta["data"], TEST_SPLIT, run_dir, progress=False,
                               features=True)
    fit_unknown(run_dir, model, meta, progress=False)  # the unknown-photo bank and threshold, into meta
    metrics["unknown"] = unknown_report(run_dir, model, meta, res, progress=False)[0]  # as `jewel evaluate` does
    result.timings["test"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    shops = {Path(f).name: (f, match_classes(read_items(f), meta["classes"])[0]) for f in external}
    sets = {"test split": test} | {name: items for name, (_, items) in shops.items()}
    tuned = {"test split": metrics} | {
        name: score_items(run_dir, model, meta, items, folder, ALL_OF_DATA, run_dir, progress=False)[0]
        for name, (folder, items) in shops.items()}
    baseline = probe_beside(run_dir, meta, sets, tuned, weights)
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
    return (f"{summary['arch']} {weights}, profile {summary['profile']}: test accuracy {summary['accuracy']:.3f}, "
            f"macro F1 {summary['macro_f1']:.3f} on {summary['n_test']} images in {minutes}m{seconds:02d}s "
            f"-> {summary['run_dir']}")
