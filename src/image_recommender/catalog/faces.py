"""The catalog's tables of people: faces per content, the people they are grouped into, and
which contents were looked at (schema v12). Only SQL lives here; faces/ decides."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from image_recommender.catalog.rows import IMAGE_COLUMNS, ImageRow, image_row
from image_recommender.catalog.tables import Tables
from image_recommender.catalog.words import fold


@dataclass(frozen=True)
class Face:
    """One face: its box and 5 landmarks in fractions of the picture, the detector's score, its
    size (the box's side in the original picture's pixels), its sharpness and its descriptor."""

    box: tuple[float, float, float, float]  # left, top, right, bottom
    landmarks: tuple[tuple[float, float], ...]
    score: float
    side: int
    sharpness: float
    vector: np.ndarray
    seconds: float | None = None  # the frame's time, for a face in a video


@dataclass(frozen=True)
class FaceRow:
    """A stored face: where it is (fractions of the picture), how good, its descriptor, its person."""

    id: int
    fingerprint: str
    box: tuple[float, ...]
    side: int
    score: float
    sharpness: float
    vector: np.ndarray
    person_id: int | None
    by_user: bool
    seconds: float | None = None  # the frame's time, for a face in a video


@dataclass(frozen=True)
class PersonRow:
    """A person: a name once the user gave one, whether hidden, how many faces in live pictures."""

    id: int
    name: str | None
    hidden: bool
    faces: int


_FACE_COLUMNS = "faces.id, faces.fingerprint, faces.box, faces.side, faces.score, faces.sharpness, faces.vector,"
_FACE_COLUMNS += " faces.person_id, faces.by_user, faces.seconds"


def _face(row: Sequence[object]) -> FaceRow:
    face_id, fingerprint, box, side, score, sharpness, vector, person_id, by_user, seconds = row
    return FaceRow(
        int(face_id),  # type: ignore[call-overload]
        str(fingerprint),
        tuple(json.loads(str(box))),
        int(side),  # type: ignore[call-overload]
        float(score),  # type: ignore[arg-type]
        float(sharpness),  # type: ignore[arg-type]
        np.frombuffer(vector, dtype="<f4").astype(np.float32),  # type: ignore[call-overload]
        None if person_id is None else int(person_id),  # type: ignore[call-overload]
        bool(by_user),
        None if seconds is None else float(seconds),  # type: ignore[arg-type]
    )


# Faces in live pictures only: a picture deleted from the library takes its faces out of every list.
_LIVE_FACES = "faces.fingerprint IN (SELECT fingerprint FROM images WHERE state = 'ok')"


class FaceTables(Tables):
    """Faces and people, as part of ``Catalog``."""

    def unread_faces(self, after_id: int, limit: int) -> list[ImageRow]:
        """Live pictures and videos whose content was not looked at for faces yet, one per content,
        from ``after_id`` on."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE id IN ("
            " SELECT min(images.id) FROM images WHERE images.state = 'ok' AND images.fingerprint IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM face_reads WHERE face_reads.fingerprint = images.fingerprint)"
            " GROUP BY images.fingerprint HAVING min(images.id) > ?"
            " ORDER BY min(images.id) LIMIT ?) ORDER BY id",
            (after_id, limit),
        )
        return [image_row(row) for row in rows]

    def store_faces(self, records: Sequence[tuple[str, str, list[Face], str | None]], engine: str) -> None:
        """Record one batch of (fingerprint, state, faces, error) in one transaction."""
        now = time.time()
        with self.transaction() as db:
            for fingerprint, state, faces, error in records:
                cursor = db.execute(
                    "INSERT INTO face_reads(fingerprint, state, faces, error, engine, read_at) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(fingerprint) DO NOTHING",
                    (fingerprint, state, len(faces), error, engine, now),
                )
                if not cursor.rowcount:
                    continue
                db.executemany(
                    "INSERT INTO faces(fingerprint, box, landmarks, score, side, sharpness, vector, seconds)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            fingerprint, json.dumps([round(v, 4) for v in face.box]),
                            json.dumps([[round(x, 4), round(y, 4)] for x, y in face.landmarks]), face.score,
                            face.side, face.sharpness, np.ascontiguousarray(face.vector, dtype="<f4").tobytes(),
                            face.seconds,
                        )
                        for face in faces
                    ],
                )  # fmt: skip

    def face_progress(self) -> tuple[int, int, int, int]:
        """(contents looked at, contents in the library, faces in live pictures, contents that failed)."""
        total, read, failed = self._db.execute(
            "SELECT count(*), count(face_reads.fingerprint), count(CASE WHEN face_reads.state = 'failed' THEN 1 END)"
            " FROM (SELECT DISTINCT fingerprint FROM images WHERE state = 'ok' AND fingerprint IS NOT NULL)"
            " AS live LEFT JOIN face_reads ON face_reads.fingerprint = live.fingerprint"
        ).fetchone()
        faces = self._db.execute(f"SELECT count(*) FROM faces WHERE {_LIVE_FACES}").fetchone()[0]
        return int(read), int(total), int(faces), int(failed)

    def faces(self, person_id: int | None = None, unassigned: bool = False) -> list[FaceRow]:
        """Faces in live pictures: all, one person's, or those of nobody."""
        where = _LIVE_FACES
        values: tuple[object, ...] = ()
        if person_id is not None:
            where += " AND faces.person_id = ?"
            values = (person_id,)
        elif unassigned:
            where += " AND faces.person_id IS NULL"
        rows = self._db.execute(f"SELECT {_FACE_COLUMNS} FROM faces WHERE {where} ORDER BY faces.id", values)
        return [_face(row) for row in rows]

    def face(self, face_id: int) -> FaceRow | None:
        row = self._db.execute(f"SELECT {_FACE_COLUMNS} FROM faces WHERE id = ?", (face_id,)).fetchone()
        return None if row is None else _face(row)

    def people(self, include_hidden: bool = False) -> list[PersonRow]:
        """People with faces in live pictures, most faces first."""
        rows = self._db.execute(
            "SELECT people.id, people.name, people.hidden, count(faces.id) FROM people"
            f" JOIN faces ON faces.person_id = people.id AND {_LIVE_FACES}"
            f"{'' if include_hidden else ' WHERE people.hidden = 0'}"
            " GROUP BY people.id ORDER BY count(faces.id) DESC, people.id"
        )
        return [PersonRow(int(i), name, bool(hidden), int(count)) for i, name, hidden, count in rows]

    def person(self, person_id: int) -> PersonRow | None:
        row = self._db.execute(
            "SELECT people.id, people.name, people.hidden, count(faces.id) FROM people"
            f" LEFT JOIN faces ON faces.person_id = people.id AND {_LIVE_FACES} WHERE people.id = ? GROUP BY people.id",
            (person_id,),
        ).fetchone()
        return None if row is None else PersonRow(int(row[0]), row[1], bool(row[2]), int(row[3]))

    def people_named(self, folded: str) -> list[int]:
        """Ids of the people whose folded name is ``folded``."""
        return [int(row[0]) for row in self._db.execute("SELECT id FROM people WHERE folded = ?", (folded,))]

    def person_names(self) -> dict[str, list[int]]:
        """folded name -> the ids of the people of that name."""
        names: dict[str, list[int]] = {}
        for person_id, folded in self._db.execute("SELECT id, folded FROM people WHERE folded IS NOT NULL"):
            names.setdefault(str(folded), []).append(int(person_id))
        return names

    def person_paths(self, person_id: int, limit: int = 5) -> list[str]:
        """Library paths of live pictures showing the person, one per content, by path."""
        rows = self._db.execute(
            "SELECT min(images.path) FROM images JOIN faces ON faces.fingerprint = images.fingerprint"
            " WHERE faces.person_id = ? AND images.state = 'ok' GROUP BY images.fingerprint ORDER BY 1 LIMIT ?",
            (person_id, limit),
        )
        return [str(path) for (path,) in rows]

    def faces_of(self, fingerprint: str | None) -> list[tuple[FaceRow, str | None]]:
        """A content's faces with the name of each one's person (None: nobody, or unnamed)."""
        if not fingerprint:
            return []
        rows = self._db.execute(
            f"SELECT {_FACE_COLUMNS}, people.name FROM faces LEFT JOIN people ON people.id = faces.person_id"
            " WHERE faces.fingerprint = ? ORDER BY faces.id",
            (fingerprint,),
        )
        return [(_face(row[:-1]), row[-1]) for row in rows]

    def path_of_content(self, fingerprint: str) -> str | None:
        """The first library path (by path) of a live file holding this content."""
        row = self._db.execute(
            "SELECT min(path) FROM images WHERE fingerprint = ? AND state = 'ok'", (fingerprint,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def person_images(self, person_id: int, limit: int, offset: int = 0) -> list[ImageRow]:
        """Live pictures showing the person, one file per content, newest first, a page at a time."""
        rows = self._db.execute(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE id IN ("
            " SELECT min(images.id) FROM images JOIN faces ON faces.fingerprint = images.fingerprint"
            " WHERE faces.person_id = ? AND images.state = 'ok' GROUP BY images.fingerprint)"
            " ORDER BY taken_at DESC, path LIMIT ? OFFSET ?",
            (person_id, limit, offset),
        )
        return [image_row(row) for row in rows]

    def best_face(self, person_id: int) -> int | None:
        """The person's largest face in a live picture (the one a list shows), by id."""
        row = self._db.execute(
            f"SELECT id FROM faces WHERE person_id = ? AND {_LIVE_FACES} ORDER BY side DESC, id LIMIT 1", (person_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def new_person(self) -> int:
        with self.transaction() as db:
            return int(db.execute("INSERT INTO people(name) VALUES (NULL)").lastrowid or 0)

    def assign_faces(self, assignments: Sequence[tuple[int, int | None]], by_user: bool = False) -> None:
        """Put each (face id, person id or None) there; ``by_user`` marks the user's own choice."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE faces SET person_id = ?, by_user = ? WHERE id = ?",
                [(person_id, int(by_user), face_id) for face_id, person_id in assignments],
            )

    def group_faces(self, groups: Sequence[Sequence[int]], dissolve: Sequence[int] = ()) -> list[int]:
        """Make each group of face ids a new person, after taking the faces of the people in
        ``dissolve`` (unnamed, automatic) off them and deleting those people; the new ids."""
        made = []
        with self.transaction() as db:
            if dissolve:
                marks = ",".join("?" * len(dissolve))
                db.execute(f"UPDATE faces SET person_id = NULL WHERE by_user = 0 AND person_id IN ({marks})", dissolve)
                db.execute(
                    f"DELETE FROM people WHERE id IN ({marks}) AND name IS NULL"
                    " AND NOT EXISTS (SELECT 1 FROM faces WHERE faces.person_id = people.id)",
                    dissolve,
                )
            for group in groups:
                person_id = int(db.execute("INSERT INTO people(name) VALUES (NULL)").lastrowid or 0)
                db.executemany("UPDATE faces SET person_id = ? WHERE id = ?", [(person_id, face) for face in group])
                made.append(person_id)
        return made

    def name_person(self, person_id: int, name: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE people SET name = ?, folded = ? WHERE id = ?",
                (name, fold(name) if name else None, person_id),
            )

    def hide_person(self, person_id: int, hidden: bool) -> None:
        with self.transaction() as db:
            db.execute("UPDATE people SET hidden = ? WHERE id = ?", (int(hidden), person_id))

    def merge_people(self, kept: int, merged: int) -> None:
        """``merged``'s faces become ``kept``'s (the user's choice), and ``merged`` is gone."""
        with self.transaction() as db:
            db.execute("UPDATE faces SET person_id = ?, by_user = 1 WHERE person_id = ?", (kept, merged))
            db.execute("UPDATE faces SET by_user = 1 WHERE person_id = ?", (kept,))
            db.execute("DELETE FROM people WHERE id = ?", (merged,))

    def automatic_people(self) -> list[int]:
        """Ids of the people no user has named: a regrouping may make them anew."""
        return [int(row[0]) for row in self._db.execute("SELECT id FROM people WHERE name IS NULL")]

    def iter_face_vectors(self) -> Iterator[tuple[int, np.ndarray]]:
        for face_id, vector in self._db.execute(f"SELECT faces.id, faces.vector FROM faces WHERE {_LIVE_FACES}"):
            yield int(face_id), np.frombuffer(vector, dtype="<f4").astype(np.float32)
