"""Float32 copies of a compressed index's vectors, memory-mapped for the exact re-rank.

A compressed index (SQ8 or PQ codes) only proposes candidates; their exact scores need the
float32 vectors. Reading one from the catalog costs a B-tree lookup and a row copy (about
7 µs); from this file it is an offset into a memory-mapped array (under 1 µs once the page
is cached), so a search can afford to re-rank thousands of candidates.

Row i holds the vector of the index's i-th label (the order vectors were added). A label's
vector never changes (a re-embedded image gets a new label), so rows are only appended: a
sidecar counts just the rows fsynced before it was committed, and rows past that count (a
crashed writer's) are cut off by the next writer. A reader maps only the rows its sidecar
counts, so appending and cutting off a crashed tail never move bytes under it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

SUFFIX = ".f32"


def row_bytes(dim: int) -> int:
    return 4 * dim


def usable(path: Path, count: int, dim: int) -> bool:
    """True when the file holds at least ``count`` rows (cheap: one stat, nothing read)."""
    try:
        return path.stat().st_size >= count * row_bytes(dim)
    except OSError:
        return False


def open_rows(path: Path, count: int, dim: int) -> np.ndarray | None:
    """The first ``count`` rows, memory-mapped read-only; None when the file is missing or short."""
    if not usable(path, count, dim):
        return None
    if count == 0:
        return np.zeros((0, dim), dtype=np.float32)
    try:
        return np.memmap(path, dtype="<f4", mode="r", shape=(count, dim))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def appending(path: Path, keep_rows: int, dim: int) -> Iterator[Callable[[np.ndarray], None]]:
    """A function that appends rows after the first ``keep_rows`` (a crashed writer's tail is cut
    off first); the rows are fsynced before the block ends, so a sidecar committed after it
    may count them. A new file is created when ``keep_rows`` is 0."""
    with open(path, "r+b" if keep_rows else "wb") as handle:
        handle.truncate(keep_rows * row_bytes(dim))
        handle.seek(0, os.SEEK_END)

        def write(vectors: np.ndarray) -> None:
            handle.write(np.ascontiguousarray(vectors, dtype="<f4").reshape(-1, dim).tobytes())

        yield write
        handle.flush()
        os.fsync(handle.fileno())
