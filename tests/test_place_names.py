"""Places without a library (the fast tier): how far a town may lie from a photo, and the list's
quarters under their city."""

from __future__ import annotations

import pytest

from image_recommender.images.metadata import distance_km
from image_recommender.places.geocoding import MAX_TOWN_KM, locate
from image_recommender.places.listing import PlaceCount, by_city


def test_a_photo_is_named_after_a_near_town_and_never_after_a_far_one() -> None:
    westerland, sea, lisbon = locate([(54.9079, 8.3106), (55.50, 5.00), (38.7223, -9.1393)])
    assert westerland is not None and westerland.town == "Westerland" and westerland.country_code == "DE"
    assert sea is None  # the North Sea, 150 km from the nearest coast town: no place rather than a wrong one
    assert lisbon is not None and "Lisbon" in (lisbon.town, lisbon.city)


@pytest.mark.parametrize("km", [MAX_TOWN_KM * 0.8, MAX_TOWN_KM * 1.5, 300.0])
def test_the_town_limit_holds_at_every_distance(km: float) -> None:
    # due west of Westerland lies open sea: a position km away is that far from every town
    latitude, longitude = 54.9079, 8.3106 - km / (111.32 * 0.5752)
    assert distance_km(latitude, longitude, 54.9079, 8.3106) == pytest.approx(km, rel=0.01)
    (found,) = locate([(latitude, longitude)])
    assert (found is not None) == (km <= MAX_TOWN_KM), km


def _place(
    label: str, town: str, city: str | None, photos: int, region: str = "Hamburg", country: str = "Germany"
) -> PlaceCount:
    return PlaceCount(label, town, city, region, country, country[:2].upper(), photos)


def test_quarters_are_listed_under_their_city_and_counted_in_it() -> None:
    rows = by_city(
        [
            _place("St. Pauli, Hamburg, Germany", "St. Pauli", "Hamburg", 3),
            _place("Hamburg, Germany", "Hamburg", None, 2),
            _place("Altona, Hamburg, Germany", "Altona", "Hamburg", 1),
            _place("Essen, North Rhine-Westphalia, Germany", "Essen", None, 4, "North Rhine-Westphalia"),
            _place("Essen, Lower Saxony, Germany", "Essen", None, 1, "Lower Saxony"),  # another Essen: its own row
            _place("Alfama, Lisbon, Portugal", "Alfama", "Lisbon", 1, "Lisbon", "Portugal"),
        ]
    )
    shown = [(row.label, row.photos, [quarter.town for quarter in row.quarters]) for row in rows]
    assert shown == [
        ("Hamburg, Germany", 6, ["St. Pauli", "Altona"]),
        ("Essen, North Rhine-Westphalia, Germany", 4, []),
        ("Essen, Lower Saxony, Germany", 1, []),
        ("Lisbon, Portugal", 1, ["Alfama"]),  # only quarters: the city's row all the same
    ]
