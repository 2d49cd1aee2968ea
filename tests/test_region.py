"""Search by a region of a picture: the region alone goes through the model's preprocessing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed
from PIL import Image

from image_recommender import Library
from image_recommender.errors import QueryError
from image_recommender.search import parse_crop

LEFT, RIGHT = "Bridge_by_Sander_Klootwijk.jpg", "Kleiber_by_Lukas_Baubkus.jpg"

# Each test runs the model on a region (a library of its own, seconds): the full suite's.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_up(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    """The eight photos and a composite: one photo on the left half, another on the right."""
    root = tmp_path_factory.mktemp("region") / "library"
    shutil.copytree(PHOTOS, root)
    composite = Image.new("RGB", (800, 300))
    composite.paste(Image.open(root / LEFT).convert("RGB").resize((400, 300)), (0, 0))
    composite.paste(Image.open(root / RIGHT).convert("RGB").resize((400, 300)), (400, 0))
    composite.save(root / "two-up.jpg", quality=95)
    return indexed(root, model_settings)


def paths(found: str) -> list[str]:
    return [result["path"] for result in json.loads(found)["results"]]


def test_a_region_finds_what_it_shows(two_up: Path, imrec: Runner) -> None:
    def scores(*crop: str) -> dict[str, float]:
        found = imrec("search", two_up / "two-up.jpg", *crop, "-l", two_up, "-k", "9", "--json").stdout
        return {result["path"]: result["score"] for result in json.loads(found)["results"]}

    whole, left, right = scores(), scores("--crop", "0,0,0.5,1"), scores("--crop", "400,0,400,300")
    assert max(left, key=left.__getitem__) == LEFT and max(right, key=right.__getitem__) == RIGHT
    assert left[LEFT] > whole[LEFT] and right[RIGHT] > whole[RIGHT]  # the region is closer to what it shows
    assert left[LEFT] > 0.99 and right[RIGHT] > 0.99  # ... it is that photo, scaled
    assert "two-up.jpg" not in {*left, *right}  # the query picture is left out
    found = json.loads(imrec("search", two_up / "two-up.jpg", "--crop", "0,0,0.5,1", "-l", two_up, "--json").stdout)
    assert found["query"][0].endswith("two-up.jpg[0,0,0.5,1]")


def test_a_region_of_an_indexed_image_is_embedded_from_its_file(two_up: Path, imrec: Runner) -> None:
    with Library.open(two_up) as library:
        composite = library.catalog.image_by_path("two-up.jpg")
    assert composite is not None
    ran = imrec("search", "--like-id", composite.id, "--crop", "0.5,0,0.5,1", "-l", two_up, "-k", "3")
    assert ran.stdout.splitlines()[2].rstrip().endswith(RIGHT)
    assert "the region is embedded from the image's file, so the model loads" in ran.stderr
    kept = paths(
        imrec(
            "search", "--like-id", composite.id, "--crop", "0.5,0,0.5,1", "--include-query", "-l", two_up, "--json"
        ).stdout
    )
    assert "two-up.jpg" in kept


@pytest.mark.parametrize(
    ("crop", "message"),
    [
        ("0,0,900,300", "--crop 0,0,900,300: reaches beyond the picture (800 x 300 pixels)"),
        ("0,0,4,300", "--crop 0,0,4,300: the region is under 8 pixels on a side"),
        ("1,2,3", "--crop '1,2,3': give X,Y,WIDTH,HEIGHT, in pixels or as fractions 0-1 (e.g. 0.5,0,0.5,1)"),
        ("0.5,0,0.6,1", "--crop '0.5,0,0.6,1': as fractions, X+WIDTH and Y+HEIGHT must be at most 1"),
        ("10,10,20.5,30", "--crop '10,10,20.5,30': pixels are whole numbers (fractions are all between 0 and 1)"),
        ("0,-1,10,10", "--crop '0,-1,10,10': X and Y must not be negative, WIDTH and HEIGHT must be above 0"),
    ],
)
def test_a_region_that_does_not_fit_is_one_line(two_up: Path, imrec: Runner, crop: str, message: str) -> None:
    refused = imrec("search", two_up / "two-up.jpg", "--crop", crop, "-l", two_up, expect=2)
    assert refused.stderr.strip() == f"imrec: error: {message}"


def test_a_region_needs_one_picture(two_up: Path, imrec: Runner) -> None:
    refused = imrec("search", "--text", "bridge", "--crop", "0,0,0.5,1", "-l", two_up, expect=2)
    assert "--crop needs exactly one query image" in refused.stderr
    with pytest.raises(QueryError):
        parse_crop("nan,0,1,1")


def test_the_api_takes_a_region_of_a_liked_or_an_uploaded_picture(two_up: Path, model_settings: dict) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(two_up, **model_settings) as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        composite = library.catalog.image_by_path("two-up.jpg")
        assert composite is not None
        liked = client.get("/api/search", params={"like_id": composite.id, "crop": "0,0,0.5,1"}).json()
        assert liked["results"][0]["path"] == LEFT and liked["query"] == [f"+#{composite.id}[0,0,0.5,1]"]
        upload = client.post(
            "/api/search",
            files={"image": ("mine.jpg", (two_up / "two-up.jpg").read_bytes(), "image/jpeg")},
            data={"crop": "0.5,0,0.5,1"},
        ).json()
        assert upload["results"][0]["path"] == RIGHT and upload["query"] == ["+mine.jpg[0.5,0,0.5,1]"]
        beyond = client.get("/api/search", params={"like_id": composite.id, "crop": "0,0,2000,10"})
        assert beyond.status_code == 400 and beyond.json()["detail"].startswith("crop 0,0,2000,10: reaches beyond")
        alone = client.get("/api/search", params={"text": "x", "crop": "0,0,0.5,1"})
        assert (
            alone.status_code == 400
            and alone.json()["detail"] == "crop needs like_id: the image to cut the region from"
        )


@pytest.mark.browser
def test_the_page_searches_by_a_region_drawn_and_moved_over_a_picture(two_up: Path, model_settings: dict) -> None:
    from playwright.sync_api import expect, sync_playwright
    from test_web import CHROMIUM, serving

    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium")
    with serving(Library.open(two_up, **model_settings)) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator("#results .card", has_text="two-up.jpg").locator(".thumb").click()
        picture = page.locator("#viewer-img")
        expect(picture).to_be_visible()
        page.wait_for_function("document.querySelector('#viewer-img').complete")
        shown = picture.bounding_box()
        assert shown
        x, y, width, height = shown["x"], shown["y"], shown["width"], shown["height"]
        expect(page.locator("#region-search")).to_be_hidden()
        page.mouse.move(x + 0.02 * width, y + 0.05 * height)  # draw over the left half
        page.mouse.down()
        page.mouse.move(x + 0.3 * width, y + 0.5 * height, steps=5)
        page.mouse.move(x + 0.48 * width, y + 0.95 * height, steps=5)
        page.mouse.up()
        region = page.locator("#region")
        drawn = region.bounding_box()
        assert drawn and abs(drawn["width"] - 0.46 * width) < 3 and abs(drawn["height"] - 0.9 * height) < 3
        page.mouse.move(x + 0.25 * width, y + 0.5 * height)  # move it onto the right half
        page.mouse.down()
        page.mouse.move(x + 0.75 * width, y + 0.5 * height, steps=8)
        page.mouse.up()
        moved = region.bounding_box()
        assert moved and abs(moved["x"] - (x + 0.52 * width)) < 3 and abs(moved["width"] - drawn["width"]) < 1
        page.screenshot(path=str(two_up.parent / "region-box.png"))
        page.get_by_role("button", name="Search this region").click()
        expect(page.locator("#message")).to_contain_text("Region of two-up.jpg")
        expect(page.locator("#results .card").first.locator(".path")).to_contain_text(RIGHT)
        chip = page.locator("#query-region img")
        expect(chip).to_be_visible()
        assert (chip.get_attribute("src") or "").startswith("data:image/png")
        page.screenshot(path=str(two_up.parent / "region.png"))
        page.get_by_role("button", name="Remove the region query").click()
        expect(page.locator("#query-region")).to_be_hidden()
        expect(page.locator("#message")).to_contain_text("Library")
        browser.close()
