"""What a typed query says besides what to look for: when, where, and what not.

"Strand Sylt Juli 2019", "Hund im Schnee 2021", "beach in Lisbon summer 2023", "Weihnachten 2024
nicht Kinder": the one search box takes dates, places and negations in German and English and
leaves the rest to CLIP (and to the words read in pictures). The rules, chosen so that ordinary
words stay words:

- **Years** (1800-2100) on their own, **ranges** ("2019-2021", "2019 bis 2021", "between 2019
  and 2021"), **open ranges** ("seit 2020", "since 2020", "ab", "nach"/"after"; "vor"/"before"
  exclusive, "bis"/"until" inclusive), **days** ("2024-12-24", "24.12.2024"), **months** with
  a year ("Juli 2019", "July 2019", "2019-07").
- A **month without a year** is every year's month ("Strand Juli") when it cannot be another
  word: "Juli", "Oktober", "December" always; "Mai", "May", "März", "March", "April", "August"
  and abbreviations only after "im"/"in" ("im Mai").
- **Seasons** ("Sommer", "summer", "Winter" = December to February) and **holidays**
  (which also stay in the CLIP text: they say how the pictures look)
  "Weihnachten"/"Christmas" = 24-26 December, "Heiligabend", "Silvester", "Neujahr",
  "Ostern"/"Easter" = Good Friday to Easter Monday, "Pfingsten") are dates only with a year
  ("Sommer 2023") or after "im"/"in"/"an"/"zu"/"at"/"on"/"over" ("an Weihnachten"): "winter
  landscape" and "christmas tree" stay pictures. Easter and Whitsun need the year.
- **Places**: words naming a place the library holds photos from (up to four words: "Sylt"
  needs a town called so) after "in"/"auf"/"aus"/"bei"/"nach"/"at"/"from"/"near"/"around", or
  anywhere unless they are also everyday words (``EVERYDAY_WORDS``: "Essen", "Bank", "Bath",
  "Nice", ...; and the everyday subjects the caller passes): "Essen im Restaurant" stays food,
  "Kirche in Essen" is a place. Without such a word, a place's other spellings (GeoNames'
  alternate names: "München" for Munich) count only when typed capitalised, since among them
  are everyday words of some language ("time", "more" name towns somewhere); the place's own
  names (its town, city, region, country) count either way.
- **Negations**: "nicht X", "not X", "ohne X", "without X", "-X" (X: the next word, articles
  skipped) push X away, like ``--not-text``.
- Words in double quotes are never interpreted; neither is anything with ``--literal``.

Only the first date and the first place count; later ones stay words. When nothing but dates
and places is left, the query's own words (without the dates) are the CLIP text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

from image_recommender.catalog.words import fold
from image_recommender.errors import echoed
from image_recommender.query.places import PlaceMatch

KINDS = ("date", "place", "negative", "person")  # "person": library.py reads names before the rest
# The longest place name looked for, in words ("Santa Cruz de Tenerife").
MAX_PLACE_WORDS = 4
Value = TypeVar("Value")


def _folded_keys(table: dict[str, Value]) -> dict[str, Value]:
    """A table written with umlauts spelled out ("maerz"), keyed as ``fold`` makes the query's words."""
    return {fold(word): value for word, value in table.items()}


_MONTHS = _folded_keys({
    "januar": 1, "jaenner": 1, "january": 1, "jan": 1, "februar": 2, "feber": 2, "february": 2, "feb": 2,
    "maerz": 3, "marz": 3, "march": 3, "mar": 3, "mrz": 3, "april": 4, "apr": 4, "mai": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6, "juli": 7, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11, "dezember": 12, "december": 12, "dez": 12, "dec": 12,
})  # fmt: skip
# Month names that are no other everyday word: dates even without a year or "im".
_PLAIN_MONTHS = {fold(word) for word in {
    "januar", "jaenner", "january", "februar", "february", "juni", "june", "juli", "july", "september",
    "oktober", "october", "november", "dezember", "december",
}}  # fmt: skip
# (first month, first day, last month, last day); a window over New Year belongs to the year it starts in.
_SEASONS = _folded_keys({
    "sommer": (6, 1, 8, 31), "summer": (6, 1, 8, 31), "herbst": (9, 1, 11, 30), "autumn": (9, 1, 11, 30),
    "fall": (9, 1, 11, 30), "winter": (12, 1, 2, 29), "fruehling": (3, 1, 5, 31), "fruehjahr": (3, 1, 5, 31),
    "spring": (3, 1, 5, 31), "weihnachten": (12, 24, 12, 26), "christmas": (12, 24, 12, 26),
    "xmas": (12, 24, 12, 26), "heiligabend": (12, 24, 12, 24), "silvester": (12, 31, 12, 31),
    "neujahr": (1, 1, 1, 1),
})  # fmt: skip
# Holidays that move with Easter: (first, last) day counted from Easter Sunday.
_MOVABLE = {"ostern": (-2, 1), "easter": (-2, 1), "pfingsten": (49, 50), "whitsun": (49, 50), "pentecost": (49, 50)}
_PHRASES = {
    ("christmas", "eve"): "heiligabend",
    ("new", "year's", "eve"): "silvester",
    ("new", "years", "eve"): "silvester",
}

_DATE_LEADS = {"im", "in", "an", "am", "zu", "at", "on", "over", "during", "of", "the"}
_AFTER = {"seit": "since", "ab": "since", "since": "since", "nach": "since", "after": "since", "from": "since"}
_BEFORE = {"vor": "before", "before": "before", "bis": "until", "until": "until", "till": "until"}
_RANGE_JOINS = {"bis", "to", "until", "till", "und", "and", "-", "–"}
_RANGE_LEADS = {"von", "from", "zwischen", "between"}
_PLACE_LEADS = {"in", "auf", "aus", "bei", "nach", "at", "from", "near", "around", "nahe"}
_NEGATIONS = {"nicht", "not", "ohne", "without"}
# A season's or holiday's own word: a date, and still what the pictures look like ("Winter 2020
# Schnee" looks for snow in winter pictures), so it stays in the CLIP text too.
_SEEN = "seen"
_ALL_LEADS = {"jahr", "year"} | _DATE_LEADS | set(_AFTER) | set(_BEFORE) | _RANGE_JOINS | _RANGE_LEADS | _PLACE_LEADS
_ARTICLES = {"der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "the", "a", "an", "any"}

# Place names that are everyday German or English words: a place only after "in", "at", ...
EVERYDAY_WORDS = frozenset(
    fold(word)
    for word in """
    Essen Bank Bad Baden Hof Halle Weil Zug Berg Burg Wald See Au Aue Rain Kirchen Markt Stein Dorf
    Tal Garten Linden Brunnen Kreuz Moos Weiden Werder Lauf Laufen Lage Leer Senden Wetter Wiesen
    Moor Mark Ried Forst Bergen Feld Hagen Brake Elend Bruch Sand Heide Haren Kappeln Buchen Eichen
    Tanne Tannen Ahrens Hausen Ort Land Insel Strand Hafen Schloss Kirche Bach Fluss Brücke Mühle
    Wiese Dom Turm Bath Nice Reading Split Mobile Orange Buffalo Eagle Phoenix Aurora Paradise Hope
    Liberty Union Independence Victoria Florence Troy Jersey Gap Cork Deal Hull Sale Street Wells
    Rye Ware Beach Snowflake Sunrise Sunset Harmony Surprise Champion Friendship Energy Vista
    Riverside Lakeside Bay Park Garden Falls Mountain Lake River Island Hill Spring Springs Summit
    Forest Valley Rock Marina Lincoln Jackson Washington Austin Georgia Chile Turkey China Jordan
    Chad Guinea Nancy Rose Lily Angel Angels Santa Gold Silver Diamond Crystal Opal Coral Amber Mars
    Venus Eden Zion Battle Mold Flint
    """.split()  # noqa: SIM905 - a word list reads best as words
)


@dataclass(frozen=True)
class DateSpan:
    """The dates a query named: a range [after, before) of days, or a window every year
    (first and last "MM-DD", inclusive; the first after the last: over New Year)."""

    words: str
    after: str | None = None
    before: str | None = None
    every_year: tuple[str, str] | None = None


@dataclass(frozen=True)
class PlaceWords:
    """The words that named a place, and what they name (the lookup's answer)."""

    words: str
    found: PlaceMatch

    @property
    def shown(self) -> str:
        """The words as typed, with the place they name where its name is another ("Muenchen
        (Munich, Bavaria, Germany)"), so a user sees which place a spelling was taken for."""
        parts = self.found.entity.split(", ")
        entity = ", ".join(part for index, part in enumerate(parts) if part not in parts[:index])
        return self.words if fold(parts[0]) == fold(self.words) else f"{self.words} ({entity})"


@dataclass(frozen=True)
class Understood:
    """A query taken apart: the CLIP text, the date, the place, the words pushed away."""

    query: str
    text: str
    dates: DateSpan | None = None
    place: PlaceWords | None = None
    negatives: tuple[str, ...] = ()
    language: str = "en"
    ignored: frozenset[str] = field(default_factory=frozenset)
    impossible: tuple[str, ...] = ()  # dates no calendar has ("31.02.2019"): kept as text, and said so
    not_place: PlaceWords | None = None  # "nicht Hamburg": pictures taken anywhere but there
    # People named in the query ("Anna und Ben"): each name as typed, and the ids of the people
    # of that name; a picture must show every one of them.
    people: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def as_json(self) -> dict[str, object]:
        dates = self.dates
        return {
            "text": self.text,
            "place": None
            if self.place is None
            else {"words": self.place.words, "name": self.place.found.entity, "level": self.place.found.level},
            "dates": None
            if dates is None
            else {
                "words": dates.words,
                "after": dates.after,
                "before": dates.before,
                "every_year": list(dates.every_year) if dates.every_year else None,
            },
            "negatives": list(self.negatives),
            "not_place": None
            if self.not_place is None
            else {
                "words": self.not_place.words,
                "name": self.not_place.found.entity,
                "level": self.not_place.found.level,
            },
            "people": [{"words": words, "ids": list(ids)} for words, ids in self.people],
            "language": self.language,
            "literal": sorted(self.ignored),
            "impossible_dates": list(self.impossible),
            "line": self.describe(),
        }

    @property
    def anything(self) -> bool:
        return any((self.dates, self.place, self.negatives, self.impossible, self.not_place, self.people))

    def describe(self) -> str:
        """One line: "verstanden: Text 'Strand', Ort Sylt, Juli 2019" / "understood: text 'beach', ..."."""
        german = self.language == "de"
        parts = [f"{'Person' if german else 'person'} {words}" for words, _ in self.people]
        parts.append(f"{'Text' if german else 'text'} {echoed(self.text)}")
        if self.place is not None:
            parts.append(f"{'Ort' if german else 'place'} {self.place.shown}")
        if self.dates is not None:
            parts.append(
                self.dates.words + (" (jedes Jahr)" if german else " (any year)") * bool(self.dates.every_year)
            )
        parts += [f"{'nicht' if german else 'not'} {echoed(word)}" for word in self.negatives]
        if self.not_place is not None:
            parts.append(f"{'nicht in' if german else 'not in'} {self.not_place.shown}")
        parts += [f"{word!r} {'ist kein Datum' if german else 'is no date'}" for word in self.impossible]
        return f"{'verstanden' if german else 'understood'}: {', '.join(parts)}"


# (folded name, whether it may be one of GeoNames' alternate names) -> the library's place, or None
PlaceLookup = Callable[[str, bool], PlaceMatch | None]

_TOKEN = re.compile(r'"[^"]*"|\S+')
_YEAR = re.compile(r"(1[89]\d\d|2[01]\d\d)")
_YEAR_RANGE = re.compile(r"(1[89]\d\d|2[01]\d\d)\s*[-–]\s*(1[89]\d\d|2[01]\d\d)")
_ISO_MONTH = re.compile(r"(1[89]\d\d|2[01]\d\d)-(0[1-9]|1[0-2])")
_ISO_DAY = re.compile(r"(1[89]\d\d|2[01]\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
_DOTTED_DAY = re.compile(r"(0?[1-9]|[12]\d|3[01])\.(0?[1-9]|1[0-2])\.(1[89]\d\d|2[01]\d\d)")
_EDGE_PUNCTUATION = ".,;:!?()[]{}„“”‚‘’«»"


def understand(
    query: str,
    place_lookup: PlaceLookup,
    longest_place: int = MAX_PLACE_WORDS,
    ignore: frozenset[str] = frozenset(),
    everyday: frozenset[str] = frozenset(),
    language: str = "en",
) -> Understood:
    """``query`` taken apart; ``place_lookup`` answers a folded name with the library's place of
    that name (or None); kinds in ``ignore`` ("date", "place", "negative") stay words; folded
    words in ``everyday`` (what pictures show: "regen", "berge", "snow") are places only after
    "in", "at", ... like ``EVERYDAY_WORDS``. A negated place name ("nicht Hamburg") leaves out
    the place's pictures rather than the word's look. ``language`` is the user's (setting, LANG):
    the line says what was understood in it, whatever language the query's words are in."""
    tokens = _TOKEN.findall(query)
    words = [_plain(token) for token in tokens]
    used: list[str | None] = [None] * len(tokens)
    dates = None if "date" in ignore else _find_dates(tokens, words, used)
    negatives = () if "negative" in ignore else _find_negatives(tokens, words, used)
    not_place = None
    if "place" not in ignore:
        for word in negatives:
            found = place_lookup(fold(word), True) if fold(word) not in EVERYDAY_WORDS | everyday else None
            if found is not None:
                not_place = PlaceWords(word, found)
                negatives = tuple(other for other in negatives if other != word)
                break
    common = EVERYDAY_WORDS | everyday
    place = None if "place" in ignore else _find_place(tokens, words, used, place_lookup, longest_place, common)
    text = " ".join(token for token, kind in zip(tokens, used, strict=True) if kind in (None, _SEEN))
    if not text:  # nothing but dates and places: their names are what to look for ("Weihnachten", "Lisbon")
        text = " ".join(
            token.strip(_EDGE_PUNCTUATION)
            for token, word, kind in zip(tokens, words, used, strict=True)
            if kind in ("date", "place") and word.isalpha() and word not in _ALL_LEADS
        )
    impossible = (
        ()
        if "date" in ignore
        else tuple(token for token, word in zip(tokens, words, strict=True) if _no_such_day(word))
    )
    if not text and dates is None and place is None and not_place is None:  # "not the kids" alone: the words
        return Understood(query, query.strip(), language=language, ignored=frozenset(ignore), impossible=impossible)
    text = text or query.strip()  # "2019": the year's photos, ranked by the words as typed
    return Understood(query, text, dates, place, negatives, language, frozenset(ignore), impossible, not_place)


def _no_such_day(word: str) -> bool:
    """A day in a month that has no such day: "31.02.2019", "2019-04-31"."""
    if match := _ISO_DAY.fullmatch(word):
        year, month, day = int(match[1]), int(match[2]), int(match[3])
    elif match := _DOTTED_DAY.fullmatch(word):
        year, month, day = int(match[3]), int(match[2]), int(match[1])
    else:
        return False
    return day > _days_in(year, month)


def _plain(token: str) -> str:
    """A token as the rules compare it: folded, edge punctuation gone; quoted tokens never match."""
    if token.startswith('"'):
        return "\0"
    return fold(token).strip(_EDGE_PUNCTUATION)


def _day(value: date) -> str:
    return value.strftime("%Y-%m-%d")


def _year_span(first: int, last: int) -> tuple[str, str]:
    return f"{first:04d}-01-01", f"{last + 1:04d}-01-01"


def _month_span(year: int, month: int) -> tuple[str, str]:
    following = date(year + month // 12, month % 12 + 1, 1)
    return f"{year:04d}-{month:02d}-01", _day(following)


def _window_span(year: int, window: tuple[int, int, int, int]) -> tuple[str, str]:
    first_month, first_day, last_month, last_day = window
    end_year = year + 1 if (last_month, last_day) < (first_month, first_day) else year
    last = date(end_year, last_month, min(last_day, _days_in(end_year, last_month)))
    return _day(date(year, first_month, first_day)), _day(last + timedelta(days=1))


def _days_in(year: int, month: int) -> int:
    return (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day


def _easter(year: int) -> date:
    from dateutil.easter import easter

    return easter(year)


def _mark(used: list[str | None], start: int, end: int, kind: str = "date") -> None:
    for index in range(start, end):
        used[index] = kind


def _lead(words: list[str], used: list[str | None], start: int, leads: set[str]) -> int:
    """Where a date expression starting at ``start`` really starts, with its "im"/"in the" before it."""
    while start > 0 and not used[start - 1] and words[start - 1] in leads:
        start -= 1
    return start


def _year_at(words: list[str], index: int) -> int | None:
    if 0 <= index < len(words) and _YEAR.fullmatch(words[index]):
        return int(words[index])
    return None


def _find_dates(tokens: list[str], words: list[str], used: list[str | None]) -> DateSpan | None:
    """The first date expression, its tokens marked as used."""
    for index, word in enumerate(words):
        found = _date_at(tokens, words, used, index, word)
        if found is not None:
            return found
    return None


def _date_at(tokens: list[str], words: list[str], used: list[str | None], index: int, word: str) -> DateSpan | None:
    typed = lambda start, end: " ".join(t.strip(_EDGE_PUNCTUATION) for t in tokens[start:end])  # noqa: E731
    if _no_such_day(word):
        return None
    if match := _ISO_DAY.fullmatch(word):
        day = date(int(match[1]), int(match[2]), int(match[3]))
        _mark(used, index, index + 1)
        return DateSpan(typed(index, index + 1), _day(day), _day(day + timedelta(days=1)))
    if match := _DOTTED_DAY.fullmatch(word):
        day = date(int(match[3]), int(match[2]), int(match[1]))
        _mark(used, index, index + 1)
        return DateSpan(typed(index, index + 1), _day(day), _day(day + timedelta(days=1)))
    if match := _ISO_MONTH.fullmatch(word):
        _mark(used, index, index + 1)
        return DateSpan(typed(index, index + 1), *_month_span(int(match[1]), int(match[2])))
    if match := _YEAR_RANGE.fullmatch(word):
        first, last = sorted((int(match[1]), int(match[2])))
        start = _lead(words, used, index, _RANGE_LEADS)
        _mark(used, start, index + 1)
        return DateSpan(typed(start, index + 1), *_year_span(first, last))
    alone = _year_at(words, index)
    if alone is not None:
        return _around_year(words, used, index, alone, typed)
    month, season, end = _MONTHS.get(word), _SEASONS.get(word), index + 1
    for parts, name in _PHRASES.items():  # "Christmas Eve", "New Year's Eve"
        if tuple(words[index : index + len(parts)]) == parts:
            month, season, end = None, _SEASONS[name], index + len(parts)
    if month is None and season is None and word not in _MOVABLE:
        return None
    following_index = end + 1 if end < len(words) and words[end] == "of" else end
    following = _year_at(words, following_index)
    start = _lead(words, used, index, _DATE_LEADS)
    led = start < index
    if following is not None:  # "Juli 2019", "Sommer 2023", "Weihnachten 2024", "Ostern 2023"
        _mark(used, start, following_index + 1)
        words_typed = typed(index, following_index + 1)
        if month is not None:
            return DateSpan(words_typed, *_month_span(following, month))
        _mark(used, index, end, _SEEN)
        if season is not None:
            return DateSpan(words_typed, *_window_span(following, season))
        first, last = _MOVABLE[word]
        sunday = _easter(following)
        return DateSpan(words_typed, _day(sunday + timedelta(days=first)), _day(sunday + timedelta(days=last + 1)))
    if month is not None and (led or word in _PLAIN_MONTHS):
        _mark(used, start, end)
        return DateSpan(typed(index, end), every_year=_every_year((month, 1, month, 31)))
    if season is not None and led:
        _mark(used, start, end)
        _mark(used, index, end, _SEEN)
        return DateSpan(typed(index, end), every_year=_every_year(season))
    return None


def _every_year(window: tuple[int, int, int, int]) -> tuple[str, str]:
    first_month, first_day, last_month, last_day = window
    return f"{first_month:02d}-{first_day:02d}", f"{last_month:02d}-{last_day:02d}"


def _around_year(
    words: list[str], used: list[str | None], index: int, year: int, typed: Callable[[int, int], str]
) -> DateSpan | None:
    """A year with what stands around it: a range, an open range, or the year alone."""
    before_word = words[index - 1] if index > 0 and not used[index - 1] else None
    if index + 2 < len(words) and words[index + 1] in _RANGE_JOINS and (last := _year_at(words, index + 2)) is not None:
        start = _lead(words, used, index, _RANGE_LEADS)
        _mark(used, start, index + 3)
        first, last = sorted((year, last))
        return DateSpan(typed(start, index + 3), *_year_span(first, last))
    if before_word in _AFTER:
        _mark(used, index - 1, index + 1)
        return DateSpan(typed(index - 1, index + 1), after=f"{year:04d}-01-01")
    if before_word in _BEFORE:
        _mark(used, index - 1, index + 1)
        inclusive = _BEFORE[before_word] == "until"
        return DateSpan(typed(index - 1, index + 1), before=f"{year + inclusive:04d}-01-01")
    if before_word in _MONTHS or before_word in _SEASONS or before_word in _MOVABLE or before_word == "of":
        return None  # "Juli 2019": the month's turn, from the month's own token
    start = _lead(words, used, index, {"im", "in", "jahr", "year", "the"})
    _mark(used, start, index + 1)
    return DateSpan(typed(index, index + 1), *_year_span(year, year))


def _find_negatives(tokens: list[str], words: list[str], used: list[str | None]) -> tuple[str, ...]:
    """Words after "nicht"/"not"/"ohne"/"without" (articles skipped), and "-word" tokens."""
    found: list[str] = []
    index = 0
    while index < len(tokens):
        if used[index]:
            index += 1
            continue
        token = tokens[index]
        if token.startswith("-") and len(token) > 1 and token[1].isalpha():
            found.append(token[1:])
            used[index] = "negative"
        elif words[index] in _NEGATIONS:
            target = index + 1
            while target < len(tokens) and words[target] in _ARTICLES and not used[target]:
                target += 1
            if target < len(tokens) and not used[target] and words[target] not in _NEGATIONS:
                found.append(tokens[target].strip(_EDGE_PUNCTUATION + '"'))
                _mark(used, index, target + 1, "negative")
                index = target
        index += 1
    return tuple(found)


def _find_place(
    tokens: list[str],
    words: list[str],
    used: list[str | None],
    place_lookup: PlaceLookup,
    longest: int,
    common: frozenset[str],
) -> PlaceWords | None:
    """The first run of words naming one of the library's places that reads as a place."""
    for start in range(len(tokens)):
        for length in range(min(longest, len(tokens) - start), 0, -1):
            end = start + length
            if any(used[start:end]) or any(word == "\0" for word in words[start:end]):
                continue
            name = " ".join(words[start:end])
            if len(name) < 3 or name.isdigit():
                continue
            led = start > 0 and not used[start - 1] and words[start - 1] in _PLACE_LEADS
            if not led and name in common:
                continue
            capitalised = tokens[start][:1].isupper()
            found = place_lookup(name, led or capitalised)
            if found is None:
                continue
            first = start - 1 if led else start
            _mark(used, first, end, "place")
            return PlaceWords(" ".join(token.strip(_EDGE_PUNCTUATION) for token in tokens[start:end]), found)
    return None
