"""Issue 13: what one LP-FT fine-tuning step costs on a CPU, and which settings make it cheaper.

LP-FT trains the body's last stage and the head on cached maps of the frozen prefix (`recipes.lpft`). This times
a training step (forward, backward, Adam step) and an evaluation pass of that trained part on the same maps (random
maps of the prefix's output shape: speed does not depend on the values), side by side in one process, for: eager
NCHW (what the recipe ran before), `channels_last` (`recipes.lpft.TailModel` now), 1 thread instead of all, oneDNN
off, `torch.compile` (its compile time printed apart) and bfloat16 autocast (changes the numbers: for reference);
`a+b` combines two. Each variant's loss and gradients are compared with eager NCHW's from the same weights and
batch. Also printed: the step's FLOPs, so the rate can be set against a timed float32 matrix product in the same run.

    .venv/bin/python benchmarks/tail_speed.py                                       # Lite0 at 288 px, batch 32
    .venv/bin/python benchmarks/tail_speed.py --arch resnet18 --size 64 --steps 2 --variants eager channels_last
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from torch import nn

VARIANTS = ("eager", "channels_last", "one_thread", "channels_last+one_thread", "no_onednn", "compile",
            "bf16_autocast")


def tail_and_maps(arch: str, size: int, n: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The recipe's trained part (`TailModel`: last stage + linear head, BatchNorm frozen) and `n` random maps."""
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.recipes.lpft import TailModel, cut_last_stage
    torch.manual_seed(0)
    body, head = build_model(arch, 5, pretrained=False, head="linear").model
    cut = cut_last_stage(body)
    with torch.no_grad():
        shape = body[:cut].eval()(torch.zeros(1, 3, size, size)).shape[1:]
    return TailModel(body[cut:], head), torch.randn(n, *shape), torch.randint(0, 5, (n,))


def step_gflop(model: nn.Module, x: torch.Tensor) -> float:
    """FLOPs of one training step on batch `x`, in GFLOP: 3 x the forward's (forward, input and weight gradients;
    an upper bound: the first layer needs no input gradient). The forward's by FlopCounterMode; its count of a
    backward pass is not used, as it counts a depthwise convolution's gradient as a dense one's."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return 3 * counter.get_total_flops() / 1e9


@contextlib.contextmanager
def setting(variant: str):
    """The global torch setting a variant needs, restored afterwards."""
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    parts = variant.split("+")
    if "one_thread" in parts:
        torch.set_num_threads(1)
    if "no_onednn" in parts:
        torch.backends.mkldnn.enabled = False
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if "bf16_autocast" in parts else contextlib.nullcontext()
    try:
        with autocast:
            yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = onednn


def measure(variant: str, base: nn.Module, x: torch.Tensor, y: torch.Tensor, bs: int, steps: int,
            reference: dict | None) -> dict:
    """Seconds per training step and per evaluated image for one variant, and its difference to `reference`."""
    model = copy.deepcopy(base)  # a TailModel: channels_last (what the recipe runs now)
    xs = x
    run = model
    if "channels_last" not in variant.split("+"):  # the layers themselves, NCHW: what the recipe ran before
        model.contiguous()
        run = nn.Sequential(model.tail, model.head)
    compile_s = 0.0
    if "compile" in variant.split("+"):
        run = torch.compile(run)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, 1e-3)
    with setting(variant):
        model.train()
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(run(xs[:bs]), y[:bs])  # first step: compiles; the numbers compared
        loss.backward()
        compile_s = time.perf_counter() - start if "compile" in variant.split("+") else 0.0
        grads = [p.grad.detach().clone() for p in params]
        first = {"loss": float(loss), "grads": grads}
        opt.step()
        start = time.perf_counter()
        for i in range(steps):
            xb, yb = xs[i * bs % len(xs):][:bs], y[i * bs % len(xs):][:bs]
            opt.zero_grad()
            nn.functional.cross_entropy(run(xb), yb).backward()
            opt.step()
        step_s = (time.perf_counter() - start) / steps
        model.eval()
        with torch.no_grad():
            run(xs[:bs])
            start = time.perf_counter()
            for i in range(0, len(xs), bs):
                run(xs[i:i + bs])
            eval_img_s = len(xs) / (time.perf_counter() - start)
    row = {"variant": variant, "step_ms": 1e3 * step_s, "train_img_s": bs / step_s, "eval_img_s": eval_img_s,
           "compile_s": compile_s}
    if reference is not None:
        row["loss_diff"] = abs(first["loss"] - reference["loss"])
        row["grad_rel_diff"] = max(float((g - r).abs().max() / r.abs().max().clamp_min(1e-12))
                                   for g, r in zip(first["grads"], reference["grads"]))
    return row | {"_first": first}


def run(args: argparse.Namespace) -> pd.DataFrame:
    """Every variant in `args.variants`, side by side; eager first (the reference)."""
    from eager_throughput import matmul_gflops
    base, x, y = tail_and_maps(args.arch, args.size, args.n_maps)
    gflop = step_gflop(copy.deepcopy(base).train(), x[:args.bs])
    bound = matmul_gflops()
    print(f"{args.arch}, last stage + head on {tuple(x.shape[1:])} maps ({args.size} px), batch {args.bs}, "
          f"{torch.get_num_threads()} threads: {gflop:.1f} GFLOP per training step; float32 matmul "
          f"{bound:.0f} GFLOP/s", flush=True)
    rows, reference = [], None
    for variant in ("eager", *[v for v in args.variants if v != "eager"]):
        row = measure(variant, base, x, y, args.bs, args.steps, reference)
        reference = reference or row["_first"]
        row["gflop_s"] = gflop / (row["step_ms"] / 1e3)
        rows.append({k: v for k, v in row.items() if k != "_first"})
        print(pd.DataFrame(rows[-1:]).round(5).to_string(index=False, header=len(rows) == 1), flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--size", type=int, default=288)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8, help="timed training steps per variant")
    ap.add_argument("--n-maps", type=int, default=128, help="maps evaluated per variant")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), help="any of " + ", ".join(VARIANTS))
    warnings.filterwarnings("ignore")
    table = run(ap.parse_args())
    print("\n" + table.round(5).to_string(index=False))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # eager_throughput's matmul bound
    main()
