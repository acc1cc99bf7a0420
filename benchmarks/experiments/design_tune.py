"""Metric-trained last stage on drawn designs (issue 12, RESULTS.md): the frozen EfficientNet-Lite0's prefix maps of
`make_synth(views=4)` designs at 160 px, cached once; a copy of the last stage (blocks[6], conv_head, bn2; its
BatchNorms frozen, as `recipes.lpft.TailModel` holds them) trained with a supervised-contrastive loss on the design
id of other designs, GeM-pooled and L2-normalised, scored by Recall@1/5 and MAP@R on held-out designs.

Usage: design_tune.py TRAIN [EPOCHS]   TRAIN: designs per class, e.g. 200 = 1,000 training designs x 4 views (seed
1), or PER_CLASS@SEED,... to pool several drawings (400@1,150@2: each seed draws other designs; the evaluation's is 0)
"""
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1]),
                str(Path(__file__).resolve().parent)]

from beyond_labels import retrieval_scores  # noqa: E402
from design_projection import supcon_loss  # noqa: E402
from jewelhelpers.core.backbones import build_model  # noqa: E402
from jewelhelpers.core.drawing import CLASSES, make_synth  # noqa: E402
from jewelhelpers.core.forward import gem_pool, in_batches  # noqa: E402
from jewelhelpers.recipes.lpft import TailModel, cut_last_stage, stage_inputs  # noqa: E402

SIZE, DESIGNS_PER_STEP, LR = 160, 96, 3e-4


def maps_of(prefix: torch.nn.Module, meta: dict, folder: str, per_class: int, seed: int):
    """`per_class` designs per class in 4 views at meta["size"] px (drawn unless `folder` holds them); their prefix maps
    and design ids."""
    start = time.time()
    if not (Path(folder) / "designs.csv").exists():  # the same seed draws the same images: no need to redraw
        make_synth(folder, per_class=per_class, size=meta["size"], seed=seed, views=4, progress=False)
    table = pd.read_csv(Path(folder) / "designs.csv")
    items = pd.DataFrame({"path": [str(Path(folder) / p) for p in table.path], "label": table.label})
    maps, _ = stage_inputs(prefix, meta, items, progress=False)
    print(folder, len(table), f"{time.time() - start:.0f}s", flush=True)
    return maps, table.design.astype(str).values


class GeM(torch.nn.Module):
    """`core.forward.gem_pool` as the head of a `TailModel`: maps -> the similar-photos embedding (before L2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem_pool(x)


def scores(model: TailModel, maps: torch.Tensor, groups: np.ndarray) -> dict:
    """Recall@1/5 and MAP@R of the model's GeM embeddings of `maps` (design ids `groups`)."""
    model.eval()
    return retrieval_scores(in_batches(model, maps).numpy(), groups)


def frozen_lite0(size: int = SIZE) -> tuple[torch.nn.Sequential, int, torch.nn.Module, dict]:
    """Seeded torch on 2 threads; the ImageNet Lite0 body, where its last stage starts, its frozen prefix, the meta
    (images drawn and read at `size` px)."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
    backbone = build_model("efficientnet_lite0", 5, pretrained=True)
    meta = {"presize": size, "size": size, "mean": backbone.mean, "std": backbone.std, "classes": list(CLASSES)}
    body = backbone.model[0].eval()
    cut = cut_last_stage(body)
    return body, cut, body[:cut].requires_grad_(False), meta


def main() -> None:
    train = [(int(n), int(s or 1)) for n, _, s in (part.partition("@") for part in sys.argv[1].split(","))]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    body, cut, prefix, meta = frozen_lite0()
    x_eval, g_eval = maps_of(prefix, meta, "/tmp/retrieval3/eval", 40, 0)
    parts = [maps_of(prefix, meta, f"/tmp/retrieval3/train{n}-s{s}", n, s) for n, s in train]
    x_train = torch.cat([x for x, _ in parts])
    g_train = np.concatenate([[f"s{s}_{g}" for g in groups] for (_, s), (_, groups) in zip(train, parts)])
    model = TailModel(body[cut:], GeM())
    print("frozen", scores(model, x_eval, g_eval), flush=True)
    tune(model, x_train, g_train, x_eval, g_eval, epochs)


def tune(model: TailModel, x_train: torch.Tensor, g_train: np.ndarray, x_eval: torch.Tensor, g_eval: np.ndarray,
         epochs: int, views: int | None = None) -> None:
    """SupCon on the design ids `g_train`, DESIGNS_PER_STEP designs a step; the evaluation's scores after each epoch.

    `views`: each step takes that many of a design's views, drawn at random each time (all of them if None)."""
    y = torch.tensor(pd.factorize(g_train)[0])
    designs = y.unique()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], LR, weight_decay=1e-4)
    for epoch in range(epochs):
        start, losses = time.time(), []
        model.train()
        for chunk in designs[torch.randperm(len(designs))].split(DESIGNS_PER_STEP):
            rows = torch.isin(y, chunk).nonzero().flatten()
            if views:
                rows = rows[torch.randperm(len(rows))]
                rows = torch.cat([rows[y[rows] == d][:views] for d in chunk])
            loss = supcon_loss(F.normalize(model(x_train[rows]), dim=1), y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        print(f"epoch {epoch} loss {np.mean(losses):.3f} {time.time() - start:.0f}s",
              scores(model, x_eval, g_eval), flush=True)


if __name__ == "__main__":
    main()
