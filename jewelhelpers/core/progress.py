"""Progress that fits where it goes: a live bar on a terminal or in a notebook, one line per step in a log.

A bar redraws itself many times a second; piped to a file or a CI log, every redraw becomes text. So a bar is
drawn only where someone watches it (a Jupyter kernel, or a stream that is a terminal); elsewhere each step
says once what it did and how long it took.

Seen in: 02_transfer_learning_resnet50.ipynb (the bars of `train`'s steps; the other notebooks' calls pass
progress=False).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where bars are widgets, not text)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return type(shell).__name__ == "ZMQInteractiveShell"


def interactive(stream: TextIO | None = None) -> bool:
    """Whether a live bar belongs on `stream` (default stderr): in a notebook, or when it is a terminal."""
    stream = stream or sys.stderr
    return in_notebook() or bool(getattr(stream, "isatty", lambda: False)())


def progress(items: Iterable[T], desc: str, unit: str = "it", total: int | None = None,
             enabled: bool = True) -> Iterator[T]:
    """Iterate `items` with a bar where one is watched, else with one line (on stderr) once the step is done.

    `enabled=False` shows nothing at all.
    """
    if not enabled:
        yield from items
        return
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    if interactive():
        from tqdm.auto import tqdm
        yield from tqdm(items, desc=desc, unit=unit, total=total, leave=False)
        return
    start, n = time.perf_counter(), 0
    for n, item in enumerate(items, 1):
        yield item
    print(f"{desc}: {n} {unit} in {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
