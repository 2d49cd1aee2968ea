"""The SQLite catalog: the only module that speaks SQL.

One row per file in ``images`` (relative POSIX path, size, mtime, content fingerprint,
state), one row per (image, model) in ``vectors``. A vector row's own id is its FAISS
label: ids are AUTOINCREMENT so a label is never reused, which lets an index tell a
replaced vector from the current one without rebuilding. The seed's table
``images(id, filepath, vector_blob, faiss_index_offset)`` is kept as the view
``seed_images``.
"""

from image_recommender.catalog.rows import (
    STATES,
    EmbedResult,
    FileStat,
    ImageRow,
    ModelRow,
    RetiredVector,
    WalkDifferences,
)
from image_recommender.catalog.schema import SCHEMA_VERSION
from image_recommender.catalog.store import Catalog, blob_to_vector, vector_to_blob

__all__ = [
    "SCHEMA_VERSION",
    "STATES",
    "Catalog",
    "EmbedResult",
    "FileStat",
    "ImageRow",
    "ModelRow",
    "RetiredVector",
    "WalkDifferences",
    "blob_to_vector",
    "vector_to_blob",
]
