"""The places list as people read it: a city once, with its quarters and suburbs under it.

GeoNames names a photo in St. Pauli "St. Pauli" and one at the town hall "Hamburg"; listed
apart, one city shows as two unrelated rows. Here each city's row counts its own photos and
its quarters', and the quarters follow it, indented; a city whose photos all lie in quarters
still gets its row ("Lisbon, Portugal").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlaceCount:
    """A place with its live photos: its label ("Alfama, Lisbon, Portugal"), its town, the big
    city it lies in (None for a town of its own) and its country."""

    label: str
    town: str
    city: str | None
    region: str | None
    country: str
    country_code: str
    photos: int


@dataclass
class CityPlaces:
    """One row of the list: a town or city (``label``), its photos with its quarters', the quarters."""

    label: str
    name: str
    country: str
    photos: int = 0
    quarters: list[PlaceCount] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "place": self.label,
            "country": self.country,
            "photos": self.photos,
            "quarters": [{"place": quarter.label, "photos": quarter.photos} for quarter in self.quarters],
        }


def by_city(counts: Sequence[PlaceCount]) -> list[CityPlaces]:
    """The places grouped under their cities, most photos first (quarters too, inside a city).

    Two towns of one name in one country (two Essens) stay two rows: a town is its name, region
    and country; a quarter joins the city of its name in its country, of its region first.
    """
    rows: dict[tuple[str, str | None, str], CityPlaces] = {}
    for place in counts:
        if place.city is None:
            key = (place.town, place.region, place.country_code)
            row = rows.setdefault(key, CityPlaces(place.label, place.town, place.country))
            row.photos += place.photos
    for place in counts:
        if place.city is None:
            continue
        named = [key for key in rows if key[0] == place.city and key[2] == place.country_code]
        key = next((key for key in named if key[1] == place.region), named[0] if named else None) or (
            place.city,
            place.region,
            place.country_code,
        )
        if key not in rows:
            rows[key] = CityPlaces(f"{place.city}, {place.country}", place.city, place.country)
        rows[key].photos += place.photos
        rows[key].quarters.append(place)
    for row in rows.values():
        row.quarters.sort(key=lambda quarter: (-quarter.photos, quarter.label))
    return sorted(rows.values(), key=lambda row: (-row.photos, row.label))
