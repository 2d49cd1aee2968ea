"""The text read in pictures: once per content, by fingerprint (text/ writes it, query/ reads it)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from image_recommender.catalog.filtering import filter_clauses
from image_recommender.catalog.rows import IMAGE_COLUMNS, ImageRow, WordMatch, image_row
from image_recommender.catalog.tables import Tables
from image_recommender.catalog.words import TextLine, fold, match_expression
from image_recommender.filters import PhotoFilter


def _text_lines(stored: str) -> list[TextLine]:
    return [
        TextLine(str(line["text"]), float(line["score"]), tuple((float(x), float(y)) for x, y in line["box"]))
        for line in json.loads(stored)
    ]


def fold_lines(text: str) -> str:
    """Each line of a picture's stored text folded on its own, as ``record_texts`` stores them."""
    return "\n".join(fold(line) for line in text.split("\n"))


class TextTables(Tables):
    """The tables ``texts`` and ``text_words`` (FTS5), as part of ``Catalog``."""

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
                    folded = fold_lines("\n".join(line.text for line in lines))
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
        clauses, values = filter_clauses(photo_filter) if photo_filter is not None else (["images.state = 'ok'"], [])
        rows = self._db.execute(
            f"SELECT {', '.join('images.' + c for c in IMAGE_COLUMNS.split(', '))}, texts.lines, hits.body, hits.rank"
            " FROM (SELECT rowid, body, bm25(text_words) AS rank FROM text_words WHERE text_words MATCH ?"
            "       ORDER BY rank LIMIT ?) AS hits"
            " JOIN texts ON texts.id = hits.rowid JOIN images ON images.fingerprint = texts.fingerprint"
            " WHERE " + " AND ".join(clauses) + " ORDER BY hits.rank, images.id",
            [match_expression(words), limit, *values],
        )
        return [WordMatch(image_row(row[:-3]), _text_lines(row[-3]), row[-2], float(row[-1])) for row in rows]
