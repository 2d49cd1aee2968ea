"""Image similarity search and recommendation over a folder of images.

OpenCLIP embeddings, a SQLite catalog and a FAISS HNSW index; see ``Library``.
"""

from image_recommender.duplicates.finding import DuplicateGroup
from image_recommender.errors import ImrecError
from image_recommender.library import Library, SearchResponse, UpdateSummary
from image_recommender.search import SearchResult, Term

__all__ = ["DuplicateGroup", "ImrecError", "Library", "SearchResponse", "SearchResult", "Term", "UpdateSummary"]
__version__ = "0.1.0"
