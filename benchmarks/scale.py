"""Batch prediction at scale: images/s of the single process and of Ray Data with 1 and 2 workers, side by side.

    flock /work/helpers/heavy.lock .venv/bin/python benchmarks/scale.py --photos 2000

A catalogue of drawn photos (`core.drawing`, 256 px, `--unique` drawn images hard-linked under new names up to
`--photos`, plus one file that is no image) in a temporary folder, never the repository; an untrained
`--arch` (default EfficientNet-Lite0: the default backbone offline; speed does not depend on the weights) at
224 px in a hand-made RUN_DIR, ONNX engine, batch 32. For each way of running: wall time over the whole
catalogue (Ray's includes starting its model actors, not `ray.init`), images/s, and for Ray the steady rate
between its first and last shard, its start-up cost (`ray.init` with N CPUs) and the largest probability
difference to the single process. Then a killed worker: one Ray model actor is SIGKILLed mid-run; Ray restarts
it and retries its batch, and the shards must hold every photo exactly once. Target: 2 workers >= 1.6x 1 worker.

Taught in: 04_inference_and_deployment.ipynb.
"""
from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq

from inference_speed import untrained_run
from jewelhelpers.core import scale
from jewelhelpers.core.drawing import make_synth
from jewelhelpers.core.images import list_images
from jewelhelpers.core.onnx import onnx_file
from jewelhelpers.jobs.predict import predict_files, predict_on_ray

TARGET = 1.6
SHARD = 256


def catalogue(root: Path, unique: int, photos: int) -> Path:
    """`photos` files under root/catalogue: `unique` drawn images, hard-linked under new names, and one broken file."""
    drawn = make_synth(root / "drawn", per_class=max(1, unique // 5), size=256, seed=0, progress=False)
    sources = list_images(drawn)
    out = root / "catalogue"
    for i in range(photos - 1):
        src = sources[i % len(sources)]
        dst = out / src.parent.name / f"{i:06d}_{src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, dst)
    (out / "ring" / "broken.jpg").write_bytes(b"not an image")
    return out


def ray_run(run: Path, data: Path, out: Path, workers: int, single: pd.DataFrame, kill_after: bool = False) -> dict:
    """One Ray run over `data`: start-up, wall time, steady rate, agreement with `single`; optionally kill a worker."""
    start = time.perf_counter()
    with scale.ray_session(workers=workers):
        init = time.perf_counter() - start
        killer = threading.Thread(target=kill_one_worker, args=(out,), daemon=True) if kill_after else None
        if killer:
            killer.start()
        start = time.perf_counter()
        rows = predict_on_ray(run, [data], out, engine="onnx", workers=workers, shard_rows=SHARD)
        wall = time.perf_counter() - start
    times = sorted(f.stat().st_mtime for f in scale.shard_files(out))
    firsts = len(pq.read_table(scale.shard_files(out)[0]))
    steady = (len(rows) - firsts) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    diff = np.nanmax(np.abs(rows["probability"].astype(float).to_numpy() - single["probability"].astype(float).to_numpy()))
    every = pd.concat([pq.read_table(f).to_pandas() for f in scale.shard_files(out)])
    return {"init_s": init, "wall_s": wall, "images_per_s": len(rows) / wall, "steady_per_s": steady,
            "max_prob_diff": diff, "labels_equal": rows["label"].fillna("").tolist() == single["label"].fillna("").tolist(),
            "rows_in_shards": len(every), "distinct_paths": every["path"].nunique()}


def kill_one_worker(out: Path) -> None:
    """Once the first shard is written, SIGKILL one live model actor (Ray restarts it and retries its batch)."""
    while not scale.shard_files(out):
        time.sleep(0.2)
    actors = [p for p in psutil.process_iter(["cmdline"]) if "BatchWorker" in " ".join(p.info["cmdline"] or [])]
    os.kill(actors[0].pid, signal.SIGKILL)
    print(f"killed model actor pid {actors[0].pid} after the first shard", flush=True)


def main() -> None:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=2000)
    p.add_argument("--unique", type=int, default=500)
    p.add_argument("--arch", default="efficientnet_lite0")
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="jewel-scale-") as tmp:
        tmp = Path(tmp)
        data = catalogue(tmp, a.unique, a.photos)
        run = untrained_run(a.arch, a.size, tmp / "runs")
        onnx_file(run)
        print(f"{a.photos} photos ({a.unique} drawn at 256 px, 1 broken), untrained {a.arch} at {a.size} px, "
              f"ONNX engine, batch 32, {os.cpu_count()} CPU cores", flush=True)
        start = time.perf_counter()
        single = predict_files(run, [data], engine="onnx")
        wall = time.perf_counter() - start
        results = {"single process": {"wall_s": wall, "images_per_s": len(single) / wall}}
        for w in (1, 2):
            results[f"ray, {w} worker{'s' * (w > 1)}"] = ray_run(run, data, tmp / f"out-{w}", w, single)
        table = pd.DataFrame(results).T
        print(table.to_string(float_format=lambda v: f"{v:.3g}"))
        speedup = results["ray, 2 workers"]["images_per_s"] / results["ray, 1 worker"]["images_per_s"]
        steady = results["ray, 2 workers"]["steady_per_s"] / results["ray, 1 worker"]["steady_per_s"]
        print(f"2 workers / 1 worker: {speedup:.2f}x over the whole run, {steady:.2f}x steady "
              f"(target {TARGET}x: {'met' if speedup >= TARGET else 'missed'})")
        killed = ray_run(run, data, tmp / "out-killed", 2, single, kill_after=True)
        ok = killed["rows_in_shards"] == killed["distinct_paths"] == len(single) and killed["labels_equal"]
        print(f"killed worker: {killed['rows_in_shards']} rows, {killed['distinct_paths']} distinct photos of "
              f"{len(single)}, labels equal: {killed['labels_equal']}, wall {killed['wall_s']:.1f}s: "
              f"{'no photo lost or done twice' if ok else 'FAILED'}")


if __name__ == "__main__":
    main()
