"""Issue 6, third round: levers on top of the LP-FT recipe, each a soup of 3 from the same probe, repeated.

Same data as `lpft_soup.py` (the `shift_check.py` split's training part minus its shift-aware validation rows,
plus 80 drawn images per class; Lite0 maps of the frozen layers cached at `--size`). The reference draws its
images with nobody wearing them (`synth.P_WORN = 0`); every lever changes one thing:

- `worn`: the drawn images as the product draws them now, a share `synth.P_WORN` worn on a body part;
- `mixup` / `cutmix`: fastai's MixUp(0.4) / CutMix(1.0) on the cached maps;
- `smooth`: label smoothing 0.1 (with the class weights);
- `tta`: the reference's soup (no extra training) scored on the mean probabilities of the maps at `--size` and `--tta-sizes`.

Python's `random` is seeded too (fastai's DataLoader shuffles with it), so repeat r of every lever sees the same
shuffles. Choose on the shift-aware column; the shops are reported, never selected on.

    nice -n 10 .venv/bin/python benchmarks/experiments/lpft_levers.py --levers reference worn --repeats 2
    nice -n 10 .venv/bin/python benchmarks/experiments/lpft_levers.py --levers reference mixup cutmix smooth tta
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import pandas as pd
import torch
from fastai.torch_core import set_seed
from fastai.vision.all import CutMix, LabelSmoothingCrossEntropyFlat, MixUp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lpft_soup import BS, KeepLast, cached_maps, probabilities  # noqa: E402
from shift_check import CLASSES, DATA, load_sets, shift_val_mask  # noqa: E402

from jewelhelpers.core import drawing as synth  # noqa: E402
from jewelhelpers.recipes import lpft  # noqa: E402
from jewelhelpers.core.backbones import build_model  # noqa: E402
from jewelhelpers.recipes.lpft import average_states, tune_last_stage  # noqa: E402

LEVERS = ("reference", "worn", "mixup", "cutmix", "smooth", "tta")
SCORED = ("shift-val", "test", "myntra_fashion", "western_lifestyle")


def with_lever(lever: str):
    """Patch the recipe's loss or fit for `lever`; returns a function that undoes it."""
    fit_phase, loss = lpft.fit_phase, lpft.CrossEntropyLossFlat
    extra = {"mixup": lambda: MixUp(0.4), "cutmix": lambda: CutMix(1.0)}.get(lever)
    if extra:
        def fit_with(learn, *args, **kwargs):
            learn.cbs = learn.cbs.filter(lambda cb: not isinstance(cb, (MixUp, CutMix)))
            learn.add_cb(extra())
            return fit_phase(learn, *args, **kwargs)
        lpft.fit_phase = fit_with
    if lever == "smooth":
        lpft.CrossEntropyLossFlat = lambda weight: LabelSmoothingCrossEntropyFlat(weight=weight, eps=0.1)

    def undo() -> None:
        lpft.fit_phase, lpft.CrossEntropyLossFlat = fit_phase, loss
    return undo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levers", nargs="+", choices=LEVERS, default=list(LEVERS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--size", type=int, default=288)
    ap.add_argument("--tta-sizes", type=int, nargs="+", default=[224])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jewel-cache/levers"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    train_rows, test, shops = load_sets(DATA)
    mask = shift_val_mask(train_rows)
    sets = {"fit-real": train_rows[~mask], "shift-val": train_rows[mask], "test": test, **shops}
    base = build_model("efficientnet_lite0", len(CLASSES), True, head="linear")
    prefix = base.model[0][:lpft.cut_last_stage(base.model[0])].eval()

    def maps_at(size: int, names: list[str], drawn_p: tuple[float, ...] = ()) -> dict:
        cache = args.cache / f"{size}px"
        cache.mkdir(parents=True, exist_ok=True)
        meta = {"classes": CLASSES, "size": size, "presize": size * 8 // 7, "mean": base.mean, "std": base.std}
        out = {n: cached_maps(cache / f"{n}.pt", prefix, meta, sets[n]) for n in names}
        for p in drawn_p:
            synth.P_WORN = p
            items = synth.synth_items(args.cache / f"drawn-worn{p:g}", CLASSES, 80, 256, seed=1)
            out[f"drawn {p:g}"] = cached_maps(cache / f"drawn-worn{p:g}.pt", prefix, meta, items)
        return out

    worn_share = synth.P_WORN
    maps = maps_at(args.size, list(sets), (0.0, worn_share))
    fits = {p: tuple(torch.cat([maps["fit-real"][i], maps[f"drawn {p:g}"][i]]) for i in range(2))
            for p in (0.0, worn_share)}
    tta = {s: maps_at(s, list(SCORED)) for s in args.tta_sizes} if "tta" in args.levers else {}
    trained = [lv for lv in args.levers if lv != "tta"]
    if tta and "reference" not in trained:
        trained.insert(0, "reference")
    rows = []
    for r in range(args.repeats):
        for lever in trained:
            undo = with_lever(lever)
            states = []
            for s in range(3):
                set_seed(100 * r + s)
                model = copy.deepcopy(base)
                tune_last_stage(model, CLASSES, fits[worn_share if lever == "worn" else 0.0], maps["shift-val"], 4, BS,
                                1e-3, keep=KeepLast(), progress=False, log=lambda _: None)
                states.append(model.model.state_dict())
            undo()
            soup = copy.deepcopy(base)
            soup.model.load_state_dict(average_states(states))
            probs = {name: probabilities(soup, maps[name][0]) for name in SCORED}
            scored = [(lever, probs)]
            if lever == "reference" and tta:  # the same soup, its probabilities averaged over sizes
                scored.append(("tta", {name: (probs[name] + sum(probabilities(soup, tta[s][name][0]) for s in tta))
                                       / (1 + len(tta)) for name in SCORED}))
            for name, p in scored:
                rows.append({"lever": name, "repeat": r,
                             **{n: float((p[n].argmax(1) == maps[n][1]).float().mean()) for n in SCORED}})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nmean and std over repeats:\n" + table.drop(columns="repeat").groupby("lever", sort=False)
          .agg(["mean", "std"]).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
