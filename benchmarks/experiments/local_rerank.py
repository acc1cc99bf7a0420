"""Issue 12: does matching local descriptors re-rank the drawn designs better than one pooled vector?

Instance retrieval often re-ranks a global search's top candidates by how well the two photos' *local* features
match (each position of a feature map a descriptor; Chamfer similarity: each descriptor's best match in the other
photo, averaged both ways). A drawn design's views differ in pose, scale, backdrop and light, which a pooled vector
blurs together with the design's own stones and shapes; local matching might keep them apart. Frozen ImageNet
Lite0 (its body at SIZE px, the evaluation of design_ceiling.py: 200 designs x 4 views): GeM's top 50 of each
query re-ranked by GeM similarity + Chamfer similarity of the strongest KEEP share of positions (descriptors
PCA-whitened to at most 256 dimensions, fitted on the evaluation's own descriptors, so an optimistic figure), on
the last feature map (1280 channels) and on the map where the last stage starts (192 channels).

    .venv/bin/python benchmarks/experiments/local_rerank.py [SIZE]   # 224 by default; about 3 min alone
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from beyond_labels import retrieval_scores  # noqa: E402
from design_ceiling import EVAL_PER_CLASS  # noqa: E402
from design_tune import frozen_lite0, maps_of  # noqa: E402

from jewelhelpers.core.forward import gem_pool, in_batches  # noqa: E402
from jewelhelpers.core.unknown import normalise  # noqa: E402

TOP, DIM = 50, 256


def descriptors(maps: torch.Tensor, keep: float) -> np.ndarray:
    """(n, positions kept, min(DIM, channels)): each map's strongest `keep` share of positions, PCA-whitened and
    L2-normalised."""
    n, c, h, w = maps.shape
    d = maps.permute(0, 2, 3, 1).reshape(n, h * w, c).numpy()
    flat = d.reshape(-1, c)
    mu = flat.mean(0)
    sample = flat[np.random.default_rng(0).choice(len(flat), min(20000, len(flat)), replace=False)] - mu
    _, s, vt = np.linalg.svd(sample, full_matrices=False)
    strongest = np.argsort(-np.linalg.norm(d, axis=-1), axis=1)[:, :max(1, int(keep * h * w))]
    projected = (d - mu) @ vt[:DIM].T / s[:DIM]
    whitened = normalise(projected.reshape(n * h * w, -1)).reshape(projected.shape)
    return np.take_along_axis(whitened, strongest[..., None], 1)


def reranked_recall1(glob: np.ndarray, local: np.ndarray, groups: np.ndarray) -> float:
    """Recall@1 after re-ranking each query's global top TOP by global + Chamfer similarity."""
    sims = glob @ glob.T
    np.fill_diagonal(sims, -np.inf)
    hits = []
    for q, cand in enumerate(np.argsort(-sims, axis=1)[:, :TOP]):
        s = np.einsum("kd,njd->nkj", local[q], local[cand])
        chamfer = 0.5 * (s.max(2).mean(1) + s.max(1).mean(1))
        hits.append(groups[cand[np.argmax(sims[q, cand] + chamfer)]] == groups[q])
    return float(np.mean(hits))


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 224
    body, cut, prefix, meta = frozen_lite0(size)
    mid, groups = maps_of(prefix, meta, f"/tmp/retrieval3/eval-{size}px", EVAL_PER_CLASS, 0)
    with torch.inference_mode():
        final = in_batches(body[cut:].eval(), mid)
    glob = normalise(gem_pool(final))
    rows = [{"embedding": "GeM (shipped)", "recall@1": retrieval_scores(glob, groups)["recall@1"]}]
    for name, maps in (("last map", final), ("map before the last stage", mid)):
        for keep in (0.25, 0.5, 1.0):
            rows.append({"embedding": f"GeM top {TOP} re-ranked by {name}, strongest {keep:g}",
                         "recall@1": reranked_recall1(glob, descriptors(maps, keep), groups)})
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
