"""A place name as the places a search may return: "Lisbon", "München", "Essen, Deutschland".

Only the library's own places answer (those holding live photos), by any of their names
(catalog ``place_names``). A name that is a country or a region as well as a town means the
wider one ("Berlin", "Luxembourg"). A name for two different places (two towns called Essen) is
refused with the candidates listed; words after a comma say which ("Essen, Germany").
"""

from __future__ import annotations

from dataclasses import dataclass

from image_recommender.catalog import Catalog
from image_recommender.catalog.words import fold
from image_recommender.errors import QueryError

_LEVELS = ("country", "region", "town")


@dataclass(frozen=True)
class PlaceMatch:
    """The places a name stands for: their ids and what the name names ("Munich, Bavaria, Germany")."""

    ids: tuple[int, ...]
    entity: str
    level: str


def find_place(catalog: Catalog, name: str) -> PlaceMatch | None:
    """The one place the name stands for, None when no place of the library has that name;
    refused when it names several."""
    head, *qualifiers = (part for part in name.split(","))
    rows = catalog.places_named(fold(head))
    for qualifier in (fold(part) for part in qualifiers if part.strip()):
        answering = {place_id for place_id, _, _ in catalog.places_named(qualifier)}
        rows = [row for row in rows if row[0] in answering]
    if not rows:
        return None
    ids, entities, level = _widest(rows)
    if len(entities) > 1:
        country = entities[0].rsplit(", ", 1)[-1]
        raise QueryError(
            f"place {name!r} names {len(entities)} places: {'; '.join(entities[:6])}"
            f"{'; …' if len(entities) > 6 else ''}; say which, e.g. '{head.strip()}, {country}'"
        )
    return PlaceMatch(ids, entities[0], level)


def resolve_place(catalog: Catalog, name: str) -> PlaceMatch:
    """``--place NAME``: the place, or one line saying there is none of that name."""
    if not name.strip():
        raise QueryError("--place: give a town, region or country, e.g. 'Lisbon' or 'Essen, Germany'")
    found = find_place(catalog, name)
    if found is None:
        raise QueryError(f"--place {name!r}: no photos from a place of that name ('imrec places' lists them)")
    return found


def place_in_query(catalog: Catalog, folded: str, own_names_only: bool = False) -> PlaceMatch | None:
    """The places words of a query name (query/understanding.py): every place of that name at
    the widest level it names ("Essen" in a query with photos from two Essens means both);
    ``own_names_only`` leaves out GeoNames' alternate names (a word typed in lower case)."""
    rows = catalog.places_named(folded, own_names_only)
    if not rows:
        return None
    ids, entities, level = _widest(rows)
    return PlaceMatch(ids, " / ".join(entities), level)


def _widest(rows: list[tuple[int, str, str]]) -> tuple[tuple[int, ...], list[str], str]:
    """Of (place id, level, entity) rows, those at the widest level present: their place ids,
    the entities they name (sorted) and the level."""
    level = next(level for level in _LEVELS if any(row[1] == level for row in rows))
    chosen = [row for row in rows if row[1] == level]
    return tuple(sorted({place_id for place_id, _, _ in chosen})), sorted({entity for _, _, entity in chosen}), level
