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
