"""IVF lists that stay on disk: built in shards, merged into one memory-mapped lists file.

The ``ivf-disk`` kind holds 8-bit scalar codes (768 B at 768-d) in inverted lists that FAISS
reads from a ``.ivfdata`` file on demand (``OnDiskInvertedLists``), so a search process holds
only the centroids and the label map (about 8 B an image) and the kernel's page cache the
lists it visits. Its own scores rank almost exactly, which makes them the screen; the catalog
gives the float32 vectors of the few dozen best for the exact scores.

A build never holds all codes in memory: vectors go into a shard in memory, each full shard is
written to its own file, and the shards (with the lists of the index being extended, read
from its mapped file) are merged list by list into a new lists file. That file gets a new,
unique name and is only used once the sidecar naming it is committed, so a crash or a full
disk leaves the previous index whole; the lists of a committed index are never written again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import faiss
import numpy as np

# Vectors a shard holds in memory before it goes to its own file: 776 MB at 768-d.
SHARD_VECTORS = 1_000_000


# Threads FAISS starts per search to read the lists it will visit ahead (its default: 32). At
# 200k images (1,024 lists, nprobe 16) they cost 3.0 ms a query when the lists are cached
# (3.6 against 0.6 ms p50) and bought nothing when they were not (0.65 ms p50, 1.5 MB a query
# read from this VM's disk, without them); each list is contiguous, so the kernel reads it ahead.
PREFETCH_THREADS = 0


SHARD_SUFFIX = ".shard"


LISTS_SUFFIX = ".ivfdata"


# FAISS reads an index whose lists lie on disk with these flags: the lists file is looked for
# beside the index file (the library folder may have moved), mapped read-only.
READ_FLAGS = faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY


@contextlib.contextmanager
def faiss_quiet() -> Iterator[None]:
    """FAISS ``printf``s while it resizes or finds a lists file; on our stdout that would break
    ``--json`` output, so file descriptor 1 points at /dev/null meanwhile."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def read_index(path: Path, lists_file: str) -> faiss.Index | None:
    """The index at ``path`` with its lists mapped from ``lists_file`` beside it; None when the
    index names another lists file (a forged or foreign index is never followed elsewhere) or
    the file is shorter than the lists (cut short: reading past its end would kill the process
    with SIGBUS)."""
    with faiss_quiet():
        index = faiss.read_index(str(path), READ_FLAGS)
    ivf = faiss.try_extract_index_ivf(index)
    lists = faiss.downcast_InvertedLists(ivf.invlists) if ivf is not None else None
    mapped = path.parent / lists_file
    if not isinstance(lists, faiss.OnDiskInvertedLists) or Path(lists.filename) != mapped:
        return None
    if mapped.stat().st_size < lists.totsize:
        return None
    lists.prefetch_nthread = PREFETCH_THREADS
    return index


def empty_like(ivf: faiss.IndexIVFScalarQuantizer) -> faiss.IndexIVFScalarQuantizer:
    """A new, empty IVF-SQ8 index in memory with the same centroids and quantizer as ``ivf``."""
    quantizer = faiss.IndexFlatIP(ivf.d)  # referenced by the index's Python object, so kept alive
    quantizer.add(ivf.quantizer.reconstruct_n(0, ivf.nlist))
    fresh = faiss.IndexIVFScalarQuantizer(
        quantizer, ivf.d, ivf.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    faiss.copy_array_to_vector(faiss.vector_to_array(ivf.sq.trained), fresh.sq.trained)
    fresh.is_trained = True
    return fresh


class ShardedLists:
    """Adds vectors to a trained IVF-SQ8 index in shards, then merges them into a new lists file.

    Row numbers continue from ``first_row`` (the rows the index already holds): the lists store
    rows, and the index's label map turns them into the catalog's labels.
    """

    def __init__(self, template: faiss.IndexIVFScalarQuantizer, folder: Path, stem: str, first_row: int) -> None:
        self.template = template
        self.folder = folder
        self.stem = stem
        self.next_row = first_row
        self.shard_files: list[Path] = []
        self._shard = empty_like(template)

    def add(self, vectors: np.ndarray) -> None:
        rows = np.arange(self.next_row, self.next_row + len(vectors), dtype=np.int64)
        self._shard.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), rows)
        self.next_row += len(vectors)
        if self._shard.ntotal >= SHARD_VECTORS:
            self._spill()

    def _spill(self) -> None:
        path = self.folder / f"{self.stem}-{uuid.uuid4().hex[:12]}{SHARD_SUFFIX}"
        self.shard_files.append(path)
        faiss.write_index(self._shard, str(path))
        self._shard = empty_like(self.template)

    def merge_into(self, target: faiss.IndexIVFScalarQuantizer, held: faiss.IndexIVF | None) -> str:
        """Fill the empty ``target`` with ``held``'s rows, then the shards', in a new lists file
        beside the shards (fsynced); its name."""
        name = f"{self.stem}-{uuid.uuid4().hex[:12]}{LISTS_SUFFIX}"
        sources = [] if held is None else [held.invlists]
        readers = [faiss.read_index(str(path), faiss.IO_FLAG_MMAP) for path in self.shard_files]
        sources += [faiss.extract_index_ivf(reader).invlists for reader in readers]
        if self._shard.ntotal:
            sources.append(self._shard.invlists)
        lists = faiss.OnDiskInvertedLists(target.nlist, target.code_size, str(self.folder / name))
        pointers = faiss.InvertedListsPtrVector()
        for source in sources:
            pointers.push_back(source)
        with faiss_quiet():
            total = lists.merge_from_multiple(pointers.data(), pointers.size(), False)
        target.replace_invlists(lists, True)
        lists.this.disown()
        target.ntotal = total
        with open(self.folder / name, "rb") as handle:  # the mapped writes reach the disk
            os.fsync(handle.fileno())
        del readers
        return name

    def discard(self) -> None:
        """Delete the shard files (after the merge, or when the build is given up)."""
        for path in self.shard_files:
            with contextlib.suppress(OSError):
                path.unlink()
        self.shard_files.clear()
