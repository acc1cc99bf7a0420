"""Pictures of a dataset: class balance and a labelled montage.

Taught in: 01_data_preparation.ipynb.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .data import open_rgb


def plot_class_balance(counts: pd.Series, title: str = "Images per class") -> plt.Axes:
    """A seaborn bar plot of images per class, each bar labelled with its count and share."""
    import seaborn as sns
    fig, ax = plt.subplots(figsize=(6, 3))
    sns.barplot(x=counts.index.astype(str), y=counts.values, hue=counts.index.astype(str), legend=False, ax=ax)
    total = counts.sum()
    for i, n in enumerate(counts.values):
        ax.annotate(f"{n} ({n / total:.0%})", (i, n), ha="center", va="bottom", fontsize=9)
    ax.set(title=title, xlabel="", ylabel="images", ylim=(0, counts.max() * 1.15))
    fig.tight_layout()
    return ax


def show_montage(items: pd.DataFrame, per_class: int = 4, size: int = 96, seed: int = 0) -> plt.Figure:
    """A grid of `per_class` random images of each class (rows), titled with their label."""
    labels = sorted(items["label"].unique())
    fig, axes = plt.subplots(len(labels), per_class, figsize=(per_class * 1.6, len(labels) * 1.6), squeeze=False)
    for row, label in zip(axes, labels):
        chosen = items[items["label"] == label].sample(n=min(per_class, (items["label"] == label).sum()),
                                                       random_state=seed)
        for ax, path in zip(row, list(chosen["path"]) + [None] * per_class):
            ax.axis("off")
            if path is not None:
                ax.imshow(open_rgb(path).resize((size, size)))
                ax.set_title(label, fontsize=8)
    fig.tight_layout()
    return fig
