"""Figures, drawn one way: a constrained-layout matplotlib Figure that pyplot does not keep (a notebook shows it
once, as the cell's value; a job saves it). Datasets, training curves, metrics, thresholds.

Taught in: 01_data_preparation.ipynb (balance, montage), 02 (curves), 03 (metrics), 04 (coverage).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .images import open_rgb
from .metrics import N_BINS


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A constrained-layout figure that pyplot does not keep: a notebook shows it once, as the cell's value."""
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=figsize, layout="constrained")
    plt.close(fig)
    return fig


def image_grid(n: int, ncols: int, cell: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure of `n` image cells in rows of `ncols` (each `cell` inches), axes flat and their frames off."""
    nrows = max(1, -(-n // ncols))
    fig = new_figure((cell[0] * ncols, cell[1] * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    return fig, axes


def figure_png(fig: Figure) -> bytes:
    """A matplotlib Figure as PNG bytes (no pyplot, nothing left open)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def plot_class_balance(counts: pd.Series, title: str = "Images per class") -> Figure:
    """A seaborn bar plot of images per class, each bar labelled with its count and share."""
    import seaborn as sns
    fig = new_figure((6, 3))
    ax = fig.subplots()
    sns.barplot(x=counts.index.astype(str), y=counts.values, hue=counts.index.astype(str), legend=False, ax=ax)
    total = counts.sum()
    for i, n in enumerate(counts.values):
        ax.annotate(f"{n} ({n / total:.0%})", (i, n), ha="center", va="bottom", fontsize=9)
    ax.set(title=title, xlabel="", ylabel="images", ylim=(0, counts.max() * 1.15))
    return fig


def show_montage(items: pd.DataFrame, per_class: int = 4, size: int = 96, seed: int = 0) -> Figure:
    """A grid of `per_class` random images of each class (rows), titled with their label."""
    labels = sorted(items["label"].unique())
    fig = new_figure((per_class * 1.6, len(labels) * 1.6))
    axes = fig.subplots(len(labels), per_class, squeeze=False)
    for row, label in zip(axes, labels):
        chosen = items[items["label"] == label].sample(n=min(per_class, (items["label"] == label).sum()),
                                                       random_state=seed)
        for ax, path in zip(row, list(chosen["path"]) + [None] * per_class):
            ax.axis("off")
            if path is not None:
                ax.imshow(open_rgb(path).resize((size, size)))
                ax.set_title(label, fontsize=8)
    return fig


def plot_history(history: pd.DataFrame, path: str | Path | None = None):
    """Loss curves (train, valid) and metric curves (accuracy, macro F1) over all epochs, phases marked."""
    fig = new_figure((10, 3.5))
    ax_loss, ax_metric = fig.subplots(1, 2)
    x = np.arange(1, len(history) + 1)
    for column, ax in (("train_loss", ax_loss), ("valid_loss", ax_loss), ("accuracy", ax_metric),
                       ("f1_score", ax_metric)):
        ax.plot(x, history[column], marker="o", label=column.replace("f1_score", "macro F1"))
    for ax, title in ((ax_loss, "loss"), (ax_metric, "valid metrics")):
        n_head = int((history["phase"] == "head").sum())
        ax.axvline(n_head + 0.5, color="grey", linestyle=":", label="unfreeze")
        ax.set(title=title, xlabel="epoch")
        ax.legend()
    if path:
        fig.savefig(path, dpi=90)
    return fig


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


def plot_coverage(curve: pd.DataFrame, chosen: float | None = None) -> Figure:
    """Coverage and error against the confidence threshold, with the chosen threshold marked."""
    fig = new_figure((6, 3.5))
    ax = fig.subplots()
    ax.plot(curve["threshold"], curve["coverage"], label="coverage (answered)")
    ax.plot(curve["threshold"], curve["error"], label="error among answered")
    if chosen is not None:
        ax.axvline(chosen, color="grey", linestyle="--", label=f"threshold {chosen:.2f}")
    ax.set(xlabel="confidence threshold", ylabel="share of images", ylim=(0, 1.02))
    ax.legend()
    return fig


def plot_robustness(report: dict) -> Figure:
    """Accuracy per corruption against severity (0 = clean), and the background swap, from `robustness_report`."""
    fig = new_figure((8, 3.6))
    ax, bx = fig.subplots(1, 2, width_ratios=[3, 1])
    xs = [0, *report["severities"]]
    for name, accs in report["corruptions"].items():
        ax.plot(xs, [report["clean"], *accs], marker="o", label=name)
    ax.set(xlabel="severity (0 = clean)", ylabel="accuracy", ylim=(0, 1.02), xticks=xs,
           title=f"Corruptions ({report['n']} images)")
    ax.legend(fontsize=8, ncols=2)
    swap = report["background_swap"]
    if swap["n"]:
        bx.bar(["on white", "swapped"], [swap["original"], swap["swapped"]], color=["#999999", "#4c72b0"])
    bx.set(ylim=(0, 1.02), title=f"Background swap\n({swap['n']} on white)")
    return fig


def plot_holdout_sources(table: pd.DataFrame) -> Figure:
    """Leave-one-source-out accuracy per held-out source (fine-tuned and frozen probe), the mean marked."""
    fig = new_figure((max(4.5, 1.1 * len(table) + 2), 3.4))
    ax = fig.subplots()
    xs = np.arange(len(table))
    ax.bar(xs - 0.2, table["accuracy"], 0.4, label="fine-tuned", color="#4c72b0")
    ax.bar(xs + 0.2, table["probe_accuracy"], 0.4, label="frozen probe", color="#999999")
    ax.axhline(table["accuracy"].mean(), color="#4c72b0", ls="--", lw=1,
               label=f"mean {table['accuracy'].mean():.3f}")
    ax.set_xticks(xs, [f"{s}\n(n={n})" for s, n in zip(table["source"], table["n"])], fontsize=8)
    ax.set(ylim=(0, 1.02), ylabel="accuracy on the held-out source",
           title="Leave one source out: trained on the others")
    ax.legend(fontsize=8)
    return fig


def plot_unknown_scores(scores: dict[str, np.ndarray], threshold: float | None = None,
                        title: str = "Unknown scores") -> Figure:
    """Overlaid histograms of unknown scores per set of photos (e.g. jewelry vs not), the threshold marked.

    Taught in: 05_beyond_labels.ipynb.
    """
    import seaborn as sns
    fig = new_figure((6, 3.2))
    ax = fig.subplots()
    frame = pd.DataFrame([(name, float(v)) for name, values in scores.items() for v in values],
                         columns=["photos", "unknown score"])
    sns.histplot(frame, x="unknown score", hue="photos", stat="density", common_norm=False, element="step", ax=ax)
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--")
        ax.annotate(" unknown above", (threshold, ax.get_ylim()[1] * 0.9), fontsize=9)
    ax.set(title=title)
    return fig


def plot_similar(table: pd.DataFrame, size: int = 96, max_queries: int = 8) -> Figure:
    """"More like this": each query photo (left, framed) and its nearest indexed photos with label and score.

    `table` has `jewel similar`'s columns (query, rank, path, score, label); unreadable queries are left out.
    Taught in: 05_beyond_labels.ipynb.
    """
    found = table.dropna(subset=["path"])
    queries = list(dict.fromkeys(found["query"]))[:max_queries]
    k = int(found["rank"].max()) if len(found) else 1
    fig = new_figure(((k + 1) * 1.6, max(1, len(queries)) * 1.8))
    axes = fig.subplots(max(1, len(queries)), k + 1, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for row, query in zip(axes, queries):
        row[0].imshow(open_rgb(query).resize((size, size)))
        row[0].set_title("query", fontsize=8, fontweight="bold")
        for ax, (_, hit) in zip(row[1:], found[found["query"] == query].sort_values("rank").iterrows()):
            ax.imshow(open_rgb(hit["path"]).resize((size, size)))
            ax.set_title(f"{hit['label']} {hit['score']:.2f}", fontsize=8)
    return fig
