"""The drawn retrieval benchmark's ceiling (issue 12, RESULTS.md): how far can a trained embedding tell the
evaluation's own designs apart across views, when it has been trained on those very designs?

design_tune.py trains on *other* designs and plateaus near Recall@1 0.80. Here the same metric-trained last stage
(design_tune's `tune`: SupCon on the design id, frozen Lite0 prefix, GeM, L2) trains on VIEWS other views of the
evaluation's 200 designs (`make_synth(per_class=40, size=160, seed=0, views=4)` draws views 0-3 of design i of class
ci from `default_rng([0, ci, i, v + 1])`; this script draws views 4 .. 4 + VIEWS - 1 of the same designs), then is
scored on the evaluation's own 800 views, as design_tune scores it. An embedding that has seen every design cannot be
beaten by one that has not: what it misses, the drawing's views make indistinguishable (or too costly to learn).

Usage: design_ceiling.py [VIEWS] [EPOCHS] [PER_STEP] [SIZE]
(default 8 views, 100 epochs, all views each step: about 10 min alone on 2 cores; with PER_STEP, each step takes
that many of a design's VIEWS views at random: views "drawn afresh" from a large pool at the cost of PER_STEP;
SIZE: the evaluation and training views drawn and read at SIZE px instead of 160)
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1]),
                str(Path(__file__).resolve().parent)]

from beyond_labels import retrieval_scores  # noqa: E402
from design_tune import SIZE, GeM, frozen_lite0, maps_of, tune  # noqa: E402
from jewelhelpers.core.drawing import CLASSES, draw_item  # noqa: E402
from jewelhelpers.core.forward import in_batches  # noqa: E402
from jewelhelpers.recipes.lpft import TailModel  # noqa: E402

EVAL_PER_CLASS, FIRST_VIEW = 40, 4  # the evaluation's designs (seed 0); its views are 0-3


def other_views(folder: Path, views: int, size: int) -> None:
    """Views FIRST_VIEW .. FIRST_VIEW + views - 1 of the evaluation's designs, with a designs.csv as make_synth's."""
    if (folder / "designs.csv").exists():
        return
    rows = []
    for ci, label in enumerate(CLASSES):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(EVAL_PER_CLASS):
            for v in range(FIRST_VIEW, FIRST_VIEW + views):
                name = f"{label}/{label}_{i:04d}_v{v}.png"
                draw_item(label, np.random.default_rng([0, ci, i, v + 1]), size,
                          design=np.random.default_rng([0, ci, i])).save(folder / name)
                rows.append({"path": name, "label": label, "design": f"{label}_{i:04d}"})
    pd.DataFrame(rows).to_csv(folder / "designs.csv", index=False)


def per_class(model: TailModel, maps: torch.Tensor, groups: np.ndarray) -> pd.DataFrame:
    """Recall@1/5 and MAP@R of each class's queries, searched among all the evaluation's views."""
    model.eval()
    z = in_batches(model, maps).numpy()
    labels = pd.Series(groups).str.rsplit("_", n=1).str[0].to_numpy()
    return pd.DataFrame({c: retrieval_scores(z[labels == c], groups[labels == c], z, groups,
                                             np.flatnonzero(labels == c)) for c in CLASSES}).T


def main() -> None:
    views = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    per_step = int(sys.argv[3]) if len(sys.argv) > 3 else None
    size = int(sys.argv[4]) if len(sys.argv) > 4 else SIZE
    px = "" if size == SIZE else f"-{size}px"
    body, cut, prefix, meta = frozen_lite0(size)
    x_eval, g_eval = maps_of(prefix, meta, f"/tmp/retrieval3/eval{px}", EVAL_PER_CLASS, 0)
    folder = Path(f"/tmp/retrieval3/ceiling-views{views}{px}")
    other_views(folder, views, size)
    x_train, g_train = maps_of(prefix, meta, str(folder), EVAL_PER_CLASS, 0)
    model = TailModel(body[cut:], GeM())
    print("frozen, per class\n" + per_class(model, x_eval, g_eval).round(3).to_string(), flush=True)
    tune(model, x_train, g_train, x_eval, g_eval, epochs, per_step)
    print("trained on the evaluation's own designs, per class\n" + per_class(model, x_eval, g_eval).round(3).to_string())


if __name__ == "__main__":
    main()
