"""Issue 6: LP-FT of the last stage only (Kumar et al. 2022), initialised from the recipe's probe.

The input of Lite0's last stage (`blocks[6]`, 7x7x192 at 224 px) is computed once per image and cached, so
training `blocks[6]`, `conv_head`, `bn2` (BatchNorm kept frozen) and the linear head costs seconds an epoch
on CPU. Prints in-domain / myntra / western after each epoch, and for the mean of probe and fine-tuned
probabilities (an ensemble).

    nice -n 10 .venv/bin/python benchmarks/experiments/lpft.py --lr 1e-5 --epochs 4
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shift_check import ARCH, CLASSES, DATA, RECIPE, SIZE, load_sets  # noqa: E402

from jewelhelpers.core.backbones import _body, imagenet_model, norm_stats  # noqa: E402
from jewelhelpers.core.images import open_rgb, read_items  # noqa: E402
from jewelhelpers.core.forward import center_square  # noqa: E402
from jewelhelpers.core.probe import fit_probe  # noqa: E402
from jewelhelpers.core.drawing import make_synth  # noqa: E402

SPLIT = 8  # body[:8] is frozen and cached; body[8:] = blocks[6], conv_head, bn2 is trained


def stage_inputs(body: nn.Sequential, paths, cache: Path, name: str) -> torch.Tensor:
    """body[:SPLIT] outputs of the plain 224 px views, cached as float16 in `cache/name.pt`."""
    f = cache / f"{name}.pt"
    if f.is_file():
        return torch.load(f, weights_only=True).float()
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in norm_stats(ARCH))
    out = []
    with torch.inference_mode():
        for i in range(0, len(paths), 64):
            ims = [np.asarray(center_square(open_rgb(p), SIZE), dtype=np.float32) for p in paths[i:i + 64]]
            x = torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2) / 255.0
            out.append(body[:SPLIT]((x - mean) / std).half())
    maps = torch.cat(out)
    torch.save(maps, f)
    return maps.float()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/jewel-cache/lpft"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    args.cache.mkdir(parents=True, exist_ok=True)
    train, test, shops = load_sets(DATA)
    synth = read_items(make_synth(Path("/tmp/jewel-cache/feat") / f"synth-{RECIPE['synth_per_class']}-{SIZE}-0",
                                  per_class=RECIPE["synth_per_class"], size=SIZE, seed=0, progress=False))
    full, _ = imagenet_model(ARCH)
    body = _body(ARCH, full).eval()
    maps = {n: stage_inputs(body, list(df.path), args.cache, n) for n, df in
            {"train": train, "synth": synth, "test": test, **shops}.items()}
    labels = {n: torch.tensor([CLASSES.index(v) for v in df.label]) for n, df in
              {"train": train, "synth": synth, "test": test, **shops}.items()}
    tail = copy.deepcopy(body[SPLIT:])

    def pooled(m):
        with torch.inference_mode():
            return torch.cat([tail(m[i:i + 256]).mean((2, 3)) for i in range(0, len(m), 256)])

    xtr = torch.cat([maps["train"], maps["synth"]])
    ytr = torch.cat([labels["train"], labels["synth"]])
    probe = fit_probe(pooled(xtr).numpy(), [CLASSES[i] for i in ytr], CLASSES, balanced=True, C=RECIPE["C"])
    head = nn.Linear(1280, len(CLASSES))  # the probe, standardisation folded in
    w = probe.coef / probe.scale
    head.weight.data = torch.tensor(w, dtype=torch.float32)
    head.bias.data = torch.tensor(probe.intercept - w @ probe.mean, dtype=torch.float32)
    probe_head = copy.deepcopy(head)

    def evaluate(tag):
        r, e = [], []
        for n in ("test", *shops):
            f = pooled(maps[n])
            with torch.inference_mode():
                p_ft, p_lp = head(f).softmax(-1), probe_head(pooled_lp[n]).softmax(-1)
            r.append((p_ft.argmax(1) == labels[n]).float().mean().item())
            e.append(((p_ft + p_lp).argmax(1) == labels[n]).float().mean().item())
        print(f"{tag:22s} fine-tuned in {r[0]:.3f} myntra {r[1]:.3f} western {r[2]:.3f} | "
              f"ensemble with probe in {e[0]:.3f} myntra {e[1]:.3f} western {e[2]:.3f}", flush=True)

    pooled_lp = {n: pooled(maps[n]) for n in ("test", *shops)}
    evaluate("epoch 0 (probe)")
    counts = torch.bincount(ytr, minlength=len(CLASSES)).float()
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (len(CLASSES) * counts))
    params = [p for m in tail.modules() if not isinstance(m, nn.BatchNorm2d) for p in m.parameters(recurse=False)]
    opt = torch.optim.AdamW([*params, *head.parameters()], lr=args.lr, weight_decay=1e-4)
    for epoch in range(1, args.epochs + 1):
        tail.eval()  # BatchNorm statistics frozen; dropout-free
        for idx in torch.randperm(len(xtr)).split(32):
            loss = loss_fn(head(tail(xtr[idx]).mean((2, 3))), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        evaluate(f"epoch {epoch} lr {args.lr:g}")


if __name__ == "__main__":
    main()
