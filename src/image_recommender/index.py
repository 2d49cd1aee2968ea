"""FAISS index over one model's vectors: build, add, save atomically, load, search with filters.

The index is ``IndexIDMap2(IndexHNSWFlat(dim, M, inner product))`` (or a flat, exact one)
whose labels are the catalog's vector ids. HNSW cannot delete, so labels that are no
longer live are excluded at search time with an ``IDSelector``. Saving writes a new,
uniquely named index file and then atomically replaces the small JSON sidecar that
points at it: the sidecar's rename is the commit, so a crash never leaves a half-written
index in use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import time
import typing
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from image_recommender.errors import LibraryError
from image_recommender.settings import INDEX_KINDS

SIDECAR_VERSION = 1
AUTO_EF_SEARCH_LIMIT = 200_000


def default_ef_search(count: int) -> int:
    """The query beam that keeps recall@10 >= 0.99 on clustered CLIP-like vectors.

    Measured (docs/benchmarks.md): 64 gives 0.9998 at 100k vectors but 0.983 at 1M, where
    128 gives 0.9998; 64 is twice as fast, so it is used while the index is small.
    """
    return 64 if count <= AUTO_EF_SEARCH_LIMIT else 128


@dataclass(frozen=True)
class IndexParams:
    """How an index is built; a change of any of these means a rebuild."""

    kind: str = "hnsw"
    hnsw_m: int = 32
    ef_construction: int = 200


@dataclass(frozen=True)
class IndexMeta:
    """The sidecar: what the index holds, so a search can tell a stale or foreign index."""

    model: str
    pretrained: str
    dim: int
    count: int
    params: IndexParams
    index_file: str
    built_at: float
    version: int = SIDECAR_VERSION
    generation: int = -1
    stale: list[int] = field(default_factory=list)

    def current_for(self, generation: int) -> bool:
        """True when the catalog has not changed since this sidecar was written."""
        return self.generation == generation


def sidecar_path(state_dir: Path, model: str, pretrained: str) -> Path:
    """One index per (model, weights): a readable slug plus a short hash against collisions."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model}-{pretrained}")[:60]
    digest = hashlib.blake2b(f"{model}\0{pretrained}".encode(), digest_size=4).hexdigest()
    return state_dir / f"index-{slug}-{digest}.json"


def _new_faiss_index(dim: int, params: IndexParams) -> faiss.IndexIDMap2:
    if params.kind == "flat":
        inner: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        inner = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = params.ef_construction
    return faiss.IndexIDMap2(inner)


class VectorIndex:
    """A loaded index plus its sidecar."""

    def __init__(self, index: faiss.IndexIDMap2, meta: IndexMeta) -> None:
        self.index = index
        self.meta = meta
        self._labels: np.ndarray | None = None

    @classmethod
    def build(
        cls, labels: np.ndarray, vectors: np.ndarray, params: IndexParams, model: str, pretrained: str, dim: int
    ) -> VectorIndex:
        index = _new_faiss_index(dim, params)
        meta = IndexMeta(model, pretrained, dim, 0, params, "", time.time())
        built = cls(index, meta)
        built.add(labels, vectors)
        return built

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if len(labels):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), labels.astype(np.int64))
        self._labels = None
        self.meta = dataclasses.replace(self.meta, count=int(self.index.ntotal))

    def labels(self) -> np.ndarray:
        """Every label in the index (live or not)."""
        if self._labels is None:
            self._labels = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        return self._labels

    def differing(self, labels: np.ndarray, vectors: np.ndarray) -> int:
        """How many of these labels' stored vectors differ from the catalog's (damaged index bytes)."""
        if not len(labels):
            return 0
        stored = np.stack([self.index.reconstruct(int(label)) for label in labels])
        return int(np.count_nonzero(~np.isclose(stored, vectors, atol=1e-4).all(axis=1)))

    def mark_current(self, generation: int, stale: np.ndarray) -> None:
        """Record the catalog generation this index matches and its labels that are no longer live."""
        self.meta = dataclasses.replace(self.meta, generation=generation, stale=[int(x) for x in stale])

    def save(self, sidecar: Path, vectors_changed: bool = True) -> None:
        """Write a new index file (if its vectors changed), then switch the sidecar to it in one rename."""
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        index_name = f"{sidecar.stem}-{uuid.uuid4().hex[:12]}.faiss" if vectors_changed else self.meta.index_file
        index_path = sidecar.parent / index_name
        previous = read_meta(sidecar)
        meta = dataclasses.replace(self.meta, index_file=index_name)
        temporary = sidecar.with_suffix(".json.tmp")
        try:
            if vectors_changed:
                faiss.write_index(self.index, str(index_path))
                _fsync_file(index_path)
            temporary.write_text(json.dumps(asdict(meta)))
            _fsync_file(temporary)
            os.replace(temporary, sidecar)
        except (OSError, RuntimeError) as exc:
            if vectors_changed:
                with contextlib.suppress(OSError):
                    index_path.unlink()
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise LibraryError(f"{index_path}: could not write the index ({exc}); the previous one is kept") from None
        self.meta = meta
        if previous is not None and previous.index_file != index_name:
            with contextlib.suppress(OSError):
                (sidecar.parent / previous.index_file).unlink()
        _remove_orphans(sidecar, index_name)

    @classmethod
    def load(cls, sidecar: Path, writable: bool = False) -> VectorIndex | None:
        """Load the committed index (vectors memory-mapped unless it is to be changed), or None.

        A writer may commit a new index between reading the sidecar and opening the file it
        names, so one retry follows a vanished file.
        """
        flags = 0 if writable else faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY
        for _ in range(2):
            meta = read_meta(sidecar)
            if meta is None:
                return None
            try:
                index = faiss.read_index(str(sidecar.parent / meta.index_file), flags)
            except RuntimeError:
                continue
            if index.ntotal == meta.count and index.d == meta.dim:
                return cls(typing.cast(faiss.IndexIDMap2, index), meta)
            return None
        return None

    def search(
        self,
        queries: np.ndarray,
        k: int,
        ef_search: int,
        exclude: np.ndarray | None = None,
        allow: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, labels) of the k best matches per query; -1 labels pad short answers.

        ``allow`` keeps only those labels; ``exclude`` drops labels (deleted or replaced
        vectors, the query's own images).
        """
        k = max(1, min(k, int(self.index.ntotal)))
        selector: faiss.IDSelector | None = None
        if allow is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allow, dtype=np.int64))
        elif exclude is not None and len(exclude):
            selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.ascontiguousarray(exclude, dtype=np.int64)))
        if self.meta.params.kind == "hnsw":
            # faiss's bundled type stubs predate SearchParametersHNSW; the class is there at run time.
            params: faiss.SearchParameters = faiss.SearchParametersHNSW(efSearch=max(ef_search, k))  # type: ignore[attr-defined]
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.meta.dim)
        scores, labels = self.index.search(queries, k, params=params)
        return scores, labels


def remove_index(sidecar: Path) -> None:
    """Delete an index and its sidecar (the sidecar first, so no reader sees a missing file)."""
    meta = read_meta(sidecar)
    with contextlib.suppress(FileNotFoundError):
        sidecar.unlink()
    if meta is not None:
        with contextlib.suppress(FileNotFoundError):
            (sidecar.parent / meta.index_file).unlink()


def read_meta(sidecar: Path) -> IndexMeta | None:
    """The sidecar, or None when it is missing or not one this program wrote (then: rebuild).

    The index file it names is trusted only in the form ``save`` writes, beside the sidecar:
    a sidecar naming any other file (``../catalog.sqlite3``) never gets that file read or deleted.
    """
    try:
        data = json.loads(sidecar.read_text())
        data["params"] = IndexParams(**data["params"])
        meta = IndexMeta(**data)
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    expected = re.compile(re.escape(sidecar.stem) + r"-[0-9a-f]{12}\.faiss")
    if not isinstance(meta.index_file, str) or not expected.fullmatch(meta.index_file):
        return None
    if meta.params.kind not in INDEX_KINDS:
        return None
    return meta


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _remove_orphans(sidecar: Path, keep: str) -> None:
    """Delete index files a crash left behind (written but never committed)."""
    for stray in sidecar.parent.glob(f"{sidecar.stem}-*.faiss"):
        if stray.name != keep:
            with contextlib.suppress(OSError):
                stray.unlink()
