"""Files of fixed-size rows kept beside a compressed index and memory-mapped for its screen.

IVF-PQ's 4-bit codes only propose candidates, thousands of them at 10M images. ``SQ8`` rows
hold 8-bit scalar codes of the same vectors (768 B at 768-d) that screen those candidates
down to a few dozen, whose float32 vectors the catalog then gives for the exact scores.
Reading a row is an offset into a memory map (under 1 µs once the page is cached, against
about 7 µs for a catalog row), and the codes of ten million images (7.7 GB) fit a 16 GB
machine's page cache where the catalog's float32 vectors (31 GB) cannot.

Row i belongs to the index's i-th label (the order vectors were added). A label's vector
never changes (a re-embedded image gets a new label), so rows are only appended: a sidecar
counts just the rows fsynced before it was committed, and rows past that count (a crashed
writer's) are cut off by the next writer. A reader maps only the rows its sidecar counts, so
appending and cutting off a crashed tail never move bytes under it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RowFormat:
    """How one kind of row file names and stores its rows."""

    suffix: str
    dtype: str  # one component, little-endian

    def row_bytes(self, dim: int) -> int:
        return np.dtype(self.dtype).itemsize * dim

    def usable(self, path: Path, count: int, dim: int) -> bool:
        """True when the file holds at least ``count`` rows (cheap: one stat, nothing read)."""
        try:
            return path.stat().st_size >= count * self.row_bytes(dim)
        except OSError:
            return False

    def open_rows(self, path: Path, count: int, dim: int) -> MappedRows | None:
        """The first ``count`` rows, memory-mapped read-only; None when the file is missing or short."""
        if not self.usable(path, count, dim):
            return None
        if count == 0:
            return MappedRows(np.zeros((0, dim), dtype=self.dtype), None)
        try:
            with open(path, "rb") as handle:
                mapped = mmap.mmap(handle.fileno(), count * self.row_bytes(dim), access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        # Rows are read at random: a page fault must not also read the pages around it (the
        # kernel's read-around is 128 KB to several MB, thousands of times the row wanted).
        mapped.madvise(mmap.MADV_RANDOM)
        return MappedRows(np.frombuffer(mapped, dtype=self.dtype).reshape(count, dim), mapped)

    @contextlib.contextmanager
    def appending(self, path: Path, keep_rows: int, dim: int) -> Iterator[Callable[[np.ndarray], None]]:
        """A function that appends rows after the first ``keep_rows`` (a crashed writer's tail is
        cut off first); the rows are fsynced before the block ends, so a sidecar committed after
        it may count them. A new file is created when ``keep_rows`` is 0."""
        with open(path, "r+b" if keep_rows else "wb") as handle:
            handle.truncate(keep_rows * self.row_bytes(dim))
            handle.seek(0, os.SEEK_END)

            def write(rows: np.ndarray) -> None:
                handle.write(np.ascontiguousarray(rows, dtype=self.dtype).reshape(-1, dim).tobytes())

            yield write
            handle.flush()
            os.fsync(handle.fileno())


SQ8 = RowFormat(".sq8", "u1")

# The suffix of the float32 copies that releases before vectors were stored once wrote beside
# a compressed index; such files are only ever deleted now.
LEGACY_FLOAT32_SUFFIX = ".f32"


class MappedRows:
    """A row file's committed rows, ``array``, kept readable as long as this object lives."""

    def __init__(self, array: np.ndarray, mapped: mmap.mmap | None) -> None:
        self.array = array
        self._mapped = mapped  # the mapping ``array`` reads from
