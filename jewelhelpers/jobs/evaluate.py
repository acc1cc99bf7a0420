"""`jewel evaluate`: metrics, calibration, plots and a report for a run, on its test split or other photos.

DATA equal to the run's training data means "the run's test split" (manifest rows with split == test);
any other ImageFolder or CSV is evaluated whole (another shop's photos). Metrics cover the classes present
in DATA; classes the model does not know are reported and left out; a prediction of a class DATA lacks is
still an error. The temperature is fitted on the run's validation split and stored in meta.json.

Taught in: 03_evaluation.ipynb.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from .data import read_items, read_manifest
from .errors import JewelError
from .inference import TTA_ZOOM, batch_logits, probabilities
from .interpret import new_figure, pick_right_wrong, plot_gallery, plot_grad_cam, top_losses
from .runs import MANIFEST, METRICS, load_model, read_meta, update_meta, write_json

__all__ = ["evaluate", "evaluation_line", "evaluation_items", "manifest_split", "match_classes", "run_logits",
           "classification_metrics", "reliability", "ece", "nll", "fit_temperature", "valid_temperature",
           "calibration", "most_confused", "prediction_table", "plot_confusion", "plot_f1", "plot_reliability",
           "report_markdown", "default_out", "run_to_evaluate"]

N_BINS = 15
T_BOUNDS = (0.05, 20.0)
PREPROCESSING = ("as in validation during training: centred square crop resized to presize (PIL bilinear), "
                 "then resized to size (bilinear), normalised with the backbone's mean/std")
TTA_VIEWS = f"mean logits of: the image, its horizontal mirror, a {TTA_ZOOM - 1:.0%} zoom on the centre"
PLOTS = {"confusion_matrix.png": "Confusion matrix", "per_class_f1.png": "F1 per class",
         "reliability.png": "Reliability diagram", "top_losses.png": "Top losses",
         "grad_cam.png": "Grad-CAM: right and wrong predictions"}


# ---- what to evaluate --------------------------------------------------------------------------------

def manifest_split(run_dir: str | Path, meta: dict, split: str) -> pd.DataFrame:
    """The rows of the run's manifest in `split` (train / valid / test), with absolute paths."""
    df = read_manifest(Path(run_dir) / meta.get("manifest", MANIFEST))
    root = Path(meta.get("data", "."))
    root = root.parent if root.suffix.lower() == ".csv" else root
    df["path"] = [p if Path(p).is_absolute() else str(root / p) for p in df["path"]]
    return df[df["split"] == split].reset_index(drop=True)


def evaluation_items(run_dir: str | Path, data: str | Path, meta: dict) -> tuple[pd.DataFrame, str]:
    """The labelled images to evaluate and what they are: the run's test split when DATA is its training data."""
    data = Path(data).expanduser()
    if meta.get("data") and data.resolve() == Path(meta["data"]).expanduser().resolve():
        test = manifest_split(run_dir, meta, "test")
        if test.empty:
            raise JewelError(f"the run's manifest has no test rows: evaluate on other photos (jewel evaluate {run_dir} OTHER_DATA)")
        return test[["path", "label"]], "the run's test split"
    return read_items(data), "all images of DATA"


def match_classes(items: pd.DataFrame, classes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Leave out images of classes the model does not know (said aloud); report classes DATA lacks."""
    present = set(items["label"])
    unknown = sorted(present - set(classes))
    if unknown:
        n = int(items["label"].isin(unknown).sum())
        print(f"left out {n} image(s) of class(es) the model does not know: {', '.join(unknown)}")
    known = items[items["label"].isin(classes)].reset_index(drop=True)
    if known.empty:
        raise JewelError(f"none of DATA's classes ({', '.join(sorted(present))}) is known to the model "
                         f"({', '.join(classes)})")
    return known, {"classes_unknown_to_model": unknown,
                   "n_unknown_to_model": int(len(items) - len(known)),
                   "classes_missing_from_data": [c for c in classes if c not in present]}


@dataclass
class RunLogits:
    """Logits of the readable images, their true class indices, the rows kept, and the unreadable files."""

    logits: torch.Tensor
    y: np.ndarray
    items: pd.DataFrame
    unreadable: list[dict]


def run_logits(model: torch.nn.Module, meta: dict, items: pd.DataFrame, tta: bool = False,
               progress: bool = True) -> RunLogits:
    """Logits for `items` (path, label of a known class); unreadable files are listed with their reason."""
    paths = list(items["path"])
    out = batch_logits(model, paths, meta, tta=tta, progress=progress)
    kept = items.iloc[out.ok].reset_index(drop=True)
    y = kept["label"].map({c: i for i, c in enumerate(meta["classes"])}).to_numpy(dtype=int)
    return RunLogits(out.logits, y, kept, [{"path": paths[i], "reason": r} for i, r in out.errors.items()])


# ---- metrics -----------------------------------------------------------------------------------------

def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> list[dict]:
    """Equal-width bins on the top probability: count, mean confidence and accuracy of each (lo, hi] bin."""
    conf, correct = probs.max(1), probs.argmax(1) == y
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        m = idx == b
        bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "count": int(m.sum()),
                     "confidence": float(conf[m].mean()) if m.any() else None,
                     "accuracy": float(correct[m].mean()) if m.any() else None})
    return bins


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error: the count-weighted mean gap between confidence and accuracy over the bins."""
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"])
                     for b in reliability(probs, y, n_bins) if b["count"]) / len(y))


def nll(logits: torch.Tensor, y: np.ndarray, temperature: float | None = None) -> float:
    """Mean negative log-likelihood of the true class under softmax(logits / temperature)."""
    return float(F.cross_entropy(logits.float() / (temperature or 1.0), torch.tensor(y, dtype=torch.long)))


def fit_temperature(logits: torch.Tensor, y: np.ndarray) -> float:
    """The single temperature T minimising NLL of softmax(logits / T): a bounded 1-D search on log T."""
    from scipy.optimize import minimize_scalar
    lo, hi = (math.log(t) for t in T_BOUNDS)
    res = minimize_scalar(lambda log_t: nll(logits, y, math.exp(log_t)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-5})
    return float(math.exp(res.x))


def classification_metrics(logits: torch.Tensor, y: np.ndarray, classes: list[str],
                           temperature: float | None = None) -> dict:
    """Accuracy, top-2, per-class precision/recall/F1, macro/weighted F1, confusion matrix, NLL, ECE.

    Rows of the confusion matrix and the F1 averages cover the classes present in `y` (classes_evaluated);
    columns are all of the model's `classes`, so predicting a class absent from the data is an error.
    With a `temperature`, ECE, NLL and the reliability bins are also given after calibration.
    """
    probs = probabilities(logits).numpy()
    pred = probs.argmax(1)
    rows = sorted(set(y.tolist()))
    cm = np.zeros((len(rows), len(classes)), dtype=int)
    np.add.at(cm, (np.searchsorted(rows, y), pred), 1)
    per_class = {}
    for i, j in enumerate(rows):
        tp, support, predicted = cm[i, j], cm[i].sum(), cm[:, j].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[classes[j]] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                                 "support": int(support)}
    f1s = np.array([v["f1"] for v in per_class.values()])
    supports = np.array([v["support"] for v in per_class.values()])
    top2 = (np.argsort(-probs, axis=1)[:, :2] == y[:, None]).any(1)
    metrics = {
        "n": int(len(y)), "classes_evaluated": [classes[j] for j in rows],
        "accuracy": float((pred == y).mean()), "top2_accuracy": float(top2.mean()),
        "macro_f1": float(f1s.mean()), "weighted_f1": float((f1s * supports).sum() / supports.sum()),
        "per_class": per_class,
        "confusion_matrix": {"rows": [classes[j] for j in rows], "columns": list(classes), "counts": cm.tolist()},
        "nll": nll(logits, y), "ece": ece(probs, y), "reliability": {"raw": reliability(probs, y)},
    }
    if temperature:
        calibrated = probabilities(logits, temperature).numpy()
        metrics |= {"nll_calibrated": nll(logits, y, temperature), "ece_calibrated": ece(calibrated, y)}
        metrics["reliability"]["calibrated"] = reliability(calibrated, y)
    return metrics


def most_confused(metrics: dict, min_count: int = 1) -> list[tuple[str, str, int]]:
    """(truth, predicted, count) for every off-diagonal cell of the confusion matrix, most frequent first."""
    cm = metrics["confusion_matrix"]
    pairs = [(t, p, n) for t, row in zip(cm["rows"], cm["counts"]) for p, n in zip(cm["columns"], row)
             if t != p and n >= min_count]
    return sorted(pairs, key=lambda r: -r[2])


def prediction_table(res: RunLogits, classes: list[str]) -> pd.DataFrame:
    """One row per image: path, truth, pred, confidence, p_truth, loss (-log p_truth), correct."""
    probs = probabilities(res.logits).numpy()
    pred = probs.argmax(1)
    p_truth = probs[np.arange(len(res.y)), res.y]
    return pd.DataFrame({"path": res.items["path"].to_numpy(), "truth": res.items["label"].to_numpy(),
                         "pred": [classes[i] for i in pred], "confidence": probs.max(1), "p_truth": p_truth,
                         "loss": -np.log(np.clip(p_truth, 1e-12, None)), "correct": pred == res.y})


# ---- calibration ---------------------------------------------------------------------------------------

def valid_temperature(run_dir: str | Path, model: torch.nn.Module, meta: dict, progress: bool = True) -> dict:
    """Fit the temperature on the run's validation split; NLL and ECE there before and after (nothing stored)."""
    valid = manifest_split(run_dir, meta, "valid")
    if valid.empty:
        raise JewelError("the run's manifest has no valid rows to fit a temperature on")
    res = run_logits(model, meta, match_classes(valid, meta["classes"])[0], progress=progress)
    if not len(res.y):
        raise JewelError("no image of the run's validation split could be read to fit a temperature on")
    t = fit_temperature(res.logits, res.y)
    return {"temperature": t, "fitted_on": "the run's valid split", "n_valid": int(len(res.y)),
            "valid_nll_before": nll(res.logits, res.y), "valid_nll_after": nll(res.logits, res.y, t),
            "valid_ece_before": ece(probabilities(res.logits).numpy(), res.y),
            "valid_ece_after": ece(probabilities(res.logits, t).numpy(), res.y)}


def calibration(run_dir: str | Path, model: torch.nn.Module, meta: dict, progress: bool = True) -> dict:
    """The run's temperature: reused from meta.json, else fitted on the valid split and stored there."""
    if meta.get("temperature"):
        return {"temperature": float(meta["temperature"]), "fitted_on": "reused from meta.json"}
    try:
        cal = valid_temperature(run_dir, model, meta, progress)
    except JewelError as e:
        print(f"no temperature scaling: {e}")
        return {"temperature": None, "fitted_on": None, "reason": str(e)}
    update_meta(run_dir, temperature=cal["temperature"])
    return cal


# ---- plots -------------------------------------------------------------------------------------------

def plot_confusion(metrics: dict) -> Figure:
    """Confusion matrix heatmaps: counts, and each row divided by its total (recall on the diagonal)."""
    import seaborn as sns
    cm = metrics["confusion_matrix"]
    counts = np.array(cm["counts"])
    shares = counts / counts.sum(1, keepdims=True)
    fig = new_figure((11, 4.5))
    for ax, values, fmt, title in zip(fig.subplots(1, 2), (counts, shares), ("d", ".2f"),
                                      ("counts", "share of each true class")):
        sns.heatmap(values, annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax,
                    xticklabels=cm["columns"], yticklabels=cm["rows"])
        ax.set(xlabel="predicted", ylabel="truth", title=title)
    return fig


def plot_f1(metrics: dict) -> Figure:
    """F1 per class as bars, each class named with its support (how many of its images were evaluated)."""
    per_class = metrics["per_class"]
    fig = new_figure((6, 0.5 * len(per_class) + 1.2))
    ax = fig.subplots()
    ax.barh([f"{c} (n={v['support']})" for c, v in per_class.items()], [v["f1"] for v in per_class.values()],
            color="steelblue")
    ax.axvline(metrics["macro_f1"], color="firebrick", ls="--", label=f"macro F1 {metrics['macro_f1']:.2f}")
    ax.set(xlim=(0, 1), xlabel="F1", title="F1 per class")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    return fig


def plot_reliability(metrics: dict) -> Figure:
    """Reliability diagram: accuracy against confidence per bin, before and after temperature scaling."""
    fig = new_figure((5, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls=":", label="perfect calibration")
    labels = {"raw": f"raw (ECE {metrics['ece']:.3f})",
              "calibrated": f"T={metrics.get('temperature') or 1:.2f} (ECE {metrics.get('ece_calibrated') or 0:.3f})"}
    for (name, bins), offset in zip(metrics["reliability"].items(), (-0.25, 0.25)):
        used = [b for b in bins if b["count"]]
        width = 1 / len(bins)
        ax.bar([(b["lo"] + b["hi"]) / 2 + offset * width for b in used], [b["accuracy"] for b in used],
               width=width / 2, alpha=0.8, label=labels[name])
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top probability)", ylabel="accuracy",
           title=f"Reliability ({N_BINS} bins)")
    ax.legend(loc="upper left")
    return fig


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


# ---- report ------------------------------------------------------------------------------------------

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
    plots = "\n\n".join(f"### {title}\n\n![{title}]({name})" for name, title in PLOTS.items())
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

## Plots

{plots}

## Unreadable files

{unreadable}
"""


# ---- the job -----------------------------------------------------------------------------------------

def default_out(run_dir: str | Path, data: str | Path) -> Path:
    """RUN_DIR/eval-<name of DATA> (the folder name, or the CSV's name without .csv)."""
    data = Path(data).expanduser().resolve()
    return Path(run_dir) / f"eval-{data.stem if data.is_file() else data.name}"


def run_to_evaluate(data: str | Path, profile: str) -> Path:
    """The run a notebook evaluates: `$JEWEL_RUN` if set, else runs/<profile>-<DATA name>, trained once on DATA."""
    import os
    from .course import project_root
    if os.environ.get("JEWEL_RUN"):
        run_dir = Path(os.environ["JEWEL_RUN"]).expanduser()
        read_meta(run_dir)
        return run_dir
    data = Path(data).expanduser().resolve()
    run_dir = project_root() / "runs" / f"{profile}-{data.stem}"
    if not (run_dir / "model.pth").is_file() or read_meta(run_dir).get("data") != str(data):
        from .train import train
        train(data, run_dir, profile=profile, force=True)
    return run_dir


def evaluate(run_dir: str | Path, data: str | Path, out: str | Path | None = None, tta: bool = False,
             progress: bool = True) -> dict:
    """Evaluate a run on DATA; write metrics.json, predictions.csv, the plots and report.md into `out`.

    Returns the metrics. Raises JewelError when RUN_DIR or DATA cannot be used. Nothing is written into DATA.
    """
    run_dir, data = Path(run_dir).expanduser(), Path(data).expanduser()
    meta = read_meta(run_dir)
    if not data.exists():
        raise JewelError(f"data not found: {data} (give an ImageFolder DATA/<category>/*.jpg or a CSV of file,label)")
    out = Path(out).expanduser() if out else default_out(run_dir, data)
    if data.is_dir() and out.resolve().is_relative_to(data.resolve()):
        raise JewelError(f"{out} is inside DATA ({data}): choose an --out outside it; DATA is never written")
    items, source = evaluation_items(run_dir, data, meta)
    items, class_info = match_classes(items, meta["classes"])
    model, meta = load_model(run_dir, "cuda" if torch.cuda.is_available() else "cpu")
    cal = calibration(run_dir, model, meta, progress)
    res = run_logits(model, meta, items, progress=progress)
    for u in res.unreadable:
        print(f"skipped an unreadable file: {u['reason']}")
    if not len(res.y):
        raise JewelError(f"none of the {len(items)} images to evaluate in {data} could be read")
    metrics = {"run_dir": str(run_dir.resolve()), "data": str(data.resolve()), "evaluated_on": source,
               "out": str(out.resolve()), "temperature": cal["temperature"],
               **classification_metrics(res.logits, res.y, meta["classes"], cal["temperature"]),
               **class_info, "calibration": cal, "preprocessing": PREPROCESSING, "unreadable": res.unreadable,
               "note": "metrics cover classes_evaluated (DATA's classes the model knows); confusion matrix rows are "
                       "those classes, columns all model classes; predicting a class DATA lacks counts as an error"}
    if tta:
        t = run_logits(model, meta, items, tta=True, progress=progress)
        metrics["tta"] = {"views": TTA_VIEWS, **classification_metrics(t.logits, t.y, meta["classes"], cal["temperature"])}
    out.mkdir(parents=True, exist_ok=True)
    preds = prediction_table(res, meta["classes"])
    preds.to_csv(out / "predictions.csv", index=False)
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
    line = ", ".join(parts) + f" on {metrics['n']} images ({metrics['evaluated_on']})"
    if metrics["unreadable"]:
        line += f"; {len(metrics['unreadable'])} unreadable skipped"
    return line + f"; report: {Path(metrics['out']) / 'report.md'}"
