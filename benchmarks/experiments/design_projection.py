"""Trained projection on drawn designs: the shipped embedding (`core.index.embed`: the frozen EfficientNet-Lite0's
GeM features, L2-normalised) of `make_synth(views=4)` designs at 160 px, then a linear or 2-layer projection to 128
dimensions trained on the design id of other designs, scored by Recall@1/5 and MAP@R (issue 12, RESULTS.md).

Usage: design_projection.py TRAIN_PER_CLASS (e.g. 100 = 500 training designs x 4 views).
"""
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

from beyond_labels import retrieval_scores  # noqa: E402
from jewelhelpers.core.backbones import build_model  # noqa: E402
from jewelhelpers.core.drawing import make_synth  # noqa: E402
from jewelhelpers.core.index import embed  # noqa: E402

SIZE, DIMS, TEMPERATURE, STEPS = 160, 128, 0.1, 300


def designs(model: torch.nn.Module, meta: dict, folder: str, per_class: int, seed: int):
    """Draw `per_class` designs per class in 4 views; their embeddings (torch) and design ids."""
    start = time.time()
    make_synth(folder, per_class=per_class, size=SIZE, seed=seed, views=4, progress=False)
    table = pd.read_csv(Path(folder) / "designs.csv")
    vectors = torch.from_numpy(embed(model, meta, [Path(folder) / p for p in table.path], 64, progress=False).vectors)
    print(folder, len(table), f"{time.time() - start:.0f}s", flush=True)
    return vectors, table.design.astype(str).values


def supcon_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Full-batch supervised-contrastive loss (Khosla et al. 2020) of unit vectors `z` with labels `y`."""
    eye = torch.eye(len(z), dtype=torch.bool)
    sims = (z @ z.T / TEMPERATURE).masked_fill(eye, -1e9)
    positive = (y[:, None] == y[None]) & ~eye
    return -(F.log_softmax(sims, 1) * positive).sum(1).div(positive.sum(1)).mean()


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    backbone = build_model("efficientnet_lite0", 5, pretrained=True)
    meta = {"presize": SIZE, "size": SIZE, "mean": backbone.mean, "std": backbone.std, "classes": list(range(5))}
    model = backbone.model.eval()
    x_eval, g_eval = designs(model, meta, "/tmp/retrieval2/eval", 40, 0)
    x_train, g_train = designs(model, meta, "/tmp/retrieval2/train", int(sys.argv[1]), 1)
    print("frozen GeM raw", retrieval_scores(x_eval.numpy(), g_eval))
    y_train = torch.tensor(pd.factorize(g_train)[0])
    for hidden in (0, 512):
        torch.manual_seed(0)
        d = x_train.shape[1]
        proj = (torch.nn.Linear(d, DIMS) if hidden == 0 else
                torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, DIMS)))
        opt = torch.optim.AdamW(proj.parameters(), 1e-3, weight_decay=1e-4)
        for _ in range(STEPS):
            loss = supcon_loss(F.normalize(proj(x_train), dim=1), y_train)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            z_eval = F.normalize(proj(x_eval), dim=1).numpy()
        print(f"proj hidden={hidden} loss={loss.item():.3f}", retrieval_scores(z_eval, g_eval), flush=True)


if __name__ == "__main__":
    main()
