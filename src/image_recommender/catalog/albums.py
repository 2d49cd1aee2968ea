"""Smart albums: the kept queries and the files their mirror folders hold (albums.py syncs the folders)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from image_recommender.catalog.rows import AlbumRow, MadeFile
from image_recommender.catalog.tables import Tables


class AlbumTables(Tables):
    """The tables ``albums`` and ``album_files``, as part of ``Catalog``."""

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
