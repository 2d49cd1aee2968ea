"""Duplicates reviewed and resolved without losing anything: kinds, keepers, move, undo."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
from pathlib import Path

import pytest
from conftest import PHOTOS, Runner, indexed, indexed_copy, run_json
from PIL import Image
from test_metadata import photo_with_exif
from test_web import CHROMIUM, _has_playwright, serving

from image_recommender import Library
from image_recommender.errors import SettingsError

THRESHOLD = 0.995


def tree_digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the catalog's folder aside) by relative path, with its content hash."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".imrec" not in path.parts
    }


def with_exif(picture: Image.Image, taken: str, camera: str) -> bytes:
    exif = Image.open(io.BytesIO(photo_with_exif(taken, make="Google", model=camera))).getexif()
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def make_library(root: Path) -> Path:
    """Exact copies, a resized re-encode, a burst, and a HEIC original beside its larger JPEG export."""
    root.mkdir()
    for photo in sorted(PHOTOS.glob("*.jpg")):
        if photo.name not in ("Dragonfly_by_Bolly.jpg", "Wine_by_Jakkub_Mede.jpg"):  # those two become the pairs
            shutil.copy2(photo, root / photo.name)
    (root / "copies").mkdir()
    shutil.copy(root / "Bridge_by_Sander_Klootwijk.jpg", root / "copies" / "bridge.jpg")
    with Image.open(root / "Kleiber_by_Lukas_Baubkus.jpg") as image:
        image.resize((image.width // 2, image.height // 2)).save(root / "kleiber-small.jpg", quality=75)
    bird = Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").convert("RGB")
    (root / "burst-1.jpg").write_bytes(with_exif(bird, "2023:05:01 12:00:00", "Pixel 7"))
    (root / "burst-2.jpg").write_bytes(with_exif(bird.rotate(1), "2023:05:01 12:00:02", "Pixel 7"))
    wine = Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").convert("RGB")
    wine.save(root / "IMG_0001.heic", quality=90)
    wine.resize((wine.width * 2, wine.height * 2)).save(root / "IMG_0001-export.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def indexed_messy(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    """Made and indexed once for the module; each test gets its own copy."""
    return indexed(make_library(tmp_path_factory.mktemp("source") / "library"), model_settings)


@pytest.fixture
def messy(indexed_messy: Path, tmp_path: Path) -> Path:
    return indexed_copy(indexed_messy, tmp_path / "library")


def kinds(groups: list) -> dict[frozenset[str], tuple[str, str]]:
    return {frozenset(i.path for i in g.images): (g.kind, g.keeper.path) for g in groups}


def test_kinds_and_keepers(messy: Path, model_settings: dict) -> None:
    with Library.open(messy, **model_settings) as library:
        found = kinds(library.duplicates(THRESHOLD))
        assert found[frozenset({"Bridge_by_Sander_Klootwijk.jpg", "copies/bridge.jpg"})] == (
            "exact",
            "Bridge_by_Sander_Klootwijk.jpg",
        )
        assert found[frozenset({"Kleiber_by_Lukas_Baubkus.jpg", "kleiber-small.jpg"})] == (
            "near",
            "Kleiber_by_Lukas_Baubkus.jpg",
        )
        assert found[frozenset({"burst-1.jpg", "burst-2.jpg"})][0] == "burst"
        # the original HEIC is kept, though its JPEG export has four times the pixels
        assert found[frozenset({"IMG_0001.heic", "IMG_0001-export.jpg"})] == ("near", "IMG_0001.heic")
        preferred = kinds(library.duplicates(THRESHOLD, keep_under="copies"))
        assert preferred[frozenset({"Bridge_by_Sander_Klootwijk.jpg", "copies/bridge.jpg"})][1] == "copies/bridge.jpg"


def test_move_then_undo_leaves_the_tree_byte_identical(messy: Path, model_settings: dict, tmp_path: Path) -> None:
    before = tree_digests(messy)
    target = tmp_path / "duplicates"
    with Library.open(messy, **model_settings) as library:
        groups = library.duplicates(THRESHOLD)
        planned, nothing = library.move_duplicates(groups, target, apply=False)
        assert nothing is None and tree_digests(messy) == before and not target.exists()  # a dry run moves nothing
        assert {m.source.relative_to(messy).as_posix() for m in planned} == {
            "copies/bridge.jpg",
            "kleiber-small.jpg",
            "IMG_0001-export.jpg",
        }  # never a burst, never a keeper
        _, report = library.move_duplicates(groups, target, apply=True)
        assert report is not None and report.moved == 3 and not report.skipped
        assert report.bytes == sum(m.size for m in planned)
        assert set(tree_digests(messy)) == set(before) - {
            "copies/bridge.jpg",
            "kleiber-small.jpg",
            "IMG_0001-export.jpg",
        }
        assert tree_digests(target)["copies/bridge.jpg"] == before["copies/bridge.jpg"]  # relative path kept
        found = {hit.path for hit in library.search(text="a photo", k=50).results}
        assert "kleiber-small.jpg" not in found and "copies/bridge.jpg" not in found  # the catalog followed
        restored = library.undo_moves(report.manifest)  # type: ignore[arg-type]
        assert restored.moved == 3
        assert tree_digests(messy) == before
        assert library.update().embedded == 0  # vectors reused, nothing embedded again
        assert {hit.path for hit in library.search(text="a photo", k=50, all_copies=True).results} == set(before)


def test_moves_never_go_into_the_library_or_overwrite(messy: Path, model_settings: dict, tmp_path: Path) -> None:
    with Library.open(messy, **model_settings) as library:
        groups = library.duplicates(THRESHOLD)
        with pytest.raises(SettingsError, match="must be outside the library"):
            library.move_duplicates(groups, messy / "dupes", apply=False)
        target = tmp_path / "duplicates"
        (target / "copies").mkdir(parents=True)
        (target / "copies" / "bridge.jpg").write_bytes(b"someone else's file")
        _, report = library.move_duplicates(groups, target, apply=True)
        assert report is not None and report.moved == 2
        assert [reason for _, reason in report.skipped] == [f"{target / 'copies' / 'bridge.jpg'} already exists"]
        assert (target / "copies" / "bridge.jpg").read_bytes() == b"someone else's file"
        assert (messy / "copies" / "bridge.jpg").is_file()


def test_cli_dry_run_apply_and_undo(imrec: Runner, tmp_path: Path) -> None:
    root = make_library(tmp_path / "library")
    imrec("index", root, "-q")
    before = tree_digests(root)
    target = tmp_path / "moved"
    dry = imrec("duplicates", root, "--threshold", THRESHOLD, "--move-to", target).stdout
    assert "would move 3 file(s)" in dry and "add --apply" in dry and "burst, similar shots, kept" in dry
    assert f"would move {root / 'kleiber-small.jpg'} -> {target / 'kleiber-small.jpg'}" in dry
    assert tree_digests(root) == before
    applied = run_json(imrec, "duplicates", root, "--threshold", THRESHOLD, "--move-to", target, "--apply")
    manifest = applied["applied"]["manifest"]
    assert applied["applied"]["moved"] == 3 and Path(manifest).is_file()
    assert imrec("duplicates", root, "--apply", expect=2).stderr.startswith("imrec: error: --apply moves duplicates")
    undone = imrec("duplicates", root, "--undo", manifest).stdout
    assert "3 file(s)" in undone and "put back" in undone
    assert tree_digests(root) == before
    bad = imrec("duplicates", root, "--undo", tmp_path / "nope.json", expect=2)
    assert "no such manifest" in bad.stderr


def test_web_resolve_and_undo_through_the_api(messy: Path, model_settings: dict, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    before = tree_digests(messy)
    with Library.open(messy, **model_settings, duplicates_dir=tmp_path / "moved") as library:
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        groups = client.get("/api/duplicates", params={"threshold": THRESHOLD}).json()["groups"]
        heic = next(g for g in groups if "IMG_0001.heic" in {i["path"] for i in g["images"]})
        burst = next(g for g in groups if g["kind"] == "burst")
        export = next(i for i in heic["images"] if i["path"] == "IMG_0001-export.jpg")
        ids = [i["id"] for i in heic["images"]]
        answer = client.post(
            "/api/duplicates/resolve", json={"image_ids": ids, "keeper_id": export["id"], "threshold": THRESHOLD}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["moved"] == 1 and (tmp_path / "moved" / "IMG_0001.heic").is_file()  # the user's choice
        again = client.post(
            "/api/duplicates/resolve", json={"image_ids": ids, "keeper_id": ids[0], "threshold": THRESHOLD}
        )
        assert again.status_code == 400 and "no longer one duplicate group" in again.json()["detail"]
        burst_ids = [i["id"] for i in burst["images"]]
        refused = client.post(
            "/api/duplicates/resolve", json={"image_ids": burst_ids, "keeper_id": burst_ids[0], "threshold": THRESHOLD}
        )
        assert refused.status_code == 400 and "burst" in refused.json()["detail"]
        assert client.post("/api/duplicates/undo").json()["moved"] == 1
        assert tree_digests(messy) == before
        assert client.post("/api/duplicates/undo").status_code == 400  # nothing left to undo


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or not _has_playwright(), reason="needs Debian's chromium and playwright")
def test_page_resolves_a_group_and_undoes_it(messy: Path, model_settings: dict, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    before = tree_digests(messy)
    with serving(Library.open(messy, **model_settings, duplicates_dir=tmp_path / "moved")) as port:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            # A result in a subfolder links to a search inside that folder.
            page.fill("#text", "a bridge")
            page.get_by_role("button", name="Search", exact=True).click()
            expect(page.locator("#message")).to_contain_text("“a bridge”: 11 results")  # the copy folded in
            card = page.locator("#results .card", has_text="Bridge_by_Sander_Klootwijk.jpg")
            expect(card.locator(".copies")).to_have_text("+1 copy")
            page.get_by_label("every copy").check()
            page.get_by_role("button", name="Search", exact=True).click()
            expect(page.locator("#message")).to_contain_text("“a bridge”: 12 results")
            page.locator("#results .card", has_text="copies/bridge.jpg").get_by_role(
                "button", name="Search only in copies/"
            ).click()
            expect(page.locator("#message")).to_contain_text("“a bridge”: 1 result")
            expect(page.locator("#folder")).to_contain_text("Only in copies/")
            page.get_by_role("button", name="Search the whole library").click()
            expect(page.locator("#message")).to_contain_text("“a bridge”: 12 results")
            page.get_by_role("tab", name="Duplicates").click()
            page.fill("#threshold", str(THRESHOLD))
            page.get_by_role("button", name="Find duplicates").click()
            message = page.locator("#dup-message")
            expect(message).to_contain_text("4 group(s)")
            expect(page.locator(".group h3", has_text="similar shots")).to_have_count(1)
            heic_group = page.locator(".group", has_text="IMG_0001.heic")
            expect(heic_group.locator(".card.keeper .path")).to_have_text("IMG_0001.heic")  # the original
            heic_group.get_by_role("button", name="Keep IMG_0001-export.jpg").click()
            expect(heic_group.locator(".card.keeper .path")).to_have_text("IMG_0001-export.jpg")
            heic_group.get_by_role("button", name=re.compile("^Move the others")).click()
            dialog = page.locator("#confirm-move")
            expect(dialog).to_contain_text("Move 1 file(s) (")  # asked first, with the list
            expect(dialog).to_contain_text("IMG_0001.heic")
            dialog.get_by_role("button", name="Cancel").click()
            assert (messy / "IMG_0001.heic").exists()  # nothing moved on the first click
            heic_group.get_by_role("button", name=re.compile("^Move the others")).click()
            dialog.get_by_role("button", name="Move", exact=True).click()
            expect(message).to_contain_text("Moved 1 file(s)")
            expect(page.locator(".group")).to_have_count(3)
            assert (tmp_path / "moved" / "IMG_0001.heic").is_file() and not (messy / "IMG_0001.heic").exists()
            page.get_by_role("button", name="Undo last move").click()
            expect(message).to_contain_text("Put back 1 file(s)")
            expect(page.locator(".group")).to_have_count(4)
            browser.close()
        assert tree_digests(messy) == before


def test_a_picture_has_one_role_in_a_plan_its_exact_copies_nested_in_its_near_group(
    messy: Path, model_settings: dict, tmp_path: Path, imrec: Runner
) -> None:
    (messy / "roll0").mkdir()
    shutil.copy(messy / "kleiber-small.jpg", messy / "roll0" / "kleiber-small-copy.jpg")
    with Library.open(messy, **model_settings) as library:
        library.update()
        groups = library.duplicates(THRESHOLD)
        keepers = {group.keeper.path for group in groups}
        removable = [image.path for group in groups for image in group.removable]
        assert not keepers & set(removable) and len(removable) == len(set(removable))
        kleiber = next(group for group in groups if group.keeper.path == "Kleiber_by_Lukas_Baubkus.jpg")
        assert {image.path for image in kleiber.removable} == {"kleiber-small.jpg", "roll0/kleiber-small-copy.jpg"}
        planned, _ = library.move_duplicates(groups, tmp_path / "dupes", apply=False)
        assert not {m.source.relative_to(messy).as_posix() for m in planned} & keepers
    data = run_json(imrec, "duplicates", messy, "--threshold", str(THRESHOLD))
    copy = next(i for g in data["groups"] for i in g["images"] if i["path"] == "roll0/kleiber-small-copy.jpg")
    small = next(i for g in data["groups"] for i in g["images"] if i["path"] == "kleiber-small.jpg")
    assert copy["copy_of"] == small["id"]
    assert sum(i["path"] == "kleiber-small.jpg" for g in data["groups"] for i in g["images"]) == 1


def test_a_plan_moving_most_of_the_library_needs_yes(messy: Path, imrec: Runner, tmp_path: Path) -> None:
    for burst in messy.glob("burst-*.jpg"):  # a group holding a burst is kept whole
        burst.unlink()
    imrec("index", messy, "-q")
    before = tree_digests(messy)
    target = tmp_path / "dupes"
    shown = imrec("duplicates", messy, "--threshold", "0.01", "--move-to", target)
    assert "more than half of the library" in shown.stderr
    refused = imrec("duplicates", messy, "--threshold", "0.01", "--move-to", target, "--apply", expect=2)
    assert "add --yes" in refused.stderr and tree_digests(messy) == before
    moved = imrec("duplicates", messy, "--threshold", "0.01", "--move-to", target, "--apply", "--yes")
    assert len(tree_digests(messy)) < len(before) / 2 and "manifest:" in moved.stdout
