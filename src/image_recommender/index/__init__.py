"""FAISS indexes over one model's vectors, kept in step with the catalog.

Five kinds, chosen by the library's size and a memory budget (``choose_kind``):

- ``flat``: exact search over float32 vectors.
- ``hnsw``: an HNSW graph over float32 vectors; its scores are exact.
- ``hnsw-sq8``: the same graph over 8-bit scalar codes (a quarter of the memory).
- ``ivf-pq``: inverted lists holding 4-bit product-quantizer codes (fast-scan), a few dozen
  bytes per image; the lists to visit are found by exact search over their centroids (an
  HNSW graph over centroids misses whole clusters of CLIP-like vectors, docs/benchmarks.md).
- ``ivf-disk``: inverted lists of 8-bit scalar codes that stay on disk, memory-mapped
  (``on_disk``): a search process holds the centroids and the label map, about 8 bytes an
  image; built in shards and merged, so no build holds all codes in memory. What ``auto``
  and ``ivf-pq`` become once IVF-PQ's lists would not fit the memory budget.

The catalog holds the one float32 copy of every vector. The compressed kinds only propose
candidates, whose exact scores come from the catalog's vectors (``LibraryIndex.nearest``), so
recall comes from the re-rank, not from the codes. IVF-PQ's thousands of candidates are first
screened with 8-bit codes kept in a row file beside it (``row_files``), small enough to stay
in the page cache, so that only a few dozen vectors are read per query; ivf-disk's own scores
are those codes'. Labels are the catalog's vector ids. Indexes cannot delete, so labels that
are no longer live are excluded at search time with an ``IDSelector``.

Saving writes a new, uniquely named index file (and lists file) and then atomically replaces
the small JSON sidecar that points at it: the sidecar's rename is the commit, so a crash (even
during a long build) never leaves a half-written index in use. A codes file is appended to
(its rows fsynced) before the sidecar that counts them is committed.
"""

from image_recommender.index.kinds import COMPRESSED_KINDS, IndexParams, choose_kind
from image_recommender.index.storage import IndexMeta, VectorIndex, read_meta, remove_index, sidecar_path
from image_recommender.index.sync import IndexReport, IndexSettings, IndexStatus, LibraryIndex

__all__ = [
    "COMPRESSED_KINDS",
    "IndexMeta",
    "IndexParams",
    "IndexReport",
    "IndexSettings",
    "IndexStatus",
    "LibraryIndex",
    "VectorIndex",
    "choose_kind",
    "read_meta",
    "remove_index",
    "sidecar_path",
]
