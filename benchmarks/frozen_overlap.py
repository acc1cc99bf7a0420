"""Issue 13: LP-FT's frozen pass with drawing and decoding overlapped, beside the same work done one step at a time.

On a subset of the real photos (read in place) and `--drawn` drawn images per class at the quick profile's presize,
through EfficientNet-Lite0's frozen prefix on onnxruntime (`recipes.lpft.FrozenPass`), in one process:

- serial: draw every image first, then decode a batch, run it, decode the next (the code before this change);
- overlapped: draw in a thread while the photos go through (`fit_lpft_recipe`), each next batch decoded in a thread
  while the engine runs this one (`core.forward.batch_logits`).

Printed: the seconds of each and whether both give the same maps (the drawing is seeded per image).

    .venv/bin/python benchmarks/frozen_overlap.py                                  # 320 photos + 80 drawn
    .venv/bin/python benchmarks/frozen_overlap.py --photos 8 --drawn 2 --size 64 --data DIR   # seconds, for tests
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "jewelry_photos"


def serial_maps(prefix, meta: dict, paths: list[str], batch_size: int = 32) -> torch.Tensor:
    """The frozen maps of `paths` with no read-ahead: decode a batch, run it, then the next."""
    from jewelhelpers.core.forward import preprocess
    with torch.no_grad():
        return torch.cat([prefix(torch.stack([preprocess(p, meta) for p in paths[i:i + batch_size]]))
                          for i in range(0, len(paths), batch_size)])


def main() -> None:
    from jewelhelpers.core.backbones import build_model
    from jewelhelpers.core.drawing import synth_items
    from jewelhelpers.core.images import read_items
    from jewelhelpers.recipes.lpft import FrozenPass
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--photos", type=int, default=320)
    ap.add_argument("--drawn", type=int, default=16, help="drawn images per class")
    ap.add_argument("--size", type=int, default=288)
    ap.add_argument("--presize", type=int, default=320)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    items = read_items(args.data).sample(frac=1, random_state=0).head(args.photos)[["path", "label"]]
    classes = sorted(read_items(args.data)["label"].unique())
    backbone = build_model("efficientnet_lite0", len(classes), pretrained=True, head="linear")
    meta = {"classes": classes, "size": args.size, "presize": args.presize, "mean": backbone.mean,
            "std": backbone.std}
    frozen = FrozenPass(backbone, meta)
    frozen.prefix(torch.zeros(1, 3, args.size, args.size))  # onnxruntime's session made before timing

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        drawn = synth_items(tmp, classes, args.drawn, args.presize, seed=1)
        drawn_serial = serial_maps(frozen.prefix, meta, list(drawn["path"]))
    photos_serial = serial_maps(frozen.prefix, meta, list(items["path"]))
    serial_s = time.perf_counter() - start
    print(f"serial: {len(items)} photos + {len(drawn)} drawn in {serial_s:.1f}s", flush=True)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=1) as drawer:
        drawing = drawer.submit(synth_items, tmp, classes, args.drawn, args.presize, seed=1)
        photos = frozen.run("photos", items, progress=False)
        drawn_maps = frozen.run("drawn", drawing.result(), progress=False)
    overlapped_s = time.perf_counter() - start
    same = max(float((photos.logits - photos_serial).abs().max()),
               float((drawn_maps.logits - drawn_serial).abs().max()))
    print(f"overlapped: {overlapped_s:.1f}s ({serial_s / overlapped_s:.2f}x); "
          f"largest difference in the maps {same:.1e}")


if __name__ == "__main__":
    main()
