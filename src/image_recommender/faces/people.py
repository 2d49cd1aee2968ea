"""What a user does with people: list them, name, merge, hide, move a face, find them by name
in a search ("Anna am Strand", "Anna und Ben 2019", ``--person Anna``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from image_recommender.catalog.faces import PersonRow
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import fold
from image_recommender.errors import QueryError, UnknownPersonError, echoed

# A name is one to three words ("Anna", "Anna Maria", "Tante Anna Maria"); words between two
# names that join them ("Anna und Ben") go with them.
MAX_NAME_WORDS = 3
_JOINERS = frozenset({"und", "and", "&", "mit", "with", "+"})
_TOKEN = re.compile(r"\S+")
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


def names_in(text: str, names: dict[str, list[int]]) -> tuple[str, tuple[tuple[str, tuple[int, ...]], ...]]:
    """The people a query's words name, and the words left: "Anna und Ben am Strand" ->
    ("am Strand", (("Anna", ids), ("Ben", ids))). Longest names first; a word joining two names
    goes with them."""
    if not names:
        return text, ()
    tokens = _TOKEN.findall(text)
    found: list[tuple[str, tuple[int, ...]]] = []
    kept: list[str | None] = list(tokens)
    position = 0
    while position < len(tokens):
        for length in range(min(MAX_NAME_WORDS, len(tokens) - position), 0, -1):
            words = " ".join(tokens[position : position + length])
            ids = names.get(fold(words.strip(".,;:!?")))
            if ids:
                found.append((words.strip(".,;:!?"), tuple(ids)))
                kept[position : position + length] = [None] * length
                position += length
                break
        else:
            position += 1
    for index, token in enumerate(tokens):
        between_names = 0 < index < len(tokens) - 1 and kept[index - 1] is None and kept[index + 1] is None
        if token.lower() in _JOINERS and between_names:
            kept[index] = None
    return " ".join(token for token in kept if token is not None), tuple(found)
