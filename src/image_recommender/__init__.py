"""Image similarity search and recommendation over a folder of images.

OpenCLIP embeddings, a SQLite catalog and a FAISS HNSW index; see ``Library``.

The public names are imported on first use (PEP 562): importing every room for
``from image_recommender import Library`` cost each cold ``imrec`` command 0.25 s of the
0.6 s a ``search --like-id`` took, whatever the command needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from image_recommender.duplicates.finding import DuplicateGroup
    from image_recommender.errors import ImrecError
    from image_recommender.library import Library, SearchResponse, UpdateSummary
    from image_recommender.search import SearchResult, Term

__all__ = ["DuplicateGroup", "ImrecError", "Library", "SearchResponse", "SearchResult", "Term", "UpdateSummary"]
__version__ = "0.1.0"

_HOMES = {
    "DuplicateGroup": "image_recommender.duplicates.finding",
    "ImrecError": "image_recommender.errors",
    "Library": "image_recommender.library",
    "SearchResponse": "image_recommender.library",
    "UpdateSummary": "image_recommender.library",
    "SearchResult": "image_recommender.search",
    "Term": "image_recommender.search",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'image_recommender' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
