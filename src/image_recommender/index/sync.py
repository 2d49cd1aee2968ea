"""A model's index kept in step with the catalog: sync (add or rebuild), filtered search, damage
checks and status.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from image_recommender.catalog.rows import ModelRow
from image_recommender.catalog.store import Catalog
from image_recommender.errors import LibraryError
from image_recommender.index.kinds import (
    BUILD_CHUNK,
    COMPRESSED_KINDS,
    EXACT_FILTER_LIMIT,
    IVF_KINDS,
    MAX_EXACT_UNINDEXED,
    RETRAIN_GROWTH,
    IndexParams,
    choose_kind,
    default_ef_search,
    default_nprobe,
    default_rerank,
    ivf_kind,
    screen_size,
)
from image_recommender.index.row_files import SQ8
from image_recommender.index.storage import (
    IndexMeta,
    VectorIndex,
    read_meta,
    remove_index,
    repair_marker,
    with_codes_file,
)
from image_recommender.reports import JsonReport


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
            scored_exactly = _without(found.unindexed, excluded)
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
        """The index's best k (and ``ties`` more), re-scored exactly from the catalog's vectors when
        its codes are compressed (IVF-PQ's candidates first screened by their 8-bit codes).

        An IVF search restricted to a filter may find fewer than k allowed vectors in the
        lists it visits; it then visits four times as many, up to all of them.
        """
        compressed = index.meta.params.kind in COMPRESSED_KINDS
        wanted = max(k + ties, rerank or default_rerank(index.meta.params.kind, index.meta.count, k))
        dropped = None
        if allowed is not None:
            reachable = len(allowed)
        else:
            dropped = _union(found.stale, excluded)
            reachable = index.meta.count - len(dropped)
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
            return self._exact_scores(query, index.labels()[rows], k + ties)
        return list(zip(scores[0][keep].astype(float).tolist(), index.labels()[rows].tolist(), strict=True))

    def _exact_scores(self, query: np.ndarray, labels: np.ndarray, k: int) -> list[tuple[float, int]]:
        """The k best of these labels by their catalog vectors' exact scores (best first, ties by label)."""
        if not len(labels):
            return []
        # From the catalog in label order, which is file order: fewer page reads.
        found, vectors = self.catalog.vectors_by_labels(np.sort(labels).tolist())
        if not len(found):
            return []
        scores = vectors @ query.reshape(-1)
        best = np.lexsort((found, -scores))[:k]
        return list(zip(scores[best].astype(float).tolist(), found[best].tolist(), strict=True))

    def damage(self, sample: int) -> int:
        """How many of a random sample of the committed index's live vectors differ from the catalog's."""
        index = self.committed()
        return _damage(self.catalog, index, self._liveness(index).stale, sample) if index else 0

    def damage_everywhere(self, sample: int) -> int:
        """How many live vectors differ from the catalog's: every row of the codes file and every
        decodable stored vector, compared in chunks; IVF-PQ's rank check on a sample. Damage
        found asks the next writer to rebuild (a sample's check could miss one damaged row)."""
        index = self.committed()
        if index is None:
            return 0
        stale = self._liveness(index).stale
        live = np.setdiff1d(index.labels(), stale)
        found = sum(index.differing(labels, vectors, ranked=False) for labels, vectors in self._vectors_of(live))
        found += _damage(self.catalog, index, stale, sample) if index.nlist else 0
        if found:
            with contextlib.suppress(OSError):
                repair_marker(self.sidecar).touch()
        return found

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
        if index.meta.vectors_file:  # an earlier release's float32 copy: the next commit drops it
            return None
        if not self._keeps(index.meta, params, chosen, count) or _damage(self.catalog, index, stale, check_sample):
            return None
        return IndexReport(count, 0, False, len(stale), params.kind)

    def _chosen(self, meta: IndexMeta | None) -> str:
        """The kind asked for: named now, else what the index was last built as asked, else auto."""
        if self.settings.kind_named or meta is None:
            return self.settings.kind
        return meta.chosen

    def _params(self, chosen: str, count: int) -> IndexParams:
        """The kind to build: ``auto``'s pick, or the one named (``ivf-pq`` past the memory budget
        keeps its lists on disk: ``ivf-disk``)."""
        s = self.settings
        if chosen == "auto":
            kind = choose_kind(count, self.model.dim, s.memory_budget, s.hnsw_m)
        elif chosen == "ivf-pq":
            kind = ivf_kind(count, self.model.dim, s.memory_budget)
        else:
            kind = chosen
        return IndexParams(kind, s.hnsw_m, s.ef_construction)

    def _keeps(self, meta: IndexMeta, params: IndexParams, chosen: str, count: int) -> bool:
        """Whether an index built as ``meta`` still serves: same kind and parameters, an IVF not
        outgrown, and IVF-PQ's codes file whole (an index written before it, or a file cut short,
        means a rebuild from the catalog's vectors)."""
        if meta.params != params or meta.dim != self.model.dim or meta.chosen != chosen:
            return False
        if params.kind not in IVF_KINDS:
            return True
        screened = params.kind == "ivf-disk" or (
            meta.codes_file and SQ8.usable(self.sidecar.parent / meta.codes_file, meta.count, meta.dim)
        )
        return bool(screened) and count <= RETRAIN_GROWTH * max(meta.trained_on, 1)

    def _add(self, index: VectorIndex, labels: np.ndarray) -> None:
        """Add these labels' vectors to the index chunk by chunk, and (IVF-PQ) their screening
        codes to its codes file, in the same order: row i stays the i-th label's."""
        index.meta = dataclasses.replace(index.meta, vectors_file="")  # an earlier release's copy goes
        if index.meta.params.kind == "ivf-disk":
            try:
                index.add_on_disk(self.sidecar.parent, self.sidecar.stem, self._vectors_of(labels))
            except (OSError, RuntimeError) as exc:
                raise LibraryError(
                    f"{self.sidecar.parent}: could not write the index's lists ({exc}); the previous index is kept"
                ) from None
            return
        if not index.screens:
            for found, vectors in self._vectors_of(labels):
                index.add(found, vectors)
            return
        index.meta = with_codes_file(index.meta, self.sidecar.stem)
        path = self.sidecar.parent / index.meta.codes_file
        try:
            with SQ8.appending(path, index.meta.count, index.meta.dim) as append_codes:
                for found, vectors in self._vectors_of(labels):
                    index.add(found, vectors)
                    append_codes(index.screen_codes(vectors))
        except OSError as exc:
            raise LibraryError(
                f"{path}: could not write the index's screening codes ({exc}); the previous index is kept"
            ) from None

    def _vectors_of(self, labels: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(labels found, their catalog vectors), ``BUILD_CHUNK`` at a time: never all in memory."""
        for chunk in _chunks(labels):
            yield self.catalog.vectors_by_labels(chunk.tolist())

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


# A search by id or text calls no np.unique (np.setdiff1d and np.union1d without assume_unique):
# NumPy 2.4's unique imports its masked-array module on first use, 8 ms of every cold search.


def _union(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The sorted labels in either array, each once."""
    both = np.sort(np.concatenate((first, second)))
    return both[np.concatenate(([True], both[1:] != both[:-1]))] if len(both) else both


def _without(labels: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    """``labels`` (each once) less those in ``dropped``, in their order."""
    if not len(labels) or not len(dropped):
        return labels
    ordered = np.sort(dropped)
    at = np.searchsorted(ordered, labels).clip(max=len(ordered) - 1)
    return labels[ordered[at] != labels]


def _damage(catalog: Catalog, index: VectorIndex, stale: np.ndarray, sample: int) -> int:
    """How many of a random sample of the index's live vectors differ from the catalog's."""
    held = index.labels()
    if not len(held) or sample <= 0:
        return 0
    picks = held[np.random.default_rng().choice(len(held), size=min(2 * sample, len(held)), replace=False)]
    picks = picks[~np.isin(picks, stale)][:sample]
    return index.differing(*catalog.vectors_by_labels(picks.tolist())) if len(picks) else 0


def _chunks(labels: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(labels), BUILD_CHUNK):
        yield labels[start : start + BUILD_CHUNK]
