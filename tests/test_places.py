"""Places by name, offline: photos with GPS positions get their town, region and country; --place
finds them by local, English and transliterated names; a name for two places is told apart."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed, indexed_copy, run_json
from PIL import Image
from test_metadata import photo_with_exif
from test_photo_filters import as_gps
from test_web import CHROMIUM, _has_playwright, serving

from image_recommender import Library
from image_recommender.errors import QueryError

# name: (latitude, longitude); None: no position
POSITIONS = {
    "munich-marienplatz.jpg": (48.1374, 11.5755),
    "munich-garching.jpg": (48.2490, 11.6510),  # a town of its own, 15 km north: Munich is its big city
    "lisbon-alfama.jpg": (38.7118, -9.1300),
    "essen-de.jpg": (51.4556, 7.0116),  # Essen, North Rhine-Westphalia
    "essen-be.jpg": (51.4679, 4.4690),  # Essen, Flanders
    "north-sea.jpg": (55.50, 5.00),  # 150 km from any coast town
    "no-gps.jpg": None,
}

pytestmark = pytest.mark.slow  # each builds a library of its own


def make_library(root: Path) -> Path:
    root.mkdir()
    sources = sorted(PHOTOS.glob("*.jpg"))
    for number, (name, position) in enumerate(POSITIONS.items()):
        data = photo_with_exif(
            "2023:05:01 12:00:00", make="Google", model="Pixel 7", gps=position and as_gps(*position)
        )
        picture = Image.open(sources[number % len(sources)]).convert("RGB")
        picture.save(root / name, quality=90, exif=Image.open(io.BytesIO(data)).getexif())
    return root


@pytest.fixture(scope="module")
def indexed_places(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    return indexed(make_library(tmp_path_factory.mktemp("source") / "places"), model_settings)


@pytest.fixture
def places_library(indexed_places: Path, tmp_path: Path) -> Path:
    return indexed_copy(indexed_places, tmp_path / "places")


def in_place(library: Library, place: str) -> set[str]:
    return {hit.path for hit in library.search(text="a photo", k=50, place=place).results}


def test_a_place_is_found_by_its_local_english_and_transliterated_names(
    places_library: Path, model_settings: dict
) -> None:
    munich = {"munich-marienplatz.jpg", "munich-garching.jpg"}
    german = munich | {"essen-de.jpg"}
    with Library.open(places_library, **model_settings) as library:
        for name in ("München", "Munich", "Muenchen", "MÜNCHEN", "munchen"):
            assert in_place(library, name) == munich, name
        assert in_place(library, "Garching") == {"munich-garching.jpg"}
        for name in ("Lisbon", "Lissabon", "Lisboa"):
            assert in_place(library, name) == {"lisbon-alfama.jpg"}, name
        for name in ("Germany", "Deutschland", "Bavaria"):
            assert in_place(library, name) == (munich if name == "Bavaria" else german), name
        assert in_place(library, "Essen, Deutschland") == in_place(library, "Essen, Germany") == {"essen-de.jpg"}
        assert in_place(library, "Essen, Belgien") == {"essen-be.jpg"}
        with pytest.raises(QueryError, match=r"'Essen' names 2 places: Essen, Flanders, Belgium; Essen, North"):
            in_place(library, "Essen")
        with pytest.raises(QueryError, match=r"--place 'Paris': no photos from a place of that name"):
            in_place(library, "Paris")
        hits = {hit.path: hit.place for hit in library.search(text="a photo", k=50).results}
    assert hits["munich-marienplatz.jpg"] == "Munich, Bavaria, Germany"
    assert hits["munich-garching.jpg"] == "Garching, Munich, Germany"
    assert hits["north-sea.jpg"] is None and hits["no-gps.jpg"] is None


def test_places_lists_counts_and_the_cli_filters_by_place(
    places_library: Path, imrec: Runner, model_settings: dict
) -> None:
    listed = run_json(imrec, "places", places_library)
    # quarters and suburbs under their city, counted in it; a city holding only quarters still has its row
    assert {entry["place"]: (entry["photos"], entry["quarters"]) for entry in listed} == {
        "Munich, Bavaria, Germany": (2, [{"place": "Garching, Munich, Germany", "photos": 1}]),
        "Lisbon, Portugal": (1, [{"place": "Alfama, Lisbon, Portugal", "photos": 1}]),
        "Essen, North Rhine-Westphalia, Germany": (1, []),
        "Essen, Flanders, Belgium": (1, []),
    }
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(places_library, **model_settings) as library:  # the page's list is the CLI's
        served = TestClient(create_app(library), base_url="http://127.0.0.1:8765").get("/api/places")
        assert served.status_code == 200 and served.json()["places"] == listed
    table = imrec("places", places_library).stdout.splitlines()
    assert table[:3] == [" photos  place", "      2  Munich, Bavaria, Germany", "      1    Garching"]
    found = run_json(imrec, "search", "a photo", "-l", places_library, "--place", "Lissabon")
    assert [(hit["path"], hit["place"]) for hit in found["results"]] == [
        ("lisbon-alfama.jpg", "Alfama, Lisbon, Portugal")
    ]
    table = imrec("search", "a photo", "-l", places_library, "--place", "munich").stdout
    assert "Munich, Germany" in table and "Garching, Munich" in table and "essen" not in table  # the city shows
    refused = imrec("search", "a photo", "-l", places_library, "--place", "Essen", expect=2)
    assert refused.stdout == "" and "say which, e.g. 'Essen, Belgium'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_an_existing_library_gets_its_places_without_embedding_again(places_library: Path, imrec: Runner) -> None:
    catalog = places_library / ".imrec" / "catalog.sqlite3"
    with sqlite3.connect(catalog) as db:  # as a library indexed before places were recorded
        db.execute("UPDATE images SET place_id = NULL, place_checked = 0")
        db.execute("DELETE FROM place_names")
        db.execute("DELETE FROM places")
        vectors = db.execute("SELECT count(*) FROM vectors").fetchone()[0]
    summary = run_json(imrec, "index", places_library)
    assert summary["embedded"] == 0 and summary["reused"] == 0
    with sqlite3.connect(catalog) as db:
        assert db.execute("SELECT count(*) FROM vectors").fetchone()[0] == vectors
        named = dict(db.execute("SELECT path, label FROM images JOIN places ON places.id = images.place_id"))
    assert named["lisbon-alfama.jpg"] == "Alfama, Lisbon, Portugal" and len(named) == 5


# The one search box reads places (and dates) from the words: with the library's own places.


def test_words_become_filters_only_for_the_librarys_own_places(places_library: Path, model_settings: dict) -> None:
    with Library.open(places_library, **model_settings) as library:
        found = library.search(text="Kirche in München 2023", k=50)
        assert {hit.path for hit in found.results} == {"munich-marienplatz.jpg", "munich-garching.jpg"}
        assert found.understood is not None and found.understood.text == "Kirche"
        assert found.query == ["+'Kirche'"]
        nothing = library.search(text="Kirche in München 2019", k=50)
        assert nothing.results == []
        paris = library.search(text="Eiffelturm Paris", k=50)  # no photos from Paris: the word stays a word
        assert paris.understood is not None and paris.understood.place is None and len(paris.results) == 7
        food = library.search(text="Essen im Restaurant", k=50)  # an everyday word without "in": food
        assert food.understood is not None and food.understood.place is None and len(food.results) == 7
        both = library.search(text="Bahnhof in Essen", k=50)  # a place in the query: both towns of that name
        assert {hit.path for hit in both.results} == {"essen-de.jpg", "essen-be.jpg"}
        literal = library.search(text="Kirche in München 2019", k=50, literal=True)
        assert len(literal.results) == 7 and literal.query == ["+'Kirche in München 2019'"]
        flag_wins = library.search(text="Kirche in München", k=50, place="Lisbon")
        assert [hit.path for hit in flag_wins.results] == ["lisbon-alfama.jpg"]
        negated = library.search(text="Kirche nicht Kinder", k=50)
        assert negated.query == ["+'Kirche'", "-'Kinder'"]
        elsewhere = library.search(text="Kirche nicht München", k=50)  # a place pushed away: not taken there
        assert {hit.path for hit in elsewhere.results} == {hit.path for hit in paris.results} - {
            "munich-marienplatz.jpg",
            "munich-garching.jpg",
        }
        assert elsewhere.understood is not None and elsewhere.understood.not_place is not None


def test_the_cli_shows_how_the_query_was_understood(
    places_library: Path, imrec: Runner, model_env: dict[str, str]
) -> None:
    german = {**model_env, "LANG": "de_DE.UTF-8"}
    shown = imrec("search", "Kirche in Lissabon Mai 2023", "-l", places_library, env=german)
    assert "imrec: verstanden: Text 'Kirche', Ort Lissabon (Lisbon, Portugal), Mai 2023" in shown.stderr
    english = imrec("search", "Kirche in Lissabon Mai 2023", "-l", places_library, env={**model_env, "LANG": "C.UTF-8"})
    assert "imrec: understood: text 'Kirche', place Lissabon (Lisbon, Portugal), Mai 2023" in english.stderr
    assert "lisbon-alfama.jpg" in shown.stdout and "munich" not in shown.stdout
    data = run_json(imrec, "search", "Kirche in Lissabon Mai 2023", "-l", places_library)
    assert data["understood"]["place"] == {"words": "Lissabon", "name": "Lisbon, Lisbon, Portugal", "level": "town"}
    assert data["understood"]["dates"]["after"] == "2023-05-01"
    literal = run_json(imrec, "search", "Kirche in Lissabon Mai 2023", "-l", places_library, "--literal")
    assert literal["understood"]["place"] is None and len(literal["results"]) == 7


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or not _has_playwright(), reason="needs Debian's chromium and playwright")
def test_the_page_shows_what_it_understood_as_chips_to_remove(places_library: Path, model_settings: dict) -> None:
    from playwright.sync_api import expect, sync_playwright

    library = Library.open(places_library, **model_settings)
    with serving(library) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.goto(f"http://127.0.0.1:{port}/")
        message, cards, chips = (
            page.locator("#message"),
            page.locator("#results .card"),
            page.locator("#understood-list .chip"),
        )
        page.fill("#text", "Kirche in München 2023 nicht Kinder")
        page.press("#text", "Enter")
        expect(message).to_contain_text("2 results")
        expect(page.locator("#understood-text")).to_have_text("Understood: “Kirche”")
        expect(chips).to_have_count(3)
        expect(chips.nth(0)).to_contain_text("in München")
        expect(chips.nth(1)).to_contain_text("2023")
        expect(chips.nth(2)).to_contain_text("not “Kinder”")
        expect(page.locator("#results .card .place").first).to_contain_text("Munich")  # a suburb shows its city

        # The place taken back as words: every photo of 2023 again, the other chips stay.
        page.get_by_role("button", name="Take “in München” as words again").click()
        expect(message).to_contain_text("7 results")
        expect(chips).to_have_count(2)
        expect(page.locator("#understood-text")).to_have_text("Understood: “Kirche in München”")

        # Word for word: nothing read from the text.
        page.check("#literal")
        page.press("#text", "Enter")
        expect(message).to_contain_text("7 results")
        expect(page.locator("#understood")).to_be_hidden()
        assert cards.count() == 7
        browser.close()
