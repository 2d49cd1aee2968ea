"""The one search box: dates, places and negations read from a typed query in German and English,
and ordinary words left alone (the trap words: "Essen", "Bank", "Bath", "Nice", "May", ...)."""

from __future__ import annotations

import pytest

from image_recommender.query.places import PlaceMatch
from image_recommender.query.understanding import understand
from image_recommender.settings import user_language

# The library's places in this table (folded): its own name first, then other spellings
# (GeoNames' alternate names), as a real catalog answers them.
PLACE_NAMES = {
    (name, alternate): PlaceMatch((number,), entity, "town")
    for number, (entity, names) in enumerate(
        {
            "Westerland, Germany": ["westerland", "sylt"],
            "Lisbon, Portugal": ["lisbon", "lissabon", "lisboa"],
            "Munich, Germany": ["munich", "muenchen", "munchen"],
            "Essen, Germany": ["essen"],
            "Bath, United Kingdom": ["bath"],
            "Nice, France": ["nice", "nizza"],
            "Bank, Azerbaijan": ["bank"],
            "Paris, France": ["paris"],
            "New York City, United States": ["new york", "new york city"],
            "Bad Homburg, Germany": ["bad homburg"],
        }.items()
    )
    for position, name in enumerate(names)
    for alternate in [position > 0]
}


def PLACES(name: str, alternates: bool) -> PlaceMatch | None:
    return PLACE_NAMES.get((name, False)) or (PLACE_NAMES.get((name, True)) if alternates else None)


Y = "every year"
# query: (CLIP text, place words, dates, negatives); dates: (after, before) or (Y, first, last)
CASES: dict[str, tuple[str, str | None, tuple[str | None, ...] | None, tuple[str, ...]]] = {
    # German
    "Strand Sylt Juli 2019": ("Strand", "Sylt", ("2019-07-01", "2019-08-01"), ()),
    "Hund im Schnee 2021": ("Hund im Schnee", None, ("2021-01-01", "2022-01-01"), ()),
    "Weihnachten 2024 nicht Kinder": ("Weihnachten", None, ("2024-12-24", "2024-12-27"), ("Kinder",)),
    "Sommer 2023 am See": ("Sommer am See", None, ("2023-06-01", "2023-09-01"), ()),
    "Kirche in Essen": ("Kirche", "Essen", None, ()),
    "Essen im Restaurant": ("Essen im Restaurant", None, None, ()),
    "Essen und Trinken": ("Essen und Trinken", None, None, ()),
    "Bank im Park": ("Bank im Park", None, None, ()),
    "Parkbank im Herbst": ("Parkbank Herbst", None, (Y, "09-01", "11-30"), ()),
    "Strand Juli": ("Strand", None, (Y, "07-01", "07-31"), ()),
    "im Mai am Meer": ("am Meer", None, (Y, "05-01", "05-31"), ()),
    "Mai 2022 Hochzeit": ("Hochzeit", None, ("2022-05-01", "2022-06-01"), ()),
    "Hochzeit Mai": ("Hochzeit Mai", None, None, ()),
    "Berge 2019-2021": ("Berge", None, ("2019-01-01", "2022-01-01"), ()),
    "Berge 2019 bis 2021": ("Berge", None, ("2019-01-01", "2022-01-01"), ()),
    "zwischen 2018 und 2020 Schnee": ("Schnee", None, ("2018-01-01", "2021-01-01"), ()),
    "von 2015 bis 2016 Urlaub": ("Urlaub", None, ("2015-01-01", "2017-01-01"), ()),
    "Katze seit 2020": ("Katze", None, ("2020-01-01", None), ()),
    "Auto vor 2010": ("Auto", None, (None, "2010-01-01"), ()),
    "Auto bis 2010": ("Auto", None, (None, "2011-01-01"), ()),
    "Hund vor dem Haus": ("Hund vor dem Haus", None, None, ()),
    "Geburtstag 24.12.2024": ("Geburtstag", None, ("2024-12-24", "2024-12-25"), ()),
    "Ostern 2023 Eier": ("Ostern Eier", None, ("2023-04-07", "2023-04-11"), ()),
    "Pfingsten 2022": ("Pfingsten", None, ("2022-06-05", "2022-06-07"), ()),
    "an Weihnachten Baum": ("Weihnachten Baum", None, (Y, "12-24", "12-26"), ()),
    "Weihnachtsbaum": ("Weihnachtsbaum", None, None, ()),
    "Weihnachten Baum": ("Weihnachten Baum", None, None, ()),
    "Winterlandschaft": ("Winterlandschaft", None, None, ()),
    "Winter 2020 Schnee": ("Winter Schnee", None, ("2020-12-01", "2021-03-01"), ()),
    "Silvester 2019 Feuerwerk": ("Silvester Feuerwerk", None, ("2019-12-31", "2020-01-01"), ()),
    "Frühling 2021 Blumen": ("Frühling Blumen", None, ("2021-03-01", "2021-06-01"), ()),
    "Urlaub in Lissabon": ("Urlaub", "Lissabon", None, ()),
    "Urlaub Lissabon 2019": ("Urlaub", "Lissabon", ("2019-01-01", "2020-01-01"), ()),
    "Marienplatz München": ("Marienplatz", "München", None, ()),
    "marienplatz münchen": ("marienplatz münchen", None, None, ()),  # another spelling, typed in lower case
    "strand sylt juli 2019": ("strand sylt", None, ("2019-07-01", "2019-08-01"), ()),
    "lisbon tram": ("tram", "lisbon", None, ()),  # the place's own name counts however it is typed
    "tram in münchen": ("tram", "münchen", None, ()),
    "Kinder ohne Hund": ("Kinder", None, None, ("Hund",)),
    "Garten nicht die Nachbarn": ("Garten", None, None, ("Nachbarn",)),
    "Strand -Menschen": ("Strand", None, None, ("Menschen",)),
    'Schild "nicht stören"': ('Schild "nicht stören"', None, None, ()),
    "Rechnung Nr. 2024-117": ("Rechnung Nr. 2024-117", None, None, ()),
    "Dom in Paris 1999": ("Dom", "Paris", ("1999-01-01", "2000-01-01"), ()),
    "Bad Homburg Kurpark": ("Kurpark", "Bad Homburg", None, ()),
    "Bad renovieren": ("Bad renovieren", None, None, ()),
    "1080p Bildschirm": ("1080p Bildschirm", None, None, ()),
    "2019": ("2019", None, ("2019-01-01", "2020-01-01"), ()),
    # English
    "beach Lisbon summer 2023": ("beach summer", "Lisbon", ("2023-06-01", "2023-09-01"), ()),
    "dog in the snow 2021": ("dog in the snow", None, ("2021-01-01", "2022-01-01"), ()),
    "nice beach": ("nice beach", None, None, ()),
    "beach in Nice": ("beach", "Nice", None, ()),
    "a bath with bubbles": ("a bath with bubbles", None, None, ()),
    "Roman baths in Bath": ("Roman baths", "Bath", None, ()),
    "bank holiday": ("bank holiday", None, None, ()),
    "may the force be with you": ("may the force be with you", None, None, ()),
    "wedding May 2019": ("wedding", None, ("2019-05-01", "2019-06-01"), ()),
    "protest march": ("protest march", None, None, ()),
    "in March snow": ("snow", None, (Y, "03-01", "03-31"), ()),
    "August heat": ("August heat", None, None, ()),
    "beach July": ("beach", None, (Y, "07-01", "07-31"), ()),
    "christmas tree": ("christmas tree", None, None, ()),
    "Christmas 2022 family": ("Christmas family", None, ("2022-12-24", "2022-12-27"), ()),
    "Christmas Eve 2021": ("Christmas Eve", None, ("2021-12-24", "2021-12-25"), ()),
    "at Christmas": ("Christmas", None, (Y, "12-24", "12-26"), ()),
    "winter landscape": ("winter landscape", None, None, ()),
    "in the summer lake": ("summer lake", None, (Y, "06-01", "08-31"), ()),
    "summer of 2019": ("summer", None, ("2019-06-01", "2019-09-01"), ()),
    "fall 2018 leaves": ("fall leaves", None, ("2018-09-01", "2018-12-01"), ()),
    "waterfall": ("waterfall", None, None, ()),
    "cars before 2000": ("cars", None, (None, "2000-01-01"), ()),
    "cats since 2020": ("cats", None, ("2020-01-01", None), ()),
    "between 2010 and 2012 concerts": ("concerts", None, ("2010-01-01", "2013-01-01"), ()),
    "2019-07 trip": ("trip", None, ("2019-07-01", "2019-08-01"), ()),
    "party 2024-12-31": ("party", None, ("2024-12-31", "2025-01-01"), ()),
    "Easter 2024": ("Easter", None, ("2024-03-29", "2024-04-02"), ()),
    "Times Square New York 2015": ("Times Square", "New York", ("2015-01-01", "2016-01-01"), ()),
    "kids not dogs": ("kids", None, None, ("dogs",)),
    "city without cars": ("city", None, None, ("cars",)),
    "mountains -snow -people": ("mountains", None, None, ("snow", "people")),
    "not the kids": ("not the kids", None, None, ()),
    "-dog": ("-dog", None, None, ()),
    "Munich": ("Munich", "Munich", None, ()),
    "Paris Hilton": ("Hilton", "Paris", None, ()),
    "the year 1850": ("the year 1850", None, ("1850-01-01", "1851-01-01"), ()),
    "room 101": ("room 101", None, None, ()),
    "size 3000": ("size 3000", None, None, ()),
}


def dates_of(understood) -> tuple[str | None, ...] | None:  # type: ignore[no-untyped-def]
    if understood.dates is None:
        return None
    if understood.dates.every_year:
        return (Y, *understood.dates.every_year)
    return (understood.dates.after, understood.dates.before)


def test_the_table_has_sixty_queries_in_each_language_mix() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("query", list(CASES))
def test_a_query_is_understood_as_a_person_means_it(query: str) -> None:
    text, place, dates, negatives = CASES[query]
    understood = understand(query, PLACES)
    assert understood.text == text
    assert (understood.place.words if understood.place else None) == place
    assert dates_of(understood) == dates
    assert understood.negatives == negatives


def test_literal_and_ignored_kinds_keep_the_words() -> None:
    assert understand("Strand Sylt Juli 2019", PLACES, ignore=frozenset({"date", "place", "negative"})).text == (
        "Strand Sylt Juli 2019"
    )
    kept = understand("Strand Sylt Juli 2019 nicht Kinder", PLACES, ignore=frozenset({"place"}))
    assert kept.text == "Strand Sylt" and kept.place is None and kept.negatives == ("Kinder",)


def test_the_line_speaks_the_user_s_language_whatever_the_query_s() -> None:
    assert understand("Strand Sylt Juli 2019", PLACES, language="de").describe() == (
        "verstanden: Text 'Strand', Ort Sylt (Westerland, Germany), Juli 2019"
    )
    assert understand("beach in Lisbon not people", PLACES).describe() == (
        "understood: text 'beach', place Lisbon, not 'people'"
    )
    # a spelling is shown with the name of the place it was taken for
    said = understand("Kirche Muenchen 2019", PLACES).describe()
    assert said == "understood: text 'Kirche', place Muenchen (Munich, Germany), 2019"
    for query in ("Lisbon", "München", "Strand Sylt"):  # one language, however the query is written
        assert understand(query, PLACES, language="de").describe().startswith("verstanden:"), query
        assert understand(query, PLACES, language="en").describe().startswith("understood:"), query


def test_the_user_s_language_comes_from_the_setting_else_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    assert user_language() == "en"
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    assert user_language() == "de" and user_language("en") == "en"
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert user_language() == "en"


def test_a_negated_place_leaves_the_place_out() -> None:
    alone = understand("nicht Munich", PLACES, language="de")
    assert alone.not_place is not None and alone.not_place.found.ids == PLACES("munich", True).ids  # type: ignore[union-attr]
    assert alone.negatives == () and "nicht in Munich" in alone.describe()
    mixed = understand("Strand nicht Lisbon ohne Kinder", PLACES)
    assert mixed.text == "Strand" and mixed.negatives == ("Kinder",) and mixed.not_place is not None
    assert understand("Kirche nicht Essen", PLACES).not_place is None  # an everyday word stays a word pushed away


@pytest.mark.parametrize("query", ["Geburtstag 31.02.2019", "party 2019-04-31", "Fest 29.02.2019"])
def test_an_impossible_date_stays_text_and_says_so(query: str) -> None:
    understood = understand(query, PLACES)
    word = query.split()[-1]
    assert understood.dates is None and understood.text == query
    assert understood.impossible == (word,) and f"'{word}' " in understood.describe()
    assert understand("Fest 29.02.2020", PLACES).dates is not None  # a leap day is a day
