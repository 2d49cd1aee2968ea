"""Which images a search may return: folder, dates taken, camera, place; and the date order.

The CLI's flags and the API's parameters are parsed here into one ``PhotoFilter``, which the
catalog turns into SQL (the catalog imports this module, never the other way round).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from image_recommender.errors import QueryError

_DATE_FORMATS = {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d"}


# The end of a period that ends with the calendar (year 9999): after every time of its last day.
_END_OF_CALENDAR = "9999-12-31T24:00:00"


SORT_ORDERS = ("score", "date")
KINDS = ("image", "video")


def date_range(text: str, option: str) -> tuple[str, str]:
    """A year, month or day ("2019", "2019-06", "2024-12-24") as [start, end) in catalog time text."""
    value = text.strip()
    try:
        start = datetime.strptime(value, _DATE_FORMATS[len(value)])
    except (KeyError, ValueError):
        raise QueryError(f"{option} {text!r}: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD") from None
    try:
        if len(value) == 4:
            end = start.replace(year=start.year + 1)
        elif len(value) == 7:
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            end = start + timedelta(days=1)
        end_text = end.strftime("%Y-%m-%dT%H:%M:%S")
    except (ValueError, OverflowError):  # the next period would be in year 10000
        end_text = _END_OF_CALENDAR
    return start.strftime("%Y-%m-%dT%H:%M:%S"), end_text


@dataclass(frozen=True)
class PhotoFilter:
    """Which images a search may return: a folder prefix ("a/b/", "" for all), a time range on
    the date taken (``after`` inclusive, ``before`` exclusive, local camera time), and a camera
    (case-insensitive substring of "Make Model")."""

    folder: str | None = None
    after: str | None = None
    before: str | None = None
    camera: str | None = None
    near: tuple[float, float, float] | None = None  # latitude, longitude, radius in km
    theme: int | None = None  # a theme's id (the library resolves names)
    places: tuple[int, ...] | None = None  # ids of the places named (the library resolves names)
    not_places: tuple[int, ...] | None = None  # ids of places left out ("nicht Hamburg"); unplaced photos stay
    every_year: tuple[str, str] | None = None  # ("MM-DD", "MM-DD") inclusive, any year ("Juli", "im Sommer")
    kind: str | None = None  # "image" or "video"
    people: tuple[tuple[int, ...], ...] = ()  # each: the ids of the people of one name; all must be shown
    # A date filter matches pictures with a date taken; those dated only by the file's time join
    # only when asked (a copied or restored file's time says nothing of when the photo was taken).
    include_undated: bool = False

    @property
    def dated(self) -> bool:
        """Whether the filter asks for a date (after, before, or a window of every year)."""
        return self.after is not None or self.before is not None or self.every_year is not None

    @classmethod
    def from_options(
        cls,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
        taken_on: str | None = None,
        camera: str | None = None,
        near: str | None = None,
        radius: str | None = None,
    ) -> PhotoFilter:
        """From the CLI's and API's words: --after/--before a month, --taken-on a day, --camera a name,
        --near LAT,LON within --radius (default 1 km)."""
        start = date_range(after, "--after")[0] if after else None
        end = date_range(before, "--before")[0] if before else None
        if taken_on:
            day_start, day_end = date_range(taken_on, "--taken-on")
            start, end = max(filter(None, (start, day_start))), min(filter(None, (end, day_end)))
        if start and end and start >= end:
            raise QueryError(f"no date is both on or after {start[:10]} and before {end[:10]}")
        if camera is not None and not camera.strip():
            raise QueryError("--camera: give part of a camera's name, e.g. 'Pixel 7'")
        if radius is not None and near is None:
            raise QueryError("--radius needs --near LAT,LON")
        place = (*parse_place(near), parse_radius(radius or DEFAULT_RADIUS)) if near is not None else None
        return cls(folder, start, end, camera.strip() if camera else None, place)

    @property
    def active(self) -> bool:
        return bool(self.people) or any(
            value is not None
            for value in (
                self.folder,
                self.after,
                self.before,
                self.camera,
                self.near,
                self.theme,
                self.places,
                self.not_places,
                self.every_year,
                self.kind,
            )
        )


DEFAULT_RADIUS = "1km"


_RADIUS = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(km|m)?\s*", re.IGNORECASE)


def parse_place(text: str) -> tuple[float, float]:
    """ "48.8584,2.2945" (decimal degrees, latitude first) as numbers, or a one-line error."""
    parts = text.split(",")
    try:
        latitude, longitude = (float(part) for part in parts)
    except ValueError:
        raise QueryError(f"--near {text!r}: give LATITUDE,LONGITUDE in decimal degrees, e.g. 48.8584,2.2945") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise QueryError(f"--near {text!r}: latitude must be -90 to 90 and longitude -180 to 180")
    return latitude, longitude


def parse_radius(text: str) -> float:
    """ "5km", "500m" or "5" (km) as kilometres, or a one-line error."""
    match = _RADIUS.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise QueryError(f"--radius {text!r}: give a distance such as 5km or 500m")
    amount = float(match.group(1))
    return amount / 1000 if (match.group(2) or "km").lower() == "m" else amount


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise QueryError(f"--kind {kind!r}: choose image or video")


def check_sort(order: str) -> None:
    if order not in SORT_ORDERS:
        raise QueryError(f"--sort {order!r}: choose {' or '.join(SORT_ORDERS)}")
