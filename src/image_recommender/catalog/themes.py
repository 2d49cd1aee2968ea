"""Themes: the groups themes/ computes from the vectors, their names and members."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from image_recommender.catalog.rows import IMAGE_COLUMNS, ImageRow, ThemeRow, image_row, theme_name
from image_recommender.catalog.tables import Tables, blob_to_vector, joined_labels, vector_to_blob


class ThemeTables(Tables):
    """The tables ``themes`` and ``theme_members``, as part of ``Catalog``."""

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
        return joined_labels(joined)

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
