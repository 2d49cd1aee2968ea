"""Videos: one vector per kept frame, with its time, written a whole video per transaction (video/ samples and embeds them)."""

from __future__ import annotations

import time
from dataclasses import astuple

from image_recommender.catalog.rows import IMAGE_COLUMNS, ImageRow, VideoResult, image_row
from image_recommender.catalog.tables import METADATA_UPDATE, Tables


class VideoTables(Tables):
    """The frames of videos in ``vectors`` (rows with ``seconds``), as part of ``Catalog``."""

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

    def frame_seconds(self, fingerprint: str) -> list[float]:
        """The times of the frames kept of a video's content (by any model), in order: the
        moments the face pass looks at."""
        rows = self._db.execute(
            "SELECT DISTINCT seconds FROM vectors WHERE model_id IN (SELECT id FROM models) AND fingerprint = ?"
            " AND seconds IS NOT NULL ORDER BY seconds",  # model_id first: the (model, fingerprint) index
            (fingerprint,),
        )
        return [float(seconds) for (seconds,) in rows]

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
                db.execute(METADATA_UPDATE, (*astuple(video.metadata), video.image_id))
