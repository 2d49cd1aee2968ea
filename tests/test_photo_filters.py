"""Search by when and with which camera a photo was taken: filters inside the index search, metadata in results."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, back_before_places, indexed, indexed_copy, run_json
from PIL import Image
from test_metadata import photo_with_exif

from image_recommender import Library
from image_recommender.errors import QueryError
from image_recommender.filters import date_range

# name: (EXIF date taken, camera make, model); None: no EXIF date, the file's time counts
SHOTS = {
    "summer-a.jpg": ("2019:06:03 10:00:00", "Google", "Pixel 7"),
    "summer-b.jpg": ("2019:07:14 18:30:05", "Google", "Pixel 7"),
    "summer-c.jpg": ("2019:08:31 23:59:59", "Canon", "Canon EOS 5D"),
    "autumn.jpg": ("2019:09:01 00:00:00", "Canon", "Canon EOS 5D"),
    "xmas-morning.jpg": ("2024:12:24 08:00:00", "Apple", "iPhone 15"),
    "xmas-night.jpg": ("2024:12:24 23:30:00", "Apple", "iPhone 15"),
    "boxing-day.jpg": ("2024:12:25 00:10:00", "Apple", "iPhone 15"),
    "scan.jpg": (None, None, None),
}
SCAN_TIME = time.mktime((2021, 3, 4, 5, 6, 7, 0, 0, -1))
PLACES = {
    "summer-a.jpg": (48.8584, 2.2945),  # Eiffel Tower
    "summer-b.jpg": (48.8738, 2.2950),  # Arc de Triomphe, 1.7 km away
    "xmas-morning.jpg": (-33.8568, 151.2153),  # Sydney Opera House
}


def as_gps(
    latitude: float, longitude: float
) -> tuple[str, tuple[float, float, float], str, tuple[float, float, float]]:
    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        degrees, rest = int(value), (abs(value) - int(value)) * 60
        return float(degrees), float(int(rest)), round((rest - int(rest)) * 60, 4)

    return ("N" if latitude >= 0 else "S", dms(latitude), "E" if longitude >= 0 else "W", dms(longitude))


def make_library(root: Path) -> Path:
    root.mkdir()
    sources = sorted(PHOTOS.glob("*.jpg"))
    for number, (name, (taken, make, model)) in enumerate(SHOTS.items()):
        place = as_gps(*PLACES[name]) if name in PLACES else None
        data = photo_with_exif(taken, make=make, model=model, gps=place)
        picture = Image.open(sources[number % len(sources)]).convert("RGB")
        exif = Image.open(__import__("io").BytesIO(data)).getexif()
        picture.save(root / name, quality=90, exif=exif)
    os.utime(root / "scan.jpg", (SCAN_TIME, SCAN_TIME))
    return root


@pytest.fixture(scope="module")
def indexed_dated_library(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    """Made and indexed once for the module; each test gets its own copy."""
    return indexed(make_library(tmp_path_factory.mktemp("source") / "dated"), model_settings)


@pytest.fixture
def dated_library(indexed_dated_library: Path, tmp_path: Path) -> Path:
    return indexed_copy(indexed_dated_library, tmp_path / "dated")


def found(library: Library, **filters: object) -> set[str]:
    return {hit.path for hit in library.search(text="a photo", k=50, **filters).results}  # type: ignore[arg-type]


def test_each_filter_returns_exactly_the_matching_photos(dated_library: Path, model_settings: dict) -> None:
    with Library.open(dated_library, **model_settings) as library:
        assert found(library, after="2019-06", before="2019-09") == {"summer-a.jpg", "summer-b.jpg", "summer-c.jpg"}
        assert found(library, taken_on="2024-12-24") == {"xmas-morning.jpg", "xmas-night.jpg"}
        assert found(library, taken_on="2019") == {"summer-a.jpg", "summer-b.jpg", "summer-c.jpg", "autumn.jpg"}
        assert found(library, camera="pixel 7") == {"summer-a.jpg", "summer-b.jpg"}
        assert found(library, camera="EOS", after="2019-09") == {"autumn.jpg"}
        assert found(library, taken_on="2021-03-04") == set()  # no date taken: the file's time is no date
        assert found(library, taken_on="2021-03-04", include_undated=True) == {"scan.jpg"}
        left = library.search(text="a photo", k=50, after="2020")
        assert left.undated_left_out == 1 and {hit.path for hit in left.results} == {
            "xmas-morning.jpg",
            "xmas-night.jpg",
            "boxing-day.jpg",
        }
        assert library.search(text="a photo", k=50, before="2020").undated_left_out == 0  # its time is 2021
        assert library.search(text="a photo", k=50).undated_left_out == 0  # no date asked: everything
        assert found(library, after="2030") == set()
        assert found(library, near="48.8584,2.2945", radius="500m") == {"summer-a.jpg"}
        assert found(library, near="48.8584,2.2945", radius="2km") == {"summer-a.jpg", "summer-b.jpg"}
        assert found(library, near="48.8584,2.2945") == {"summer-a.jpg"}  # 1 km by default
        assert found(library, near="-33.86,151.21", radius="5km", taken_on="2024-12-24") == {"xmas-morning.jpg"}


def test_sort_by_date_orders_the_same_results(dated_library: Path, model_settings: dict) -> None:
    with Library.open(dated_library, **model_settings) as library:
        by_score = library.search(text="a photo", k=8)
        by_date = library.search(text="a photo", k=8, sort="date")
    assert {hit.path for hit in by_date.results} == {hit.path for hit in by_score.results}
    dates = [hit.taken_at for hit in by_date.results]
    assert dates == sorted(dates) and [hit.rank for hit in by_date.results] == list(range(1, 9))
    assert by_date.results[0].path == "summer-a.jpg" and by_date.results[-1].path == "boxing-day.jpg"


def test_k_results_come_back_under_a_filter(dated_library: Path, model_settings: dict) -> None:
    with Library.open(dated_library, **model_settings) as library:
        hits = library.search(text="a photo", k=2, taken_on="2019").results
        assert len(hits) == 2 and {hit.path for hit in hits} <= {
            "summer-a.jpg",
            "summer-b.jpg",
            "summer-c.jpg",
            "autumn.jpg",
        }
        hit = library.search(image=str(dated_library / "autumn.jpg"), k=1, camera="iPhone").results[0]
        assert hit.camera == "Apple iPhone 15" and hit.taken_at is not None and hit.taken_at.startswith("2024-12-2")


def test_the_calendar_s_last_period_is_a_range_not_a_crash() -> None:
    assert date_range("9999-12", "--after") == ("9999-12-01T00:00:00", "9999-12-31T24:00:00")
    assert date_range("9999-12-31", "--taken-on") == ("9999-12-31T00:00:00", "9999-12-31T24:00:00")
    assert date_range("9999", "--taken-on")[1] > "9999-12-31T23:59:59"  # its last second included
    assert date_range("2019-12", "--before") == ("2019-12-01T00:00:00", "2020-01-01T00:00:00")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"after": "2019-13"}, "--after '2019-13': give a year, month or day"),
        ({"taken_on": "24.12.2024"}, "--taken-on '24.12.2024'"),
        ({"after": "2020", "before": "2019"}, "no date is both on or after 2020-01-01 and before 2019-01-01"),
        ({"camera": "  "}, "--camera: give part of a camera's name"),
        ({"near": "48.8"}, "--near '48.8': give LATITUDE,LONGITUDE"),
        ({"near": "91,0"}, "--near '91,0': latitude must be -90 to 90"),
        ({"near": "1,2", "radius": "-5km"}, "--radius '-5km': give a distance"),
        ({"radius": "5km"}, "--radius needs --near"),
        ({"sort": "name"}, "--sort 'name': choose score or date"),
    ],
)
def test_bad_filters_are_one_line(dated_library: Path, model_settings: dict, filters: dict, message: str) -> None:
    with Library.open(dated_library, **model_settings) as library, pytest.raises(QueryError, match="^" + message):
        library.search(text="a photo", **filters)


def test_a_library_from_before_metadata_is_filled_from_file_headers(dated_library: Path, model_settings: dict) -> None:
    with sqlite3.connect(dated_library / ".imrec" / "catalog.sqlite3") as db:  # back to schema 3
        back_before_places(db)
        db.execute("DROP INDEX images_taken_at")
        for column in ("taken_at", "taken_offset", "taken_from", "camera", "latitude", "longitude"):
            db.execute(f"ALTER TABLE images DROP COLUMN {column}")
        db.execute("PRAGMA user_version=3")
    with Library.open(dated_library, **model_settings) as library:
        assert found(library, camera="Pixel") == set()  # migrated, not read yet
        summary = library.update()
        assert summary.embedded == 0  # headers only, no re-embedding
        assert found(library, camera="Pixel") == {"summer-a.jpg", "summer-b.jpg"}
        row = library.catalog.image_by_path("summer-b.jpg")
        assert row is not None and (row.taken_at, row.taken_from) == ("2019-07-14T18:30:05", "exif")


def test_cli_filters_and_json_fields(imrec: Runner, tmp_path: Path) -> None:
    root = make_library(tmp_path / "dated")
    imrec("index", root, "-q")
    data = run_json(imrec, "search", "-l", root, "--text", "a photo", "--taken-on", "2024-12-24", "-k", "5")
    assert {hit["path"] for hit in data["results"]} == {"xmas-morning.jpg", "xmas-night.jpg"}
    assert {hit["camera"] for hit in data["results"]} == {"Apple iPhone 15"}
    assert all(hit["taken_at"].startswith("2024-12-24T") for hit in data["results"])
    shown = imrec("search", "-l", root, "--text", "a photo", "--after", "2021")
    assert "left out 1 picture(s) dated only by the file's time; --include-undated keeps them" in shown.stderr
    kept = run_json(imrec, "search", "-l", root, "--text", "a photo", "--after", "2021", "--include-undated")
    assert "scan.jpg" in {hit["path"] for hit in kept["results"]} and kept["undated_left_out"] == 0
    result = imrec("search", "-l", root, "--text", "x", "--after", "June", expect=2)
    assert result.stderr.strip().splitlines() == [
        "imrec: error: --after 'June': give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD"
    ]


def test_web_api_takes_the_same_filters(dated_library: Path, model_settings: dict) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(dated_library, **model_settings) as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        answer = client.get(
            "/api/search", params={"text": "a photo", "k": 10, "taken_on": "2024-12-24", "sort": "date"}
        )
        assert answer.status_code == 200, answer.text
        assert [hit["path"] for hit in answer.json()["results"]] == ["xmas-morning.jpg", "xmas-night.jpg"]
        answer = client.get("/api/search", params={"text": "x", "near": "48.8584,2.2945", "radius": "2km"})
        assert {hit["path"] for hit in answer.json()["results"]} == {"summer-a.jpg", "summer-b.jpg"}
        upload = (dated_library / "autumn.jpg").read_bytes()
        answer = client.post(
            "/api/search", files={"image": ("q.jpg", upload, "image/jpeg")}, data={"camera": "pixel", "k": "5"}
        )
        assert answer.status_code == 200, answer.text
        assert {hit["path"] for hit in answer.json()["results"]} == {"summer-a.jpg", "summer-b.jpg"}
        liked = library.catalog.image_by_path("autumn.jpg")
        assert liked is not None
        answer = client.post("/api/recommend", json={"liked": [liked.id], "after": "2024", "k": 10})
        assert {hit["path"] for hit in answer.json()["results"]} == {
            "xmas-morning.jpg",
            "xmas-night.jpg",
            "boxing-day.jpg",
        }
        bad = client.get("/api/search", params={"text": "x", "after": "June"})
        assert bad.status_code == 400 and bad.json()["detail"].startswith("after 'June': give a year")
        for params, said in (
            ({"near": "91,0"}, "near '91,0': latitude must be -90 to 90"),
            ({"radius": "5km"}, "radius needs near LAT,LON"),
            ({"taken_on": "24.12."}, "taken_on '24.12.'"),
        ):
            detail = client.get("/api/search", params={"text": "x", **params}).json()["detail"]
            assert detail.startswith(said) and "--" not in detail
        upload = client.post("/api/search", files={"image": ("q.jpg", upload, "image/jpeg")}, data={"near": "1"})
        assert upload.status_code == 400 and upload.json()["detail"].startswith("near '1'")
        assert client.get("/api/search", params={"text": "x", "sort": "name"}).status_code == 422
