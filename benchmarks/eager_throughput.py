"""Issue 13: eager PyTorch throughput of Lite0 and ResNet50 at batch 32 against this machine's FLOP bound.

The bound is a timed float32 matrix product (2048 x 2048, the best case for the CPU's vector units) in the same
run and with the same threads. For each backbone (untrained weights: speed does not depend on them) at `--size`:
the FLOPs of one image (torch's FlopCounterMode, a multiply-add counted as 2), images per second in eager PyTorch
(NCHW, then channels_last) and with onnxruntime, and the share of the bound each reaches. Decoding excluded.

    .venv/bin/python benchmarks/eager_throughput.py
    .venv/bin/python benchmarks/eager_throughput.py --archs resnet18 --size 64 --n-images 8   # seconds, for tests
"""
from __future__ import annotations

import argparse
import copy
import time
import warnings

import pandas as pd
import torch


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a float32 n x n matrix product: the machine's practical compute bound."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def image_gflop(model: torch.nn.Module, size: int) -> float:
    """FLOPs of one image through `model`, in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def images_per_s(run, x: torch.Tensor, batch: int, repeats: int) -> float:
    with torch.inference_mode():
        run(x[:batch])
        start = time.perf_counter()
        for _ in range(repeats):
            for i in range(0, len(x), batch):
                run(x[i:i + batch])
    return repeats * len(x) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["efficientnet_lite0", "resnet50"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n-images", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.core.onnx import onnx_engine
    torch.set_num_threads(args.threads)
    bound = matmul_gflops()
    print(f"fp32 matmul bound: {bound:.0f} GFLOP/s ({args.threads} threads)", flush=True)
    rows = []
    x = torch.randn(args.n_images, 3, args.size, args.size)
    for arch in args.archs:
        model = build_model(arch, 5, pretrained=False, head="linear").model.eval()
        gflop = image_gflop(model, args.size)
        engines = {"eager NCHW": model}
        last = copy.deepcopy(model).to(memory_format=torch.channels_last)
        engines["eager channels_last"] = lambda b, m=last: m(b.contiguous(memory_format=torch.channels_last))
        engines["onnxruntime"] = onnx_engine(model, args.size)
        for name, run in engines.items():
            speed = images_per_s(run, x, args.batch, args.repeats)
            rows.append({"arch": arch, "engine": name, "size": args.size, "batch": args.batch,
                         "gflop_per_image": round(gflop, 2), "images_per_s": round(speed, 1),
                         "gflop_per_s": round(speed * gflop, 1), "share_of_bound": round(speed * gflop / bound, 3)})
            print(f"  {arch} {name}: {speed:.1f} images/s = {speed * gflop:.0f} GFLOP/s "
                  f"({speed * gflop / bound:.0%} of the bound)", flush=True)
    table = pd.DataFrame(rows)
    print(f"\n{table.to_string(index=False)}\nbound: fp32 matmul {bound:.0f} GFLOP/s", flush=True)
    return table


if __name__ == "__main__":
    main()
