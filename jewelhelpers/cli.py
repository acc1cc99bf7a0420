"""The `jewel` command: a thin face over the library. Every verb calls one job module.

User errors (JewelError) print one line on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from .errors import JewelError
from .profiles import PROFILE_NAMES, RECIPES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jewel", description="Jewelry image classification by transfer learning.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate the procedural jewelry dataset (licence-clean, offline)")
    s.add_argument("out", type=Path)
    s.add_argument("--per-class", type=int, default=100)
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("audit", help="read-only report on a dataset: counts, unreadable files, duplicates")
    s.add_argument("data", type=Path)
    s.add_argument("--out", type=Path, help="write the per-file report as CSV")

    s = sub.add_parser("split", help="stratified train/valid/test split as a manifest (no files copied)")
    s.add_argument("data", type=Path)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--valid", type=float, default=0.15)
    s.add_argument("--test", type=float, default=0.15)
    s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("train", help="fine-tune a pretrained backbone: head first (a probe), then the last stage")
    s.add_argument("data", type=Path)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--arch", default=None,
                   help="auto|resnet50|resnet18|resnet34|efficientnet_lite0|efficientnet_lite1|efficientnet_lite2")
    s.add_argument("--profile", choices=PROFILE_NAMES, default=None)
    s.add_argument("--size", type=int)
    s.add_argument("--recipe", choices=RECIPES, default=None,
                   help="lpft (default): linear probe, then the last stage; classic: head, then the whole body")
    s.add_argument("--lr", type=float, help="lpft fine-tuning rate (default: the profile's; else lr_find)")
    s.add_argument("--soup", type=int, help="lpft: fine-tunings averaged into one model (default: the profile's)")
    s.add_argument("--epochs-head", type=int, help="classic recipe: epochs with the body frozen")
    s.add_argument("--epochs", type=int, help="epochs after unfreezing")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--weights", type=Path, help="a local ResNet ImageNet weights file (or JEWEL_WEIGHTS)")
    s.add_argument("--no-pretrained", action="store_true", help="random initialisation (said loudly)")
    s.add_argument("--force", action="store_true", help="replace an earlier run in --out")
    s.add_argument("--external", type=Path, action="append",
                   help="another shop's photos to score beside the probe (repeatable; default JEWEL_EXTERNAL_DATA)")

    s = sub.add_parser("evaluate", help="metrics, plots and report.md for a run on its test split or other photos")
    s.add_argument("run_dir", type=Path)
    s.add_argument("data", type=Path)
    s.add_argument("--out", type=Path)
    s.add_argument("--tta", action="store_true")

    s = sub.add_parser("predict", help="classify image files or folders with a trained run")
    s.add_argument("run_dir", type=Path)
    s.add_argument("paths", type=Path, nargs="+")
    s.add_argument("--top-k", type=int, default=3)
    s.add_argument("--min-confidence", type=float, default=None)
    s.add_argument("--format", choices=("csv", "json"), default="csv")
    s.add_argument("--out", type=Path)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--engine", choices=("torch", "onnx", "onnx-int8"), default="torch")

    s = sub.add_parser("export", help="export a run's model (ONNX)")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--format", choices=("onnx", "onnx-int8"), default="onnx")
    s.add_argument("--out", type=Path)

    s = sub.add_parser("demo", help="synthetic data (or JEWEL_DATA) -> train --arch auto --profile quick")
    s.add_argument("--out", type=Path, default=None, help="run folder (default runs/demo-<time>)")
    s.add_argument("--profile", choices=PROFILE_NAMES, default="quick")
    return p


def _cmd_synth(a) -> int:
    from .synth import make_synth
    out = make_synth(a.out, per_class=a.per_class, size=a.size, seed=a.seed)
    print(f"wrote the synthetic dataset to {out}")
    return 0


def _cmd_audit(a) -> int:
    from .audit import audit
    result = audit(a.data)
    print(result.summary())
    if a.out:
        result.to_csv(a.out)
        print(f"per-file report: {a.out}")
    return 0


def _cmd_split(a) -> int:
    from .split import make_split, write_manifest
    df = make_split(a.data, valid=a.valid, test=a.test, seed=a.seed)
    write_manifest(df, a.out, a.data)
    counts = df.groupby(["split", "label"]).size().unstack(fill_value=0)
    print(counts.to_string())
    print(f"manifest: {a.out}")
    return 0


def _cmd_train(a) -> int:
    from .train import summary_line, train
    summary = train(a.data, a.out, arch=a.arch, profile=a.profile, size=a.size, epochs_head=a.epochs_head,
                    epochs=a.epochs, seed=a.seed, weights=a.weights, recipe=a.recipe, lr=a.lr, soup=a.soup,
                    pretrained=False if a.no_pretrained else None, force=a.force, external=a.external)
    print(summary_line(summary))
    return 0


def _cmd_evaluate(a) -> int:
    from .evaluate import evaluate, evaluation_line
    metrics = evaluate(a.run_dir, a.data, out=a.out, tta=a.tta)
    print(evaluation_line(metrics))
    return 0


def _cmd_predict(a) -> int:
    from .predict import predict_files, write_predictions
    if a.top_k < 1:
        raise JewelError("--top-k must be at least 1")
    if a.min_confidence is not None and not 0 <= a.min_confidence <= 1:
        raise JewelError("--min-confidence must be between 0 and 1")
    df = predict_files(a.run_dir, a.paths, top_k=a.top_k, min_confidence=a.min_confidence,
                       batch_size=a.batch_size, engine=a.engine)
    write_predictions(df, a.format, a.out)
    n_ok = int(df["error"].isna().sum() if "error" in df else len(df))
    print(f"{n_ok} of {len(df)} files predicted" + (f"; written to {a.out}" if a.out else ""), file=sys.stderr)
    return 0 if n_ok else 1


def _cmd_export(a) -> int:
    from .export import export_onnx
    path = export_onnx(a.run_dir, out=a.out, quantize=a.format == "onnx-int8")
    print(f"exported {path}")
    return 0


def _cmd_demo(a) -> int:
    from .profiles import data_dir, get_profile
    from .train import summary_line, train
    data = data_dir()
    if data is None:
        from .synth import make_synth
        profile = get_profile(a.profile)
        data = make_synth(Path("data") / f"synth-{profile.name}", per_class=profile.synth_per_class,
                          size=profile.synth_size, seed=0)
        print(f"no JEWEL_DATA given: using the synthetic dataset in {data}")
    out = a.out or Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    summary = train(data, out, arch=None, profile=a.profile)  # quick and full: --arch auto
    print(summary_line(summary))
    print(f"results: {Path(out).resolve()} (metrics.json, meta.json, model.pth, export.pkl, plots)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jewel` console script."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = _parser().parse_args(argv)
    handler = globals()[f"_cmd_{args.command}"]
    try:
        return handler(args)
    except JewelError as e:
        print(f"jewel {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jewel {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
