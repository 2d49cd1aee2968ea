"""``Catalog``: every read and write of the SQLite catalog, the only code in imrec that speaks SQL.

Reads stream in chunks (labels, vectors, rows), every write is one transaction, and a file
SQLite cannot read is one ``CatalogDamagedError`` line, never a bare ``sqlite3`` error.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_recommender.catalog.faces import FaceTables
from image_recommender.catalog.rows import (
    IMAGE_COLUMNS,
    STATES,
    AlbumRow,
    EmbedResult,
    FileStat,
    ImageRow,
    MadeFile,
    ModelRow,
    RetiredVector,
    ThemeRow,
    VideoResult,
    WalkDifferences,
    WordMatch,
    image_row,
    theme_name,
)
from image_recommender.catalog.schema import _DROP_WALK_TABLES, _MIGRATIONS, _WALK_TABLES, SCHEMA_VERSION
from image_recommender.catalog.words import TextLine, fold, match_expression
from image_recommender.errors import CatalogDamagedError, CatalogVersionError, LibraryError, damaged_catalog_message
from image_recommender.images.media import is_video
from image_recommender.images.metadata import PhotoMetadata, distance_km
from image_recommender.places.geocoding import Place
from image_recommender.places.listing import PlaceCount

if TYPE_CHECKING:
    from image_recommender.filters import PhotoFilter


MMAP_BYTES = 2 << 30


_MODEL_COLUMNS = "id, name, pretrained, dim, weights, config"


_METADATA_UPDATE = (
    "UPDATE images SET taken_at=?, taken_offset=?, taken_from=?, camera=?, latitude=?, longitude=?,"
    " place_id=NULL, place_checked=0 WHERE id=?"
)


def _distance_or_null(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float | None:
    """SQL distance_km(): NULL for an image without a place, so it never matches --near."""
    return None if lat1 is None or lon1 is None else distance_km(lat1, lon1, lat2, lon2)


def vector_to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _joined_labels(joined: str | None) -> np.ndarray:
    """Labels from SQLite's group_concat: one string, cheaper than a Python tuple per row."""
    return np.array(joined.split(","), dtype=np.int64) if joined else np.zeros(0, dtype=np.int64)


def _filter_clauses(photo_filter: PhotoFilter) -> tuple[list[str], list[object]]:
    """SQL conditions on ``images`` for a live image inside the filter (folder, dates, camera, place)."""
    clauses = ["images.state = 'ok'"]
    values: list[object] = []
    if photo_filter.folder is not None:
        clauses.append("substr(images.path, 1, ?) = ?")
        values += [len(photo_filter.folder), photo_filter.folder]
    if photo_filter.after is not None:
        clauses.append("images.taken_at >= ?")
        values.append(photo_filter.after)
    if photo_filter.before is not None:
        clauses.append("images.taken_at < ?")
        values.append(photo_filter.before)
    if photo_filter.camera is not None:
        clauses.append("instr(lower(images.camera), lower(?)) > 0")
        values.append(photo_filter.camera)
    if photo_filter.near is not None:
        latitude, longitude, radius = photo_filter.near
        clauses.append("distance_km(images.latitude, images.longitude, ?, ?) <= ?")
        values += [latitude, longitude, radius]
    if photo_filter.theme is not None:
        clauses.append("images.id IN (SELECT image_id FROM theme_members WHERE theme_id = ?)")
        values.append(photo_filter.theme)
    if photo_filter.kind is not None:
        clauses.append("is_video(images.path) = ?")
        values.append(photo_filter.kind == "video")
    if photo_filter.every_year is not None:
        first, last = photo_filter.every_year
        joiner = "AND" if first <= last else "OR"  # a window over New Year: December or January
        clauses.append(f"(substr(images.taken_at, 6, 5) >= ? {joiner} substr(images.taken_at, 6, 5) <= ?)")
        values += [first, last]
    if photo_filter.dated and not photo_filter.include_undated:
        clauses.append("images.taken_from IS NOT 'mtime'")
    if photo_filter.places is not None:
        clauses.append(f"images.place_id IN ({','.join('?' * len(photo_filter.places)) or 'NULL'})")
        values += photo_filter.places
    for ids in photo_filter.people:
        clauses.append(
            f"images.fingerprint IN (SELECT fingerprint FROM faces WHERE person_id IN ({','.join('?' * len(ids))}))"
        )
        values += ids
    if photo_filter.not_places:
        marks = ",".join("?" * len(photo_filter.not_places))
        clauses.append(f"(images.place_id IS NULL OR images.place_id NOT IN ({marks}))")
        values += photo_filter.not_places
    return clauses, values


def _text_lines(stored: str) -> list[TextLine]:
    return [
        TextLine(str(line["text"]), float(line["score"]), tuple((float(x), float(y)) for x, y in line["box"]))
        for line in json.loads(stored)
    ]


def blob_to_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _readable(method: Callable[..., Any]) -> Callable[..., Any]:
    """A catalog method whose SQLite errors reach callers as the project's own one-line errors."""

    @functools.wraps(method)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except sqlite3.OperationalError as exc:  # locked, read-only, disk I/O: the file may be fine
            raise LibraryError(f"the catalog cannot be used right now ({exc})") from None
        except sqlite3.DatabaseError as exc:  # not a database, malformed: the file is damaged
            raise CatalogDamagedError(damaged_catalog_message(exc)) from None

    return checked


def _damage_as_errors(cls: type) -> type:
    """Wrap every public method but ``transaction`` (its body's errors are its caller's)."""
    members = {name: member for base in reversed(cls.__mro__[:-1]) for name, member in vars(base).items()}
    for name, member in members.items():
        if callable(member) and not name.startswith("_") and name != "transaction":
            setattr(cls, name, _readable(member))
    return cls


def _fold_lines(text: str) -> str:
    """Each line of a picture's stored text folded on its own, as ``record_texts`` stores them."""
    return "\n".join(fold(line) for line in text.split("\n"))


@_damage_as_errors
class Catalog(FaceTables):
    """A connection to one catalog file; every read and write of the catalog goes through here.

    A file SQLite cannot read reaches callers as ``CatalogDamagedError`` (one line saying what
    to do), never as a ``sqlite3`` exception: the CLI and the web app never import sqlite3.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path, create: bool = True) -> Catalog:
        """Open (and create or migrate) the catalog; refuse one written by a newer version."""
        if not path.exists() and not create:
            raise LibraryError(f"{path}: no catalog here; run 'imrec index' first")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                connection.close()
                raise CatalogVersionError(
                    f"{path}: catalog schema {version} is newer than this imrec understands ({SCHEMA_VERSION}); upgrade imrec"
                )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            # Reads straight from the mapped file (SQLite caps the map at 2 GB): re-ranking reads
            # a thousand 3 KB vectors per query, 40% faster mapped (docs/benchmarks.md, section 7).
            connection.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            connection.create_function("distance_km", 4, _distance_or_null, deterministic=True)
            connection.create_function("is_video", 1, is_video, deterministic=True)
            connection.create_function("imrec_fold", 1, fold, deterministic=True)
            connection.create_function("imrec_fold_lines", 1, _fold_lines, deterministic=True)
        except sqlite3.OperationalError as exc:
            raise LibraryError(f"{path}: cannot open catalog: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise CatalogDamagedError(f"{path}: {damaged_catalog_message(exc)}") from None
        except OSError as exc:
            raise LibraryError(f"{path.parent}: cannot create catalog folder: {exc.strerror}") from None
        catalog = cls(connection, path)
        if version < SCHEMA_VERSION:
            catalog._migrate(version)
        return catalog

    def _migrate(self, version: int) -> None:
        """Bring an older schema up to date, keeping a backup copy of any existing data first."""
        try:
            if version > 0:
                backup_path = self.path.with_name(f"{self.path.name}.v{version}.bak")
                with contextlib.closing(sqlite3.connect(backup_path)) as backup:
                    self._db.backup(backup)
            # Rebuilding a table must not cascade into its vectors: foreign keys are off while
            # migrating (a PRAGMA that only works outside a transaction), and checked before commit.
            self._db.execute("PRAGMA foreign_keys=OFF")
            with self.transaction():
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[step].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                if self._db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise sqlite3.IntegrityError("a vector refers to a missing image")
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"{self.path}: could not upgrade the catalog from schema {version}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; a failure (disk full included) leaves the catalog as it was."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LibraryError(f"{self.path}: catalog is locked or unwritable: {exc}") from None
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback()
            raise LibraryError(f"{self.path}: could not save to the catalog ({exc}); nothing was lost") from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def generation(self) -> int:
        """A number that changes whenever files, states or vectors change."""
        return int(self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def _bump_generation(self) -> None:
        self._db.execute("UPDATE meta SET value = value + 1 WHERE key='generation'")

    def integrity_check(self) -> str:
        """ "ok", or what SQLite found wrong (a file too damaged to check says so too)."""
        try:
            rows = self._db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return "ok" if rows == [("ok",)] else "; ".join(str(problem) for (problem,) in rows[:5])

    # -- scan ------------------------------------------------------------------------------

    def begin_walk(self) -> None:
        """Start comparing a folder walk with the catalog: the walk goes into temporary tables
        (on disk beyond SQLite's page cache), never into one Python dict of every row."""
        self._db.executescript(_WALK_TABLES)

    def record_walk(self, files: Sequence[FileStat]) -> None:
        """Add a batch of walked files (a name seen twice counts once)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO temp.walked(name, path, raw_path, size, mtime_ns)"
            " VALUES (coalesce(?2, CAST(?1 AS BLOB)), ?1, ?2, ?3, ?4)",
            ((f.path, f.raw_path, f.size, f.mtime_ns) for f in files),
        )

    def walk_differences(self, unseen: Sequence[str]) -> WalkDifferences:
        """Sort the walk against the catalog: new, changed, returned and gone files.

        Catalogued files under ``unseen`` (names of folders that could not be read; "" is
        the root) are kept, not counted as gone.
        """
        db = self._db
        db.executemany("INSERT OR IGNORE INTO temp.unseen(name) VALUES (?)", ((name,) for name in unseen))
        db.execute(
            "INSERT INTO temp.changed(id, size, mtime_ns, returned)"
            " SELECT images.id, walked.size, walked.mtime_ns,"
            "  images.state = 'gone' AND images.size = walked.size AND images.mtime_ns = walked.mtime_ns"
            " FROM temp.walked JOIN images ON coalesce(images.raw_path, CAST(images.path AS BLOB)) = walked.name"
            " WHERE images.state = 'gone' OR images.size != walked.size OR images.mtime_ns != walked.mtime_ns"
        )
        missing = (
            "FROM images WHERE images.state != 'gone' AND NOT EXISTS"
            " (SELECT 1 FROM temp.walked WHERE walked.name = coalesce(images.raw_path, CAST(images.path AS BLOB)))"
        )
        db.execute(
            f"INSERT INTO temp.vanished(id) SELECT images.id {missing} AND NOT EXISTS (SELECT 1 FROM temp.unseen"
            " WHERE unseen.name = '' OR images.path = unseen.name"
            " OR substr(images.path, 1, length(unseen.name) + 1) = unseen.name || '/')"
        )
        (missing_count,) = db.execute(f"SELECT count(*) {missing}").fetchone()
        (new,) = db.execute(
            "SELECT count(*) FROM temp.walked WHERE NOT EXISTS"
            " (SELECT 1 FROM images WHERE coalesce(images.raw_path, CAST(images.path AS BLOB)) = walked.name)"
        ).fetchone()
        changed, returned = db.execute(
            "SELECT count(*) - total(returned), total(returned) FROM temp.changed"
        ).fetchone()
        (gone,) = db.execute("SELECT count(*) FROM temp.vanished").fetchone()
        (live,) = db.execute("SELECT count(*) FROM images WHERE state != 'gone'").fetchone()
        (reappeared,) = db.execute(
            "SELECT count(*) FROM temp.vanished JOIN images ON images.id = vanished.id WHERE EXISTS"
            " (SELECT 1 FROM temp.walked WHERE walked.size = images.size AND walked.mtime_ns = images.mtime_ns"
            "  AND NOT EXISTS (SELECT 1 FROM images AS known"
            "   WHERE coalesce(known.raw_path, CAST(known.path AS BLOB)) = walked.name))"
        ).fetchone()
        return WalkDifferences(new, int(changed), int(returned), gone, missing_count - gone, live, reappeared)

    def apply_walk(self) -> None:
        """Record the differences ``walk_differences`` found, in one transaction."""
        now = time.time()
        with self.transaction():
            self._bump_generation()
            self._db.execute(
                "INSERT INTO images(path, raw_path, size, mtime_ns, state, updated_at)"
                " SELECT path, raw_path, size, mtime_ns, 'pending', ? FROM temp.walked WHERE NOT EXISTS"
                " (SELECT 1 FROM images WHERE coalesce(images.raw_path, CAST(images.path AS BLOB)) = walked.name)"
                " ORDER BY path",
                (now,),
            )
            self._db.execute(
                "UPDATE images SET size = changed.size, mtime_ns = changed.mtime_ns, state = 'pending', error = NULL,"
                " updated_at = ? FROM temp.changed WHERE images.id = changed.id AND NOT changed.returned",
                (now,),
            )
            self._db.execute(
                "UPDATE images SET state=CASE WHEN fingerprint IS NULL OR error IS NOT NULL THEN 'pending' ELSE 'ok' END,"
                " updated_at = ? WHERE id IN (SELECT id FROM temp.changed WHERE returned)",
                (now,),
            )
            self._db.execute(
                "UPDATE images SET state = 'gone', updated_at = ? WHERE id IN (SELECT id FROM temp.vanished)", (now,)
            )
            self._db.execute("DELETE FROM moved_out WHERE image_id IN (SELECT id FROM temp.changed)")

    def end_walk(self) -> None:
        """Drop the walk's temporary tables."""
        self._db.executescript(_DROP_WALK_TABLES)

    def apply_scan(
        self,
        new: Sequence[FileStat],
        changed: Sequence[tuple[int, FileStat]],
        returned: Sequence[tuple[int, FileStat]],
        gone: Sequence[int],
    ) -> None:
        """Record a scan's findings in one transaction."""
        if not (new or changed or returned or gone):
            return
        now = time.time()
        with self.transaction():
            self._bump_generation()
            self._db.executemany(
                "INSERT INTO images(path, raw_path, size, mtime_ns, state, updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
                ((f.path, f.raw_path, f.size, f.mtime_ns, now) for f in new),
            )
            self._db.executemany(
                "UPDATE images SET size=?, mtime_ns=?, state='pending', error=NULL, updated_at=? WHERE id=?",
                ((f.size, f.mtime_ns, now, image_id) for image_id, f in changed),
            )
            self._db.executemany(
                "UPDATE images SET state=CASE WHEN fingerprint IS NULL OR error IS NOT NULL THEN 'pending' ELSE 'ok' END,"
                " updated_at=? WHERE id=?",
                ((now, image_id) for image_id, _ in returned),
            )
            self._db.executemany("UPDATE images SET state='gone', updated_at=? WHERE id=?", ((now, i) for i in gone))
            self._db.executemany(
                "DELETE FROM moved_out WHERE image_id=?", ((image_id,) for image_id, _ in (*changed, *returned))
            )

    def move_out(self, image_ids: Sequence[int]) -> None:
        """Images a duplicates move took out of the library: gone from results at once, but kept
        (ids, vectors) through later updates, for an undo to bring back."""
        if not image_ids:
            return
        now = time.time()
        with self.transaction():
            self._bump_generation()
            self._db.executemany(
                "UPDATE images SET state='gone', updated_at=? WHERE id=?", ((now, i) for i in image_ids)
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO moved_out(image_id, moved_at) VALUES (?, ?)", ((i, now) for i in image_ids)
            )

    def purge_gone(self) -> int:
        """Forget files that stayed gone through a whole update (their vectors go with them), but
        not those a duplicates move took out (an undo brings them back)."""
        with self.transaction():
            removed = self._db.execute(
                "DELETE FROM images WHERE state='gone' AND id NOT IN (SELECT image_id FROM moved_out)"
            ).rowcount
            if removed:
                self._bump_generation()
            return removed

    def retry_failed(self) -> int:
        with self.transaction():
            retried = self._db.execute("UPDATE images SET state='pending', error=NULL WHERE state='failed'").rowcount
            if retried:
                self._bump_generation()
            return retried

    # -- models ----------------------------------------------------------------------------

    def ensure_model(self, name: str, pretrained: str, dim: int, weights: str, config: str | None) -> ModelRow:
        existing = self.find_model(name, pretrained)
        if existing is not None:
            if existing.dim != dim:
                raise LibraryError(
                    f"model {name}/{pretrained} gives {dim}-d vectors but the catalog holds {existing.dim}-d ones for it"
                )
            return existing
        with self.transaction():
            self._db.execute(
                "INSERT INTO models(name, pretrained, dim, weights, config) VALUES (?, ?, ?, ?, ?)",
                (name, pretrained, dim, weights, config),
            )
        found = self.find_model(name, pretrained)
        assert found is not None
        return found

    def find_model(self, name: str, pretrained: str) -> ModelRow | None:
        row = self._db.execute(
            f"SELECT {_MODEL_COLUMNS} FROM models WHERE name=? AND pretrained=?", (name, pretrained)
        ).fetchone()
        return ModelRow(*row) if row else None

    def models(self) -> list[ModelRow]:
        return [ModelRow(*row) for row in self._db.execute(f"SELECT {_MODEL_COLUMNS} FROM models ORDER BY id")]

    # -- embed -----------------------------------------------------------------------------

    def work_for_model(self, model_id: int) -> list[tuple[ImageRow, str | None]]:
        """Pictures that need a (new) vector from this model, with the fingerprint of the one held
        (videos are the video pass's: ``videos_to_embed``)."""
        rows = self._db.execute(
            f"SELECT {', '.join('images.' + c for c in IMAGE_COLUMNS.split(', '))}, vectors.fingerprint"
            " FROM images LEFT JOIN vectors ON vectors.image_id = images.id AND vectors.model_id = ?"
            " WHERE (images.state = 'pending' OR (images.state = 'ok' AND vectors.id IS NULL))"
            " AND NOT is_video(images.path) ORDER BY images.id",
            (model_id,),
        )
        return [(image_row(row[:-1]), row[-1]) for row in rows]

    def known_fingerprints(self, model_id: int) -> set[str]:
        rows = self._db.execute("SELECT DISTINCT fingerprint FROM vectors WHERE model_id=?", (model_id,))
        return {fingerprint for (fingerprint,) in rows}

    def write_embed_results(
        self, model_id: int, results: Sequence[EmbedResult], retired: dict[str, RetiredVector] | None = None
    ) -> None:
        """Store one batch: vectors, reuses and failures land together or not at all.

        A vector replaced because its file changed is kept in ``retired`` (one dict for the
        whole run), so a later reuse of that content (the file was moved, then another file
        took its name) still finds it.
        """
        retired = {} if retired is None else retired
        now = time.time()
        with self.transaction() as db:
            self._bump_generation()
            for result in results:
                if result.error is not None:
                    db.execute(
                        "UPDATE images SET state='failed', error=?, updated_at=? WHERE id=? AND state != 'gone'",
                        (result.error, now, result.image_id),
                    )
                    continue
                blob, width, height = self._vector_blob(model_id, result, retired)
                if blob is None:
                    db.execute(
                        "UPDATE images SET state='pending', error=?, updated_at=? WHERE id=?",
                        ("vector to reuse has vanished; will embed again", now, result.image_id),
                    )
                    continue
                held = db.execute(
                    "SELECT vectors.fingerprint, vectors.vector, images.width, images.height FROM vectors"
                    " JOIN images ON images.id = vectors.image_id WHERE image_id=? AND model_id=?",
                    (result.image_id, model_id),
                ).fetchone()
                if held is not None and held[0] != result.fingerprint:
                    retired[held[0]] = RetiredVector(held[1], held[2], held[3])
                if held is None or held[0] != result.fingerprint:
                    db.execute("DELETE FROM vectors WHERE image_id=? AND model_id=?", (result.image_id, model_id))
                    db.execute(
                        "INSERT INTO vectors(image_id, model_id, fingerprint, vector) VALUES (?, ?, ?, ?)",
                        (result.image_id, model_id, result.fingerprint, blob),
                    )
                db.execute(
                    "UPDATE images SET state='ok', error=NULL, fingerprint=?, size=COALESCE(?, size),"
                    " mtime_ns=COALESCE(?, mtime_ns), width=COALESCE(?, width), height=COALESCE(?, height),"
                    " updated_at=? WHERE id=?",
                    (
                        result.fingerprint,
                        result.size,
                        result.mtime_ns,
                        result.width or width,
                        result.height or height,
                        now,
                        result.image_id,
                    ),
                )
                if result.metadata is not None:
                    db.execute(_METADATA_UPDATE, (*astuple(result.metadata), result.image_id))

    def images_without_metadata(self, limit: int) -> list[ImageRow]:
        """Live images whose metadata was never read (catalogued before schema v4), oldest id first."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE state='ok' AND taken_from IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [image_row(row) for row in rows]

    def write_metadata(self, found: Sequence[tuple[int, PhotoMetadata]]) -> None:
        with self.transaction() as db:
            db.executemany(_METADATA_UPDATE, [(*astuple(meta), image_id) for image_id, meta in found])

    def _vector_blob(
        self, model_id: int, result: EmbedResult, retired: dict[str, RetiredVector]
    ) -> tuple[bytes | None, int | None, int | None]:
        """The vector to store (computed, or copied from same content) and the source's size."""
        if result.vector is not None:
            return vector_to_blob(result.vector), None, None
        row = self._db.execute(
            "SELECT vectors.vector, images.width, images.height FROM vectors"
            " JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.model_id=? AND vectors.fingerprint=? LIMIT 1",
            (model_id, result.reuse_from),
        ).fetchone()
        if row:
            return row[0], row[1], row[2]
        kept = retired.get(result.reuse_from or "")
        return (kept.blob, kept.width, kept.height) if kept else (None, None, None)

    # -- index & query ---------------------------------------------------------------------

    def live_labels(self, model_id: int) -> np.ndarray:
        """Sorted labels of this model's current vectors, the set every search filters against.

        Read as one comma-joined string: building 100k Python tuples would cost more than the query.
        """
        (joined,) = self._db.execute(
            "SELECT group_concat(vectors.id) FROM vectors JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.model_id = ? AND images.state = 'ok'",
            (model_id,),
        ).fetchone()
        return np.sort(_joined_labels(joined))

    def vectors_by_labels(self, labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(labels found, their vectors), in the order asked; a label whose vector is gone is left out.

        One statement over a JSON list of labels: an exact re-rank reads a thousand vectors
        per query, and per-row round trips would cost more than the search.
        """
        rows = self._db.execute(
            "SELECT vectors.id, vectors.vector FROM json_each(?) AS wanted"
            " JOIN vectors ON vectors.id = wanted.value ORDER BY wanted.key",
            (json.dumps([int(label) for label in labels]),),
        ).fetchall()
        found = np.fromiter((label for label, _ in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return found, np.zeros((0, 0), dtype=np.float32)
        return found, np.frombuffer(b"".join(blob for _, blob in rows), dtype="<f4").reshape(len(rows), -1)

    def images_by_labels(self, labels: Sequence[int]) -> dict[int, ImageRow]:
        """label -> image for the given FAISS labels (missing labels are simply absent)."""
        columns = ", ".join("images." + c for c in IMAGE_COLUMNS.split(", "))
        return {
            label: image_row(row)
            for label, *row in self._iter_keys(
                f"SELECT vectors.id, {columns} FROM vectors JOIN images ON images.id = vectors.image_id"
                " WHERE vectors.id IN ({})",
                labels,
            )
        }

    def _iter_keys(self, sql: str, keys: Sequence[int]) -> Iterator[tuple[Any, ...]]:
        keys = [int(k) for k in keys]
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            yield from self._db.execute(sql.format(",".join("?" * len(chunk))), chunk)

    def vector_of_image(
        self, image_id: int, model_id: int, seconds: float | None = None
    ) -> tuple[int, np.ndarray] | None:
        """(label, vector) of a picture, or of a video's frame nearest ``seconds`` (default: its first)."""
        row = self._db.execute(
            "SELECT vectors.id, vectors.vector FROM vectors JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.image_id=? AND vectors.model_id=? AND images.state='ok'"
            " ORDER BY abs(coalesce(vectors.seconds, 0) - ?), vectors.frame LIMIT 1",
            (image_id, model_id, seconds or 0.0),
        ).fetchone()
        return (row[0], blob_to_vector(row[1])) if row else None

    def frame_times(self, labels: Sequence[int]) -> dict[int, float]:
        """label -> the time (seconds) of the video frame it is; pictures' labels are absent."""
        return {
            int(label): float(seconds)
            for label, seconds in self._iter_keys(
                "SELECT id, seconds FROM vectors WHERE seconds IS NOT NULL AND id IN ({})", labels
            )
        }

    def live_picture_labels(self, model_id: int) -> np.ndarray:
        """Sorted labels of live pictures' vectors, without video frames (duplicates, themes)."""
        (joined,) = self._db.execute(
            "SELECT group_concat(vectors.id) FROM vectors JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.model_id = ? AND images.state = 'ok' AND vectors.seconds IS NULL",
            (model_id,),
        ).fetchone()
        return np.sort(_joined_labels(joined))

    # Videos (video/ samples and embeds them): one vector per kept frame, written per video.

    def videos_to_embed(self, model_id: int) -> list[ImageRow]:
        """Videos that need frames from this model: new, changed, or never embedded with it."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE is_video(path) AND (state = 'pending' OR (state = 'ok'"
            " AND NOT EXISTS (SELECT 1 FROM vectors WHERE vectors.image_id = images.id AND vectors.model_id = ?)))"
            " ORDER BY id",
            (model_id,),
        )
        return [image_row(row) for row in rows]

    def frames_of_content(
        self, model_id: int, fingerprint: str
    ) -> tuple[list[tuple[float, bytes]], int | None, int | None, float | None] | None:
        """(frames as (seconds, vector), width, height, duration) stored for a video's content (a
        moved or copied video), or None."""
        holder = self._db.execute(
            "SELECT vectors.image_id, images.width, images.height, images.duration FROM vectors"
            " JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.model_id = ? AND vectors.fingerprint = ? AND vectors.seconds IS NOT NULL LIMIT 1",
            (model_id, fingerprint),
        ).fetchone()
        if holder is None:
            return None
        rows = self._db.execute(
            "SELECT seconds, vector FROM vectors WHERE model_id = ? AND image_id = ? ORDER BY frame",
            (model_id, holder[0]),
        )
        return [(float(seconds), bytes(vector)) for seconds, vector in rows], holder[1], holder[2], holder[3]

    def write_video(self, model_id: int, video: VideoResult) -> None:
        """One video's frames and what it says about itself, in one transaction (a kill loses
        at most this video's frames); a failure is recorded with its reason."""
        now = time.time()
        with self.transaction() as db:
            self._bump_generation()
            if video.error is not None:
                db.execute(
                    "UPDATE images SET state='failed', error=?, updated_at=? WHERE id=? AND state != 'gone'",
                    (video.error, now, video.image_id),
                )
                return
            db.execute("DELETE FROM vectors WHERE image_id = ? AND model_id = ?", (video.image_id, model_id))
            db.executemany(
                "INSERT INTO vectors(image_id, model_id, fingerprint, vector, frame, seconds) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (video.image_id, model_id, video.fingerprint, blob, number, seconds)
                    for number, (seconds, blob) in enumerate(video.frames)
                ],
            )
            db.execute(
                "UPDATE images SET state='ok', error=?, fingerprint=?, size=?, mtime_ns=?, width=?, height=?,"
                " duration=?, updated_at=? WHERE id=?",
                (
                    video.note,
                    video.fingerprint,
                    video.size,
                    video.mtime_ns,
                    video.width,
                    video.height,
                    video.duration,
                    now,
                    video.image_id,
                ),
            )
            if video.metadata is not None:
                db.execute(_METADATA_UPDATE, (*astuple(video.metadata), video.image_id))

    def labels_of_images(self, image_ids: Sequence[int], model_id: int) -> np.ndarray:
        rows = self._iter_keys(
            f"SELECT id FROM vectors WHERE model_id = {int(model_id)} AND image_id IN ({{}})", image_ids
        )
        return np.array([label for (label,) in rows], dtype=np.int64)

    def undated_left_out(self, photo_filter: PhotoFilter) -> int:
        """Live images a date filter leaves out because only their file's time dates them."""
        if not photo_filter.dated or photo_filter.include_undated:
            return 0
        clauses, values = _filter_clauses(replace(photo_filter, include_undated=True))
        (count,) = self._db.execute(
            "SELECT count(*) FROM images WHERE images.taken_from = 'mtime' AND " + " AND ".join(clauses), values
        ).fetchone()
        return int(count)

    def live_labels_matching(self, model_id: int, photo_filter: PhotoFilter) -> np.ndarray:
        """Live labels of images in the filter's folder (a prefix ending in '/'), dates and camera."""
        clauses, values = _filter_clauses(photo_filter)
        (joined,) = self._db.execute(
            "SELECT group_concat(vectors.id) FROM vectors JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.model_id = ? AND " + " AND ".join(clauses),
            [model_id, *values],
        ).fetchone()
        return _joined_labels(joined)

    # The text in pictures (text/ writes it, query/ reads it): once per content, by fingerprint.

    def unread_texts(self, after_id: int, limit: int) -> list[ImageRow]:
        """Live images whose content has no recognised text yet, one per content (the lowest
        id), in id order from ``after_id`` on: a pass walks them like a cursor, so a file that
        cannot be read is tried once per run, not forever."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE id IN ("
            " SELECT min(images.id) FROM images WHERE images.state = 'ok' AND images.fingerprint IS NOT NULL"
            " AND NOT is_video(images.path)"
            " AND NOT EXISTS (SELECT 1 FROM texts WHERE texts.fingerprint = images.fingerprint)"
            " GROUP BY images.fingerprint HAVING min(images.id) > ?"
            " ORDER BY min(images.id) LIMIT ?) ORDER BY id",
            (after_id, limit),
        )
        return [image_row(row) for row in rows]

    def store_texts(self, records: Sequence[tuple[str, str, list[TextLine], str | None]], engine: str) -> None:
        """Record one batch of (fingerprint, state, lines, error) in one transaction, with the
        folded text of each picture that holds any in the word index."""
        now = time.time()
        with self.transaction() as db:
            for fingerprint, state, lines, error in records:
                body = json.dumps([line.as_json() for line in lines], ensure_ascii=False)
                cursor = db.execute(
                    "INSERT INTO texts(fingerprint, state, lines, error, engine, read_at) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(fingerprint) DO NOTHING",
                    (fingerprint, state, body, error, engine, now),
                )
                if cursor.rowcount and lines:
                    folded = _fold_lines("\n".join(line.text for line in lines))
                    db.execute("INSERT INTO text_words(rowid, body) VALUES (?, ?)", (cursor.lastrowid, folded))

    def text_progress(self) -> tuple[int, int, int, int]:
        """(contents read, contents in the library, contents with text, contents that failed)."""
        total, read, with_text, failed = self._db.execute(
            "SELECT count(*), count(texts.id), count(CASE WHEN texts.lines != '[]' THEN 1 END),"
            " count(CASE WHEN texts.state = 'failed' THEN 1 END)"
            " FROM (SELECT DISTINCT fingerprint FROM images WHERE state = 'ok' AND fingerprint IS NOT NULL"
            " AND NOT is_video(path)) AS live"
            " LEFT JOIN texts ON texts.fingerprint = live.fingerprint"
        ).fetchone()
        return int(read), int(total), int(with_text), int(failed)

    def text_failures(self) -> list[tuple[str, str]]:
        """(path, reason) of live images whose text could not be read, by path."""
        rows = self._db.execute(
            "SELECT images.path, texts.error FROM texts JOIN images ON images.fingerprint = texts.fingerprint"
            " WHERE texts.state = 'failed' AND images.state = 'ok' ORDER BY images.path"
        )
        return [(str(path), str(error or "")) for path, error in rows]

    def text_of(self, fingerprint: str | None) -> list[TextLine] | None:
        """The recognised lines of a content; None when it has not been read (or failed)."""
        if not fingerprint:
            return None
        row = self._db.execute("SELECT state, lines FROM texts WHERE fingerprint = ?", (fingerprint,)).fetchone()
        if row is None or row[0] != "ok":
            return None
        return _text_lines(row[1])

    def word_matches(self, words: list[str], photo_filter: PhotoFilter | None, limit: int) -> list[WordMatch]:
        """Live images whose recognised text holds every one of the folded ``words`` (runs of
        three or more characters), inside the filter, best first by FTS5's bm25, at most
        ``limit`` contents (each with all its live copies)."""
        if not words:
            return []
        clauses, values = _filter_clauses(photo_filter) if photo_filter is not None else (["images.state = 'ok'"], [])
        rows = self._db.execute(
            f"SELECT {', '.join('images.' + c for c in IMAGE_COLUMNS.split(', '))}, texts.lines, hits.body, hits.rank"
            " FROM (SELECT rowid, body, bm25(text_words) AS rank FROM text_words WHERE text_words MATCH ?"
            "       ORDER BY rank LIMIT ?) AS hits"
            " JOIN texts ON texts.id = hits.rowid JOIN images ON images.fingerprint = texts.fingerprint"
            " WHERE " + " AND ".join(clauses) + " ORDER BY hits.rank, images.id",
            [match_expression(words), limit, *values],
        )
        return [WordMatch(image_row(row[:-3]), _text_lines(row[-3]), row[-2], float(row[-1])) for row in rows]

    # Places (places/ names positions; the catalog keeps the names and answers by them).

    def positions_without_place(self, limit: int) -> list[tuple[int, float, float]]:
        """(id, latitude, longitude) of live photos whose position was not named yet."""
        rows = self._db.execute(
            "SELECT id, latitude, longitude FROM images WHERE place_checked = 0 AND state = 'ok'"
            " AND latitude IS NOT NULL AND longitude IS NOT NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [(int(i), float(lat), float(lon)) for i, lat, lon in rows]

    def write_places(self, found: Sequence[tuple[int, Place | None]]) -> None:
        """Each photo's place (None: no town near), with every name the place answers to."""
        with self.transaction() as db:
            ids: dict[str, int] = {}
            for _, place in found:
                if place is None or place.label in ids:
                    continue
                row = db.execute("SELECT id FROM places WHERE label = ?", (place.label,)).fetchone()
                if row is None:
                    cursor = db.execute(
                        "INSERT INTO places(town, city, region, country, country_code, label) VALUES (?, ?, ?, ?, ?, ?)",
                        (place.town, place.city, place.region, place.country, place.country_code, place.label),
                    )
                    row = (cursor.lastrowid,)
                    db.executemany(
                        "INSERT INTO place_names(name, level, entity, place_id, alternate) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT DO UPDATE SET alternate = min(alternate, excluded.alternate)",
                        [
                            (folded, level, entity, row[0], alternate)
                            for name, level, entity, alternate in place.names()
                            if (folded := fold(name))
                        ],
                    )
                ids[place.label] = int(row[0])
            db.executemany(
                "UPDATE images SET place_id = ?, place_checked = 1 WHERE id = ?",
                [(ids[place.label] if place else None, image_id) for image_id, place in found],
            )

    def places_named(self, folded: str, own_names_only: bool = False) -> list[tuple[int, str, str]]:
        """(place id, level, entity) of the places holding live photos that answer to a folded
        name (with ``own_names_only``, not by one of GeoNames' alternate names)."""
        rows = self._db.execute(
            "SELECT place_names.place_id, level, entity FROM place_names WHERE name = ?"
            + (" AND alternate = 0" if own_names_only else "")
            + " AND EXISTS (SELECT 1 FROM images WHERE images.place_id = place_names.place_id AND images.state = 'ok')",
            (folded,),
        )
        return [(int(place_id), level, entity) for place_id, level, entity in rows]

    def place_counts(self) -> list[PlaceCount]:
        """Every place with live photos and how many, most photos first."""
        rows = self._db.execute(
            "SELECT places.label, places.town, places.city, places.region, places.country, places.country_code,"
            " count(*)"
            " FROM images JOIN places ON places.id = images.place_id"
            " WHERE images.state = 'ok' GROUP BY places.id ORDER BY count(*) DESC, places.label"
        )
        return [
            PlaceCount(label, town, city, region, country, code, int(photos))
            for label, town, city, region, country, code, photos in rows
        ]

    def place_labels(self, image_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """image id -> its place's label and its short form, for those with a place: "St. Pauli,
        Hamburg" for a city's quarter (the city always shows), "Westerland, Germany" for a town."""
        return {
            image_id: (label, short)
            for image_id, label, short in self._iter_keys(
                "SELECT images.id, places.label, places.town || ', ' || coalesce(places.city, places.country)"
                " FROM images JOIN places ON places.id = images.place_id WHERE images.id IN ({})",
                image_ids,
            )
        }

    # Themes (themes/ computes them from the vectors).

    def replace_themes(
        self,
        model_id: int,
        themes: Sequence[tuple[str | None, str | None, str | None, float, str, np.ndarray]],
        members: Iterator[tuple[int, int, float]],
        images_then: int,
    ) -> None:
        """Store a computation in one transaction: (name_de, name_en, user_name, confidence,
        runners_up JSON, centre) per theme, and (image id, theme number, closeness) per image."""
        with self.transaction() as db:
            db.execute("DELETE FROM themes WHERE model_id = ?", (model_id,))
            ids = []
            for name_de, name_en, user_name, confidence, runners_up, centre in themes:
                cursor = db.execute(
                    "INSERT INTO themes(model_id, name_de, name_en, user_name, confidence, runners_up, centre,"
                    " images_then) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        model_id,
                        name_de,
                        name_en,
                        user_name,
                        confidence,
                        runners_up,
                        vector_to_blob(centre),
                        images_then,
                    ),
                )
                ids.append(cursor.lastrowid)
            db.executemany(
                "INSERT OR REPLACE INTO theme_members(image_id, theme_id, closeness) VALUES (?, ?, ?)",
                ((image_id, ids[number], closeness) for image_id, number, closeness in members),
            )

    def labels_without_theme(self, model_id: int) -> np.ndarray:
        """Live labels of the model's pictures that belong to no theme (new since the themes were
        made); videos are in no theme."""
        (joined,) = self._db.execute(
            "SELECT group_concat(vectors.id) FROM vectors JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.model_id = ? AND images.state = 'ok' AND vectors.seconds IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM theme_members WHERE theme_members.image_id = images.id)",
            (model_id,),
        ).fetchone()
        return _joined_labels(joined)

    def add_theme_members(self, members: Iterator[tuple[int, int, float]]) -> None:
        """(image id, theme id, closeness) for images joining existing themes, in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO theme_members(image_id, theme_id, closeness) VALUES (?, ?, ?)", members
            )

    def themes(self, model_id: int) -> list[ThemeRow]:
        """The model's themes, largest first, with their live sizes."""
        rows = self._db.execute(
            "SELECT themes.id, name_de, name_en, user_name, confidence, runners_up, centre,"
            " (SELECT count(*) FROM theme_members JOIN images ON images.id = theme_members.image_id"
            "  WHERE theme_members.theme_id = themes.id AND images.state = 'ok') AS size, images_then"
            " FROM themes WHERE model_id = ? ORDER BY size DESC, themes.id",
            (model_id,),
        )
        return [
            ThemeRow(row[0], row[1], row[2], row[3], row[4], row[5], blob_to_vector(row[6]), row[7], row[8])
            for row in rows
        ]

    def theme_names(self, model_id: int) -> dict[int, str]:
        """theme id -> the name a user sees, without counting members (cheap, for every search)."""
        rows = self._db.execute("SELECT id, user_name, name_de, name_en FROM themes WHERE model_id = ?", (model_id,))
        return {theme_id: theme_name(user, german, english) for theme_id, user, german, english in rows}

    def theme_images(self, theme_id: int, limit: int, offset: int = 0) -> list[tuple[ImageRow, float]]:
        """A theme's live images, closest to its centre first."""
        columns = ", ".join("images." + c for c in IMAGE_COLUMNS.split(", "))
        rows = self._db.execute(
            f"SELECT {columns}, theme_members.closeness FROM theme_members JOIN images ON images.id = theme_members.image_id"
            " WHERE theme_members.theme_id = ? AND images.state = 'ok' ORDER BY theme_members.closeness DESC, images.id"
            " LIMIT ? OFFSET ?",
            (theme_id, limit, offset),
        )
        return [(image_row(row[:-1]), float(row[-1])) for row in rows]

    def themes_of(self, image_ids: Sequence[int]) -> dict[int, int]:
        """image id -> theme id for the given images (those in no theme are absent)."""
        return dict(self._iter_keys("SELECT image_id, theme_id FROM theme_members WHERE image_id IN ({})", image_ids))

    def rename_theme(self, theme_id: int, name: str | None) -> bool:
        with self.transaction() as db:
            return db.execute("UPDATE themes SET user_name = ? WHERE id = ?", (name, theme_id)).rowcount > 0

    # Smart albums (albums.py keeps their mirror folders).

    def save_album(self, name: str, query: str, mirror: str | None, mode: str | None) -> AlbumRow:
        """Create the album, or change its query and mirror (the files it made stay recorded)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO albums(name, query, mirror, mode, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET query = excluded.query, mirror = excluded.mirror, mode = excluded.mode",
                (name, query, mirror, mode, time.time()),
            )
        album = self.album(name)
        assert album is not None
        return album

    def album(self, name: str) -> AlbumRow | None:
        row = self._db.execute("SELECT id, name, query, mirror, mode FROM albums WHERE name = ?", (name,)).fetchone()
        return AlbumRow(*row) if row else None

    def albums(self) -> list[AlbumRow]:
        rows = self._db.execute("SELECT id, name, query, mirror, mode FROM albums ORDER BY name")
        return [AlbumRow(*row) for row in rows]

    def delete_album(self, name: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM albums WHERE name = ?", (name,)).rowcount > 0

    def album_files(self, album_id: int) -> list[MadeFile]:
        rows = self._db.execute(
            "SELECT name, image_id, target, size, mtime_ns FROM album_files WHERE album_id = ? ORDER BY name",
            (album_id,),
        )
        return [MadeFile(*row) for row in rows]

    def record_album_files(self, album_id: int, made: Sequence[MadeFile], forgotten: Sequence[str]) -> None:
        """What one mirror pass made and what it removed or found changed, in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM album_files WHERE album_id = ? AND name = ?", ((album_id, name) for name in forgotten)
            )
            db.executemany(
                "INSERT OR REPLACE INTO album_files(album_id, name, image_id, target, size, mtime_ns)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                ((album_id, f.name, f.image_id, f.target, f.size, f.mtime_ns) for f in made),
            )

    def image(self, image_id: int) -> ImageRow | None:
        row = self._db.execute(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id=?", (image_id,)).fetchone()
        return image_row(row) if row else None

    def images_by_ids(self, image_ids: Sequence[int]) -> dict[int, ImageRow]:
        """id -> image for these ids, as the catalog holds them now (missing ids are absent)."""
        rows = self._iter_keys(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id IN ({{}})", image_ids)
        return {image.id: image for image in map(image_row, rows)}

    def image_by_path(self, path: str, raw_path: bytes | None = None) -> ImageRow | None:
        """The image with this catalog name (``raw_path`` for names that are not UTF-8)."""
        row = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE path=? AND raw_path IS ?", (path, raw_path)
        ).fetchone()
        return image_row(row) if row else None

    def files_named(self, stems: Sequence[str]) -> list[ImageRow]:
        """Live images whose path is one of ``stems`` plus a suffix ("a/IMG_1" -> "a/IMG_1.CR2",
        "a/IMG_1.jpg"): a RAW's siblings, by a range scan of the path index."""
        found: list[ImageRow] = []
        for stem in stems:
            rows = self._db.execute(
                f"SELECT {IMAGE_COLUMNS} FROM images WHERE state='ok' AND path >= ? AND path < ?",
                (stem + ".", stem + "/"),
            )
            found += [image_row(row) for row in rows]
        return found

    def images_with_fingerprint(self, fingerprint: str) -> list[ImageRow]:
        """Live images holding exactly this content."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE state='ok' AND fingerprint = ?", (fingerprint,)
        )
        return [image_row(row) for row in rows]

    def exact_duplicate_groups(self) -> list[list[ImageRow]]:
        """Live images sharing one content fingerprint, grouped."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE state='ok' AND fingerprint IN"
            " (SELECT fingerprint FROM images WHERE state='ok' AND fingerprint IS NOT NULL"
            "  GROUP BY fingerprint HAVING COUNT(*) > 1) ORDER BY fingerprint, id"
        )
        groups: dict[str, list[ImageRow]] = {}
        for row in rows:
            image = image_row(row)
            groups.setdefault(image.fingerprint or "", []).append(image)
        return list(groups.values())

    # -- status ----------------------------------------------------------------------------

    def state_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        counts.update(dict(self._db.execute("SELECT state, COUNT(*) FROM images GROUP BY state").fetchall()))
        return counts

    def images(self, state: str | None = None, limit: int = -1, offset: int = 0) -> list[ImageRow]:
        """Catalogued images by path, optionally of one state, a page at a time."""
        where = "WHERE state = ?" if state else "WHERE ? IS NULL"
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images {where} ORDER BY path LIMIT ? OFFSET ?", (state, limit, offset)
        )
        return [image_row(row) for row in rows]

    def failures(self) -> list[ImageRow]:
        rows = self._db.execute(f"SELECT {IMAGE_COLUMNS} FROM images WHERE state='failed' ORDER BY path")
        return [image_row(row) for row in rows]

    def read_in_part(self) -> list[ImageRow]:
        """Live files indexed from part of their content (a video that ends early), with the note why."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE state='ok' AND error IS NOT NULL ORDER BY path"
        )
        return [image_row(row) for row in rows]

    def video_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM images WHERE state='ok' AND is_video(path)").fetchone()[0])

    def vector_counts(self) -> dict[int, int]:
        return dict(self._db.execute("SELECT model_id, COUNT(*) FROM vectors GROUP BY model_id").fetchall())
