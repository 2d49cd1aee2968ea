"""Text in pictures with the real recogniser (rapidocr's PP-OCR models, shipped in its wheel) and a
real SQLite word index: what a user searching for a word printed in a picture notices."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed
from PIL import Image
from textimages import render

from image_recommender import Library
from image_recommender.catalog.words import fold, query_words

pytest.importorskip("rapidocr")

SIGN = ["Bäckerei Müller", "Öffnungszeiten: Mo-Fr 9-18 Uhr"]
RECEIPT = ["Rechnung Nr. 2024-117", "Straße der Einheit 5", "Summe 42,50 EUR"]
SCREEN = ["Download abgeschlossen"]


def text_library(root: Path) -> Path:
    """Eight photos without text, a sign on a photo, a receipt and a screenshot in a folder of their own."""
    root.mkdir(parents=True)
    for photo in sorted(PHOTOS.glob("*.jpg")):
        shutil.copy2(photo, root / photo.name)
    papers = root / "papers"
    papers.mkdir()
    photo = Image.open(sorted(PHOTOS.glob("*.jpg"))[0])
    render(SIGN, 22, background=photo.resize((960, 540)), at=(0.1, 0.15)).save(root / "sign.jpg", quality=90)
    render(RECEIPT, 30, canvas=(900, 700), angle=3).save(papers / "receipt.png")
    render(SCREEN, 26, canvas=(1280, 720), paper=(30, 30, 40), ink=(230, 230, 230)).save(papers / "screen.png")
    return root


# The real recogniser reads a dozen pictures per library: seconds each, so the full suite's.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def read_library(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    root = text_library(tmp_path_factory.mktemp("words") / "library")
    return indexed(root, model_settings | {"ocr": True})


def test_folding_lets_german_spellings_meet() -> None:
    assert fold("Straße") == fold("STRASSE") == "strasse"
    assert fold("Müller") == fold("Mueller") and fold("Bär") != fold("Bar")
    assert fold("Café") == "cafe" and fold("9-18 Uhr") == "9-18 uhr"
    assert query_words('"Rechnung" Nr 2024-117 zu') == ["rechnung", "2024-117"]


@slow
def test_a_text_query_ranks_the_picture_with_the_word_first_and_says_which_line(
    read_library: Path, imrec: Runner
) -> None:
    found = json.loads(imrec("search", "Öffnungszeiten", "-l", read_library, "-k", "5", "--json").stdout)
    first = found["results"][0]
    assert first["path"] == "sign.jpg" and first["text_match"] == ["Öffnungszeiten: Mo-Fr 9-18 Uhr"]
    assert all(result["text_match"] is None for result in found["results"][1:])  # CLIP fills the rest
    assert len(found["results"]) == 5
    table = imrec("search", "Öffnungszeiten", "-l", read_library, "-k", "3").stdout
    assert "“Öffnungszeiten: Mo-Fr 9-18 Uhr”" in table.splitlines()[2]
    clip_only = json.loads(imrec("search", "Öffnungszeiten", "--no-words", "-l", read_library, "--json").stdout)
    assert all(result["text_match"] is None for result in clip_only["results"])


@slow
@pytest.mark.parametrize(
    ("words", "path", "line"),
    [
        ("Strasse", "papers/receipt.png", "Straße der Einheit 5"),  # ß and ss meet
        ("2024-117", "papers/receipt.png", "Rechnung Nr. 2024-117"),  # numbers as printed
        ("zeiten", "sign.jpg", "Öffnungszeiten: Mo-Fr 9-18 Uhr"),  # an inner part of a word
        ("Öffnungs", "sign.jpg", "Öffnungszeiten: Mo-Fr 9-18 Uhr"),  # a prefix
        ("baeckerei mueller", "sign.jpg", "Bäckerei Müller"),  # umlauts written out, two words
        ("DOWNLOAD", "papers/screen.png", "Download abgeschlossen"),  # light text on dark, any case
    ],
)
def test_words_find_their_picture(read_library: Path, imrec: Runner, words: str, path: str, line: str) -> None:
    found = json.loads(imrec("search", "--words", words, "-l", read_library, "--json").stdout)
    assert [result["path"] for result in found["results"]] == [path]
    assert line in found["results"][0]["text_match"]


@slow
def test_words_need_no_model_and_obey_the_filters(
    read_library: Path, model_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Library, "_encoder", lambda *_: pytest.fail("--words loaded the model"))
    monkeypatch.setattr(Library, "_image_model", lambda *_: pytest.fail("--words loaded the model"))
    with Library.open(read_library, **model_settings) as library:
        assert [hit.path for hit in library.search(words="Rechnung").results] == ["papers/receipt.png"]
        assert library.search(words="Rechnung", under="papers").results  # the receipt lies in papers/
        sign_only = library.search(words="Uhr", under="papers")
        assert sign_only.results == []  # the sign lies outside papers/
        assert library.search(words="Rechnung", after="2100").results == []  # dates apply to word matches


@slow
def test_status_and_the_api_show_the_text(read_library: Path, imrec: Runner, model_settings: dict) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    status = json.loads(imrec("status", read_library, "--json").stdout)["text"]
    assert status["read"] == status["total"] == 11 and status["with_text"] == 3
    with Library.open(read_library, **model_settings) as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        receipt = library.catalog.image_by_path("papers/receipt.png")
        assert receipt is not None
        lines = client.get(f"/api/images/{receipt.id}").json()["text"]
        assert [line["text"] for line in lines] == RECEIPT
        box = lines[0]["box"]
        assert len(box) == 4 and all(0 <= x <= 1 and 0 <= y <= 1 for x, y in box)
        answer = client.get("/api/search", params={"words": "abgeschlossen"}).json()
        assert [hit["path"] for hit in answer["results"]] == ["papers/screen.png"]


@slow
def test_a_moved_file_keeps_its_text_and_a_swapped_one_fails_with_its_reason(
    tmp_path: Path, model_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from image_recommender.text.recognise import TextReader

    root = indexed(text_library(tmp_path / "library"), model_settings)  # ocr off: nothing read yet
    with Library.open(root, **model_settings) as library:
        assert library.status().text["read"] == 0  # --no-ocr leaves the word index empty
        assert library.search(words="Rechnung").results == []
    receipt = root / "papers" / "receipt.png"
    receipt.unlink()
    os.mkfifo(receipt)  # swapped for a pipe after it was embedded: never opened for reading
    reads: list[tuple[int, int]] = []
    original = TextReader.read

    def counted(self: TextReader, image: Image.Image, gate: bool = True) -> list:
        reads.append(image.size)
        return original(self, image, gate)

    monkeypatch.setattr(TextReader, "read", counted)
    reading = model_settings | {"ocr": True}
    with Library.open(root, **reading) as library:
        report = library.read_texts()
        assert report.failed == 1 and report.read == 10 and report.with_text == 2
        assert library.status().text["failed"] == 1
        assert library.catalog.text_failures() == [
            ("papers/receipt.png", "not a regular file (a pipe, device or socket)")
        ]
    count = len(reads)
    (root / "moved").mkdir()
    (root / "sign.jpg").rename(root / "moved" / "sign.jpg")
    shutil.copy2(root / "papers" / "screen.png", root / "moved" / "screen-copy.png")
    receipt.unlink()
    with Library.open(root, **reading) as library:
        summary = library.update()
        assert len(reads) == count and summary.text_read == 0  # moved and copied: nothing read again
        found = library.search(words="Öffnungszeiten", all_copies=True).results
        assert [hit.path for hit in found] == ["moved/sign.jpg"]
        copies = library.search(words="abgeschlossen", all_copies=True).results
        assert sorted(hit.path for hit in copies) == ["moved/screen-copy.png", "papers/screen.png"]
