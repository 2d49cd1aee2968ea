"""One committed FAISS index on disk: its sidecar, its codes or lists file, loading, saving and
searching it.

The catalog holds the one float32 copy of every vector. An index holds only what is derived
from it: a graph or lists over the vectors, compressed codes, and (IVF-PQ) the 8-bit codes that
screen its candidates. The exact re-rank reads the few dozen winners' vectors from the catalog.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import time
import typing
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from image_recommender.errors import LibraryError
from image_recommender.index import on_disk
from image_recommender.index.kinds import (
    _INTACT_SIMILARITY,
    BUILT_KINDS,
    IVF_KINDS,
    SELF_CHECK_RANK,
    SIDECAR_VERSION,
    IndexParams,
    default_nprobe,
    ivf_training_size,
)
from image_recommender.index.row_files import LEGACY_FLOAT32_SUFFIX, SQ8, MappedRows


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
    chosen: str = "auto"  # what the user asked for: "auto", or a kind kept until asked otherwise
    trained_on: int = 0  # vectors in the library when an IVF index was trained
    # A float32 copy of the vectors that releases before vectors were stored once kept beside a
    # compressed index: the next writer commits without it, which deletes the file.
    vectors_file: str = ""
    codes_file: str = ""  # IVF-PQ: 8-bit codes of the same vectors, in index order, for the screen
    code_ranges: list[float] = field(default_factory=list)  # the screen's quantizer (per-dimension ranges)
    lists_file: str = ""  # ivf-disk: the inverted lists, memory-mapped from this file beside the index

    def current_for(self, generation: int) -> bool:
        """True when the catalog has not changed since this sidecar was written."""
        return self.generation == generation

    def files(self) -> set[str]:
        """The names of the files beside the sidecar that it points at."""
        return {self.index_file, self.vectors_file, self.codes_file, self.lists_file} - {""}


def sidecar_path(state_dir: Path, model: str, pretrained: str) -> Path:
    """One index per (model, weights): a readable slug plus a short hash against collisions."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model}-{pretrained}")[:60]
    digest = hashlib.blake2b(f"{model}\0{pretrained}".encode(), digest_size=4).hexdigest()
    return state_dir / f"index-{slug}-{digest}.json"


class VectorIndex:
    """A loaded FAISS index (``IndexIDMap`` over one of the kinds) plus its sidecar."""

    def __init__(self, index: faiss.IndexIDMap, meta: IndexMeta, codes: MappedRows | None = None) -> None:
        self.index = index
        self.meta = meta
        self.codes = codes  # row i: the 8-bit screening code of the i-th label (IVF-PQ)
        self._screen: faiss.IndexScalarQuantizer | None = None  # trained, empty: copied per screen
        self._labels: np.ndarray | None = None
        self._positions: np.ndarray | None = None  # the rows of the labels in ascending order

    @classmethod
    def empty(cls, params: IndexParams, model: str, pretrained: str, dim: int, count: int) -> VectorIndex:
        """An index ready to be trained (IVF) and filled with about ``count`` vectors."""
        inner = faiss.index_factory(dim, params.factory(dim, count), faiss.METRIC_INNER_PRODUCT)
        if params.kind in ("hnsw", "hnsw-sq8"):
            faiss.downcast_index(inner).hnsw.efConstruction = params.ef_construction
        meta = IndexMeta(model, pretrained, dim, 0, params, "", time.time())
        built = cls(faiss.IndexIDMap(inner), meta)
        if params.kind == "ivf-pq":
            built._screen = _screen_quantizer(dim)
        return built

    @classmethod
    def build(
        cls, labels: np.ndarray, vectors: np.ndarray, params: IndexParams, model: str, pretrained: str, dim: int
    ) -> VectorIndex:
        """An index of these vectors, all in memory (small sets; libraries build in chunks)."""
        built = cls.empty(params, model, pretrained, dim, len(labels))
        built.train(vectors)
        built.add(labels, vectors)
        return built

    @property
    def trained(self) -> bool:
        return bool(self.index.is_trained)

    def training_sample(self, labels: np.ndarray) -> np.ndarray:
        """The labels whose vectors train this index, sorted (read in file order): 39 per IVF
        list, up to 65,536 for SQ8; none when there is nothing to train."""
        if self.trained:
            return labels[:0]
        size = min(len(labels), ivf_training_size(self.nlist) if self.nlist else 65_536)
        return np.sort(np.random.default_rng(0).choice(labels, size=size, replace=False))

    def train(self, sample: np.ndarray) -> None:
        """Learn the coarse centroids and codebooks of an IVF-PQ or SQ8 index from a sample.

        A library smaller than the training needs is repeated: its codes then only order
        candidates that are all re-ranked exactly anyway.
        """
        if self.trained or not len(sample):
            return
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        needed = ivf_training_size(self.nlist) if self.nlist else 1
        if len(sample) < needed:
            sample = np.resize(sample, (needed, sample.shape[1]))
        self.index.train(sample)
        if self._screen is not None:
            self._screen.train(sample)
            ranges = faiss.vector_to_array(self._screen.sq.trained).astype(float).tolist()
            self.meta = dataclasses.replace(self.meta, code_ranges=ranges)

    @property
    def screens(self) -> bool:
        """True when this index's candidates are screened with 8-bit codes (IVF-PQ)."""
        return self._screen_template() is not None

    def screen_codes(self, vectors: np.ndarray) -> np.ndarray:
        """The 8-bit screening codes of these vectors (only for an index that ``screens``)."""
        screen = self._screen_template()
        assert screen is not None
        return screen.sa_encode(np.ascontiguousarray(vectors, dtype=np.float32))

    def _screen_template(self) -> faiss.IndexScalarQuantizer | None:
        """The trained, empty screen, rebuilt from the sidecar's ranges once per loaded index."""
        if self._screen is None and len(self.meta.code_ranges) == 2 * self.meta.dim:
            self._screen = _screen_quantizer(self.meta.dim)
            ranges = np.array(self.meta.code_ranges, dtype=np.float32)
            faiss.copy_array_to_vector(ranges, self._screen.sq.trained)
            self._screen.is_trained = True
        return self._screen if self._screen is not None and self._screen.is_trained else None

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors to an index held in memory (every kind but ``ivf-disk``: ``add_on_disk``)."""
        if len(labels):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), labels.astype(np.int64))
        self._labels = self._positions = None
        self.meta = dataclasses.replace(self.meta, count=int(self.index.ntotal))

    def add_on_disk(self, folder: Path, stem: str, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        """``ivf-disk``: these (labels, vectors) after the rows already held, in shards, merged with
        the held lists into a new lists file (the held one is never written); this index then
        reads from it. Shard files are deleted whatever happens."""
        held = faiss.try_extract_index_ivf(self.index.index)
        assert held is not None
        template = faiss.downcast_index(held)
        lists = on_disk.ShardedLists(template, folder, stem, first_row=self.meta.count)
        added = [self.labels()]
        try:
            for labels, vectors in chunks:
                lists.add(vectors)
                added.append(labels.astype(np.int64))
            if lists.next_row == self.meta.count:
                return
            inner = on_disk.empty_like(template)
            outer = faiss.IndexIDMap(inner)
            name = lists.merge_into(inner, held if self.meta.count else None)
        finally:
            lists.discard()
        faiss.copy_array_to_vector(np.concatenate(added), outer.id_map)
        outer.ntotal = inner.ntotal
        self.index = outer
        self._labels = self._positions = None
        self.meta = dataclasses.replace(self.meta, count=int(outer.ntotal), lists_file=name)

    def labels(self) -> np.ndarray:
        """Every label in the index (live or not), in the order they were added."""
        if self._labels is None:
            self._labels = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        return self._labels

    def _rows_of(self, labels: np.ndarray) -> np.ndarray:
        """The rows of these labels, all held by the index (searches get rows from FAISS; only the
        damage check looks labels up)."""
        held = self.labels()
        if self._positions is None:
            self._positions = np.argsort(held, kind="stable")  # nearly sorted already: labels grow
        return self._positions[np.searchsorted(held, labels, sorter=self._positions)]

    def screened(self, query: np.ndarray, rows: np.ndarray, keep: int) -> np.ndarray:
        """The ``keep`` of these rows whose 8-bit codes score best against the query; all of them
        when there are no more than that, or no codes to screen with.

        The codes are scored by FAISS's scalar quantizer in an index made for this query, so
        concurrent searches share nothing they write.
        """
        screen = self._screen_template()
        if self.codes is None or screen is None or len(rows) <= keep:
            return rows
        rows = np.sort(rows)  # in file order
        candidates = faiss.clone_index(screen)
        candidates.add_sa_codes(self.codes.array[rows])
        _, best = candidates.search(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1), keep)
        return rows[best[0][best[0] >= 0]]

    def differing(self, labels: np.ndarray, vectors: np.ndarray, ranked: bool = True) -> int:
        """How many of these labels' stored vectors differ from the catalog's (damaged index bytes).

        Graph and flat kinds decode each stored vector and compare cosines. IVF-PQ codes cannot
        be decoded one by one (fast-scan packs them in blocks) and its scores are only good for
        ranking, so there (with ``ranked``) each catalog vector must find its own label among its
        100 nearest, or those 100 must all tie (more than 100 identical vectors: exact copies,
        blank frames). The screening codes are compared byte for byte.
        """
        if not len(labels):
            return 0
        at = self._rows_of(labels)
        damaged = np.zeros(len(labels), dtype=bool)
        if self.nlist and ranked:
            scores, found = self.search(vectors, SELF_CHECK_RANK, 0)
            tied = scores[:, -1] >= scores[:, 0] - 1e-4
            damaged |= ~np.array([label in row for label, row in zip(labels, found, strict=True)]) & ~tied
        elif not self.nlist:
            stored = np.stack([self.index.index.reconstruct(int(position)) for position in at])
            similarity = np.sum(stored * vectors, axis=1) / np.maximum(
                np.linalg.norm(stored, axis=1) * np.linalg.norm(vectors, axis=1), 1e-12
            )
            damaged |= ~(similarity >= _INTACT_SIMILARITY[self.meta.params.kind])
        if self.codes is not None and self.screens:  # and the screen's codes theirs
            damaged |= np.any(self.codes.array[at] != self.screen_codes(vectors), axis=1)
        return int(np.count_nonzero(damaged))

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
        if previous is not None:
            for name in previous.files() - meta.files():
                with contextlib.suppress(OSError):
                    (sidecar.parent / name).unlink()
        _remove_orphans(sidecar, meta.files())

    @classmethod
    def load(cls, sidecar: Path, writable: bool = False) -> VectorIndex | None:
        """Load the committed index (memory-mapped unless it is to be changed), or None.

        A writer may commit a new index between reading the sidecar and opening the file it
        names, so one retry follows a vanished file.
        """
        flags = 0 if writable else faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY
        for _ in range(2):
            meta = read_meta(sidecar)
            if meta is None:
                return None
            path = sidecar.parent / meta.index_file
            try:
                index = (
                    on_disk.read_index(path, meta.lists_file) if meta.lists_file else faiss.read_index(str(path), flags)
                )
            except (RuntimeError, OSError):
                continue
            if index is None:
                return None
            if index.ntotal == meta.count and index.d == meta.dim and hasattr(index, "id_map"):
                codes = None
                if meta.codes_file:
                    codes = SQ8.open_rows(sidecar.parent / meta.codes_file, meta.count, meta.dim)
                return cls(typing.cast(faiss.IndexIDMap, index), meta, codes)
            return None
        return None

    def search(
        self,
        queries: np.ndarray,
        k: int,
        ef_search: int,
        exclude: np.ndarray | None = None,
        allow: np.ndarray | None = None,
        nprobe: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, labels) of the k best matches per query; -1 labels pad short answers.

        The scores of a compressed kind are approximate. ``allow`` keeps only those labels;
        ``exclude`` drops labels (deleted or replaced vectors, the query's own images).
        """
        scores, rows = self.search_rows(queries, k, ef_search, exclude, allow, nprobe)
        return scores, np.where(rows >= 0, self.labels()[rows], -1)

    def search_rows(
        self,
        queries: np.ndarray,
        k: int,
        ef_search: int,
        exclude: np.ndarray | None = None,
        allow: np.ndarray | None = None,
        nprobe: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``search``, answering with the matches' rows in the index (and its codes file) rather
        than their labels: the screen then reads codes without looking labels up.
        ``allow`` and ``exclude`` still name labels, translated to rows by FAISS."""
        k = max(1, min(k, int(self.index.ntotal)))
        params = self._search_params(k, ef_search, nprobe)
        chosen = None
        if allow is not None:
            chosen = faiss.IDSelectorBatch(np.ascontiguousarray(allow, dtype=np.int64))
        elif exclude is not None and len(exclude):
            chosen = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.ascontiguousarray(exclude, dtype=np.int64)))
        if chosen is not None:  # both selectors stay referenced here until the search returns
            translated = faiss.IDSelectorTranslated(self.index.id_map, chosen)
            params.sel = translated
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.meta.dim)
        return self.index.index.search(queries, k, params=params)

    def _search_params(self, k: int, ef_search: int, nprobe: int) -> faiss.SearchParameters:
        kind = self.meta.params.kind
        if kind in ("hnsw", "hnsw-sq8"):
            return faiss.SearchParametersHNSW(efSearch=max(ef_search, k))
        if kind in IVF_KINDS:
            probes = min(self.nlist, nprobe or default_nprobe(self.nlist))
            return faiss.SearchParametersIVF(nprobe=probes)
        return faiss.SearchParameters()

    @property
    def nlist(self) -> int:
        """Inverted lists of an IVF index (0 for the graph and flat kinds)."""
        ivf = faiss.try_extract_index_ivf(self.index.index)
        return int(ivf.nlist) if ivf is not None else 0


def with_codes_file(meta: IndexMeta, stem: str) -> IndexMeta:
    """``meta`` with a new, unique name for the screening codes' file when it has none."""
    return dataclasses.replace(meta, codes_file=meta.codes_file or f"{stem}-{uuid.uuid4().hex[:12]}{SQ8.suffix}")


def _screen_quantizer(dim: int) -> faiss.IndexScalarQuantizer:
    """An untrained 8-bit scalar quantizer scoring by inner product, IVF-PQ's screen."""
    return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)


def repair_marker(sidecar: Path) -> Path:
    """The file whose presence asks the next writer to rebuild this index."""
    return sidecar.with_suffix(".repair")


def remove_index(sidecar: Path) -> None:
    """Delete an index and its sidecar (the sidecar first, so no reader sees a missing file)."""
    meta = read_meta(sidecar)
    with contextlib.suppress(FileNotFoundError):
        sidecar.unlink()
    if meta is not None:
        for name in meta.files():
            with contextlib.suppress(FileNotFoundError):
                (sidecar.parent / name).unlink()


def read_meta(sidecar: Path) -> IndexMeta | None:
    """The sidecar, or None when it is missing or not one this program wrote (then: rebuild).

    The files it names are trusted only in the form ``save`` writes, beside the sidecar: a
    sidecar naming any other file (``../catalog.sqlite3``) never gets that file read or deleted.
    """
    try:
        data = json.loads(sidecar.read_text())
        data["params"] = IndexParams(**data["params"])
        meta = IndexMeta(**data)
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    if not _named_beside(sidecar, meta.index_file, ".faiss"):
        return None
    named = (
        (meta.vectors_file, LEGACY_FLOAT32_SUFFIX),
        (meta.codes_file, SQ8.suffix),
        (meta.lists_file, on_disk.LISTS_SUFFIX),
    )
    if not all(name == "" or _named_beside(sidecar, name, suffix) for name, suffix in named):
        return None
    if meta.params.kind not in BUILT_KINDS or not _valid_ranges(meta):
        return None
    if (meta.params.kind == "ivf-disk") != bool(meta.lists_file):
        return None
    return meta


def _named_beside(sidecar: Path, name: object, suffix: str) -> bool:
    """True when ``name`` is a file name ``save`` could have given a file of this sidecar."""
    pattern = re.escape(sidecar.stem) + r"-[0-9a-f]{12}" + re.escape(suffix)
    return isinstance(name, str) and re.fullmatch(pattern, name) is not None


def _valid_ranges(meta: IndexMeta) -> bool:
    """The screen's quantizer: two finite numbers per dimension with a codes file, none without."""
    ranges = meta.code_ranges
    if not isinstance(ranges, list) or len(ranges) != (2 * meta.dim if meta.codes_file else 0):
        return False
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in ranges)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _remove_orphans(sidecar: Path, keep: set[str]) -> None:
    """Delete index, codes, lists and shard files a crash left behind (written but never committed)."""
    for suffix in (".faiss", SQ8.suffix, on_disk.LISTS_SUFFIX, on_disk.SHARD_SUFFIX, LEGACY_FLOAT32_SUFFIX):
        for stray in sidecar.parent.glob(f"{sidecar.stem}-*{suffix}"):
            if stray.name not in keep:
                with contextlib.suppress(OSError):
                    stray.unlink()
