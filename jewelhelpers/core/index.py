"""Similar products: photos embedded by a run's body, kept in an INDEX_DIR, searched exactly with faiss.

An embedding is the body's last feature map GeM-pooled (`core.forward.gem_pool`, p = 3, in the same pass as the
prediction), L2-normalised, so the inner product of two is their cosine similarity (1 = the same picture). GeM
found a drawn design's other views more often than the mean the head reads (Recall@1 0.331 vs 0.286 with a run
trained on drawn photos, 0.308 vs 0.278 with the real-photo run; PCA-whitening, foreground-only pooling and
earlier stages' features gained no more: benchmarks/RESULTS.md, issue 12). INDEX_DIR holds, without pickle:
`vectors.npy` (float32, one row per photo), `items.csv` (path, label = the run's best class for the photo, size
and mtime of the file when embedded), `index.json` (the run, its arch and size, the dimension, how many) and
`errors.csv` (the files the last run could not read, with why). Adding photos again embeds only the new files.
Search is `faiss.IndexFlatIP`: exact, brute force, about 0.3 ms per 10,000 vectors per query on 2 cores
(benchmarks/beyond_labels.py); fine to about a million photos. Beyond that, an approximate index answers in
well under a millisecond at a little recall: `IndexHNSWFlat` (a graph; no training, more memory) or
`IndexIVFFlat` (clusters; trained on a sample, searches `nprobe` of them).

Taught in: 05_beyond_labels.ipynb.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from .errors import JewelError
from .forward import ImageInput, batch_logits
from .images import check_outside_inputs, collect_files
from .runs import read_json, write_json
from .unknown import normalise

VECTORS, ITEMS, INFO, ERRORS = "vectors.npy", "items.csv", "index.json", "errors.csv"
POOL = "gem"  # the embedding's pooling (a name in core.forward.POOLS), recorded in index.json
SIMILAR_COLUMNS = ["query", "rank", "path", "score", "label", "error"]


@dataclass
class Embedded:
    """Unit-length embeddings of the readable inputs, the model's best class for each, and the unreadable ones."""

    vectors: np.ndarray  # n_ok x d, float32, L2-normalised
    labels: list[str]
    ok: list[int]  # index into the inputs of each row
    errors: dict[int, str]


def embed(model: nn.Module, meta: dict, images: Sequence[ImageInput], batch_size: int = 32,
          progress: bool = True) -> Embedded:
    """The run's GeM-pooled, L2-normalised features of `images` (one forward pass), with its best class for each."""
    out = batch_logits(model, list(images), meta, batch_size, progress=progress, features=True, pool=POOL)
    labels = [meta["classes"][i] for i in out.logits.argmax(dim=1).tolist()]
    return Embedded(normalise(out.features) if out.ok else np.zeros((0, 0), np.float32), labels, out.ok, out.errors)


@dataclass
class PhotoIndex:
    """An INDEX_DIR in memory: the vectors, their items (path, label, size, mtime) and what made them."""

    vectors: np.ndarray
    items: pd.DataFrame
    info: dict

    @classmethod
    def load(cls, folder: str | Path) -> PhotoIndex:
        folder = Path(folder)
        if not (folder / INFO).is_file():
            raise JewelError(f"{folder} is not a photo index (no {INFO}); make one with: jewel index RUN_DIR PATH... "
                             "--out INDEX_DIR")
        info = read_json(folder / INFO)
        vectors = np.load(folder / VECTORS, allow_pickle=False)
        items = pd.read_csv(folder / ITEMS, keep_default_na=False)
        if len(vectors) != len(items):
            raise JewelError(f"{folder} is damaged ({len(vectors)} vectors, {len(items)} items): build it again")
        if info.get("pool", "mean") != POOL:
            raise JewelError(f"{folder} holds {info.get('pool', 'mean')}-pooled vectors from an older version; "
                             f"build it again with a new --out (vectors are now {POOL}-pooled)")
        return cls(vectors, items, info)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarities and row numbers of the `k` nearest indexed photos of each query row, nearest first."""
        import faiss
        index = faiss.IndexFlatIP(self.vectors.shape[1])
        index.add(np.ascontiguousarray(self.vectors, dtype=np.float32))
        return index.search(normalise(queries), min(k, len(self.vectors)))


def build_index(model: nn.Module, meta: dict, run_dir: str | Path, paths: Sequence[str | Path],
                out: str | Path, batch_size: int = 32, progress: bool = True) -> tuple[PhotoIndex, pd.DataFrame]:
    """Embed the photos under `paths` into INDEX_DIR `out`, or add the new ones to it: returns the index and a
    row per file given (path, status = added | already indexed | error, error).

    A file already in the index (same resolved path, size and mtime) is not embedded again; a changed one is
    embedded again. `out` may not lie inside a folder of photos given, nor be a photo given.
    """
    out = Path(out).expanduser()
    files = collect_files(paths)
    check_outside_inputs(out, paths)
    if out.is_dir() and not (out / INFO).is_file() and any(out.iterdir()):
        raise JewelError(f"{out} holds other files and no photo index: choose a new or empty --out")
    keys = [_file_key(f) for f in files]
    old = PhotoIndex.load(out) if (out / INFO).is_file() else None
    if old is not None and Path(old.info["run_dir"]).resolve() != Path(run_dir).resolve():
        raise JewelError(f"{out} was built with the run {old.info['run_dir']}: its vectors do not compare with "
                         f"{run_dir}'s; choose a new --out")
    if old is not None and old.info.get("run_created") != meta.get("created"):
        raise JewelError(f"{out} was built with an earlier training of {run_dir} (trained {old.info.get('run_created')}"
                         f", now {meta.get('created')}): its vectors are stale; choose a new --out")
    known = {} if old is None else dict(zip(zip(old.items["path"], old.items["size"], old.items["mtime"]),
                                            range(len(old.items))))
    todo = [i for i, key in enumerate(keys) if key not in known]
    emb = embed(model, meta, [files[i] for i in todo], batch_size, progress)
    added = pd.DataFrame([keys[todo[j]] for j in emb.ok], columns=["path", "size", "mtime"]).assign(label=emb.labels)
    if old is not None:  # a changed file replaces its older row
        stale = old.items["path"].isin(added["path"]).to_numpy()
        vectors = np.concatenate([old.vectors[~stale], emb.vectors]) if len(emb.ok) else old.vectors[~stale]
        items = pd.concat([old.items[~stale], added], ignore_index=True)
    else:
        vectors, items = emb.vectors, added
    if not len(items):
        raise JewelError(f"none of the {len(files)} files could be read: nothing to index")
    errors = {todo[j]: reason for j, reason in emb.errors.items()}
    status = pd.DataFrame({"path": [str(f) for f in files],
                           "status": ["error" if i in errors else "added" if keys[i] not in known
                                      else "already indexed" for i in range(len(files))],
                           "error": [errors.get(i, "") for i in range(len(files))]})
    info = {"run_dir": str(Path(run_dir).resolve()), "run_created": meta.get("created"), "arch": meta["arch"],
            "size": meta["size"],
            "body": "the run's fine-tuned body, GeM-pooled (p = 3), L2-normalised", "pool": POOL,
            "dim": int(vectors.shape[1]),
            "n": int(len(items)), "metric": "inner product of unit vectors (cosine similarity)",
            "search": "faiss.IndexFlatIP (exact)", "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / VECTORS, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    items[["path", "label", "size", "mtime"]].to_csv(out / ITEMS, index=False)
    status[status["status"] == "error"][["path", "error"]].to_csv(out / ERRORS, index=False)
    write_json(out / INFO, info)
    return PhotoIndex(vectors, items, info), status


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), int(st.st_size), int(st.st_mtime_ns)


def similar_table(index: PhotoIndex, model: nn.Module, meta: dict, photos: Sequence[str | Path], top_k: int = 5,
                  progress: bool = False) -> pd.DataFrame:
    """`top_k` rows per query photo: query, rank (1 = nearest), path, score (cosine similarity), label, error.

    An unreadable query gets one row with its `error`.
    """
    if top_k < 1:
        raise JewelError("--top-k must be at least 1")
    files = collect_files(photos)
    emb = embed(model, meta, files, progress=progress)
    if emb.ok and emb.vectors.shape[1] != index.vectors.shape[1]:
        raise JewelError(f"the index holds {index.vectors.shape[1]}-d vectors and this run makes "
                         f"{emb.vectors.shape[1]}-d ones: query it with the run it was built with "
                         f"({index.info['run_dir']})")
    sims, rows = index.search(emb.vectors, top_k) if emb.ok else (np.zeros((0, 0)), np.zeros((0, 0), int))
    answer = dict(zip(emb.ok, zip(sims, rows)))
    table = []
    for i, f in enumerate(files):
        if i in emb.errors:
            table.append({"query": str(f), "rank": None, "path": None, "score": None, "label": None,
                          "error": emb.errors[i]})
            continue
        for rank, (s, r) in enumerate(zip(*answer[i]), 1):
            table.append({"query": str(f), "rank": rank, "path": index.items["path"].iloc[r], "score": float(s),
                          "label": index.items["label"].iloc[r], "error": None})
    return pd.DataFrame(table, columns=SIMILAR_COLUMNS).astype({"rank": "Int64"})
