"""Unknown photos: a score of how unlike the training photos an image is, and the threshold that says `unknown`.

Three scores, higher = less like the training photos, measured side by side by `benchmarks/beyond_labels.py`:
- `msp`: 1 - the maximum softmax probability (Hendrycks & Gimpel 2017);
- `energy`: -logsumexp of the logits (Liu et al. 2020);
- `knn`: cosine distance to the k-th nearest training photo, on L2-normalised pooled body features
  (Sun et al. 2022), searched exactly with faiss (`IndexFlatIP`).
Runs use `knn` (`SHIPPED`: it reads the body, which the issue's max-softmax measurement shows the head alone
cannot; the side-by-side figures on the real photos are in benchmarks/RESULTS.md). The bank is the run's train split, embedded by the run's
own body (`unknown_bank.npy` in RUN_DIR, float32, no pickle); the threshold keeps `UNKNOWN_TPR` (95%) of the
run's valid split and is stored in meta.json under "unknown" when a run is trained or evaluated (runs made
before this get it on first use, said aloud).

Taught in: 05_beyond_labels.ipynb.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import JewelError
from .forward import RunLogits, batch_logits
from .images import list_images
from .manifest import manifest_split
from .metrics import match_classes
from .runs import load_model, update_meta
from .settings import UNKNOWN_METHODS, UNKNOWN_TPR

BANK = "unknown_bank.npy"
SHIPPED = "knn"
K = 5  # neighbours: the k-th one's distance is the score (benchmarks/beyond_labels.py measured k = 1..10)


def normalise(features: np.ndarray | torch.Tensor) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 and C-contiguous (what faiss wants)."""
    f = np.asarray(features, dtype=np.float32)
    return np.ascontiguousarray(f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12))


def nearest(features: np.ndarray, bank: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities and indices of each row of `features`' `k` nearest rows of `bank`, nearest first
    (exact search, faiss `IndexFlatIP`)."""
    import faiss
    k = min(k, len(bank))
    if not len(features):
        return np.zeros((0, k), dtype=np.float32), np.zeros((0, k), dtype=np.int64)
    bank = normalise(bank)
    index = faiss.IndexFlatIP(bank.shape[1])
    index.add(bank)
    return index.search(normalise(features), k)


def knn_distances(features: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """Cosine distances (1 - similarity) of each row of `features` to its `k` nearest rows of `bank`, nearest first."""
    return 1.0 - nearest(features, bank, k)[0]


def unknown_scores(method: str, logits: np.ndarray | torch.Tensor, features: np.ndarray | None = None,
                   bank: np.ndarray | None = None, k: int = K) -> np.ndarray:
    """The unknown score of each image (higher = less like the training photos) by `method` (UNKNOWN_METHODS)."""
    z = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    if method == "msp":
        return 1.0 - torch.softmax(z, dim=1).max(dim=1).values.numpy()
    if method == "energy":
        return -torch.logsumexp(z, dim=1).numpy()
    if method == "knn":
        if features is None or bank is None or not len(bank):
            raise JewelError("the knn unknown score needs the images' features and the run's training features")
        return knn_distances(features, bank, k)[:, -1]
    raise JewelError(f"unknown score method {method!r}: choose one of {', '.join(UNKNOWN_METHODS)}")


def fit_threshold(in_scores: np.ndarray, tpr: float = UNKNOWN_TPR) -> float:
    """The score below which a share `tpr` of in-distribution photos lie (they keep their label)."""
    if not len(in_scores):
        raise JewelError("no in-distribution scores to fit the unknown threshold on")
    return float(np.quantile(in_scores, tpr))


def separation(in_scores: np.ndarray, out_scores: np.ndarray, tpr: float = UNKNOWN_TPR) -> dict:
    """AUROC of telling unknown photos (positives) from known ones, and the FPR at `tpr` of the known kept."""
    from sklearn.metrics import roc_auc_score
    if not len(in_scores) or not len(out_scores):
        raise JewelError("separation needs both known and unknown photos")
    y = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    threshold = fit_threshold(in_scores, tpr)
    return {"auroc": float(roc_auc_score(y, np.r_[in_scores, out_scores])),
            f"fpr_at_{round(tpr * 100)}tpr": float(np.mean(out_scores <= threshold)),
            "n_known": int(len(in_scores)), "n_unknown": int(len(out_scores))}


# ---- a run's unknown threshold ------------------------------------------------------------------------

def split_outputs(run_dir: str | Path, model: nn.Module, meta: dict, split: str,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Logits and pooled features of the readable images of one split of the run's manifest."""
    items = match_classes(manifest_split(run_dir, meta, split), meta["classes"])[0]
    out = batch_logits(model, list(items["path"]), meta, progress=progress, features=True)
    return out.logits.numpy(), out.features.numpy()


def fit_unknown(run_dir: str | Path, model: nn.Module, meta: dict, progress: bool = True,
                train: RunLogits | None = None, valid: RunLogits | None = None) -> dict:
    """Embed the train split as the bank (`unknown_bank.npy`), fit the threshold on the valid split, store both.

    Returns the record kept in meta.json under "unknown"; `meta` (the caller's copy) gets it too. `train` and
    `valid` are the model's outputs with features on those splits when the caller has them (LP-FT's cached pass).
    """
    _, train_features = ((train.logits, train.features) if train is not None
                         else split_outputs(run_dir, model, meta, "train", progress))
    if not len(train_features):
        raise JewelError("no image of the run's train split could be read to build the unknown-photo bank")
    bank = normalise(train_features)
    np.save(Path(run_dir) / BANK, bank, allow_pickle=False)
    valid_logits, valid_features = ((valid.logits, valid.features) if valid is not None
                                    else split_outputs(run_dir, model, meta, "valid", progress))
    scores = unknown_scores(SHIPPED, valid_logits, valid_features, bank)
    record = {"method": SHIPPED, "k": min(K, len(bank)), "threshold": fit_threshold(scores), "tpr": UNKNOWN_TPR,
              "fitted_on": "the run's valid split", "n_valid": int(len(scores)), "bank": BANK, "n_bank": len(bank)}
    update_meta(run_dir, unknown=record)
    meta["unknown"] = record
    return record


def run_unknown(run_dir: str | Path, meta: dict, model: nn.Module | None = None,
                progress: bool = True) -> tuple[dict, np.ndarray]:
    """The run's unknown record and bank: reused when stored, else fitted now (with `model`, or the run's torch
    model) and stored, said aloud."""
    record = meta.get("unknown")
    if not record or not (Path(run_dir) / record["bank"]).is_file():
        print(f"{run_dir} has no unknown-photo threshold yet (trained before it existed): fitting it now on its "
              "valid split and storing it in meta.json", file=sys.stderr, flush=True)
        record = fit_unknown(run_dir, model if model is not None else load_model(run_dir, "cpu")[0], meta, progress)
    return record, np.load(Path(run_dir) / record["bank"], allow_pickle=False)


def unknown_report(run_dir: str | Path, model: nn.Module, meta: dict, res: RunLogits,
                   unknown_data: str | Path | None = None, progress: bool = True) -> tuple[dict, dict]:
    """What the run's unknown threshold does on evaluated photos `res` (scored with features): the share kept and
    the accuracy of the kept ones; with `unknown_data` (a folder or file of photos of no class) also AUROC and
    FPR at 95% TPR. Returns the report for metrics.json and the scores (`known`, `unknown`) for a plot."""
    record, bank = run_unknown(run_dir, meta, model, progress)
    known = unknown_scores(record["method"], res.logits, res.features, bank, record["k"])
    kept = known <= record["threshold"]
    right = res.logits.argmax(dim=1).numpy() == res.y
    report = {**record, "share_kept": float(kept.mean()), "accuracy_all": float(right.mean()),
              "accuracy_kept": float(right[kept].mean()) if kept.any() else None}
    scores = {"known": known}
    if unknown_data is not None:
        folder = Path(unknown_data).expanduser()
        if not folder.exists():
            raise JewelError(f"--unknown-data {folder} does not exist: give a folder of photos of no class")
        paths = list_images(folder) if folder.is_dir() else [folder]
        out = batch_logits(model, paths, meta, progress=progress, features=True)
        if not out.ok:
            raise JewelError(f"no readable image in --unknown-data {folder}: give a folder of photos of no class")
        scores["unknown"] = unknown_scores(record["method"], out.logits, out.features, bank, record["k"])
        report["unknown_data"] = {"data": str(folder.resolve()), **separation(known, scores["unknown"]),
                                  "share_marked_unknown": float(np.mean(scores["unknown"] > record["threshold"])),
                                  "unreadable": [{"path": str(paths[i]), "reason": r} for i, r in out.errors.items()]}
    return report, scores
