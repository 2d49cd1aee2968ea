"""Photo metadata from real EXIF: dates with and without offsets, cameras, GPS, and broken blocks."""

from __future__ import annotations

import io
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import PHOTOS, back_before_places
from PIL import Image

from image_recommender.images.decode import HEIF_SUPPORTED
from image_recommender.images.metadata import PhotoMetadata, read_metadata


def photo_with_exif(
    taken: str | None = None,
    offset: str | None = None,
    make: str | None = None,
    model: str | None = None,
    gps: tuple[str, tuple[float, float, float], str, tuple[float, float, float]] | None = None,
    kind: str = "JPEG",
) -> bytes:
    """A real photo saved with the EXIF a camera would write."""
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    details = exif.get_ifd(0x8769)
    if taken:
        details[0x9003] = taken
    if offset:
        details[0x9011] = offset
    if gps:
        place = exif.get_ifd(0x8825)
        place[1], place[2], place[3], place[4] = gps
    buffer = io.BytesIO()
    Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").save(buffer, kind, exif=exif)
    return buffer.getvalue()


def test_date_camera_and_place_from_exif() -> None:
    data = photo_with_exif(
        "2019:07:14 18:30:05", "+02:00", "Google", "Pixel 7", ("S", (33.0, 51.0, 54.0), "W", (151.0, 12.0, 36.0))
    )
    assert read_metadata(data, None) == PhotoMetadata(
        "2019-07-14T18:30:05", "+02:00", "exif", "Google Pixel 7", -33.865, -151.21
    )


def test_date_without_offset_and_a_make_written_twice() -> None:
    found = read_metadata(photo_with_exif("2024:12:24 09:00:00", make="Canon", model="Canon EOS 5D"), None)
    assert (found.taken_at, found.taken_offset, found.taken_from) == ("2024-12-24T09:00:00", None, "exif")
    assert found.camera == "Canon EOS 5D"
    assert (found.latitude, found.longitude) == (None, None)


@pytest.mark.parametrize("taken", [None, "0000:00:00 00:00:00", "    :  :     :  :  ", "2019:13:45 99:00:00"])
def test_no_valid_date_falls_back_to_the_file_time(taken: str | None) -> None:
    mtime_ns = time.mktime((2021, 3, 4, 5, 6, 7, 0, 0, -1)) * 1e9
    found = read_metadata(photo_with_exif(taken, offset="+01:00"), int(mtime_ns))
    assert (found.taken_at, found.taken_from) == ("2021-03-04T05:06:07", "mtime")


def test_png_and_heic_carry_exif_too(tmp_path: Path) -> None:
    for kind in ("PNG", "HEIF") if HEIF_SUPPORTED else ("PNG",):
        found = read_metadata(photo_with_exif("2020:01:02 03:04:05", model="iPhone 15", kind=kind), None)
        assert (found.taken_at, found.camera) == ("2020-01-02T03:04:05", "iPhone 15"), kind


def test_broken_exif_never_fails(tmp_path: Path) -> None:
    data = photo_with_exif("2019:07:14 18:30:05", make="Google", gps=("N", (1.0, 2.0, 3.0), "E", (4.0, 5.0, 6.0)))
    start = data.index(b"Exif\x00\x00") + 6
    broken = data[:start] + b"MM\x00\x2a\xff\xff\xff\xff" + bytes(range(256)) * 2 + data[start + 520 :]
    found = read_metadata(broken, 0)  # the first directory's offset points nowhere: nothing survives
    epoch = datetime.fromtimestamp(0).astimezone()
    assert found == PhotoMetadata(epoch.replace(tzinfo=None).isoformat(), found.taken_offset, "mtime")
    assert read_metadata(b"not an image at all", 10**18).taken_from == "mtime"
    assert read_metadata(b"", None) == PhotoMetadata()


def test_gps_out_of_range_is_dropped() -> None:
    found = read_metadata(photo_with_exif(gps=("N", (95.0, 0.0, 0.0), "E", (10.0, 0.0, 0.0))), None)
    assert (found.latitude, found.longitude) == (None, None)


def test_metadata_from_an_open_file_reads_the_header(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(photo_with_exif("2018:05:06 07:08:09", model="X100V"))
    with path.open("rb") as handle:
        assert read_metadata(handle, os.stat(path).st_mtime_ns).taken_at == "2018-05-06T07:08:09"


def test_dates_before_the_year_1000_keep_four_digits() -> None:
    assert read_metadata(photo_with_exif("0001:01:01 00:00:00"), None).taken_at == "0001-01-01T00:00:00"
    assert read_metadata(photo_with_exif("0999:12:31 23:59:59"), None).taken_at == "0999-12-31T23:59:59"


def test_a_catalog_with_short_years_is_repaired_in_place(tmp_path: Path) -> None:
    from image_recommender.catalog.rows import FileStat
    from image_recommender.catalog.store import Catalog

    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog.open(path)
    catalog.apply_scan([FileStat("old.jpg", None, 1, 1), FileStat("new.jpg", None, 1, 1)], [], [], [])
    catalog.close()
    with sqlite3.connect(path) as db:  # as schema 4 wrote them
        db.execute("UPDATE images SET taken_at='1-01-01T00:00:00' WHERE path='old.jpg'")
        db.execute("UPDATE images SET taken_at='2024-01-01T00:00:00' WHERE path='new.jpg'")
        back_before_places(db)
        db.execute("PRAGMA user_version=4")
    catalog = Catalog.open(path)
    assert {i.path: i.taken_at for i in catalog.images()} == {
        "old.jpg": "0001-01-01T00:00:00",
        "new.jpg": "2024-01-01T00:00:00",
    }
    catalog.close()


@pytest.mark.parametrize("kind", ["PNG", "HEIF"])
def test_a_broken_exif_block_never_fails_pixels_that_decode(kind: str) -> None:
    from image_recommender.images.decode import decode

    if kind == "HEIF" and not HEIF_SUPPORTED:
        pytest.skip("needs pillow-heif")
    buffer = io.BytesIO()
    Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").save(buffer, kind, exif=b"garbage!!")
    decoded = decode(buffer.getvalue())
    assert decoded.image.size == (decoded.width, decoded.height)
    assert read_metadata(buffer.getvalue(), None).taken_from is None
