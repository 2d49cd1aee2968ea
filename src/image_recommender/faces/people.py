"""What a user does with people: list them, name, merge, hide, move a face, and ``--person
NAME`` (names typed into the search box: query/people.py)."""

from __future__ import annotations

from dataclasses import dataclass

from image_recommender.catalog.faces import PersonRow
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import fold
from image_recommender.errors import QueryError, UnknownPersonError, echoed

PATHS_SHOWN = 5


@dataclass(frozen=True)
class Person:
    """A person as listed: id, name (None until named), faces in live pictures, a few paths."""

    id: int
    name: str | None
    faces: int
    hidden: bool
    paths: tuple[str, ...]
    face: int | None = None  # the largest face, the one a list shows

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id, "name": self.name, "faces": self.faces, "hidden": self.hidden,
            "paths": list(self.paths), "face": self.face,
        }  # fmt: skip


def listed(catalog: Catalog, include_hidden: bool = False) -> list[Person]:
    """The people, most faces first, each with up to PATHS_SHOWN of its pictures' paths."""
    return [_person(catalog, row) for row in catalog.people(include_hidden)]


def _person(catalog: Catalog, row: PersonRow) -> Person:
    paths = tuple(catalog.person_paths(row.id, PATHS_SHOWN))
    return Person(row.id, row.name, row.faces, row.hidden, paths, catalog.best_face(row.id))


def person(catalog: Catalog, person_id: int) -> Person:
    """One person by number, or one line saying there is none."""
    row = catalog.person(person_id)
    if row is None or row.faces == 0:
        raise UnknownPersonError(f"person {person_id}: there is no such person ('imrec people' lists them)")
    return _person(catalog, row)


def check_name(name: str) -> str:
    """1 to 100 printable characters, with a letter; not a number (numbers are ids)."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 100 or not cleaned.isprintable() or not any(c.isalpha() for c in cleaned):
        raise QueryError(f"person name {echoed(name)}: use 1-100 printable characters with a letter")
    return cleaned


def resolve(catalog: Catalog, name: str) -> tuple[int, ...]:
    """``--person NAME`` (or a number): the people it names, or one line saying there is none."""
    if name.strip().isdigit():
        return (person(catalog, int(name)).id,)
    found = tuple(catalog.people_named(fold(name)))
    if not found:
        raise QueryError(f"--person {echoed(name)}: nobody of that name ('imrec people' lists them; name one first)")
    return found
