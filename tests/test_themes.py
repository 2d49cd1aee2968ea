"""Themes from the stored vectors: every picture in exactly one, named, renamed, filtered by."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed, indexed_copy
from PIL import Image

from image_recommender import Library
from image_recommender.themes.computing import theme_count
from image_recommender.themes.vocabulary import SUBJECTS

# Each test indexes a library of its own and clusters it: the full suite's.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed_once(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    """The eight photos, each also at two other sizes (three pictures of each subject)."""
    root = tmp_path_factory.mktemp("themes") / "library"
    shutil.copytree(PHOTOS, root)
    for photo in sorted(PHOTOS.glob("*.jpg")):
        picture = Image.open(photo).convert("RGB")
        for side in (320, 200):
            smaller = picture.copy()
            smaller.thumbnail((side, side))
            smaller.save(root / f"{photo.stem}-{side}.jpg", quality=90)
    return indexed(root, model_settings)


@pytest.fixture
def library(indexed_once: Path, tmp_path: Path) -> Path:
    return indexed_copy(indexed_once, tmp_path / "library")


def test_the_vocabulary_and_the_count() -> None:
    assert len(SUBJECTS) >= 250 and len({german for german, _ in SUBJECTS}) == len(SUBJECTS)
    assert ("Strand", "a beach") in SUBJECTS and ("Dokumente", "a document") in SUBJECTS
    assert [theme_count(n) for n in (2, 10, 200, 10_000, 10**6)] == [2, 2, 10, 71, 200]


def test_every_picture_is_in_exactly_one_theme(library: Path, imrec: Runner, model_settings: dict) -> None:
    listed = json.loads(imrec("themes", library, "--count", "4", "--json").stdout)
    assert len(listed) == 4 and sum(theme["size"] for theme in listed) == 24
    with Library.open(library, **model_settings) as opened:
        ids = [image.id for image in opened.catalog.images("ok")]
        members = opened.catalog.themes_of(ids)
        assert sorted(members) == sorted(ids)  # each image once (image_id is the key)
        for theme in listed:
            inside = [image.id for image, _ in opened.theme_images(str(theme["id"]), 100)]
            assert len(inside) == theme["size"] and set(theme["representatives"]) <= set(inside)
            assert theme["representatives"] == inside[: len(theme["representatives"])]  # closest first
            assert 0 < theme["confidence"] <= 1 and len(theme["runners_up"]) >= 3
            assert theme["named"] == (theme["name_de"] is not None)
            assert theme["name"] == (
                f"{theme['name_de']} ({theme['name_en']})" if theme["named"] else "unbenannt (unnamed)"
            )
        # the three sizes of one photo share its theme: the themes follow what pictures show
        bridge = {
            opened.catalog.image_by_path(f"Bridge_by_Sander_Klootwijk{suffix}.jpg").id
            for suffix in ("", "-320", "-200")
        }  # type: ignore[union-attr]
        assert len({members[image_id] for image_id in bridge}) == 1


def test_a_renamed_theme_keeps_its_name_and_filters_searches(library: Path, imrec: Runner) -> None:
    listed = json.loads(imrec("themes", library, "--count", "4", "--json").stdout)
    chosen = listed[0]
    said = imrec("themes", library, "--rename", str(chosen["id"]), "Meine Brücken").stdout
    assert said.strip() == f"theme #{chosen['id']} is now Meine Brücken"
    again = json.loads(imrec("themes", library, "--count", "4", "--recompute", "--json").stdout)
    assert not {theme["id"] for theme in again} & {theme["id"] for theme in listed}  # numbers are never reused
    renamed = [theme for theme in again if theme["user_name"] == "Meine Brücken"]
    assert len(renamed) == 1 and renamed[0]["size"] == chosen["size"]  # computed anew, the name kept
    found = json.loads(
        imrec("search", "--text", "x", "--theme", "meine brücken", "-k", "50", "-l", library, "--json").stdout
    )
    assert len(found["results"]) == chosen["size"] and {hit["theme"] for hit in found["results"]} == {"Meine Brücken"}
    shown = imrec("themes", library, "--show", "Meine Brücken", "-k", "2").stdout.splitlines()
    assert (
        shown[0].startswith(f"theme #{renamed[0]['id']} Meine Brücken: {chosen['size']} picture(s)") and len(shown) == 4
    )
    assert shown[1].split() == ["closeness", "id", "path"]  # a header row, like search's table
    table = imrec("themes", library).stdout.splitlines()
    assert table[0].split()[:3] == ["theme", "photos", "name"] and len(table) == len(again) + 1
    unknown = imrec("search", "--text", "x", "--theme", "Zebras", "-l", library, expect=2)
    assert unknown.stderr.startswith("imrec: error: theme 'Zebras': no theme of that name or number (themes: ")
    refused = imrec("themes", library, "--count", "500", expect=2)
    assert refused.stderr.strip() == "imrec: error: --count 500: give 2 to 24 themes for 24 images"


@pytest.mark.browser
def test_the_page_shows_renames_and_opens_themes(library: Path, model_settings: dict) -> None:
    from fastapi.testclient import TestClient
    from playwright.sync_api import expect, sync_playwright
    from test_web import CHROMIUM, serving

    from image_recommender.web.app import create_app

    with Library.open(library, **model_settings) as opened:
        themes = opened.themes(count=3)
        client = TestClient(create_app(opened), base_url="http://127.0.0.1:8765")
        listed = client.get("/api/themes").json()["themes"]
        assert [theme["id"] for theme in listed] == [theme.id for theme in themes]
        assert all(len(theme["representatives"]) == min(4, theme["size"]) for theme in listed)
        first = client.get(f"/api/themes/{listed[0]['id']}/images", params={"k": 100}).json()
        assert (
            len(first["results"]) == listed[0]["size"] and first["results"][0]["score"] >= first["results"][-1]["score"]
        )
        elsewhere = client.post(
            f"/api/themes/{listed[0]['id']}/name", json={"name": "x"}, headers={"Origin": "http://evil.example"}
        )
        assert elsewhere.status_code == 403
        biggest = listed[0]
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium")
    with serving(Library.open(library, **model_settings)) as port, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context(locale="de-DE", viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("tab", name="Themen").click()
        cards = page.locator("#themes .theme")
        expect(cards).to_have_count(3)
        expect(page.locator("#themes-message")).to_have_text("3 Themen, die größten zuerst")
        expect(cards.first.locator(".theme-count")).to_have_text(f"{biggest['size']} Bilder")
        field = cards.first.locator("input")
        field.fill("Lieblingsbilder")
        cards.first.get_by_role("button", name="Speichern").click()
        expect(cards.first.locator("input")).to_have_value("Lieblingsbilder")
        page.screenshot(path=str(library.parent / "themes.png"))
        page.reload()
        page.get_by_role("tab", name="Themen").click()
        expect(page.locator("#themes .theme").first.locator("input")).to_have_value("Lieblingsbilder")
        page.get_by_role("button", name="Die Bilder von Lieblingsbilder zeigen").click()
        expect(page.locator("#message")).to_contain_text(f"Thema Lieblingsbilder: {biggest['size']} Treffer")
        expect(page.locator("#results .card")).to_have_count(biggest["size"])
        browser.close()


def test_a_new_picture_joins_the_nearest_theme_without_a_recomputation(
    library: Path, imrec: Runner, model_settings: dict
) -> None:
    before = json.loads(imrec("themes", library, "--count", "4", "--json").stdout)
    Image.open(library / "Kleiber_by_Lukas_Baubkus.jpg").convert("RGB").resize((240, 160)).save(
        library / "kleiber-new.jpg"
    )
    indexed(library, model_settings)  # one picture more: under a tenth, so the themes stay
    after = json.loads(imrec("themes", library, "--json").stdout)
    assert [theme["id"] for theme in after] == sorted(
        (theme["id"] for theme in before), key=[t["id"] for t in after].index
    )
    assert sum(theme["size"] for theme in after) == 25
    with Library.open(library, **model_settings) as opened:
        new = opened.catalog.image_by_path("kleiber-new.jpg")
        old = opened.catalog.image_by_path("Kleiber_by_Lukas_Baubkus.jpg")
        assert new is not None and old is not None
        members = opened.catalog.themes_of([new.id, old.id])
        assert members[new.id] == members[old.id]  # the same bird, the same theme
        model = opened.query_model()
        stored = opened.catalog.vector_of_image(new.id, model.id)
        assert stored is not None
        nearest = max(opened.catalog.themes(model.id), key=lambda theme: float(stored[1] @ theme.centre))
        assert members[new.id] == nearest.id  # the nearest centre, not merely the theme its twin is in
