"""Index kinds and their policy: which kind a library gets, and the search and build parameters
measured for each (docs/benchmarks.md, section 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SIDECAR_VERSION = 1


BUILT_KINDS = ("flat", "hnsw", "hnsw-sq8", "ivf-pq", "ivf-disk")


COMPRESSED_KINDS = frozenset({"hnsw-sq8", "ivf-pq", "ivf-disk"})


IVF_KINDS = frozenset({"ivf-pq", "ivf-disk"})


AUTO_EF_SEARCH_LIMIT = 200_000


# The sizes up to which ``auto`` keeps the more exact kinds (docs/benchmarks.md, section 7):
# HNSW over float32 up to HNSW_UP_TO images, HNSW over SQ8 codes up to SQ8_UP_TO, IVF-PQ beyond
# (and IVF lists on disk past the memory budget).
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
_INTACT_SIMILARITY = {"flat": 0.9999, "hnsw": 0.9999, "hnsw-sq8": 0.99, "ivf-pq": 1.0, "ivf-disk": 1.0}


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


def default_rerank(kind: str, count: int, k: int = 10) -> int:
    """Candidates a compressed index proposes for the exact re-rank (0: its own scores are exact).

    SQ8 codes rank almost exactly, so 100 suffice for a graph, and an IVF over SQ8 codes
    (``ivf-disk``) proposes only what the screen would keep. 4-bit PQ codes only rank roughly,
    and the true neighbours hide among more look-alikes the larger the library, so the re-rank
    grows with it. On clustered CLIP-like vectors, 400 candidates hold 0.985 of the top 10 at
    1M images but 0.950 at 2M; 1,000 hold 1.000 and 0.996, 2,000 hold 1.000 at 2M
    (docs/benchmarks.md, section 7).
    """
    if kind == "hnsw-sq8":
        return 100
    if kind == "ivf-disk":
        return screen_size(k)
    if kind == "ivf-pq":
        low, high = IVF_RERANK_BOUNDS
        return int(min(high, max(low, count // IVF_RERANK_SHARE)))
    return 0


def screen_size(k: int) -> int:
    """How many screened candidates are re-scored from the catalog's float32 vectors for k results."""
    return max(SCREEN_MIN, SCREEN_PER_RESULT * k)


def ivf_lists(count: int) -> int:
    """Inverted lists for ``count`` vectors: a power of two near 4 * sqrt(count), at most one per
    256 vectors (a small library is searched almost whole), 1 to 65,536 (16,384 up to 17M
    vectors, 32,768 at 100M)."""
    wanted = min(4 * math.sqrt(max(count, 1)), count / 256, 65_536.0)
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
    centroids = ivf_lists(count) * 4 * dim / max(count, 1)
    if kind == "ivf-disk":  # the label map; the lists are page cache
        return 8 + centroids
    return pq_subvectors(dim) / 2 + 16 + centroids


def choose_kind(count: int, dim: int, memory_budget: int, hnsw_m: int = 32) -> str:
    """``auto``'s pick: the most exact kind whose size class and memory fit; past the budget of
    IVF-PQ's lists (held in memory: about 20M images in 4 GB at 768-d), lists left on disk."""
    for kind, limit in (("hnsw", HNSW_UP_TO), ("hnsw-sq8", SQ8_UP_TO)):
        if count <= limit and count * bytes_per_vector(kind, dim, count, hnsw_m) <= memory_budget:
            return kind
    return ivf_kind(count, dim, memory_budget)


def ivf_kind(count: int, dim: int, memory_budget: int) -> str:
    """``ivf-pq`` while its lists fit the memory budget, else ``ivf-disk``."""
    return "ivf-pq" if count * bytes_per_vector("ivf-pq", dim, count) <= memory_budget else "ivf-disk"


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
        if self.kind == "ivf-disk":
            return f"IVF{ivf_lists(count)},SQ8"
        return f"IVF{ivf_lists(count)},PQ{pq_subvectors(dim)}x4fs"
