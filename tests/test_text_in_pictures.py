"""Text in pictures with the real recogniser (rapidocr's PP-OCR models, shipped in its wheel) and a
real SQLite word index: what a user searching for a word printed in a picture notices."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, Runner, indexed
from PIL import Image
from textimages import render

from image_recommender import Library
from image_recommender.catalog.rows import EmbedResult, FileStat
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import TextLine, fold, query_words
from image_recommender.query.words import rank_words_only, word_hits

pytest.importorskip("rapidocr")

SIGN = ["Bäckerei Müller", "Öffnungszeiten: Mo-Fr 9-18 Uhr"]
RECEIPT = ["Rechnung Nr. 2024-117", "Straße der Einheit 5", "Summe 42,50 EUR"]
SCREEN = ["Download abgeschlossen"]
UPSIDE_DOWN = ["Kassenbon Nummer 4711"]


def text_library(root: Path) -> Path:
    """Eight photos without text, a sign on a photo, and a receipt, a screenshot and an upside-down
    receipt in a folder of their own."""
    root.mkdir(parents=True)
    for photo in sorted(PHOTOS.glob("*.jpg")):
        shutil.copy2(photo, root / photo.name)
    papers = root / "papers"
    papers.mkdir()
    photo = Image.open(sorted(PHOTOS.glob("*.jpg"))[0])
    render(SIGN, 22, background=photo.resize((960, 540)), at=(0.1, 0.15)).save(root / "sign.jpg", quality=90)
    render(RECEIPT, 30, canvas=(900, 700), angle=3).save(papers / "receipt.png")
    render(SCREEN, 26, canvas=(1280, 720), paper=(30, 30, 40), ink=(230, 230, 230)).save(papers / "screen.png")
    # photographed the wrong way up
    render(UPSIDE_DOWN, 30, canvas=(900, 600), angle=180).save(papers / "upside-down.png")
    return root


# The real recogniser reads a dozen pictures per library: seconds each, so the full suite's.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def read_library(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    root = text_library(tmp_path_factory.mktemp("words") / "library")
    return indexed(root, model_settings | {"ocr": True})


def test_folding_lets_german_spellings_meet() -> None:
    assert fold("Straße") == fold("STRASSE") == "strasse"
    assert fold("Öffnungszeiten") == fold("Oeffnungszeiten") == fold("offnungszeiten") == "offnungszeiten"
    assert fold("Müller") == fold("Mueller") == fold("Muller") and fold("Bär") == fold("Bar") == fold("Baer")
    assert [fold(word) for word in ("neue", "Bauer", "Quelle", "Feuer")] == ["neue", "bauer", "quelle", "feuer"]
    assert fold("Café") == "cafe" and fold("9-18 Uhr") == "9-18 uhr"
    assert query_words('"Rechnung" Nr 2024-117 zu') == ["rechnung", "2024-117"]


def _word_catalog(path: Path, texts: list[str]) -> Catalog:
    """A real catalog whose pictures 0.jpg, 1.jpg, ... hold one line each of ``texts``."""
    catalog = Catalog.open(path)
    catalog.apply_scan([FileStat(f"{n}.jpg", None, 100 + n, n) for n in range(len(texts))], [], [], [])
    model = catalog.ensure_model("m", "p", 2, "p", None)
    catalog.write_embed_results(
        model.id,
        [
            EmbedResult(n + 1, fingerprint=f"c{n}", size=100 + n, mtime_ns=n, width=8, height=8, vector=np.ones(2, np.float32))
            for n in range(len(texts))
        ],
    )  # fmt: skip
    box = ((0.1, 0.1), (0.9, 0.1), (0.9, 0.2), (0.1, 0.2))
    catalog.store_texts([(f"c{n}", "ok", [TextLine(text, 0.9, box)], None) for n, text in enumerate(texts)], "test")
    return catalog


def _found(catalog: Catalog, words: str) -> list[str]:
    return [result.path for result in rank_words_only(word_hits(catalog, words, None), 10, False)]


def test_any_german_spelling_finds_the_sign_and_the_exact_one_ranks_first(tmp_path: Path) -> None:
    catalog = _word_catalog(tmp_path / "catalog.sqlite3", ["Öffnungszeiten Mo-Fr", "Bar zum Hafen", "Bär Apotheke"])
    for typed in ("offnungszeiten", "oeffnungszeiten", "Öffnungszeiten", "OFFNUNGSZEITEN"):
        assert _found(catalog, typed) == ["0.jpg"], typed
    assert _found(catalog, "Bär") == ["2.jpg", "1.jpg"]  # both meet; the spelling asked for first
    assert _found(catalog, "Bar") == ["1.jpg", "2.jpg"]
    catalog.close()


def test_a_catalog_folded_the_earlier_way_is_folded_again_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    _word_catalog(path, ["Öffnungszeiten Mo-Fr"]).close()
    with contextlib.closing(sqlite3.connect(path)) as db:  # as schema 10 stored it: ä -> ae, ö -> oe
        db.execute("UPDATE text_words SET body = 'oeffnungszeiten mo-fr'")
        db.execute("PRAGMA user_version = 10")
        db.commit()
    catalog = Catalog.open(path)
    assert _found(catalog, "offnungszeiten") == ["0.jpg"]
    catalog.close()


@slow
def test_the_gate_finds_the_boxes_rapidocr_finds_before_and_after_its_model_is_compiled_for_the_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from image_recommender.text import recognise

    monkeypatch.setattr(recognise, "STATIC_AFTER", 2)  # the second 640 x 352 picture gets its own model
    reader, rapidocr_own = recognise.TextReader(), recognise.TextReader()
    rapidocr_own._openvino = False  # rapidocr's own call: colour input, its normalisation, any shape
    photo = Image.open(sorted(PHOTOS.glob("*.jpg"))[0]).resize((960, 540))
    for picture, has_text in ((render(SIGN, 22, background=photo, at=(0.1, 0.15)), True), (photo, False)):
        grey = picture.convert("L")
        grey.thumbnail((recognise.DETECT_SIDE, recognise.DETECT_SIDE), Image.Resampling.NEAREST)
        expected, any_shape, own_shape = rapidocr_own.detect(grey), reader.detect(grey), reader.detect(grey)
        if not has_text:
            assert expected is None and any_shape is None and own_shape is None
            continue
        assert expected is not None and any_shape is not None and own_shape is not None
        assert len(expected) == len(any_shape) == len(own_shape) == 2  # the sign's two lines
        expected, any_shape, own_shape = (boxes[boxes[:, 0, 1].argsort()] for boxes in (expected, any_shape, own_shape))
        assert abs(any_shape - expected).max() <= 1 and abs(own_shape - expected).max() <= 1


def test_photos_without_text_are_asked_without_setting_the_recogniser_up() -> None:
    import numpy as np

    from image_recommender.images.decode import decode, grey_thumbnail
    from image_recommender.text import recognise

    reader = recognise.TextReader()
    for path in sorted(PHOTOS.glob("*.jpg")):
        grey = np.asarray(grey_thumbnail(decode(path.read_bytes(), long_side=640, grey=True).image, 640))
        assert not reader.holds_line(grey)
    assert reader._set_up is None  # nothing to read: rapidocr's recogniser and classifier never compiled
    sign = grey_thumbnail(render(SIGN, 22, background=Image.open(path).resize((960, 540))).convert("L"), 640)
    assert reader.holds_line(np.asarray(sign))
    assert reader.read(sign) and reader._set_up is not None


@slow
def test_a_text_query_ranks_the_picture_with_the_word_first_and_says_which_line(
    read_library: Path, imrec: Runner
) -> None:
    found = json.loads(imrec("search", "Öffnungszeiten", "-l", read_library, "-k", "5", "--json").stdout)
    first = found["results"][0]
    assert first["path"] == "sign.jpg" and first["text_match"] == ["Öffnungszeiten: Mo-Fr 9-18 Uhr"]
    assert all(result["text_match"] is None for result in found["results"][1:])  # CLIP fills the rest
    assert len(found["results"]) == 5
    table = imrec("search", "Öffnungszeiten", "-l", read_library, "-k", "3")
    first_row, second_row = table.stdout.splitlines()[2:4]
    assert "“Öffnungszeiten: Mo-Fr 9-18 Uhr”" in first_row
    # the word match ranks first whatever CLIP's score: its mark says why, the CLIP rows have none
    assert f"{first['score']:.4f}*" in first_row and "*" not in second_row and "*: a word match" in table.stderr
    clip_only = json.loads(imrec("search", "Öffnungszeiten", "--no-words", "-l", read_library, "--json").stdout)
    assert all(result["text_match"] is None for result in clip_only["results"])


@slow
def test_the_contact_sheet_marks_the_matched_line(read_library: Path, imrec: Runner, tmp_path: Path) -> None:
    import numpy as np

    def highlighter_pixels(sheet: Path) -> int:
        pixels = np.asarray(Image.open(sheet).convert("RGB")).astype(int)
        return int((np.abs(pixels - np.array([0xFF, 0xE0, 0x66])).sum(axis=2) < 30).sum())

    imrec("search", "Öffnungszeiten", "-l", read_library, "-k", "3", "--preview", tmp_path / "words.png")
    imrec("search", "Öffnungszeiten", "--no-words", "-l", read_library, "-k", "3", "--preview", tmp_path / "clip.png")
    assert highlighter_pixels(tmp_path / "words.png") > 200 and highlighter_pixels(tmp_path / "clip.png") == 0


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
        ("Kassenbon 4711", "papers/upside-down.png", "Kassenbon Nummer 4711"),  # turned 180 degrees
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
    from image_recommender.library.shared import Shared

    monkeypatch.setattr(Shared, "encoder", lambda *_: pytest.fail("--words loaded the model"))
    monkeypatch.setattr(Shared, "image_model", lambda *_: pytest.fail("--words loaded the model"))
    monkeypatch.setattr(Shared, "text_encoder", lambda *_: pytest.fail("--words loaded the model"))
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
    assert status["read"] == status["total"] == 12 and status["with_text"] == 4
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

    def counted(self: TextReader, image: Image.Image) -> list:
        reads.append(image.size)
        return original(self, image)

    monkeypatch.setattr(TextReader, "read", counted)
    reading = model_settings | {"ocr": True}
    with Library.open(root, **reading) as library:
        report = library.read_texts()
        assert report.failed == 1 and report.read == 11 and report.with_text == 3
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


@pytest.mark.browser
def test_the_page_marks_the_words_and_outlines_their_line(read_library: Path, model_settings: dict) -> None:
    from playwright.sync_api import expect, sync_playwright
    from test_web import CHROMIUM, serving

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium")
    with serving(Library.open(read_library, **model_settings)) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.fill("#text", "Strasse")
        page.keyboard.press("Enter")
        first = page.locator("#results .card").first
        expect(first.locator(".words")).to_have_text("Straße der Einheit 5")
        expect(first.locator(".words mark")).to_have_text("Straße")  # ss in the query, ß on the receipt
        first.locator(".thumb").click()
        box = page.locator("#viewer-boxes polygon")
        expect(box).to_have_count(1)
        expect(box.locator("title")).to_have_text("Straße der Einheit 5")
        shown = page.locator("#viewer-img").bounding_box()
        outlined = box.bounding_box()
        assert shown and outlined
        # The receipt's line starts in its upper left quarter, as rendered there.
        assert shown["x"] < outlined["x"] < shown["x"] + shown["width"] / 2
        assert shown["y"] < outlined["y"] < shown["y"] + shown["height"] / 2
        page.screenshot(path=str(read_library.parent / "words.png"))
        browser.close()


def test_a_kill_during_the_text_pass_loses_one_batch_at_most_and_reads_nothing_twice(
    tmp_path: Path, model_settings: dict, model_env: dict[str, str]
) -> None:
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    root = text_library(tmp_path / "library")
    for number in range(40):  # enough pictures that the pass is still running after its first batch
        render([f"Beleg {number:03d}", "Straße der Einheit"], 28, canvas=(640, 400)).save(root / f"note-{number}.png")
    indexed(root, model_settings)  # embedded, no text read yet
    catalog = root / ".imrec" / "catalog.sqlite3"

    def read_so_far() -> int:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM texts").fetchone()[0])

    env = model_env | {"IMREC_OCR": "1"}
    command = [sys.executable, "-m", "image_recommender", "index", str(root), "--json"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while read_so_far() == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = read_so_far()
    assert 0 < before < 52, "the kill came after the pass had finished"
    again = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True)
    summary = json.loads(again.stdout)
    assert before + summary["text_read"] == 52  # 8 photos, 4 papers, 40 notes: each content read once
    assert read_so_far() == 52
    with Library.open(root, **model_settings) as library:
        assert len(library.search(words="Beleg", k=100).results) == 40


@slow
def test_pictures_without_a_line_are_ruled_out_on_the_embedding_decode_and_only_the_rest_decoded_again(
    tmp_path: Path, model_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from image_recommender.text import reading

    root = text_library(tmp_path / "library")
    decoded: list[int | None] = []
    real_decode = reading.decode

    def counted(data: bytes, **sizes: int) -> object:
        decoded.append(sizes.get("long_side"))
        return real_decode(data, **sizes)

    monkeypatch.setattr(reading, "decode", counted)  # the text pass's own decodes
    with Library.open(root, create=True, **(model_settings | {"ocr": True})) as library:
        summary = library.update()
        assert (summary.text_read, summary.text_found, summary.text_ruled_out_while_embedding) == (12, 4, 8)
        assert decoded == [reading.READ_SIDE] * 4  # each picture with text once, to be read; no photo again
        for words, path in (
            ("Öffnungszeiten", "sign.jpg"),
            ("Rechnung", "papers/receipt.png"),
            ("abgeschlossen", "papers/screen.png"),
            ("Kassenbon", "papers/upside-down.png"),
        ):
            assert [result.path for result in library.search(words=words).results] == [path]


@slow
def test_without_rapidocr_the_summary_says_what_to_install(
    library_dir: Path, model_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.text.recognise as recognise_module

    monkeypatch.setattr(recognise_module, "ocr_available", lambda: False)
    with Library.open(library_dir, create=True, **(model_settings | {"ocr": True})) as library:
        summary = library.update()
    assert summary.text_read == 0
    assert (
        "; text in pictures not read: rapidocr is not installed (pip install 'image-recommender[ocr]')"
        in summary.line()
    )


def test_small_text_in_a_long_panorama_is_read_in_tiles() -> None:
    import io

    import numpy as np

    from image_recommender.images.decode import decode, grey_thumbnail
    from image_recommender.text import recognise
    from image_recommender.text.reading import detector_copy, read_lines

    strip = render(["Bahnhofstraße 12"], 14, canvas=(12_000, 160), at=(0.55, 0.3))  # 14-px text, 75:1
    data = io.BytesIO()
    strip.save(data, "PNG")
    reader = recognise.TextReader()
    whole = grey_thumbnail(decode(data.getvalue(), long_side=640, grey=True).image, 640)
    assert not reader.holds_line(np.asarray(whole))  # as one 640-px picture the line is a pixel high
    small = detector_copy(data.getvalue())
    assert recognise.tile_count(small.size) > 1 and max(small.size) <= 12_000
    lines = read_lines(reader, data.getvalue(), small)
    assert [line.text for line in lines] == ["Bahnhofstraße 12"]
    (left, _), *_ = lines[0].box
    assert 0.5 < left < 0.6  # where it is in the whole panorama, not in its tile
    assert len(recognise.tiles((1, 2_000_000))) == recognise.MAX_TILES  # bounded whatever the shape
