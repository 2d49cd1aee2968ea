"""What every part of ``Catalog`` shares: the connection, the transaction, keys asked in chunks.

``Catalog`` (store.py) is made of one part per group of tables, each in a module of its own
(texts, places, themes, albums, videos, faces); each part speaks SQL only for its tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np

# SQLite's limit on the parameters of one statement is 999 in old builds: keys go 900 at a time.
KEYS_AT_ONCE = 900


# What a file's metadata sets (a picture's EXIF, a video's container tags); its place is named again.
METADATA_UPDATE = (
    "UPDATE images SET taken_at=?, taken_offset=?, taken_from=?, camera=?, latitude=?, longitude=?,"
    " place_id=NULL, place_checked=0 WHERE id=?"
)


def vector_to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def blob_to_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def joined_labels(joined: str | None) -> np.ndarray:
    """Labels from SQLite's group_concat: one string, cheaper than a Python tuple per row."""
    return np.array(joined.split(","), dtype=np.int64) if joined else np.zeros(0, dtype=np.int64)


class Tables:
    """The connection a part of the catalog speaks through."""

    _db: sqlite3.Connection

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _iter_keys(self, sql: str, keys: Sequence[int]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` (its ``{}`` the placeholders) for all ``keys``, asked a chunk at a time."""
        keys = [int(k) for k in keys]
        for start in range(0, len(keys), KEYS_AT_ONCE):
            chunk = keys[start : start + KEYS_AT_ONCE]
            yield from self._db.execute(sql.format(",".join("?" * len(chunk))), chunk)

    def _bump_generation(self) -> None:
        """Say that the live set changed: an index built before it is stale (``generation``)."""
        self._db.execute("UPDATE meta SET value = value + 1 WHERE key='generation'")
