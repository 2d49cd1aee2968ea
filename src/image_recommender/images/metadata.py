"""What a photo says about itself: when it was taken, with which camera, where.

Read from EXIF in the bytes already in memory (or a file's header), never failing: a
broken or missing EXIF block leaves the fields empty, and the date falls back to the
file's modification time, marked as such.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_MAKE, _MODEL = 0x010F, 0x0110
_DATE_ORIGINAL, _DATE_DIGITIZED = 0x9003, 0x9004
_OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9011, 0x9012
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_LONGEST_TEXT = 100


@dataclass(frozen=True)
class PhotoMetadata:
    """``taken_at``: the camera's local wall-clock time, ISO 8601 without offset (what "taken on
    24 December" means); ``taken_offset``: its UTC offset where known ("+01:00");
    ``taken_from``: "exif" or "mtime"."""

    taken_at: str | None = None
    taken_offset: str | None = None
    taken_from: str | None = None
    camera: str | None = None
    latitude: float | None = None
    longitude: float | None = None


def read_metadata(source: bytes | BinaryIO, mtime_ns: int | None) -> PhotoMetadata:
    """The photo's metadata from its header; the file's time where EXIF has no valid date."""
    exif: dict[int, Any] = {}
    details: dict[int, Any] = {}
    gps: dict[int, Any] = {}
    from PIL import Image  # here: the catalog's rows name this module's dataclass, a search needs no Pillow

    with contextlib.suppress(Exception), warnings.catch_warnings():  # metadata never fails a file
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            found = image.getexif()
            exif = dict(found)
            details = dict(found.get_ifd(_EXIF_IFD))
            gps = dict(found.get_ifd(_GPS_IFD))
    taken = _exif_time(details.get(_DATE_ORIGINAL)) or _exif_time(details.get(_DATE_DIGITIZED))
    offset = _offset(details.get(_OFFSET_ORIGINAL) or details.get(_OFFSET_DIGITIZED)) if taken else None
    source_name = "exif" if taken else None
    if taken is None and mtime_ns is not None:
        with contextlib.suppress(OverflowError, OSError, ValueError):
            moment = datetime.fromtimestamp(mtime_ns / 1e9).astimezone()
            local = moment.replace(tzinfo=None, microsecond=0).isoformat()
            taken, offset, source_name = local, _format_offset(moment), "mtime"
    latitude, longitude = _coordinates(gps)
    return PhotoMetadata(taken, offset, source_name, _camera(exif), latitude, longitude)


EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), accurate to well under 1% at photo-search scales."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.replace("\x00", " ").split())
    return cleaned[:_LONGEST_TEXT] or None


def _exif_time(value: Any) -> str | None:
    """EXIF's "YYYY:MM:DD HH:MM:SS" as ISO 8601 with four-digit years (year 1 is "0001", so dates
    compare as text), or None for blanks and impossible dates."""
    text = _text(value)
    if text is None:
        return None
    try:
        return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S").isoformat(timespec="seconds")
    except ValueError:
        return None


def _offset(value: Any) -> str | None:
    text = _text(value)
    if text is None or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    hours, minutes = text[1:3], text[4:6]
    if not (hours.isdigit() and minutes.isdigit() and int(hours) <= 14 and int(minutes) < 60):
        return None
    return text


def _format_offset(moment: datetime) -> str | None:
    delta = moment.utcoffset()
    if delta is None:
        return None
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _camera(exif: dict[int, Any]) -> str | None:
    """ "Make Model", without the make twice ("Canon Canon EOS 5D" is how Canon writes it)."""
    make, model = _text(exif.get(_MAKE)), _text(exif.get(_MODEL))
    if make and model:
        return model if model.lower().startswith(make.split()[0].lower()) else f"{make} {model}"
    return model or make


def _degrees(value: Any) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    total = degrees + minutes / 60 + seconds / 3600
    return total if math.isfinite(total) else None


def _coordinates(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    latitude, longitude = _degrees(gps.get(_GPS_LAT)), _degrees(gps.get(_GPS_LON))
    if latitude is None or longitude is None:
        return None, None
    if _text(gps.get(_GPS_LAT_REF)) == "S":
        latitude = -latitude
    if _text(gps.get(_GPS_LON_REF)) == "W":
        longitude = -longitude
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None, None
    return round(latitude, 7), round(longitude, 7)
