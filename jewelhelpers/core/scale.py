"""A job's per-batch work over many files on Ray Data: one model actor per worker, results in Parquet shards.

A job hands over a class whose instances turn a batch of file paths into rows: a DataFrame with one row per path,
`path` first, unreadable files as rows with their error, every column one Arrow can store. `run_batches` makes
one per worker (the model is loaded once there), lets Ray Data's `map_batches` feed it batches, and writes what
comes back as Parquet shards in `OUT/shards`, each written to a temporary name and renamed when complete, so a
crash or Ctrl-C leaves only whole shards. Every row carries the sha256 of the file's bytes: a later run over the
same OUT skips a file whose path and content are already in a shard. Ray restarts a killed actor and retries its
batch, and only the driver writes shards, so no file is lost and none is written twice. Ray is imported inside
the functions: the light verbs never pay for it, and without it installed the user is told how to add it.

Not taught in a notebook (none runs Ray): README.md, "A whole catalogue on Ray" (`jewel predict --on ray`).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .errors import JewelError
from .progress import progress
from .settings import CPUS_PER_WORKER, SCALE_EXTRA, SHARD_ROWS

SHARDS = "shards"  # OUT/shards/part-<run>-<n>.parquet
SHA = "sha256"  # the column of each file's content hash (empty when the file could not be read)
DONE = "done"  # the input column carrying a file's hash from an earlier run, so the worker can skip it


def import_ray():
    """The `ray` module, or a JewelError saying how to install the optional extra."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise JewelError(f"Ray Data is not installed: {SCALE_EXTRA}") from None
    return ray


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, or '' when it cannot be read (its row then says why)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return ""


class BatchWorker:
    """The Ray actor: builds the job's per-batch callable once, then skips files already done and runs the rest."""

    def __init__(self, make: Callable[..., Callable[[list[str]], pd.DataFrame]], kwargs: dict):
        self.rows = make(**kwargs)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        hashes = [file_sha256(p) for p in batch["path"]]
        todo = [i for i, (h, done) in enumerate(zip(hashes, batch[DONE])) if not h or h != done]
        rows = self.rows([batch["path"].iloc[i] for i in todo])
        rows[SHA] = [hashes[i] for i in todo]
        return rows


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[int]:
    """A connected Ray, and how many workers to run: joins `address`, or starts a local Ray of `workers` CPUs.

    A local Ray is shut down on exit, a joined cluster only disconnected from; a Ray already running in this
    process (a notebook's, a test session's) is used as it is and left running.
    """
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        cpus = None if address else (workers or os.cpu_count() or 1) * CPUS_PER_WORKER
        try:
            ray.init(address=address, num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
        except ConnectionError as e:
            raise JewelError(f"cannot join the Ray cluster at {address} ({e}): start it with `ray start --head` "
                             "first, or leave out --address to run on this machine") from None
    try:
        yield workers or max(1, int(ray.cluster_resources().get("CPU", 1) // CPUS_PER_WORKER))
    finally:
        if started:
            ray.shutdown()


def shard_files(out: str | Path) -> list[Path]:
    """The finished shards in OUT, oldest run first (temporary files of an interrupted write are not shards)."""
    return sorted((Path(out) / SHARDS).glob("part-*.parquet"))


def read_shards(out: str | Path) -> pd.DataFrame:
    """Every row of OUT's finished shards, the newest row of each path kept (empty when there are none)."""
    import pyarrow.parquet as pq
    parts = [pq.read_table(f).to_pandas() for f in shard_files(out)]
    if not parts:
        return pd.DataFrame(columns=["path", SHA])
    return pd.concat(parts, ignore_index=True).drop_duplicates("path", keep="last").reset_index(drop=True)


def write_shard(rows, path: Path) -> None:
    """Write one shard (a pyarrow Table) whole or not at all: to a temporary name first, renamed when complete."""
    import pyarrow.parquet as pq
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(rows.replace_schema_metadata(None), tmp)  # plain Arrow types, read back as plain pandas
    os.replace(tmp, path)


def run_batches(make: Callable[..., Callable[[list[str]], pd.DataFrame]], kwargs: dict, files: Sequence[Path],
                out: str | Path, *, address: str | None = None, workers: int | None = None, batch_size: int = 32,
                shard_rows: int = SHARD_ROWS) -> pd.DataFrame:
    """`make(**kwargs)` on each Ray worker, fed `batch_size` files at a time; rows of `files` in the order given.

    Files already in OUT's shards with the same content are skipped; new rows are added as shards of up to
    `shard_rows` rows. Paths are made absolute, so that every worker (on any machine) finds the same file.
    """
    ray = import_ray()
    paths = list(dict.fromkeys(str(Path(f).absolute()) for f in files))
    (Path(out) / SHARDS).mkdir(parents=True, exist_ok=True)
    earlier = read_shards(out)
    done = dict(zip(earlier["path"], earlier[SHA]))
    with ray_session(address, workers) as n_workers:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False  # core.progress reports instead
        items = [{"path": p, DONE: done.get(p, "")} for p in paths]
        n_blocks = max(1, math.ceil(len(items) / batch_size))
        ds = ray.data.from_items(items, override_num_blocks=n_blocks)
        ds = ds.map_batches(BatchWorker, fn_constructor_kwargs={"make": make, "kwargs": kwargs},
                            batch_size=batch_size, batch_format="pandas", num_cpus=CPUS_PER_WORKER,
                            compute=ray.data.ActorPoolStrategy(size=min(n_workers, n_blocks)))
        run = f"{time.time_ns()}"
        batches = ds.iter_batches(batch_size=shard_rows, batch_format="pyarrow")
        for n, rows in enumerate(progress(batches, f"ray ({n_workers} workers)", "shards")):
            write_shard(rows, Path(out) / SHARDS / f"part-{run}-{n:06d}.parquet")
    table = read_shards(out).set_index("path")
    return table.loc[[p for p in paths if p in table.index]].reset_index()
