"""FAISS indexes over one model's vectors, kept in step with the catalog.

Four kinds, chosen by the library's size and a memory budget (``choose_kind``):

- ``flat``: exact search over float32 vectors.
- ``hnsw``: an HNSW graph over float32 vectors; its scores are exact.
- ``hnsw-sq8``: the same graph over 8-bit scalar codes (a quarter of the memory).
- ``ivf-pq``: inverted lists holding 4-bit product-quantizer codes (fast-scan), a few dozen
  bytes per image; the lists to visit are found by exact search over their centroids (an
  HNSW graph over centroids misses whole clusters of CLIP-like vectors, docs/benchmarks.md).

The two compressed kinds only propose candidates, which are scored exactly against their
float32 vectors (``LibraryIndex.nearest``), so recall comes from the re-rank, not from the
codes. Those vectors are kept beside the index in a memory-mapped file (``row_files``),
cheaper to read than catalog rows; the catalog is the fallback. IVF-PQ's thousands of
candidates are first screened with 8-bit codes kept in a second row file, a quarter the size
of the float32 one and small enough to stay in the page cache, so that only a few dozen
float32 rows are read per query. Labels are the catalog's vector ids. Indexes cannot
delete, so labels that are no longer live are excluded at search time with an
``IDSelector``.

Saving writes a new, uniquely named index file and then atomically replaces the small JSON
sidecar that points at it: the sidecar's rename is the commit, so a crash (even during a
long build) never leaves a half-written index in use. A vector file is appended to (its
rows fsynced) before the sidecar that counts them is committed.
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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from image_recommender import row_files
from image_recommender.catalog import Catalog, ModelRow
from image_recommender.errors import LibraryError
from image_recommender.reports import JsonReport
from image_recommender.row_files import FLOAT32, SQ8, MappedRows

SIDECAR_VERSION = 1
BUILT_KINDS = ("flat", "hnsw", "hnsw-sq8", "ivf-pq")
COMPRESSED_KINDS = frozenset({"hnsw-sq8", "ivf-pq"})
AUTO_EF_SEARCH_LIMIT = 200_000
# The sizes up to which ``auto`` keeps the more exact kinds (docs/benchmarks.md, section 7):
# HNSW over float32 up to HNSW_UP_TO images, HNSW over SQ8 codes up to SQ8_UP_TO, IVF-PQ beyond.
HNSW_UP_TO = 300_000
SQ8_UP_TO = 600_000
# Vectors read from the catalog at a time while building or adding (3 KB each at 768-d).
BUILD_CHUNK = 32_768
# An IVF-PQ index is trained again once the library has grown this much past its training.
RETRAIN_GROWTH = 4.0
# Candidates an IVF-PQ index proposes per query for the exact re-rank: one per IVF_RERANK_SHARE
# images, within these bounds (docs/benchmarks.md, section 7).
IVF_RERANK_SHARE = 1_000
IVF_RERANK_BOUNDS = (1_000, 4_000)
# IVF-PQ candidates the 8-bit screen passes on to the float32 re-rank: SCREEN_PER_RESULT per
# result wanted, at least SCREEN_MIN. On clustered CLIP-like vectors the SQ8 codes' best 20
# lost none of the true top 10 the candidates held, at 1M and 10M (docs/benchmarks.md, section 7).
SCREEN_PER_RESULT = 5
SCREEN_MIN = 50
# Vectors scored exactly without the index: images not indexed yet, and small filtered sets.
MAX_EXACT_UNINDEXED = 200_000
EXACT_FILTER_LIMIT = 20_000
# Minimum similarity between an index's stored (decoded) vector and the catalog's: below it the
# index file is damaged. SQ8 codes lose little. IVF-PQ's is 1 when the catalog vector finds its
# own label among its SELF_CHECK_RANK nearest, else 0; its results are re-scored exactly anyway.
_INTACT_SIMILARITY = {"flat": 0.9999, "hnsw": 0.9999, "hnsw-sq8": 0.99, "ivf-pq": 1.0}
SELF_CHECK_RANK = 100
# Every stored vector has unit length (cosine = inner product). A float32 row off by more than
# this (float32 rounding leaves under 1e-6) is damaged: its scores could exceed 1.
UNIT_TOLERANCE = 1e-3


def default_ef_search(count: int) -> int:
    """The query beam that keeps recall@10 >= 0.99 on clustered CLIP-like vectors.

    Measured (docs/benchmarks.md): 64 gives 0.9998 at 100k vectors but 0.983 at 1M, where
    128 gives 0.9998; 64 is twice as fast, so it is used while the index is small.
    """
    return 64 if count <= AUTO_EF_SEARCH_LIMIT else 128


def default_nprobe(nlist: int) -> int:
    """Inverted lists visited per query: enough that the re-rank sees the true neighbours."""
    return max(1, min(nlist, 16))


def default_rerank(kind: str, count: int) -> int:
    """Candidates a compressed index proposes for the exact re-rank (0: its own scores are exact).

    SQ8 codes rank almost exactly, so 100 suffice. 4-bit PQ codes only rank roughly, and the
    true neighbours hide among more look-alikes the larger the library, so the re-rank grows
    with it. On clustered CLIP-like vectors, 400 candidates hold 0.985 of the top 10 at 1M
    images but 0.950 at 2M; 1,000 hold 1.000 and 0.996, 2,000 hold 1.000 at 2M. Read from the
    vector file a candidate costs about 2 µs (docs/benchmarks.md, section 7).
    """
    if kind == "hnsw-sq8":
        return 100
    if kind == "ivf-pq":
        low, high = IVF_RERANK_BOUNDS
        return int(min(high, max(low, count // IVF_RERANK_SHARE)))
    return 0


def screen_size(k: int) -> int:
    """How many screened IVF-PQ candidates are re-scored from their float32 vectors for k results."""
    return max(SCREEN_MIN, SCREEN_PER_RESULT * k)


def ivf_lists(count: int) -> int:
    """Inverted lists for ``count`` vectors: a power of two near 4 * sqrt(count), at most one per
    256 vectors (a small library is searched almost whole), 1 to 16,384."""
    wanted = min(4 * math.sqrt(max(count, 1)), count / 256, 16_384.0)
    return int(2 ** round(math.log2(max(1.0, wanted))))


def ivf_training_size(nlist: int) -> int:
    """Vectors to train an IVF-PQ index on: 39 per list (FAISS's k-means minimum), and at least
    the 624 that each 16-centroid (4-bit) sub-quantizer needs."""
    return max(39 * nlist, 39 * 16)


def pq_subvectors(dim: int) -> int:
    """PQ sub-quantizers: one per 2 dimensions (4-bit codes, a byte per 4 dimensions).

    Measured at 1M CLIP-like vectors (docs/benchmarks.md, section 7): with one per 6 or 3
    dimensions the true top 10 hide among a thousand candidates or more; with one per 2, 400
    candidates hold 0.98 of them.
    """
    return dim // 2 if dim % 2 == 0 else dim


def bytes_per_vector(kind: str, dim: int, count: int, hnsw_m: int = 32) -> float:
    """What an index of this kind holds in memory per image (ids included), to fit a budget."""
    graph = 2 * hnsw_m * 4 * 1.05 + 8  # level-0 links (a few upper levels) and the label
    if kind == "flat":
        return 4 * dim + 8
    if kind == "hnsw":
        return 4 * dim + graph
    if kind == "hnsw-sq8":
        return dim + graph
    lists = ivf_lists(count)
    return pq_subvectors(dim) / 2 + 16 + lists * 4 * dim / max(count, 1)


def choose_kind(count: int, dim: int, memory_budget: int, hnsw_m: int = 32) -> str:
    """``auto``'s pick: the most exact kind whose size class and memory fit."""
    for kind, limit in (("hnsw", HNSW_UP_TO), ("hnsw-sq8", SQ8_UP_TO)):
        if count <= limit and count * bytes_per_vector(kind, dim, count, hnsw_m) <= memory_budget:
            return kind
    return "ivf-pq"


@dataclass(frozen=True)
class IndexParams:
    """How an index is built; a change of any of these means a rebuild."""

    kind: str = "hnsw"
    hnsw_m: int = 32
    ef_construction: int = 200

    def factory(self, dim: int, count: int) -> str:
        """The FAISS index_factory string for ``count`` vectors of ``dim`` dimensions."""
        if self.kind == "flat":
            return "Flat"
        if self.kind == "hnsw":
            return f"HNSW{self.hnsw_m},Flat"
        if self.kind == "hnsw-sq8":
            return f"HNSW{self.hnsw_m},SQ8"
        return f"IVF{ivf_lists(count)},PQ{pq_subvectors(dim)}x4fs"


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
    vectors_file: str = ""  # the float32 copies of a compressed kind's vectors, in index order
    codes_file: str = ""  # IVF-PQ: 8-bit codes of the same vectors, in index order, for the screen
    code_ranges: list[float] = field(default_factory=list)  # the screen's quantizer (per-dimension ranges)

    def current_for(self, generation: int) -> bool:
        """True when the catalog has not changed since this sidecar was written."""
        return self.generation == generation

    def files(self) -> set[str]:
        """The names of the files beside the sidecar that it points at."""
        return {self.index_file, self.vectors_file, self.codes_file} - {""}


def sidecar_path(state_dir: Path, model: str, pretrained: str) -> Path:
    """One index per (model, weights): a readable slug plus a short hash against collisions."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model}-{pretrained}")[:60]
    digest = hashlib.blake2b(f"{model}\0{pretrained}".encode(), digest_size=4).hexdigest()
    return state_dir / f"index-{slug}-{digest}.json"


class VectorIndex:
    """A loaded FAISS index (``IndexIDMap`` over one of the kinds) plus its sidecar."""

    def __init__(
        self,
        index: faiss.IndexIDMap,
        meta: IndexMeta,
        exact: MappedRows | None = None,
        codes: MappedRows | None = None,
    ) -> None:
        self.index = index
        self.meta = meta
        self.exact = exact  # row i: the float32 vector of the i-th label (compressed kinds)
        self.codes = codes  # row i: its 8-bit screening code (IVF-PQ)
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
        if len(labels):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), labels.astype(np.int64))
        self._labels = self._positions = None
        self.meta = dataclasses.replace(self.meta, count=int(self.index.ntotal))

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

    def vectors_at(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(labels, float32 vectors) of these rows of the index, in file order (neighbours share
        pages), from the vector file; None without one."""
        if self.exact is None:
            return None
        rows = np.sort(rows)
        return self.labels()[rows], self.exact.prefetched(rows)

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
        blank frames). The row files are compared bit for bit.
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
        if self.exact is not None:  # the re-rank's copies must be the catalog's vectors, bit for bit
            damaged |= np.any(self.exact.array[at] != vectors, axis=1)
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
            try:
                index = faiss.read_index(str(sidecar.parent / meta.index_file), flags)
            except RuntimeError:
                continue
            if index.ntotal == meta.count and index.d == meta.dim and hasattr(index, "id_map"):
                exact = codes = None
                if meta.vectors_file:
                    exact = FLOAT32.open_rows(sidecar.parent / meta.vectors_file, meta.count, meta.dim)
                if meta.codes_file:
                    codes = SQ8.open_rows(sidecar.parent / meta.codes_file, meta.count, meta.dim)
                return cls(typing.cast(faiss.IndexIDMap, index), meta, exact, codes)
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
        """``search``, answering with the matches' rows in the index (and its row files) rather
        than their labels: a re-rank then reads codes and vectors without looking labels up.
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
        # faiss's bundled type stubs predate these parameter classes; they are there at run time.
        kind = self.meta.params.kind
        if kind in ("hnsw", "hnsw-sq8"):
            return faiss.SearchParametersHNSW(efSearch=max(ef_search, k))  # type: ignore[attr-defined]
        if kind == "ivf-pq":
            probes = min(self.nlist, nprobe or default_nprobe(self.nlist))
            return faiss.SearchParametersIVF(nprobe=probes)  # type: ignore[attr-defined]
        return faiss.SearchParameters()

    @property
    def nlist(self) -> int:
        """Inverted lists of an IVF index (0 for the graph and flat kinds)."""
        ivf = faiss.try_extract_index_ivf(self.index.index)
        return int(ivf.nlist) if ivf is not None else 0


@dataclass
class IndexReport(JsonReport):
    """What ``build_index`` did; ``count`` is the live vectors the index answers with."""

    count: int = 0
    added: int = 0
    rebuilt: bool = False
    stale: int = 0
    kind: str | None = None
    seconds: float = 0.0


@dataclass
class IndexStatus(JsonReport):
    exists: bool
    count: int
    live: int
    stale: int
    unindexed: int
    kind: str | None

    @property
    def current(self) -> bool:
        """Every live vector is indexed (stale ones are filtered at query time until a rebuild)."""
        return self.exists and self.unindexed == 0


@dataclass(frozen=True)
class IndexSettings:
    """What the settings ask of an index: a kind (or ``auto``), whether the user named it, and the rest."""

    kind: str = "auto"
    kind_named: bool = False
    hnsw_m: int = 32
    ef_construction: int = 200
    memory_budget: int = 4 << 30
    rebuild_share: float = 0.10


@dataclass(frozen=True)
class _Liveness:
    """Which of the index's labels are no longer live, and which live labels it lacks."""

    stale: np.ndarray
    unindexed: np.ndarray


class LibraryIndex:
    """One model's index, kept in step with the catalog: sync, search with filters, status.

    The committed index is loaded (memory-mapped) once per sidecar version and reused by
    every query until a writer commits a new one.
    """

    def __init__(self, catalog: Catalog, sidecar: Path, model: ModelRow, settings: IndexSettings) -> None:
        self.catalog = catalog
        self.sidecar = sidecar
        self.model = model
        self.settings = settings
        self._loaded: tuple[tuple[int, int, int], VectorIndex | None] | None = None
        # The liveness worked out from the catalog for an index that no longer matches it: kept
        # until either changes (reading every live label costs seconds at 10M images).
        self._outdated: tuple[int, VectorIndex | None, _Liveness] | None = None

    # -- reading --------------------------------------------------------------------------

    def committed(self) -> VectorIndex | None:
        """The committed index, or None when there is none yet."""
        try:
            info = self.sidecar.stat()
            version = (info.st_ino, info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            version = (0, 0, 0)
        if self._loaded is None or self._loaded[0] != version:
            self._loaded = (version, VectorIndex.load(self.sidecar) if version != (0, 0, 0) else None)
        return self._loaded[1]

    def _liveness(self, index: VectorIndex | None) -> _Liveness:
        """From the sidecar when it matches the catalog (no scan of every label), else from the
        catalog, once per catalog generation and committed index."""
        generation = self.catalog.generation()
        if index is not None and index.meta.current_for(generation):
            return _Liveness(np.array(index.meta.stale, dtype=np.int64), np.zeros(0, np.int64))
        known = self._outdated
        if known is not None and known[0] == generation and known[1] is index:
            return known[2]
        live = self.catalog.live_labels(self.model.id)
        if index is None:
            found = _Liveness(np.zeros(0, np.int64), live)
        else:
            held = np.sort(index.labels())
            found = _Liveness(
                np.setdiff1d(held, live, assume_unique=True), np.setdiff1d(live, held, assume_unique=True)
            )
        self._outdated = (generation, index, found)
        return found

    def status(self) -> IndexStatus:
        """Counts of the committed index against the catalog; no label scan when it is current."""
        index = self.committed()
        found = self._liveness(index)
        count = index.meta.count if index is not None else 0
        return IndexStatus(
            exists=index is not None,
            count=count,
            live=count - len(found.stale) + len(found.unindexed),
            stale=len(found.stale),
            unindexed=len(found.unindexed),
            kind=index.meta.params.kind if index is not None else None,
        )

    def nearest(
        self,
        query: np.ndarray,
        k: int,
        ef_search: int = 0,
        allowed: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
        nprobe: int = 0,
        rerank: int = 0,
        ties: int = 0,
    ) -> list[tuple[float, int]]:
        """(exact score, label) of the best live vectors, best first, up to k of them (and ``ties``
        more, for the caller to break equal scores at the k-th place; the work stays sized by k).

        ``allowed`` (live labels matching a filter) restricts the search, ``excluded`` drops
        labels. Vectors not yet indexed, and filtered sets of up to ``EXACT_FILTER_LIMIT``,
        are scored exactly from the catalog.
        """
        index = self.committed()
        found = self._liveness(index)
        excluded = np.zeros(0, np.int64) if excluded is None else excluded
        if allowed is not None:
            allowed = np.setdiff1d(allowed, excluded)
        exact_only = allowed is not None and len(allowed) <= EXACT_FILTER_LIMIT
        candidates: list[tuple[float, int]] = []
        if index is not None and index.meta.count and not exact_only:
            candidates += self._from_index(index, query, k, ef_search, allowed, found, excluded, nprobe, rerank, ties)
        if exact_only:
            assert allowed is not None
            scored_exactly = allowed
        elif allowed is not None:
            scored_exactly = np.intersect1d(allowed, found.unindexed, assume_unique=True)
        else:
            scored_exactly = np.setdiff1d(found.unindexed, excluded)
        if len(scored_exactly) > MAX_EXACT_UNINDEXED:
            raise LibraryError(f"{len(scored_exactly)} images are not in the index yet; run 'imrec build-index' first")
        candidates += self._exact_scores(query, scored_exactly, k + ties)
        candidates.sort(key=lambda item: (-item[0], item[1]))
        return candidates[: k + ties]

    def _from_index(
        self,
        index: VectorIndex,
        query: np.ndarray,
        k: int,
        ef_search: int,
        allowed: np.ndarray | None,
        found: _Liveness,
        excluded: np.ndarray,
        nprobe: int,
        rerank: int,
        ties: int = 0,
    ) -> list[tuple[float, int]]:
        """The index's best k (and ``ties`` more), re-scored exactly when its codes are compressed.

        An IVF search restricted to a filter may find fewer than k allowed vectors in the
        lists it visits; it then visits four times as many, up to all of them.
        """
        compressed = index.meta.params.kind in COMPRESSED_KINDS
        wanted = max(k + ties, rerank or default_rerank(index.meta.params.kind, index.meta.count))
        dropped = None if allowed is not None else np.union1d(found.stale, excluded)
        reachable = len(allowed) if allowed is not None else index.meta.count - len(dropped)
        probes = nprobe or default_nprobe(index.nlist)
        beam = ef_search or default_ef_search(index.meta.count)
        while True:
            scores, rows = index.search_rows(query, wanted, beam, exclude=dropped, allow=allowed, nprobe=probes)
            keep = rows[0] >= 0
            if keep.sum() >= min(k, reachable) or not index.nlist or probes >= index.nlist:
                break
            probes = min(index.nlist, probes * 4)
        rows = rows[0][keep]
        if compressed:
            rows = index.screened(query, rows, screen_size(k))
            return self._exact_scores(query, index.labels()[rows], k + ties, self.vectors_at(index, rows))
        return list(zip(scores[0][keep].astype(float).tolist(), index.labels()[rows].tolist(), strict=True))

    def _exact_scores(
        self,
        query: np.ndarray,
        labels: np.ndarray,
        k: int,
        copies: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[tuple[float, int]]:
        """The k best of these labels by exact score (best first, ties by label): from ``copies``
        (labels, vectors) read from the index's vector file, else from the catalog (vectors not
        indexed yet, an index written before vector files)."""
        if not len(labels):
            return []
        # From the catalog in label order, which is file order: fewer page reads.
        found, vectors = copies if copies is not None else self.catalog.vectors_by_labels(np.sort(labels).tolist())
        if not len(found):
            return []
        scores = vectors @ query.reshape(-1)
        best = np.lexsort((found, -scores))[:k]
        return list(zip(scores[best].astype(float).tolist(), found[best].tolist(), strict=True))

    def vectors_at(self, index: VectorIndex, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(labels, float32 vectors) of these rows from the index's vector file, every row checked:
        one that is not of unit length (damaged bytes; its cosines could pass 1) is replaced by
        the catalog's vector, and the index is marked for a rebuild by the next writer."""
        copies = index.vectors_at(rows)
        if copies is None:
            return None
        labels, vectors = copies
        with np.errstate(invalid="ignore", over="ignore"):
            bad = ~(np.abs(np.linalg.norm(vectors, axis=1) - 1) <= UNIT_TOLERANCE)
        if not bad.any():
            return copies
        self.mark_for_repair()
        held, fresh = self.catalog.vectors_by_labels(labels[bad].tolist())
        return np.concatenate([labels[~bad], held]), np.concatenate(
            [vectors[~bad], fresh.reshape(-1, vectors.shape[1])]
        )

    def mark_for_repair(self) -> None:
        """Ask the next ``sync`` to rebuild (a search found damaged rows; searches never write the index)."""
        with contextlib.suppress(OSError):
            repair_marker(self.sidecar).touch()

    def damage(self, sample: int) -> int:
        """How many of a random sample of the committed index's live vectors differ from the catalog's."""
        index = self.committed()
        return _damage(self.catalog, index, self._liveness(index).stale, sample) if index else 0

    def damage_everywhere(self, sample: int) -> int:
        """How many live vectors differ from the catalog's: every row of the vector and code files
        and every decodable stored vector, compared in chunks; IVF-PQ's rank check on a sample."""
        index = self.committed()
        if index is None:
            return 0
        stale = self._liveness(index).stale
        live = np.setdiff1d(index.labels(), stale)
        found = sum(
            index.differing(*self.catalog.vectors_by_labels(chunk.tolist()), ranked=False) for chunk in _chunks(live)
        )
        return found + (_damage(self.catalog, index, stale, sample) if index.nlist else 0)

    # -- writing --------------------------------------------------------------------------

    def sync(self, rebuild: bool = False, check_sample: int = 64) -> IndexReport:
        """Bring the index up to date: nothing when the catalog is unchanged, an add of the new
        vectors when few went stale, else a rebuild (streamed from the catalog in chunks).

        A rebuild also follows a change of kind (asked for, or ``auto`` crossing a size
        class), of the graph parameters, an IVF library grown ``RETRAIN_GROWTH`` times past
        its training, and damaged index bytes.
        """
        started = time.perf_counter()
        generation = self.catalog.generation()
        repair = repair_marker(self.sidecar)
        rebuild = rebuild or repair.exists()
        unchanged = None if rebuild else self._unchanged(generation, check_sample)
        if unchanged is not None:
            return unchanged
        live = self.catalog.live_labels(self.model.id)
        meta = None if rebuild else read_meta(self.sidecar)
        chosen = self._chosen(meta)
        params = self._params(chosen, len(live))
        # The whole index is loaded only to be kept: a change of kind decides from the sidecar alone.
        keeps = meta is not None and self._keeps(meta, params, chosen, len(live))
        existing = VectorIndex.load(self.sidecar, writable=True) if keeps else None
        if existing is not None:
            held = np.sort(existing.labels())
            stale = np.setdiff1d(held, live, assume_unique=True)
            missing = np.setdiff1d(live, held, assume_unique=True)
            intact = not _damage(self.catalog, existing, stale, check_sample)
            if intact and len(stale) <= self.settings.rebuild_share * max(len(held), 1):
                self._add(existing, missing)
                existing.mark_current(generation, stale)
                existing.save(self.sidecar, vectors_changed=bool(len(missing)))
                seconds = time.perf_counter() - started
                return IndexReport(
                    existing.meta.count - len(stale), len(missing), False, len(stale), params.kind, seconds
                )
        if len(live) == 0:
            remove_index(self.sidecar)
            return IndexReport()
        built = self._build(live, params, chosen)
        built.mark_current(generation, np.zeros(0, np.int64))
        built.save(self.sidecar)
        repair.unlink(missing_ok=True)
        return IndexReport(built.meta.count, len(live), True, 0, params.kind, time.perf_counter() - started)

    def _unchanged(self, generation: int, check_sample: int) -> IndexReport | None:
        """The report of an index that already matches the catalog and the settings, read from its
        sidecar alone (no label scan of the catalog); None when there is work to do."""
        index = self.committed()
        if index is None or not index.meta.current_for(generation):
            return None
        stale = np.array(index.meta.stale, dtype=np.int64)
        count = index.meta.count - len(stale)
        chosen = self._chosen(index.meta)
        params = self._params(chosen, count)
        if not self._keeps(index.meta, params, chosen, count) or _damage(self.catalog, index, stale, check_sample):
            return None
        return IndexReport(count, 0, False, len(stale), params.kind)

    def _chosen(self, meta: IndexMeta | None) -> str:
        """The kind asked for: named now, else what the index was last built as asked, else auto."""
        if self.settings.kind_named or meta is None:
            return self.settings.kind
        return meta.chosen

    def _params(self, chosen: str, count: int) -> IndexParams:
        s = self.settings
        kind = choose_kind(count, self.model.dim, s.memory_budget, s.hnsw_m) if chosen == "auto" else chosen
        return IndexParams(kind, s.hnsw_m, s.ef_construction)

    def _keeps(self, meta: IndexMeta, params: IndexParams, chosen: str, count: int) -> bool:
        """Whether an index built as ``meta`` still serves: same kind and parameters, an IVF not
        outgrown, and a compressed kind's row files whole (an index written before them, or a
        file cut short, means a rebuild from the catalog's vectors)."""
        if meta.params != params or meta.dim != self.model.dim or meta.chosen != chosen:
            return False
        folder = self.sidecar.parent
        if params.kind in COMPRESSED_KINDS and not (
            meta.vectors_file and FLOAT32.usable(folder / meta.vectors_file, meta.count, meta.dim)
        ):
            return False
        if params.kind != "ivf-pq":
            return True
        screened = meta.codes_file and SQ8.usable(folder / meta.codes_file, meta.count, meta.dim)
        return bool(screened) and count <= RETRAIN_GROWTH * max(meta.trained_on, 1)

    def _add(self, index: VectorIndex, labels: np.ndarray) -> None:
        """Add these labels' vectors to the index chunk by chunk, and (compressed kinds) their
        float32 copies and screening codes to its row files, in the same order: row i stays the
        i-th label's."""
        if index.meta.params.kind not in COMPRESSED_KINDS:
            for chunk in _chunks(labels):
                index.add(*self.catalog.vectors_by_labels(chunk.tolist()))
            return
        index.meta = _with_row_files(index.meta, self.sidecar.stem, screened=index.screens)
        folder, count, dim = self.sidecar.parent, index.meta.count, index.meta.dim
        path = folder / index.meta.vectors_file
        try:
            with contextlib.ExitStack() as files:
                append_vectors = files.enter_context(FLOAT32.appending(path, count, dim))
                append_codes = None
                if index.meta.codes_file:
                    path = folder / index.meta.codes_file
                    append_codes = files.enter_context(SQ8.appending(path, count, dim))
                for chunk in _chunks(labels):
                    found, vectors = self.catalog.vectors_by_labels(chunk.tolist())
                    index.add(found, vectors)
                    append_vectors(vectors)
                    if append_codes is not None:
                        append_codes(index.screen_codes(vectors))
        except OSError as exc:
            raise LibraryError(
                f"{path}: could not write the index's vectors ({exc}); the previous index is kept"
            ) from None

    def _build(self, live: np.ndarray, params: IndexParams, chosen: str) -> VectorIndex:
        """A new index of the live vectors: trained on a random sample, then filled chunk by chunk."""
        row = self.model
        built = VectorIndex.empty(params, row.name, row.pretrained, row.dim, len(live))
        sample = built.training_sample(live)
        if len(sample):
            built.train(self.catalog.vectors_by_labels(sample.tolist())[1])
        try:
            self._add(built, live)
        except BaseException:
            for name in built.meta.files() - {built.meta.index_file}:  # never committed: nothing else knows them
                with contextlib.suppress(OSError):
                    (self.sidecar.parent / name).unlink()
            raise
        built.meta = dataclasses.replace(built.meta, chosen=chosen, trained_on=len(live))
        return built


def _damage(catalog: Catalog, index: VectorIndex, stale: np.ndarray, sample: int) -> int:
    """How many of a random sample of the index's live vectors differ from the catalog's."""
    held = index.labels()
    if not len(held) or sample <= 0:
        return 0
    picks = held[np.random.default_rng().choice(len(held), size=min(2 * sample, len(held)), replace=False)]
    picks = picks[~np.isin(picks, stale)][:sample]
    return index.differing(*catalog.vectors_by_labels(picks.tolist())) if len(picks) else 0


def _with_row_files(meta: IndexMeta, stem: str, screened: bool) -> IndexMeta:
    """``meta`` with new, unique names for the row files it lacks (the codes file only when screened)."""
    names = {
        "vectors_file": meta.vectors_file or f"{stem}-{uuid.uuid4().hex[:12]}{FLOAT32.suffix}",
        "codes_file": meta.codes_file or (f"{stem}-{uuid.uuid4().hex[:12]}{SQ8.suffix}" if screened else ""),
    }
    return dataclasses.replace(meta, **names)


def _screen_quantizer(dim: int) -> faiss.IndexScalarQuantizer:
    """An untrained 8-bit scalar quantizer scoring by inner product, IVF-PQ's screen."""
    return faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)


def _chunks(labels: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(labels), BUILD_CHUNK):
        yield labels[start : start + BUILD_CHUNK]


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
    if not all(
        name == "" or _named_beside(sidecar, name, suffix)
        for name, suffix in ((meta.vectors_file, FLOAT32.suffix), (meta.codes_file, SQ8.suffix))
    ):
        return None
    if meta.params.kind not in BUILT_KINDS or not _valid_ranges(meta):
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
    """Delete index and vector files a crash left behind (written but never committed)."""
    for suffix in (".faiss", *(form.suffix for form in row_files.FORMATS)):
        for stray in sidecar.parent.glob(f"{sidecar.stem}-*{suffix}"):
            if stray.name not in keep:
                with contextlib.suppress(OSError):
                    stray.unlink()
