"""`jewel evaluate`: metrics, calibration, plots and a report for a run, on its test split or other photos.

DATA equal to the run's training data means "the run's test split" (manifest rows with split == test);
any other ImageFolder or CSV is evaluated whole (another shop's photos), except a run's further training
source (all of it was trained on). Metrics cover the classes present in DATA; classes the model does not know
are reported and left out; a prediction of a class DATA lacks is still an error. The temperature is fitted on the run's validation split and stored in meta.json.

Taught in: 03_evaluation.ipynb.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..core.errors import JewelError
from ..core.figures import plot_confusion, plot_f1, plot_reliability, plot_robustness, plot_unknown_scores
from ..core.images import check_outside_data, read_items
from ..core.interpret import pick_right_wrong, plot_gallery, plot_grad_cam, top_losses
from ..core.manifest import manifest_split
from ..core.metrics import N_BINS, most_confused, prediction_table
from ..core.robustness import robustness_report
from ..core.runs import METRICS, load_model, read_meta, write_json
from ..core.scoring import ALL_OF_DATA, TEST_SPLIT, score_items
from ..core.unknown import unknown_report

PLOTS = {"confusion_matrix.png": "Confusion matrix", "per_class_f1.png": "F1 per class",
         "reliability.png": "Reliability diagram", "top_losses.png": "Top losses",
         "grad_cam.png": "Grad-CAM: right and wrong predictions"}
ROBUSTNESS_PLOT = "robustness.png"  # with --robustness


# ---- what to evaluate --------------------------------------------------------------------------------

def evaluation_items(run_dir: str | Path, data: str | Path, meta: dict) -> tuple[pd.DataFrame, str]:
    """The labelled images to evaluate and what they are: the run's test split when DATA is its training data."""
    data = Path(data).expanduser()
    if meta.get("data") and data.resolve() == Path(meta["data"]).expanduser().resolve():
        test = manifest_split(run_dir, meta, "test")
        if test.empty:
            raise JewelError(f"the run's manifest has no test rows: evaluate on other photos (jewel evaluate {run_dir} OTHER_DATA)")
        return test[["path", "label"]], TEST_SPLIT
    trained_on = [Path(p) for p in list(meta.get("sources", {}).values())[1:]]  # training rows only, every one
    if data.resolve() in trained_on:
        raise JewelError(f"{data} is a training source of this run (all of it was trained on): evaluate on the run's "
                         f"first DATA (its test split), or read {run_dir}/holdout_sources.csv")
    return read_items(data), ALL_OF_DATA


# ---- plots and report --------------------------------------------------------------------------------

def save_plots(metrics: dict, preds: pd.DataFrame, model: torch.nn.Module, meta: dict, out: Path) -> None:
    """Write every plot named in PLOTS into `out`."""
    makers = {
        "confusion_matrix.png": lambda: plot_confusion(metrics),
        "per_class_f1.png": lambda: plot_f1(metrics),
        "reliability.png": lambda: plot_reliability(metrics),
        "top_losses.png": lambda: plot_gallery(top_losses(preds), meta, "Top losses (highest -log p(truth))"),
        "grad_cam.png": lambda: plot_grad_cam(model, meta, pick_right_wrong(preds),
                                              "Grad-CAM: most confident right, then wrong"),
    }
    for name in PLOTS:
        makers[name]().savefig(out / name, dpi=100)


def _table(header: list[str], rows: list[list]) -> str:
    fmt = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in fmt])


def report_markdown(metrics: dict) -> str:
    """report.md: the numbers, the classes, calibration, the plots and the unreadable files, readable alone."""
    tta = metrics.get("tta")
    heads = ["accuracy", "top2_accuracy", "macro_f1", "weighted_f1", "nll", "ece", "ece_calibrated"]
    headline = _table(["metric", "plain"] + (["TTA"] if tta else []),
                      [[h, metrics.get(h, "-")] + ([tta.get(h, "-")] if tta else []) for h in heads])
    per_class = _table(["class", "precision", "recall", "F1", "support"],
                       [[c, v["precision"], v["recall"], v["f1"], v["support"]] for c, v in metrics["per_class"].items()])
    cm = metrics["confusion_matrix"]
    confusion = _table(["truth \\ predicted", *cm["columns"]], [[t, *row] for t, row in zip(cm["rows"], cm["counts"])])
    confused = ", ".join(f"{t} → {p} ({n})" for t, p, n in most_confused(metrics)[:5]) or "none"
    cal = metrics["calibration"]
    calibration_text = (f"Temperature T = {cal['temperature']:.3f} ({cal['fitted_on']}). ECE {metrics['ece']:.3f} → "
                        f"{metrics['ece_calibrated']:.3f}, NLL {metrics['nll']:.3f} → {metrics['nll_calibrated']:.3f} "
                        "after dividing the logits by T (accuracy does not change)."
                        if cal["temperature"] else f"No temperature scaling: {cal.get('reason')}.")
    unreadable = "\n".join(f"- `{u['path']}`: {u['reason']}" for u in metrics["unreadable"]) or "none"
    unknown = unknown_markdown(metrics["unknown"])
    plots = "\n\n".join(f"### {title}\n\n![{title}]({name})" for name, title in PLOTS.items())
    robust = metrics.get("robustness")
    if robust:
        swap = robust["background_swap"]
        rows = [[name, robust["clean"], *accs] for name, accs in robust["corruptions"].items()]
        plots += (f"\n\n## Robustness ({robust['n']} images)\n\n"
                  + _table(["corruption", "clean", *[f"severity {s}" for s in robust["severities"]]], rows)
                  + f"\n\nOcclusion hides {', '.join(f'{v:.0%}' for v in robust['occluded_share'])} of the object's box. "
                  + (f"Background swap on the {swap['n']} photos on white: {swap['original']:.3f} -> {swap['swapped']:.3f}."
                     if swap["n"] else "No photo on white: no background swap.")
                  + f"\n\n![Robustness]({ROBUSTNESS_PLOT})")
    return f"""# Evaluation of `{Path(metrics['run_dir']).name}`

- Run: `{metrics['run_dir']}`
- Data: `{metrics['data']}`, {metrics['evaluated_on']}: **{metrics['n']} images** evaluated, {len(metrics['unreadable'])} unreadable (skipped).
- Classes evaluated (rows of the confusion matrix, averaged in macro F1): {', '.join(metrics['classes_evaluated'])}.
- Classes unknown to the model (left out, {metrics['n_unknown_to_model']} images): {', '.join(metrics['classes_unknown_to_model']) or 'none'}.
- Model classes absent from the data (still errors when predicted): {', '.join(metrics['classes_missing_from_data']) or 'none'}.
- Preprocessing: {metrics['preprocessing']}.{f"{chr(10)}- TTA: {tta['views']}." if tta else ""}

## Headline numbers

{headline}

Accuracy on imbalanced data flatters the big classes: read macro F1 and the per-class table.

## Per class

{per_class}

## Confusion matrix (rows = truth, columns = prediction)

{confusion}

Most confused (truth → predicted): {confused}.

## Calibration

{calibration_text} ECE uses {N_BINS} equal-width bins on the top probability.

## Unknown photos

{unknown}

## Plots

{plots}

## Unreadable files

{unreadable}
"""


def unknown_markdown(u: dict) -> str:
    """The report's "Unknown photos" section: the threshold, what it keeps, and how it separates other photos."""
    text = (f"Score `{u['method']}` (k = {u['k']}), threshold {u['threshold']:.4f} keeps {u['tpr']:.0%} of "
            f"{u['fitted_on']}. Here it keeps {u['share_kept']:.1%} of the photos; accuracy {u['accuracy_all']:.3f} "
            f"on all of them, " + (f"{u['accuracy_kept']:.3f} on those kept." if u["accuracy_kept"] is not None
                                   else "none kept."))
    d = u.get("unknown_data")
    if d:
        text += (f"\n\nAgainst `{d['data']}` ({d['n_unknown']} photos of no class): AUROC {d['auroc']:.3f}, "
                 f"FPR at 95% TPR {d['fpr_at_95tpr']:.3f}; the run's threshold marks {d['share_marked_unknown']:.1%} "
                 "of them unknown.\n\n![Unknown scores](unknown_scores.png)")
    return text


# ---- the job -----------------------------------------------------------------------------------------

def default_out(run_dir: str | Path, data: str | Path) -> Path:
    """RUN_DIR/eval-<name of DATA> (the folder name, or the CSV's name without .csv)."""
    data = Path(data).expanduser().resolve()
    return Path(run_dir) / f"eval-{data.stem if data.is_file() else data.name}"


def evaluate(run_dir: str | Path, data: str | Path, out: str | Path | None = None, tta: bool = False,
             progress: bool = True, unknown_data: str | Path | None = None, robustness: bool = False) -> dict:
    """Evaluate a run on DATA; write metrics.json, predictions.csv, the plots and report.md into `out`.

    The run's unknown-photo threshold is reported on DATA (fitted and stored first if the run has none); with
    `unknown_data` (photos of no class) also AUROC and FPR at 95% TPR, and `unknown_scores.png`. With
    `robustness`, metrics.json also holds `robustness` (`core.robustness.robustness_report`: accuracy per
    corruption and severity, and the background swap) and `robustness.png` shows it.

    Returns the metrics. Raises JewelError when RUN_DIR or DATA cannot be used. Nothing is written into DATA.
    """
    run_dir, data = Path(run_dir).expanduser(), Path(data).expanduser()
    meta = read_meta(run_dir)
    if not data.exists():
        raise JewelError(f"data not found: {data} (give an ImageFolder DATA/<category>/*.jpg or a CSV of file,label)")
    out = Path(out).expanduser() if out else default_out(run_dir, data)
    check_outside_data(out, data)
    items, source = evaluation_items(run_dir, data, meta)
    model, meta = load_model(run_dir, "cuda" if torch.cuda.is_available() else "cpu")
    metrics, res = score_items(run_dir, model, meta, items, data, source, out, tta, progress, features=True)
    metrics["unknown"], scores = unknown_report(run_dir, model, meta, res, unknown_data, progress)
    out.mkdir(parents=True, exist_ok=True)
    if "unknown" in scores:
        plot_unknown_scores({Path(data).name: scores["known"], "--unknown-data": scores["unknown"]},
                            metrics["unknown"]["threshold"]).savefig(out / "unknown_scores.png", dpi=100)
    preds = prediction_table(res, meta["classes"])
    preds.to_csv(out / "predictions.csv", index=False)
    if robustness:
        metrics["robustness"] = robustness_report(model, meta, res.items)
        plot_robustness(metrics["robustness"]).savefig(out / ROBUSTNESS_PLOT, dpi=100)
    write_json(out / METRICS, metrics)
    save_plots(metrics, preds, model, meta, out)
    (out / "report.md").write_text(report_markdown(metrics), encoding="utf-8")
    return metrics


def evaluation_line(metrics: dict) -> str:
    """One line for the terminal: the headline numbers, what was evaluated, and where the report is."""
    parts = [f"accuracy {metrics['accuracy']:.3f}", f"macro F1 {metrics['macro_f1']:.3f}",
             f"top-2 {metrics['top2_accuracy']:.3f}", f"ECE {metrics['ece']:.3f}"
             + (f" -> {metrics['ece_calibrated']:.3f} at T={metrics['temperature']:.2f}" if metrics["temperature"] else "")]
    if "tta" in metrics:
        parts.append(f"TTA accuracy {metrics['tta']['accuracy']:.3f}")
    if "robustness" in metrics:
        worst = min((acc[-1], name) for name, acc in metrics["robustness"]["corruptions"].items())
        swap = metrics["robustness"]["background_swap"]
        parts.append(f"worst corruption {worst[1]} {worst[0]:.3f}"
                     + (f", background swap {swap['original']:.3f} -> {swap['swapped']:.3f}" if swap["n"] else ""))
    line = ", ".join(parts) + f" on {metrics['n']} images ({metrics['evaluated_on']})"
    if metrics["unreadable"]:
        line += f"; {len(metrics['unreadable'])} unreadable skipped"
    if "unknown_data" in metrics.get("unknown", {}):
        d = metrics["unknown"]["unknown_data"]
        line += (f"; unknown photos: AUROC {d['auroc']:.3f}, FPR at 95% TPR {d['fpr_at_95tpr']:.3f} "
                 f"({d['n_unknown']} unknown photos against {d['n_known']})")
    return line + f"; report: {Path(metrics['out']) / 'report.md'}"
