"""The `jewel` command: a thin face over the library. Every verb calls one job module (`jewelhelpers.jobs`).

Jobs are imported when their verb runs, so `jewel --help` and the light verbs start fast; the choices offered
come from `core.settings`, the library's own constants. User errors (JewelError), and paths the system
refuses (OSError: a folder where a file goes, no permission), print one line on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from .core.errors import JewelError
from .core.settings import (
    ARCH_CHOICES, BALANCE, ENGINES, EXPORT_FORMATS, FEATURES, NEAR_MISSES, OUTPUT_FORMATS, PLACES, PROFILE_NAMES,
    RECIPES, REVIEW_FOLDS, TEST, UNKNOWN_MODES, VALID, VALID_FROM,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jewel", description="Jewelry image classification by transfer learning.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="generate the procedural jewelry dataset (licence-clean, offline)")
    s.add_argument("out", type=Path, help="folder to write DATA/<class>/*.png into (new, or an earlier synth set)")
    s.add_argument("--per-class", type=int, default=100, help="images per class (default 100)")
    s.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    s.add_argument("--near-misses", action="store_true",
                   help=f"draw objects that are none of the classes ({', '.join(NEAR_MISSES)}) to test unknown photos")
    s.add_argument("--views", type=int, default=1,
                   help="draw each design in N views (pose, background, worn or not) and list them in designs.csv")

    s = sub.add_parser("audit", help="read-only report on a dataset: counts, unreadable files, duplicates")
    s.add_argument("data", type=Path, help="an ImageFolder DATA/<class>/*.jpg or a CSV of file,label")
    s.add_argument("--out", type=Path, help="write the per-file report as CSV (outside DATA)")

    s = sub.add_parser("split", help="stratified train/valid/test split as a manifest (no files copied)")
    s.add_argument("data", type=Path, help="an ImageFolder DATA/<class>/*.jpg or a CSV of file,label")
    s.add_argument("--out", type=Path, required=True, help="the manifest CSV to write (outside DATA)")
    s.add_argument("--valid", type=float, default=VALID, help=f"share of each class for validation (default {VALID})")
    s.add_argument("--test", type=float, default=TEST, help=f"share of each class for the test split (default {TEST})")
    s.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")

    s = sub.add_parser("train", help="fine-tune a pretrained backbone: head first (a probe), then the last stage")
    s.add_argument("data", type=Path, nargs="+",
                   help="ImageFolders DATA/<class>/*.jpg or CSVs of file,label: the first is split train/valid/test, "
                        "the others are training rows of its classes, each source weighed equally")
    s.add_argument("--out", type=Path, required=True, help="RUN_DIR to create (outside DATA)")
    s.add_argument("--arch", choices=ARCH_CHOICES, default=None,
                   help="backbone (default: the profile's; auto = resnet50 when its weights can be had, "
                        "else efficientnet_lite0)")
    s.add_argument("--profile", choices=PROFILE_NAMES, default=None, help="run size (default $JEWEL_PROFILE or quick)")
    s.add_argument("--size", type=int, help="training image size in pixels (default: the profile's)")
    s.add_argument("--recipe", choices=RECIPES, default=None,
                   help="lpft (default): linear probe, then the last stage; classic: head, then the whole body")
    s.add_argument("--lr", type=float, help="lpft fine-tuning rate (default: the profile's; else lr_find)")
    s.add_argument("--soup", type=int, help="lpft: fine-tunings averaged into one model (default: the profile's)")
    s.add_argument("--wise", type=float, metavar="ALPHA",
                   help="lpft: WiSE-FT, the weights ALPHA * fine-tuned + (1 - ALPHA) * probe (default 1: "
                        "fine-tuned; every run scores 0, .25, .5, .75, 1 in wise.csv)")
    s.add_argument("--epochs-head", type=int, help="classic recipe: epochs with the body frozen")
    s.add_argument("--epochs", type=int, help="epochs after unfreezing (lpft: of the last stage)")
    s.add_argument("--seed", type=int, default=0, help="seed of the split and the training (default 0)")
    s.add_argument("--weights", type=Path, help="a local ResNet ImageNet weights file (or JEWEL_WEIGHTS)")
    s.add_argument("--no-pretrained", action="store_true", help="random initialisation (said loudly)")
    s.add_argument("--force", action="store_true", help="replace an earlier run in --out")
    s.add_argument("--external", type=Path, action="append",
                   help="another shop's photos to score beside the probe (repeatable; default JEWEL_EXTERNAL_DATA)")
    s.add_argument("--composites", type=int,
                   help="lpft: per class, training products on white cut out and pasted on drawn scenes (default 0)")
    s.add_argument("--drawn", type=int, metavar="N",
                   help="lpft: drawn images per class mixed into training (default: the profile's, 80 in quick; 0: none)")
    s.add_argument("--features", choices=FEATURES, default=None,
                   help="what the head reads: the body's last map (default) or its last two stages' maps side by side")
    s.add_argument("--mixstyle", type=float, metavar="P",
                   help="lpft: share of training batches whose feature maps swap style statistics (MixStyle, Zhou "
                        "et al. 2021) before the last stage (default: the profile's, 0.5 in quick/full; 0: none)")
    s.add_argument("--holdout-sources", action="store_true",
                   help="with several DATA: per source, train on the others and score on it "
                        "(RUN_DIR/holdout_sources.csv, .json, .png)")
    s.add_argument("--balance", choices=BALANCE, default=None,
                   help="with several DATA: repeat training rows so each source weighs equally (default) or each "
                        "source's class does (cells)")
    s.add_argument("--valid-from", choices=VALID_FROM, default="first",
                   help="with several DATA: the valid split (it picks the best epoch) from the first DATA only "
                        "(default) or from every source; the test split is always the first's")

    s = sub.add_parser("evaluate", help="metrics, plots and report.md for a run on its test split or other photos")
    s.add_argument("run_dir", type=Path, help="a RUN_DIR made by jewel train")
    s.add_argument("data", type=Path, help="the run's training DATA (= its test split) or other labelled photos")
    s.add_argument("--out", type=Path, help="report folder (default RUN_DIR/eval-<DATA name>)")
    s.add_argument("--tta", action="store_true", help="also score with test-time augmentation")
    s.add_argument("--robustness", action="store_true",
                   help="also score corrupted copies (blur, JPEG, noise, brightness, contrast, occlusion) and "
                        "products on white pasted on other backgrounds: metrics.json and robustness.png")
    s.add_argument("--unknown-data", type=Path,
                   help="photos of none of the classes: report how the unknown score separates them (AUROC, FPR)")

    s = sub.add_parser("predict", help="classify image files or folders with a trained run")
    s.add_argument("run_dir", type=Path, help="a RUN_DIR made by jewel train")
    s.add_argument("paths", type=Path, nargs="+", help="image files or folders (read only)")
    s.add_argument("--top-k", type=int, default=3, help="classes listed per image (default 3)")
    s.add_argument("--min-confidence", type=float, default=None,
                   help="label 'unknown' below this probability (best guess kept)")
    s.add_argument("--format", choices=OUTPUT_FORMATS, default="csv", help="output format (default csv)")
    s.add_argument("--out", type=Path,
                   help="file to write (default: standard output); with --on ray the folder of shards and summary")
    s.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    s.add_argument("--engine", choices=ENGINES, default=None,
                   help="torch (default; onnx with --on ray), onnx (the same labels, faster), or onnx-int8 (its labels "
                        "can differ from float32's on other shops' photos: `jewel export --format onnx-int8` measures "
                        "how often); ONNX files are exported on first use")
    s.add_argument("--on", choices=PLACES, default="local",
                   help="local (default): this process; ray: Ray Data workers, one model each, resumable shards")
    s.add_argument("--address", help="with --on ray: join this Ray cluster (auto or HOST:PORT); default: a local Ray")
    s.add_argument("--workers", type=int, help="with --on ray: model workers, one CPU each (default: every CPU)")
    s.add_argument("--unknown", choices=UNKNOWN_MODES, default="on",
                   help="on (default): label 'unknown' the photos unlike the training photos (the run's threshold, "
                        "fitted on its valid split); off: always a class")

    s = sub.add_parser("index", help="embed photos with a run's body into an index for jewel similar (adds new files)")
    s.add_argument("run_dir", type=Path, help="a RUN_DIR made by jewel train")
    s.add_argument("paths", type=Path, nargs="+", help="image files or folders (read only)")
    s.add_argument("--out", type=Path, required=True, help="INDEX_DIR to create or extend (outside the photos' folders)")
    s.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")

    s = sub.add_parser("similar", help="the indexed photos most like each query photo (more like this)")
    s.add_argument("index_dir", type=Path, help="an INDEX_DIR made by jewel index")
    s.add_argument("photos", type=Path, nargs="+", help="query image files or folders (read only)")
    s.add_argument("--top-k", type=int, default=5, help="neighbours per query (default 5)")
    s.add_argument("--format", choices=OUTPUT_FORMATS, default="csv", help="output format (default csv)")
    s.add_argument("--out", type=Path, help="file to write (default: standard output)")
    s.add_argument("--gallery", type=Path, help="also draw each query beside its neighbours into this PNG")

    s = sub.add_parser("review", help="read-only: labels of DATA that look wrong (cleanlab), near duplicates that disagree")
    s.add_argument("data", type=Path, help="an ImageFolder DATA/<class>/*.jpg or a CSV of file,label (read only)")
    s.add_argument("--run", type=Path, required=True, help="a RUN_DIR whose body embeds the photos")
    s.add_argument("--out", type=Path, required=True, help="review CSV to write (outside DATA)")
    s.add_argument("--gallery", type=Path, help="also draw the top suspects into this PNG (outside DATA)")
    s.add_argument("--folds", type=int, default=REVIEW_FOLDS, help=f"folds of the out-of-fold probe (default {REVIEW_FOLDS})")

    s = sub.add_parser("export", help="export a run's model (ONNX)")
    s.add_argument("run_dir", type=Path, help="a RUN_DIR made by jewel train")
    s.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="onnx (default) or onnx-int8")
    s.add_argument("--out", type=Path, help="file to write (default inside RUN_DIR)")
    s.add_argument("--external", type=Path, action="append",
                   help="onnx-int8: other shops' photos to measure int8's agreement with float32 on (repeatable; "
                        "default JEWEL_EXTERNAL_DATA)")

    s = sub.add_parser("app", help="serve the upload app as a web page (Voila): photos in, top-3 labels out")
    s.add_argument("run_dir", type=Path, help="a RUN_DIR made by jewel train")
    s.add_argument("--port", type=int, default=8866, help="port to listen on (default 8866)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 lets anyone on the "
                        "network upload photos, with no password)")
    s.add_argument("--engine", choices=ENGINES, default="onnx",
                   help="onnx (default, fast), onnx-int8 (can differ from float32 on other shops' photos; "
                        "`jewel export --format onnx-int8` measures how often), or torch (slower; adds Grad-CAM)")
    s.add_argument("--min-confidence", type=float, default=0.5,
                   help="the page's starting threshold: 'unknown' below this probability (default 0.5)")

    s = sub.add_parser("demo", help="synthetic data (or JEWEL_DATA) -> train --arch auto --profile quick")
    s.add_argument("--out", type=Path, default=None, help="run folder (default runs/demo-<time>)")
    s.add_argument("--profile", choices=PROFILE_NAMES, default="quick", help="run size (default quick)")
    return p


def _cmd_synth(a) -> int:
    from .jobs import synth
    synth.run(a.out, per_class=a.per_class, size=a.size, seed=a.seed, near_misses=a.near_misses, views=a.views)
    return 0


def _cmd_audit(a) -> int:
    from .jobs import audit
    audit.run(a.data, a.out)
    return 0


def _cmd_split(a) -> int:
    from .jobs import split
    split.run(a.data, a.out, valid=a.valid, test=a.test, seed=a.seed)
    return 0


def _cmd_train(a) -> int:
    from .jobs.train import summary_line, train
    summary = train(a.data, a.out, arch=a.arch, profile=a.profile, size=a.size, epochs_head=a.epochs_head,
                    epochs=a.epochs, seed=a.seed, weights=a.weights, recipe=a.recipe, lr=a.lr, soup=a.soup,
                    pretrained=False if a.no_pretrained else None, force=a.force, external=a.external,
                    composites=a.composites, holdout_sources=a.holdout_sources, wise=a.wise,
                    valid_from=a.valid_from, drawn=a.drawn, features=a.features, balance=a.balance,
                    mixstyle=a.mixstyle)
    print(summary_line(summary))
    return 0


def _cmd_evaluate(a) -> int:
    from .jobs.evaluate import evaluate, evaluation_line
    print(evaluation_line(evaluate(a.run_dir, a.data, out=a.out, tta=a.tta, unknown_data=a.unknown_data,
                                   robustness=a.robustness)))
    return 0


def _cmd_predict(a) -> int:
    from .core.images import check_outside_inputs
    from .core.output import check_table_out
    from .jobs.predict import predict_files, predict_on_ray, write_predictions
    if a.top_k < 1:
        raise JewelError("--top-k must be at least 1")
    if a.min_confidence is not None and not 0 <= a.min_confidence <= 1:
        raise JewelError("--min-confidence must be between 0 and 1")
    options = dict(top_k=a.top_k, min_confidence=a.min_confidence, batch_size=a.batch_size,
                   unknown=a.unknown == "on")
    if a.on == "ray":
        if a.out is None:
            raise JewelError("--on ray writes Parquet shards and a summary into a folder: give --out DIR")
        if a.workers is not None and a.workers < 1:
            raise JewelError("--workers must be at least 1")
        df = predict_on_ray(a.run_dir, a.paths, a.out, a.format, engine=a.engine or "onnx", address=a.address,
                            workers=a.workers, **options)
    elif a.address or a.workers:
        raise JewelError("--address and --workers go with --on ray")
    else:
        if a.out is not None:
            check_outside_inputs(check_table_out(a.out), a.paths)
        df = predict_files(a.run_dir, a.paths, engine=a.engine or "torch", **options)
        write_predictions(df, a.format, a.out)
    n_ok = int(df["error"].isna().sum() if "error" in df else len(df))
    print(f"{n_ok} of {len(df)} files predicted" + (f"; written to {a.out}" if a.out else "")
          + ("" if n_ok else ": none could be read as an image (each row's error says why)"), file=sys.stderr)
    return 0 if n_ok else 1


def _cmd_index(a) -> int:
    from .jobs import index
    if a.batch_size < 1:
        raise JewelError("--batch-size must be at least 1")
    status = index.run(a.run_dir, a.paths, a.out, a.batch_size)
    return 0 if (status["status"] != "error").any() else 1


def _cmd_similar(a) -> int:
    from .jobs import similar
    table = similar.run(a.index_dir, a.photos, a.top_k, a.format, a.out, a.gallery)
    n_bad = table.loc[table["error"].notna(), "query"].nunique()
    n = table["query"].nunique()
    print(f"{n - n_bad} of {n} photos searched" + (f"; written to {a.out}" if a.out else "")
          + (f"; gallery {a.gallery}" if a.gallery else ""), file=sys.stderr)
    return 0 if n_bad < n else 1


def _cmd_review(a) -> int:
    from .jobs import review
    if a.folds < 2:
        raise JewelError("--folds must be at least 2")
    review.run(a.data, a.run, a.out, a.gallery, a.folds)
    return 0


def _cmd_export(a) -> int:
    from .jobs import export
    export.run(a.run_dir, a.format, a.out, a.external)
    return 0


def _cmd_app(a) -> int:
    from .app import serve
    return serve(a.run_dir, port=a.port, host=a.host, engine=a.engine, threshold=a.min_confidence)


def _cmd_demo(a) -> int:
    from .core.settings import data_dir, get_profile
    from .jobs import synth
    from .jobs.train import summary_line, train
    data = data_dir()
    if data is None:
        profile = get_profile(a.profile)
        data = synth.run(Path("data") / f"synth-{profile.name}", per_class=profile.synth_per_class,
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
    except OSError as e:  # a path the system refuses: a folder where a file goes, a file in the path, no permission
        where = f" {e.filename}" if e.filename else ""
        print(f"jewel {args.command}: error: cannot use{where}: {e.strerror or e}; give another path",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jewel {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
