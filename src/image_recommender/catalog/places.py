"""Places by name: the names of the library's places and which photos were taken where (places/ names positions)."""

from __future__ import annotations

from collections.abc import Sequence

from image_recommender.catalog.tables import Tables
from image_recommender.catalog.words import fold
from image_recommender.places.geocoding import Place
from image_recommender.places.listing import PlaceCount


class PlaceTables(Tables):
    """The tables ``places`` and ``place_names``, as part of ``Catalog``."""

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
