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

from image_recommender.catalog.albums import AlbumTables
from image_recommender.catalog.faces import FaceTables
from image_recommender.catalog.filtering import filter_clauses
from image_recommender.catalog.places import PlaceTables
from image_recommender.catalog.rows import (
    IMAGE_COLUMNS,
    STATES,
    EmbedResult,
    FileStat,
    ImageRow,
    ModelRow,
    RetiredVector,
    WalkDifferences,
    image_row,
)
from image_recommender.catalog.schema import _DROP_WALK_TABLES, _MIGRATIONS, _WALK_TABLES, SCHEMA_VERSION
from image_recommender.catalog.tables import METADATA_UPDATE, Tables, blob_to_vector, joined_labels, vector_to_blob
from image_recommender.catalog.texts import TextTables, fold_lines
from image_recommender.catalog.themes import ThemeTables
from image_recommender.catalog.videos import VideoTables
from image_recommender.catalog.words import fold
from image_recommender.errors import CatalogDamagedError, CatalogVersionError, LibraryError, damaged_catalog_message
from image_recommender.images.media import is_video
from image_recommender.images.metadata import PhotoMetadata, distance_km

if TYPE_CHECKING:
    from image_recommender.filters import PhotoFilter


MMAP_BYTES = 2 << 30


_MODEL_COLUMNS = "id, name, pretrained, dim, weights, config"


def _distance_or_null(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float | None:
    """SQL distance_km(): NULL for an image without a place, so it never matches --near."""
    return None if lat1 is None or lon1 is None else distance_km(lat1, lon1, lat2, lon2)


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


@_damage_as_errors
class Catalog(VideoTables, TextTables, PlaceTables, ThemeTables, AlbumTables, FaceTables, Tables):
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
            connection.create_function("imrec_fold_lines", 1, fold_lines, deterministic=True)
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
                    db.execute(METADATA_UPDATE, (*astuple(result.metadata), result.image_id))

    def images_without_metadata(self, limit: int) -> list[ImageRow]:
        """Live images whose metadata was never read (catalogued before schema v4), oldest id first."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE state='ok' AND taken_from IS NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [image_row(row) for row in rows]

    def write_metadata(self, found: Sequence[tuple[int, PhotoMetadata]]) -> None:
        with self.transaction() as db:
            db.executemany(METADATA_UPDATE, [(*astuple(meta), image_id) for image_id, meta in found])

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
        return np.sort(joined_labels(joined))

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
        return np.sort(joined_labels(joined))

    def labels_of_images(self, image_ids: Sequence[int], model_id: int) -> np.ndarray:
        rows = self._iter_keys(
            f"SELECT id FROM vectors WHERE model_id = {int(model_id)} AND image_id IN ({{}})", image_ids
        )
        return np.array([label for (label,) in rows], dtype=np.int64)

    def undated_left_out(self, photo_filter: PhotoFilter) -> int:
        """Live images a date filter leaves out because only their file's time dates them."""
        if not photo_filter.dated or photo_filter.include_undated:
            return 0
        clauses, values = filter_clauses(replace(photo_filter, include_undated=True))
        (count,) = self._db.execute(
            "SELECT count(*) FROM images WHERE images.taken_from = 'mtime' AND " + " AND ".join(clauses), values
        ).fetchone()
        return int(count)

    def live_labels_matching(self, model_id: int, photo_filter: PhotoFilter) -> np.ndarray:
        """Live labels of images in the filter's folder (a prefix ending in '/'), dates and camera."""
        clauses, values = filter_clauses(photo_filter)
        (joined,) = self._db.execute(
            "SELECT group_concat(vectors.id) FROM vectors JOIN images ON images.id = vectors.image_id"
            " WHERE vectors.model_id = ? AND " + " AND ".join(clauses),
            [model_id, *values],
        ).fetchone()
        return joined_labels(joined)

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
